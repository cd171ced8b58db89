"""Rule extract_cifar10: verify the archive's MD5, then extract its members safely."""

from pathlib import Path

from onelayer import steps
from onelayer.logs import run_logged

run_logged(
    snakemake.log[0],
    lambda: steps.extract_cifar10(
        snakemake.input.archive,
        snakemake.params.md5,
        Path(snakemake.output.members[0]).parent.parent,
        [Path(m).name for m in snakemake.output.members],
    ),
)
