"""Rules preprocess and preprocess_all: the processed .npz from batch files."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.preprocess(
        train=snakemake.input.train,
        val=snakemake.input.get("val", []),
        test=snakemake.input.test,
        meta=snakemake.input.meta,
        out=snakemake.output.data,
        val_size=snakemake.params.val_size,
    ),
)
