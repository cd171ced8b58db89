"""Figures of the report: loss/cost curves and learned weights per run, and overviews across runs.

All figures use the non-interactive Agg backend, fixed sizes and DPI, and PNG metadata without
a timestamp, so the same inputs give the same file.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from onelayer.atomic import atomic_path  # noqa: E402
from onelayer.naming import run_title  # noqa: E402

DPI = 100
PNG_METADATA = {"Software": None}  # no version or date stamp: reruns give the same bytes


def save(fig, path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", metadata=PNG_METADATA)
    plt.close(fig)


def margins(fig, left=0.75, right=0.2, top=0.45, bottom=0.5, wspace=0.25, hspace=0.45) -> None:
    """Fixed margins, in inches (spaces between panels: fractions of a panel), instead of a
    layout engine: the figures of every run are drawn once, not twice (constrained layout
    draws to measure, then again), and are laid out alike."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h,
                        wspace=wspace, hspace=hspace)  # fmt: skip


def _curves_on(axes, history: dict, label_prefix: str = "", band: list[dict] | None = None) -> None:
    """``history``: one array per column of history.csv (``runs.read_history``); ``band``: the
    histories of the same run over seeds, drawn as the range they span at each epoch."""
    for ax, what in zip(axes, ("loss", "cost")):
        for split, style in (("train", "-"), ("val", "--")):
            name = "training" if split == "train" else "validation"
            # epochs without an evaluation (eval_train_every > 1) are NaN: join the others
            values = np.asarray(history[f"{split}_{what}"], dtype=float)
            seen = ~np.isnan(values)
            epochs = np.asarray(history["epoch"])[seen]
            (line,) = ax.plot(epochs, values[seen], style, label=f"{label_prefix}{name}")
            if band:
                spread = _band(band, f"{split}_{what}", len(values))[:, seen]
                ax.fill_between(epochs, spread[0], spread[1], color=line.get_color(), alpha=0.2,
                                lw=0)  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)


def _band(histories: list[dict], column: str, epochs: int) -> np.ndarray:
    """2 x epochs: the smallest and largest value of ``column`` over ``histories`` at each
    epoch (a run that stopped early, as diverged, holds NaN after its last epoch)."""
    values = np.full((len(histories), epochs), np.nan)
    for i, h in enumerate(histories):
        v = np.asarray(h[column], dtype=float)[:epochs]
        values[i, : v.size] = v
    with np.errstate(invalid="ignore"):
        return np.array([np.nanmin(values, axis=0), np.nanmax(values, axis=0)])


