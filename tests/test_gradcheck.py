"""The gradient check passes on the real gradients and fails, by name, on broken ones."""

import numpy as np
import pytest

from onelayer import backends, gradcheck, model
from onelayer.dataset import PixelMap, TrainingData
from onelayer.errors import GradientCheckError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return np.asfortranarray(rng.normal(size=(3072, 30))), rng.integers(0, 10, size=30)


CASES = [
    gradcheck.Case("small", d=10, n=3, lam=0.0),
    gradcheck.Case("small_lam", d=10, n=3, lam=0.1),
    gradcheck.Case("full", d=3072, n=30, lam=1.0, fd_entries=40),
]


def rows_for(data, analytic=model.gradients, cases=CASES, code="numpy", losses=model.LOSSES):
    """The check's rows for ``analytic`` (a function of W, b, X, y, lam, loss) on the first d
    features of the first n images of ``data``, case by case."""
    X, y = data
    rows = []
    for loss in losses:
        for c in cases:
            Xc, yc = X[: c.d, : c.n], y[: c.n]
            grads = {code: lambda W, b, lam, Xc=Xc, yc=yc, loss=loss: analytic(W, b, Xc, yc, lam, loss)}
            rows += gradcheck.check_case(c, Xc, yc, grads, loss)
    return rows


def native_gradients(W, b, X, y, lam, loss):
    """The native backend's gradients (its float64 kernels) on features X."""
    data = TrainingData(y, y, np.asfortranarray(X), np.asfortranarray(X))
    return backends.make("native", data, np.float64, loss).gradients(W, b, lam)


def test_real_gradients_pass(data):
    rows = rows_for(data)
    assert len(rows) == 4 * len(CASES) * 2
    assert {r["loss"] for r in rows} == {"softmax", "bce"}
    assert all(r["passed"] for r in rows)
    assert max(r["max_abs_diff"] for r in rows if r["method"] == "torch") < 1e-10
    gradcheck.check(rows)  # raises nothing


def test_native_kernel_gradients_pass_the_same_check(data):
    rows = rows_for(data, analytic=native_gradients, code="native")
    assert all(r["passed"] and r["code"] == "native" for r in rows)
    assert max(r["max_abs_diff"] for r in rows if r["method"] == "torch") < 1e-10


def test_the_pixel_kernel_gradients_pass_on_the_features_of_their_pixels(data):
    rng = np.random.default_rng(2)
    U = rng.integers(0, 256, size=(30, 3072), dtype=np.uint8)
    pm = PixelMap(rng.uniform(0.002, 0.008, 3072), rng.normal(size=3072))
    rows = []
    for loss in model.LOSSES:
        for c in CASES:
            Uc, pmc, Xc, yc = gradcheck.case_images(c, U, pm, data[1])
            assert np.array_equal(Xc, pm.scale[: c.d, None] * U[: c.n, : c.d].T + pm.offset[: c.d, None])
            kernel = gradcheck.analytic("native-pixels", Uc, pmc, Xc, yc, loss)
            assert kernel.sets["train"][0].dtype == np.uint8  # it reads the bytes
            rows += gradcheck.check_case(c, Xc, yc, {"native-pixels": kernel.gradients}, loss)
    assert len(rows) == 4 * len(CASES) * 2
    assert all(r["passed"] and r["code"] == "native-pixels" for r in rows)
    assert max(r["max_abs_diff"] for r in rows if r["method"] == "torch") < 1e-10


def without_l2_term(W, b, X, y, lam, loss):
    gW, gb = model.gradients(W, b, X, y, lam, loss)
    return gW - 2 * lam * W, gb


def flipped_bias(W, b, X, y, lam, loss):
    gW, gb = model.gradients(W, b, X, y, lam, loss)
    return gW, -gb


def transposed_sign(W, b, X, y, lam, loss):
    gW, gb = model.gradients(W, b, X, y, lam, loss)
    return -gW, gb


def bce_without_its_1_over_k(W, b, X, y, lam, loss):
    """dl/ds = p - y instead of (p - y) / K: a slip in the BCE gradient only."""
    gW, gb = model.gradients(W, b, X, y, lam, loss)
    if loss != "bce":
        return gW, gb
    K = W.shape[0]
    return K * (gW - 2 * lam * W) + 2 * lam * W, K * gb


