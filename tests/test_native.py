"""The native backend's C kernels: the same maths as onelayer.model, in both precisions, for the
shapes the kernels split into vector blocks and tails; and their build."""

import os
import subprocess
import sys

import numpy as np
import pytest

from onelayer import model, native

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-5, np.float64: 1e-12}


def problem(d, n, K=10, seed=0, dtype=np.float64):
    """A d x n problem with a random W and b, in the layouts of model (X) and native (X^T)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(d, n)).astype(dtype)
    y = rng.integers(0, K, size=n)
    W = (0.05 * rng.normal(size=(K, d))).astype(dtype)
    b = (0.1 * rng.normal(size=(K, 1))).astype(dtype)
    return X, y, W, b


def as_native(X, y, W, b):
    return np.ascontiguousarray(W), np.ascontiguousarray(b[:, 0]), np.ascontiguousarray(X.T), y


# d: 3072 (CIFAR-10), 10 (no full vector), 17 and 40 (vector blocks plus a tail); n: odd and
# more than one chunk of 16 images; K: 10 (the specialised code) and others (the general code).
SHAPES = [(3072, 37, 10), (10, 3, 10), (17, 5, 10), (40, 33, 3), (3072, 20, 16), (33, 1, 7)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d, n, K", SHAPES)
def test_scores_and_gradients_match_the_numpy_maths(d, n, K, dtype):
    check_feature_kernels(d, n, K, dtype)


def check_feature_kernels(d, n, K, dtype):
    X, y, W, b = problem(d, n, K, dtype=dtype)
    Wn, bn, XT, _ = as_native(X, y, W, b)
    tol = TOL[dtype]
    S = native.scores(Wn, bn, XT)
    assert S.dtype == dtype and S.shape == (n, K)
    assert np.allclose(S.T, model.scores(W, b, X), atol=tol, rtol=tol)
    for lam in (0.0, 0.7):
        gW, gb = native.gradients(Wn, bn, XT, y.astype(np.int64), lam)
        rW, rb = model.gradients(W, b, X, y, lam)
        assert np.allclose(gW, rW, atol=tol, rtol=tol) and np.allclose(gb, rb[:, 0], atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scores_of_chosen_rows(dtype):
    X, y, W, b = problem(3072, 50, dtype=dtype)
    Wn, bn, XT, _ = as_native(X, y, W, b)
    rows = np.array([49, 0, 7, 7, 23])
    assert np.array_equal(native.scores(Wn, bn, XT, rows=rows), native.scores(Wn, bn, XT)[rows])


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_and_accuracy_match_the_numpy_maths(dtype):
    X, y, W, b = problem(3072, 45, dtype=dtype)
    W *= 20  # confident scores: the log-sum-exp must stay stable
    loss, acc = native.loss_and_accuracy(*as_native(X, y.astype(np.int64), W, b))
    S = model.scores(W, b, X)
    assert loss == pytest.approx(model.cross_entropy(S, y), rel=TOL[dtype])
    assert acc == model.accuracy(S, y)
    assert isinstance(loss, float) and isinstance(acc, float)


def test_one_epoch_is_the_batches_of_the_permutation_and_drops_the_remainder():
    X, y, W, b = problem(40, 23, dtype=np.float64)
    Wn, bn, XT, _ = as_native(X, y, W, b)
    y64 = y.astype(np.int64)
    perm = np.random.default_rng(1).permutation(23)
    eta, lam, nb = 0.3, 0.05, 5
    W1, b1 = Wn.copy(), bn.copy()
    native.sgd_epoch(W1, b1, XT, y64, perm, nb, eta, lam)
    # The same steps through the numpy maths: 4 batches of 5; the last 3 images are not used.
    W2, b2 = W.copy(), b.copy()
    for j in range(23 // nb):
        idx = perm[j * nb : (j + 1) * nb]
        gW, gb = model.gradients(W2, b2, X[:, idx], y[idx], lam)
        W2, b2 = W2 - eta * gW, b2 - eta * gb
    assert np.allclose(W1, W2, atol=1e-12) and np.allclose(b1, b2[:, 0], atol=1e-12)


def pixel_problem(d, n, K=10, seed=0, dtype=np.float64):
    """Raw pixels U (n x d bytes), their affine map to features in ``dtype``, and the features
    X = scale U^T + shift (d x n, float64, from the map in ``dtype``), with a random W and b."""
    rng = np.random.default_rng(seed)
    U = rng.integers(0, 256, size=(n, d), dtype=np.uint8)
    scale = (rng.uniform(0.5, 2.0, size=d) / 255).astype(dtype)
    shift = rng.normal(size=d).astype(dtype)
    X = scale.astype(np.float64)[:, None] * U.T + shift.astype(np.float64)[:, None]
    y = rng.integers(0, K, size=n)
    W = (0.05 * rng.normal(size=(K, d))).astype(dtype)
    b = (0.1 * rng.normal(size=(K, 1))).astype(dtype)
    return U, (scale, shift), X, y, W, b


def check_pixel_kernels(d, n, K, dtype):
    """Scores, gradients and loss of the pixel kernels against the numpy maths on the features."""
    U, affine, X, y, W, b = pixel_problem(d, n, K, dtype=dtype)
    Wn, bn = np.ascontiguousarray(W), np.ascontiguousarray(b[:, 0])
    W64, b64 = W.astype(np.float64), b.astype(np.float64)
    tol = TOL[dtype]
    S = native.scores(Wn, bn, U, affine=affine)
    assert S.dtype == dtype and S.shape == (n, K)
    assert np.allclose(S.T, model.scores(W64, b64, X), atol=tol, rtol=tol)
    for lam in (0.0, 0.7):
        gW, gb = native.gradients(Wn, bn, U, y.astype(np.int64), lam, affine=affine)
        rW, rb = model.gradients(W64, b64, X, y, lam)
        assert np.allclose(gW, rW, atol=tol, rtol=tol) and np.allclose(gb, rb[:, 0], atol=tol)
    loss, acc = native.loss_and_accuracy(Wn, bn, U, y.astype(np.int64), affine=affine)
    S64 = model.scores(W64, b64, X)
    assert loss == pytest.approx(model.cross_entropy(S64, y), rel=tol)
    assert acc == model.accuracy(S64, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d, n, K", SHAPES)
def test_pixels_give_the_scores_gradients_and_loss_of_their_features(d, n, K, dtype):
    check_pixel_kernels(d, n, K, dtype)


def test_an_epoch_on_pixels_is_an_epoch_on_their_features():
    U, affine, X, y, W, b = pixel_problem(3072, 53, dtype=np.float64)
    y64, perm = y.astype(np.int64), np.random.default_rng(1).permutation(53)
    Wn, bn = np.ascontiguousarray(W), np.ascontiguousarray(b[:, 0])
    W1, b1, W2, b2 = Wn.copy(), bn.copy(), Wn.copy(), bn.copy()
    native.sgd_epoch(W1, b1, U, y64, perm, 10, 0.01, 0.1, affine=affine)
    native.sgd_epoch(W2, b2, np.ascontiguousarray(X.T), y64, perm, 10, 0.01, 0.1)
    assert not np.array_equal(W1, Wn)
    assert np.allclose(W1, W2, atol=1e-12) and np.allclose(b1, b2, atol=1e-12)


@pytest.mark.skipif(
    os.uname().machine not in ("x86_64", "AMD64"), reason="the builds below are x86 flag sets"
)
@pytest.mark.parametrize("flags", [["-O2", "-mavx2", "-mfma"], ["-O2"]], ids=["avx2", "generic"])
def test_other_builds_convert_pixels_alike(tmp_path, monkeypatch, flags):
    """The byte-to-float loader has one branch per instruction set, and keeping W in a register
    needs AVX-512; the machine's own build is tested above, the AVX2 one and the plain C one
    (what a compiler without -march=native builds) here."""
    path = tmp_path / "kernels.so"
    cmd = [os.environ.get("CC", "cc"), *flags, "-std=gnu11", "-fPIC", "-shared", "-o", str(path),
           str(native.SOURCES[0]), "-lm"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    monkeypatch.setattr(native, "library", lambda: native.load(path))
    for dtype in DTYPES:
        check_feature_kernels(40, 19, 10, dtype)
        check_pixel_kernels(40, 19, 10, dtype)


def test_pixels_need_their_affine_map_and_features_refuse_one():
    U, affine, X, y, W, b = pixel_problem(20, 4, dtype=np.float32)
    Wn, bn = np.ascontiguousarray(W), np.ascontiguousarray(b[:, 0])
    with pytest.raises(ValueError, match="need affine"):
        native.scores(Wn, bn, U)
    with pytest.raises(ValueError, match="for raw pixels"):
        native.scores(Wn, bn, np.ascontiguousarray(X.T, dtype=np.float32), affine=affine)
    with pytest.raises(ValueError, match="contiguous float32 arrays of 20 entries"):
        native.scores(Wn, bn, U, affine=(affine[0].astype(np.float64), affine[1]))
    with pytest.raises(ValueError, match="contiguous float32 arrays of 20 entries"):
        native.scores(Wn, bn, U, affine=(affine[0][:10], affine[1]))


def test_large_eta_is_not_slowed_by_denormals_and_leaves_the_callers_float_mode_alone():
    """The kernels flush denormal numbers only while they run."""
    X, y, W, b = problem(3072, 30, dtype=np.float32)
    Wn, bn, XT, _ = as_native(X, y, 300 * W, b)  # saturated softmax: tiny probabilities
    native.gradients(Wn, bn, XT, y.astype(np.int64), 0.0)
    tiny = np.float32(1e-39)  # a denormal float32
    assert tiny * np.float32(1) != 0  # still denormal after the call: mode restored
    assert np.float32(1e-38) / np.float32(100) != 0


def test_wrong_inputs_are_refused_before_reaching_c():
    X, y, W, b = problem(20, 4, dtype=np.float32)
    Wn, bn, XT, _ = as_native(X, y, W, b)
    with pytest.raises(TypeError, match="one dtype"):
        native.scores(Wn, bn, XT.astype(np.float64))
    with pytest.raises(ValueError, match="contiguous rows"):
        native.scores(Wn, bn, np.asfortranarray(XT))
    with pytest.raises(ValueError, match="at most 16 classes"):
        X, y, W, b = problem(20, 4, K=17, dtype=np.float32)
        native.scores(*as_native(X, y, W, b)[:3])
    with pytest.raises(TypeError, match="int64"):
        native.loss_and_accuracy(Wn, bn, XT, y.astype(np.int32))


def _load_in_subprocess(tmp_path, cc: str, cache=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ONELAYER_CACHE_DIR": str(cache or tmp_path / "cache"), "CC": cc}
    code = "from onelayer import native; print(native.library()._name)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_the_library_is_built_once_per_machine_and_reused(tmp_path):
    first = _load_in_subprocess(tmp_path, "cc")
    assert first.returncode == 0, first.stderr
    path = first.stdout.strip()
    assert os.path.dirname(path) == str(tmp_path / "cache")
    mtime = os.stat(path).st_mtime_ns
    second = _load_in_subprocess(tmp_path, "cc")
    assert second.stdout.strip() == path and os.stat(path).st_mtime_ns == mtime
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [os.path.basename(path)]


def test_a_missing_compiler_is_named_with_the_way_out(tmp_path):
    proc = _load_in_subprocess(tmp_path, "no-such-cc")
    assert proc.returncode != 0
    assert "needs a C compiler, and 'no-such-cc' cannot run" in proc.stderr
    assert "train.backend: numpy" in proc.stderr


def test_a_failing_compiler_is_named_and_leaves_no_library(tmp_path):
    proc = _load_in_subprocess(tmp_path, "false")  # runs, prints no version, fails every build
    assert proc.returncode != 0
    assert "could not compile the native kernels with 'false'" in proc.stderr
    assert not list((tmp_path / "cache").glob("*.so*"))


def test_an_unusable_cache_folder_is_named(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    proc = _load_in_subprocess(tmp_path, "cc", cache=blocker / "cache")
    assert proc.returncode != 0
    assert f"cannot keep the compiled native kernels in {blocker / 'cache'}" in proc.stderr
    assert "ONELAYER_CACHE_DIR" in proc.stderr
