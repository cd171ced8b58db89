"""Real Snakemake runs on a tiny official-format archive served from 127.0.0.1."""

import csv
import json
import re

import pytest
from conftest import copy_workflow, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

RUNS = ["lam0_eta0.01", "lam0.1_eta0.01"]


def test_full_dag_makes_every_target(finished_workflow):
    wd, _, proc = finished_workflow
    for run in RUNS:
        for f in ("history.csv", "model.npz", "metrics.json", "curves.png", "weights.png"):
            assert (wd / "results" / run / f).stat().st_size > 0, (run, f)
        m = json.loads((wd / "results" / run / "metrics.json").read_text())
        assert m["status"] == "ok" and m["epochs_run"] == 3 and 0 <= m["test_accuracy"] <= 100
        assert m["n_batch"] == 20 and m["seed"] == 42 and m["train_seconds"] > 0
        with open(wd / "results" / run / "history.csv") as f:
            rows = list(csv.DictReader(f))
        assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    for f in ("summary.csv", "summary.md", "report.md", "figures/overview_curves.png",
              "figures/overview_weights.png", "figures/accuracy.png"):  # fmt: skip
        assert (wd / "results" / f).exists(), f
    with open(wd / "results" / "gradcheck" / "gradcheck.csv") as f:
        checks = list(csv.DictReader(f))
    assert all(r["passed"] == "True" for r in checks)
    # the default backend is native: its C gradients, on features and on the pixels it trains
    # on, are checked beside numpy's
    assert {r["code"] for r in checks} == {"numpy", "native", "native-pixels"}
    summary = (wd / "results" / "summary.md").read_text()
    assert "| 0 | 0.01 |" in summary and "30.00 %" in summary  # the reference number from config
    for log in ("download_cifar10", "extract_cifar10", "preprocess", "gradcheck", "summary"):
        assert (wd / "logs" / f"{log}.log").exists(), log
    assert "epoch   3/3" in (wd / "logs" / "train" / "lam0_eta0.01.log").read_text()
    assert "verified MD5" in (wd / "logs" / "download_cifar10.log").read_text()


def test_second_run_has_nothing_to_do(finished_workflow):
    wd, config, _ = finished_workflow
    proc = snakemake(wd, "--cores", "2", "--configfile", str(config))
    assert "Nothing to be done" in proc.out


def test_dry_run_lists_jobs_and_writes_nothing(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path)
    config = write_config(wd, tiny_config(url, md5))
    proc = snakemake(wd, "-n", "--cores", "1", "--configfile", str(config))
    assert re.search(r"^train\s+2$", proc.out, re.M) and re.search(
        r"^download_cifar10\s+1$", proc.out, re.M
    )
    assert not (wd / "data").exists() and not (wd / "results").exists()


def test_rulegraph_puts_gradcheck_before_training(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path)
    config = write_config(wd, tiny_config(url, md5))
    dot = snakemake(wd, "--rulegraph", "--configfile", str(config)).out
    ids = dict((name, i) for i, name in re.findall(r'(\d+)\[label = "(\w+)"', dot))
    assert f"{ids['gradcheck']} -> {ids['train']}" in dot
    assert f"{ids['preprocess']} -> {ids['gradcheck']}" in dot


def test_a_pair_not_in_config_trains_by_its_target(finished_workflow):
    wd, config, _ = finished_workflow
    target = "results/lam0.5_eta0.02/metrics.json"
    proc = snakemake(wd, target, "--cores", "1", "--configfile", str(config))
    assert re.search(r"^train\s+1$", proc.out, re.M) and "rule gradcheck" not in proc.out
    m = json.loads((wd / target).read_text())
    assert (m["lam"], m["eta"], m["status"]) == (0.5, 0.02, "ok")


@pytest.mark.parametrize(
    "target, message",
    [
        ("results/lam-1_eta0.1/metrics.json", "lam must be >= 0"),
        ("results/lamabc_eta0.1/metrics.json", "not a number"),
        ("results/lam0_eta0/metrics.json", "eta must be > 0"),
        ("results/lam0.50_eta0.1/metrics.json", "write the number as '0.5'"),
        ("results/lam0_eta0.1_seed043/metrics.json", "write the seed as a whole number"),
    ],
)
def test_bad_run_targets_are_refused_clearly(finished_workflow, target, message):
    wd, config, _ = finished_workflow
    proc = snakemake(wd, target, "--cores", "1", "--configfile", str(config), check=False)
    assert proc.returncode != 0
    assert message in proc.out
    assert "Traceback (most recent call last)" not in proc.out  # a message, not a Python crash
    assert not (wd / target).parent.exists()


def test_html_report_contains_the_figures(finished_workflow):
    wd, config, _ = finished_workflow
    snakemake(wd, "--configfile", str(config), "--report", "results/report.html")
    html = (wd / "results" / "report.html").read_text(errors="replace")
    for name in (
        "curves.png",
        "weights.png",
        "overview_curves.png",
        "accuracy.png",
        "summary.csv",
        "gradcheck.md",
    ):
        assert name in html, name
    assert "min-max normalised" in html  # a caption


