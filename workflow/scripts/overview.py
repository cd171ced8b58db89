"""Figures across all configured runs (rule overview_figures)."""

from pathlib import Path

import pandas as pd

from onelayer import plots
from onelayer.logs import run_logged
from onelayer.runs import label_names, load_run


def main():
    runs = [load_run(Path(p).parent) for p in snakemake.input.metrics]
    plots.overview_curves(runs, snakemake.output.curves)
    plots.overview_weights(runs, label_names(snakemake.input.data), snakemake.output.weights)
    plots.accuracy_bars(pd.read_csv(snakemake.input.summary), snakemake.output.accuracy)


run_logged(snakemake.log[0], main)
