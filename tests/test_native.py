"""The native kernels: every build this CPU runs does the maths of onelayer.model, in both
precisions, on features and on pixels, for the shapes the kernels split into vector blocks and
tails; every FMA build gives the same bits as every other; the dispatch and the argument checks."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from onelayer import model, native

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-5, np.float64: 1e-12}
RUNNABLE = native.runnable()
FMA_VARIANTS = [v for v in RUNNABLE if native.kernels(v).fma]
variants = pytest.mark.parametrize("variant", RUNNABLE)

pytestmark = pytest.mark.skipif(not RUNNABLE, reason="no native kernels were built here")


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


# d: 3072 (CIFAR-10), 10 (no full vector), 17 and 40 (vector blocks plus a tail), 2100 (a
# partial block); n: odd and more than one chunk of 16 images; K: 10 (the specialised code),
# 3 and 7 (fewer classes than a pass takes), 12 and 16 (more).
SHAPES = [(3072, 37, 10), (10, 3, 10), (17, 5, 10), (40, 33, 3), (3072, 20, 16), (33, 1, 7),
          (2100, 9, 12)]  # fmt: skip


def check_feature_kernels(d, n, K, dtype, variant):
    X, y, W, b = problem(d, n, K, dtype=dtype)
    Wn, bn, XT, _ = as_native(X, y, W, b)
    tol = TOL[dtype]
    S = native.scores(Wn, bn, XT, variant=variant)
    assert S.dtype == dtype and S.shape == (n, K)
    assert np.allclose(S.T, model.scores(W, b, X), atol=tol, rtol=tol)
    for lam, loss in ((0.0, "softmax"), (0.7, "softmax"), (0.0, "bce"), (0.7, "bce")):
        gW, gb = native.gradients(Wn, bn, XT, y.astype(np.int64), lam, variant=variant, loss=loss)
        rW, rb = model.gradients(W, b, X, y, lam, loss)
        assert np.allclose(gW, rW, atol=tol, rtol=tol) and np.allclose(gb, rb[:, 0], atol=tol)


@variants
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d, n, K", SHAPES)
def test_scores_and_gradients_match_the_numpy_maths(d, n, K, dtype, variant):
    check_feature_kernels(d, n, K, dtype, variant)


@variants
@pytest.mark.parametrize("dtype", DTYPES)
def test_scores_of_chosen_rows(dtype, variant):
    X, y, W, b = problem(3072, 50, dtype=dtype)
    Wn, bn, XT, _ = as_native(X, y, W, b)
    rows = np.array([49, 0, 7, 7, 23])
    S = native.scores(Wn, bn, XT, rows=rows, variant=variant)
    assert np.array_equal(S, native.scores(Wn, bn, XT, variant=variant)[rows])


@variants
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["softmax", "bce"])
def test_loss_and_accuracy_match_the_numpy_maths(dtype, variant, kind):
    X, y, W, b = problem(3072, 45, dtype=dtype)
    W *= 20  # confident scores (|s| past 80 too): the log-sum-exp and softplus must stay stable
    loss, acc = native.loss_and_accuracy(*as_native(X, y.astype(np.int64), W, b), variant=variant,
                                         loss=kind)  # fmt: skip
    S = model.scores(W, b, X)
    assert np.abs(S).max() > 80
    assert loss == pytest.approx(model.loss_of(S, y, kind), rel=TOL[dtype])
    assert acc == model.accuracy(S, y)
    assert isinstance(loss, float) and isinstance(acc, float)


@variants
@pytest.mark.parametrize("loss", ["softmax", "bce"])
def test_one_epoch_is_the_batches_of_the_permutation_and_drops_the_remainder(variant, loss):
    X, y, W, b = problem(40, 23, dtype=np.float64)
    Wn, bn, XT, _ = as_native(X, y, W, b)
    y64 = y.astype(np.int64)
    perm = np.random.default_rng(1).permutation(23)
    eta, lam, nb = 0.3, 0.05, 5
    W1, b1 = Wn.copy(), bn.copy()
    native.sgd_epoch(W1, b1, XT, y64, perm, nb, eta, lam, variant=variant, loss=loss)
    # The same steps through the numpy maths: 4 batches of 5; the last 3 images are not used.
    W2, b2 = W.copy(), b.copy()
    for j in range(23 // nb):
        idx = perm[j * nb : (j + 1) * nb]
        gW, gb = model.gradients(W2, b2, X[:, idx], y[idx], lam, loss)
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


def check_pixel_kernels(d, n, K, dtype, variant):
    """Scores, gradients and loss of the pixel kernels against the numpy maths on the features."""
    U, affine, X, y, W, b = pixel_problem(d, n, K, dtype=dtype)
    Wn, bn = np.ascontiguousarray(W), np.ascontiguousarray(b[:, 0])
    W64, b64 = W.astype(np.float64), b.astype(np.float64)
    tol = TOL[dtype]
    S = native.scores(Wn, bn, U, affine=affine, variant=variant)
    assert S.dtype == dtype and S.shape == (n, K)
    assert np.allclose(S.T, model.scores(W64, b64, X), atol=tol, rtol=tol)
    for lam, kind in ((0.0, "softmax"), (0.7, "softmax"), (0.7, "bce")):
        gW, gb = native.gradients(Wn, bn, U, y.astype(np.int64), lam, affine=affine,
                                  variant=variant, loss=kind)  # fmt: skip
        rW, rb = model.gradients(W64, b64, X, y, lam, kind)
        assert np.allclose(gW, rW, atol=tol, rtol=tol) and np.allclose(gb, rb[:, 0], atol=tol)
    S64 = model.scores(W64, b64, X)
    for kind in ("softmax", "bce"):
        loss, acc = native.loss_and_accuracy(Wn, bn, U, y.astype(np.int64), affine=affine,
                                             variant=variant, loss=kind)  # fmt: skip
        assert loss == pytest.approx(model.loss_of(S64, y, kind), rel=tol)
        assert acc == model.accuracy(S64, y)


@variants
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d, n, K", SHAPES)
def test_pixels_give_the_scores_gradients_and_loss_of_their_features(d, n, K, dtype, variant):
    check_pixel_kernels(d, n, K, dtype, variant)


@variants
def test_an_epoch_on_pixels_is_an_epoch_on_their_features(variant):
    U, affine, X, y, W, b = pixel_problem(3072, 53, dtype=np.float64)
    y64, perm = y.astype(np.int64), np.random.default_rng(1).permutation(53)
    Wn, bn = np.ascontiguousarray(W), np.ascontiguousarray(b[:, 0])
    W1, b1, W2, b2 = Wn.copy(), bn.copy(), Wn.copy(), bn.copy()
    native.sgd_epoch(W1, b1, U, y64, perm, 10, 0.01, 0.1, affine=affine, variant=variant)
    native.sgd_epoch(W2, b2, np.ascontiguousarray(X.T), y64, perm, 10, 0.01, 0.1, variant=variant)
    assert not np.array_equal(W1, Wn)
    assert np.allclose(W1, W2, atol=1e-12) and np.allclose(b1, b2, atol=1e-12)


def every_kernel(variant, W, b, X, y, perm, n_batch, affine):
    """The outputs of all four kernels on one problem, for both losses, in a list."""
    out = [native.scores(W, b, X, affine=affine, variant=variant)]
    for loss in ("softmax", "bce"):
        out += native.gradients(W, b, X, y, 0.3, rows=perm[:n_batch], affine=affine,
                                variant=variant, loss=loss)  # fmt: skip
        out.append(np.array(native.loss_and_accuracy(W, b, X, y, affine=affine, variant=variant,
                                                     loss=loss)))  # fmt: skip
        W1, b1 = W.copy(), b.copy()
        native.sgd_epoch(W1, b1, X, y, perm, n_batch, 0.1, 0.01, affine=affine, variant=variant,
                         loss=loss)  # fmt: skip
        out += [W1, b1]
    return out


# Shapes around every boundary of the blocking: d below, at and past one logical vector (16
# float32 lanes), two (the gradient's column pair), a 2 KB block (512 float32 columns), and
# CIFAR-10's 3072; K below, at and past a pass of classes (5 on AVX2, 10 on NEON, 16 on AVX-512).
BIT_SHAPES = [(d, n, K) for d in (1, 7, 15, 16, 17, 31, 32, 33, 64, 100, 511, 512, 513, 3072)
              for n, K in ((1, 10), (2, 5), (3, 6), (17, 10), (33, 11), (20, 16), (5, 1))]  # fmt: skip


@pytest.mark.skipif(len(FMA_VARIANTS) < 2, reason=f"this CPU runs one FMA build: {FMA_VARIANTS}")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pixels", [False, True], ids=["features", "pixels"])
def test_every_fma_build_gives_the_same_bits(dtype, pixels):
    """The order of additions does not depend on the registers (kernels.c): so every build
    with FMA returns the same bytes, for every kernel and every block and tail shape."""
    rng = np.random.default_rng(11)
    for d, n, K in BIT_SHAPES:
        X = rng.normal(size=(n, d)).astype(dtype)
        affine = None
        if pixels:
            X = rng.integers(0, 256, size=(n, d), dtype=np.uint8)
            affine = ((rng.uniform(0.5, 2, size=d) / 255).astype(dtype),
                      rng.normal(size=d).astype(dtype))  # fmt: skip
        y = rng.integers(0, K, size=n).astype(np.int64)
        W = (0.05 * rng.normal(size=(K, d))).astype(dtype)
        b = (0.1 * rng.normal(size=K)).astype(dtype)
        perm, n_batch = rng.permutation(n), max(1, n // 3)
        first, *others = FMA_VARIANTS
        ref = every_kernel(first, W, b, X, y, perm, n_batch, affine)
        for other in others:
            got = every_kernel(other, W, b, X, y, perm, n_batch, affine)
            for i, (r, g) in enumerate(zip(ref, got)):
                assert r.tobytes() == g.tobytes(), (first, other, d, n, K, i)


@variants
def test_large_eta_is_not_slowed_by_denormals_and_leaves_the_callers_float_mode_alone(variant):
    """The kernels flush denormal numbers only while they run."""
    X, y, W, b = problem(3072, 30, dtype=np.float32)
    Wn, bn, XT, _ = as_native(X, y, 300 * W, b)  # saturated softmax: tiny probabilities
    native.gradients(Wn, bn, XT, y.astype(np.int64), 0.0, variant=variant)
    tiny = np.float32(1e-39)  # a denormal float32
    assert tiny * np.float32(1) != 0  # still denormal after the call: mode restored
    assert np.float32(1e-38) / np.float32(100) != 0


@variants
def test_each_build_reports_what_it_is(variant):
    k = native.kernels(variant)
    assert k.variant == variant and k.kmax == 16
    assert k.vector_bytes == {"x86_64_v4": 64, "x86_64_v3": 32}.get(variant, 16)
    assert bool(k.fma) == (variant != "x86_64_v2")
    assert native.describe(variant) == {"native_variant": variant, "native_fma": bool(k.fma)}
    assert native.fma_peak(variant, seconds=0.01) > 1e9  # any CPU of this century


# --- dispatch ---------------------------------------------------------------------------------


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_the_default_is_the_best_build_this_cpu_runs():
    assert set(RUNNABLE) <= set(native.built())
    proc = run_python("from onelayer import native; print(native.default_variant())",
                      ONELAYER_NATIVE_VARIANT="")  # fmt: skip
    assert proc.stdout.strip() == RUNNABLE[0], proc.stderr


def test_the_environment_forces_a_build_and_unknown_ones_are_named():
    code = "from onelayer import native; print(native.describe()['native_variant'])"
    proc = run_python(code, ONELAYER_NATIVE_VARIANT=RUNNABLE[-1])
    assert proc.stdout.strip() == RUNNABLE[-1], proc.stderr
    proc = run_python(code, ONELAYER_NATIVE_VARIANT="x86_64_v9")
    assert proc.returncode != 0 and "unknown native variant 'x86_64_v9'" in proc.stderr


def test_a_build_this_cpu_cannot_run_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(native, "runnable", lambda: native.built()[1:])
    with pytest.raises(
        native.NativeBackendError, match=f"cannot run native variant '{RUNNABLE[0]}'"
    ):
        native.kernels(native.built()[0])


def test_training_needs_no_compiler_and_writes_no_cache(tmp_path):
    """Nothing is compiled at run time: with no C compiler on PATH, $CC unset and an empty
    home, the native kernels train, and nothing is written outside the output folder."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "ONELAYER_NATIVE_VARIANT")}
    env.update(PATH=os.path.dirname(sys.executable), HOME=str(home), XDG_CACHE_HOME=str(home))
    code = """
        import json, shutil, sys
        import numpy as np
        from onelayer.dataset import TrainingData
        from onelayer.settings import TrainSettings
        from onelayer.train import train
        assert shutil.which("cc") is None and shutil.which("gcc") is None
        rng = np.random.default_rng(0)
        X = np.asfortranarray(rng.normal(size=(64, 100)).astype(np.float32))
        y = rng.integers(0, 10, size=100)
        r = train(TrainingData(y, y, X, X), TrainSettings(lam=0.0, eta=0.01, n_batch=10, n_epochs=2))
        print(json.dumps([r.backend, r.native_variant]))
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["native", RUNNABLE[0]]
    assert list(home.iterdir()) == []


# --- bad inputs -------------------------------------------------------------------------------

# Each case: (what it does wrong, the code of a call on a valid problem, text the ValueError must
# name). Run in a subprocess, so that a crash (a segfault from an unchecked index) fails the test
# instead of killing pytest.
SETUP = """
import numpy as np
from onelayer import native
rng = np.random.default_rng(0)
n, d, K = 30, 40, 10
W = rng.normal(size=(K, d)).astype(np.float32); b = np.zeros(K, np.float32)
X = rng.normal(size=(n, d)).astype(np.float32)
U = rng.integers(0, 256, size=(n, d), dtype=np.uint8)
aff = (np.ones(d, np.float32), np.zeros(d, np.float32))
y = rng.integers(0, K, size=n).astype(np.int64)
perm = rng.permutation(n)
k = native.kernels()
p = lambda a: a.ctypes.data
"""
BAD = [
    ("label 12 with K = 10", "y[3] = 12; native.gradients(W, b, X, y, 0.1)", "class labels 0..9"),
    ("negative label", "y[0] = -1; native.loss_and_accuracy(W, b, X, y)", "class labels 0..9"),
    ("short y", "native.sgd_epoch(W, b, X, y[:-1], perm, 10, 0.1, 0.0)", "y must have shape (30,)"),
    ("row past the end", "native.scores(W, b, X, rows=[0, 30])", "rows holds 30, out of range 0..29"),
    ("negative row", "native.gradients(W, b, X, y, 0.1, rows=[-1])", "rows holds -1"),
    ("perm past the end", "perm[5] = 99; native.sgd_epoch(W, b, X, y, perm, 10, 0.1, 0.0)", "perm holds 99"),
    ("float rows", "native.scores(W, b, X, rows=np.array([0.5]))", "rows must be a 1-d array of integers"),
    ("n_batch = 0", "native.sgd_epoch(W, b, X, y, perm, 0, 0.1, 0.0)", "n_batch must be an integer >= 1"),
    ("read-only W", "W.flags.writeable = False; native.sgd_epoch(W, b, X, y, perm, 10, 0.1, 0.0)", "W is read-only"),
    ("read-only b", "b.flags.writeable = False; native.sgd_epoch(W, b, X, y, perm, 10, 0.1, 0.0)", "b is read-only"),
    ("K = 0", "native.scores(W[:0], b[:0], X)", "K must be 1..16"),
    ("K = 17", "native.scores(np.zeros((17, d), np.float32), np.zeros(17, np.float32), X)", "K must be 1..16"),
    ("integer W", "native.scores(W.astype(np.int32), b, X)", "W must be a K x d float32 or float64"),
    ("b of another dtype", "native.scores(W, b.astype(np.float64), X)", "b must have dtype float32"),
    ("X of another dtype", "native.scores(W, b, X.astype(np.float64))", "X must have W's dtype"),
    ("X transposed", "native.scores(W, b, np.asfortranarray(X))", "X must be C-contiguous"),
    ("X with strided rows", "native.scores(W, b, np.zeros((n, 2 * d), np.float32)[:, ::2])", "X must be C-contiguous"),
    ("X misaligned", "raw = np.zeros(n * d * 4 + 1, np.uint8); Xm = np.frombuffer(raw.data, np.float32, n * d, 1).reshape(n, d); native.scores(W, b, Xm)", "X must be aligned"),
    ("X of the wrong width", "native.scores(W, b, X[:, :10].copy())", "X must hold one image per row, n x 40"),
    ("a list for W", "native.scores(W.tolist(), b, X)", "W must be a numpy array"),
    ("y of int32", "native.loss_and_accuracy(W, b, X, y.astype(np.int32))", "y must have dtype int64"),
    ("pixels without a map", "native.scores(W, b, U)", "need affine=(scale, offset)"),
    ("a map for features", "native.scores(W, b, X, affine=aff)", "for raw pixels (uint8 X) only"),
    ("a short scale", "native.scores(W, b, U, affine=(aff[0][:5], aff[1]))", "scale must have shape (40,)"),
    ("an empty batch", "native.gradients(W, b, X, y, 0.1, rows=[])", "rows must name at least one image"),
    ("no images to evaluate", "native.loss_and_accuracy(W, b, X[:0], y[:0])", "at least one image"),
    ("an unknown loss", "native.sgd_epoch(W, b, X, y, perm, 10, 0.1, 0.0, loss='hinge')", "loss must be one of ('softmax', 'bce')"),
    ("label 12, bce", "y[3] = 12; native.gradients(W, b, X, y, 0.1, loss='bce')", "class labels 0..9"),
    ("moves for features", "native.sgd_epoch(W, b, X, y, perm, 10, 0.1, 0.0, moves=np.zeros((n, 3), np.int8))", "apply to raw pixels (uint8 X) only"),
    ("moves off planes", "native.sgd_epoch(W, b, U, y, perm, 10, 0.1, 0.0, affine=aff, moves=np.zeros((n, 3), np.int8))", "d = 40 is not a whole number"),
    ("moves of the wrong shape", "D = 1024; one = np.ones(D, np.float32); native.sgd_epoch(np.zeros((K, D), np.float32), b, np.zeros((n, D), np.uint8), y, perm, 10, 0.1, 0.0, affine=(one, one), moves=np.zeros((n, 2), np.int8))", "moves must be 30 x 3 integers"),
    ("flags of 4", "D = 1024; one = np.ones(D, np.float32); mv = np.zeros((n, 3), np.int8); mv[3, 0] = 4; native.sgd_epoch(np.zeros((K, D), np.float32), b, np.zeros((n, D), np.uint8), y, perm, 10, 0.1, 0.0, affine=(one, one), moves=mv)", "flags must be 0 to 3"),
    # the C side checks indices and ranges on its own, for calls that bypass the Python checks
    ("C: row past the end", "S = np.empty((2, K), np.float32); rows = np.array([0, 31]); k.scores_f32(p(W), p(b), p(X), d, n, 0, 0, p(rows), 2, d, K, p(S))", "rows[1] = 31 is out of range 0..29"),
    ("C: label 12", "y[4] = 12; dW = np.empty_like(W); db = np.empty_like(b); k.gradients_f32(p(W), p(b), p(X), d, n, 0, 0, p(perm), p(y), n, d, K, 0.1, p(dW), p(db), 0)", "y[4] = 12 is not a class label 0..9"),
    ("C: perm past the end", "perm[2] = -3; k.sgd_epoch_f32(p(W), p(b), p(X), d, n, 0, 0, p(y), p(perm), 0, n, d, K, 10, 0.1, 0.0, 0, 1)", "perm[2] = -3 is out of range"),
    ("C: n_batch = 0", "k.sgd_epoch_f32(p(W), p(b), p(X), d, n, 0, 0, p(y), p(perm), 0, n, d, K, 0, 0.1, 0.0, 0, 1)", "n_batch must be between 1"),
    ("C: moves off planes", "mv = np.zeros((n, 3), np.int8); k.sgd_epoch_f32u8(p(W), p(b), p(U), d, n, p(aff[0]), p(aff[1]), p(y), p(perm), p(mv), n, d, K, 10, 0.1, 0.0, 0, 1)", "d = 40 is not a whole number of planes"),
    ("C: moves for features", "mv = np.zeros((n, 3), np.int8); D = 1024; Xf = np.zeros((n, D), np.float32); Wf = np.zeros((K, D), np.float32); k.sgd_epoch_f32(p(Wf), p(b), p(Xf), D, n, 0, 0, p(y), p(perm), p(mv), n, D, K, 10, 0.1, 0.0, 0, 1)", "only raw pixels (uint8 X) are mirrored and moved"),
    ("C: a move of 32", "mv = np.zeros((n, 3), np.int8); mv[7] = (0, 32, 0); D = 1024; Ub = np.zeros((n, D), np.uint8); Wf = np.zeros((K, D), np.float32); s = np.ones(D, np.float32); k.sgd_epoch_f32u8(p(Wf), p(b), p(Ub), D, n, p(s), p(s), p(y), p(perm), p(mv), n, D, K, 10, 0.1, 0.0, 0, 1)", "moves[7] = (0, 32, 0): flags must be 0 to 3 and a move within -31 .. 31"),
    ("threads 0", "native.sgd_epoch(W, b, X, y, perm, 10, 0.1, 0.0, threads=0)", "threads must be an integer >= 1"),
    ("threads 1.5", "native.loss_and_accuracy(W, b, X, y, threads=1.5)", "threads must be an integer >= 1, got 1.5"),
    ("C: threads 65", "k.sgd_epoch_f32(p(W), p(b), p(X), d, n, 0, 0, p(y), p(perm), 0, n, d, K, 10, 0.1, 0.0, 0, 65)", "threads must be between 1 and 64"),
    ("C: K = 17", "k.evaluate_f32(p(W), p(b), p(X), d, n, 0, 0, p(y), d, 17, 0, 0, 1)", "K (classes) must be between 1 and 16"),
    ("C: ldx below d", "k.evaluate_f32(p(W), p(b), p(X), d - 1, n, 0, 0, p(y), d, K, 0, 0, 1)", "ldx (elements between images of X) must be between 40"),
]  # fmt: skip


def test_every_bad_input_raises_a_value_error_naming_it():
    code = SETUP + textwrap.dedent("""
        import json, sys
        results = []
        for name, call in json.loads(sys.argv[1]):
            W0, b0, y0, perm0 = W.copy(), b.copy(), y.copy(), perm.copy()
            try:
                exec(call)
                results.append([name, None, ""])
            except Exception as exc:
                results.append([name, type(exc).__name__, str(exc)])
            W, b, y, perm = W0, b0, y0, perm0
        print(json.dumps(results))
        """)
    cases = [[name, call] for name, call, _ in BAD]
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(cases)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, f"the checks crashed ({proc.returncode}): {proc.stderr[-2000:]}"
    results = {name: (kind, message) for name, kind, message in json.loads(proc.stdout)}
    for name, _, expected in BAD:
        kind, message = results[name]
        assert kind == "ValueError" and expected in message, (name, kind, message)


def test_a_refused_update_leaves_w_and_b_as_they_were():
    X, y, W, b = problem(40, 20, dtype=np.float32)
    Wn, bn, XT, _ = as_native(X, y, W, b)
    y64, perm = y.astype(np.int64), np.arange(20)
    perm[7] = 25
    W0, b0 = Wn.copy(), bn.copy()
    with pytest.raises(ValueError, match="perm holds 25"):
        native.sgd_epoch(Wn, bn, XT, y64, perm, 5, 0.1, 0.0)
    assert np.array_equal(Wn, W0) and np.array_equal(bn, b0)


@variants
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss, border", [("softmax", "black"), ("bce", "black"),
                                          ("softmax", "edge")])  # fmt: skip
def test_the_kernels_mirror_and_move_images_as_numpy_does(dtype, variant, loss, border):
    """An epoch whose kernel mirrors and moves the images itself gives the bits of the same
    epoch on numpy's mirrored and moved copy (augment.flipped_and_moved), black or edge border:
    the kernel converts the same bytes. Moves cover the edges (0, +-1, +-31) and every mix with
    a mirror; the batches leave a remainder."""
    from onelayer.augment import flipped_and_moved

    n, d, K = 87, 3072, 10
    U, affine, _, y, W, b = pixel_problem(d, n, K, seed=3, dtype=dtype)
    rng = np.random.default_rng(4)
    perm = rng.permutation(n)
    moves = np.stack([rng.integers(0, 2, n), rng.choice([0, 1, -1, 2, -3, 31, -31], n),
                      rng.choice([0, 1, -1, 5, -8, 31, -31], n)], axis=1).astype(np.int8)  # fmt: skip
    moves[:8] = [(m, x, y0) for m in (0, 1) for x, y0 in ((0, 0), (1, -1), (-31, 31), (31, 0))]
    by_image = np.zeros((n, 3), np.int64)
    by_image[perm] = moves
    copy = flipped_and_moved(U, *by_image.T, border=border)
    if border == "edge":
        moves[:, 0] |= native.MOVE_EDGE
    Wn, bn = np.ascontiguousarray(W), np.ascontiguousarray(b[:, 0])
    W1, b1, W2, b2 = Wn.copy(), bn.copy(), Wn.copy(), bn.copy()
    kw = dict(affine=affine, variant=variant, loss=loss)
    native.sgd_epoch(W1, b1, U, y.astype(np.int64), perm, 10, 0.05, 0.01, moves=moves, **kw)
    native.sgd_epoch(W2, b2, copy, y.astype(np.int64), perm, 10, 0.05, 0.01, **kw)
    assert W1.tobytes() == W2.tobytes() and b1.tobytes() == b2.tobytes()
    W3 = Wn.copy()
    native.sgd_epoch(W3, bn.copy(), U, y.astype(np.int64), perm, 10, 0.05, 0.01, **kw)
    assert W3.tobytes() != W1.tobytes()  # the moves changed the epoch


# (d, n, n_batch, K): CIFAR-10 images in batches of 200 (two threads split 112 + 88 images to
# score, 100 + 100 to add to the gradient); a batch smaller than a vector of images (one thread
# has none); d with a tail of columns past the last group (the last thread packs W afterwards)
# and more classes than a pass takes.
THREAD_CASES = [(3072, 450, 200, 10), (2048, 23, 5, 10), (2100, 61, 17, 12), (40, 35, 9, 3)]


@variants
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pixels", [False, True], ids=["features", "pixels"])
def test_epochs_and_evaluations_give_the_same_bits_on_any_number_of_threads(dtype, pixels,
                                                                              variant,
                                                                              more_threads_than_cpus):  # fmt: skip
    """Each thread scores its share of a batch's images and adds their gradient terms behind the
    thread before it, so every sum keeps its order: 1, 2, 3 and 8 threads write the same W, b,
    loss and accuracy, with moves and without, for either loss."""
    for d, n, nb, K in THREAD_CASES:
        U, affine, X, y, W, b = pixel_problem(d, n, K, seed=d, dtype=dtype)
        images = U if pixels else np.ascontiguousarray(X.T.astype(dtype))
        rng = np.random.default_rng(n)
        perm = rng.permutation(n)
        moves = None
        if pixels and d % 1024 == 0:
            moves = np.stack([rng.integers(0, 2, n), rng.integers(-2, 3, n),
                              rng.integers(-2, 3, n)], axis=1).astype(np.int8)  # fmt: skip
        for loss in ("softmax", "bce"):
            kw = dict(affine=affine if pixels else None, variant=variant, loss=loss)
            results = set()
            for threads in (1, 2, 3, 8):
                W1, b1 = W.copy(), b[:, 0].copy()
                for _ in range(2):
                    native.sgd_epoch(W1, b1, images, y.astype(np.int64), perm, nb, 0.05, 0.01,
                                     moves=moves, threads=threads, **kw)  # fmt: skip
                ev = native.loss_and_accuracy(W1, b1, images, y.astype(np.int64), threads=threads,
                                              **kw)  # fmt: skip
                results.add((W1.tobytes(), b1.tobytes(), ev))
            assert len(results) == 1, (d, n, nb, K, loss)
            W0 = W.copy()
            native.sgd_epoch(W0, b[:, 0].copy(), images, y.astype(np.int64),
                             perm, nb, 0.05, 0.01, moves=moves, **kw)  # fmt: skip
            assert W0.tobytes() != results.pop()[0]  # two epochs are not one: the test can fail


def test_the_threads_argument_across_the_kernel_boundary(more_threads_than_cpus):
    """A fuzz of the threads argument with random problems: what is not a whole number of at
    least 1 is refused by name; every count up to the C side's 64 gives the one-thread bits of
    an epoch and an evaluation; beyond it, capped at the CPUs (here: 64), it runs on 64, and
    uncapped the C side refuses it."""
    rng = np.random.default_rng(28)
    variant = native.runnable()[0]
    for trial in range(60):
        d, K = int(rng.choice([10, 64, 1024, 3072])), int(rng.integers(2, 17))
        n = int(rng.integers(1, 200))
        n_batch = int(rng.integers(1, n + 1))
        X = rng.integers(0, 256, size=(n, d), dtype=np.uint8)
        aff = (rng.uniform(0.5, 2, d).astype(np.float32) / 255, rng.normal(size=d).astype(np.float32))
        y, perm = rng.integers(0, K, n), rng.permutation(n)
        W0, b0 = (0.01 * rng.normal(size=(K, d))).astype(np.float32), np.zeros(K, np.float32)

        def epoch(threads, cap=True):
            W, b = W0.copy(), b0.copy()
            native.sgd_epoch(W, b, X, y, perm, n_batch, 0.05, 0.01, affine=aff, variant=variant,
                             threads=threads, cap=cap)  # fmt: skip
            ev = native.loss_and_accuracy(W, b, X, y, affine=aff, variant=variant,
                                          threads=threads, cap=cap)  # fmt: skip
            return W.tobytes() + b.tobytes(), ev

        one = epoch(1)
        bad = [0, -int(rng.integers(1, 5)), True, 1.5, "2", None][trial % 6]
        with pytest.raises(ValueError, match="threads must be an integer >= 1"):
            epoch(bad)
        for threads in (int(rng.integers(2, 65)), np.int32(rng.integers(2, 9))):
            assert epoch(threads) == one, (d, K, n, n_batch, threads)
        assert epoch(int(rng.integers(65, 1000))) == one  # capped at the 64 CPUs
        with pytest.raises(ValueError, match="between 1 and 64"):
            epoch(65, cap=False)
