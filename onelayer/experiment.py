"""One run of the assignment end to end: train with (lam, eta), evaluate on the test set once,
and write the run folder (history.csv, model.npz, metrics.json).

metrics.json is written last, so a run folder with metrics.json is complete.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np

from onelayer import model
from onelayer import schedule as schedules
from onelayer.atomic import write_json, write_npz, write_text
from onelayer.augment import flip_averaged
from onelayer.preprocess import Pixels, affine_map, load_processed, pixels_of
from onelayer.train import HISTORY_COLUMNS, TrainResult, resolve_backend, train

log = logging.getLogger(__name__)


def history_csv(history: list[dict]) -> str:
    """The per-epoch history as CSV text; floats in repr form so reruns compare byte for byte."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    return buf.getvalue()


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def metrics(result: TrainResult, test_accuracy: float | None, settings: dict) -> dict:
    last = result.history[-1]
    diverged = result.diverged_epoch is not None
    return {
        **settings,
        "status": "diverged" if diverged else "ok",
        "diverged_epoch": result.diverged_epoch,
        "epochs_run": len(result.history),
        # None when diverged: a number from exploded weights would look valid and is not.
        "test_accuracy": None if diverged else round(100 * test_accuracy, 4),
        **{f"final_{k}": _finite_or_none(v) for k, v in last.items() if k != "epoch"},
        "train_seconds": round(result.seconds, 4),
        # what trained: the loop, and for native the build and whether it has FMA (every FMA
        # build gives the same bits; one without FMA differs in the last bits)
        "backend": result.backend,
        "native_variant": result.native_variant,
        "native_fma": result.native_fma,
    }


def run(
    data_path: str | Path,
    lam: float,
    eta: float,
    out_dir: str | Path,
    n_batch: int = 100,
    n_epochs: int = 40,
    seed: int = 42,
    dtype: str = "float32",
    diverge_factor: float = 100.0,
    threads: int = 1,
    backend: str = "auto",
    flip: float = 0.0,
    shift: int = 0,
    schedule: dict | None = None,
    average_last: int = 0,
    eval_train_every: int = 1,
    eval_train_subset: int = 0,
    train_on_val: bool = False,
    flip_average: bool = False,
    loss: str = "softmax",
) -> dict:
    """Train one configuration on the preprocessed data and write its run folder.

    ``threads`` changes the speed, never the numbers; ``backend`` picks the training loop;
    ``flip``, ``shift``, ``schedule``, ``average_last`` and the ``eval_train_*`` thinning are the
    handout's improvements (all off by default: the report's runs); see ``train.train``.
    With ``train_on_val``, the validation images join the training set (the retrain of a
    setting chosen on validation, tested once); the history's validation columns then
    evaluate images the run trained on. With ``flip_average``, the model written and tested
    scores an image as the mean of its scores of the image and of its mirror image (still one
    linear layer: ``augment.flip_averaged``). ``val_accuracy`` (%) is that of the model
    written, after any averaging: what a choice on validation compares.
    """
    out_dir = Path(out_dir)
    data = load_processed(data_path)
    as_dtype = lambda a: np.asfortranarray(a, dtype=dtype)  # noqa: E731 - keeps images contiguous
    schedule = schedules.check(schedule)
    settings = dict(lam=lam, eta=eta, n_batch=n_batch, n_epochs=n_epochs, seed=seed, dtype=dtype,
                    backend_requested=backend, flip=flip, shift=shift, schedule=schedule,
                    average_last=average_last, eval_train_every=eval_train_every,
                    eval_train_subset=eval_train_subset, train_on_val=train_on_val,
                    flip_average=flip_average, loss=loss)  # fmt: skip
    log.info("training %s", settings)
    backend = resolve_backend(backend)
    pixels = pixels_of(data)
    X_train, y_train = data["X_train"], data["y_train"]
    if train_on_val:
        X_train = np.concatenate([X_train, data["X_val"]], axis=1)
        y_train = np.concatenate([y_train, data["y_val"]])
        if pixels is not None:
            pixels = Pixels(np.concatenate([pixels.train, pixels.val]), pixels.val, pixels.scale,
                            pixels.shift)  # fmt: skip
    settings["train_images"] = int(y_train.size)
    if pixels is None and backend == "native":
        log.warning(
            "%s has no raw pixels (written before they were kept): the native kernels read "
            "the float features instead, slower; rerun the preprocess rule to get them",
            data_path,
        )
    result = train(
        as_dtype(X_train), y_train, as_dtype(data["X_val"]), data["y_val"],
        lam=lam, eta=eta, n_batch=n_batch, n_epochs=n_epochs, seed=seed,
        diverge_factor=diverge_factor, threads=threads, backend=backend, pixels=pixels,
        flip=flip, shift=shift, schedule=schedule, average_last=average_last,
        eval_train_every=eval_train_every, eval_train_subset=eval_train_subset, loss=loss,
    )  # fmt: skip
    test_acc = val_acc = None
    if result.diverged_epoch is None:
        if flip_average:
            scale, shift = affine_map(data["mean"], data["std"])
            result.W, result.b = flip_averaged(result.W, result.b, scale, shift)
        W, b = result.W, result.b
        accuracy = lambda X, y: model.accuracy(model.scores(W, b, as_dtype(X)), y)  # noqa: E731
        val_acc = accuracy(data["X_val"], data["y_val"])
        test_acc = accuracy(data["X_test"], data["y_test"])
        log.info("test accuracy %.2f %% after %.2f s of training", 100 * test_acc, result.seconds)
    out = metrics(result, test_acc, settings)
    # the model written, after any averaging, on the validation images (%)
    out["val_accuracy"] = None if val_acc is None else round(100 * val_acc, 4)
    write_text(out_dir / "history.csv", history_csv(result.history))
    write_npz(out_dir / "model.npz", W=result.W, b=result.b)
    write_json(out_dir / "metrics.json", out)
    return out
