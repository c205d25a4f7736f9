"""Threshold crossings match a plain per-curve reference and behave under the bootstrap."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import isotonic_regression

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws.synthetic import SyntheticLaws, make_sweep
from rlscale.laws.thresholds import ThresholdCrossings, default_thresholds, same_cells
from rlscale.runs import CONFIG_COLUMNS, validate_run_table


def _table(curves: dict[tuple[float, int], list[tuple[int, list[float]]]]) -> pd.DataFrame:
    """Run table from {(utd, batch_size): [(seed, steps..., values...)]} given as (seed, [(step, value)])."""
    rows = []
    for (utd, bs), seeds in curves.items():
        for seed, points in seeds:
            for step, value in points:
                rows.append({"benchmark": "dmc", "env": "walker-walk", "algo": "bro", "utd": utd, "batch_size": bs,
                             "learning_rate": 3e-4, "critic_params": 1000, "seed": seed, "env_step": step,
                             "return": value})
    return validate_run_table(pd.DataFrame(rows))


def _reference_crossing(group: pd.DataFrame, level: float, column: str) -> float:
    """The paper's literal recipe for one configuration: seed mean, scipy isotonic fit, first step >= J."""
    mean = group.groupby("env_step")[column].mean().dropna()
    fit = isotonic_regression(mean.to_numpy()).x
    hit = np.nonzero(fit >= level)[0]
    return float(mean.index[hit[0]]) if len(hit) else np.nan


def test_default_thresholds_are_dense_near_the_top_and_end_at_j_hi():
    j = default_thresholds(300.0)
    assert len(j) == 10 and j[0] == 300.0 and j[-1] == 800.0
    assert np.all(np.diff(j) > 0)
    assert np.all(np.diff(j)[1:] < np.diff(j)[:-1])  # spacing shrinks towards 800
    np.testing.assert_allclose(1000 - j, np.logspace(np.log10(700), np.log10(200), 10))
    assert default_thresholds(200.0, 800.0, 1).tolist() == [800.0]
    with pytest.raises(RlscaleError):
        default_thresholds(900.0, 800.0)


