"""Run names: one folder per (lambda, eta), ``lam{lam}_eta{eta}`` with numbers as format(x, "g").

The same pair always maps to the same folder, and a folder name that is not a valid pair is
refused with a message that says why, before any job starts.
"""

from __future__ import annotations

import math
import re

from onelayer.errors import RunNameError


def run_name(lam: float, eta: float) -> str:
    return f"lam{format(lam, 'g')}_eta{format(eta, 'g')}"


def run_title(lam: float, eta: float, diverged_epoch: int | None = None) -> str:
    """A run as figures and the report title it: λ = 0.1, η = 0.001."""
    title = f"λ = {lam:g}, η = {eta:g}"
    return title + (f" (diverged at epoch {diverged_epoch})" if diverged_epoch else "")


def parse_value(text: str, name: str, positive: bool) -> float:
    """The float a wildcard holds; refuses non-numbers, negatives, and non-canonical spellings."""
    where = f"{name}={text!r}"
    try:
        value = float(text)
    except ValueError:
        raise RunNameError(
            f"{where} is not a number (run folders look like lam0.1_eta0.001)"
        ) from None
    if not math.isfinite(value):
        raise RunNameError(f"{where} must be a finite number")
    if positive and value <= 0:
        raise RunNameError(f"{where}: {name} must be > 0")
    if value < 0 or math.copysign(1.0, value) < 0:
        raise RunNameError(f"{where}: {name} must be >= 0")
    canonical = format(value, "g")
    if text != canonical:
        raise RunNameError(
            f"{where}: write the number as {canonical!r} so that each run has one folder"
        )
    return value


def parse_run(lam: str, eta: str) -> tuple[float, float]:
    """(lam, eta) from the two wildcards of ``results/lam{lam}_eta{eta}/``."""
    return parse_value(lam, "lam", positive=False), parse_value(eta, "eta", positive=True)


# --- seed replicates ------------------------------------------------------------------------------
# A run folder trains its settings' own seed; its replicate with another seed is the folder beside
# it with "_seed{seed}" appended (results/lam0_eta0.1_seed43/), the seed in canonical form.

REPLICATE = re.compile(r"^(?P<run>.+)_seed(?P<seed>0|[1-9][0-9]*)$")


def replicate_folder(folder: str, seed: int) -> str:
    """The folder of ``folder``'s run trained with ``seed``."""
    return f"{folder}_seed{int(seed)}"


def replicate_of(folder: str) -> tuple[str, int | None]:
    """(the run folder, the seed) of a replicate's folder; (``folder``, None) for a run
    folder that is not a replicate."""
    text = str(folder).rstrip("/")
    m = REPLICATE.match(text)
    return (m["run"], int(m["seed"])) if m else (text, None)


def parse_seed(text: str) -> int:
    """The seed of a replicate folder's wildcard; refuses another spelling of the same number."""
    if not re.fullmatch(r"0|[1-9][0-9]*", text):
        raise RunNameError(f"seed {text!r}: write the seed as a whole number without leading "
                           "zeros (results/lam0_eta0.1_seed43/) so that each replicate has one folder")  # fmt: skip
    return int(text)
