"""PowerLaw recovers known exponents with honest intervals, and says when a fit is not a law."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rlscale.errors import RlscaleError
from rlscale.laws.powerlaw import PowerLaw
from rlscale.laws.summary import Summary


def _synthetic(rng: np.random.Generator, exponent: float, coefs: dict[str, float], noise: float = 0.05):
    x = np.tile(np.array([0.25, 0.5, 1, 2, 4, 8, 16]), 3)
    xs, ys, gs = [], [], []
    for name, coef in coefs.items():
        xs.append(x)
        ys.append(coef * x**exponent * np.exp(rng.normal(0, noise, len(x))))
        gs += [name] * len(x)
    return np.concatenate(xs), np.concatenate(ys), gs


def test_shared_slope_recovers_exponent_and_per_group_coefficients(rng):
    coefs = {"HalfCheetah-v4": 400.0, "Walker2d-v4": 250.0, "Ant-v4": 150.0}
    x, y, g = _synthetic(rng, -0.31, coefs)
    law = PowerLaw(shared_slope=True).fit(x, y, g)
    ci = law.conf_int()
    for name, coef in coefs.items():
        assert law.exponent(name) == pytest.approx(-0.31, abs=0.03)
        assert ci.loc[(name, "exponent"), "lower"] < -0.31 < ci.loc[(name, "exponent"), "upper"]
        assert law.coef(name) == pytest.approx(coef, rel=0.05)
        assert law.terms_.loc[name, "r2"] > 0.9 and law.is_law(name)
    assert law.terms_["exponent"].nunique() == 1
    assert law.df_resid_ == len(x) - 3 - 1 and law.n_obs_ == len(x)
    np.testing.assert_allclose(law.predict([1.0, 8.0], "Ant-v4"), law.coef("Ant-v4") * np.array([1, 8.0])
                               ** law.exponent("Ant-v4"))


def test_conf_int_is_statsmodels_t_interval_at_any_level(rng):
    x, y, g = _synthetic(rng, 0.5, {"a": 3.0})
    law = PowerLaw(shared_slope=False).fit(x, y, g)
    res = law.results_["a"]
    for alpha in (0.05, 0.32):
        expected = res.conf_int(alpha)
        ci = law.conf_int(alpha)
        assert ci.loc[("a", "exponent"), "lower"] == pytest.approx(expected[1, 0])
        assert ci.loc[("a", "exponent"), "upper"] == pytest.approx(expected[1, 1])
        assert ci.loc[("a", "coef"), "lower"] == pytest.approx(np.exp(expected[0, 0]))
    narrow, wide = law.conf_int(0.32), law.conf_int(0.05)
    assert wide.loc[("a", "exponent"), "upper"] > narrow.loc[("a", "exponent"), "upper"]
    with pytest.raises(RlscaleError, match="alpha"):
        law.conf_int(1.5)


def test_table_summary_and_repr_show_points_and_residual_dof(rng):
    x, y, g = _synthetic(rng, -0.3, {"a": 100.0, "b": 50.0})
    law = PowerLaw().fit(x, y, g)
    table = law.table(alpha=0.1)
    assert list(table.columns) == ["group", "parameter", "estimate", "std_err", "lower", "upper", "n_obs",
                                   "df_resid", "r2", "status", "reason"]
    assert set(table["parameter"]) == {"coef", "exponent"} and (table["status"] == "ok").all()
    summary = law.summary()
    assert isinstance(summary, Summary)
    text, html = summary.as_text(), summary._repr_html_()
    assert f"residual dof: {law.df_resid_}" in text and f"points: {law.n_obs_}" in text
    assert "<table" in html and "residual dof" in html
    assert "PowerLaw" in repr(law) and "object at 0x" not in repr(law)
    assert f"{law.df_resid_} residual dof" in repr(law)


def test_separate_slopes_differ_per_group(rng):
    x1, y1, g1 = _synthetic(rng, -0.2, {"a": 100.0})
    x2, y2, g2 = _synthetic(rng, -0.6, {"b": 100.0})
    law = PowerLaw(shared_slope=False).fit(np.r_[x1, x2], np.r_[y1, y2], g1 + g2)
    assert law.exponent("a") == pytest.approx(-0.2, abs=0.03)
    assert law.exponent("b") == pytest.approx(-0.6, abs=0.03)
    assert "separate slopes" in law.summary().as_text()


def test_ungrouped_fit_and_nonpositive_points_are_dropped():
    x = np.array([1.0, 2, 4, 8, 16, 32])
    y = 3.0 * x**0.62 * np.exp(0.01 * np.sin(x))
    law = PowerLaw().fit(np.r_[x, 4.0], np.r_[y, np.nan])
    assert law.n_obs_ == 6
    assert law.exponent() == pytest.approx(0.62, abs=0.01)
    assert law.predict(64.0)[0] == pytest.approx(law.coef() * 64**law.exponent())


def test_too_few_distinct_points_and_unknown_group_give_one_line_errors():
    with pytest.raises(RlscaleError, match="group 'a' needs points at 2 or more distinct x values"):
        PowerLaw().fit([1.0, 1.0], [2.0, 3.0], ["a", "a"])
    law = PowerLaw().fit([1.0, 2.0, 4.0], [1.0, 2.1, 3.9], ["a"] * 3)
    with pytest.raises(RlscaleError, match="no fit for group"):
        law.predict(2.0, "b")


def test_an_exactly_determined_fit_is_marked_not_a_law_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        law = PowerLaw(shared_slope=False).fit(np.array([1e10, 2e10]), np.array([3.0, 6.0]))
    row = law.terms_.loc["all"]
    assert row["exponent"] == pytest.approx(1.0) and row["df_resid"] == 0
    assert row["status"] == "exact" and "no residual degrees of freedom" in row["reason"]
    assert not law.is_law() and law.conf_int().isna().all().all()
    assert "not a law (exact)" in law.summary().as_text()


def test_a_fit_with_an_interval_wider_than_the_stated_span_is_marked_wide():
    x = np.array([1.0, 2.0, 4.0])
    y = np.array([1.0, 8.0, 1.5])  # three points, far from any line: the exponent is anything
    law = PowerLaw(shared_slope=False).fit(x, y)
    assert law.terms_.loc["all", "status"] == "wide" and "limit 2" in law.terms_.loc["all", "reason"]
    assert PowerLaw(shared_slope=False, max_ci_decades=1e3).fit(x, y).is_law()


def test_the_span_is_judged_at_the_data_centre_not_at_x_equal_one():
    # a law in a budget F ~ 1e12: the intercept at F = 1 is uncertain by many decades, the law is not
    budget = np.geomspace(1e12, 1e13, 6)
    y = 2e-7 * budget**0.6 * np.exp(np.array([0.1, -0.08, 0.12, -0.1, 0.06, -0.1]))
    law = PowerLaw(shared_slope=False).fit(budget, y)
    ci = law.conf_int().loc[("all", "coef")]
    assert np.log10(ci["upper"] / ci["lower"]) > 2 and law.is_law()
    # and the other way round: an exponent pinned to under a decade over 12 decades of x, a level at the data's
    # centre uncertain by about 4 decades: not a law
    x = np.geomspace(1e-6, 1e6, 6)
    noise = 2.5 * np.array([1.5, -1.2, 1.8, -1.5, 0.9, -1.5])
    noisy = PowerLaw(shared_slope=False).fit(x, 3.0 * x**-0.5 * np.exp(noise))
    (reason,) = noisy.terms_["reason"]
    assert not noisy.is_law() and "exponent 0.958 wide and of the law at the data's centre 3.93 decades" in reason


def test_a_saved_law_reloads_with_the_same_intervals_and_verdict(rng):
    x, y, g = _synthetic(rng, -0.3, {"a": 100.0, "b": 50.0})
    law = PowerLaw().fit(x, y, g)
    frame = law.to_frame()
    back = PowerLaw.from_frame(pd.read_csv(pd.io.common.StringIO(frame.to_csv(index=False))), shared_slope=True)
    pd.testing.assert_frame_equal(back.conf_int(0.1), law.conf_int(0.1))
    assert back.df_resid_ == law.df_resid_ and list(back.terms_["status"]) == ["ok", "ok"]
    t = stats.t.ppf(0.975, law.df_resid_)
    se = np.sqrt(law.terms_.loc["a", "var_exponent"])
    assert law.conf_int().loc[("a", "exponent"), "upper"] == pytest.approx(law.exponent("a") + t * se)


def test_the_exponent_interval_is_conf_ints_row_and_says_when_the_sign_is_undetermined(rng):
    x, y, g = _synthetic(rng, -0.3, {"a": 100.0, "b": 50.0})
    law = PowerLaw().fit(x, y, g)
    for group in ("a", "b"):
        assert law.exponent_interval(group, 0.1) == tuple(law.conf_int(0.1).loc[(group, "exponent")])
    assert not law.sign_undetermined("a")
    flat = PowerLaw().fit(*_synthetic(rng, 0.0, {"a": 100.0})[:2])
    lo, hi = flat.exponent_interval()
    assert flat.sign_undetermined() == (lo <= 0 <= hi)
    exact = PowerLaw().fit([1.0, 2.0], [3.0, 2.0])  # no residual dof: no interval, so no sign either
    assert np.isnan(exact.exponent_interval()).all() and exact.sign_undetermined()


def test_a_prediction_interval_is_the_fitted_lines_interval_that_statsmodels_gives(rng):
    """The interval of the law at x is that of the OLS line in log-log space (statsmodels' get_prediction), so it
    widens away from the data; x outside the fitted range is marked extrapolated."""
    from statsmodels.regression.linear_model import OLS

    x, y, g = _synthetic(rng, -0.31, {"HalfCheetah-v4": 400.0})
    law = PowerLaw().fit(x, y, g)
    at = np.array([0.1, 1.0, 16.0, 100.0])
    frame = law.predict_interval(at, "HalfCheetah-v4", alpha=0.1)
    reference = OLS(np.log(y), np.column_stack([np.ones(len(x)), np.log(x)])).fit()
    ci = reference.get_prediction(np.column_stack([np.ones(len(at)), np.log(at)])).conf_int(alpha=0.1)
    np.testing.assert_allclose(frame["estimate"], law.predict(at, "HalfCheetah-v4"))
    np.testing.assert_allclose(np.log(frame[["lower", "upper"]].to_numpy()), ci, rtol=1e-9)
    assert frame["extrapolated"].tolist() == [True, False, False, True]
    assert (frame["status"] == "ok").all() and (frame["df_resid"] == len(x) - 2).all()
    width = np.log(frame["upper"] / frame["lower"])
    assert width[0] > width[1] and width[3] > width[2]


def test_a_prediction_says_whether_the_laws_exponent_interval_includes_zero_at_its_own_alpha(rng):
    """A narrow interval near the data does not make a law of undetermined direction a supported extrapolation: each
    row carries the verdict on the sign that the figures and claims read, at the prediction's alpha."""
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    flat = PowerLaw().fit(x, 100.0 * np.array([1.0, 1.1, 0.93, 1.05, 1.02]))  # no trend: the sign is undetermined
    steep = PowerLaw().fit(x, 100.0 * x**-0.5 * np.array([1.0, 1.02, 0.98, 1.01, 0.99]))
    assert flat.predict_interval([2.0, 64.0])["sign_undetermined"].tolist() == [True, True]
    assert steep.predict_interval([2.0, 64.0])["sign_undetermined"].tolist() == [False, False]
    lo, hi = flat.exponent_interval(alpha=0.05)
    assert lo < 0 < hi and flat.terms_["exponent"].item() != 0
    assert not flat.predict_interval([2.0], alpha=0.999)["sign_undetermined"].item()  # a 0.1 % interval excludes 0


def test_a_prediction_from_an_exact_fit_has_no_interval_and_says_so():
    law = PowerLaw().fit([1.0, 2.0], [10.0, 7.0])
    frame = law.predict_interval([1.5, 4.0])
    assert frame["status"].tolist() == ["exact", "exact"] and frame[["lower", "upper"]].isna().all().all()
    assert frame["extrapolated"].tolist() == [False, True]


@pytest.mark.parametrize(("x", "y", "message"), [
    ([1.0, 2.0, 4.0, 8.0], [1.0, -3.0, 2.0, 3.0], r"must be positive, got \(2, -3\) at point 1 \(1 such point"),
    ([0.0, 2.0, 4.0], [1.0, 2.0, 3.0], r"must be positive, got \(0, 1\) at point 0"),
    (["a", "b", "c"], [1.0, 2.0, 3.0], r"x must be numbers, got \['a', 'b', 'c'\]"),
])
def test_a_point_a_log_log_fit_cannot_hold_is_one_error_not_silently_dropped(x, y, message):
    with pytest.raises(RlscaleError, match=message):
        PowerLaw().fit(x, y)


def test_nan_points_are_left_out_and_a_prediction_needs_positive_x():
    law = PowerLaw().fit([1.0, 2.0, 4.0, 8.0, 16.0], [10.0, np.nan, 5.1, 3.4, 2.6])
    assert law.n_obs_ == 4
    for bad in ([-1.0], [0.0], [np.nan]):
        with pytest.raises(RlscaleError, match="x must be positive numbers"):
            law.predict(bad)
    with pytest.raises(RlscaleError, match="x must be numbers"):
        law.predict_interval(["σ=2"])


def test_a_shared_slope_summary_says_why_a_groups_points_are_fewer_than_the_residual_dof():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    noise = np.array([1.0, 1.03, 0.97, 1.02, 0.99])
    two = PowerLaw().fit(np.tile(x, 2), np.concatenate([100 * x**-0.3 * noise, 50 * x**-0.3 * noise[::-1]]),
                         ["a"] * 5 + ["b"] * 5)
    table = two.table()
    assert (table["n_obs"] == 5).all() and (table["df_resid"] == 7).all()  # 10 points - 2 intercepts - 1 slope
    assert "n_obs counts a group's own points, df_resid is the one pooled fit's" in str(two.summary())
    assert "df_resid is the one pooled fit's" not in str(PowerLaw().fit(x, 100 * x**-0.3 * noise).summary())
