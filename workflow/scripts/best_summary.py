"""results/improve/best.json: the chosen setting, its validation and test accuracy (rule improve_best)."""

from onelayer.improve import best_point, best_summary
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: best_summary(
        best_point(snakemake.input.grid),
        snakemake.params.train,
        snakemake.input.metrics,
        snakemake.output.json,
        references={
            "report_test_accuracy": snakemake.params.report_best,
            "published_best_test_accuracy": snakemake.params.published_best,
        },
    ),
)
