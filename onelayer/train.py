"""Step 5: mini-batch gradient descent, with the full evaluation after every epoch.

Semantics follow the report author's code: W and b from ``model.init_params(seed)``; a second,
separate ``default_rng(seed)`` draws one permutation of the training set per epoch; batches are
sequential slices of it (n // n_batch of them; a remainder is dropped, as in the handout).
Every configuration therefore starts from the same W and sees the same shuffles.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from onelayer import model

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


def evaluate(W, b, X, y, lam: float) -> tuple[float, float, float]:
    """(loss, cost, accuracy) of (W, b) on the whole set (X, y)."""
    S = model.scores(W, b, X)
    loss = model.cross_entropy(S, y)
    return loss, loss + model.l2_penalty(W, lam), model.accuracy(S, y)


def has_diverged(loss: float, K: int, factor: float) -> bool:
    """A loss that is not finite, or ``factor`` times the loss of guessing (log K), has diverged."""
    return not math.isfinite(loss) or loss > factor * math.log(K)


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
) -> TrainResult:
    """Train from the seed's initial W; return the final parameters and per-epoch history.

    The arithmetic runs in the dtype of ``X_train`` (float32 or float64).
    """
    d, n = X_train.shape
    if not 1 <= n_batch <= n:
        raise ValueError(f"n_batch must be between 1 and the training set size {n}, got {n_batch}")
    dtype = X_train.dtype
    W, b = model.init_params(K, d, seed, dtype=dtype)
    shuffle_rng = np.random.default_rng(seed)
    result = TrainResult(W, b)
    # Images are rows of X^T (C-contiguous for column-major X): a batch is a gather of rows.
    XT = X_train.T
    XbT = np.empty((n_batch, d), dtype=dtype)  # reused buffer for one batch, X_B^T
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(1, n_epochs + 1):
            perm = shuffle_rng.permutation(n)
            for j in range(n // n_batch):
                idx = perm[j * n_batch : (j + 1) * n_batch]
                np.take(
                    XT, idx, axis=0, out=XbT, mode="clip"
                )  # idx is in range; "clip" skips a copy
                grad_W, grad_b = model.gradients(W, b, XbT.T, y_train[idx], lam)
                W -= eta * grad_W
                b -= eta * grad_b
            train_loss, train_cost, train_acc = evaluate(W, b, X_train, y_train, lam)
            val_loss, val_cost, val_acc = evaluate(W, b, X_val, y_val, lam)
            row = dict(
                epoch=epoch,
                train_loss=train_loss,
                val_loss=val_loss,
                train_cost=train_cost,
                val_cost=val_cost,
                train_accuracy=train_acc,
                val_accuracy=val_acc,
            )
            result.history.append(row)
            log.info(
                "epoch %3d/%d  train loss %.4f cost %.4f acc %.4f | val loss %.4f acc %.4f",
                epoch, n_epochs, train_loss, train_cost, train_acc, val_loss, val_acc,
            )  # fmt: skip
            if has_diverged(train_loss, K, diverge_factor) or not np.all(np.isfinite(W)):
                result.diverged_epoch = epoch
                log.warning("diverged at epoch %d (training loss %s); stopping", epoch, train_loss)
                break
    result.seconds = time.perf_counter() - start
    return result
