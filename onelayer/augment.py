"""Data augmentation for training (the handout's bonus 2.1 (b)): horizontal flips.

Images are rows (one image per row: X^T of the features, or the raw pixels), each 3 x 32 x 32
in CIFAR's order (R, G, B planes of 32 rows of 32 pixels). A flip reverses each row of pixels.
Training keeps the flipped copy of the training set beside the original, and each time an image
is seen it is read from one copy or the other: the kernels stay the same, and the draws come
from their own seeded generator.
"""

from __future__ import annotations

import numpy as np

SIDE = 32  # pixels per image row


def flip_horizontal(images: np.ndarray) -> np.ndarray:
    """The mirror images of ``images`` (n x d, d = channels x 32 x 32), as a new C array."""
    n, d = images.shape
    if d % (SIDE * SIDE):
        raise ValueError(f"images of {d} features are not planes of {SIDE} x {SIDE} pixels")
    planes = images.reshape(n, d // (SIDE * SIDE), SIDE, SIDE)
    return np.ascontiguousarray(planes[:, :, :, ::-1]).reshape(n, d)


def with_mirrors(images: np.ndarray) -> np.ndarray:
    """The images, then their mirror images: row i + n is row i flipped."""
    return np.concatenate([images, flip_horizontal(images)])


def flip_draws(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """0 or 1 for each of n positions of an epoch: 1 (read the mirror) with probability p."""
    return (rng.random(n) < p).astype(np.int64)
