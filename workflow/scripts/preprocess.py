"""Normalise train/val/test with training statistics into one .npz (rule preprocess)."""

from onelayer.logs import run_logged
from onelayer.preprocess import preprocess

run_logged(
    snakemake.log[0],
    lambda: preprocess(
        train=list(snakemake.input.train),
        val=list(snakemake.input.val),
        test=list(snakemake.input.test),
        meta=snakemake.input.meta,
        out=snakemake.output.data,
    ),
)
