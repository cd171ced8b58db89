# Config validation and the helpers the rule files share.

import os
import re
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)  # the onelayer package of this checkout, installed or not
from onelayer.cifar10 import FOLDER, MEMBERS
from onelayer.errors import RunNameError
from onelayer.improve import ablation_settings, ablation_steps, grid_frame, point_settings
from onelayer.naming import parse_run, run_name
from onelayer.schedule import own_keys
from snakemake.utils import Paramspace

# YAML 1.1 reads 1e-3 (no dot) as a string; take such a string as the number it spells.
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _numbers(items, keys):
    for item in items or []:
        for key in keys:
            value = item.get(key) if isinstance(item, dict) else None
            if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
                item[key] = float(value)


_numbers(config.get("runs"), ["lam", "eta"])
_numbers(config.get("reference"), ["lam", "eta", "test_accuracy"])
_numbers((config.get("gradcheck") or {}).get("cases"), ["lam"])
_numbers([config.get("gradcheck")], ["h", "abs_tol", "rel_tol", "fd_abs_tol", "fd_rel_tol"])
_numbers([config.get("train")], ["diverge_factor", "flip"])
_numbers([(config.get("train") or {}).get("schedule")], ["factor", "eta_min"])
# --config improvements=true arrives as the string "true"
if str(config.get("improvements")).lower() in ("true", "false"):
    config["improvements"] = str(config["improvements"]).lower() == "true"
_ablation = (config.get("experiments") or {}).get("ablation") or {}
_numbers([_ablation.get("base"), *(_ablation.get("steps") or {}).values()], ["lam", "eta", "flip"])

validate(config, schema="../schemas/config.schema.yaml")
# a --configfile's schedule merges key by key into config.yaml's: keep only its kind's keys
for _train in [config["train"], config["experiments"]["train"], config["experiments"]["ablation"]["base"],
               *config["experiments"]["ablation"]["steps"].values()]:  # fmt: skip
    if "schedule" in _train:
        _train["schedule"] = own_keys(_train["schedule"])

# Jobs import the onelayer package from this checkout even where it is not installed (as in
# the --use-conda environments, which hold only its dependencies). Each job's own Snakemake,
# on a cluster node too, evaluates this file again, so the setting travels with the workflow.
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (workflow.basedir, os.environ.get("PYTHONPATH")) if p)
)


wildcard_constraints:
    lam=r"[^/_]+",
    eta=r"[^/_]+",


# Memory and time of each job, for cluster schedulers. mem_mb is 1.5 x the max_rss that
# logs/benchmarks/ recorded on the full CIFAR-10 (README, "Run on a cluster"); runtime
# (minutes) is a generous bound for a slow node with the numpy backend.
RESOURCES = {
    "extract_cifar10": dict(mem_mb=100, runtime=10),
    "preprocess": dict(mem_mb=2300, runtime=15),
    "preprocess_all": dict(mem_mb=5500, runtime=20),
    "gradcheck": dict(mem_mb=400, runtime=15),
    "train": dict(mem_mb=700, runtime=15),
    "plot_run": dict(mem_mb=200, runtime=10),
    "overview_figures": dict(mem_mb=200, runtime=10),
    "improve_grid_point": dict(mem_mb=1000, runtime=30),
    "improve_ablation_run": dict(mem_mb=1000, runtime=30),
    "improve_best_train": dict(mem_mb=2900, runtime=30),
    "improve_figures": dict(mem_mb=300, runtime=10),
}

RAW = "data/raw"
BATCHES = f"{RAW}/{FOLDER}"
DATA = "data/processed/cifar10.npz"
DATA_ALL = "data/processed/cifar10_all.npz"
# The improvements' grid: one run folder per point, named lam~..._eta~..._nbatch~...
GRID = Paramspace(grid_frame(config["experiments"]["grid"]), filename_params="*")


def report_train():
    """The training keys of the report's runs (config's train section, without threads)."""
    return {k: v for k, v in config["train"].items() if k != "threads"}


def experiment_train():
    """The training keys of the experiments: config's train section, then the experiments'."""
    return {**report_train(), **config["experiments"]["train"]}


def grid_point(wildcards):
    """experiment.run's settings of a grid point: experiment_train() with the point's lam, eta
    and n_batch."""
    return point_settings(GRID.instance(wildcards), experiment_train())


ABLATION = config["experiments"]["ablation"]
ABLATION_STEPS = ablation_steps(ABLATION)


def ablation_point(wildcards):
    """(data file, experiment.run's settings) of an ablation row, e.g. results/improve/ablation/flip/."""
    kind, settings = ablation_settings(ABLATION, wildcards.step, report_train())
    return {"report": DATA, "all": DATA_ALL}[kind], settings


# What `snakemake improve` and `snakemake losses` make, by name: results/report.md reads the
# best setting, the ablation, the grid and the losses' comparison.
IMPROVE_OUTPUTS = {
    "grid": "results/improve/grid.csv",
    "ablation": "results/improve/ablation.csv",
    "best": "results/improve/best.json",
    "heatmap": "results/improve/grid_heatmap.png",
    "best_curves": "results/improve/best/curves.png",
    "best_weights": "results/improve/best/weights.png",
}
LOSSES_OUTPUTS = {
    "losses_csv": "results/losses/comparison.csv",
    "losses": "results/losses/comparison.md",
    "histograms": "results/losses/histograms.png",
    "loss_curves": "results/losses/curves.png",
}


def experiment_outputs():
    """Both of the above where config improvements is true (the default target, the report)."""
    return {**IMPROVE_OUTPUTS, **LOSSES_OUTPUTS} if config["improvements"] else {}


LOSS_RUNS = [(s, l) for s in ("report", "improved") for l in ("softmax", "bce")]


def loss_run_inputs(wildcards):
    """A loss run's data, and what its settings are chosen from: BCE's eta candidates in the
    report's setting, the grid's table in the improved one."""
    if wildcards.setting == "report":
        out = {"data": DATA}
        if wildcards.loss == "bce":
            etas = config["losses"]["bce_etas"]
            out["candidates"] = [f"results/losses/report/bce_eta~{e:g}/metrics.json" for e in etas]
        return out
    return {"data": DATA_ALL, "grid": "results/improve/grid.csv"}


def report_best():
    """The best test accuracy (%) the seed report published (config reference)."""
    return max((r["test_accuracy"] for r in config["reference"]), default=None)


def run_dirs():
    """The run folder of every (lam, eta) pair in config, in config order."""
    return [f"results/{run_name(r['lam'], r['eta'])}" for r in config["runs"]]


def run_params(wildcards):
    """(lam, eta) of a target's wildcards, refused with a clear message when not valid."""
    try:
        return parse_run(wildcards.lam, wildcards.eta)
    except RunNameError as err:
        raise WorkflowError(f"bad run folder 'lam{wildcards.lam}_eta{wildcards.eta}': {err}")


def all_targets():
    return [
        "results/summary.csv",
        "results/summary.md",
        "results/report.md",
        *rules.overview_figures.output,
        *[f"{d}/{f}.png" for d in run_dirs() for f in ("curves", "weights")],
        *experiment_outputs().values(),
    ]
