"""Step 3: turn raw batches into the arrays training reads.

Pixels are scaled to [0, 1], then every feature is centred and scaled with the mean and
standard deviation (ddof 0) of the *training* set only, applied alike to train, validation and
test. Arrays follow the assignment's notation, X is d x n, but are stored column-major so that
each image (a column) is contiguous in memory: mini-batches are then cheap to gather.

The training and validation images are also kept as the raw bytes they came from (n x d uint8,
one image per row), with the per-feature affine map that turns them into the features
(``Pixels``): the native training kernels read them, a quarter of the bytes of float32 features.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

import numpy as np

from onelayer.atomic import write_npz
from onelayer.cifar10 import load_batch, load_label_names


def to_features(data: np.ndarray) -> np.ndarray:
    """uint8 n x d -> float64 d x n in [0, 1]."""
    return data.T.astype(np.float64) / 255.0


def train_statistics(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std (ddof 0) over the training images, each d x 1."""
    mean = X_train.mean(axis=1, keepdims=True)
    std = X_train.std(axis=1, keepdims=True)
    # A feature that is constant in training carries no information; dividing by 1 keeps it finite.
    return mean, np.where(std > 0, std, 1.0)


def normalise(X: np.ndarray, mean: np.ndarray, std: np.ndarray, dtype=np.float32) -> np.ndarray:
    """(X - mean) / std as ``dtype``, column-major (each image contiguous)."""
    return np.asfortranarray(((X - mean) / std).astype(dtype))


def affine_map(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift), each d, such that the features of pixels u are ``scale * u + shift``.

    ``normalise(u / 255, mean, std)`` is ((u / 255) - mean) / std, which is the same number as
    u / (255 std) - mean / std: equal up to the rounding of each form.
    """
    return (1.0 / (255.0 * std)).ravel(), (-mean / std).ravel()


@dataclass(frozen=True)
class Pixels:
    """The raw bytes behind the training and validation features, and the map between them.

    ``train`` and ``val`` are n x d uint8, one image per row; feature j of an image with pixels
    u is ``scale[j] * u[j] + shift[j]`` (``affine_map``).
    """

    train: np.ndarray
    val: np.ndarray
    scale: np.ndarray
    shift: np.ndarray

    def check(self, X_train: np.ndarray, X_val: np.ndarray, images: int = 4) -> None:
        """Raise ValueError unless these pixels are the images of X_train and X_val (d x n).

        The shapes must agree, and the first and last ``images`` images of each set must map to
        their features to float32 rounding: a cheap guard against pixels of other data.
        """
        for name, U, X in (("train", self.train, X_train), ("val", self.val, X_val)):
            if U.dtype != np.uint8 or U.shape != X.shape[::-1]:
                raise ValueError(
                    f"pixels of {name} must be uint8 {X.shape[1]} x {X.shape[0]} for its "
                    f"features, got {U.dtype} {U.shape}"
                )
            n = X.shape[1]
            idx = np.unique(np.r_[: min(images, n), max(0, n - images) : n])
            mapped = self.scale[:, None] * U[idx].T + self.shift[:, None]
            if not np.allclose(mapped, X[:, idx], rtol=1e-5, atol=1e-5):
                worst = float(np.max(np.abs(mapped - X[:, idx])))
                raise ValueError(
                    f"pixels of {name} do not map to its features (largest difference {worst:.3g}):"
                    " they belong to other data or another normalisation"
                )


def pixels_of(data: dict) -> Pixels | None:
    """The ``Pixels`` of arrays written by ``preprocess``; None for a file written before them."""
    if "pixels_train" not in data or "pixels_val" not in data:
        return None
    scale, shift = affine_map(data["mean"], data["std"])
    return Pixels(data["pixels_train"], data["pixels_val"], scale, shift)


def load_split(paths: list) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate batch files: (pixels n x d uint8, y n int64)."""
    parts = [load_batch(p) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def preprocess(train: list, val: list, test: list, meta, out, dtype: str = "float32",
               val_size: int = 0) -> dict:  # fmt: skip
    """Read the batch files of each split, normalise with train statistics, write ``out`` (.npz).

    With no ``val`` files, the last ``val_size`` images of the training batches are held out for
    validation (the handout's bonus 2.1 (a): all five batches but about 1,000 images), and the
    statistics come from the rest only.
    """
    U_train, y_train = load_split(train)
    if val and val_size:
        raise ValueError("give validation batch files or val_size, not both")
    if val:
        U_val, y_val = load_split(val)
    else:
        if not 1 <= val_size < len(y_train):
            raise ValueError(f"val_size must be 1 .. {len(y_train) - 1} images, got {val_size}")
        U_train, U_val = U_train[:-val_size], U_train[-val_size:]
        y_train, y_val = y_train[:-val_size], y_train[-val_size:]
    U_test, y_test = load_split(test)
    X_train, X_val = to_features(U_train), to_features(U_val)
    mean, std = train_statistics(X_train)
    arrays = {
        "X_train": normalise(X_train, mean, std, dtype),
        "y_train": y_train,
        "X_val": normalise(X_val, mean, std, dtype),
        "y_val": y_val,
        "X_test": normalise(to_features(U_test), mean, std, dtype),
        "y_test": y_test,
        "mean": mean,
        "std": std,
        "pixels_train": np.ascontiguousarray(U_train),
        "pixels_val": np.ascontiguousarray(U_val),
        "label_names": np.array(load_label_names(meta)),
    }
    write_npz(out, **arrays)
    return arrays


def load_processed(path) -> dict:
    """The arrays written by ``preprocess`` (no pickles: object arrays are refused).

    ``preprocess`` writes an uncompressed .npz, so each array's bytes lie in the file as they
    are: those are mapped read-only (np.memmap) instead of read, and a job reads only the pages
    it touches (a training job on raw pixels never reads the float features it does not use:
    about a second saved per job on the five-batch set). Compressed members are read as usual.
    """
    path = str(path)
    out = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):  # as np.load: the arrays are the .npy members
                continue
            name = info.filename.removesuffix(".npy")
            mapped = (
                _map_member(path, raw, info) if info.compress_type == zipfile.ZIP_STORED else None
            )
            if mapped is None:
                with zf.open(info) as member:
                    mapped = np.lib.format.read_array(member, allow_pickle=False)
            out[name] = mapped
    return out


def _map_member(path: str, raw, info: zipfile.ZipInfo):
    """The .npy member ``info`` of an uncompressed zip as a read-only memmap (None if small or
    not mappable: those are read instead)."""
    raw.seek(info.header_offset)
    local = raw.read(30)  # the local file header: its name and extra field lengths at 26 and 28
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise ValueError(f"{path}: {info.filename} has a damaged zip header")
    start = (
        info.header_offset
        + 30
        + int.from_bytes(local[26:28], "little")
        + int.from_bytes(local[28:30], "little")
    )
    raw.seek(start)
    version = np.lib.format.read_magic(raw)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)  # fmt: skip
    if read_header is None:
        return None
    shape, fortran, dtype = read_header(raw)
    if dtype.hasobject:
        raise ValueError(f"{path}: {info.filename} holds Python objects, which are refused")
    if int(np.prod(shape)) * dtype.itemsize < 1 << 20:  # small: reading is as cheap
        return None
    if raw.tell() % dtype.alignment:  # a file written by np.savez (before write_npz aligned)
        return None
    return np.memmap(path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape,
                     order="F" if fortran else "C")  # fmt: skip
