"""Race-freedom of the threaded epoch and evaluation, by ThreadSanitizer: the kernels built with
-fsanitize=thread into the C harness (tests/native_harness.c) run an epoch with flips and moves,
and an evaluation, on 2, 3 and 8 threads (more threads than this machine's CPUs, so that the
waits sleep as well as spin), for every kind of data; any report fails the test. Each thread
count also gives the one-thread bits. Needs gcc (or cc) with libtsan, as Debian's gcc has."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onelayer.native.variants import flags_of, variants_for

sys.path.insert(0, str(Path(__file__).parent))
from test_native_arm import KINDS, case  # noqa: E402

HERE = Path(__file__).resolve().parent
CC = shutil.which("gcc") or shutil.which("cc")
TSAN_OPTIONS = "halt_on_error=1 exitcode=66 second_deadlock_stack=1"


def build(tmp: Path, source: Path = HERE.parent / "onelayer/native/kernels.c") -> Path:
    """The harness with ThreadSanitizer, on the kernels of ``source`` (a copy, to weaken)."""
    import platform

    base = variants_for(platform.machine().lower())[-1]  # the baseline build of this machine
    harness = tmp / "native_harness.c"
    harness.write_text((HERE / "native_harness.c").read_text().replace(
        '#include "../onelayer/native/kernels.c"', f'#include "{source}"'))  # fmt: skip
    exe = tmp / "harness_tsan"
    cmd = [CC, *[f for f in flags_of(base) if not f.startswith("-O")], "-O1", "-g",
           "-fsanitize=thread", "-o", str(exe), str(harness), "-lm", "-pthread"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode and "tsan" in proc.stderr:
        pytest.skip(f"no ThreadSanitizer runtime: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr
    return exe


def run(exe: Path, tmp: Path, kind: int, c: dict) -> tuple[subprocess.CompletedProcess, bytes]:
    n, d = c["X"].shape
    moved = c["moves"] is not None
    parts = [np.array([kind, n, d, c["W"].shape[0], c["n_batch"], int(c["loss"] == "bce"), moved,
                       c["threads"]], np.int64),
             np.array([c["lam"], c["eta"]]), c["W"], c["b"], c["X"], *(c["affine"] or ()), c["y"],
             c["perm"], *([c["moves"]] if moved else [])]  # fmt: skip
    src, dst = tmp / "in", tmp / "out"
    src.write_bytes(b"".join(p.tobytes() for p in parts))
    env = {**os.environ, "TSAN_OPTIONS": TSAN_OPTIONS}
    proc = subprocess.run([str(exe), str(src), str(dst)], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    return proc, dst.read_bytes() if dst.exists() else b""


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    if CC is None:
        pytest.skip("no C compiler")
    return build(tmp_path_factory.mktemp("tsan"))


@pytest.mark.parametrize("kind", KINDS, ids=["f32", "f32-pixels", "f64", "f64-pixels"])
def test_the_threaded_epoch_and_evaluation_have_no_race(harness, tmp_path, kind):
    one = None
    for threads in (1, 2, 3, 8):
        c = case(kind, 3072, 330, 10, seed=2, threads=threads)
        c["n_batch"] = 100  # three batches: the hand-over of a batch after another's
        proc, out = run(harness, tmp_path, kind, c)
        assert "ThreadSanitizer" not in proc.stderr and proc.returncode == 0, proc.stderr[-4000:]
        one = out if one is None else one
        assert out == one, f"{threads} threads differ from one"


def test_a_weakened_hand_over_is_caught(tmp_path):
    """The counters' release store and acquire load made relaxed: the next thread may read the
    running sums before they are written, and ThreadSanitizer says so."""
    if CC is None:
        pytest.skip("no C compiler")
    source = (HERE.parent / "onelayer/native/kernels.c").read_text()
    weak = source
    for order in ("__ATOMIC_SEQ_CST", "__ATOMIC_RELEASE"):  # the fenced raise and the asymmetric
        weak = weak.replace(f"__atomic_store_n(&c->count, value, {order})",
                            "__atomic_store_n(&c->count, value, __ATOMIC_RELAXED)")  # fmt: skip
    weak = weak.replace("reached(__atomic_load_n(&c->count, __ATOMIC_ACQUIRE), target)",
                        "reached(__atomic_load_n(&c->count, __ATOMIC_RELAXED), target)")  # fmt: skip
    assert weak.count("__ATOMIC_RELAXED") == source.count("__ATOMIC_RELAXED") + 3
    copy = tmp_path / "kernels.c"
    copy.write_text(weak)
    shutil.copy(HERE.parent / "onelayer/native/kernels.inc", tmp_path / "kernels.inc")
    exe = build(tmp_path, copy)
    proc, _ = run(exe, tmp_path, 1, case(1, 3072, 330, 10, seed=2, threads=2) | {"n_batch": 100})
    assert "WARNING: ThreadSanitizer: data race" in proc.stderr, proc.stderr[-3000:]
