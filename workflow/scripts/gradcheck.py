"""Check the analytic gradients against PyTorch and finite differences (rule gradcheck)."""

from onelayer.gradcheck import run_checks
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: run_checks(
        snakemake.input.data,
        snakemake.params.settings,
        snakemake.output.csv,
        snakemake.output.md,
        threads=snakemake.threads,
        backend=snakemake.params.backend,
    ),
)
