"""Step 5: mini-batch gradient descent, with the evaluation after every epoch.

Semantics follow the report author's code: W and b from ``model.init_params(seed)``; a second,
separate ``default_rng(seed)`` draws one permutation of the training set per epoch; batches are
sequential slices of it (n // n_batch of them; a remainder is dropped, as in the handout).
Every configuration therefore starts from the same W and sees the same shuffles. The
improvements draw from generators of their own (``default_rng([seed, i])``), so that switching
one on leaves the shuffles as they were.
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

from onelayer import backends, model
from onelayer.augment import flip_draws
from onelayer.dataset import TrainingData
from onelayer.settings import TrainSettings

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

# the streams of default_rng([seed, i]) beside the shuffles' default_rng(seed)
FLIP_STREAM, MOVE_STREAM, SUBSET_STREAM = 1, 2, 3


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


def train(data: TrainingData, settings: TrainSettings, threads: int = 1, K: int = 10,
          variant: str | None = None) -> TrainResult:  # fmt: skip
    """Train from the seed's initial W; return the final parameters and per-epoch history.

    The arithmetic runs in ``settings.dtype`` on one thread per step, in the loop that
    ``settings.backend`` names (``backends.resolve``; ``variant`` picks a native build, by
    default the best this CPU runs). With ``threads >= 2`` the native loop runs each epoch and
    each evaluation on that many threads; the numpy loop evaluates epoch e (a copy of W, on train
    and validation) on a second thread while epoch e + 1 trains. Either way the same operations
    on the same numbers, so the results do not depend on ``threads``.

    Per epoch: eta from ``settings.schedule``; with ``flip`` each position of the epoch is read
    mirrored with that probability, with ``translate_px`` moved by whole pixels drawn from
    -translate_px .. translate_px in x and y with a black border (flipped first, then moved);
    both act on the raw images, before the normalisation, so they need the pixels. The
    evaluation reads the images as they are: the validation set after every epoch, the training
    set after every ``eval_train_every``-th and the last (the other rows hold NaN, and divergence
    is then judged on the validation loss), on a fixed sample of ``eval_train_subset`` images when
    not 0. With ``average_last`` = k > 0, the W and b returned are the means of those after each
    of the last k epochs (summed in float64; still one linear model), while the history
    evaluates the iterates. ``loss`` is "softmax" (the report's) or "bce" (sigmoid outputs and
    multiple binary cross-entropy, the handout's bonus 2.2): the history's losses are that loss.
    """
    s, n = settings, data.n
    s.check_images(n)
    if (s.flip or s.translate_px) and not data.has_pixels:
        raise ValueError("augmentation (flip, translate_px) acts on the raw images: it needs pixels")
    name = backends.resolve(s.backend)
    loop = backends.make(name, data, s.dtype, s.loss, K, variant, threads)
    built = {}
    if name == "native":
        built = dict(native_variant=loop.variant, native_fma=loop.fma)
        log.info("native kernels: %s (FMA: %s)%s", loop.variant, loop.fma,
                 ", reading the raw pixels" if data.has_pixels else "")  # fmt: skip
    loop.start(*model.init_params(K, data.d, s.seed, dtype=np.dtype(s.dtype)))
    if s.eval_train_subset:
        sample = np.random.default_rng([s.seed, SUBSET_STREAM]).choice(
            n, s.eval_train_subset, replace=False
        )
        loop.keep_subset(np.sort(sample))
    train_split = "train_subset" if s.eval_train_subset else "train"
    shuffle_rng = np.random.default_rng(s.seed)
    flip_rng = np.random.default_rng([s.seed, FLIP_STREAM])
    move_rng = np.random.default_rng([s.seed, MOVE_STREAM])
    history: list[dict] = []

    def evaluate_epoch(epoch: int, params) -> dict:
        row = dict(epoch=epoch)
        penalty = model.l2_penalty(params[0], s.lam)  # padded rows of W are 0: no share in it
        for split in ("train", "val"):
            if split == "train" and epoch % s.eval_train_every and epoch != s.n_epochs:
                value = accuracy = math.nan  # not evaluated this epoch
            else:
                value, accuracy = loop.evaluate(params, train_split if split == "train" else split)
            row.update({f"{split}_loss": value, f"{split}_cost": value + penalty,
                        f"{split}_accuracy": accuracy})  # fmt: skip
        return {c: row[c] for c in HISTORY_COLUMNS}

    def record(row: dict) -> bool:
        """Append an epoch's row; True when training must stop because it diverged."""
        history.append(row)
        log.info(
            "epoch %3d/%d  train loss %.4f cost %.4f acc %.4f | val loss %.4f acc %.4f",
            row["epoch"], s.n_epochs, row["train_loss"], row["train_cost"],
            row["train_accuracy"], row["val_loss"], row["val_accuracy"],
        )  # fmt: skip
        skipped = s.eval_train_every > 1 and math.isnan(row["train_accuracy"])
        return has_diverged(row["val_loss" if skipped else "train_loss"], K, s.diverge_factor)

    averaged = None  # (sum of W, sum of b) over the last average_last epochs, in float64
    diverged = None  # (epoch, params) of the first epoch whose evaluation says it diverged
    pending = None  # (epoch, params, future) of an evaluation still running
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
        stack.enter_context(np.errstate(over="ignore", invalid="ignore"))
        beside = threads >= 2 and name == "numpy"  # the native loop uses the threads itself
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=1)) if beside else None
        for epoch in range(1, s.n_epochs + 1):
            rows = shuffle_rng.permutation(n)
            mirror = flip_draws(flip_rng, n, s.flip) if s.flip > 0 else None  # per position
            moves = None
            if s.translate_px:
                moves = move_rng.integers(-s.translate_px, s.translate_px + 1, size=(n, 2))
            eta = s.schedule.eta_at(s.eta, epoch, s.n_epochs)
            loop.epoch(rows, s.n_batch, eta, s.lam, mirror, moves)
            if pending is not None and record(pending[2].result()):  # the previous epoch's
                diverged = pending[:2]
                break
            params = loop.parameters()
            if s.average_last and epoch > s.n_epochs - s.average_last:
                sums = averaged or (0.0, 0.0)
                averaged = tuple(total + p.astype(np.float64) for total, p in zip(sums, params))
            if pool is None:
                if record(evaluate_epoch(epoch, params)):
                    diverged = (epoch, params)
                    break
            else:
                pending = (epoch, params, pool.submit(evaluate_epoch, epoch, params))
        else:
            if pending is not None and record(pending[2].result()):
                diverged = pending[:2]
    seconds = time.perf_counter() - start
    diverged_epoch = None
    if diverged is not None:
        diverged_epoch, params = diverged
        log.warning("diverged at epoch %d; stopped", diverged_epoch)
    elif averaged is not None:  # the mean of the last epochs' W and b, in the iterates' dtype
        params = tuple((total / s.average_last).astype(p.dtype) for total, p in zip(averaged, params))
    W, b = loop.model(params)
    return TrainResult(W, b, history, diverged_epoch, seconds, name, **built)
