"""The summary table: our test accuracy per run beside the seed report's number and the difference."""

from __future__ import annotations

import json
import math

import pandas as pd

from onelayer.atomic import write_csv, write_text
from onelayer.naming import run_name

COLUMNS = [
    "run", "lam", "eta", "status", "test_accuracy", "report_accuracy", "difference",
    "final_train_cost", "final_val_cost", "train_seconds",
]  # fmt: skip


def _key(lam: float, eta: float) -> str:
    return run_name(float(lam), float(eta))


def summary_table(metrics: list[dict], reference: list[dict]) -> pd.DataFrame:
    """One row per run, in the order given; report numbers matched by (lam, eta)."""
    ref = {_key(r["lam"], r["eta"]): float(r["test_accuracy"]) for r in reference}
    rows = []
    for m in metrics:
        name = _key(m["lam"], m["eta"])
        ours, theirs = m["test_accuracy"], ref.get(name)
        status = m["status"] if m["status"] == "ok" else f"diverged at epoch {m['diverged_epoch']}"
        rows.append(
            dict(
                run=name, lam=m["lam"], eta=m["eta"], status=status, test_accuracy=ours,
                report_accuracy=theirs,
                difference=None if ours is None or theirs is None else round(ours - theirs, 2),
                final_train_cost=m["final_train_cost"], final_val_cost=m["final_val_cost"],
                train_seconds=m["train_seconds"],
            )
        )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def _fmt(value, spec: str, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec) + unit


def markdown(table: pd.DataFrame) -> str:
    lines = [
        "| lambda | eta | test accuracy (ours) | test accuracy (report) | difference | final train cost | status |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.lam:g} | {r.eta:g} | {_fmt(r.test_accuracy, '.2f', ' %')} "
            f"| {_fmt(r.report_accuracy, '.2f', ' %')} | {_fmt(r.difference, '+.2f')} "
            f"| {_fmt(r.final_train_cost, '.4f')} | {r.status} |"
        )
    return "\n".join(lines) + "\n"


def write_summary(metrics_paths: list, reference: list[dict], csv_path, md_path) -> pd.DataFrame:
    metrics = [json.loads(open(p).read()) for p in metrics_paths]
    table = summary_table(metrics, reference)
    write_csv(csv_path, table)
    write_text(md_path, markdown(table))
    return table
