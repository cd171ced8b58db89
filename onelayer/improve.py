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
import re
from pathlib import Path

import numpy as np

from onelayer import stats
from onelayer.atomic import write_json
from onelayer.dataset import Dataset
from onelayer.errors import RunNameError
from onelayer.naming import replicate_of
from onelayer.replicates import group, paired
from onelayer.settings import TrainSettings
from onelayer.tables import Column, read_csv, rounded, write

POINT_PATTERN = "lam~{lam}_eta~{eta}_nbatch~{nbatch}"


def point_name(lam: float, eta: float, n_batch: int) -> str:
    return POINT_PATTERN.format(lam=float(lam), eta=float(eta), nbatch=int(n_batch))


def grid_points(grid: dict) -> list[str]:
    """Every combination of the grid's values (lam slowest, n_batch fastest), by folder name."""
    return [point_name(*p) for p in itertools.product(grid["lam"], grid["eta"], grid["n_batch"])]


def parse_point_name(name: str) -> tuple[str, str, str]:
    """The (lam, eta, nbatch) wildcards of a grid folder's name (``point_name``)."""
    m = re.fullmatch(r"lam~(?P<lam>[^_/]+)_eta~(?P<eta>[^_/]+)_nbatch~(?P<nbatch>\d+)", name)
    if m is None:
        raise RunNameError(f"{name!r} is not a grid point's folder ({POINT_PATTERN})")
    return m["lam"], m["eta"], m["nbatch"]


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
    Column("status"), Column("seeds", int), Column("val_accuracy", float), Column("val_sd", float),
    Column("val_own", float), Column("p_best", float), Column("final_train_loss", float),
    Column("final_val_loss", float), Column("train_seconds", float),
]  # fmt: skip


def grid_table(metrics_paths: list, data_path, out_csv) -> list[dict]:
    """One row per grid point from its runs over seeds (``metrics_paths``: the points' folders
    and their seed replicates): ``val_accuracy`` the mean over seeds of the validation accuracy
    (%), ``val_sd`` its sd, ``val_own`` the configured seed's, ``p_best`` the point's probability
    of being the best under a bootstrap of the validation images and the seeds
    (``stats.probability_best``). A point with a diverged seed is "diverged" and not a
    candidate. The test accuracy is not read: the grid chooses on validation only."""
    groups = list(group(metrics_paths).values())
    rows = []
    for g in groups:
        own = g.own or next(iter(g.runs.values()))[1]
        spread = g.spread("val_accuracy")
        rows.append({"point": Path(g.folder).name, **{k: own[k] for k in ("lam", "eta", "n_batch")},
                     "status": "ok" if not g.diverged else "diverged", "seeds": len(g.seeds),
                     "val_accuracy": rounded(spread.mean), "val_sd": rounded(spread.sd),
                     "val_own": (g.own or {}).get("val_accuracy"), "p_best": None,
                     **{k: own[k] for k in ("final_train_loss", "final_val_loss", "train_seconds")}})  # fmt: skip
    ok = [i for i, r in enumerate(rows) if r["status"] == "ok"]
    seeds = sorted(set.intersection(*(set(groups[i].seeds) for i in ok))) if ok else []
    if seeds:
        dataset = Dataset.load(data_path)
        correct = np.array([groups[i].correct(dataset, "val", seeds) for i in ok])
        for i, p in zip(ok, stats.probability_best(correct)):
            rows[i]["p_best"] = float(p)
    write(rows, GRID_COLUMNS, out_csv)
    return rows


def read_grid(grid_csv) -> list[dict]:
    return read_csv(grid_csv, GRID_COLUMNS)


def choose(grid_csv, out_json) -> dict:
    """The grid point with the highest validation accuracy, the mean over its seeds (the first
    in the table's order on a tie), chosen on validation only: the test accuracy is not read.
    Written to ``out_json`` for everything that trains or shows the choice, with the point's
    probability of being the best."""
    ok = [r for r in read_grid(grid_csv) if r["status"] == "ok"]
    if not ok:
        raise ValueError(f"{grid_csv}: no grid point trained without diverging")
    best = max(ok, key=lambda r: r["val_accuracy"])  # max keeps the first of equals
    choice = {k: best[k] for k in ("point", "lam", "eta", "n_batch", "val_accuracy", "seeds", "p_best")}
    write_json(out_json, choice)
    return choice


