"""The noise of every number the pipeline compares: the spread of a result over seeds, the
sampling interval of an accuracy measured on n images, the paired interval of the difference
between two models tested on the same images, and each model's probability of being the best
on a sample of validation images.

A run's accuracy moves with its seed (the initial W and every stream drawn from it: shuffles,
flips, moves) and with the images it is measured on. A difference between two settings trained
on the same seeds and tested on the same images has both kinds of noise, each estimated apart:

- the images: the paired bootstrap over the test images of the per-image difference, summed
  over the seeds (``scipy.stats.bootstrap``; the same resampled images for both models and
  every seed, so what the two models share cancels);
- the seeds: the standard error of the per-seed differences (``scipy.stats.sem``), with S - 1
  degrees of freedom.

The interval is the estimate +- t * sqrt(se_images^2 + se_seeds^2), with the Welch-Satterthwaite
degrees of freedom of that sum: with few seeds and a seed share that dominates, t is well above
1.96. tests/test_stats.py checks its coverage on synthetic predictions.

Resampling draws from generators of fixed seeds and sums counts of correct answers (integers)
before it divides, so the same inputs give the same numbers on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats

LEVEL = 0.95  # of every interval
RESAMPLES = 2000  # bootstrap resamples: the standard error to about 1.6 % of itself
RESAMPLE_SEED = 0  # of the bootstrap's generator


@dataclass(frozen=True)
class Spread:
    """A result over seeds (percent): how many, their mean, standard deviation (ddof 1; NaN for
    one seed), smallest and largest."""

    n: int
    mean: float
    sd: float
    min: float
    max: float


def spread(values) -> Spread:
    """The spread of ``values``, one per seed; None values (diverged runs) are left out."""
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return Spread(0, math.nan, math.nan, math.nan, math.nan)
    sd = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
    return Spread(int(v.size), float(np.mean(v)), sd, float(v.min()), float(v.max()))


def accuracy_interval(accuracy_percent: float, images: int, level: float = LEVEL):
    """The exact (Clopper-Pearson) interval, in percent, of an accuracy measured on ``images``
    images: the sampling noise of the test set alone (``scipy.stats.binomtest``)."""
    correct = round(accuracy_percent * images / 100)
    ci = scipy.stats.binomtest(correct, images).proportion_ci(confidence_level=level)
    return 100 * ci.low, 100 * ci.high


@dataclass(frozen=True)
class Difference:
    """Model A's accuracy minus model B's (percentage points), the mean over seeds, with its
    ``level`` interval and the two standard errors it combines."""

    estimate: float
    low: float
    high: float
    se_images: float
    se_seeds: float  # 0 with one seed: the interval then holds the images' noise alone
    seeds: int
    images: int

    @property
    def detectable(self) -> bool:
        """Whether the interval lies on one side of 0."""
        return self.low > 0 or self.high < 0


def paired_difference(correct_a, correct_b, level: float = LEVEL, resamples: int = RESAMPLES,
                      rng_seed: int = RESAMPLE_SEED) -> Difference:  # fmt: skip
    """A - B from ``correct_a`` and ``correct_b``, boolean (seeds x images): whether the model
    trained with seed s classifies image i correctly; row s of both sides is the same seed,
    column i the same image."""
    a, b = np.atleast_2d(np.asarray(correct_a, dtype=bool)), np.atleast_2d(np.asarray(correct_b, dtype=bool))
    if a.shape != b.shape:
        raise ValueError(f"paired predictions must have the same seeds x images, got {a.shape} "
                         f"and {b.shape}")  # fmt: skip
    S, n = a.shape
    diff = a.astype(np.int64) - b.astype(np.int64)  # -1, 0, 1
    per_seed = 100 * diff.sum(axis=1) / n
    estimate = 100 * int(diff.sum()) / (S * n)
    per_image = diff.sum(axis=0).astype(np.float64)  # integers: exact sums in any order
    if np.any(per_image != per_image[0]):
        boot = scipy.stats.bootstrap((per_image,), np.mean, n_resamples=resamples,
                                     batch=max(1, (1 << 22) // n), vectorized=True,
                                     method="percentile", rng=np.random.default_rng(rng_seed))  # fmt: skip
        se_images = 100 * float(boot.standard_error) / S
    else:  # the two models agree on every image, or differ on every one alike
        se_images = 0.0
    se_seeds = float(scipy.stats.sem(per_seed)) if S > 1 else 0.0
    # Both shares hold the seed-by-image noise (each seed's own hits and misses): count it once,
    # taking out its mean square, from the residual of the seeds x images table (two-way
    # analysis of variance), from their sum.
    shared = 0.0
    if S > 1:
        residual = diff - diff.mean(axis=1, keepdims=True) - diff.mean(axis=0) + diff.mean()
        shared = 1e4 * float(np.sum(residual**2)) / ((S - 1) * (n - 1)) / (S * n)
    var = max(se_images**2 + se_seeds**2 - shared, shared)
    se = math.sqrt(var)
    if se == 0:
        return Difference(estimate, estimate, estimate, 0.0, 0.0, S, n)
    if S == 1:
        q = scipy.stats.norm.ppf(0.5 + level / 2)
    else:  # Welch-Satterthwaite: the degrees of freedom of that sum of variance estimates
        terms = ((se_images**2, n - 1), (se_seeds**2, S - 1), (shared, (S - 1) * (n - 1)))
        df = var**2 / sum(v**2 / f for v, f in terms)
        q = scipy.stats.t.ppf(0.5 + level / 2, df)
    return Difference(estimate, estimate - q * se, estimate + q * se, se_images, se_seeds, S, n)


def probability_best(correct, resamples: int = RESAMPLES, rng_seed: int = RESAMPLE_SEED,
                     chunk: int = 250) -> np.ndarray:  # fmt: skip
    """Per model, the share of bootstrap resamples in which it has the highest accuracy (mean
    over its seeds; the first in order on a tie, as a choice takes it). ``correct``: boolean
    (models x seeds x images), the same seeds and images for every model. Each resample draws
    the images, and the seeds where there are several, with replacement, the same for every
    model (paired)."""
    c = np.asarray(correct, dtype=np.int64)
    P, S, n = c.shape
    rng = np.random.default_rng(rng_seed)
    wins = np.zeros(P, dtype=np.int64)
    flat = c.reshape(P * S, n)
    for start in range(0, resamples, chunk):
        m = min(chunk, resamples - start)
        images = rng.multinomial(n, np.full(n, 1 / n), size=m)  # m x n: times each image is drawn
        seeds = rng.multinomial(S, np.full(S, 1 / S), size=m) if S > 1 else np.ones((m, 1), np.int64)
        counts = (flat @ images.T).reshape(P, S, m)  # correct answers per model, seed, resample
        totals = np.einsum("psm,ms->pm", counts, seeds)
        wins += np.bincount(totals.argmax(axis=0), minlength=P)
    return wins / resamples


def place(value: float, values: Spread) -> str:
    """Where ``value`` (the report's number) falls in a result's spread over seeds, in words:
    "inside the seed range (+0.4 sd from the mean)", "2.3 sd below the seed mean"."""
    if values.n == 0:
        return "no seed trained"
    if values.n == 1 or not values.sd > 0:
        rel = "equal to" if value == values.mean else "above" if value > values.mean else "below"
        return f"{rel} our {'only seed' if values.n == 1 else 'seeds (all equal)'}"
    z = (value - values.mean) / values.sd
    if values.min <= value <= values.max:
        return f"inside the seed range ({z:+.1f} sd from the mean)"
    return f"{abs(z):.1f} sd {'above' if z > 0 else 'below'} the seed mean, outside the seed range"


def difference_words(d: Difference, unit: str = "points") -> str:
    """A difference with its interval, in the words the tables and the report use: "no
    detectable difference" where the interval covers 0."""
    interval = f"{d.estimate:+.2f} {unit}, 95 % interval {d.low:+.2f} to {d.high:+.2f}"
    if not d.detectable:
        return f"no detectable difference ({interval})"
    return f"{'higher' if d.estimate > 0 else 'lower'} ({interval})"
