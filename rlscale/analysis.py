"""The analysis chain from a run table to every fitted law, shared by ``rlscale fit`` and the notebooks.

The steps are METHOD 2 in order: read and normalise the table (:func:`load_runs`), threshold
crossings with a seed bootstrap, best (B, η) and their laws in σ (:func:`fit_hparams`), data
efficiency D_J(σ), the compute frontier and σ*(F) (:func:`fit_frontier`). :func:`load_and_fit`
runs all of it for one benchmark and returns an :class:`Analysis` whose attributes are what the
figure functions of :mod:`rlscale.plots` take, so each notebook is a parameters cell, one or two
calls here and one figure call.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws.efficiency import DataEfficiency
from rlscale.laws.frontier import BatchSizeLaw, ComputeFrontier, configs_of, crossings_table, select_configs
from rlscale.laws.hparams import BestHyperparams, HyperparamLaws, extrapolation_errors
from rlscale.laws.normalize import ReturnNormalizer, filter_reset_dips
from rlscale.laws.thresholds import ThresholdCrossings, default_thresholds
from rlscale.runs import read_run_table, validate_run_table

DEFAULT_J_LO = {"gym": 300.0, "dmc": 200.0}

RunsLike = str | os.PathLike | pd.DataFrame


def load_runs(
    runs: RunsLike, *, benchmark: str | None = None, max_return: Mapping[str, float] | None = None,
    min_return: Mapping[str, float] | None = None, reset_every_updates: float | None = None, min_seeds: int = 2,
    one_benchmark: bool = False,
) -> pd.DataFrame:
    """A validated run table (path or frame) of one benchmark (if given; ``one_benchmark``: the table
    must hold only one), returns on the 0-1000 scale (``score`` column) and, for agents with periodic
    resets, the post-reset dips dropped."""
    if isinstance(runs, pd.DataFrame):
        table = validate_run_table(runs, min_seeds=min_seeds)
    else:
        table = read_run_table(runs, min_seeds=min_seeds)
    if benchmark is not None:
        have = sorted(table["benchmark"].astype(str).unique())
        table = table[table["benchmark"] == benchmark].reset_index(drop=True)
        if table.empty:
            raise RlscaleError(f"run table has no rows of benchmark '{benchmark}' (has {', '.join(have)})")
    if one_benchmark:
        single_benchmark(table)
    table = ReturnNormalizer(max_return=dict(max_return) if max_return else None,
                             min_return=dict(min_return) if min_return else None).transform(table)
    if reset_every_updates is not None:
        table = filter_reset_dips(table, reset_every_updates)
    return table


def single_benchmark(runs: pd.DataFrame) -> str:
    """The table's one benchmark; a frontier is per benchmark, so a mixed table is an error."""
    benchmarks = sorted(runs["benchmark"].astype(str).unique())
    if len(benchmarks) > 1:
        raise RlscaleError(f"fit frontier: the table mixes benchmarks ({', '.join(benchmarks)}); "
                           "a frontier is per benchmark, give one at a time")
    return benchmarks[0]


def frontier_thresholds(benchmark: str, thresholds: Sequence[float] | None = None,
                        j_lo: float | None = None) -> np.ndarray:
    """The given thresholds, else METHOD 2.7's ten from the benchmark's lowest J to 800, dense near 800."""
    if thresholds is not None:
        return np.asarray(thresholds, dtype=float)
    return default_thresholds(j_lo if j_lo is not None else DEFAULT_J_LO.get(benchmark, 300.0))