def curves(history: dict, lam: float, eta: float, path, diverged_epoch=None) -> None:
    """Loss (left) and cost (right), training vs validation, over the epochs."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    margins(fig, top=0.65, wspace=0.22)
    _curves_on(axes, history)
    axes[0].set_title("loss")
    axes[1].set_title("cost (loss + λ‖W‖²)")
    axes[0].legend()
    fig.suptitle(run_title(lam, eta, diverged_epoch))
    save(fig, path)


def weight_images(W: np.ndarray) -> np.ndarray:
    """K x 32 x 32 x 3 images: row i of W as (3, 32, 32) moved to channels last, each min-max
    normalised on its own to [0, 1]."""
    imgs = W.reshape(W.shape[0], 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float64)
    lo = imgs.min(axis=(1, 2, 3), keepdims=True)
    hi = imgs.max(axis=(1, 2, 3), keepdims=True)
    return (imgs - lo) / np.where(hi > lo, hi - lo, 1.0)


def _weights_row(axes, W: np.ndarray, label_names) -> None:
    finite = np.all(np.isfinite(W))
    imgs = weight_images(W) if finite else None
    for i, ax in enumerate(axes):
        if finite:
            ax.imshow(imgs[i], interpolation="nearest")
        else:
            ax.text(0.5, 0.5, "not finite", ha="center", va="center", fontsize=8)
        ax.set_title(label_names[i], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])


def weights(W: np.ndarray, label_names, lam: float, eta: float, path, diverged_epoch=None) -> None:
    """The ten rows of W as 32 x 32 colour images, titled with the class names."""
    fig, axes = plt.subplots(1, len(label_names), figsize=(12, 1.9))
    margins(fig, left=0.1, right=0.1, top=0.55, bottom=0.1, wspace=0.1)
    _weights_row(axes, W, label_names)
    fig.suptitle(run_title(lam, eta, diverged_epoch))
    save(fig, path)


def overview_curves(runs: list[dict], path, seeds: list[list[dict]] | None = None) -> None:
    """One row per run: its loss and cost curves, with shared y axes per column; ``seeds``:
    per run, the histories of its seed replicates, whose range is shaded."""
    fig, axes = plt.subplots(len(runs), 2, figsize=(10, 2.6 * len(runs) + 0.6), squeeze=False)
    margins(fig, top=0.35, bottom=0.5, wspace=0.22, hspace=0.55)
    for i, (row, run) in enumerate(zip(axes, runs)):
        band = seeds[i] if seeds and len(seeds[i]) > 1 else None
        _curves_on(row, run["history"], band=band)
        n = f", band: {len(band)} seeds" if band else ""
        row[0].set_title(f"loss, {run_title(run['lam'], run['eta'], run.get('diverged_epoch'))}{n}")
        row[1].set_title("cost")
    axes[0][0].legend()
    save(fig, path)


def overview_weights(runs: list[dict], label_names, path) -> None:
    """One row of class images per run."""
    fig, axes = plt.subplots(len(runs), len(label_names), figsize=(12, 1.35 * len(runs) + 0.3),
                             squeeze=False)  # fmt: skip
    margins(fig, left=1.45, right=0.1, top=0.3, bottom=0.1, wspace=0.08, hspace=0.35)
    for row, run in zip(axes, runs):
        _weights_row(row, run["W"], label_names)
        row[0].set_ylabel(run_title(run["lam"], run["eta"]), rotation=0, ha="right", fontsize=9)
    save(fig, path)


def accuracy_bars(summary: list[dict], path) -> None:
    """Test accuracy per run (rows of the summary table): our mean over seeds with a whisker of
    one standard deviation, each seed's range as a thin line, the configured seed as a dot,
    beside the report's number; a diverged run is marked as such."""
    fig, ax = plt.subplots(figsize=(8, 4))
    margins(fig, left=0.7, top=0.2)
    x = np.arange(len(summary))
    width = 0.38
    number = lambda v: v if v is not None and not math.isnan(v) else 0.0  # noqa: E731
    mean = [number(r["seed_mean"]) for r in summary]
    sd = [number(r["seed_sd"]) for r in summary]
    ref = [number(r["report_accuracy"]) for r in summary]
    seeds = max([r["seeds"] or 0 for r in summary], default=0)
    ax.bar(x - width / 2, mean, width, yerr=sd, capsize=4,
           label=f"this pipeline: mean ± sd over {seeds} seeds")  # fmt: skip
    for xi, r in zip(x, summary):
        if r["seeds"]:
            ax.vlines(xi - width / 2 + width / 4, r["seed_min"], r["seed_max"], color="black", lw=1)
        if r["test_accuracy"] is not None:
            ax.plot(xi - width / 2, r["test_accuracy"], "o", color="black", ms=4)
    ax.plot([], [], "o", color="black", ms=4, label="the configured seed; line: range over seeds")
    ax.bar(x + width / 2, ref, width, label="report")
    for xi, v, r in zip(x, mean, summary):
        label = f"{v:.2f}" if r["seeds"] else "diverged"
        ax.text(xi - width / 2, v + number(r["seed_sd"]) + 0.6, label, ha="center", fontsize=8)
    ax.set_xticks(x, [run_title(r["lam"], r["eta"]) for r in summary])
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, max([*mean, *ref, 10]) * 1.2)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)


def grid_heatmap(grid: list[dict], path, val_images: int) -> None:
    """The grid's points (rows of grid.csv): lam down, eta across, one panel per n_batch; each
    cell coloured by the point's probability of being the best (a bootstrap of the validation
    images and the seeds), with its mean validation accuracy (%) over seeds; the chosen point
    framed, a diverged point marked as such."""
    batches = sorted({r["n_batch"] for r in grid})
    lams, etas = sorted({r["lam"] for r in grid}), sorted({r["eta"] for r in grid})
    ok = [r for r in grid if r["status"] == "ok"]
    best = max(ok, key=lambda r: r["val_accuracy"]) if ok else None
    seeds = max([r["seeds"] for r in ok], default=0)
    width = max(5.5, 1.6 + 1.1 * len(etas) * len(batches))
    fig, axes = plt.subplots(1, len(batches), figsize=(width, 2.4 + 0.55 * len(lams)),
                             squeeze=False, constrained_layout=True)  # fmt: skip
    image = None
    for ax, n_batch in zip(axes[0], batches):
        cells = np.full((len(lams), len(etas)), np.nan)
        for r in (r for r in grid if r["n_batch"] == n_batch):
            i, j = lams.index(r["lam"]), etas.index(r["eta"])
            if r["status"] == "ok":
                cells[i, j] = r["p_best"] if r["p_best"] is not None else np.nan
                text = f"{r['val_accuracy']:.2f} %\nP {r['p_best'] or 0:.2f}"
            else:
                text = "diverged"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white"
                    if (r["p_best"] or 0) < 0.5 else "black")  # fmt: skip
        image = ax.imshow(cells, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        if best is not None and best["n_batch"] == n_batch:
            i, j = lams.index(best["lam"]), etas.index(best["eta"])
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5, ec="red"))
        ax.set_xticks(range(len(etas)), [f"{e:g}" for e in etas])
        ax.set_yticks(range(len(lams)), [f"{v:g}" for v in lams])
        ax.set_xlabel("η")
        ax.set_ylabel("λ")
        ax.set_title(f"n_batch = {n_batch}")
    fig.suptitle(f"validation accuracy: mean over {seeds} seed{'s' if seeds != 1 else ''}, "
                 f"{val_images:,} images\nP: probability of being the best (a bootstrap\nof the "
                 "images and the seeds); framed: the choice", fontsize=9)  # fmt: skip
    fig.colorbar(image, ax=axes[0].tolist(), label="probability of being the best")
    save(fig, path)


