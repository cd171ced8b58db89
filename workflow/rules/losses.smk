# The second loss (the handout's bonus 2.2): softmax + cross-entropy against sigmoid + multiple
# binary cross-entropy, in the report's setting and the improved one (`snakemake losses`).


# BCE in the report's setting at each candidate eta; the best on validation is the BCE run.
rule losses_bce_eta:
    input:
        data=DATA,
        gradcheck=rules.gradcheck.output.csv,
    output:
        history="results/losses/report/bce_eta~{eta}/history.csv",
        model="results/losses/report/bce_eta~{eta}/model.npz",
        metrics="results/losses/report/bce_eta~{eta}/metrics.json",
    log:
        "logs/losses/report/bce_eta~{eta}.log",
    benchmark:
        "logs/benchmarks/losses/report/bce_eta~{eta}.tsv"
    conda:
        "../envs/onelayer.yaml"
    threads: config["train"]["threads"]
    resources:
        **RESOURCES["train"],
    params:
        lam=config["losses"]["report"]["lam"],
        eta=lambda wc: float(wc.eta),
        train={**report_train(), "loss": "bce"},
    script:
        "../scripts/train.py"


rule losses_run:
    input:
        unpack(loss_run_inputs),
        gradcheck=rules.gradcheck.output.csv,
    output:
        history="results/losses/{setting}/{loss}/history.csv",
        model="results/losses/{setting}/{loss}/model.npz",
        metrics="results/losses/{setting}/{loss}/metrics.json",
    log:
        "logs/losses/{setting}/{loss}.log",
    benchmark:
        "logs/benchmarks/losses/{setting}/{loss}.tsv"
    wildcard_constraints:
        setting="report|improved",
        loss="softmax|bce",
    conda:
        "../envs/onelayer.yaml"
    threads: config["train"]["threads"]
    resources:
        **RESOURCES["improve_best_train"],
    params:
        base=lambda wc: (
            {**report_train(), **config["losses"]["report"]}
            if wc.setting == "report"
            else experiment_train()
        ),
        bce_eta_scale=config["losses"]["bce_eta_scale"],
    script:
        "../scripts/train_loss.py"


rule losses_compare:
    input:
        metrics=[f"results/losses/{s}/{l}/metrics.json" for s, l in LOSS_RUNS],
        data=DATA,
        data_all=DATA_ALL,
    output:
        csv=report(
            "results/losses/comparison.csv",
            caption="../report/losses.rst",
            category="Two losses",
            labels={"table": "comparison"},
        ),
        md="results/losses/comparison.md",
        histograms=report(
            "results/losses/histograms.png",
            caption="../report/loss_histograms.rst",
            category="Two losses",
            labels={"figure": "probability of the true class"},
        ),
        curves=report(
            "results/losses/curves.png",
            caption="../report/loss_curves.rst",
            category="Two losses",
            labels={"figure": "loss curves"},
        ),
    log:
        "logs/losses/compare.log",
    benchmark:
        "logs/benchmarks/losses/compare.tsv"
    conda:
        "../envs/onelayer.yaml"
    resources:
        **RESOURCES["improve_figures"],
    script:
        "../scripts/compare_losses.py"


rule losses:
    input:
        LOSSES_OUTPUTS.values(),
