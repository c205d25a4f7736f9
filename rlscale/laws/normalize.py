"""Put returns on the paper's 0-1000 scale and drop the post-reset dips of resetting agents.

Thresholds J (e.g. 800) only mean the same thing across tasks once every task's return is on one
scale. DeepMind Control returns already lie in [0, 1000]; every other benchmark is rescaled as
``score = 1000 * (return - min_return[env]) / (max_return[env] - min_return[env])`` with
``min_return`` 0 unless given: the paper's ``return * 1000 / max_return``. A min return is for tasks
whose returns are costs (e.g. Pendulum-v1, in [-1500, 0] for practical policies). Scores above 1000
(a run beating the reference max) are kept as they are, not clipped, so crossings of high thresholds
stay visible. A metric where lower is better (a failure rate, see :data:`rlscale.runs.METRICS`)
keeps its own units too: its thresholds are failure levels, reached from above. A max or min return
given for an env whose returns are used as they are is refused, not applied: DMC's scale is fixed by
the suite (per-step rewards in [0, 1] over 1000 steps), a rescaled DMC task would no longer be
comparable with published DMC thresholds, and dropping it without a word hid envs taken for DMC by
mistake (a task of one's own is given its own benchmark and range).

The presets are the authors' reference max returns for the Gym v4 tasks. Only the ``-v4`` ids are
listed: the ``-v5`` tasks differ slightly (e.g. Ant-v5 counts contact forces differently), so their
max returns are not assumed equal; give ``max_return={"HalfCheetah-v5": 9125}`` to reuse a v4 value
deliberately.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from rlscale.errors import RlscaleError
from rlscale.laws.summary import Summary
from rlscale.runs import RUN_COLUMNS, higher_is_better

_GYM_REFERENCE = {"HalfCheetah-v4": 7300.0, "Walker2d-v4": 4000.0, "Ant-v4": 5300.0, "Humanoid-v4": 5200.0}

MAX_RETURN_PRESETS: dict[str, dict[str, float]] = {
    # the grid search: 1.25 x the reference returns (the paper's)
    "paper-grid": {env: 1.25 * r for env, r in _GYM_REFERENCE.items()},
    # the fitted-hyperparameter runs: these values are the max returns themselves (not multiplied again)
    "paper-fitted": {"HalfCheetah-v4": 9800.0, "Walker2d-v4": 4950.0, "Ant-v4": 6625.0, "Humanoid-v4": 6450.0},
}

#: benchmarks whose returns are already on the 0-1000 scale
ALREADY_NORMALISED = frozenset({"dmc"})


class MissingMaxReturn(RlscaleError):
    """A table's env has no max return to put its returns on the 0-1000 scale."""


