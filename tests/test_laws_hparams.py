"""Best hyperparameters and their laws recover the truth behind synthetic sweeps."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws.hparams import (
    ESTIMATORS,
    BestHyperparams,
    HyperparamLaws,
    extrapolation_errors,
    round_batch_size,
)
from rlscale.laws.synthetic import SyntheticLaws, make_sweep
from rlscale.laws.thresholds import ThresholdCrossings

LAWS = SyntheticLaws()
COARSE_B = (32, 128, 512, 2048)  # factor-4 grids: the true optimum usually lies between grid points
COARSE_LR = (6.25e-5, 2.5e-4, 1e-3, 4e-3)


@pytest.fixture(scope="module")
def crossings() -> ThresholdCrossings:
    """The default (factor-2) grid: 2 envs x 6 utds x 5 B x 6 lr x 6 seeds."""
    runs = make_sweep(LAWS, n_seeds=6, n_points=200, random_state=1)
    return ThresholdCrossings([800.0], n_bootstrap=40, random_state=1).fit(runs)


@pytest.fixture(scope="module")
def coarse_crossings() -> ThresholdCrossings:
    runs = make_sweep(LAWS, batch_sizes=COARSE_B, learning_rates=COARSE_LR, n_points=500, max_step=8_000_000,
                      random_state=2)
    return ThresholdCrossings([800.0], n_bootstrap=40, random_state=2).fit(runs)


def _log_rmse(best: pd.DataFrame) -> tuple[float, float]:
    true_b = np.array([LAWS.best_batch_size(r.env, r.utd) for r in best.itertuples()])
    true_lr = np.array([LAWS.best_learning_rate(r.env, r.utd) for r in best.itertuples()])
    return (float(np.sqrt(np.mean(np.log(best["batch_size"] / true_b) ** 2))),
            float(np.sqrt(np.mean(np.log(best["learning_rate"] / true_lr) ** 2))))


def test_paper_estimator_recovers_true_exponents_and_proposals_fall_with_utd(crossings):
    best = BestHyperparams(threshold=800, estimator="bootstrap").fit(crossings)
    assert len(best.best_) == 12 and best.best_["batch_size"].notna().all()
    laws = HyperparamLaws().fit(best)
    fitted = laws.to_dict()
    for env in LAWS.envs:
        # stated tolerance: 0.06 on the exponent (true -0.4 and -0.3; the grid spacing is a factor 2)
        assert fitted["batch_size"]["shared"][env]["exponent"] == pytest.approx(LAWS.batch_exponent, abs=0.06)
        assert fitted["learning_rate"]["shared"][env]["exponent"] == pytest.approx(LAWS.lr_exponent, abs=0.06)
        assert fitted["batch_size"]["shared"][env]["coef"] == pytest.approx(LAWS.batch_coef[env], rel=0.25)
        assert fitted["learning_rate"]["separate"][env]["exponent"] == pytest.approx(LAWS.lr_exponent, abs=0.12)
    proposed = laws.propose([0.5, 1, 2, 4, 8, 16])
    assert list(proposed.columns) == ["env", "utd", "batch_size", "learning_rate", "batch_size_rounded"]
    for _, sub in proposed.groupby("env"):
        assert np.all(np.diff(sub["batch_size"]) < 0) and np.all(np.diff(sub["learning_rate"]) < 0)
        assert np.all(sub["batch_size_rounded"] % 16 == 0) and np.all(sub["batch_size_rounded"] >= 16)


def test_confidence_columns_bracket_the_estimate(crossings):
    best = BestHyperparams(estimator="bootstrap").fit(crossings).best_
    for h in ("batch_size", "learning_rate"):
        assert (best[f"{h}_lower"] <= best[h] * (1 + 1e-9)).all()
        assert (best[h] <= best[f"{h}_upper"] * (1 + 1e-9)).all()
        assert (best[f"{h}_log_std"] >= 0).all()
    assert set(best["grid_batch_size"]) <= {64.0, 128.0, 256.0, 512.0, 1024.0}


def test_quadratic_estimator_beats_grid_argmin_between_grid_points(coarse_crossings):
    """Beyond the paper: on a factor-4 grid the quadratic vertex locates the optimum far better."""
    rmse = {e: _log_rmse(BestHyperparams(estimator=e).fit(coarse_crossings).best_) for e in ESTIMATORS}
    quad_b, quad_lr = rmse["quadratic"]
    assert quad_b < 0.1 and quad_lr < 0.1  # within ~10% of the true optimum at every (env, utd)
    for other in ("point", "bootstrap", "mean_other"):
        assert quad_b < 0.5 * rmse[other][0] and quad_lr < 0.5 * rmse[other][1]
    fitted = HyperparamLaws().fit(BestHyperparams(estimator="quadratic").fit(coarse_crossings)).to_dict()
    for env in LAWS.envs:
        assert fitted["batch_size"]["shared"][env]["exponent"] == pytest.approx(LAWS.batch_exponent, abs=0.03)
        assert fitted["learning_rate"]["shared"][env]["exponent"] == pytest.approx(LAWS.lr_exponent, abs=0.03)


def test_estimators_on_a_hand_made_grid():
    # times[B, lr, sample]; inf = never reached. Sample 0: best cell (B1, lr0); sample 1: (B0, lr1).
    times = np.array([[[5.0, 3.0], [4.0, 1.0]], [[2.0, np.inf], [6.0, 2.0]]])
    log_b, log_lr = np.log([100.0, 400.0]), np.log([1e-4, 1e-3])
    b, lr = ESTIMATORS["point"][0](times, log_b, log_lr)
    np.testing.assert_allclose(np.exp(b), [400, 100])
    np.testing.assert_allclose(np.exp(lr), [1e-4, 1e-3])
    b, lr = ESTIMATORS["bootstrap"][0](times, log_b, log_lr)
    # sample 0: best B per lr = (400, 100) -> geometric mean 200; best lr per B = (1e-3, 1e-4) -> ~3.16e-4
    # sample 1: best B per lr = (100, 100) -> 100 (inf never wins); best lr per B = (1e-3, 1e-3) -> 1e-3
    np.testing.assert_allclose(np.exp(b), [200, 100])
    np.testing.assert_allclose(np.exp(lr), [np.sqrt(1e-7), 1e-3])
    never = np.full((2, 2, 1), np.inf)
    assert all(np.isnan(v).all() for v in ESTIMATORS["bootstrap"][0](never, log_b, log_lr))
    assert all(np.isnan(v).all() for v in ESTIMATORS["quadratic"][0](never, log_b, log_lr))


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # statsmodels: a 2-point separate fit has no CI
def test_task_where_nothing_reaches_the_threshold_is_nan_with_a_warning_and_left_out_of_the_fit():
    runs = make_sweep(LAWS, utds=(1.0, 2.0, 4.0), n_seeds=3, n_points=60, max_step=600_000, random_state=3)
    runs = runs[~((runs["utd"] == 1.0) & (runs["env"] == "env-b"))]
    slow = make_sweep(LAWS, utds=(1.0,), n_seeds=3, n_points=60, max_step=100_000, random_state=3)
    runs = pd.concat([runs, slow[slow["env"] == "env-b"]], ignore_index=True)
    tc = ThresholdCrossings([800.0], n_bootstrap=10).fit(runs)
    with pytest.warns(RlscaleWarning, match="env-b at utd 1 reaches"):
        best = BestHyperparams().fit(tc)
    row = best.best_.query("env == 'env-b' and utd == 1.0").iloc[0]
    assert np.isnan(row["batch_size"]) and row["n_reached"] == 0
    laws = HyperparamLaws().fit(best)
    assert laws.laws_["batch_size"]["shared"]["dmc"].n_obs_ == 5


def test_baseline_reuses_grid_best_at_utd_2_or_the_nearest(crossings):
    best = BestHyperparams().fit(crossings)
    laws = HyperparamLaws().fit(best)
    at2 = best.best_.query("utd == 2.0").set_index("env")
    base = laws.baseline([0.5, 2, 8])
    for env, sub in base.groupby("env"):
        assert (sub["batch_size"] == at2.loc[env, "grid_batch_size"]).all()
        assert (sub["learning_rate"] == at2.loc[env, "grid_learning_rate"]).all()
    without2 = best.best_[best.best_["utd"] != 2.0]
    nearest = HyperparamLaws(baseline_utd=2.0).fit(without2).baseline_
    assert set(nearest["utd"]) <= {1.0, 4.0}


def test_an_env_whose_grid_best_at_the_baseline_sigma_is_missing_has_no_baseline_rows(crossings):
    """No configuration reaching J at sigma 2 used to give a batch size of int64's minimum in the baseline CSV."""
    best = BestHyperparams().fit(crossings).best_.copy()
    env = sorted(best["env"].unique())[0]
    at2 = (best["env"] == env) & (best["utd"] == 2.0)
    best.loc[at2, ["grid_batch_size", "grid_learning_rate"]] = np.nan
    with pytest.warns(RlscaleWarning, match=f"no \\(B, eta\\) of {env} reaches the threshold"):
        laws = HyperparamLaws().fit(best)
    base = laws.baseline([0.5, 2, 8])
    assert env not in set(base["env"]) and (base["batch_size_rounded"] >= 16).all() and len(base) == 3
    assert laws.baseline([1.0], envs=[env]).empty


