"""The pipeline through SLURM (issue 14): a one-node cluster from Debian's slurm-wlm and munge,
started by this test, runs the tiny pipeline and a small grid with Snakemake's SLURM executor and
the project's profile; the results equal a local run's bytes (but for timings), the jobs really
ran under SLURM, and the daemons are gone afterwards."""

import csv
import io
import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import copy_workflow, snakemake, write_config
from slurm_cluster import missing, one_node_cluster, running
from test_improve import grid_config

pytestmark = pytest.mark.slow

TIMINGS = {"train_seconds"}  # the only numbers that differ from run to run
LOCAL_RULES = {"download_cifar10", "summary", "report_md", "improve_grid_table",
               "improve_choose", "improve_ablation_table", "improve_best",
               "losses_choose_bce_eta"}  # fmt: skip


def _without_timings(path: Path) -> bytes | object:
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return {k: v for k, v in data.items() if k not in TIMINGS}
    if path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        return [{k: v for k, v in r.items() if k not in TIMINGS} for r in rows]
    return path.read_bytes()


def results(wd: Path) -> dict:
    return {str(p.relative_to(wd)): _without_timings(p)
            for p in sorted((wd / "results").rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = missing()
    if reason:
        pytest.skip(f"no SLURM test cluster: {reason}")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.skip("snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')")
    root = tmp_path_factory.mktemp("slurm")
    with one_node_cluster(root) as env:
        yield root, env
    assert running(root=root) == [], "a daemon the test started is still running"


def squeue(env) -> list[dict]:
    """Every job the cluster has seen (MinJobAge keeps finished ones for 10 minutes)."""
    out = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i|%F|%k|%T|%S|%e"], env=env,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    keys = ("id", "submission", "comment", "state", "start", "end")
    return [dict(zip(keys, line.split("|"))) for line in out.splitlines()]


def test_the_pipeline_and_a_grid_through_slurm_equal_a_local_run(tmp_path, tiny_archive, cluster):
    root, env = cluster
    url, md5, _ = tiny_archive
    cfg = grid_config(url, md5)
    local = copy_workflow(tmp_path / "local")
    args = ["--configfile", str(write_config(local, cfg)), "--config", "improvements=true"]
    t = time.monotonic()
    snakemake(local, "--cores", "2", *args)
    local_seconds = time.monotonic() - t

    wd = copy_workflow(tmp_path / "slurm")
    write_config(wd, cfg)
    t = time.monotonic()
    # the README's command, with what this one-node cluster needs: its partition, no accounts,
    # squeue for the status (accounting is off), the per-job logs kept to check them
    proc = snakemake(wd, "--profile", "workflow/profiles/slurm", "--slurm-no-account",
                     "--default-resources", "slurm_partition=debug",
                     "--slurm-status-command", "squeue", "--slurm-keep-successful-logs",
                     "--slurm-init-seconds-before-status-checks", "2",
                     "--latency-wait", "5", *args, env=env)  # fmt: skip
    slurm_seconds = time.monotonic() - t
    assert results(wd) == results(local)

    jobs = squeue(env)
    assert jobs and all(j["state"] == "COMPLETED" for j in jobs), jobs
    # every job that is not a local rule ran as a SLURM job and left the plugin's log there
    logs = {p.parts[0].removeprefix("rule_"): p
            for p in (p.relative_to(wd / ".snakemake/slurm_logs")
                      for p in (wd / ".snakemake/slurm_logs").rglob("*.log"))}  # fmt: skip
    ran = set(logs)
    assert {"extract_cifar10", "preprocess", "preprocess_all", "gradcheck", "train",
            "plot_run", "improve_grid_point", "improve_ablation_run", "improve_best_train",
            "improve_figures", "overview_figures", "train_seed", "improve_grid_point_seed",
            "improve_ablation_run_seed", "improve_best_train_seed"} <= ran, ran  # fmt: skip
    assert not ran & LOCAL_RULES
    # the grid's four points went as a job array, one submission, and their seed replicates
    # (seed 43) as another: the plugin names a job after its rule in the comment (an array:
    # after its first task)
    grid_tasks = [j for j in jobs if j["comment"].startswith("rule_improve_grid_point")]
    seeds = [j for j in grid_tasks if j["comment"].startswith("rule_improve_grid_point_seed")]
    assert len(grid_tasks) == 8 and len(seeds) == 4, grid_tasks
    assert len({j["submission"] for j in grid_tasks}) == 2, grid_tasks
    submissions = len({j["submission"] for j in jobs})
    stamp = lambda t: datetime.fromisoformat(t).timestamp()  # noqa: E731
    in_jobs = sum(stamp(j["end"]) - stamp(j["start"]) for j in jobs)
    print(f"SLURM: {submissions} submissions for {len(jobs)} jobs in {slurm_seconds:.1f} s "
          f"({in_jobs:.0f} s inside jobs, summed); locally with --cores 2: {local_seconds:.1f} s")  # fmt: skip
    assert "improve_grid_point" in proc.out
