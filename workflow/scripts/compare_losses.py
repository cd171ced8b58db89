"""comparison.csv/.md, histograms and curves of the two losses (rule losses_compare)."""

from pathlib import Path

from onelayer.logs import run_logged
from onelayer.losses import write_comparison

run_logged(
    snakemake.log[0],
    lambda: write_comparison(
        {tuple(Path(p).parent.parts[-2:]): Path(p).parent for p in snakemake.input.metrics},
        {"report": snakemake.input.data, "improved": snakemake.input.data_all},
        snakemake.output.csv,
        snakemake.output.md,
        snakemake.output.histograms,
        snakemake.output.curves,
    ),
)
