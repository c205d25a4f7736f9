"""The ``rlscale`` command line.

Each command group is a module of this package (``rlscale/cli/<group>.py``) that adds itself with
``register(subparsers)``;
registration only builds parsers (no heavy imports), so ``rlscale --help`` is fast. Every handler
returns an exit code; errors the user can fix (:class:`~rlscale.errors.RlscaleError`) become one
line on stderr, never a traceback, naming flags where the library names parameters (:mod:`rlscale.cli._flags`;
handlers print library warnings the same way, through ``args.flags``). SIGTERM ends a command as Ctrl-C
does (exit code 130).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from collections.abc import Sequence

from rlscale import __version__
from rlscale.cli._flags import command_flags, in_cli_terms
from rlscale.errors import RlscaleError, os_error_line


def command_modules() -> list[str]:
    """Every module of this package; each defines ``register(subparsers)`` for its commands."""
    return sorted(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


class _Parser(argparse.ArgumentParser):
    """argparse before Python 3.14 takes a negative number in scientific notation (``--target-entropy -1e-1``) for
    an option ("expected one argument"): its pattern for negative numbers has no exponent. Subcommands' parsers
    are of the parent's class, so every rlscale parser reads them as values."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rlscale",
        description="Train value-based RL grids, fit the scaling laws of 'Value-Based Deep RL Scales "
        "Predictably', and reproduce its figures.",
    )
    parser.add_argument("--version", action="version", version=f"rlscale {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules():
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.flags = command_flags(parser, args)
    from rlscale.train.worker import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            return int(args.handler(args) or 0)
    except RlscaleError as exc:
        print(f"rlscale: error: {in_cli_terms(exc, args.flags)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only or full filesystem, a missing or unreadable path, ...
        print(f"rlscale: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        print(f"rlscale: error: out of memory ({str(exc).splitlines()[0][:200] if str(exc) else 'no details'}); "
              "lower the sizes asked for (batch size, buffer size, workers)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlscale: interrupted", file=sys.stderr)
        return 130

