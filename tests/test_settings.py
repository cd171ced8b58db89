"""One settings object from config to metrics.json: the schema agrees with it, strings from the
command line take its types, bad values stop the workflow before any job, a new option reaches
metrics.json through the real workflow, and every step runs alone with the same bytes."""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path
from unittest.mock import ANY

import numpy as np
import pytest
import yaml
from conftest import REPO, copy_workflow, snakemake, tiny_config, write_config

from onelayer import config as workflow_config
from onelayer.errors import SettingsError
from onelayer.schedule import KINDS, Schedule
from onelayer.settings import CONFIG_KEYS, PER_RUN, TrainSettings, defaults

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", Schedule: "object"}


def schema_of(key: str) -> dict:
    node = SCHEMA["properties"]["train"]["properties"][key]
    return workflow_config._resolved(node, SCHEMA)


def bounds_in_schema(node: dict) -> dict:
    return {"minimum": node.get("minimum"), "maximum": node.get("maximum"),
            "above": node.get("exclusiveMinimum"),
            "choices": tuple(node["enum"]) if "enum" in node else None}  # fmt: skip


def bounds_in_settings(meta) -> dict:
    out = {k: meta[k] for k in ("minimum", "maximum", "above")}
    out["choices"] = tuple(meta["choices"]) if meta["choices"] is not None else None
    return out


def test_the_schema_and_the_settings_agree_on_every_key_type_default_and_bound():
    train = SCHEMA["properties"]["train"]["properties"]
    assert set(train) - set(CONFIG_KEYS) == {"threads"}  # how a job runs, not what it trains
    assert set(CONFIG_KEYS) <= set(train)
    types = typing.get_type_hints(TrainSettings)
    fields = {f.name: f for f in dataclasses.fields(TrainSettings)}
    for key in CONFIG_KEYS:
        node = schema_of(key)
        assert node["type"] == JSON_TYPES[types[key]], key
        assert node["default"] == defaults()[key], key
        if types[key] is not Schedule:
            assert bounds_in_schema(node) == bounds_in_settings(fields[key].metadata), key
    # lam and eta are set per run (runs, the grid): their bounds are the schema's definitions
    for key in ("lam", "eta"):
        node = SCHEMA["definitions"][key]
        assert bounds_in_schema(node) == bounds_in_settings(fields[key].metadata), key
    assert set(PER_RUN) == {"lam", "eta", "train_on_val"}
    # the experiments' overrides list every training option (threads is experiments.threads)
    assert set(SCHEMA["definitions"]["train_keys"]["properties"]) == set(CONFIG_KEYS)
    assert SCHEMA["properties"]["experiments"]["properties"]["threads"] == {
        **train["threads"], "default": 1, "description": ANY}
    # the schedule's own keys and bounds
    sched = schema_of("schedule")["properties"]
    assert set(sched) == {f.name for f in dataclasses.fields(Schedule)}
    assert tuple(sched["kind"]["enum"]) == KINDS
    assert (sched["factor"]["minimum"], sched["every"]["minimum"], sched["eta_min"]["minimum"]) == (1, 1, 0)
    for bad in ({"kind": "step", "factor": 0.99}, {"kind": "step", "every": 0},
                {"kind": "cosine", "eta_min": -1e-9}):  # fmt: skip
        with pytest.raises(SettingsError):
            Schedule.from_dict(bad)


def test_the_gradient_checks_defaults_are_the_schemas():
    from onelayer.gradcheck import Tolerances

    section = SCHEMA["properties"]["gradcheck"]["properties"]
    for f in dataclasses.fields(Tolerances):
        assert workflow_config._resolved(section[f.name], SCHEMA)["default"] == f.default, f.name


def test_the_config_file_and_its_documentation_name_every_option():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert set(config["train"]) == set(CONFIG_KEYS) | {"threads"}
    readme = (REPO / "config" / "README.md").read_text()
    for key in CONFIG_KEYS:
        assert f"`{key}`" in readme, key


def test_a_bound_the_schema_and_the_settings_disagree_on_is_caught(monkeypatch):
    """The agreement test above fails, not passes, when one side moves (here the settings'
    cap on translate_px): it compares the values, not just the keys."""
    meta = dict(next(f for f in dataclasses.fields(TrainSettings)
                     if f.name == "translate_px").metadata)  # fmt: skip
    meta["maximum"] = 31
    assert bounds_in_schema(schema_of("translate_px")) != bounds_in_settings(meta)


