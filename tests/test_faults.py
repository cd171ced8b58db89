"""Bad input, faults and determinism, through real Snakemake runs: every fault stops with a
message naming the file and the problem, and leaves nothing that looks valid."""

import gzip
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cifar_format import member_bytes, write_archive
from conftest import copy_workflow, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow


def outputs_after_download(wd: Path) -> list[str]:
    """Extracted, preprocessed or result files: none may exist after a data fault."""
    found = []
    for d in ("data/raw/cifar-10-batches-py", "data/processed", "results"):
        if (wd / d).exists():
            found += [str(p.relative_to(wd)) for p in (wd / d).rglob("*") if p.is_file()]
    return found


def run_with_archive(tmp_path, http_root, archive_bytes: bytes, md5: str, name: str):
    root, base = http_root
    (root / name).write_bytes(archive_bytes)
    wd = copy_workflow(tmp_path / "wf")
    config = write_config(wd, tiny_config(f"{base}/{name}", md5))
    return wd, snakemake(wd, "--cores", "2", "--configfile", str(config), check=False)


def test_truncated_download_is_refused_by_checksum(tmp_path, http_root, tiny_archive):
    _, md5, path = tiny_archive
    data = path.read_bytes()
    wd, proc = run_with_archive(
        tmp_path, http_root, data[: len(data) // 2], md5, "truncated.tar.gz"
    )
    assert proc.returncode != 0
    assert re.search(
        rf"truncated.tar.gz: MD5 checksum mismatch: expected {md5}, got [0-9a-f]{{32}}", proc.out
    )
    assert not (wd / "data/raw/cifar-10-python.tar.gz").exists()
    assert not list((wd / "data/raw").glob(".*part")) and outputs_after_download(wd) == []


def test_wrong_checksum_names_expected_and_actual(tmp_path, http_root, tiny_archive):
    _, md5, path = tiny_archive
    wd, proc = run_with_archive(tmp_path, http_root, path.read_bytes(), "0" * 32, "other.tar.gz")
    assert proc.returncode != 0
    assert f"expected {'0' * 32}, got {md5}" in proc.out
    assert (
        not (wd / "data/raw/cifar-10-python.tar.gz").exists() and outputs_after_download(wd) == []
    )


def test_non_gzip_file_is_named(tmp_path, http_root):
    data = b"<html>Service unavailable</html>\n" * 50
    import hashlib

    wd, proc = run_with_archive(
        tmp_path, http_root, data, hashlib.md5(data).hexdigest(), "page.tar.gz"
    )
    assert proc.returncode != 0
    assert "cifar-10-python.tar.gz: not a readable gzipped tar archive" in proc.out
    assert outputs_after_download(wd) == []


def test_archive_missing_a_member_is_named(tmp_path, http_root):
    members = member_bytes(n=50)
    del members["data_batch_2"]
    md5 = write_archive(tmp_path / "m.tar.gz", members)
    wd, proc = run_with_archive(
        tmp_path, http_root, (tmp_path / "m.tar.gz").read_bytes(), md5, "m.tar.gz"
    )
    assert proc.returncode != 0
    assert "missing member(s) cifar-10-batches-py/data_batch_2" in proc.out
    assert outputs_after_download(wd) == []


def test_archive_with_path_traversal_is_refused(tmp_path, http_root):
    import tarfile

    evil = tarfile.TarInfo("cifar-10-batches-py/../../../escaped")
    evil.size = 4
    md5 = write_archive(tmp_path / "e.tar.gz", member_bytes(n=50), extra=[evil])
    wd, proc = run_with_archive(
        tmp_path, http_root, (tmp_path / "e.tar.gz").read_bytes(), md5, "e.tar.gz"
    )
    assert proc.returncode != 0
    assert "refusing member with unsafe path 'cifar-10-batches-py/../../../escaped'" in proc.out
    assert outputs_after_download(wd) == [] and not list(tmp_path.rglob("escaped"))


def test_hand_placed_archive_is_verified_before_extraction(tmp_path, tiny_archive):
    url, md5, path = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    placed = wd / "data/raw/cifar-10-python.tar.gz"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(gzip.compress(b"tampered"))
    config = write_config(wd, tiny_config(url, md5))
    proc = snakemake(wd, "--cores", "1", "--configfile", str(config), check=False)
    assert proc.returncode != 0
    assert f"data/raw/cifar-10-python.tar.gz: MD5 checksum mismatch: expected {md5}" in proc.out
    assert outputs_after_download(wd) == []


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves a file slowly enough that a test can kill the download half-way."""

    payload = b""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        try:
            for i in range(0, len(self.payload), 1 << 16):
                self.wfile.write(self.payload[i : i + (1 << 16)])
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass


def start(wd: Path, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", *args], cwd=wd, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def wait_for(predicate, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_killed_download_leaves_nothing_under_the_final_name(tmp_path, tiny_archive):
    _, md5, path = tiny_archive
    SlowHandler.payload = path.read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cifar-10-python.tar.gz"
        wd = copy_workflow(tmp_path / "wf")
        config = write_config(wd, tiny_config(url, md5))
        raw = wd / "data/raw"
        proc = start(wd, "--cores", "1", "--configfile", str(config))
        assert wait_for(
            lambda: (
                any(p.stat().st_size > 0 for p in raw.glob(".*.part")) if raw.exists() else False
            )
        )
        os.killpg(proc.pid, signal.SIGKILL)  # a crash: no handler runs
        proc.wait()
        assert not (raw / "cifar-10-python.tar.gz").exists()
        assert list(raw.glob(".*.part"))  # the partial file is only under a temporary name
        # The next run starts clean and finishes (a killed run may leave Snakemake's lock).
        snakemake(wd, "--unlock", "--configfile", str(config))
        done = snakemake(wd, "--cores", "2", "--configfile", str(config))
        assert "removing" in (wd / "logs/download_cifar10.log").read_text()
        assert not list(raw.glob(".*.part")) and (wd / "results/summary.csv").exists(), done.out[
            -2000:
        ]
    finally:
        server.shutdown()
        server.server_close()


def test_killed_training_leaves_no_complete_looking_run(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    config = write_config(wd, tiny_config(url, md5, train={"n_batch": 20, "n_epochs": 100000}))
    run = wd / "results/lam0_eta0.01"
    log = wd / "logs/train/lam0_eta0.01.log"
    proc = start(
        wd, str(run.relative_to(wd) / "metrics.json"), "--cores", "1", "--configfile", str(config)
    )
    assert wait_for(lambda: log.exists() and "epoch" in log.read_text(), timeout=300)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not [p.name for p in run.glob("*")] if run.exists() else True
    # The next run takes it from the start; a short config now, so it finishes.
    config = write_config(wd, tiny_config(url, md5))
    snakemake(wd, "--unlock", "--configfile", str(config))
    snakemake(wd, "--cores", "2", "--configfile", str(config), "--rerun-incomplete")
    assert json.loads((run / "metrics.json").read_text())["status"] == "ok"


def test_diverging_run_is_recorded_and_the_others_complete(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    runs = [{"lam": 0, "eta": 0.01}, {"lam": 0, "eta": 10000}]
    config = write_config(wd, tiny_config(url, md5, runs=runs))
    snakemake(wd, "--cores", "2", "--configfile", str(config))
    m = json.loads((wd / "results/lam0_eta10000/metrics.json").read_text())
    assert m["status"] == "diverged" and m["diverged_epoch"] >= 1 and m["test_accuracy"] is None
    ok = json.loads((wd / "results/lam0_eta0.01/metrics.json").read_text())
    assert ok["status"] == "ok" and ok["test_accuracy"] is not None
    summary = (wd / "results/summary.md").read_text()
    assert f"diverged at epoch {m['diverged_epoch']}" in summary
    assert (wd / "results/lam0_eta10000/curves.png").exists() and (
        wd / "results/figures/accuracy.png"
    ).exists()


@pytest.mark.parametrize(
    "override, message",
    [
        (
            {"runs": [{"lam": -1, "eta": 0.1}]},
            r"-1 is less than the minimum of 0.*\['runs'\]\[0\]\['lam'\]",
        ),
        (
            {"runs": [{"lam": 0, "eta": 0}]},
            r"0 is less than or equal to the minimum of 0.*\['runs'\]\[0\]\['eta'\]",
        ),
        (
            {"runs": [{"lam": 0, "eta": "fast"}]},
            r"'fast' is not of type 'number'.*\['runs'\]\[0\]\['eta'\]",
        ),
        ({"train": {"n_batch": 0}}, r"0 is less than the minimum of 1.*\['train'\]\['n_batch'\]"),
        (
            {"train": {"n_batch": 20000}},
            r"20000 is greater than the maximum of 10000.*\['train'\]\['n_batch'\]",
        ),
        ({"train": {"n_epochs": 2.5}}, r"2.5 is not of type 'integer'.*\['train'\]\['n_epochs'\]"),
        ({"train": {"dtype": "float16"}}, r"'float16' is not one of.*\['train'\]\['dtype'\]"),
        ({"train": {"backend": "cuda"}}, r"'cuda' is not one of.*\['train'\]\['backend'\]"),
        ({"train": {"flip": 1.5}}, r"1.5 is greater than the maximum of 1.*\['train'\]\['flip'\]"),
        (
            {"train": {"schedule": {"kind": "linear"}}},
            r"'linear' is not one of.*\['train'\]\['schedule'\]\['kind'\]",
        ),
        (
            {"cifar10": {"url": "ftp://x/y.tar.gz", "md5": "0" * 32}},
            r"does not match.*\['cifar10'\]\['url'\]",
        ),
        (
            {"cifar10": {"url": "http://x/y.tar.gz", "md5": "xyz"}},
            r"'xyz' does not match.*\['cifar10'\]\['md5'\]",
        ),
        (
            {"trian": {"n_batch": 10}},
            r"Additional properties are not allowed \('trian' was unexpected\)",
        ),
        ({"runs": []}, r"\[\] should be non-empty.*\['runs'\]"),
    ],
)
def test_bad_config_stops_before_any_job_naming_the_key(tmp_path, tiny_archive, override, message):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    config = write_config(wd, {**tiny_config(url, md5), **override})
    proc = snakemake(wd, "--cores", "1", "--configfile", str(config), check=False)
    assert proc.returncode != 0
    assert re.search(message, proc.out, re.S), proc.out[-3000:]
    assert not (wd / "data").exists() and not (wd / "results").exists()


def test_yaml_1e_minus_3_is_read_as_the_number(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    wd = copy_workflow(tmp_path / "wf")
    config = write_config(wd, tiny_config(url, md5, runs=[]))
    config.write_text(config.read_text().replace("runs: []", "runs:\n- {lam: 0, eta: 1e-3}"))
    assert isinstance(
        __import__("yaml").safe_load(config.read_text())["runs"][0]["eta"], str
    )  # YAML 1.1
    proc = snakemake(wd, "-n", "--cores", "1", "--configfile", str(config))
    assert "results/lam0_eta0.001/metrics.json" in proc.out


def test_same_config_same_bytes_whatever_the_cores_and_threads(tmp_path, tiny_archive):
    url, md5, _ = tiny_archive
    outs = []
    for cores, threads in (("1", 1), ("2", 2)):
        wd = copy_workflow(tmp_path / f"c{cores}")
        config = write_config(
            wd, tiny_config(url, md5, train={"n_batch": 20, "n_epochs": 3, "threads": threads})
        )
        snakemake(wd, "--cores", cores, "--configfile", str(config))
        outs.append(wd)
    for run in ("lam0_eta0.01", "lam0.1_eta0.01"):
        a, b = (wd / "results" / run for wd in outs)
        assert (a / "history.csv").read_bytes() == (b / "history.csv").read_bytes()
        assert (a / "model.npz").read_bytes() == (b / "model.npz").read_bytes()
        ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
        ma.pop("train_seconds"), mb.pop("train_seconds")  # wall time is the one field that varies
        assert ma == mb
    for f in ("gradcheck/gradcheck.csv", "summary.md"):
        a, b = ((wd / "results" / f).read_text() for wd in outs)
        assert a == b, f
