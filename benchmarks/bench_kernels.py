"""Where one epoch of the native backend spends its time, against this machine's memory speed.

    python benchmarks/bench_kernels.py [--data data/processed/cifar10.npz] [--epochs 10]
                                       [--variant x86_64_v3 ...]
    python benchmarks/bench_kernels.py --threads [--variant ...] [--baseline OTHER_CHECKOUT]

One thread, float32, the mirror's data, read as the pipeline reads it (the raw pixels, one byte
per feature) and as float32 features, for every native build this CPU runs (or those named). Per epoch (10,000 training images in batches of 100 in a
fresh permutation): the scores of every batch alone (random rows, read from memory; one Python
call per batch, about 20 us each), the same arithmetic on 100 images that stay in cache (one
call), the whole training epoch (scores, gradients, updates: one call), and the evaluation of
10,000 consecutive images; then what reading the float32 features costs at best (a
matrix-vector product, which does nothing but stream X). Minimum over epochs: the least
disturbed measurement on a shared machine. Use it to judge how far the kernels are from the
arithmetic and memory floors; it is not a test.

With --threads: one epoch over 10,000 random images on 1, 2, 4, 8 and 64 threads, on the CPUs
this process may use and pinned to one of them (os.sched_setaffinity, as taskset), each both
started as asked (cap=False: more threads than CPUs, the kernels' waits sleeping) and as a job
runs them (capped at the CPUs, onelayer.cpus); with --baseline DIR, two threads on the free CPUs
timed in turn against the build of another checkout (a git worktree with its kernels built).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

# the checkout whose onelayer to time: this one, or --baseline's (in the child that times it)
sys.path.insert(0, os.environ.get("BENCH_CHECKOUT") or str(Path(__file__).resolve().parents[1]))
from onelayer import model, native  # noqa: E402
from onelayer.dataset import Dataset  # noqa: E402


def best_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


# --- threads: an epoch on more threads than CPUs (python benchmarks/bench_kernels.py --threads) --

THREADS = (1, 2, 4, 8, 64)


def random_epoch(variant: str, seed: int = 0):
    """One epoch's call over 10,000 random images (uint8 pixels, n_batch 100), as a function of
    (threads, cap): the issue's measurement of oversubscription, without data to download."""
    rng = np.random.default_rng(seed)
    n, d, K = 10_000, 3072, 10
    X = rng.integers(0, 256, size=(n, d), dtype=np.uint8)
    y = rng.integers(0, K, size=n)
    aff = (np.full(d, 1 / 64, np.float32), np.full(d, -2.0, np.float32))
    W0 = (0.01 * rng.standard_normal((K, d))).astype(np.float32)
    perm = rng.permutation(n)

    def run(threads: int, cap: bool) -> None:
        W, b = W0.copy(), np.zeros(K, np.float32)
        # a build before the cap had no such argument: it started every thread asked for
        kw = {"cap": cap} if "cap" in inspect.signature(native.sgd_epoch).parameters else {}
        native.sgd_epoch(W, b, X, y, perm, 100, 0.01, 0.0, affine=aff, variant=variant,
                         threads=threads, **kw)  # fmt: skip

    return run


def on_cpus(cpus: set, fn):
    """``fn()`` with this process (and the threads it starts) on ``cpus`` only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        return fn()
    finally:
        os.sched_setaffinity(0, before)


def threads_table(variant: str, repeats: int, baseline: str | None, rounds: int) -> None:
    from onelayer import cpus

    logging.getLogger("onelayer.cpus").setLevel(logging.ERROR)  # the cap, said once per count
    run = random_epoch(variant)
    free = os.sched_getaffinity(0)
    one = {min(free)}
    print(f"{variant}: one epoch over 10,000 random images (uint8 pixels, n_batch 100), ms, min of "
          f"{repeats}; this process may run on {len(free)} CPUs ({cpus.usable()} after its quota)")  # fmt: skip
    print("| threads asked | CPUs | started as asked (cap=False) | capped at the CPUs (as a job runs) |")
    print("|---:|---:|---:|---:|")
    for where, cpuset in ((f"{len(free)} free", free), ("1 (pinned)", one)):
        for t in THREADS:
            raw = on_cpus(cpuset, lambda: best_ms(lambda: run(t, False), repeats))
            capped = on_cpus(cpuset, lambda: best_ms(lambda: run(t, True), repeats))
            print(f"| {t} | {where} | {raw:.1f} | {capped:.1f} |")
    if baseline:
        # two threads on the free CPUs, this build against another checkout's, in turn
        script = Path(__file__).resolve()
        times = {"this": [], "baseline": []}
        for _ in range(rounds):
            for who, path in (("this", str(script.parents[1])), ("baseline", baseline)):
                env = {**os.environ, "BENCH_CHECKOUT": path}
                out = subprocess.run([sys.executable, str(script), "--threads-child", variant,
                                      str(repeats)], env=env, capture_output=True, text=True,
                                     check=True).stdout  # fmt: skip
                times[who].append(float(out))
        a, b = min(times["this"]), min(times["baseline"])
        print(f"\n2 threads on {len(free)} free CPUs, {rounds} rounds in turn, min: this build "
              f"{a:.2f} ms, {baseline} {b:.2f} ms: {a / b:.3f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="data/processed/cifar10.npz")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--variant", nargs="*", default=None, help="builds (default: all runnable)")
    parser.add_argument("--threads", action="store_true",
                        help="instead: an epoch on 1 to 64 threads, on the free CPUs and pinned to one")
    parser.add_argument("--baseline", help="with --threads: a checkout whose build to time beside")
    parser.add_argument("--rounds", type=int, default=5, help="with --baseline: rounds in turn")
    parser.add_argument("--threads-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads_child:  # one timing for --baseline, in the checkout on PYTHONPATH
        variant, repeats = args.threads_child
        run = random_epoch(variant)
        print(best_ms(lambda: run(2, False), int(repeats)))
        return
    variants = args.variant or native.runnable()
    if args.threads:
        for v in variants:
            threads_table(v, max(3, args.epochs // 3), args.baseline, args.rounds)
        return

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
