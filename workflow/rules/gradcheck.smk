rule gradcheck:
    input:
        data=DATA,
    output:
        csv="results/gradcheck/gradcheck.csv",
        md="results/gradcheck/gradcheck.md",
    params:
        settings=config["gradcheck"],
    log:
        "logs/gradcheck.log",
    script:
        "../scripts/gradcheck.py"
