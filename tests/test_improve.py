"""The improvements' grid (issue 12, first part): real Snakemake runs on the tiny archive; every
point is a target, and a rerun after a kill trains only the missing points."""

import csv
import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import REPO, copy_workflow, snakemake, tiny_config, write_config

from onelayer import model
from onelayer.dataset import Dataset

pytestmark = pytest.mark.slow

GRID = {"lam": [0.0, 0.01], "eta": [0.01, 0.05], "n_batch": [20]}
POINTS = [f"lam~{lam}_eta~{eta}_nbatch~20" for lam in (0.0, 0.01) for eta in (0.01, 0.05)]


# over config.yaml's ablation (Snakemake merges a --configfile key by key): 2 epochs, the
# default steps (all_data, flip, decay, translate, average, flip_average) and one more
ABLATION = {"base": {"lam": 0.1, "eta": 0.01, "n_epochs": 2},
            "steps": {"all_data": {"eval_train_subset": 200}, "average": {"average_last": 2},
                      "lower_lam": {"lam": 0.01}}}  # fmt: skip
STEPS = ["base", "all_data", "flip", "decay", "translate", "edge", "average", "flip_average",
         "lower_lam", "all"]  # fmt: skip
# config.yaml's published recipes (`peers`), cut to 2 epochs and a training sample the tiny set
# holds (a --configfile merges into them key by key)
PEERS = yaml.safe_load((REPO / "config/config.yaml").read_text())["peers"]
SHORT_PEERS = {name: {"train": {"n_epochs": 2, "eval_train_subset": 200}} for name in PEERS}


def grid_config(url, md5, grid=GRID, seeds=2):
    cfg = tiny_config(url, md5)
    cfg["replicates"] = {"grid": seeds, "retrain": seeds, "ablation": seeds, "losses": seeds,
                         "peers": seeds}  # fmt: skip
    cfg["peers"] = SHORT_PEERS
    cfg["experiments"] = {"val_size": 100, "grid": grid, "ablation": ABLATION,
                          "train": {"n_epochs": 2, "flip": 0.5, "eval_train_subset": 200,
                                    "average_last": 1, "eval_train_every": 1}}  # fmt: skip
    return cfg


