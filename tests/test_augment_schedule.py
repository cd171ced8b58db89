"""Horizontal flips and eta schedules (the handout's bonus 2.1 (b), (d)): each against a plain
numpy version of the same step, in both backends."""

import numpy as np
import pytest
from conftest import fit

from onelayer import model
from onelayer.augment import flip_horizontal, flipped_and_moved
from onelayer.dataset import PixelMap
from onelayer.errors import SettingsError
from onelayer.schedule import Schedule, own_keys

backends = pytest.mark.parametrize("backend", ["native", "numpy"])


def test_a_flip_mirrors_every_row_of_every_channel():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)
    flipped = flip_horizontal(images)
    planes, mirrored = images.reshape(3, 3, 32, 32), flipped.reshape(3, 3, 32, 32)
    for c in range(3):
        for r in (0, 17, 31):
            assert np.array_equal(mirrored[1, c, r], planes[1, c, r, ::-1])
    assert mirrored[2, 1, 5, 0] == planes[2, 1, 5, 31]
    assert np.array_equal(flip_horizontal(flipped), images) and not np.array_equal(flipped, images)
    with pytest.raises(ValueError, match="not planes of 32 x 32"):
        flip_horizontal(images[:, :100])


def test_step_and_cosine_schedules():
    step = Schedule.from_dict({"kind": "step", "factor": 10, "every": 20})
    assert [step.eta_at(0.1, e, 40) for e in (1, 20, 21, 40)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01]
    )
    cosine = Schedule.from_dict({"kind": "cosine", "eta_min": 0.001})
    assert cosine.eta_at(0.1, 1, 41) == pytest.approx(0.1)
    assert cosine.eta_at(0.1, 21, 41) == pytest.approx(0.0505)  # half way: the mean
    assert cosine.eta_at(0.1, 41, 41) == pytest.approx(0.001)
    assert Schedule.from_dict(None).eta_at(0.1, 7, 40) == Schedule().eta_at(0.1, 7, 40) == 0.1
    assert step.as_dict() == {"kind": "step", "factor": 10.0, "every": 20}
    for bad, message in (({"kind": "linear"}, "kind must be one of"),
                         ({"kind": "step", "factor": 0.5}, "factor >= 1"),
                         ({"kind": "step", "every": 2.5}, "whole every"),
                         ({"kind": "cosine", "factor": 2}, "takes no factor")):  # fmt: skip
        with pytest.raises(SettingsError, match=message):
            Schedule.from_dict(bad)


def moved_by_padding(img: np.ndarray, dx: int, dy: int, s: int, border: str = "black") -> np.ndarray:
    """A 3 x 32 x 32 byte image moved by (dx, dy) the plain way: pad with black (or numpy's
    "edge" padding), then crop."""
    padded = np.pad(img, ((0, 0), (s, s), (s, s)), mode="edge" if border == "edge" else "constant")
    return padded[:, s - dy : s - dy + 32, s - dx : s - dx + 32]


