rule summary:
    input:
        metrics=[f"{d}/metrics.json" for d in run_dirs()],
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
        ),
        md="results/summary.md",
    params:
        reference=config["reference"],
    log:
        "logs/summary.log",
    script:
        "../scripts/summary.py"
