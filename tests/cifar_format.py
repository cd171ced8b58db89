"""Write small archives in the official CIFAR-10 python format, for tests without internet.

The official batches are Python 2 pickles (protocol 2): keys and strings are byte strings
(BINSTRING opcodes) and ``data`` is a numpy uint8 array pickled through
``numpy.core.multiarray._reconstruct``. ``py2_pickle`` writes exactly that shape from Python 3.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MEMBERS = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
           "test_batch", "batches.meta"]  # fmt: skip


class _Py2Pickler(pickle._Pickler):
    """Protocol 2 pickler that writes bytes as Python 2 str and numpy's global by its 1.x name."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_str(self, obj):  # Python 2's str is a byte string
        self.save_bytes(obj.encode("latin-1"))

    dispatch[str] = save_str

    def save_global(self, obj, name=None):
        if getattr(obj, "__name__", None) == "_reconstruct":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)

    dispatch[type(np._core.multiarray._reconstruct)] = save_global


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def make_batch(n: int, seed: int, label: bytes) -> dict:
    """n images whose mean colour depends on the class, so a classifier can learn something."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    base = rng.integers(0, 256, size=(n, 3072))
    shift = (labels[:, None] * 12).repeat(3072, axis=1)
    data = ((base // 2 + shift) % 256).astype(np.uint8)
    return {
        b"batch_label": label,
        b"labels": [int(v) for v in labels],
        b"data": data,
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


def member_bytes(n: int = 200, seed: int = 0) -> dict[str, bytes]:
    out = {}
    for i, name in enumerate(MEMBERS[:-1]):
        out[name] = py2_pickle(make_batch(n, seed + i, f"batch {i + 1} of 5".encode()))
    out["batches.meta"] = py2_pickle(
        {b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": n, b"num_vis": 3072}
    )
    return out


def write_archive(path: Path, members: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> str:
    """Write a gzipped tar with ``cifar-10-batches-py/<name>`` members; return its MD5."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_archive(path: Path, n: int = 200, seed: int = 0) -> str:
    return write_archive(path, member_bytes(n, seed))
