"""The "native" training backend: kernels.c compiled on first use, loaded with ctypes.

The C source holds the same maths as ``onelayer.model`` (scores, softmax with the same floor,
the batch gradients, the loss) and the epoch loop of ``onelayer.train``, in float32 and float64,
on features or on the raw pixels behind them (``affine``: a quarter of the bytes to read).
It is compiled with the machine's C compiler (``$CC``, else ``cc``) for the machine it runs on
(``-march=native``) into a cache folder (``$ONELAYER_CACHE_DIR``, else ``~/.cache/onelayer``),
under a name that hashes the source, the compiler, the flags and the CPU, so a changed file or a
different node of a cluster never loads a stale or foreign library. Compiling writes a
temporary file and renames it: two jobs compiling at once both end with a complete library.

ctypes releases the GIL during each call, so an evaluation on a second thread really runs on a
second core.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from onelayer.errors import PipelineError

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SOURCES = (HERE / "kernels.c", HERE / "kernels.inc")
FLAG_SETS = (
    ["-O3", "-march=native", "-std=gnu11", "-fPIC", "-shared"],
    ["-O3", "-std=gnu11", "-fPIC", "-shared"],  # a compiler that does not know -march=native
)


# Arguments of each kernel, as in kernels.inc: P pointer, I int64, i int, R the float type.
SIGNATURES = {
    "scores": "P P P I P P P I I i P",  # W, b, X, ldx, scale, shift, rows, m, d, K, S
    # W, b, X, ldx, scale, shift, rows, y, m, d, K, lam, dW, db
    "gradients": "P P P I P P P P I I i R P P",
    # W, b, X, ldx, scale, shift, y, perm, n, d, K, nbatch, eta, lam
    "sgd_epoch": "P P P I P P P P I I i I R R",
    "evaluate": "P P P I P P P I I i P",  # W, b, X, ldx, scale, shift, y, m, d, K, out
}
# Each kernel in four builds: float32 or float64 arithmetic (the type of W), on features of that
# type or on raw pixels (uint8 X, with scale and shift mapping them to features).
VARIANTS = {"f32": ctypes.c_float, "f32u8": ctypes.c_float, "f64": ctypes.c_double,
            "f64u8": ctypes.c_double}  # fmt: skip


class NativeBackendError(PipelineError):
    """The native backend cannot be built or used here."""


def cache_dir() -> Path:
    if os.environ.get("ONELAYER_CACHE_DIR"):
        return Path(os.environ["ONELAYER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "onelayer"


def _cpu_signature() -> str:
    """What -march=native depends on: the CPU model and its feature flags where Linux says."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        keep = [ln for ln in lines if ln.split(":")[0].strip() in ("model name", "flags")]
        return "\n".join(sorted(set(keep)))
    except OSError:
        return platform.processor() or platform.machine()


def _compiler_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NativeBackendError(
            f"train.backend 'native' needs a C compiler, and {cc!r} cannot run ({exc}); "
            "install one (gcc or clang; conda: c-compiler), point $CC at it, "
            "or set train.backend: numpy"
        ) from exc
    return out.stdout


