"""DataEfficiency recovers known D_J(σ) laws, handles never-reached thresholds and reports honest CIs."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws.efficiency import DataEfficiency, _aggregate, efficiency_curve

UTDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
ENV_SCALE = {"env-a": 0.5, "env-b": 1.0, "env-c": 2.0}  # median 1: the normalised law is the base law


def _law(utd, d_min=2e5, s0=2.0, alpha=0.8):
    """The paper's form D_min (1 + (σ/s0)^-α)."""
    return d_min * (1.0 + (np.asarray(utd, dtype=float) / s0) ** -alpha)


def _crossings(rng=None, noise=0.0, thresholds=(500.0, 800.0), envs=ENV_SCALE) -> pd.DataFrame:
    rows = []
    for env, scale in envs.items():
        for j in thresholds:
            for utd in UTDS:
                eps = 0.0 if rng is None else rng.normal(0.0, noise)
                rows.append({"env": env, "utd": utd, "threshold": j,
                             "crossing": scale * (j / 800.0) * _law(utd) * np.exp(eps)})
    return pd.DataFrame(rows)


def test_noise_free_normalised_fit_returns_the_law_in_env_steps():
    fit = DataEfficiency().fit(_crossings())
    d_min, beta, alpha = fit.params(800.0)
    assert d_min == pytest.approx(2e5, rel=1e-4)
    assert alpha == pytest.approx(0.8, rel=1e-4)
    assert beta == pytest.approx(2.0 * 2e5 ** (1 / 0.8), rel=1e-3)  # β = s0 · D_min^(1/α)
    np.testing.assert_allclose(fit.predict([0.3, 3.0, 30.0], 800.0), _law([0.3, 3.0, 30.0]), rtol=1e-4)
    np.testing.assert_allclose(fit.predict(UTDS, 500.0), 0.625 * _law(UTDS), rtol=1e-4)


def test_the_pooled_fit_answers_in_the_median_tasks_env_steps_and_a_per_env_fit_in_its_own():
    table = _crossings(envs={"fast": 1.0, "middle": 3.0, "slow": 10.0})  # median 3, mean 14/3
    pooled, per_env = DataEfficiency().fit(table), DataEfficiency(normalize=False).fit(table)
    at = [0.5, 2.0, 8.0]
    np.testing.assert_allclose(pooled.predict(at, 800.0), 3.0 * _law(at), rtol=1e-4)
    np.testing.assert_allclose(pooled.predict(at, 800.0), per_env.predict(at, 800.0, "middle"), rtol=1e-4)
    np.testing.assert_allclose(per_env.predict(at, 800.0, "slow"), 10.0 * _law(at), rtol=1e-4)


def test_noisy_fit_recovers_parameters_within_tolerance_and_ci_covers_truth(rng):
    fit = DataEfficiency().fit(_crossings(rng, noise=0.05))
    row = fit.params_.set_index("threshold").loc[800.0]
    ci = fit.conf_int().loc[("all", 800.0)]
    assert fit.ci_method_ == "jacobian" and row["status"] == "ok" and row["df_resid"] == 7 - 3
    assert row["d_min"] == pytest.approx(2e5, rel=0.15)
    assert row["exponent"] == pytest.approx(0.8, abs=0.15)
    assert row["utd_scale"] == pytest.approx(2.0, rel=0.35)
    assert ci.loc["exponent", "lower"] < 0.8 < ci.loc["exponent", "upper"]
    assert ci.loc["d_min", "lower"] < 2e5 < ci.loc["d_min", "upper"]
    narrow = fit.conf_int(alpha=0.5).loc[("all", 800.0)]
    assert ci.loc["d_min", "lower"] < narrow.loc["d_min", "lower"] < narrow.loc["d_min", "upper"]


def test_per_env_fit_recovers_each_env_scale(rng):
    fit = DataEfficiency(normalize=False).fit(_crossings(rng, noise=0.03))
    assert set(fit.groups_) == set(ENV_SCALE)
    for env, scale in ENV_SCALE.items():
        d_min, _, exponent = fit.params(800.0, env=env)
        assert d_min == pytest.approx(2e5 * scale, rel=0.15)
        assert exponent == pytest.approx(0.8, abs=0.15)
    with pytest.raises(RlscaleError, match="pass env="):
        fit.predict([1.0], 800.0)


