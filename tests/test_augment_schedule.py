"""Horizontal flips and eta schedules (the handout's bonus 2.1 (b), (d)): each against a plain
numpy version of the same step, in both backends."""

import numpy as np
import pytest

from onelayer import model
from onelayer.augment import flip_horizontal
from onelayer.preprocess import Pixels
from onelayer.schedule import check, eta_at
from onelayer.train import train

backends = pytest.mark.parametrize("backend", ["native", "numpy"])


def test_a_flip_mirrors_every_row_of_every_channel():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)
    flipped = flip_horizontal(images)
    planes, mirrored = images.reshape(3, 3, 32, 32), flipped.reshape(3, 3, 32, 32)
    for c in range(3):
        for r in (0, 17, 31):
            assert np.array_equal(mirrored[1, c, r], planes[1, c, r, ::-1])
    assert mirrored[2, 1, 5, 0] == planes[2, 1, 5, 31]
    assert np.array_equal(flip_horizontal(flipped), images) and not np.array_equal(flipped, images)
    with pytest.raises(ValueError, match="not planes of 32 x 32"):
        flip_horizontal(images[:, :100])


def test_step_and_cosine_schedules():
    step = {"kind": "step", "factor": 10, "every": 20}
    assert [eta_at(step, 0.1, e, 40) for e in (1, 20, 21, 40)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01]
    )
    cosine = {"kind": "cosine", "eta_min": 0.001}
    assert eta_at(cosine, 0.1, 1, 41) == pytest.approx(0.1)
    assert eta_at(cosine, 0.1, 21, 41) == pytest.approx(0.0505)  # half way: the mean
    assert eta_at(cosine, 0.1, 41, 41) == pytest.approx(0.001)
    assert eta_at(None, 0.1, 7, 40) == eta_at({"kind": "constant"}, 0.1, 7, 40) == 0.1
    for bad, message in (({"kind": "linear"}, "kind must be one of"),
                         ({"kind": "step", "factor": 0.5}, "factor >= 1"),
                         ({"kind": "step", "every": 2.5}, "whole every"),
                         ({"kind": "cosine", "factor": 2}, "takes no factor")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            check(bad)


def reference(X, y, lam, eta, n_batch, n_epochs, seed, flip=0.0, sched=None):
    """The spec's loop, written plainly: per epoch a permutation, a coin per position (its own
    generator), and the batch's images mirrored where their coin says so."""
    d, n = X.shape
    W, b = model.init_params(10, d, seed, dtype=X.dtype)
    shuffles, coins = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    for epoch in range(1, n_epochs + 1):
        perm = shuffles.permutation(n)
        mirror = coins.random(n) < flip if flip > 0 else np.zeros(n, bool)
        rate = eta_at(sched, eta, epoch, n_epochs)
        for j in range(n // n_batch):
            at = slice(j * n_batch, (j + 1) * n_batch)
            Xb = X[:, perm[at]].copy()
            Xb[:, mirror[at]] = flip_horizontal(Xb[:, mirror[at]].T).T
            gW, gb = model.gradients(W, b, Xb, y[perm[at]], lam)
            W, b = W - rate * gW, b - rate * gb
    return W, b


def learnable(n=60, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    X = rng.normal(size=(3072, 10))[:, y] + 0.5 * rng.normal(size=(3072, n))
    return np.asfortranarray(X.astype(dtype)), y


@backends
@pytest.mark.parametrize("flip, sched", [(0.5, None), (0.0, {"kind": "step", "factor": 3, "every": 1}),
                                         (1.0, {"kind": "cosine", "eta_min": 0.0})])  # fmt: skip
def test_training_with_flips_and_schedules_is_the_plain_loop(backend, flip, sched):
    X, y = learnable()
    kw = dict(lam=0.01, eta=0.01, n_batch=15, n_epochs=3, seed=4)
    r = train(X, y, X, y, backend=backend, flip=flip, schedule=sched, **kw)
    W, b = reference(X, y, flip=flip, sched=sched, **kw)
    assert np.allclose(r.W, W, atol=1e-12) and np.allclose(r.b, b, atol=1e-12)
    if flip or sched:  # the setting changed the run: not the plain constant-eta one
        W0, _ = reference(X, y, **kw)
        assert not np.allclose(W, W0, atol=1e-6)


def test_without_flips_nothing_changes():
    """flip = 0 draws nothing: the report's runs keep their numbers."""
    X, y = learnable(dtype=np.float32)
    kw = dict(lam=0.1, eta=0.01, n_batch=20, n_epochs=2, seed=3)
    a, b = train(X, y, X, y, **kw), train(X, y, X, y, flip=0.0, schedule={"kind": "constant"}, **kw)
    assert np.array_equal(a.W, b.W) and a.history == b.history


def test_flipped_pixels_train_as_flipped_features_do():
    rng = np.random.default_rng(2)
    U = rng.integers(0, 256, size=(40, 3072), dtype=np.uint8)
    scale, shift = np.full(3072, 1 / 255 / 0.25), np.full(3072, -2.0)
    X = np.asfortranarray(scale[:, None] * U.T + shift[:, None])
    y = rng.integers(0, 10, size=40)
    pixels = Pixels(U[:30], U[30:], scale, shift)
    kw = dict(lam=0.0, eta=0.05, n_batch=10, n_epochs=2, seed=1, flip=0.5, backend="native")
    a = train(X[:, :30], y[:30], X[:, 30:], y[30:], pixels=pixels, **kw)
    b = train(X[:, :30], y[:30], X[:, 30:], y[30:], **kw)
    assert np.allclose(a.W, b.W, atol=1e-12) and not np.allclose(a.W, train(
        X[:, :30], y[:30], X[:, 30:], y[30:], **{**kw, "flip": 0.0}).W, atol=1e-6)  # fmt: skip


def test_a_flip_probability_outside_0_1_is_refused():
    X, y = learnable(n=20)
    with pytest.raises(ValueError, match="flip must be a probability"):
        train(X, y, X, y, lam=0.0, eta=0.1, n_batch=10, n_epochs=1, flip=1.5)


@backends
def test_averaging_returns_the_mean_of_the_last_epochs(backend):
    X, y = learnable()
    kw = dict(lam=0.01, eta=0.01, n_batch=15, seed=4, backend=backend)
    ends = [train(X, y, X, y, n_epochs=e, **kw) for e in (2, 3, 4)]  # W after epochs 2, 3, 4
    avg = train(X, y, X, y, n_epochs=4, average_last=3, **kw)
    assert np.allclose(avg.W, np.mean([r.W for r in ends], axis=0), atol=1e-14)
    assert np.allclose(avg.b, np.mean([r.b for r in ends], axis=0), atol=1e-14)
    assert avg.history == ends[-1].history  # the history is of the iterates, not the average
    with pytest.raises(ValueError, match="average_last must be 0 .. n_epochs"):
        train(X, y, X, y, n_epochs=2, average_last=3, **kw)
