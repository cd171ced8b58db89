"""Benchmark: the package's training of one configuration against the loops users write, and
against the FLOP limit of this CPU.

    python benchmarks/bench_train.py [--data data/processed/cifar10.npz] [--repeats 3]
                                      [--data-all data/processed/cifar10_all.npz] [--recipe-epochs 10]

Needs the preprocessed data (run the pipeline, or `snakemake --cores 1 data/processed/cifar10.npz`).
Times, in one process on the same data: onelayer.train as the pipeline runs it (native backend
reading the raw pixels, float32, 2 threads) once for every native build this CPU runs (an
AVX-512 machine runs the AVX2 and SSE4.2 builds too), then the best build with 1 thread, in
float64, and reading the float32 features instead of the pixels; the numpy backend; the plain
numpy loop and the PyTorch loop of benchmarks/baselines.py; for eta = 0.001 and eta = 0.1
(lambda = 0); and the numpy backend once more in a fresh process with OPENBLAS_CORETYPE=Nehalem,
which gives it the BLAS kernels of a CPU of the SSE4.2 build's level, the fair match for that
build (set in that row's own process only). Each row is set against the FLOP limit: the FLOP of one configuration (98.3
GFLOP: 40 epochs of a forward and a backward pass over 10,000 images and a forward pass over
20,000) at the float32 FMA peak measured with the widest build on as many cores at once as the
row uses. Then two onelayer runs with 1 thread each at once, in two processes, against one
alone: what `snakemake --cores 2` does with two training jobs. Then, where the five-batch set
exists (--data-all), the experiments' recipe (flips and 1-pixel moves, n_batch 200) for
--recipe-epochs epochs with every native build and the numpy backend, 1 thread, against one
core's FLOP limit: what a grid point of `snakemake improve` spends. The repeats go round-robin (repeat
r of every row before repeat r + 1 of any), so a slow spell of a shared machine falls on all rows
alike; each native build's time is also divided by the numpy backend's of the same round. Prints
a table (medians over repeats, ratios against each baseline, test accuracies, the paired ratios)
naming the CPU, and writes it to benchmarks/results/bench_train.{json,md}. Timing is not a test:
rerun it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import numpy_loop, torch_loop  # noqa: E402

from onelayer import model, native  # noqa: E402
from onelayer.dataset import Dataset, TrainingData  # noqa: E402
from onelayer.settings import TrainSettings  # noqa: E402
from onelayer.train import train  # noqa: E402


def test_accuracy(W, b, data: Dataset, dtype) -> float:
    X = data.features("test", dtype)
    return 100 * model.accuracy(
        model.scores(np.asarray(W, dtype), np.asarray(b, dtype), X), data.labels("test")
    )


def split(data: Dataset, dtype):
    return (data.features("train", dtype), data.labels("train"), data.features("val", dtype),
            data.labels("val"))  # fmt: skip


def training_data(data: Dataset, dtype, pixels: bool) -> TrainingData:
    """The report's training and validation sets as onelayer trains them: the raw pixels (the
    pipeline's way), or the float features."""
    if pixels:
        return data.training_data()
    X, y, Xv, yv = split(data, dtype)
    return TrainingData(y, yv, X, Xv)


def flop_per_config(
    d: int, n: int, n_val: int, K: int = 10, n_batch: int = 100, n_epochs: int = 40
) -> float:
    """Multiply-adds x 2 of one configuration: per epoch, the scores and the gradient G^T X of
    every batch, and the scores of the training and validation sets for the evaluation."""
    trained = n // n_batch * n_batch
    return 2.0 * K * d * n_epochs * (2 * trained + n + n_val)