def test_settings_are_written_whole_and_read_back(tmp_path):
    s = TrainSettings(lam=0.003, eta=0.005, n_batch=200, flip=0.5, translate_px=1,
                      schedule={"kind": "cosine", "eta_min": 0}, average_last=40)  # fmt: skip
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({**s.as_dict(), "status": "ok", "test_accuracy": 42.0}))
    back = TrainSettings.from_metrics(path)
    assert back == s and back.schedule == Schedule("cosine", eta_min=0.0)
    assert s.as_dict()["schedule"] == {"kind": "cosine", "eta_min": 0.0}
    assert isinstance(s.lam, float) and isinstance(s.n_batch, int)


@pytest.mark.parametrize("options, message", [
    ({"n_epochs": 2.5}, "n_epochs must be a int, got 2.5"),
    ({"n_batch": True}, "n_batch must be a int"),
    ({"flip": -0.1}, "flip = -0.1 must be at least 0"),
    ({"eta": 0}, "eta = 0.0 must be greater than 0"),
    ({"n_epochs": 40, "average_last": 41}, "average_last = 41 must be at most n_epochs = 40"),
    ({"translate_px": 9}, "translate_px = 9 must be at most 8"),
    ({"loss": "hinge"}, "loss must be one of"),
    ({"shift": 1}, r"unknown training option\(s\): shift \(now translate_px\)"),
])  # fmt: skip
def test_bad_settings_are_refused_by_name(options, message):
    with pytest.raises(SettingsError, match=message):
        TrainSettings.from_dict({"lam": 0.0, "eta": 0.1, **options})


def test_strings_take_the_types_the_schema_gives():
    config = {"train": {"n_epochs": "20", "flip": "0.5", "flip_average": "true",
                        "schedule": {"kind": "step", "factor": "2", "every": "5"}},
              "runs": [{"lam": "0", "eta": "1e-3"}],
              "experiments": {"grid": {"lam": ["0.001"], "eta": ["5e-3"], "n_batch": ["100"]},
                              "ablation": {"steps": {"x": {"flip": "0.25", "lam": "0.01"}}}},
              "cifar10": {"md5": "1234"}}  # fmt: skip
    workflow_config.coerce(config, SCHEMA)
    assert config["train"] == {"n_epochs": 20, "flip": 0.5, "flip_average": True,
                               "schedule": {"kind": "step", "factor": 2, "every": 5}}  # fmt: skip
    assert config["runs"] == [{"lam": 0, "eta": 0.001}]
    assert config["experiments"]["grid"] == {"lam": [0.001], "eta": [0.005], "n_batch": [100]}
    assert config["experiments"]["ablation"]["steps"]["x"] == {"flip": 0.25, "lam": 0.01}
    assert config["cifar10"]["md5"] == "1234"  # a string where the schema wants one


# --- through the real workflow ---------------------------------------------------------------


