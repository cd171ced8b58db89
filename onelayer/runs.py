"""Reading finished run folders back (history.csv, model.npz, metrics.json) for figures and reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd


def load_run(run_dir: str | Path) -> dict:
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
        "history": pd.read_csv(run_dir / "history.csv"),
        "W": W,
        "b": b,
    }


def label_names(data_path: str | Path) -> list[str]:
    """The class names stored with the preprocessed data (reads only that array of the .npz)."""
    with np.load(data_path, allow_pickle=False) as f:
        return [str(n) for n in f["label_names"]]
