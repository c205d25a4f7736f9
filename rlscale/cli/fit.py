"""``rlscale fit ...``: fit the paper's laws to run tables and write them as JSON/CSV.

``fit analysis`` runs the whole chain of one benchmark and saves it (what the pipeline, Figure 1 and
the notebooks read); ``fit hparams`` and ``fit frontier`` run one step each, through the same library
functions. Each subcommand is added by its own ``_register_<name>(sub)`` listed in ``_SUBCOMMANDS``;
parsers only, heavy imports stay inside the handlers. Every fit that is not a law (and why) is one
``rlscale: warning:`` line on stderr; a failed fit prints the warnings that explain it before the error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rlscale.errors import RlscaleError
from rlscale.methods import METHOD_OPTIONS, METHODS, method_options
from rlscale.options import DEFAULTS, FIT_FLAGS

# the keys of rlscale.laws.hparams.ESTIMATORS, listed here so `--help` needs no heavy import (a test checks)
ESTIMATOR_NAMES = ("bootstrap", "bootstrap_joint", "point", "mean_other", "quadratic", "bootstrap_quadratic")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit",
        help="fit scaling laws (hyperparameters, data efficiency, frontier) to run tables",
        description="Fit the laws of 'Value-Based Deep RL Scales Predictably' to run tables.",
    )
    sub = p.add_subparsers(dest="fit_command", metavar="LAW", required=True)
    for add in _SUBCOMMANDS:
        add(sub)


def _add_common(p: argparse.ArgumentParser, n_bootstrap_help: str) -> None:
    p.add_argument("-o", "--output-dir", required=True, metavar="DIR", help="directory to write into")
    p.add_argument("--max-return", action="append", default=[], metavar="ENV=R",
                   help="max return of a Gym env for the 0-1000 scale (repeatable; overrides the paper's presets)")
    p.add_argument("--min-return", action="append", default=[], metavar="ENV=R",
                   help="return that maps to score 0 (repeatable; default 0; for returns that are costs, "
                   "e.g. Pendulum-v1=-1500 with --max-return Pendulum-v1=0)")
    p.add_argument("--reset-every-updates", type=float, metavar="N",
                   help="drop the post-reset dips of agents that reset every N gradient updates (BRO: 2.5e6)")
    p.add_argument("--n-bootstrap", type=int, default=DEFAULTS.n_bootstrap, help=n_bootstrap_help)
    p.add_argument("--max-ci-decades", type=float, default=DEFAULTS.max_ci_decades, metavar="K",
                   help="a fit whose 95%% interval spans more than K decades is marked 'wide', not a law "
                   f"(default: {DEFAULTS.max_ci_decades:g})")
    p.add_argument("--return-kind", choices=["auto", "train", "eval"], default=DEFAULTS.return_kind,
                   help="the return the laws are fitted on: train (the training-episode return, the authors' Gym "
                   "metric; rlscale's train_return column), eval (deterministic evaluation episodes) or auto, the "
                   "table's own return column (rlscale's runs: eval; the authors' Gym tables: train) (default: "
                   f"{DEFAULTS.return_kind}; the one used is recorded in the output)")


def _add_method_options(p: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """``--method`` and one flag per choice of the method that this step makes (rlscale.methods.METHOD_OPTIONS)."""
    p.add_argument("--method", choices=METHODS, default=DEFAULTS.method,
                   help="bundle of analysis choices: rlscale's own (default) or paper, the authors' published "
                   "analysis code's; each flag below overrides one choice")
    for opt in METHOD_OPTIONS:
        if opt.name in names:
            p.add_argument(f"--{opt.name.replace('_', '-')}", type=int if opt.choices is None else str,
                           choices=opt.choices, metavar="N" if opt.choices is None else None,
                           help=f"{opt.help} (rlscale: {opt.rlscale}, paper: {opt.paper})")


def _given(args: argparse.Namespace) -> dict:
    """The method's choices given on the command line (the rest: the method's)."""
    return {o.name: getattr(args, o.name) for o in METHOD_OPTIONS if getattr(args, o.name, None) is not None}


def _add_hparam_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--utds-to-predict", type=float, nargs="+", metavar="UTD",
                   help="utds to propose hyperparameters for (default: the utds in the table)")
    p.add_argument("--estimator", default=DEFAULTS.estimator, choices=ESTIMATOR_NAMES,
                   help=f"best-hyperparameter estimator (default: {DEFAULTS.estimator}, the paper's; quadratic and "
                   "bootstrap_quadratic locate the optimum between grid points; point, mean_other and quadratic "
                   "read the all-seeds curves, so one seed per configuration is enough, the best (B, η) then "
                   "without intervals; see rlscale.laws.hparams.ESTIMATOR_HELP)")
    p.add_argument("--variant", choices=["shared", "separate"], default=DEFAULTS.variant,
                   help="law used for the proposals: one slope per benchmark (default) or per env")
    p.add_argument("--baseline-utd", type=float, default=DEFAULTS.baseline_utd,
                   help=f"utd whose grid-best (B, η) is the constant baseline (default: {DEFAULTS.baseline_utd:g}, "
                   "or the nearest)")


def _add_frontier_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--delta", type=float, required=True, metavar="D",
                   help="FLOPs per env step in the budget F = C + δ·D (paper: 4e9 Gym, 1e10 DMC)")
    p.add_argument("--thresholds", type=float, nargs="+", metavar="J",
                   help="return thresholds on the 0-1000 scale (default: 10 from --j-lo to 800, dense near 800)")
    p.add_argument("--j-lo", type=float, metavar="J",
                   help="lowest default threshold (default: 300 for gym, 200 for dmc, else 300)")
    p.add_argument("--holdout", type=int, default=DEFAULTS.holdout, metavar="K",
                   help=f"top thresholds left out of the laws in F and predicted (default: {DEFAULTS.holdout})")
    p.add_argument("--utd-range", type=float, nargs=2, metavar=("LO", "HI"),
                   help="σ range of the frontier curves and of the σ* search (default: the table's utds, "
                   "widened 2x each side)")


def _register_analysis(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analysis",
        help="the whole chain of one benchmark (every law, table k, the metrics), saved for figures and notebooks",
        description="The grid feeds crossings, best (B, η) and B*(σ), η*(σ); the fitted runs (the grid's best "
        "cells when not given) feed D_J(σ), the frontier and σ*(F), with compute at the B*(σ) law; the baseline "
        "runs (emulated from the grid when not given) are fitted the same way for comparison. Writes the saved "
        "analysis into DIR (Analysis.load(DIR) reads it back) and, with --metrics, the published numbers.",
    )
    p.add_argument("runs", metavar="GRID", help="grid run table (.parquet or .csv, schema in rlscale.runs)")
    p.add_argument("--fitted", metavar="RUNS", help="runs at the proposed hyperparameters (one per (env, utd))")
    p.add_argument("--baseline", metavar="RUNS", help="runs at the constant baseline hyperparameters")
    p.add_argument("--metrics", metavar="PATH", help="also write the published numbers as JSON (a DVC metric)")
    _add_common(p, f"bootstrap resamples of the seeds (default: {DEFAULTS.n_bootstrap})")
    _add_frontier_options(p)
    _add_hparam_options(p)
    p.add_argument("--hparam-fit-range", type=float, nargs=2, metavar=("LO", "HI"),
                   help="also fit B*, η* on utds in [LO, HI] only and predict the others (table k)")
    p.add_argument("--utd-fit-range", type=float, nargs=2, metavar=("LO", "HI"),
                   help="also fit D_J on utds in [LO, HI] only and predict the others (table k)")
    _add_method_options(p, FIT_FLAGS["analysis"])
    p.add_argument("--batch-law", metavar="PATH",
                   help="JSON {\"exponent\": e, \"coef\": {ENV: c}, \"source\": \"...\"}, or an hparams.json of fit "
                   "hparams: the B*(σ) law compute uses instead of the grid's own (e.g. a published one)")
    p.add_argument("--compute-unit", choices=["flops", "gradient_steps"], default=DEFAULTS.compute_unit,
                   help="compute as 10·N·B·σ·D FLOPs (default) or σ·D gradient steps (δ then in gradient steps per "
                   "env step)")
    p.set_defaults(handler=_run_analysis)


def _register_hparams(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hparams",
        help="best batch size and learning rate per utd, their power laws B*(σ), η*(σ) and proposals",
        description="Threshold crossings with a seed bootstrap, uncertainty-corrected best (B, η) per "
        "(env, utd) at the highest threshold, power laws in utd (shared and separate slopes), proposed "
        "hyperparameters and the constant baseline. Writes DIR/hparams.json, DIR/proposed_hparams.csv and "
        "DIR/baseline_hparams.csv (the baseline at the σ of the proposals: a `mode: fitted` sweep trains either).",
    )
    p.add_argument("runs", metavar="RUNS", help="run table (.parquet or .csv, schema in rlscale.runs)")
    _add_common(p, f"bootstrap resamples of the seeds (default: {DEFAULTS.n_bootstrap})")
    p.add_argument("--thresholds", type=float, nargs="+", default=[800.0], metavar="J",
                   help="return thresholds on the 0-1000 scale; the highest one picks the hyperparameters "
                   "(default: 800)")
    _add_hparam_options(p)
    p.add_argument("--validate-range", type=float, nargs=2, metavar=("LO", "HI"),
                   help="also fit on utds in [LO, HI] only and report the relative errors of the held-out utds "
                   "(the paper: 1 8 for Gym), under the key 'extrapolation'")
    _add_method_options(p, FIT_FLAGS["hparams"])
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
    _add_common(p, f"bootstrap resamples of the seeds for the intervals of D_min, β, α (default: "
                f"{DEFAULTS.n_bootstrap}; 0: from the Jacobian of the fit, one seed is then enough)")
    _add_frontier_options(p)
    p.add_argument("--hparams", metavar="PATH",
                   help="hparams.json of 'rlscale fit hparams': B(σ) for compute is the mean over envs of its "
                   "batch-size laws (default: the batch sizes of the selected runs)")
    p.add_argument("--hparams-variant", choices=["shared", "separate"], default="shared",
                   help="which batch-size laws of --hparams to use (default: shared)")
    p.add_argument("--validate-utd-range", type=float, nargs=2, metavar=("LO", "HI"),
                   help="also fit D_J on utds in [LO, HI] only and report the relative errors at the other utds")
    _add_method_options(p, FIT_FLAGS["frontier"])
    p.set_defaults(handler=_run_frontier)


def _register_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="the laws' answers at new utds and budgets, with intervals: B*, η*, data to reach J, σ*(F)",
        description="Reads an analysis saved by 'rlscale fit analysis' and prints, at each --utd, every task's "
        "B*(σ), η*(σ) and env steps D_J(σ) to reach each --threshold J, and at each --budget F the optimal σ*, D* "
        "and C*, each with its interval, the fit's residual dof, its verdict (only 'ok' is a law) and whether the "
        "value lies outside what the law was fitted on (extrapolated).",
    )
    _add_saved_analysis(p)
    p.add_argument("--utd", type=float, nargs="+", default=[], metavar="SIGMA", help="utds to predict at")
    p.add_argument("--threshold", type=float, nargs="+", metavar="J",
                   help="returns J (0-1000 scale) for the data to reach them (default: every J the analysis fitted)")
    p.add_argument("--budget", type=float, nargs="+", default=[], metavar="F",
                   help="budgets F = C + δ·D for the optimal σ*, D*, C* (in the analysis's compute unit)")
    p.add_argument("--runs", choices=["fitted", "baseline"], default="fitted",
                   help="whose D_J and laws in F: the fitted runs' (default) or the baseline runs'")
    p.add_argument("-o", "--output", metavar="FILE.csv", help="also write the table as CSV")
    p.set_defaults(handler=_run_predict)


def _add_saved_analysis(p: argparse.ArgumentParser) -> None:
    """The arguments of a command that reads a saved analysis: its folder and the intervals' level."""
    p.add_argument("analysis", metavar="DIR", help="folder of a saved analysis ('rlscale fit analysis -o DIR')")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the intervals (default: 0.05)")


