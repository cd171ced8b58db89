"""Data augmentation (the handout's bonus 2.1 (b)): horizontal flips in training, and the
test-time flip average as a linear model.

Images are rows (one image per row: X^T of the features, or the raw pixels), each 3 x 32 x 32
in CIFAR's order (R, G, B planes of 32 rows of 32 pixels). A flip reverses each row of pixels; a
move shifts the image by whole pixels, the uncovered border black. Training draws a flip and a
move for each position of an epoch from generators of their own (``train``); the native kernels
make those images batch by batch as they read them (kernels.c, move_image), the numpy backend
makes them here, the same bytes.
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


def flip_draws(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """0 or 1 for each of n positions of an epoch: 1 (read the mirror) with probability p."""
    return (rng.random(n) < p).astype(np.int64)


def flipped_and_moved(images: np.ndarray, mirror: np.ndarray, dx: np.ndarray,
                      dy: np.ndarray) -> np.ndarray:  # fmt: skip
    """Each image (a row of bytes) mirrored where mirror[i], then moved right by dx[i] and down
    by dy[i] pixels, the uncovered border black (0), in one new array, one copy per distinct
    (mirror, dx, dy)."""
    n, d = images.shape
    if d % (SIDE * SIDE):
        raise ValueError(f"images of {d} features are not planes of {SIDE} x {SIDE} pixels")
    c = d // (SIDE * SIDE)
    out = np.zeros_like(images)
    src, dst = images.reshape(n, c, SIDE, SIDE), out.reshape(n, c, SIDE, SIDE)
    keys = np.stack([mirror, dx, dy], axis=1).astype(np.int64)
    for m, x, y in np.unique(keys, axis=0):
        at = np.flatnonzero((keys == (m, x, y)).all(axis=1))
        part = src[at][..., ::-1] if m else src[at]
        rows_to, rows_from = slice(max(y, 0), SIDE + min(y, 0)), slice(max(-y, 0), SIDE + min(-y, 0))
        cols_to, cols_from = slice(max(x, 0), SIDE + min(x, 0)), slice(max(-x, 0), SIDE + min(-x, 0))
        dst[at, :, rows_to, cols_to] = part[:, :, rows_from, cols_from]
    return out


def flip_averaged(W: np.ndarray, b: np.ndarray, scale: np.ndarray, shift: np.ndarray):
    """The test-time flip average as one linear model on the same features: (W', b') whose
    scores of an image are the mean of (W, b)'s scores of the image and of its mirror image.

    Features are ``scale * u + shift`` of the pixels u (``preprocess.affine_map``), so the
    scores are ``A u + W shift + b`` with ``A = W * scale``; the mean over u and its mirror is
    ``A' u + W shift + b`` with ``A'`` the mean of ``A`` and ``A`` flipped (a flip is its own
    inverse). Hence ``W' = A' / scale`` and ``b' = b + (W - W') shift``. Computed in float64,
    returned in W's and b's dtypes.
    """
    W64 = W.astype(np.float64)
    A = W64 * scale
    W_avg = 0.5 * (A + flip_horizontal(A)) / scale
    b_avg = b.astype(np.float64) + ((W64 - W_avg) @ shift).reshape(b.shape)
    return W_avg.astype(W.dtype), b_avg.astype(b.dtype)
