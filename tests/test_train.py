"""Training: the author's semantics, checked against an independent plain loop of the spec."""

import sys

import numpy as np
import pytest
from conftest import fit

from onelayer import model
from onelayer.backends import NumpyBackend
from onelayer.dataset import PixelMap, TrainingData, normalise
from onelayer.errors import SettingsError
from onelayer.preprocess import train_statistics
from onelayer.reference import plain_loop
from onelayer.runs import history_csv
from onelayer.settings import TrainSettings
from onelayer.train import evaluates_beside


def learnable(d=30, n=200, K=10, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, size=n)
    centres = rng.normal(size=(d, K))
    X = centres[:, y] + 0.5 * rng.normal(size=(d, n))
    return np.asfortranarray(X.astype(dtype)), y


backends = pytest.mark.parametrize("backend", ["native", "numpy"])


@backends
@pytest.mark.parametrize("lam, eta", [(0.0, 0.05), (0.1, 0.01)])
def test_matches_plain_reference_loop(lam, eta, backend):
    X, y = learnable()
    r = fit(X, y, X, y, lam=lam, eta=eta, n_batch=20, n_epochs=3, seed=7, backend=backend)
    # The plain loop of the spec that users write, also the benchmark's baseline.
    W_ref, b_ref, _ = plain_loop(X, y, X, y, lam, eta, n_batch=20, n_epochs=3, seed=7)
    assert np.allclose(r.W, W_ref, atol=1e-12) and np.allclose(r.b, b_ref, atol=1e-12)


@backends
def test_history_has_one_row_per_epoch_with_consistent_cost(backend):
    X, y = learnable()
    r = fit(X, y, X[:, :50], y[:50], lam=0.5, eta=0.01, n_batch=10, n_epochs=4, seed=1,
              backend=backend)  # fmt: skip
    assert [h["epoch"] for h in r.history] == [1, 2, 3, 4]
    last = r.history[-1]
    assert last["train_cost"] == pytest.approx(last["train_loss"] + 0.5 * np.sum(r.W**2))
    assert last["val_loss"] == pytest.approx(
        model.cross_entropy(model.scores(r.W, r.b, X[:, :50]), y[:50])
    )
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    assert r.history[-1]["train_accuracy"] > 0.5  # the data is learnable


@backends
def test_same_inputs_same_numbers_float32(backend):
    X, y = learnable(dtype=np.float32)
    a = fit(X, y, X, y, lam=0.1, eta=0.01, n_batch=20, n_epochs=2, seed=3, backend=backend)
    b = fit(X, y, X, y, lam=0.1, eta=0.01, n_batch=20, n_epochs=2, seed=3, backend=backend)
    assert a.W.dtype == np.float32
    assert np.array_equal(a.W, b.W) and a.history == b.history


@backends
def test_every_configuration_starts_from_the_same_W(backend):
    X, y = learnable()
    a = fit(X, y, X, y, lam=0.0, eta=1e-12, n_batch=20, n_epochs=1, seed=42, backend=backend)
    W0, _ = model.init_params(10, X.shape[0], 42)
    assert np.allclose(a.W, W0, atol=1e-9)


@backends
def test_divergence_is_detected_and_training_stops(backend):
    X, y = learnable()
    y = np.random.default_rng(9).permutation(y)  # labels unrelated to X: no W fits them
    r = fit(X * 100, y, X, y, lam=0.0, eta=1e4, n_batch=20, n_epochs=10, seed=0,
              backend=backend)  # fmt: skip
    assert r.diverged_epoch == 1
    assert len(r.history) == 1


def test_n_batch_larger_than_training_set_is_refused():
    X, y = learnable(n=30)
    with pytest.raises(SettingsError, match="n_batch = 31 must be at most the 30 images"):
        fit(X, y, X, y, lam=0.0, eta=0.1, n_batch=31, n_epochs=1)


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_change_nothing_but_speed(dtype, backend):
    X, y = learnable(d=3072, n=300, dtype=dtype)
    a, b = (
        fit(X, y, X[:, :100], y[:100], lam=0.1, eta=0.01, n_batch=30, n_epochs=3, seed=5,
              threads=threads, backend=backend)  # fmt: skip
        for threads in (1, 2)
    )
    assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
    assert a.history == b.history


