# The hand-derived gradients against PyTorch autograd and finite differences, for every code
# that trains; training waits for it.


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
        ENV
    resources:
        **RESOURCES["gradcheck"],
    params:
        settings=config["gradcheck"],
        backend=config["train"]["backend"],
    script:
        "../scripts/gradcheck.py"
