"""Where one epoch of the native backend spends its time, against this machine's memory speed.

    python benchmarks/bench_kernels.py [--data data/processed/cifar10.npz] [--epochs 10]

One thread, float32, the mirror's data. Per epoch (10,000 training images in batches of 100 in
a fresh permutation): the scores of every batch alone (random rows of X, read from memory; one
Python call per batch, about 20 us each), the same arithmetic on 100 images that stay in cache
(one call), the whole training epoch (scores, gradients, updates: one call), and the evaluation
of 10,000 consecutive images; then what reading the same bytes costs at best (a matrix-vector
product, which does nothing but stream X). Minimum over epochs: the least disturbed measurement
on a shared machine. Use it to judge how far the kernels are from the arithmetic and memory
floors; it is not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from onelayer import model, native  # noqa: E402
from onelayer.preprocess import load_processed  # noqa: E402


def best_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="data/processed/cifar10.npz")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    data = load_processed(args.data)
    XT = np.ascontiguousarray(data["X_train"].T, dtype=np.float32)
    y = np.ascontiguousarray(data["y_train"], dtype=np.int64)
    n, d = XT.shape
    W0, b0 = model.init_params(10, d, 42, dtype=np.float32)
    W, b = np.ascontiguousarray(W0), np.ascontiguousarray(b0[:, 0])
    rng = np.random.default_rng(0)
    native.library()

    def scores_of_batches():
        perm = rng.permutation(n)
        for j in range(n // 100):
            native.scores(W, b, XT, rows=perm[j * 100 : (j + 1) * 100])

    in_cache = np.tile(np.arange(100), n // 100)  # 10,000 scores of 100 images: no memory wait

    def scores_in_cache():
        native.scores(W, b, XT, rows=in_cache)

    def epoch():
        native.sgd_epoch(W.copy(), b.copy(), XT, y, rng.permutation(n), 100, 0.001, 0.0)

    v = np.ones(d, dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        rows = {
            "scores of the 100 batches (random rows)": best_ms(scores_of_batches, args.epochs),
            "scores of 100 images 100 times (in cache: arithmetic alone)": best_ms(
                scores_in_cache, args.epochs
            ),
            "training epoch (scores, gradients, updates)": best_ms(epoch, args.epochs),
            "evaluation of 10,000 images (consecutive)": best_ms(
                lambda: native.loss_and_accuracy(W, b, XT, y), args.epochs
            ),
            "streaming X once (X^T v, numpy's BLAS)": best_ms(lambda: XT @ v, args.epochs),
        }
    mb = XT.nbytes / 1e6
    print(f"one thread, float32, X is {n} x {d} ({mb:.0f} MB); minimum over {args.epochs} epochs")
    print("| step | ms per epoch | GB/s of X read |")
    print("|---|---:|---:|")
    for name, ms in rows.items():
        rate = "-" if "in cache" in name else f"{mb / ms:.1f}"  # no memory read to speak of
        print(f"| {name} | {ms:.1f} | {rate} |")


if __name__ == "__main__":
    main()
