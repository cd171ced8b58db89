# The report's figures and tables: per run, across runs, and results/report.md.


rule plot_run:
    input:
        **run_outputs("results/lam{lam}_eta{eta}"),
        data=DATA,
    output:
        curves=report(
            "results/lam{lam}_eta{eta}/curves.png",
            caption="../report/curves.rst",
            category="Runs",
            subcategory="lam{lam}_eta{eta}",
            labels={"run": "lam{lam}_eta{eta}", "figure": "loss and cost"},
        ),
        weights=report(
            "results/lam{lam}_eta{eta}/weights.png",
            caption="../report/weights.rst",
            category="Runs",
            subcategory="lam{lam}_eta{eta}",
            labels={"run": "lam{lam}_eta{eta}", "figure": "learned weights"},
        ),
    log:
        "logs/plot_run/lam{lam}_eta{eta}.log",
    benchmark:
        "logs/benchmarks/plot_run/lam{lam}_eta{eta}.tsv"
    conda:
        ENV
    resources:
        **RESOURCES["figures"],
    script:
        "../scripts/plot_run.py"


rule summary:
    input:
        metrics=replicates_of("report", "metrics.json"),
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "test accuracy"},
        ),
        md="results/summary.md",
    log:
        "logs/summary.log",
    conda:
        ENV
    params:
        reference=config["reference"],
    script:
        "../scripts/summary.py"


rule overview_figures:
    input:
        metrics=replicates_of("report", "metrics.json"),
        data=DATA,
    output:
        curves=report(
            "results/figures/overview_curves.png",
            caption="../report/overview_curves.rst",
            category="Summary",
            labels={"figure": "all curves"},
        ),
        weights=report(
            "results/figures/overview_weights.png",
            caption="../report/overview_weights.rst",
            category="Summary",
            labels={"figure": "all weights"},
        ),
        accuracy=report(
            "results/figures/accuracy.png",
            caption="../report/accuracy.rst",
            category="Summary",
            labels={"figure": "test accuracy"},
        ),
    log:
        "logs/overview_figures.log",
    benchmark:
        "logs/benchmarks/overview_figures.tsv"
    conda:
        ENV
    resources:
        **RESOURCES["figures"],
    params:
        reference=config["reference"],
    script:
        "../scripts/overview_figures.py"


rule report_md:
    input:
        **experiment_outputs(),
        metrics=[f"{d}/metrics.json" for d in run_dirs()],
        figures=[f"{d}/{f}.png" for d in run_dirs() for f in ("curves", "weights")],
        overview=rules.overview_figures.output,
        summary=rules.summary.output.csv,
        gradcheck=rules.gradcheck.output.csv,
    output:
        report="results/report.md",
    log:
        "logs/report_md.log",
    conda:
        ENV
    script:
        "../scripts/report_md.py"
