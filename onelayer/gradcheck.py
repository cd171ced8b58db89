"""Step 4: prove the hand-derived gradients of the cost before any run trains on them.

The analytic dJ/dW and dJ/db of ``model.gradients`` (numpy) and, when training uses the native
backend, of the C kernels in ``onelayer/native`` (their float64 build: the same source as the
float32 one), on features and on the raw pixels they train on, are compared, in float64, against
  1. PyTorch autograd of the same forward computation written with torch ops (the handout's
     ``ComputeGradsWithTorch``, extended with the L2 term), and
  2. centred finite differences, which trust neither our maths nor torch.
Torch is imported only here, and only when a check runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from onelayer import model
from onelayer.atomic import write_text
from onelayer.errors import GradientCheckError

log = logging.getLogger(__name__)

Gradients = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, str], tuple]

CSV_COLUMNS = [
    "case", "loss", "code", "method", "param", "d", "n", "lam", "entries",
    "max_abs_diff", "max_rel_err", "abs_tol", "rel_tol", "passed",
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    name: str
    d: int  # first d features
    n: int  # first n training images
    lam: float
    fd_entries: int = 0  # finite differences on this many sampled entries of W (0: all of W)


def native_gradients(W, b, X, y, lam: float, loss="softmax") -> tuple[np.ndarray, np.ndarray]:
    """``model.gradients``' signature around the C kernel (float64 build) that trains."""
    from onelayer import native

    gW, gb = native.gradients(
        np.ascontiguousarray(W), np.ascontiguousarray(b[:, 0]), np.ascontiguousarray(X.T),
        np.asarray(y, dtype=np.int64), lam, loss=loss,
    )  # fmt: skip
    return gW, gb.reshape(b.shape)


def pixel_gradients(scale: np.ndarray, shift: np.ndarray) -> Gradients:
    """``model.gradients``' signature around the C kernel (float64 build) that trains on raw
    pixels: the features X it is given must be ``scale * u + shift`` of bytes u, feature by
    feature (the first d entries of scale and shift), as ``pixel_features`` makes them."""

    def gradients(W, b, X, y, lam: float, loss="softmax") -> tuple[np.ndarray, np.ndarray]:
        from onelayer import native

        d = X.shape[0]
        sc, sh = np.ascontiguousarray(scale[:d]), np.ascontiguousarray(shift[:d])
        U = np.rint((X - sh[:, None]) / sc[:, None])
        if U.min() < 0 or U.max() > 255 or not np.array_equal(sc[:, None] * U + sh[:, None], X):
            raise ValueError("the features given are not scale * u + shift of bytes u")
        gW, gb = native.gradients(
            np.ascontiguousarray(W), np.ascontiguousarray(b[:, 0]),
            np.ascontiguousarray(U.T, dtype=np.uint8), np.asarray(y, dtype=np.int64), lam,
            affine=(sc, sh), loss=loss,
        )  # fmt: skip
        return gW, gb.reshape(b.shape)

    return gradients


def pixel_features(pixels, n: int) -> np.ndarray:
    """The features (d x n, float64) of the first n training images, computed from their bytes."""
    return pixels.scale[:, None] * pixels.train[:n].T + pixels.shift[:, None]


def torch_gradients(W, b, X, y, lam: float, loss="softmax") -> tuple[np.ndarray, np.ndarray]:
    """dJ/dW, dJ/db by autograd (float64) of J = mean(-log softmax(W X + b)[y]) + lam sum W^2,
    or for "bce" of J = binary_cross_entropy_with_logits(W X + b, one-hot Y) + lam sum W^2
    (torch's mean over the K x n entries: the mean over images of (1/K) sum_k)."""
    import torch  # only the gradient check needs torch

    Wt = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.long)
    S = Wt @ Xt + bt
    if loss == "bce":
        Y = torch.tensor(model.one_hot(np.asarray(y), W.shape[0]), dtype=torch.float64)
        value = torch.nn.functional.binary_cross_entropy_with_logits(S, Y)
    else:
        P = torch.softmax(S, dim=0)
        value = torch.mean(-torch.log(P[yt, torch.arange(Xt.shape[1])]))
    J = value + lam * torch.sum(Wt * Wt)
    J.backward()
    return Wt.grad.numpy(), bt.grad.numpy()


