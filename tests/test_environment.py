"""The conda files and the pip requirements name the same packages with the same bounds, a
Python that Snakemake 9 and the SLURM plugin run on, and PyTorch's CPU build."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch-cpu": "torch", "matplotlib-base": "matplotlib"}
# Conda packages with no pip requirement: pip users bring the system's C compiler, and pip
# fetches setuptools for the build itself (pyproject.toml's build-system), which builds the
# native kernels at install time (environment.yml installs the package; the rule environment
# does not, and needs neither).
CONDA_ONLY = {"c-compiler", "setuptools"}
CONDA_FILES = [REPO / "environment.yml", REPO / "workflow" / "envs" / "onelayer.yaml"]


def normalise(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    name, bounds = m.group(1).lower(), m.group(2).replace(" ", "")
    return CONDA_TO_PIP.get(name, name), ",".join(sorted(bounds.split(","))) if bounds else ""


def conda_specs(path: Path) -> dict[str, str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    specs = dict(
        normalise(d) for d in deps if isinstance(d, str) and not d.startswith(("python", "pip"))
    )
    return {k: v for k, v in specs.items() if k not in CONDA_ONLY}


def test_the_conda_environment_that_installs_the_package_has_a_compiler():
    deps = yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]
    assert "c-compiler" in {normalise(d)[0] for d in deps if isinstance(d, str)}
    assert {"pip": ["-e ."]} in deps  # ... which builds the kernels (setup.py)


def pip_specs() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(normalise(d) for d in deps)


def test_environment_yml_matches_pyproject():
    assert conda_specs(REPO / "environment.yml") == pip_specs()


def test_rule_environment_has_the_runtime_packages_of_pyproject():
    tools = ("snakemake", "snakemake-executor-plugin-slurm", "pytest", "snakefmt")
    runtime = {k: v for k, v in pip_specs().items() if k not in tools}
    assert conda_specs(REPO / "workflow" / "envs" / "onelayer.yaml") == runtime


def test_torch_range_admits_the_cpu_build_ci_installs():
    from packaging.specifiers import SpecifierSet

    bounds = SpecifierSet(pip_specs()["torch"])
    assert "2.13.0" in bounds  # .ci/run installs this CPU build first; the range must keep it
    assert "3.0.0" not in bounds


def python_bounds(path) -> str:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    (spec,) = [d for d in deps if isinstance(d, str) and d.split()[0] == "python"]
    return normalise(spec)[1]


def test_every_file_asks_for_a_python_that_snakemake_and_the_plugin_run_on():
    """Snakemake 9 and snakemake-executor-plugin-slurm need Python >= 3.11 (their own package
    metadata): so must pyproject.toml and both conda files, and the same floor everywhere."""
    from importlib.metadata import metadata

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    ours = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    floors = {str(REPO / "pyproject.toml"): SpecifierSet(ours)}
    floors.update({str(p): SpecifierSet(python_bounds(p)) for p in CONDA_FILES})
    needs = [SpecifierSet(metadata(p)["Requires-Python"])
             for p in ("snakemake", "snakemake-executor-plugin-slurm")]  # fmt: skip
    for where, spec in floors.items():
        lowest = next(v for v in (f"3.{m}" for m in range(8, 20)) if Version(v) in spec)
        assert lowest == "3.11", (where, str(spec))
        assert all(lowest in need for need in needs), (where, [str(n) for n in needs])


def test_the_conda_files_ask_for_pytorchs_cpu_build():
    """conda-forge's plain pytorch resolves to a CUDA build (several GB) on a machine with an
    NVIDIA driver; the pipeline uses the CPU only."""
    for path in CONDA_FILES:
        names = {d.split()[0] for d in yaml.safe_load(path.read_text())["dependencies"]
                 if isinstance(d, str)}  # fmt: skip
        assert "pytorch-cpu" in names and "pytorch" not in names, path


def test_setuptools_for_the_kernels_is_pyprojects_build_requirement():
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    deps = yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]
    conda = {normalise(d) for d in deps if isinstance(d, str)}
    assert {normalise(b) for b in build} <= conda


def test_the_catalog_file_names_what_the_workflow_supports():
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert catalog["software-stack-deployment"]["conda"] is True and catalog["report"] is True
    assert catalog["mandatory-flags"]["flags"]
