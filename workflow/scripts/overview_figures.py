"""Rule overview_figures: figures across all configured runs."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.overview_figures(
        snakemake.input.metrics,
        snakemake.params.reference,
        snakemake.input.data,
        snakemake.output.curves,
        snakemake.output.weights,
        snakemake.output.accuracy,
    ),
)
