"""Benchmark: the package's training of one configuration against the loops users write.

    python benchmarks/bench_train.py [--data data/processed/cifar10.npz] [--repeats 3]

Needs the preprocessed data (run the pipeline, or `snakemake --cores 1 data/processed/cifar10.npz`).
Times, in one process on the same data: onelayer.train as the pipeline runs it (native backend
reading the raw pixels, float32, 2 threads), then with 1 thread, in float64, reading the float32
features instead of the pixels, and with the numpy backend; the plain numpy loop and the PyTorch
loop of benchmarks/baselines.py; for eta = 0.001 and eta = 0.1 (lambda = 0). Then two onelayer runs
with 1 thread each at once, in two processes, against one alone: what `snakemake --cores 2` does
with two training jobs, repeated like the rest. Prints a table (medians over
repeats, ratios against each baseline, test accuracies) and writes it to
benchmarks/results/bench_train.{json,md}. Timing is not a test: rerun it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import numpy_loop, torch_loop  # noqa: E402

from onelayer import model  # noqa: E402
from onelayer.preprocess import load_processed, pixels_of  # noqa: E402
from onelayer.train import train  # noqa: E402


def test_accuracy(W, b, data, dtype) -> float:
    X = np.asfortranarray(data["X_test"], dtype=dtype)
    return 100 * model.accuracy(
        model.scores(np.asarray(W, dtype), np.asarray(b, dtype), X), data["y_test"]
    )


def split(data, dtype):
    f = lambda a: np.asfortranarray(a, dtype=dtype)  # noqa: E731
    return f(data["X_train"]), data["y_train"], f(data["X_val"]), data["y_val"]


def run_method(method: str, data: dict, eta: float) -> tuple[float, float]:
    """(seconds of the training loop with its per-epoch evaluation, test accuracy %)."""
    dtype = np.float64 if "float64" in method else np.float32
    X, y, Xv, yv = split(data, dtype)
    if method.startswith("onelayer"):
        threads = 1 if "1 thread" in method else 2
        backend = method.split()[1]
        pixels = pixels_of(data) if "pixels" in method else None
        r = train(X, y, Xv, yv, lam=0.0, eta=eta, threads=threads, backend=backend, pixels=pixels)
        return r.seconds, test_accuracy(r.W, r.b, data, dtype)
    loop = numpy_loop if method.startswith("numpy") else torch_loop
    W, b, seconds = loop(X, y, Xv, yv, lam=0.0, eta=eta)
    return seconds, test_accuracy(W, b, data, dtype)


METHODS = [
    "onelayer native float32 pixels, 2 threads",  # what the pipeline runs
    "onelayer native float32 pixels, 1 thread",
    "onelayer native float64 pixels, 2 threads",
    "onelayer native float32 features, 2 threads",
    "onelayer numpy float32, 2 threads",
    "numpy loop float32",
    "torch loop float32",
]


def _one_run(args):
    path, eta = args
    data = load_processed(path)
    X, y, Xv, yv = split(data, np.float32)
    return train(
        X, y, Xv, yv, lam=0.0, eta=eta, threads=1, backend="native", pixels=pixels_of(data)
    ).seconds


def concurrency(path: str, eta: float, repeats: int) -> dict:
    """One run alone and two at once, ``repeats`` times: the ratio of the medians of the slower
    of the two to the run alone (single measurements swing with the machine's neighbours)."""
    ctx = mp.get_context("spawn")
    alone, together = [], []
    for _ in range(repeats):
        with ctx.Pool(1) as pool:
            alone += pool.map(_one_run, [(path, eta)])
        with ctx.Pool(2) as pool:
            together.append(pool.map(_one_run, [(path, eta), (path, eta)]))
    ratio = statistics.median(max(t) for t in together) / statistics.median(alone)
    return {"alone_s": alone, "together_s": together, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="data/processed/cifar10.npz")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    data = load_processed(args.data)
    rows = []
    for eta in (0.001, 0.1):
        for method in METHODS:
            times, accs = [], []
            for _ in range(args.repeats):
                seconds, acc = run_method(method, data, eta)
                times.append(seconds)
                accs.append(acc)
            rows.append(dict(eta=eta, method=method, median_s=statistics.median(times), times_s=times,
                             test_accuracy=accs[0], accuracies_agree_across_repeats=len(set(accs)) == 1))  # fmt: skip
            print(
                f"eta={eta:<6g} {method:45s} median {rows[-1]['median_s']:.3f} s  test {accs[0]:.2f} %",
                flush=True,
            )
    for r in rows:
        base = {m: next(x["median_s"] for x in rows if x["eta"] == r["eta"] and x["method"] == m)
                for m in ("numpy loop float32", "torch loop float32")}  # fmt: skip
        r["x_vs_numpy"] = base["numpy loop float32"] / r["median_s"]
        r["x_vs_torch"] = base["torch loop float32"] / r["median_s"]
    conc = {eta: concurrency(args.data, eta, args.repeats) for eta in (0.001, 0.1)}
    env = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "date": time.strftime("%Y-%m-%d"),
    }
    lines = [
        "| eta | method | median s | x faster than numpy loop | x faster than torch loop | test accuracy |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['eta']:g} | {r['method']} | {r['median_s']:.2f} | {r['x_vs_numpy']:.2f} "
                     f"| {r['x_vs_torch']:.2f} | {r['test_accuracy']:.2f} % |")  # fmt: skip
    lines += ["", "Two runs at once (1 thread each, two processes) against one alone, "
              f"{args.repeats} times each; ratio of the medians (the slower of each pair):", "",
              "| eta | alone s | together s | ratio |", "|---:|---:|---:|---:|"]  # fmt: skip
    for eta, c in conc.items():
        pairs = ", ".join(f"{a:.2f}+{b:.2f}" for a, b in c["together_s"])
        alone = ", ".join(f"{t:.2f}" for t in c["alone_s"])
        lines.append(f"| {eta:g} | {alone} | {pairs} | {c['ratio']:.2f} |")
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_train.json").write_text(
        json.dumps({"env": env, "runs": rows, "concurrency": conc}, indent=2)
    )
    (out / "bench_train.md").write_text(f"Measured {env['date']} on {env['cpus']} CPUs, numpy {env['numpy']}, "
                                        f"{args.repeats} repeats.\n\n" + table)  # fmt: skip


if __name__ == "__main__":
    main()
