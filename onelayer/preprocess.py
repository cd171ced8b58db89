"""Step 3: the batch files as the arrays training reads, with the statistics that normalise them.

Pixels are scaled to [0, 1], then every feature is centred and scaled with the mean and
standard deviation (ddof 0) of the *training* set only, applied alike to train, validation and
test. The processed file keeps each split's images as the raw bytes they came from (n x d
uint8, one image per row) with those statistics: the native kernels read the bytes and map them
to features on the fly, and whatever needs the float features derives them on load
(``dataset.PixelMap``), the same bits for the same statistics. A file holds a byte per
feature, a quarter of float32 features'.
"""

from __future__ import annotations

import numpy as np

from onelayer.atomic import write_npz
from onelayer.cifar10 import load_batch, load_label_names

CHUNK = 2048  # images at a time in float64: the statistics never hold the set in float64


def to_features(data: np.ndarray) -> np.ndarray:
    """uint8 n x d -> float64 d x n in [0, 1], column-major (an image per column)."""
    return data.T.astype(np.float64) / 255.0


def _sequential_sum(parts) -> np.ndarray:
    """The sum over images of the c x d blocks ``parts`` (an image per row), added image by
    image in order: the order numpy's X.mean(axis=1) and X.std(axis=1) take on a column-major
    d x n X (its reduction runs along the rows, one image after the other), so the bits are
    those of one big reduction."""
    total = None
    for part in parts:
        for row in part:  # one contiguous vector add per image
            if total is None:
                total = row.copy()
            else:
                total += row
    return total


def train_statistics(U_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std (ddof 0), each d x 1, of the training images (n x d bytes) in
    [0, 1]: the numbers of to_features(U).mean/std(axis=1, keepdims=True), computed CHUNK
    images at a time (the whole set in float64 would take 8 bytes per pixel)."""
    n, d = U_train.shape
    chunks = [U_train[i : i + CHUNK] for i in range(0, n, CHUNK)]
    buffer = np.empty((min(n, CHUNK), d))  # reused: no fresh pages per chunk

    def in_01(U):  # to_features, an image per row: u converted exactly, then / 255
        return np.divide(U, 255.0, out=buffer[: len(U)], dtype=np.float64)

    def squares(U):  # (x - mean)^2, as numpy's std multiplies the deviations by themselves
        D = np.subtract(in_01(U), mean, out=buffer[: len(U)])
        return np.multiply(D, D, out=D)

    mean = _sequential_sum(in_01(U) for U in chunks) / n
    std = np.sqrt(_sequential_sum(squares(U) for U in chunks) / n)
    # A feature that is constant in training carries no information; dividing by 1 keeps it finite.
    return mean[:, None], np.where(std > 0, std, 1.0)[:, None]


def load_split(paths: list) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate batch files: (pixels n x d uint8, y n int64)."""
    parts = [load_batch(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def preprocess(train: list, val: list, test: list, meta, out, val_size: int = 0) -> dict:
    """Read the batch files of each split, compute the training statistics, write ``out``.

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
    mean, std = train_statistics(U_train)
    arrays = {
        "pixels_train": np.ascontiguousarray(U_train),
        "y_train": y_train,
        "pixels_val": np.ascontiguousarray(U_val),
        "y_val": y_val,
        "pixels_test": np.ascontiguousarray(U_test),
        "y_test": y_test,
        "mean": mean,
        "std": std,
        "label_names": np.array(load_label_names(meta)),
    }
    write_npz(out, **arrays)
    return arrays
