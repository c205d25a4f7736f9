"""The steps of the fit chain, each one function: read a table, best hyperparameters and their laws,
data efficiency and the frontier. :class:`rlscale.analysis.Analysis` chains them once per benchmark;
``rlscale fit hparams`` and ``rlscale fit frontier`` run one step each through the same functions.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws.efficiency import DataEfficiency
from rlscale.laws.frontier import BatchSizeLaw, ComputeFrontier, configs_of, crossings_table, select_configs
from rlscale.laws.hparams import HPARAMS, BestHyperparams, HyperparamLaws, check_baseline_utd, extrapolation_errors
from rlscale.laws.normalize import ReturnNormalizer, filter_reset_dips
from rlscale.laws.summary import MAX_CI_DECADES, OK
from rlscale.laws.thresholds import ThresholdCrossings, default_thresholds, same_cells
from rlscale.runs import CONFIG_COLUMNS, OPTIONAL_COLUMNS, read_run_table, table_metric, validate_run_table

DEFAULT_J_LO = {"gym": 300.0, "dmc": 200.0}
#: which return the laws are fitted on: the metric each kind means (``auto``: whatever the table's ``return`` holds)
RETURN_KINDS = {"train": "train_return", "eval": "eval_return"}

RunsLike = str | os.PathLike | pd.DataFrame


def one_blas_thread(func: Callable) -> Callable:
    """Run ``func`` with one BLAS thread (threadpoolctl). The fits make many small matrix products and solves; on
    a busy machine a BLAS thread pool spins on each of them (the authors' Gym grid plus fitted runs: 20 s of CPU
    with 2 threads against 12 s with 1, both methods)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


def load_runs(
    runs: RunsLike, *, benchmark: str | None = None, max_return: Mapping[str, float] | None = None,
    min_return: Mapping[str, float] | None = None, reset_every_updates: float | None = None, min_seeds: int = 2,
    one_benchmark: bool = False, max_return_preset: str | None = "paper-grid",
    return_kind: str = "auto", check_envs: bool = True,
) -> pd.DataFrame:
    """A validated run table (path or frame) of one benchmark (if given; ``one_benchmark``: the table
    must hold only one) and one algo (:func:`single_algo`), its ``return`` the kind asked for
    (:func:`select_return`), grid values that differ only by float noise made one
    (:func:`rlscale.laws.thresholds.same_cells`: every step sees the same cells), returns on the 0-1000 scale
    (``score`` column; ``max_return`` per env over the values of ``max_return_preset``, a name in
    :data:`rlscale.laws.MAX_RETURN_PRESETS`; ``check_envs=False``: the caller checks that each env given a range
    is one of its tables') and, for agents with periodic resets, the post-reset dips dropped."""
    if isinstance(runs, pd.DataFrame):
        table = validate_run_table(runs, min_seeds=min_seeds)
    else:
        table = read_run_table(runs, min_seeds=min_seeds)
    table = select_return(table, return_kind)
    if benchmark is not None:
        have = sorted(table["benchmark"].astype(str).unique())
        table = table[table["benchmark"] == benchmark].reset_index(drop=True)
        if table.empty:
            raise RlscaleError(f"run table has no rows of benchmark '{benchmark}' (has {', '.join(have)})")
    if one_benchmark:
        single_benchmark(table)
    single_algo(table)
    warn_repeated_seeds(table)
    table = ReturnNormalizer(max_return=dict(max_return) if max_return else None, preset=max_return_preset,
                             min_return=dict(min_return) if min_return else None,
                             check_envs=check_envs).transform(same_cells(table))
    if reset_every_updates is not None:
        table = filter_reset_dips(table, reset_every_updates)
    return table


def warn_repeated_seeds(runs: pd.DataFrame) -> None:
    """Warn where two seeds of one configuration hold the same curve (every (env_step, return) alike): a copied run
    counts twice in the bootstrap over seeds and narrows every interval. Curves are compared by a hash of their
    rows (pandas' ``hash_pandas_object``), so a table of a million rows is checked in well under a second."""
    rows = pd.util.hash_pandas_object(runs.loc[:, ["env_step", "return"]], index=False).to_numpy()
    groups = runs.groupby([*CONFIG_COLUMNS, "seed"], observed=True, sort=True)
    codes = groups.ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])  # each run's first row, in group order
    flat = groups.size().index.to_frame(index=False)
    flat["_hash"] = np.bitwise_xor.reduceat(rows[order] * np.uint64(0x9E3779B97F4A7C15), starts)
    copies = flat.duplicated([*CONFIG_COLUMNS, "_hash"])
    if copies.any():
        first = flat[copies].iloc[0]
        same = flat[(flat[list(CONFIG_COLUMNS)] == first[list(CONFIG_COLUMNS)]).all(axis=1)
                    & (flat["_hash"] == first["_hash"])]["seed"].tolist()
        warnings.warn(f"run table: {int(copies.sum())} run(s) repeat another seed's curve exactly (first: env "
                      f"{first['env']} at utd {first['utd']:g}, B {first['batch_size']:g}, η "
                      f"{first['learning_rate']:g}, seeds {', '.join(map(str, same))}): a copy counts twice in the "
                      "bootstrap over seeds and narrows the intervals; drop the copies if they are not independent "
                      "runs", RlscaleWarning, stacklevel=3)