def finite_difference_gradients(
    W, b, X, y, lam: float, h: float = 1e-6, entries: np.ndarray | None = None,
    loss: str = "softmax",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Centred differences (J(θ+h) - J(θ-h)) / 2h of the cost, float64.

    ``entries`` (flat indices into W) limits the W entries computed; the others are NaN.
    Returns (dW, db, mask of W entries computed).
    """
    W = W.astype(np.float64).copy()
    b = b.astype(np.float64).copy()
    X = X.astype(np.float64)

    def J() -> float:
        return model.cost(W, b, X, y, lam, loss)

    def diff(theta: np.ndarray, i: int) -> float:
        flat = theta.reshape(-1)
        old = flat[i]
        flat[i] = old + h
        plus = J()
        flat[i] = old - h
        minus = J()
        flat[i] = old
        return (plus - minus) / (2 * h)

    mask = np.zeros(W.size, dtype=bool)
    mask[np.arange(W.size) if entries is None else entries] = True
    dW = np.full(W.size, np.nan)
    for i in np.flatnonzero(mask):
        dW[i] = diff(W, i)
    db = np.array([diff(b, i) for i in range(b.size)]).reshape(b.shape)
    return dW.reshape(W.shape), db, mask.reshape(W.shape)


def compare(ga: np.ndarray, gn: np.ndarray, eps: float = 1e-10) -> tuple[float, float]:
    """(max |ga - gn|, max |ga - gn| / max(eps, |ga| + |gn|)) over the entries both define."""
    keep = ~np.isnan(gn)
    ga, gn = ga[keep], gn[keep]
    diff = np.abs(ga - gn)
    rel = diff / np.maximum(eps, np.abs(ga) + np.abs(gn))
    return float(diff.max()), float(rel.max())


def case_data(case: Case, X_train: np.ndarray, y_train: np.ndarray, seed: int, K: int = 10):
    """The slice of training data and the handout's small random W for one case."""
    d_all, n_all = X_train.shape
    if case.d > d_all or case.n > n_all:
        raise ValueError(
            f"case {case.name}: needs d={case.d}, n={case.n}; data has {d_all} x {n_all}"
        )
    X = np.asarray(X_train[: case.d, : case.n], dtype=np.float64)
    y = np.asarray(y_train[: case.n])
    W, b = model.init_params(K, case.d, seed)
    # A non-zero b checks the bias path too (b = 0 would hide a sign error in dJ/db's use).
    b = 0.01 * np.random.default_rng(seed + 1).standard_normal(size=b.shape)
    return W, b, X, y


def run_case(
    case: Case,
    X_train: np.ndarray,
    y_train: np.ndarray,
    seed: int = 42,
    h: float = 1e-6,
    abs_tol: float = 1e-6,
    rel_tol: float = 1e-6,
    fd_abs_tol: float = 1e-6,
    fd_rel_tol: float = 1e-4,
    analytic: Gradients = model.gradients,
    code: str = "numpy",
    loss: str = "softmax",
) -> list[dict]:
    """Rows of the gradcheck table for one case and ``loss``: torch and finite differences,
    for W and b. ``code`` names the implementation ``analytic`` belongs to, in the table."""
    W, b, X, y = case_data(case, X_train, y_train, seed)
    gW, gb = analytic(W, b, X, y, case.lam, loss)
    tW, tb = torch_gradients(W, b, X, y, case.lam, loss)
    entries = None
    if case.fd_entries and case.fd_entries < W.size:
        entries = np.random.default_rng(seed).choice(W.size, size=case.fd_entries, replace=False)
    fW, fb, mask = finite_difference_gradients(W, b, X, y, case.lam, h=h, entries=entries,
                                               loss=loss)  # fmt: skip
    rows = []
    for method, refW, refb, atol, rtol in (
        ("torch", tW, tb, abs_tol, rel_tol),
        ("finite_diff", fW, fb, fd_abs_tol, fd_rel_tol),
    ):
        for param, ga, gn in (("W", gW, refW), ("b", gb, refb)):
            max_abs, max_rel = compare(ga, gn)
            n_entries = int(mask.sum()) if (method == "finite_diff" and param == "W") else gn.size
            rows.append(
                dict(
                    case=case.name, loss=loss, code=code, method=method, param=param, d=case.d,
                    n=case.n,
                    lam=case.lam, entries=n_entries, max_abs_diff=max_abs, max_rel_err=max_rel,
                    abs_tol=atol, rel_tol=rtol,
                    # NaN compares False, so a NaN gradient fails
                    passed=bool(max_abs <= atol and max_rel <= rtol),
                )
            )  # fmt: skip
    return rows


def failures(rows: list[dict]) -> list[str]:
    """One message per failing row, naming the case, method, parameter and error."""
    return [
        f"case {r['case']!r}, {r['loss']} loss, {r['code']} code, {r['method']}, d{r['param']}: "
        f"max abs diff {r['max_abs_diff']:.3e} "
        f"(tolerance {r['abs_tol']:.0e}), max rel err {r['max_rel_err']:.3e} "
        f"(tolerance {r['rel_tol']:.0e})"
        for r in rows
        if not r["passed"]
    ]


def check(rows: list[dict]) -> None:
    """Raise GradientCheckError listing every failing row."""
    bad = failures(rows)
    if bad:
        raise GradientCheckError("gradient check failed:\n  " + "\n  ".join(bad))


def markdown_table(rows: list[dict]) -> str:
    head = "| case | loss | code | method | param | d | n | lambda | entries | max abs diff | max rel err | tolerance (abs / rel) | pass |"
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['loss']} | {r['code']} | {r['method']} | {r['param']} | {r['d']} | {r['n']} | {r['lam']:g} "
            f"| {r['entries']} | {r['max_abs_diff']:.2e} | {r['max_rel_err']:.2e} "
            f"| {r['abs_tol']:.0e} / {r['rel_tol']:.0e} | {'yes' if r['passed'] else '**NO**'} |"
        )
    return "\n".join(lines) + "\n"


