"""Rule improve_choose: the grid point best on validation."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.improve_choose(snakemake.input.grid, snakemake.output.choice),
)
