"""Shared fixtures: tiny official-format archives, a real HTTP server on 127.0.0.1, and real
Snakemake runs in a copy of the workflow."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from cifar_format import make_archive  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = REPO.parent / "shared" / "data" / "cifar-10-python.tar.gz"
SHARED_MD5 = "5ffbb5b751b39e63cb4d389961d5bb9f"  # ../shared/data/README.md


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def http_root(tmp_path_factory):
    """A folder served by a real HTTP server on 127.0.0.1; yields (folder, base URL)."""
    root = tmp_path_factory.mktemp("www")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def tiny_archive(http_root):
    """A 200-images-per-batch archive in the official format, served over HTTP: (url, md5, path)."""
    root, base = http_root
    path = root / "cifar-10-python.tar.gz"
    md5 = make_archive(path, n=200, seed=0)
    return f"{base}/{path.name}", md5, path


def copy_workflow(dest: Path) -> Path:
    """A user's checkout: the Snakefile, workflow/ and config/ (no data, no results)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", dest / "Snakefile")
    for d in ("workflow", "config"):
        shutil.copytree(REPO / d, dest / d, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def tiny_config(url: str, md5: str, **overrides) -> dict:
    config = {
        "cifar10": {"url": url, "md5": md5},
        "train": {"n_batch": 20, "n_epochs": 3, "seed": 42},
        "runs": [{"lam": 0, "eta": 0.01}, {"lam": 0.1, "eta": 0.01}],
        "reference": [{"lam": 0, "eta": 0.01, "test_accuracy": 30.0}],
        # two seeds of each report run (the configured 42 and 43); one of everything else
        "replicates": {"report": 2, "grid": 1, "retrain": 1, "ablation": 1, "losses": 1},
        "gradcheck": {
            "cases": [
                {"name": "small", "d": 10, "n": 3, "lam": 0},
                {"name": "full", "d": 3072, "n": 20, "lam": 0.1, "fd_entries": 20},
            ]
        },
    }
    for key, value in overrides.items():
        config[key] = value
    return config


def write_config(workdir: Path, config: dict, name: str = "test.yaml") -> Path:
    path = workdir / name
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(
    workdir: Path, *args: str, check: bool = True, env=None, umask: int = -1
) -> subprocess.CompletedProcess:
    """Run the real snakemake in ``workdir`` (with ``env``, default this process's, and
    ``umask``, default this process's); return the finished process (stdout+stderr in .out)."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=env,
        umask=umask,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    proc.out = proc.stdout
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.out[-6000:]}"
        )
    return proc


def fit(X, y, Xv, yv, pixels=None, pixel_map=None, threads=1, K=10, variant=None, **options):
    """``train`` on features (d x n) and, where given, the pixels behind them (n x d bytes, the
    training images then the validation ones) with their map; ``options``: TrainSettings
    (its dtype, unless given, that of X)."""
    from onelayer.dataset import TrainingData
    from onelayer.settings import TrainSettings
    from onelayer.train import train

    n = y.size
    data = TrainingData(y, yv, X, Xv, None if pixels is None else pixels[:n],
                        None if pixels is None else pixels[n:], pixel_map)  # fmt: skip
    options.setdefault("dtype", X.dtype.name)
    return train(data, TrainSettings(**options), threads=threads, K=K, variant=variant)


@pytest.fixture
def more_threads_than_cpus(monkeypatch):
    """Training and the kernels start the threads a test asks for, even beyond this machine's
    CPUs (onelayer.cpus caps them otherwise): the tests of "any number of threads" mean it."""
    from onelayer import cpus

    monkeypatch.setattr(cpus, "usable", lambda: 64)


@pytest.fixture(scope="session")
def finished_workflow(tmp_path_factory, tiny_archive):
    """One full run of the pipeline on the tiny archive, shared by the tests that read its outputs."""
    url, md5, _ = tiny_archive
    workdir = copy_workflow(tmp_path_factory.mktemp("wf"))
    config = write_config(workdir, tiny_config(url, md5))
    proc = snakemake(workdir, "--cores", "2", "--configfile", str(config))
    return workdir, config, proc
