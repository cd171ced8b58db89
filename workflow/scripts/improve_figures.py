"""Rule improve_figures: the grid's heatmap, the chosen point's curves and weights."""

from pathlib import Path

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.improve_figures(
        snakemake.input.grid,
        snakemake.input.choice,
        snakemake.params.grid_runs,
        snakemake.input.data,
        Path(snakemake.input.retrained).parent,
        snakemake.output.heatmap,
        snakemake.output.curves,
        snakemake.output.weights,
    ),
)