def test_extrapolation_to_held_out_utds_is_accurate(crossings):
    errors = extrapolation_errors(BestHyperparams().fit(crossings), fit_range=(1.0, 8.0))
    assert set(errors["utd"]) == {0.25, 0.5}
    assert set(errors["hparam"]) == {"batch_size", "learning_rate"}
    assert errors["rel_error"].mean() < 0.3  # measured ~0.1 on this sweep


def test_round_batch_size_to_multiples_of_16_minimum_16():
    np.testing.assert_array_equal(round_batch_size([3, 7, 24, 40, 300, 412.4]), [16, 16, 32, 48, 304, 416])


def test_bad_requests_are_one_line_errors(crossings):
    with pytest.raises(RlscaleError, match="threshold 700 was not computed"):
        BestHyperparams(threshold=700).fit(crossings)
    with pytest.raises(RlscaleError, match="unknown estimator"):
        BestHyperparams(estimator="median").fit(crossings)
    best = BestHyperparams().fit(crossings)  # warns of its one grid-best cell at the grid's edge, as it should
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        laws = HyperparamLaws().fit(best)
    with pytest.raises(RlscaleError, match="no fit for env 'nope'"):
        laws.propose([1.0], envs=["nope"])
    with pytest.raises(RlscaleError, match="positive"):
        laws.propose([0.0])
    with pytest.raises(RlscaleError, match="hparam must be one of batch_size, learning_rate and variant one of "
                                           "shared, separate \\(got 'lr', None\\)"):
        laws.predict([2.0], "env-a", "lr")
    with pytest.raises(RlscaleError, match="got 'batch_size', 'pooled'"):
        laws.law("batch_size", "env-a", "pooled")


