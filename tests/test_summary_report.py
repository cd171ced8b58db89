from onelayer.report import report_markdown
from onelayer.summary import summary_markdown, summary_rows


def metrics(lam, eta, acc, status="ok", epoch=None):
    return dict(lam=lam, eta=eta, test_accuracy=acc, status=status, diverged_epoch=epoch,
                final_train_cost=1.5, final_val_cost=1.7, train_seconds=1.0)  # fmt: skip


REFERENCE = [
    {"lam": 0, "eta": 0.1, "test_accuracy": 28.77},
    {"lam": 1, "eta": 0.001, "test_accuracy": 37.38},
]


def test_summary_matches_report_numbers_by_pair():
    table = summary_rows(
        [metrics(0.0, 0.1, 28.0), metrics(1.0, 0.001, 37.5), metrics(0.5, 0.01, 33.0)], REFERENCE
    )
    assert [r["report_accuracy"] for r in table] == [28.77, 37.38, None]
    assert [r["difference"] for r in table][:2] == [-0.77, 0.12]
    md = summary_markdown(table)
    assert "| 0 | 0.1 | 28.00 % | 28.77 % | -0.77 |" in md
    assert "| 0.5 | 0.01 | 33.00 % | – | – |" in md


def test_diverged_run_shows_as_diverged_without_accuracy():
    table = summary_rows([metrics(0.0, 10.0, None, "diverged", 2)], REFERENCE)
    assert [r["status"] for r in table] == ["diverged at epoch 2"]
    md = summary_markdown(table)
    assert "| 0 | 10 | – |" in md and "diverged at epoch 2" in md


def test_report_follows_the_seed_order_with_relative_paths():
    runs = [
        dict(name="lam0_eta0.1", lam=0.0, eta=0.1),
        dict(name="lam1_eta0.001", lam=1.0, eta=0.001),
    ]
    summary = summary_rows([metrics(0.0, 0.1, 28.0)], REFERENCE)
    check = [dict(case="gc", loss="softmax", code="numpy", method="torch", param="W", d=10, n=3,
                  lam=0.0, entries=100, max_abs_diff=1e-17, max_rel_err=1e-15, abs_tol=1e-6,
                  rel_tol=1e-6, passed=True)]  # fmt: skip
    md = report_markdown(runs, summary, check, {"train": {"n_epochs": 40}})
    order = [md.index(s) for s in ("## 1 Gradient", "| gc | softmax | numpy | torch | W |", "## 2 Loss",
                                   "(lam0_eta0.1/curves.png)", "## 3 Learned",
                                   "(lam1_eta0.001/weights.png)", "## 4 Test", "| 0 | 0.1 | 28.00 % |",
                                   "## 5 Configuration", "n_epochs: 40")]  # fmt: skip
    assert order == sorted(order)
    assert "Figure 4: learned weights for λ = 1, η = 0.001" in md
    assert "/work" not in md and "](/" not in md
