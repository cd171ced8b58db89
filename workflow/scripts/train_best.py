"""Retrain the grid's best point on validation with the validation images added, and test it
once (rule improve_best_train)."""

from pathlib import Path

from onelayer.experiment import run
from onelayer.improve import best_point
from onelayer.logs import run_logged


def retrain():
    choice = best_point(snakemake.input.grid)
    train = {**snakemake.params.train, "n_batch": choice["n_batch"]}
    return run(snakemake.input.data, lam=choice["lam"], eta=choice["eta"], train_on_val=True,
               out_dir=Path(snakemake.output.metrics).parent, threads=snakemake.threads, **train)  # fmt: skip


run_logged(snakemake.log[0], retrain)
