"""The published recipes as baselines (issue 27): `snakemake peers` trains each recipe of config
``peers`` on the same images as the retrain of our choice, over seeds, and compares the two on
the same test images. A real Snakemake run on the tiny archive, with the recipes cut short."""

import csv
import json

import numpy as np
import pytest
from conftest import copy_workflow, snakemake, write_config
from test_improve import PEERS, grid_config

from onelayer import stats
from onelayer.dataset import Dataset
from onelayer.replicates import group, paired

pytestmark = pytest.mark.slow


def test_each_published_recipe_trains_on_our_images_and_is_compared_paired(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    cfg = grid_config(url, md5, grid={"lam": [0.0], "eta": [0.01], "n_batch": [20]})
    # config.yaml's recipes, cut to 2 epochs (grid_config), two seeds each
    snakemake(wd, "peers", "--cores", "2", "--configfile", str(write_config(wd, cfg)))

    with open(wd / "results/peers/comparison.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["recipe"] == "ours" and sorted(r["recipe"] for r in rows[1:]) == sorted(PEERS)
    data = Dataset.load(wd / "data/processed/cifar10_all.npz")
    ours = group([wd / "results/improve/best/metrics.json",
                  wd / "results/improve/best_seed43/metrics.json"])  # fmt: skip
    (ours,) = ours.values()
    for r in rows[1:]:
        peer = PEERS[r["recipe"]]
        assert (r["source"], float(r["published"]), r["description"]) == (
            peer["source"], peer["published"], peer["recipe"])  # fmt: skip
        folder = wd / "results/peers" / r["recipe"]
        runs = [json.loads((f / "metrics.json").read_text())
                for f in (folder, folder.with_name(f"{folder.name}_seed43"))]  # fmt: skip
        for m, seed in zip(runs, (42, 43)):
            # the recipe's own keys over the train section, on all 1,000 images (the retrain's)
            for key, value in peer["train"].items():
                if key not in ("n_epochs", "eval_train_subset"):
                    assert m[key] == (value if key != "schedule" else {**m[key], **value}), key
            assert (m["seed"], m["train_on_val"], m["train_images"], m["n_epochs"]) == (seed, True, 1000, 2)
        assert int(r["seeds"]) == 2
        assert float(r["test_mean"]) == pytest.approx(np.mean([m["test_accuracy"] for m in runs]), abs=1e-4)
        # ours minus the recipe, paired over the two seeds and the test images
        (theirs,) = group([folder / "metrics.json", folder.with_name(f"{folder.name}_seed43") / "metrics.json"]).values()
        d = paired(ours, theirs, data)
        assert float(r["ours_minus"]) == pytest.approx(d.estimate, abs=1e-4)
        assert float(r["ours_low"]) <= float(r["ours_minus"]) <= float(r["ours_high"])
        assert d.estimate == pytest.approx(ours.spread().mean - float(r["test_mean"]), abs=1e-3)
    # kahoujo1's recipe reads pixels / 255, and its model is written on the file's features:
    # its recorded accuracy is that of the model.npz written
    k = wd / "results/peers/kahoujo1"
    assert json.loads((k / "metrics.json").read_text())["inputs"] == "unit"
    with np.load(k / "model.npz") as f:
        from onelayer.runs import correct

        acc = 100 * correct(f["W"], f["b"], data, "test").mean()
    assert acc == pytest.approx(json.loads((k / "metrics.json").read_text())["test_accuracy"], abs=1e-4)
    md = (wd / "results/peers/comparison.md").read_text()
    for r in rows[1:]:
        words = stats.difference_words(stats.Difference(
            float(r["ours_minus"]), float(r["ours_low"]), float(r["ours_high"]), 0, 0, 2, 0))  # fmt: skip
        assert words in md
    assert (wd / "results/peers/accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