def select_return(runs: pd.DataFrame, return_kind: str = "auto") -> pd.DataFrame:
    """``runs`` with the return the laws should see in ``return`` and its name in ``metric``.

    ``auto`` keeps the table's own ``return`` (rlscale's runs: the evaluation return; the authors' Gym
    tables: the training-episode return, which their laws use). ``train`` fits the training-episode return:
    the table's ``return`` if its metric is ``train_return``, else its ``train_return`` column (what
    ``rlscale train`` records beside the evaluation return). ``eval`` fits the evaluation return. Asking
    for a return the table does not hold is an error, never a silent substitute.
    """
    if return_kind == "auto":
        return runs
    if return_kind not in RETURN_KINDS:
        raise RlscaleError(f"return_kind must be auto, {' or '.join(RETURN_KINDS)}, got {return_kind!r}")
    want, have = RETURN_KINDS[return_kind], table_metric(runs)
    if have == want:
        return runs
    if want == "train_return" and have == "eval_return" and "train_return" in runs.columns \
            and runs["train_return"].notna().any():
        return runs.assign(**{"return": runs["train_return"], "metric": want})
    what = {"train_return": "the training-episode return", "eval_return": "the evaluation return"}.get(have, have)
    hint = (" and no train_return column (runs trained before rlscale recorded it, or a table imported without "
            "it)") if want == "train_return" else ""
    raise RlscaleError(f"return_kind {return_kind}: the run table's return is {what} (metric {have}){hint}; "
                       "fit the return it holds with return_kind auto")


def single_benchmark(runs: pd.DataFrame) -> str:
    """The table's one benchmark; a frontier is per benchmark, so a mixed table is an error."""
    return _only_value(runs, "benchmark", "a frontier is per benchmark, give one at a time")


def single_algo(runs: pd.DataFrame) -> str:
    """The table's one algo: the laws are per agent, and pooling two agents' runs would mix their optima."""
    return _only_value(runs, "algo", "the laws are per agent: fit each separately (filter the table to one algo)")


def _only_value(runs: pd.DataFrame, column: str, why: str) -> str:
    values = sorted(runs[column].astype(str).unique())
    if len(values) > 1:
        raise RlscaleError(f"the table mixes {column}s ({', '.join(values)}); {why}")
    return values[0]


def return_scale(table: pd.DataFrame, preset: str | None, max_return: Mapping[str, float] | None = None,
                 min_return: Mapping[str, float] | None = None, check_envs: bool = True) -> dict[str, Any]:
    """The 0-1000 scale a table is put on, as outputs record it: the preset and each env's max and min return
    (``check_envs``: as :func:`load_runs`)."""
    norm = ReturnNormalizer(max_return=dict(max_return) if max_return else None, preset=preset,
                            min_return=dict(min_return) if min_return else None, check_envs=check_envs).fit(table)
    return {"preset": preset, "max_return": dict(norm.max_return_), "min_return": dict(norm.min_return_)}


def frontier_thresholds(benchmark: str, thresholds: Sequence[float] | None = None,
                        j_lo: float | None = None) -> np.ndarray:
    """The given thresholds (sorted), else the paper's ten from the benchmark's lowest J to 800, dense near 800."""
    if thresholds is not None:
        values = np.sort(np.asarray(thresholds, dtype=float))
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise RlscaleError("thresholds must be one or more finite numbers")
        return values
    return default_thresholds(j_lo if j_lo is not None else DEFAULT_J_LO.get(benchmark, 300.0))


def crossings_of(runs: pd.DataFrame, thresholds: Sequence[float], n_bootstrap: int = 100,
                 seed: int = 0, crossing: str = "inclusive") -> ThresholdCrossings:
    """Threshold crossings of every configuration with a bootstrap over seeds (``crossing``: how J is reached,
    :data:`rlscale.laws.thresholds.CROSSINGS`)."""
    return ThresholdCrossings(np.asarray(thresholds, dtype=float), n_bootstrap=n_bootstrap,
                              random_state=seed, crossing=crossing).fit(runs)


