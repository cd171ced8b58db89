# The second loss (the handout's bonus 2.2): softmax + cross-entropy against sigmoid + multiple
# binary cross-entropy, on one batch (the report's setting) and in the improved one
# (`snakemake --cores all losses`).


# BCE on one batch at each candidate eta; the one best on validation is the BCE run.
use rule train as losses_bce_eta with:
    output:
        **run_outputs("results/losses/one_batch/bce_eta~{eta}"),
    log:
        "logs/losses/one_batch/bce_eta~{eta}.log",
    benchmark:
        "logs/benchmarks/losses/one_batch/bce_eta~{eta}.tsv"
    params:
        settings=settings_of(lambda wc: PLAN.loss_run("one_batch", "bce", float(wc.eta))),


rule losses_choose_bce_eta:
    input:
        metrics=[
            f"results/losses/one_batch/bce_eta~{e:g}/metrics.json"
            for e in config["losses"]["bce_etas"]
        ],
    output:
        choice=BCE_ETA,
    log:
        "logs/losses/choose_bce_eta.log",
    conda:
        ENV
    script:
        "../scripts/losses_choose_bce_eta.py"


# The four runs compared: {one_batch, improved} x {softmax, bce}; a run whose setting is a
# choice (BCE's eta on one batch, the grid's point) takes it from the file that choice wrote.
use rule train as losses_run with:
    input:
        unpack(loss_run_inputs),
        gradcheck=rules.gradcheck.output.csv,
    output:
        **run_outputs("results/losses/{setting}/{loss}"),
    log:
        "logs/losses/{setting}/{loss}.log",
    benchmark:
        "logs/benchmarks/losses/{setting}/{loss}.tsv"
    wildcard_constraints:
        setting="one_batch|improved",
        loss="softmax|bce",
    threads: lambda wc: config["experiments" if wc.setting == "improved" else "train"]["threads"]
    resources:
        **RESOURCES["retrain_all"],
    params:
        settings=settings_of(lambda wc: PLAN.loss_run(wc.setting, wc.loss)),
        choice_scale=lambda wc: (
            {"eta": config["losses"]["bce_eta_scale"]}
            if (wc.setting, wc.loss) == ("improved", "bce")
            else {}
        ),


use rule losses_run as losses_run_seed with:
    output:
        **run_outputs("results/losses/{setting}/{loss}_seed{seed}"),
    log:
        "logs/losses/{setting}/{loss}_seed{seed}.log",
    benchmark:
        "logs/benchmarks/losses/{setting}/{loss}_seed{seed}.tsv"


rule losses_compare:
    input:
        metrics=replicates_of("losses", "metrics.json"),
        models=replicates_of("losses", "model.npz"),
        one_batch_data=DATA,
        improved_data=DATA_ALL,
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
        ENV
    resources:
        **RESOURCES["figures"],
    script:
        "../scripts/losses_compare.py"


rule losses:
    input:
        LOSSES_OUTPUTS.values(),
