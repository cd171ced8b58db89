rule train:
    input:
        data=DATA,
        # Training waits for the gradient check: no run trains on gradients that failed it.
        gradcheck=rules.gradcheck.output.csv,
    output:
        history="results/lam{lam}_eta{eta}/history.csv",
        model="results/lam{lam}_eta{eta}/model.npz",
        metrics="results/lam{lam}_eta{eta}/metrics.json",
    log:
        "logs/train/lam{lam}_eta{eta}.log",
    benchmark:
        "logs/benchmarks/train/lam{lam}_eta{eta}.tsv"
    conda:
        "../envs/onelayer.yaml"
    threads: config["train"]["threads"]
    resources:
        **RESOURCES["train"],
    params:
        lam=lambda wc: run_params(wc)[0],
        eta=lambda wc: run_params(wc)[1],
        train=report_train(),
    script:
        "../scripts/train.py"
