"""The one-layer network and its hand-derived gradients, in the assignment's notation.

    s = W x + b,   p = softmax(s),   loss = mean over the set of -log p_y,
    J = loss + lam * sum(W ** 2).

Shapes: W is K x d, b is K x 1, X is d x n (one image per column), S and P are K x n,
y holds n integer labels in 0..K-1.
"""

from __future__ import annotations

import numpy as np

EXP_FLOOR = -80.0  # exp(-80) = 1.8e-35, still a normal number in float32


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


def l2_penalty(W: np.ndarray, lam: float) -> float:
    """lam * sum_ij W_ij^2."""
    return float(lam * np.sum(W.astype(np.float64) ** 2))


def cost(W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray, lam: float) -> float:
    """J = loss + lam * sum W^2."""
    return cross_entropy(scores(W, b, X), y) + l2_penalty(W, lam)


def accuracy(S: np.ndarray, y: np.ndarray) -> float:
    """Fraction of columns whose largest score is the true class."""
    return float(np.mean(np.argmax(S, axis=0) == y))


def one_hot(y: np.ndarray, K: int, dtype=np.float64) -> np.ndarray:
    """Y, K x n, with Y[y_i, i] = 1."""
    Y = np.zeros((K, y.size), dtype=dtype)
    Y[y, np.arange(y.size)] = 1
    return Y


def gradients(
    W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """dJ/dW and dJ/db on the batch (X, y).

    With G = P - Y (K x n):  dJ/dW = G X^T / n + 2 lam W,  dJ/db = mean of G over the batch.
    """
    n = X.shape[1]
    G = softmax(scores(W, b, X))
    G[y, np.arange(n)] -= 1  # P - Y without building Y
    G /= n  # scaled once here, on K x n numbers, rather than on the K x d product
    # G X^T computed as (X G^T)^T: the same matrix, in the orientation BLAS runs fastest
    # when images are rows in memory (X column-major).
    grad_W = (X @ G.T).T + 2 * lam * W
    grad_b = G.sum(axis=1, keepdims=True)
    return grad_W, grad_b
