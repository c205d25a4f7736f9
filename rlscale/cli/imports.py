"""``rlscale import ...``: turn other people's learning curves into a run table (:mod:`rlscale.importers`).

Every subcommand writes one validated run table (``-o RUNS.parquet`` or ``.csv``) atomically; on bad
input it prints one ``rlscale: error: ...`` line and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import",
        help="import curves (authors' zip, CSV, Weights & Biases) as a run table",
        description="Convert learning curves from other tools into a run table (schema in rlscale.runs).",
    )
    sub = p.add_subparsers(dest="import_command", metavar="SOURCE", required=True)
    for add in (_register_qscaled, _register_csv, _register_wandb, _register_wandb_csv, _register_isaac,
                _register_authors):
        add(sub)


def _common(p: argparse.ArgumentParser, source_help: str, many: bool = False) -> None:
    p.add_argument("source", metavar="SOURCE", nargs="+" if many else None, help=source_help)
    p.add_argument("-o", "--output", required=True, metavar="RUNS",
                   help="run table to write (.parquet or .csv)")
    p.add_argument("--benchmark", help="benchmark of every run (default: inferred from the env id: "
                   "HalfCheetah-v4 -> gym, a dm_control suite task such as walker-walk -> dmc; other ids need it)")
    p.add_argument("--algo", help="agent of every run (default by benchmark: gym -> sac, dmc -> bro)")
    p.add_argument("--critic-params", type=float, metavar="N",
                   help="critic parameter count N (default by benchmark: gym 1.5e5, dmc 4.92e6)")


def _set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="constants",
                   help="give a run-table column one value for every row, e.g. --set env=Hopper-v4 --set utd=2 "
                   "(repeatable)")


def _register_qscaled(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "qscaled",
        help="the authors' published zip or its unpacked folder (<name>/utd_<σ>/<env>/<metric>/bs_<B>_lr_<η>.npy)",
        description="Read the zip format of the paper's analysis code (qscaled), or the folder of .npy files "
        "it unpacks to, without extracting anything: <name>/utd_<σ>/<env>/<metric>/bs_<B>_lr_<η>.npy or "
        "<name>/<ALGO>_<B>_<σ>_<η>/<env>.npy. Each .npy holds the env step in column 0 and one column per "
        "seed (or only seeds, with --env-step-start/-freq).",
    )
    _common(p, "the zip file, or a folder of .npy files in the same layout")
    p.add_argument("--returns-key", metavar="KEY",
                   help="metric folder to read, e.g. episode.return (optional when the zip holds one metric)")
    p.add_argument("--collection", metavar="NAME", help="top folder to read when the zip holds several")
    p.add_argument("--metric", metavar="NAME",
                   help="what the curves are, for the metric column: eval_return, train_return, failure_rate, "
                   "... (default: train_return for episode.return, else the metric folder's name)")
    p.add_argument("--env-step-start", type=int, metavar="S",
                   help="with --env-step-freq: arrays hold returns only, logged at S, S+F, S+2F, ...")
    p.add_argument("--env-step-freq", type=int, metavar="F", help="see --env-step-start")
    p.set_defaults(handler=_run_qscaled)


def _register_csv(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "csv",
        help="a CSV of curves, long (one row per point) or wide (one column per seed)",
        description="Read a CSV of learning curves, or one file per run (several files or folders, read as one "
        "table). Columns named as in the run-table schema are used as they are; map others with --column, set "
        "constants with --set, read a file's own values from its name with --name-pattern. --wide: one return "
        "column per seed, found by --seed-columns.",
    )
    _common(p, "the CSV file, or several, or folders of them (every .csv below, in name order): one table", many=True)
    p.add_argument("--column", action="append", default=[], metavar="FIELD=COLUMN", dest="columns",
                   help="read run-table column FIELD from the CSV's COLUMN, e.g. --column return=episode_reward "
                   "(repeatable)")
    _set_option(p)
    p.add_argument("--wide", action="store_true", help="one return column per seed instead of a 'return' column")
    p.add_argument("--seed-columns", metavar="REGEX",
                   help="with --wide: regex matching a seed column's whole name, with a (?P<seed>...) group "
                   "(default: 3, seed3, seed_3 or seed-3)")
    p.add_argument("--metric", metavar="NAME",
                   help="what the return is, for the metric column: eval_return (evaluation episodes; the default "
                   "when the CSV has no metric column, said in a warning), train_return (training episodes, as the "
                   "authors' Gym runs), failure_rate (lower is better), or a name of your own (higher is better)")
    p.add_argument("--name-pattern", metavar="REGEX",
                   help="regex matching each file's whole name (its path below the folder given, or its name, "
                   "without .csv) whose named groups set run-table columns for that file's rows, e.g. "
                   "'hc_utd(?P<utd>[\\d.]+)_bs(?P<batch_size>\\d+)_s(?P<seed>\\d+)'; a file it does not match is an "
                   "error")
    p.add_argument("--keep-last", action="store_true",
                   help="rows repeating a run's env step (a logger resumed from a checkpoint) keep the last one, "
                   "counted in a warning (default: refused, naming the rows)")
    p.set_defaults(handler=_run_csv)


def _register_wandb(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "wandb",
        help="Weights & Biases runs through its API (pip install wandb)",
        description="Fetch runs with wandb.Api().runs(ENTITY/PROJECT): each run's config gives the "
        "configuration, its history the curve.",
    )
    _common(p, "ENTITY/PROJECT")
    p.add_argument("--return-key", required=True, metavar="KEY", help="history key of the evaluation return")
    p.add_argument("--step-key", default="_step", metavar="KEY",
                   help="history key of the env step (default: _step, W&B's log counter; name your env-step key)")
    p.add_argument("--config", action="append", default=[], metavar="FIELD=KEY", dest="config_keys",
                   help="config key of a run-table column, dotted for nested configs, e.g. --config utd=agent.utd "
                   "(repeatable; defaults: env/env_name, utd, batch_size, learning_rate/lr, seed)")
    _set_option(p)
    p.add_argument("--filters", metavar="JSON", help="W&B run filter, e.g. '{\"tags\": \"utd-sweep\"}'")
    p.add_argument("--samples", type=int, default=10_000,
                   help="max points fetched per run (W&B subsamples longer histories; default: 10000)")
    p.set_defaults(handler=_run_wandb)


def _register_wandb_csv(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "wandb-csv",
        help="a W&B panel's 'Download CSV' (Step, '<run> - <metric>' columns)",
        description="Read the CSV export of a W&B line plot. Run names become configurations through "
        "--name-pattern (a regex with named groups such as (?P<utd>...)) or --run-configs (a CSV with a "
        "run_name column). Without a seed, runs of one configuration are numbered 0, 1, ...",
    )
    _common(p, "the exported CSV file")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--name-pattern", metavar="REGEX",
                       help="regex matching a whole run name; its named groups are run-table columns")
    group.add_argument("--run-configs", metavar="CSV", help="CSV with a run_name column and run-table columns")
    p.add_argument("--metric", help="metric to read when the export holds several")
    p.add_argument("--step-column", default="Step", help="column of the env step (default: Step)")
    p.add_argument("--group-size", type=int, metavar="N",
                   help="runs per group when the panel grouped runs: a group's mean curve enters as one seed "
                   "with seeds_in_mean N (default: unknown)")
    _set_option(p)
    p.set_defaults(handler=_run_wandb_csv)


def _register_isaac(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "isaac",
        help="the authors' Isaac Gym W&B exports (igpush_*.csv: failure rate, σ = 8/n)",
        description="Read one of the paper authors' Isaac Gym exports: runs named hlg_<k>cubes_b<n>_mb<B>_lr<η> "
        "(n parallel envs, minibatch B), curve episodic_stats/failure_2_last (a failure rate: lower is better), "
        "x-axis global_step. σ = 8/n. Group means (igpush_best.csv) enter as one seed each.",
    )
    p.add_argument("source", metavar="SOURCE", help="the exported CSV file")
    p.add_argument("-o", "--output", required=True, metavar="RUNS", help="run table to write (.parquet or .csv)")
    p.add_argument("--group-size", type=int, default=5, metavar="N",
                   help="runs behind each group mean (default: 5, the authors' seeds per configuration)")
    p.add_argument("--updates-per-step", type=float, default=8, metavar="K",
                   help="gradient steps per vectorised env step, σ = K/n (default: 8)")
    p.add_argument("--critic-params", type=float, default=1, metavar="N",
                   help="critic parameter count (not published; default 1: the paper counts Isaac Gym compute "
                   "in gradient steps)")
    p.set_defaults(handler=_run_isaac)


def _register_authors(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "authors",
        help="one of the paper authors' published files, fetched (or found locally) and imported",
        description="Fetch one of the authors' published files and import it: from RLSCALE_AUTHORS_DATA=DIR "
        "(a local copy: DIR/gym/<name>.zip, DIR/dmc/<name>.zip, DIR/isaac/<name>.csv) if set, else from the "
        "cache (RLSCALE_CACHE_DIR, default ~/.cache/rlscale), else downloaded from the authors' URL (or "
        "RLSCALE_AUTHORS_MIRROR) with its sha256 checked where one is recorded. --list shows the files.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="file name, e.g. gym_sweep, gym_ours, igpush_best")
    p.add_argument("-o", "--output", metavar="RUNS", help="run table to write (.parquet or .csv)")
    p.add_argument("--list", action="store_true", help="list the published files and where each one is now")
    p.add_argument("--quiet", action="store_true", help="no download progress bar")
    p.add_argument("--returns-key", metavar="KEY", help="zips: metric folder, overriding the recorded one")
    p.add_argument("--env-step-start", type=int, metavar="S",
                   help="zips: with --env-step-freq, the arrays hold returns only, logged at S, S+F, ... "
                   "(overrides the recorded step grid)")
    p.add_argument("--env-step-freq", type=int, metavar="F", help="see --env-step-start")
    p.set_defaults(handler=_run_authors)


def _write(args: argparse.Namespace, read: Callable[[], Any], what: str | None = None) -> int:
    """Check the output path, import with one-line warnings, write the table atomically. ``what``: log
    progress lines on stderr while reading (off a terminal; the reader cannot count its progress)."""
    from rlscale.cli._flags import in_cli_terms
    from rlscale.errors import RlscaleError, RlscaleWarning
    from rlscale.io import table_suffix
    from rlscale.runs import write_run_table
    from rlscale.train.progress import heartbeat

    out = Path(args.output)
    table_suffix(out)  # a name that says neither Parquet nor CSV is refused before anything is read
    if out.is_dir():
        raise RlscaleError(f"--output {out} is a directory")
    with heartbeat(what or "", disable=what is None):  # reading, validating and writing: each long on GBs
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = read()
        for w in caught:
            if issubclass(w.category, RlscaleWarning):
                print(f"rlscale: warning: {in_cli_terms(w.message, args.flags)}", file=sys.stderr)
        table = write_run_table(table, out)
    n_runs = table.groupby(["benchmark", "env", "algo", "utd", "batch_size", "learning_rate", "seed"]).ngroups
    print(f"wrote {out} ({len(table)} points, {n_runs} runs, {table['env'].nunique()} envs)")
    return 0


def _defaults(args: argparse.Namespace) -> dict[str, Any]:
    return {"benchmark": args.benchmark, "algo": args.algo, "critic_params": args.critic_params}


def _run_qscaled(args: argparse.Namespace) -> int:
    from rlscale.importers import import_qscaled

    return _write(args, lambda: import_qscaled(
        args.source, args.returns_key, collection=args.collection, metric=args.metric,
        env_step_start=args.env_step_start, env_step_freq=args.env_step_freq, **_defaults(args)))


def _run_isaac(args: argparse.Namespace) -> int:
    from rlscale.importers import import_isaac_wandb

    return _write(args, lambda: import_isaac_wandb(
        args.source, group_size=args.group_size, updates_per_step=args.updates_per_step,
        critic_params=args.critic_params))


def _run_authors(args: argparse.Namespace) -> int:
    from rlscale.authors import AUTHORS_FILES, import_authors, locate
    from rlscale.errors import RlscaleError

    if args.list:
        for entry in AUTHORS_FILES.values():
            print(f"{entry.name:20s} {entry.what}\n{'':20s} {entry.url}\n{'':20s} now: {locate(entry.name)}")
        return 0
    if args.name is None or args.output is None:
        raise RlscaleError("import authors: give NAME and -o RUNS (or --list)")
    given = {"returns_key": args.returns_key, "env_step_start": args.env_step_start,
             "env_step_freq": args.env_step_freq}
    options = {k: v for k, v in given.items() if v is not None}
    if options and AUTHORS_FILES.get(args.name) is not None and AUTHORS_FILES[args.name].benchmark == "isaac":
        raise RlscaleError(f"import authors: {', '.join(options)} apply to the zips, not to {args.name}")
    return _write(args, lambda: import_authors(args.name, progress=not args.quiet, **options))


def _run_csv(args: argparse.Namespace) -> int:
    from rlscale.errors import RlscaleError
    from rlscale.importers import DEFAULT_SEED_COLUMNS, import_csv, parse_pairs

    if args.seed_columns is not None and not args.wide:
        raise RlscaleError("--seed-columns needs --wide")
    columns = parse_pairs(args.columns, "--column")
    constants = parse_pairs(args.constants, "--set")
    return _write(args, lambda: import_csv(
        args.source, columns=columns, constants=constants, wide=args.wide, metric=args.metric,
        seed_columns=args.seed_columns or DEFAULT_SEED_COLUMNS, name_pattern=args.name_pattern,
        keep_last=args.keep_last, **_defaults(args)),
        what=_reading(args.source))


def _reading(sources: list[str]) -> str:
    """``import csv SOURCE (SIZE)`` for progress lines."""
    try:
        size = f" ({Path(sources[0]).stat().st_size / 1e6:.0f} MB)" if len(sources) == 1 else ""
    except OSError:
        size = ""
    return f"import csv {' '.join(sources)}{size}"


def _run_wandb(args: argparse.Namespace) -> int:
    from rlscale.errors import RlscaleError
    from rlscale.importers import import_wandb, parse_pairs, read_filters

    if args.samples < 1:
        raise RlscaleError(f"--samples must be >= 1, got {args.samples}")
    config_keys = parse_pairs(args.config_keys, "--config")
    constants = parse_pairs(args.constants, "--set")
    filters = read_filters(args.filters)
    return _write(args, lambda: import_wandb(
        args.source, args.return_key, step_key=args.step_key, config_keys=config_keys, constants=constants,
        filters=filters, samples=args.samples, **_defaults(args)))


def _run_wandb_csv(args: argparse.Namespace) -> int:
    from rlscale.errors import RlscaleError
    from rlscale.importers import import_wandb_csv, parse_pairs

    constants = parse_pairs(args.constants, "--set")
    run_configs = None
    if args.run_configs is not None:
        import pandas as pd

        path = Path(args.run_configs)
        if not path.is_file():
            raise RlscaleError(f"--run-configs {path}: no such file")
        try:
            run_configs = pd.read_csv(path, dtype={"run_name": str})
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise RlscaleError(f"--run-configs {path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    return _write(args, lambda: import_wandb_csv(
        args.source, name_pattern=args.name_pattern, run_configs=run_configs, metric=args.metric,
        step_column=args.step_column, constants=constants, group_size=args.group_size, **_defaults(args)))