def rows_csv(rows: list[dict]) -> str:
    lines = [",".join(CSV_COLUMNS)]
    for r in rows:
        lines.append(
            ",".join(repr(r[c]) if isinstance(r[c], float) else str(r[c]) for c in CSV_COLUMNS)
        )
    return "\n".join(lines) + "\n"


def run_checks(
    data_path, settings: dict, csv_path, md_path, threads: int = 1, backend: str = "numpy"
) -> list[dict]:
    """Run every configured case on the preprocessed training data; write the tables, or raise.

    ``settings`` is the ``gradcheck`` section of the config (its ``losses``: the losses whose
    gradients are checked, softmax and bce by default); ``backend`` the training backend,
    whose gradients are checked besides ``model.gradients`` (the reference, always checked). On
    failure nothing is written (the table goes to the log) and GradientCheckError names each
    failing case.
    """
    import torch

    from onelayer.preprocess import load_processed, pixels_of

    from onelayer.train import resolve_backend

    torch.set_num_threads(threads)
    backend = resolve_backend(backend)  # "auto": the loop that will train
    data = load_processed(data_path)
    X, y = data["X_train"], data["y_train"]
    checks = [("numpy", model.gradients, X)]  # (code, its gradients, the features it gets)
    if backend == "native":
        checks.append(("native", native_gradients, X))
        pixels = pixels_of(data)
        if pixels is not None:  # training reads the bytes: check that kernel on their features
            n = max(c["n"] for c in settings["cases"])
            checks.append(("native-pixels", pixel_gradients(pixels.scale, pixels.shift),
                           pixel_features(pixels, n)))  # fmt: skip
    rows = []
    for loss in settings.get("losses", model.LOSSES):
        for code, analytic, features in checks:
            for c in settings["cases"]:
                case = Case(c["name"], c["d"], c["n"], float(c["lam"]), c.get("fd_entries", 0))
                log.info("checking the %s gradients of the %s loss, case %s (d=%d, n=%d, lam=%g)",
                         code, loss, case.name, case.d, case.n, case.lam)  # fmt: skip
                rows += run_case(
                    case, features, y, seed=settings["seed"], h=settings["h"],
                    abs_tol=settings["abs_tol"], rel_tol=settings["rel_tol"],
                    fd_abs_tol=settings["fd_abs_tol"], fd_rel_tol=settings["fd_rel_tol"],
                    analytic=analytic, code=code, loss=loss,
                )  # fmt: skip
    table = markdown_table(rows)
    log.info("results:\n%s", table)
    check(rows)
    write_text(csv_path, rows_csv(rows))
    write_text(
        md_path,
        "# Gradient check\n\nAnalytic gradients of the cost against PyTorch autograd and centred finite differences (float64), "
        "for each loss (softmax + cross-entropy, sigmoid + multiple binary cross-entropy) and each implementation that trains or evaluates: `numpy` is onelayer/model.py, `native` the C kernels of onelayer/native, "
        "`native-pixels` the same kernels reading raw pixels (on the features those pixels map to).\n\n"
        + table,
    )
    return rows