def check_range(name: str, lo_hi: Sequence[float] | None) -> tuple[float, float] | None:
    """A (lo, hi) σ range with 0 < lo < hi, or None."""
    if lo_hi is None:
        return None
    lo, hi = (float(v) for v in lo_hi)
    if not (0 < lo < hi < math.inf):
        raise RlscaleError(f"{name} must be 0 < lo < hi, got {lo:g} {hi:g}")
    return lo, hi


@dataclass
class HparamFit:
    """Best hyperparameters at the highest threshold, their power laws in σ, the proposals and (with a
    ``validate_range``) the errors of laws fitted inside it at the σ outside."""

    crossings: ThresholdCrossings | None
    best: BestHyperparams
    laws: HyperparamLaws
    proposed: pd.DataFrame
    heldout: pd.DataFrame | None = None
    validate_range: tuple[float, float] | None = None
    n_bootstrap: int = 100
    seed: int = 0
    provenance: dict[str, Any] | None = None  # method, its options, max returns: recorded in hparams.json

    @property
    def baseline(self) -> pd.DataFrame:
        """The constant baseline at the σ and envs of the proposals (same columns): what baseline runs train at."""
        return self.laws.baseline(pd.unique(self.proposed["utd"]), pd.unique(self.proposed["env"]))

    def to_dict(self) -> dict[str, Any]:
        """The content of ``hparams.json``: laws with 95% intervals and verdicts, options, best (B, η)."""
        out = {
            **(self.provenance or {}),
            **self.laws.to_dict(),
            "threshold": self.best.threshold_,
            "estimator": self.best.estimator,
            "variant": self.laws.variant,
            "baseline_utd": self.laws.baseline_utd,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
            "best": self.best.best_.to_dict(orient="records"),
            "baseline": self.laws.baseline_.to_dict(orient="records"),
        }
        if self.crossings is not None:
            out["thresholds"] = [float(t) for t in self.crossings.thresholds_]
        if self.heldout is not None:
            done = self.heldout[np.isfinite(self.heldout["predicted"].to_numpy(dtype=float))]
            out["extrapolation"] = {
                "fit_range": list(self.validate_range),
                "mean_rel_error": {h: float(g["rel_error"].mean()) for h, g in done.groupby("hparam")},
                "points": self.heldout.to_dict(orient="records"),
            }
        return out


@one_blas_thread
def fit_hparams(
    runs: pd.DataFrame, thresholds: Sequence[float] = (800.0,), *, estimator: str = "bootstrap",
    variant: str = "shared", baseline_utd: float = 2.0, n_bootstrap: int = 100, seed: int = 0,
    utds_to_predict: Sequence[float] | None = None, validate_range: tuple[float, float] | None = None,
    crossings: ThresholdCrossings | None = None, max_ci_decades: float = MAX_CI_DECADES,
    crossing: str = "inclusive", average: str = "log", unreached: str = "drop", separate_utds: str = "all",
    provenance: dict[str, Any] | None = None,
) -> HparamFit:
    """On a grid sweep: best (B, η) per (env, σ) at max(thresholds), B*(σ) and η*(σ), proposals for
    ``utds_to_predict`` (default: the table's σ) and, with ``validate_range``, the errors of laws fitted
    on σ inside it at the σ outside. ``crossings`` reuses computed crossings; ``crossing``, ``average``,
    ``unreached``, ``separate_utds`` are the method's choices (:mod:`rlscale.methods`), ``provenance`` what
    ``to_dict`` records about them."""
    if n_bootstrap < 1:
        raise RlscaleError(f"n_bootstrap must be >= 1 to pick hyperparameters, got {n_bootstrap}")
    if variant not in ("shared", "separate"):
        raise RlscaleError(f"variant must be 'shared' or 'separate', got {variant!r}")
    if utds_to_predict is not None and any(not (u > 0 and math.isfinite(u)) for u in utds_to_predict):
        raise RlscaleError("utds to predict must be positive numbers")
    check_baseline_utd(baseline_utd)
    validate_range = check_range("the hyperparameter validation range", validate_range)
    utds = np.unique(runs["utd"])
    if utds.size == 1:  # every env would be left out of the laws: say what the table lacks
        raise RlscaleError(f"every run of the grid is at utd {float(utds[0]):g}; the laws B*(σ), η*(σ) need a grid "
                           "at 2 or more utds: train or import runs at several utds")
    crossings = crossings or crossings_of(runs, thresholds, n_bootstrap, seed, crossing)
    hardest = float(max(thresholds) if crossings.higher_is_better_ else min(thresholds))
    best = BestHyperparams(threshold=hardest, estimator=estimator, average=average, unreached=unreached).fit(crossings)
    laws = HyperparamLaws(shared_slope=variant == "shared", baseline_utd=baseline_utd, max_ci_decades=max_ci_decades,
                          separate_utds=separate_utds).fit(best)
    utds = list(utds_to_predict) if utds_to_predict else sorted(float(u) for u in np.unique(runs["utd"]))
    heldout = None
    if validate_range is not None:
        heldout = extrapolation_errors(best, validate_range, shared_slope=variant == "shared",
                                       max_ci_decades=max_ci_decades, separate_utds=separate_utds)
    return HparamFit(crossings, best, laws, laws.propose(utds), heldout, validate_range, n_bootstrap, seed,
                     provenance)


