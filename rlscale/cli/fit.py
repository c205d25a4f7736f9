"""``rlscale fit ...``: fit the paper's laws to a run table and write them as JSON/CSV.

Each law is one subcommand added by its own ``_register_<name>(sub)`` function listed in
``_SUBCOMMANDS``; parsers only, heavy imports stay inside the handlers.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

# the keys of rlscale.laws.hparams.ESTIMATORS, listed here so `--help` needs no heavy import (a test checks)
ESTIMATOR_NAMES = ("bootstrap", "bootstrap_joint", "point", "mean_other", "quadratic", "bootstrap_quadratic")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit",
        help="fit scaling laws (hyperparameters, data efficiency, frontier) to a run table",
        description="Fit the laws of 'Value-Based Deep RL Scales Predictably' to a run table.",
    )
    sub = p.add_subparsers(dest="fit_command", metavar="LAW", required=True)
    for add in _SUBCOMMANDS:
        add(sub)


def _register_hparams(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hparams",
        help="best batch size and learning rate per utd, their power laws B*(σ), η*(σ) and proposals",
        description="Threshold crossings with a seed bootstrap, uncertainty-corrected best (B, η) per "
        "(env, utd) at the highest threshold, power laws in utd (shared and separate slopes), proposed "
        "hyperparameters and the constant baseline. Writes DIR/hparams.json and DIR/proposed_hparams.csv.",
    )
    p.add_argument("runs", metavar="RUNS", help="run table (.parquet or .csv, schema in rlscale.runs)")
    p.add_argument("-o", "--output-dir", required=True, metavar="DIR", help="directory to write into")
    p.add_argument("--thresholds", type=float, nargs="+", default=[800.0], metavar="J",
                   help="return thresholds on the 0-1000 scale; the highest one picks the hyperparameters "
                   "(default: 800)")
    p.add_argument("--utds-to-predict", type=float, nargs="+", metavar="UTD",
                   help="utds to propose hyperparameters for (default: the utds in the table)")
    p.add_argument("--max-return", action="append", default=[], metavar="ENV=R",
                   help="max return of a Gym env for the 0-1000 scale (repeatable; overrides the paper's presets)")
    p.add_argument("--min-return", action="append", default=[], metavar="ENV=R",
                   help="return that maps to score 0 (repeatable; default 0; for returns that are costs, "
                   "e.g. Pendulum-v1=-1500 with --max-return Pendulum-v1=0)")
    p.add_argument("--reset-every-updates", type=float, metavar="N",
                   help="drop the post-reset dips of agents that reset every N gradient updates (BRO: 2.5e6)")
    p.add_argument("--n-bootstrap", type=int, default=100, help="bootstrap resamples of the seeds (default: 100)")
    p.add_argument("--estimator", default="bootstrap",
                   choices=ESTIMATOR_NAMES,
                   help="best-hyperparameter estimator (default: bootstrap, the paper's METHOD 2.3; quadratic "
                   "and bootstrap_quadratic locate the optimum between grid points; see "
                   "rlscale.laws.hparams.ESTIMATOR_HELP)")
    p.add_argument("--variant", choices=["shared", "separate"], default="shared",
                   help="law used for the proposals: one slope per benchmark (default) or per env")
    p.add_argument("--baseline-utd", type=float, default=2.0,
                   help="utd whose grid-best (B, η) is the constant baseline (default: 2, or the nearest)")
    p.add_argument("--validate-range", type=float, nargs=2, metavar=("LO", "HI"),
                   help="also fit on utds in [LO, HI] only and report the relative errors of the held-out utds "
                   "(METHOD 2.4: 1 8 for Gym), under the key 'extrapolation'")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    p.set_defaults(handler=_run_hparams)


def _register_frontier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "frontier",
        help="data efficiency D_J(σ), the data-compute Pareto frontier and the budget-optimal utd σ*(F)",
        description="Threshold crossings (one configuration per (env, utd): the one reaching the highest "
        "threshold earliest), env-normalised data-efficiency laws D_J(σ) = D_min + (β/σ)^α per threshold "
        "(and per env), compute C = 10·N·B(σ)·σ·D, the budget F = C + δ·D minimised over σ, power laws of "
        "σ*, D*, C* in F fitted without the top thresholds, and their extrapolation errors. Writes "
        "DIR/frontier.json and DIR/frontier_curves.csv.",
    )
    p.add_argument("runs", metavar="RUNS", help="run table (.parquet or .csv, schema in rlscale.runs)")
    p.add_argument("-o", "--output-dir", required=True, metavar="DIR", help="directory to write into")
    p.add_argument("--delta", type=float, required=True, metavar="D",
                   help="FLOPs per env step in the budget F = C + δ·D (paper: 4e9 Gym, 1e10 DMC)")
    p.add_argument("--thresholds", type=float, nargs="+", metavar="J",
                   help="return thresholds on the 0-1000 scale (default: 10 from --j-lo to 800, dense near 800)")
    p.add_argument("--j-lo", type=float, metavar="J",
                   help="lowest default threshold (default: 300 for gym, 200 for dmc, else 300)")
    p.add_argument("--holdout", type=int, default=2, metavar="K",
                   help="top thresholds left out of the laws in F and predicted (default: 2)")
    p.add_argument("--hparams", metavar="PATH",
                   help="hparams.json of 'rlscale fit hparams': B(σ) for compute is the mean over envs of its "
                   "batch-size laws (default: a power law fitted to the batch sizes of the selected runs)")
    p.add_argument("--hparams-variant", choices=["shared", "separate"], default="shared",
                   help="which batch-size laws of --hparams to use (default: shared)")
    p.add_argument("--max-return", action="append", default=[], metavar="ENV=R",
                   help="max return of a Gym env for the 0-1000 scale (repeatable; overrides the paper's presets)")
    p.add_argument("--min-return", action="append", default=[], metavar="ENV=R",
                   help="return that maps to score 0 (repeatable; default 0; for returns that are costs, "
                   "e.g. Pendulum-v1=-1500 with --max-return Pendulum-v1=0)")
    p.add_argument("--reset-every-updates", type=float, metavar="N",
                   help="drop the post-reset dips of agents that reset every N gradient updates (BRO: 2.5e6)")
    p.add_argument("--n-bootstrap", type=int, default=100,
                   help="bootstrap resamples of the seeds for the CIs of D_min, β, α (default: 100; 0: CIs from "
                   "the Jacobian of the fit, one seed is then enough)")
    p.add_argument("--utd-range", type=float, nargs=2, metavar=("LO", "HI"),
                   help="σ range of the frontier curves and of the σ* search (default: the table's utds, "
                   "widened 2x each side)")
    p.add_argument("--validate-utd-range", type=float, nargs=2, metavar=("LO", "HI"),
                   help="also fit D_J on utds in [LO, HI] only and report the relative errors at the other utds")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    p.set_defaults(handler=_run_frontier)


_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_register_hparams, _register_frontier)


def _parse_return_range(args: argparse.Namespace) -> dict[str, dict[str, float] | None]:
    """``--max-return``/``--min-return`` as keyword arguments of ``load_runs``; a max return may be 0 or
    negative when a min return below it is given (the normaliser checks the pair)."""
    from rlscale.laws.normalize import parse_max_return, parse_min_return

    return {"max_return": parse_max_return(args.max_return, positive=not args.min_return) or None,
            "min_return": parse_min_return(args.min_return) or None}


def _check_output_dir(path: str) -> Path:
    from rlscale.errors import RlscaleError

    out_dir = Path(path)
    if out_dir.exists() and not out_dir.is_dir():
        raise RlscaleError(f"--output-dir {out_dir} exists and is not a directory")
    return out_dir


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Our own warnings only (e.g. an (env, utd) where no cell reaches J), one line each."""
    from rlscale.errors import RlscaleWarning

    for w in caught:
        if issubclass(w.category, RlscaleWarning):
            print(f"rlscale: warning: {w.message}", file=sys.stderr)


