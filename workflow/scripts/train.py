"""Rule train, and the rules derived from it: train one run and write its folder."""

from pathlib import Path

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.train(
        snakemake.input.data,
        snakemake.params.settings,
        Path(snakemake.output.metrics).parent,
        threads=snakemake.threads,
        choice=snakemake.input.get("choice"),
        choice_scale=snakemake.params.get("choice_scale"),
    ),
)