@backends
@pytest.mark.parametrize("every", [1, 10], ids=["evaluation beside", "epochs shared out"])
def test_threads_change_nothing_in_either_way_of_using_them(every, backend, more_threads_than_cpus):
    """The report's runs (full evaluation every epoch) evaluate beside the next epoch; the
    recipe's (a sample every tenth epoch) share each epoch out: 1, 2 and 3 threads, one
    history and one model either way."""
    X, y = learnable(d=3072, n=400, dtype=np.float32)
    kw = dict(lam=0.1, eta=0.01, n_batch=40, n_epochs=12, seed=5, eval_train_every=every,
              eval_train_subset=0 if every == 1 else 50, backend=backend)  # fmt: skip
    assert evaluates_beside(TrainSettings(**kw), 400, 100, 2) == (every == 1)
    runs = [fit(X, y, X[:, :100], y[:100], threads=t, **kw) for t in (1, 2, 3)]
    for r in runs[1:]:
        assert r.W.tobytes() == runs[0].W.tobytes()
        assert history_csv(r.history) == history_csv(runs[0].history)  # NaN rows too


def test_the_evaluation_goes_beside_when_it_costs_half_the_training():
    report = TrainSettings(lam=0, eta=0.001)  # 10,000 images, both sets after every epoch
    recipe = TrainSettings(lam=0, eta=0.005, n_batch=200, eval_train_every=10,
                           eval_train_subset=5000)  # fmt: skip
    assert evaluates_beside(report, 10000, 10000, 2) and not evaluates_beside(report, 10000, 10000, 1)
    assert not evaluates_beside(recipe, 49000, 1000, 2)
    # at the threshold: scores per epoch = half the training's two passes
    assert evaluates_beside(report, 1000, 0, 2)
    assert not evaluates_beside(report.replace(eval_train_every=2), 1000, 0, 2)


def test_padded_classes_change_nothing():
    X, y = learnable()
    data = TrainingData(y, y, X, X)
    W0, b0 = model.init_params(10, X.shape[0], 3)
    out = []
    for K_pad in (10, 16):
        loop = NumpyBackend(data, np.float64, "softmax", 10, K_pad=K_pad)
        loop.start(W0, b0)
        rng = np.random.default_rng(3)
        for _ in range(2):
            loop.epoch(rng.permutation(y.size), 20, 0.05, 0.1)
        out.append(loop.model(loop.parameters()))
    (Wa, ba), (Wb, bb) = out
    assert Wa.shape == Wb.shape == (10, 30)
    assert np.allclose(Wa, Wb, atol=1e-12) and np.allclose(ba, bb, atol=1e-12)


@backends
def test_divergence_stops_at_the_same_epoch_with_two_threads(backend):
    X, y = learnable()
    y = np.random.default_rng(9).permutation(y)
    kw = dict(lam=0.0, eta=1e4, n_batch=20, n_epochs=10, seed=0, backend=backend)
    one = fit(X * 100, y, X, y, threads=1, **kw)
    two = fit(X * 100, y, X, y, threads=2, **kw)
    assert one.diverged_epoch == two.diverged_epoch == 1
    assert np.array_equal(one.W, two.W, equal_nan=True) and len(two.history) == 1


def test_the_two_backends_agree_to_float32_rounding():
    """Same maths, different order of operations: close numbers, not equal bits."""
    X, y = learnable(d=3072, n=200, dtype=np.float32)
    kw = dict(lam=0.1, eta=0.01, n_batch=20, n_epochs=3, seed=5)
    a = fit(X, y, X[:, :100], y[:100], backend="native", **kw)
    b = fit(X, y, X[:, :100], y[:100], backend="numpy", **kw)
    assert np.allclose(a.W, b.W, atol=1e-5) and np.allclose(a.b, b.b, atol=1e-5)
    for ra, rb in zip(a.history, b.history):
        assert ra["train_cost"] == pytest.approx(rb["train_cost"], rel=1e-5)
        assert abs(ra["val_accuracy"] - rb["val_accuracy"]) <= 0.01


