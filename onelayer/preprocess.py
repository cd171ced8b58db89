"""Step 3: turn raw batches into the arrays training reads.

Pixels are scaled to [0, 1], then every feature is centred and scaled with the mean and
standard deviation (ddof 0) of the *training* set only, applied alike to train, validation and
test. Arrays follow the assignment's notation, X is d x n, but are stored column-major so that
each image (a column) is contiguous in memory: mini-batches are then cheap to gather.
"""

from __future__ import annotations

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


def load_split(paths: list) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate batch files: (X d x n float64 in [0, 1], y n int64)."""
    parts = [load_batch(p) for p in paths]
    data = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return to_features(data), y


def preprocess(train: list, val: list, test: list, meta, out, dtype: str = "float32") -> dict:
    """Read the batch files of each split, normalise with train statistics, write ``out`` (.npz)."""
    X_train, y_train = load_split(train)
    X_val, y_val = load_split(val)
    X_test, y_test = load_split(test)
    mean, std = train_statistics(X_train)
    arrays = {
        "X_train": normalise(X_train, mean, std, dtype),
        "y_train": y_train,
        "X_val": normalise(X_val, mean, std, dtype),
        "y_val": y_val,
        "X_test": normalise(X_test, mean, std, dtype),
        "y_test": y_test,
        "mean": mean,
        "std": std,
        "label_names": np.array(load_label_names(meta)),
    }
    write_npz(out, **arrays)
    return arrays


def load_processed(path) -> dict:
    """Load the arrays written by ``preprocess`` (no pickles: object arrays are refused)."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
