"""The second loss (the handout's bonus 2.2): softmax + cross-entropy against sigmoid + multiple
binary cross-entropy, on one batch (the report's setting) and in the best improved setting.

Runs live in ``results/losses/{setting}/{loss}/``. On one batch (data_batch_1, lam and eta of
config's ``losses.one_batch``) softmax trains at that eta and BCE at the eta of ``bce_etas`` that
is best on validation (its candidates in ``results/losses/one_batch/bce_eta~{eta}/``, the choice
in ``bce_eta.json``). In the improved setting both train the grid's point chosen on validation
(``results/improve/chosen.json``), BCE with that eta times ``bce_eta_scale``: its gradient is 1/K
of softmax's. Test accuracy is read only for the table, never for a choice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from onelayer import model, stats
from onelayer.atomic import write_json, write_text
from onelayer.dataset import Dataset
from onelayer.replicates import group, paired
from onelayer.tables import Column, markdown, read_csv, rounded, write

SETTINGS = ("one_batch", "improved")
SETTING_NAMES = {"one_batch": "on one batch", "improved": "in the improved setting"}
FIGURE_NAMES = {"one_batch": "one batch", "improved": "improved setting"}
COLUMNS = [
    Column("setting"), Column("loss"), Column("eta", float, fmt=".4g", right=True),
    Column("lam", float, fmt=".4g", right=True), Column("n_batch", int), Column("n_epochs", int),
    Column("train_images", int), Column("seeds", int, right=True),
    Column("val_accuracy", float, "validation (mean)", fmt=".2f", right=True),
    Column("test_accuracy", float, "test (mean)", fmt=".2f", right=True),
    Column("test_sd", float, "test sd", fmt=".2f", right=True),
    Column("vs_softmax", float, "BCE - softmax", fmt="+.2f", right=True),
    Column("vs_low", float, "95 % interval from", fmt="+.2f", right=True),
    Column("vs_high", float, "to", fmt="+.2f", right=True),
    Column("final_train_loss", float, fmt=".4f", right=True),
    Column("final_val_loss", float, fmt=".4f", right=True),
    Column("loss_gap", float, fmt=".4f", right=True),
]  # fmt: skip
MD_KEYS = ("setting", "loss", "eta", "lam", "seeds", "val_accuracy", "test_accuracy", "test_sd",
           "vs_softmax", "vs_low", "vs_high", "final_train_loss", "final_val_loss", "loss_gap")  # fmt: skip
TITLE = "# Two losses: softmax + cross-entropy and sigmoid + binary cross-entropy\n\n"
def choose_eta(metrics_paths: list, out_json) -> dict:
    """The eta of the candidate run with the highest validation accuracy (the first of the
    list on a tie; a diverged run never wins), written to ``out_json``."""
    best = None
    for path in metrics_paths:
        m = json.loads(Path(path).read_text())
        if m["status"] == "ok" and (best is None or m["val_accuracy"] > best["val_accuracy"]):
            best = m
    if best is None:
        raise ValueError(f"no BCE candidate trained without diverging: {list(metrics_paths)}")
    choice = {"eta": float(best["eta"]), "val_accuracy": best["val_accuracy"]}
    write_json(out_json, choice)
    return choice


def probability_of_truth(W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray,
                         loss: str) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per image: the probability the model gives its true class (softmax, or the class's
    sigmoid for BCE), and whether the image is classified correctly."""
    S = model.scores(W, b, X.astype(W.dtype))
    P = model.probabilities(S.astype(np.float64), loss)
    return P[y, np.arange(y.size)], np.argmax(S, axis=0) == y


def comparison_rows(runs: dict, differences: dict | None = None) -> list[dict]:
    """``runs``: {(setting, loss): Replicates}; one row per run: its settings, the mean over
    seeds of its accuracies (%) and the test accuracy's sd; the configured seed's final losses
    and their gap (validation minus training, the training loss as last evaluated); on BCE's
    rows, ``differences[setting]`` (BCE minus softmax, paired: ``stats.Difference``)."""
    differences = differences or {}
    rows = []
    for (setting, loss), reps in runs.items():
        m = reps.own or next(iter(reps.runs.values()))[1]
        test, val = reps.spread(), reps.spread("val_accuracy")
        row = {"setting": setting, "loss": loss, **{k: m.get(k) for k in
               ("eta", "lam", "n_batch", "n_epochs", "train_images", "final_train_loss", "final_val_loss")},
               "seeds": test.n, "val_accuracy": rounded(val.mean), "test_accuracy": rounded(test.mean),
               "test_sd": rounded(test.sd)}  # fmt: skip
        d = differences.get(setting) if loss == "bce" else None
        if d is not None:
            row.update(vs_softmax=rounded(d.estimate), vs_low=rounded(d.low), vs_high=rounded(d.high))
        train, val_loss = m["final_train_loss"], m["final_val_loss"]
        row["loss_gap"] = None if train is None or val_loss is None else round(val_loss - train, 6)
        rows.append(row)
    return rows


