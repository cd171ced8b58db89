"""Write results/report.md from the finished runs (rule report_md)."""

from pathlib import Path

from onelayer.logs import run_logged
from onelayer.report import write_report
from onelayer.runs import load_run

IMPROVE = ("best", "ablation", "grid", "losses")  # inputs with config improvements: true

run_logged(
    snakemake.log[0],
    lambda: write_report(
        [load_run(Path(p).parent) for p in snakemake.input.metrics],
        snakemake.input.summary,
        snakemake.input.gradcheck,
        snakemake.config,
        snakemake.output.report,
        {k: snakemake.input[k] for k in IMPROVE} if "best" in snakemake.input.keys() else None,
    ),
)
