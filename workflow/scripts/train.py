"""Train and evaluate one (lambda, eta) configuration (rule train)."""

from pathlib import Path

from onelayer.experiment import run
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: run(
        snakemake.input.data,
        lam=snakemake.params.lam,
        eta=snakemake.params.eta,
        out_dir=Path(snakemake.output.metrics).parent,
        threads=snakemake.threads,
        **snakemake.params.train,
    ),
)
