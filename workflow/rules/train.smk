rule train:
    input:
        data=DATA,
        # Training waits for the gradient check: no run trains on gradients that failed it.
        gradcheck=rules.gradcheck.output.csv,
    output:
        history="results/lam{lam}_eta{eta}/history.csv",
        model="results/lam{lam}_eta{eta}/model.npz",
        metrics="results/lam{lam}_eta{eta}/metrics.json",
    params:
        lam=lambda wc: run_params(wc)[0],
        eta=lambda wc: run_params(wc)[1],
        out_dir="results/lam{lam}_eta{eta}",
        train={k: v for k, v in config["train"].items() if k != "threads"},
    threads: config["train"]["threads"]
    log:
        "logs/train/lam{lam}_eta{eta}.log",
    benchmark:
        "logs/benchmarks/train/lam{lam}_eta{eta}.tsv"
    script:
        "../scripts/train.py"
