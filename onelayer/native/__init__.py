"""The "native" training backend: C kernels built at install time, one build per CPU level.

The C source (kernels.c, kernels.inc) holds the same maths as ``onelayer.model`` (scores, the
softmax with the same floor, the batch gradients, the loss) and the epoch loop of
``onelayer.train``, in float32 and float64, on features or on the raw pixels behind them
(``affine``: a quarter of the bytes to read). setup.py compiles it, when the package is
installed, into one extension module per instruction-set level (``variants.py``: x86-64-v2,
v3 and v4, or aarch64 NEON), each blocked for its own registers. At import the best level the
CPU runs is chosen (``$ONELAYER_NATIVE_VARIANT`` forces one); nothing is compiled or cached at
run time. Every build with FMA gives the same bits (kernels.c says why); the SSE4.2 build has no
FMA and differs in the last bits.

Every function here checks its arguments (dtype, shape, layout, writability, index and label
ranges) and raises ValueError naming the argument before anything reaches C; the C side checks
indices and ranges again. The kernels release the GIL, so an evaluation on a second thread runs
on a second core.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import platform

import numpy as np

from onelayer import cpus, model
from onelayer.errors import PipelineError
from onelayer.native.variants import VARIANTS, variants_for

log = logging.getLogger(__name__)

ENV = "ONELAYER_NATIVE_VARIANT"  # forces one variant, e.g. x86_64_v3 (benchmarks, tests)
# the flags of a position's move (sgd_epoch's moves[:, 0]; kernels.c, move_image)
MOVE_MIRROR, MOVE_EDGE = 1, 2
NOT_BUILT = (
    "the native kernels were not built when onelayer was installed (no C compiler?); "
    "training uses the numpy backend; to get them, install a C compiler and reinstall "
    "(pip install -e .)"
)


class NativeBackendError(PipelineError):
    """The native backend is not built, or not for this CPU."""


def built() -> list[str]:
    """The variants installed for this machine, best first (none when the build failed)."""
    return [name for name in variants_for(platform.machine()) if _module(name) is not None]


@functools.cache
def _module(name: str):
    try:
        return importlib.import_module(f"onelayer.native._{name}")
    except ImportError:
        return None


def runnable() -> list[str]:
    """The built variants this CPU runs, best first."""
    names = built()
    if any(name.startswith("x86_64") for name in names):
        cpu = _module("cpu")
        levels = set(cpu.x86_levels()) if cpu is not None else set()
        names = [n for n in names if not n.startswith("x86_64") or n in levels]
    return names


def available() -> bool:
    return bool(runnable())


def default_variant() -> str:
    """The variant that trains: ``$ONELAYER_NATIVE_VARIANT`` if set, else the best runnable."""
    forced = os.environ.get(ENV)
    if forced:
        return forced
    names = runnable()
    if not names:
        raise NativeBackendError(NOT_BUILT + "; or set train.backend: numpy (or auto)")
    return names[0]


def kernels(variant: str | None = None):
    """The extension module of ``variant`` (default_variant() when None), refused with a clear
    message when it is not built or this CPU cannot run it."""
    name = variant or default_variant()
    if name not in VARIANTS and name != "generic":
        raise NativeBackendError(
            f"unknown native variant {name!r} (from ${ENV} or the caller); "
            f"known: {', '.join(VARIANTS)}"
        )
    if name not in built():
        raise NativeBackendError(
            f"native variant {name!r} is not built on this machine "
            f"({platform.machine()}; built: {', '.join(built()) or 'none'})"
        )
    if name not in runnable():
        raise NativeBackendError(
            f"this CPU cannot run native variant {name!r}; it runs: {', '.join(runnable())}"
        )
    return _module(name)


def describe(variant: str | None = None) -> dict:
    """What metrics.json records of the kernels that train: the variant and whether it uses FMA
    (every FMA build gives the same bits; a build without FMA differs in the last bits)."""
    k = kernels(variant)
    return {"native_variant": k.variant, "native_fma": bool(k.fma)}


# --- argument checks --------------------------------------------------------------------------


def _array(name: str, a, dtype=None, shape=None, writable=False) -> np.ndarray:
    """``a`` as the kernels need it: an ndarray of ``dtype`` and ``shape``, C-contiguous and
    aligned (and writable when the kernel writes it), else ValueError naming ``name``."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}")
    if dtype is not None and a.dtype != dtype:
        raise ValueError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not a.flags.aligned:
        raise ValueError(f"{name} must be aligned to its dtype")
    if writable and not a.flags.writeable:
        raise ValueError(f"{name} is read-only, and the kernel writes it")
    return a


