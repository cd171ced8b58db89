"""The builds of the native kernels: one extension module per instruction-set level, as numpy
builds its dispatched code, and the compiler flags of each.

Read by setup.py (which builds them at install time) and by ``onelayer.native`` (which imports
the best one the CPU runs). Kept free of imports, so setup.py can load it before numpy exists.
"""

# Flags of every build: gnu11 keeps GCC's contraction of a * b + c into FMA instructions (the
# order of operations the kernels are written for); hidden symbols keep the variants apart.
# -falign-loops=64: every loop starts on a cache line, so that an unrelated edit elsewhere does
# not move a hot loop across a line or a 32-byte window (measured: the AVX2 evaluation went 10.6
# -> 11.4 ms on an edit to another function, and back with the flag).
COMMON_FLAGS = ["-O3", "-std=gnu11", "-ffp-contract=fast", "-fvisibility=hidden", "-Wno-psabi",
                "-falign-loops=64"]  # fmt: skip

# x86-64 micro-architecture levels (the psABI's x86-64-v2/v3/v4), spelled as feature flags so
# that older GCC and Clang accept them too; _cpu.c checks the same features before a load.
X86_V2 = ["-msse3", "-mssse3", "-msse4.1", "-msse4.2", "-mpopcnt"]
X86_V3 = X86_V2 + ["-mavx", "-mavx2", "-mfma", "-mbmi", "-mbmi2", "-mf16c", "-mlzcnt", "-mmovbe"]
X86_V4 = X86_V3 + ["-mavx512f", "-mavx512bw", "-mavx512cd", "-mavx512dq", "-mavx512vl"]

# name: (machines it is built on, its flags, what it is), best first within a machine.
VARIANTS = {
    "x86_64_v4": (("x86_64", "amd64"), X86_V4, "AVX-512 (x86-64-v4), 64-byte vectors"),
    "x86_64_v3": (("x86_64", "amd64"), X86_V3, "AVX2 + FMA (x86-64-v3), 32-byte vectors"),
    "x86_64_v2": (("x86_64", "amd64"), X86_V2, "SSE4.2 (x86-64-v2), 16-byte vectors, no FMA"),
    "aarch64_neon": (("aarch64", "arm64"), [], "NEON (Armv8-A), 16-byte vectors"),
}
# Any other machine gets one build with the compiler's defaults for it.
GENERIC = "generic"


def variants_for(machine: str) -> list[str]:
    """The variants built on ``machine`` (platform.machine()), best first."""
    machine = machine.lower()
    names = [name for name, (machines, _, _) in VARIANTS.items() if machine in machines]
    return names or [GENERIC]


def flags_of(name: str) -> list[str]:
    return COMMON_FLAGS + (VARIANTS[name][1] if name in VARIANTS else [])
