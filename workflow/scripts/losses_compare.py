"""Rule losses_compare: the loss comparison's table, finding and figures."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.losses_compare(
        snakemake.input.metrics,
        snakemake.input.one_batch_data,
        snakemake.input.improved_data,
        snakemake.output.csv,
        snakemake.output.md,
        snakemake.output.histograms,
        snakemake.output.curves,
    ),
)