def reference(U, y, scale, offset, lam, eta, n_batch, n_epochs, seed, flip=0.0, sched=None,
              s=0):  # fmt: skip
    """The spec's loop, written plainly on the raw images: per epoch a permutation, a coin per
    position and a move per position (each from its own generator), each drawn image flipped
    and moved (pad and crop) as its coin and move say, mapped to features, then the step."""
    n, d = U.shape
    W, b = model.init_params(10, d, seed)
    shuffles, coins = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    moves_rng = np.random.default_rng([seed, 2])
    for epoch in range(1, n_epochs + 1):
        perm = shuffles.permutation(n)
        mirror = coins.random(n) < flip if flip > 0 else np.zeros(n, bool)
        moves = moves_rng.integers(-s, s + 1, size=(n, 2)) if s else np.zeros((n, 2), int)
        rate = Schedule.from_dict(sched).eta_at(eta, epoch, n_epochs)
        for j in range(n // n_batch):
            cols = []
            for t in range(j * n_batch, (j + 1) * n_batch):
                img = U[perm[t]].reshape(3, 32, 32)
                img = img[:, :, ::-1] if mirror[t] else img
                cols.append(moved_by_padding(img, moves[t, 0], moves[t, 1], s).reshape(d))
            Xb = scale[:, None] * np.array(cols).T + offset[:, None]
            gW, gb = model.gradients(W, b, Xb, y[perm[j * n_batch : (j + 1) * n_batch]], lam)
            W, b = W - rate * gW, b - rate * gb
    return W, b


def pixel_problem(n=45, n_train=30, seed=5):
    """Raw images, a per-feature map to features that is not mirror-symmetric (so a flip of the
    features would not be the features of the flipped image), the features, and labels."""
    rng = np.random.default_rng(seed)
    U = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    pm = PixelMap(rng.uniform(0.5, 2, size=3072) / 255, rng.normal(size=3072))
    X = np.asfortranarray(pm.scale[:, None] * U.T + pm.offset[:, None])
    y = rng.integers(0, 10, size=n)
    return U, pm, X[:, :n_train], y[:n_train], X[:, n_train:], y[n_train:]


@backends
@pytest.mark.parametrize("flip, sched, s", [(0.5, None, 0), (0.0, {"kind": "step", "factor": 3, "every": 1}, 0),
                                            (1.0, {"kind": "cosine", "eta_min": 0.0}, 0), (0.5, None, 2),
                                            (0.0, None, 1)])  # fmt: skip
def test_training_with_flips_moves_and_schedules_is_the_plain_loop(backend, flip, sched, s):
    U, pm, X, y, Xv, yv = pixel_problem()
    kw = dict(lam=0.01, eta=0.02, n_batch=10, n_epochs=2, seed=3)
    r = fit(X, y, Xv, yv, U, pm, backend=backend, flip=flip, schedule=sched, translate_px=s, **kw)
    W, b = reference(U[: y.size], y, pm.scale, pm.offset, flip=flip, sched=sched, s=s, **kw)
    assert np.allclose(r.W, W, atol=1e-12) and np.allclose(r.b, b, atol=1e-12)
    W0, _ = reference(U[: y.size], y, pm.scale, pm.offset, **kw)
    assert not np.allclose(W, W0, atol=1e-6)  # the setting changed the run


def learnable(n=60, seed=0, dtype=np.float64):
    """Features only (no raw images): enough for what does not augment."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    X = rng.normal(size=(3072, 10))[:, y] + 0.5 * rng.normal(size=(3072, n))
    return np.asfortranarray(X.astype(dtype)), y


def test_without_augmentation_nothing_changes():
    """flip = 0 draws nothing: the report's runs keep their numbers."""
    X, y = learnable(dtype=np.float32)
    kw = dict(lam=0.1, eta=0.01, n_batch=20, n_epochs=2, seed=3)
    a, b = fit(X, y, X, y, **kw), fit(X, y, X, y, flip=0.0, schedule={"kind": "constant"}, **kw)
    assert np.array_equal(a.W, b.W) and a.history == b.history


def test_augmentation_needs_the_raw_images():
    X, y = learnable(n=20)
    for kw in ({"flip": 0.5}, {"translate_px": 1}):
        with pytest.raises(ValueError, match="acts on the raw images: it needs pixels"):
            fit(X, y, X, y, lam=0.0, eta=0.1, n_batch=10, n_epochs=1, **kw)


def test_a_flip_probability_outside_0_1_is_refused():
    X, y = learnable(n=20)
    with pytest.raises(SettingsError, match="flip = 1.5 must be at most 1"):
        fit(X, y, X, y, lam=0.0, eta=0.1, n_batch=10, n_epochs=1, flip=1.5)


@backends
def test_averaging_returns_the_mean_of_the_last_epochs(backend):
    X, y = learnable()
    kw = dict(lam=0.01, eta=0.01, n_batch=15, seed=4, backend=backend)
    ends = [fit(X, y, X, y, n_epochs=e, **kw) for e in (2, 3, 4)]  # W after epochs 2, 3, 4
    avg = fit(X, y, X, y, n_epochs=4, average_last=3, **kw)
    assert np.allclose(avg.W, np.mean([r.W for r in ends], axis=0), atol=1e-14)
    assert np.allclose(avg.b, np.mean([r.b for r in ends], axis=0), atol=1e-14)
    assert avg.history == ends[-1].history  # the history is of the iterates, not the average
    with pytest.raises(SettingsError, match="average_last = 3 must be at most n_epochs = 2"):
        fit(X, y, X, y, n_epochs=2, average_last=3, **kw)


@backends
def test_the_training_set_evaluation_can_be_thinned(backend):
    X, y = learnable()
    kw = dict(lam=0.01, eta=0.01, n_batch=15, n_epochs=5, seed=4, backend=backend)
    full = fit(X, y, X[:, :20], y[:20], **kw)
    every = fit(X, y, X[:, :20], y[:20], eval_train_every=2, **kw)
    assert np.array_equal(every.W, full.W)  # the evaluation does not touch the training
    for a, b in zip(every.history, full.history):
        assert a["val_loss"] == b["val_loss"]
        if a["epoch"] in (2, 4, 5):  # every 2nd, and the last
            assert a["train_loss"] == b["train_loss"]
        else:
            assert np.isnan(a["train_loss"]) and np.isnan(a["train_accuracy"])
    sub = fit(X, y, X[:, :20], y[:20], eval_train_subset=25, **kw)
    idx = np.sort(np.random.default_rng([4, 3]).choice(60, 25, replace=False))
    S = model.scores(sub.W, sub.b, X[:, idx])
    assert sub.history[-1]["train_loss"] == pytest.approx(model.cross_entropy(S, y[idx]), rel=1e-12)
    assert sub.history[-1]["train_loss"] != full.history[-1]["train_loss"]
    with pytest.raises(SettingsError, match="eval_train_every = 0 must be at least 1"):
        fit(X, y, X, y, **{**kw, "eval_train_every": 0})


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_flip_averaged_model_scores_the_mean_of_an_image_and_its_mirror(dtype):
    from onelayer.augment import flip_averaged

    rng = np.random.default_rng(3)
    u = rng.integers(0, 256, size=(50, 3072), dtype=np.uint8)
    mean, std = rng.uniform(0.3, 0.6, size=(3072, 1)), rng.uniform(0.2, 0.3, size=(3072, 1))
    pm = PixelMap.from_statistics(mean, std)
    scale, offset = pm.scale, pm.offset
    features = lambda px: (scale * px.astype(np.float64) + offset).T  # noqa: E731 - d x n
    W = rng.normal(0, 0.01, size=(10, 3072)).astype(dtype)
    b = rng.normal(0, 0.1, size=(10, 1)).astype(dtype)
    W2, b2 = flip_averaged(W, b, scale, offset)
    assert W2.dtype == dtype and b2.dtype == dtype and b2.shape == b.shape
    expected = 0.5 * (model.scores(W.astype(np.float64), b.astype(np.float64), features(u))
                      + model.scores(W.astype(np.float64), b.astype(np.float64),
                                     features(flip_horizontal(u))))  # fmt: skip
    got = model.scores(W2.astype(np.float64), b2.astype(np.float64), features(u))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert np.allclose(got, expected, rtol=0, atol=tol * np.abs(expected).max())
    # and it is not the model it came from: the mirror's scores moved it
    assert not np.allclose(W2, W)
    # an image and its mirror now score the same
    assert np.allclose(got, model.scores(W2.astype(np.float64), b2.astype(np.float64),
                                         features(flip_horizontal(u))), atol=tol)  # fmt: skip


@pytest.mark.parametrize("flip, shift, inputs, border", [
    (False, 1, "standardised", "black"), (True, 2, "standardised", "black"),
    (False, 0, "unit", "black"), (True, 1, "centred", "black"), (True, 1, "standardised", "edge"),
    (False, 2, "unit", "edge")])  # fmt: skip
def test_the_test_time_model_scores_the_mean_over_the_copies_on_the_files_features(flip, shift,
                                                                                    inputs, border):
    """A model trained on ``inputs``' features, written on the standardised ones with its
    scores averaged over the image's mirrored and moved copies: one linear layer whose scores
    of an image are that mean, as the model trained scores the copies on its own features."""
    from onelayer.augment import flipped_and_moved, test_time_model
    from onelayer.dataset import Dataset

    rng = np.random.default_rng(4)
    u = rng.integers(0, 256, size=(40, 3072), dtype=np.uint8)
    mean, std = rng.uniform(0.3, 0.6, size=(3072, 1)), rng.uniform(0.2, 0.3, size=(3072, 1))
    file = Dataset({"mean": mean, "std": std})
    trained, written = file.input_map(inputs), file.pixel_map
    W = rng.normal(0, 0.01, size=(10, 3072))
    b = rng.normal(0, 0.1, size=(10, 1))
    W2, b2 = test_time_model(W, b, trained, written, flip, shift, border)
    on = lambda pm, px: (pm.scale * px.astype(np.float64) + pm.offset).T  # noqa: E731 - d x n
    copies = [(m, dx, dy) for m in ((0, 1) if flip else (0,)) for dx in range(-shift, shift + 1)
              for dy in range(-shift, shift + 1)]  # fmt: skip
    n = u.shape[0]
    expected = np.mean([model.scores(W, b, on(trained, flipped_and_moved(
        u, np.full(n, m), np.full(n, dx), np.full(n, dy), border))) for m, dx, dy in copies],
        axis=0)  # fmt: skip
    got = model.scores(W2, b2, on(written, u))
    assert np.allclose(got, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    assert (W2.shape, b2.shape) == (W.shape, b.shape)
    if len(copies) == 1 and inputs == "standardised":
        assert np.array_equal(W2, W)


def test_the_input_maps_are_the_three_scalings():
    from onelayer.dataset import Dataset

    mean, std = np.full((3, 1), 0.5), np.full((3, 1), 0.25)
    file = Dataset({"mean": mean, "std": std})
    u = np.array([[0, 51, 255]], dtype=np.uint8)
    assert np.allclose(file.input_map("standardised").features(u)[:, 0], [-2, -1.2, 2])
    assert np.allclose(file.input_map("centred").features(u)[:, 0], [-0.5, -0.3, 0.5])
    assert np.allclose(file.input_map("unit").features(u)[:, 0], [0, 0.2, 1])
    with pytest.raises(ValueError, match="standardised, centred or unit"):
        file.input_map("whitened")


def test_a_merged_schedule_keeps_only_its_kinds_keys():
    # config.yaml's cosine under a --configfile's step, as Snakemake merges them
    merged = {"kind": "step", "factor": 2, "every": 5, "eta_min": 0}
    assert own_keys(merged) == {"kind": "step", "factor": 2, "every": 5}
    assert own_keys({"kind": "constant", "eta_min": 0, "every": 3}) == {"kind": "constant"}
    assert own_keys({"kind": "cosine", "eta_min": 0.1, "factor": 3}) == {"kind": "cosine",
                                                                          "eta_min": 0.1}  # fmt: skip
    with pytest.raises(SettingsError, match="takes no eta_min"):  # a schedule itself is strict
        Schedule.from_dict(merged)


@pytest.mark.parametrize("border", ["black", "edge"])
def test_flipped_and_moved_is_a_flip_then_a_move(border):
    rng = np.random.default_rng(6)
    U = rng.integers(0, 256, size=(40, 3072), dtype=np.uint8)
    mirror, dx, dy = rng.integers(0, 2, 40), rng.integers(-3, 4, 40), rng.integers(-3, 4, 40)
    out = flipped_and_moved(U, mirror, dx, dy, border)
    for i in range(40):
        img = U[i].reshape(3, 32, 32)
        img = img[:, :, ::-1] if mirror[i] else img
        expected = moved_by_padding(img, dx[i], dy[i], 3, border)
        assert np.array_equal(out[i].reshape(3, 32, 32), expected)
    assert not np.array_equal(out, flipped_and_moved(U, mirror, dx, dy,
                                                     "edge" if border == "black" else "black"))  # fmt: skip


# A short run with flips and 1-pixel moves on the tiny archive's five batches, pinned: the
# history and the model made when numpy built each epoch's moved images (a0a0bab); the kernels
# now mirror and move the images themselves, and must read the same bytes (every FMA build).
MOVED_RUN_SHA256 = ("89756e78f25d998356d6ffda70da0956816b02a398b5340362bd808dc9e93c53",
                    "7b2877bcd70ddbd634e14994e0e3ea3c19be2eed3e949d67353fe3fbaee2ed93")  # fmt: skip


def test_a_run_with_flips_and_moves_keeps_its_pinned_bits(tmp_path, more_threads_than_cpus):
    import hashlib

    from cifar_format import make_archive

    from onelayer import native
    from onelayer.cifar10 import extract
    from onelayer.dataset import Dataset
    from onelayer.preprocess import preprocess
    from onelayer.runs import history_csv
    from onelayer.settings import TrainSettings
    from onelayer.train import train

    make_archive(tmp_path / "a.tar.gz", n=200, seed=0)
    b1, b2, b3, b4, b5, test, meta = extract(tmp_path / "a.tar.gz", tmp_path)
    preprocess([b1, b2, b3, b4, b5], [], [test], meta, tmp_path / "all.npz", val_size=100)
    data = Dataset.load(tmp_path / "all.npz").training_data()
    settings = TrainSettings(lam=0.01, eta=0.005, n_batch=20, n_epochs=3, flip=0.5,
                             translate_px=1)  # fmt: skip
    runs = {b: train(data, settings.replace(backend=b)) for b in ("native", "numpy")}
    ours = runs["native"]
    if not ours.native_fma:
        pytest.skip(f"trained by {ours.native_variant}, a build without FMA: other bits")
    assert ours.native_variant in native.runnable()
    digest = (hashlib.sha256(history_csv(ours.history).encode()).hexdigest(),
              hashlib.sha256(ours.W.tobytes() + ours.b.tobytes()).hexdigest())  # fmt: skip
    assert digest == MOVED_RUN_SHA256
    # on three threads (a share each of every batch's images and gradient terms): the same bits
    three = train(data, settings.replace(backend="native"), threads=3)
    assert (history_csv(three.history), three.W.tobytes()) == (history_csv(ours.history),
                                                               ours.W.tobytes())  # fmt: skip
    # the numpy backend makes the same images and does the same maths: equal to rounding
    for a, b in zip(ours.history, runs["numpy"].history):
        assert a == pytest.approx(b, rel=1e-5)
