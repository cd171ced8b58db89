# Config validation and the helpers the rule files share.

import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

# The onelayer package: the copy Python finds outside this workflow's own folders (installed by
# pip install . or -e ., in the conda environment, or on PYTHONPATH), else this checkout's copy
# (Snakemake puts the Snakefile's folder first on sys.path, which would shadow an install).
# Every job imports that same copy (onelayer.install.give_jobs).
_ours = {os.path.realpath(p) for p in (workflow.basedir, f"{workflow.basedir}/workflow/rules")}
_path = sys.path[:]
sys.path[:] = [p for p in _path if os.path.realpath(p or os.curdir) not in _ours]
try:
    import onelayer
except ImportError:
    pass
sys.path[:] = _path
from onelayer import install

install.give_jobs(Path(".snakemake/onelayer"))
from onelayer.cifar10 import FOLDER, MEMBERS, TRAIN_BATCHES
from onelayer.config import ConfigError, Plan, coerce, load_schema, normalise, renamed
from onelayer.errors import RunNameError
from onelayer.improve import ablation_options, ablation_steps, grid_points, parse_point_name
from onelayer.naming import parse_run, parse_seed, run_name
from onelayer.replicates import folders as replicate_dirs

# --config and YAML 1.1 give strings where numbers are meant: take them per the schema's types,
# then validate (which fills in defaults). Each job's settings are built when the DAG is (its
# params: settings_of below), so a value or a combination that cannot train stops the workflow
# before its first job, naming the key, for the targets asked for.
_old = renamed(config)
if _old:
    raise WorkflowError("the config uses names this version renamed: " + "; ".join(_old))
