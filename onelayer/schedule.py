"""Learning-rate schedules for training (the handout's bonus 2.1 (d)): eta for each epoch.

A schedule is a dict, as the config writes it: ``{"kind": "constant"}`` (the report's runs),
``{"kind": "step", "factor": 10, "every": 20}`` (eta divided by ``factor`` after every
``every`` epochs) or ``{"kind": "cosine", "eta_min": 0}`` (from eta down to ``eta_min`` along
half a cosine over the run).
"""

from __future__ import annotations

import math

KINDS = ("constant", "step", "cosine")


KEYS = {"constant": set(), "step": {"factor", "every"}, "cosine": {"eta_min"}}


def own_keys(schedule: dict | None) -> dict | None:
    """The schedule without the keys of the other kinds. Snakemake merges a --configfile's
    ``schedule: {kind: step, ...}`` key by key into config.yaml's ``{kind: cosine, eta_min:
    0}``: the merged dict holds both kinds' keys, and only the named kind's are meant."""
    if not isinstance(schedule, dict) or schedule.get("kind") not in KEYS:
        return schedule
    others = set().union(*KEYS.values()) - KEYS[schedule["kind"]]
    return {k: v for k, v in schedule.items() if k not in others}


def check(schedule: dict | None) -> dict:
    """The schedule with its defaults, or ValueError naming what is wrong."""
    s = {"kind": "constant", **(schedule or {})}
    if s["kind"] not in KINDS:
        raise ValueError(f"schedule kind must be one of {KINDS}, got {s['kind']!r}")
    extra = set(s) - {"kind"} - KEYS[s["kind"]]
    if extra:
        raise ValueError(f"a {s['kind']} schedule takes no {', '.join(sorted(extra))}")
    if s["kind"] == "step":
        s.setdefault("factor", 10.0)
        s.setdefault("every", 20)
        if not s["factor"] >= 1 or int(s["every"]) != s["every"] or s["every"] < 1:
            raise ValueError("a step schedule needs factor >= 1 and a whole every >= 1")
    if s["kind"] == "cosine":
        s.setdefault("eta_min", 0.0)
        if not s["eta_min"] >= 0:
            raise ValueError("a cosine schedule needs eta_min >= 0")
    return s


def eta_at(schedule: dict | None, eta: float, epoch: int, n_epochs: int) -> float:
    """eta of epoch ``epoch`` (1 .. n_epochs) under ``schedule``, starting from ``eta``."""
    s = check(schedule)
    if s["kind"] == "step":
        return eta / s["factor"] ** ((epoch - 1) // s["every"])
    if s["kind"] == "cosine":
        if n_epochs == 1:
            return eta
        t = (epoch - 1) / (n_epochs - 1)  # 0 at the first epoch, 1 at the last
        return s["eta_min"] + (eta - s["eta_min"]) * 0.5 * (1 + math.cos(math.pi * t))
    return eta
