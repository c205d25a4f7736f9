"""Return normalisation to the 0-1000 scale and post-reset dip filtering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_run_table

from rlscale.errors import RlscaleError
from rlscale.laws.normalize import (
    MAX_RETURN_PRESETS,
    ReturnNormalizer,
    filter_reset_dips,
    score_to_return,
)
from rlscale.laws.summary import Summary
from rlscale.runs import validate_run_table


def _mixed_table() -> pd.DataFrame:
    gym = make_run_table(n_seeds=2, n_points=3)
    dmc = gym.assign(benchmark="dmc", env="walker-walk", algo="bro", critic_params=4_920_000)
    return validate_run_table(pd.concat([gym, dmc], ignore_index=True))


def test_presets_hold_the_papers_max_returns():
    assert MAX_RETURN_PRESETS["paper-grid"]["HalfCheetah-v4"] == pytest.approx(1.25 * 7300)
    assert MAX_RETURN_PRESETS["paper-grid"]["Walker2d-v4"] == pytest.approx(5000)
    assert MAX_RETURN_PRESETS["paper-fitted"] == {"HalfCheetah-v4": 9800, "Walker2d-v4": 4950,
                                                  "Ant-v4": 6625, "Humanoid-v4": 6450}


def test_gym_returns_are_rescaled_and_dmc_returns_kept():
    runs = _mixed_table()
    out = ReturnNormalizer().transform(runs)
    gym = out["benchmark"] == "gym"
    np.testing.assert_allclose(out.loc[gym, "score"], out.loc[gym, "return"] * 1000 / 9125)
    np.testing.assert_array_equal(out.loc[~gym, "score"], out.loc[~gym, "return"])
    assert "score" not in runs.columns  # a copy, the input is untouched


def test_user_max_return_overrides_the_preset_and_fitted_preset_is_selectable():
    runs = _mixed_table()
    gym = runs["benchmark"] == "gym"
    out = ReturnNormalizer(max_return={"HalfCheetah-v4": 500.0}).transform(runs)
    np.testing.assert_allclose(out.loc[gym, "score"], out.loc[gym, "return"] * 2)
    fitted = ReturnNormalizer(preset="paper-fitted").fit(runs)
    assert fitted.max_return_ == {"HalfCheetah-v4": 9800.0}
    assert "9800" in fitted.summary()


def test_the_normalizer_summarises_and_reprs_like_the_other_estimators():
    runs = _mixed_table()
    plain = ReturnNormalizer(preset="paper-fitted")
    assert repr(plain) == "ReturnNormalizer(preset='paper-fitted', higher_is_better=None)"
    fitted = plain.fit(runs)
    assert repr(fitted) == "<ReturnNormalizer (preset 'paper-fitted'): 1 envs rescaled to 0-1000>"
    summary = fitted.summary()
    assert isinstance(summary, Summary) and "<table" in summary._repr_html_()
    assert summary.tables[0][1].to_dict("records") == [{"env": "HalfCheetah-v4", "max_return": 9800.0,
                                                        "min_return": 0.0}]

def test_env_without_max_return_names_env_and_flag():
    runs = validate_run_table(make_run_table().assign(env="HalfCheetah-v5"))
    with pytest.raises(RlscaleError, match=r"HalfCheetah-v5.*give one per env.*HalfCheetah-v5=9125.*min return"):
        ReturnNormalizer().transform(runs)
    with pytest.raises(RlscaleError, match="HalfCheetah-v4"):
        ReturnNormalizer(preset=None).transform(validate_run_table(make_run_table()))
    with pytest.raises(RlscaleError, match="unknown max-return preset"):
        ReturnNormalizer(preset="nope").transform(runs)


def _reset_run(values: list[float], utd: float, seed: int = 0, step: int = 1000) -> pd.DataFrame:
    return pd.DataFrame({
        "benchmark": "dmc", "env": "walker-walk", "algo": "bro", "utd": utd, "batch_size": 256,
        "learning_rate": 3e-4, "critic_params": 4_920_000, "seed": seed,
        "env_step": step * np.arange(1, len(values) + 1), "return": values, "score": values,
    })


def test_reset_dip_is_dropped_until_the_pre_reset_level_is_recovered():
    # utd 2, reset every 4000 updates = every 2000 env steps; points every 1000 env steps
    # steps:   1000 2000 | 3000 4000 | 5000 6000 | 7000
    values = [100, 300, 50, 350, 320, 200, 360]
    out = filter_reset_dips(validate_run_table(_reset_run(values, utd=2.0)), reset_every_updates=4000)
    # reset 1 after step 2000 (level 300): 3000 dips, 4000 recovers; reset 2 after 4000 (level 350):
    # 5000 (320) and 6000 (200) are below, and the segment ends there; reset 3 after 6000: level is the
    # last value before it (200), so 7000 is kept
    assert out["env_step"].tolist() == [1000, 2000, 4000, 7000]


def test_reset_interval_is_in_updates_so_higher_utd_resets_sooner():
    values = [100, 300, 50, 350]
    low = filter_reset_dips(validate_run_table(_reset_run(values, utd=1.0)), reset_every_updates=4000)
    high = filter_reset_dips(validate_run_table(_reset_run(values, utd=2.0)), reset_every_updates=4000)
    assert low["env_step"].tolist() == [1000, 2000, 3000, 4000]  # first reset after env step 4000
    assert high["env_step"].tolist() == [1000, 2000, 4000]


def test_reset_dips_are_filtered_per_seed_and_updates_column_wins():
    a = _reset_run([100, 300, 50, 350], utd=2.0, seed=0)
    b = _reset_run([100, 300, 400, 350], utd=2.0, seed=1)  # seed 1 shows no dip: nothing dropped
    runs = validate_run_table(pd.concat([a, b], ignore_index=True))
    out = filter_reset_dips(runs, reset_every_updates=4000)
    assert out.groupby("seed")["env_step"].apply(list).to_dict() == {0: [1000, 2000, 4000],
                                                                     1: [1000, 2000, 3000, 4000]}
    # the logged update count is used when present: no reset happened before step 4000 here
    logged = runs.assign(updates=runs["env_step"])
    assert len(filter_reset_dips(logged, reset_every_updates=4000)) == len(runs)


def test_reset_filter_keeps_other_algos_and_nan_levels_and_rejects_bad_input():
    sac = _reset_run([100, 300, 50, 350], utd=2.0).assign(algo="sac")
    bro = _reset_run([np.nan, np.nan, 50, 350], utd=2.0)  # no level before the reset: keep all
    runs = validate_run_table(pd.concat([sac, bro], ignore_index=True))
    out = filter_reset_dips(runs, reset_every_updates=4000, algos=["bro"])
    assert len(out) == len(runs)
    with pytest.raises(RlscaleError, match="positive"):
        filter_reset_dips(runs, reset_every_updates=0)
    with pytest.raises(RlscaleError, match="lacks column"):
        filter_reset_dips(runs.drop(columns="score"))


def _reference_filter(values: np.ndarray, updates: np.ndarray, every: float) -> list[int]:
    """The rule written out point by point for one run: indices of the points kept."""
    kept, level, resets_seen, recovered, last = [], np.nan, 0, True, np.nan
    for i, (v, u) in enumerate(zip(values, updates, strict=True)):
        resets = max(int(np.ceil(u / every)) - 1, 0)
        if resets > resets_seen:
            level, resets_seen, recovered = last, resets, bool(np.isnan(last))
        recovered = recovered or bool(v >= level)
        if recovered:
            kept.append(i)
        last = v if not np.isnan(v) else last
    return kept


def test_vectorised_reset_filter_matches_the_rule_applied_point_by_point(rng):
    runs = []
    for seed in range(30):
        n = int(rng.integers(5, 40))
        values = np.cumsum(rng.normal(5, 30, n))
        values[rng.random(n) < 0.1] = np.nan
        runs.append(_reset_run(list(values), utd=float(rng.choice([0.5, 1.0, 3.0])), seed=seed, step=700))
    table = validate_run_table(pd.concat(runs, ignore_index=True))
    table = table.sample(frac=1.0, random_state=0)  # row order must not matter
    out = filter_reset_dips(table, reset_every_updates=5000)
    for seed, run in table.sort_values("env_step").groupby("seed"):
        expected = _reference_filter(run["score"].to_numpy(), (run["env_step"] * run["utd"]).to_numpy(), 5000)
        got = out.loc[out["seed"] == seed].sort_values("env_step")["env_step"].tolist()
        assert got == run["env_step"].iloc[expected].tolist()


def test_min_return_maps_a_cost_range_onto_0_to_1000():
    runs = validate_run_table(make_run_table().assign(env="Pendulum-v1"))
    runs = runs.assign(**{"return": np.linspace(-1500.0, 0.0, len(runs))})
    norm = ReturnNormalizer(max_return={"Pendulum-v1": 0.0}, min_return={"Pendulum-v1": -1500.0}, preset=None)
    out = norm.transform(runs)
    assert out["score"].iloc[0] == pytest.approx(0.0)
    assert out["score"].iloc[-1] == pytest.approx(1000.0)
    assert np.allclose(out["score"], (runs["return"] + 1500.0) / 1.5)
    assert norm.min_return_ == {"Pendulum-v1": -1500.0}
    assert norm.summary().tables[0][1].to_dict("records") == [{"env": "Pendulum-v1", "max_return": 0.0,
                                                               "min_return": -1500.0}]


def _round_trip(runs: pd.DataFrame, norm: ReturnNormalizer) -> pd.DataFrame:
    out = norm.transform(runs)
    back = [score_to_return(score, env, norm.max_return_, norm.min_return_)
            for score, env in zip(out["score"], out["env"], strict=True)]
    return out.assign(back=back)


def test_score_to_return_undoes_the_rescaling_and_keeps_as_is_returns():
    out = _round_trip(_mixed_table(), ReturnNormalizer())  # HalfCheetah-v4 rescaled (gym), walker-walk as it is (dmc)
    np.testing.assert_allclose(out["back"], out["return"])
    dmc = out[out["benchmark"] == "dmc"]
    np.testing.assert_array_equal(dmc["back"], dmc["score"])  # identity: the score is the return
    costs = validate_run_table(make_run_table().assign(env="Pendulum-v1"))
    costs = costs.assign(**{"return": np.linspace(-1500.0, 0.0, len(costs))})
    out = _round_trip(costs, ReturnNormalizer(max_return={"Pendulum-v1": 0.0}, min_return={"Pendulum-v1": -1500.0},
                                              preset=None))
    np.testing.assert_allclose(out["back"], out["return"])
    assert score_to_return(800.0, "Pendulum-v1", {"Pendulum-v1": 0.0}, {"Pendulum-v1": -1500.0}) == -300.0


def test_max_return_not_above_min_return_is_one_line_error():
    runs = validate_run_table(make_run_table().assign(env="Pendulum-v1"))
    with pytest.raises(RlscaleError, match="must be above its min return"):
        ReturnNormalizer(max_return={"Pendulum-v1": -100.0}, preset=None).transform(runs)
    with pytest.raises(RlscaleError, match="must be above its min return"):
        ReturnNormalizer(max_return={"Pendulum-v1": 0.0}, min_return={"Pendulum-v1": 10.0}, preset=None).transform(runs)
    with pytest.raises(RlscaleError, match="must be above its min return"):  # equal: a zero range, infinite scores
        ReturnNormalizer(max_return={"Pendulum-v1": -5.0}, min_return={"Pendulum-v1": -5.0}, preset=None).fit(runs)


def test_a_max_return_for_an_env_the_table_lacks_is_refused_naming_it():
    runs = _mixed_table()  # HalfCheetah-v4 and walker-walk
    # mis-cased: the preset's HalfCheetah-v4 value would be used instead, without a word
    with pytest.raises(RlscaleError, match=r"^max return given for env\(s\) halfcheetah-v4, which no row of the run "
                       r"table holds \(envs: HalfCheetah-v4, walker-walk; .*\): did you mean HalfCheetah-v4\?$"):
        ReturnNormalizer(max_return={"halfcheetah-v4": 500.0}).fit(runs)
    with pytest.raises(RlscaleError, match=r"^min return given for env\(s\) Pendulum-v1, .*HalfCheetah-v4, walker"):
        ReturnNormalizer(min_return={"Pendulum-v1": -1500.0}).transform(runs)
    # a caller that checks the names against several tables itself
    assert ReturnNormalizer(max_return={"Pendulum-v1": 0.0}, check_envs=False).fit(runs).max_return_ == {
        "HalfCheetah-v4": 9125.0}


def test_a_return_range_for_an_env_whose_returns_are_used_as_they_are_is_refused_not_dropped():
    """It was dropped without a word, hiding an env taken for DMC by mistake and its raw returns read as scores."""
    runs = _mixed_table()  # HalfCheetah-v4 (gym) and walker-walk (dmc)
    with pytest.raises(RlscaleError, match=r"^max return given for env\(s\) walker-walk, whose returns are used as "
                       r"they are \(walker-walk: benchmark dmc.*0-1000 scale.*\), so it does not apply: leave it out$"):
        ReturnNormalizer(max_return={"walker-walk": 9125.0}).fit(runs)
    with pytest.raises(RlscaleError, match=r"^min return given for env\(s\) walker-walk, "):
        ReturnNormalizer(min_return={"walker-walk": -10.0}).transform(runs)
    failures = runs.assign(metric=np.where(runs["benchmark"] == "gym", "failure_rate", "eval_return"))
    with pytest.raises(RlscaleError, match=r"HalfCheetah-v4: a lower-is-better metric, thresholded in its own units"):
        ReturnNormalizer(max_return={"HalfCheetah-v4": 1.0}).fit(failures)
    assert ReturnNormalizer(max_return={"HalfCheetah-v4": 500.0}).fit(runs).max_return_ == {"HalfCheetah-v4": 500.0}
