"""The whole pipeline on the shared CIFAR-10 mirror: the report's numbers, within the issue's bounds.

Runs when ../shared/data/cifar-10-python.tar.gz exists (it does on developer machines and in CI).
"""

import csv
import json
import os

import pytest
from conftest import SHARED_ARCHIVE, SHARED_MD5, copy_workflow, snakemake, write_config

pytestmark = [
    pytest.mark.realdata,
    # CI must have the mirror: there a missing file fails instead of skipping.
    pytest.mark.skipif(
        not SHARED_ARCHIVE.exists() and os.environ.get("CI") != "true",
        reason=f"{SHARED_ARCHIVE} not present",
    ),
]

REPORT = {
    "lam0_eta0.1": 28.77,
    "lam0_eta0.001": 39.32,
    "lam0.1_eta0.001": 39.40,
    "lam1_eta0.001": 37.38,
}


@pytest.fixture(scope="module")
def mirror_run(tmp_path_factory):
    wd = copy_workflow(tmp_path_factory.mktemp("real"))
    mirror = write_config(
        wd, {"cifar10": {"url": SHARED_ARCHIVE.as_uri(), "md5": SHARED_MD5}}, "mirror.yaml"
    )
    snakemake(wd, "--cores", "2", "--configfile", str(mirror))
    return wd


def test_accuracies_match_the_report(mirror_run):
    for run, theirs in REPORT.items():
        ours = json.loads((mirror_run / "results" / run / "metrics.json").read_text())[
            "test_accuracy"
        ]
        bound = 2.5 if run == "lam0_eta0.1" else 0.5
        assert abs(ours - theirs) <= bound, (run, ours, theirs)


def test_first_epoch_cost_matches_the_handout(mirror_run):
    with open(mirror_run / "results" / "lam0_eta0.001" / "history.csv") as f:
        first = next(csv.DictReader(f))
    assert abs(float(first["train_cost"]) - 1.972) <= 0.01


def test_gradients_agree_with_torch_below_1e6(mirror_run):
    with open(mirror_run / "results" / "gradcheck" / "gradcheck.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["case"] for r in rows} >= {"handout_small", "full_lam0", "full_lam0.1", "full_lam1"}
    assert all(r["passed"] == "True" and float(r["max_abs_diff"]) < 1e-6 for r in rows)


def test_summary_lists_the_four_runs_beside_the_report(mirror_run):
    summary = (mirror_run / "results" / "summary.md").read_text()
    for theirs in REPORT.values():
        assert f"{theirs:.2f} %" in summary


def test_blas_threads_do_not_change_the_numbers(mirror_run, tmp_path):
    """The pipeline trained with threads=1; threads=2 (each epoch and evaluation shared by two
    threads) and two BLAS threads in the environment must give the same bytes."""
    import subprocess
    import sys

    out = tmp_path / "run"
    code = (
        "import sys; from onelayer.runs import run; from onelayer.settings import TrainSettings; "
        "run(sys.argv[1], TrainSettings(lam=0.0, eta=0.001), sys.argv[2], threads=2)"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    data = mirror_run / "data" / "processed" / "cifar10.npz"
    subprocess.run([sys.executable, "-c", code, str(data), str(out)], env=env, check=True)
    ours = mirror_run / "results" / "lam0_eta0.001"
    assert (out / "history.csv").read_bytes() == (ours / "history.csv").read_bytes()
    assert (out / "model.npz").read_bytes() == (ours / "model.npz").read_bytes()


def test_float32_stays_within_a_tenth_of_a_point_of_float64(mirror_run, tmp_path):
    """The issue's bound for the stable runs: float32 training (the default) against a float64
    reference, on the real data."""
    from onelayer.runs import run
    from onelayer.settings import TrainSettings

    data = mirror_run / "data" / "processed" / "cifar10.npz"
    ref = run(data, TrainSettings(lam=0.0, eta=0.001, dtype="float64"), tmp_path / "f64", threads=2)
    ours = json.loads((mirror_run / "results" / "lam0_eta0.001" / "metrics.json").read_text())
    assert ours["dtype"] == "float32" and ref["dtype"] == "float64"
    assert abs(ours["test_accuracy"] - ref["test_accuracy"]) <= 0.1, (ours, ref)


# The chaotic eta = 0.1 run, pinned to the byte: every native build with FMA (AVX-512 and AVX2
# measured on Intel and AMD, NEON under qemu) ends at train loss 2.893222448739878 and 30.55 %.
ETA01_HISTORY_SHA256 = "d2f60b60ec3160f774d05280533e11166444cba9b863a956c245d5cb6c369282"


def test_the_chaotic_run_is_the_same_bytes_on_every_fma_cpu(mirror_run):
    import hashlib

    run = mirror_run / "results" / "lam0_eta0.1"
    m = json.loads((run / "metrics.json").read_text())
    if not m["native_fma"]:
        pytest.skip(f"trained by {m['native_variant']}, a build without FMA: other bits")
    assert m["final_train_loss"] == 2.893222448739878 and m["test_accuracy"] == 30.55
    digest = hashlib.sha256((run / "history.csv").read_bytes()).hexdigest()
    assert digest == ETA01_HISTORY_SHA256
