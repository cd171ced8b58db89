"""The conda files and the pip requirements name the same packages with the same bounds."""

import re
from pathlib import Path

import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
# Conda packages with no pip counterpart: pip users bring the system's C compiler, which builds
# the native kernels at install time (environment.yml installs the package; the rule
# environment does not, and needs no compiler).
CONDA_ONLY = {"c-compiler"}


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
