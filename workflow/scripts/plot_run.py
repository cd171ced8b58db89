"""Rule plot_run: loss/cost curves and learned-weight images of one run."""

from pathlib import Path

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.plot_run(
        Path(snakemake.input.metrics).parent,
        snakemake.input.data,
        snakemake.output.curves,
        snakemake.output.weights,
    ),
)
