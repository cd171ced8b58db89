"""Which copy of the package a run uses, and whether it has its native kernels.

A checkout can be run installed (``pip install .``: the package and its kernels are copied to
site-packages), installed in place (``pip install -e .``: the kernels are built into the
checkout), in a conda environment, or not installed at all. The workflow imports the copy Python
finds (an install wins over the checkout's folder), gives every job that same copy, and, where
it has no kernels this CPU runs, says so once, before the first job, naming the copy, the copies
that do have kernels, and what to do.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from onelayer.native.variants import variants_for


def package_dir() -> Path:
    """The folder of the onelayer package imported here."""
    return Path(__file__).resolve().parent


def built_in(package: Path) -> list[str]:
    """The kernel builds for this machine present in ``package`` (a onelayer folder)."""
    names = variants_for(platform.machine())
    native = package / "native"
    return [n for n in names if any(native.glob(f"_{n}.*.so")) or any(native.glob(f"_{n}.so"))]


def copies_with_kernels(checkout: Path | None) -> list[Path]:
    """Other onelayer folders with kernels built: the checkout's, and any on sys.path."""
    found, seen = [], {package_dir()}
    for place in [checkout, *map(Path, filter(None, sys.path))]:
        if place is None:
            continue
        candidate = (Path(place) / "onelayer").resolve()
        if candidate in seen or not (candidate / "__init__.py").exists():
            continue
        seen.add(candidate)
        if built_in(candidate):
            found.append(candidate)
    return found


def give_jobs(folder: Path) -> Path:
    """Put ``folder``, holding only a link to this package, first on PYTHONPATH, which every
    job inherits: each job (a conda environment's Python too) imports this copy, and nothing
    else comes along from the folder it lies in."""
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "onelayer"
    if not (link.is_symlink() and link.resolve() == package_dir()):
        tmp = folder / f".onelayer.{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(package_dir(), target_is_directory=True)
        os.replace(tmp, link)
    path = [str(folder.resolve()), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))  # each entry once
    return folder.resolve()


def kernel_problem(checkout: Path | None = None) -> str | None:
    """Why the copy imported here would train with numpy, and what to do; None when its
    kernels are built and this CPU runs one of them."""
    from onelayer import native

    if native.available():
        return None
    here = package_dir()
    built = built_in(here)
    if built:
        why = (f"its builds ({', '.join(built)}) are for another CPU level than this one "
               f"({platform.machine()})")  # fmt: skip
    else:
        why = ("no kernels were built into it (installed without a C compiler, or a checkout "
               "that pip never installed)")  # fmt: skip
    others = copies_with_kernels(checkout)
    where = (f" Built kernels are in {', '.join(map(str, others))}, which this run does not "
             "import.") if others else ""  # fmt: skip
    return (
        f"onelayer is imported from {here}, and {why}: training uses the numpy backend, several "
        f"times slower.{where} To build them, install a C compiler (gcc or clang) and run "
        f"`pip install -e .` in the checkout (or `pip install .`, and run this workflow with that "
        "Python); or set train.backend: numpy to ask for numpy and silence this."
    )


def _sources(package: Path) -> dict[str, bytes]:
    return {str(p.relative_to(package)): p.read_bytes()
            for pattern in ("*.py", "native/*.py", "native/*.c", "native/*.inc")
            for p in sorted(package.glob(pattern))}  # fmt: skip


def stale_copy(checkout: Path) -> str | None:
    """A warning where the copy imported here is not the checkout's folder and its sources
    differ from the checkout's (installed with ``pip install .`` before the checkout changed);
    None otherwise."""
    mine, theirs = package_dir(), (Path(checkout) / "onelayer").resolve()
    if mine == theirs or not (theirs / "__init__.py").exists():
        return None
    if _sources(mine) == _sources(theirs):
        return None
    return (f"onelayer is imported from {mine}, whose sources differ from this checkout's "
            f"{theirs}: the run uses the installed copy. Reinstall it (`pip install .` in the "
            "checkout), or install the checkout in place (`pip install -e .`).")  # fmt: skip
