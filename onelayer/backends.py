"""The two loops that train (and whose gradients the gradient check checks), behind one small
interface: ``start(W0, b0)``, ``epoch(rows, n_batch, eta, lam, mirror, moves, border)``,
``parameters()``, ``evaluate(params, split)``, ``model(params)``, and ``gradients(W, b, lam)`` on
the training images it holds (what the gradient check checks).

"numpy" runs each batch in Python with two BLAS products; "native" runs an epoch in one call to
the C kernels of ``onelayer.native`` (the best build this CPU runs). The maths is the same, in a
different order of operations, so their numbers agree to rounding, not bit for bit.
"""

from __future__ import annotations

import logging

import numpy as np

from onelayer import model
from onelayer.augment import flip_horizontal, flipped_and_moved
from onelayer.dataset import TrainingData

log = logging.getLogger(__name__)

NAMES = ("auto", "native", "numpy")


def resolve(backend: str) -> str:
    """The loop that trains for ``backend``: "auto" is native where its kernels were built at
    install time (and this CPU runs one of them), else numpy with a one-line warning;
    "native" without them fails when the backend is made, saying how to get them."""
    if backend not in NAMES:
        raise ValueError(f"backend must be one of {NAMES}, got {backend!r}")
    if backend != "auto":
        return backend
    from onelayer import native

    if native.available():
        return "native"
    log.warning("%s", native.NOT_BUILT)
    return "numpy"


def make(name: str, data: TrainingData, dtype, loss: str = "softmax", K: int = 10,
         variant=None, threads: int = 1, eval_threads: int = 1):  # fmt: skip
    """The backend ``name`` ("native" or "numpy", see ``resolve``) on ``data``, computing in
    ``dtype`` for ``loss``; the native one runs each epoch on ``threads`` and each evaluation on
    ``eval_threads``."""
    if name == "native":
        return NativeBackend(data, dtype, loss, K, variant, threads, eval_threads)
    if name == "numpy":
        return NumpyBackend(data, dtype, loss, K)
    raise ValueError(f"no backend {name!r}: resolve() it first")


def augmented(images: np.ndarray, rows: np.ndarray, mirror, moves,
              border: str = "black") -> np.ndarray:  # fmt: skip
    """The images (rows of bytes, in image order) as an epoch reads them: image rows[t]
    mirrored where mirror[t], then moved by moves[t] = (dx, dy) pixels with a ``border``."""
    n = images.shape[0]
    by_image = np.zeros((n, 3), dtype=np.int64)  # mirror, dx, dy of each image
    if mirror is not None:
        by_image[rows, 0] = mirror
    if moves is not None:
        by_image[rows, 1:] = moves
    return flipped_and_moved(images, *by_image.T, border=border)


def kernel_moves(count: int, mirror, moves, border: str = "black") -> np.ndarray | None:
    """(flags, dx, dy) per position, as the native kernels take them (flags: MOVE_MIRROR where
    mirrored, MOVE_EDGE where moves uncover the edge); None: no augmentation."""
    if mirror is None and moves is None:
        return None
    from onelayer.native import MOVE_EDGE, MOVE_MIRROR

    out = np.zeros((count, 3), dtype=np.int8)
    if mirror is not None:
        out[:, 0] = MOVE_MIRROR * np.asarray(mirror)
    if moves is not None:
        out[:, 1:] = moves
        if border == "edge":
            out[:, 0] |= MOVE_EDGE
    return out


def pad_classes(W: np.ndarray, b: np.ndarray, K_pad: int) -> tuple[np.ndarray, np.ndarray]:
    """W, b with K_pad - K extra classes whose score is always -inf.

    An extra class gets probability exp(-inf) = 0, so its row of G = P - Y is 0, its gradient is
    0 and its W row stays 0: the padded model is the same model. It exists for speed: OpenBLAS
    multiplies by 16 columns faster than by 10 (0.14 vs 0.18 ms for one 100-image batch here).
    """
    K, d = W.shape
    # Column-major, so that W^T in S^T = X^T W^T is contiguous for BLAS.
    Wp = np.zeros((K_pad, d), dtype=W.dtype, order="F")
    Wp[:K] = W
    bp = np.full((K_pad, 1), -np.inf, dtype=b.dtype)
    bp[:K] = b
    return Wp, bp


