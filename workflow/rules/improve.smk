# The handout's improvements (bonus 2.1): a grid over lam, eta and n_batch on all five batches,
# each point a target (`snakemake --cores all improve`; the default target does not include it).


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
    params:
        lam=lambda wc: grid_point(wc)["lam"],
        eta=lambda wc: grid_point(wc)["eta"],
        train=lambda wc: {
            k: v for k, v in grid_point(wc).items() if k not in ("lam", "eta", "threads")
        },
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
    script:
        "../scripts/best_summary.py"


rule improve:
    input:
        rules.improve_grid_table.output.csv,
        rules.improve_best.output.json,