def test_unknown_backend_is_refused():
    X, y = learnable(n=30)
    with pytest.raises(ValueError, match="backend must be one of"):
        fit(X, y, X, y, lam=0.0, eta=0.1, n_batch=10, n_epochs=1, backend="fortran")


def test_training_needs_no_torch(tmp_path):
    """Only the gradient check imports torch: a run trains and writes its folder without it."""
    import subprocess

    X, y = learnable(d=3072, n=60)
    data = tmp_path / "d.npz"
    np.savez(data, X_train=X, y_train=y, X_val=X, y_val=y, X_test=X, y_test=y)
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any 'import torch' now raises ImportError
        "from onelayer.runs import run\n"
        "from onelayer.settings import TrainSettings\n"
        "s = TrainSettings(lam=0.1, eta=0.01, n_batch=20, n_epochs=2)\n"
        "m = run(sys.argv[1], s, sys.argv[2])\n"
        "assert m['status'] == 'ok' and 'torch' not in [k for k, v in sys.modules.items() if v]\n"
    )
    subprocess.run([sys.executable, "-c", code, str(data), str(tmp_path / "run")], check=True)
    assert (tmp_path / "run" / "metrics.json").exists()


def learnable_pixels(d=30, n=200, n_val=60, seed=0):
    """Learnable images as raw bytes (training, then validation), the features preprocessing
    makes of them, and their map."""
    X, y = learnable(d, n + n_val, seed=seed)
    U = np.clip(np.rint(128 + 40 * X.T), 0, 255).astype(np.uint8)  # n x d, one image per row
    F = U.T / 255.0
    mean, std = train_statistics(U[:n])
    feats = normalise(F, mean, std, np.float64)
    return feats[:, :n], y[:n], feats[:, n:], y[n:], U, PixelMap.from_statistics(mean, std)


@backends
def test_pixels_train_as_their_features_do(backend, monkeypatch):
    """The native backend reads the bytes (the numpy one ignores them): same maths, same
    numbers to rounding; and, like the features, the same bits whatever the threads."""
    from onelayer import native

    read = []  # the dtype of every set of images a native kernel was given

    def spy_on(kernel):
        def spy(W, b, XT, *args, **kwargs):
            read.append(XT.dtype)
            return kernel(W, b, XT, *args, **kwargs)

        return spy

    for name in ("sgd_epoch", "loss_and_accuracy"):
        monkeypatch.setattr(native, name, spy_on(getattr(native, name)))
    X, y, Xv, yv, U, pm = learnable_pixels()
    kw = dict(lam=0.1, eta=0.02, n_batch=20, n_epochs=3, seed=5, backend=backend)
    a = fit(X, y, Xv, yv, U, pm, **kw)
    assert set(read) == ({np.dtype(np.uint8)} if backend == "native" else set())
    b = fit(X, y, Xv, yv, **kw)
    assert np.allclose(a.W, b.W, atol=1e-10) and np.allclose(a.b, b.b, atol=1e-10)
    for ra, rb in zip(a.history, b.history):
        assert ra == pytest.approx(rb, rel=1e-9)
    assert a.history[-1]["val_accuracy"] > 0.5
    X32, Xv32 = np.asfortranarray(X, np.float32), np.asfortranarray(Xv, np.float32)
    one = fit(X32, y, Xv32, yv, U, pm, threads=1, **kw)
    two = fit(X32, y, Xv32, yv, U, pm, threads=2, **kw)
    assert one.W.dtype == np.float32
    assert np.array_equal(one.W, two.W) and one.history == two.history


def test_pixels_of_other_images_are_refused():
    X, y, Xv, yv, U, pm = learnable_pixels()
    other = learnable_pixels(seed=1)
    with pytest.raises(ValueError, match="pixels of train do not map to its features"):
        fit(X, y, Xv, yv, other[4], pm, lam=0.0, eta=0.01, n_batch=20, n_epochs=1)


