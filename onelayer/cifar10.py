"""Step 2: read the official CIFAR-10 python archive safely.

The archive is a gzipped tar of Python pickles, and a pickle can run code when loaded. So we
extract only the members the format defines, as regular files, refusing links and paths that
leave the target folder; and we unpickle with an allow-list of the three numpy globals the
official files use, so a crafted pickle fails instead of running.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import shutil
import tarfile
import threading
import zlib
from pathlib import Path

import numpy as np

from onelayer.atomic import atomic_paths
from onelayer.errors import ArchiveError

log = logging.getLogger(__name__)

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
MEMBERS = [*TRAIN_BATCHES, "test_batch", "batches.meta"]
D = 3072  # 3 x 32 x 32, R, G, B planes of 32 x 32 row-major
K = 10
IMAGES_PER_BATCH = 10000  # in each batch file of the official archive


def extract(archive: str | os.PathLike, dest_dir: str | os.PathLike, members=MEMBERS,
            md5: str | None = None) -> list[Path]:  # fmt: skip
    """Extract ``FOLDER/<member>`` for each member into ``dest_dir/FOLDER``; return their paths.

    One pass over the gzip stream. Refuses absolute paths, ``..``, links and devices anywhere in
    the archive, and names any expected member that is missing. With ``md5``, the archive's
    checksum is computed on a second thread meanwhile, and a mismatch is the error reported
    (before any other: a file that is not the archive configured explains everything else).
    Members are written under temporary names and renamed into place only when the whole
    archive passed: a failure leaves none of them.
    """
    from onelayer.download import check_md5, md5sum

    dest_dir = Path(dest_dir)
    wanted = {f"{FOLDER}/{m}": m for m in members}
    digest: dict[str, str] = {}
    hashing = threading.Thread(target=lambda: digest.update(md5=md5sum(archive)), daemon=True)
    if md5 is not None:
        hashing.start()

    def verified() -> None:
        if md5 is not None:
            hashing.join()
            check_md5(str(archive), digest["md5"], md5, Path(archive).stat().st_size)

    written: dict[str, Path] = {}
    with atomic_paths() as temporary:  # renamed into place together, or removed
        try:
            with tarfile.open(archive, "r|gz") as tar:
                for info in tar:
                    _check_member(archive, info, wanted)
                    member = wanted.get(info.name)
                    if member is None or member in written:
                        continue
                    written[member] = dest_dir / FOLDER / member
                    with open(temporary(written[member]), "wb") as f:
                        shutil.copyfileobj(tar.extractfile(info), f, 1 << 20)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            verified()  # a file other than the archive: that is the error to name
            what = "archive is truncated or corrupt" if written else "not a readable gzipped tar archive"
            raise ArchiveError(f"{archive}: {what} ({err})") from err
        missing = [n for n, m in wanted.items() if m not in written]
        verified()
        if missing:
            raise ArchiveError(f"{archive}: missing member(s) {', '.join(missing)}")
    for member in members:
        log.info("extracted %s", written[member])
    return [written[m] for m in members]


def _check_member(archive, info: tarfile.TarInfo, wanted: dict) -> None:
    """Refuse a member that could write outside the folder, or a wanted one that is no file."""
    name = info.name
    if name.startswith("/") or os.path.isabs(name) or ".." in Path(name).parts:
        raise ArchiveError(f"{archive}: refusing member with unsafe path {name!r}")
    if info.issym() or info.islnk() or info.isdev() or info.isfifo():
        raise ArchiveError(f"{archive}: refusing link or special file {name!r}")
    if name.rstrip("/") in wanted and not info.isfile():
        raise ArchiveError(f"{archive}: member {name!r} is not a regular file")


class _CifarUnpickler(pickle.Unpickler):
    """Admits only the globals that numpy arrays in the official pickles reference."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),  # written by numpy 1.x (the official files)
        ("numpy._core.multiarray", "_reconstruct"),  # written by numpy 2.x
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: not part of the CIFAR-10 format"
            )
        if name == "_reconstruct":
            return np._core.multiarray._reconstruct
        return getattr(np, name)


def safe_unpickle(path: str | os.PathLike):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as err:
        raise ArchiveError(f"{path}: {err}") from err
    except Exception as err:  # malformed bytes raise many types
        raise ArchiveError(f"{path}: not a CIFAR-10 pickle ({type(err).__name__}: {err})") from err


def load_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Return (data uint8 n x 3072, labels int64 n) of one batch file, checked for shape."""
    obj = safe_unpickle(path)
    if not isinstance(obj, dict) or b"data" not in obj or b"labels" not in obj:
        raise ArchiveError(f"{path}: expected a dict with b'data' and b'labels'")
    data = np.asarray(obj[b"data"])
    labels = np.asarray(obj[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != D:
        raise ArchiveError(f"{path}: b'data' is {data.dtype} {data.shape}, expected uint8 n x {D}")
    if labels.shape != (data.shape[0],) or labels.min() < 0 or labels.max() >= K:
        raise ArchiveError(f"{path}: b'labels' must be {data.shape[0]} integers in 0..{K - 1}")
    return data, labels


def load_label_names(path: str | os.PathLike) -> list[str]:
    obj = safe_unpickle(path)
    try:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in obj[b"label_names"]]
    except (KeyError, TypeError) as err:
        raise ArchiveError(f"{path}: expected a dict with b'label_names'") from err
    if len(names) != K:
        raise ArchiveError(f"{path}: expected {K} label names, got {len(names)}")
    return names