coerce(config, load_schema(os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml")))
validate(config, schema="../schemas/config.schema.yaml")
normalise(config)
PLAN = Plan(config)

# Once, before the first job: the copy imported, where it is not this checkout's and differs
# from it, and why training would use numpy where its kernels are missing (an error where
# train.backend asks for native).
if workflow.is_main_process:
    _stale = install.stale_copy(Path(workflow.basedir))
    if _stale:
        logger.warning(_stale)
    if config["train"]["backend"] != "numpy":
        _problem = install.kernel_problem(Path(workflow.basedir))
        if _problem and config["train"]["backend"] == "native":
            raise WorkflowError(_problem)
        if _problem:
            logger.warning(_problem)


wildcard_constraints:
    lam=r"[^/_]+",
    eta=r"[^/_]+",
    nbatch=r"\d+",
    seed=r"\d+",


# Memory and time of each job, for cluster schedulers. mem_mb is 1.5 x the largest max_rss
# that logs/benchmarks/ recorded for jobs of that kind on the full CIFAR-10 (docs/cluster.md);
# runtime (minutes) is a generous bound for a slow node with the numpy backend.
RESOURCES = {
    "extract_cifar10": dict(mem_mb=100, runtime=10),
    "preprocess": dict(mem_mb=400, runtime=15),
    "preprocess_all": dict(mem_mb=500, runtime=20),
    "gradcheck": dict(mem_mb=400, runtime=15),
    "train": dict(mem_mb=450, runtime=15),  # a run on data_batch_1
    "train_all": dict(mem_mb=600, runtime=30),  # a run on the five batches
    "retrain_all": dict(mem_mb=800, runtime=30),  # ... with the validation images added
    "figures": dict(mem_mb=450, runtime=10),
}

ENV = "../envs/onelayer.yaml"
RAW = "data/raw"
BATCHES = f"{RAW}/{FOLDER}"
REPORT_MEMBERS = ["data_batch_1", "data_batch_2", "test_batch", "batches.meta"]
OTHER_MEMBERS = [m for m in MEMBERS if m not in REPORT_MEMBERS]
DATA = "data/processed/cifar10.npz"
DATA_ALL = "data/processed/cifar10_all.npz"
DATA_OF = {"one_batch": DATA, "all": DATA_ALL}
GRID_DIR = "results/improve/grid"
GRID = f"{GRID_DIR}/lam~{{lam}}_eta~{{eta}}_nbatch~{{nbatch}}"
CHOSEN = "results/improve/chosen.json"
BCE_ETA = "results/losses/one_batch/bce_eta.json"


def run_outputs(folder):
    """The three files of a run folder, which every training rule writes."""
    return {f: f"{folder}/{f}.{ext}" for f, ext in
            (("history", "csv"), ("model", "npz"), ("metrics", "json"))}  # fmt: skip


def settings_of(make):
    """params: the settings (as a dict) that ``make(wildcards)`` builds, with the seed of a
    seed replicate's folder (its {seed} wildcard) where there is one; a wildcard that no run
    can have (a bad run folder) stops the workflow with its reason."""

    def settings(wildcards):
        try:
            made = make(wildcards)
            if "seed" in wildcards.keys():
                made = made.replace(seed=parse_seed(wildcards.seed))
            return made.as_dict()
        except (RunNameError, ConfigError) as err:
            raise WorkflowError(str(err)) from None

    return settings


def report_run(wildcards):
    try:
        lam, eta = parse_run(wildcards.lam, wildcards.eta)
    except RunNameError as err:
        raise RunNameError(
            f"bad run folder 'lam{wildcards.lam}_eta{wildcards.eta}': {err}"
        ) from None
    return PLAN.report_run(lam, eta)


ABLATION = config["experiments"]["ablation"]
ABLATION_STEPS = ablation_steps(ABLATION)


def ablation_data(wildcards):
    """The processed data an ablation row trains on."""
    return DATA_OF[ablation_options(ABLATION, wildcards.step)[0]]


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
    "losses_md": "results/losses/comparison.md",
    "histograms": "results/losses/histograms.png",
    "loss_curves": "results/losses/curves.png",
}
PEERS_OUTPUTS = {
    "peers_csv": "results/peers/comparison.csv",
    "peers_md": "results/peers/comparison.md",
    "peers_figure": "results/peers/accuracy.png",
}
LOSS_RUNS = [
    f"results/losses/{s}/{l}" for s in ("one_batch", "improved") for l in ("softmax", "bce")
]


def experiment_outputs():
    """All of the above where config improvements is true (the default target, the report)."""
    return {**IMPROVE_OUTPUTS, **LOSSES_OUTPUTS, **PEERS_OUTPUTS} if config["improvements"] else {}


def loss_run_inputs(wildcards):
    """A loss run's data, and the choice its settings take: BCE's eta on one batch, the grid's
    chosen point in the improved setting."""
    if wildcards.setting == "one_batch":
        return {"data": DATA, **({"choice": BCE_ETA} if wildcards.loss == "bce" else {})}
    return {"data": DATA_ALL, "choice": CHOSEN}


def report_best():
    """The best test accuracy (%) the seed report published (config reference)."""
    return max((r["test_accuracy"] for r in config["reference"]), default=None)


def run_dirs():
    """The run folder of every (lam, eta) pair in config, in config order."""
    return [f"results/{run_name(r['lam'], r['eta'])}" for r in config["runs"]]


def replicated(folder, seed, part):
    """``folder`` (a run of ``seed``) and its seed replicates, as many seeds in all as config
    replicates sets for ``part``."""
    return replicate_dirs(folder, seed, config["replicates"][part])


# The run folders each table reads, with their seed replicates: input functions, so that the
# runs' settings (which give their seeds) are built only for the tables asked for.
def replicates_of(kind, name):
    """An input function: the file ``name`` of every run folder of ``kind`` ("report", "grid",
    "retrain", "ablation", "losses" or "peers") and of its seed replicates, run after run."""

    def files(wildcards):
        if kind == "report":
            runs = [(f"results/{run_name(r['lam'], r['eta'])}",
                     PLAN.report_run(r["lam"], r["eta"])) for r in config["runs"]]  # fmt: skip
        elif kind == "grid":
            runs = [(f"{GRID_DIR}/{p}", PLAN.grid_point(*parse_point_name(p)))
                    for p in grid_points(config["experiments"]["grid"])]  # fmt: skip
        elif kind == "retrain":
            runs = [("results/improve/best", PLAN.retrain())]
        elif kind == "ablation":
            runs = [(f"results/improve/ablation/{step}", PLAN.ablation(step)[1])
                    for step in ABLATION_STEPS]  # fmt: skip
        elif kind == "peers":
            runs = [(f"results/peers/{p}", PLAN.peer(p)) for p in config["peers"]]
        else:
            runs = [(r, PLAN.loss_run(*r.split("/")[-2:])) for r in LOSS_RUNS]
        return [f"{d}/{name}" for folder, s in runs for d in replicated(folder, s.seed, kind)]

    return files


def all_targets():
    return [
        "results/summary.csv",
        "results/summary.md",
        "results/report.md",
        *rules.overview_figures.output,
        *[f"{d}/{f}.png" for d in run_dirs() for f in ("curves", "weights")],
        *experiment_outputs().values(),
    ]