@dataclass
class HparamFit:
    """Best hyperparameters at the highest threshold, their power laws in σ and the proposals."""

    crossings: ThresholdCrossings
    best: BestHyperparams
    laws: HyperparamLaws
    proposed: pd.DataFrame
    errors: pd.DataFrame | None = None
    validate_range: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The content of ``hparams.json`` (NaN kept; :func:`finite_or_null` before writing JSON)."""
        out = {
            **self.laws.to_dict(),
            "threshold": self.best.threshold_,
            "thresholds": [float(t) for t in self.crossings.thresholds_],
            "estimator": self.best.estimator,
            "variant": "shared" if self.laws.shared_slope else "separate",
            "n_bootstrap": self.crossings.n_bootstrap,
            "seed": self.crossings.random_state,
            "best": self.best.best_.to_dict(orient="records"),
            "baseline": self.laws.baseline_.to_dict(orient="records"),
        }
        if self.errors is not None:
            out["extrapolation"] = {
                "fit_range": list(self.validate_range),
                "mean_rel_error": {h: float(g["rel_error"].mean()) for h, g in self.errors.groupby("hparam")},
                "points": self.errors.to_dict(orient="records"),
            }
        return out


def crossings_of(runs: pd.DataFrame, thresholds: Sequence[float], n_bootstrap: int = 100,
                 seed: int = 0) -> ThresholdCrossings:
    """Threshold crossings of every configuration with a bootstrap over seeds."""
    return ThresholdCrossings(np.asarray(thresholds, dtype=float), n_bootstrap=n_bootstrap,
                              random_state=seed).fit(runs)


def fit_hparams(
    runs: pd.DataFrame, thresholds: Sequence[float] = (800.0,), *, estimator: str = "bootstrap",
    variant: str = "shared", baseline_utd: float = 2.0, n_bootstrap: int = 100, seed: int = 0,
    utds_to_predict: Sequence[float] | None = None, validate_range: tuple[float, float] | None = None,
    crossings: ThresholdCrossings | None = None,
) -> HparamFit:
    """METHOD 2.3-2.5 on a grid sweep: best (B, η) per (env, σ) at max(thresholds), B*(σ) and η*(σ),
    proposals for ``utds_to_predict`` (default: the table's σ) and, with ``validate_range``, the
    errors of laws fitted on σ inside it at the σ outside. ``crossings`` reuses computed crossings."""
    if n_bootstrap < 1:
        raise RlscaleError(f"--n-bootstrap must be >= 1, got {n_bootstrap}")
    if utds_to_predict is not None and any(not (u > 0 and math.isfinite(u)) for u in utds_to_predict):
        raise RlscaleError("--utds-to-predict: every utd must be a positive number")
    crossings = crossings or crossings_of(runs, thresholds, n_bootstrap, seed)
    best = BestHyperparams(threshold=float(max(thresholds)), estimator=estimator).fit(crossings)
    laws = HyperparamLaws(shared_slope=variant == "shared", baseline_utd=baseline_utd).fit(best)
    utds = utds_to_predict or sorted(float(u) for u in np.unique(runs["utd"]))
    errors = None
    if validate_range is not None:
        errors = extrapolation_errors(best, tuple(validate_range), shared_slope=variant == "shared")
    return HparamFit(crossings, best, laws, laws.propose(utds), errors,
                     tuple(validate_range) if validate_range is not None else None)


@dataclass
class FrontierFit:
    """Data efficiency per J, the data-compute frontier and the laws of σ*, D*, C* in the budget F."""

    benchmark: str
    crossings: ThresholdCrossings
    configs: pd.DataFrame
    efficiency: DataEfficiency
    per_env: DataEfficiency
    batch: BatchSizeLaw
    frontier: ComputeFrontier
    n_bootstrap: int
    seed: int
    held_utd: DataEfficiency | None = None
    validate_utd_range: tuple[float, float] | None = None

    @property
    def pair(self) -> tuple[ComputeFrontier, DataEfficiency]:
        """(frontier, efficiency): what the frontier figures take."""
        return self.frontier, self.efficiency

    def problems(self) -> list[str]:
        """One line per fit that did not succeed or gave a bound rather than an optimum."""
        lines = [f"J={r.threshold:g} not fitted: {r.reason}"
                 for r in self.efficiency.params_[self.efficiency.params_["reason"] != ""].itertuples(index=False)]
        lo, hi = self.frontier.utd_range_
        lines += [f"J={r.threshold:g}: σ* is at the edge of the utd range {lo:g}..{hi:g} (a bound, not an optimum)"
                  for r in self.frontier.optimum_[self.frontier.optimum_["at_boundary"]].itertuples(index=False)]
        if self.frontier.law_reason_:
            lines.append(f"laws of σ*, D*, C* in F not fitted: {self.frontier.law_reason_}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The content of ``frontier.json`` (NaN kept; :func:`finite_or_null` before writing JSON)."""
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
                "at_boundary": bool(opt["at_boundary"]) if opt is not None else None,
                "held_out": bool(opt["held_out"]) if opt is not None else None,
            })
        front = self.frontier.to_dict()
        out = {
            "benchmark": self.benchmark,
            "delta": self.frontier.delta,
            "critic_params": self.frontier.critic_params,
            "utd_range": front["utd_range"],
            "holdout": self.frontier.holdout,
            "thresholds": per_threshold,
            "utd_law": front["utd_law"],
            "data_law": front["data_law"],
            "compute_law": front["compute_law"],
            "law_reason": front["law_reason"],
            "extrapolation": {"thresholds": front["extrapolation"]},
            "batch_size_law": self.batch.to_dict(),
            "ci_method": self.efficiency.ci_method_,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
            "per_env": self.per_env.to_dict(),
            "selected_configs": self.configs.to_dict(orient="records"),
        }
        if self.held_utd is not None:
            held = self.held_utd.heldout_
            out["extrapolation"]["utd"] = {
                "fit_range": list(self.validate_utd_range),
                "mean_rel_error": float(held["rel_error"].mean()) if len(held) else None,
                "points": held.to_dict(orient="records"),
            }
        return out