def finding(rows: list[dict]) -> str:
    """Two sentences from the measured numbers: BCE against softmax per setting, as a paired
    difference with its interval ("no detectable difference" where it covers 0), then how far
    each ends with its validation loss above its training loss (relative to the training
    loss, each loss on its own scale), and which overfits more on one batch."""
    row = {(r["setting"], r["loss"]): r for r in rows}
    have = [s for s in SETTINGS if (s, "softmax") in row and (s, "bce") in row]
    if not have:
        return ""

    def versus(s):
        b, sm = row[s, "bce"], row[s, "softmax"]
        mean = (f"{b['test_accuracy']:.2f} % against {sm['test_accuracy']:.2f} % {SETTING_NAMES[s]} "
                f"(mean over {b['seeds']} seeds; eta {b['eta']:g} against {sm['eta']:g})")  # fmt: skip
        if b.get("vs_softmax") is None:
            return mean
        d = stats.Difference(b["vs_softmax"], b["vs_low"], b["vs_high"], 0, 0, b["seeds"], 0)
        return f"{mean}: {stats.difference_words(d)}"

    first = "BCE reaches " + "; and ".join(versus(s) for s in have) + "."

    def gap(r):
        return 100 * r["loss_gap"] / r["final_train_loss"]

    second = " The validation loss ends " + ", and ".join(
        f"{gap(row[s, 'softmax']):.1f} % (softmax) and {gap(row[s, 'bce']):.1f} % (BCE) above "
        f"the training loss {SETTING_NAMES[s]}"
        for s in have
    )
    if "one_batch" in have:
        gaps = {loss: gap(row["one_batch", loss]) for loss in ("softmax", "bce")}
        more = max(gaps, key=gaps.get)
        second += f": on one batch {'BCE' if more == 'bce' else 'softmax'} overfits more"
    return first + second + " (the configured seed's runs)."


def comparison_markdown(rows: list[dict]) -> str:
    """The finding and the table, as results/losses/comparison.md and the report show them."""
    return finding(rows) + "\n\n" + markdown(rows, [c for c in COLUMNS if c.key in MD_KEYS])


def read_comparison(csv_path) -> list[dict]:
    return read_csv(csv_path, COLUMNS)


def write_comparison(metrics_paths: list, data_paths: dict, out_csv, out_md, histograms_png,
                     curves_png) -> list[dict]:  # fmt: skip
    """comparison.csv and .md, and the two figures, from the loss runs and their seed
    replicates (``metrics_paths``: results/losses/{setting}/{loss}[_seed{seed}]/metrics.json);
    ``data_paths``: {setting: processed .npz}. BCE against softmax is paired over the seeds both
    trained and the test images; the figures show the configured seed's runs."""
    from onelayer import plots
    from onelayer.runs import load_run

    runs = {tuple(Path(g.folder).parts[-2:]): g for g in group(metrics_paths).values()}
    tests = {s: Dataset.load(path) for s, path in data_paths.items()}  # once per data set
    differences = {s: paired(runs[s, "bce"], runs[s, "softmax"], tests[s]) for s in SETTINGS
                   if (s, "bce") in runs and (s, "softmax") in runs}  # fmt: skip
    rows = comparison_rows(runs, differences)
    write(rows, COLUMNS, out_csv)
    write_text(out_md, TITLE + comparison_markdown(rows))
    loaded = {key: load_run(reps.folder) for key, reps in runs.items()}
    truth = {(setting, loss): probability_of_truth(
                 r["W"], r["b"], tests[setting].features("test", r["W"].dtype),
                 tests[setting].labels("test"), loss)
             for (setting, loss), r in loaded.items()}  # fmt: skip
    plots.truth_histograms(truth, histograms_png, FIGURE_NAMES)
    plots.loss_curves({k: r["history"] for k, r in loaded.items()}, curves_png, FIGURE_NAMES)
    return rows