def _run_hparams(args: argparse.Namespace) -> int:
    from rlscale import io
    from rlscale.analysis import finite_or_null, fit_hparams, load_runs

    return_range = _parse_return_range(args)
    out_dir = _check_output_dir(args.output_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = load_runs(args.runs, **return_range, reset_every_updates=args.reset_every_updates)
        fit = fit_hparams(runs, args.thresholds, estimator=args.estimator, variant=args.variant,
                          baseline_utd=args.baseline_utd, n_bootstrap=args.n_bootstrap, seed=args.seed,
                          utds_to_predict=args.utds_to_predict, validate_range=args.validate_range)
    _print_warnings(caught)
    io.write_json(out_dir / "hparams.json", finite_or_null(fit.to_dict()))
    io.write_table(out_dir / "proposed_hparams.csv", fit.proposed)
    print(f"wrote {out_dir / 'hparams.json'} and {out_dir / 'proposed_hparams.csv'} "
          f"({len(fit.best.best_)} (env, utd) points, {len(fit.proposed)} proposals)")
    return 0


def _run_frontier(args: argparse.Namespace) -> int:
    from rlscale import io
    from rlscale.analysis import check_frontier_args, finite_or_null, fit_frontier, load_runs
    from rlscale.errors import RlscaleError
    from rlscale.laws.frontier import BatchSizeLaw

    return_range = _parse_return_range(args)
    check_frontier_args(args.delta, args.n_bootstrap, args.holdout, args.utd_range, args.validate_utd_range)
    if args.hparams is not None and not Path(args.hparams).is_file():
        raise RlscaleError(f"--hparams {args.hparams}: no such file")
    out_dir = _check_output_dir(args.output_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = load_runs(args.runs, **return_range, reset_every_updates=args.reset_every_updates,
                         min_seeds=2 if args.n_bootstrap > 0 else 1, one_benchmark=True)
        batch = None
        if args.hparams is not None:
            batch = BatchSizeLaw.from_hparams(args.hparams, envs=sorted(runs["env"].astype(str).unique()),
                                              variant=args.hparams_variant)
        fit = fit_frontier(runs, args.delta, thresholds=args.thresholds, j_lo=args.j_lo, holdout=args.holdout,
                           batch_size=batch, n_bootstrap=args.n_bootstrap, utd_range=args.utd_range,
                           validate_utd_range=args.validate_utd_range, seed=args.seed)
    _print_warnings(caught)
    for line in fit.problems():
        print(f"rlscale: warning: {line}", file=sys.stderr)
    curves = fit.frontier.curves_.loc[:, ["threshold", "utd", "data", "compute", "budget"]]
    io.write_json(out_dir / "frontier.json", finite_or_null(fit.to_dict()))
    io.write_table(out_dir / "frontier_curves.csv", curves)
    print(f"wrote {out_dir / 'frontier.json'} and {out_dir / 'frontier_curves.csv'} "
          f"({len(fit.frontier.optimum_)} thresholds, {len(fit.configs)} (env, utd) points)")
    return 0