def test_crossings_match_per_curve_scipy_isotonic_reference(rng):
    rows = []
    for cfg in range(12):
        for seed in range(3):
            steps = np.arange(1, 41) * 1000
            values = np.cumsum(rng.normal(25, 60, len(steps))) + rng.normal(0, 80, len(steps))
            values[rng.random(len(steps)) < 0.1] = np.nan  # diverged evaluations are skipped in the mean
            for s, v in zip(steps, values, strict=True):
                rows.append({"benchmark": "dmc", "env": f"e{cfg % 3}", "algo": "bro", "utd": float(1 + cfg // 3),
                             "batch_size": 256, "learning_rate": 1e-3, "critic_params": 10, "seed": seed,
                             "env_step": s, "return": v})
    runs = validate_run_table(pd.DataFrame(rows))
    levels = [200.0, 500.0, 800.0]
    tc = ThresholdCrossings(levels, n_bootstrap=5, value_column="return").fit(runs)
    groups = list(runs.groupby(list(CONFIG_COLUMNS), sort=True))
    assert len(groups) == len(tc.configs_) == 12
    expected = np.array([[_reference_crossing(g, lv, "return") for lv in levels] for _, g in groups])
    np.testing.assert_array_equal(tc.crossing_, expected)
    assert np.isnan(expected).any() and np.isfinite(expected).any()  # both outcomes are exercised


def test_isotonic_smoothing_ignores_a_lucky_early_spike():
    # One evaluation pokes above 800 early, then the curve falls back: the monotone fit pools it away.
    points = [(1000, 100.0), (2000, 850.0), (3000, 300.0), (4000, 400.0), (5000, 820.0), (6000, 900.0)]
    runs = _table({(1.0, 256): [(0, points), (1, points)]})
    tc = ThresholdCrossings([800.0], value_column="return").fit(runs)
    assert tc.crossing_[0, 0] == 5000
    curve = tc.mean_curve(0)
    assert curve["env_step"].tolist() == [1000, 2000, 3000, 4000, 5000, 6000]
    assert curve["mean"].tolist() == [p[1] for p in points]
    assert np.all(np.diff(curve["smoothed"]) >= 0)
    assert curve.loc[curve["smoothed"] >= 800, "env_step"].min() == tc.crossing_[0, 0]


def test_seeds_logged_at_different_steps_are_interpolated_within_their_own_range():
    a = [(1000, 0.0), (3000, 1000.0)]
    b = [(2000, 700.0), (4000, 900.0)]
    runs = _table({(1.0, 256): [(0, a), (1, b)]})
    tc = ThresholdCrossings([600.0], n_bootstrap=3, value_column="return").fit(runs)
    # union grid 1000..4000: seed a -> 0, 500, 1000, (none); seed b -> (none), 700, 800, 900
    # mean -> 0, 600, 900, 900, already monotone, so J=600 is first reached at 2000
    assert tc.crossing_[0, 0] == 2000
    assert tc.configs_.loc[0, "n_seeds"] == 2


def test_never_reached_is_nan_everywhere_and_reached_frac_zero():
    flat = [(s, 100.0) for s in (1000, 2000, 3000)]
    runs = _table({(1.0, 256): [(0, flat), (1, flat)]})
    with pytest.warns(RlscaleWarning, match=r"no configuration's seed mean reaches J = 800; the highest seed mean of "
                                            r"return anywhere in the table is 100, so check the thresholds' scale"):
        frame = ThresholdCrossings([800.0], n_bootstrap=10, value_column="return").fit(runs).to_frame()
    row = frame.iloc[0]
    assert np.isnan(row["crossing"]) and np.isnan(row["crossing_lower"]) and np.isnan(row["crossing_upper"])
    assert row["reached_frac"] == 0.0


def test_a_seed_that_stops_early_lowers_the_seeds_at_its_crossings_and_warns_once():
    full = [(s, s / 10) for s in range(1000, 8001, 1000)]  # reaches 500 at 5000, 800 at 8000
    crashed = full[:3]  # logged up to 3000 only
    runs = _table({(1.0, 256): [(0, full), (1, full)], (2.0, 256): [(0, full), (1, crashed)]})
    with pytest.warns(RlscaleWarning, match=r"^threshold crossings: 2 crossing\(s\) are read where fewer seeds are "
                      r"logged than their configuration has \(first: env walker-walk at utd 2, B 256, η 0.0003, "
                      r"J = 500 at env step 5000: 1 of 2 seeds\); .*crashed") as caught:
        tc = ThresholdCrossings([500.0, 800.0, 900.0], n_bootstrap=5, value_column="return").fit(runs)
    assert [str(w.message).split(":")[0] for w in caught] == ["threshold crossings"] * 2
    assert "2 crossing(s) are read where" in str(caught[0].message)  # once, and J = 900 (never reached) is its own
    assert str(caught[1].message).startswith("threshold crossings: no configuration's seed mean reaches J = 900; "
                                             "the highest seed mean of return anywhere in the table is 800,")
    np.testing.assert_array_equal(tc.seeds_at_crossing_, [[2, 2, np.nan], [1, 1, np.nan]])  # 900: never reached
    frame = tc.to_frame()
    assert frame["seeds_at_crossing"].tolist()[:2] == [2, 2] and frame["n_seeds"].tolist() == [2] * 6


def test_an_evenly_logged_table_has_every_seed_at_its_crossings_and_no_warning():
    late = [(s, s / 10) for s in range(2000, 8001, 1000)]  # starts late, ends with the others
    full = [(s, s / 10) for s in range(1000, 8001, 1000)]
    runs = _table({(1.0, 256): [(0, full), (1, late)], (2.0, 256): [(0, full), (1, full)]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tc = ThresholdCrossings([500.0, 800.0], n_bootstrap=5, value_column="return").fit(runs)
    np.testing.assert_array_equal(tc.seeds_at_crossing_, [[2, 2], [2, 2]])


def test_bootstrap_spread_reflects_seed_disagreement_and_is_reproducible():
    fast = [(s, min(1000.0, s / 4)) for s in range(1000, 8001, 1000)]  # first >= 800 at 4000
    slow = [(s, s / 10) for s in range(1000, 8001, 1000)]  # reaches 800 at 8000
    runs = _table({(1.0, 256): [(0, fast), (1, fast)], (2.0, 256): [(0, fast), (1, slow)]})
    tc = ThresholdCrossings([800.0], n_bootstrap=200, random_state=3, value_column="return").fit(runs)
    same, mixed = tc.bootstrap_[0, 0], tc.bootstrap_[1, 0]
    assert np.all(same == 4000)
    assert set(np.unique(mixed)) == {4000.0, 6000.0, 8000.0}  # both fast, one of each, both slow
    frame = tc.to_frame()
    assert frame.loc[1, "crossing_lower"] == 4000 and frame.loc[1, "crossing_upper"] == 8000
    half = tc.to_frame(alpha=0.5)  # the interquartile range of {4000, 6000, 8000} draws
    assert 4000 <= half.loc[1, "crossing_lower"] <= half.loc[1, "crossing_upper"] <= 8000
    again = ThresholdCrossings([800.0], n_bootstrap=200, random_state=3, value_column="return").fit(runs)
    np.testing.assert_array_equal(tc.bootstrap_, again.bootstrap_)


def test_synthetic_sweep_crossings_match_the_true_time_to_threshold():
    laws = SyntheticLaws()
    runs = make_sweep(laws, utds=(1.0, 4.0), batch_sizes=(128, 256), learning_rates=(5e-4, 1e-3), n_seeds=8,
                      n_points=300, max_step=1_500_000, seed_noise=0.05, eval_noise=5.0)
    tc = ThresholdCrossings([500.0, 800.0], n_bootstrap=20).fit(validate_run_table(runs, min_seeds=2))
    cfg = tc.configs_
    for j, level in enumerate([500.0, 800.0]):
        for i, row in cfg.iterrows():
            truth = laws.time_to_threshold(row["env"], row["utd"], row["batch_size"], row["learning_rate"], level)
            # within 5% plus one evaluation interval (crossings land on logged steps)
            assert abs(tc.crossing_[i, j] - truth) <= 0.05 * truth + 5000
    frame = tc.to_frame()
    assert list(frame.columns) == [*CONFIG_COLUMNS, "critic_params", "n_seeds", "threshold", "crossing",
                                   "crossing_lower", "crossing_upper", "reached_frac", "seeds_at_crossing"]
    assert len(frame) == 2 * len(cfg)
    assert (frame["crossing_lower"] <= frame["crossing"]).all() and (frame["crossing"] <= frame["crossing_upper"]).all()


def test_missing_value_column_is_a_one_line_error_naming_the_normaliser(run_table):
    runs = validate_run_table(run_table)
    with pytest.raises(RlscaleError, match="score.*ReturnNormalizer"):
        ThresholdCrossings([800.0]).fit(runs)


def test_crossings_restored_from_their_frames_draw_the_same_curves_and_intervals():
    fast = [(s, min(1000.0, s / 4)) for s in range(1000, 8001, 1000)]
    slow = [(s, s / 10) for s in range(1000, 8001, 1000)]
    runs = _table({(1.0, 256): [(0, fast), (1, fast)], (2.0, 256): [(0, fast), (1, slow)]})
    tc = ThresholdCrossings([500.0, 800.0], n_bootstrap=50, value_column="return").fit(runs)
    back = ThresholdCrossings.from_frames(tc.to_frame(), tc.curves_frame())
    pd.testing.assert_frame_equal(back.to_frame(), tc.to_frame())
    np.testing.assert_array_equal(back.crossing_, tc.crossing_)
    pd.testing.assert_frame_equal(back.mean_curve(1), tc.mean_curve(1))
    assert back.bootstrap_ is None and "2 configurations" in repr(back)
    with pytest.raises(RlscaleError, match="95% intervals only"):
        back.to_frame(alpha=0.1)
    older = ThresholdCrossings.from_frames(tc.to_frame().drop(columns="seeds_at_crossing"))  # saved before it was
    assert np.isnan(older.seeds_at_crossing_).all() and older.seeds_at_crossing_.shape == tc.crossing_.shape


def test_grid_values_equal_but_for_float_noise_are_one_cell():
    clean = validate_run_table(make_sweep(utds=(1.0, 4.0), batch_sizes=(128,), learning_rates=(3e-4, 1e-3), n_seeds=3,
                                          n_points=40, max_step=1_000_000))
    seed0 = clean["seed"] == 0  # one seed logs its learning rate and utd computed, e.g. 3 * 1e-4
    noisy = clean.assign(learning_rate=clean["learning_rate"].where(~seed0, np.nextafter(clean["learning_rate"], 1)),
                         utd=clean["utd"].where(~seed0, clean["utd"] * (1 + 1e-15)))
    assert noisy["learning_rate"].nunique() == 4 and noisy["utd"].nunique() == 4
    fits = [ThresholdCrossings([500.0, 800.0], n_bootstrap=10, value_column="return").fit(t) for t in (clean, noisy)]
    # one cell per grid value, at the value most rows log, with every seed: the same crossings as the clean table
    pd.testing.assert_frame_equal(fits[1].configs_, fits[0].configs_)
    np.testing.assert_array_equal(fits[1].bootstrap_, fits[0].bootstrap_)
    assert fits[0].configs_["n_seeds"].eq(3).all()
    assert same_cells(clean) is clean  # a clean table is left as it is


def _reference_interpolated(group: pd.DataFrame, level: float, column: str, up: bool = True) -> float:
    """Seed mean, scipy isotonic fit, then np.interp between the last logged step below J and the first at or past
    it (mirrored for lower-is-better)."""
    mean = group.groupby("env_step")[column].mean().dropna()
    sign = 1.0 if up else -1.0
    fit = sign * isotonic_regression(mean.to_numpy(), increasing=up).x
    steps = mean.index.to_numpy(dtype=float)
    hit = np.nonzero(fit >= sign * level)[0]
    if not len(hit):
        return np.nan
    k = hit[0]
    return float(steps[0]) if k == 0 else float(np.interp(sign * level, fit[k - 1 : k + 1], steps[k - 1 : k + 1]))


@pytest.mark.parametrize("up", [True, False])
def test_interpolated_crossings_match_scipy_isotonic_with_np_interp_per_curve(rng, up):
    rows = []
    for cfg in range(12):
        for seed in range(3):
            steps = np.arange(1, 31) * 1000
            values = np.cumsum(rng.normal(25, 60, len(steps))) + rng.normal(0, 80, len(steps))
            values = np.round(values if up else 1000 - values, -1)  # ties between points, and means equal to J
            values[rng.random(len(steps)) < 0.1] = np.nan  # a NaN seed at a step
            if cfg == 0:
                values[:4] = np.nan  # no seed logged at the first steps
            if cfg == 1:
                values[5:9] = 500.0  # a plateau exactly at J = 500
            for s, v in zip(steps, values, strict=True):
                rows.append({"benchmark": "dmc", "env": f"e{cfg % 3}", "algo": "bro", "utd": float(1 + cfg // 3),
                             "batch_size": 256, "learning_rate": 1e-3, "critic_params": 10, "seed": seed,
                             "env_step": s, "return": v})
    runs = validate_run_table(pd.DataFrame(rows))
    levels = [-37.3, 200.0, 500.0, 723.9]  # -37.3 (mirrored: 1037.3) is reached at the first logged step
    tc = ThresholdCrossings(levels, n_bootstrap=5, value_column="return", higher_is_better=up,
                            crossing="interpolated").fit(runs)
    groups = list(runs.groupby(list(CONFIG_COLUMNS), sort=True))
    expected = np.array([[_reference_interpolated(g, lv, "return", up) for lv in levels] for _, g in groups])
    np.testing.assert_allclose(tc.crossing_, expected, rtol=1e-12)
    logged = ThresholdCrossings(levels, n_bootstrap=5, value_column="return", higher_is_better=up).fit(runs)
    reached = np.isfinite(expected)
    assert reached.any() and (~reached).any()
    assert np.all(tc.crossing_[reached] <= logged.crossing_[reached])  # never later than the logged step
    assert np.sum(tc.crossing_[reached] < logged.crossing_[reached]) > reached.sum() // 2  # earlier on most
    np.testing.assert_array_equal(np.isnan(tc.bootstrap_), np.isnan(logged.bootstrap_))  # same samples reach J
    assert np.all(tc.bootstrap_[~np.isnan(tc.bootstrap_)] <= logged.bootstrap_[~np.isnan(tc.bootstrap_)])


def test_an_interpolated_crossing_lands_between_logged_steps_and_on_one_where_the_fit_equals_j():
    points = [(1000, 100.0), (2000, 600.0), (3000, 400.0), (4000, 700.0), (5000, 900.0)]  # pooled: 500 at 2000-3000
    runs = _table({(1.0, 256): [(0, points), (1, points)]})
    with pytest.warns(RlscaleWarning, match="reaches J = 950"):
        tc = ThresholdCrossings([100.0, 300.0, 500.0, 800.0, 950.0], n_bootstrap=3, value_column="return",
                                crossing="interpolated").fit(runs)
    # 100: the first logged step; 300: halfway from 100 (1000) to 500 (2000); 500: the fit equals J at 2000
    assert tc.crossing_[0, :4].tolist() == [1000.0, 1500.0, 2000.0, 4500.0] and np.isnan(tc.crossing_[0, 4])
    np.testing.assert_array_equal(tc.seeds_at_crossing_[0, :4], [2, 2, 2, 2])  # at the first logged step after
    assert "linear between logged steps" in str(tc.summary())


def test_the_crossing_rule_is_checked_and_strict_true_is_crossing_strict():
    points = [(1000, 100.0), (2000, 500.0), (3000, 700.0)]
    runs = _table({(1.0, 256): [(0, points), (1, points)]})
    old = ThresholdCrossings([500.0], n_bootstrap=2, value_column="return", strict=True).fit(runs)
    new = ThresholdCrossings([500.0], n_bootstrap=2, value_column="return", crossing="strict").fit(runs)
    assert old.crossing_[0, 0] == new.crossing_[0, 0] == 3000.0
    with pytest.raises(RlscaleError, match="crossing= must be one of inclusive, strict, interpolated"):
        ThresholdCrossings([500.0], value_column="return", crossing="linear").fit(runs)
    with pytest.raises(RlscaleError, match="strict=True is crossing='strict'"):
        ThresholdCrossings([500.0], value_column="return", strict=True, crossing="interpolated").fit(runs)


def test_an_interpolated_crossing_counts_the_seeds_at_the_logged_step_where_the_fit_reaches_j():
    early = [(1000, 0.0), (2000, 1000.0), (3000, 1000.0)]
    late = [(2000, 1000.0), (3000, 1000.0)]  # not yet logged at 1000
    runs = _table({(1.0, 256): [(0, early), (1, late)]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fewer seeds" warning: both seeds are logged at 2000
        tc = ThresholdCrossings([0.5], n_bootstrap=2, value_column="return", crossing="interpolated").fit(runs)
    assert tc.crossing_[0, 0] == pytest.approx(1000.5)
    assert tc.seeds_at_crossing_[0, 0] == 2
