"""results/report.md: the seed report's structure regenerated from this pipeline's results.

Sections follow the report: implementation (the gradient check), loss and cost curves per run,
learned weights per run, the test accuracies beside the report's, the experiments beyond the
report when they were run (config ``improvements``), and the configuration used. Every table is
rendered from the rows of its CSV (``tables``), not copied from another Markdown file. Paths are
relative to results/ so the page renders on a repository host.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from onelayer import gradcheck, improve, losses, stats, summary
from onelayer.atomic import write_text
from onelayer.naming import run_title
from onelayer.tables import Column, markdown


def _md_title(run: dict) -> str:
    return run_title(run["lam"], run["eta"], run.get("diverged_epoch"))


def _pct(v: float) -> str:
    return f"{v:.2f}"


def _gain(row: dict) -> str:
    if row.get("test_gain") is None:
        return "–"
    d = stats.Difference(row["test_gain"], row["gain_low"], row["gain_high"], 0, 0, row["seeds"], 0)
    return f"{d.estimate:+.2f} ({d.low:+.2f} to {d.high:+.2f})" + ("" if d.detectable else ", none detectable")


ABLATION_SHOWN = [Column("step"), Column("data"), Column("train_images", header="images"),
                  Column("seeds", right=True),
                  Column("val_accuracy", header="val % (mean)", fmt=_pct, right=True),
                  Column("test_accuracy", header="test % (mean)", fmt=_pct, right=True),
                  Column("test_sd", header="test sd", fmt=_pct, right=True),
                  Column("gain", header="test gain over base, paired (95 % interval)", right=True)]  # fmt: skip
GRID_SHOWN = [Column("point"), Column("status"), Column("seeds", right=True),
              Column("val_accuracy", header="val % (mean)", fmt=_pct, right=True),
              Column("val_sd", header="val sd", fmt=_pct, right=True),
              Column("p_best", header="P(best)", fmt=".2f", right=True)]  # fmt: skip


def best_words(best: dict) -> str:
    """The retrain's test accuracy over seeds, and the configured seed's with its interval."""
    if not best.get("seeds"):
        return "diverged"
    sd = "" if best["test_sd"] is None else f" ± {best['test_sd']:.2f}"
    own = ""
    if best.get("test_accuracy") is not None:
        own = (f"; seed {best['seed']}: {best['test_accuracy']:.2f} % (95 % interval "
               f"{best['test_low']:.2f} to {best['test_high']:.2f})")  # fmt: skip
    return (f"{best['test_mean']:.2f}{sd} % over {best['seeds']} seeds (range {best['test_min']:.2f} "
            f"to {best['test_max']:.2f}){own}")  # fmt: skip


def improvements_markdown(best: dict, ablation: list[dict], grid: list[dict]) -> list[str]:
    """Section 5: the best setting chosen on validation (its retrain over seeds) beside the
    report's and the best published test accuracy, the ablation (paired gains), the grid (its
    best points, with each one's probability of being the best) and the figures."""
    ref, pub = best.get("report_test_accuracy"), best.get("published_best_test_accuracy")
    beside = ", ".join(f"{what} {v:.2f} %" for what, v in
                       (("the report's best", ref), ("the best published (official archive)", pub))
                       if v is not None)  # fmt: skip
    settings = ", ".join(f"{k} = {best[k]:g}" for k in ("lam", "eta", "n_batch"))
    top = sorted(grid, key=lambda r: -(r["val_accuracy"] or 0))[:5]  # stable: the table's order on ties
    p_best = "" if best.get("p_best") is None else f", probability of being the best {best['p_best']:.2f}"
    return [
        "## 5 Beyond the report: the handout's improvements",
        "",
        f"**Best setting, chosen on validation ({settings}): test accuracy {best_words(best)}** "
        f"({beside}). Validation accuracy in the grid {best['val_accuracy']:.2f} % (mean over "
        f"{best.get('val_seeds')} seeds{p_best}); retrained on {best['train_images']} images "
        "(training + validation) and tested once per seed ([best.json](improve/best.json)).",
        "",
        "### Ablation: the report's best setting, each improvement alone, all together",
        "",
        "Each gain is the step's test accuracy minus the base row's, paired over the same seeds "
        "and test images, with its 95 % interval; \"none detectable\" where the interval covers 0.",
        "",
        markdown([{**r, "gain": _gain(r)} for r in ablation], ABLATION_SHOWN).strip(),
        "",
        f"### Grid: {len(grid)} points, the five best on validation "
        "([grid.csv](improve/grid.csv))",
        "",
        markdown(top, GRID_SHOWN).strip(),
        "",
        "![grid heatmap](improve/grid_heatmap.png)",
        "",
        "![best curves](improve/best/curves.png)",
        "",
        "![best weights](improve/best/weights.png)",
        "",
        "*The grid's probability of being the best; the chosen point's curves (validation held "
        "out) and the weights of its retrain.*",
        "",
    ]


