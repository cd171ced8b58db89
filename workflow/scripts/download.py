"""Download the CIFAR-10 archive and verify its MD5 (rule download_cifar10)."""

from onelayer.download import fetch
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: fetch(snakemake.params.url, snakemake.output.archive, snakemake.params.md5),
)
