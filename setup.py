"""Builds the native kernels when the package is installed: one extension module per CPU level
(onelayer/native/variants.py), plus the x86 CPU check. A build that fails (no C compiler, an old
one) is skipped with a warning: the package installs, and training uses the numpy backend."""

import importlib.util
import platform
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
NATIVE = "onelayer/native"
spec = importlib.util.spec_from_file_location("variants", HERE / NATIVE / "variants.py")
variants = importlib.util.module_from_spec(spec)
spec.loader.exec_module(variants)


def extension(name: str, source: str, flags: list[str], macros=()) -> Extension:
    return Extension(
        f"onelayer.native._{name}",
        sources=[f"{NATIVE}/{source}"],
        depends=[f"{NATIVE}/kernels.c", f"{NATIVE}/kernels.inc"],
        extra_compile_args=flags,
        define_macros=[("Py_LIMITED_API", "0x030B0000"), *macros],
        py_limited_api=True,
        optional=True,
    )


machine = platform.machine().lower()
extensions = [
    extension(name, "module.c", variants.flags_of(name), [("VARIANT", name)])
    for name in variants.variants_for(machine)
]
if machine in ("x86_64", "amd64"):
    extensions.append(extension("cpu", "cpu.c", ["-O2"]))


class OptionalBuildExt(build_ext):
    """build_ext that warns in one line, and goes on, where a kernel build fails."""

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the numpy backend
            print(
                f"WARNING: onelayer: could not build {ext.name} ({type(exc).__name__}: {exc}); "
                "training will use the numpy backend"
            )


setup(
    ext_modules=extensions,
    cmdclass={"build_ext": OptionalBuildExt},
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