def run_method(m: dict, data: dict, eta: float) -> tuple[float, float]:
    """(seconds of the training loop with its per-epoch evaluation, test accuracy %)."""
    dtype = np.float64 if m["dtype"] == "float64" else np.float32
    if m["kind"] == "onelayer":
        settings = TrainSettings(lam=0.0, eta=eta, dtype=m["dtype"], backend=m["backend"])
        r = train(training_data(data, dtype, m.get("pixels", False)), settings,
                  threads=m["threads"], variant=m.get("variant"))  # fmt: skip
        return r.seconds, test_accuracy(r.W, r.b, data, dtype)
    X, y, Xv, yv = split(data, dtype)
    loop = numpy_loop if m["kind"] == "numpy loop" else torch_loop
    W, b, seconds = loop(X, y, Xv, yv, lam=0.0, eta=eta)
    return seconds, test_accuracy(W, b, data, dtype)


def run_elsewhere(m: dict, path: str, eta: float) -> tuple[float, float]:
    """run_method in a fresh Python with the environment ``m["env"]`` (read by OpenBLAS when
    numpy loads it, so it cannot change inside this process)."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import bench_train as b; "
            "from onelayer.dataset import Dataset; "
            "print(json.dumps(b.run_method(json.loads(sys.argv[2]), Dataset.load(sys.argv[3]), "
            "float(sys.argv[4]))))")  # fmt: skip
    here = str(Path(__file__).resolve().parent)
    out = subprocess.run([sys.executable, "-c", code, here, json.dumps(m), path, str(eta)],
                         env={**os.environ, **m["env"]}, capture_output=True, text=True,
                         check=True)  # fmt: skip
    seconds, acc = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, acc


NUMPY_BACKEND = "onelayer numpy float32, 2 threads"  # the row the native builds are paired with


def methods() -> list[dict]:
    """The rows: every native build this CPU runs as the pipeline runs it, then variations of
    the best one, the numpy backend, and the two plain loops (BLAS/torch threads: all cores)."""
    runnable = native.runnable()
    best = runnable[0] if runnable else None
    rows = [dict(label=f"onelayer native {v} float32 pixels, 2 threads", kind="onelayer",
                 backend="native", variant=v, dtype="float32", pixels=True, threads=2,
                 paired=True)
            for v in runnable]  # fmt: skip
    if best:
        rows += [
            dict(label=f"onelayer native {best} float32 pixels, 1 thread", kind="onelayer",
                 backend="native", variant=best, dtype="float32", pixels=True, threads=1),
            dict(label=f"onelayer native {best} float64 pixels, 2 threads", kind="onelayer",
                 backend="native", variant=best, dtype="float64", pixels=True, threads=2),
            dict(label=f"onelayer native {best} float32 features, 2 threads", kind="onelayer",
                 backend="native", variant=best, dtype="float32", pixels=False, threads=2),
        ]  # fmt: skip
    cores = os.cpu_count()
    return rows + [
        dict(label=NUMPY_BACKEND, kind="onelayer", backend="numpy", dtype="float32", threads=2),
        # what the numpy backend gets from OpenBLAS on a CPU of the SSE4.2 build's level
        dict(label="onelayer numpy float32, 2 threads, OpenBLAS for SSE4.2 (Nehalem)",
             kind="onelayer", backend="numpy", dtype="float32", threads=2,
             env={"OPENBLAS_CORETYPE": "Nehalem"}),
        dict(label="numpy loop float32", kind="numpy loop", dtype="float32", threads=cores),
        dict(label="torch loop float32", kind="torch loop", dtype="float32", threads=cores),
    ]  # fmt: skip


def paired_ratios(rows: list[dict]) -> list[dict]:
    """For every native build's row as the pipeline runs it (``paired_build``): its time over
    the numpy backend's, round by round (the rounds ran one after the other, so both saw the
    same spell of the machine)."""
    out = []
    for r in (r for r in rows if r["paired_build"]):
        numpy_row = next(x for x in rows if x["eta"] == r["eta"] and x["method"] == NUMPY_BACKEND)
        ratios = [a / b for a, b in zip(r["times_s"], numpy_row["times_s"])]
        out.append(dict(eta=r["eta"], build=r["paired_build"], ratios=ratios,
                        median=statistics.median(ratios)))  # fmt: skip
    return out


def cpu_name() -> str:
    """The CPU's model name, with its family and model numbers (virtual machines often show a
    generic name, such as "Intel(R) Xeon(R) Processor")."""
    try:
        info = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
        name = info.get("model name") or info.get("Model") or platform.machine()
        ids = [f"{k} {info[k]}" for k in ("cpu family", "model", "CPU implementer", "CPU part")
               if k in info]  # fmt: skip
        return f"{name} ({', '.join(ids)})" if ids else name
    except OSError:
        return platform.processor() or platform.machine()


def fma_peak(variant: str, cores: int, repeats: int = 5) -> float:
    """native.fma_peak on ``cores`` cores at once, median of ``repeats``: the limit of a row
    that uses that many cores (not the one-core rate times the cores)."""
    return statistics.median(native.fma_peak(variant, 0.2, cores) for _ in range(repeats))


def config_recipe() -> dict:
    """The experiments' recipe as config.yaml sets it (experiments.train, at the grid's first
    lam, eta and n_batch) for a few epochs: flips and moves on the five-batch set, what a grid
    point spends its time on. The epochs are --recipe-epochs; the averaging of the last epochs
    and the test-time flip average, which cost nothing per epoch, are left out."""
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/config.yaml").read_text())
    experiments = config["experiments"]
    out = {k: v for k, v in experiments["train"].items()
           if k not in ("n_epochs", "average_last", "flip_average")}  # fmt: skip
    return {**out, **{k: experiments["grid"][k][0] for k in ("lam", "eta", "n_batch")}}


RECIPE = config_recipe()


def flop_per_recipe(d: int, n: int, n_val: int, n_epochs: int, K: int = 10, n_batch: int = 200,
                    subset: int = 5000, every: int = 10) -> float:  # fmt: skip
    """Multiply-adds x 2 of ``n_epochs`` epochs of the recipe: the scores and gradient of every
    batch, the validation set every epoch, the training sample every ``every``-th and the last."""
    trained = n // n_batch * n_batch
    evaluated_train = len({e for e in range(1, n_epochs + 1) if e % every == 0} | {n_epochs})
    return 2.0 * K * d * (n_epochs * (2 * trained + n_val) + evaluated_train * min(subset, n))


def recipe_rows(path: str, epochs: int, repeats: int, limits: dict) -> list[dict]:
    """The recipe on the five-batch set with each native build this CPU runs and the numpy
    backend on 1 thread, and the best build on 2 (as the grid's jobs run, experiments.threads):
    seconds per epoch (median of ``repeats``, round-robin), against the FLOP limit of the cores
    a row uses (``limits``: FLOP/s by cores busy at once)."""
    data = Dataset.load(path)
    training = data.training_data()
    n, d = training.pixels_train.shape
    subset = min(RECIPE["eval_train_subset"], n)  # a small set (the tests') is sampled whole
    flop = flop_per_recipe(d, n, data.labels("val").size, epochs, n_batch=RECIPE["n_batch"],
                           subset=subset, every=RECIPE["eval_train_every"])  # fmt: skip
    builds = [(f"native {v}", dict(backend="native"), v, 1) for v in native.runnable()]
    if 2 in limits:
        builds.append((f"native {native.runnable()[0]}, 2 threads", dict(backend="native"),
                       native.runnable()[0], 2))  # fmt: skip
    builds.append(("numpy", dict(backend="numpy"), None, 1))
    settings = TrainSettings(n_epochs=min(epochs, 200), **{**RECIPE, "eval_train_subset": subset})
    times = {label: [] for label, _, _, _ in builds}
    for rep in range(repeats):
        for label, kw, variant, threads in builds:
            r = train(training, settings.replace(**kw), threads=threads, variant=variant)
            times[label].append(r.seconds)
            print(f"recipe round {rep + 1}/{repeats} {label:28s} {r.seconds:.3f} s "
                  f"({epochs} epochs)", flush=True)  # fmt: skip
    threads_of = {label: threads for label, _, _, threads in builds}
    return [dict(method=label, epochs=epochs, images=n, times_s=ts, threads=threads_of[label],
                 median_s=statistics.median(ts), per_epoch_s=statistics.median(ts) / epochs,
                 limit_s=flop / limits[threads_of[label]], gflop=flop / 1e9)
            for label, ts in times.items()]  # fmt: skip


def _one_run(args):
    path, eta = args
    data = Dataset.load(path)
    return train(data.training_data(), TrainSettings(lam=0.0, eta=eta), threads=1).seconds


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
    parser.add_argument("--data-all", default="data/processed/cifar10_all.npz",
                        help="the five-batch set for the recipe's rows (skipped where absent)")
    parser.add_argument("--recipe-epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    data = Dataset.load(args.data)
    builds = native.runnable()
    peaks = {v: fma_peak(v, 1) for v in builds}  # one core, each build's vectors
    widest = max(peaks, key=peaks.get) if peaks else None  # its rate is this CPU's limit
    limits = {c: fma_peak(widest, c) for c in sorted({1, 2, os.cpu_count()})} if widest else {}
    n, d = data.pixels("train").shape
    flop = flop_per_config(d, n, data.labels("val").size)
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); native builds it runs: "
          f"{', '.join(peaks) or 'none'}", flush=True)  # fmt: skip
    for v, p in peaks.items():
        print(f"float32 FMA peak of one core with {v} vectors: {p / 1e9:.1f} GFLOP/s", flush=True)
    for c, p in limits.items():
        print(f"float32 FMA peak of {c} core(s) at once with {widest}: {p / 1e9:.1f} GFLOP/s")
    print(f"FLOP per configuration: {flop / 1e9:.1f} GFLOP", flush=True)
    rows = []
    for eta in (0.001, 0.1):
        # round-robin: repeat r of every method before repeat r + 1 of any, so that a slow spell
        # of a shared machine falls on all rows alike, and rows can be compared round by round
        ms = methods()
        runs = {m["label"]: ([], []) for m in ms}
        for rep in range(args.repeats):
            for m in ms:
                if m.get("env"):
                    seconds, acc = run_elsewhere(m, args.data, eta)
                else:
                    seconds, acc = run_method(m, data, eta)
                runs[m["label"]][0].append(seconds)
                runs[m["label"]][1].append(acc)
                print(f"eta={eta:<6g} round {rep + 1}/{args.repeats} {m['label']:55s} "
                      f"{seconds:.3f} s  test {acc:.2f} %", flush=True)  # fmt: skip
        for m in ms:
            times, accs = runs[m["label"]]
            limit = flop / limits.get(m["threads"], float("nan"))
            rows.append(dict(eta=eta, method=m["label"], threads=m["threads"],
                             paired_build=m["variant"] if m.get("paired") else None,
                             median_s=statistics.median(times), times_s=times, limit_s=limit,
                             test_accuracy=accs[0], accuracies_agree_across_repeats=len(set(accs)) == 1))  # fmt: skip
    for r in rows:
        base = {m: next(x["median_s"] for x in rows if x["eta"] == r["eta"] and x["method"] == m)
                for m in ("numpy loop float32", "torch loop float32")}  # fmt: skip
        r["x_vs_numpy"] = base["numpy loop float32"] / r["median_s"]
        r["x_vs_torch"] = base["torch loop float32"] / r["median_s"]
    paired = paired_ratios(rows)
    conc = {eta: concurrency(args.data, eta, args.repeats) for eta in (0.001, 0.1)}
    recipe = []
    if Path(args.data_all).exists() and widest:
        recipe = recipe_rows(args.data_all, args.recipe_epochs, args.repeats, limits)
    else:
        print(f"{args.data_all} not found: no rows for the experiments' recipe "
              "(snakemake --cores 2 data/processed/cifar10_all.npz makes it)")  # fmt: skip
    env = {
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "native_builds": list(peaks),
        "fma_peak_gflops": {v: p / 1e9 for v, p in peaks.items()},
        "fma_peak_gflops_by_cores": {c: p / 1e9 for c, p in limits.items()},
        "flop_per_config": flop,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "date": time.strftime("%Y-%m-%d"),
    }
    peak_lines = ", ".join(f"{v} {p / 1e9:.1f}" for v, p in peaks.items())
    core_lines = ", ".join(f"{c} core(s) {p / 1e9:.1f}" for c, p in limits.items())
    lines = [
        f"CPU: {env['cpu']}, {env['cpus']} cores. Float32 FMA peak of one core (GFLOP/s) with the "
        f"vectors of each build: {peak_lines}; with {widest}'s, cores busy at once: "
        f"{core_lines}. FLOP limit: {flop / 1e9:.1f} GFLOP per configuration at that peak, on "
        "the cores a row uses (the BLAS and torch loops: all of them).",
        "",
        "| eta | method | median s | FLOP limit s | x the limit | x faster than numpy loop "
        "| x faster than torch loop | test accuracy |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['eta']:g} | {r['method']} | {r['median_s']:.2f} | {r['limit_s']:.2f} "
                     f"| {r['median_s'] / r['limit_s']:.2f} | {r['x_vs_numpy']:.2f} "
                     f"| {r['x_vs_torch']:.2f} | {r['test_accuracy']:.2f} % |")  # fmt: skip
    lines += ["", "Two runs at once (1 thread each, two processes) against one alone, "
              f"{args.repeats} times each; ratio of the medians (the slower of each pair):", "",
              "| eta | alone s | together s | ratio |", "|---:|---:|---:|---:|"]  # fmt: skip
    for eta, c in conc.items():
        pairs = ", ".join(f"{a:.2f}+{b:.2f}" for a, b in c["together_s"])
        alone = ", ".join(f"{t:.2f}" for t in c["alone_s"])
        lines.append(f"| {eta:g} | {alone} | {pairs} | {c['ratio']:.2f} |")
    lines += ["", "Each native build against the numpy backend (2 threads each), round by round: its "
              "time over the numpy backend's in the same round (below 1: the build is faster):", "",
              "| eta | build | ratio per round | median ratio |", "|---:|---|---|---:|"]  # fmt: skip
    for p in paired:
        per = ", ".join(f"{x:.2f}" for x in p["ratios"])
        lines.append(f"| {p['eta']:g} | {p['build']} | {per} | {p['median']:.2f} |")
    if recipe:
        r0 = recipe[0]
        lines += ["", f"The experiments' recipe (flips, 1-pixel moves, n_batch 200, cosine decay, "
                  f"the validation set every epoch and 5,000 training images every 10th) on the "
                  f"five-batch set ({r0['images']} images), {r0['epochs']} epochs: "
                  f"{r0['gflop']:.1f} GFLOP; the FLOP limit is that of the cores a row uses (a "
                  f"200-epoch grid point: 20 times these; the grid runs on 2 threads):", "",
                  "| method | threads | median s | s per epoch | FLOP limit s | x the limit |",
                  "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in recipe:
            lines.append(f"| recipe, {r['method']} | {r['threads']} | {r['median_s']:.2f} "
                         f"| {r['per_epoch_s']:.3f} | {r['limit_s']:.2f} "
                         f"| {r['median_s'] / r['limit_s']:.2f} |")  # fmt: skip
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_train.json").write_text(
        json.dumps({"env": env, "runs": rows, "paired": paired, "concurrency": conc,
                    "recipe": recipe}, indent=2)  # fmt: skip
    )
    (out / "bench_train.md").write_text(f"Measured {env['date']} on {env['cpus']} CPUs, numpy {env['numpy']}, "
                                        f"{args.repeats} repeats.\n\n" + table)  # fmt: skip


if __name__ == "__main__":
    main()