def _build(cc: str, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(target.parent, os.W_OK):
            raise PermissionError(f"{target.parent} is not writable")
    except OSError as exc:
        raise NativeBackendError(
            f"cannot keep the compiled native kernels in {target.parent} ({exc}); point "
            "$ONELAYER_CACHE_DIR at a writable folder, or set train.backend: numpy"
        ) from exc
    errors = []
    for flags in FLAG_SETS:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
        cmd = [cc, *flags, "-o", tmp, str(SOURCES[0]), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            os.replace(tmp, target)
            log.info("compiled the native kernels: %s", " ".join(cmd[:-3] + [target.name]))
            return
        os.unlink(tmp)
        errors.append(f"$ {' '.join(cmd)}\n{proc.stderr.strip()}")
    raise NativeBackendError(
        f"could not compile the native kernels with {cc!r}; set train.backend: numpy to train "
        "without them.\n" + "\n".join(errors)
    )


@functools.cache
def library() -> ctypes.CDLL:
    """The compiled kernels, building them first if this machine has no matching library."""
    cc = os.environ.get("CC", "cc")
    key = hashlib.sha256()
    for part in (
        *(p.read_bytes() for p in SOURCES),
        repr(FLAG_SETS).encode(),
        _compiler_version(cc).encode(),
        _cpu_signature().encode(),
    ):
        key.update(part)
    path = cache_dir() / f"kernels-{key.hexdigest()[:16]}.so"
    if not path.exists():
        _build(cc, path)
    return load(path)


def load(path: Path) -> ctypes.CDLL:
    """A compiled kernels library, with the argument types of its functions declared."""
    lib = ctypes.CDLL(str(path))
    for suffix, real in VARIANTS.items():
        codes = {"P": ctypes.c_void_p, "I": ctypes.c_int64, "i": ctypes.c_int, "R": real}
        for name, signature in SIGNATURES.items():
            fn = getattr(lib, f"ol_{name}_{suffix}")
            fn.argtypes = [codes[c] for c in signature.split()]
            fn.restype = ctypes.c_int  # 0, or -1 when out of memory
    lib.ol_kmax.restype = ctypes.c_int
    return lib


def _call(name: str, dtype, pixels: bool, *args) -> None:
    """Call kernel ``name`` in the precision of ``dtype`` (on raw pixels if ``pixels``); its -1
    means malloc failed."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"the native kernels run in float32 or float64, not {dtype}")
    suffix = ("f32" if dtype == np.float32 else "f64") + ("u8" if pixels else "")
    if getattr(library(), f"ol_{name}_{suffix}")(*args):
        raise MemoryError(f"native {name}: out of memory")


def _p(a: np.ndarray) -> int:
    return a.ctypes.data


def _check(W, b, XT, y=None, affine=None) -> tuple[int | None, int | None]:
    """Shapes, dtypes and layouts the C code assumes; a wrong one is a bug, so it raises.

    X^T holds features of W's dtype, or raw pixels (uint8) with ``affine`` = (scale, shift),
    each d entries of W's dtype: feature j of pixels u is scale[j] u[j] + shift[j]. Returns the
    pointers to scale and shift (None for features).
    """
    K, d = W.shape
    if not (W.flags.c_contiguous and b.flags.c_contiguous and b.size == K):
        raise ValueError("W must be C-contiguous K x d and b contiguous with K entries")
    if W.dtype != b.dtype or XT.dtype not in (W.dtype, np.uint8):
        raise TypeError(
            f"W and b must share one dtype, and X it or uint8; got {W.dtype}, {b.dtype}, {XT.dtype}"
        )
    if XT.ndim != 2 or XT.shape[1] != d or XT.strides[1] != XT.itemsize:
        raise ValueError(f"X^T must be n x {d} with contiguous rows, got shape {XT.shape}")
    if K > library().ol_kmax():
        raise ValueError(f"the native kernels support at most {library().ol_kmax()} classes")
    if y is not None and (y.dtype != np.int64 or not y.flags.c_contiguous):
        raise TypeError("labels must be a contiguous int64 array")
    if XT.dtype != np.uint8:
        if affine is not None:
            raise ValueError("affine=(scale, shift) is for raw pixels (uint8 X) only")
        return None, None
    if affine is None:
        raise ValueError("raw pixels (uint8 X) need affine=(scale, shift) to map them to features")
    for a in affine:
        if a.dtype != W.dtype or a.shape != (d,) or not a.flags.c_contiguous:
            raise ValueError(f"scale and shift must be contiguous {W.dtype} arrays of {d} entries")
    return _p(affine[0]), _p(affine[1])


def _ldx(XT: np.ndarray) -> int:
    return XT.strides[0] // XT.itemsize


def scores(W, b, XT, rows=None, affine=None) -> np.ndarray:
    """S^T = (W X + b)^T, one row per image: images ``rows`` of X^T (all when None)."""
    scale, shift = _check(W, b, XT, affine=affine)
    K, d = W.shape
    m = XT.shape[0] if rows is None else len(rows)
    if rows is not None:
        rows = np.ascontiguousarray(rows, dtype=np.int64)
    S = np.empty((m, K), dtype=W.dtype)
    rows_p = None if rows is None else _p(rows)
    args = (_p(W), _p(b), _p(XT), _ldx(XT), scale, shift, rows_p, m, d, K, _p(S))
    _call("scores", W.dtype, scale is not None, *args)
    return S


def gradients(W, b, XT, y, lam: float, rows=None, affine=None) -> tuple[np.ndarray, np.ndarray]:
    """dJ/dW (K x d) and dJ/db (K) on the batch ``rows`` of X^T (all images when None)."""
    scale, shift = _check(W, b, XT, y, affine)
    K, d = W.shape
    rows = np.arange(XT.shape[0]) if rows is None else rows
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    dW, db = np.empty_like(W), np.empty_like(b)
    args = (_p(W), _p(b), _p(XT), _ldx(XT), scale, shift, _p(rows), _p(y), len(rows), d, K, lam,
            _p(dW), _p(db))  # fmt: skip
    _call("gradients", W.dtype, scale is not None, *args)
    return dW, db


def sgd_epoch(W, b, XT, y, perm, n_batch: int, eta: float, lam: float, affine=None) -> None:
    """One epoch of mini-batch gradient descent on the batches perm[0:n_batch], ...; in place."""
    scale, shift = _check(W, b, XT, y, affine)
    K, d = W.shape
    perm = np.ascontiguousarray(perm, dtype=np.int64)
    args = (_p(W), _p(b), _p(XT), _ldx(XT), scale, shift, _p(y), _p(perm), len(perm), d, K,
            n_batch, eta, lam)  # fmt: skip
    _call("sgd_epoch", W.dtype, scale is not None, *args)


def loss_and_accuracy(W, b, XT, y, affine=None) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of (W, b) on every image of X^T."""
    scale, shift = _check(W, b, XT, y, affine)
    K, d = W.shape
    out = np.zeros(2)
    args = (_p(W), _p(b), _p(XT), _ldx(XT), scale, shift, _p(y), XT.shape[0], d, K, _p(out))
    _call("evaluate", W.dtype, scale is not None, *args)
    return float(out[0] / XT.shape[0]), float(out[1] / XT.shape[0])