def fit_frontier(
    runs: pd.DataFrame, delta: float, *, thresholds: Sequence[float] | None = None, j_lo: float | None = None,
    holdout: int = 2, batch_size: BatchSizeLaw | HyperparamLaws | None = None, n_bootstrap: int = 100,
    utd_range: tuple[float, float] | None = None, validate_utd_range: tuple[float, float] | None = None,
    seed: int = 0, crossings: ThresholdCrossings | None = None,
) -> FrontierFit:
    """METHOD 2.6-2.7 on one benchmark: per (env, σ) the configuration reaching the top J earliest,
    env-normalised D_J(σ) (CIs from ``n_bootstrap`` seed resamples, 0: from the Jacobian),
    C = 10·N·B(σ)·σ·D with B(σ) from ``batch_size`` (hyperparameter laws; default: a power law
    fitted to the batch sizes of the selected runs), F = C + δ·D minimised over σ, and the laws
    in F fitted without the top ``holdout`` thresholds."""
    check_frontier_args(delta, n_bootstrap, holdout, utd_range, validate_utd_range)
    benchmark = single_benchmark(runs)
    if crossings is None:
        crossings = crossings_of(runs, frontier_thresholds(benchmark, thresholds, j_lo), max(n_bootstrap, 1), seed)
    index = select_configs(crossings)
    configs = configs_of(crossings, index)
    points, boot = crossings_table(crossings, index)
    boot = boot if n_bootstrap > 0 else None
    efficiency = DataEfficiency(normalize=True).fit(points, boot)
    per_env = DataEfficiency(normalize=False).fit(points, boot)
    if isinstance(batch_size, HyperparamLaws):
        variant = "shared" if batch_size.shared_slope else "separate"
        batch = BatchSizeLaw.from_hparams(batch_size.to_dict(), envs=sorted(configs["env"].unique()), variant=variant)
    else:
        batch = batch_size or BatchSizeLaw.from_runs(configs)
    n_params = float(np.median(configs["critic_params"]))
    frontier = ComputeFrontier(delta, n_params, batch, utd_range=utd_range, holdout=holdout).fit(efficiency)
    held_utd = None
    if validate_utd_range is not None:
        held_utd = DataEfficiency(normalize=True, fit_utds=tuple(validate_utd_range)).fit(points, None)
    return FrontierFit(benchmark, crossings, configs, efficiency, per_env, batch, frontier, n_bootstrap, seed,
                       held_utd, tuple(validate_utd_range) if validate_utd_range is not None else None)


