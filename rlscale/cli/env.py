"""``rlscale env-report``: record package versions, devices and which simulators load."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "env-report",
        help="write package versions, torch devices and simulator availability as JSON",
        description="Write package versions, torch devices and which simulators load, as JSON.",
    )
    p.add_argument("-o", "--output", help="JSON file to write (default: print to stdout)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from rlscale import io
    from rlscale.envreport import environment_report

    report = environment_report()
    if args.output:
        io.write_json(args.output, report)
    else:
        print(json.dumps(report, indent=2))
    return 0
