"""The PyTorch loop users write for this assignment, a baseline of the benchmark beside the
plain numpy loop of ``onelayer.reference``: the same algorithm and semantics, written the
straightforward way, torch's threads left at their defaults.
"""

from __future__ import annotations

import time

import numpy as np

from onelayer.reference import plain_loop as numpy_loop  # noqa: F401 - the other baseline


def torch_loop(X, y, Xv, yv, lam, eta, n_batch=100, n_epochs=40, seed=42, K=10):
    """The same loop in PyTorch on the CPU (no autograd in the loop). Returns (W, b, seconds)."""
    import torch

    d, n = X.shape
    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    W = torch.tensor(0.01 * np.random.default_rng(seed).standard_normal(size=(K, d)), dtype=dtype)
    b = torch.zeros((K, 1), dtype=dtype)
    rng = np.random.default_rng(seed)
    Xt, Xvt = torch.from_numpy(X), torch.from_numpy(Xv)  # as loaded: each image contiguous
    yt, yvt = torch.from_numpy(y), torch.from_numpy(yv)
    Y = torch.nn.functional.one_hot(yt, K).T.to(dtype)

    def evaluate(X, y):
        S = W @ X + b
        logp = torch.log_softmax(S, dim=0)
        loss = -logp[y, torch.arange(y.numel())].mean()
        return loss, loss + lam * (W * W).sum(), (S.argmax(dim=0) == y).double().mean()

    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(n_epochs):
            perm = torch.from_numpy(rng.permutation(n))
            for j in range(n // n_batch):
                idx = perm[j * n_batch : (j + 1) * n_batch]
                Xb, Yb = Xt[:, idx], Y[:, idx]
                P = torch.softmax(W @ Xb + b, dim=0)
                G = P - Yb
                W = W - eta * (G @ Xb.T / n_batch + 2 * lam * W)
                b = b - eta * G.mean(dim=1, keepdim=True)
            evaluate(Xt, yt)
            evaluate(Xvt, yvt)
    return W.numpy(), b.numpy(), time.perf_counter() - start
