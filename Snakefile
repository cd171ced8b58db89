# DD2424 Assignment 1: a one-layer softmax classifier on CIFAR-10, reproduced end to end.
#
# snakemake --cores all                      everything below
# snakemake --cores 1 results/lam0.5_eta0.01/metrics.json   any (lambda, eta) by its target
#
# data/raw/cifar-10-python.tar.gz            downloaded, MD5-verified
# data/raw/cifar-10-batches-py/*             extracted members
# data/processed/cifar10.npz                 train/val/test, normalised with train statistics
# data/processed/cifar10_all.npz             on request: all five batches, experiments.val_size held out
# results/improve/grid/lam~{lam}_eta~{eta}_nbatch~{n}/  `snakemake improve`: one run per grid point
# results/improve/grid.csv                   one row per point: validation and test accuracy
# results/improve/best/, best.json           the best point on validation, retrained on train + val
# results/improve/ablation/{step}/, ablation.csv   the report's best setting, each improvement alone, all
# results/losses/{report,improved}/{softmax,bce}/  `snakemake losses`: the two losses compared
# results/losses/comparison.{csv,md}, histograms.png, curves.png
# results/gradcheck/gradcheck.{csv,md}       analytic gradients vs PyTorch and finite differences
# results/lam{lam}_eta{eta}/history.csv      per epoch: train/val loss, cost, accuracy
# results/lam{lam}_eta{eta}/model.npz        W, b
# results/lam{lam}_eta{eta}/metrics.json     test accuracy, final numbers, seconds, status
# results/lam{lam}_eta{eta}/{curves,weights}.png
# results/figures/*.png                      across runs
# results/summary.{csv,md}                   ours beside the report's numbers
# results/report.md                          generated report (snakemake --report for HTML)
# logs/<rule>/...                            one log per job


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


# Jobs of a second or less, and the download (a cluster node may have no internet), run where
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