@dataclass
class FrontierFit:
    """Data efficiency per J, the data-compute frontier and the laws of σ*, D*, C* in the budget F, from
    one table of runs (``source`` says which), one configuration per (env, σ)."""

    benchmark: str
    source: str
    crossings: ThresholdCrossings
    configs: pd.DataFrame
    efficiency: DataEfficiency
    per_env: DataEfficiency
    batch: BatchSizeLaw
    frontier: ComputeFrontier
    n_bootstrap: int
    seed: int
    heldout: DataEfficiency | None = None
    validate_utd_range: tuple[float, float] | None = None
    provenance: dict[str, Any] | None = None  # method, its options, max returns: recorded in frontier.json
    #: the seed-bootstrap crossings of the selected configurations (env, utd, threshold, sample, crossing); None when
    #: loaded from a saved analysis or with one seed per configuration
    crossing_samples: pd.DataFrame | None = None

    @property
    def pair(self) -> tuple[ComputeFrontier, DataEfficiency]:
        """(frontier, efficiency): what the frontier figures take."""
        return self.frontier, self.efficiency

    def problems(self) -> list[str]:
        """One line per fit that is not a law or gave a bound rather than an optimum."""
        return self.efficiency.problems() + self.frontier.problems()

    def to_dict(self) -> dict[str, Any]:
        """The content of ``frontier.json`` (NaN kept; :func:`json_ready` before writing JSON)."""
        optimum = self.frontier.optimum_.set_index("threshold")
        per_threshold = []
        for row in self.efficiency.to_dict():
            thr = row.pop("threshold")
            row.pop("group")
            opt = optimum.loc[thr] if thr in optimum.index else None
            per_threshold.append({
                "threshold": thr, **row,
                **{f"{q}_opt": (float(opt[q]) if opt is not None else None)
                   for q in ("utd", "data", "compute", "budget")},
                **{k: (bool(opt[k]) if opt is not None else None) for k in ("at_boundary", "held_out", "in_fit")},
            })
        front = self.frontier.to_dict()
        out = {
            **(self.provenance or {}),
            "benchmark": self.benchmark,
            "source": self.source,
            "delta": self.frontier.delta,
            "critic_params": self.frontier.critic_params,
            "utd_range": front["utd_range"],
            "holdout": self.frontier.holdout,
            "compute_unit": self.frontier.compute_unit,
            "search": self.frontier.search,
            "budget_points": self.frontier.budget_points,
            "thresholds": per_threshold,
            "utd_law": front["utd_law"],
            "data_law": front["data_law"],
            "compute_law": front["compute_law"],
            "reason": front["reason"],
            "law_reason": front["law_reason"],
            "extrapolation": {"thresholds": front["extrapolation"]},
            "batch_size_law": self.batch.to_dict(),
            "ci_method": self.efficiency.ci_method_,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
            "per_env": self.per_env.to_dict(),
            "selected_configs": self.configs.to_dict(orient="records"),
        }
        if self.heldout is not None:
            held = self.heldout.heldout_
            done = held[np.isfinite(held["predicted"].to_numpy(dtype=float))]
            out["extrapolation"]["utd"] = {
                "fit_range": list(self.validate_utd_range),
                "mean_rel_error": float(done["rel_error"].mean()) if len(done) else None,
                "points": held.to_dict(orient="records"),
            }
        return out


