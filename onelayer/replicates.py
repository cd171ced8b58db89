"""Seed replicates: a run's folder and the folders of the same settings trained with other seeds
(``naming.replicate_folder``: results/lam0_eta0.1/ and results/lam0_eta0.1_seed43/, ...), read
together for the tables that give a result's spread over seeds and paired intervals.

A part of the workflow replicates each of its runs over ``n`` seeds (config ``replicates``): the
run's own seed and the ``n - 1`` after it, so the configured seed's folder stays what it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from onelayer import stats
from onelayer.naming import replicate_folder, replicate_of
from onelayer.runs import correct


def folders(folder: str, seed: int, n: int) -> list[str]:
    """``folder`` (its run's own ``seed``) and the replicate folders of the next ``n - 1`` seeds."""
    return [folder] + [replicate_folder(folder, seed + k) for k in range(1, n)]


@dataclass
class Replicates:
    """One setting's runs over seeds: their folders and metrics, by seed, in the order given;
    ``own`` the metrics of the run folder itself (the configured seed), where it is among them."""

    folder: str
    runs: dict  # seed: (folder, metrics)
    own: dict | None
    # correct()'s answers, by (data set, split, seeds): a base row is paired with every other row
    _correct: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def seeds(self) -> list[int]:
        return list(self.runs)

    def values(self, key: str) -> list:
        """``key`` of every seed's metrics (None for a diverged run's accuracy)."""
        return [m[key] for _, m in self.runs.values()]

    def spread(self, key: str = "test_accuracy") -> stats.Spread:
        return stats.spread(self.values(key))

    @property
    def diverged(self) -> int:
        return sum(m["status"] != "ok" for _, m in self.runs.values())

    def correct(self, dataset, split: str, seeds: list[int] | None = None) -> np.ndarray:
        """Seeds x images: whether the model of each seed (those of ``seeds``, in that order)
        classifies each image of ``split`` correctly."""
        seeds = tuple(seeds if seeds is not None else self.seeds)
        key = (id(dataset), split, seeds)
        if key not in self._correct:  # the data set kept beside its answers: its id stays its own
            rows = []
            for seed in seeds:
                with np.load(Path(self.runs[seed][0]) / "model.npz", allow_pickle=False) as f:
                    rows.append(correct(f["W"], f["b"], dataset, split))
            rows = np.array(rows)
            rows.setflags(write=False)
            self._correct[key] = (dataset, rows)
        return self._correct[key][1]


def group(metrics_paths) -> dict[str, Replicates]:
    """The metrics.json files of run folders and their replicates, grouped by run folder (in
    the order each first appears), each group's runs by seed (a seed given twice is refused)."""
    out: dict[str, Replicates] = {}
    for path in metrics_paths:
        run_dir = Path(path).parent
        base, _ = replicate_of(str(run_dir))
        m = json.loads(Path(path).read_text())
        group = out.setdefault(base, Replicates(base, {}, None))
        if m["seed"] in group.runs:
            raise ValueError(f"{run_dir} and {group.runs[m['seed']][0]} both trained seed {m['seed']}")
        group.runs[m["seed"]] = (str(run_dir), m)
        if str(run_dir) == base:
            group.own = m
    return out


def paired(a: Replicates, b: Replicates, datasets, split: str = "test") -> stats.Difference | None:
    """A's accuracy minus B's on the images of ``split`` over the seeds both trained without
    diverging, each side's model read with its own data set (``datasets``: a Dataset, or a
    function from a Replicates to its Dataset); None where no seed is shared."""
    ok = lambda r: {s for s, (_, m) in r.runs.items() if m["status"] == "ok"}  # noqa: E731
    seeds = sorted(ok(a) & ok(b))
    if not seeds:
        return None
    data = datasets if callable(datasets) else (lambda _: datasets)
    return stats.paired_difference(a.correct(data(a), split, seeds), b.correct(data(b), split, seeds))