def check_frontier_args(delta: float, n_bootstrap: int, holdout: int, utd_range: tuple[float, float] | None,
                        validate_utd_range: tuple[float, float] | None) -> None:
    """Reject bad frontier settings before any table is read."""
    if n_bootstrap < 0:
        raise RlscaleError(f"--n-bootstrap must be >= 0, got {n_bootstrap}")
    if not (math.isfinite(delta) and delta >= 0):
        raise RlscaleError(f"--delta must be a non-negative number of FLOPs per env step, got {delta}")
    if holdout < 0:
        raise RlscaleError(f"--holdout must be >= 0, got {holdout}")
    for name, lo_hi in (("utd-range", utd_range), ("validate-utd-range", validate_utd_range)):
        if lo_hi is not None and not (0 < lo_hi[0] < lo_hi[1] < math.inf):
            raise RlscaleError(f"--{name} expects 0 < LO < HI, got {lo_hi[0]:g} {lo_hi[1]:g}")


def nearest_grid_runs(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The runs whose (B, η) grid cell is nearest in log to ``table``'s per-(env, σ) values.

    A stand-in for training at proposed (or baseline) hyperparameters when only the grid sweep
    exists: it compares the same grid's cells, so fitted-vs-baseline gaps come out smaller than
    with runs trained at the exact proposals (METHOD 2.5 trains them)."""
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


@dataclass
class Analysis:
    """Everything fitted from one benchmark's tables; attribute names match the figure functions' arguments.

    ``hparams`` and ``frontier`` come from the grid sweep; ``fitted`` and ``baseline`` are the
    frontier fits of the runs at the proposed hyperparameters and at the constant baseline (from
    their own tables, or emulated with :func:`nearest_grid_runs`; ``emulated`` says which).
    """

    runs: pd.DataFrame
    thresholds: np.ndarray
    hparams: HparamFit
    frontier: FrontierFit
    fitted: FrontierFit
    baseline: FrontierFit
    emulated: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def benchmark(self) -> str:
        return self.frontier.benchmark

    def estimators(self, names: Sequence[str] = ("point", "bootstrap", "mean_other")
                   ) -> tuple[dict[str, BestHyperparams], dict[str, HyperparamLaws]]:
        """Plot i: the best hyperparameters from each estimator and the laws fitted to each."""
        estimates = {n: BestHyperparams(self.hparams.best.threshold_, n).fit(self.hparams.crossings) for n in names}
        laws = {n: HyperparamLaws(shared_slope=self.hparams.laws.shared_slope).fit(e) for n, e in estimates.items()}
        return estimates, laws

    def tables(self, hparam_range: tuple[float, float], utd_range: tuple[float, float]
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Table k: fitted coefficients (with CIs) and the held-out extrapolation errors, hyperparameter
        laws fitted on σ in ``hparam_range``, D_J(σ) on σ in ``utd_range``, the laws in F without the
        top thresholds."""
        from rlscale.plots import coefficient_table, extrapolation_table

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RlscaleWarning)
            errors = extrapolation_errors(self.hparams.best, tuple(hparam_range),
                                          shared_slope=self.hparams.laws.shared_slope)
            points = crossings_table(self.frontier.crossings, select_configs(self.frontier.crossings))[0]
            held = DataEfficiency(normalize=True, fit_utds=tuple(utd_range)).fit(points, None)
        coef = coefficient_table(self.hparams.laws, self.frontier.efficiency, self.frontier.frontier)
        return coef, extrapolation_table(errors, held, self.frontier.frontier)


