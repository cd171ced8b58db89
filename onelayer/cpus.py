"""How many CPUs this process may run on: the CPUs of its affinity mask (taskset, a SLURM step,
a container's cpuset), capped by a cgroup CPU quota where one is set on its cgroup or above
(a container's --cpus, systemd's CPUQuota, SLURM's cgroup plugin): ``os.cpu_count()`` says the
host's count, which a job with fewer CPUs must not start threads for. Training runs on at most
this many threads (``threads_for``); the results do not depend on the count.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")


def affinity() -> int:
    """The CPUs of this process's affinity mask (os.cpu_count() where the system has none)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def cgroup_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """The smallest CPU quota (in CPUs: quota / period) on this process's cgroup and its
    parents, cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us / cpu.cfs_period_us); None where none
    is set or none can be read."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one hierarchy
            base, files = root, ("cpu.max",)
        elif "cpu" in controllers.split(","):  # v1: the cpu controller's hierarchy
            base = next((root / d for d in (controllers, "cpu,cpuacct", "cpu") if (root / d).is_dir()), None)
            if base is None:
                continue
            files = ("cpu.cfs_quota_us", "cpu.cfs_period_us")
        else:
            continue
        folder = base / path.lstrip("/")
        while True:
            quota = _quota(folder, files)
            if quota is not None:
                quotas.append(quota)
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    return min(quotas) if quotas else None


def _quota(folder: Path, files: tuple[str, ...]) -> float | None:
    try:
        if len(files) == 1:  # "max 100000" or "150000 100000"
            quota, period = (folder / files[0]).read_text().split()[:2]
        else:
            quota, period = ((folder / f).read_text().strip() for f in files)
    except (OSError, ValueError):
        return None
    if quota in ("max", "-1"):
        return None
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def usable() -> int:
    """The CPUs this process may run on: its affinity mask, capped by a CPU quota (a quota of
    1.5 CPUs runs 2 threads: the half is time on a second CPU)."""
    n = affinity()
    quota = cgroup_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota - 1e-9)))
    return max(1, n)


_said: set = set()


def threads_for(requested: int, what: str = "training") -> int:
    """``requested`` threads, or the usable CPUs where there are fewer, saying so once per
    process and count in the log."""
    n = usable()
    if requested <= n:
        return requested
    if (requested, n) not in _said:
        _said.add((requested, n))
        log.warning("%s asked for %d threads, but this process may run on %d CPU%s "
                    "(affinity mask and CPU quota): running on %d, the same results",
                    what, requested, n, "" if n == 1 else "s", n)  # fmt: skip
    return n