@one_blas_thread
def fit_frontier(
    runs: pd.DataFrame, delta: float, *, thresholds: Sequence[float] | None = None, j_lo: float | None = None,
    holdout: int = 2, batch_size: BatchSizeLaw | None = None, n_bootstrap: int = 100,
    utd_range: tuple[float, float] | None = None, validate_utd_range: tuple[float, float] | None = None,
    seed: int = 0, crossings: ThresholdCrossings | None = None, source: str = "runs",
    max_ci_decades: float = MAX_CI_DECADES, crossing: str = "inclusive", normalize_by: str = "threshold",
    loss: str = "log", search: str = "continuous", budget_points: str = "distinct_interior",
    compute_unit: str = "flops", provenance: dict[str, Any] | None = None,
    reference: DataEfficiency | None = None,
) -> FrontierFit:
    """On one benchmark's table: per (env, σ) the configuration reaching the hardest J earliest, env-normalised
    D_J(σ) (intervals from ``n_bootstrap`` seed resamples, 0: from the Jacobian), C = 10·N·B(σ)·σ·D with
    B(σ) from ``batch_size`` (default: the batch sizes of the selected runs), F = C + δ·D minimised over
    σ, and the laws in F fitted without the ``holdout`` hardest thresholds. ``crossing``, ``normalize_by``,
    ``loss``, ``search``, ``budget_points`` are the method's choices (:mod:`rlscale.methods`); ``compute_unit``
    counts compute in FLOPs or gradient steps; ``provenance`` is what ``to_dict`` records about them.
    ``reference``: the env-normalised D_J fit of the runs these are compared with (a baseline with the fitted
    runs): these runs' pooled points are put on its per-env scale, so a pooled point of one over one of the other
    is a mean of per-env ratios, as :func:`compare_data` compares them, rather than a ratio of two scales."""
    check_frontier_args(delta, n_bootstrap, holdout)
    utd_range = check_range("the utd range", utd_range)
    validate_utd_range = check_range("the utd validation range", validate_utd_range)
    benchmark = single_benchmark(runs)
    if crossings is None:
        crossings = crossings_of(runs, frontier_thresholds(benchmark, thresholds, j_lo), max(n_bootstrap, 1), seed,
                                 crossing)
    index = select_configs(crossings)
    configs = configs_of(crossings, index)
    points, boot = crossings_table(crossings, index)
    boot = boot if n_bootstrap > 0 else None
    fit_options = {"max_ci_decades": max_ci_decades, "normalize_by": normalize_by, "loss": loss}
    efficiency = DataEfficiency(normalize=True, **fit_options).fit(
        points, boot, reference=None if reference is None else reference.normalization_)
    per_env = DataEfficiency(normalize=False, **fit_options).fit(points, boot)
    batch = batch_size or BatchSizeLaw.from_runs(configs)
    n_params = float(np.median(configs["critic_params"]))
    sizes = configs.groupby("env", observed=True)["critic_params"].agg(["min", "max"])
    mixed = sizes[sizes["min"] != sizes["max"]]
    if len(mixed):  # one task's runs of two network sizes: no one N prices their compute
        env, (low, high) = mixed.index[0], mixed.iloc[0]
        warnings.warn(f"compute: the critic's size differs within {len(mixed)} env(s) (first: {env}, {low:g} to "
                      f"{high:g} parameters), but C = 10·N·B·σ·D prices every run at one N, the median over the "
                      f"(env, utd) points ({n_params:g}): fit runs of one network size per task", RlscaleWarning,
                      stacklevel=2)
    frontier = ComputeFrontier(delta, n_params, batch, utd_range=utd_range, holdout=holdout,
                               max_ci_decades=max_ci_decades, search=search, budget_points=budget_points,
                               compute_unit=compute_unit, higher_is_better=crossings.higher_is_better_).fit(efficiency)
    heldout = None
    if validate_utd_range is not None:
        heldout = DataEfficiency(normalize=True, fit_utds=validate_utd_range, **fit_options).fit(points, None)
    return FrontierFit(benchmark, source, _selected(crossings, index), configs, efficiency, per_env, batch, frontier,
                       n_bootstrap, seed, heldout, validate_utd_range, provenance, boot)


def _selected(crossings: ThresholdCrossings, index: np.ndarray) -> ThresholdCrossings:
    """The crossings of the selected configurations only (what the figures draw), as a saved analysis has them."""
    frame = crossings.to_frame()
    keep = frame.merge(crossings.configs_.iloc[index].loc[:, list(CONFIG_COLUMNS)], how="inner")
    return ThresholdCrossings.from_frames(keep, crossings.curves_frame(index), crossings.higher_is_better_)


#: the columns of :func:`tie_sensitivity`
TIE_COLUMNS = ("hparam", "tie_break", "benchmark", "exponent", "lower", "upper", "df_resid", "n_obs", "status")


