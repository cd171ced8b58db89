"""The improvements' grid (issue 12, first part): real Snakemake runs on the tiny archive; every
point is a target, and a rerun after a kill trains only the missing points."""

import csv
import json
import signal
import subprocess
import sys

import pytest
from conftest import copy_workflow, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

GRID = {"lam": [0.0, 0.01], "eta": [0.01, 0.05], "n_batch": [20]}
POINTS = [f"lam~{lam}_eta~{eta}_nbatch~20" for lam in (0.0, 0.01) for eta in (0.01, 0.05)]


def grid_config(url, md5, grid=GRID):
    cfg = tiny_config(url, md5)
    cfg["experiments"] = {"val_size": 100, "grid": grid,
                          "train": {"n_epochs": 2, "flip": 0.5, "eval_train_subset": 200}}  # fmt: skip
    return cfg


def test_every_point_trains_in_its_folder_and_the_table_lists_them(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    snakemake(
        wd, "improve", "--cores", "2", "--configfile", str(write_config(wd, grid_config(url, md5)))
    )
    with open(wd / "results" / "improve" / "grid.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["point"] for r in rows] == POINTS
    for r in rows:
        m = json.loads((wd / "results/improve/grid" / r["point"] / "metrics.json").read_text())
        assert (m["lam"], m["eta"], m["n_batch"]) == (float(r["lam"]), float(r["eta"]), 20)
        assert m["flip"] == 0.5 and m["n_epochs"] == 2 and m["status"] == "ok"
        assert float(r["val_accuracy"]) == pytest.approx(100 * m["final_val_accuracy"])
    # the grid trained on all five batches but the 100 held out: 900 images
    assert {json.loads((wd / "results/improve/grid" / p / "metrics.json").read_text())[
        "train_images"] for p in POINTS} == {900}  # fmt: skip
    # chosen on validation only (the first best in the table), retrained with the 100 added
    best = json.loads((wd / "results" / "improve" / "best.json").read_text())
    top = max(float(r["val_accuracy"]) for r in rows)
    first_top = next(r for r in rows if float(r["val_accuracy"]) == top)
    assert best["point"] == first_top["point"] and best["val_accuracy"] == top
    assert (best["lam"], best["eta"], best["n_batch"]) == (
        float(first_top["lam"]),
        float(first_top["eta"]),
        20,
    )
    retrain = json.loads((wd / "results/improve/best/metrics.json").read_text())
    assert retrain["train_on_val"] and retrain["train_images"] == best["train_images"] == 1000
    assert best["test_accuracy"] == retrain["test_accuracy"] and best["flip"] == 0.5
    assert not (wd / "results" / "summary.csv").exists()  # the report's runs are another target


def test_a_killed_grid_reruns_only_its_missing_points(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    config = str(write_config(wd, grid_config(url, md5)))
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "improve", "--cores", "1",
                             "--configfile", config], cwd=wd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    # kill it once Snakemake has recorded a grid point as finished
    for line in proc.stdout:
        if "(Rule: improve_grid_point)" in line and "Finished" in line:
            break
    else:
        pytest.fail("the grid ended before a point finished")
    proc.send_signal(signal.SIGINT)  # as a user's Ctrl-C: running jobs are stopped
    proc.communicate(timeout=120)
    done = {p: (wd / "results/improve/grid" / p / "metrics.json") for p in POINTS}
    finished = {p: f.stat().st_mtime_ns for p, f in done.items() if f.exists()}
    assert 1 <= len(finished) < len(POINTS), finished
    # what the README tells a user after a kill: the killed job is marked incomplete (even if
    # its files were written as the signal came), everything else that finished is kept
    args = ["improve", "--cores", "1", "--rerun-incomplete", "--configfile", config]
    plan = snakemake(wd, "-n", *args).out
    to_train = {p for p in POINTS if f"output: results/improve/grid/{p}/history.csv" in plan}
    assert set(POINTS) - set(finished) <= to_train and len(to_train) < len(POINTS), plan[-3000:]
    rerun = snakemake(wd, *args)
    assert rerun.out.count("rule improve_grid_point:") == len(to_train), rerun.out[-3000:]
    for p, mtime in finished.items():
        if p not in to_train:  # a point that was done is untouched
            assert done[p].stat().st_mtime_ns == mtime
    assert all(f.exists() for f in done.values())
