"""The settings of one training run: every training option's name, type, default and bounds in
one place, ``TrainSettings``, checked when it is built, handed whole to ``train``, written whole
into metrics.json and read back from it to rerun exactly that run (nanoGPT's ``GPTConfig``).

config.yaml's ``train`` section (and the experiments' overrides of it) sets these options but
three that the workflow sets per run (``PER_RUN``: a run's lam and eta, from ``runs`` or the
grid, and ``train_on_val``, the retrain of a chosen setting). workflow/schemas/config.schema.yaml
restates the options for Snakemake's validation; tests/test_settings.py fails where the two
disagree on a key, a type, a default or a bound. Adding an option: a field here, its line in the
schema, its row in config/README.md, and the code that uses it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import MISSING, dataclass, field
from pathlib import Path

from onelayer.augment import BORDERS
from onelayer.errors import SettingsError
from onelayer.model import LOSSES
from onelayer.schedule import Schedule

# Options renamed since they were first written: an old config gets the new name in its error.
RENAMED = {"shift": "translate_px"}


def option(default=MISSING, *, doc: str, minimum=None, maximum=None, above=None, choices=None,
           per_run: bool = False):  # fmt: skip
    """A field of TrainSettings with its documentation and bounds: ``minimum``/``maximum``
    (inclusive), ``above`` (exclusive minimum), ``choices`` (the values allowed); ``per_run``:
    set by the workflow for each run, not in config's train section."""
    meta = dict(doc=doc, minimum=minimum, maximum=maximum, above=above, choices=choices,
                per_run=per_run)  # fmt: skip
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainSettings:
    """One run of mini-batch gradient descent, as the assignment names its settings."""

    lam: float = option(doc="L2 regularisation strength lambda", minimum=0, per_run=True)
    eta: float = option(doc="learning rate (the first epoch's under a schedule)", above=0,
                        per_run=True)  # fmt: skip
    n_batch: int = option(100, doc="images per mini-batch", minimum=1, maximum=10000)
    n_epochs: int = option(40, doc="passes over the training set", minimum=1)
    seed: int = option(42, doc="seeds W's initialisation and, apart, the shuffles", minimum=0)
    dtype: str = option("float32", doc="arithmetic of training", choices=("float32", "float64"))
    backend: str = option("auto", doc="the training loop: native (C), numpy, or auto",
                          choices=("auto", "native", "numpy"))  # fmt: skip
    diverge_factor: float = option(100.0, doc="a loss above this x log(K) has diverged", above=0)
    flip: float = option(0.0, doc="probability that an image is read mirrored", minimum=0,
                         maximum=1)  # fmt: skip
    translate_px: int = option(0, doc="random moves by up to this many pixels in x and y",
                               minimum=0, maximum=8)  # fmt: skip
    border: str = option("black", doc="what a move uncovers: black, or the edge pixels repeated",
                         choices=BORDERS)  # fmt: skip
    schedule: Schedule = option(Schedule(), doc="eta per epoch: constant, step or cosine")
    average_last: int = option(0, doc="W, b returned: the mean over this many last epochs",
                               minimum=0)  # fmt: skip
    eval_train_every: int = option(1, doc="evaluate the training set every k-th epoch",
                                   minimum=1)  # fmt: skip
    eval_train_subset: int = option(0, doc="... on a fixed sample of this many images (0: all)",
                                    minimum=0)  # fmt: skip
    flip_average: bool = option(False, doc="the model written averages an image and its mirror")
    shift_average: int = option(0, doc="... and its copies moved by up to this many pixels in x and y",
                                minimum=0, maximum=4)  # fmt: skip
    inputs: str = option("standardised", doc="the features trained on: (u/255 - mean)/std, "
                         "u/255 - mean, or u/255", choices=("standardised", "centred", "unit"))  # fmt: skip
    loss: str = option("softmax", doc="softmax + cross-entropy, or sigmoid + binary CE (bce)",
                       choices=LOSSES)  # fmt: skip
    train_on_val: bool = option(False, doc="the validation images join the training set",
                                per_run=True)  # fmt: skip

    def __post_init__(self):
        types = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _typed(f.name, getattr(self, f.name), types[f.name])
            object.__setattr__(self, f.name, value)
            _check_bounds(f.name, value, f.metadata)
        if self.average_last > self.n_epochs:
            raise SettingsError(
                f"average_last = {self.average_last} must be at most n_epochs = {self.n_epochs}"
            )

    # --- building, writing and reading back ---------------------------------------------------

    @classmethod
    def from_dict(cls, values: dict) -> TrainSettings:
        """Settings from a mapping of option names (config, metrics.json, a command line);
        an unknown name is refused, naming it (and its new name if it was renamed)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            hints = [f"{k} (now {RENAMED[k]})" if k in RENAMED else k for k in unknown]
            raise SettingsError(f"unknown training option(s): {', '.join(hints)}")
        return cls(**values)

    @classmethod
    def from_metrics(cls, path: str | Path) -> TrainSettings:
        """The settings a run folder's metrics.json records (its results are left aside)."""
        recorded = json.loads(Path(path).read_text())
        return cls.from_dict({f.name: recorded[f.name] for f in dataclasses.fields(cls)
                              if f.name in recorded})  # fmt: skip

    def as_dict(self) -> dict:
        """Every option by name, as metrics.json records it (the schedule as its dict)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["schedule"] = self.schedule.as_dict()
        return out

    def replace(self, **changes) -> TrainSettings:
        return dataclasses.replace(self, **changes)

    def chosen(self, choice: dict, scale: dict | None = None) -> TrainSettings:
        """These settings with the options a choice names (a grid point's lam, eta and n_batch;
        an eta), each times ``scale``'s factor for it where given; other keys are ignored."""
        names = {f.name for f in dataclasses.fields(self)}
        scale = scale or {}
        return self.replace(**{k: v * scale[k] if k in scale else v for k, v in choice.items()
                               if k in names})  # fmt: skip

    def check_images(self, n: int, what: str = "the training set") -> None:
        """Refuse options that need more training images than ``n`` (the set trained on)."""
        for name in ("n_batch", "eval_train_subset"):
            if getattr(self, name) > n:
                raise SettingsError(
                    f"{name} = {getattr(self, name)} must be at most the {n} images of {what}"
                )