def test_best_hyperparameter_intervals_at_any_level_and_a_readable_summary(crossings):
    best = BestHyperparams().fit(crossings)
    wide, narrow = best.conf_int(0.05), best.conf_int(0.5)
    np.testing.assert_allclose(wide["batch_size_lower"], best.best_["batch_size_lower"])
    assert (narrow["batch_size_upper"] <= wide["batch_size_upper"]).all()
    assert "Best hyperparameters (bootstrap) at J = 800" in best.summary().as_text()
    assert "12 (task, σ)" in repr(best)
    half = best.summary(0.5)
    assert "interval: 50% percentile" in half.as_text() and "95%" in best.summary().as_text()
    np.testing.assert_array_equal(half.tables[0][1]["batch_size_upper"], narrow["batch_size_upper"])
    restored = BestHyperparams.from_frame(best.best_, 800.0, best.estimator)
    assert restored.summary().as_text() == best.summary().as_text()
    with pytest.raises(RlscaleError, match="refit for another level"):
        restored.summary(0.5)


def test_laws_table_conf_int_summary_repr_and_reload(crossings):
    laws = HyperparamLaws().fit(BestHyperparams().fit(crossings))
    table = laws.table()
    assert set(table["variant"]) == {"shared", "separate"} and set(table["hparam"]) == {"batch_size",
                                                                                         "learning_rate"}
    ci = laws.conf_int(0.1)
    row = table[(table["hparam"] == "batch_size") & (table["variant"] == "shared") & (table["group"] == "env-a")
                & (table["parameter"] == "exponent")].iloc[0]
    assert row["lower"] < row["estimate"] < row["upper"] and row["df_resid"] == 12 - 3
    assert ci.loc[("batch_size", "shared", "env-a", "exponent"), "lower"] > row["lower"]
    text = laws.summary().as_text()
    assert "residual dof: 9" in text and "points per law: 12" in text
    assert repr(laws).startswith("<HyperparamLaws (shared slope)") and "batch_size (dmc)" in repr(laws)
    back = HyperparamLaws.from_frames(laws.to_frame(), laws.baseline_)
    pd.testing.assert_frame_equal(back.table(), table)
    pd.testing.assert_frame_equal(back.propose([0.5, 3.0]), laws.propose([0.5, 3.0]))


def test_an_env_with_best_hyperparameters_at_one_utd_is_left_out_with_a_warning_that_says_why(crossings):
    best = BestHyperparams().fit(crossings).best_
    best.loc[(best["env"] == "env-b") & (best["utd"] != 1.0), ["batch_size", "learning_rate"]] = np.nan
    with pytest.warns(RlscaleWarning, match="env env-b has best hyperparameters at only one utd"):
        laws = HyperparamLaws().fit(best)
    assert laws.envs_ == ["env-a"]
    only_b = best[best["env"] == "env-b"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RlscaleWarning)
        with pytest.raises(RlscaleError, match="no env has finite best hyperparameters at 2 or more utds"):
            HyperparamLaws().fit(only_b)


