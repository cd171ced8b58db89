"""The workflow's configuration, from config.yaml (merged with --configfile and --config) to
the settings of every run it asks for.

``coerce`` takes values per the schema's types: ``--config 'train={n_epochs: 20}'`` and YAML 1.1
(which reads ``1e-3`` as a string) give strings where numbers and booleans are meant.
``Plan`` builds the ``TrainSettings`` of each run of the workflow (the report's runs, the grid's
points, the ablation's rows, the loss comparison's runs) from the config's sections; the
workflow asks for them as the jobs' params, which Snakemake evaluates when it builds the DAG,
so that a bad value, or a combination that cannot train (``average_last`` beyond ``n_epochs``,
``eval_train_subset`` beyond the images of its data set), stops the workflow before its first
job, naming the key.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from onelayer.cifar10 import IMAGES_PER_BATCH, TRAIN_BATCHES
from onelayer.errors import PipelineError, SettingsError
from onelayer.improve import ablation_options, parse_point
from onelayer.naming import run_name
from onelayer.schedule import own_keys
from onelayer.settings import RENAMED, TrainSettings

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_INTEGER = re.compile(r"[-+]?\d+")


class ConfigError(PipelineError, ValueError):
    """A config value, or a combination of them, that no run could train with."""


def load_schema(path) -> dict:
    return yaml.safe_load(Path(path).read_text())


# --- strings to the types the schema asks for ----------------------------------------------------


def _pointer(root: dict, ref: str) -> dict:
    node = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _resolved(schema: dict, root: dict) -> dict:
    """``schema`` with its $ref followed, the properties of both merged (as ablation_step
    extends train_keys)."""
    if not isinstance(schema, dict) or "$ref" not in schema:
        return schema
    target = _resolved(_pointer(root, schema["$ref"]), root)
    merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    merged["properties"] = {**target.get("properties", {}), **schema.get("properties", {})}
    return merged


def _scalar(text: str, kind):
    kinds = kind if isinstance(kind, list) else [kind]
    word = text.strip()
    if "boolean" in kinds and word.lower() in ("true", "false"):
        return word.lower() == "true"
    if ("integer" in kinds or "number" in kinds) and _NUMBER.fullmatch(word):
        return int(word) if _INTEGER.fullmatch(word) else float(word)
    return text


def coerce(value, schema: dict, root: dict | None = None):
    """``value`` with every string that the schema types as a number, integer or boolean taken
    as the one it spells (in place for mappings and lists); anything else is left for the
    schema's validation to judge."""
    root = root if root is not None else schema
    schema = _resolved(schema, root)
    if not isinstance(schema, dict):
        return value
    if isinstance(value, str):
        return _scalar(value, schema.get("type"))
    if isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for key in list(value):
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                value[key] = coerce(value[key], sub, root)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value[:] = [coerce(v, schema["items"], root) for v in value]
    return value


def renamed(config: dict) -> list[str]:
    """Keys and values this project renamed, as an old config still writes them, each with
    its new name."""
    found = []
    experiments = config.get("experiments") if isinstance(config.get("experiments"), dict) else {}
    ablation = experiments.get("ablation") if isinstance(experiments.get("ablation"), dict) else {}
    steps = ablation.get("steps") if isinstance(ablation.get("steps"), dict) else {}
    sections = {"train": config.get("train"), "experiments.train": experiments.get("train"),
                "experiments.ablation.base": ablation.get("base"),
                **{f"experiments.ablation.steps.{k}": v for k, v in steps.items()}}  # fmt: skip
    for where, section in sections.items():
        if not isinstance(section, dict):
            continue
        for old, new in RENAMED.items():
            if old in section:
                found.append(f"{where}.{old} is now {where}.{new}")
        if section.get("data") == "report":
            found.append(f"{where}.data: report is now {where}.data: one_batch")
    losses = config.get("losses")
    if isinstance(losses, dict) and "report" in losses:
        found.append("losses.report is now losses.one_batch")
    return found


def normalise(config: dict) -> None:
    """After validation: a schedule merged key by key from two config files keeps only its
    kind's keys (see ``schedule.own_keys``)."""
    experiments = config["experiments"]
    sections = [config["train"], experiments["train"], experiments["ablation"]["base"],
                *experiments["ablation"]["steps"].values()]  # fmt: skip
    for section in sections:
        if "schedule" in section:
            section["schedule"] = own_keys(section["schedule"])


# --- the runs of a config ------------------------------------------------------------------------

