"""Step 5: mini-batch gradient descent, with the full evaluation after every epoch.

Semantics follow the report author's code: W and b from ``model.init_params(seed)``; a second,
separate ``default_rng(seed)`` draws one permutation of the training set per epoch; batches are
sequential slices of it (n // n_batch of them; a remainder is dropped, as in the handout).
Every configuration therefore starts from the same W and sees the same shuffles.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from onelayer import model
from onelayer import schedule as schedules
from onelayer.augment import flip_draws, flip_horizontal, translate, with_mirrors
from onelayer.preprocess import Pixels

log = logging.getLogger(__name__)

HISTORY_COLUMNS = [
    "epoch",
    "train_loss",
    "val_loss",
    "train_cost",
    "val_cost",
    "train_accuracy",
    "val_accuracy",
]


@dataclass
class TrainResult:
    W: np.ndarray
    b: np.ndarray
    history: list[dict] = field(default_factory=list)
    diverged_epoch: int | None = None  # first epoch whose training loss was not finite or exploded
    seconds: float = 0.0
    backend: str = "numpy"  # the loop that trained: "native" or "numpy"
    native_variant: str | None = None  # the native build that trained (onelayer.native)
    native_fma: bool | None = None  # whether that build uses FMA (all FMA builds agree bitwise)


def has_diverged(loss: float, K: int, factor: float) -> bool:
    """A loss that is not finite, or ``factor`` times the loss of guessing (log K), has diverged."""
    return not math.isfinite(loss) or loss > factor * math.log(K)


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


BACKENDS = ("auto", "native", "numpy")


def resolve_backend(backend: str) -> str:
    """The loop that trains for ``backend``: "auto" is native where its kernels were built at
    install time (and this CPU runs one of them), else numpy with a one-line warning;
    "native" without them is an error that says how to get them."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    from onelayer import native

    if native.available():
        return "native"
    log.warning("%s", native.NOT_BUILT)
    return "numpy"