class NumpyBackend:
    """The loop in Python: each batch is gathered, then two BLAS products (numpy's OpenBLAS,
    pinned to one thread by ``train``).

    It reads the features, images as rows of X^T; classes are padded to ``K_pad`` (see
    ``pad_classes``). Augmented images are built from the pixels and mapped to features.
    """

    name = "numpy"

    def __init__(self, data: TrainingData, dtype, loss: str, K: int, K_pad: int = 16):
        self.data, self.loss, self.K, self.K_pad = data, loss, K, max(K, K_pad)
        self.dtype = np.dtype(dtype)
        self.sets = {s: (data.features(s, self.dtype), getattr(data, f"y_{s}"))
                     for s in ("train", "val")}  # fmt: skip
        self.XT = self.sets["train"][0].T  # one image per C-contiguous row
        self.y = data.y_train
        self.XbT = None  # one batch, gathered
        self.mirrors = None  # the features of the mirrored training images, made when needed

    def start(self, W0: np.ndarray, b0: np.ndarray) -> None:
        self.W, self.b = pad_classes(W0, b0, self.K_pad)

    def features_of(self, images: np.ndarray) -> np.ndarray:
        """Rows of features (the training dtype) of images given as rows of bytes."""
        return self.data.pixel_map.features(images, self.dtype).T

    def epoch(self, rows: np.ndarray, n_batch: int, eta: float, lam: float, mirror=None,
              moves=None, border: str = "black") -> None:  # fmt: skip
        """One epoch on the training images ``rows``, in batches of consecutive slices of it (a
        remainder is dropped), position t read mirrored where ``mirror[t]`` and moved by
        ``moves[t]`` = (dx, dy), the uncovered pixels ``border``."""
        XT, y, n = self.XT, self.y, self.y.size
        W, b, nb = self.W, self.b, n_batch
        if self.XbT is None or self.XbT.shape[0] != nb:
            self.XbT = np.empty((nb, XT.shape[1]), dtype=self.dtype)
        if moves is not None:  # the epoch's moved images, mapped to features batch by batch
            images = augmented(self.data.pixels_train, rows, mirror, moves, border)
            gather = lambda idx: self.data.pixel_map.features(images[idx], self.dtype,  # noqa: E731
                                                              out=self.XbT.T)  # fmt: skip
        else:
            if mirror is not None:  # the mirrored images follow the originals: row i + n
                if self.mirrors is None:
                    self.mirrors = np.concatenate([XT, self.features_of(flip_horizontal(
                        self.data.pixels_train))])  # fmt: skip
                XT, y, rows = self.mirrors, np.concatenate([y, y]), rows + n * np.asarray(mirror)
            # The indices are in range: mode="clip" only skips numpy's check of them.
            gather = lambda idx: np.take(XT, idx, axis=0, out=self.XbT, mode="clip")  # noqa: E731
        for j in range(rows.size // nb):
            idx = rows[j * nb : (j + 1) * nb]
            gather(idx)
            grad_W, grad_b = model.gradients(W, b, self.XbT.T, y[idx], lam, self.loss, self.K)
            W -= eta * grad_W
            b -= eta * grad_b

    def keep_subset(self, idx: np.ndarray) -> None:
        """Training images ``idx`` as the split "train_subset" the evaluation may read instead."""
        X, y = self.sets["train"]
        self.sets["train_subset"] = (np.asfortranarray(X[:, idx]), y[idx])

    def parameters(self):
        # order="K" keeps W column-major: the same layout gives the same rounding.
        return self.W.copy(order="K"), self.b.copy()

    def evaluate(self, params, split: str) -> tuple[float, float]:
        """(mean loss, accuracy) of the parameters on ``split``."""
        X, y = self.sets[split]
        S = model.scores(*params, X)[: self.K]  # without the padding classes
        return model.loss_of(S, y, self.loss), model.accuracy(S, y)

    def model(self, params) -> tuple[np.ndarray, np.ndarray]:
        """W (K x d) and b (K x 1) of the parameters."""
        W, b = params
        return W[: self.K].copy(), b[: self.K].copy()

    def gradients(self, W, b, lam: float) -> tuple[np.ndarray, np.ndarray]:
        """dJ/dW, dJ/db at (W, b) on every training image: ``model.gradients``."""
        return model.gradients(W, b, self.sets["train"][0], self.y, lam, self.loss)


class NativeBackend:
    """The loop in C (``onelayer.native``): one call per epoch, one per evaluated split, on
    ``threads`` and ``eval_threads`` threads of their own (the same numbers for any count).

    Given pixels, the kernels read the raw bytes and map them to features on the fly: a quarter
    of the memory traffic of float32 features, an eighth of float64.
    """

    name = "native"

    def __init__(self, data: TrainingData, dtype, loss: str, K: int, variant=None,
                 threads: int = 1, eval_threads: int = 1):  # fmt: skip
        from onelayer import native

        self.native, self.loss, self.K = native, loss, K
        self.threads, self.eval_threads = threads, eval_threads
        self.dtype = np.dtype(dtype)
        self.variant = variant or native.default_variant()
        self.kernels = native.kernels(self.variant)  # refused here if not built or not runnable
        labels = lambda y: np.ascontiguousarray(y, dtype=np.int64)  # noqa: E731
        if data.has_pixels:
            as_T = lambda a: np.ascontiguousarray(a, dtype=self.dtype)  # noqa: E731
            self.affine = (as_T(data.pixel_map.scale), as_T(data.pixel_map.offset))
            images = {"train": data.pixels_train, "val": data.pixels_val}
        else:
            self.affine = None
            # X^T with one image per contiguous row: free for column-major features
            images = {s: data.features(s, self.dtype).T for s in ("train", "val")}
        self.sets = {s: (np.ascontiguousarray(images[s]), labels(getattr(data, f"y_{s}")))
                     for s in ("train", "val")}  # fmt: skip

    @property
    def fma(self) -> bool:
        return bool(self.kernels.fma)

    def start(self, W0: np.ndarray, b0: np.ndarray) -> None:
        self.W, self.b = np.ascontiguousarray(W0), np.ascontiguousarray(b0[:, 0])

    def epoch(self, rows: np.ndarray, n_batch: int, eta: float, lam: float, mirror=None,
              moves=None, border: str = "black") -> None:  # fmt: skip
        """The kernel mirrors and moves the images itself, batch by batch, as it reads them."""
        XT, y = self.sets["train"]
        self.native.sgd_epoch(self.W, self.b, XT, y, rows, n_batch, eta, lam, affine=self.affine,
                              variant=self.variant, loss=self.loss,
                              moves=kernel_moves(rows.size, mirror, moves, border),
                              threads=self.threads)  # fmt: skip

    def keep_subset(self, idx: np.ndarray) -> None:
        XT, y = self.sets["train"]
        self.sets["train_subset"] = (np.ascontiguousarray(XT[idx]), np.ascontiguousarray(y[idx]))

    def parameters(self):
        return self.W.copy(), self.b.copy()

    def evaluate(self, params, split: str) -> tuple[float, float]:
        return self.native.loss_and_accuracy(*params, *self.sets[split], affine=self.affine,
                                             variant=self.variant, loss=self.loss,
                                             threads=self.eval_threads)  # fmt: skip

    def model(self, params) -> tuple[np.ndarray, np.ndarray]:
        W, b = params
        return W.copy(), b.reshape(-1, 1).copy()

    def gradients(self, W, b, lam: float) -> tuple[np.ndarray, np.ndarray]:
        """dJ/dW, dJ/db at (W, b) on every training image, by the kernel that trains."""
        XT, y = self.sets["train"]
        gW, gb = self.native.gradients(np.ascontiguousarray(W, self.dtype),
                                       np.ascontiguousarray(b[:, 0], self.dtype), XT, y, lam,
                                       affine=self.affine, variant=self.variant, loss=self.loss)  # fmt: skip
        return gW, gb.reshape(b.shape)
