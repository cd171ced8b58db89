"""Learning-rate schedules (the handout's bonus 2.1 (d)): eta for each epoch.

A schedule is written in config and metrics.json as a dict: ``{kind: constant}`` (the report's
runs), ``{kind: step, factor: 10, every: 20}`` (eta divided by ``factor`` after every ``every``
epochs) or ``{kind: cosine, eta_min: 0}`` (from eta down to ``eta_min`` along half a cosine over
the run). ``Schedule`` holds one, checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from onelayer.errors import SettingsError

KINDS = ("constant", "step", "cosine")
KEYS = {"constant": (), "step": ("factor", "every"), "cosine": ("eta_min",)}


@dataclass(frozen=True)
class Schedule:
    """eta per epoch: ``kind`` and that kind's parameters (the others keep their defaults and
    are not written out)."""

    kind: str = "constant"
    factor: float = 10.0  # step: eta is divided by it ...
    every: int = 20  # step: ... after every so many epochs
    eta_min: float = 0.0  # cosine: the last epoch's eta

    def __post_init__(self):
        if self.kind not in KINDS:
            raise SettingsError(f"schedule kind must be one of {KINDS}, got {self.kind!r}")
        self._float("factor", 1, "a step schedule")
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise SettingsError(f"a step schedule needs a whole every >= 1, got {self.every!r}")
        self._float("eta_min", 0, "a cosine schedule")

    def _float(self, name: str, minimum: float, owner: str) -> None:
        """Field name as a float, checked to be a number >= minimum."""
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"schedule {name} must be a number, got {value!r}")
        object.__setattr__(self, name, float(value))
        if not float(value) >= minimum:
            raise SettingsError(f"{owner} needs {name} >= {minimum}, got {float(value)}")

    @classmethod
    def from_dict(cls, d: dict | Schedule | None) -> Schedule:
        """A schedule from its dict (None: constant); a key of another kind is refused."""
        if d is None or isinstance(d, Schedule):
            return d or cls()
        if not isinstance(d, dict):
            raise SettingsError(f"schedule must be a mapping such as {{kind: cosine}}, got {d!r}")
        kind = d.get("kind", "constant")
        if kind not in KINDS:
            raise SettingsError(f"schedule kind must be one of {KINDS}, got {kind!r}")
        extra = set(d) - {"kind", *KEYS[kind]}
        if extra:
            raise SettingsError(f"a {kind} schedule takes no {', '.join(sorted(extra))}")
        return cls(**d)

    def as_dict(self) -> dict:
        """The kind and its own parameters, as config and metrics.json write it."""
        return {"kind": self.kind, **{k: getattr(self, k) for k in KEYS[self.kind]}}

    def eta_at(self, eta: float, epoch: int, n_epochs: int) -> float:
        """eta of epoch ``epoch`` (1 .. n_epochs), starting from ``eta``."""
        if self.kind == "step":
            return eta / self.factor ** ((epoch - 1) // self.every)
        if self.kind == "cosine":
            if n_epochs == 1:
                return eta
            t = (epoch - 1) / (n_epochs - 1)  # 0 at the first epoch, 1 at the last
            return self.eta_min + (eta - self.eta_min) * 0.5 * (1 + math.cos(math.pi * t))
        return eta


PARAMETERS = tuple(f.name for f in fields(Schedule) if f.name != "kind")


def own_keys(schedule):
    """The schedule without the keys of the other kinds. Snakemake merges a --configfile's
    ``schedule: {kind: step, ...}`` key by key into config.yaml's ``{kind: cosine, eta_min:
    0}``: the merged dict holds both kinds' keys, and only the named kind's are meant."""
    if not isinstance(schedule, dict) or schedule.get("kind") not in KEYS:
        return schedule
    others = set(PARAMETERS) - set(KEYS[schedule["kind"]])
    return {k: v for k, v in schedule.items() if k not in others}