@pytest.mark.parametrize(
    "broken, failing",
    [
        (without_l2_term, {("small_lam", "W"), ("full", "W")}),  # lam = 0 cannot see it
        (flipped_bias, {("small", "b"), ("small_lam", "b"), ("full", "b")}),
        (transposed_sign, {("small", "W"), ("small_lam", "W"), ("full", "W")}),
    ],
)
def test_broken_gradients_fail_by_name(data, broken, failing):
    rows = rows_for(data, analytic=broken, losses=["softmax"])
    failed = {(r["case"], r["param"]) for r in rows if not r["passed"]}
    assert failed == failing
    # both references catch it on their own
    for case, param in failing:
        assert {
            r["method"]
            for r in rows
            if (r["case"], r["param"]) == (case, param) and not r["passed"]
        } == {
            "torch",
            "finite_diff",
        }
    with pytest.raises(
        GradientCheckError,
        match=r"case '(small_lam|small|full)', softmax loss, numpy code, torch, d[Wb]: max abs",
    ):
        gradcheck.check(rows)


def test_a_wrong_bce_gradient_fails_the_bce_rows_only(data):
    rows = rows_for(data, analytic=bce_without_its_1_over_k)
    failed = {(r["loss"], r["case"], r["param"], r["method"]) for r in rows if not r["passed"]}
    assert failed == {("bce", c.name, p, m) for c in CASES for p in "Wb"
                      for m in ("torch", "finite_diff")}  # fmt: skip
    with pytest.raises(GradientCheckError, match=r"case 'small', bce loss, numpy code, torch, dW"):
        gradcheck.check(rows)


def case_data(case, X, y, seed):
    W, b = gradcheck.start_point(case, seed)
    return W, b, X[: case.d, : case.n], y[: case.n]


def test_torch_bce_is_the_models_loss(data):
    """torch's binary_cross_entropy_with_logits (a mean over K x n) is model's BCE, and the
    finite differences of model's BCE cost give torch's gradients."""
    W, b, X, y = case_data(gradcheck.Case("c", 50, 10, 0.3), *data, seed=1)
    W = 300 * W  # scores beyond +-30: the log-sigmoid form must hold
    tW, tb = gradcheck.torch_gradients(W, b, X, y, 0.3, "bce")
    fW, fb, _ = gradcheck.finite_difference_gradients(W, b, X, y, 0.3, loss="bce")
    assert np.abs(model.scores(W, b, X)).max() > 30
    assert np.allclose(tW, fW, atol=1e-7) and np.allclose(tb, fb, atol=1e-7)


def test_torch_and_finite_differences_agree(data):
    W, b, X, y = case_data(gradcheck.Case("c", 50, 10, 0.3), *data, seed=1)
    tW, tb = gradcheck.torch_gradients(W, b, X, y, 0.3)
    fW, fb, mask = gradcheck.finite_difference_gradients(W, b, X, y, 0.3)
    assert mask.all()
    assert np.allclose(tW, fW, atol=1e-8) and np.allclose(tb, fb, atol=1e-8)


def with_one_nan(W, b, X, y, lam, loss):
    """The right gradients but for one entry of dW, which is NaN (as a kernel that read past
    its data, or divided 0 by 0, would give)."""
    gW, gb = model.gradients(W, b, X, y, lam, loss)
    gW = gW.copy()
    gW[3, 5] = np.nan
    return gW, gb


def test_a_nan_in_a_gradient_fails_the_check_by_name(data):
    rows = rows_for(data, analytic=with_one_nan, losses=["softmax"])
    for r in rows:
        every_entry = r["method"] == "torch" or r["case"] != "full"  # "full" samples 40 of W
        if r["param"] == "W" and every_entry:  # the NaN entry compared: it fails the row
            assert not r["passed"] and np.isnan(r["max_abs_diff"]), r
        if r["param"] == "b":
            assert r["passed"], r  # the other gradient is untouched
    with pytest.raises(GradientCheckError, match=r"case 'small', softmax loss, numpy code, torch, "
                                                 r"dW: max abs diff nan"):  # fmt: skip
        gradcheck.check(rows)


def test_case_larger_than_data_is_named(data):
    U = np.zeros((30, 3072), dtype=np.uint8)
    with pytest.raises(ValueError, match="case big: needs d=10, n=99"):
        gradcheck.case_images(gradcheck.Case("big", 10, 99, 0.0), U, PixelMap(np.ones(3072), np.zeros(3072)), data[1])
