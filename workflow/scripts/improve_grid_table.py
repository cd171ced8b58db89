"""Rule improve_grid_table: one row per grid point over its seeds."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.improve_grid_table(
        snakemake.input.metrics, snakemake.input.data, snakemake.output.csv
    ),
)
