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

from onelayer import backends, cpus, model
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


def evaluates_beside(settings: TrainSettings, n_train: int, n_val: int, threads: int) -> bool:
    """Whether, on ``threads`` >= 2, the evaluation after epoch e runs beside epoch e + 1 (on a
    thread of its own; the epoch on the others) rather than each, in turn, on all threads: when
    an epoch's evaluation costs at least half as much as its training (the report's runs: both
    sets after every epoch, as many scores as training's two passes), for then two jobs side by
    side beat one job shared; not for the experiments' recipe (the validation set and a sample
    every tenth epoch: 1.5 % of the training's work), whose epochs are shared out."""
    if threads < 2:
        return False
    trained = n_train // settings.n_batch * settings.n_batch
    train_scored = settings.eval_train_subset or n_train
    scored = n_val + train_scored / settings.eval_train_every  # images per epoch, on average
    return scored >= 0.5 * 2 * trained  # training scores each image and takes its gradient


def has_diverged(loss: float, K: int, factor: float) -> bool:
    """A loss that is not finite, or ``factor`` times the loss of guessing (log K), has diverged."""
    return not math.isfinite(loss) or loss > factor * math.log(K)


def train(data: TrainingData, settings: TrainSettings, threads: int = 1, K: int = 10,
          variant: str | None = None) -> TrainResult:  # fmt: skip
    """Train from the seed's initial W; return the final parameters and per-epoch history.

    The arithmetic runs in ``settings.dtype`` on one thread per step, in the loop that
    ``settings.backend`` names (``backends.resolve``; ``variant`` picks a native build, by
    default the best this CPU runs). With ``threads >= 2`` the evaluation of epoch e (a copy of
    W, on train and validation) runs on a thread of its own while epoch e + 1 trains on the others
    (``evaluates_beside``; the numpy loop always), or the native loop shares each epoch and each
    evaluation out over all the threads. Either way the same operations on the same numbers, so
    the results do not depend on ``threads``, which is capped at the CPUs this process may run
    on (``cpus.threads_for``: its affinity mask and CPU quota; the log says so where it is).

    Per epoch: eta from ``settings.schedule``; with ``flip`` each position of the epoch is read
    mirrored with that probability, with ``translate_px`` moved by whole pixels drawn from
    -translate_px .. translate_px in x and y, the uncovered pixels black or, with ``border``
    "edge", the edge's (flipped first, then moved);
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
    threads = cpus.threads_for(threads)  # no more than the CPUs this job may run on
    s.check_images(n)
    if (s.flip or s.translate_px) and not data.has_pixels:
        raise ValueError("augmentation (flip, translate_px) acts on the raw images: it needs pixels")
    name = backends.resolve(s.backend)
    beside = threads >= 2 and (name == "numpy" or evaluates_beside(s, n, data.y_val.size, threads))
    loop = backends.make(name, data, s.dtype, s.loss, K, variant,
                         threads=threads - 1 if beside else threads,
                         eval_threads=1 if beside else threads)  # fmt: skip
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
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=1)) if beside else None
        for epoch in range(1, s.n_epochs + 1):
            rows = shuffle_rng.permutation(n)
            mirror = flip_draws(flip_rng, n, s.flip) if s.flip > 0 else None  # per position
            moves = None
            if s.translate_px:
                moves = move_rng.integers(-s.translate_px, s.translate_px + 1, size=(n, 2))
            eta = s.schedule.eta_at(s.eta, epoch, s.n_epochs)
            loop.epoch(rows, s.n_batch, eta, s.lam, mirror, moves, s.border)
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
