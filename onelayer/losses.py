"""The second loss (the handout's bonus 2.2): softmax + cross-entropy against sigmoid + multiple
binary cross-entropy, in the report's setting and in the best improved one.

Runs live in ``results/losses/{setting}/{loss}/``. In the report's setting (data_batch_1, the
report's lam) softmax trains at the report's eta and BCE at the eta of ``bce_etas`` that is
best on validation (its candidates in ``results/losses/report/bce_eta~{eta}/``). In the improved
setting both train the grid's best point on validation (experiments.train, all five batches
but the validation images), BCE with that eta times ``bce_eta_scale``: its gradient is 1/K of
softmax's. Test accuracy is read only for the table, never for a choice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from onelayer import model
from onelayer.atomic import write_csv, write_text
from onelayer.preprocess import load_processed

SETTINGS = ("report", "improved")
COMPARISON_COLUMNS = ["setting", "loss", "eta", "lam", "n_batch", "n_epochs", "train_images",
                      "val_accuracy", "test_accuracy", "final_train_loss", "final_val_loss",
                      "loss_gap"]  # fmt: skip


def best_eta(metrics_paths: list) -> float:
    """The eta of the candidate run with the highest validation accuracy (the first of the
    list on a tie; a diverged run never wins)."""
    best = None
    for path in metrics_paths:
        m = json.loads(Path(path).read_text())
        if m["status"] == "ok" and (best is None or m["val_accuracy"] > best["val_accuracy"]):
            best = m
    if best is None:
        raise ValueError(f"no BCE candidate trained without diverging: {list(metrics_paths)}")
    return float(best["eta"])


def probability_of_truth(W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray,
                         loss: str) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per image: the probability the model gives its true class (softmax, or the class's
    sigmoid for BCE), and whether the image is classified correctly."""
    S = model.scores(W, b, X.astype(W.dtype))
    P = model.probabilities(S.astype(np.float64), loss)
    return P[y, np.arange(y.size)], np.argmax(S, axis=0) == y


def comparison(runs: dict, out_csv) -> pd.DataFrame:
    """``runs``: {(setting, loss): metrics dict}; one row per run, accuracies in percent, and
    the final validation minus training loss (the training loss as last evaluated)."""
    rows = []
    for (setting, loss), m in runs.items():
        history_train = m["final_train_loss"]
        rows.append({
            "setting": setting, "loss": loss, "eta": m["eta"], "lam": m["lam"],
            "n_batch": m["n_batch"], "n_epochs": m["n_epochs"], "train_images": m["train_images"],
            "val_accuracy": m["val_accuracy"], "test_accuracy": m["test_accuracy"],
            "final_train_loss": history_train, "final_val_loss": m["final_val_loss"],
            "loss_gap": None if history_train is None or m["final_val_loss"] is None
            else round(m["final_val_loss"] - history_train, 6),
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    write_csv(out_csv, table)
    return table


def finding(table: pd.DataFrame) -> str:
    """Two sentences from the measured numbers: each loss's test accuracy per setting, then
    how far each ends with its validation loss above its training loss (relative to the
    training loss, each loss on its own scale), and which overfits more on one batch."""
    row = {(r.setting, r.loss): r for r in table.itertuples()}
    names = {"report": "in the report's setting", "improved": "in the improved one"}
    have = [s for s in SETTINGS if (s, "softmax") in row and (s, "bce") in row]
    if not have:
        return ""
    first = (
        "BCE reaches "
        + ", and ".join(
            f"{row[s, 'bce'].test_accuracy:.2f} % test accuracy against "
            f"{row[s, 'softmax'].test_accuracy:.2f} % for softmax {names[s]} "
            f"(eta {row[s, 'bce'].eta:g} against {row[s, 'softmax'].eta:g})"
            for s in have
        )
        + "."
    )

    def gap(r):
        return 100 * r.loss_gap / r.final_train_loss

    second = " The validation loss ends " + ", and ".join(
        f"{gap(row[s, 'softmax']):.1f} % (softmax) and {gap(row[s, 'bce']):.1f} % (BCE) above "
        f"the training loss {names[s]}"
        for s in have
    )
    report = (
        {loss: gap(row["report", loss]) for loss in ("softmax", "bce")} if "report" in have else {}
    )
    if report:
        more = max(report, key=report.get)
        second += f": on one batch {'BCE' if more == 'bce' else 'softmax'} overfits more"
    return first + second + "."


def comparison_markdown(table: pd.DataFrame) -> str:
    from onelayer.report import markdown_table

    cols = ["setting", "loss", "eta", "lam", "val_accuracy", "test_accuracy", "final_train_loss",
            "final_val_loss", "loss_gap"]  # fmt: skip
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    return "\n".join(markdown_table(table[cols], fmt)) + "\n"


def write_comparison(runs: dict, data_paths: dict, out_csv, out_md, histograms_png,
                     curves_png) -> pd.DataFrame:  # fmt: skip
    """comparison.csv and .md, and the two figures, from the four run folders.

    ``runs``: {(setting, loss): run folder}; ``data_paths``: {setting: processed .npz}."""
    from onelayer import plots
    from onelayer.runs import load_run

    loaded = {key: load_run(folder) for key, folder in runs.items()}
    table = comparison({k: r["metrics"] for k, r in loaded.items()}, out_csv)
    tests = {s: load_processed(path) for s, path in data_paths.items()}  # once per data set
    truth = {(setting, loss): probability_of_truth(r["W"], r["b"], tests[setting]["X_test"],
                                                   tests[setting]["y_test"], loss)
             for (setting, loss), r in loaded.items()}  # fmt: skip
    plots.truth_histograms(truth, histograms_png)
    plots.loss_curves({k: r["history"] for k, r in loaded.items()}, curves_png)
    text = ("# Two losses: softmax + cross-entropy and sigmoid + binary cross-entropy\n\n"
            + finding(table) + "\n\n" + comparison_markdown(table))  # fmt: skip
    write_text(out_md, text)
    return table


def run_settings(setting: str, loss: str, base: dict, candidates=None, grid=None,
                 bce_eta_scale: float = 10.0) -> dict:  # fmt: skip
    """experiment.run's keyword arguments of one run of the comparison. ``base``: the
    setting's training keys (threads apart) with lam and eta (report) or without (improved).
    BCE in the report's setting takes the best eta of its ``candidates`` (metrics.json
    paths); the improved setting takes lam, eta and n_batch from the grid's best point
    (``grid``: grid.csv), BCE with that eta times ``bce_eta_scale``."""
    from onelayer.improve import best_point

    if setting not in SETTINGS or loss not in model.LOSSES:
        raise ValueError(f"no run {setting}/{loss}: settings {SETTINGS}, losses {model.LOSSES}")
    out = {**base, "loss": loss}
    if setting == "report" and loss == "bce":
        out["eta"] = best_eta(candidates)
    if setting == "improved":
        choice = best_point(grid)
        out.update(lam=choice["lam"], eta=choice["eta"], n_batch=choice["n_batch"])
        if loss == "bce":
            out["eta"] = choice["eta"] * bce_eta_scale
    return out