def tie_sensitivity(crossings: ThresholdCrossings, fit: HparamFit, *, seed: int = 0, average: str = "log",
                    unreached: str = "drop", max_ci_decades: float = MAX_CI_DECADES,
                    alpha: float = 0.05) -> pd.DataFrame:
    """The shared exponents of B*(σ) and η*(σ) (``tie_break`` "first": ``fit``'s own, the best cells' ties broken
    toward the smallest grid value as the paper's argmin; "random": refitted with them broken at random, seeded by
    ``seed``), with (1 - alpha) intervals: how much the laws rest on which of several cells reaching J at the same
    logged step counts as best. One row per (hparam, tie_break, benchmark)."""
    best = BestHyperparams(fit.best.threshold_, fit.best.estimator, average=average, unreached=unreached,
                           tie_break="random", random_state=seed).fit(crossings)
    rows = []
    try:
        laws = {"first": fit.laws, "random": HyperparamLaws(shared_slope=True, baseline_utd=fit.laws.baseline_utd,
                                                            max_ci_decades=max_ci_decades).fit(best)}
    except RlscaleError:  # nothing reaches J at 2 or more σ: the fit itself has said so
        laws = {"first": fit.laws}
    for tie_break, fitted in laws.items():
        for h in HPARAMS:
            for bench, law in fitted.laws_[h]["shared"].items():
                group = law.groups_[0]
                lo, hi = law.exponent_interval(group, alpha)
                statuses = set(law.terms_["status"])
                rows.append({"hparam": h, "tie_break": tie_break, "benchmark": bench, "exponent": law.exponent(group),
                             "lower": float(lo), "upper": float(hi), "df_resid": law.df_resid_, "n_obs": law.n_obs_,
                             "status": OK if statuses == {OK} else ", ".join(sorted(statuses - {OK}))})
    return pd.DataFrame(rows, columns=list(TIE_COLUMNS))


#: the columns of :func:`compare_data`
RATIO_COLUMNS = ("group", "utd", "threshold", "fitted_data", "baseline_data", "ratio", "ratio_lower", "ratio_upper",
                 "n_envs", "n_samples", "note")


def compare_data(fitted: FrontierFit, baseline: FrontierFit, alpha: float = 0.05,
                 same_runs: bool = False) -> pd.DataFrame:
    """Env steps to reach each J of the ``fitted`` runs over those of the ``baseline`` runs, at the σ both have.

    One row per (env, σ, J) and one per (σ, J) over the envs (group "all": the geometric mean of the per-env
    ratios, over the envs where at least one of the two reaches J). The ratio's (1 - alpha) interval is the
    percentile interval over the seed-bootstrap samples the crossings already have (the conservative order
    statistics, since a J never reached counts as infinitely late and a ratio may be 0 or inf). Both run sets'
    samples come from one bootstrap seed, so where they hold the same (env, σ) with the same seeds, as the
    pipeline's fitted and baseline sweeps do, sample k resamples the same seeds of both: a bootstrap paired by seed,
    as the runs are (seed i of both starts from the same environment and network random streams, and the embedded
    runs' per-seed crossings correlate, r 0.2-0.35 within a σ). Elsewhere the samples are drawn unpaired. Without
    samples (one seed per configuration) the interval is NaN. ``same_runs``: both come from the same grid (no fitted
    or baseline runs given), so where they picked the same (B, η) cell the ratio is exactly 1.
    """
    keys = ["env", "utd", "threshold"]

    def points(fit: FrontierFit) -> pd.DataFrame:
        frame = fit.crossings.to_frame().astype({"env": str})
        return frame.loc[:, [*keys, "batch_size", "learning_rate", "crossing"]]

    both = points(fitted).merge(points(baseline), on=keys, suffixes=("_fit", "_base"))
    both = both.sort_values(keys, kind="stable").reset_index(drop=True)
    same = same_runs & np.isclose(both["batch_size_fit"], both["batch_size_base"]) & np.isclose(
        both["learning_rate_fit"], both["learning_rate_base"])
    point = _log_ratio(both["crossing_fit"].to_numpy(dtype=float), both["crossing_base"].to_numpy(dtype=float))
    point = np.where(same, 0.0, point)
    samples = None
    if fitted.crossing_samples is not None and baseline.crossing_samples is not None:
        pair = fitted.crossing_samples.astype({"env": str}).merge(
            baseline.crossing_samples.astype({"env": str}), on=[*keys, "sample"], suffixes=("_fit", "_base"))
        n_samples = int(pair["sample"].nunique())
        at = pd.MultiIndex.from_arrays([np.repeat(both[k].to_numpy(), n_samples) for k in keys]
                                       + [np.tile(np.arange(n_samples), len(both))])
        rows = pair.set_index([*keys, "sample"]).reindex(at)
        samples = _log_ratio(rows["crossing_fit"].to_numpy(dtype=float),
                             rows["crossing_base"].to_numpy(dtype=float)).reshape(len(both), n_samples)
        samples[same] = 0.0
    out = []
    for i, r in both.iterrows():
        note = "same (B, η) grid cell" if same[i] else _never(r["crossing_fit"], r["crossing_base"])
        out.append(_ratio_row(str(r["env"]), r["utd"], r["threshold"], r["crossing_fit"], r["crossing_base"],
                              point[[i]], None if samples is None else samples[[i]], alpha, note))
    for (utd, thr), g in both.groupby(["utd", "threshold"], sort=True):
        index = g.index[~np.isnan(point[g.index])].to_numpy()  # the envs where at least one reaches J
        notes = "; ".join(f"{env}: {n}" for env, n in zip(both.loc[g.index, "env"], (out[i]["note"] for i in g.index),
                                                               strict=True) if n)
        out.append(_ratio_row("all", utd, thr, _geomean(both.loc[index, "crossing_fit"]),
                              _geomean(both.loc[index, "crossing_base"]), point[index],
                              None if samples is None else samples[index], alpha,
                              notes if len(index) else "neither reaches J in any env"))
    return pd.DataFrame(out, columns=list(RATIO_COLUMNS))


