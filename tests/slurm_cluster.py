"""A one-node SLURM cluster on this machine for the tests: munged, slurmctld and slurmd from
Debian's packages, each in the foreground as a child of the test, with every file (key, socket,
state, logs, slurm.conf) in one temporary folder, and stopped at the end.

Clients (sbatch, squeue, Snakemake's SLURM executor) find it through ``SLURM_CONF``. The
job-step plugin (snakemake-executor-plugin-slurm-jobstep 0.6) removes every ``SLURM_*``
variable but a few before its ``srun``, ``SLURM_CONF`` too, so ``srun`` inside a job reads the
default path: the cluster links /etc/slurm/slurm.conf to its file while it runs (and refuses to
start if another slurm.conf is there).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")


def missing() -> str | None:
    """Why the cluster cannot start here, or None."""
    if os.geteuid() != 0:
        return "not root: slurmd and munged run as root here"
    absent = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
    if absent:
        return f"not installed: {', '.join(absent)} (Debian: apt-get install slurm-wlm munge)"
    if DEFAULT_CONF.is_symlink() and _stale(DEFAULT_CONF.readlink()):
        DEFAULT_CONF.unlink()  # left by a test cluster killed with its test
    if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
        return f"{DEFAULT_CONF} exists: this machine has a SLURM set-up the test leaves alone"
    return None


def _stale(target: Path) -> bool:
    """Whether ``target`` (where /etc/slurm/slurm.conf links) is a test cluster's file whose
    daemons are gone: gone itself, or ours with nothing running from its folder."""
    if not target.exists():
        return True
    ours = target.read_text(errors="replace").startswith("ClusterName=onelayer-test\n")
    return ours and not running(root=target.parent)


def _die_with_parent() -> None:
    """In a daemon's child process before exec: SIGTERM when the test process ends, even
    killed, so that no daemon outlives it (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _exe(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    return kb // 1024 - 1024  # leave 1 GiB to the machine


SLURM_CONF = """\
ClusterName=onelayer-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.socket
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
SchedulerType=sched/backfill
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _wait(predicate, what: str, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise RuntimeError(f"SLURM test cluster: {what} within {seconds:g} s")


@contextlib.contextmanager
def one_node_cluster(root: Path):
    """Start munged, slurmctld and slurmd under ``root``; yield the environment clients need
    (SLURM_CONF set); stop all three on exit and check they are gone."""
    root = Path(root)
    for sub in ("munge", "state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "munge", 0o700)
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(host=host, root=root, ctld_port=_free_port(),
                                      d_port=_free_port(), cpus=os.cpu_count(),
                                      mem=_memory_mb()))  # fmt: skip
    env = {**os.environ, "SLURM_CONF": str(conf)}
    key = root / "munge" / "munge.key"
    procs = []
    subprocess.run([_exe("mungekey"), "--create", f"--keyfile={key}"], check=True)
    try:
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(conf)
        m = root / "munge"
        procs.append(subprocess.Popen(
            [_exe("munged"), "--foreground", "--force", f"--key-file={key}",
             f"--socket={m}/munge.socket", f"--pid-file={m}/munged.pid",
             f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent))  # fmt: skip
        _wait(lambda: (m / "munge.socket").exists(), "munged did not open its socket")
        for daemon in ("slurmctld", "slurmd"):
            procs.append(subprocess.Popen([_exe(daemon), "-D", "-f", str(conf)], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                          preexec_fn=_die_with_parent))  # fmt: skip

        def node_idle():
            for p in procs:
                if p.poll() is not None:
                    logs = [f.read_text()[-2000:] for f in root.glob("*.log")]
                    raise RuntimeError(f"SLURM test cluster: {p.args[0]} exited:\n{logs}")
            out = subprocess.run([_exe("sinfo"), "-h", "-o", "%T"], env=env, text=True,
                                 capture_output=True).stdout.strip()  # fmt: skip
            return out == "idle"

        _wait(node_idle, "the node did not become idle")
        yield env
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if DEFAULT_CONF.is_symlink() and DEFAULT_CONF.readlink() == conf:
            DEFAULT_CONF.unlink()


def running(procs_named=("slurmctld", "slurmd", "munged"), root: Path | None = None) -> list[str]:
    """Command lines of the daemons still running that mention ``root`` (all when None)."""
    found = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmd.read_bytes().split(b"\0")
        except OSError:
            continue
        line = b" ".join(args).decode(errors="replace")
        if args and Path(args[0].decode(errors="replace")).name in procs_named:
            if root is None or str(root) in line:
                found.append(line)
    return found
