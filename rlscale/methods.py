"""Methods: named bundles of the choices the fit chain makes where the paper leaves room (no heavy imports).

Two methods fit the same laws from the same crossings:

- ``rlscale`` (the default): this project's choices, made to be robust on small grids and written up in
  the README ("Fitting");
- ``paper``: the choices of the authors' own published analysis code, so that their numbers can be
  reproduced from their runs and compared (the README's "The authors' runs").

Every choice is also an option of its own (an argument of :class:`rlscale.analysis.Analysis`, a
``params.yaml`` key, an ``rlscale fit`` flag); an option given explicitly overrides the method's value.
:data:`METHOD_OPTIONS` is the one list the library, the command line and the pipeline read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rlscale.errors import RlscaleError

METHODS = ("rlscale", "paper")


@dataclass(frozen=True)
class MethodOption:
    """One choice: its name, allowed values (None: any int), each method's value, and what it means."""

    name: str
    choices: tuple[str, ...] | None
    rlscale: Any
    paper: Any
    help: str


METHOD_OPTIONS: tuple[MethodOption, ...] = (
    MethodOption("seed", None, 0, 42, "seed of the seed bootstrap (the authors seed numpy with 42)"),
    MethodOption("crossing", ("inclusive", "strict", "interpolated"), "inclusive", "strict",
                 "J is reached at the first logged step where the smoothed curve is at J or past it (inclusive), "
                 "or only past it (strict), or where the smoothed curve, linear between logged steps, equals J "
                 "(interpolated: no lag of up to one logging interval)"),
    MethodOption("hparam_average", ("log", "arithmetic"), "log", "arithmetic",
                 "how the per-bootstrap-sample best B (η) are averaged over samples and over the other "
                 "hyperparameter: geometric mean (log) or arithmetic mean"),
    MethodOption("unreached", ("drop", "first"), "drop", "first",
                 "a bootstrap sample in which no grid value reaches J: left out (drop), or counted as the "
                 "smallest grid value (first: what an argmin over all-infinite times returns)"),
    MethodOption("separate_utds", ("all", "all_but_largest"), "all", "all_but_largest",
                 "σ values the separate-slope (per task) laws of B*, η* are fitted on"),
    MethodOption("dj_normalize", ("per_threshold", "per_task"), "per_threshold", "per_task",
                 "normalising times for D_J: divide by each task's median over σ at each J, or by one median "
                 "per task over every (σ, J)"),
    MethodOption("dj_loss", ("log", "linear"), "log", "linear",
                 "D_J(σ) fit: least squares on log times (bounded, multi-start), or on the normalised times "
                 "themselves (a local minimisation from every point of a 5x5x5 grid, the lowest kept)"),
    MethodOption("sigma_search", ("continuous", "grid"), "continuous", "grid",
                 "σ*_J = argmin of C + δD: continuous over the data's σ range widened 2x each side, or the best of "
                 "100 log-spaced σ over the data's range"),
    MethodOption("budget_points", ("distinct_interior", "all"), "distinct_interior", "all",
                 "optima the laws in F are fitted on: leave out a σ* on the edge of the range (a bound) and a J "
                 "whose points repeat a lower J's, or use every optimum below the held-out J, whatever the "
                 "verdict of its D_J fit"),
    MethodOption("baseline_scale", ("fitted", "own"), "fitted", "own",
                 "the scale the baseline runs' pooled D_J is on: each task's crossings over the fitted runs' median "
                 "crossing of that task, so the two compare task by task, or over the baseline runs' own medians "
                 "(the authors fit each run set on its own)"),
    MethodOption("max_return_preset", ("paper-grid", "paper-fitted"), "paper-grid", "paper-grid",
                 "max returns (0-1000 scale) of the grid's Gym v4 tasks, by preset name"),
    MethodOption("fitted_max_return_preset", ("paper-grid", "paper-fitted"), "paper-grid", "paper-fitted",
                 "max returns of the fitted and baseline runs' Gym v4 tasks, by preset name (the authors "
                 "normalised their fitted runs with other max returns than their grid)"),
)
OPTION_NAMES = tuple(o.name for o in METHOD_OPTIONS)


def method_options(method: str, **given: Any) -> dict[str, Any]:
    """Every option of ``method``, with the ``given`` ones (not None) overriding; one line on a bad value."""
    if method not in METHODS:
        raise RlscaleError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    unknown = sorted(set(given) - set(OPTION_NAMES))
    if unknown:
        raise RlscaleError(f"unknown method option(s) {', '.join(unknown)} (known: {', '.join(OPTION_NAMES)})")
    out = {}
    for opt in METHOD_OPTIONS:
        value = given.get(opt.name)
        value = getattr(opt, method) if value is None else value
        if opt.choices is not None and value not in opt.choices:
            raise RlscaleError(f"{opt.name} must be one of {', '.join(opt.choices)}, got {value!r}")
        if opt.choices is None and not (isinstance(value, int) and not isinstance(value, bool)):
            raise RlscaleError(f"{opt.name} must be an integer, got {value!r}")
        out[opt.name] = value
    return out


def describe(options: Mapping[str, Any]) -> str:
    """``name=value, ...`` of resolved options, for summaries and command echoes."""
    return ", ".join(f"{k}={v}" for k, v in options.items())
