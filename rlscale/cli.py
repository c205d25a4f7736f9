"""The ``rlscale`` command line.

Each command group lives beside the code it drives and adds itself with ``register(subparsers)``;
registration only builds parsers (no heavy imports), so ``rlscale --help`` is fast. Every handler
returns an exit code; errors the user can fix (:class:`~rlscale.errors.RlscaleError`) become one
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rlscale import __version__
from rlscale.errors import RlscaleError

# Modules that define ``register(subparsers)``; each adds the commands it implements.
COMMAND_MODULES: tuple[str, ...] = ("rlscale.cli_env",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlscale",
        description="Train value-based RL grids, fit the scaling laws of 'Value-Based Deep RL Scales "
        "Predictably', and reproduce its figures.",
    )
    parser.add_argument("--version", action="version", version=f"rlscale {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except RlscaleError as exc:
        print(f"rlscale: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"rlscale: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlscale: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