class NumpyBackend:
    """The loop in Python: each batch is gathered, then two BLAS products (numpy's OpenBLAS).

    Classes are padded to ``K_pad`` (see ``pad_classes``); X^T's rows are the images. It reads
    the features; ``pixels`` only serve augmentation, which acts on the raw images (their
    features are mapped from the flipped or moved bytes, as the native kernels read them).
    """

    def __init__(self, X_train, y_train, X_val, y_val, W0, b0, lam, n_batch, K_pad, pixels=None,
                 mirrors=False, loss="softmax"):  # fmt: skip
        self.K, self.loss = W0.shape[0], loss
        self.W, self.b = pad_classes(W0, b0, max(self.K, K_pad))
        self.sets = {"train": (X_train, y_train), "val": (X_val, y_val)}
        self.y_train, self.lam, self.n_batch = y_train, lam, n_batch
        # Images are rows of X^T (C-contiguous for column-major X): a batch is a gather of rows.
        # With mirrors, rows n .. 2n - 1 are the features of the flipped images.
        self.pixels = pixels
        self.XbT = np.empty((n_batch, X_train.shape[0]), dtype=X_train.dtype)  # one batch, reused
        self.XT = X_train.T
        if mirrors:
            self.XT = np.concatenate([self.XT, self.features(flip_horizontal(pixels.train))])
        self.y_rows = np.concatenate([y_train, y_train]) if mirrors else y_train

    def features(self, images: np.ndarray) -> np.ndarray:
        """The features (rows, in the training dtype) of raw images (rows of bytes)."""
        return (self.pixels.scale * images + self.pixels.shift).astype(self.XbT.dtype)

    def images(self) -> np.ndarray:
        """The raw training images (rows of bytes), as ``epoch(images=...)`` takes a copy."""
        return self.pixels.train

    def epoch(self, rows: np.ndarray, eta: float, images: np.ndarray | None = None) -> None:
        """One epoch on the rows ``rows`` of the training images (and their mirrors), or of
        ``images``: raw images (bytes) in the training set's order, augmented."""
        W, b, nb = self.W, self.b, self.n_batch
        XT, y = (self.XT, self.y_rows) if images is None else (self.features(images), self.y_train)
        for j in range(rows.size // nb):
            idx = rows[j * nb : (j + 1) * nb]
            # The indices are in range: mode="clip" only skips numpy's check of them.
            np.take(XT, idx, axis=0, out=self.XbT, mode="clip")
            grad_W, grad_b = model.gradients(W, b, self.XbT.T, y[idx], self.lam, self.loss, self.K)
            W -= eta * grad_W
            b -= eta * grad_b

    def keep_subset(self, idx: np.ndarray) -> None:
        """Training images ``idx`` as the set "train_subset" the evaluation may read instead."""
        X, y = self.sets["train"]
        self.sets["train_subset"] = (np.asfortranarray(X[:, idx]), y[idx])

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        # order="K" keeps W column-major: the same layout gives the same rounding.
        return self.W.copy(order="K"), self.b.copy()

    def loss_and_accuracy(self, W, b, which: str) -> tuple[float, float]:
        X, y = self.sets[which]
        S = model.scores(W, b, X)[: self.K]  # without the padding classes
        return model.loss_of(S, y, self.loss), model.accuracy(S, y)

    def unpad(self, W, b) -> tuple[np.ndarray, np.ndarray]:
        return W[: self.K].copy(), b[: self.K].copy()


class NativeBackend:
    """The loop in C (``onelayer.native``): one call per epoch, one per evaluated set.

    Given ``pixels``, the kernels read the raw bytes and map them to features on the fly: a
    quarter of the memory traffic of float32 features, an eighth of float64.
    """

    def __init__(self, X_train, y_train, X_val, y_val, W0, b0, lam, n_batch, K_pad, pixels=None,
                 variant=None, mirrors=False, loss="softmax"):  # fmt: skip
        from onelayer import native

        self.loss = loss
        self.variant = variant or native.default_variant()
        self.kernels = native.kernels(self.variant)  # refused here if not built or not runnable
        self.native, self.lam, self.n_batch = native, lam, n_batch
        self.W, self.b = np.ascontiguousarray(W0), np.ascontiguousarray(b0[:, 0])
        labels = lambda y: np.ascontiguousarray(y, dtype=np.int64)  # noqa: E731
        if pixels is None:
            self.affine = None
            # X^T with one image per contiguous row: free for the column-major X the pipeline loads.
            images = {"train": X_train.T, "val": X_val.T}
        else:
            as_W = lambda a: np.ascontiguousarray(a, dtype=W0.dtype)  # noqa: E731
            self.affine = (as_W(pixels.scale), as_W(pixels.shift))
            images = {"train": pixels.train, "val": pixels.val}
        self.sets = {
            "train": (np.ascontiguousarray(images["train"]), labels(y_train)),
            "val": (np.ascontiguousarray(images["val"]), labels(y_val)),
        }
        # what the epochs read: the training images, and their mirrors after them
        XT, y = self.sets["train"]
        self.rows_of = (with_mirrors(XT), np.concatenate([y, y])) if mirrors else (XT, y)

    def images(self) -> np.ndarray:
        """The raw training images (rows of bytes), for an augmented copy."""
        return self.sets["train"][0]

    def epoch(self, rows: np.ndarray, eta: float, images: np.ndarray | None = None) -> None:
        XT, y = self.rows_of if images is None else (images, self.sets["train"][1])
        self.native.sgd_epoch(self.W, self.b, XT, y, rows, self.n_batch, eta, self.lam,
                              affine=self.affine, variant=self.variant, loss=self.loss)  # fmt: skip

    def keep_subset(self, idx: np.ndarray) -> None:
        """Training images ``idx`` as the set "train_subset" the evaluation may read instead."""
        XT, y = self.sets["train"]
        self.sets["train_subset"] = (np.ascontiguousarray(XT[idx]), np.ascontiguousarray(y[idx]))

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        return self.W.copy(), self.b.copy()

    def loss_and_accuracy(self, W, b, which: str) -> tuple[float, float]:
        return self.native.loss_and_accuracy(
            W, b, *self.sets[which], affine=self.affine, variant=self.variant, loss=self.loss
        )

    def unpad(self, W, b) -> tuple[np.ndarray, np.ndarray]:
        return W.copy(), b.reshape(-1, 1).copy()


def train(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    lam: float,
    eta: float,
    n_batch: int = 100,
    n_epochs: int = 40,
    seed: int = 42,
    diverge_factor: float = 100.0,
    K: int = 10,
    threads: int = 1,
    K_pad: int = 16,
    backend: str = "auto",
    pixels: Pixels | None = None,
    variant: str | None = None,
    flip: float = 0.0,
    schedule: dict | None = None,
    average_last: int = 0,
    shift: int = 0,
    eval_train_every: int = 1,
    eval_train_subset: int = 0,
    loss: str = "softmax",
) -> TrainResult:
    """Train from the seed's initial W; return the final parameters and per-epoch history.

    The arithmetic runs in the dtype of ``X_train`` (float32 or float64) on one thread per
    step: ``backend`` "native" runs the loop in C (``onelayer.native``; ``variant`` picks one of
    its builds, by default the best this CPU runs), "numpy" in Python with BLAS pinned to one
    thread, "auto" native where it was built, else numpy (``resolve_backend``). The two do the
    same maths in a different order, so their numbers agree to rounding, not bit for bit. With ``threads >= 2`` the evaluation after epoch e (of a
    copy of W, on train and validation) runs on a second thread while epoch e + 1 trains: the
    same operations on the same numbers, so the results do not depend on ``threads``.

    ``pixels`` (``preprocess.Pixels``: the raw bytes behind X_train and X_val, and the map to
    them) lets the native backend read bytes instead of features. The maths is the same; the
    rounding differs from reading the features, by float rounding.

    ``flip`` (0 by default: the report's runs) is the probability that an image is read
    mirrored (``augment``) each time it is seen, drawn from ``default_rng([seed, 1])`` so that the
    shuffles stay those of the runs without flips. Augmentation acts on the raw images, before
    the per-feature normalisation, so it needs ``pixels``. ``schedule`` sets eta per epoch
    (``schedule.eta_at``; constant by default). The per-epoch evaluation reads the images as
    they are. With ``average_last`` = k > 0, the W and b returned are the means of those after
    each of the last k epochs (summed in float64; still one linear model), while the history
    evaluates the iterates as they are. ``shift`` > 0 moves each image, each time it is seen,
    by whole pixels drawn from -shift .. shift in x and y (``default_rng([seed, 2])``), with a
    black border, building the epoch's images anew each epoch, flips included.

    The per-epoch evaluation of the training set (the report's runs: every epoch, every image)
    can be thinned for experiments: ``eval_train_every`` = k evaluates it after every k-th and
    the last epoch (the other rows hold NaN there, and divergence is then judged on the
    validation loss), ``eval_train_subset`` = m on a fixed sample of m training images (drawn
    by ``default_rng([seed, 3])``). The validation set is evaluated in full after every epoch.

    ``loss`` is "softmax" (cross-entropy of softmax, the report's) or "bce" (sigmoid outputs and
    multiple binary cross-entropy, the handout's bonus 2.2): the history's losses are that loss.
    """
    d, n = X_train.shape
    if not 1 <= n_batch <= n:
        raise ValueError(f"n_batch must be between 1 and the training set size {n}, got {n_batch}")
    backend = resolve_backend(backend)
    model.check_loss(loss)
    if not 0 <= flip <= 1:
        raise ValueError(f"flip must be a probability between 0 and 1, got {flip}")
    schedules.check(schedule)
    if not 0 <= shift < 32 or int(shift) != shift:
        raise ValueError(f"shift must be a whole number of pixels 0 .. 31, got {shift}")
    if (flip or shift) and pixels is None:
        raise ValueError("augmentation (flip, shift) acts on the raw images: it needs pixels=")
    if eval_train_every < 1 or not 0 <= eval_train_subset <= n:
        raise ValueError(f"eval_train_every must be >= 1 and eval_train_subset 0 .. {n}")
    if not 0 <= average_last <= n_epochs:
        raise ValueError(f"average_last must be 0 .. n_epochs ({n_epochs}), got {average_last}")
    if pixels is not None:
        pixels.check(X_train, X_val)
        if backend == "native":
            log.info("the native kernels read the raw pixels: a byte per feature")
    W0, b0 = model.init_params(K, d, seed, dtype=X_train.dtype)
    if backend == "native":
        loop = NativeBackend(X_train, y_train, X_val, y_val, W0, b0, lam, n_batch, K_pad, pixels,
                             variant, mirrors=flip > 0, loss=loss)  # fmt: skip
        built = dict(native_variant=loop.kernels.variant, native_fma=bool(loop.kernels.fma))
        log.info("native kernels: %s (FMA: %s)", built["native_variant"], built["native_fma"])
    else:
        loop = NumpyBackend(X_train, y_train, X_val, y_val, W0, b0, lam, n_batch, K_pad, pixels,
                            mirrors=flip > 0, loss=loss)  # fmt: skip
        built = {}
    if eval_train_subset:
        sample = np.random.default_rng([seed, 3]).choice(n, eval_train_subset, replace=False)
        loop.keep_subset(np.sort(sample))
    train_set = "train_subset" if eval_train_subset else "train"
    shuffle_rng = np.random.default_rng(seed)
    flip_rng = np.random.default_rng([seed, 1])  # its own stream: the shuffles do not change
    shift_rng = np.random.default_rng([seed, 2])
    history: list[dict] = []

    def evaluate_epoch(epoch: int, W: np.ndarray, b: np.ndarray) -> dict:
        row = dict(epoch=epoch)
        penalty = model.l2_penalty(W, lam)  # padded rows of W are 0: no share in the penalty
        for which in ("train", "val"):
            if which == "train" and epoch % eval_train_every and epoch != n_epochs:
                loss = acc = math.nan  # not evaluated this epoch
            else:
                loss, acc = loop.loss_and_accuracy(W, b, train_set if which == "train" else which)
            row.update({f"{which}_loss": loss, f"{which}_cost": loss + penalty,
                        f"{which}_accuracy": acc})  # fmt: skip
        return {c: row[c] for c in HISTORY_COLUMNS}

    def record(row: dict) -> bool:
        """Append an epoch's row; True when training must stop because it diverged."""
        history.append(row)
        log.info(
            "epoch %3d/%d  train loss %.4f cost %.4f acc %.4f | val loss %.4f acc %.4f",
            row["epoch"], n_epochs, row["train_loss"], row["train_cost"], row["train_accuracy"],
            row["val_loss"], row["val_accuracy"],
        )  # fmt: skip
        skipped = eval_train_every > 1 and math.isnan(row["train_accuracy"])
        return has_diverged(row["val_loss" if skipped else "train_loss"], K, diverge_factor)

    averaged = None  # (sum of W, sum of b) over the last average_last epochs, in float64
    diverged = None  # (epoch, W, b) of the first epoch whose evaluation says it diverged
    pending = None  # (epoch, W copy, b copy, future) of an evaluation still running
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
        stack.enter_context(np.errstate(over="ignore", invalid="ignore"))
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=1)) if threads >= 2 else None
        for epoch in range(1, n_epochs + 1):
            rows = shuffle_rng.permutation(n)
            coins = flip_draws(flip_rng, n, flip) if flip > 0 else None  # one per position
            rate = schedules.eta_at(schedule, eta, epoch, n_epochs)
            if shift:  # this epoch's images: flipped, then moved, as each is drawn
                moves = shift_rng.integers(-shift, shift + 1, size=(n, 2))
                images = loop.images()
                if coins is not None:
                    mirrored = np.zeros(n, dtype=bool)
                    mirrored[rows] = coins.astype(bool)
                    images = images.copy()
                    images[mirrored] = flip_horizontal(images[mirrored])
                by_image = np.empty((n, 2), dtype=np.int64)
                by_image[rows] = moves
                loop.epoch(rows, rate, translate(images, by_image[:, 0], by_image[:, 1], 0))
            else:
                if coins is not None:  # row i + n is image i mirrored
                    rows = rows + n * coins
                loop.epoch(rows, rate)
            if pending is not None and record(pending[3].result()):  # the previous epoch's
                diverged = pending[:3]
                break
            Wc, bc = loop.snapshot()
            if average_last and epoch > n_epochs - average_last:
                sums = averaged or (0.0, 0.0)
                averaged = (sums[0] + Wc.astype(np.float64), sums[1] + bc.astype(np.float64))
            if pool is None:
                if record(evaluate_epoch(epoch, Wc, bc)):
                    diverged = (epoch, Wc, bc)
                    break
            else:
                pending = (epoch, Wc, bc, pool.submit(evaluate_epoch, epoch, Wc, bc))
        else:
            if pending is not None and record(pending[3].result()):
                diverged = pending[:3]
    seconds = time.perf_counter() - start
    diverged_epoch = None
    if diverged is not None:
        diverged_epoch, Wc, bc = diverged
        log.warning("diverged at epoch %d; stopped", diverged_epoch)
    elif averaged is not None:  # the mean of the last epochs' W and b, in the iterates' dtype
        Wc, bc = ((s / average_last).astype(Wc.dtype) for s in averaged)
    W, b = loop.unpad(Wc, bc)
    return TrainResult(W, b, history, diverged_epoch, seconds, backend, **built)
