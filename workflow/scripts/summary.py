"""Rule summary: every configured run's test accuracy beside the report's."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.summary(
        snakemake.input.metrics,
        snakemake.params.reference,
        snakemake.output.csv,
        snakemake.output.md,
    ),
)
