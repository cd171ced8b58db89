"""Rule report_md: results/report.md from the finished runs and tables."""

from onelayer import steps
from onelayer.logs import run_logged

# the experiments' tables, where config improvements puts them into the report
EXPERIMENTS = {"best": "best", "ablation": "ablation", "grid": "grid", "losses": "losses_csv",
               "peers": "peers_md"}  # fmt: skip

run_logged(
    snakemake.log[0],
    lambda: steps.report_md(
        snakemake.input.metrics,
        snakemake.input.summary,
        snakemake.input.gradcheck,
        snakemake.config,
        snakemake.output.report,
        (
            {k: snakemake.input[v] for k, v in EXPERIMENTS.items()}
            if "best" in snakemake.input.keys()
            else None
        ),
    ),
)
