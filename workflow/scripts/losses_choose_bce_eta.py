"""Rule losses_choose_bce_eta: BCE's eta on one batch, the candidate best on validation."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.losses_choose_bce_eta(snakemake.input.metrics, snakemake.output.choice),
)