def report_markdown(
    runs: list[dict], summary_rows: list[dict], gradcheck_rows: list[dict] | None, config: dict,
    improve: dict | None = None, loss_rows: list[dict] | None = None, peers_md: str | None = None,
) -> str:  # fmt: skip
    """The page; with ``improve`` (best, ablation, grid: ``improvements_markdown``'s
    arguments) and ``loss_rows`` (results/losses/comparison.csv) the experiments' sections."""
    parts = [
        "# DD2424 Assignment 1, reproduced",
        "",
        "A one-layer network (softmax, cross-entropy, L2 on W) trained on CIFAR-10 with mini-batch "
        "gradient descent: `data_batch_1` trains, `data_batch_2` validates, `test_batch` tests. "
        "This page is generated by the pipeline (`results/report.md`); "
        "`snakemake --report results/report.html` gives the browsable HTML record.",
        "",
        "## 1 Gradient verification",
        "",
    ]
    if gradcheck_rows:
        parts += [gradcheck.ABOUT, markdown(gradcheck_rows, gradcheck.COLUMNS).strip(), ""]
    else:
        parts += ["(not run)", ""]
    parts += ["## 2 Loss and cost curves", ""]
    for i, run in enumerate(runs, 1):
        parts += [f"![curves {run['name']}]({run['name']}/curves.png)", "",
                  f"*Figure {i}: loss (left) and cost (right) for {_md_title(run)}.*", ""]  # fmt: skip
    parts += ["## 3 Learned weights", ""]
    for i, run in enumerate(runs, len(runs) + 1):
        parts += [f"![weights {run['name']}]({run['name']}/weights.png)", "",
                  f"*Figure {i}: learned weights for {_md_title(run)}.*", ""]  # fmt: skip
    parts += [
        "## 4 Test accuracy",
        "",
        summary.summary_markdown(summary_rows).strip(),
        "",
        "![accuracy](figures/accuracy.png)",
        "",
        "Across runs: [all curves](figures/overview_curves.png), "
        "[all weights](figures/overview_weights.png).",
        "",
    ]
    if improve is not None:
        parts += improvements_markdown(**improve)
        parts += ["## 6 Two losses: softmax and binary cross-entropy (bonus 2.2)", "",
                  losses.comparison_markdown(loss_rows).strip() if loss_rows else "(not run)", "",
                  "![histograms](losses/histograms.png)", "", "![loss curves](losses/curves.png)",
                  "", "*The probability of the true class over the test images, and the loss "
                  "curves, of each loss in each setting ([comparison.csv](losses/comparison.csv)).*",
                  ""]  # fmt: skip
        parts += ["## 7 Published recipes, trained here", "",
                  "Each published recipe of this model trained on these images with this "
                  "project's code, over seeds, beside the retrain of our choice; their published "
                  "numbers were measured on the official archive "
                  "([comparison.csv](peers/comparison.csv)).", "",
                  peers_md.strip() if peers_md else "(not run)", "",
                  "![published recipes](peers/accuracy.png)", ""]  # fmt: skip
    parts += [
        f"## {8 if improve is not None else 5} Configuration",
        "",
        "```yaml",
        yaml.safe_dump(config, sort_keys=False).strip(),
        "```",
        "",
    ]
    return "\n".join(parts)


def write_report(runs: list[dict], summary_csv, gradcheck_csv, config: dict, out,
                 improve_paths: dict | None = None) -> None:  # fmt: skip
    """``improve_paths``: best.json, ablation.csv, grid.csv, the losses' comparison.csv and the
    published recipes' comparison.md of the experiments, or None."""
    improve_rows = loss_rows = peers_md = None
    if improve_paths:
        if improve_paths.get("peers"):
            peers_md = Path(improve_paths["peers"]).read_text().split("\n", 2)[-1]
        improve_rows = {"best": json.loads(Path(improve_paths["best"]).read_text()),
                        "ablation": improve.read_ablation(improve_paths["ablation"]),
                        "grid": improve.read_grid(improve_paths["grid"])}  # fmt: skip
        loss_rows = losses.read_comparison(improve_paths["losses"])
    text = report_markdown(runs, summary.read_summary(summary_csv),
                           gradcheck.read_rows(gradcheck_csv) if gradcheck_csv else None, config,
                           improve_rows, loss_rows, peers_md)  # fmt: skip
    write_text(out, text)
