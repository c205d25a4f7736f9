"""PowerLaw recovers known exponents with honest confidence intervals."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.errors import RlscaleError
from rlscale.laws.powerlaw import PowerLaw


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
    for name, coef in coefs.items():
        term = law.terms_[name]
        assert term.exponent == pytest.approx(-0.31, abs=0.03)
        assert term.exponent_ci[0] < -0.31 < term.exponent_ci[1]
        assert term.coef == pytest.approx(coef, rel=0.05)
        assert law.r2_[name] > 0.9
    assert len({t.exponent for t in law.terms_.values()}) == 1
    np.testing.assert_allclose(law.predict([1.0, 8.0], "Ant-v4"), law.terms_["Ant-v4"].coef * np.array([1, 8.0])
                               ** law.terms_["Ant-v4"].exponent)


def test_separate_slopes_differ_per_group(rng):
    x1, y1, g1 = _synthetic(rng, -0.2, {"a": 100.0})
    x2, y2, g2 = _synthetic(rng, -0.6, {"b": 100.0})
    law = PowerLaw(shared_slope=False).fit(np.r_[x1, x2], np.r_[y1, y2], g1 + g2)
    assert law.terms_["a"].exponent == pytest.approx(-0.2, abs=0.03)
    assert law.terms_["b"].exponent == pytest.approx(-0.6, abs=0.03)
    assert "separate slopes" in law.summary() and "b" in law.summary()


def test_ungrouped_fit_and_nonpositive_points_are_dropped(rng):
    x = np.array([1.0, 2, 4, 8, 16, 32])
    y = 3.0 * x**0.62
    law = PowerLaw().fit(np.r_[x, 4.0], np.r_[y, np.nan])
    assert law.n_obs_ == 6
    assert law.terms_["all"].exponent == pytest.approx(0.62)
    assert law.predict(64.0)[0] == pytest.approx(3.0 * 64**0.62)


def test_too_few_distinct_points_and_unknown_group_give_one_line_errors():
    with pytest.raises(RlscaleError, match="group 'a' needs points at 2 or more distinct x values"):
        PowerLaw().fit([1.0, 1.0], [2.0, 3.0], ["a", "a"])
    law = PowerLaw().fit([1.0, 2.0, 4.0], [1.0, 2.0, 4.0], ["a"] * 3)
    with pytest.raises(RlscaleError, match="no fit for group"):
        law.predict(2.0, "b")


def test_two_points_fit_exactly_with_nan_intervals_and_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        law = PowerLaw(shared_slope=False).fit(np.array([1e10, 2e10]), np.array([3.0, 6.0]))
    term = law.to_dict()["all"]
    assert term["exponent"] == pytest.approx(1.0) and all(np.isnan(term["exponent_ci"]))
