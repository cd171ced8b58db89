rule download_cifar10:
    output:
        archive=f"{RAW}/cifar-10-python.tar.gz",
    log:
        "logs/download_cifar10.log",
    conda:
        "../envs/onelayer.yaml"
    params:
        url=config["cifar10"]["url"],
        md5=config["cifar10"]["md5"],
    script:
        "../scripts/download.py"


rule extract_cifar10:
    input:
        archive=rules.download_cifar10.output.archive,
    output:
        members=expand(f"{BATCHES}/{{member}}", member=MEMBERS),
    log:
        "logs/extract_cifar10.log",
    benchmark:
        "logs/benchmarks/extract_cifar10.tsv"
    conda:
        "../envs/onelayer.yaml"
    resources:
        **RESOURCES["extract_cifar10"],
    params:
        md5=config["cifar10"]["md5"],
    script:
        "../scripts/extract.py"


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
        "../envs/onelayer.yaml"
    resources:
        **RESOURCES["preprocess"],
    params:
        val_size=0,
    script:
        "../scripts/preprocess.py"


# All five training batches, the last experiments.val_size images held out for validation
# (the handout's bonus 2.1 (a)); only `snakemake data/processed/cifar10_all.npz` and the
# experiments ask for it, never the report's runs.
rule preprocess_all:
    input:
        train=[f"{BATCHES}/data_batch_{i}" for i in range(1, 6)],
        test=[f"{BATCHES}/test_batch"],
        meta=f"{BATCHES}/batches.meta",
    output:
        data=DATA_ALL,
    log:
        "logs/preprocess_all.log",
    benchmark:
        "logs/benchmarks/preprocess_all.tsv"
    conda:
        "../envs/onelayer.yaml"
    resources:
        **RESOURCES["preprocess_all"],
    params:
        val_size=config["experiments"]["val_size"],
    script:
        "../scripts/preprocess.py"
