"""The experiments beyond the report (the handout's bonus 2.1): the grid's points and its table,
the point chosen on validation, its retrain's summary, and the ablation's rows and table.

A grid point is a (lam, eta, n_batch) triple trained with the experiments' training options on
all five batches (data/processed/cifar10_all.npz), in a run folder named after it, e.g.
``results/improve/grid/lam~0.001_eta~0.01_nbatch~100/`` (the numbers as Python's str() writes
floats and ints).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from onelayer.atomic import write_json
from onelayer.errors import RunNameError
from onelayer.settings import TrainSettings
from onelayer.tables import Column, read_csv, write

POINT_PATTERN = "lam~{lam}_eta~{eta}_nbatch~{nbatch}"


def point_name(lam: float, eta: float, n_batch: int) -> str:
    return POINT_PATTERN.format(lam=float(lam), eta=float(eta), nbatch=int(n_batch))


def grid_points(grid: dict) -> list[str]:
    """Every combination of the grid's values (lam slowest, n_batch fastest), by folder name."""
    return [point_name(*p) for p in itertools.product(grid["lam"], grid["eta"], grid["n_batch"])]


def parse_point(lam: str, eta: str, nbatch: str) -> dict:
    """lam, eta and n_batch of a grid folder's wildcards; refuses what its name cannot be."""
    try:
        values = {"lam": float(lam), "eta": float(eta), "n_batch": int(nbatch)}
    except ValueError:
        raise RunNameError(f"grid point 'lam~{lam}_eta~{eta}_nbatch~{nbatch}' does not hold numbers")
    canonical = point_name(values["lam"], values["eta"], values["n_batch"])
    if canonical != f"lam~{lam}_eta~{eta}_nbatch~{nbatch}":
        raise RunNameError(f"write the grid point as {canonical!r} so that each point has one folder")
    return values


GRID_COLUMNS = [
    Column("point"), Column("lam", float), Column("eta", float), Column("n_batch", int),
    Column("status"), Column("val_accuracy", float), Column("test_accuracy", float),
    Column("final_train_loss", float), Column("final_val_loss", float),
    Column("train_seconds", float),
]  # fmt: skip


def grid_table(metrics_paths: list, out_csv) -> list[dict]:
    """One row per grid point from its metrics.json (accuracies in percent), written to out_csv."""
    rows = []
    for path in metrics_paths:
        m = json.loads(Path(path).read_text())
        rows.append({"point": Path(path).parent.name, **{c.key: m[c.key] for c in GRID_COLUMNS[1:]}})
    write(rows, GRID_COLUMNS, out_csv)
    return rows


def read_grid(grid_csv) -> list[dict]:
    return read_csv(grid_csv, GRID_COLUMNS)


def choose(grid_csv, out_json) -> dict:
    """The grid point with the highest validation accuracy (the first in the table's order on
    a tie), chosen on validation only: the test accuracy is not read. Written to ``out_json``
    for everything that trains or shows the choice."""
    ok = [r for r in read_grid(grid_csv) if r["status"] == "ok"]
    if not ok:
        raise ValueError(f"{grid_csv}: no grid point trained without diverging")
    best = max(ok, key=lambda r: r["val_accuracy"])  # max keeps the first of equals
    choice = {k: best[k] for k in ("point", "lam", "eta", "n_batch", "val_accuracy")}
    write_json(out_json, choice)
    return choice


def best_summary(choice_json, retrained_metrics, out_json, references: dict) -> dict:
    """results/improve/best.json: the retrain's settings, the choice's validation accuracy (from
    the grid), the retrain's test accuracy (%), with the ``references`` to set it beside (the
    report's best, the best published)."""
    choice = json.loads(Path(choice_json).read_text())
    m = json.loads(Path(retrained_metrics).read_text())
    settings = TrainSettings.from_metrics(retrained_metrics).as_dict()
    out = {**settings, **choice, **{k: m[k] for k in ("test_accuracy", "train_images", "status")},
           **references}  # fmt: skip
    write_json(out_json, out)
    return out


# The ablation: the report's setting, each improvement added to it alone, then all of them.
ABLATION_COLUMNS = [
    Column("step"), Column("data"), Column("train_images", int), Column("lam", float),
    Column("eta", float), Column("n_batch", int), Column("n_epochs", int), Column("flip", float),
    Column("translate_px", int), Column("schedule"), Column("average_last", int),
    Column("flip_average", bool), Column("status"), Column("val_accuracy", float),
    Column("test_accuracy", float), Column("test_gain", float),
]  # fmt: skip


def read_ablation(csv_path) -> list[dict]:
    return read_csv(csv_path, ABLATION_COLUMNS)


def ablation_steps(ablation: dict) -> list[str]:
    """The ablation's rows in order: base, each step of the config, then all."""
    return ["base", *ablation["steps"], "all"]


def ablation_options(ablation: dict, step: str) -> tuple[str, dict]:
    """(data set, options over the train section) of one ablation row: the base, then the
    step's options (for "all": every step's, in config order)."""
    steps = ablation["steps"]
    if step == "base":
        over = {}
    elif step == "all":
        over = {k: v for s in steps.values() for k, v in s.items()}
    elif step in steps:
        over = steps[step]
    else:
        raise ValueError(f"no ablation step {step!r}: the steps are {ablation_steps(ablation)}")
    options = {**ablation["base"], **over}
    return options.pop("data", "one_batch"), options


def ablation_table(steps: list[str], data: list[str], metrics_paths: list, out_csv) -> list[dict]:
    """One row per ablation step (validation and test accuracy in percent); test_gain is the
    test accuracy minus the base row's."""
    rows = []
    for step, kind, path in zip(steps, data, metrics_paths, strict=True):
        m = json.loads(Path(path).read_text())
        rows.append({"step": step, "data": kind, **{c.key: m.get(c.key) for c in ABLATION_COLUMNS[2:]},
                     "schedule": m["schedule"]["kind"]})  # fmt: skip
    base = next((r["test_accuracy"] for r in rows if r["step"] == "base"), None)
    for r in rows:
        r["test_gain"] = None if base is None or r["test_accuracy"] is None else round(
            r["test_accuracy"] - base, 4)  # fmt: skip
    write(rows, ABLATION_COLUMNS, out_csv)
    return rows
