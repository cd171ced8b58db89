"""One run of the loss comparison, results/losses/{setting}/{loss}/ (rule losses_run)."""

from pathlib import Path

from onelayer.experiment import run
from onelayer.logs import run_logged
from onelayer.losses import run_settings


def main():
    wc, inp = snakemake.wildcards, snakemake.input
    settings = run_settings(wc.setting, wc.loss, snakemake.params.base,
                            candidates=inp.get("candidates"), grid=inp.get("grid"),
                            bce_eta_scale=snakemake.params.bce_eta_scale)  # fmt: skip
    return run(inp.data, out_dir=Path(snakemake.output.metrics).parent,
               threads=snakemake.threads, **settings)  # fmt: skip


run_logged(snakemake.log[0], main)
