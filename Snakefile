# DD2424 Assignment 1: a one-layer softmax classifier on CIFAR-10, reproduced end to end.
#
# snakemake --cores all                      the report's runs, figures, tables and report
# snakemake --cores 1 results/lam0.5_eta0.01/metrics.json   any (lambda, eta) by its target
# snakemake --cores all improve              bonus 2.1;  snakemake --cores all losses: bonus 2.2
# snakemake --cores all peers                the published recipes trained here, against ours
#
# data/raw/cifar-10-python.tar.gz            downloaded, MD5-verified
# data/raw/cifar-10-batches-py/*             the members the requested targets read
# data/processed/cifar10.npz                 raw pixels of train/val/test and the training statistics
# data/processed/cifar10_all.npz             for the experiments: five batches, experiments.val_size held out
# results/gradcheck/gradcheck.{csv,md}       analytic gradients vs PyTorch and finite differences
# results/lam{lam}_eta{eta}/history.csv      per epoch: train/val loss, cost, accuracy
# results/lam{lam}_eta{eta}/model.npz        W, b
# results/lam{lam}_eta{eta}/metrics.json     the run's settings and its results
# results/lam{lam}_eta{eta}/{curves,weights}.png
# results/lam{lam}_eta{eta}_seed{seed}/      the run with another seed; every run folder below has
#                                            such replicates (config replicates)
# results/figures/*.png                      across runs
# results/summary.{csv,md}                   ours over seeds beside the report's numbers
# results/report.md                          generated report (snakemake --report for HTML)
# results/improve/grid/lam~{lam}_eta~{eta}_nbatch~{n}/  one run folder per grid point
# results/improve/grid.csv, grid_heatmap.png each point's validation accuracy, probability of being best
# results/improve/chosen.json                the point best on validation
# results/improve/best/, best.json           that point retrained on train + val, tested once
# results/improve/ablation/{step}/, ablation.csv   the report's best setting, each improvement, all
# results/losses/{one_batch,improved}/{softmax,bce}/  the two losses compared
# results/losses/comparison.{csv,md}, histograms.png, curves.png
# results/peers/{name}/                      each published recipe (config peers), on the retrain's images
# results/peers/comparison.{csv,md}, accuracy.png   each beside our retrain, paired on the test images
# logs/<rule>/...                            one log per job; logs/benchmarks/ time and memory


from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/gradcheck.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/improve.smk"
include: "workflow/rules/losses.smk"
include: "workflow/rules/peers.smk"


# Jobs of a few seconds at most, and the download (a cluster node may have no internet), run where
# Snakemake runs, not as cluster jobs.
localrules:
    download_cifar10,
    summary,
    report_md,
    improve_grid_table,
    improve_choose,
    improve_ablation_table,
    improve_best,
    losses_choose_bce_eta,


rule all:
    default_target: True
    input:
        all_targets(),