def test_held_out_utds_without_a_law_say_why_instead_of_leaving_blanks(crossings):
    best = BestHyperparams().fit(crossings)
    errors = extrapolation_errors(best, fit_range=(1.0, 2.0), shared_slope=False)  # 2 σ per env: exact fits
    assert errors["predicted"].isna().all()
    assert errors["reason"].str.contains("not a law \\(exact\\)").all()


def _tied_grid(n_seeds: int = 3) -> ThresholdCrossings:
    """Two batch sizes whose curves reach 800 at the same logged step in every seed (a tie), one η, two σ."""
    steps = np.arange(1, 11) * 1000
    rows = [{"benchmark": "dmc", "env": "e", "algo": "sac", "utd": utd, "batch_size": b, "learning_rate": 1e-3,
             "critic_params": 1000, "seed": seed, "env_step": step, "score": 100.0 * k}
            for utd in (1.0, 2.0) for b in (32, 64) for seed in range(n_seeds) for k, step in enumerate(steps, 1)]
    return ThresholdCrossings([800.0], n_bootstrap=200, random_state=0).fit(pd.DataFrame(rows))


@pytest.mark.parametrize("estimator", ["bootstrap", "bootstrap_joint", "bootstrap_quadratic"])
def test_tied_best_cells_go_to_the_smallest_grid_value_unless_broken_at_random(estimator):
    crossings = _tied_grid()
    first = BestHyperparams(800.0, estimator).fit(crossings).best_
    assert first["batch_size"].to_numpy() == pytest.approx(32.0) and (first["tied_frac"] == 1.0).all()
    random = BestHyperparams(800.0, estimator, tie_break="random", random_state=3).fit(crossings).best_
    again = BestHyperparams(800.0, estimator, tie_break="random", random_state=3).fit(crossings).best_
    assert random["batch_size"].to_numpy() == pytest.approx(np.sqrt(32 * 64), rel=0.15)  # half each, geometric mean
    assert random.equals(again) and random["learning_rate"].to_numpy() == pytest.approx(1e-3)
    with pytest.raises(RlscaleError, match="tie_break one of first, random"):
        BestHyperparams(800.0, tie_break="last").fit(crossings)


def test_a_best_cell_tied_in_every_bootstrap_sample_is_said_as_the_tie_breaks_not_the_datas(crossings):
    """Curves that reach J at the same logged step in every cell (constant returns, say) gave a B*(σ) law of the
    tie-break's smallest grid values, status ok, without a word on why."""
    with pytest.warns(RlscaleWarning, match=r"at 2 of 2 \(env, utd\) point\(s\) the best grid cell ties with another "
                                            r"in every bootstrap sample \(first: env .* at utd 1\): the data do not "
                                            r"pick the best \(B, η\) there, the tie-break does"):
        BestHyperparams(800.0).fit(_tied_grid())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        BestHyperparams().fit(crossings)
    assert not any("ties with another in every bootstrap sample" in str(w.message) for w in caught)


def test_a_best_cell_at_the_grids_edge_and_a_utd_missing_cells_are_said(crossings):
    """An optimum at the smallest or largest B or η tried is a bound, not a measurement, and a σ whose grid lacks cells
    its env has at other σ picks among fewer configurations: both were silent."""
    with pytest.warns(RlscaleWarning, match=r"at 1 of 12 \(env, utd\) point\(s\) the grid-best B or η is the smallest "
                                            r"or largest the grid tried \(first: env env-b at utd 8, B 64"):
        best = BestHyperparams().fit(crossings).best_
    edge = best[best["batch_size_at_edge"] | best["learning_rate_at_edge"]]
    assert edge[["env", "utd"]].values.tolist() == [["env-b", 8.0]] and edge["grid_batch_size"].iloc[0] == 64
    runs = make_sweep(LAWS, n_seeds=6, n_points=200, random_state=1)
    cut = ThresholdCrossings([800.0], n_bootstrap=10, random_state=1).fit(runs[runs["batch_size"] <= 256])
    with pytest.warns(RlscaleWarning, match=r"the grid-best B or η is the smallest or largest the grid tried"):
        top = BestHyperparams().fit(cut).best_  # B 64 .. 256: small σ want more than 256, the largest tried
    assert (top["grid_batch_size"] == 256).any()
    assert top["batch_size_at_edge"].tolist() == top["grid_batch_size"].isin([64.0, 256.0]).tolist()
    runs = make_sweep(LAWS, n_seeds=6, n_points=200, random_state=1)
    gap = (runs["env"] == "env-a") & (runs["utd"] == 8.0) & (runs["batch_size"] == runs["batch_size"].max())
    holey = ThresholdCrossings([800.0], n_bootstrap=10, random_state=1).fit(runs[~gap])
    with pytest.warns(RlscaleWarning, match=r"1 \(env, utd\) point\(s\) lack cells of their env's B × η grid "
                                            r"\(sparsest: env env-a at utd 8, 24 of 30 configurations\)"):
        BestHyperparams().fit(holey)


