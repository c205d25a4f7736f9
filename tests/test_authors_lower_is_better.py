"""A metric whose direction is down (the Isaac Gym failure rate): thresholds, smoothing and scale in its own units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import isotonic_regression

from rlscale.errors import RlscaleError, RunTableError
from rlscale.laws.normalize import ReturnNormalizer
from rlscale.laws.thresholds import ThresholdCrossings
from rlscale.runs import higher_is_better, table_metric, validate_run_table


def _failure_curves(rng: np.random.Generator, n_configs: int = 6, n_seeds: int = 5, n_steps: int = 40) -> pd.DataFrame:
    """Failure rates falling from ~1 towards a floor at config-dependent speeds, with noise that breaks monotonicity."""
    rows = []
    steps = np.arange(1, n_steps + 1) * 8192
    for cfg in range(n_configs):
        rate = 8.0 / (n_steps * (1 + cfg))
        for seed in range(n_seeds):
            curve = 0.03 + 0.96 * np.exp(-rate * np.arange(n_steps)) + rng.normal(0, 0.04, n_steps)
            rows += [{"benchmark": "isaac", "env": "franka-cube-push", "algo": "pql", "utd": 8 / 2 ** (10 + cfg),
                      "batch_size": 512, "learning_rate": 1e-4, "critic_params": 1, "seed": seed,
                      "env_step": int(s), "return": float(v)} for s, v in zip(steps, curve, strict=True)]
    return validate_run_table(pd.DataFrame(rows))


def _reference_crossing(steps: np.ndarray, mean: np.ndarray, level: float) -> float:
    """First step where the non-increasing isotonic fit of the seed mean is at or below ``level``."""
    fit = isotonic_regression(mean, increasing=False).x
    below = np.flatnonzero(fit <= level + 1e-12)
    return float(steps[below[0]]) if below.size else np.nan


def test_failure_rate_is_reached_at_or_below_j_on_the_non_increasing_fit(rng):
    runs = _failure_curves(rng)
    levels = [0.5, 0.2, 0.1, 0.05, 0.01]
    tc = ThresholdCrossings(levels, n_bootstrap=3, value_column="return", higher_is_better=False).fit(runs)
    assert tc.higher_is_better_ is False
    for i, cfg in tc.configs_.iterrows():
        one = runs[runs["utd"] == cfg["utd"]]
        mean = one.groupby("env_step")["return"].mean()
        expected = [_reference_crossing(mean.index.to_numpy(), mean.to_numpy(), j) for j in levels]
        np.testing.assert_array_equal(tc.crossing_[i], expected)
    assert np.isfinite(tc.crossing_[:, 0]).all() and np.isnan(tc.crossing_[:, -1]).all()  # 1% is below the floor
    # lower J is harder: crossings never come earlier
    reached = np.where(np.isnan(tc.crossing_), 1e12, tc.crossing_)
    assert (np.diff(reached, axis=1) >= 0).all()


def test_direction_comes_from_the_metric_column_and_mirrors_a_higher_is_better_curve(rng):
    runs = _failure_curves(rng, n_configs=3)
    levels = [0.3, 0.1]
    explicit = ThresholdCrossings(levels, n_bootstrap=20, random_state=4, value_column="return",
                                  higher_is_better=False).fit(runs)
    tagged = ThresholdCrossings(levels, n_bootstrap=20, random_state=4, value_column="return").fit(
        runs.assign(metric="failure_rate"))
    mirrored = ThresholdCrossings([-j for j in levels], n_bootstrap=20, random_state=4, value_column="return").fit(
        runs.assign(**{"return": -runs["return"]}))
    assert tagged.higher_is_better_ is False and mirrored.higher_is_better_ is True
    np.testing.assert_array_equal(explicit.crossing_, tagged.crossing_)
    np.testing.assert_array_equal(explicit.bootstrap_, tagged.bootstrap_)
    np.testing.assert_array_equal(explicit.crossing_, mirrored.crossing_)
    np.testing.assert_array_equal(explicit.bootstrap_, mirrored.bootstrap_)
    # read as a return that should rise, a falling curve smooths to a flat line: reached at once or never
    rising = ThresholdCrossings(levels, n_bootstrap=2, value_column="return", higher_is_better=True).fit(runs)
    assert np.isin(rising.crossing_, [8192.0]).sum() + np.isnan(rising.crossing_).sum() == rising.crossing_.size
    assert np.isfinite(explicit.crossing_).all() and (explicit.crossing_ > 8192).all()
    assert "lower is better" in explicit.summary()


def test_smoothed_learning_curve_of_a_failure_rate_never_rises(rng):
    runs = _failure_curves(rng, n_configs=1).assign(metric="failure_rate")
    curve = ThresholdCrossings([0.1], n_bootstrap=2, value_column="return").fit(runs).mean_curve(0)
    assert (np.diff(curve["smoothed"]) <= 1e-12).all()
    assert (np.diff(curve["mean"]) > 0).any()  # the raw mean does rise somewhere: the smoothing did work


def test_failure_rate_keeps_its_own_units_while_returns_are_rescaled(rng):
    isaac = _failure_curves(rng, n_configs=1).assign(metric="failure_rate")
    gym = isaac.assign(benchmark="gym", env="Ant-v4", algo="sac", metric="train_return",
                       **{"return": isaac["return"] * 6625.0})
    scored = ReturnNormalizer(preset="paper-fitted").transform(pd.concat([isaac, gym], ignore_index=True))
    np.testing.assert_allclose(scored.loc[scored["benchmark"] == "isaac", "score"], isaac["return"])
    np.testing.assert_allclose(scored.loc[scored["benchmark"] == "gym", "score"], isaac["return"] * 1000.0)
    untagged = ReturnNormalizer(higher_is_better=False).transform(isaac.drop(columns="metric"))
    np.testing.assert_allclose(untagged["score"], isaac["return"])
    with pytest.raises(RlscaleError, match="no max return for env.*franka-cube-push"):
        ReturnNormalizer(higher_is_better=True).transform(isaac)


def test_metric_column_is_validated_and_one_metric_per_table():
    base = _failure_curves(np.random.default_rng(1), n_configs=2, n_seeds=2, n_steps=3)
    assert table_metric(base) == "eval_return" and higher_is_better("eval_return")
    assert table_metric(base.assign(metric="failure_rate")) == "failure_rate"
    assert not higher_is_better("failure_rate") and higher_is_better("online_returns")
    mixed = base.assign(metric=np.where(base["seed"] == 0, "failure_rate", "train_return"))
    with pytest.raises(RunTableError, match="mixes metrics"):
        validate_run_table(mixed)
    by_config = base.assign(metric=np.where(base["utd"] == base["utd"].max(), "failure_rate", "train_return"))
    validate_run_table(by_config)
    with pytest.raises(RunTableError, match="mixes metrics"):
        table_metric(by_config)
    with pytest.raises(RunTableError, match="mixes metrics"):
        ThresholdCrossings([0.1], value_column="return").fit(by_config)
    with pytest.raises(RunTableError, match="'metric' has missing values"):
        validate_run_table(base.assign(metric=[None] + ["failure_rate"] * (len(base) - 1)))
    with pytest.raises(RunTableError, match="'seeds_in_mean' must be >= 1"):
        validate_run_table(base.assign(seeds_in_mean=0))
    assert validate_run_table(base.assign(seeds_in_mean=5))["seeds_in_mean"].dtype == "int64"
