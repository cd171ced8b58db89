"""The pipeline's steps, one function per rule, named after it: what the rule's script calls with
Snakemake's inputs, outputs and params, and what ``python -m onelayer <step>`` calls with its
arguments (``onelayer.__main__`` builds them from these signatures), so a step gives the same
files either way. Each function reads its inputs, calls the library, and writes its outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

from onelayer.cifar10 import MEMBERS
from onelayer.settings import TrainSettings


def download_cifar10(url: str, md5: str, out: Path) -> None:
    """Download the CIFAR-10 archive and verify its MD5."""
    from onelayer.download import fetch

    fetch(url, out, md5)


def extract_cifar10(archive: Path, md5: str, out_dir: Path, members: list[str] = MEMBERS) -> None:
    """Extract ``members`` safely into ``out_dir``/cifar-10-batches-py, verifying the archive's
    MD5 again meanwhile (it may have been placed by hand, or changed since its download): a
    mismatch leaves no member."""
    from onelayer.cifar10 import extract

    extract(archive, out_dir, members, md5=md5)


def preprocess(train: list[Path], test: list[Path], meta: Path, out: Path, val: list[Path] = (),
               val_size: int = 0) -> None:  # fmt: skip
    """The processed .npz from batch files: ``val`` files validate, or, with none, the last
    ``val_size`` training images (the five-batch set of the experiments)."""
    from onelayer.preprocess import preprocess as run

    run(list(train), list(val), list(test), meta, out, val_size=val_size)


def gradcheck(data: Path, settings: dict, csv: Path, md: Path, backend: str = "auto",
              threads: int = 1) -> None:  # fmt: skip
    """Check the gradients of every code that trains with ``backend`` (``settings``: the
    config's gradcheck section, or a whole config holding one)."""
    from onelayer.gradcheck import gradcheck as run

    run(data, settings.get("gradcheck", settings), csv, md, threads=threads, backend=backend)


def train(data: Path, settings: TrainSettings, out: Path, threads: int = 1,
          choice: Path | None = None, choice_scale: dict | None = None) -> None:  # fmt: skip
    """Train one run and write its folder. ``choice`` (a JSON file written by a choosing step,
    such as results/improve/chosen.json) replaces the options it names, each multiplied by
    ``choice_scale``'s factor for it where given (the BCE run's eta x bce_eta_scale)."""
    from onelayer.runs import run

    if not isinstance(settings, TrainSettings):
        settings = TrainSettings.from_dict(settings)
    if choice is not None:
        settings = settings.chosen(json.loads(Path(choice).read_text()), choice_scale or {})
    run(data, settings, out, threads)


def plot_run(run: Path, data: Path, curves: Path, weights: Path) -> None:
    """Loss/cost curves and learned-weight images of one run folder."""
    from onelayer import plots
    from onelayer.runs import label_names, load_run

    r = load_run(run)
    args = (r["lam"], r["eta"])
    plots.curves(r["history"], *args, curves, r["diverged_epoch"])
    plots.weights(r["W"], label_names(data), *args, weights, r["diverged_epoch"])


def summary(metrics: list[Path], reference: list, csv: Path, md: Path) -> None:
    """Every run's metrics beside the report's numbers (``reference``: config's list)."""
    from onelayer.summary import write_summary

    write_summary(list(metrics), reference, csv, md)


def overview_figures(metrics: list[Path], reference: list, data: Path, curves: Path,
                     weights: Path, accuracy: Path) -> None:  # fmt: skip
    """Figures across the runs: every curve (the range over seeds shaded), every W, the
    accuracies over seeds beside the report's (``metrics``: the run folders and their seed
    replicates; the summary's rows, made from them as the summary step makes them, so that
    the two steps run side by side)."""
    from onelayer import plots
    from onelayer.replicates import group
    from onelayer.runs import label_names, load_run, read_history
    from onelayer.summary import summary_rows

    groups = list(group(metrics).values())
    runs = [load_run(g.folder) for g in groups]
    histories = [[read_history(Path(f) / "history.csv") for f, _ in g.runs.values()] for g in groups]
    plots.overview_curves(runs, curves, histories)
    plots.overview_weights(runs, label_names(data), weights)
    plots.accuracy_bars(summary_rows(list(metrics), reference), accuracy)


def report_md(metrics: list[Path], summary: Path, gradcheck: Path, config: dict, out: Path,
              experiments: dict | None = None) -> None:  # fmt: skip
    """results/report.md from the runs and the tables (``experiments``: best, ablation, grid
    and losses' paths, where the experiments join the report)."""
    from onelayer.report import write_report
    from onelayer.runs import load_run

    runs = [load_run(Path(p).parent) for p in metrics]
    write_report(runs, summary, gradcheck, config, out, experiments)


def improve_grid_table(metrics: list[Path], data: Path, csv: Path) -> None:
    """One row per grid point over its seeds, with its probability of being the best on the
    validation images of ``data``."""
    from onelayer.improve import grid_table

    grid_table(list(metrics), data, csv)


def improve_choose(grid: Path, out: Path) -> None:
    """The grid point best on validation, written once for every step that needs it."""
    from onelayer.improve import choose

    choose(grid, out)


def improve_best(choice: Path, metrics: list[Path], out: Path, report_best: float | None = None,
                 published_best: float | None = None) -> None:  # fmt: skip
    """results/improve/best.json: the chosen setting and its retrain's test accuracy over seeds
    (``metrics``: the retrain's folder and its seed replicates)."""
    from onelayer.improve import best_summary

    best_summary(choice, list(metrics), out, {"report_test_accuracy": report_best,
                                              "published_best_test_accuracy": published_best})  # fmt: skip


def improve_ablation_table(steps: list[str], data: list[str], metrics: list[Path], csv: Path,
                           one_batch_data: Path, all_data: Path) -> None:  # fmt: skip
    """One row per ablation step over its seeds, its gain over the base row paired on the test
    images (``data``: each step's kind of data, one_batch or all, read from the two files)."""
    from onelayer.improve import ablation_table

    ablation_table(list(steps), list(data), list(metrics),
                   {"one_batch": one_batch_data, "all": all_data}, csv)  # fmt: skip


def improve_figures(grid: Path, choice: Path, grid_runs: Path, data: Path, retrained: Path,
                    heatmap: Path, curves: Path, weights: Path) -> None:  # fmt: skip
    """The grid's validation heatmap, the chosen point's curves (as the grid trained it in its
    folder under ``grid_runs``, its validation images held out) and the weights of its retrain
    (the run folder ``retrained``: the model tested)."""
    from onelayer import plots
    from onelayer.dataset import Dataset
    from onelayer.improve import read_grid
    from onelayer.runs import load_run

    dataset = Dataset.load(data)
    picked = json.loads(Path(choice).read_text())
    plots.grid_heatmap(read_grid(grid), heatmap, val_images=dataset.labels("val").size)
    point = load_run(Path(grid_runs) / picked["point"])
    plots.curves(point["history"], picked["lam"], picked["eta"], curves)
    plots.weights(load_run(retrained)["W"], dataset.label_names, picked["lam"], picked["eta"],
                  weights)  # fmt: skip


def losses_choose_bce_eta(metrics: list[Path], out: Path) -> None:
    """BCE's eta on one batch: the candidate best on validation."""
    from onelayer.losses import choose_eta

    choose_eta(list(metrics), out)


def losses_compare(metrics: list[Path], one_batch_data: Path, improved_data: Path, csv: Path,
                   md: Path, histograms: Path, curves: Path) -> None:  # fmt: skip
    """The loss comparison's table, finding and figures from its runs and their seed
    replicates (results/losses/{setting}/{loss}[_seed{seed}]/metrics.json)."""
    from onelayer.losses import write_comparison

    write_comparison(list(metrics), {"one_batch": one_batch_data, "improved": improved_data}, csv,
                     md, histograms, curves)  # fmt: skip


def peers_compare(ours: list[Path], metrics: list[Path], peers: dict, data: Path, csv: Path,
                  md: Path, figure: Path) -> None:  # fmt: skip
    """Each published recipe over its seeds beside the retrain of our choice (``ours``: its
    folder's and its replicates' metrics), paired on the test images of ``data``."""
    from onelayer.peers import write_comparison

    write_comparison(list(ours), list(metrics), peers, data, csv, md, figure)