def test_a_utd_that_tried_one_configuration_gives_no_best_and_leaves_the_laws_alone():
    """One cell at a new σ (the largest B and η, say) is 'best' among one and sat at the grid's edge: fitted as an
    optimum it flipped the sign of B*(σ) while the law stayed ok. It is NaN there, said once, and out of the laws."""
    runs = make_sweep(LAWS, n_seeds=6, n_points=200, random_state=1)
    top = runs[(runs["env"] == "env-a") & (runs["utd"] == runs["utd"].max())]
    lone = top[(top["batch_size"] == top["batch_size"].max()) & (top["learning_rate"] == top["learning_rate"].max())]
    extra = lone.assign(utd=lone["utd"] * 2)  # the only configuration tried at that σ
    crossings = ThresholdCrossings([800.0], n_bootstrap=10, random_state=1).fit(pd.concat([runs, extra]))
    with pytest.warns(RlscaleWarning, match=r"1 \(env, utd\) point\(s\) tried a single B or a single η of the "
                                            r"several their env tries at other utds \(first: env env-a at utd 16, 1 "
                                            r"configuration\(s\)\): a best among one value is that value, not an "
                                            r"estimate"):
        best = BestHyperparams().fit(crossings)
    lone_row = best.best_[(best.best_["env"] == "env-a") & (best.best_["utd"] == 16.0)].iloc[0]
    assert np.isnan(lone_row["batch_size"]) and np.isnan(lone_row["learning_rate"]) and lone_row["n_cells"] == 1
    laws = HyperparamLaws().fit(best)
    for h in ("batch_size", "learning_rate"):
        for variant in ("shared", "separate"):
            terms = laws.law(h, "env-a", variant).terms_.loc["env-a"]
            assert terms["x_max"] == pytest.approx(8.0) and terms["n_obs"] == 6  # σ 0.25 … 8, not the lone σ 16


def test_the_share_of_resamples_that_give_an_estimate_is_recorded_where_no_cell_reaches_j():
    """At σ = 2 one seed of four never learns: the all-seeds mean peaks at 750 (n_reached 0); a cell's resample
    reaches J = 800 only without that seed, (3/4)^4 of the time, and a sample gives an estimate when either of
    the two cells (resampled independently) does."""
    steps = np.arange(1, 11) * 1000
    rows = [{"benchmark": "dmc", "env": "e", "algo": "sac", "utd": utd, "batch_size": b, "learning_rate": 1e-3,
             "critic_params": 1000, "seed": seed, "env_step": step,
             "score": 0.0 if (utd == 2.0 and seed == 3) else 100.0 * k}
            for utd in (1.0, 2.0) for b in (32, 64) for seed in range(4) for k, step in enumerate(steps, 1)]
    crossings = ThresholdCrossings([800.0], n_bootstrap=400, random_state=0).fit(pd.DataFrame(rows))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RlscaleWarning)
        best = BestHyperparams(800.0, "bootstrap").fit(crossings).best_.set_index("utd")
    assert best.loc[1.0, "estimated_frac"] == 1.0 and best.loc[1.0, "n_reached"] == 2
    assert best.loc[2.0, "n_reached"] == 0 and np.isfinite(best.loc[2.0, "batch_size"])
    assert best.loc[2.0, "estimated_frac"] == pytest.approx(1 - (1 - 0.75**4) ** 2, abs=0.06)


@pytest.mark.parametrize("utd", [0.0, -2.0, float("nan"), float("inf"), "2"])
def test_a_baseline_utd_that_is_not_a_positive_number_is_refused_rather_than_matched_to_an_arbitrary_sigma(crossings,
                                                                                                          utd):
    best = BestHyperparams().fit(crossings)
    with pytest.raises(RlscaleError, match="baseline_utd= must be a positive number"):
        HyperparamLaws(baseline_utd=utd).fit(best)
