"""Rule download_cifar10: fetch the archive and verify its MD5 (onelayer.steps)."""

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.download_cifar10(
        snakemake.params.url, snakemake.params.md5, snakemake.output.archive
    ),
)
