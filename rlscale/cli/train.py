"""``rlscale train``: one run (train, evaluate, checkpoint; re-running the same command resumes).

Its flags are generated from :class:`~rlscale.train.config.RunConfig` (the run's settings) and
:class:`~rlscale.train.config.Runtime` (how it executes): one flag per field, with the field's help
and default.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from rlscale.train.config import RunConfig, Runtime, help_line, value_type


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train one run (SAC/BRO on gym:/dmc: tasks, PQL on N parallel envs); re-running the same command "
        "resumes it",
        description="Train one run into OUTPUT (config.json, status.json, curve.parquet, checkpoint.pt). "
        "Re-running the same command resumes from the last checkpoint; a finished run is a no-op. OUTPUT holds "
        "this run only: a sweep's output folder, or one holding other run folders, is refused.",
    )
    add_arguments(p, RunConfig)
    add_arguments(p, Runtime)
    p.add_argument("-o", "--output", required=True, help="run folder")
    p.set_defaults(handler=_run)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per field of the dataclass ``cls`` (a :class:`RunConfig` or :class:`Runtime`)."""
    for field in dataclasses.fields(cls):
        typ, _ = value_type(field.name, cls)
        if typ is bool:
            parser.add_argument(_flag(field.name), action="store_true", help=help_line(field.name, cls))
            continue
        required = field.default is dataclasses.MISSING
        parser.add_argument(_flag(field.name), type=typ, required=required, default=None if required else field.default,
                            metavar=field.name.upper(), help=help_line(field.name, cls))


def config_flags(config: RunConfig) -> list[str]:
    """The ``rlscale train`` flags that reproduce ``config`` (required ones and those off their default)."""
    flags = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.default is not dataclasses.MISSING and value == field.default:
            continue
        if isinstance(value, bool):
            flags.append(_flag(field.name))
        elif value is not None:
            flags += [_flag(field.name), repr(value) if isinstance(value, float) else str(value)]
    return flags


def _fields(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}


def _run(args: argparse.Namespace) -> int:
    from rlscale.train.worker import Job, run_and_report

    job = Job(((RunConfig(**_fields(args, RunConfig)), args.output),), Runtime(**_fields(args, Runtime)))
    return run_and_report(job)
