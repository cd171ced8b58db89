"""The one-layer network and its hand-derived gradients, in the assignment's notation.

    s = W x + b,   p = softmax(s),   loss = mean over the set of -log p_y,
    J = loss + lam * sum(W ** 2).

The second loss (the handout's bonus 2.2, ``loss="bce"``): p = sigmoid(s) element-wise and
multiple binary cross-entropy, l = -(1/K) sum_k [(1 - y_k) log(1 - p_k) + y_k log p_k]
= (1/K) sum_k [softplus(s_k) - y_k s_k], whose gradient is dl/ds = (p - y) / K; an image is
predicted as its largest p, which is its largest s.

Shapes: W is K x d, b is K x 1, X is d x n (one image per column), S and P are K x n,
y holds n integer labels in 0..K-1.
"""

from __future__ import annotations

import numpy as np

EXP_FLOOR = -80.0  # exp(-80) = 1.8e-35, still a normal number in float32
LOSSES = ("softmax", "bce")


def check_loss(loss: str) -> str:
    """``loss`` itself if it names one of LOSSES; ValueError naming them otherwise."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    return loss


def init_params(K: int, d: int, seed: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """W ~ N(0, 0.01^2) from ``default_rng(seed)``, b = 0: the handout's initialisation."""
    rng = np.random.default_rng(seed)
    W = 0.01 * rng.standard_normal(size=(K, d))
    return W.astype(dtype), np.zeros((K, 1), dtype=dtype)


def scores(W: np.ndarray, b: np.ndarray, X: np.ndarray) -> np.ndarray:
    """S = W X + b, K x n.

    Computed as (X^T W^T)^T: with images stored as rows (X column-major) BLAS runs this
    orientation about twice as fast as W @ X, and the result is the same matrix.
    """
    return (X.T @ W.T).T + b


def softmax(S: np.ndarray) -> np.ndarray:
    """Column-wise softmax. Subtracting each column's max keeps exp() finite; a score more than
    80 below its column's max gets probability 0 (exp(-80) = 1.8e-35 is 0 to every later sum)
    instead of a denormal number, which is slow to compute with."""
    Z = S - S.max(axis=0, keepdims=True)
    Z[Z < EXP_FLOOR] = -np.inf
    E = np.exp(Z)
    return E / E.sum(axis=0, keepdims=True)


def log_sum_exp(S: np.ndarray) -> np.ndarray:
    """log(sum_k exp(S_k)) per column, computed stably; shape n."""
    m = S.max(axis=0)
    return m + np.log(np.exp(S - m).sum(axis=0))


def cross_entropy(S: np.ndarray, y: np.ndarray) -> float:
    """mean_i -log p_{y_i, i} from scores, as log-sum-exp minus the true class's score."""
    n = S.shape[1]
    return float(np.mean(log_sum_exp(S) - S[y, np.arange(n)]))


def sigmoid(S: np.ndarray) -> np.ndarray:
    """Element-wise 1 / (1 + exp(-s)) without overflow: with e = exp(-|s|), 1 / (1 + e) where
    s >= 0 and e / (1 + e) elsewhere; e is 0 where -|s| < EXP_FLOOR (as in softmax)."""
    Z = -np.abs(S)
    Z[Z < EXP_FLOOR] = -np.inf
    E = np.exp(Z)
    return np.where(S >= 0, 1, E) / (1 + E)


def softplus(S: np.ndarray) -> np.ndarray:
    """log(1 + exp(s)) element-wise, as max(s, 0) + log1p(exp(-|s|)): no overflow, no log(0)."""
    return np.maximum(S, 0) + np.log1p(np.exp(-np.abs(S)))


def binary_cross_entropy(S: np.ndarray, y: np.ndarray) -> float:
    """mean_i (1/K) sum_k [softplus(s_ki) - y_ki s_ki] from scores: the multiple binary
    cross-entropy of sigmoid(S) against one-hot labels, in log-sigmoid form."""
    K, n = S.shape
    return float(np.mean((softplus(S).sum(axis=0) - S[y, np.arange(n)]) / K))


def loss_of(S: np.ndarray, y: np.ndarray, loss: str = "softmax") -> float:
    """The mean loss of scores S: cross-entropy of softmax ("softmax") or "bce"."""
    return cross_entropy(S, y) if check_loss(loss) == "softmax" else binary_cross_entropy(S, y)


def probabilities(S: np.ndarray, loss: str = "softmax") -> np.ndarray:
    """P of the scores: softmax (columns sum to 1) or element-wise sigmoid ("bce")."""
    return sigmoid(S) if loss == "bce" else softmax(S)


def l2_penalty(W: np.ndarray, lam: float) -> float:
    """lam * sum_ij W_ij^2."""
    return float(lam * np.sum(W.astype(np.float64) ** 2))


def cost(W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray, lam: float,
         loss: str = "softmax") -> float:  # fmt: skip
    """J = loss + lam * sum W^2."""
    return loss_of(scores(W, b, X), y, loss) + l2_penalty(W, lam)


def accuracy(S: np.ndarray, y: np.ndarray) -> float:
    """Fraction of columns whose largest score is the true class."""
    return float(np.mean(np.argmax(S, axis=0) == y))


def one_hot(y: np.ndarray, K: int, dtype=np.float64) -> np.ndarray:
    """Y, K x n, with Y[y_i, i] = 1."""
    Y = np.zeros((K, y.size), dtype=dtype)
    Y[y, np.arange(y.size)] = 1
    return Y


def gradients(
    W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray, lam: float,
    loss: str = "softmax", K: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """dJ/dW and dJ/db on the batch (X, y).

    With G = P - Y (K x n):  dJ/dW = G X^T / n + 2 lam W,  dJ/db = mean of G over the batch;
    for "bce", P = sigmoid(S) and G = (P - Y) / K. ``K``: the classes of the loss's 1/K, when
    W has more rows (padding classes whose scores are -inf, whose P and G are 0).
    """
    check_loss(loss)
    n = X.shape[1]
    G = probabilities(scores(W, b, X), loss)
    G[y, np.arange(n)] -= 1  # P - Y without building Y
    # scaled once here, on K x n numbers, rather than on the K x d product
    G /= (K or W.shape[0]) * n if loss == "bce" else n
    # G X^T computed as (X G^T)^T: the same matrix, in the orientation BLAS runs fastest
    # when images are rows in memory (X column-major).
    grad_W = (X @ G.T).T + 2 * lam * W
    grad_b = G.sum(axis=1, keepdims=True)
    return grad_W, grad_b
