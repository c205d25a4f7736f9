"""Threshold crossings: env steps until a configuration's seed-mean return first reaches J (the paper's crossings).

Per configuration the seeds' curves are averaged at every logged env step, the mean curve is made
non-decreasing by isotonic regression, and the crossing of J is the first logged env step at which
the smoothed curve is >= J (NaN if never; ``crossing="strict"``: > J, as the authors' code compares;
``crossing="interpolated"``: the env step where the smoothed curve, linear between logged steps, equals J).
Uncertainty comes from resampling the seeds with replacement and redoing mean, smoothing and crossing.
For a metric where lower is better (a failure rate, in its own units) everything is mirrored: the
smoothed curve is non-increasing and J is reached at the first step where it is <= J.

Speed: everything is vectorised across configurations and bootstrap samples. A bootstrap sample
is a matrix of seed counts, so every resampled mean curve is one batched matrix product. We never
materialise the isotonic fit: for L2 isotonic regression the set where the fit is >= J is the
largest suffix maximising sum(y_i - J) over its points (the level sets of an isotonic fit solve
these thresholded problems; checked against ``scipy.optimize.isotonic_regression`` in the tests),
so the crossing is one reversed cumulative sum and an argmax per curve and threshold. Interpolating needs the
fit's values on either side of that index only, which the same suffix sums give (:class:`_FitAtBoundary`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws.summary import Summary, check_alpha
from rlscale.runs import CONFIG_COLUMNS, higher_is_better, table_metric

_CHUNK_ELEMENTS = 1 << 17  # per-chunk size of the [configs, samples, steps] work arrays (1 MiB of float64: in cache)
#: grid columns that are floats (batch_size is an integer) and the significant digits that tell their cells apart
_FLOAT_GRID_COLUMNS = ("utd", "learning_rate")
_CELL_DIGITS = 12
#: how the smoothed curve reaching J is read (the ``crossing`` method option, :mod:`rlscale.methods`)
CROSSINGS = ("inclusive", "strict", "interpolated")


def default_thresholds(j_lo: float, j_hi: float = 800.0, n: int = 10) -> np.ndarray:
    """The paper's thresholds: J = 1000 - logspace(log10(1000 - j_lo), log10(1000 - j_hi), n), dense near j_hi."""
    if not (0 <= j_lo < j_hi < 1000) or n < 1:
        raise RlscaleError(f"thresholds: need 0 <= j_lo < j_hi < 1000 and n >= 1 (got {j_lo}, {j_hi}, {n})")
    if n == 1:
        return np.array([float(j_hi)])
    out = 1000.0 - np.logspace(np.log10(1000.0 - j_lo), np.log10(1000.0 - j_hi), n)
    out[0], out[-1] = j_lo, j_hi
    return out


