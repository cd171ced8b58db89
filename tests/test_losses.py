"""The second loss (issue 13): sigmoid + multiple binary cross-entropy beside softmax, through
real Snakemake runs on the tiny archive: the eta chosen on validation, the improved setting from
the grid, the comparison table and figures, and a wrong BCE gradient stopping the pipeline."""

import csv
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO, copy_workflow, snakemake, write_config
from test_improve import grid_config

pytestmark = pytest.mark.slow

ETAS = [0.005, 0.05]


def losses_config(url, md5):
    cfg = grid_config(url, md5)
    cfg["losses"] = {"one_batch": {"lam": 0.1, "eta": 0.01}, "bce_etas": ETAS, "bce_eta_scale": 10}
    return cfg


def metrics(wd, path):
    return json.loads((wd / "results" / path / "metrics.json").read_text())


def test_both_losses_train_in_both_settings_and_are_compared(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    snakemake(wd, "losses", "--cores", "2", "--configfile",
              str(write_config(wd, losses_config(url, md5))))  # fmt: skip
    # every code's gradients were checked for both losses
    with open(wd / "results/gradcheck/gradcheck.csv") as f:
        checked = {(r["loss"], r["code"]) for r in csv.DictReader(f)}
    assert {loss for loss, _ in checked} == {"softmax", "bce"}
    assert {code for loss, code in checked if loss == "bce"} == {c for _, c in checked}
    # on one batch: softmax at its eta; BCE at the candidate best on validation
    candidates = [metrics(wd, f"losses/one_batch/bce_eta~{e:g}") for e in ETAS]
    assert all(c["loss"] == "bce" and c["lam"] == 0.1 for c in candidates)
    best = max(candidates, key=lambda c: c["val_accuracy"])  # first on a tie, as max keeps
    runs = {(s, loss): metrics(wd, f"losses/{s}/{loss}") for s in ("one_batch", "improved")
            for loss in ("softmax", "bce")}  # fmt: skip
    assert (runs["one_batch", "softmax"]["loss"], runs["one_batch", "softmax"]["eta"]) == (
        "softmax",
        0.01,
    )
    assert (runs["one_batch", "bce"]["loss"], runs["one_batch", "bce"]["eta"]) == ("bce", best["eta"])
    assert runs["one_batch", "bce"]["test_accuracy"] == best["test_accuracy"]  # the same run again
    assert runs["one_batch", "softmax"]["train_images"] == 200
    # the eta chosen is written once, for the run that takes it
    chosen = json.loads((wd / "results/losses/one_batch/bce_eta.json").read_text())
    assert chosen == {"eta": best["eta"], "val_accuracy": best["val_accuracy"]}
    # the improved setting: the grid's best point; BCE at its eta x 10
    with open(wd / "results/improve/grid.csv") as f:
        rows = list(csv.DictReader(f))
    top = max(rows, key=lambda r: float(r["val_accuracy"]))
    s, b = runs["improved", "softmax"], runs["improved", "bce"]
    assert (s["lam"], s["eta"], s["n_batch"]) == (float(top["lam"]), float(top["eta"]), 20)
    assert (b["lam"], b["eta"], b["loss"]) == (s["lam"], pytest.approx(10 * s["eta"]), "bce")
    assert s["train_images"] == b["train_images"] == 900
    # the table: one row per run, its accuracies the means over its two seeds, BCE's rows
    # against softmax paired on the same seeds and test images
    seed43 = {(s, loss): metrics(wd, f"losses/{s}/{loss}_seed43") for s, loss in runs}
    assert all(m["seed"] == 43 and m["loss"] == loss for (_, loss), m in seed43.items())
    assert seed43["improved", "bce"]["eta"] == runs["improved", "bce"]["eta"]  # the same choice
    with open(wd / "results/losses/comparison.csv") as f:
        table = list(csv.DictReader(f))
    assert [(r["setting"], r["loss"]) for r in table] == list(runs)
    mean = {k: (runs[k]["test_accuracy"] + seed43[k]["test_accuracy"]) / 2 for k in runs}
    for r in table:
        key = (r["setting"], r["loss"])
        m = runs[key]
        assert float(r["test_accuracy"]) == pytest.approx(mean[key]) and r["seeds"] == "2"
        assert float(r["val_accuracy"]) == pytest.approx((m["val_accuracy"] + seed43[key][
            "val_accuracy"]) / 2)  # fmt: skip
        gap = m["final_val_loss"] - m["final_train_loss"]
        assert float(r["loss_gap"]) == pytest.approx(gap, abs=1e-6)
        if r["loss"] == "bce":
            d = float(r["vs_softmax"])
            assert d == pytest.approx(mean[key] - mean[r["setting"], "softmax"])
            assert float(r["vs_low"]) <= d <= float(r["vs_high"])
        else:
            assert r["vs_softmax"] == ""
    finding = (wd / "results/losses/comparison.md").read_text()
    assert f"BCE reaches {mean['one_batch', 'bce']:.2f} % against " in finding
    assert f"{mean['one_batch', 'softmax']:.2f} % on one batch (mean over 2 seeds" in finding
    assert re.search(r"(no detectable difference|higher|lower) \([+-]\d+\.\d\d points, 95 % "
                     r"interval [+-]\d+\.\d\d to [+-]\d+\.\d\d\)", finding), finding  # fmt: skip
    assert re.search(r"on one batch (BCE|softmax) overfits more", finding)
    from matplotlib.image import imread

    for png in ("histograms.png", "curves.png"):  # a row per setting: one batch, improved
        assert imread(wd / "results/losses" / png).shape[:2] == (int(100 * (3.2 * 2 + 0.4)), 1000)


def test_a_wrong_bce_gradient_stops_the_pipeline_before_bce_training(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    # a copy of the package first on PYTHONPATH (the workflow and its jobs import it), with a
    # BCE gradient that forgets its 1/K
    shutil.copytree(REPO / "onelayer", tmp_path / "pkg" / "onelayer",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    source = tmp_path / "pkg" / "onelayer" / "model.py"
    text = source.read_text()
    slip = 'G /= (K or W.shape[0]) * n if loss == "bce" else n'
    assert slip in text
    source.write_text(text.replace(slip, "G /= n"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "pkg")}
    proc = snakemake(wd, "losses", "--cores", "2", "--configfile",
                     str(write_config(wd, losses_config(url, md5))), check=False, env=env)  # fmt: skip
    assert proc.returncode != 0
    assert re.search(r"gradient check failed:.*case '\w+', bce loss, numpy code, torch, dW",
                     proc.out, re.S), proc.out[-3000:]  # fmt: skip
    assert "softmax loss" not in proc.out.split("gradient check failed:")[1].split("\n\n")[0]
    assert not (wd / "results/gradcheck/gradcheck.csv").exists()
    assert not list(Path(wd / "results").glob("losses/**/metrics.json"))
    assert not list(Path(wd / "results").glob("improve/**/metrics.json"))
