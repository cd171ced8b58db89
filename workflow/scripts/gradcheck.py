"""Rule gradcheck: the gradients of every code that trains against torch and finite differences."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.gradcheck(
        snakemake.input.data,
        snakemake.params.settings,
        snakemake.output.csv,
        snakemake.output.md,
        backend=snakemake.params.backend,
        threads=snakemake.threads,
    ),
)
