"""Figures are written at their fixed size, are not blank, and put class i's image from row i."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from onelayer import plots

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def history(n=5):
    e = np.arange(1, n + 1)
    return pd.DataFrame(dict(epoch=e, train_loss=2 / e, val_loss=2.1 / e, train_cost=2.5 / e,
                             val_cost=2.6 / e, train_accuracy=0.1 * e, val_accuracy=0.09 * e))  # fmt: skip


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
    summary = pd.DataFrame(dict(lam=[0.0, 0.1], eta=[0.1, 0.001], test_accuracy=[30.0, None],
                                report_accuracy=[28.77, 39.4], status=["ok", "diverged at epoch 2"]))  # fmt: skip
    plots.accuracy_bars(summary, tmp_path / "a.png")
    assert_png(tmp_path / "c.png", 1000, int(100 * (2.6 * 3 + 0.6)))
    assert_png(tmp_path / "a.png", 800, 400)
    assert imread(tmp_path / "w.png").shape[1] == 1200


def test_same_inputs_same_bytes(tmp_path):
    plots.curves(history(), 0.1, 0.001, tmp_path / "a.png")
    plots.curves(history(), 0.1, 0.001, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