def load_and_fit(
    runs_path: RunsLike, *, delta: float, benchmark: str | None = None, thresholds: Sequence[float] | None = None,
    j_lo: float | None = None, max_return: Mapping[str, float] | None = None,
    min_return: Mapping[str, float] | None = None, n_bootstrap: int = 100, holdout: int = 2,
    estimator: str = "bootstrap", baseline_utd: float = 2.0,
    reset_every_updates: float | None = None, fitted_runs: RunsLike | None = None,
    baseline_runs: RunsLike | None = None, seed: int = 0,
) -> Analysis:
    """Read a grid sweep of one benchmark and fit every law; see :class:`Analysis`.

    ``thresholds`` default to :func:`frontier_thresholds`; hyperparameters are chosen at the highest.
    ``fitted_runs``/``baseline_runs`` are tables of runs at the proposed and at the constant
    hyperparameters (METHOD 2.5); without them both are emulated from the grid. Our own warnings
    (e.g. a J never reached) are collected in ``Analysis.warnings`` instead of flooding a notebook.
    """
    if n_bootstrap < 1:
        raise RlscaleError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    prep = {"benchmark": benchmark, "max_return": max_return, "min_return": min_return,
            "reset_every_updates": reset_every_updates}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = load_runs(runs_path, **prep)
        thr = frontier_thresholds(single_benchmark(runs), thresholds, j_lo)
        crossings = crossings_of(runs, thr, n_bootstrap, seed)
        hp = fit_hparams(runs, thr, estimator=estimator, baseline_utd=baseline_utd, n_bootstrap=n_bootstrap,
                         seed=seed, crossings=crossings)
        common = {"thresholds": thr, "holdout": holdout, "n_bootstrap": n_bootstrap, "seed": seed}
        grid_fit = fit_frontier(runs, delta, batch_size=hp.laws, crossings=crossings, **common)
        utds = sorted(float(u) for u in np.unique(runs["utd"]))
        emulated = fitted_runs is None or baseline_runs is None
        fit_table = load_runs(fitted_runs, **prep) if fitted_runs is not None else nearest_grid_runs(
            runs, hp.laws.propose(utds))
        base_table = load_runs(baseline_runs, **prep) if baseline_runs is not None else nearest_grid_runs(
            runs, hp.laws.baseline(utds))
        fitted = fit_frontier(fit_table, delta, **common)
        baseline = fit_frontier(base_table, delta, **common)
    notes = [str(w.message) for w in caught if issubclass(w.category, RlscaleWarning)]
    notes += grid_fit.problems()
    return Analysis(runs, thr, hp, grid_fit, fitted, baseline, emulated, notes)


def widened_utds(runs: pd.DataFrame) -> list[float]:
    """The table's σ plus half the smallest and twice the largest: where proposals extrapolate."""
    utds = sorted(float(u) for u in np.unique(runs["utd"]))
    return [utds[0] / 2, *utds, utds[-1] * 2]


def optimum_for_deltas(fit: FrontierFit, deltas: Sequence[float]) -> pd.DataFrame:
    """σ*, D*, C*, F* per J for each δ (FLOPs per env step), on the same fitted D_J(σ): a costlier
    environment step makes data dearer, so σ* moves up. Columns: delta, threshold, utd, data, compute, budget."""
    frames = []
    for delta in deltas:
        front = ComputeFrontier(float(delta), fit.frontier.critic_params, fit.batch, utd_range=fit.frontier.utd_range,
                                holdout=fit.frontier.holdout)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RlscaleWarning)
            opt = front.fit(fit.efficiency).optimum_
        frames.append(opt.loc[:, ["threshold", "utd", "data", "compute", "budget"]].assign(delta=float(delta)))
    if not frames:
        raise RlscaleError("optimum_for_deltas: give at least one δ")
    return pd.concat(frames, ignore_index=True).loc[:, ["delta", "threshold", "utd", "data", "compute", "budget"]]


def fit_benchmarks(specs: Mapping[str, Mapping[str, Any]], **common: Any) -> dict[str, Analysis]:
    """Figure 1: :func:`load_and_fit` per benchmark; ``specs`` maps a column title to its keyword
    arguments (at least ``runs_path`` and ``delta``), ``common`` applies to all."""
    return {name: load_and_fit(**{**common, **spec}) for name, spec in specs.items()}


def finite_or_null(obj: Any) -> Any:
    """JSON has no NaN/inf: write null (e.g. an (env, utd) where nothing reached the threshold)."""
    if isinstance(obj, dict):
        return {str(k): finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_or_null(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
