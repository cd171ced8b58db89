"""One row per ablation step (rule improve_ablation_table)."""

from onelayer.improve import ablation_table
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: ablation_table(
        snakemake.params.steps,
        snakemake.params.data,
        list(snakemake.input.metrics),
        snakemake.output.csv,
    ),
)
