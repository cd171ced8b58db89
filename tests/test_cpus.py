"""The CPUs a job may run on: its affinity mask and a cgroup CPU quota (v2 and v1, on the
process's cgroup or a parent), read from a cgroup tree the test writes; a request for more
threads runs on what there is, says so once, and gives the same bits."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from onelayer import cpus, native


def tree(tmp_path, files: dict, proc: str) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "job").mkdir(parents=True, exist_ok=True)
    (tmp_path / "proc_cgroup").write_text(proc)
    return root, tmp_path / "proc_cgroup"


def test_a_v2_quota_on_the_cgroup_or_a_parent_is_found(tmp_path):
    root, proc = tree(tmp_path, {"cpu.max": "max 100000\n", "slurm/cpu.max": "150000 100000\n",
                                 "slurm/job/cpu.max": "max 100000\n"}, "0::/slurm/job\n")  # fmt: skip
    assert cpus.cgroup_quota(root, proc) == 1.5


def test_no_quota_is_none(tmp_path):
    root, proc = tree(tmp_path, {"cpu.max": "max 100000\n", "job/cpu.max": "max 100000\n"},
                      "0::/job\n")  # fmt: skip
    assert cpus.cgroup_quota(root, proc) is None
    assert cpus.cgroup_quota(root, tmp_path / "absent") is None


def test_a_v1_quota_is_found(tmp_path):
    root, proc = tree(tmp_path, {"cpu,cpuacct/docker/cpu.cfs_quota_us": "200000\n",
                                 "cpu,cpuacct/docker/cpu.cfs_period_us": "100000\n",
                                 "cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
                                 "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
                      "12:memory:/docker\n4:cpu,cpuacct:/docker\n")  # fmt: skip
    assert cpus.cgroup_quota(root, proc) == 2.0


def test_a_request_above_the_cpus_runs_on_them_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setattr(cpus, "affinity", lambda: 3)
    monkeypatch.setattr(cpus, "cgroup_quota", lambda: 1.5)  # two CPUs' worth of time
    monkeypatch.setattr(cpus, "_said", set())
    assert cpus.usable() == 2
    with caplog.at_level(logging.WARNING, logger="onelayer.cpus"):
        assert cpus.threads_for(8) == 2 and cpus.threads_for(8) == 2 and cpus.threads_for(2) == 2
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "asked for 8 threads" in said[0] and "running on 2" in said[0]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or not native.runnable(),
                    reason="needs Linux affinity and the native kernels")  # fmt: skip
def test_pinned_to_one_cpu_eight_threads_run_as_one_with_the_same_bits(tmp_path):
    """A real affinity mask (taskset's system call) in a child process: the threads asked for
    are capped at its one CPU, the log says so, and W and b are those of one thread."""
    code = """
import json, logging, os, sys
import numpy as np
from onelayer import cpus, native
logging.basicConfig(level=logging.WARNING)
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
rng = np.random.default_rng(0)
X = rng.integers(0, 256, size=(400, 3072), dtype=np.uint8)
y = rng.integers(0, 10, size=400)
aff = (np.full(3072, 1 / 64, np.float32), np.full(3072, -2, np.float32))
out = {}
for t in (1, 8):
    W, b = np.zeros((10, 3072), np.float32) + 0.01, np.zeros(10, np.float32)
    native.sgd_epoch(W, b, X, y, np.arange(400), 100, 0.01, 0.1, affine=aff, threads=t)
    out[t] = W.tobytes() + b.tobytes()
print(json.dumps({"usable": cpus.usable(), "same": out[1] == out[8]}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)
    assert result == {"usable": 1, "same": True}
    assert "asked for 8 threads, but this process may run on 1 CPU" in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or not native.runnable(),
                    reason="needs Linux affinity and the native kernels")  # fmt: skip
def test_a_training_job_on_one_cpu_says_so_in_its_log_and_keeps_its_bytes(finished_workflow, tmp_path):
    """The train step asked for 2 threads under an affinity mask of one CPU (as taskset or a
    SLURM step sets it): its log says it runs on 1, and its run folder is the one-thread one's."""
    wd, _, _ = finished_workflow
    settings = wd / "results/lam0_eta0.01/metrics.json"
    one = {min(os.sched_getaffinity(0))}

    def train(out, threads, affinity=None):
        cmd = [sys.executable, "-m", "onelayer", "--log", str(out / "log"), "train", "--data",
               str(wd / "data/processed/cifar10.npz"), "--out", str(out), "--settings",
               str(settings), "--threads", str(threads)]  # fmt: skip
        pin = (lambda: os.sched_setaffinity(0, affinity)) if affinity else None
        out.mkdir()
        proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=pin)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return out

    pinned = train(tmp_path / "pinned", 2, one)
    alone = train(tmp_path / "alone", 1)
    assert "asked for 2 threads, but this process may run on 1 CPU" in (pinned / "log").read_text()
    for f in ("history.csv", "model.npz"):
        assert (pinned / f).read_bytes() == (alone / f).read_bytes() == (wd / "results/lam0_eta0.01" / f).read_bytes()
