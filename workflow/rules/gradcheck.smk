rule gradcheck:
    input:
        data=DATA,
    output:
        csv="results/gradcheck/gradcheck.csv",
        md=report(
            "results/gradcheck/gradcheck.md",
            caption="../report/gradcheck.rst",
            category="Gradient check",
        ),
    log:
        "logs/gradcheck.log",
    benchmark:
        "logs/benchmarks/gradcheck.tsv"
    conda:
        "../envs/onelayer.yaml"
    resources:
        **RESOURCES["gradcheck"],
    params:
        settings=config["gradcheck"],
        backend=config["train"]["backend"],
    script:
        "../scripts/gradcheck.py"
