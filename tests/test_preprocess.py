"""Preprocessing: statistics of the training set only, applied to every split."""

import numpy as np
import pytest
from cifar_format import member_bytes, write_archive

from onelayer.cifar10 import extract
from onelayer.dataset import Dataset, PixelMap, TrainingData, normalise
from onelayer.dataset import load_arrays as load_processed
from onelayer.preprocess import preprocess, train_statistics


def test_statistics_come_from_training_only():
    rng = np.random.default_rng(0)
    X_train = rng.uniform(0.0, 0.5, size=(6, 50))
    X_val = rng.uniform(0.5, 1.0, size=(6, 40))  # a brighter set: its own mean would differ
    mean, std = train_statistics(X_train)
    assert np.allclose(mean[:, 0], X_train.mean(axis=1))
    assert np.allclose(std[:, 0], X_train.std(axis=1, ddof=0))
    train = normalise(X_train, mean, std, np.float64)
    val = normalise(X_val, mean, std, np.float64)
    assert np.allclose(train.mean(axis=1), 0) and np.allclose(train.std(axis=1), 1)
    assert np.all(val.mean(axis=1) > 1)  # not re-centred on its own statistics


def test_constant_feature_stays_finite():
    X = np.ones((2, 5))
    X[1] = np.arange(5)
    mean, std = train_statistics(X)
    assert np.all(np.isfinite(normalise(X, mean, std)))


def test_preprocess_writes_splits_from_the_right_batches(tmp_path):
    write_archive(tmp_path / "a.tar.gz", member_bytes(n=11, seed=5))
    paths = dict(
        zip(
            ["b1", "b2", "b3", "b4", "b5", "test", "meta"], extract(tmp_path / "a.tar.gz", tmp_path)
        )
    )
    out = tmp_path / "p.npz"
    preprocess([paths["b1"]], [paths["b2"]], [paths["test"]], paths["meta"], out)
    a = load_processed(out)
    from onelayer.cifar10 import load_batch

    raw1, y1 = load_batch(paths["b1"])
    raw2, y2 = load_batch(paths["b2"])
    assert np.array_equal(a["y_train"], y1) and np.array_equal(a["y_val"], y2)
    assert a["X_train"].shape == (3072, 11) and a["X_train"].dtype == np.float32
    assert a["X_train"].flags["F_CONTIGUOUS"]  # each image contiguous
    X1 = raw1.T / 255.0
    expected = (X1 - X1.mean(axis=1, keepdims=True)) / X1.std(axis=1, keepdims=True)
    assert np.allclose(a["X_train"], expected, atol=1e-5)
    X2 = raw2.T / 255.0
    assert np.allclose(a["X_val"], (X2 - a["mean"]) / a["std"], atol=1e-5)
    assert list(a["label_names"])[:2] == ["airplane", "automobile"]
    assert pytest.approx(float(np.abs(a["X_val"].mean()))) != 0.0


def test_the_raw_pixels_are_kept_with_the_map_to_their_features(tmp_path):
    write_archive(tmp_path / "a.tar.gz", member_bytes(n=9, seed=6))
    b1, b2, _, _, _, test, meta = extract(tmp_path / "a.tar.gz", tmp_path)
    preprocess([b1], [b2], [test], meta, tmp_path / "p.npz")
    a = load_processed(tmp_path / "p.npz")
    from onelayer.cifar10 import load_batch

    px = Dataset(a).training_data()
    assert np.array_equal(px.pixels_train, load_batch(b1)[0])
    assert np.array_equal(px.pixels_val, load_batch(b2)[0])
    assert px.pixels_train.dtype == np.uint8 and px.pixels_train.flags["C_CONTIGUOUS"]
    pm = px.pixel_map
    for U, X in ((px.pixels_train, a["X_train"]), (px.pixels_val, a["X_val"])):
        assert np.allclose(pm.scale[:, None] * U.T + pm.offset[:, None], X, rtol=1e-6, atol=1e-6)
        assert np.array_equal(pm.features(U), X)  # the same bits as preprocessing wrote
    # a file from before the pixels were kept: no pixels, training reads the features
    old = Dataset({k: v for k, v in a.items() if not k.startswith("pixels_")}).training_data()
    assert not old.has_pixels and old.pixels_train is None


def test_pixels_of_other_data_are_refused():
    rng = np.random.default_rng(3)
    U = rng.integers(0, 256, size=(7, 12), dtype=np.uint8)
    X = U.T / 255.0
    mean, std = train_statistics(X)
    X = normalise(X, mean, std)
    pm = PixelMap.from_statistics(mean, std)
    y = np.zeros(7, dtype=np.int64)
    TrainingData(y, y, X, X, U, U, pm)  # the right pixels: accepted
    with pytest.raises(ValueError, match="pixels of val do not map to its features"):
        TrainingData(y, y, X, X, U, U[::-1].copy(), pm)
    with pytest.raises(ValueError, match="pixels of train must be uint8 n x d for 7 labels"):
        TrainingData(y, y, X, X, U[:5], U, pm)
    with pytest.raises(ValueError, match="must be uint8"):
        TrainingData(y, y, X, X, U.astype(np.int16), U, pm)