def test_never_reached_crossings_are_dropped_and_counted_and_too_few_give_nan_with_reason():
    table = _crossings()
    table.loc[(table["threshold"] == 800.0) & (table["utd"] == 16.0), "crossing"] = np.nan
    table.loc[(table["threshold"] == 500.0) & (table["utd"] > 1.0), "crossing"] = np.nan
    fit = DataEfficiency(normalize=False).fit(table)
    params = fit.params_.set_index(["group", "threshold"])
    ok = params.loc[("env-a", 800.0)]
    assert ok["n_dropped"] == 1 and ok["n_points"] == 6 and ok["reason"] == "" and ok["status"] == "ok"
    assert ok["d_min"] == pytest.approx(1e5, rel=1e-3)
    bad = params.loc[("env-a", 500.0)]
    assert np.isnan(bad["d_min"]) and np.isnan(bad["exponent"]) and "J is reached at 3 utd value(s)" in bad["reason"]
    assert bad["status"] == "not_fitted" and "not a law (not_fitted)" in fit.summary().as_text()


def test_bootstrap_intervals_are_percentiles_of_per_sample_refits(rng):
    truth = _crossings(envs={"env-a": 1.0}, thresholds=(800.0,))
    samples = [truth.assign(crossing=truth["crossing"] * np.exp(rng.normal(0, 0.05, len(truth))), sample=s)
               for s in range(30)]
    boot = pd.concat(samples, ignore_index=True)
    fit = DataEfficiency(normalize=False).fit(truth, boot)
    assert fit.ci_method_ == "bootstrap"
    refit = [DataEfficiency(normalize=False).fit(s.drop(columns="sample")).params(800.0, "env-a") for s in samples]
    refits = pd.DataFrame(refit, columns=["d_min", "beta", "exponent"])
    row = fit.params_.iloc[0]
    ci = fit.conf_int().loc[("env-a", 800.0)]
    for name in ("d_min", "exponent", "beta"):
        lo, hi = np.quantile(refits[name], [0.025, 0.975])
        assert ci.loc[name, "lower"] == pytest.approx(lo, rel=1e-3)
        assert ci.loc[name, "upper"] == pytest.approx(hi, rel=1e-3)
        assert ci.loc[name, "lower"] <= row[name] <= ci.loc[name, "upper"]
    back = DataEfficiency.from_frames(**fit.to_frames(), normalize=False)
    pd.testing.assert_frame_equal(back.conf_int(0.2), fit.conf_int(0.2))


def test_held_out_utds_are_predicted_and_errors_are_relative():
    table = _crossings()
    table["crossing"] *= np.where(table["utd"] == 16.0, 1.1, 1.0)  # the held-out point is 10% off the law
    fit = DataEfficiency(fit_utds=(0.25, 8.0)).fit(table)
    held = fit.heldout_.set_index("threshold")
    assert list(held["utd"]) == [16.0, 16.0]
    row = held.loc[800.0]
    assert row["predicted"] == pytest.approx(_law(16.0), rel=1e-3)
    assert row["rel_error"] == pytest.approx(abs(row["predicted"] - row["actual"]) / row["actual"])
    assert row["rel_error"] == pytest.approx(1 - 1 / 1.1, abs=2e-3) and row["reason"] == ""
    # a held-out σ is beyond the σ the law was fitted to, though inside the table's
    assert fit.predict_interval([0.25, 8.0, 16.0], 800.0)["extrapolated"].tolist() == [False, False, True]
    few = DataEfficiency(fit_utds=(0.25, 1.0)).fit(table)  # 3 σ: no law to predict with, and it says why
    assert few.heldout_["predicted"].isna().all() and few.heldout_["reason"].str.contains("J is reached at 3 utd").all()


def test_efficiency_curve_is_dmin_plus_power():
    assert efficiency_curve(2.0, 100.0, 4.0, 2.0) == pytest.approx(104.0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.drop(columns="crossing"), "lacks column"),
        (lambda t: pd.concat([t, t.iloc[:1]]), "duplicate"),
        (lambda t: t.assign(utd=-t["utd"]), "non-positive"),
        (lambda t: t.iloc[:0], "empty"),
    ],
)
def test_bad_tables_raise_one_clear_error(mutate, message):
    with pytest.raises(RlscaleError, match=message):
        DataEfficiency().fit(mutate(_crossings()))


