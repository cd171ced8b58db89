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
import tarfile
import zlib
from pathlib import Path

import numpy as np

from onelayer.atomic import atomic_path
from onelayer.errors import ArchiveError

log = logging.getLogger(__name__)

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
MEMBERS = [*TRAIN_BATCHES, "test_batch", "batches.meta"]
D = 3072  # 3 x 32 x 32, R, G, B planes of 32 x 32 row-major
K = 10
IMAGES_PER_BATCH = 10000  # in each batch file of the official archive


def extract(archive: str | os.PathLike, dest_dir: str | os.PathLike, members=MEMBERS) -> list[Path]:
    """Extract ``FOLDER/<member>`` for each member into ``dest_dir/FOLDER``; return their paths.

    Refuses absolute paths, ``..``, links and devices anywhere in the archive, and names any
    expected member that is missing. Each file is written atomically.
    """
    dest_dir = Path(dest_dir)
    wanted = {f"{FOLDER}/{m}": m for m in members}
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise ArchiveError(f"{archive}: not a readable gzipped tar archive ({err})") from err
    out: dict[str, Path] = {}
    with tar:
        try:
            entries = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise ArchiveError(f"{archive}: archive is truncated or corrupt ({err})") from err
        for info in entries:
            name = info.name
            parts = Path(name).parts
            if name.startswith("/") or os.path.isabs(name) or ".." in parts:
                raise ArchiveError(f"{archive}: refusing member with unsafe path {name!r}")
            if info.issym() or info.islnk() or info.isdev() or info.isfifo():
                raise ArchiveError(f"{archive}: refusing link or special file {name!r}")
            if name.rstrip("/") in wanted and not info.isfile():
                raise ArchiveError(f"{archive}: member {name!r} is not a regular file")
        by_name = {info.name: info for info in entries}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise ArchiveError(f"{archive}: missing member(s) {', '.join(missing)}")
        for name, member in wanted.items():
            target = dest_dir / FOLDER / member
            src = tar.extractfile(by_name[name])
            try:
                with atomic_path(target) as tmp, open(tmp, "wb") as f:
                    while chunk := src.read(1 << 20):
                        f.write(chunk)
            except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
                raise ArchiveError(f"{archive}: could not read member {name!r} ({err})") from err
            out[member] = target
            log.info("extracted %s", target)
    return [out[m] for m in members]


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