def test_all_five_batches_with_the_last_images_held_out_for_validation(tmp_path):
    """The handout's bonus 2.1 (a): all training batches, val_size images kept for validation,
    statistics from the training part only, the raw pixels of both parts kept."""
    write_archive(tmp_path / "a.tar.gz", member_bytes(n=11, seed=5))
    b1, b2, b3, b4, b5, test, meta = extract(tmp_path / "a.tar.gz", tmp_path)
    out = tmp_path / "all.npz"
    preprocess([b1, b2, b3, b4, b5], [], [test], meta, out, val_size=7)
    a = load_processed(out)
    from onelayer.cifar10 import load_batch

    raw = np.concatenate([load_batch(p)[0] for p in (b1, b2, b3, b4, b5)])
    ys = np.concatenate([load_batch(p)[1] for p in (b1, b2, b3, b4, b5)])
    assert a["X_train"].shape == (3072, 48) and a["X_val"].shape == (3072, 7)
    assert np.array_equal(a["y_train"], ys[:48]) and np.array_equal(a["y_val"], ys[48:])
    assert np.array_equal(a["pixels_train"], raw[:48]) and np.array_equal(a["pixels_val"], raw[48:])
    assert np.allclose(a["mean"].ravel(), (raw[:48] / 255.0).mean(axis=0))  # not the held-out 7
    with pytest.raises(ValueError, match="val_size must be 1 .. 54 images"):
        preprocess([b1, b2, b3, b4, b5], [], [test], meta, tmp_path / "x.npz", val_size=55)
    with pytest.raises(ValueError, match="not both"):
        preprocess([b1], [b2], [test], meta, tmp_path / "y.npz", val_size=3)


def test_loading_maps_the_large_arrays_read_only_and_gives_the_same_numbers(tmp_path):
    write_archive(tmp_path / "a.tar.gz", member_bytes(n=150, seed=2))
    b1, b2, b3, b4, b5, test, meta = extract(tmp_path / "a.tar.gz", tmp_path)
    out = tmp_path / "p.npz"
    preprocess([b1, b2, b3, b4, b5], [], [test], meta, out, val_size=50)
    mapped = load_processed(out)
    with np.load(out, allow_pickle=False) as f:
        read = {k: f[k] for k in f.files}
    assert set(mapped) == set(read)
    for k in read:
        assert np.array_equal(mapped[k], read[k]) and mapped[k].dtype == read[k].dtype, k
        assert mapped[k].flags.f_contiguous == read[k].flags.f_contiguous, k
    assert isinstance(mapped["X_train"], np.memmap) and not mapped["X_train"].flags.writeable
    assert not isinstance(mapped["y_train"], np.memmap)  # small arrays are read
    # a compressed file (not what preprocess writes) is read as usual
    np.savez_compressed(tmp_path / "c.npz", **read)
    other = load_processed(tmp_path / "c.npz")
    assert np.array_equal(other["X_train"], read["X_train"])
    assert not isinstance(other["X_train"], np.memmap)


def test_every_mapped_array_is_aligned_and_a_misaligned_file_is_read(tmp_path):
    """write_npz puts each array on a 64-byte boundary of the file, so the maps are aligned
    (the native kernels refuse misaligned float arrays); a file from np.savez, whose members
    fall anywhere, is read where a member is misaligned, never mapped misaligned."""
    import zipfile

    from onelayer import native
    from onelayer.atomic import write_npz

    rng = np.random.default_rng(4)
    arrays = {"a": np.arange(3, dtype=np.uint8), "X_train": rng.normal(size=(300, 1000)).astype(
        np.float32), "Z": rng.normal(size=(257, 1024))}  # fmt: skip
    write_npz(tmp_path / "w.npz", **arrays)
    with zipfile.ZipFile(tmp_path / "w.npz") as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    mapped = load_processed(tmp_path / "w.npz")
    for k in ("X_train", "Z"):
        assert isinstance(mapped[k], np.memmap) and mapped[k].ctypes.data % 64 == 0, k
        assert np.array_equal(mapped[k], arrays[k])
    # the native kernels take the mapped features as they are
    W, b = np.zeros((10, 1000), np.float32), np.zeros(10, np.float32)
    if native.available():
        assert native.scores(W, b, np.ascontiguousarray(mapped["X_train"])).shape == (300, 10)
    # np.savez after a 3-byte member: the next one is misaligned in the file
    with open(tmp_path / "s.npz", "wb") as f:
        np.savez(f, a=arrays["a"], X_train=arrays["X_train"])
    old = load_processed(tmp_path / "s.npz")
    assert old["X_train"].flags.aligned and np.array_equal(old["X_train"], arrays["X_train"])
