"""Data augmentation (the handout's bonus 2.1 (b)): horizontal flips in training, and the
test-time average over flips and moves as a linear model.

Images are rows (one image per row: X^T of the features, or the raw pixels), each 3 x 32 x 32
in CIFAR's order (R, G, B planes of 32 rows of 32 pixels). A flip reverses each row of pixels; a
move shifts the image by whole pixels, the uncovered border black or its edge repeated
(``source_pixels``, one index map per copy). Training draws a flip and a
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


BORDERS = ("black", "edge")  # what a move uncovers: black pixels, or the edge pixels repeated


def source_pixels(mirror: int, dx: int, dy: int, border: str = "black", d: int = 3 * SIDE * SIDE):
    """The copy of an image mirrored where ``mirror``, then moved right by ``dx`` and down by
    ``dy`` pixels, as an index map: pixel j of the copy is pixel ``src[j]`` of the image, or
    black where ``src[j]`` is -1 (``border`` "black"); with "edge" the pixels a move uncovers
    take the nearest edge pixel of the mirrored image (numpy's "edge" padding). d: the pixels of
    an image, whole planes of 32 x 32."""
    if border not in BORDERS:
        raise ValueError(f"border must be one of {BORDERS}, got {border!r}")
    if d % (SIDE * SIDE):
        raise ValueError(f"images of {d} features are not planes of {SIDE} x {SIDE} pixels")
    c, r, x = np.meshgrid(np.arange(d // (SIDE * SIDE)), np.arange(SIDE), np.arange(SIDE),
                          indexing="ij")  # fmt: skip
    sr, sx = r - dy, x - dx
    inside = (sr >= 0) & (sr < SIDE) & (sx >= 0) & (sx < SIDE)
    sr, sx = np.clip(sr, 0, SIDE - 1), np.clip(sx, 0, SIDE - 1)
    if mirror:
        sx = SIDE - 1 - sx
    src = c * SIDE * SIDE + sr * SIDE + sx
    return (src if border == "edge" else np.where(inside, src, -1)).reshape(-1)


def flipped_and_moved(images: np.ndarray, mirror: np.ndarray, dx: np.ndarray,
                      dy: np.ndarray, border: str = "black") -> np.ndarray:  # fmt: skip
    """Each image (a row of bytes) mirrored where mirror[i], then moved right by dx[i] and down
    by dy[i] pixels, the uncovered border black (0) or its edge (``source_pixels``), in one new
    array, one copy per distinct (mirror, dx, dy)."""
    n, d = images.shape
    out = np.zeros_like(images)
    keys = np.stack([mirror, dx, dy], axis=1).astype(np.int64)
    for m, x, y in np.unique(keys, axis=0):
        at = np.flatnonzero((keys == (m, x, y)).all(axis=1))
        src = source_pixels(m, x, y, border, d)
        covered = src >= 0
        out[np.ix_(at, np.flatnonzero(covered))] = images[np.ix_(at, src[covered])]
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


def test_time_model(W: np.ndarray, b: np.ndarray, trained, written, flip: bool = False,
                    shift: int = 0, border: str = "black"):  # fmt: skip
    """The model a run writes, as one linear layer on the ``written`` map's features (a
    ``dataset.PixelMap``: the processed file's, whatever the run trained on): (W, b), trained on
    the ``trained`` map's features, with its scores of an image averaged over the image's test-time
    copies: mirrored or not (``flip``) and moved by -shift .. shift whole pixels in x and in y
    (``border`` as training moves images).

    The scores are ``A u + W offset + b`` of the pixels u, ``A = W * scale`` (the trained map);
    each copy is a linear map T of u (``source_pixels``: pixel j of the copy is pixel src[j] of
    u), so the mean over the copies is ``A' u + W offset + b`` with ``A'`` the mean of ``A T``
    over them: column j of A added to column src[j]. Hence ``W' = A' / scale'`` and
    ``b' = b + W offset - W' offset'`` on the written map. Computed in float64, returned in W's
    and b's dtypes. With no copy and one map it is the model itself; with a flip alone on one
    map, ``flip_averaged``'s bits."""
    if not shift and trained is written:
        return flip_averaged(W, b, written.scale, written.offset) if flip else (W, b)
    W64 = W.astype(np.float64)
    A = W64 * trained.scale
    K, d = A.shape
    copies = [(m, dx, dy) for m in ((0, 1) if flip else (0,))
              for dx in range(-shift, shift + 1) for dy in range(-shift, shift + 1)]  # fmt: skip
    total = np.zeros((d + 1, K))  # row d: what black pixels take (dropped)
    for m, dx, dy in copies:
        np.add.at(total, source_pixels(m, dx, dy, border, d), A.T)
    W_new = total[:d].T / len(copies) / written.scale
    b_new = b.astype(np.float64) + (W64 @ trained.offset - W_new @ written.offset).reshape(b.shape)
    return W_new.astype(W.dtype), b_new.astype(b.dtype)
