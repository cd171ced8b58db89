"""``python -m onelayer <step> ...``: any step of the pipeline without Snakemake, e.g.

    python -m onelayer preprocess --train data/raw/cifar-10-batches-py/data_batch_1 \\
        --val data/raw/cifar-10-batches-py/data_batch_2 \\
        --test data/raw/cifar-10-batches-py/test_batch \\
        --meta data/raw/cifar-10-batches-py/batches.meta --out data/processed/cifar10.npz
    python -m onelayer gradcheck --data data/processed/cifar10.npz --settings config/config.yaml \\
        --csv /tmp/gradcheck.csv --md /tmp/gradcheck.md
    python -m onelayer train --data data/processed/cifar10.npz --out /tmp/run \\
        --settings results/lam0_eta0.1/metrics.json --threads 2

Each step is the function of ``onelayer.steps`` that the rule of the same name runs, so it
writes the same files. Its arguments come from that function's signature; a step that trains
takes ``--settings`` (a YAML/JSON file, a run's metrics.json, or inline YAML) and an option flag
for each training option (``--lam 0.1 --n-epochs 10``), which wins over the file. Progress goes
to stderr (and to ``--log FILE``); an error a user can act on exits 1 with its message.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import sys
import types
import typing
from pathlib import Path

import yaml

from onelayer import steps
from onelayer.settings import TrainSettings


def _mapping(text: str):
    """A YAML/JSON mapping or list: inline, or the contents of the file it names."""
    path = Path(text)
    return yaml.safe_load(path.read_text() if path.is_file() else text)


def _value(kind):
    """An argparse type for an annotation: numbers, paths, YAML for mappings and lists."""
    if kind in (int, float, str):
        return kind
    if kind is Path:
        return Path
    return _mapping


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() == "true"


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    """A flag per training option, typed from TrainSettings."""
    group = parser.add_argument_group("training options (over --settings)")
    types = typing.get_type_hints(TrainSettings)
    for f in dataclasses.fields(TrainSettings):
        kind = types[f.name]
        kind = _bool if kind is bool else kind if kind in (int, float, str) else _mapping
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f"option_{f.name}", type=kind,
                           help=f.metadata["doc"])  # fmt: skip


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m onelayer", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    top.add_argument("--log", type=Path, help="also write the progress to this file")
    sub = top.add_subparsers(dest="step", required=True, metavar="step")
    for name, fn in steps_by_name().items():
        p = sub.add_parser(name, help=(fn.__doc__ or "").split("\n")[0], description=fn.__doc__)
        hints = typing.get_type_hints(fn)
        for param in inspect.signature(fn).parameters.values():
            kind = hints[param.name]
            many = typing.get_origin(kind) is list
            base = typing.get_args(kind)[0] if many else kind
            if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None
                base = next(a for a in typing.get_args(kind) if a is not type(None))
            flag = f"--{param.name.replace('_', '-')}"
            required = param.default is inspect.Parameter.empty
            if base is TrainSettings:
                p.add_argument(flag, type=_mapping, default={},
                               help="a YAML/JSON file or inline YAML; a metrics.json reruns that run")
                _settings_flags(p)
                continue
            p.add_argument(flag, type=_value(base), nargs="+" if many else None,
                           required=required, default=None if required else param.default)  # fmt: skip
    return top


def steps_by_name() -> dict:
    return {name.replace("_", "-"): fn for name, fn in vars(steps).items()
            if inspect.isfunction(fn) and fn.__module__ == steps.__name__}  # fmt: skip


def arguments(fn, args: argparse.Namespace) -> dict:
    """The step's keyword arguments from the parsed command line."""
    hints = typing.get_type_hints(fn)
    out = {}
    for name in inspect.signature(fn).parameters:
        if hints[name] is TrainSettings:
            given = getattr(args, name) or {}
            if "lam" in given and "status" in given:  # a metrics.json: its settings only
                given = {k: v for k, v in given.items() if k in TrainSettings.__dataclass_fields__}
            options = {f.name: getattr(args, f"option_{f.name}")
                       for f in dataclasses.fields(TrainSettings)
                       if getattr(args, f"option_{f.name}") is not None}  # fmt: skip
            out[name] = TrainSettings.from_dict({**given, **options})
        else:
            out[name] = getattr(args, name)
    return out


def main(argv=None) -> None:
    from onelayer.logs import run_logged

    args = parser().parse_args(argv)
    fn = steps_by_name()[args.step]
    run_logged(args.log, lambda: fn(**arguments(fn, args)))


if __name__ == "__main__":
    sys.exit(main())
