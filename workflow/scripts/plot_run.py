"""Loss/cost curves and learned-weight images of one run (rule plot_run)."""

from pathlib import Path

from onelayer import plots
from onelayer.logs import run_logged
from onelayer.runs import label_names, load_run


def main():
    run = load_run(Path(snakemake.input.metrics).parent)
    args = (run["lam"], run["eta"])
    plots.curves(run["history"], *args, snakemake.output.curves, run["diverged_epoch"])
    names = label_names(snakemake.input.data)
    plots.weights(run["W"], names, *args, snakemake.output.weights, run["diverged_epoch"])


run_logged(snakemake.log[0], main)
