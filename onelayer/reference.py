"""The loop users write for this assignment, plainly: the reference the package's training is
tested against, and the baseline of the benchmark.

Same algorithm and semantics as ``onelayer.train`` (W from ``default_rng(seed)``, a second
``default_rng(seed)`` for the shuffles, the full training and validation evaluation after every
epoch), written the straightforward way: X is d x n, batches by fancy indexing, numpy's BLAS
with its default threads, no padding, no kernels.
"""

from __future__ import annotations

import time

import numpy as np


def plain_loop(X, y, Xv, yv, lam, eta, n_batch=100, n_epochs=40, seed=42, K=10):
    """Softmax + cross-entropy + L2 by mini-batch gradient descent. Returns (W, b, seconds)."""
    d, n = X.shape
    W = (0.01 * np.random.default_rng(seed).standard_normal(size=(K, d))).astype(X.dtype)
    b = np.zeros((K, 1), dtype=X.dtype)
    rng = np.random.default_rng(seed)
    Y = np.zeros((K, n), dtype=X.dtype)
    Y[y, np.arange(n)] = 1

    def evaluate(X, y):
        S = W @ X + b
        P = np.exp(S - S.max(axis=0))
        P /= P.sum(axis=0)
        loss = -np.mean(np.log(P[y, np.arange(y.size)]))
        return loss, loss + lam * np.sum(W * W), np.mean(np.argmax(S, axis=0) == y)

    start = time.perf_counter()
    for _ in range(n_epochs):
        perm = rng.permutation(n)
        for j in range(n // n_batch):
            idx = perm[j * n_batch : (j + 1) * n_batch]
            Xb, Yb = X[:, idx], Y[:, idx]
            S = W @ Xb + b
            P = np.exp(S - S.max(axis=0))
            P /= P.sum(axis=0)
            G = P - Yb
            W = W - eta * (G @ Xb.T / n_batch + 2 * lam * W)
            b = b - eta * G.mean(axis=1, keepdims=True)
        evaluate(X, y)
        evaluate(Xv, yv)
    return W, b, time.perf_counter() - start
