"""Rule improve_ablation_table: one row per ablation step over its seeds."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.improve_ablation_table(
        snakemake.params.steps,
        snakemake.params.data,
        snakemake.input.metrics,
        snakemake.output.csv,
        snakemake.input.one_batch_data,
        snakemake.input.all_data,
    ),
)