def test_predict_at_an_unfitted_threshold_names_the_fitted_ones():
    fit = DataEfficiency().fit(_crossings())
    with pytest.raises(RlscaleError, match="fitted thresholds: 500, 800"):
        fit.predict([1.0], 650.0)


def test_a_pure_power_law_without_a_floor_is_marked_at_bound_not_published():
    rows = [{"env": "e", "utd": u, "threshold": 800.0, "crossing": 5000.0 * u**-0.6} for u in UTDS]
    fit = DataEfficiency().fit(pd.DataFrame(rows))
    row = fit.params_.iloc[0]
    assert row["status"] == "at_bound" and "no floor D_min is visible" in row["reason"]
    assert not fit.is_law(800.0) and any("not a law (at_bound)" in line for line in fit.problems())


def test_points_too_scattered_for_the_law_are_marked_wide(rng):
    """The law's shape under noise of 0.6 in log D: a fit inside its bounds whose s_0 and α intervals (not D_min's)
    are wider than the limit, each named."""
    rows = [{"env": "e", "utd": u, "threshold": 800.0, "crossing": _law(u) * np.exp(rng.normal(0, 0.6))}
            for u in UTDS]
    fit = DataEfficiency(normalize=False).fit(pd.DataFrame(rows))
    row = fit.params_.iloc[0]
    assert row["status"] == "wide" and not fit.is_law(800.0, "e")
    assert re.search(r"^95% interval too wide \(s_0 spans [\d.]+ decades, α's interval is [\d.]+ wide; limit 2\)",
                     row["reason"]), row["reason"]