def test_every_point_trains_in_its_folder_and_the_table_lists_them(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    snakemake(
        wd, "improve", "--cores", "2", "--configfile", str(write_config(wd, grid_config(url, md5)))
    )
    with open(wd / "results" / "improve" / "grid.csv") as f:
        rows = list(csv.DictReader(f))
    data = Dataset.load(wd / "data/processed/cifar10_all.npz")
    assert [r["point"] for r in rows] == POINTS
    grid = wd / "results/improve/grid"
    for r in rows:
        m = json.loads((grid / r["point"] / "metrics.json").read_text())
        m43 = json.loads((grid / f"{r['point']}_seed43" / "metrics.json").read_text())
        assert (m["lam"], m["eta"], m["n_batch"]) == (float(r["lam"]), float(r["eta"]), 20)
        assert m["flip"] == 0.5 and m["n_epochs"] == 2 and m["status"] == "ok"
        assert (m["seed"], m43["seed"]) == (42, 43) and {**m43, "seed": 42, "train_seconds": 0,
            "final_train_loss": 0} != {**m, "train_seconds": 0, "final_train_loss": 0}  # fmt: skip
        # the validation accuracy of the model written (flip-averaged, as config.yaml's recipe),
        # the mean over the two seeds
        assert m["flip_average"] is True and float(r["val_own"]) == m["val_accuracy"]
        assert float(r["val_accuracy"]) == pytest.approx((m["val_accuracy"] + m43["val_accuracy"]) / 2)
        assert int(r["seeds"]) == 2
        with np.load(grid / r["point"] / "model.npz") as f:
            scores = model.scores(f["W"], f["b"], data.features("val", f["W"].dtype))
        assert m["val_accuracy"] == round(100 * model.accuracy(scores, data.labels("val")), 4)
    assert sum(float(r["p_best"]) for r in rows) == pytest.approx(1.0)
    # the grid trained on all five batches but the 100 held out: 900 images
    assert {json.loads((grid / p / "metrics.json").read_text())["train_images"]
            for p in POINTS} == {900}  # fmt: skip
    # chosen on the validation mean over seeds only (the first best in the table), retrained
    # with the 100 added, over two seeds
    best = json.loads((wd / "results" / "improve" / "best.json").read_text())
    top = max(float(r["val_accuracy"]) for r in rows)
    first_top = next(r for r in rows if float(r["val_accuracy"]) == top)
    assert best["point"] == first_top["point"] and best["val_accuracy"] == top
    assert best["p_best"] == float(first_top["p_best"]) and best["val_seeds"] == 2
    assert (best["lam"], best["eta"], best["n_batch"]) == (
        float(first_top["lam"]),
        float(first_top["eta"]),
        20,
    )
    chosen = json.loads((wd / "results/improve/chosen.json").read_text())
    assert chosen == {**{k: best[k] for k in ("point", "lam", "eta", "n_batch", "val_accuracy",
                                              "p_best")}, "seeds": 2}  # fmt: skip
    retrain = json.loads((wd / "results/improve/best/metrics.json").read_text())
    retrain43 = json.loads((wd / "results/improve/best_seed43/metrics.json").read_text())
    assert retrain["train_on_val"] and retrain["train_images"] == best["train_images"] == 1000
    assert (retrain43["lam"], retrain43["eta"], retrain43["seed"]) == (best["lam"], best["eta"], 43)
    assert best["test_accuracy"] == retrain["test_accuracy"] and best["flip"] == 0.5
    assert best["seeds"] == 2
    assert best["test_mean"] == pytest.approx((retrain["test_accuracy"] + retrain43["test_accuracy"]) / 2)
    assert best["test_low"] < best["test_accuracy"] < best["test_high"]
    assert not (wd / "results" / "summary.csv").exists()  # the report's runs are another target
    report_best = max(r["test_accuracy"] for r in tiny_config(url, md5)["reference"])
    assert best["report_test_accuracy"] == report_best
    assert best["published_best_test_accuracy"] == 42.32

    # the ablation: base, each step alone over it, then all steps together
    with open(wd / "results" / "improve" / "ablation.csv") as f:
        ablation = list(csv.DictReader(f))
    steps = [r["step"] for r in ablation]  # the steps in the merged config's order
    assert steps[0] == "base" and steps[-1] == "all" and sorted(steps) == sorted(STEPS)
    runs = {s: json.loads((wd / f"results/improve/ablation/{s}/metrics.json").read_text())
            for s in STEPS}  # fmt: skip
    base = runs["base"]
    assert (base["lam"], base["eta"], base["flip"], base["translate_px"], base["average_last"]) == (
        0.1, 0.01, 0, 0, 0)  # fmt: skip
    assert base["train_images"] == 200 and base["schedule"] == {"kind": "constant"}  # data_batch_1
    keys = ("lam", "flip", "translate_px", "border", "average_last", "schedule", "train_images",
            "flip_average")  # fmt: skip
    changed = {s: {k for k in keys if runs[s][k] != base[k]} for s in STEPS}
    assert changed == {"base": set(), "all_data": {"train_images"}, "flip": {"flip"},
                       "decay": {"schedule"}, "translate": {"translate_px"},
                       "edge": {"translate_px", "border"},
                       "average": {"average_last"},
                       "flip_average": {"flip_average"}, "lower_lam": {"lam"},
                       "all": set(keys)}  # fmt: skip
    # the flip average: one linear model whose weights are symmetric under a flip
    with np.load(wd / "results/improve/ablation/flip_average/model.npz") as f:
        W = f["W"]
    with np.load(wd / "results/improve/ablation/base/model.npz") as f:
        W_base = f["W"]
    assert W.shape == W_base.shape and not np.allclose(W, W_base)
    assert runs["all"]["train_images"] == 900 and runs["all"]["schedule"]["kind"] == "cosine"
    # each row over its two seeds; its gain over base paired on the same seeds and test images
    seed43 = {s: json.loads((wd / f"results/improve/ablation/{s}_seed43/metrics.json").read_text())
              for s in STEPS}  # fmt: skip
    mean = {s: (runs[s]["test_accuracy"] + seed43[s]["test_accuracy"]) / 2 for s in STEPS}
    for r in ablation:
        m = runs[r["step"]]
        assert float(r["test_accuracy"]) == pytest.approx(mean[r["step"]]) and r["seeds"] == "2"
        assert float(r["val_accuracy"]) == pytest.approx((m["val_accuracy"] + seed43[r["step"]][
            "val_accuracy"]) / 2)  # fmt: skip
        if r["step"] == "base":
            assert r["test_gain"] == ""
            continue
        assert float(r["test_gain"]) == pytest.approx(mean[r["step"]] - mean["base"])
        assert float(r["gain_low"]) <= float(r["test_gain"]) <= float(r["gain_high"])
    for png in ("grid_heatmap.png", "best/curves.png", "best/weights.png"):
        assert (wd / "results" / "improve" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_improvements_true_puts_them_in_the_default_target_and_the_report(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    config = str(write_config(wd, grid_config(url, md5)))
    plain = snakemake(wd, "-n", "--cores", "2", "--configfile", config).out
    assert "improve_grid_point" not in plain and "improve_ablation_run" not in plain
    snakemake(wd, "--cores", "2", "--configfile", config, "--config", "improvements=true")
    report = (wd / "results" / "report.md").read_text()
    best = json.loads((wd / "results" / "improve" / "best.json").read_text())
    assert "## 5 Beyond the report" in report and "## 8 Configuration" in report
    assert "## 7 Published recipes, trained here" in report and "| kahoujo1 | " in report
    assert "## 6 Two losses" in report and "BCE reaches " in report  # the losses, too
    assert f"test accuracy {best['test_mean']:.2f} ± {best['test_sd']:.2f} % over 2 seeds" in report
    assert f"(the report's best {best['report_test_accuracy']:.2f} %, " in report
    assert "the best published (official archive) 42.32 %" in report
    for step in STEPS:
        assert f"| {step} | " in report
    assert "(improve/grid_heatmap.png)" in report and "(improve/best/weights.png)" in report
    # the same again: nothing to do; without the key, the report's section goes again
    again = snakemake(wd, "-n", "--cores", "2", "--configfile", config, "--config",
                      "improvements=true").out  # fmt: skip
    assert "Nothing to be done" in again, again[-2000:]
    snakemake(wd, "--cores", "2", "--configfile", config)
    assert "Beyond the report" not in (wd / "results" / "report.md").read_text()


def test_the_experiments_long_runs_take_their_own_threads(tmp_path, tiny_archive):
    """experiments.threads reaches the grid's points, the retrain and the improved loss runs;
    train.threads the report's runs and the ablation's; --cores caps both (a dry run's plan)."""
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    config = str(write_config(wd, grid_config(url, md5)))

    def threads_by_rule(cores: str, *overrides: str) -> dict:
        plan = snakemake(wd, "-n", "all", "improve", "losses", "--cores", cores, "--configfile",
                         config, "--config", "improvements=true", *overrides).out  # fmt: skip
        out = {}
        for job in plan.split("rule ")[1:]:
            found = re.search(r"^\s+threads: (\d+)$", job, re.M)
            out.setdefault(job.split(":")[0], set()).add(int(found.group(1)) if found else 1)
        return out

    plan = threads_by_rule("4", "experiments={threads: 3}", "train={threads: 2}")
    assert plan["improve_grid_point"] == {3} and plan["improve_best_train"] == {3}
    assert plan["losses_run"] == {2, 3}  # one batch: train.threads; improved: experiments'
    assert plan["train"] == {2} and plan["improve_ablation_run"] == {2}
    # each seed replicate takes its rule's threads
    assert plan["improve_grid_point_seed"] == {3} and plan["improve_best_train_seed"] == {3}
    assert plan["train_seed"] == {2} and plan["improve_ablation_run_seed"] == {2}
    assert plan["losses_run_seed"] == {2, 3}
    capped = threads_by_rule("1", "experiments={threads: 3}")
    assert capped["improve_grid_point"] == {1} and capped["train"] == {1}


def ctrl_c_on():
    """SIGINT as in a user's terminal. A command started in the background by a shell without
    job control (`cmd &` in a script, as CI may start these tests) ignores SIGINT, its children
    inherit that, and Snakemake would then never see the Ctrl-C this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_killed_grid_reruns_only_its_missing_points(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    config = str(write_config(wd, grid_config(url, md5, seeds=1)))
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "improve", "--cores", "1",
                             "--configfile", config], cwd=wd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=ctrl_c_on)  # fmt: skip
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
