# One training run, written as a run folder (history.csv, model.npz, metrics.json): the report's
# runs, one per (lam, eta). Every other run of the workflow (the grid's points, the ablation's
# rows, the retrain of the chosen point, the loss comparison's runs) is this rule with its own
# paths, data and settings (`use rule train as ...` in improve.smk and losses.smk).


rule train:
    input:
        data=DATA,
        # Training waits for the gradient check: no run trains on gradients that failed it.
        gradcheck=rules.gradcheck.output.csv,
    output:
        **run_outputs("results/lam{lam}_eta{eta}"),
    log:
        "logs/train/lam{lam}_eta{eta}.log",
    benchmark:
        "logs/benchmarks/train/lam{lam}_eta{eta}.tsv"
    conda:
        ENV
    threads: config["train"]["threads"]
    resources:
        **RESOURCES["train"],
    params:
        settings=settings_of(report_run),
    script:
        "../scripts/train.py"


# A seed replicate of a run: its settings with the seed of the folder's name. Every training
# rule has one, derived alike (<rule>_seed), whose folder is the run's with _seed{seed}.
use rule train as train_seed with:
    output:
        **run_outputs("results/lam{lam}_eta{eta}_seed{seed}"),
    log:
        "logs/train/lam{lam}_eta{eta}_seed{seed}.log",
    benchmark:
        "logs/benchmarks/train/lam{lam}_eta{eta}_seed{seed}.tsv"
