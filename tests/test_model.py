"""The maths of model.py against small cases computed by hand."""

import numpy as np
import pytest

from onelayer import model


def test_softmax_columns_are_probabilities_and_shift_invariant():
    S = np.array([[1.0, 1000.0], [2.0, 1001.0], [3.0, 999.0]])
    P = model.softmax(S)
    assert np.allclose(P.sum(axis=0), 1)
    assert np.all(np.isfinite(P))  # 1000 would overflow exp() without the max shift
    assert np.allclose(P[:, 0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    assert np.allclose(
        P[:, 1], model.softmax(S[:, 1:] - 998)[:, 0]
    )  # shifting a column changes nothing


def test_cross_entropy_by_hand():
    # two classes, two samples: p_y = softmax column entries of the true class
    S = np.array([[0.0, 2.0], [np.log(3.0), 0.0]])
    y = np.array([1, 0])
    p1 = 3 / (1 + 3)  # sample 0: class 1 has exp(log 3) = 3 against exp(0) = 1
    p2 = np.exp(2) / (np.exp(2) + 1)
    assert model.cross_entropy(S, y) == pytest.approx((-np.log(p1) - np.log(p2)) / 2)


def test_cost_adds_lambda_times_squared_weights():
    W = np.array([[1.0, -2.0], [0.5, 0.0]])
    b = np.zeros((2, 1))
    X = np.array([[1.0], [1.0]])
    y = np.array([0])
    loss = model.cross_entropy(model.scores(W, b, X), y)
    assert model.cost(W, b, X, y, lam=0.3) == pytest.approx(loss + 0.3 * (1 + 4 + 0.25))
    assert model.cost(W, b, X, y, lam=0.0) == pytest.approx(loss)


def test_scores_is_W_X_plus_b():
    rng = np.random.default_rng(0)
    W, X, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=(3, 1))
    assert np.allclose(model.scores(W, b, X), W @ X + b)
    assert np.allclose(model.scores(W, b, np.asfortranarray(X)), W @ X + b)


def test_gradients_by_hand_one_sample():
    # K = 2, d = 1, n = 1: s = (w1 x + b1, w2 x + b2); with W = 0, b = 0: p = (1/2, 1/2)
    W = np.zeros((2, 1))
    b = np.zeros((2, 1))
    X = np.array([[2.0]])
    y = np.array([0])
    gW, gb = model.gradients(W, b, X, y, lam=0.0)
    # G = P - Y = (-1/2, 1/2); dW = G x^T = (-1, 1); db = G
    assert np.allclose(gW, [[-1.0], [1.0]])
    assert np.allclose(gb, [[-0.5], [0.5]])


def test_gradients_include_two_lambda_W():
    rng = np.random.default_rng(1)
    W, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 1))
    X, y = rng.normal(size=(4, 6)), rng.integers(0, 3, size=6)
    g0, _ = model.gradients(W, b, X, y, lam=0.0)
    g1, _ = model.gradients(W, b, X, y, lam=0.25)
    assert np.allclose(g1 - g0, 0.5 * W)


def test_accuracy_counts_argmax_hits():
    S = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 0.0]])
    assert model.accuracy(S, np.array([0, 1, 1])) == pytest.approx(2 / 3)


def test_init_params_is_the_handouts_draw():
    W, b = model.init_params(10, 3072, seed=42)
    expected = 0.01 * np.random.default_rng(42).standard_normal(size=(10, 3072))
    assert np.array_equal(W, expected)
    assert b.shape == (10, 1) and not b.any()