ONE_BATCH, ALL_BATCHES = "one_batch", "all"


class Plan:
    """The settings of every run the (validated) config describes."""

    def __init__(self, config: dict):
        self.config = config
        self.train = {k: v for k, v in config["train"].items() if k != "threads"}
        self.experiments = config["experiments"]
        self.val_size = self.experiments["val_size"]

    def images(self, data: str, val_in_training: bool = False) -> tuple[int, str]:
        """(training images, what they are) of a data set, as the official archive holds them."""
        if data == ONE_BATCH:
            return IMAGES_PER_BATCH, "data_batch_1"
        n = IMAGES_PER_BATCH * len(TRAIN_BATCHES)
        if val_in_training:
            return n, "the five training batches"
        return n - self.val_size, f"the five training batches but experiments.val_size = {self.val_size}"

    def settings(self, where: str, data: str, *sections: dict, **run) -> TrainSettings:
        """The settings of the sections merged in order, then ``run``'s own values; a bad value
        or combination raises ConfigError naming ``where`` it comes from."""
        merged = {k: v for section in sections for k, v in section.items()}
        try:
            s = TrainSettings.from_dict({**merged, **run})
            s.check_images(*self.images(data, s.train_on_val))
        except SettingsError as err:
            raise ConfigError(f"config {where}: {err}") from None
        return s

    def report_run(self, lam: float, eta: float) -> TrainSettings:
        """A run of the report: the train section at (lam, eta), on data_batch_1."""
        return self.settings(f"train (run {run_name(lam, eta)})", ONE_BATCH, self.train,
                             lam=lam, eta=eta)  # fmt: skip

    def grid_point(self, lam: str, eta: str, nbatch: str) -> TrainSettings:
        """A grid point by its folder's wildcards: experiments.train over train, on all
        batches but the validation images."""
        point = parse_point(lam, eta, nbatch)
        return self.settings(f"experiments.train over train (grid point lam~{lam}_eta~{eta}"
                             f"_nbatch~{nbatch})", ALL_BATCHES, self.train,
                             self.experiments["train"], **point)  # fmt: skip

    def retrain(self) -> TrainSettings:
        """The retrain of the chosen grid point, before the choice: the grid's first point's
        settings with the validation images in training (the chosen lam, eta and n_batch
        replace the point's when the job runs)."""
        first = self.experiments["grid"]
        point = dict(lam=first["lam"][0], eta=first["eta"][0], n_batch=first["n_batch"][0])
        return self.settings("experiments.train over train (the retrain of the chosen point)",
                             ALL_BATCHES, self.train, self.experiments["train"], **point,
                             train_on_val=True)  # fmt: skip

    def peer(self, name: str) -> TrainSettings:
        """A published recipe (config ``peers``): its training keys over the train section, on
        all five batches with the validation images added, as the retrain of our choice trains,
        so that both are tested on the same images after training on the same ones."""
        peers = self.config["peers"]
        if name not in peers:
            raise ConfigError(f"no published recipe {name!r} in config peers: {sorted(peers)}")
        return self.settings(f"peers.{name}.train over train", ALL_BATCHES, self.train,
                             peers[name]["train"], train_on_val=True)  # fmt: skip

    def ablation(self, step: str) -> tuple[str, TrainSettings]:
        """(data set, settings) of an ablation row: base and step over the train section."""
        data, options = ablation_options(self.experiments["ablation"], step)
        where = f"experiments.ablation ({'base' if step == 'base' else step + ' over base'})"
        return data, self.settings(where, data, self.train, options)

    def loss_run(self, setting: str, loss: str, eta: float | None = None) -> TrainSettings:
        """A run of the loss comparison before its choice: on one batch at losses.one_batch
        (BCE: at ``eta``, a candidate), or in the improved setting at the grid's first point
        (the chosen point replaces it when the job runs)."""
        if setting == ONE_BATCH:
            one = self.config["losses"]["one_batch"]
            return self.settings(f"losses.one_batch over train ({loss})", ONE_BATCH, self.train,
                                 one, loss=loss, **({} if eta is None else {"eta": eta}))  # fmt: skip
        first = self.experiments["grid"]
        point = dict(lam=first["lam"][0], eta=first["eta"][0], n_batch=first["n_batch"][0])
        return self.settings(f"experiments.train over train (improved setting, {loss})",
                             ALL_BATCHES, self.train, self.experiments["train"], **point,
                             loss=loss)  # fmt: skip
