"""The grid's validation heatmap, and the best point's curves and weights (rule improve_figures)."""

from pathlib import Path

import numpy as np
import pandas as pd

from onelayer import plots
from onelayer.improve import best_point
from onelayer.logs import run_logged
from onelayer.runs import label_names


def main():
    plots.grid_heatmap(pd.read_csv(snakemake.input.grid), snakemake.output.heatmap)
    choice = best_point(snakemake.input.grid)
    # the curves of the chosen point as the grid trained it: its validation images held out
    history = next(p for p in snakemake.input.histories if Path(p).parent.name == choice["point"])
    plots.curves(pd.read_csv(history), choice["lam"], choice["eta"], snakemake.output.curves)
    # the weights of the retrain on training + validation images: the model tested
    with np.load(snakemake.input.model) as model:
        W = model["W"]
    names = label_names(snakemake.input.data)
    plots.weights(W, names, choice["lam"], choice["eta"], snakemake.output.weights)


run_logged(snakemake.log[0], main)