@pytest.mark.slow
def test_command_line_config_strings_train(tmp_path, tiny_archive):
    """`--config 'train={n_epochs: 3, flip: 0.5}'` and a grid given on the command line run: the
    values arrive as strings and train as the numbers they spell."""
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    cfg = tiny_config(url, md5)
    cfg["runs"] = [{"lam": 0, "eta": 0.01}]
    cfg["experiments"] = {"val_size": 100, "train": {"n_epochs": 2, "eval_train_subset": 200,
                                                   "average_last": 1}}
    config = str(write_config(wd, cfg))
    snakemake(wd, "results/lam0_eta0.01/metrics.json", "--cores", "2", "--configfile", config,
              "--config", "train={n_epochs: 3, flip: 0.5, n_batch: 20}")  # fmt: skip
    m = json.loads((wd / "results/lam0_eta0.01/metrics.json").read_text())
    assert (m["n_epochs"], m["flip"], m["n_batch"], m["epochs_run"]) == (3, 0.5, 20, 3)
    point = "results/improve/grid/lam~0.001_eta~0.005_nbatch~100"
    proc = snakemake(wd, "results/improve/grid.csv", "--cores", "2", "--configfile", config,
                     "--config", "experiments={grid: {lam: [0.001], eta: [0.005], n_batch: [100]}}")  # fmt: skip
    assert "improve_grid_point" in proc.out
    m = json.loads((wd / point / "metrics.json").read_text())
    assert (m["lam"], m["eta"], m["n_batch"], m["n_epochs"]) == (0.001, 0.005, 100, 2)
    rows = (wd / "results/improve/grid.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("lam~0.001_eta~0.005_nbatch~100,")


@pytest.mark.slow
@pytest.mark.parametrize("target, override, message", [
    ("all", {"train": {"average_last": 500}},
     r"config train \(run lam0_eta0\.01\): average_last = 500 must be at most n_epochs = 40"),
    ("all", {"train": {"eval_train_subset": 999999}},
     r"eval_train_subset = 999999 must be at most the 10000 images of data_batch_1"),
    ("all", {"train": 5}, r"5 is not of type 'object'.*\['train'\]"),
    ("all", {"train": {"shift": 1}}, r"train\.shift is now train\.translate_px"),
    ("results/lam0_eta0.01/metrics.json", {"train": {"n_epochs": "many"}},
     r"'many' is not of type 'integer'.*\['train'\]\['n_epochs'\]"),
    ("improve", {"experiments": {"train": {"n_epochs": 10, "average_last": 11}}},
     r"experiments\.train over train \(grid point .*\): average_last = 11 must be at most"),
    ("improve", {"experiments": {"ablation": {"steps": {"big": {"eval_train_subset": 20000}}}}},
     r"experiments\.ablation \(big over base\): eval_train_subset = 20000 must be at most the "
     r"10000 images of data_batch_1"),
    ("improve", {"experiments": {"val_size": 100, "train": {"eval_train_subset": 49950}}},
     r"eval_train_subset = 49950 must be at most the 49900 images of the five training batches"),
    ("losses", {"losses": {"one_batch": {"lam": 0.1, "eta": 0.01}, "bce_etas": [0.01, "fast"]}},
     r"'fast' is not of type 'number'.*\['losses'\]\['bce_etas'\]\[1\]"),
])  # fmt: skip
def test_bad_values_stop_before_any_job_naming_the_key(tmp_path, tiny_archive, target, override,
                                                       message):  # fmt: skip
    """Dry runs of the target a user would ask for: refused at the DAG, before any job."""
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    cfg = {**tiny_config(url, md5), **override}
    cfg["runs"] = [{"lam": 0, "eta": 0.01}]
    proc = snakemake(wd, target, "-n", "--cores", "1", "--configfile",
                     str(write_config(wd, cfg)), check=False)  # fmt: skip
    assert proc.returncode != 0
    assert re.search(message, proc.out, re.S), proc.out[-3000:]
    assert "Traceback (most recent call last)" not in proc.out
    assert not (wd / "data").exists() and not (wd / "results").exists()
    # the same value, or the same combination, with the real run: stopped there too
    if target == "all":
        proc = snakemake(wd, "--cores", "1", "--configfile", str(wd / "test.yaml"), check=False)
        assert proc.returncode != 0 and not (wd / "data").exists()


@pytest.mark.slow
def test_a_new_option_in_the_settings_alone_reaches_metrics_json(tmp_path, tiny_archive):
    """A throwaway option added to TrainSettings only (no schema line, no rule, no script)
    is recorded in every run's metrics.json through the real workflow, and `python -m onelayer
    train` takes it as a flag."""
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    # a copy of the package first on PYTHONPATH, which the workflow and its jobs import
    pkg = tmp_path / "pkg"
    shutil.copytree(REPO / "onelayer", pkg / "onelayer", ignore=shutil.ignore_patterns("__pycache__"))
    source = pkg / "onelayer" / "settings.py"
    text = source.read_text()
    anchor = '    train_on_val: bool = option(False'
    assert anchor in text
    source.write_text(text.replace(anchor, '    probe: int = option(7, doc="a throwaway option", '
                                           'minimum=0)\n' + anchor))  # fmt: skip
    cfg = tiny_config(url, md5)
    cfg["runs"] = [{"lam": 0, "eta": 0.01}]
    env = {**os.environ, "PYTHONPATH": str(pkg)}
    snakemake(wd, "results/lam0_eta0.01/metrics.json", "--cores", "2", "--configfile",
              str(write_config(wd, cfg)), env=env)  # fmt: skip
    m = json.loads((wd / "results/lam0_eta0.01/metrics.json").read_text())
    assert m["probe"] == 7
    out = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "onelayer", "train", "--data",
                    "data/processed/cifar10.npz", "--out", str(out), "--settings",
                    "results/lam0_eta0.01/metrics.json", "--probe", "9"], cwd=wd, check=True,
                   capture_output=True, env=env)  # fmt: skip
    assert json.loads((out / "metrics.json").read_text())["probe"] == 9


