"""Step 3: turn raw batches into the arrays training reads.

Pixels are scaled to [0, 1], then every feature is centred and scaled with the mean and
standard deviation (ddof 0) of the *training* set only, applied alike to train, validation and
test. Arrays follow the assignment's notation, X is d x n, but are stored column-major so that
each image (a column) is contiguous in memory: mini-batches are then cheap to gather.

The training and validation images are also kept as the raw bytes they came from (n x d uint8,
one image per row): the native training kernels read them and map them to the features on the
fly (``dataset.PixelMap``), a quarter of the bytes of float32 features.
"""

from __future__ import annotations

import numpy as np

from onelayer.atomic import write_npz
from onelayer.cifar10 import load_batch, load_label_names
from onelayer.dataset import normalise


def to_features(data: np.ndarray) -> np.ndarray:
    """uint8 n x d -> float64 d x n in [0, 1]."""
    return data.T.astype(np.float64) / 255.0


def train_statistics(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std (ddof 0) over the training images, each d x 1."""
    mean = X_train.mean(axis=1, keepdims=True)
    std = X_train.std(axis=1, keepdims=True)
    # A feature that is constant in training carries no information; dividing by 1 keeps it finite.
    return mean, np.where(std > 0, std, 1.0)


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
