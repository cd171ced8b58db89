import json

import pytest

from onelayer.naming import run_name
from onelayer.report import report_markdown
from onelayer.summary import summary_markdown, summary_rows


def metrics(lam, eta, acc, status="ok", epoch=None, seed=42):
    return dict(lam=lam, eta=eta, seed=seed, test_accuracy=acc, status=status, diverged_epoch=epoch,
                final_train_cost=1.5, final_val_cost=1.7, train_seconds=1.0, test_images=10000)  # fmt: skip


REFERENCE = [
    {"lam": 0, "eta": 0.1, "test_accuracy": 28.77},
    {"lam": 1, "eta": 0.001, "test_accuracy": 37.38},
]


def run_folders(tmp_path, *replicates) -> list:
    """metrics.json files of run folders and their seed replicates: each argument is one run,
    a list of metrics dicts, the configured seed's first."""
    paths = []
    for seeds in replicates:
        for i, m in enumerate(seeds):
            name = run_name(m["lam"], m["eta"]) + ("" if i == 0 else f"_seed{m['seed']}")
            (tmp_path / name).mkdir()
            (tmp_path / name / "metrics.json").write_text(json.dumps(m))
            paths.append(tmp_path / name / "metrics.json")
    return paths


def test_summary_matches_report_numbers_by_pair(tmp_path):
    table = summary_rows(run_folders(tmp_path, [metrics(0.0, 0.1, 28.0)], [metrics(1.0, 0.001, 37.5)],
                              [metrics(0.5, 0.01, 33.0)]), REFERENCE)  # fmt: skip
    assert [r["report_accuracy"] for r in table] == [28.77, 37.38, None]
    assert [r["mean_minus_report"] for r in table][:2] == [-0.77, 0.12]
    md = summary_markdown(table)
    assert "| 0 | 0.1 | 28.00 % (27.12 to 28.89) | 28.00 (1 seeds) | 28.00 to 28.00 | 28.77 % |" in md
    assert "| 0.5 | 0.01 | 33.00 % (32.08 to 33.93) |" in md and "| – | – | ok |" in md


def test_the_seeds_give_mean_sd_range_and_place_the_report_in_them(tmp_path):
    accs = [28.0, 27.0, 29.0, 30.0, 26.0]  # mean 28, sd 1.58
    table = summary_rows(run_folders(tmp_path, [metrics(0.0, 0.1, a, seed=42 + i) for i, a in enumerate(accs)],
                              [metrics(1.0, 0.001, a + 12, seed=42 + i) for i, a in enumerate(accs)]),
                         REFERENCE)  # fmt: skip
    first, second = table
    assert first["test_accuracy"] == 28.0 and first["seeds"] == 5
    assert first["seed_mean"] == 28.0 and first["seed_sd"] == pytest.approx(1.5811, abs=1e-4)
    assert (first["seed_min"], first["seed_max"]) == (26.0, 30.0)
    assert first["report_place"] == "inside the seed range (+0.5 sd from the mean)"
    assert second["report_place"] == "1.7 sd below the seed mean, outside the seed range"
    assert "28.00 ± 1.58 (5 seeds)" in summary_markdown(table)


def test_a_diverged_seed_is_left_out_of_the_spread_and_counted(tmp_path):
    table = summary_rows(run_folders(tmp_path, [metrics(0.0, 0.1, 28.0), metrics(0.0, 0.1, None, "diverged", 3, seed=43),
                                         metrics(0.0, 0.1, 30.0, seed=44)]), REFERENCE)  # fmt: skip
    assert table[0]["seeds"] == 2 and table[0]["diverged"] == 1 and table[0]["seed_mean"] == 29.0
    assert "29.00 ± 1.41 (2 seeds, 1 diverged)" in summary_markdown(table)


def test_diverged_run_shows_as_diverged_without_accuracy(tmp_path):
    table = summary_rows(run_folders(tmp_path, [metrics(0.0, 10.0, None, "diverged", 2)]), REFERENCE)
    assert [r["status"] for r in table] == ["diverged at epoch 2"]
    md = summary_markdown(table)
    assert "| 0 | 10 | – | – | – |" in md and "diverged at epoch 2" in md


def test_report_follows_the_seed_order_with_relative_paths(tmp_path):
    runs = [
        dict(name="lam0_eta0.1", lam=0.0, eta=0.1),
        dict(name="lam1_eta0.001", lam=1.0, eta=0.001),
    ]
    summary = summary_rows(run_folders(tmp_path, [metrics(0.0, 0.1, 28.0)]), REFERENCE)
    check = [dict(case="gc", loss="softmax", code="numpy", method="torch", param="W", d=10, n=3,
                  lam=0.0, entries=100, max_abs_diff=1e-17, max_rel_err=1e-15, abs_tol=1e-6,
                  rel_tol=1e-6, passed=True)]  # fmt: skip
    md = report_markdown(runs, summary, check, {"train": {"n_epochs": 40}})
    order = [md.index(s) for s in ("## 1 Gradient", "| gc | softmax | numpy | torch | W |", "## 2 Loss",
                                   "(lam0_eta0.1/curves.png)", "## 3 Learned",
                                   "(lam1_eta0.001/weights.png)", "## 4 Test", "| 0 | 0.1 | 28.00 % (",
                                   "## 5 Configuration", "n_epochs: 40")]  # fmt: skip
    assert order == sorted(order)
    assert "Figure 4: learned weights for λ = 1, η = 0.001" in md
    assert "/work" not in md and "](/" not in md
