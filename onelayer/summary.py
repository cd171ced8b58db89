"""The summary table: our test accuracy per run beside the seed report's number and the difference."""

from __future__ import annotations

import json

from onelayer.naming import run_name
from onelayer.tables import Column, markdown, read_csv, write


def _percent(v: float) -> str:
    return f"{v:.2f} %"


COLUMNS = [
    Column("run"),
    Column("lam", float, "lambda", "g", right=True),
    Column("eta", float, "eta", "g", right=True),
    Column("test_accuracy", float, "test accuracy (ours)", _percent, right=True),
    Column("report_accuracy", float, "test accuracy (report)", _percent, right=True),
    Column("difference", float, "difference", "+.2f", right=True),
    Column("final_train_cost", float, "final train cost", ".4f", right=True),
    Column("final_val_cost", float, "final val cost", ".4f", right=True),
    Column("train_seconds", float, "train seconds", ".2f", right=True),
    Column("status"),
]
MD_KEYS = ("lam", "eta", "test_accuracy", "report_accuracy", "difference", "final_train_cost",
           "status")  # fmt: skip


def _key(lam: float, eta: float) -> str:
    return run_name(float(lam), float(eta))


def summary_rows(metrics: list[dict], reference: list[dict]) -> list[dict]:
    """One row per run, in the order given; the report's numbers matched by (lam, eta)."""
    ref = {_key(r["lam"], r["eta"]): float(r["test_accuracy"]) for r in reference}
    rows = []
    for m in metrics:
        name = _key(m["lam"], m["eta"])
        ours, theirs = m["test_accuracy"], ref.get(name)
        status = m["status"] if m["status"] == "ok" else f"diverged at epoch {m['diverged_epoch']}"
        rows.append(dict(
            run=name, lam=m["lam"], eta=m["eta"], status=status, test_accuracy=ours,
            report_accuracy=theirs,
            difference=None if ours is None or theirs is None else round(ours - theirs, 2),
            final_train_cost=m["final_train_cost"], final_val_cost=m["final_val_cost"],
            train_seconds=m["train_seconds"],
        ))  # fmt: skip
    return rows


def summary_markdown(rows: list[dict]) -> str:
    return markdown(rows, [c for c in COLUMNS if c.key in MD_KEYS])


def read_summary(csv_path) -> list[dict]:
    return read_csv(csv_path, COLUMNS)


def write_summary(metrics_paths: list, reference: list[dict], csv_path, md_path) -> list[dict]:
    rows = summary_rows([json.loads(open(p).read()) for p in metrics_paths], reference)
    write(rows, COLUMNS, csv_path, md_path, md_keys=MD_KEYS)
    return rows