def _register_summary(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summary",
        help="every law of a saved analysis with its interval, residual dof and verdict, as text",
        description="Prints the summary of an analysis saved by 'rlscale fit analysis' (what Analysis.summary() shows "
        "in a notebook): every fitted law with its interval, residual dof and verdict, the held-out points' errors "
        "and one line per fit that is not a law.",
    )
    _add_saved_analysis(p)
    p.set_defaults(handler=_run_summary)


_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _register_analysis, _register_hparams, _register_frontier, _register_predict, _register_summary)


def parse_max_return(items: Iterable[str], flag: str = "--max-return", positive: bool = True) -> dict[str, float]:
    """``["ENV=R", ...]`` as ``{ENV: R}``; R must be a finite (``positive``: > 0) number."""
    out: dict[str, float] = {}
    for item in items:
        env, sep, value = item.partition("=")
        env = env.strip()
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not env or not math.isfinite(number) or (positive and number <= 0):
            kind = "a positive number" if positive else "a number"
            hint = (" (a max return of 0 or below is for returns that are costs: give --min-return ENV=R below it, "
                    "e.g. --max-return Pendulum-v1=0 --min-return Pendulum-v1=-1500)"
                    if positive and sep and env and math.isfinite(number) else "")
            raise RlscaleError(f"{flag} expects ENV=R with {kind} R, got '{item}'{hint}")
        out[env] = number
    return out