PER_RUN = tuple(f.name for f in dataclasses.fields(TrainSettings) if f.metadata["per_run"])
CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(TrainSettings) if not f.metadata["per_run"])


def defaults() -> dict:
    """The default of every option that has one, as config writes it."""
    out = {}
    for f in dataclasses.fields(TrainSettings):
        if f.default is not MISSING:
            out[f.name] = f.default.as_dict() if isinstance(f.default, Schedule) else f.default
    return out


def _typed(name: str, value, kind):
    """``value`` as the option's type: int options take whole numbers, float options any
    finite number, bool and str options only their own type; a schedule its dict."""
    if kind is Schedule:
        try:
            return Schedule.from_dict(value)
        except TypeError as err:  # an unknown schedule key reaches Schedule(**d)
            raise SettingsError(f"schedule: {err}") from None
    ok = False
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    elif kind is str:
        ok = isinstance(value, str)
    if not ok:
        raise SettingsError(f"{name} must be a {kind.__name__}, got {value!r}")
    return value


def _check_bounds(name: str, value, meta) -> None:
    if meta["choices"] is not None and value not in meta["choices"]:
        raise SettingsError(f"{name} must be one of {tuple(meta['choices'])}, got {value!r}")
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise SettingsError(f"{name} = {value} must be at least {meta['minimum']}")
    if meta["maximum"] is not None and value > meta["maximum"]:
        raise SettingsError(f"{name} = {value} must be at most {meta['maximum']}")
    if meta["above"] is not None and not value > meta["above"]:
        raise SettingsError(f"{name} = {value} must be greater than {meta['above']}")