class ReturnNormalizer:
    """Adds a ``score`` column on the 0-1000 scale to a run table.

    ``max_return`` (per env) overrides the values of ``preset`` (a key of :data:`MAX_RETURN_PRESETS`,
    or None for no preset); ``min_return`` (per env, default 0) is the return that maps to score 0.
    ``higher_is_better``: None keeps the rows of a lower-is-better ``metric`` in their own units
    (score = return), False keeps every row so, True rescales all but DMC. ``fit`` resolves the range
    of every env of the table that needs one (fitted attributes ``max_return_`` and ``min_return_``:
    {env: R}) and fails with one line naming the envs that have none, the envs given a range whose
    returns are used as they are, or the envs given a range that the table does not hold
    (``check_envs=False``: the caller checks them, against all of its tables).
    """

    def __init__(self, max_return: dict[str, float] | None = None, preset: str | None = "paper-grid",
                 min_return: dict[str, float] | None = None, higher_is_better: bool | None = None,
                 check_envs: bool = True) -> None:
        self.max_return = max_return
        self.preset = preset
        self.min_return = min_return
        self.higher_is_better = higher_is_better
        self.check_envs = check_envs

    def _table(self) -> dict[str, float]:
        if self.preset is not None and self.preset not in MAX_RETURN_PRESETS:
            raise RlscaleError(f"unknown max-return preset '{self.preset}' "
                               f"(choose from {', '.join(MAX_RETURN_PRESETS)})")
        table = dict(MAX_RETURN_PRESETS[self.preset]) if self.preset is not None else {}
        for env, value in (self.max_return or {}).items():
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise RlscaleError(f"max return of {env} must be a finite number, got {value!r}")
            table[env] = float(value)
        return table

    def _lows(self) -> dict[str, float]:
        lows = {}
        for env, value in (self.min_return or {}).items():
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise RlscaleError(f"min return of {env} must be a finite number, got {value!r}")
            lows[env] = float(value)
        return lows

    def fit(self, runs: pd.DataFrame) -> ReturnNormalizer:
        for col in ("benchmark", "env", "return"):
            if col not in runs.columns:
                raise RlscaleError(f"normalise returns: run table lacks column '{col}'")
        if self.check_envs:
            check_range_envs(runs["env"].astype(str).unique(), self.max_return, self.min_return)
        table = self._table()
        needs = ~self._own_units(runs)
        envs = sorted(runs.loc[needs, "env"].astype(str).unique())
        self._check_not_own_units(runs, set(envs))
        missing = [env for env in envs if env not in table]
        if missing:
            raise MissingMaxReturn(
                f"no max return for env(s) {', '.join(missing)} (needed to put returns on the 0-1000 scale): give "
                f"one per env{_v4_hint(missing, table)}; for returns that are costs also a min return (the return "
                "that maps to 0, e.g. Pendulum-v1: max 0, min -1500)"
            )
        lows = self._lows()
        for env in envs:
            if not table[env] > lows.get(env, 0.0):
                raise RlscaleError(f"max return of {env} ({table[env]:g}) must be above its min return "
                                   f"({lows.get(env, 0.0):g})")
        self.max_return_ = {env: table[env] for env in envs}
        self.min_return_ = {env: lows.get(env, 0.0) for env in envs}
        return self

    def _check_not_own_units(self, runs: pd.DataFrame, scaled: set[str]) -> None:
        """Refuse a range given for an env of the table whose returns are all used as they are."""
        have = set(runs["env"].astype(str).unique())
        for what, given in (("max return", self.max_return), ("min return", self.min_return)):
            kept = sorted(env for env in given or {} if env in have and env not in scaled)
            if kept:
                rows = runs[runs["env"].astype(str) == kept[0]]
                dmc = rows["benchmark"].astype(str).str.lower().isin(ALREADY_NORMALISED).all()
                why = ("benchmark dmc, whose returns are already on the 0-1000 scale; a task that is not DMC's "
                       "needs its own benchmark in the run table" if dmc
                       else "a lower-is-better metric, thresholded in its own units")
                raise RlscaleError(f"{what} given for env(s) {', '.join(kept)}, whose returns are used as they are "
                                   f"({kept[0]}: {why}), so it does not apply: leave it out")

    def _own_units(self, runs: pd.DataFrame) -> pd.Series:
        """Rows whose score is their value: DMC (already 0-1000) and lower-is-better metrics."""
        if self.higher_is_better is False:
            return pd.Series(True, index=runs.index)
        # per distinct value, then per row: a run table has millions of rows and a handful of names
        benchmarks = pd.unique(runs["benchmark"].dropna())
        own = runs["benchmark"].isin([b for b in benchmarks if str(b).lower() in ALREADY_NORMALISED])
        if self.higher_is_better is None and "metric" in runs.columns:
            metrics = pd.unique(runs["metric"].dropna())
            own |= runs["metric"].isin([m for m in metrics if not higher_is_better(str(m))])
        return own

    def transform(self, runs: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``runs`` with ``score`` = return (DMC, lower-is-better metrics) or
        1000 (return - min) / (max - min) (others)."""
        self.fit(runs)
        out = runs.copy()
        env = out["env"].astype(str).astype("category")  # maps each env name once, not once per row
        low = env.map(self.min_return_).astype("float64")
        scale = env.map({e: 1000.0 / (r - self.min_return_[e]) for e, r in self.max_return_.items()}).astype("float64")
        own = self._own_units(out)
        scale = scale.where(~own, 1.0).astype("float64")
        low = low.where(~own, 0.0).astype("float64")
        out["score"] = (out["return"].astype("float64") - low) * scale
        return out

    fit_transform = transform

    def summary(self) -> Summary:
        """The range each env is rescaled by (none before ``fit``), rendered like every fitted law's summary."""
        lows = getattr(self, "min_return_", {})
        table = pd.DataFrame([(env, r, lows.get(env, 0.0)) for env, r in getattr(self, "max_return_", {}).items()],
                             columns=["env", "max_return", "min_return"])
        return Summary(f"ReturnNormalizer (preset {self.preset!r})",
                       [("score", "1000 (return - min_return) / (max_return - min_return)"),
                        ("rescaled envs", len(table))], [("", table)],
                       ["DMC and lower-is-better metrics are used as they are"])

    def __repr__(self) -> str:
        if not hasattr(self, "max_return_"):
            return f"ReturnNormalizer(preset={self.preset!r}, higher_is_better={self.higher_is_better})"
        return f"<ReturnNormalizer (preset {self.preset!r}): {len(self.max_return_)} envs rescaled to 0-1000>"


def score_to_return(score: float, env: str, max_return: Mapping[str, float],
                    min_return: Mapping[str, float] | None = None) -> float:
    """The env's own return a 0-1000 ``score`` stands for (e.g. what a threshold J means on that task): the inverse
    of :meth:`ReturnNormalizer.transform` given its fitted ``max_return_`` and ``min_return_`` (or a table's scale as
    outputs record it). An env absent from ``max_return`` had its returns used as they are (DMC, lower-is-better
    metrics), so its score is its return."""
    top = max_return.get(env)
    if top is None:
        return float(score)
    bottom = (min_return or {}).get(env, 0.0)
    return float(bottom + score / 1000.0 * (top - bottom))


def check_range_envs(envs: Iterable[str], max_return: dict[str, float] | None = None,
                     min_return: dict[str, float] | None = None, source: str = "the run table") -> None:
    """Refuse a max or min return given for an env that is none of ``envs`` (those of ``source``): a mis-cased or
    mistyped name would otherwise go unused without a word, and a preset value be used in its place."""
    have = sorted(set(envs))
    for what, given in (("max return", max_return), ("min return", min_return)):
        unknown = [env for env in given or {} if env not in have]
        if unknown:
            lowered = {env.lower(): env for env in have}
            near = difflib.get_close_matches(unknown[0].lower(), list(lowered), n=1)
            raise RlscaleError(f"{what} given for env(s) {', '.join(unknown)}, which no row of {source} holds "
                               f"(envs: {', '.join(have)}; names are case-sensitive)"
                               + (f": did you mean {lowered[near[0]]}?" if near else ""))


def _v4_hint(missing: Sequence[str], table: dict[str, float]) -> str:
    """Point v5 users at the v4 value without silently assuming the tasks are equal."""
    for env in missing:
        v4 = env[:-3] + "-v4" if env.endswith("-v5") else None
        if v4 in table:
            return f" ({env}={table[v4]:g} would reuse the {v4} value; v5 differs slightly from v4)"
    return ""


def filter_reset_dips(
    runs: pd.DataFrame,
    reset_every_updates: float = 2.5e6,
    value_column: str = "score",
    algos: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Drop, per run (one seed), the evaluation points in the dip after each periodic network reset.

    Resets happen after every ``reset_every_updates`` gradient updates, i.e. every
    ``reset_every_updates / σ`` env steps. The update count of a point is the ``updates`` column
    where present, else ``env_step * utd``. A point logged at exactly k resets' worth of updates
    counts as before reset k (it evaluates the network about to be reset). After reset k, points are
    dropped until the first one whose value is >= the pre-reset level (the last non-NaN value
    logged before the reset); from there on, the segment up to the next reset is kept. A segment
    that never recovers is dropped whole.

    This is done per seed, before any averaging (as the paper: before smoothing, drop the dip):
    each seed dips and recovers at its own pace, and :class:`~rlscale.laws.thresholds.ThresholdCrossings`
    interpolates each seed across its removed points, so the seed-mean contains no dip. ``algos``
    restricts the filter to runs of those algorithms (default: every run).
    """
    if not (isinstance(reset_every_updates, int | float) and math.isfinite(reset_every_updates)
            and reset_every_updates > 0):
        raise RlscaleError(f"reset interval must be a positive number of updates, got {reset_every_updates!r}")
    needed = [*RUN_COLUMNS, "env_step", value_column]
    missing = [c for c in needed if c not in runs.columns]
    if missing:
        raise RlscaleError(f"reset-dip filter: run table lacks column(s) {', '.join(missing)}")

    frame = runs.reset_index(drop=True).sort_values([*RUN_COLUMNS, "env_step"], kind="stable")
    updates = frame["env_step"].to_numpy(dtype="float64") * frame["utd"].to_numpy(dtype="float64")
    if "updates" in frame.columns:
        logged = frame["updates"].to_numpy(dtype="float64", na_value=np.nan)
        updates = np.where(np.isnan(logged), updates, logged)
    ratio = updates / float(reset_every_updates)
    # resets strictly before this point; the rounding absorbs float error at exact multiples
    n_resets = np.maximum(np.ceil(np.round(ratio, 9)) - 1, 0).astype(np.int64)

    run_id = frame.groupby(list(RUN_COLUMNS), sort=False, observed=True).ngroup().to_numpy()
    value = frame[value_column].to_numpy(dtype="float64", na_value=np.nan)
    last_seen = pd.Series(value).groupby(run_id).ffill().to_numpy()
    new_segment = np.ones(len(frame), dtype=bool)
    new_segment[1:] = (run_id[1:] != run_id[:-1]) | (n_resets[1:] != n_resets[:-1])
    same_run = np.zeros(len(frame), dtype=bool)
    same_run[1:] = run_id[1:] == run_id[:-1]
    level = np.full(len(frame), np.nan)
    starts = np.flatnonzero(new_segment & same_run & (n_resets > 0))
    level[starts] = last_seen[starts - 1]

    segment = np.cumsum(new_segment)
    level = pd.Series(level).groupby(segment).transform("first").to_numpy()
    with np.errstate(invalid="ignore"):
        recovered = pd.Series(value >= level).groupby(segment).cummax().to_numpy()
    keep = np.isnan(level) | recovered
    if algos is not None:
        keep |= ~frame["algo"].astype(str).isin(list(algos)).to_numpy()
    return runs.iloc[np.sort(frame.index[keep].to_numpy())]
