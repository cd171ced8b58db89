"""Preprocessing: statistics of the training set only, applied to every split."""

import numpy as np
import pytest
from cifar_format import member_bytes, write_archive

from onelayer.cifar10 import extract
from onelayer.preprocess import load_processed, normalise, preprocess, train_statistics


def test_statistics_come_from_training_only():
    rng = np.random.default_rng(0)
    X_train = rng.uniform(0.0, 0.5, size=(6, 50))
    X_val = rng.uniform(0.5, 1.0, size=(6, 40))  # a brighter set: its own mean would differ
    mean, std = train_statistics(X_train)
    assert np.allclose(mean[:, 0], X_train.mean(axis=1))
    assert np.allclose(std[:, 0], X_train.std(axis=1, ddof=0))
    train = normalise(X_train, mean, std, np.float64)
    val = normalise(X_val, mean, std, np.float64)
    assert np.allclose(train.mean(axis=1), 0) and np.allclose(train.std(axis=1), 1)
    assert np.all(val.mean(axis=1) > 1)  # not re-centred on its own statistics


def test_constant_feature_stays_finite():
    X = np.ones((2, 5))
    X[1] = np.arange(5)
    mean, std = train_statistics(X)
    assert np.all(np.isfinite(normalise(X, mean, std)))


def test_preprocess_writes_splits_from_the_right_batches(tmp_path):
    write_archive(tmp_path / "a.tar.gz", member_bytes(n=11, seed=5))
    paths = dict(
        zip(
            ["b1", "b2", "b3", "b4", "b5", "test", "meta"], extract(tmp_path / "a.tar.gz", tmp_path)
        )
    )
    out = tmp_path / "p.npz"
    preprocess([paths["b1"]], [paths["b2"]], [paths["test"]], paths["meta"], out)
    a = load_processed(out)
    from onelayer.cifar10 import load_batch

    raw1, y1 = load_batch(paths["b1"])
    raw2, y2 = load_batch(paths["b2"])
    assert np.array_equal(a["y_train"], y1) and np.array_equal(a["y_val"], y2)
    assert a["X_train"].shape == (3072, 11) and a["X_train"].dtype == np.float32
    assert a["X_train"].flags["F_CONTIGUOUS"]  # each image contiguous
    X1 = raw1.T / 255.0
    expected = (X1 - X1.mean(axis=1, keepdims=True)) / X1.std(axis=1, keepdims=True)
    assert np.allclose(a["X_train"], expected, atol=1e-5)
    X2 = raw2.T / 255.0
    assert np.allclose(a["X_val"], (X2 - a["mean"]) / a["std"], atol=1e-5)
    assert list(a["label_names"])[:2] == ["airplane", "automobile"]
    assert pytest.approx(float(np.abs(a["X_val"].mean()))) != 0.0