class ThresholdCrossings:
    """Env steps at which each configuration first reaches each threshold, with a seed bootstrap.

    ``value_column`` is the curve to threshold; by default ``score``, the 0-1000 scale that
    :class:`rlscale.laws.normalize.ReturnNormalizer` adds (use ``"return"`` for tables already on
    that scale). Seeds that log at different env steps are aligned on the union of their steps:
    each seed is linearly interpolated (in env step) at steps it did not log, inside its own logged
    range only; a seed contributes nothing before its first or after its last logged step. Runs
    from our trainer log at identical steps, so nothing is interpolated for them. NaN returns are
    skipped in the mean; a step where every seed is NaN is skipped by the smoothing. A crossing read where
    some seeds are no longer (or not yet) logged, e.g. after a run crashed, rests on the others only:
    ``seeds_at_crossing_`` counts the seeds whose logged range holds it, and one warning says how many
    crossings have fewer than their configuration's seeds.

    ``higher_is_better``: the direction of the curve; None reads it from the table's ``metric``
    column (:func:`rlscale.runs.higher_is_better`; no column: an evaluation return, higher is
    better). False thresholds a lower-is-better metric in its own units: reached at or below J.

    ``crossing``: ``"inclusive"`` (default), the first logged env step where the smoothed curve is at J or past
    it. ``"strict"``: only where it is past it (> J; < J when lower is better); seed means of continuous returns
    almost never equal J exactly, so this rarely changes a crossing; the authors' code compares this way.
    ``"interpolated"``: the env step where the smoothed curve, linear between the last logged step before J and
    the first at or past it, equals J (that logged step where it equals J there, or where it is the first
    logged step). Both logged-step rules read late by up to one logging interval Δ, Δ/2 on average, a lag that
    lifts D_min and that the seed bootstrap cannot see; interpolating removes most of it
    (``benchmarks/bench_crossing_resolution.py``). ``strict=True`` is the older spelling of ``crossing="strict"``.

    Grid values equal to 12 significant digits are one configuration (:func:`same_cells`): seeds that log
    0.00030000000000000003 and 0.0003 as the learning rate ran at the same one.

    Fitted attributes: ``configs_`` (one row per configuration: CONFIG_COLUMNS, ``critic_params``,
    ``n_seeds``), ``thresholds_`` [J], ``crossing_`` [configs, J] (all seeds; NaN = never reached),
    ``bootstrap_`` [configs, J, n_bootstrap] (None when restored from a saved analysis),
    ``seeds_at_crossing_`` [configs, J] (seeds logged at the step of ``crossing_``, from their first to their
    last logged step; NaN = never reached, or restored from an analysis saved before rlscale recorded it),
    ``higher_is_better_``, ``crossing_rule_`` (the rule read, one of :data:`CROSSINGS`; None when restored).
    """

    def __init__(
        self,
        thresholds: Sequence[float] | np.ndarray,
        n_bootstrap: int = 100,
        random_state: int | None = 0,
        value_column: str = "score",
        higher_is_better: bool | None = None,
        strict: bool = False,
        crossing: str = "inclusive",
    ) -> None:
        self.thresholds = thresholds
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state
        self.value_column = value_column
        self.higher_is_better = higher_is_better
        self.strict = strict
        self.crossing = crossing

    def fit(self, runs: pd.DataFrame) -> ThresholdCrossings:
        """Compute crossings for every configuration of a validated run table (:mod:`rlscale.runs`)."""
        thresholds = np.atleast_1d(np.asarray(self.thresholds, dtype=float))
        if thresholds.size == 0 or not np.all(np.isfinite(thresholds)):
            raise RlscaleError("thresholds: give one or more finite threshold values")
        if self.n_bootstrap < 1:
            raise RlscaleError(f"thresholds: n_bootstrap must be >= 1 (got {self.n_bootstrap})")
        rule = self._rule()
        needed = [*CONFIG_COLUMNS, "critic_params", "seed", "env_step", self.value_column]
        missing = [c for c in needed if c not in runs.columns]
        if missing:
            hint = " (normalise returns first with rlscale.laws.normalize.ReturnNormalizer)" if missing == [
                "score"] else ""
            raise RlscaleError(f"thresholds: run table lacks column(s) {', '.join(missing)}{hint}")

        up = self.higher_is_better if self.higher_is_better is not None else higher_is_better(table_metric(runs))
        sign = 1.0 if up else -1.0  # a lower-is-better curve is thresholded as its mirror image
        values, logged, steps, configs = _to_arrays(same_cells(runs), self.value_column)
        values = _fill_unlogged(values, logged, steps)
        n_seeds = configs["n_seeds"].to_numpy()
        weights = _bootstrap_weights(n_seeds, values.shape[1], self.n_bootstrap, self.random_state)

        crossing = np.empty((len(configs), thresholds.size, 1 + self.n_bootstrap))
        per_config = weights.shape[1] * values.shape[2]
        chunk = max(1, _CHUNK_ELEMENTS // per_config)
        best = -np.inf  # the best all-seeds mean anywhere (on the mirrored scale), to say why a J is never reached
        for lo in range(0, len(configs), chunk):
            hi = min(lo + chunk, len(configs))
            mean = _weighted_mean(weights[lo:hi], values[lo:hi])
            crossing[lo:hi] = _first_crossings(sign * mean, steps[lo:hi], sign * thresholds, rule)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN curve
                best = np.nanmax([best, np.nanmax(sign * mean[:, 0])])

        self.higher_is_better_ = bool(up)
        self.crossing_rule_ = rule
        self.configs_ = configs
        self._curves = (values, steps)
        self.thresholds_ = thresholds
        self.crossing_ = crossing[:, :, 0]
        self.bootstrap_ = crossing[:, :, 1:]
        self.seeds_at_crossing_ = _seeds_at(logged, steps, self.crossing_)
        self._warn_seeds_ended()
        never = np.isnan(self.crossing_).all(axis=0)
        if never.any():
            warnings.warn(f"threshold crossings: no configuration's seed mean reaches J = "
                          f"{', '.join(f'{t:g}' for t in thresholds[never])}; the {'highest' if up else 'lowest'} "
                          f"seed mean of {self.value_column} anywhere in the table is {sign * best:.4g}, so check the "
                          "thresholds' scale against the table's", RlscaleWarning, stacklevel=2)
        return self

    def _rule(self) -> str:
        """The crossing rule, one of :data:`CROSSINGS`; ``strict=True`` asks for ``"strict"`` as well."""
        if self.crossing not in CROSSINGS:
            raise RlscaleError(f"thresholds: crossing= must be one of {', '.join(CROSSINGS)} (got {self.crossing!r})")
        if self.strict and self.crossing not in ("inclusive", "strict"):
            raise RlscaleError(f"thresholds: strict=True is crossing='strict'; it contradicts crossing="
                               f"{self.crossing!r}")
        return "strict" if self.strict else self.crossing

    def _warn_seeds_ended(self) -> None:
        """Say, once, where a crossing rests on fewer seeds than its configuration ran: a table whose seeds crashed
        early otherwise reads as fully seeded."""
        n_seeds = self.configs_["n_seeds"].to_numpy(dtype=float)[:, None]
        with np.errstate(invalid="ignore"):
            short = self.seeds_at_crossing_ < n_seeds  # NaN (never reached) compares False
        if not short.any():
            return
        c, j = (int(i[0]) for i in np.nonzero(short))
        cfg = self.configs_.iloc[c]
        warnings.warn(
            f"threshold crossings: {int(short.sum())} crossing(s) are read where fewer seeds are logged than their "
            f"configuration has (first: env {cfg['env']} at utd {cfg['utd']:g}, B {cfg['batch_size']:g}, η "
            f"{cfg['learning_rate']:g}, J = {self.thresholds_[j]:g} at env step {self.crossing_[c, j]:g}: "
            f"{self.seeds_at_crossing_[c, j]:g} of {n_seeds[c, 0]:g} seeds); a seed contributes nothing past its "
            "last logged step (e.g. a run that crashed), so these rest on the seeds logged that far "
            "(column seeds_at_crossing)", RlscaleWarning, stacklevel=3)

    def to_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Long table: one row per (configuration, threshold) with a bootstrap (1 - alpha) interval.

        ``crossing_lower``/``crossing_upper`` are the alpha/2 and 1 - alpha/2 percentiles over bootstrap
        samples with "never reached" counted as infinitely late; a percentile that lands on "never" is
        NaN. ``reached_frac`` is the fraction of bootstrap samples that reached the threshold;
        ``seeds_at_crossing`` the seeds logged at the all-seeds crossing (below ``n_seeds`` where some stopped
        early). A crossings object restored from a saved analysis (:meth:`from_frames`) has its 95% intervals only.
        """
        check_alpha(alpha)
        n_cfg, n_thr = self.crossing_.shape
        if self.bootstrap_ is None:
            if not np.isclose(alpha, 0.05):
                raise RlscaleError("thresholds: these crossings were restored from a saved analysis with 95% "
                                   "intervals only; refit from the run table for another level")
            lo, hi, reached = self._saved_intervals
        else:
            boot = np.where(np.isnan(self.bootstrap_), np.inf, self.bootstrap_)
            with np.errstate(invalid="ignore"):
                lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=-1)
            lo[~np.isfinite(lo)] = np.nan
            hi[~np.isfinite(hi)] = np.nan
            reached = np.isfinite(boot).mean(axis=-1)
        frame = self.configs_.loc[np.repeat(np.arange(n_cfg), n_thr), [*CONFIG_COLUMNS, "critic_params", "n_seeds"]]
        frame = frame.reset_index(drop=True)
        frame["threshold"] = np.tile(self.thresholds_, n_cfg)
        frame["crossing"] = self.crossing_.ravel()
        frame["crossing_lower"] = lo.ravel()
        frame["crossing_upper"] = hi.ravel()
        frame["reached_frac"] = reached.ravel()
        frame["seeds_at_crossing"] = self.seeds_at_crossing_.ravel()
        return frame

    def mean_curve(self, index: int) -> pd.DataFrame:
        """Configuration ``index`` (row of ``configs_``): ``env_step``, seed ``mean``, isotonic ``smoothed``
        (non-increasing for a lower-is-better metric).

        For plots (learning curves with their crossings); the crossings themselves never need the fit.
        """
        if self._curves is None:
            curve = self._saved_curves.get(int(index))
            if curve is None:
                raise RlscaleError(f"thresholds: no saved curve for configuration {index}")
            return curve
        from scipy.optimize import isotonic_regression

        values, steps = self._curves
        mean = _weighted_mean(np.ones((1, 1, values.shape[1])), values[index : index + 1])[0, 0]
        keep = ~np.isnan(mean) & ~np.isnan(steps[index])
        out = pd.DataFrame({"env_step": steps[index][keep].astype(np.int64), "mean": mean[keep]})
        up = self.higher_is_better_
        out["smoothed"] = isotonic_regression(out["mean"].to_numpy(), increasing=up).x if len(out) else []
        return out

    def curves_frame(self, index: Sequence[int] | np.ndarray | None = None) -> pd.DataFrame:
        """The mean and smoothed curves of the configurations ``index`` (default: all) as one long table."""
        index = range(len(self.configs_)) if index is None else index
        frames = []
        for i in index:
            cfg = self.configs_.iloc[int(i)]
            frames.append(self.mean_curve(int(i)).assign(**{c: cfg[c] for c in CONFIG_COLUMNS}))
        columns = [*CONFIG_COLUMNS, "env_step", "mean", "smoothed"]
        return pd.concat(frames, ignore_index=True).loc[:, columns] if frames else pd.DataFrame(columns=columns)

    @classmethod
    def from_frames(cls, frame: pd.DataFrame, curves: pd.DataFrame | None = None,
                    higher_is_better: bool = True) -> ThresholdCrossings:
        """Crossings restored from :meth:`to_frame` (95%) and :meth:`curves_frame` output, e.g. a saved
        analysis: enough to draw them; no bootstrap samples, so nothing can be refitted from it. A frame without
        ``seeds_at_crossing`` (saved before rlscale recorded it) restores it as NaN."""
        needed = [*CONFIG_COLUMNS, "critic_params", "n_seeds", "threshold", "crossing", "crossing_lower",
                  "crossing_upper", "reached_frac"]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise RlscaleError(f"thresholds: saved crossings lack column(s) {', '.join(missing)}")
        frame = frame.sort_values([*CONFIG_COLUMNS, "threshold"], kind="stable").reset_index(drop=True)
        thresholds = np.sort(frame["threshold"].unique().astype(float))
        configs = frame.drop_duplicates(list(CONFIG_COLUMNS)).loc[:, [*CONFIG_COLUMNS, "critic_params", "n_seeds"]]
        configs = configs.reset_index(drop=True)
        shape = (len(configs), thresholds.size)
        if len(frame) != shape[0] * shape[1]:
            raise RlscaleError("thresholds: saved crossings need one row per (configuration, threshold)")
        out = cls(thresholds, n_bootstrap=0, random_state=None, higher_is_better=higher_is_better)
        out.configs_, out.thresholds_, out.higher_is_better_ = configs, thresholds, bool(higher_is_better)
        out.crossing_rule_ = None  # not saved with the crossings
        out.crossing_ = frame["crossing"].to_numpy(dtype=float).reshape(shape)
        out.seeds_at_crossing_ = (frame["seeds_at_crossing"].to_numpy(dtype=float).reshape(shape)
                                  if "seeds_at_crossing" in frame.columns else np.full(shape, np.nan))
        out.bootstrap_ = None
        out._curves = None
        out._saved_intervals = tuple(frame[c].to_numpy(dtype=float).reshape(shape)
                                     for c in ("crossing_lower", "crossing_upper", "reached_frac"))
        out._saved_curves = {}
        if curves is not None and len(curves):
            keys = configs.loc[:, list(CONFIG_COLUMNS)].astype({"env": str})
            position = {tuple(k): i for i, k in enumerate(keys.itertuples(index=False))}
            for key, sub in curves.astype({"env": str}).groupby(list(CONFIG_COLUMNS), sort=False):
                if key in position:
                    out._saved_curves[position[key]] = sub.loc[:, ["env_step", "mean", "smoothed"]].reset_index(
                        drop=True).astype({"env_step": np.int64})
        return out

    def summary(self) -> Summary:
        reached = np.isfinite(self.crossing_).mean(axis=0)
        table = pd.DataFrame({"threshold": self.thresholds_, "configurations reaching J (%)": 100 * reached})
        n_boot = "none (restored)" if self.bootstrap_ is None else self.bootstrap_.shape[-1]
        direction = "higher is better" if self.higher_is_better_ else "lower is better: J is reached at or below it"
        title = ("env step where the isotonic seed mean, linear between logged steps, reaches J"
                 if self.crossing_rule_ == "interpolated" else "first logged env step where the isotonic seed mean "
                 "reaches J")
        return Summary(f"Threshold crossings ({title})",
                       [("configurations", len(self.configs_)), ("bootstrap samples", n_boot),
                        ("direction", direction)], [("", table)])

    def __repr__(self) -> str:
        if not hasattr(self, "crossing_"):
            return f"ThresholdCrossings(thresholds={self.thresholds!r}, n_bootstrap={self.n_bootstrap})"
        return (f"<ThresholdCrossings: {len(self.configs_)} configurations x {self.thresholds_.size} thresholds "
                f"({', '.join(f'{t:g}' for t in self.thresholds_)})>")


def same_cells(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with float grid values that are equal to 12 significant digits written as one of them, the one
    most rows log: values that differ only in float representation (a learning rate computed as 3 * 1e-4 by one
    logger, written 0.0003 by another) are one grid cell, not two. A table without such values is returned as is."""
    merged = {}
    for col in _FLOAT_GRID_COLUMNS:
        counts = runs[col].value_counts(sort=False)  # each distinct value once, in order of appearance
        keys = [float(f"{v:.{_CELL_DIGITS}g}") for v in counts.index]
        if len(set(keys)) < len(keys):
            kept = counts.groupby(keys, sort=False).idxmax()
            merged[col] = runs[col].replace({v: kept[k] for v, k in zip(counts.index, keys, strict=True)
                                             if v != kept[k]})
    return runs.assign(**merged) if merged else runs


def _to_arrays(runs: pd.DataFrame, value_column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Dense [config, seed, step] arrays from the long table, without Python loops over rows.

    Configurations are in sorted CONFIG_COLUMNS order; seeds and steps are indexed by rank within
    their configuration. Padding (configs with fewer seeds or steps) is NaN and never "logged".
    """
    grouped = runs.groupby(list(CONFIG_COLUMNS), sort=True, observed=True)
    code = grouped.ngroup().to_numpy(dtype=np.int64)
    configs = grouped.agg(critic_params=("critic_params", "first"), n_seeds=("seed", "nunique")).reset_index()

    seed_code = pd.factorize(runs["seed"])[0].astype(np.int64)
    seed_idx, n_seeds = _rank_within(code, seed_code, int(seed_code.max()) + 1, len(configs))
    env_step = runs["env_step"].to_numpy(dtype=np.int64)
    step_idx, n_steps = _rank_within(code, env_step, int(env_step.max()) + 1, len(configs))

    shape = (len(configs), int(n_seeds.max()), int(n_steps.max()))
    values = np.full(shape, np.nan)
    logged = np.zeros(shape, dtype=bool)
    steps = np.full(shape[::2], np.nan)
    values[code, seed_idx, step_idx] = runs[value_column].to_numpy(dtype=float, na_value=np.nan)
    logged[code, seed_idx, step_idx] = True
    steps[code, step_idx] = env_step
    return values, logged, steps, configs


def _rank_within(code: np.ndarray, key: np.ndarray, key_span: int, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense 0-based rank of ``key`` within each ``code``, and the number of distinct keys per code."""
    pair = code * key_span + key
    uniq, inverse = np.unique(pair, return_inverse=True)
    uniq_code = uniq // key_span
    first = np.searchsorted(uniq_code, np.arange(n_codes))
    rank = np.arange(len(uniq)) - first[uniq_code]
    return rank[inverse], np.bincount(uniq_code, minlength=n_codes)


def _fill_unlogged(values: np.ndarray, logged: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Linearly interpolate each seed at union-grid steps it did not log, between its own points."""
    n_steps = values.shape[-1]
    pos = np.arange(n_steps)
    prev = np.maximum.accumulate(np.where(logged, pos, -1), axis=-1)
    nxt = np.minimum.accumulate(np.where(logged, pos, n_steps)[..., ::-1], axis=-1)[..., ::-1]
    gap = ~logged & (prev >= 0) & (nxt < n_steps)
    if not gap.any():
        return values
    c, s, t = np.nonzero(gap)
    p, n = prev[c, s, t], nxt[c, s, t]
    frac = (steps[c, t] - steps[c, p]) / (steps[c, n] - steps[c, p])
    values = values.copy()
    values[c, s, t] = values[c, s, p] + frac * (values[c, s, n] - values[c, s, p])
    return values


def _seeds_at(logged: np.ndarray, steps: np.ndarray, crossing: np.ndarray) -> np.ndarray:
    """[config, J] seeds whose logged range (first to last logged step) holds the step of ``crossing`` [config, J]
    (NaN where it is NaN, never reached): the seeds the all-seeds mean there is made of. An interpolated crossing
    counts the seeds at the first logged step at or after it, the step at which the fit first reaches J."""
    started = np.logical_or.accumulate(logged, axis=-1)
    not_ended = np.logical_or.accumulate(logged[..., ::-1], axis=-1)[..., ::-1]
    count = (started & not_ended).sum(axis=1)  # [config, step]
    # each config's steps ascend, padded with NaN: config * span + step ascends over the flat valid cells
    valid = ~np.isnan(steps)
    span = int(np.nanmax(steps)) + 1
    key = np.nonzero(valid)[0] * span + steps[valid].astype(np.int64)
    out = np.full(crossing.shape, np.nan)
    c, j = np.nonzero(~np.isnan(crossing))
    out[c, j] = count[valid][np.searchsorted(key, c * span + np.ceil(crossing[c, j]).astype(np.int64))]
    return out


def _bootstrap_weights(n_seeds: np.ndarray, width: int, n_bootstrap: int, random_state: int | None) -> np.ndarray:
    """[config, 1 + n_bootstrap, seed] counts: sample 0 is every seed once, then resamples with replacement."""
    rng = np.random.default_rng(random_state)
    n_cfg = len(n_seeds)
    draws = (rng.random((n_cfg, n_bootstrap, width)) * n_seeds[:, None, None]).astype(np.int64)
    used = np.arange(width)[None, None, :] < n_seeds[:, None, None]
    counts = np.zeros((n_cfg, n_bootstrap, width))
    for k in range(width):  # loop over seed slots (<= number of seeds), vectorised over configs and samples
        counts += (draws[..., k, None] == np.arange(width)) & used[..., k, None]
    point = (np.arange(width)[None, :] < n_seeds[:, None]).astype(float)
    return np.concatenate([point[:, None, :], counts], axis=1)


def _weighted_mean(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """[config, sample, step] seed means for every weight vector, skipping NaN values."""
    present = ~np.isnan(values)
    total = np.matmul(weights, np.where(present, values, 0.0))
    count = np.matmul(weights, present.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _first_crossings(mean: np.ndarray, steps: np.ndarray, thresholds: np.ndarray,
                     crossing: str = "inclusive") -> np.ndarray:
    """[config, J, sample] env step where the isotonic fit of ``mean`` reaches J (NaN if never), by the rule
    ``crossing`` (:data:`CROSSINGS`): the first valid step where it is >= J, > J (strict), or the step where it
    equals J on the line between the last valid step below J and the first at or above it (interpolated).

    The fit is >= J exactly on the largest suffix of valid points maximising sum(mean - J), and > J on
    the smallest one (blocks of the fit equal to J add 0 to the sum); the empty suffix has sum 0, so the
    curve reaches J iff the best suffix sum is >= 0 (strictly past it: > 0).
    """
    strict = crossing == "strict"
    valid = ~np.isnan(mean)
    n_valid = valid.sum(axis=-1)
    reachable = n_valid > 0
    out = np.full((mean.shape[0], thresholds.size, mean.shape[1]), np.nan)
    # suffix sums of (mean - J) over valid points = suffix sums of mean - J · suffix counts: two cumsums for all J;
    # an invalid point's total is -inf, so its suffix sum is -inf for every J
    total = np.cumsum(np.where(valid, mean, 0.0)[..., ::-1], axis=-1)[..., ::-1]
    count = np.cumsum(valid[..., ::-1], axis=-1)[..., ::-1].astype(float)
    fit_values = _FitAtBoundary(total, count, valid) if crossing == "interpolated" else None
    total = np.where(valid, total, -np.inf)
    n_steps = mean.shape[-1]
    if strict:  # reversed (contiguous), so that a forward argmax finds the last index attaining the maximum
        total, count = np.ascontiguousarray(total[..., ::-1]), np.ascontiguousarray(count[..., ::-1])
    suffix = np.empty_like(total)  # work buffers reused across J
    near = np.empty(total.shape, dtype=bool)
    for j, level in enumerate(thresholds):
        np.subtract(total, np.multiply(count, level, out=suffix), out=suffix)
        # sums equal up to rounding are ties: the largest suffix attaining the maximum starts at the first of
        # them (>= J), the smallest at the last (> J; the empty suffix, sum 0, stands for "never")
        tol = 1e-9 * np.maximum(1.0, np.abs(level) * n_valid)
        best_sum = suffix.max(axis=-1)
        if strict:
            best_sum = np.maximum(best_sum, 0.0)
        np.greater_equal(suffix, (best_sum - tol)[..., None], out=near)
        if strict:  # best_sum > tol > 0 is a suffix's own sum, so some index attains it
            best = n_steps - 1 - np.argmax(near, axis=-1)
            crossed = (best_sum > tol) & reachable
        else:
            best = np.argmax(near, axis=-1)
            crossed = (best_sum >= -tol) & reachable
        if fit_values is None:
            step = np.take_along_axis(steps[:, None, :], best[..., None], axis=-1)[..., 0]
        else:
            step = fit_values.interpolate(best, level, steps)
        out[:, j, :] = np.where(crossed, step, np.nan)
    return out


class _FitAtBoundary:
    """The isotonic fit's values on either side of a crossing index k, from the curve's suffix sums, for
    interpolating between logged steps without materialising the fit.

    k is where the fit first reaches J, so a block of the fit starts there: the fit at k is the first block of
    the isotonic fit of the suffix from k, min over b >= k of the mean of points k..b, and the fit at the last
    valid point p before k is the last block of the prefix up to p, max over a <= p of the mean of points a..p
    (the min-max formula of isotonic regression at a block boundary). Invalid points add nothing to either sum.
    """

    def __init__(self, total: np.ndarray, count: np.ndarray, valid: np.ndarray) -> None:
        pad = np.zeros((*total.shape[:-1], 1))
        self.total = np.concatenate([total, pad], axis=-1)  # [..., n + 1]: sum of valid points from i on
        self.count = np.concatenate([count, pad], axis=-1)
        position = np.arange(total.shape[-1])
        self.previous = np.maximum.accumulate(np.where(valid, position, -1), axis=-1)  # last valid index <= i
        self.position = position

    def interpolate(self, k: np.ndarray, level: float, steps: np.ndarray) -> np.ndarray:
        """[config, sample] env step where the fit, linear between the valid points p < k and k, equals ``level``;
        the step of k where there is no valid point before it."""
        at = k[..., None]
        total_k = np.take_along_axis(self.total, at, axis=-1)
        count_k = np.take_along_axis(self.count, at, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            after = (total_k - self.total[..., 1:]) / (count_k - self.count[..., 1:])  # mean of k..b at b
            before = (self.total[..., :-1] - total_k) / (self.count[..., :-1] - count_k)  # mean of a..k-1 at a
        fit_k = np.where(self.position >= at, after, np.inf).min(axis=-1)
        has_point = (self.position < at) & (self.count[..., :-1] > count_k)
        fit_p = np.where(has_point, before, -np.inf).max(axis=-1)
        p = np.take_along_axis(self.previous, np.maximum(at - 1, 0), axis=-1)[..., 0]
        p = np.where(k > 0, p, -1)
        step_k = np.take_along_axis(steps[:, None, :], at, axis=-1)[..., 0]
        step_p = np.take_along_axis(steps[:, None, :], np.maximum(p, 0)[..., None], axis=-1)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.clip((level - fit_p) / (fit_k - fit_p), 0.0, 1.0)
        frac = np.where((p >= 0) & (fit_k > fit_p), frac, 1.0)
        return step_p + frac * (step_k - step_p)
