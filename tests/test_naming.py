import pytest

from onelayer.errors import RunNameError
from onelayer.naming import parse_run, run_name


@pytest.mark.parametrize(
    "lam, eta, name",
    [(0, 0.1, "lam0_eta0.1"), (0.1, 0.001, "lam0.1_eta0.001"), (1, 0.001, "lam1_eta0.001"),
     (0.0, 1e-05, "lam0_eta1e-05")],
)  # fmt: skip
def test_run_name_and_back(lam, eta, name):
    assert run_name(lam, eta) == name
    lam_text, eta_text = name[3:].split("_eta")
    assert parse_run(lam_text, eta_text) == (lam, eta)


@pytest.mark.parametrize(
    "lam, eta, message",
    [("abc", "0.1", "not a number"), ("-1", "0.1", "lam must be >= 0"), ("0", "0", "eta must be > 0"),
     ("0", "-0.1", "eta must be > 0"), ("nan", "0.1", "finite"), ("0.10", "0.1", "write the number as '0.1'"),
     ("-0", "0.1", ">= 0")],
)  # fmt: skip
def test_bad_values_are_refused_with_reason(lam, eta, message):
    with pytest.raises(RunNameError, match=message):
        parse_run(lam, eta)
