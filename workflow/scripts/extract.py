"""Verify the archive's MD5, then extract the expected members safely (rule extract_cifar10)."""

from pathlib import Path

from onelayer.cifar10 import FOLDER, extract
from onelayer.download import verify_md5
from onelayer.logs import run_logged


def main():
    # Verified again here: the archive may have been placed by hand, or changed since download.
    verify_md5(snakemake.input.archive, snakemake.params.md5)
    dest = Path(snakemake.output.members[0]).parent
    assert dest.name == FOLDER
    extract(snakemake.input.archive, dest.parent)


run_logged(snakemake.log[0], main)
