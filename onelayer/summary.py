"""The summary table: per run, our test accuracy over seeds (mean, sd, range), the configured
seed's own with its sampling interval, and the seed report's number placed in our seeds'
distribution."""

from __future__ import annotations

from onelayer import stats
from onelayer.atomic import write_text
from onelayer.naming import run_name
from onelayer.replicates import group
from onelayer.tables import Column, markdown, read_csv, rounded, write


def _percent(v: float) -> str:
    return f"{v:.2f} %"


COLUMNS = [
    Column("run"),
    Column("lam", float, "lambda", "g", right=True),
    Column("eta", float, "eta", "g", right=True),
    Column("seed", int),
    Column("test_accuracy", float, "test accuracy, seed", _percent, right=True),
    Column("test_low", float),  # its 95 % interval: the test set's sampling noise
    Column("test_high", float),
    Column("seeds", int),  # seeds trained without diverging
    Column("diverged", int),  # seeds that diverged
    Column("seed_mean", float),
    Column("seed_sd", float),
    Column("seed_min", float),
    Column("seed_max", float),
    Column("report_accuracy", float, "report", _percent, right=True),
    Column("mean_minus_report", float, "mean - report", "+.2f", right=True),
    Column("report_place", str, "the report among our seeds"),
    Column("final_train_cost", float, "final train cost", ".4f", right=True),
    Column("final_val_cost", float, "final val cost", ".4f", right=True),
    Column("train_seconds", float, "train seconds", ".2f", right=True),
    Column("test_images", int),
    Column("status"),
]


def _key(lam: float, eta: float) -> str:
    return run_name(float(lam), float(eta))


def summary_rows(metrics_paths: list, reference: list[dict]) -> list[dict]:
    """One row per run (the runs of ``metrics_paths``, run folders and their seed replicates,
    in the order each run first appears); the report's numbers matched by (lam, eta)."""
    ref = {_key(r["lam"], r["eta"]): float(r["test_accuracy"]) for r in reference}
    rows = []
    for reps in group(metrics_paths).values():
        own = reps.own or next(iter(reps.runs.values()))[1]
        name = _key(own["lam"], own["eta"])
        ours, theirs = (reps.own or {}).get("test_accuracy"), ref.get(name)
        spread = reps.spread()
        low = high = None
        if ours is not None:
            low, high = stats.accuracy_interval(ours, reps.own["test_images"])
        status = own["status"] if own["status"] == "ok" else f"diverged at epoch {own['diverged_epoch']}"
        rows.append(dict(
            run=name, lam=own["lam"], eta=own["eta"], seed=own["seed"] if reps.own else None,
            test_accuracy=ours, test_low=rounded(low), test_high=rounded(high),
            seeds=spread.n, diverged=reps.diverged, seed_mean=rounded(spread.mean),
            seed_sd=rounded(spread.sd), seed_min=spread.min if spread.n else None,
            seed_max=spread.max if spread.n else None, report_accuracy=theirs,
            mean_minus_report=None if theirs is None or not spread.n else round(spread.mean - theirs, 2),
            report_place=None if theirs is None else stats.place(theirs, spread),
            final_train_cost=own["final_train_cost"], final_val_cost=own["final_val_cost"],
            train_seconds=own["train_seconds"], test_images=own["test_images"], status=status,
        ))  # fmt: skip
    return rows


def _own(row: dict) -> str:
    if row["test_accuracy"] is None:
        return "–"
    return f"{row['test_accuracy']:.2f} % ({row['test_low']:.2f} to {row['test_high']:.2f})"


def _seeds(row: dict) -> str:
    if not row["seeds"]:
        return "–"
    sd = "" if row["seed_sd"] is None else f" ± {row['seed_sd']:.2f}"
    n = f"{row['seeds']} seeds" + (f", {row['diverged']} diverged" if row["diverged"] else "")
    return f"{row['seed_mean']:.2f}{sd} ({n})"


def _range(row: dict) -> str:
    return "–" if not row["seeds"] else f"{row['seed_min']:.2f} to {row['seed_max']:.2f}"


def summary_markdown(rows: list[dict]) -> str:
    """The table a reader sees, its composite cells made from each row."""
    seed = next((r["seed"] for r in rows if r["seed"] is not None), "configured")
    shown = [COLUMNS[1], COLUMNS[2], Column("own", header=f"seed {seed} (95 % interval)", right=True),
             Column("spread", header="mean ± sd over seeds", right=True),
             Column("range", header="range over seeds", right=True),
             Column("report_accuracy", header="report", fmt=_percent, right=True),
             Column("report_place", header="the report among our seeds"), Column("status")]  # fmt: skip
    cells = [{**r, "own": _own(r), "spread": _seeds(r), "range": _range(r)} for r in rows]
    return markdown(cells, shown)


NOTE = (
    "Test accuracy (%) on the {images:,} test images: the configured seed's run with its exact 95 % "
    "interval (the test set's sampling noise alone), and the mean, standard deviation and range "
    "over the seeds each run trained with (config `replicates.report`; the seed sets the initial "
    "W and every random stream of training). The report's numbers come from the official "
    "archive.\n\n"
)


def read_summary(csv_path) -> list[dict]:
    return read_csv(csv_path, COLUMNS)


def write_summary(metrics_paths: list, reference: list[dict], csv_path, md_path) -> list[dict]:
    rows = summary_rows(list(metrics_paths), reference)
    write(rows, COLUMNS, csv_path)
    images = rows[0]["test_images"] if rows else 0
    write_text(md_path, NOTE.format(images=images) + summary_markdown(rows))
    return rows
