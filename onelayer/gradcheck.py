"""Step 4: prove the hand-derived gradients of the cost before any run trains on them.

The analytic dJ/dW and dJ/db of every code that trains (``backends``: the numpy loop's
``model.gradients``, and, where training uses the native backend, the C kernels of
``onelayer/native`` in their float64 build, on features and on the raw pixels they train on)
are compared, in float64, on the features of the first training images, against
  1. PyTorch autograd of the same forward computation written with torch ops (the handout's
     ``ComputeGradsWithTorch``, extended with the L2 term), and
  2. centred finite differences, which trust neither our maths nor torch.
Both references are computed once per case and loss, whatever the number of codes checked.
Torch is imported only here, once, when a check runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np

from onelayer import backends, model
from onelayer.dataset import Dataset, PixelMap, TrainingData
from onelayer.errors import GradientCheckError
from onelayer.tables import Column, markdown, read_csv, write

log = logging.getLogger(__name__)

COLUMNS = [
    Column("case"), Column("loss"), Column("code"), Column("method"), Column("param"),
    Column("d", int, right=True), Column("n", int, right=True),
    Column("lam", float, "lambda", "g", right=True), Column("entries", int, right=True),
    Column("max_abs_diff", float, "max abs diff", ".2e", right=True),
    Column("max_rel_err", float, "max rel err", ".2e", right=True),
    Column("abs_tol", float, "abs tolerance", ".0e", right=True),
    Column("rel_tol", float, "rel tolerance", ".0e", right=True),
    Column("passed", bool, "pass", lambda ok: "yes" if ok else "**NO**"),
]  # fmt: skip

ABOUT = (
    "Analytic gradients of the cost against PyTorch autograd and centred finite differences "
    "(float64), for each loss (softmax + cross-entropy, sigmoid + multiple binary cross-entropy) "
    "and each implementation that trains: `numpy` is onelayer/model.py, `native` the C kernels "
    "of onelayer/native, `native-pixels` the same kernels reading raw pixels (on the features "
    "those pixels map to).\n"
)


@dataclass(frozen=True)
class Case:
    name: str
    d: int  # first d features
    n: int  # first n training images
    lam: float
    fd_entries: int = 0  # finite differences on this many sampled entries of W (0: all of W)


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
    """Centred differences (J(θ+h) - J(θ-h)) / 2h of the cost J = loss(W X + b) + lam sum W^2,
    float64.

    Moving W[k, j] by h moves only row k of the scores, by h X[j], and the penalty by
    lam ((w + h)^2 - w^2); moving b[k] moves row k by h. So each J(θ ± h) is the loss of the
    scores with one row moved (``model.loss_of``) plus the penalty's change, not a new W X:
    the same differences, in O(n) instead of O(d n) each.

    ``entries`` (flat indices into W) limits the W entries computed; the others are NaN.
    Returns (dW, db, mask of W entries computed).
    """
    W = W.astype(np.float64)
    b = b.astype(np.float64)
    X = X.astype(np.float64)
    K, d = W.shape
    S = model.scores(W, b, X)  # K x n
    penalty = model.l2_penalty(W, lam)

    def J(k: int, row: np.ndarray, dpenalty: float) -> float:
        moved = S.copy()
        moved[k] = row
        return model.loss_of(moved, y, loss) + (penalty + dpenalty)

    def diff_W(i: int) -> float:
        k, j = divmod(i, d)
        w = W[k, j]
        plus = J(k, S[k] + h * X[j], lam * ((w + h) ** 2 - w**2))
        minus = J(k, S[k] - h * X[j], lam * ((w - h) ** 2 - w**2))
        return (plus - minus) / (2 * h)

    def diff_b(k: int) -> float:
        return (J(k, S[k] + h, 0.0) - J(k, S[k] - h, 0.0)) / (2 * h)

    mask = np.zeros(W.size, dtype=bool)
    mask[np.arange(W.size) if entries is None else entries] = True
    dW = np.full(W.size, np.nan)
    for i in np.flatnonzero(mask):
        dW[i] = diff_W(i)
    db = np.array([diff_b(k) for k in range(K)]).reshape(b.shape)
    return dW.reshape(W.shape), db, mask.reshape(W.shape)


def compare(ga: np.ndarray, gn: np.ndarray, eps: float = 1e-10) -> tuple[float, float]:
    """(max |ga - gn|, max |ga - gn| / max(eps, |ga| + |gn|)) over the entries the reference
    ``gn`` defines; a NaN anywhere in ``ga`` gives NaN, which fails every tolerance."""
    keep = ~np.isnan(gn)
    ga, gn = ga[keep], gn[keep]
    diff = np.abs(ga - gn)
    rel = diff / np.maximum(eps, np.abs(ga) + np.abs(gn))
    if np.isnan(diff).any():
        return float("nan"), float("nan")
    return float(diff.max()), float(rel.max())


@dataclass(frozen=True)
class Tolerances:
    """How the check compares (config's gradcheck section but its cases and losses; the
    schema's defaults are these, tests/test_settings.py holds them equal)."""

    seed: int = 42  # of the W, b at which the gradients are compared
    abs_tol: float = 1e-6  # against torch
    rel_tol: float = 1e-6
    fd_abs_tol: float = 1e-6  # against finite differences (their truncation and rounding)
    fd_rel_tol: float = 1e-4
    h: float = 1e-6  # the step of the finite differences

    @classmethod
    def of(cls, settings: dict) -> Tolerances:
        return cls(**{f.name: settings[f.name] for f in fields(cls) if f.name in settings})


def start_point(case: Case, seed: int, K: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The handout's small random W (0.01 N(0, 1) from the seed) and a small non-zero b (b = 0
    would hide a sign error in dJ/db's use)."""
    W, b = model.init_params(K, case.d, seed)
    b = 0.01 * np.random.default_rng(seed + 1).standard_normal(size=b.shape)
    return W, b


def case_images(case: Case, pixels: np.ndarray, pixel_map: PixelMap, y: np.ndarray):
    """The case's slice of the training set: its first n images' first d pixels (n x d bytes),
    their map, their features (d x n float64, ``scale * u + offset``) and labels."""
    n_all, d_all = pixels.shape
    if case.d > d_all or case.n > n_all:
        raise ValueError(
            f"case {case.name}: needs d={case.d}, n={case.n}; data has {d_all} x {n_all}"
        )
    U, pm = np.ascontiguousarray(pixels[: case.n, : case.d]), pixel_map.first(case.d)
    X = pm.scale[:, None] * U.T.astype(np.float64) + pm.offset[:, None]
    return U, PixelMap(pm.scale, pm.offset), X, np.asarray(y[: case.n])


def codes_for(backend: str) -> list[str]:
    """The codes whose gradients gate training with ``backend``: numpy's always (the reference
    implementation of the maths), the native kernels' when they train."""
    return ["numpy", "native", "native-pixels"] if backends.resolve(backend) == "native" else ["numpy"]


def analytic(code: str, U, pixel_map, X, y, loss: str):
    """The backend of ``code`` on the case's images (float64): what ``gradients`` asks."""
    if code == "native-pixels":
        data = TrainingData(y, y, pixels_train=U, pixels_val=U, pixel_map=pixel_map)
        return backends.make("native", data, np.float64, loss)
    data = TrainingData(y, y, X_train=X, X_val=X)
    return backends.make("numpy" if code == "numpy" else "native", data, np.float64, loss)


def check_case(case: Case, X, y, codes: dict, loss: str,
               tol: Tolerances = Tolerances()) -> list[dict]:  # fmt: skip
    """Rows of the table for one case and loss: each code's gradients (``codes``: name ->
    function of (W, b, lam) giving dJ/dW, dJ/db on the case's images ``X``, ``y``) against
    torch and finite differences, for W and b; the references are computed once for all."""
    W, b = start_point(case, tol.seed)
    entries = None
    if case.fd_entries and case.fd_entries < W.size:
        entries = np.random.default_rng(tol.seed).choice(W.size, size=case.fd_entries,
                                                         replace=False)  # fmt: skip
    references = [
        ("torch", *torch_gradients(W, b, X, y, case.lam, loss), None, tol.abs_tol, tol.rel_tol),
        ("finite_diff", *finite_difference_gradients(W, b, X, y, case.lam, h=tol.h,
                                                     entries=entries, loss=loss),
         tol.fd_abs_tol, tol.fd_rel_tol),
    ]  # fmt: skip
    rows = []
    for code, gradients in codes.items():
        gW, gb = gradients(W, b, case.lam)
        for method, refW, refb, *rest in references:
            mask = rest[0] if method == "finite_diff" else None
            atol, rtol = rest[-2:]
            for param, ga, gn in (("W", gW, refW), ("b", gb, refb)):
                max_abs, max_rel = compare(ga, gn)
                n_entries = int(mask.sum()) if (mask is not None and param == "W") else gn.size
                rows.append(dict(
                    case=case.name, loss=loss, code=code, method=method, param=param, d=case.d,
                    n=case.n, lam=case.lam, entries=n_entries, max_abs_diff=max_abs,
                    max_rel_err=max_rel, abs_tol=atol, rel_tol=rtol,
                    # NaN compares False, so a NaN gradient fails
                    passed=bool(max_abs <= atol and max_rel <= rtol),
                ))  # fmt: skip
    return rows


def read_rows(csv_path) -> list[dict]:
    return read_csv(csv_path, COLUMNS)


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


def run_checks(pixels, pixel_map, y, settings: dict, codes: list[str], threads: int = 1) -> list[dict]:
    """Every configured case (``settings``: the config's gradcheck section; what it leaves out
    takes its default, ``Tolerances``, all losses) for every loss and code, on the first
    training images given as ``pixels`` with their ``pixel_map``."""
    import torch

    torch.set_num_threads(threads)
    tol = Tolerances.of(settings)
    rows = []
    for loss in settings.get("losses", model.LOSSES):
        for c in settings["cases"]:
            case = Case(c["name"], c["d"], c["n"], float(c["lam"]), c.get("fd_entries", 0))
            log.info("checking the %s loss's gradients of %s, case %s (d=%d, n=%d, lam=%g)",
                     loss, ", ".join(codes), case.name, case.d, case.n, case.lam)  # fmt: skip
            U, pm, X, yc = case_images(case, pixels, pixel_map, y)
            grads = {code: analytic(code, U, pm, X, yc, loss).gradients for code in codes}
            rows += check_case(case, X, yc, grads, loss, tol)
    return rows


def gradcheck(data_path, settings: dict, csv_path, md_path, threads: int = 1,
              backend: str = "auto") -> list[dict]:  # fmt: skip
    """The step: check every code that trains with ``backend`` on the processed data's first
    training images; write the tables, or raise GradientCheckError naming each failing row
    (nothing is written then; the table goes to the log)."""
    dataset = Dataset.load(data_path)
    rows = run_checks(dataset.pixels("train"), dataset.pixel_map, dataset.labels("train"),
                      settings, codes_for(backend), threads)  # fmt: skip
    log.info("results:\n%s", markdown(rows, COLUMNS))
    check(rows)
    write(rows, COLUMNS, csv_path, md_path, md_intro="# Gradient check\n\n" + ABOUT + "\n")
    return rows
