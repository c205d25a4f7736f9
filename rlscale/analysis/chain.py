"""The paper's whole fit chain for one benchmark, computed once and saved; what every consumer reads.

Which table feeds which law (one decision, made here):

- the **grid** sweep (σ × B × η × seeds) gives the threshold crossings, the best (B, η) at the hardest
  threshold, the laws B*(σ) and η*(σ) with their proposals, the estimator comparison and the
  overfitting/plasticity diagnostics: only a grid varies B and η;
- the **fitted** runs (one configuration per (task, σ), trained at the proposed hyperparameters over a
  wider σ range) give D_J(σ), the data-compute frontier and σ*(F), with compute C = 10·N·B(σ)·σ·D
  using the B*(σ) law averaged over tasks (or a given law, ``batch_law``). Without fitted runs the grid
  stands in: per (task, σ) the cell that reaches the hardest J earliest (``sources_`` says so);
- the **baseline** runs (the grid-best (B, η) at σ = ``baseline_utd`` reused at every σ) get the same
  frontier fit, with compute at the batch size they used; without them the grid cells at those
  hyperparameters stand in.

A benchmark may come without a grid (the authors' Isaac Gym runs: the best configuration per σ only):
then there are no hyperparameter laws, and the fitted runs alone give D_J, the frontier and σ*(F). A
table with one seed per configuration (a published group mean) cannot be bootstrapped: its D_J
intervals come from the fit's Jacobian, and ``sources_`` says so.

Where the paper leaves room, the ``method`` (:mod:`rlscale.methods`: ``"rlscale"``, ``"paper"``) fixes
each choice, and an option given explicitly overrides it; every output records the method, each
resolved option and the max returns used.

``rlscale fit``, the pipeline's DVC metrics, Figure 1, every figure notebook and table k read one
saved :class:`Analysis` (``Analysis.load(path)``), so a number is the same wherever it is shown.
"""

from __future__ import annotations

import hashlib
import inspect
import io as stdio
import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlscale import io
from rlscale.analysis.steps import (
    FrontierFit,
    HparamFit,
    RunsLike,
    check_range,
    compare_data,
    crossings_of,
    fit_frontier,
    fit_hparams,
    frontier_thresholds,
    json_ready,
    late_diagnostics,
    load_runs,
    nearest_grid_runs,
    one_blas_thread,
    return_scale,
    single_benchmark,
    tie_sensitivity,
)
from rlscale.errors import RlscaleError, RlscaleWarning, TooFewSeeds
from rlscale.laws.efficiency import ALL, DataEfficiency, outside_interval
from rlscale.laws.frontier import COMPUTE_UNITS, QUANTITIES, BatchSizeLaw, ComputeFrontier
from rlscale.laws.hparams import (
    ESTIMATORS,
    HPARAMS,
    LAW_NAMES,
    BestHyperparams,
    HyperparamLaws,
    check_baseline_utd,
    check_estimator,
    law_terms,
)
from rlscale.laws.normalize import check_range_envs, score_to_return
from rlscale.laws.summary import NOT_FITTED, OK, Summary, check_max_ci_decades, text_column
from rlscale.laws.thresholds import ThresholdCrossings
from rlscale.methods import OPTION_NAMES, describe, method_options
from rlscale.options import DEFAULTS

FORMAT = 2
RUNS = ("fitted", "baseline")
_SYMBOL = {"d_min": "D_min", "beta": "β", "exponent": "α", "utd_scale": "s_0"}
_LAW_NAME = {"batch_size": "B*(σ) = coef·σ^exponent", "learning_rate": "η*(σ) = coef·σ^exponent",
             "utd": "σ*(F) = coef·F^exponent", "data": "D*(F) = coef·F^exponent", "compute": "C*(F) = coef·F^exponent"}
_D_J = "D_J(σ) = D_min + (β/σ)^α"
#: the columns of :meth:`Analysis.predict`: quantity is batch_size, learning_rate, data_to_threshold (D_J at utd) or
#: utd_optimal, data_optimal, compute_optimal (σ*, D*, C* at budget)
PREDICTION_COLUMNS = ("quantity", "env", "utd", "threshold", "env_return", "budget", "estimate", "lower", "upper",
                      "df_resid", "status", "extrapolated", "sign_undetermined", "at_grid_edge", "outside_interval")
#: what the baseline's source says: its pooled D_J is normalised by the fitted runs' per-task medians, so the two
#: compare task by task (as data_ratio does) rather than each on its own median task's scale
_ON_FITTED_SCALE = "; pooled D_J on the fitted runs' per-task scale (their median crossings)"
_NO_FIRST = ("quadratic", "bootstrap_quadratic")  # no argmin, so no "first grid value" for an unreached sample
#: the way out of a grid with one seed per configuration, named by every error that refuses one
ONE_SEED_WAY = ("estimators point, mean_other and quadratic read the all-seeds curves, so one seed per configuration "
                "is enough for them (a one-seed table's D_J intervals then come from the fit's Jacobian)")
_TEXT_COLUMNS = ("status", "reason", "note", "group", "env", "benchmark", "algo", "estimator", "hparam", "tie_break",
                 "variant", "runs", "fit", "quantity", "law", "source")