def test_an_interval_beyond_the_float_range_is_infinite_and_wide_without_a_numpy_warning():
    """Four points (t on 1 dof is 12.7) that barely pin the law: the bounds of β overflow exp, which is no error."""
    rows = [{"env": "e", "utd": u, "threshold": 800.0, "crossing": d}
            for u, d in zip((1.0, 2.0, 4.0, 8.0), (3e5, 2.9e5, 1.5e5, 1.6e5), strict=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit = DataEfficiency(normalize=False).fit(pd.DataFrame(rows))
        ci = fit.conf_int().loc[("e", 800.0)]
    assert fit.params_.iloc[0]["status"] == "wide" and ci.loc["beta", "upper"] == np.inf


def test_two_thresholds_crossed_at_the_same_evaluations_say_so():
    table = _crossings(thresholds=(700.0, 800.0))
    table.loc[table["threshold"] == 800.0, "crossing"] = table.loc[table["threshold"] == 700.0, "crossing"].to_numpy()
    fit = DataEfficiency().fit(table)
    params = fit.params_.set_index("threshold")
    assert np.isnan(params.loc[700.0, "same_as"]) and params.loc[800.0, "same_as"] == 700.0
    assert params.loc[800.0, "d_min"] == params.loc[700.0, "d_min"]
    assert any("J=800 has the same points as J=700" in line for line in fit.problems())


def test_two_thresholds_no_utd_reaches_are_not_called_crossed_at_the_same_evaluations():
    """Runs that never reach two J were told "every utd crossed both levels at the same logged evaluation"."""
    table = _crossings(thresholds=(700.0, 800.0, 900.0))
    table.loc[table["threshold"] > 700.0, "crossing"] = np.nan
    fit = DataEfficiency().fit(table)
    params = fit.params_.set_index("threshold")
    assert params["same_as"].isna().all() and (params.loc[[800.0, 900.0], "status"] == "not_fitted").all()
    assert not any("same points" in line for line in fit.problems())


def test_summary_and_repr_read_well():
    fit = DataEfficiency().fit(_crossings())
    text = fit.summary().as_text()
    assert "D_min" in text and "α" in text and "laws: 2" in text
    assert "2 fits, 2 laws" in repr(fit) and "<table" in fit.summary()._repr_html_()
    assert "pooled over tasks: D_J and D_min are in normalised env steps" in text  # no one task's env steps
    per_env = DataEfficiency(normalize=False).fit(_crossings()).summary().as_text()
    assert "normalised env steps" not in per_env


def test_stacked_fits_give_exactly_the_fits_made_one_at_a_time(rng):
    """The speed-ups stack many small fits into one batched solve; each fit must come out bit for bit the same."""
    from rlscale.laws.efficiency import _bounds, _fit_linear_many, _refit_batched, _refit_many

    problems, refits = [], []
    for k, n in enumerate((5, 6, 5, 7, 6)):
        utd = np.geomspace(0.25, 16, n)
        y = (1.0 + (utd / (0.5 + 0.3 * k)) ** -(0.6 + 0.1 * k)) * np.exp(rng.normal(0, 0.05, n))
        problems.append((utd, y))
        log_utd, log_y = np.log(utd), np.log(y)
        samples = log_y + rng.normal(0, 0.1, (20, n))
        mask = rng.random((20, n)) > 0.15
        theta0 = np.array([log_y.min(), log_utd.mean(), 0.8])
        lo, hi = _bounds(log_utd, log_y)
        refits.append((log_utd, np.where(mask, samples, 0.0), mask, theta0, lo, hi))
    assert _fit_linear_many(problems) == [_fit_linear_many([p])[0] for p in problems]
    for loss in ("log", "linear"):
        batched = _refit_batched([*refits[:2], None, *refits[2:]], loss)
        assert batched[2] == []
        for got, problem in zip(batched[:2] + batched[3:], refits, strict=True):
            np.testing.assert_array_equal(np.array(got), _refit_many(*problem, loss=loss))


def test_the_interval_of_d_j_at_a_utd_is_the_delta_method_on_the_fits_covariance(rng):
    """Without bootstrap refits: log D_J(σ) ± t·se, se from the stored covariance of (log D_min, log s_0, α) and the
    gradient of log D_J (checked here by finite differences); σ beyond the fitted ones is marked extrapolated."""
    from rlscale.laws.summary import t_quantile

    fit = DataEfficiency().fit(_crossings(rng, noise=0.05))
    row = fit.params_.set_index("threshold").loc[800.0]
    at = np.array([0.1, 1.0, 3.0, 64.0])
    frame = fit.predict_interval(at, 800.0, alpha=0.1)
    theta = np.array([np.log(row["d_min"]), np.log(row["utd_scale"]), row["exponent"]])

    def log_d(th):
        return th[0] + np.log1p((at / np.exp(th[1])) ** -th[2])

    grad = np.column_stack([(log_d(theta + h) - log_d(theta - h)) / 2e-6 for h in np.eye(3) * 1e-6])
    v = row[["var_log_d_min", "var_log_utd_scale", "var_exponent", "cov_log_d_min_log_utd_scale",
             "cov_log_d_min_exponent", "cov_log_utd_scale_exponent"]].to_numpy(dtype=float)
    cov = np.array([[v[0], v[3], v[4]], [v[3], v[1], v[5]], [v[4], v[5], v[2]]])
    half = t_quantile(0.1, row["df_resid"]) * np.sqrt(np.einsum("ui,ij,uj->u", grad, cov, grad))
    np.testing.assert_allclose(frame["estimate"], fit.predict(at, 800.0))
    np.testing.assert_allclose(frame["lower"], frame["estimate"] * np.exp(-half), rtol=1e-5)
    np.testing.assert_allclose(frame["upper"], frame["estimate"] * np.exp(half), rtol=1e-5)
    assert frame["extrapolated"].tolist() == [True, False, False, True] and (frame["status"] == "ok").all()


def test_the_interval_of_d_j_at_a_utd_with_bootstrap_refits_is_the_percentile_of_their_curves(rng):
    truth = _crossings(envs={"env-a": 1.0}, thresholds=(800.0,))
    samples = [truth.assign(crossing=truth["crossing"] * np.exp(rng.normal(0, 0.05, len(truth))), sample=s)
               for s in range(30)]
    fit = DataEfficiency(normalize=False).fit(truth, pd.concat(samples, ignore_index=True))
    refits = [DataEfficiency(normalize=False).fit(s.drop(columns="sample")) for s in samples]
    at = [0.5, 4.0]
    curves = np.array([r.predict(at, 800.0, "env-a") for r in refits])
    frame = fit.predict_interval(at, 800.0, "env-a")
    np.testing.assert_allclose(frame["lower"], np.quantile(curves, 0.025, axis=0), rtol=1e-3)
    np.testing.assert_allclose(frame["upper"], np.quantile(curves, 0.975, axis=0), rtol=1e-3)
    assert (frame["lower"] <= frame["estimate"]).all() and (frame["estimate"] <= frame["upper"]).all()


def _two_tasks(scale: dict[str, float], speed: dict[str, float], thresholds=(500.0, 800.0)) -> pd.DataFrame:
    """Crossings of two tasks at their own scales, each task's times ``speed`` times its σ law's (per σ a factor)."""
    rows = []
    for env, s in scale.items():
        for j in thresholds:
            for k, utd in enumerate(UTDS):
                rows.append({"env": env, "utd": utd, "threshold": j,
                             "crossing": s * speed[env] ** (k / 3) * (j / 800.0) * _law(utd)})
    return pd.DataFrame(rows)


def _pooled(fit: DataEfficiency, threshold: float) -> pd.Series:
    p = fit.points_
    return p[np.isclose(p["threshold"], threshold)].set_index("utd")["data"]


def test_a_run_set_on_anothers_scale_divides_into_a_weighted_mean_of_per_task_ratios():
    fitted = _two_tasks({"slow": 7.0, "fast": 1.0}, {"slow": 1.0, "fast": 1.0})
    baseline = _two_tasks({"slow": 9.0, "fast": 0.8}, {"slow": 1.1, "fast": 0.8})  # ratios straddle 1, rescaled
    fit = DataEfficiency().fit(fitted)
    base = DataEfficiency().fit(baseline, reference=fit.normalization_)
    for thr in (500.0, 800.0):
        f, b = fitted[fitted["threshold"] == thr], baseline[baseline["threshold"] == thr]
        wide = f.pivot(index="utd", columns="env", values="crossing")
        ratio = b.pivot(index="utd", columns="env", values="crossing") / wide
        weight = wide / wide.median()  # the fitted runs' normalised times
        expected = (weight * ratio).sum(axis=1) / weight.sum(axis=1)
        got = _pooled(base, thr) / _pooled(fit, thr)
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
        assert ((got >= ratio.min(axis=1) - 1e-12) & (got <= ratio.max(axis=1) + 1e-12)).all()
    own = DataEfficiency().fit(baseline)  # each on its own median task: the ratio leaves the per-task range
    got = _pooled(own, 800.0) / _pooled(fit, 800.0)
    f, b = fitted[fitted["threshold"] == 800.0], baseline[baseline["threshold"] == 800.0]
    ratio = b.pivot(index="utd", columns="env", values="crossing") / f.pivot(index="utd", columns="env",
                                                                               values="crossing")
    assert ((got < ratio.min(axis=1)) | (got > ratio.max(axis=1))).any()


def test_the_reference_scale_is_used_for_every_bootstrap_sample_and_a_single_task_is_unchanged(rng):
    fitted = _two_tasks({"slow": 7.0, "fast": 1.0}, {"slow": 1.0, "fast": 1.0})
    baseline = _two_tasks({"slow": 9.0, "fast": 0.8}, {"slow": 1.1, "fast": 0.8})
    samples = pd.concat([baseline.assign(sample=k, crossing=baseline["crossing"] * np.exp(rng.normal(0, 0.05, len(
        baseline)))) for k in range(4)], ignore_index=True)
    fit = DataEfficiency().fit(fitted)
    norm = fit.normalization_.set_index(["threshold", "env"])
    base = DataEfficiency().fit(baseline, samples, reference=fit.normalization_)
    assert base.normalization_.equals(fit.normalization_)
    one = samples[(samples["sample"] == 2) & (samples["threshold"] == 800.0)]
    rel = one["crossing"].to_numpy() / norm.loc[list(zip(one["threshold"], one["env"], strict=True)), "median"]
    expected = pd.Series(rel.to_numpy(), index=one["utd"].to_numpy()).groupby(level=0).mean() * norm.loc[
        (800.0, "slow"), "scale"]
    got = _aggregate(samples, True, reference=fit.normalization_)
    got = got[(got["sample"] == 2) & (got["threshold"] == 800.0)].set_index("utd")["data"]
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
    single_fit, single_base = (t[t["env"] == "slow"] for t in (fitted, baseline))
    alone = DataEfficiency().fit(single_base)
    referenced = DataEfficiency().fit(single_base, reference=DataEfficiency().fit(single_fit).normalization_)
    np.testing.assert_allclose(referenced.points_["data"], alone.points_["data"], rtol=1e-12)
    np.testing.assert_allclose(referenced.points_["data"], single_base["crossing"], rtol=1e-12)


def test_a_task_the_reference_never_reaches_keeps_its_own_median_and_says_so():
    fitted = _two_tasks({"slow": 7.0, "fast": 1.0}, {"slow": 1.0, "fast": 1.0})
    fitted.loc[(fitted["env"] == "fast") & (fitted["threshold"] == 800.0), "crossing"] = np.nan
    baseline = _two_tasks({"slow": 9.0, "fast": 0.8}, {"slow": 1.1, "fast": 0.8})
    fit = DataEfficiency().fit(fitted)
    with pytest.warns(RlscaleWarning, match="env fast at J=800"):
        base = DataEfficiency().fit(baseline, reference=fit.normalization_)
    assert np.isfinite(_pooled(base, 800.0)).all()


@pytest.mark.parametrize("by", ["threshold", "task"])
def test_points_and_bootstrap_samples_are_normalised_by_the_fits_own_normalization(rng, by):
    """One normalisation: the points equal a refit on the fit's own ``normalization_`` and a bootstrap sample's
    points equal a point fit of that sample alone, bit for bit."""
    table = _crossings(rng, noise=0.1, envs={"fast": 1.0, "middle": 3.0, "slow": 10.0})
    samples = pd.concat([table.assign(sample=k, crossing=table["crossing"] * np.exp(rng.normal(0, 0.1, len(table))))
                         for k in range(3)], ignore_index=True)
    fit = DataEfficiency(normalize_by=by).fit(table)
    again = DataEfficiency(normalize_by=by).fit(table, reference=fit.normalization_)
    assert again.points_.equals(fit.points_)
    boot = _aggregate(samples, True, by)
    one = DataEfficiency(normalize_by=by).fit(samples[samples["sample"] == 1].drop(columns="sample"))
    got = boot[boot["sample"] == 1].loc[:, ["threshold", "utd", "data"]].reset_index(drop=True)
    assert got.equals(one.points_.loc[:, ["threshold", "utd", "data"]])


def _leaning(shift: float) -> DataEfficiency:
    """A per-env fit of a noise-free law whose bootstrap refits sit ``shift`` above it in log D_min, spread ±0.1."""
    fit = DataEfficiency(normalize=False).fit(_crossings(envs={"env-a": 1.0}, thresholds=(800.0,)))
    r = fit.params_.iloc[0]
    theta = np.array([np.log(r["d_min"]), np.log(r["utd_scale"]), r["exponent"]])
    boot = pd.DataFrame([("env-a", 800.0, k, *(theta + [shift + 0.01 * (k - 9.5), 0.0, 0.0])) for k in range(20)],
                        columns=["group", "threshold", "sample", "log_d_min", "log_utd_scale", "exponent"])
    return DataEfficiency.from_frames(fit.params_, fit.points_, boot, normalize=False)


def test_an_estimate_outside_its_own_percentile_interval_is_marked_and_said_once():
    leaning = _leaning(0.2)
    with pytest.warns(RlscaleWarning, match="outside its own interval at 2 value") as caught:
        table = leaning.predict_interval([1.0, 4.0], 800.0, "env-a")
    assert len([w for w in caught if issubclass(w.category, RlscaleWarning)]) == 1
    assert table["outside_interval"].tolist() == [True, True] and (table["estimate"] < table["lower"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RlscaleWarning)
        centred = _leaning(0.0).predict_interval([1.0, 4.0], 800.0, "env-a")  # the refits straddle it: no flag
        quiet = leaning.predict_interval([1.0], 800.0, "env-a", warn=False)
    assert not centred["outside_interval"].any() and quiet["outside_interval"].all()
    with pytest.warns(RlscaleWarning, match="outside its own interval at 2 value"):  # refits below: above its upper
        below = _leaning(-0.2).predict_interval([1.0, 4.0], 800.0, "env-a")
    assert below["outside_interval"].tolist() == [True, True] and (below["estimate"] > below["upper"]).all()
