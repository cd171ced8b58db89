"""Rule improve_ablation_table: one row per ablation step."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.improve_ablation_table(
        snakemake.params.steps,
        snakemake.params.data,
        snakemake.input.metrics,
        snakemake.output.csv,
    ),
)