def _indices(name: str, a, bound: int, what: str) -> np.ndarray:
    """``a`` as contiguous int64 entries in 0 .. bound - 1 (a copy if need be)."""
    a = np.asarray(a)
    if a.ndim != 1 or not (a.size == 0 or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(
            f"{name} must be a 1-d array of integers, got {a.dtype} of shape {a.shape}"
        )
    a = np.ascontiguousarray(a, dtype=np.int64)
    if a.size and (a.min() < 0 or a.max() >= bound):
        bad = a[(a < 0) | (a >= bound)][0]
        raise ValueError(f"{name} holds {bad}, out of range 0..{bound - 1} ({what})")
    return a


class _Problem:
    """The checked arguments shared by every kernel: W (K x d), b (K), X^T (n x d images, of
    W's dtype or raw uint8 pixels with ``affine``), labels y (n) when given."""

    def __init__(self, W, b, XT, y=None, affine=None, write_params=False, variant=None):
        W = _array("W", W, writable=write_params)
        if W.ndim != 2 or W.dtype not in (np.float32, np.float64):
            raise ValueError(f"W must be a K x d float32 or float64 array, got {W.dtype} {W.shape}")
        self.K, self.d = W.shape
        self.k = kernels(variant)
        if not 1 <= self.K <= self.k.kmax:
            raise ValueError(f"K must be 1..{self.k.kmax} classes (W's rows), got {self.K}")
        if self.d < 1:
            raise ValueError("W must have at least one column (feature)")
        self.W, self.dtype = W, W.dtype
        self.b = _array("b", b, W.dtype, (self.K,), writable=write_params)
        XT = _array("X", XT)
        if XT.ndim != 2 or XT.shape[1] != self.d:
            raise ValueError(f"X must hold one image per row, n x {self.d}, got shape {XT.shape}")
        if XT.dtype not in (W.dtype, np.uint8):
            raise ValueError(f"X must have W's dtype {W.dtype} or uint8 (pixels), got {XT.dtype}")
        self.XT, self.n, self.pixels = XT, XT.shape[0], XT.dtype == np.uint8
        if self.pixels and affine is None:
            raise ValueError(
                "raw pixels (uint8 X) need affine=(scale, offset) to map them to features"
            )
        if not self.pixels and affine is not None:
            raise ValueError("affine=(scale, offset) is for raw pixels (uint8 X) only")
        if affine is None:
            self.scale = self.offset = 0
        else:
            scale, offset = (
                _array(n, a, W.dtype, (self.d,)) for n, a in zip(("scale", "offset"), affine)
            )
            self.scale, self.offset = _p(scale), _p(offset)
            self._keep = (scale, offset)
        self.y = None
        if y is not None:
            y = _array("y", y, np.int64, (self.n,))
            if y.size and (y.min() < 0 or y.max() >= self.K):
                raise ValueError(
                    f"y must hold class labels 0..{self.K - 1}, got {y.min()}..{y.max()}"
                )
            self.y = y

    def fn(self, name: str):
        suffix = ("f32" if self.dtype == np.float32 else "f64") + ("u8" if self.pixels else "")
        return getattr(self.k, f"{name}_{suffix}")

    def head(self) -> tuple:
        """W, b, X, its leading dimension, n, scale, offset: every kernel's first arguments."""
        return (_p(self.W), _p(self.b), _p(self.XT), self.d, self.n, self.scale, self.offset)


def _p(a: np.ndarray) -> int:
    return a.ctypes.data


# --- the kernels ------------------------------------------------------------------------------


def scores(W, b, XT, rows=None, affine=None, variant=None) -> np.ndarray:
    """S^T = (W X + b)^T, one row per image: images ``rows`` of X^T (all when None)."""
    pb = _Problem(W, b, XT, affine=affine, variant=variant)
    if rows is not None:
        rows = _indices("rows", rows, pb.n, "images of X")
    m = pb.n if rows is None else rows.size
    S = np.empty((m, pb.K), dtype=pb.dtype)
    pb.fn("scores")(*pb.head(), 0 if rows is None else _p(rows), m, pb.d, pb.K, _p(S))
    return S


def _bce(loss: str) -> bool:
    """Whether ``loss`` is multiple binary cross-entropy; ValueError if it is neither loss."""
    return model.check_loss(loss) == "bce"


def gradients(W, b, XT, y, lam: float, rows=None, affine=None, variant=None, loss="softmax"):
    """dJ/dW (K x d) and dJ/db (K) on the batch ``rows`` of X^T (all images when None), for
    ``loss`` softmax + cross-entropy or sigmoid + multiple binary cross-entropy ("bce")."""
    bce = _bce(loss)
    pb = _Problem(W, b, XT, y, affine, variant=variant)
    rows = np.arange(pb.n) if rows is None else rows
    rows = _indices("rows", rows, pb.n, "images of X")
    if rows.size == 0:
        raise ValueError("rows must name at least one image: a batch cannot be empty")
    dW, db = np.empty_like(pb.W), np.empty_like(pb.b)
    pb.fn("gradients")(*pb.head(), _p(rows), _p(pb.y), rows.size, pb.d, pb.K, float(lam),
                       _p(dW), _p(db), bce)  # fmt: skip
    return dW, db


def sgd_epoch(W, b, XT, y, perm, n_batch: int, eta: float, lam: float, affine=None,
              variant=None, loss="softmax", moves=None, threads: int = 1,
              cap: bool = True) -> None:  # fmt: skip
    """One epoch of mini-batch gradient descent on the batches perm[0:n_batch], ...; updates
    W and b in place (a remainder shorter than n_batch is dropped).

    ``moves`` (raw pixels only, images of 32 x 32 planes): one row (flags, dx, dy) per
    position of perm: position t reads image perm[t] with each row reversed where flags has
    MOVE_MIRROR, then moved right by dx and down by dy pixels, the uncovered pixels black, or
    the edge's where flags has MOVE_EDGE, as ``augment.flipped_and_moved`` makes it (the kernel
    makes the batch's moved images itself).

    ``threads``: the epoch runs on that many threads (each takes a share of every batch's
    images), at most as many as this process has CPUs (``onelayer.cpus``; ``cap=False`` starts
    them all, for benchmarks of the waits); the results are the same bits for any number."""
    bce = _bce(loss)
    pb = _Problem(W, b, XT, y, affine, write_params=True, variant=variant)
    perm = _indices("perm", perm, pb.n, "images of X")
    if isinstance(n_batch, bool) or not isinstance(n_batch, (int, np.integer)) or n_batch < 1:
        raise ValueError(f"n_batch must be an integer >= 1, got {n_batch!r}")
    if moves is not None:
        moves = _moves(moves, perm.size, pb)
    pb.fn("sgd_epoch")(*pb.head(), _p(pb.y), _p(perm), 0 if moves is None else _p(moves),
                       perm.size, pb.d, pb.K, int(n_batch), float(eta), float(lam), bce,
                       _threads(threads, cap))  # fmt: skip


def _threads(threads, cap: bool = True) -> int:
    """``threads`` checked, and where ``cap``, no more than the CPUs this process may run on."""
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    return cpus.threads_for(int(threads), "the native kernels") if cap else int(threads)


def _moves(moves, count: int, pb: _Problem) -> np.ndarray:
    """``moves`` as the kernel takes it: count x 3 int8, flags (MOVE_MIRROR | MOVE_EDGE), moves
    within an image."""
    if not pb.pixels:
        raise ValueError("moves (mirror, dx, dy) apply to raw pixels (uint8 X) only")
    if pb.d % 1024:
        raise ValueError(f"moves act on images of 32 x 32 planes; d = {pb.d} is not a whole number of them")
    moves = np.asarray(moves)
    if moves.shape != (count, 3) or not np.issubdtype(moves.dtype, np.integer):
        raise ValueError(f"moves must be {count} x 3 integers (flags, dx, dy), got {moves.dtype} "
                         f"of shape {moves.shape}")  # fmt: skip
    if moves.size and (moves[:, 0].min() < 0 or moves[:, 0].max() > MOVE_MIRROR | MOVE_EDGE or
                       np.abs(moves[:, 1:]).max() > 31):  # fmt: skip
        raise ValueError("moves: flags must be 0 to 3 (MOVE_MIRROR 1, MOVE_EDGE 2) and dx, dy "
                         "within -31 .. 31")  # fmt: skip
    return np.ascontiguousarray(moves, dtype=np.int8)


def loss_and_accuracy(W, b, XT, y, affine=None, variant=None, loss="softmax", threads: int = 1,
                      cap: bool = True):  # fmt: skip
    """(mean loss, accuracy) of (W, b) on every image of X^T: cross-entropy, or with
    ``loss="bce"`` multiple binary cross-entropy; on ``threads`` threads (the same bits; as
    ``sgd_epoch``, at most this process's CPUs where ``cap``)."""
    bce = _bce(loss)
    pb = _Problem(W, b, XT, y, affine, variant=variant)
    if pb.y is None or pb.n == 0:
        raise ValueError("X must hold at least one image, with its labels y")
    out = np.zeros(2)
    pb.fn("evaluate")(*pb.head(), _p(pb.y), pb.d, pb.K, _p(out), bce, _threads(threads, cap))
    return float(out[0] / pb.n), float(out[1] / pb.n)


def fma_peak(variant: str | None = None, seconds: float = 0.3, cores: int = 1) -> float:
    """The float32 FLOP/s of ``cores`` cores at once with the variant's vectors: 12 FMA chains
    for about ``seconds`` on each of ``cores`` threads (the kernels release the GIL), summed.
    Two busy cores may each run slower than one alone (shared power and frequency)."""
    import threading

    k = kernels(variant)
    iterations = 1 << 16
    while k.fma_peak(iterations)[1] < seconds:
        iterations *= 2
    rates = [0.0] * cores

    def one(i):
        flop, took, _ = k.fma_peak(iterations)
        rates[i] = flop / took

    threads = [threading.Thread(target=one, args=(i,)) for i in range(cores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(rates)
