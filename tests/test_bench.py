"""benchmarks/bench_train.py end to end on the tiny archive's processed data: every row runs,
the repeats go round-robin, and each native build is paired with the numpy backend round by
round. Timings are not checked (timing is not a test); what the tables are built from is."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench(finished_workflow, tmp_path_factory):
    from cifar_format import make_archive

    from onelayer.cifar10 import extract
    from onelayer.preprocess import preprocess

    workdir, _, _ = finished_workflow
    out = tmp_path_factory.mktemp("bench")
    data = workdir / "data" / "processed" / "cifar10.npz"
    # a five-batch set for the recipe's rows: 5 x 200 images, 100 of them held out
    make_archive(out / "a.tar.gz", n=200, seed=0)
    b1, b2, b3, b4, b5, test, meta = extract(out / "a.tar.gz", out)
    preprocess([b1, b2, b3, b4, b5], [], [test], meta, out / "all.npz", val_size=100)
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_train.py"), "--data", str(data),
         "--data-all", str(out / "all.npz"), "--recipe-epochs", "2", "--repeats", "2", "--out",
         str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout, json.loads((out / "bench_train.json").read_text()), out


def test_every_row_runs_round_robin(bench):
    from onelayer import native

    stdout, result, _ = bench
    labels = [r["method"] for r in result["runs"] if r["eta"] == 0.001]
    assert [r["method"] for r in result["runs"] if r["eta"] == 0.1] == labels
    for v in native.runnable():
        assert f"onelayer native {v} float32 pixels, 2 threads" in labels
    assert {"numpy loop float32", "torch loop float32", "onelayer numpy float32, 2 threads"} <= set(
        labels
    )
    # round 1 of every row is printed before round 2 of any
    lines = [line for line in stdout.splitlines() if line.startswith("eta=0.001 ")]
    rounds = [int(line.split("round ")[1].split("/")[0]) for line in lines]
    assert rounds == sorted(rounds) and rounds.count(1) == len(labels) == rounds.count(2)
    assert all(len(r["times_s"]) == 2 for r in result["runs"])


def test_each_build_is_paired_with_the_numpy_backend_round_by_round(bench):
    from onelayer import native

    _, result, out = bench
    runs = {(r["eta"], r["method"]): r["times_s"] for r in result["runs"]}
    paired = {(p["eta"], p["build"]): p for p in result["paired"]}
    assert set(paired) == {(eta, v) for eta in (0.001, 0.1) for v in native.runnable()}
    for (eta, v), p in paired.items():
        ours = runs[(eta, f"onelayer native {v} float32 pixels, 2 threads")]
        numpy_times = runs[(eta, "onelayer numpy float32, 2 threads")]
        assert p["ratios"] == pytest.approx([a / b for a, b in zip(ours, numpy_times)])
        assert sorted(p["ratios"])[0] <= p["median"] <= sorted(p["ratios"])[-1]
    md = (out / "bench_train.md").read_text()
    assert "round by round" in md and f"CPU: {result['env']['cpu']}" in md
    for v in native.runnable():
        assert f"| 0.001 | {v} | " in md and f"| 0.1 | {v} | " in md


def test_the_recipe_runs_every_build_and_the_numpy_backend_against_their_cores_limit(bench):
    from onelayer import native

    stdout, result, out = bench
    rows = {r["method"]: r for r in result["recipe"]}
    best = f"native {native.runnable()[0]}, 2 threads"  # as the grid's points run
    assert set(rows) == {f"native {v}" for v in native.runnable()} | {"numpy", best}
    assert rows[best]["threads"] == 2 and rows["numpy"]["threads"] == 1
    peaks = result["env"]["fma_peak_gflops_by_cores"]
    assert rows[best]["limit_s"] == pytest.approx(rows["numpy"]["limit_s"] * peaks["1"] / peaks["2"])
    for r in rows.values():
        assert r["epochs"] == 2 and r["images"] == 900 and len(r["times_s"]) == 2
        assert r["per_epoch_s"] == pytest.approx(r["median_s"] / 2)
    # 2 epochs of 2 passes over the 800 images of 4 batches of 200, the 100 validation images
    # each epoch, and the (up to 5,000) training images once, after the last epoch
    flop = 2 * 10 * 3072 * (2 * (2 * 800 + 100) + 900)
    assert rows["numpy"]["gflop"] == pytest.approx(flop / 1e9)
    assert rows["numpy"]["limit_s"] == pytest.approx(flop / 1e9 / result["env"]["fma_peak_gflops_by_cores"]["1"])
    lines = [line for line in stdout.splitlines() if line.startswith("recipe round ")]
    assert [int(line.split("round ")[1].split("/")[0]) for line in lines] == sorted(
        int(line.split("round ")[1].split("/")[0]) for line in lines)  # round-robin
    assert "| recipe, numpy | " in (out / "bench_train.md").read_text()