def test_a_run_reads_the_pixels_when_the_data_has_them(tmp_path, caplog):
    """runs.run passes the file's pixels to training; a file written before they were kept
    still trains, on the features, and the log says how to get the faster path."""
    from onelayer.runs import run
    from onelayer.settings import TrainSettings

    X, y, Xv, yv, U, pm = learnable_pixels(d=40)
    arrays = dict(
        X_train=X, y_train=y, X_val=Xv, y_val=yv, X_test=Xv, y_test=yv, mean=pm.mean, std=pm.std
    )
    np.savez(tmp_path / "old.npz", **arrays)
    np.savez(tmp_path / "new.npz", **arrays, pixels_train=U[: y.size], pixels_val=U[y.size :])
    s = TrainSettings(lam=0.1, eta=0.02, n_batch=20, n_epochs=2, dtype="float64")
    with caplog.at_level("WARNING"):
        new = run(tmp_path / "new.npz", s, tmp_path / "a")
    assert "no raw pixels" not in caplog.text
    with caplog.at_level("WARNING"):
        old = run(tmp_path / "old.npz", s, tmp_path / "b")
    assert "old.npz has no raw pixels" in caplog.text and "rerun the preprocess rule" in caplog.text
    assert new["test_accuracy"] == old["test_accuracy"]
    assert new["final_train_loss"] == pytest.approx(old["final_train_loss"], rel=1e-9)


def plain_bce_loop(X, y, lam, eta, n_batch, n_epochs, seed, K=10):
    """The spec's loop for the second loss, written plainly: p = sigmoid(s) from scratch
    (1 / (1 + exp(-s)), fine for the moderate scores here), G = (p - Y) / (K n)."""
    d, n = X.shape
    W, b = model.init_params(K, d, seed)
    rng = np.random.default_rng(seed)
    Y = model.one_hot(y, K)
    for _ in range(n_epochs):
        perm = rng.permutation(n)
        for j in range(n // n_batch):
            idx = perm[j * n_batch : (j + 1) * n_batch]
            P = 1 / (1 + np.exp(-(W @ X[:, idx] + b)))
            G = (P - Y[:, idx]) / (K * idx.size)
            W, b = W - eta * (G @ X[:, idx].T + 2 * lam * W), b - eta * G.sum(axis=1, keepdims=True)
    return W, b


@backends
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_training_is_the_plain_bce_loop(backend, dtype):
    X, y = learnable(dtype=dtype)
    r = fit(X, y, X, y, lam=0.1, eta=0.5, n_batch=20, n_epochs=3, seed=7, backend=backend,
            loss="bce")  # fmt: skip
    W_ref, b_ref = plain_bce_loop(X.astype(np.float64), y, 0.1, 0.5, 20, 3, 7)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert r.W.dtype == dtype
    assert np.allclose(r.W, W_ref, atol=tol) and np.allclose(r.b, b_ref, atol=tol)
    last = r.history[-1]  # the history's loss is the BCE of the model
    S = model.scores(r.W.astype(np.float64), r.b.astype(np.float64), X.astype(np.float64))
    assert last["train_loss"] == pytest.approx(model.binary_cross_entropy(S, y), rel=10 * tol)
    assert last["train_accuracy"] == model.accuracy(S, y) > 0.5


@backends
def test_bce_stays_finite_where_scores_are_huge(backend):
    """Scores in the thousands: the log-sigmoid form has no log(0) and no overflow."""
    X, y = learnable()
    r = fit(1000 * X, y, 1000 * X, y, lam=0.0, eta=5.0, n_batch=20, n_epochs=2, seed=1,
            backend=backend, loss="bce", diverge_factor=1e9)  # fmt: skip
    S = model.scores(r.W, r.b, 1000 * X)
    assert np.abs(S).max() > 1000
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"]) for h in r.history)
    assert r.diverged_epoch is None and np.all(np.isfinite(r.W))


def test_an_unknown_loss_is_refused():
    X, y = learnable(n=30)
    with pytest.raises(ValueError, match="loss must be one of"):
        fit(X, y, X, y, lam=0.0, eta=0.1, n_batch=10, n_epochs=1, loss="hinge")