def test_failed_gradient_check_stops_the_pipeline_before_training(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path)
    config = tiny_config(url, md5)
    # Tolerances no float64 computation can meet: the check fails, as a wrong gradient would.
    config["gradcheck"].update(abs_tol=1e-300, rel_tol=1e-300)
    proc = snakemake(wd, "--cores", "2", "--configfile", str(write_config(wd, config)), check=False)
    assert proc.returncode != 0
    assert re.search(
        r"gradient check failed:\s+case 'small', softmax loss, numpy code, torch, dW: max abs",
        proc.out,
    )
    assert "Traceback (most recent call last)" not in proc.out
    assert not (wd / "results/gradcheck/gradcheck.csv").exists()
    assert not list((wd / "results").glob("lam*")) and "rule train" not in proc.out


def test_numpy_backend_trains_and_checks_only_its_own_gradients(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    cfg = tiny_config(url, md5, train={"n_batch": 20, "n_epochs": 2, "backend": "numpy"})
    cfg["runs"] = [{"lam": 0, "eta": 0.01}]
    snakemake(wd, "--cores", "2", "--configfile", str(write_config(wd, cfg)))
    with open(wd / "results" / "gradcheck" / "gradcheck.csv") as f:
        assert {r["code"] for r in csv.DictReader(f)} == {"numpy"}
    m = json.loads((wd / "results" / "lam0_eta0.01" / "metrics.json").read_text())
    assert m["backend"] == "numpy" and m["status"] == "ok" and m["epochs_run"] == 2


# The bytes of a run's history, pinned: the native kernels give the same bits on every CPU with
# FMA (AVX2, AVX-512, NEON; tests/test_native*.py), so any change here is a change of numbers.
TINY_HISTORY_SHA256 = "42eea044b8c45bf9b8bfbe3a97b9ebff53aad3b3b66316fd91626cf46d1993dd"


def test_the_history_bytes_are_pinned(finished_workflow):
    import hashlib

    from onelayer import native

    wd, _, _ = finished_workflow
    m = json.loads((wd / "results" / "lam0_eta0.01" / "metrics.json").read_text())
    if not m["native_fma"]:
        pytest.skip(f"trained by {m['native_variant']}, a build without FMA: other bits")
    assert m["backend"] == "native" and m["native_variant"] in native.runnable()
    data = (wd / "results" / "lam0_eta0.01" / "history.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == TINY_HISTORY_SHA256


def test_the_improvements_are_train_keys_recorded_in_metrics(
    tmp_path, tiny_archive, finished_workflow
):
    """flip, a step schedule and averaging, set in config, train one run that differs from the
    plain one and says how it was trained."""
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    train = {"n_batch": 20, "n_epochs": 3, "seed": 42, "flip": 0.5, "average_last": 2,
             "schedule": {"kind": "step", "factor": 2, "every": 1}}  # fmt: skip
    cfg = tiny_config(url, md5, train=train)
    cfg["runs"] = [{"lam": 0, "eta": 0.01}]
    snakemake(wd, "--cores", "2", "--configfile", str(write_config(wd, cfg)))
    m = json.loads((wd / "results" / "lam0_eta0.01" / "metrics.json").read_text())
    assert m["flip"] == 0.5 and m["average_last"] == 2 and m["status"] == "ok"
    assert m["schedule"] == {"kind": "step", "factor": 2, "every": 1}
    plain = finished_workflow[0] / "results" / "lam0_eta0.01"
    assert json.loads((plain / "metrics.json").read_text())["flip"] == 0
    ours = (wd / "results" / "lam0_eta0.01" / "history.csv").read_bytes()
    assert ours != (plain / "history.csv").read_bytes()


def test_all_five_batches_are_a_target_of_their_own(finished_workflow):
    """data/processed/cifar10_all.npz: all training batches but the last val_size images, made
    only when asked for (the default run above did not make it)."""
    from onelayer.dataset import Dataset

    wd, config, _ = finished_workflow
    target = wd / "data" / "processed" / "cifar10_all.npz"
    assert not target.exists()
    import yaml

    cfg = {**yaml.safe_load(config.read_text()), "experiments": {"val_size": 150}}
    snakemake(wd, "data/processed/cifar10_all.npz", "--cores", "1", "--configfile",
              str(write_config(wd, cfg, "all.yaml")))  # fmt: skip
    a = Dataset.load(target)
    assert a.features("train").shape == (3072, 5 * 200 - 150)
    assert a.features("val").shape == (3072, 150)
    assert a.pixels("train").shape == (850, 3072) and (wd / "logs" / "preprocess_all.log").exists()


@pytest.mark.parametrize("umask, listed", [(0o022, "-rw-r--r--"), (0o077, "-rw-------")])
def test_outputs_are_readable_as_the_umask_says(tmp_path, tiny_archive, umask, listed):
    """`ls -l results/lam0_eta0.01/` after a run under umask 022: -rw-r--r--, as for any file
    the user makes; so are the data and the logs (and 077 keeps them private)."""
    import stat

    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    cfg = tiny_config(url, md5)
    cfg["runs"] = [{"lam": 0, "eta": 0.01}]
    snakemake(wd, "results/lam0_eta0.01/curves.png", "--cores", "2", "--configfile",
              str(write_config(wd, cfg)), umask=umask)  # fmt: skip
    files = [p for d in ("results", "data", "logs") for p in (wd / d).rglob("*") if p.is_file()]
    assert {p.name for p in (wd / "results/lam0_eta0.01").iterdir()} == {
        "history.csv", "model.npz", "metrics.json", "curves.png", "weights.png"}  # fmt: skip
    assert len(files) > 12
    for p in files:
        assert stat.filemode(p.stat().st_mode) == listed, p
