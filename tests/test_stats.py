"""The intervals on synthetic predictions: a planted difference is found, none is reported as
none at about the nominal rate, and the best of several models gets its probability."""

import math

import numpy as np
import pytest

from onelayer import stats


def predictions(rng, seeds: int, images: int, accuracy: float, difficulty, seed_sd=0.005,
                noise=0.05) -> np.ndarray:  # fmt: skip
    """Seeds x images of a model whose population accuracy is ``accuracy``: image i is
    correct where its difficulty plus the seed's own noise on it lies below the accuracy
    shifted by the seed's effect. Models given the same ``difficulty`` are tested on the same
    images (paired); their difference in accuracy is the difference of their ``accuracy``."""
    effect = rng.normal(0, seed_sd, size=(seeds, 1))
    own = rng.normal(0, noise, size=(seeds, images))
    return difficulty + own < accuracy + effect


def test_a_planted_difference_is_found_with_its_size():
    rng = np.random.default_rng(0)
    difficulty = rng.random(10_000)
    a = predictions(rng, 3, 10_000, 0.42, difficulty)
    b = predictions(rng, 3, 10_000, 0.40, difficulty)
    d = stats.paired_difference(a, b)
    assert d.detectable and d.low > 0
    assert d.low < 2.0 < d.high  # the planted 2 points
    assert d.estimate == pytest.approx(100 * (a.mean() - b.mean()))
    assert (d.seeds, d.images) == (3, 10_000) and d.se_images > 0 and d.se_seeds > 0
    assert "higher" in stats.difference_words(d)
    flipped = stats.paired_difference(b, a)
    assert flipped.estimate == -d.estimate and flipped.high == pytest.approx(-d.low)


@pytest.mark.parametrize("seeds, seed_sd", [(3, 0.005), (5, 0.002), (1, 0.0)])
def test_no_difference_is_covered_at_about_the_nominal_rate(seeds, seed_sd):
    """300 pairs of equal models: the 95 % interval covers 0 for 90 to 99 % of them (the
    estimate of the seeds' share is rough with few seeds: the interval is a little wide)."""
    rng = np.random.default_rng(seeds)
    covered, n = 0, 300
    for _ in range(n):
        difficulty = rng.random(2000)
        a = predictions(rng, seeds, 2000, 0.4, difficulty, seed_sd)
        b = predictions(rng, seeds, 2000, 0.4, difficulty, seed_sd)
        d = stats.paired_difference(a, b, resamples=400)
        covered += not d.detectable
    assert 0.90 <= covered / n <= 0.99, covered / n


def test_pairing_narrows_the_interval_of_models_that_share_their_images():
    """The same two models, once on the same images (paired) and once on independent ones:
    the paired interval is the narrower, because what the two get right together cancels."""
    rng = np.random.default_rng(3)
    difficulty = rng.random(5000)
    a = predictions(rng, 3, 5000, 0.41, difficulty)
    b_same = predictions(rng, 3, 5000, 0.40, difficulty)
    b_other = predictions(rng, 3, 5000, 0.40, rng.random(5000))
    paired = stats.paired_difference(a, b_same)
    unpaired = stats.paired_difference(a, b_other)
    assert paired.high - paired.low < 0.6 * (unpaired.high - unpaired.low)


def test_the_same_inputs_give_the_same_numbers():
    rng = np.random.default_rng(4)
    difficulty = rng.random(3000)
    a, b = (predictions(rng, 2, 3000, 0.4, difficulty) for _ in range(2))
    assert stats.paired_difference(a, b) == stats.paired_difference(a.copy(), b.copy())


def test_identical_models_have_no_difference_and_no_noise():
    a = np.random.default_rng(5).random((3, 100)) < 0.4
    d = stats.paired_difference(a, a)
    assert (d.estimate, d.low, d.high) == (0.0, 0.0, 0.0) and not d.detectable
    assert stats.difference_words(d).startswith("no detectable difference")


def test_mismatched_predictions_are_refused():
    with pytest.raises(ValueError, match="same seeds x images"):
        stats.paired_difference(np.ones((2, 10), bool), np.ones((3, 10), bool))


def test_the_best_model_gets_most_of_the_probability():
    rng = np.random.default_rng(6)
    difficulty = rng.random(1000)
    accuracies = [0.40, 0.40, 0.46, 0.41]
    correct = np.array([predictions(rng, 2, 1000, acc, difficulty) for acc in accuracies])
    p = stats.probability_best(correct)
    assert p.sum() == pytest.approx(1.0) and p.argmax() == 2 and p[2] > 0.95
    again = stats.probability_best(correct)
    assert np.array_equal(p, again)


def test_look_alikes_share_the_probability():
    """Four models of one accuracy on 1,000 images: none is best with a probability near 1."""
    rng = np.random.default_rng(7)
    difficulty = rng.random(1000)
    correct = np.array([predictions(rng, 2, 1000, 0.42, difficulty) for _ in range(4)])
    p = stats.probability_best(correct)
    assert p.max() < 0.8 and (p > 0.02).sum() >= 3


def test_the_accuracy_interval_is_the_exact_binomial_one():
    low, high = stats.accuracy_interval(39.21, 10_000)
    assert low < 39.21 < high and high - low == pytest.approx(1.92, abs=0.02)
    assert stats.accuracy_interval(0.0, 100)[0] == 0.0


def test_spread_and_where_a_number_falls_in_it():
    s = stats.spread([38.0, 39.0, None, 40.0])
    assert (s.n, s.mean, s.sd, s.min, s.max) == (3, 39.0, 1.0, 38.0, 40.0)
    assert stats.place(39.5, s) == "inside the seed range (+0.5 sd from the mean)"
    assert stats.place(36.7, s) == "2.3 sd below the seed mean, outside the seed range"
    assert stats.place(41.2, s) == "2.2 sd above the seed mean, outside the seed range"
    one = stats.spread([38.0])
    assert math.isnan(one.sd) and stats.place(39.0, one) == "above our only seed"
    assert stats.spread([None]).n == 0
