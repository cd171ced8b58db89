"""Outputs are written whole or not at all, flushed to disk before they take their name, and
with the permissions a plain open() gives under the caller's umask (results are shared)."""

import os
import stat
import subprocess
import sys
import textwrap

import pytest

from onelayer import atomic

WRITERS = """
import sys
import numpy as np
from onelayer import atomic, plots
out = sys.argv[1]
atomic.write_text(out + "/a.txt", "text")
atomic.write_json(out + "/a.json", {"x": 1})
atomic.write_npz(out + "/a.npz", W=np.zeros(3))
fig, ax = plots.plt.subplots()
plots.save(fig, out + "/a.png")
with atomic.atomic_paths() as temporary:
    for name in ("b1", "b2"):
        open(temporary(out + "/" + name), "w").write(name)
"""


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_get_the_mode_of_a_plain_open_under_the_umask(tmp_path, umask, mode):
    subprocess.run([sys.executable, "-c", textwrap.dedent(WRITERS), str(tmp_path)], check=True,
                   umask=umask)  # fmt: skip
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a.json", "a.npz", "a.png", "a.txt", "b1", "b2"]  # no temporary left
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == mode, (p.name, oct(p.stat().st_mode))


def test_a_file_is_flushed_to_disk_before_it_takes_its_name(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))) or real_fsync(fd))  # noqa: E501
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", str(a))) or real_replace(a, b))  # noqa: E501
    atomic.write_text(tmp_path / "x.txt", "hello")
    (first, tmp), (second, renamed), (third, folder) = events
    assert (first, second, third) == ("fsync", "replace", "fsync")
    assert tmp == renamed and folder == str(tmp_path)  # the file, then its folder's entry
    assert (tmp_path / "x.txt").read_text() == "hello"


def test_a_failed_group_leaves_neither_file_nor_temporary(tmp_path):
    (tmp_path / "kept").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_paths() as temporary:
            open(temporary(tmp_path / "kept"), "w").write("new")
            open(temporary(tmp_path / "other"), "w").write("new")
            raise RuntimeError("half-way")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    assert (tmp_path / "kept").read_text() == "old"