def parse_min_return(items: Iterable[str]) -> dict[str, float]:
    """``--min-return ENV=R`` values; R may be negative (returns that are costs)."""
    return parse_max_return(items, flag="--min-return", positive=False)


def _return_range(args: argparse.Namespace) -> dict[str, dict[str, float] | None]:
    """``--max-return``/``--min-return`` as keyword arguments; a max return may be 0 or negative when a min
    return below it is given (the normaliser checks the pair)."""
    return {"max_return": parse_max_return(args.max_return, positive=not args.min_return) or None,
            "min_return": parse_min_return(args.min_return) or None}


#: per subcommand, the way out of a table with one seed per configuration (added to the errors that refuse one)
_ONE_SEED = {
    "analysis": ": pass --estimator point, mean_other or quadratic",
    "hparams": "; --estimator point, mean_other and quadratic read the all-seeds curves, so one seed per configuration "
    "is enough for them",
    "frontier": "; with --n-bootstrap 0 the D_J intervals come from the fit's Jacobian, so one seed per configuration "
    "is enough",
}


def _check_args(args: argparse.Namespace, *, min_bootstrap: int) -> None:
    """Bad options are one line naming the flag, before any table is read."""
    if args.n_bootstrap < min_bootstrap:
        way = ("; for a grid with one seed per configuration keep it and pass --estimator point, mean_other or "
               "quadratic, which read the all-seeds curves") if min_bootstrap > 0 else ""
        raise RlscaleError(f"--n-bootstrap must be >= {min_bootstrap}, got {args.n_bootstrap}{way}")
    if not args.max_ci_decades > 0:
        raise RlscaleError(f"--max-ci-decades must be > 0, got {args.max_ci_decades:g}")
    delta = getattr(args, "delta", 0.0)
    if not (math.isfinite(delta) and delta >= 0):
        raise RlscaleError(f"--delta must be a non-negative number of FLOPs per env step, got {delta:g}")
    if getattr(args, "holdout", 0) < 0:
        raise RlscaleError(f"--holdout must be >= 0, got {args.holdout}")
    for name in ("utd_range", "validate_utd_range", "validate_range", "hparam_fit_range", "utd_fit_range"):
        lo_hi = getattr(args, name, None)
        if lo_hi is not None and not (0 < lo_hi[0] < lo_hi[1] < math.inf):
            raise RlscaleError(f"--{name.replace('_', '-')} expects 0 < LO < HI, got {lo_hi[0]:g} {lo_hi[1]:g}")
    utds = getattr(args, "utds_to_predict", None)
    if utds is not None and any(not (u > 0 and math.isfinite(u)) for u in utds):
        raise RlscaleError("--utds-to-predict: every utd must be a positive number")
    out_dir = Path(args.output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise RlscaleError(f"--output-dir {out_dir} exists and is not a directory")


def _returns_used(args: argparse.Namespace, runs: Any) -> dict[str, str]:
    """What the laws were fitted on, for the output: the option and the metric it resolved to."""
    from rlscale.runs import table_metric

    return {"return_kind": args.return_kind, "metric": table_metric(runs)}


def _warn(line: str) -> None:
    print(f"rlscale: warning: {line}", file=sys.stderr)


@contextmanager
def _explained(args: argparse.Namespace) -> Iterator[list[str]]:
    """Collect our own warnings; if the fit fails, print them before the error, which they explain. While
    the fit runs (minutes on a large table, one library call that cannot count its progress), a progress
    line every interval says it is alive."""
    from rlscale.errors import RlscaleWarning, TooFewSeeds
    from rlscale.laws.normalize import MissingMaxReturn
    from rlscale.train.progress import heartbeat

    lines: list[str] = []
    with warnings.catch_warnings(record=True) as caught, heartbeat(f"fit {args.fit_command} {args.runs}"):
        warnings.simplefilter("always")
        try:
            yield lines
        except MissingMaxReturn as exc:
            raise RlscaleError(f"{exc} (--max-return ENV=R, --min-return ENV=R)") from None
        except TooFewSeeds as exc:
            raise RlscaleError(f"{exc}{_ONE_SEED[args.fit_command]}") from None
        except RlscaleError:
            for w in caught:
                if issubclass(w.category, RlscaleWarning):
                    _warn(str(w.message))
            raise
        finally:
            lines += [str(w.message) for w in caught if issubclass(w.category, RlscaleWarning)]


def _print_all(lines: list[str]) -> None:
    for line in dict.fromkeys(lines):
        _warn(line)


def _run_analysis(args: argparse.Namespace) -> int:
    from rlscale import io
    from rlscale.analysis import Analysis

    return_range = _return_range(args)
    _check_args(args, min_bootstrap=1)
    batch_law = None
    if args.batch_law is not None:
        try:
            batch_law = json.loads(Path(args.batch_law).read_text())
        except (OSError, ValueError) as exc:
            raise RlscaleError(f"--batch-law {args.batch_law}: cannot read a JSON law ({exc})") from None
    a = Analysis(delta=args.delta, thresholds=args.thresholds, j_lo=args.j_lo, n_bootstrap=args.n_bootstrap,
                 method=args.method, **_given(args), batch_law=batch_law, compute_unit=args.compute_unit,
                 estimator=args.estimator, variant=args.variant, baseline_utd=args.baseline_utd,
                 holdout=args.holdout, utds_to_predict=args.utds_to_predict, hparam_fit_range=args.hparam_fit_range,
                 utd_fit_range=args.utd_fit_range, utd_range=args.utd_range, **return_range,
                 reset_every_updates=args.reset_every_updates, max_ci_decades=args.max_ci_decades,
                 return_kind=args.return_kind)
    a.resolved_options()  # a bad choice is one line before any table is read
    with _explained(args):
        a.fit(args.runs, fitted=args.fitted, baseline=args.baseline)
    _print_all(a.warnings_)
    a.save(args.output_dir)
    if args.metrics:
        io.write_json(args.metrics, Analysis.load(args.output_dir).metrics())
    print(f"wrote {args.output_dir} ({repr(a)[1:-1]})" + (f" and {args.metrics}" if args.metrics else ""))
    return 0


def _run_hparams(args: argparse.Namespace) -> int:
    from rlscale import io
    from rlscale.analysis import fit_hparams, json_ready, load_runs, return_scale, write_csv
    from rlscale.laws.hparams import ESTIMATORS

    return_range = _return_range(args)
    _check_args(args, min_bootstrap=1)
    opts = method_options(args.method, **_given(args))
    averages_resamples = ESTIMATORS[args.estimator][1]  # a bootstrap estimator needs seeds to resample
    with _explained(args) as lines:
        runs = load_runs(args.runs, **return_range, reset_every_updates=args.reset_every_updates,
                         min_seeds=2 if averages_resamples else 1, max_return_preset=opts["max_return_preset"],
                         return_kind=args.return_kind)
        provenance = {"method": args.method, "options": opts,
                      "max_return": {"grid": return_scale(runs, opts["max_return_preset"], **return_range)}}
        fit = fit_hparams(runs, args.thresholds, estimator=args.estimator, variant=args.variant,
                          baseline_utd=args.baseline_utd, n_bootstrap=args.n_bootstrap, seed=opts["seed"],
                          utds_to_predict=args.utds_to_predict, validate_range=args.validate_range,
                          max_ci_decades=args.max_ci_decades, crossing=opts["crossing"],
                          average=opts["hparam_average"], unreached=opts["unreached"],
                          separate_utds=opts["separate_utds"], provenance=provenance)
    _print_all(lines + fit.laws.problems())
    out_dir = Path(args.output_dir)
    io.write_json(out_dir / "hparams.json", json_ready({**fit.to_dict(), **_returns_used(args, runs)}))
    write_csv(out_dir / "proposed_hparams.csv", fit.proposed)
    write_csv(out_dir / "baseline_hparams.csv", fit.baseline)
    print(f"wrote {out_dir / 'hparams.json'}, {out_dir / 'proposed_hparams.csv'} and "
          f"{out_dir / 'baseline_hparams.csv'} ({len(fit.best.best_)} (env, utd) points, {len(fit.proposed)} "
          "proposals)")
    return 0


def _run_frontier(args: argparse.Namespace) -> int:
    from rlscale import io
    from rlscale.analysis import fit_frontier, json_ready, load_runs, return_scale, write_csv
    from rlscale.laws.frontier import BatchSizeLaw

    return_range = _return_range(args)
    _check_args(args, min_bootstrap=0)
    opts = method_options(args.method, **_given(args))
    preset = opts["fitted_max_return_preset"]
    if args.hparams is not None and not Path(args.hparams).is_file():
        raise RlscaleError(f"--hparams {args.hparams}: no such file")
    with _explained(args) as lines:
        runs = load_runs(args.runs, **return_range, reset_every_updates=args.reset_every_updates,
                         min_seeds=2 if args.n_bootstrap > 0 else 1, one_benchmark=True, max_return_preset=preset,
                         return_kind=args.return_kind)
        batch = None
        if args.hparams is not None:
            batch = BatchSizeLaw.from_hparams(args.hparams, envs=sorted(runs["env"].astype(str).unique()),
                                              variant=args.hparams_variant)
        fit = fit_frontier(runs, args.delta, thresholds=args.thresholds, j_lo=args.j_lo, holdout=args.holdout,
                           batch_size=batch, n_bootstrap=args.n_bootstrap, utd_range=args.utd_range,
                           validate_utd_range=args.validate_utd_range, seed=opts["seed"], source=str(args.runs),
                           max_ci_decades=args.max_ci_decades, crossing=opts["crossing"],
                           normalize_by="task" if opts["dj_normalize"] == "per_task" else "threshold",
                           loss=opts["dj_loss"], search=opts["sigma_search"], budget_points=opts["budget_points"],
                           provenance={"method": args.method, "options": opts,
                                       "max_return": {"fitted": return_scale(runs, preset, **return_range)}})
    _print_all(lines + fit.problems())
    out_dir = Path(args.output_dir)
    io.write_json(out_dir / "frontier.json", json_ready({**fit.to_dict(), **_returns_used(args, runs)}))
    write_csv(out_dir / "frontier_curves.csv", fit.frontier.curves_.loc[:, ["threshold", "utd", "data", "compute",
                                                                           "budget"]])
    laws = int((fit.efficiency.params_["status"] == "ok").sum())
    print(f"wrote {out_dir / 'frontier.json'} and {out_dir / 'frontier_curves.csv'} ({len(fit.efficiency.params_)} "
          f"thresholds, {laws} with a D_J law; {len(fit.configs)} (env, utd) points)")
    return 0


def _run_summary(args: argparse.Namespace) -> int:
    from rlscale.analysis import Analysis

    print(Analysis.load(args.analysis).summary(args.alpha).as_text())
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from rlscale.analysis import Analysis
    from rlscale.analysis.chain import write_csv

    if not args.utd and not args.budget:
        raise RlscaleError("fit predict: give --utd SIGMA ... and/or --budget F ...")
    bad = [v for v in [*args.utd, *args.budget, *(args.threshold or [])] if not math.isfinite(v) or v <= 0]
    if bad:
        raise RlscaleError(f"fit predict: utds, thresholds and budgets must be positive numbers, got {bad[0]:g}")
    with _explained(args) as lines:
        table = Analysis.load(args.analysis).predict(args.utd, args.threshold, args.budget, args.alpha, args.runs)
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_columns", None):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    _print_all(lines)  # after the table they qualify
    if (table["status"] != "ok").any() or table["extrapolated"].any():
        _warn("rows whose status is not 'ok' are not laws, and extrapolated ones lie outside the values their law "
              "was fitted on: read their numbers with that in mind")
    if args.output:
        write_csv(Path(args.output), table)
        print(f"wrote {args.output}")
    return 0
