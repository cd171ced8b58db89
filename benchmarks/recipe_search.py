"""The validation search behind config.yaml's experiments.train (issue 27): candidate recipes of
the same model (one affine map from the pixels to 10 scores at test time), each trained with
several seeds on the five batches but a validation split, and compared on that split alone,
paired over the seeds and the validation images. Not a speed benchmark; the test set is not read.

    python -m onelayer preprocess --train data/raw/cifar-10-batches-py/data_batch_{1,2,3,4,5} \\
        --test data/raw/cifar-10-batches-py/test_batch \\
        --meta data/raw/cifar-10-batches-py/batches.meta --out /tmp/val5k.npz --val-size 5000
    python benchmarks/recipe_search.py --data /tmp/val5k.npz [--seeds 42 43] [--threads 2]

Every candidate is the old recipe (the grid point chosen before: lam 0.01, eta 0.005, n_batch
200, 200 epochs of cosine decay, flips, 1-pixel moves with a black border, the mean of the last
40 epochs, the test-time flip average) with the options its row names, trained through
``onelayer.train`` and written as ``onelayer.runs.run`` writes a model (``test_time_model``).
Each row gives the validation accuracy (mean over the seeds) and the difference from the old
recipe and from the new one (``NEW``), paired over the same seeds and validation images
(``stats.paired_difference``). Writes the table to benchmarks/results/recipe_search.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from onelayer import stats  # noqa: E402
from onelayer.augment import test_time_model  # noqa: E402
from onelayer.dataset import Dataset  # noqa: E402
from onelayer.runs import correct  # noqa: E402
from onelayer.settings import TrainSettings  # noqa: E402
from onelayer.train import train  # noqa: E402

OLD = dict(lam=0.01, eta=0.005, n_batch=200, n_epochs=200, flip=0.5, translate_px=1,
           schedule={"kind": "cosine", "eta_min": 0}, average_last=40, flip_average=True,
           eval_train_every=50, eval_train_subset=2000)  # fmt: skip
EDGE = dict(border="edge")
NEW = "edge, lam 0.001"
# name: options over OLD. The rows in the order of the docs' table.
CANDIDATES = {
    "old recipe (black border, lam 0.01)": {},
    "black, lam 0.003": dict(lam=0.003),
    "black, lam 0.003, no moves": dict(lam=0.003, translate_px=0),
    "black, lam 0.003, 2-pixel moves": dict(lam=0.003, translate_px=2),
    "black, lam 0.003, test-time shifts": dict(lam=0.003, shift_average=1),
    "edge, lam 0": dict(EDGE, lam=0),
    NEW: dict(EDGE, lam=0.001),
    "edge, lam 0.003": dict(EDGE, lam=0.003),
    "edge, lam 0.01": dict(EDGE),
    "edge, lam 0.003, 2-pixel moves": dict(EDGE, lam=0.003, translate_px=2),
    "edge, lam 0.003, test-time shifts": dict(EDGE, lam=0.003, shift_average=1),
    "edge, lam 0.001, no test-time flip": dict(EDGE, lam=0.001, flip_average=False),
    "edge, lam 0.003, eta 0.0025": dict(EDGE, lam=0.003, eta=0.0025),
    "edge, lam 0.003, eta 0.01": dict(EDGE, lam=0.003, eta=0.01),
    "edge, lam 0.003, n_batch 100": dict(EDGE, lam=0.003, n_batch=100),
    "edge, lam 0.003, 400 epochs (mean of last 80)": dict(EDGE, lam=0.003, n_epochs=400,
                                                          average_last=80),  # fmt: skip
    "edge, pixels / 255, lam 0.0002, eta 0.02": dict(EDGE, inputs="unit", lam=0.0002, eta=0.02),
    "edge, pixels / 255, lam 0.0002, eta 0.05": dict(EDGE, inputs="unit", lam=0.0002, eta=0.05),
    "edge, pixels / 255 - mean, lam 0.0002, eta 0.05": dict(EDGE, inputs="centred", lam=0.0002,
                                                            eta=0.05),  # fmt: skip
    "edge, BCE, lam 0.001, eta 0.05": dict(EDGE, lam=0.001, eta=0.05, loss="bce"),
}


def validate(dataset: Dataset, options: dict, seed: int, threads: int):
    """Per validation image, whether the model a run of these options writes gets it right;
    and that model (W, b)."""
    s = TrainSettings.from_dict({**OLD, **options, "seed": seed})
    data = dataset.training_data(inputs=s.inputs)
    result = train(data, s, threads)
    if result.diverged_epoch is not None:
        raise RuntimeError(f"{options} diverged at epoch {result.diverged_epoch}")
    written = dataset.pixel_map
    trained = written if s.inputs == "standardised" else data.pixel_map
    W, b = test_time_model(result.W, result.b, trained, written, s.flip_average, s.shift_average,
                           s.border)  # fmt: skip
    return correct(W, b, dataset, "val"), (W, b)


def table(hits: dict[str, np.ndarray], seeds: list[int], images: int) -> str:
    old, new = hits[next(iter(hits))], hits[NEW]
    lines = [f"Validation accuracy on {images:,} held-out training images, seeds {seeds} "
             "(mean), and each candidate's difference from the old recipe and from the new one "
             "(" + NEW + "), paired over the seeds and the images, with its 95 % interval.", "",
             "| candidate | validation % | minus the old recipe | minus the new recipe |",
             "|---|---:|---|---|"]  # fmt: skip
    for name, c in hits.items():
        versus = [stats.difference_words(stats.paired_difference(c, ref))
                  if c is not ref else "-" for ref in (old, new)]  # fmt: skip
        per_seed = ", ".join(f"{100 * row.mean():.2f}" for row in c)
        lines.append(f"| {name} | {100 * c.mean():.2f} ({per_seed}) | {versus[0]} | {versus[1]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--data", required=True, help="a five-batch processed file with a validation split")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="candidates to run (default: all)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results/recipe_search.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    dataset = Dataset.load(args.data)
    names = args.only or list(CANDIDATES)
    hits, models = {}, {}
    for name in names:
        start = time.perf_counter()
        runs = [validate(dataset, CANDIDATES[name], s, args.threads) for s in args.seeds]
        hits[name], models[name] = np.stack([h for h, _ in runs]), [m for _, m in runs]
        print(f"{name}: {100 * hits[name].mean():.2f} % ({time.perf_counter() - start:.0f} s)",
              flush=True)  # fmt: skip
    if args.only:
        return
    # weight averaging over seeds: the mean of the new recipe's models, one affine map, set
    # against each seed's model (the same row for every seed)
    W, b = (np.mean([m[i].astype(np.float64) for m in models[NEW]], axis=0) for i in (0, 1))
    averaged = correct(W.astype(np.float32), b.astype(np.float32), dataset, "val")
    hits[f"{NEW}, W and b averaged over the seeds"] = np.repeat(averaged[None], len(args.seeds), 0)
    text = table(hits, args.seeds, dataset.labels("val").size)
    Path(args.out).write_text(f"# Recipe search on validation\n\n`{' '.join(sys.argv)}`\n\n{text}")
    print(text)


if __name__ == "__main__":
    main()
