"""Atomic file writes: an output either exists complete under its final name or not at all.

Every writer here writes to a temporary file in the destination folder and renames it into
place, so a crash or a kill leaves nothing that Snakemake (or a reader) could take as complete.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    ``suffix`` keeps an extension on the temporary name for writers that check it
    (``numpy.savez`` appends ``.npz``, matplotlib picks the format from it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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
