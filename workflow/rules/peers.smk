# The best published recipes of this model (config peers), each trained on the user's data with
# this project's code over seeds, and compared with the retrain of our choice on the same test
# images (`snakemake --cores all peers`).


# A published recipe on the five batches with the validation images, as our retrain trains.
use rule train as peers_run with:
    input:
        data=DATA_ALL,
        gradcheck=rules.gradcheck.output.csv,
    output:
        **run_outputs("results/peers/{peer}"),
    log:
        "logs/peers/{peer}.log",
    benchmark:
        "logs/benchmarks/peers/{peer}.tsv"
    wildcard_constraints:
        peer="|".join(map(re.escape, config["peers"])) or "(?!)",
    threads: config["experiments"]["threads"]
    resources:
        **RESOURCES["retrain_all"],
    params:
        settings=settings_of(lambda wc: PLAN.peer(wc.peer)),


use rule peers_run as peers_run_seed with:
    output:
        **run_outputs("results/peers/{peer}_seed{seed}"),
    log:
        "logs/peers/{peer}_seed{seed}.log",
    benchmark:
        "logs/benchmarks/peers/{peer}_seed{seed}.tsv"


# Each recipe over its seeds beside our retrain, paired on the same test images.
rule peers_compare:
    input:
        ours=replicates_of("retrain", "metrics.json"),
        our_models=replicates_of("retrain", "model.npz"),
        metrics=replicates_of("peers", "metrics.json"),
        models=replicates_of("peers", "model.npz"),
        data=DATA_ALL,
    output:
        csv=report(
            PEERS_OUTPUTS["peers_csv"],
            caption="../report/peers.rst",
            category="Published recipes",
            labels={"table": "comparison"},
        ),
        md=PEERS_OUTPUTS["peers_md"],
        figure=report(
            PEERS_OUTPUTS["peers_figure"],
            caption="../report/peers_figure.rst",
            category="Published recipes",
            labels={"figure": "test accuracy"},
        ),
    log:
        "logs/peers/compare.log",
    benchmark:
        "logs/benchmarks/peers/compare.tsv"
    conda:
        ENV
    resources:
        **RESOURCES["figures"],
    params:
        peers=config["peers"],
    script:
        "../scripts/peers_compare.py"


rule peers:
    input:
        PEERS_OUTPUTS.values(),
