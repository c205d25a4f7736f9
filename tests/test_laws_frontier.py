"""Compute, Pareto frontier, budget-optimal σ*, the laws in F and their held-out errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws.efficiency import DataEfficiency
from rlscale.laws.frontier import BatchSizeLaw, ComputeFrontier, configs_of, crossings_table, select_configs
from rlscale.laws.synthetic import make_sweep
from rlscale.laws.thresholds import ThresholdCrossings

UTDS = np.geomspace(0.25, 16.0, 7)
PAPER_GYM_800 = (2.17e5, 2.29, 0.70)  # the authors' Gym fit at J = 800: D = 2.17e5 (1 + (σ/2.29)^-0.70)


def _efficiency(laws: dict[float, tuple[float, float, float]]) -> DataEfficiency:
    """A DataEfficiency fitted to noise-free crossings of D_J = d_min (1 + (σ/s0)^-α), one law per J."""
    rows = [{"env": "e", "utd": u, "threshold": j, "crossing": d * (1 + (u / s0) ** -a)}
            for j, (d, s0, a) in laws.items() for u in UTDS]
    return DataEfficiency().fit(pd.DataFrame(rows))


def _constant_batch(b: float) -> BatchSizeLaw:
    return BatchSizeLaw({"e": (b, 0.0)})


def test_optimum_matches_brute_force_grid_argmin_on_the_paper_gym_law():
    batch = BatchSizeLaw({"HalfCheetah-v4": (412.0, -0.31), "Walker2d-v4": (250.0, -0.31)})
    frontier = ComputeFrontier(delta=4e9, critic_params=1.5e5, batch_size=batch, utd_range=(0.05, 100.0), holdout=0)
    frontier.fit(_efficiency({800.0: PAPER_GYM_800}))
    opt = frontier.optimum_.iloc[0]
    d, s0, a = PAPER_GYM_800
    grid = np.geomspace(0.05, 100.0, 200_001)
    data = d * (1 + (grid / s0) ** -a)
    budget = 10 * 1.5e5 * (0.5 * (412.0 + 250.0) * grid**-0.31) * grid * data + 4e9 * data
    best = grid[np.argmin(budget)]
    assert opt["utd"] == pytest.approx(best, rel=1e-3)
    assert opt["budget"] <= budget.min() * (1 + 1e-9)
    assert 0.25 < opt["utd"] < 16.0 and not opt["at_boundary"]  # finite, inside the σ range the paper sweeps
    assert opt["compute"] == pytest.approx(frontier.compute(np.array([opt["utd"]]), np.array([opt["data"]]))[0])
    assert opt["budget"] == pytest.approx(opt["compute"] + 4e9 * opt["data"])


def test_curves_trade_data_for_compute_along_sigma():
    frontier = ComputeFrontier(delta=4e9, critic_params=1.5e5, batch_size=_constant_batch(256.0), holdout=0)
    frontier.fit(_efficiency({800.0: PAPER_GYM_800}))
    curve = frontier.curves_
    assert list(curve.columns) == ["threshold", "utd", "data", "compute", "budget"]
    assert frontier.utd_range_ == pytest.approx((UTDS[0] / 2, UTDS[-1] * 2))
    assert np.all(np.diff(curve["data"]) < 0) and np.all(np.diff(curve["compute"]) > 0)
    np.testing.assert_allclose(curve["compute"], 10 * 1.5e5 * 256.0 * curve["utd"] * curve["data"])


def test_optimal_sigma_grows_with_the_cost_of_data():
    eff = _efficiency({800.0: PAPER_GYM_800})
    sigmas = [ComputeFrontier(delta=delta, critic_params=1.5e5, batch_size=_constant_batch(256.0),
                              utd_range=(0.01, 1000.0), holdout=0).fit(eff).optimum_["utd"].iloc[0]
              for delta in (1e9, 4e9, 1.6e10)]
    assert sigmas[0] < sigmas[1] < sigmas[2]


def _scaling_laws(exponent_of_f: float) -> dict[float, tuple[float, float, float]]:
    """With δ = 0, a constant B and α > 1 the optimum is σ* = s0 · 2^(-1/α) and F* ∝ D_min · s0, so
    D_min ∝ s0^p gives σ* ∝ F^(1 / (1 + p)) exactly."""
    p = 1.0 / exponent_of_f - 1.0
    scales = np.geomspace(0.5, 4.0, 8)
    return {j: (1e5 * s0**p, s0, 1.5) for j, s0 in zip(np.linspace(300, 800, 8), scales, strict=True)}


def test_sigma_law_in_budget_recovers_its_exponent_and_predicts_held_out_thresholds():
    frontier = ComputeFrontier(delta=0.0, critic_params=1e5, batch_size=_constant_batch(256.0),
                               utd_range=(0.01, 100.0), holdout=2).fit(_efficiency(_scaling_laws(0.5)))
    law = frontier.laws_["utd"]
    ci = frontier.conf_int().loc[("utd", "exponent")]
    assert law.exponent() == pytest.approx(0.5, abs=1e-3) and frontier.has_law()
    assert ci["lower"] <= 0.5 <= ci["upper"]
    assert frontier.optimum_["held_out"].tolist() == [False] * 6 + [True] * 2
    assert frontier.mean_rel_error()["utd"] < 1e-3
    np.testing.assert_allclose(frontier.optimum_["utd"], np.geomspace(0.5, 4.0, 8) * 2 ** (-1 / 1.5), rtol=1e-5)


def test_extrapolation_errors_are_relative_errors_of_the_laws_at_the_held_out_budgets():
    laws = _scaling_laws(0.6)
    laws[800.0] = (laws[800.0][0] * 1.3, *laws[800.0][1:])  # the top threshold is off the trend
    frontier = ComputeFrontier(delta=1e9, critic_params=1e5, batch_size=_constant_batch(128.0),
                               utd_range=(0.01, 100.0), holdout=2).fit(_efficiency(laws))
    ext = frontier.extrapolation_
    held = frontier.optimum_[frontier.optimum_["held_out"]]
    assert sorted(ext["threshold"].unique()) == sorted(held["threshold"])
    for r in ext.itertuples(index=False):
        actual = float(held.set_index("threshold").loc[r.threshold, r.quantity])
        assert r.actual == pytest.approx(actual)
        assert r.predicted == pytest.approx(frontier.predict(r.budget, r.quantity)[0])
        assert r.rel_error == pytest.approx(abs(r.predicted - actual) / actual)
    means = frontier.mean_rel_error()
    assert means["utd"] == pytest.approx(ext.loc[ext["quantity"] == "utd", "rel_error"].mean())
    assert ext.loc[ext["threshold"] == 800.0, "rel_error"].max() > ext.loc[ext["threshold"] < 800.0, "rel_error"].max()


def test_too_few_thresholds_for_laws_in_budget_is_reported_not_raised():
    frontier = ComputeFrontier(delta=4e9, critic_params=1.5e5, batch_size=_constant_batch(256.0), holdout=2)
    frontier.fit(_efficiency({700.0: PAPER_GYM_800, 800.0: PAPER_GYM_800}))
    assert frontier.laws_ == {} and "needs 3 or more, for residual dof" in frontier.law_reason_
    assert frontier.extrapolation_["predicted"].isna().all() and len(frontier.extrapolation_) == 2 * 3
    assert frontier.extrapolation_["reason"].str.contains("needs 3 or more").all()
    with pytest.raises(RlscaleError, match="no law in F"):
        frontier.predict(1e15)
    with pytest.warns(RlscaleWarning, match="no law in F was fitted .*needs 3 or more.*utd\\* rows are not_fitted"):
        rows = frontier.predict_interval([1e15, 1e16])  # an answer of its own kind, so a prediction's others stand
    assert rows["status"].tolist() == ["not_fitted"] * 2 and rows[["estimate", "lower", "upper"]].isna().all().all()


def test_optimum_on_the_edge_of_the_utd_range_is_flagged():
    frontier = ComputeFrontier(delta=4e9, critic_params=1.5e5, batch_size=_constant_batch(256.0),
                               utd_range=(0.25, 0.5), holdout=0).fit(_efficiency({800.0: PAPER_GYM_800}))
    assert bool(frontier.optimum_["at_boundary"].iloc[0])
    assert "σ* is at the edge of the utd range" in frontier.summary().as_text()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"delta": -1.0}, "delta"), ({"critic_params": 0.0}, "critic_params"), ({"utd_range": (2.0, 1.0)}, "utd_range"),
])
def test_bad_frontier_parameters_raise(kwargs, message):
    params = {"delta": 4e9, "critic_params": 1.5e5, "batch_size": _constant_batch(256.0), **kwargs}
    with pytest.raises(RlscaleError, match=message):
        ComputeFrontier(**params).fit(_efficiency({800.0: PAPER_GYM_800}))


def test_batch_size_law_from_hparams_averages_the_envs(tmp_path):
    shared = {"a": {"coef": 400.0, "exponent": -0.3}, "b": {"coef": 200.0, "exponent": -0.3}}
    hparams = {"batch_size": {"shared": shared, "separate": {}}}
    path = tmp_path / "hparams.json"
    path.write_text(json.dumps(hparams))
    law = BatchSizeLaw.from_hparams(path)
    np.testing.assert_allclose(law([1.0, 8.0]), 300.0 * np.array([1.0, 8.0]) ** -0.3)
    assert BatchSizeLaw.from_hparams(hparams, envs=["a"])(2.0) == pytest.approx(400.0 * 2**-0.3)
    with pytest.raises(RlscaleError, match="no batch-size law for env"):
        BatchSizeLaw.from_hparams(hparams, envs=["c"])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RlscaleError, match="cannot read"):
        BatchSizeLaw.from_hparams(tmp_path / "bad.json")


def test_batch_size_law_from_runs_fits_the_batch_sizes_used():
    configs = pd.DataFrame({"env": ["a"] * 4 + ["b"] * 4, "utd": [1.0, 2.0, 4.0, 8.0] * 2,
                            "batch_size": [512, 256, 128, 64, 256, 128, 64, 32]})
    law = BatchSizeLaw.from_runs(configs)
    assert law.terms["a"] == pytest.approx((512.0, -1.0))
    np.testing.assert_allclose(law([2.0]), [0.5 * (256 + 128)])
    assert BatchSizeLaw.from_runs(configs.assign(batch_size=256))([0.5, 8.0]) == pytest.approx([256.0, 256.0])


def _crossings_of(curves: dict[int, list[float]], thresholds) -> ThresholdCrossings:
    """Crossings of one (env, σ) with one configuration per batch size; 2 identical seeds each."""
    rows = [{"benchmark": "dmc", "env": "e", "algo": "x", "utd": 1.0, "batch_size": b, "learning_rate": 1e-3,
             "critic_params": 10, "seed": seed, "env_step": 1000 * (i + 1), "score": v}
            for b, values in curves.items() for seed in range(2) for i, v in enumerate(values)]
    return ThresholdCrossings(thresholds, n_bootstrap=3).fit(pd.DataFrame(rows))


def test_select_configs_keeps_the_earliest_at_the_highest_threshold_and_breaks_ties_below():
    tc = _crossings_of({128: [100, 600, 900], 256: [100, 850, 900], 512: [700, 750, 790]}, [500.0, 800.0])
    assert configs_of(tc, select_configs(tc))["batch_size"].tolist() == [256]
    tc = _crossings_of({128: [100, 600, 700], 256: [550, 600, 700], 512: [100, 200, 300]}, [500.0, 800.0])
    assert configs_of(tc, select_configs(tc))["batch_size"].tolist() == [256]  # none reach 800: earliest at 500


def test_synthetic_sweep_end_to_end_selects_one_config_per_env_and_utd():
    runs = make_sweep(utds=(0.5, 1.0, 2.0, 4.0, 8.0), batch_sizes=(128, 256, 512), learning_rates=(4e-4, 1.6e-3),
                      n_seeds=3, n_points=60)
    tc = ThresholdCrossings([600.0, 700.0, 800.0], n_bootstrap=5).fit(runs)
    index = select_configs(tc)
    configs = configs_of(tc, index)
    assert len(configs) == 10 and not configs.duplicated(["env", "utd"]).any()
    frame = tc.to_frame()
    top = frame[frame["threshold"] == 800.0].assign(late=lambda f: f["crossing"].fillna(np.inf))
    assert (configs.merge(top, on=list(configs.columns))["late"].to_numpy()
            == top.groupby(["env", "utd"])["late"].min().to_numpy()).all()
    points, boot = crossings_table(tc, index)
    assert len(points) == 30 and len(boot) == 30 * 5 and set(boot["sample"]) == set(range(5))
    fit = DataEfficiency().fit(points, boot)
    assert fit.params(800.0)[2] == pytest.approx(0.8, abs=0.35)  # synthetic truth α = 0.8, grid-best selection


def test_only_thresholds_with_a_law_get_a_frontier_and_none_is_a_reason_not_a_crash():
    rows = [{"env": "e", "utd": u, "threshold": j, "crossing": 5000.0 * u**-0.6 * (j / 800)} for u in UTDS
            for j in (700.0, 800.0)]  # pure power laws: no floor, s_0 at its bound, no law at any J
    eff = DataEfficiency().fit(pd.DataFrame(rows))
    frontier = ComputeFrontier(delta=4e9, critic_params=1.5e5, batch_size=_constant_batch(256.0)).fit(eff)
    assert frontier.optimum_.empty and frontier.curves_.empty and frontier.laws_ == {}
    assert "no threshold has a data-efficiency law" in frontier.reason_
    assert frontier.problems() == [f"no frontier: {frontier.reason_}"]


def test_the_budget_laws_count_repeated_thresholds_once_and_leave_out_bounds():
    laws = _scaling_laws(0.5)
    eff = _efficiency(laws)
    params = eff.params_.copy()
    params.loc[params["threshold"] == max(laws), "same_as"] = min(laws)  # as if two J shared their crossings
    eff._set_params(params)
    frontier = ComputeFrontier(delta=0.0, critic_params=1e5, batch_size=_constant_batch(256.0),
                               utd_range=(0.01, 100.0), holdout=0).fit(eff)
    top = frontier.optimum_.set_index("threshold").loc[max(laws)]
    assert not top["in_fit"] and "counted once" in top["note"]
    assert frontier.laws_["utd"].n_obs_ == len(laws) - 1


def test_a_saved_frontier_reloads_with_the_same_laws_and_extrapolation():
    frontier = ComputeFrontier(delta=1e9, critic_params=1e5, batch_size=_constant_batch(128.0),
                               utd_range=(0.01, 100.0), holdout=2).fit(_efficiency(_scaling_laws(0.6)))
    frames = {k: pd.read_csv(pd.io.common.StringIO(v.to_csv(index=False))) for k, v in frontier.to_frames().items()}
    back = ComputeFrontier.from_frames(frames, 1e9, 1e5, _constant_batch(128.0), frontier.utd_range_, 2,
                                       law_reason=frontier.law_reason_)
    pd.testing.assert_frame_equal(back.conf_int(0.1), frontier.conf_int(0.1))
    pd.testing.assert_frame_equal(back.extrapolation_, frontier.extrapolation_)
    assert "σ* ∝ F^0.6" in repr(back) and "laws in F" in back.summary().as_text()


def test_a_frontier_of_one_env_names_that_env_in_its_laws_and_predicts_from_them():
    """A per-env frontier's laws in F were labelled 'all' (the pooled group), so its summary named no task."""
    rows = [{"env": "my-task", "utd": u, "threshold": j, "crossing": d * (1 + (u / s0) ** -a)}
            for j, (d, s0, a) in _scaling_laws(0.5).items() for u in UTDS]
    per_env = DataEfficiency(normalize=False).fit(pd.DataFrame(rows))
    frontier = ComputeFrontier(delta=0.0, critic_params=1e5, batch_size=BatchSizeLaw({"my-task": (256.0, 0.0)}),
                               utd_range=(0.01, 100.0), holdout=2, group="my-task").fit(per_env)
    assert frontier.has_law() and frontier.laws_["utd"].groups_ == ["my-task"]
    assert set(frontier.table()["group"]) == {"my-task"} and frontier.mean_rel_error()["utd"] < 1e-3
    np.testing.assert_allclose(frontier.predict_interval([1e12])["estimate"], frontier.predict([1e12]))
    back = ComputeFrontier.from_frames(frontier.to_frames(), 0.0, 1e5, BatchSizeLaw({"my-task": (256.0, 0.0)}),
                                       frontier.utd_range_, 2)
    assert back.group == "my-task" and back.has_law() and "σ* ∝ F^0.5" in repr(back)
