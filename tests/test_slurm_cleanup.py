"""The test cluster stops with its test even when the test is killed (after tests/test_slurm.py,
whose cluster must be gone first): its daemons die with their parent, and the next start
removes the /etc/slurm/slurm.conf link the killed one left."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_cluster import DEFAULT_CONF, missing, running

pytestmark = pytest.mark.slow

CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
from slurm_cluster import one_node_cluster
with one_node_cluster({root!r}):
    print("up", flush=True)
    time.sleep(600)
"""


def test_a_killed_test_leaves_no_daemon_and_no_slurm_conf(tmp_path):
    reason = missing()
    if reason:
        pytest.skip(f"no SLURM test cluster: {reason}")
    root = tmp_path / "cluster"
    code = CHILD.format(tests=str(Path(__file__).parent), root=str(root))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "up"
    assert len(running(root=root)) == 3 and DEFAULT_CONF.is_symlink()
    child.kill()  # no finally block runs: as a test killed by CI's timeout
    child.wait()
    end = time.monotonic() + 30
    while running(root=root) and time.monotonic() < end:
        time.sleep(0.2)
    assert running(root=root) == []
    assert DEFAULT_CONF.is_symlink()  # the link is still there ...
    assert missing() is None and not DEFAULT_CONF.is_symlink()  # ... until the next start
