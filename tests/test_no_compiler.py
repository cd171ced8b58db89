"""A machine without a C compiler: the package still installs (the kernels' builds are skipped
with a warning), and the pipeline trains with the numpy backend, says so in the log, and
records it in metrics.json."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, copy_workflow, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow


def copy_sources(src: Path) -> Path:
    """What a source distribution holds, copied to src: the build files and the package's
    sources, no built kernels."""
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "onelayer", src / "onelayer",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))  # fmt: skip
    return src


@pytest.fixture(scope="module")
def install_without_compiler(tmp_path_factory):
    """The package built and installed into a folder with no compiler on PATH and $CC unset."""
    tmp = tmp_path_factory.mktemp("nocc")
    src = copy_sources(tmp / "src")
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "CXX", "LDSHARED")}
    # python, pip, snakemake, and `which` alone: snakemake-executor-plugin-slurm 2.8.0 runs
    # `which sacct` when Snakemake imports it, and Snakemake dies without a `which`
    tools = tmp / "bin"
    tools.mkdir()
    (tools / "which").symlink_to(shutil.which("which"))
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), str(tools)])  # no cc, no gcc
    assert (
        shutil.which("gcc", path=env["PATH"]) is None
        and shutil.which("cc", path=env["PATH"]) is None
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = subprocess.run([*pip, "wheel", "-v", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp / "wheel"), str(src)], env=env, capture_output=True, text=True)  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = (tmp / "wheel").glob("onelayer-*.whl")
    site = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], env=env,
                   check=True, capture_output=True)  # fmt: skip
    return site, env, build.stdout + build.stderr


def test_the_install_succeeds_without_kernels_and_says_why(install_without_compiler):
    site, _, output = install_without_compiler
    assert "WARNING: onelayer: could not build onelayer.native._" in output
    assert "training will use the numpy backend" in output
    assert (site / "onelayer" / "native" / "kernels.c").exists()
    assert not list((site / "onelayer").rglob("*.so"))


def test_the_pipeline_trains_with_numpy_and_says_so(
    install_without_compiler, tmp_path, tiny_archive
):
    site, env, _ = install_without_compiler
    env = {**env, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import onelayer; print(onelayer.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True,
                           check=True)  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(site)  # the install without kernels
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    cfg = tiny_config(url, md5, train={"n_batch": 20, "n_epochs": 2})  # backend: auto
    cfg["runs"] = [{"lam": 0, "eta": 0.01}]
    proc = snakemake(wd, "--cores", "2", "--configfile", str(write_config(wd, cfg)), env=env)
    # said once, on the console, before the first job: which copy, why, what to do
    said = f"onelayer is imported from {site.resolve() / 'onelayer'}, and no kernels were built into it"
    assert proc.out.count(said) == 1, proc.out[:3000]
    assert proc.out.index(said) < proc.out.index("rule download_cifar10")
    assert "install a C compiler (gcc or clang) and run `pip install -e .`" in proc.out
    m = json.loads((wd / "results" / "lam0_eta0.01" / "metrics.json").read_text())
    assert m["backend_requested"] == "auto" and m["backend"] == "numpy"
    assert m["native_variant"] is None and m["status"] == "ok" and m["epochs_run"] == 2
    log = (wd / "logs" / "train" / "lam0_eta0.01.log").read_text()
    assert "native kernels were not built when onelayer was installed" in log
    with open(wd / "results" / "gradcheck" / "gradcheck.csv") as f:
        assert {r["code"] for r in csv.DictReader(f)} == {"numpy"}


def test_asking_for_native_without_kernels_is_a_clear_error(install_without_compiler, tmp_path):
    site, env, _ = install_without_compiler
    code = "from onelayer import native; native.kernels()"
    proc = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(site)},
                          cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode != 0
    assert "NativeBackendError: the native kernels were not built" in proc.stderr
    assert "train.backend: numpy (or auto)" in proc.stderr


@pytest.fixture(scope="module")
def installed_copy(tmp_path_factory):
    """The package as `pip install .` installs it, kernels built, in a folder of its own (put
    first on PYTHONPATH, it stands for site-packages), and a fresh clone's files beside it: the
    checkout's onelayer/ has sources only, as before `pip install -e .`."""
    tmp = tmp_path_factory.mktemp("installed")
    src = copy_sources(tmp / "src")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "wheel"),
                    str(src)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = (tmp / "wheel").glob("onelayer-*.whl")
    site = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True,
                   capture_output=True)  # fmt: skip
    assert list((site / "onelayer" / "native").glob("_*.so"))
    return site, src / "onelayer"


def test_after_pip_install_dot_the_jobs_train_with_the_installed_kernels(
    installed_copy, tmp_path, tiny_archive
):
    """A clone, `pip install .`, `snakemake`: the checkout's onelayer/ (no kernels) sits beside
    the Snakefile, yet every job imports the installed copy and trains natively."""
    site, sources = installed_copy
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "clone")
    shutil.copytree(sources, wd / "onelayer")
    assert not list((wd / "onelayer").rglob("*.so"))
    cfg = tiny_config(url, md5, train={"n_batch": 20, "n_epochs": 2})
    cfg["runs"] = [{"lam": 0, "eta": 0.01}]
    env = {**os.environ, "PYTHONPATH": str(site)}
    # the console script, as a user runs it (python -m snakemake would put the clone on sys.path)
    proc = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--cores", "2",
                           "--configfile", str(write_config(wd, cfg))], cwd=wd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    m = json.loads((wd / "results" / "lam0_eta0.01" / "metrics.json").read_text())
    assert m["backend"] == "native" and m["native_variant"] is not None
    with open(wd / "results" / "gradcheck" / "gradcheck.csv") as f:
        assert {r["code"] for r in csv.DictReader(f)} == {"numpy", "native", "native-pixels"}
    assert "no kernels were built" not in proc.stdout
    link = wd / ".snakemake" / "onelayer" / "onelayer"
    assert link.resolve() == (site / "onelayer").resolve()  # the copy the jobs were given


def test_an_installed_copy_older_than_the_checkout_is_named(installed_copy, tmp_path, tiny_archive):
    site, sources = installed_copy
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "clone")
    shutil.copytree(sources, wd / "onelayer")
    (wd / "onelayer" / "model.py").write_text((sources / "model.py").read_text() + "\n# edited\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n", "--configfile",
                           str(write_config(wd, tiny_config(url, md5)))], cwd=wd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"onelayer is imported from {(site / 'onelayer').resolve()}, whose sources differ" in proc.stdout
