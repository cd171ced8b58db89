"""Rule peers_compare: each published recipe over its seeds beside the retrain of our choice."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.peers_compare(
        snakemake.input.ours,
        snakemake.input.metrics,
        snakemake.params.peers,
        snakemake.input.data,
        snakemake.output.csv,
        snakemake.output.md,
        snakemake.output.figure,
    ),
)