def _log_ratio(fit: np.ndarray, base: np.ndarray) -> np.ndarray:
    """log(fit / base) with a never-reached J (NaN) infinitely late: ±inf, NaN when neither reaches it."""
    with np.errstate(invalid="ignore"):
        return np.log(np.where(np.isnan(fit), np.inf, fit)) - np.log(np.where(np.isnan(base), np.inf, base))


def _geomean(values: pd.Series) -> float:
    """The geometric mean of env steps, NaN if there are none or one is NaN (never reached)."""
    return float(np.exp(np.log(values.to_numpy(dtype=float)).mean())) if len(values) else np.nan


def _never(fit: float, base: float) -> str:
    if np.isnan(fit) and np.isnan(base):
        return "neither reaches J"
    return "fitted never reaches J" if np.isnan(fit) else ("baseline never reaches J" if np.isnan(base) else "")


def _ratio_row(group: str, utd: float, threshold: float, fit: float, base: float, point: np.ndarray,
               samples: np.ndarray | None, alpha: float, note: str) -> dict[str, Any]:
    """One row of :func:`compare_data`: the mean log ratio over the rows given (envs) and its interval."""
    with np.errstate(invalid="ignore"):
        log_ratio = float(point.mean()) if len(point) else np.nan
        lo = hi = np.nan
        n_valid = 0
        if samples is not None and len(point):
            per_sample = samples.mean(axis=0)
            valid = per_sample[~np.isnan(per_sample)]
            n_valid = len(valid)
            if n_valid:
                lo = float(np.quantile(valid, alpha / 2, method="lower"))
                hi = float(np.quantile(valid, 1 - alpha / 2, method="higher"))
    return {"group": group, "utd": float(utd), "threshold": float(threshold), "fitted_data": float(fit),
            "baseline_data": float(base), "ratio": float(np.exp(log_ratio)), "ratio_lower": float(np.exp(lo)),
            "ratio_upper": float(np.exp(hi)), "n_envs": int((~np.isnan(point)).sum()), "n_samples": n_valid,
            "note": note}


def check_frontier_args(delta: float, n_bootstrap: int, holdout: int) -> None:
    """Reject bad frontier settings before any table is read."""
    if n_bootstrap < 0:
        raise RlscaleError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if not (isinstance(delta, int | float) and math.isfinite(delta) and delta >= 0):
        raise RlscaleError(f"delta must be a non-negative number of FLOPs per env step, got {delta}")
    if holdout < 0:
        raise RlscaleError(f"holdout must be >= 0, got {holdout}")