def peer_bars(rows: list[dict], path) -> None:
    """Test accuracy over seeds of our retrain and of each published recipe (rows of
    results/peers/comparison.csv): the mean (a dot) with one sd (the thick bar) and the range
    (the thin line), the number each source published (on the official archive) as a cross."""
    fig, ax = plt.subplots(figsize=(8, 4))
    margins(fig, left=0.7, top=0.3, bottom=0.45)
    for x, r in enumerate(rows):
        color = "tab:green" if x == 0 else "tab:blue"
        if r["seeds"]:
            ax.vlines(x, r["test_min"], r["test_max"], color=color, lw=1)
            ax.errorbar(x, r["test_mean"], yerr=r["test_sd"] or 0.0, fmt="o", color=color,
                        elinewidth=4, capsize=0)  # fmt: skip
            ax.annotate(f"{r['test_mean']:.2f}", (x, r["test_mean"]), xytext=(8, -3),
                        textcoords="offset points", fontsize=8)  # fmt: skip
        if r["published"] is not None:
            ax.plot(x, r["published"], "x", color="red", ms=8)
    ax.plot([], [], "o", color="tab:blue", label="trained here: mean, ± 1 sd, range over seeds")
    ax.plot([], [], "x", color="red", label="published (official archive)")
    ax.set_xticks(range(len(rows)), [r["recipe"] for r in rows], fontsize=8)
    ax.set_xlim(-0.5, len(rows) - 0.5)
    ax.set_ylabel("test accuracy (%)")
    values = [v for r in rows for v in (r["test_min"], r["test_max"], r["published"]) if v is not None]
    if values:
        ax.set_ylim(min(values) - 0.3, max(values) + 0.3)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)


LOSS_NAMES = {"softmax": "softmax + cross-entropy", "bce": "sigmoid + binary cross-entropy"}


def _settings(runs: dict) -> list:
    """The settings of {(setting, loss): ...} in the order they first appear."""
    return list(dict.fromkeys(setting for setting, _ in runs))


def truth_histograms(truth: dict, path, titles: dict) -> None:
    """Per (setting, loss): the histogram of the probability of the true class over the test
    images, correctly and incorrectly classified apart; softmax | BCE side by side, one row
    per setting (titled ``titles[setting]``), the same 20 bins on [0, 1] everywhere."""
    settings = _settings(truth)
    fig, axes = plt.subplots(len(settings), 2, figsize=(10, 3.2 * len(settings) + 0.4),
                             squeeze=False, sharex=True, constrained_layout=True)  # fmt: skip
    bins = np.linspace(0, 1, 21)
    for row, setting in zip(axes, settings):
        for ax, loss in zip(row, LOSS_NAMES):
            if (setting, loss) not in truth:
                ax.set_axis_off()
                continue
            p, correct = truth[(setting, loss)]
            ax.hist(p[correct], bins=bins, alpha=0.6, label=f"correct ({correct.sum()})")
            ax.hist(p[~correct], bins=bins, alpha=0.6, label=f"incorrect ({(~correct).sum()})")
            ax.set_title(f"{LOSS_NAMES[loss]}, {titles[setting]}", fontsize=10)
            ax.set_xlabel("probability of the true class")
            ax.set_ylabel("test images")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
    save(fig, path)


def loss_curves(histories: dict, path, titles: dict) -> None:
    """Per (setting, loss): training and validation loss over the epochs, to see overfitting;
    each loss on its own axis (their scales differ), one row per setting."""
    settings = _settings(histories)
    fig, axes = plt.subplots(len(settings), 2, figsize=(10, 3.2 * len(settings) + 0.4),
                             squeeze=False, constrained_layout=True)  # fmt: skip
    for row, setting in zip(axes, settings):
        for ax, loss in zip(row, LOSS_NAMES):
            if (setting, loss) not in histories:
                ax.set_axis_off()
                continue
            _curves_on([ax], histories[(setting, loss)])  # the loss only
            ax.set_title(f"{LOSS_NAMES[loss]}, {titles[setting]}", fontsize=10)
            ax.legend(fontsize=8)
    save(fig, path)
