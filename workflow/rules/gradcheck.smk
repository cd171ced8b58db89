rule gradcheck:
    input:
        data=DATA,
    output:
        csv="results/gradcheck/gradcheck.csv",
        md="results/gradcheck/gradcheck.md",
    log:
        "logs/gradcheck.log",
    benchmark:
        "logs/benchmarks/gradcheck.tsv"
    conda:
        "../envs/onelayer.yaml"
    params:
        settings=config["gradcheck"],
    script:
        "../scripts/gradcheck.py"
