"""Rule improve_best: results/improve/best.json, the chosen setting and its test accuracy."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.improve_best(
        snakemake.input.choice,
        snakemake.input.metrics,
        snakemake.output.json,
        report_best=snakemake.params.report_best,
        published_best=snakemake.params.published_best,
    ),
)
