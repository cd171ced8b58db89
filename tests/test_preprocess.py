"""Preprocessing: statistics of the training set only, applied to every split; the processed
file holds the raw pixels and those statistics, and the features derive from them."""

import numpy as np
import pytest
from cifar_format import member_bytes, write_archive

from onelayer import preprocess as prep
from onelayer.cifar10 import extract, load_batch
from onelayer.dataset import Dataset, PixelMap, TrainingData, normalise
from onelayer.dataset import load_arrays as load_processed
from onelayer.preprocess import preprocess, to_features, train_statistics


def pixels(n, d, seed=0, low=0, high=256):
    return np.random.default_rng(seed).integers(low, high, size=(n, d), dtype=np.uint8)


def test_statistics_come_from_training_only():
    U_train, U_val = pixels(50, 6, low=0, high=128), pixels(40, 6, seed=1, low=128)  # brighter
    mean, std = train_statistics(U_train)
    X_train, X_val = to_features(U_train), to_features(U_val)
    assert np.allclose(mean[:, 0], X_train.mean(axis=1))
    assert np.allclose(std[:, 0], X_train.std(axis=1, ddof=0))
    train = normalise(X_train, mean, std, np.float64)
    val = normalise(X_val, mean, std, np.float64)
    assert np.allclose(train.mean(axis=1), 0) and np.allclose(train.std(axis=1), 1)
    assert np.all(val.mean(axis=1) > 1)  # not re-centred on its own statistics


@pytest.mark.parametrize("n", [1, 7, prep.CHUNK, 2 * prep.CHUNK + 5])
def test_the_statistics_are_numpys_bits_whatever_the_chunks(n):
    """Computed a chunk of images at a time (the set never held in float64), the statistics
    are the bits of numpy's mean and std over the whole float64 set: the same additions in the
    same order, so the features, and every number trained on them, are those of the pipeline
    that stored float features."""
    U = pixels(n, 48, seed=n)
    mean, std = train_statistics(U)
    X = to_features(U)
    assert np.array_equal(mean, X.mean(axis=1, keepdims=True))
    numpys = X.std(axis=1, keepdims=True)
    assert np.array_equal(std, np.where(numpys > 0, numpys, 1.0))  # a constant feature: 1


def test_constant_feature_stays_finite():
    U = np.zeros((5, 2), dtype=np.uint8)
    U[:, 1] = np.arange(5)
    mean, std = train_statistics(U)
    assert std[0, 0] == 1.0 and np.all(np.isfinite(normalise(to_features(U), mean, std)))


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
    assert set(a) == {"pixels_train", "y_train", "pixels_val", "y_val", "pixels_test", "y_test",
                      "mean", "std", "label_names"}  # fmt: skip
    (raw1, y1), (raw2, y2), (raw3, y3) = (load_batch(paths[k]) for k in ("b1", "b2", "test"))
    assert np.array_equal(a["y_train"], y1) and np.array_equal(a["y_val"], y2)
    assert np.array_equal(a["y_test"], y3) and np.array_equal(a["pixels_test"], raw3)
    data = Dataset(a)
    X = data.features("train")
    assert X.shape == (3072, 11) and X.dtype == np.float32
    assert X.flags["F_CONTIGUOUS"]  # each image contiguous
    X1 = raw1.T / 255.0
    expected = (X1 - X1.mean(axis=1, keepdims=True)) / X1.std(axis=1, keepdims=True)
    assert np.allclose(X, expected, atol=1e-5)
    X2 = raw2.T / 255.0
    assert np.allclose(data.features("val"), (X2 - a["mean"]) / a["std"], atol=1e-5)
    assert data.label_names[:2] == ["airplane", "automobile"]
    assert pytest.approx(float(np.abs(data.features("val").mean()))) != 0.0


def test_the_file_holds_the_pixels_and_the_map_to_their_features(tmp_path):
    """A byte per feature: the file is the raw pixels of its three splits and a little more
    (at most twice their size), and the features derive from them as preprocessing made them."""
    write_archive(tmp_path / "a.tar.gz", member_bytes(n=200, seed=6))
    b1, b2, _, _, _, test, meta = extract(tmp_path / "a.tar.gz", tmp_path)
    preprocess([b1], [b2], [test], meta, tmp_path / "p.npz")
    a = load_processed(tmp_path / "p.npz")
    raw = sum(a[f"pixels_{s}"].nbytes for s in ("train", "val", "test"))
    assert raw == 3 * 200 * 3072 and (tmp_path / "p.npz").stat().st_size <= 2 * raw
    px = Dataset(a).training_data()
    assert np.array_equal(px.pixels_train, load_batch(b1)[0])
    assert np.array_equal(px.pixels_val, load_batch(b2)[0])
    assert px.pixels_train.dtype == np.uint8 and px.pixels_train.flags["C_CONTIGUOUS"]
    pm = px.pixel_map
    for U in (px.pixels_train, px.pixels_val):
        X = normalise(to_features(U), a["mean"], a["std"])  # what preprocessing stored before
        assert np.array_equal(pm.features(U), X)
        assert np.array_equal(pm.features(U, chunk=7), X)  # chunks and a tail: the same bits
        assert np.allclose(pm.scale[:, None] * U.T + pm.offset[:, None], X, rtol=1e-6, atol=1e-6)
    # a file from before the pixels were kept: its stored features train, without pixels
    old = {k: v for k, v in a.items() if not k.startswith("pixels_")}
    old.update(X_train=pm.features(px.pixels_train), X_val=pm.features(px.pixels_val))
    data = Dataset(old).training_data()
    assert not data.has_pixels and data.pixels_train is None
    assert np.array_equal(data.features("train", np.float32), old["X_train"])


def test_pixels_of_other_data_are_refused():
    rng = np.random.default_rng(3)
    U = rng.integers(0, 256, size=(7, 12), dtype=np.uint8)
    mean, std = train_statistics(U)
    X = normalise(to_features(U), mean, std)
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
    raw = np.concatenate([load_batch(p)[0] for p in (b1, b2, b3, b4, b5)])
    ys = np.concatenate([load_batch(p)[1] for p in (b1, b2, b3, b4, b5)])
    data = Dataset(a)
    assert data.features("train").shape == (3072, 48) and data.features("val").shape == (3072, 7)
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
    big = mapped["pixels_train"]
    assert isinstance(big, np.memmap) and not big.flags.writeable
    assert not isinstance(mapped["y_train"], np.memmap)  # small arrays are read
    # a compressed file (not what preprocess writes) is read as usual
    np.savez_compressed(tmp_path / "c.npz", **read)
    other = load_processed(tmp_path / "c.npz")
    assert np.array_equal(other["pixels_train"], read["pixels_train"])
    assert not isinstance(other["pixels_train"], np.memmap)


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
