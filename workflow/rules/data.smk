# The data: the archive, downloaded and MD5-verified; its members, safely extracted; the
# processed arrays training reads.


rule download_cifar10:
    output:
        archive=f"{RAW}/cifar-10-python.tar.gz",
    log:
        "logs/download_cifar10.log",
    conda:
        ENV
    params:
        url=config["cifar10"]["url"],
        md5=config["cifar10"]["md5"],
    script:
        "../scripts/download_cifar10.py"


# The members the report's runs read; the other training batches only where the experiments
# ask for them (extract_cifar10_all): nothing is extracted that no rule reads.
rule extract_cifar10:
    input:
        archive=rules.download_cifar10.output.archive,
    output:
        members=expand(f"{BATCHES}/{{member}}", member=REPORT_MEMBERS),
    log:
        "logs/extract_cifar10.log",
    benchmark:
        "logs/benchmarks/extract_cifar10.tsv"
    conda:
        ENV
    resources:
        **RESOURCES["extract_cifar10"],
    params:
        md5=config["cifar10"]["md5"],
    script:
        "../scripts/extract_cifar10.py"


use rule extract_cifar10 as extract_cifar10_all with:
    output:
        members=expand(f"{BATCHES}/{{member}}", member=OTHER_MEMBERS),
    log:
        "logs/extract_cifar10_all.log",
    benchmark:
        "logs/benchmarks/extract_cifar10_all.tsv"


# The report's split: data_batch_1 trains, data_batch_2 validates, test_batch tests.
rule preprocess:
    input:
        train=[f"{BATCHES}/data_batch_1"],
        val=[f"{BATCHES}/data_batch_2"],
        test=[f"{BATCHES}/test_batch"],
        meta=f"{BATCHES}/batches.meta",
    output:
        data=DATA,
    log:
        "logs/preprocess.log",
    benchmark:
        "logs/benchmarks/preprocess.tsv"
    conda:
        ENV
    resources:
        **RESOURCES["preprocess"],
    params:
        val_size=0,
    script:
        "../scripts/preprocess.py"


# All five training batches, the last experiments.val_size images held out for validation
# (the handout's bonus 2.1 (a)); only `snakemake data/processed/cifar10_all.npz` and the
# experiments ask for it, never the report's runs.
use rule preprocess as preprocess_all with:
    input:
        train=[f"{BATCHES}/{b}" for b in TRAIN_BATCHES],
        test=[f"{BATCHES}/test_batch"],
        meta=f"{BATCHES}/batches.meta",
    output:
        data=DATA_ALL,
    log:
        "logs/preprocess_all.log",
    benchmark:
        "logs/benchmarks/preprocess_all.tsv"
    resources:
        **RESOURCES["preprocess_all"],
    params:
        val_size=config["experiments"]["val_size"],
