# The handout's improvements (bonus 2.1): a grid over lam, eta and n_batch on all five batches,
# each point a target; the point best on validation, retrained on training + validation data
# and tested once; an ablation (`snakemake --cores all improve`; the default target includes
# them only with `improvements: true`).


use rule train as improve_grid_point with:
    input:
        data=DATA_ALL,
        gradcheck=rules.gradcheck.output.csv,
    output:
        **run_outputs(GRID),
    log:
        f"logs/improve/grid/{GRID.split('/')[-1]}.log",
    benchmark:
        f"logs/benchmarks/improve/grid/{GRID.split('/')[-1]}.tsv"
    threads: config["experiments"]["threads"]
    resources:
        **RESOURCES["train_all"],
    params:
        settings=settings_of(lambda wc: PLAN.grid_point(wc.lam, wc.eta, wc.nbatch)),


# A grid point with another seed (results/improve/grid/lam~..._nbatch~200_seed43/).
use rule improve_grid_point as improve_grid_point_seed with:
    output:
        **run_outputs(f"{GRID}_seed{{seed}}"),
    log:
        f"logs/improve/grid/{GRID.split('/')[-1]}_seed{{seed}}.log",
    benchmark:
        f"logs/benchmarks/improve/grid/{GRID.split('/')[-1]}_seed{{seed}}.tsv"


rule improve_grid_table:
    input:
        metrics=replicates_of("grid", "metrics.json"),
        models=replicates_of("grid", "model.npz"),
        data=DATA_ALL,
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
        ENV
    script:
        "../scripts/improve_grid_table.py"


# The grid's point best on validation, chosen once for every rule that needs it.
rule improve_choose:
    input:
        grid=rules.improve_grid_table.output.csv,
    output:
        choice=CHOSEN,
    log:
        "logs/improve/choose.log",
    conda:
        ENV
    script:
        "../scripts/improve_choose.py"


# The chosen point retrained on training + validation data, tested once.
use rule train as improve_best_train with:
    input:
        data=DATA_ALL,
        gradcheck=rules.gradcheck.output.csv,
        choice=CHOSEN,
    output:
        **run_outputs("results/improve/best"),
    log:
        "logs/improve/best_train.log",
    benchmark:
        "logs/benchmarks/improve/best_train.tsv"
    threads: config["experiments"]["threads"]
    resources:
        **RESOURCES["retrain_all"],
    params:
        settings=settings_of(lambda wc: PLAN.retrain()),


use rule improve_best_train as improve_best_train_seed with:
    output:
        **run_outputs("results/improve/best_seed{seed}"),
    log:
        "logs/improve/best_train_seed{seed}.log",
    benchmark:
        "logs/benchmarks/improve/best_train_seed{seed}.tsv"


rule improve_best:
    input:
        choice=CHOSEN,
        metrics=replicates_of("retrain", "metrics.json"),
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
        ENV
    params:
        report_best=report_best(),
        published_best=config["experiments"]["published_best"],
    script:
        "../scripts/improve_best.py"


# The ablation: the report's best setting, each improvement added to it alone, then all together.
use rule train as improve_ablation_run with:
    input:
        data=ablation_data,
        gradcheck=rules.gradcheck.output.csv,
    output:
        **run_outputs("results/improve/ablation/{step}"),
    log:
        "logs/improve/ablation/{step}.log",
    benchmark:
        "logs/benchmarks/improve/ablation/{step}.tsv"
    wildcard_constraints:
        step="|".join(ABLATION_STEPS),
    resources:
        **RESOURCES["train_all"],
    params:
        settings=settings_of(lambda wc: PLAN.ablation(wc.step)[1]),


use rule improve_ablation_run as improve_ablation_run_seed with:
    output:
        **run_outputs("results/improve/ablation/{step}_seed{seed}"),
    log:
        "logs/improve/ablation/{step}_seed{seed}.log",
    benchmark:
        "logs/benchmarks/improve/ablation/{step}_seed{seed}.tsv"


rule improve_ablation_table:
    input:
        metrics=replicates_of("ablation", "metrics.json"),
        models=replicates_of("ablation", "model.npz"),
        one_batch_data=DATA,
        all_data=DATA_ALL,
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
        ENV
    params:
        steps=ABLATION_STEPS,
        data=[ablation_options(ABLATION, s)[0] for s in ABLATION_STEPS],
    script:
        "../scripts/improve_ablation_table.py"


rule improve_figures:
    input:
        grid=rules.improve_grid_table.output.csv,
        choice=CHOSEN,
        histories=expand(
            f"{GRID_DIR}/{{point}}/history.csv",
            point=grid_points(config["experiments"]["grid"]),
        ),
        retrained=rules.improve_best_train.output.model,
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
        ENV
    resources:
        **RESOURCES["figures"],
    params:
        # the folder of the grid's run folders (the chosen one is known when the job runs)
        grid_runs=lambda wc, input: os.path.dirname(os.path.dirname(input.histories[0])),
    script:
        "../scripts/improve_figures.py"


rule improve:
    input:
        IMPROVE_OUTPUTS.values(),
