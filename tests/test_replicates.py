"""Seed replicates (issue 26): each replicate is a target of its own, beside its run's folder,
that gives the same bytes alone, inside the DAG and without Snakemake; another seed changes the
numbers, the configured seed does not."""

import json
import re
import subprocess
import sys

import pytest
from conftest import copy_workflow, snakemake, write_config

pytestmark = pytest.mark.slow

RUN, SEED43 = "results/lam0_eta0.01", "results/lam0_eta0.01_seed43"


def read(path):
    return path.read_bytes()


def test_the_dag_trains_every_run_over_its_seeds(finished_workflow):
    wd, _, _ = finished_workflow
    for run in ("lam0_eta0.01", "lam0.1_eta0.01"):
        own = json.loads((wd / "results" / run / "metrics.json").read_text())
        other = json.loads((wd / "results" / f"{run}_seed43" / "metrics.json").read_text())
        assert (own["seed"], other["seed"]) == (42, 43)
        assert {k: v for k, v in own.items() if k not in ("seed", "train_seconds")} != {
            k: v for k, v in other.items() if k not in ("seed", "train_seconds")}  # fmt: skip
        # only the configured seed's run is drawn on its own
        assert not (wd / "results" / f"{run}_seed43" / "curves.png").exists()
    with open(wd / "results" / "summary.csv") as f:
        header, first = f.readline().strip().split(","), f.readline().strip().split(",")
    row = dict(zip(header, first))
    own, other = (json.loads((wd / p / "metrics.json").read_text())["test_accuracy"]
                  for p in (RUN, SEED43))  # fmt: skip
    assert row["seeds"] == "2" and float(row["seed_mean"]) == pytest.approx((own + other) / 2)
    assert float(row["test_low"]) < own < float(row["test_high"])


def test_a_replicate_alone_gives_the_bytes_it_has_in_the_dag(finished_workflow, tmp_path):
    wd, config, _ = finished_workflow
    alone = copy_workflow(tmp_path / "alone")
    cfg = write_config(alone, json.loads(json.dumps(__import__("yaml").safe_load(config.read_text()))))
    proc = snakemake(alone, f"{SEED43}/metrics.json", "--cores", "1", "--configfile", str(cfg))
    assert re.search(r"^train_seed\s+1$", proc.out, re.M) and not re.search(r"^train\s", proc.out, re.M)
    for f in ("history.csv", "model.npz"):
        assert read(alone / SEED43 / f) == read(wd / SEED43 / f), f
    # and without Snakemake, from the replicate's own metrics.json
    out = tmp_path / "by_hand"
    subprocess.run([sys.executable, "-m", "onelayer", "train", "--data",
                    str(wd / "data/processed/cifar10.npz"), "--out", str(out), "--settings",
                    str(wd / SEED43 / "metrics.json")], check=True, capture_output=True)  # fmt: skip
    for f in ("history.csv", "model.npz"):
        assert read(out / f) == read(wd / SEED43 / f), f


def test_the_configured_seed_as_a_replicate_is_the_run_itself(finished_workflow):
    wd, config, _ = finished_workflow
    target = "results/lam0_eta0.01_seed42"
    snakemake(wd, f"{target}/metrics.json", "--cores", "1", "--configfile", str(config))
    assert read(wd / target / "history.csv") == read(wd / RUN / "history.csv")
    assert read(wd / target / "model.npz") == read(wd / RUN / "model.npz")
    assert read(wd / SEED43 / "history.csv") != read(wd / RUN / "history.csv")