def nearest_grid_runs(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The runs whose (B, η) grid cell is nearest in log to ``table``'s per-(env, σ) values.

    A stand-in for training at proposed (or baseline) hyperparameters when only the grid sweep
    exists: it compares the same grid's cells, so fitted-vs-baseline gaps come out smaller than
    with runs trained at the exact proposals."""
    bs = np.sort(runs["batch_size"].unique())
    lrs = np.sort(runs["learning_rate"].unique())
    b_near = bs[np.argmin(np.abs(np.log(table["batch_size"].to_numpy(float)[:, None] / bs[None, :])), axis=1)]
    lr_near = lrs[np.argmin(np.abs(np.log(table["learning_rate"].to_numpy(float)[:, None] / lrs[None, :])), axis=1)]
    want = pd.DataFrame({"env": table["env"].astype(str).to_numpy(), "utd": table["utd"].to_numpy(float),
                         "batch_size": b_near.astype(np.int64), "learning_rate": lr_near})
    keys = pd.MultiIndex.from_frame(want)
    have = pd.MultiIndex.from_frame(runs[["env", "utd", "batch_size", "learning_rate"]].astype(
        {"env": str, "utd": float, "batch_size": np.int64, "learning_rate": float}))
    return runs[have.isin(keys)].reset_index(drop=True)


def widened_utds(utds: Sequence[float]) -> list[float]:
    """The σ values plus half the smallest and twice the largest: where proposals extrapolate."""
    utds = sorted(float(u) for u in np.unique(np.asarray(utds, dtype=float)))
    return [utds[0] / 2, *utds, utds[-1] * 2]


def optimum_for_deltas(fit: FrontierFit, deltas: Sequence[float]) -> pd.DataFrame:
    """σ*, D*, C*, F* per J for each δ (FLOPs per env step), on the same fitted D_J(σ): a costlier
    environment step makes data dearer, so σ* moves up. Columns: delta, threshold, utd, data, compute, budget."""
    if not len(deltas):
        raise RlscaleError("optimum_for_deltas: give at least one δ")
    frames = []
    for delta in deltas:
        f = fit.frontier
        front = ComputeFrontier(float(delta), f.critic_params, fit.batch, utd_range=f.utd_range_, holdout=f.holdout,
                                search=f.search, budget_points=f.budget_points, compute_unit=f.compute_unit,
                                higher_is_better=f.higher_is_better).fit(fit.efficiency)
        frames.append(front.optimum_.loc[:, ["threshold", "utd", "data", "compute", "budget"]].assign(
            delta=float(delta)))
    return pd.concat(frames, ignore_index=True).loc[:, ["delta", "threshold", "utd", "data", "compute", "budget"]]


#: per-run diagnostics a run table may log, summarised for the overfitting and plasticity figure (``overfitting``
#: alone serves a table that logs the difference but not its two terms)
DIAGNOSTIC_COLUMNS = ("newest_td_error", "replay_td_error", "critic_param_norm", "train_td_error", "val_td_error",
                      "overfitting")


def late_diagnostics(runs: pd.DataFrame, last_frac: float = 0.2) -> pd.DataFrame:
    """Per (env, utd, batch_size, learning_rate): the seed mean of each run's mean over its last ``last_frac``
    of logged evaluations (the end-of-training level, less noisy than the last point) of every diagnostic
    column the table has; ``overfitting`` is newest-data minus replay TD error where both are logged (the
    replay one is ``replay_td_error``, or ``train_td_error``, what ``rlscale train`` calls its uniform replay
    sample), else the table's own ``overfitting`` column where it logs one."""
    have = [c for c in DIAGNOSTIC_COLUMNS if c in runs.columns and runs[c].notna().any()]
    if not have:  # named as the run table's columns: replay_td_error is only an alias read where a table has it
        columns = [c for c in DIAGNOSTIC_COLUMNS if c in OPTIONAL_COLUMNS]
        raise RlscaleError(f"the run table logs none of {', '.join(columns)}")
    if not 0 < last_frac <= 1:
        raise RlscaleError(f"last_frac must be in (0, 1], got {last_frac}")
    keys = ["env", "utd", "batch_size", "learning_rate"]
    runs = runs.dropna(subset=have, how="all")
    rank = runs.groupby([*keys, "seed"])["env_step"].rank(method="first", ascending=False)
    size = runs.groupby([*keys, "seed"])["env_step"].transform("size")
    late = runs[rank <= np.ceil(last_frac * size)]
    per_seed = late.groupby([*keys, "seed"], as_index=False)[have].mean()
    out = per_seed.groupby(keys, as_index=False)[have].mean().assign(env=lambda f: f["env"].astype(str))
    replay = "replay_td_error" if "replay_td_error" in have else "train_td_error"  # rlscale's name for it
    if "newest_td_error" in have and replay in have:
        out["overfitting"] = out["newest_td_error"] - out[replay]
    return out


def json_ready(obj: Any) -> Any:
    """For JSON: floats to 10 significant digits (the same fit gives the same bytes, whatever BLAS kernel ran
    it), NaN/inf as null (JSON has none), numpy scalars and arrays as Python ones, keys as strings."""
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalar
        obj = obj.item()
    if isinstance(obj, float):
        return float(f"{obj:.10g}") if math.isfinite(obj) else None
    return obj
