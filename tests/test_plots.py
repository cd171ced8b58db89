"""Figures are written at their fixed size, are not blank, and put class i's image from row i."""

import numpy as np
import pytest
from matplotlib.image import imread

from onelayer import plots

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def history(n=5):
    e = np.arange(1, n + 1)
    return dict(epoch=e, train_loss=2 / e, val_loss=2.1 / e, train_cost=2.5 / e, val_cost=2.6 / e,
                train_accuracy=0.1 * e, val_accuracy=0.09 * e)  # fmt: skip


def assert_png(path, width, height):
    img = imread(path)
    assert img.shape[:2] == (height, width)
    assert img[..., :3].std() > 0.01  # not blank


def test_curves_png(tmp_path):
    plots.curves(history(), 0.1, 0.001, tmp_path / "curves.png")
    assert_png(tmp_path / "curves.png", 1000, 400)


def test_weights_png(tmp_path):
    W = np.random.default_rng(0).normal(size=(10, 3072))
    plots.weights(W, NAMES, 0.0, 0.1, tmp_path / "weights.png")
    assert_png(tmp_path / "weights.png", 1200, 190)


def test_weight_image_i_comes_from_row_i():
    # row i: red plane = i, green = 0, blue = 0 except one pixel, so each image is identifiable
    W = np.zeros((10, 3072))
    for i in range(10):
        W[i, :1024] = 1.0
        W[i, 2048 + i] = 5.0  # a bright blue pixel at (row 0, column i)
    imgs = plots.weight_images(W)
    assert imgs.shape == (10, 32, 32, 3)
    for i in range(10):
        assert imgs[i, 0, i, 2] == 1.0 and imgs[i, 0, i].argmax() == 2
        assert imgs[i, 5, 5, 0] == pytest.approx(0.2)  # min-max per image: 1 of 0..5
        assert imgs[i].min() == 0.0 and imgs[i].max() == 1.0


def test_overviews_and_bars(tmp_path):
    rng = np.random.default_rng(1)
    runs = [dict(name=f"r{i}", lam=i / 10, eta=0.001, history=history(), W=rng.normal(size=(10, 3072)))
            for i in range(3)]  # fmt: skip
    runs[2]["W"] = np.full((10, 3072), np.nan)  # a diverged run draws, marked
    runs[2]["diverged_epoch"] = 3
    plots.overview_curves(runs, tmp_path / "c.png")
    plots.overview_weights(runs, NAMES, tmp_path / "w.png")
    summary = [dict(lam=0.0, eta=0.1, test_accuracy=30.0, report_accuracy=28.77, status="ok",
                    seeds=5, seed_mean=29.0, seed_sd=1.2, seed_min=27.5, seed_max=30.5),
               dict(lam=0.1, eta=0.001, test_accuracy=None, report_accuracy=39.4, seeds=0,
                    seed_mean=None, seed_sd=None, seed_min=None, seed_max=None,
                    status="diverged at epoch 2")]  # fmt: skip
    plots.accuracy_bars(summary, tmp_path / "a.png")
    assert_png(tmp_path / "c.png", 1000, int(100 * (2.6 * 3 + 0.6)))
    assert_png(tmp_path / "a.png", 800, 400)
    assert imread(tmp_path / "w.png").shape[1] == 1200


def test_same_inputs_same_bytes(tmp_path):
    plots.curves(history(), 0.1, 0.001, tmp_path / "a.png")
    plots.curves(history(), 0.1, 0.001, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_curves_join_the_epochs_that_were_evaluated(tmp_path):
    """With eval_train_every > 1 the training rows between evaluations are NaN: the curve is
    drawn through the evaluated epochs, not left out."""
    import matplotlib

    h = history(6)
    h["train_loss"] = np.where(np.arange(1, 7) % 3 == 0, h["train_loss"], np.nan)
    fig, axes = matplotlib.pyplot.subplots(1, 2)
    plots._curves_on(axes, h)
    train_line = axes[0].get_lines()[0]
    assert list(train_line.get_xdata()) == [3, 6]
    matplotlib.pyplot.close(fig)


def test_the_heatmap_colours_each_point_by_its_probability_of_being_best(tmp_path, monkeypatch):
    """The colour is the probability of being the best, on a fixed 0 to 1 scale (so that a
    grid of look-alikes looks alike, whatever their spread of accuracies); each cell says its
    mean validation accuracy and that probability; the choice (the highest mean) is framed."""
    limits, texts, frames = {}, [], []
    real_imshow, real_text, real_patch = (plots.plt.Axes.imshow, plots.plt.Axes.text,
                                          plots.plt.Axes.add_patch)  # fmt: skip

    def spy_imshow(self, cells, **kw):
        limits.update(vmin=kw["vmin"], vmax=kw["vmax"], cells=np.array(cells))
        return real_imshow(self, cells, **kw)

    def spy_text(self, x, y, s, **kw):
        texts.append(s)
        return real_text(self, x, y, s, **kw)

    def spy_patch(self, patch):
        frames.append(patch.get_xy())
        return real_patch(self, patch)

    monkeypatch.setattr(plots.plt.Axes, "imshow", spy_imshow)
    monkeypatch.setattr(plots.plt.Axes, "text", spy_text)
    monkeypatch.setattr(plots.plt.Axes, "add_patch", spy_patch)
    p_best = [0.0, 0.05, 0.1, 0.05, 0.1, 0.3, 0.0, 0.15, 0.25]
    grid = [dict(lam=lam, eta=eta, n_batch=200, status="ok", seeds=2, val_accuracy=41.5 + 0.1 * i,
                 p_best=p_best[i])
            for i, (lam, eta) in enumerate((l, e) for l in (1e-3, 3e-3, 1e-2)
                                           for e in (0.0025, 0.005, 0.01))]  # fmt: skip
    grid[3]["status"] = "diverged"
    plots.grid_heatmap(grid, tmp_path / "h.png", val_images=1000)
    assert (limits["vmin"], limits["vmax"]) == (0, 1)
    assert limits["cells"][1, 2] == 0.3 and np.isnan(limits["cells"][1, 0])
    assert "42.30 %\nP 0.25" in texts and "diverged" in texts
    assert frames == [(2 - 0.5, 2 - 0.5)]  # lam 0.01, eta 0.01: the highest mean
    assert imread(tmp_path / "h.png")[..., :3].std() > 0.01