def without_seconds(path: Path) -> dict:
    m = json.loads(path.read_text())
    m.pop("train_seconds")
    return m


@pytest.mark.slow
def test_every_step_runs_alone_and_writes_the_pipelines_bytes(finished_workflow, tmp_path):
    """`python -m onelayer <step>` with a target's inputs writes what the pipeline wrote:
    preprocess and gradcheck byte for byte, train byte for byte but train_seconds."""
    wd, config, _ = finished_workflow
    raw = wd / "data/raw/cifar-10-batches-py"
    data = wd / "data/processed/cifar10.npz"

    def step(*args):
        proc = subprocess.run([sys.executable, "-m", "onelayer", *map(str, args)], cwd=wd,
                              capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    step("preprocess", "--train", raw / "data_batch_1", "--val", raw / "data_batch_2", "--test",
         raw / "test_batch", "--meta", raw / "batches.meta", "--out", tmp_path / "p.npz")  # fmt: skip
    assert (tmp_path / "p.npz").read_bytes() == data.read_bytes()
    cfg = yaml.safe_load(config.read_text())
    step("gradcheck", "--data", data, "--settings", config, "--csv", tmp_path / "g.csv", "--md",
         tmp_path / "g.md", "--backend", cfg["train"].get("backend", "auto"))  # fmt: skip
    assert (tmp_path / "g.csv").read_bytes() == (wd / "results/gradcheck/gradcheck.csv").read_bytes()
    assert (tmp_path / "g.md").read_bytes() == (wd / "results/gradcheck/gradcheck.md").read_bytes()
    for run in ("lam0_eta0.01", "lam0.1_eta0.01"):
        ours, theirs = tmp_path / run, wd / "results" / run
        # metrics.json records the backend that trained; --backend auto asks as config did
        step("train", "--data", data, "--out", ours, "--settings", theirs / "metrics.json",
             "--backend", cfg["train"].get("backend", "auto"))  # fmt: skip
        assert (ours / "history.csv").read_bytes() == (theirs / "history.csv").read_bytes()
        assert (ours / "model.npz").read_bytes() == (theirs / "model.npz").read_bytes()
        assert without_seconds(ours / "metrics.json") == without_seconds(theirs / "metrics.json")
        # and the settings alone rerun the same run, on the backend that trained it
        step("train", "--data", data, "--out", tmp_path / "again", "--settings", theirs / "metrics.json")
        assert (tmp_path / "again" / "history.csv").read_bytes() == (theirs / "history.csv").read_bytes()
    # options on the command line win over the file
    step("train", "--data", data, "--out", tmp_path / "short", "--settings",
         wd / "results/lam0_eta0.01/metrics.json", "--n-epochs", "1", "--lam", "0.5")  # fmt: skip
    m = json.loads((tmp_path / "short" / "metrics.json").read_text())
    assert (m["n_epochs"], m["lam"], m["eta"], m["epochs_run"]) == (1, 0.5, 0.01, 1)
    step("plot-run", "--run", wd / "results/lam0_eta0.01", "--data", data, "--curves",
         tmp_path / "c.png", "--weights", tmp_path / "w.png")  # fmt: skip
    assert (tmp_path / "c.png").read_bytes() == (wd / "results/lam0_eta0.01/curves.png").read_bytes()
    # a bad value is a message and exit 1, not a traceback
    bad = subprocess.run([sys.executable, "-m", "onelayer", "train", "--data", str(data), "--out",
                          str(tmp_path / "bad"), "--lam", "0", "--eta", "0.1", "--flip", "2"],
                         cwd=wd, capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1 and "flip = 2.0 must be at most 1" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "bad").exists()
    assert np.all(np.isfinite(np.load(tmp_path / "lam0_eta0.01" / "model.npz")["W"]))
