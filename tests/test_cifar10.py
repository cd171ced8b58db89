"""Reading archives: the official format loads; hostile or broken archives are refused by name."""

import os
import pickle
import tarfile

import numpy as np
import pytest
from cifar_format import CLASSES, MEMBERS, member_bytes, py2_pickle, write_archive

from onelayer.cifar10 import extract, load_batch, load_label_names, safe_unpickle
from onelayer.errors import ArchiveError


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "a.tar.gz"
    write_archive(path, member_bytes(n=7, seed=3))
    return path


def test_extract_and_load_official_format(archive, tmp_path):
    paths = extract(archive, tmp_path / "out")
    assert [p.name for p in paths] == MEMBERS
    data, labels = load_batch(paths[0])
    assert data.shape == (7, 3072) and data.dtype == np.uint8
    assert labels.shape == (7,) and labels.min() >= 0 and labels.max() <= 9
    assert load_label_names(paths[-1]) == CLASSES
    assert not list((tmp_path / "out").rglob("*.part"))


def test_missing_member_is_named(tmp_path):
    members = member_bytes(n=3)
    del members["test_batch"]
    write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(ArchiveError, match="missing member.*test_batch"):
        extract(tmp_path / "a.tar.gz", tmp_path / "out")


@pytest.mark.parametrize(
    "name",
    ["../evil", "/tmp/evil", "cifar-10-batches-py/../../evil"],
)
def test_path_traversal_is_refused(tmp_path, name):
    info = tarfile.TarInfo(name)
    info.size = 1
    write_archive(tmp_path / "a.tar.gz", member_bytes(n=2), extra=[info])
    with pytest.raises(ArchiveError, match="unsafe path"):
        extract(tmp_path / "a.tar.gz", tmp_path / "out")
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links_are_refused(tmp_path, kind):
    info = tarfile.TarInfo("cifar-10-batches-py/link")
    info.type = kind
    info.linkname = "/etc/passwd"
    write_archive(tmp_path / "a.tar.gz", member_bytes(n=2), extra=[info])
    with pytest.raises(ArchiveError, match="link"):
        extract(tmp_path / "a.tar.gz", tmp_path / "out")


def test_not_gzip_is_named(tmp_path):
    path = tmp_path / "a.tar.gz"
    path.write_bytes(b"<html>not an archive</html>" * 100)
    with pytest.raises(ArchiveError, match="a.tar.gz: not a readable gzipped tar"):
        extract(path, tmp_path / "out")


def test_truncated_archive_is_named_and_leaves_no_member(tmp_path, archive):
    data = archive.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="cut.tar.gz"):
        extract(cut, tmp_path / "out")
    leftovers = (
        [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
        if (tmp_path / "out").exists()
        else []
    )
    # only members completed before the damaged part may exist, and never a partial file
    assert not [p for p in leftovers if p.name.endswith(".part")]


class Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Boom()}, protocol=4))
    with pytest.raises(ArchiveError, match="refusing to load global .*system"):
        safe_unpickle(path)
    assert not (tmp_path / "pwned").exists()
    # and the same file would indeed run code under a plain pickle.load
    pickle.load(open(path, "rb"))
    assert (tmp_path / "pwned").exists()


def test_wrong_shape_is_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ArchiveError, match="expected uint8 n x 3072"):
        load_batch(path)


def test_labels_out_of_range_are_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}))
    with pytest.raises(ArchiveError, match="labels"):
        load_batch(path)


def test_loads_numpy2_pickles_too(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(
        pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [3]}, protocol=4)
    )
    data, labels = load_batch(path)
    assert labels.tolist() == [3]