@contextmanager
def _recorded() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning of the fit, recorded; if the fit fails they are issued again to the caller, since they
    say why (e.g. no configuration reaching J at some σ) where the error only says what could not be fitted."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    except RlscaleError:
        for w in caught:
            if issubclass(w.category, RlscaleWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        raise


def _where(row: pd.Series) -> str:
    """Which answer a prediction row is, for a warning: quantity, env, and σ (with J) or F."""
    at = f"σ {row['utd']:g}" if pd.notna(row["utd"]) else f"F {row['budget']:g}"
    return f"{row['quantity']} of {row['env']} at {at}" + (f", J={row['threshold']:g}" if pd.notna(row["threshold"])
                                                          else "")

class Analysis:
    """Fit every law of the paper for one benchmark: build with the options, ``fit`` the tables, ``save``.

    Three lines::

        a = Analysis(delta=6e7, thresholds=[420, 440, 460, 480, 500])
        a.fit("data/runs/dmc.parquet", fitted="data/runs/dmc_fitted.parquet").save("results/dmc/analysis")
        a.summary()

    Options (all recorded in the saved result): ``delta`` (FLOPs per env step in F = C + δ·D);
    ``thresholds`` (default: ten from ``j_lo`` to 800, dense near 800; the hardest picks the
    hyperparameters); ``n_bootstrap`` (seed resamples for every interval); ``estimator``,
    ``variant`` ("shared"/"separate" slope), ``baseline_utd`` (the best-hyperparameter step);
    ``utds_to_predict`` (proposals); ``holdout`` (hardest thresholds left out of σ*(F) and predicted);
    ``hparam_fit_range``/``utd_fit_range`` (fit B*, η* / D_J on σ inside, predict the σ outside);
    ``utd_range`` (σ swept by the frontier); ``max_return``/``min_return`` (the 0-1000 scale, per env,
    over the method's max-return presets); ``reset_every_updates`` (drop post-reset dips);
    ``max_ci_decades`` (the verdict's span limit); ``compare_estimators`` (estimators drawn side by
    side); ``benchmark`` (keep only this one); ``batch_law`` (B*(σ) for compute given as numbers,
    ``{"exponent": e, "coef": {env: c}, "source": "..."}``, instead of the grid's own law);
    ``compute_unit`` ("flops", or "gradient_steps": C = σ·D with δ in gradient steps per env step);
    ``return_kind`` (the return the laws see: ``auto``, the table's own, by default; ``train`` the
    training-episode return the authors' Gym laws use; ``eval``; the one used is ``sources_[...]["metric"]``).

    ``method`` ("rlscale" or "paper") and the options of :data:`rlscale.methods.METHOD_OPTIONS` (``seed``,
    ``crossing``, ``hparam_average``, ``unreached``, ``separate_utds``, ``dj_normalize``, ``dj_loss``,
    ``sigma_search``, ``budget_points``, ``baseline_scale``, ``max_return_preset``, ``fitted_max_return_preset``):
    None takes
    the method's value; :meth:`resolved_options` lists them all.

    Fitted attributes: ``benchmark_``, ``thresholds_``, ``max_returns_`` ({table: {env: R}}: the scale of
    each table; ``max_return_``/``min_return_`` are the grid's), ``sources_`` (which table fed what),
    ``crossings_`` (grid; None when loaded or without a grid), ``hparams_``
    (:class:`~rlscale.analysis.steps.HparamFit`, None without a grid), ``estimators_`` (name -> (best,
    laws or None)), ``fitted_``/``baseline_`` (:class:`~rlscale.analysis.steps.FrontierFit`; ``baseline_``
    None without baseline runs or grid), ``data_ratio_`` (env steps to reach each J of the fitted over the
    baseline runs per σ, with seed-bootstrap intervals: :func:`~rlscale.analysis.steps.compare_data`; None
    without a baseline, or in an analysis saved before rlscale recorded it), ``ties_`` (the shared exponents
    of B*, η* with the best cells' ties broken toward the smallest grid value and at random:
    :func:`~rlscale.analysis.steps.tie_sensitivity`; None without a grid or saved before), ``diagnostics_``
    (late TD errors and critic norms per grid cell, or None), ``grid_values_``, ``warnings_``.
    """

    def __init__(
        self, *, delta: float, benchmark: str | None = None, method: str = DEFAULTS.method,
        thresholds: Sequence[float] | None = None, j_lo: float | None = None, n_bootstrap: int = DEFAULTS.n_bootstrap,
        seed: int | None = None, estimator: str = DEFAULTS.estimator, variant: str = DEFAULTS.variant,
        baseline_utd: float = DEFAULTS.baseline_utd, holdout: int = DEFAULTS.holdout,
        utds_to_predict: Sequence[float] | None = None,
        hparam_fit_range: Sequence[float] | None = None, utd_fit_range: Sequence[float] | None = None,
        utd_range: Sequence[float] | None = None, max_return: dict[str, float] | None = None,
        min_return: dict[str, float] | None = None, reset_every_updates: float | None = None,
        max_ci_decades: float = DEFAULTS.max_ci_decades,
        compare_estimators: Sequence[str] = DEFAULTS.compare_estimators,
        crossing: str | None = None, hparam_average: str | None = None, unreached: str | None = None,
        separate_utds: str | None = None, dj_normalize: str | None = None, dj_loss: str | None = None,
        sigma_search: str | None = None, budget_points: str | None = None, baseline_scale: str | None = None,
        max_return_preset: str | None = None,
        fitted_max_return_preset: str | None = None, batch_law: Mapping[str, Any] | None = None,
        compute_unit: str = DEFAULTS.compute_unit, return_kind: str = DEFAULTS.return_kind,
    ) -> None:
        self.delta = delta
        self.benchmark = benchmark
        self.method = method
        self.thresholds = thresholds
        self.j_lo = j_lo
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.estimator = estimator
        self.variant = variant
        self.baseline_utd = baseline_utd
        self.holdout = holdout
        self.utds_to_predict = utds_to_predict
        self.hparam_fit_range = hparam_fit_range
        self.utd_fit_range = utd_fit_range
        self.utd_range = utd_range
        self.max_return = max_return
        self.min_return = min_return
        self.reset_every_updates = reset_every_updates
        self.max_ci_decades = max_ci_decades
        self.compare_estimators = compare_estimators
        self.crossing = crossing
        self.hparam_average = hparam_average
        self.unreached = unreached
        self.separate_utds = separate_utds
        self.dj_normalize = dj_normalize
        self.dj_loss = dj_loss
        self.sigma_search = sigma_search
        self.budget_points = budget_points
        self.baseline_scale = baseline_scale
        self.max_return_preset = max_return_preset
        self.fitted_max_return_preset = fitted_max_return_preset
        self.batch_law = batch_law
        self.compute_unit = compute_unit
        self.return_kind = return_kind

    @classmethod
    def option_names(cls) -> list[str]:
        """The constructor's options, in order (what ``params.yaml`` may set per benchmark)."""
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def get_params(self) -> dict[str, Any]:
        """Every option as plain JSON values, as ``analysis.json`` records them (:func:`json_ready`; None: the
        method's value)."""
        return {name: json_ready(getattr(self, name)) for name in self.option_names()}

    def resolved_options(self) -> dict[str, Any]:
        """Every choice of :data:`rlscale.methods.METHOD_OPTIONS`: the method's value unless given; one line on
        a bad value."""
        return method_options(self.method, **{name: getattr(self, name) for name in OPTION_NAMES})

    # ------------------------------------------------------------------ fitting

    @one_blas_thread
    def fit(self, runs: RunsLike | None, fitted: RunsLike | None = None, baseline: RunsLike | None = None) -> Analysis:
        """Fit the chain on the grid ``runs`` and, when given, the ``fitted`` and ``baseline`` runs (tables or
        paths); ``runs=None`` (no grid) fits the frontier of the ``fitted`` runs alone. Our own warnings (e.g. a
        J never reached) are kept in ``warnings_``. The grid needs 2 seeds per configuration only for an
        estimator that resamples them (``bootstrap``, ``bootstrap_joint``, ``bootstrap_quadratic``)."""
        if self.n_bootstrap < 1:  # the crossings, best (B, η), ties and data ratios all draw on the resamples
            raise RlscaleError(f"n_bootstrap must be >= 1, got {self.n_bootstrap}: the crossings, best (B, η) and "
                               f"data ratios are bootstrapped over seeds; for a grid with one seed per configuration, "
                               f"{ONE_SEED_WAY}")
        check_estimator(self.estimator)
        check_baseline_utd(self.baseline_utd)
        check_max_ci_decades(self.max_ci_decades)  # before the tables are read
        if self.batch_law is not None and self.compute_unit != "gradient_steps":
            self._given_batch_law(None)  # its shape, before the fits it would end
        if runs is None and fitted is None:
            raise RlscaleError("analysis: give a grid, fitted runs, or both")
        if self.compute_unit not in COMPUTE_UNITS:
            raise RlscaleError(f"compute_unit must be one of {', '.join(COMPUTE_UNITS)}, got {self.compute_unit!r}")
        opts = self.resolved_options()
        self.options_ = opts
        self._saved_coefficients = None  # a refit of a loaded analysis computes its own
        # each table may hold a subset of the envs (e.g. fitted runs of some only): a range must name an env of one
        prep = {"benchmark": self.benchmark, "max_return": self.max_return, "min_return": self.min_return,
                "reset_every_updates": self.reset_every_updates, "return_kind": self.return_kind, "check_envs": False}
        presets = {"grid": opts["max_return_preset"], "fitted": opts["fitted_max_return_preset"],
                   "baseline": opts["fitted_max_return_preset"]}
        with _recorded() as caught:
            given = {"grid": runs, "fitted": fitted, "baseline": baseline}
            resamples = ESTIMATORS[self.estimator][1]  # a bootstrap estimator needs seeds to resample
            loaded = {}
            for name, table in given.items():
                if table is None:
                    continue
                try:
                    loaded[name] = load_runs(table, **prep, max_return_preset=presets[name],
                                             min_seeds=2 if name == "grid" and resamples else 1)
                except TooFewSeeds as exc:
                    raise TooFewSeeds(f"{exc}; estimator {self.estimator} resamples them, but {ONE_SEED_WAY}") from None
            self.benchmark_ = single_benchmark(pd.concat([t[["benchmark"]] for t in loaded.values()]))
            check_range_envs({env for t in loaded.values() for env in t["env"].astype(str).unique()},
                             self.max_return, self.min_return, source="the run tables")
            self.max_returns_ = {name: self._scale(table, presets[name]) for name, table in loaded.items()}
            first = self.max_returns_["grid" if "grid" in loaded else "fitted"]
            self.max_return_, self.min_return_ = first["max_return"], first["min_return"]
            self.thresholds_ = frontier_thresholds(self.benchmark_, self.thresholds, self.j_lo)
            grid = loaded.get("grid")
            self.crossings_ = self.hparams_ = self.diagnostics_ = self.grid_values_ = self.ties_ = None
            self.estimators_ = {}
            self.sources_ = {}
            if grid is not None:
                self.crossings_ = crossings_of(grid, self.thresholds_, self.n_bootstrap, opts["seed"],
                                               opts["crossing"])
                self.hparams_ = self._fit_hparams(grid, self.thresholds_, self.crossings_, self.hparam_fit_range)
                self.estimators_ = self._compare()
                self.ties_ = tie_sensitivity(self.crossings_, self.hparams_, seed=opts["seed"],
                                             average=opts["hparam_average"], unreached=opts["unreached"],
                                             max_ci_decades=self.max_ci_decades)
                self.grid_values_ = {c: sorted(float(v) for v in grid[c].unique())
                                     for c in ("utd", "batch_size", "learning_rate")}
                self.sources_["grid"] = _describe(runs, grid, "crossings, best (B, η), B*(σ), η*(σ), diagnostics")
            for runs_name in ("fitted", "baseline"):
                if runs_name in loaded:
                    _warn_selection(loaded[runs_name], runs_name, grid)
            if "fitted" in loaded:
                table, source = loaded["fitted"], "fitted runs"
                self.sources_["fitted"] = _describe(fitted, table, "D_J(σ), frontier, σ*(F)")
            else:
                table = grid
                source = "grid (per (env, σ) the cell reaching the hardest J earliest; no fitted runs given)"
                self.sources_["fitted"] = {"table": "grid", "role": source}
            self.fitted_ = self._fit_frontier(table, source, "fitted", batch=self._batch_law(table),
                                              crossings=self.crossings_ if "fitted" not in loaded else None)
            self.baseline_ = None
            on_fitted = opts["baseline_scale"] == "fitted"
            reference, on_scale = (self.fitted_.efficiency, _ON_FITTED_SCALE) if on_fitted else (None, "")
            if "baseline" in loaded:
                self.sources_["baseline"] = _describe(baseline, loaded["baseline"],
                                                      "constant-hyperparameter comparison")
                self.baseline_ = self._fit_frontier(loaded["baseline"], "baseline runs" + on_scale, "baseline",
                                                    reference=reference)
            elif grid is not None:
                base = nearest_grid_runs(grid, self.hparams_.laws.baseline(self.grid_values_["utd"]))
                base_source = (f"grid cells at the grid-best (B, η) of σ = {self.baseline_utd:g} "
                               "(no baseline runs given)")
                self.sources_["baseline"] = {"table": "grid", "role": base_source}
                self.baseline_ = self._fit_frontier(base, base_source + on_scale, "baseline", reference=reference)
            self.data_ratio_ = None if self.baseline_ is None else compare_data(
                self.fitted_, self.baseline_, same_runs="fitted" not in loaded and "baseline" not in loaded)
            if grid is not None:
                try:
                    self.diagnostics_ = late_diagnostics(grid)
                except RlscaleError as exc:
                    warnings.warn(f"overfitting and plasticity figure: {exc}", RlscaleWarning, stacklevel=2)
        self.warnings_ = list(dict.fromkeys(
            [str(w.message) for w in caught if issubclass(w.category, RlscaleWarning)] + self.problems()))
        return self

    @one_blas_thread
    def fit_hparams(self, runs: RunsLike) -> HparamFit:
        """Only the best-hyperparameter step on a grid (what the proposals for the fitted runs come from), with
        the same options as :meth:`fit`; leaves the analysis unfitted."""
        opts = self.resolved_options()
        grid = load_runs(runs, benchmark=self.benchmark, max_return=self.max_return, min_return=self.min_return,
                         reset_every_updates=self.reset_every_updates, max_return_preset=opts["max_return_preset"],
                         return_kind=self.return_kind)
        thresholds = frontier_thresholds(single_benchmark(grid), self.thresholds, self.j_lo)
        scale = self._scale(grid, opts["max_return_preset"])
        return self._fit_hparams(grid, thresholds, None, None, {"grid": scale})

    def _fit_hparams(self, grid: pd.DataFrame, thresholds: np.ndarray, crossings: ThresholdCrossings | None,
                     validate_range: Sequence[float] | None, max_returns: dict | None = None) -> HparamFit:
        opts = self.resolved_options()
        return fit_hparams(grid, thresholds, estimator=self.estimator, variant=self.variant,
                           baseline_utd=self.baseline_utd, n_bootstrap=self.n_bootstrap, seed=opts["seed"],
                           utds_to_predict=self.utds_to_predict, validate_range=validate_range, crossings=crossings,
                           max_ci_decades=self.max_ci_decades, crossing=opts["crossing"],
                           average=opts["hparam_average"], unreached=opts["unreached"],
                           separate_utds=opts["separate_utds"],
                           provenance=self._provenance(max_returns or {"grid": self.max_returns_.get("grid")}))

    def _fit_frontier(self, table: pd.DataFrame, source: str, runs: str, batch: BatchSizeLaw | None = None,
                      crossings: ThresholdCrossings | None = None,
                      reference: DataEfficiency | None = None) -> FrontierFit:
        """One table's frontier; a table with a single seed per configuration gets Jacobian intervals. ``reference``:
        the fitted runs' D_J fit, whose per-task scale a compared run set's pooled D_J is put on."""
        opts = self.options_
        seeds = int(table.groupby(["env", "utd", "batch_size", "learning_rate"], observed=True)["seed"].nunique().min())
        n_bootstrap = self.n_bootstrap if seeds > 1 else 0
        if seeds == 1:
            source += ("; one seed (or one published group mean) per configuration, so no seed bootstrap: D_J "
                       "intervals from the fit's Jacobian")
            warnings.warn(f"{runs} runs: one seed (or one published group mean) per configuration, so D_J's intervals "
                          "come from the fit's Jacobian, not from a seed bootstrap: they do not see how the crossings "
                          "vary between seeds and can read narrower, so more J may pass as laws; train 2 or more "
                          "seeds per configuration for intervals that do", RlscaleWarning, stacklevel=3)
        return fit_frontier(
            table, self.delta, thresholds=self.thresholds_, holdout=self.holdout, n_bootstrap=n_bootstrap,
            seed=opts["seed"], utd_range=check_range("utd_range", self.utd_range), max_ci_decades=self.max_ci_decades,
            batch_size=batch, validate_utd_range=self.utd_fit_range if runs == "fitted" else None, source=source,
            crossings=crossings if n_bootstrap else None, crossing=opts["crossing"],
            normalize_by="task" if opts["dj_normalize"] == "per_task" else "threshold", loss=opts["dj_loss"],
            search=opts["sigma_search"], budget_points=opts["budget_points"], compute_unit=self.compute_unit,
            provenance=self._provenance({runs: self.max_returns_.get(runs, self.max_returns_.get("grid"))}),
            reference=reference)

    def _provenance(self, max_returns: dict) -> dict[str, Any]:
        """What every output records: the method, each resolved option, the max returns used."""
        return {"method": self.method, "options": self.resolved_options(), "max_return": max_returns}

    def _scale(self, table: pd.DataFrame, preset: str) -> dict[str, Any]:
        """The 0-1000 scale a table was put on: its preset and each env's max and min return (the envs given a
        range were checked when the tables were loaded)."""
        return return_scale(table, preset, self.max_return, self.min_return, check_envs=False)

    def _compare(self) -> dict[str, tuple[BestHyperparams, HyperparamLaws | None]]:
        opts = self.options_
        out = {}
        for name in self.compare_estimators:
            if name == self.estimator:
                out[name] = (self.hparams_.best, self.hparams_.laws)
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RlscaleWarning)  # the main estimator already warned
                best = BestHyperparams(self.hparams_.best.threshold_, name, average=opts["hparam_average"],
                                       unreached=opts["unreached"] if name not in _NO_FIRST else "drop"
                                       ).fit(self.crossings_)
                try:
                    laws = HyperparamLaws(shared_slope=self.variant == "shared", baseline_utd=self.baseline_utd,
                                          max_ci_decades=self.max_ci_decades,
                                          separate_utds=opts["separate_utds"]).fit(best)
                except RlscaleError:
                    laws = None
            out[name] = (best, laws)
        return out

    def _given_batch_law(self, envs: Sequence[str] | None) -> BatchSizeLaw:
        """The given ``batch_law`` for ``envs`` (None: every env it names, to check its shape before any fit)."""
        if not isinstance(self.batch_law, Mapping):
            raise RlscaleError(f"batch_law must be a mapping ({{'exponent': e, 'coef': {{env: c}}}}, or an "
                               f"hparams.json's contents), got {type(self.batch_law).__name__}")
        law = dict(self.batch_law)
        if "batch_size" in law:  # a fit's hparams.json: its B*(σ) laws, of the variant it proposed with
            return BatchSizeLaw.from_hparams(law, envs=envs, variant=str(law.get("variant", "shared")),
                                             source="batch_law (an hparams.json)")
        try:
            return BatchSizeLaw.from_shared(law["exponent"], law["coef"], envs=envs,
                                            source=str(law.get("source", "batch_law (given)")))
        except KeyError as exc:
            raise RlscaleError(f"batch_law needs 'exponent' and 'coef' ({{env: coef}}), or the 'batch_size' laws "
                               f"of an hparams.json, lacks {exc}") from None

    def _batch_law(self, table: pd.DataFrame) -> BatchSizeLaw | None:
        """B(σ) for compute: the given ``batch_law``, else the B*(σ) laws averaged over the table's tasks when
        each is a law, else (None) the batch sizes the runs used."""
        envs = sorted(table["env"].astype(str).unique())
        if self.compute_unit == "gradient_steps":
            return None  # compute counts gradient steps: B does not enter it
        if self.batch_law is not None:
            return self._given_batch_law(envs)
        if self.hparams_ is None:
            return None
        laws = self.hparams_.laws
        missing = [e for e in envs if e not in laws.env_benchmark_ or not laws.law("batch_size", e).is_law(e)]
        if missing:
            warnings.warn(f"compute uses the batch sizes the runs used: B*(σ) of {', '.join(missing)} is not a law",
                          RlscaleWarning, stacklevel=3)
            return None
        return BatchSizeLaw.from_laws(laws, envs=envs)

    # ------------------------------------------------------------------ reading the result

    def frontier_fit(self, runs: str = "fitted") -> FrontierFit | None:
        """The frontier fit of the ``fitted`` or ``baseline`` runs (None: no baseline runs and no grid)."""
        if runs not in RUNS:
            raise RlscaleError(f"runs must be one of {', '.join(RUNS)}, got {runs!r}")
        return self.fitted_ if runs == "fitted" else self.baseline_

    def frontier_fits(self) -> dict[str, FrontierFit]:
        """{"fitted": ..., "baseline": ...}, the fits there are."""
        return {runs: fit for runs in RUNS if (fit := self.frontier_fit(runs)) is not None}

    def problems(self) -> list[str]:
        """One line per fit that is not a law, optimum that is a bound, or held-out point without a law."""
        lines = []
        if self.hparams_ is not None:
            lines += self.hparams_.laws.problems()
        for runs, fit in self.frontier_fits().items():
            lines += [f"{runs} runs: {line}" for line in fit.problems()]
        return lines

    def coefficients(self, alpha: float = 0.05) -> pd.DataFrame:
        """Table k (coefficients): every fitted law's parameters with (1 - alpha) intervals, one row each.

        Columns: law, runs, group, threshold (NaN where not per J), parameter (the paper's symbols for
        D_J), estimate, lower, upper, n_obs, df_resid, status, reason. Where a fit is not a law the
        estimate is left out and ``reason`` says why. A loaded analysis gives its saved 95% table as written: the
        bootstrap refits it would recompute from are saved to 10 significant digits, which moves an interval's
        last digits, and table k, metrics and the saved table must give the same numbers."""
        saved = getattr(self, "_saved_coefficients", None)
        if saved is not None and alpha == 0.05:
            return saved.copy()
        rows = []
        if self.hparams_ is not None:
            table = self.hparams_.laws.table(alpha)
            for r in table[table["variant"] == self.hparams_.laws.variant].itertuples(index=False):
                rows.append(_coef_row(_LAW_NAME[r.hparam], "grid", r.group, np.nan, r.parameter, r))
        for runs, fit in self.frontier_fits().items():
            for r in fit.efficiency.table(alpha).itertuples(index=False):
                if r.parameter == "utd_scale":
                    continue
                rows.append(_coef_row(_D_J, runs, r.group, r.threshold, _SYMBOL[r.parameter], r, n_obs=r.n_points))
            for r in fit.frontier.table(alpha).itertuples(index=False):
                rows.append(_coef_row(_LAW_NAME[r.quantity], runs, r.group, np.nan, r.parameter, r))
        return pd.DataFrame(rows, columns=["law", "runs", "group", "threshold", "parameter", "estimate", "lower",
                                           "upper", "n_obs", "df_resid", "status", "reason"])

    def predict(self, utds: Sequence[float] = (), thresholds: Sequence[float] | None = None,
                budgets: Sequence[float] = (), alpha: float = 0.05, runs: str = "fitted") -> pd.DataFrame:
        """The laws' answers for new settings, each with its (1 - alpha) interval, verdict and whether it
        extrapolates, one row per answer (columns :data:`PREDICTION_COLUMNS`):

        - at each σ of ``utds``: B*(σ) and η*(σ) of every task (the grid's laws), and D_J(σ), the env steps to
          reach J, of every task for each J of ``thresholds`` (default: every fitted J; the per-task laws of
          the ``runs`` runs, in that task's env steps; ``env_return``: the task's own return that J, on the
          0-1000 scale, stands for);
        - at each budget F of ``budgets``: σ*(F), D*(F) and C*(F) (the laws in F of the ``runs`` runs).

        Only rows whose ``status`` is ``ok`` come from a law; ``extrapolated`` marks a σ or F outside the values
        the law was fitted on; ``sign_undetermined`` a law whose exponent's interval includes 0, so the data do not
        give its direction (the claims call such a law not shown, the figures draw it over its data only): an
        extrapolated row of one is said once in a warning; ``at_grid_edge`` (B*, η* rows) the share of the optima
        behind the law (every task's, for a shared slope) that are the smallest or largest value the grid tried,
        bounds more than measurements, said in a warning where they are most of them; ``outside_interval`` an
        estimate outside its own interval (a percentile bootstrap interval can lean away from the point fit), said
        once in a warning.
        """
        frames = []
        if len(utds) and self.hparams_ is not None:
            table = self.hparams_.laws.predict_interval(utds, alpha=alpha)
            table["at_grid_edge"] = [self._edge_share(r.hparam, r.env) for r in table.itertuples(index=False)]
            mostly = table[table["at_grid_edge"] > 0.5].drop_duplicates(["hparam", "env"])
            if len(mostly):
                first = mostly.iloc[0]
                warnings.warn(f"B*/η* of {len(mostly)} (hparam, env) pair(s) rest mostly on optima at the grid's "
                              f"edge (first: {LAW_NAMES[first['hparam']]} of {first['env']}, "
                              f"{first['at_grid_edge']:.0%} of its points): the best values may lie beyond the grid, "
                              "so the law bounds them more than it measures them (column at_grid_edge)",
                              RlscaleWarning, stacklevel=2)
            frames.append(table.rename(columns={"hparam": "quantity"}))
        fit = self.frontier_fit(runs)
        if fit is not None and len(utds):
            per_env = fit.per_env
            scale = self.max_returns_.get(runs) or {}
            top, bottom = scale.get("max_return") or {}, scale.get("min_return")
            for threshold in per_env.thresholds_ if thresholds is None else thresholds:
                for env in per_env.groups_:
                    frames.append(per_env.predict_interval(utds, threshold, env, alpha, warn=False).rename(
                        columns={"group": "env"}).assign(quantity="data_to_threshold",
                                                         env_return=score_to_return(threshold, env, top, bottom)))
        if fit is not None and len(budgets):
            for quantity in QUANTITIES:
                frames.append(fit.frontier.predict_interval(budgets, quantity, alpha).assign(
                    quantity=f"{quantity}_optimal", env=ALL))
        if not frames:
            return pd.DataFrame(columns=PREDICTION_COLUMNS)
        out = pd.concat(frames, ignore_index=True)
        out["outside_interval"] = outside_interval(out["estimate"], out["lower"], out["upper"])
        unsupported = out[out["extrapolated"].astype(bool) & out["sign_undetermined"].astype(bool)
                          & (out["status"] == OK)]
        if len(unsupported):
            warnings.warn(f"{len(unsupported)} prediction(s) extrapolate a law whose exponent's {1 - alpha:.0%} "
                          f"interval includes 0 (first: {_where(unsupported.iloc[0])}): the data do not say whether "
                          "it rises or falls there, so the estimate is the fitted line's, not a supported prediction "
                          "(column sign_undetermined)", RlscaleWarning, stacklevel=2)
        if out["outside_interval"].any():
            warnings.warn(f"{int(out['outside_interval'].sum())} prediction(s) lie outside their own interval "
                          f"(first: {_where(out[out['outside_interval']].iloc[0])}): a percentile bootstrap interval "
                          "leans away from the point fit there (column outside_interval); read it as the refits' "
                          "spread, not as centred on the estimate",
                          RlscaleWarning, stacklevel=2)
        return out.reindex(columns=PREDICTION_COLUMNS)

    def _edge_share(self, hparam: str, env: str) -> float:
        """The share of the optima behind ``env``'s law of ``hparam`` that sit at the grid's edge: the task's own,
        or every task's for a shared slope (they set its exponent)."""
        best, laws = self.hparams_.best.best_, self.hparams_.laws
        envs = laws.law(hparam, env).groups_ if laws.variant == "shared" else [env]
        used = best[best["env"].isin(envs) & np.isfinite(best[hparam].to_numpy(dtype=float))]
        return float(used[f"{hparam}_at_edge"].astype(bool).mean()) if len(used) else np.nan

    def extrapolation(self) -> pd.DataFrame:
        """Table k (extrapolation): every held-out point, its prediction and |pred − actual| / actual, or
        the reason there is no prediction. Columns: law, runs, group, quantity, at, actual, predicted,
        rel_error, reason."""
        parts = []
        h = self.hparams_.heldout if self.hparams_ is not None else None
        if h is not None and len(h):
            lo, hi = self.hparams_.validate_range
            parts.append(pd.DataFrame({
                "law": f"B*(σ), η*(σ) fitted on σ in {lo:g}..{hi:g}", "runs": "grid", "group": h["env"],
                "quantity": h["hparam"], "at": h["utd"], "actual": h["actual"], "predicted": h["predicted"],
                "rel_error": h["rel_error"], "reason": h["reason"]}))
        fit = self.fitted_
        if fit.heldout is not None and len(fit.heldout.heldout_):
            e = fit.heldout.heldout_
            lo, hi = fit.validate_utd_range
            parts.append(pd.DataFrame({
                "law": f"D_J(σ) fitted on σ in {lo:g}..{hi:g}", "runs": "fitted", "group": e["group"],
                "quantity": [f"D at J={t:g}" for t in e["threshold"]], "at": e["utd"], "actual": e["actual"],
                "predicted": e["predicted"], "rel_error": e["rel_error"], "reason": e["reason"]}))
        for runs, fit in self.frontier_fits().items():
            e = fit.frontier.extrapolation_
            if len(e):
                parts.append(pd.DataFrame({
                    "law": f"σ*, D*, C* in F without the top {self.holdout} J", "runs": runs, "group": ALL,
                    "quantity": [f"{q}* at J={t:g}" for q, t in zip(e["quantity"], e["threshold"], strict=True)],
                    "at": e["budget"], "actual": e["actual"], "predicted": e["predicted"],
                    "rel_error": e["rel_error"], "reason": e["reason"]}))
        columns = ["law", "runs", "group", "quantity", "at", "actual", "predicted", "rel_error", "reason"]
        return pd.concat(parts, ignore_index=True).loc[:, columns] if parts else pd.DataFrame(columns=columns)

    def metrics(self) -> dict[str, Any]:
        """The published numbers (the DVC metrics): each law's estimate and 95% interval where it is a law,
        else its status and reason; held-out mean relative errors where there are predictions; the method,
        its resolved options and the max returns used."""
        out: dict[str, Any] = {"benchmark": self.benchmark_, "method": self.method, "options": self.resolved_options(),
                               "max_return": self.max_returns_, "hparams": {}, "data_efficiency": {}, "budget": {}}
        if self.hparams_ is not None:
            laws = self.hparams_.laws
            for h in HPARAMS:
                out["hparams"][h] = {env: _law_metric(laws.law(h, env), env) for env in laws.envs_}
        fit = self.fitted_
        ci = fit.efficiency.conf_int()
        for r in fit.efficiency.params_.itertuples(index=False):
            entry: dict[str, Any] = {"status": r.status, "n_points": r.n_points, "df_resid": r.df_resid,
                                     "r2_log": r.r2_log, "rmse_log": r.rmse_log}
            if r.status == OK:
                for name in ("d_min", "beta", "exponent"):
                    lo, hi = ci.loc[(r.group, r.threshold, name)]
                    entry.update({name: r._asdict()[name], f"{name}_lower": lo, f"{name}_upper": hi})
            else:
                entry["reason"] = r.reason
            if np.isfinite(r.same_as):
                entry["same_as"] = f"J={r.same_as:g}"
            out["data_efficiency"][f"J={r.threshold:g}"] = entry
        front = fit.frontier
        for q in QUANTITIES:
            out["budget"][f"{q}_law"] = (_law_metric(front.laws_[q], ALL) if q in front.laws_ else
                                         {"status": NOT_FITTED, "reason": front.law_reason_ or front.reason_})
        ext = self.extrapolation()
        done = ext[np.isfinite(ext["predicted"].to_numpy(dtype=float))]
        out["extrapolation"] = {f"{law} ({runs})": {"mean_rel_error": float(g["rel_error"].mean()), "points": len(g)}
                                for (law, runs), g in done.groupby(["law", "runs"], sort=False)}
        out["extrapolation_without_prediction"] = int(len(ext) - len(done))
        return json_ready(out)

    def summary(self, alpha: float = 0.05) -> Summary:
        coef = self.coefficients(alpha)
        shown = coef.drop(columns=["reason"])
        ext = self.extrapolation()
        tables = [("fitted laws", shown)]
        if len(ext):
            tables.append(("held-out points", ext.drop(columns=["reason"])))
        unit = "FLOPs" if self.compute_unit == "flops" else "gradient steps"
        fits = coef.drop_duplicates(["law", "runs", "group", "threshold"])
        info = [("benchmark", self.benchmark_), ("method", f"{self.method} ({describe(self.resolved_options())})"),
                ("thresholds J", ", ".join(f"{t:g}" for t in self.thresholds_)),
                (f"δ ({unit} per env step)", self.delta), ("bootstrap samples", self.n_bootstrap),
                ("laws", f"{int((fits['status'] == OK).sum())} of {len(fits)} fits")]
        info += [(f"{k} table", v.get("role", "")) for k, v in self.sources_.items()]
        for k, v in self.max_returns_.items():
            ranges = ", ".join(f"{e} {r:g}" for e, r in v["max_return"].items()) or "none needed"
            info.append((f"max returns ({k})", f"{v['preset']}: {ranges}"))
        return Summary(f"Analysis of {self.benchmark_}", info, tables, self.warnings_)

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def __repr__(self) -> str:
        if not hasattr(self, "fitted_"):
            opts = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
            return f"Analysis({opts})"
        front = self.fitted_.frontier
        law = (f"σ* ∝ F^{front.laws_['utd'].exponent():.3g} ({front.laws_['utd'].terms_.loc[ALL, 'status']})"
               if "utd" in front.laws_ else "no σ*(F) law")
        n_laws = int((self.fitted_.efficiency.params_["status"] == OK).sum())
        hparams = (f"{len(self.hparams_.laws.envs_)} env(s) with B*, η* laws" if self.hparams_ is not None
                   else "no grid, no B*, η* laws")
        return (f"<Analysis of {self.benchmark_} ({self.method} method): J "
                f"{', '.join(f'{t:g}' for t in self.thresholds_)}; {hparams}; D_J laws at {n_laws}/"
                f"{len(self.thresholds_)} J; {law}; {len(self.warnings_)} warning(s) in .warnings_>")

    # ------------------------------------------------------------------ saving and loading

    def save(self, path: str | os.PathLike) -> Path:
        """Write the result into the folder ``path`` (tidy CSV tables and ``analysis.json``; numbers to 10
        significant digits, so the same fit gives the same bytes); :meth:`load` reads it back.

        ``analysis.json`` is written last and holds each table's SHA-256: a save cut short (or a table edited or
        copied in from another fit) leaves tables that :meth:`load` refuses rather than mixes with the old ones."""
        out = Path(path)
        if out.exists() and not out.is_dir():
            raise RlscaleError(f"{out} exists and is not a folder")
        hp = self.hparams_
        tables: dict[str, pd.DataFrame] = {"coefficients": self.coefficients(), "extrapolation": self.extrapolation()}
        if hp is not None:
            tables.update({
                "hparam_laws": pd.concat([laws.to_frame().assign(estimator=name)
                                          for name, (_, laws) in self._estimators().items() if laws is not None],
                                         ignore_index=True),
                "best_hparams": pd.concat([best.best_.assign(estimator=name)
                                           for name, (best, _) in self._estimators().items()], ignore_index=True),
                "baseline_hparams": hp.laws.baseline_,
                "proposals": hp.proposed,
            })
            if hp.heldout is not None:
                tables["hparam_heldout"] = hp.heldout
        if self.diagnostics_ is not None:
            tables["diagnostics"] = self.diagnostics_
        if self.data_ratio_ is not None:
            tables["data_ratio"] = self.data_ratio_
        if self.ties_ is not None:
            tables["tie_sensitivity"] = self.ties_
        per_runs: dict[str, list[pd.DataFrame]] = {}
        for runs, fit in self.frontier_fits().items():
            add = per_runs.setdefault
            add("crossings", []).append(fit.crossings.to_frame().assign(runs=runs))
            add("curves", []).append(fit.crossings.curves_frame().assign(runs=runs))
            for kind, eff in (("normalized", fit.efficiency), ("per_env", fit.per_env), ("heldout", fit.heldout)):
                if eff is None:
                    continue
                for name, frame in eff.to_frames().items():
                    add(f"efficiency_{name}", []).append(frame.assign(runs=runs, fit=kind))
            frames = fit.frontier.to_frames()
            add("frontier_curves", []).append(frames["curves"].assign(runs=runs))
            add("optima", []).append(frames["optimum"].assign(runs=runs))
            add("budget_laws", []).append(frames["laws"].assign(runs=runs))
        tables.update({name: pd.concat(parts, ignore_index=True) for name, parts in per_runs.items()})
        doc = {
            "format": FORMAT,
            "benchmark": self.benchmark_,
            "method": self.method,
            "options": self.get_params(),
            "resolved_options": self.resolved_options(),
            "thresholds": [float(t) for t in self.thresholds_],
            "max_return": self.max_return_,
            "min_return": self.min_return_,
            "max_returns": self.max_returns_,
            "sources": self.sources_,
            "grid_values": self.grid_values_,
            "hparams": None if hp is None else {
                "threshold": hp.best.threshold_, "estimator": hp.best.estimator, "variant": hp.laws.variant,
                "baseline_utd": hp.laws.baseline_utd,
                "validate_range": list(hp.validate_range) if hp.validate_range else None},
            "runs": {runs: _frontier_doc(fit) for runs, fit in self.frontier_fits().items()},
            "warnings": self.warnings_,
        }
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("*.csv"):  # one writer per folder: a table this fit does not have must not linger
            if stale.stem not in tables:
                stale.unlink()
        doc["tables"] = {name: write_csv(out / f"{name}.csv", frame) for name, frame in sorted(tables.items())}
        io.write_json(out / "analysis.json", json_ready(doc))
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> Analysis:
        """A fitted :class:`Analysis` read back from :meth:`save`'s folder (no refitting)."""
        folder = Path(path)
        meta = folder / "analysis.json"
        if not meta.is_file():
            raise RlscaleError(f"{folder}: no saved analysis here (analysis.json is missing); fit and save one first")
        try:
            doc = json.loads(meta.read_text())
        except ValueError as exc:
            raise RlscaleError(f"{meta}: not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else None
            raise RlscaleError(f"{meta}: saved analysis format {found!r}, this rlscale reads {FORMAT}; fit it again")
        try:
            return cls._from_saved(folder, doc)
        except RlscaleError:
            raise
        except (KeyError, ValueError, TypeError, IndexError) as exc:  # a table or field damaged since it was saved
            raise RlscaleError(f"{folder}: the saved analysis is damaged ({type(exc).__name__}: {exc}); fit and "
                               "save it again") from exc

    @classmethod
    def _from_saved(cls, folder: Path, doc: dict[str, Any]) -> Analysis:
        # {name: SHA-256}; a list of names from a save made before the checksums, whose tables are taken as they are
        saved = doc["tables"] if isinstance(doc["tables"], dict) else dict.fromkeys(doc["tables"])
        tables = {name: read_csv(folder / f"{name}.csv", digest) for name, digest in saved.items()}
        options = {k: v for k, v in doc["options"].items() if k in cls.option_names()}
        a = cls(**options)
        a.options_ = a.resolved_options()
        a.benchmark_ = doc["benchmark"]
        a.thresholds_ = np.asarray(doc["thresholds"], dtype=float)
        a.max_return_, a.min_return_, a.max_returns_ = doc["max_return"], doc["min_return"], doc["max_returns"]
        a.sources_, a.grid_values_, a.warnings_ = doc["sources"], doc["grid_values"], doc["warnings"]
        a.crossings_ = None
        a.hparams_, a.estimators_ = None, {}
        h = doc["hparams"]
        if h is not None:
            laws_all, best_all = tables["hparam_laws"], tables["best_hparams"]
            estimators = {}
            for name in dict.fromkeys([h["estimator"], *a.compare_estimators]):
                best = BestHyperparams.from_frame(best_all[best_all["estimator"] == name].drop(columns="estimator"),
                                                  h["threshold"], name)
                rows = laws_all[laws_all["estimator"] == name]
                laws = HyperparamLaws.from_frames(rows.drop(columns="estimator"), tables["baseline_hparams"],
                                                  shared_slope=h["variant"] == "shared",
                                                  baseline_utd=h["baseline_utd"],
                                                  max_ci_decades=a.max_ci_decades) if len(rows) else None
                estimators[name] = (best, laws)
            best, laws = estimators[h["estimator"]]
            validate = tuple(h["validate_range"]) if h["validate_range"] else None
            a.hparams_ = HparamFit(None, best, laws, tables["proposals"], tables.get("hparam_heldout"), validate,
                                   a.n_bootstrap, a.options_["seed"])
            a.estimators_ = {name: estimators[name] for name in a.compare_estimators}
        for runs in RUNS:
            fit = doc["runs"].get(runs)
            setattr(a, f"{runs}_", None if fit is None else _load_frontier(tables, runs, fit, a.benchmark_,
                                                                         a.max_ci_decades))
        a.diagnostics_ = tables.get("diagnostics")
        a.data_ratio_ = tables.get("data_ratio")
        a.ties_ = tables.get("tie_sensitivity")
        a._saved_coefficients = tables.get("coefficients")
        return a

    def _estimators(self) -> dict[str, tuple[BestHyperparams, HyperparamLaws | None]]:
        """The main estimator first, then the compared ones (each once)."""
        return {self.hparams_.best.estimator: (self.hparams_.best, self.hparams_.laws), **self.estimators_}


def _warn_selection(table: pd.DataFrame, runs: str, grid: pd.DataFrame | None) -> None:
    """Say when the fitted or baseline runs hold several configurations of one (env, σ), of which the frontier keeps
    the one reaching the hardest J first (a best-of-several, optimistic, that the seed bootstrap does not see), and
    when they name envs the grid, whose B*(σ) law their compute uses, has not."""
    counts = table.groupby(["env", "utd"], observed=True)[["batch_size", "learning_rate"]].apply(
        lambda g: len(g.drop_duplicates()))
    several = counts[counts > 1]
    if len(several):
        (env, utd), n = next(iter(several.items()))
        warnings.warn(f"{runs} runs: {len(several)} (env, utd) hold several configurations (first: env {env} at utd "
                      f"{utd:g}, {n}); D_J keeps the one reaching the hardest J first, the best of several, which "
                      "reads optimistic and which its intervals do not include: give one configuration per (env, utd)",
                      RlscaleWarning, stacklevel=3)
    if grid is not None:
        foreign = sorted(set(table["env"].astype(str)) - set(grid["env"].astype(str)))
        if foreign:
            warnings.warn(f"{runs} runs: env(s) {', '.join(foreign)} are not in the grid, which has no B*(σ) law for "
                          "them: their compute uses the batch sizes the runs used", RlscaleWarning, stacklevel=3)


def write_csv(path: Path, frame: pd.DataFrame) -> str:
    """A table as CSV with numbers to 10 significant digits: unchanged numbers give unchanged bytes, and a
    last-bit difference (another BLAS kernel) does not change them either. Numbers held in object columns (a
    table concatenated with an empty one, e.g. the optima of runs without a D_J law) get the same format.
    Returns the SHA-256 of the bytes written."""
    data = frame.infer_objects().to_csv(index=False, float_format="%.10g", lineterminator="\n").encode()
    io.write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def read_csv(path: Path, sha256: str | None = None) -> pd.DataFrame:
    """A table written by :func:`write_csv` (refused unless its bytes have ``sha256``, when given); empty text
    cells come back as empty strings, not NaN."""
    if not path.is_file():
        raise RlscaleError(f"{path}: missing from the saved analysis; fit and save it again")
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise RlscaleError(f"{path}: changed since the analysis was saved (a save cut short, or a table edited or "
                           "copied in); fit and save it again")
    frame = pd.read_csv(stdio.BytesIO(data), keep_default_na=False, na_values=[""])
    for col in _TEXT_COLUMNS:
        if col in frame.columns:
            frame[col] = text_column(frame[col])
    return frame


def _describe(given: RunsLike, table: pd.DataFrame, role: str) -> dict[str, Any]:
    from rlscale.runs import RUN_COLUMNS, table_metric

    name = "DataFrame" if isinstance(given, pd.DataFrame) else os.fspath(given)
    return {"table": name, "runs": int(table.drop_duplicates(list(RUN_COLUMNS)).shape[0]), "rows": int(len(table)),
            "metric": table_metric(table), "role": role}


def _frontier_doc(fit: FrontierFit) -> dict[str, Any]:
    front, eff = fit.frontier, fit.efficiency
    return {"source": fit.source, "n_bootstrap": fit.n_bootstrap, "seed": fit.seed,
            "batch_size_law": fit.batch.to_dict(),
            "delta": front.delta, "critic_params": front.critic_params, "utd_range": list(front.utd_range_),
            "holdout": front.holdout, "reason": front.reason_, "law_reason": front.law_reason_,
            "ci_method": eff.ci_method_, "higher_is_better": bool(fit.crossings.higher_is_better_),
            "validate_utd_range": list(fit.validate_utd_range) if fit.validate_utd_range else None,
            "search": front.search, "budget_points": front.budget_points, "compute_unit": front.compute_unit,
            "normalize_by": eff.normalize_by, "loss": eff.loss}


def _load_frontier(tables: dict[str, pd.DataFrame], runs: str, doc: dict, benchmark: str,
                   max_ci_decades: float) -> FrontierFit:
    def part(name: str) -> pd.DataFrame | None:
        frame = tables.get(name)
        return None if frame is None else frame[frame["runs"] == runs].drop(columns="runs")

    crossings = ThresholdCrossings.from_frames(part("crossings"), part("curves"), doc.get("higher_is_better", True))
    effs = {}
    for kind in ("normalized", "per_env", "heldout"):
        params = part("efficiency_params")
        params = params[params["fit"] == kind].drop(columns="fit")
        if params.empty:
            effs[kind] = None
            continue
        points = part("efficiency_points")
        boot = part("efficiency_bootstrap")
        boot = None if boot is None or doc["ci_method"] != "bootstrap" or kind == "heldout" else (
            boot[boot["fit"] == kind].drop(columns="fit"))
        effs[kind] = DataEfficiency.from_frames(
            params, points[points["fit"] == kind].drop(columns="fit"), boot, normalize=kind != "per_env",
            fit_utds=tuple(doc["validate_utd_range"]) if kind == "heldout" else None, max_ci_decades=max_ci_decades,
            normalize_by=doc["normalize_by"], loss=doc["loss"])
    batch = BatchSizeLaw.from_dict(doc["batch_size_law"])
    frontier = ComputeFrontier.from_frames(
        {"curves": part("frontier_curves"), "optimum": part("optima"), "laws": part("budget_laws")}, doc["delta"],
        doc["critic_params"], batch, tuple(doc["utd_range"]), doc["holdout"], doc["reason"], doc["law_reason"],
        max_ci_decades, search=doc["search"], budget_points=doc["budget_points"], compute_unit=doc["compute_unit"],
        higher_is_better=doc["higher_is_better"])
    configs = crossings.configs_.drop(columns="n_seeds")
    validate = tuple(doc["validate_utd_range"]) if doc["validate_utd_range"] else None
    return FrontierFit(benchmark, doc["source"], crossings, configs, effs["normalized"], effs["per_env"], batch,
                       frontier, doc["n_bootstrap"], doc["seed"], effs["heldout"], validate)


def _coef_row(law: str, runs: str, group: str, threshold: float, parameter: str, r, n_obs: int | None = None) -> dict:
    ok = r.status == OK
    return {"law": law, "runs": runs, "group": str(group), "threshold": float(threshold), "parameter": parameter,
            "estimate": float(r.estimate) if ok else np.nan, "lower": float(r.lower) if ok else np.nan,
            "upper": float(r.upper) if ok else np.nan, "n_obs": int(r.n_obs if n_obs is None else n_obs),
            "df_resid": int(r.df_resid), "status": r.status, "reason": r.reason}


def _law_metric(law, group: str) -> dict[str, Any]:
    """A law as published: estimates and 95% intervals when it is a law, else its status and reason only."""
    terms = law_terms(law)[str(group)]
    if terms["status"] != OK:
        return {k: terms[k] for k in ("status", "reason", "n_obs", "df_resid", "r2")}
    return {k: v for k, v in terms.items() if k != "reason"}
