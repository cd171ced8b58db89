"""The aarch64 (NEON) build of the kernels, cross-compiled and run under qemu-user: the maths of
onelayer.model, and the same bits as the x86 FMA builds (the order of additions does not depend
on the machine). Needs Debian's gcc-aarch64-linux-gnu and qemu-user, which .ci/run installs;
skipped elsewhere when they are missing, failed in CI."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from onelayer import model, native
from onelayer.native.variants import flags_of

HERE = Path(__file__).resolve().parent
CC = shutil.which("aarch64-linux-gnu-gcc")
QEMU = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
MISSING = [
    name for name, path in (("aarch64-linux-gnu-gcc", CC), ("qemu-aarch64", QEMU)) if not path
]

pytestmark = pytest.mark.skipif(
    bool(MISSING) and os.environ.get("CI") != "true",
    reason=f"{', '.join(MISSING)} not installed (Debian: gcc-aarch64-linux-gnu, qemu-user)",
)
KINDS = {0: (np.float32, False), 1: (np.float32, True), 2: (np.float64, False),
         3: (np.float64, True)}  # fmt: skip
SHAPES = [(3072, 37, 10), (10, 3, 10), (17, 5, 10), (40, 33, 3), (513, 20, 16), (33, 1, 7),
          (64, 17, 11), (2100, 9, 12)]  # fmt: skip


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    assert not MISSING, f"{', '.join(MISSING)} missing: .ci/run installs them"
    exe = tmp_path_factory.mktemp("arm") / "harness"
    cmd = [CC, *flags_of("aarch64_neon"), "-static", "-o", str(exe), str(HERE / "native_harness.c"),
           "-lm", "-pthread"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


def case(kind, d, n, K, seed=0, loss="softmax", threads=1):
    dtype, pixels = KINDS[kind]
    rng = np.random.default_rng(seed)
    if pixels:
        X = rng.integers(0, 256, size=(n, d), dtype=np.uint8)
        affine = (
            (rng.uniform(0.5, 2, size=d) / 255).astype(dtype),
            rng.normal(size=d).astype(dtype),
        )
    else:
        X, affine = rng.normal(size=(n, d)).astype(dtype), None
    W = (0.05 * rng.normal(size=(K, d))).astype(dtype)
    b = (0.1 * rng.normal(size=K)).astype(dtype)
    y = rng.integers(0, K, size=n).astype(np.int64)
    perm = rng.permutation(n).astype(np.int64)
    # an epoch of images of whole planes mirrors and moves them, as training with flips and moves
    # (flags 0 to 3: mirrored or not, a black or an edge border)
    moves = None
    if pixels and d % 1024 == 0:
        moves = np.stack([rng.integers(0, 4, n), rng.integers(-2, 3, n), rng.integers(-31, 32, n)],
                         axis=1).astype(np.int8)  # fmt: skip
    return dict(dtype=dtype, X=X, affine=affine, W=W, b=b, y=y, perm=perm, moves=moves,
                n_batch=max(1, n // 3), lam=0.3, eta=0.1, loss=loss, threads=threads)  # fmt: skip


def run_arm(harness, tmp_path, kind, c) -> list[np.ndarray]:
    n, d = c["X"].shape
    K = c["W"].shape[0]
    bce = int(c["loss"] == "bce")
    moved = c["moves"] is not None
    parts = [np.array([kind, n, d, K, c["n_batch"], bce, moved, c["threads"]], np.int64),
             np.array([c["lam"], c["eta"]]), c["W"], c["b"], c["X"], *(c["affine"] or ()), c["y"],
             c["perm"], *([c["moves"]] if moved else [])]  # fmt: skip
    src, dst = tmp_path / f"in{kind}{bce}", tmp_path / f"out{kind}{bce}"
    src.write_bytes(b"".join(p.tobytes() for p in parts))
    proc = subprocess.run(
        [QEMU, str(harness), str(src), str(dst)], capture_output=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    raw, t = dst.read_bytes(), c["dtype"]
    sizes = [(t, n * K), (t, K * d), (t, K), (np.float64, 2), (t, K * d), (t, K)]
    out, at = [], 0
    for dt, count in sizes:
        a = np.frombuffer(raw, dt, count, at)
        out.append(a)
        at += a.nbytes
    assert at == len(raw)
    S, dW, db, ev, W1, b1 = out
    return [S.reshape(n, K), dW.reshape(K, d), db, ev, W1.reshape(K, d), b1]


def x86_reference(variant, c) -> list[np.ndarray]:
    W, b, X, y, perm, nb, aff = c["W"], c["b"], c["X"], c["y"], c["perm"], c["n_batch"], c["affine"]
    kw = dict(affine=aff, variant=variant, loss=c["loss"])
    out = [native.scores(W, b, X, affine=aff, variant=variant)]
    out += native.gradients(W, b, X, y, c["lam"], rows=perm[:nb], **kw)
    out.append(np.array(native.loss_and_accuracy(W, b, X, y, **kw)))
    W1, b1 = W.copy(), b.copy()
    native.sgd_epoch(W1, b1, X, y, perm, nb, c["eta"], c["lam"], moves=c["moves"], **kw)
    return out + [W1, b1]


@pytest.mark.parametrize("loss", ["softmax", "bce"])
@pytest.mark.parametrize("kind", KINDS, ids=["f32", "f32-pixels", "f64", "f64-pixels"])
def test_the_neon_build_does_the_maths_of_the_model(harness, tmp_path, kind, loss):
    for d, n, K in SHAPES:
        c = case(kind, d, n, K, loss=loss)
        S, dW, db, ev, _, _ = run_arm(harness, tmp_path, kind, c)
        X = c["X"].T.astype(np.float64)
        if c["affine"] is not None:
            X = c["affine"][0].astype(np.float64)[:, None] * X + c["affine"][1][:, None]
        W, b, y, tol = (
            c["W"].astype(np.float64),
            c["b"][:, None].astype(np.float64),
            c["y"],
            (2e-5 if c["dtype"] == np.float32 else 1e-12),
        )
        ref = model.scores(W, b, X)
        assert np.allclose(S.T, ref, atol=tol, rtol=tol), (d, n, K)
        rows = c["perm"][: c["n_batch"]]
        rW, rb = model.gradients(W, b, X[:, rows], y[rows], c["lam"], loss)
        assert np.allclose(dW, rW, atol=tol, rtol=tol) and np.allclose(db, rb[:, 0], atol=tol)
        assert ev[0] / n == pytest.approx(model.loss_of(ref, y, loss), rel=tol)
        assert ev[1] / n == model.accuracy(ref, y)


FMA_X86 = [v for v in native.runnable() if native.kernels(v).fma]


@pytest.mark.skipif(not FMA_X86, reason="this CPU runs no x86 build with FMA to compare with")
@pytest.mark.parametrize("loss", ["softmax", "bce"])
@pytest.mark.parametrize("kind", KINDS, ids=["f32", "f32-pixels", "f64", "f64-pixels"])
def test_the_neon_build_gives_the_bits_of_the_x86_fma_builds(harness, tmp_path, kind, loss):
    for (d, n, K), threads in zip(SHAPES, [3, 1, 2, 1, 2, 1, 3, 2]):  # x86 on one thread
        c = case(kind, d, n, K, seed=1, loss=loss, threads=threads)
        arm = run_arm(harness, tmp_path, kind, c)
        arm[3] = arm[3] / n  # (mean loss, accuracy), as loss_and_accuracy divides
        for variant in FMA_X86:
            for i, (a, x) in enumerate(zip(arm, x86_reference(variant, c))):
                assert a.tobytes() == np.asarray(x, a.dtype).tobytes(), (variant, d, n, K, i)
