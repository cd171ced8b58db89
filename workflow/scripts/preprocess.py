"""Normalise train/val/test with training statistics into one .npz (rules preprocess and
preprocess_all: the latter holds out the last val_size training images instead of reading
validation batches)."""

from onelayer.logs import run_logged
from onelayer.preprocess import preprocess

run_logged(
    snakemake.log[0],
    lambda: preprocess(
        train=list(snakemake.input.train),
        val=list(snakemake.input.get("val", [])),
        test=list(snakemake.input.test),
        meta=snakemake.input.meta,
        out=snakemake.output.data,
        val_size=snakemake.params.val_size,
    ),
)
