"""One row per grid point (rule improve_grid_table)."""

from onelayer.improve import grid_table
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0], lambda: grid_table(list(snakemake.input.metrics), snakemake.output.csv)
)
