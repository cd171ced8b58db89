"""The experiments beyond the report (the handout's bonus 2.1): the grid's points and its table,
the best point, and the ablation's rows and table.

A grid point is a (lam, eta, n_batch) triple trained with the experiments' other training keys
on all five batches (data/processed/cifar10_all.npz); its run folder is named by Snakemake's
Paramspace, e.g. ``results/improve/grid/lam~0.001_eta~0.01_nbatch~100/``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd

from onelayer.atomic import write_csv, write_json

GRID_KEYS = {"lam": "lam", "eta": "eta", "nbatch": "n_batch"}  # Paramspace column -> train key
GRID_COLUMNS = ["point", "lam", "eta", "n_batch", "status", "val_accuracy", "test_accuracy",
                "final_train_loss", "final_val_loss", "train_seconds"]  # fmt: skip


def grid_frame(grid: dict) -> pd.DataFrame:
    """Every combination of the grid's values, one row per point, columns as in the paths."""
    names = list(GRID_KEYS)
    rows = itertools.product(*(grid[GRID_KEYS[n]] for n in names))
    frame = pd.DataFrame(list(rows), columns=names)
    return frame.astype({"lam": float, "eta": float, "nbatch": int})


def point_settings(instance: dict, train: dict) -> dict:
    """The keyword arguments of ``experiment.run`` for one grid point: the experiments'
    training keys, with the point's lam, eta and n_batch."""
    point = {GRID_KEYS[k]: v for k, v in instance.items()}
    return {**train, "lam": float(point["lam"]), "eta": float(point["eta"]),
            "n_batch": int(point["n_batch"])}  # fmt: skip


def grid_table(metrics_paths: list, out_csv) -> pd.DataFrame:
    """One row per grid point from its metrics.json (accuracies in percent), written to out_csv."""
    rows = []
    for path in metrics_paths:
        m = json.loads(Path(path).read_text())
        rows.append({
            "point": Path(path).parent.name, "lam": m["lam"], "eta": m["eta"],
            "n_batch": m["n_batch"], "status": m["status"],
            "val_accuracy": m["val_accuracy"],
            "test_accuracy": m["test_accuracy"], "final_train_loss": m["final_train_loss"],
            "final_val_loss": m["final_val_loss"], "train_seconds": m["train_seconds"],
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=GRID_COLUMNS)
    write_csv(out_csv, table)
    return table


def best_point(grid_csv) -> dict:
    """The grid point with the highest validation accuracy (the first in the table's order on
    a tie), chosen on validation only: the test accuracy is not read."""
    table = pd.read_csv(grid_csv)
    ok = table[table["status"] == "ok"]
    if ok.empty:
        raise ValueError(f"{grid_csv}: no grid point trained without diverging")
    row = ok.loc[ok["val_accuracy"].idxmax()]
    return {"point": row["point"], "lam": float(row["lam"]), "eta": float(row["eta"]),
            "n_batch": int(row["n_batch"]), "val_accuracy": float(row["val_accuracy"])}  # fmt: skip


def best_summary(choice: dict, train: dict, retrained_metrics, out_json,
                 references: dict | None = None) -> dict:  # fmt: skip
    """results/improve/best.json: the chosen settings, their validation accuracy (from the
    grid) and the test accuracy of the retrain on training + validation data (%), with the
    ``references`` to set it beside (the report's best, the best published)."""
    m = json.loads(Path(retrained_metrics).read_text())
    out = {**train, **choice,
           "test_accuracy": m["test_accuracy"], "train_images": m["train_images"],
           "status": m["status"], **(references or {})}  # fmt: skip
    write_json(out_json, out)
    return out


# The ablation: the report's setting, each improvement added to it alone, then all of them.
ABLATION_COLUMNS = ["step", "data", "train_images", "lam", "eta", "n_batch", "n_epochs", "flip",
                    "shift", "schedule", "average_last", "flip_average", "status", "val_accuracy",
                    "test_accuracy", "test_gain"]  # fmt: skip


def ablation_steps(ablation: dict) -> list[str]:
    """The ablation's rows in order: base, each step of the config, then all."""
    return ["base", *ablation["steps"], "all"]


def ablation_settings(ablation: dict, step: str, train: dict) -> tuple[str, dict]:
    """(data set, experiment.run's keyword arguments) of one ablation row: ``train`` (the
    train section's keys but threads), then the base, then the step's keys (for "all": every
    step's, in config order)."""
    steps = ablation["steps"]
    if step == "base":
        over = {}
    elif step == "all":
        over = {k: v for s in steps.values() for k, v in s.items()}
    elif step in steps:
        over = steps[step]
    else:
        raise ValueError(f"no ablation step {step!r}: the steps are {ablation_steps(ablation)}")
    settings = {**train, **ablation["base"], **over}
    return settings.pop("data", "report"), settings


def ablation_table(steps: list[str], data: list[str], metrics_paths: list, out_csv) -> pd.DataFrame:
    """One row per ablation step (validation and test accuracy in percent); test_gain is the
    test accuracy minus the base row's."""
    rows = []
    for step, kind, path in zip(steps, data, metrics_paths, strict=True):
        m = json.loads(Path(path).read_text())
        rows.append({
            "step": step, "data": kind, "train_images": m["train_images"], "lam": m["lam"],
            "eta": m["eta"], "n_batch": m["n_batch"], "n_epochs": m["n_epochs"],
            "flip": m["flip"], "shift": m["shift"], "schedule": m["schedule"]["kind"],
            "average_last": m["average_last"], "flip_average": m["flip_average"],
            "status": m["status"],
            "val_accuracy": m["val_accuracy"], "test_accuracy": m["test_accuracy"],
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=ABLATION_COLUMNS)
    base = table.loc[table["step"] == "base", "test_accuracy"]
    if len(base) == 1 and base.notna().all():
        table["test_gain"] = (table["test_accuracy"] - base.iloc[0]).round(4)
    write_csv(out_csv, table)
    return table
