"""Run folders: one training run end to end (train on the processed data, evaluate the model once
on validation and test, write history.csv, model.npz and metrics.json), and the same folder read
back for figures and tables.

metrics.json holds the run's settings whole (``TrainSettings.as_dict``, so that
``TrainSettings.from_metrics`` reruns it) beside its results; it is written last, so a run folder
with metrics.json is complete.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import numpy as np

from onelayer import backends, model
from onelayer.atomic import write_json, write_npz, write_text
from onelayer.augment import test_time_model
from onelayer.dataset import Dataset
from onelayer.settings import TrainSettings
from onelayer.train import HISTORY_COLUMNS, TrainResult, train

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


def _percent(accuracy: float | None) -> float | None:
    return None if accuracy is None else round(100 * accuracy, 4)


def results(result: TrainResult, val_accuracy: float | None, test_accuracy: float | None) -> dict:
    """What a run measured, beside its settings in metrics.json."""
    diverged = result.diverged_epoch is not None
    return {
        "status": "diverged" if diverged else "ok",
        "diverged_epoch": result.diverged_epoch,
        "epochs_run": len(result.history),
        # None when diverged: a number from exploded weights would look valid and is not.
        "test_accuracy": _percent(test_accuracy),
        # the model written (after any averaging) on the validation images: what a choice
        # on validation compares
        "val_accuracy": _percent(val_accuracy),
        **{f"final_{k}": _finite_or_none(v) for k, v in result.history[-1].items() if k != "epoch"},
        "train_seconds": round(result.seconds, 4),
        # what trained: the loop, and for native the build and whether it has FMA (every FMA
        # build gives the same bits; one without FMA differs in the last bits)
        "native_variant": result.native_variant,
        "native_fma": result.native_fma,
    }


def run(data_path: str | Path, settings: TrainSettings, out_dir: str | Path,
        threads: int = 1) -> dict:  # fmt: skip
    """Train ``settings`` on the processed data and write the run folder ``out_dir``.

    ``threads`` changes the speed, never the numbers. With ``train_on_val`` the validation
    images join the training set (the retrain of a setting chosen on validation, tested once);
    the history's validation columns then evaluate images the run trained on. With
    ``flip_average`` the model written scores an image as the mean of its scores of the image
    and of its mirror image, with ``shift_average`` of its copies moved by up to that many
    pixels too (still one linear layer: ``augment.test_time_model``). The model written is on
    the processed file's (standardised) features whatever ``inputs`` the run trained on. The settings
    recorded name the backend that trained (``backend_requested``: the one asked for).
    """
    out_dir = Path(out_dir)
    dataset = Dataset.load(data_path)
    requested = settings.backend
    settings = settings.replace(backend=backends.resolve(requested))
    log.info("training %s", settings.as_dict())
    data = dataset.training_data(val_in_training=settings.train_on_val, inputs=settings.inputs)
    if not data.has_pixels and settings.backend == "native":
        log.warning(
            "%s has no raw pixels (written before they were kept): the native kernels read "
            "the float features instead, slower; rerun the preprocess rule to get them",
            data_path,
        )
    result = train(data, settings, threads)
    val_acc = test_acc = None
    if result.diverged_epoch is None:
        if settings.flip_average or settings.shift_average or settings.inputs != "standardised":
            # one linear layer on the file's features, the test-time copies folded in
            written = dataset.pixel_map
            trained = written if settings.inputs == "standardised" else data.pixel_map
            result.W, result.b = test_time_model(result.W, result.b, trained, written,
                                                 settings.flip_average, settings.shift_average,
                                                 settings.border)  # fmt: skip
        val_acc, test_acc = (float(np.mean(correct(result.W, result.b, dataset, split)))
                             for split in ("val", "test"))  # fmt: skip
        log.info("test accuracy %.2f %% after %.2f s of training", 100 * test_acc, result.seconds)
    metrics = {**settings.as_dict(), "backend_requested": requested, "train_images": data.n,
               **{f"{split}_images": dataset.labels(split).size for split in ("val", "test")},
               **results(result, val_acc, test_acc)}  # fmt: skip
    write_text(out_dir / "history.csv", history_csv(result.history))
    write_npz(out_dir / "model.npz", W=result.W, b=result.b)
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def correct(W: np.ndarray, b: np.ndarray, dataset: Dataset, split: str,
            chunk: int = 1024) -> np.ndarray:  # fmt: skip
    """Per image of ``split``: whether the model's largest score is the image's label. The mean
    is the accuracy that metrics.json records; the images one by one are what a paired
    comparison reads. The features (in W's dtype) are derived ``chunk`` images at a time into
    one buffer: a buffer of the whole split costs more in page faults than the scores do."""
    y = dataset.labels(split)
    out = np.empty(y.size, dtype=bool)
    buffer = np.empty((W.shape[1], min(chunk, y.size)), dtype=W.dtype, order="F")
    for i in range(0, y.size, chunk):
        part = slice(i, min(i + chunk, y.size))
        X = dataset.features(split, W.dtype, out=buffer[:, : part.stop - i], images=part)
        out[part] = np.argmax(model.scores(W, b, X), axis=0) == y[part]
    return out


def load_run(run_dir: str | Path) -> dict:
    """A finished run folder: its name, lam, eta, metrics, history (columns of floats), W, b."""
    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with np.load(run_dir / "model.npz", allow_pickle=False) as f:
        W, b = f["W"], f["b"]
    return {
        "name": run_dir.name,
        "lam": metrics["lam"],
        "eta": metrics["eta"],
        "diverged_epoch": metrics["diverged_epoch"],
        "metrics": metrics,
        "history": read_history(run_dir / "history.csv"),
        "W": W,
        "b": b,
    }


def read_history(path: str | Path) -> dict[str, np.ndarray]:
    """history.csv as one float array per column (epochs not evaluated are NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {c: np.array([float(r[c]) for r in rows]) for c in HISTORY_COLUMNS}


def label_names(data_path: str | Path) -> list[str]:
    """The class names stored with the processed data."""
    return Dataset.load(data_path).label_names
