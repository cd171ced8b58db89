"""Collect every configured run's metrics beside the report's numbers (rule summary)."""

from onelayer.logs import run_logged
from onelayer.summary import write_summary

run_logged(
    snakemake.log[0],
    lambda: write_summary(
        list(snakemake.input.metrics),
        snakemake.params.reference,
        snakemake.output.csv,
        snakemake.output.md,
    ),
)