def seed_summary(metrics_paths: list) -> dict:
    """A setting's test accuracy over seeds (the run folder's and its replicates'): the
    configured seed's with its exact 95 % interval, and the seeds' n, mean, sd, min and max."""
    (reps,) = group(metrics_paths).values()
    own = reps.own["test_accuracy"] if reps.own else None
    low, high = stats.accuracy_interval(own, reps.own["test_images"]) if own is not None else (None, None)
    spread = reps.spread()
    return {"test_accuracy": own, "test_low": rounded(low), "test_high": rounded(high),
            "seeds": spread.n, "diverged": reps.diverged, "test_mean": rounded(spread.mean),
            "test_sd": rounded(spread.sd), "test_min": spread.min if spread.n else None,
            "test_max": spread.max if spread.n else None}  # fmt: skip


def best_summary(choice_json, retrained_metrics: list, out_json, references: dict) -> dict:
    """results/improve/best.json: the retrain's settings, the choice (from the grid: its mean
    validation accuracy and probability of being best), the retrain's test accuracy over seeds
    (``retrained_metrics``: its run folder's and its replicates'; ``seed_summary``), with the
    ``references`` to set it beside (the report's best, the best published)."""
    choice = json.loads(Path(choice_json).read_text())
    own = next(p for p in retrained_metrics if replicate_of(str(Path(p).parent))[1] is None)
    m = json.loads(Path(own).read_text())
    settings = TrainSettings.from_metrics(own).as_dict()
    out = {**settings, "point": choice["point"], "val_accuracy": choice["val_accuracy"],
           "val_seeds": choice["seeds"], "p_best": choice["p_best"],
           **{k: m[k] for k in ("train_images", "status")}, **seed_summary(retrained_metrics),
           **references}  # fmt: skip
    write_json(out_json, out)
    return out


# The ablation: the report's setting, each improvement added to it alone, then all of them.
ABLATION_COLUMNS = [
    Column("step"), Column("data"), Column("train_images", int), Column("lam", float),
    Column("eta", float), Column("n_batch", int), Column("n_epochs", int), Column("flip", float),
    Column("translate_px", int), Column("schedule"), Column("average_last", int),
    Column("flip_average", bool), Column("status"), Column("seeds", int),
    Column("val_accuracy", float), Column("test_accuracy", float), Column("test_sd", float),
    Column("test_gain", float), Column("gain_low", float), Column("gain_high", float),
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


def ablation_table(steps: list[str], data: list[str], metrics_paths: list, datasets: dict,
                   out_csv) -> list[dict]:  # fmt: skip
    """One row per ablation step from its runs over seeds (``metrics_paths``: the rows' folders
    and their seed replicates): validation and test accuracy (%), the means over seeds, the
    test accuracy's sd, and ``test_gain``, the step's test accuracy minus the base row's, paired
    over the seeds both trained and the same test images, with its 95 % interval (gain_low,
    gain_high; ``stats.paired_difference``). ``datasets``: the processed file of each kind of
    data (one_batch, all), whose test images must be the same."""
    by_step = {Path(g.folder).name: g for g in group(metrics_paths).values()}
    loaded = {kind: Dataset.load(path) for kind, path in datasets.items() if kind in set(data)}
    labels = [d.labels("test") for d in loaded.values()]
    if any(not np.array_equal(labels[0], y) for y in labels[1:]):
        raise ValueError(f"the ablation's data sets {sorted(loaded)} test on different images")
    kind_of = dict(zip(steps, data, strict=True))
    dataset_of = lambda reps: loaded[kind_of[Path(reps.folder).name]]  # noqa: E731
    base = by_step.get("base")
    rows = []
    for step, kind in zip(steps, data, strict=True):
        reps = by_step[step]
        m = reps.own or next(iter(reps.runs.values()))[1]
        test, val = reps.spread(), reps.spread("val_accuracy")
        row = {"step": step, "data": kind, **{c.key: m.get(c.key) for c in ABLATION_COLUMNS[2:12]},
               "schedule": m["schedule"]["kind"], "status": "ok" if not reps.diverged else "diverged",
               "seeds": test.n, "val_accuracy": rounded(val.mean), "test_accuracy": rounded(test.mean),
               "test_sd": rounded(test.sd)}  # fmt: skip
        gain = paired(reps, base, dataset_of) if base is not None and step != "base" else None
        if gain is not None:
            row.update(test_gain=rounded(gain.estimate), gain_low=rounded(gain.low),
                       gain_high=rounded(gain.high))  # fmt: skip
        rows.append(row)
    write(rows, ABLATION_COLUMNS, out_csv)
    return rows
