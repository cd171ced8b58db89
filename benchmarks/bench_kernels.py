"""Where one epoch of the native backend spends its time, against this machine's memory speed.

    python benchmarks/bench_kernels.py [--data data/processed/cifar10.npz] [--epochs 10]
                                       [--variant x86_64_v3 ...]

One thread, float32, the mirror's data, read as the pipeline reads it (the raw pixels, one byte
per feature) and as float32 features, for every native build this CPU runs (or those named). Per epoch (10,000 training images in batches of 100 in a
fresh permutation): the scores of every batch alone (random rows, read from memory; one Python
call per batch, about 20 us each), the same arithmetic on 100 images that stay in cache (one
call), the whole training epoch (scores, gradients, updates: one call), and the evaluation of
10,000 consecutive images; then what reading the float32 features costs at best (a
matrix-vector product, which does nothing but stream X). Minimum over epochs: the least
disturbed measurement on a shared machine. Use it to judge how far the kernels are from the
arithmetic and memory floors; it is not a test.
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
from onelayer.dataset import Dataset  # noqa: E402


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
    parser.add_argument("--variant", nargs="*", default=None, help="builds (default: all runnable)")
    args = parser.parse_args()
    variants = args.variant or native.runnable()

    data = Dataset.load(args.data)
    XT = np.ascontiguousarray(data.features("train", np.float32).T)
    y = np.ascontiguousarray(data.labels("train"), dtype=np.int64)
    n, d = XT.shape
    W0, b0 = model.init_params(10, d, 42, dtype=np.float32)
    W, b = np.ascontiguousarray(W0), np.ascontiguousarray(b0[:, 0])
    pixels = data.pixels("train")
    if pixels is None:
        sys.exit(f"{args.data} has no raw pixels: rerun the preprocess rule")
    pm = data.pixel_map
    affine = (pm.scale.astype(np.float32), pm.offset.astype(np.float32))
    rng = np.random.default_rng(0)
    in_cache = np.tile(np.arange(100), n // 100)  # 10,000 scores of 100 images: no memory wait
    v = np.ones(d, dtype=np.float32)
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        for (name, images, aff), variant in (
            (case, v)
            for v in variants
            for case in (("pixels", pixels, affine), ("float32 features", XT, None))
        ):

            def scores_of_batches(images=images, aff=aff, v=variant):
                perm = rng.permutation(n)
                for j in range(n // 100):
                    native.scores(W, b, images, rows=perm[j * 100 : (j + 1) * 100], affine=aff,
                                  variant=v)  # fmt: skip

            def epoch(images=images, aff=aff, v=variant):
                perm = rng.permutation(n)
                native.sgd_epoch(W.copy(), b.copy(), images, y, perm, 100, 0.001, 0.0, aff, v)

            def in_cache_scores(images=images, aff=aff, v=variant):
                native.scores(W, b, images, rows=in_cache, affine=aff, variant=v)

            def evaluation(images=images, aff=aff, v=variant):
                native.loss_and_accuracy(W, b, images, y, affine=aff, variant=v)

            steps = {
                "scores of the 100 batches (random rows)": scores_of_batches,
                "scores of 100 images 100 times (in cache: arithmetic alone)": in_cache_scores,
                "training epoch (scores, gradients, updates)": epoch,
                "evaluation of 10,000 images (consecutive)": evaluation,
            }
            for step, fn in steps.items():
                rows.append(
                    (f"{variant}, {name}", step, best_ms(fn, args.epochs), images.nbytes / 1e6)
                )
        rows.append(("float32 features", "streaming X once (X^T v, numpy's BLAS)",
                     best_ms(lambda: XT @ v, args.epochs), XT.nbytes / 1e6))  # fmt: skip
    print(
        f"one thread, float32 arithmetic, {n} images of {d} features; minimum over {args.epochs} epochs"
    )
    print("| build, reads | step | ms per epoch | GB/s read |")
    print("|---|---|---:|---:|")
    for name, step, ms, mb in rows:
        rate = "-" if "in cache" in step else f"{mb / ms:.1f}"  # no memory read to speak of
        print(f"| {name} | {step} | {ms:.1f} | {rate} |")


if __name__ == "__main__":
    main()
