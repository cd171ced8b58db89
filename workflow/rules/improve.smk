# The handout's improvements (bonus 2.1): a grid over lam, eta and n_batch on all five batches,
# each point a target, and an ablation (`snakemake --cores all improve`; the default target
# includes them only with `improvements: true`).


rule improve_grid_point:
    input:
        data=DATA_ALL,
        # as for the report's runs: no point trains on gradients that failed the check
        gradcheck=rules.gradcheck.output.csv,
    output:
        history=f"results/improve/grid/{GRID.wildcard_pattern}/history.csv",
        model=f"results/improve/grid/{GRID.wildcard_pattern}/model.npz",
        metrics=f"results/improve/grid/{GRID.wildcard_pattern}/metrics.json",
    log:
        f"logs/improve/grid/{GRID.wildcard_pattern}.log",
    benchmark:
        f"logs/benchmarks/improve/grid/{GRID.wildcard_pattern}.tsv"
    wildcard_constraints:
        nbatch=r"\d+",
    conda:
        "../envs/onelayer.yaml"
    threads: config["train"]["threads"]
    resources:
        **RESOURCES["improve_grid_point"],
    params:
        lam=lambda wc: grid_point(wc)["lam"],
        eta=lambda wc: grid_point(wc)["eta"],
        train=lambda wc: {k: v for k, v in grid_point(wc).items() if k not in ("lam", "eta")},
    script:
        "../scripts/train.py"


rule improve_grid_table:
    input:
        metrics=expand("results/improve/grid/{point}/metrics.json", point=GRID.instance_patterns),
    output:
        csv=report(
            "results/improve/grid.csv",
            caption="../report/grid.rst",
            category="Improvements",
            labels={"table": "grid"},
        ),
    log:
        "logs/improve/grid_table.log",
    conda:
        "../envs/onelayer.yaml"
    script:
        "../scripts/grid_table.py"


# The grid's best point on validation, retrained on training + validation data, tested once.
rule improve_best_train:
    input:
        data=DATA_ALL,
        grid=rules.improve_grid_table.output.csv,
    output:
        history="results/improve/best/history.csv",
        model="results/improve/best/model.npz",
        metrics="results/improve/best/metrics.json",
    log:
        "logs/improve/best_train.log",
    benchmark:
        "logs/benchmarks/improve/best_train.tsv"
    conda:
        "../envs/onelayer.yaml"
    threads: config["train"]["threads"]
    resources:
        **RESOURCES["improve_best_train"],
    params:
        train=lambda wc: experiment_train(),
    script:
        "../scripts/train_best.py"


rule improve_best:
    input:
        grid=rules.improve_grid_table.output.csv,
        metrics=rules.improve_best_train.output.metrics,
    output:
        json=report(
            "results/improve/best.json",
            caption="../report/best.rst",
            category="Improvements",
            labels={"table": "best setting"},
        ),
    log:
        "logs/improve/best.log",
    conda:
        "../envs/onelayer.yaml"
    params:
        train=lambda wc: experiment_train(),
        report_best=report_best(),
        published_best=config["experiments"]["published_best"],
    script:
        "../scripts/best_summary.py"


# The ablation: the report's best setting, each improvement added to it alone, then all together.
rule improve_ablation_run:
    input:
        data=lambda wc: ablation_point(wc)[0],
        gradcheck=rules.gradcheck.output.csv,
    output:
        history="results/improve/ablation/{step}/history.csv",
        model="results/improve/ablation/{step}/model.npz",
        metrics="results/improve/ablation/{step}/metrics.json",
    log:
        "logs/improve/ablation/{step}.log",
    benchmark:
        "logs/benchmarks/improve/ablation/{step}.tsv"
    wildcard_constraints:
        step="|".join(ABLATION_STEPS),
    conda:
        "../envs/onelayer.yaml"
    threads: config["train"]["threads"]
    resources:
        **RESOURCES["improve_ablation_run"],
    params:
        lam=lambda wc: ablation_point(wc)[1]["lam"],
        eta=lambda wc: ablation_point(wc)[1]["eta"],
        train=lambda wc: {k: v for k, v in ablation_point(wc)[1].items() if k not in ("lam", "eta")},
    script:
        "../scripts/train.py"


rule improve_ablation_table:
    input:
        metrics=expand("results/improve/ablation/{step}/metrics.json", step=ABLATION_STEPS),
    output:
        csv=report(
            "results/improve/ablation.csv",
            caption="../report/ablation.rst",
            category="Improvements",
            labels={"table": "ablation"},
        ),
    log:
        "logs/improve/ablation_table.log",
    conda:
        "../envs/onelayer.yaml"
    params:
        steps=ABLATION_STEPS,
        data=[ablation_settings(ABLATION, s, report_train())[0] for s in ABLATION_STEPS],
    script:
        "../scripts/ablation_table.py"


rule improve_figures:
    input:
        grid=rules.improve_grid_table.output.csv,
        histories=expand("results/improve/grid/{point}/history.csv", point=GRID.instance_patterns),
        model=rules.improve_best_train.output.model,
        data=DATA_ALL,
    output:
        heatmap=report(
            "results/improve/grid_heatmap.png",
            caption="../report/grid_heatmap.rst",
            category="Improvements",
            labels={"figure": "grid heatmap"},
        ),
        curves=report(
            "results/improve/best/curves.png",
            caption="../report/best_curves.rst",
            category="Improvements",
            labels={"figure": "best: loss and cost"},
        ),
        weights=report(
            "results/improve/best/weights.png",
            caption="../report/best_weights.rst",
            category="Improvements",
            labels={"figure": "best: learned weights"},
        ),
    log:
        "logs/improve/figures.log",
    benchmark:
        "logs/benchmarks/improve/figures.tsv"
    conda:
        "../envs/onelayer.yaml"
    resources:
        **RESOURCES["improve_figures"],
    script:
        "../scripts/improve_figures.py"


rule improve:
    input:
        IMPROVE_OUTPUTS.values(),
