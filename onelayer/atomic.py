"""Atomic file writes: an output either exists complete under its final name or not at all.

Every writer here writes to a temporary file in the destination folder, flushes it to disk, and
renames it into place, so a crash or a kill leaves nothing that Snakemake (or a reader) could
take as complete. The file gets the permissions a plain ``open()`` would give it under the
caller's umask (-rw-r--r-- under 022): results are shared, on project folders and clusters.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import struct
import zipfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np


def _create(path: Path, suffix: str) -> Path:
    """A new empty file beside ``path`` with a name no one else uses, mode 0666 less the
    umask, as open() makes files (tempfile.mkstemp would make it 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}.part"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _flush_to_disk(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_paths() -> Iterator[Callable[..., Path]]:
    """Yield ``temporary(path, suffix="")``, which makes a temporary file beside ``path``; when
    the block succeeds, every one is flushed to disk and renamed to its path (then each folder
    is flushed, so that the renames are durable too); when it fails, every one is removed and
    no path is touched. ``suffix`` keeps an extension on the temporary name for writers that
    check it (numpy.savez appends .npz; matplotlib picks the format from it)."""
    made: list[tuple[Path, Path]] = []

    def temporary(path: str | os.PathLike, suffix: str = "") -> Path:
        path = Path(path)
        made.append((_create(path, suffix), path))
        return made[-1][0]

    try:
        yield temporary
        for tmp, _ in made:
            _flush_to_disk(tmp)
        for tmp, path in made:
            os.replace(tmp, path)
        for folder in {path.parent for _, path in made}:
            _flush_to_disk(folder)
    finally:
        for tmp, _ in made:
            if tmp.exists():
                tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; flushed and renamed to ``path`` only if the block
    succeeds (``atomic_paths`` with one file)."""
    with atomic_paths() as temporary:
        yield temporary(path, suffix)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj) -> None:
    # allow_nan=False: a NaN in a metrics file is a bug upstream, never a value to store.
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


NPZ_ALIGN = 64  # the .npy format pads its header to 64 bytes: aligned members, aligned data
_PADDING_FIELD = 0xD935  # the zip extra-field id zipalign uses for padding


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """An uncompressed .npz (what np.load reads) whose every array starts on a 64-byte boundary
    of the file, so that ``preprocess.load_processed`` maps it as an aligned array (np.savez's
    members fall where they fall, and a misaligned float32 map is refused by the native
    kernels). Each member's local header is padded with an extra field, as zipalign does; the
    members carry a fixed date, so equal arrays give equal bytes."""
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, array in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED
                # the member's bytes follow a 30-byte header, its name and its extra field
                start = zf.fp.tell() + 30 + len(info.filename.encode())
                pad = -(start + 4) % NPZ_ALIGN
                info.extra = struct.pack("<HH", _PADDING_FIELD, pad) + bytes(pad)
                zf.writestr(info, buf.getvalue())
