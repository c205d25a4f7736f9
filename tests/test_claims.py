"""The claims table: each of the paper's claims judged on a saved analysis, with intervals, dof and a verdict, and
the README showing exactly what the pipeline writes from the committed analyses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rlscale import pipeline
from rlscale.analysis import VERDICTS, Analysis, claims_markdown, claims_table
from rlscale.analysis.claims import (
    CHANGED,
    CONTRADICTED,
    MECHANISMS,
    MIN_R2,
    NOT_FITTED,
    NOT_SHOWN,
    SUPPORTED,
    UNCHANGED,
    baseline_claim,
    budget_claim,
    efficiency_claim,
    estimators_claim,
    exponent_claim,
    mechanism_claim,
    mechanism_slopes,
    ties_claim,
)
from rlscale.laws.efficiency import DataEfficiency
from rlscale.laws.frontier import BatchSizeLaw, ComputeFrontier
from rlscale.laws.powerlaw import PowerLaw
from rlscale.laws.synthetic import SyntheticLaws

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = pipeline.benchmark_names(ROOT / "params.yaml")
UTDS = np.geomspace(0.25, 16.0, 7)
LAW = SyntheticLaws()


def _crossings(rng=None, noise=0.0, thresholds=(500.0, 800.0), utds=UTDS) -> pd.DataFrame:
    """Crossings of the synthetic D_J(σ) law (one env), times a log-normal noise."""
    return pd.DataFrame([{"env": "e", "utd": u, "threshold": j,
                          "crossing": (j / 800.0) * float(LAW.data_efficiency(u))
                          * (1.0 if rng is None else float(np.exp(rng.normal(0.0, noise))))}
                         for j in thresholds for u in utds])


def _saved(bench: str) -> Analysis:
    return Analysis.load(ROOT / "results" / bench / "analysis")


def test_r2_of_an_exact_law_is_one_and_of_noisy_points_below_one(rng):
    exact = DataEfficiency().fit(_crossings()).params_
    noisy = DataEfficiency().fit(_crossings(rng, noise=0.2)).params_
    assert exact["r2_log"].to_numpy() == pytest.approx(1.0, abs=1e-9)
    assert ((noisy["r2_log"] < 1.0) & (noisy["r2_log"] > 0.0)).all()
    assert {"r2_log", "rmse_log", "df_resid"} <= set(DataEfficiency().fit(_crossings()).table().columns)
    assert "R² (log)" in DataEfficiency().fit(_crossings()).summary().as_text()


def _copy_as_saved_before_checksums(folder: Path) -> dict:
    """The committed Gym analysis as a save from before the tables' checksums (``tables``: a list of names);
    returns its analysis.json."""
    shutil.copytree(ROOT / "results" / "gym" / "analysis", folder)
    doc = json.loads((folder / "analysis.json").read_text())
    doc["tables"] = sorted(doc["tables"])
    (folder / "analysis.json").write_text(json.dumps(doc))
    return doc


def test_a_saved_analysis_without_r2_loads_with_the_same_r2_from_its_points(tmp_path):
    folder = tmp_path / "analysis"
    _copy_as_saved_before_checksums(folder)
    params = pd.read_csv(folder / "efficiency_params.csv")
    params.drop(columns="r2_log").to_csv(folder / "efficiency_params.csv", index=False)
    old, new = Analysis.load(folder).fitted_.efficiency.params_, _saved("gym").fitted_.efficiency.params_
    np.testing.assert_allclose(old["r2_log"], new["r2_log"], rtol=1e-8)


def test_an_analysis_saved_before_the_comparisons_loads_and_its_claims_say_to_refit(tmp_path):
    folder = tmp_path / "analysis"
    doc = _copy_as_saved_before_checksums(folder)
    for name in ("data_ratio", "tie_sensitivity"):
        (folder / f"{name}.csv").unlink()
        doc["tables"].remove(name)
    (folder / "analysis.json").write_text(json.dumps(doc))
    a = Analysis.load(folder)
    assert a.data_ratio_ is None and a.ties_ is None
    rows = claims_table({"Gym": a}).drop_duplicates("claim").set_index("claim")
    assert rows.loc["baseline", "verdict"] == rows.loc["ties", "verdict"] == NOT_FITTED
    assert "fit it again" in rows.loc["baseline", "summary"] and "fit it again" in rows.loc["ties", "summary"]


@pytest.mark.parametrize("bench", BENCHMARKS)
def test_the_metrics_carry_r2_and_dof_for_every_j_whatever_its_status(bench):
    metrics = _saved(bench).metrics()["data_efficiency"]
    assert len(metrics) == len(_saved(bench).thresholds_)
    for entry in metrics.values():
        assert {"status", "df_resid", "n_points", "r2_log", "rmse_log"} <= set(entry)


def _power_law(exponent: float, noise: float, rng) -> PowerLaw:
    utd = np.tile([0.5, 1.0, 2.0, 4.0, 8.0], 2)
    groups = ["a"] * 5 + ["b"] * 5
    y = np.where(np.array(groups) == "a", 300.0, 150.0) * utd**exponent * np.exp(rng.normal(0.0, noise, len(utd)))
    return PowerLaw(shared_slope=True).fit(utd, y, groups)


def test_a_hyperparameter_law_is_judged_on_the_sign_of_its_shared_exponent_interval(rng):
    falls = exponent_claim("batch_size", _power_law(-0.4, 0.05, rng))
    assert falls.verdict == SUPPORTED and falls.stats[0]["upper"] < 0 and falls.stats[0]["dof"] == 10 - 3
    assert exponent_claim("learning_rate", _power_law(0.4, 0.05, rng)).verdict == CONTRADICTED
    flat = exponent_claim("batch_size", _power_law(0.0, 0.5, rng))
    assert flat.verdict == NOT_SHOWN and "CI spans 0" in flat.summary
    none = exponent_claim("batch_size", None, "no grid")
    assert none.verdict == NOT_FITTED and "no grid" in none.summary


def test_a_hyperparameter_claim_says_how_its_exponent_moves_without_the_sigma_no_cell_reaches(rng):
    """A σ whose grid cells' seed means all miss J has a best (B, η) only from the resamples that reach it: the claim
    adds the exponent refitted without it, with its interval, and keeps its verdict on every σ."""
    utds = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    lr = 1e-3 * utds ** -0.3 * np.exp(rng.normal(0.0, 0.02, len(utds)))
    lr[0] = 1e-2  # the unreached σ's estimate pulls the slope down
    best = pd.DataFrame({"benchmark": "b", "env": "e", "utd": utds, "batch_size": 64.0, "learning_rate": lr,
                         "n_reached": [0, 3, 9, 9, 9], "estimated_frac": [0.25, 1, 1, 1, 1]})
    law = PowerLaw(shared_slope=True).fit(best["utd"], best["learning_rate"], ["e"] * len(utds))
    claim = exponent_claim("learning_rate", law, best=best)
    assert claim.verdict == exponent_claim("learning_rate", law).verdict
    without = claim.stats[1]
    refit = PowerLaw(shared_slope=True).fit(utds[1:], lr[1:], ["e"] * 4)
    assert without["statistic"] == "shared exponent without σ 0.5 (no cell reaches J)"
    assert without["estimate"] == pytest.approx(refit.exponent("e")) and without["dof"] == 4 - 2
    assert "without σ 0.5, where no grid cell's seed mean reaches J (estimated in 25% of resamples)" in claim.summary
    every_sigma = exponent_claim("learning_rate", law, best=best.assign(n_reached=9))
    assert len(every_sigma.stats) == 1 and "without" not in every_sigma.summary
    one_left = best.assign(n_reached=[0, 0, 0, 0, 9])
    assert "too few σ left for a law" in exponent_claim("learning_rate", law, best=one_left).summary


def _laws(rng, b_exponent: float, lr_exponent: float):
    from rlscale.laws.hparams import HyperparamLaws

    utds = np.tile([0.5, 1.0, 2.0, 4.0, 8.0], 2)
    best = pd.DataFrame({"benchmark": "b", "env": ["a"] * 5 + ["c"] * 5, "algo": "sac", "utd": utds,
                         "batch_size": 256 * utds ** b_exponent * np.exp(rng.normal(0, 0.03, 10)),
                         "learning_rate": 1e-3 * utds ** lr_exponent * np.exp(rng.normal(0, 0.03, 10))})
    grid = {"grid_batch_size": best["batch_size"], "grid_learning_rate": best["learning_rate"]}
    return HyperparamLaws().fit(best.assign(**grid))


def test_the_estimator_sensitivity_says_changed_when_another_estimator_flips_a_verdict(rng):
    main, same, flat = _laws(rng, -0.4, -0.3), _laws(rng, -0.4, -0.3), _laws(rng, -0.4, 0.0)
    unchanged = estimators_claim({"bootstrap": main, "point": same}, "bootstrap", "b")
    assert unchanged.verdict == UNCHANGED and unchanged.summary.startswith("against bootstrap: B* point -0.3")
    assert [s["statistic"] for s in unchanged.stats] == ["B* shared exponent, point estimator",
                                                         "η* shared exponent, point estimator"]
    changed = estimators_claim({"bootstrap": main, "point": same, "mean_other": flat}, "bootstrap", "b")
    assert changed.verdict == CHANGED and "η* mean_other" in changed.summary and "(not shown)" in changed.summary
    assert estimators_claim({"bootstrap": main, "point": None}, "bootstrap", "b").verdict == CHANGED  # no law
    assert estimators_claim({"bootstrap": main}, "bootstrap", "b").verdict == NOT_FITTED
    assert estimators_claim({}, None, "b").verdict == NOT_FITTED


def test_a_data_efficiency_law_passes_only_with_a_law_dof_and_r2_at_every_j(rng):
    exact = efficiency_claim(DataEfficiency().fit(_crossings()))
    assert exact.verdict == SUPPORTED and exact.stats[0]["estimate"] == exact.stats[0]["n_obs"] == 2
    scattered = efficiency_claim(DataEfficiency().fit(_crossings(rng, noise=0.8)))
    assert scattered.verdict == NOT_SHOWN and "fail: J=500" in scattered.summary
    assert scattered.stats[1]["estimate"] < MIN_R2 or "wide" in scattered.summary or "at_bound" in scattered.summary
    too_few = efficiency_claim(DataEfficiency().fit(_crossings(utds=UTDS[:3])))
    assert too_few.verdict == NOT_FITTED and "J is reached at 3 utd value(s)" in too_few.summary
    # each criterion on its own: the scattered points above fail both the law's status and R², so either alone passed
    def zigzag(crossings: pd.DataFrame, log_amplitude: float) -> pd.DataFrame:
        return crossings.assign(crossing=crossings["crossing"] * np.exp(log_amplitude * (-1.0) ** np.arange(
            len(crossings))))

    loose = DataEfficiency().fit(zigzag(_crossings(utds=np.geomspace(0.25, 16.0, 24)), 0.25))
    assert (loose.params_["status"] == "ok").all() and (loose.params_["r2_log"] < MIN_R2).all()
    assert efficiency_claim(loose).verdict == NOT_SHOWN  # a law at every J, but R² below MIN_R2
    undetermined = DataEfficiency().fit(zigzag(_crossings(utds=UTDS[:4]), 0.05))
    assert (undetermined.params_["status"] != "ok").all() and (undetermined.params_["r2_log"] >= MIN_R2).all()
    assert efficiency_claim(undetermined).verdict == NOT_SHOWN  # R² high, dof 1, but not a law


def _frontier(n_thresholds: int) -> ComputeFrontier:
    """σ* ∝ F^0.5 exactly (δ = 0, constant B, D_min ∝ s0): held out the top two J."""
    scales = np.geomspace(0.5, 4.0, n_thresholds)
    rows = [{"env": "e", "utd": u, "threshold": j, "crossing": 1e5 * s0 * (1 + (u / s0) ** -1.5)}
            for j, s0 in zip(np.linspace(300, 800, n_thresholds), scales, strict=True) for u in UTDS]
    return ComputeFrontier(delta=0.0, critic_params=1e5, batch_size=BatchSizeLaw({"e": (256.0, 0.0)}),
                           utd_range=(0.01, 100.0), holdout=2).fit(DataEfficiency().fit(pd.DataFrame(rows)))


def test_a_budget_law_is_supported_with_its_held_out_error_and_not_shown_without_dof():
    law = budget_claim(_frontier(8))
    assert law.verdict == SUPPORTED and law.stats[0]["estimate"] == pytest.approx(0.5, abs=1e-3)
    assert law.stats[1]["statistic"].startswith("held-out") and law.stats[1]["estimate"] < 1e-3
    assert "held-out σ* error" in law.summary
    exact = budget_claim(_frontier(4))  # two optima below the two held-out J: no residual dof
    assert exact.verdict == NOT_SHOWN and "exact" in exact.summary
    assert budget_claim(_frontier(3)).verdict == NOT_FITTED


def _ratios(intervals: dict[float, tuple[float, float, float]], threshold: float = 700.0) -> pd.DataFrame:
    return pd.DataFrame([{"group": "all", "utd": u, "threshold": threshold, "fitted_data": np.nan,
                          "baseline_data": np.nan, "ratio": r, "ratio_lower": lo, "ratio_upper": hi, "n_envs": 1,
                          "n_samples": 100, "note": ""} for u, (r, lo, hi) in intervals.items()])


def test_the_baseline_comparison_names_the_sigma_where_fitted_needs_less_data():
    less = baseline_claim(_ratios({1.0: (0.8, 0.7, 0.9), 2.0: (1.0, 0.8, 1.2)}), note="baseline: grid cells")
    assert less.verdict == SUPPORTED and "less data at σ = 1;" in less.summary
    assert "1 of 2 σ below 1, each interval at 95%, not corrected for the 2 σ tested" in less.summary  # any σ counts
    assert less.summary.endswith("; baseline: grid cells")
    more = baseline_claim(_ratios({1.0: (1.3, 1.1, 1.5), 2.0: (1.2, 1.05, 1.4)}))
    assert more.verdict == CONTRADICTED
    spans = baseline_claim(_ratios({1.0: (1.3, 1.1, 1.5), 2.0: (1.0, 0.8, 1.2)}))
    assert spans.verdict == NOT_SHOWN and "above 1 at σ = 1" in spans.summary
    # the hardest J decides; a lower J's interval below 1 is only counted
    both = pd.concat([_ratios({1.0: (0.5, 0.4, 0.6)}, 600.0), _ratios({1.0: (1.0, 0.8, 1.2)})])
    assert baseline_claim(both).verdict == NOT_SHOWN and "1 of 2 (σ, J) below 1" in baseline_claim(both).summary
    assert baseline_claim(None, why_none="no baseline runs").verdict == NOT_FITTED


def test_fitted_and_baseline_on_the_same_grid_cell_compare_as_exactly_one():
    a = Analysis(delta=6e7, thresholds=[300, 400, 500], n_bootstrap=20,
                 max_return={"Pendulum-v1": 0, "InvertedPendulum-v4": 1000},
                 min_return={"Pendulum-v1": -1500}).fit(ROOT / "data" / "runs" / "gym.parquet")
    same = a.data_ratio_[a.data_ratio_["note"] == "same (B, η) grid cell"]
    assert len(same) and (same[["ratio", "ratio_lower", "ratio_upper"]] == 1.0).all().all()
    judged = a.data_ratio_[a.data_ratio_["n_envs"] > 0]
    assert (judged["n_samples"] > 0).all() and (judged["ratio_lower"] <= judged["ratio_upper"]).all()
    claim = claims_table({"Gym": a}).set_index("claim").loc["baseline"]
    assert "no trained baseline runs" in claim["summary"].iloc[0] and "no fitted runs" in claim["summary"].iloc[0]
    pairs = set(zip(a.ties_["hparam"], a.ties_["tie_break"], strict=True))
    assert pairs == {(h, t) for h in ("batch_size", "learning_rate") for t in ("first", "random")}
    first = a.ties_.set_index(["hparam", "tie_break"]).loc[("batch_size", "first"), "exponent"]
    assert first == pytest.approx(a.hparams_.laws.law("batch_size", "Pendulum-v1").exponent("Pendulum-v1"))
    assert a.hparams_.best.best_["tied_frac"].between(0, 1).all()


def _ties(first: tuple[float, float, float], random: tuple[float, float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"hparam": h, "tie_break": t, "benchmark": "dmc", "exponent": e, "lower": lo, "upper": hi,
                          "df_resid": 8, "n_obs": 10, "status": "ok"}
                         for h in ("batch_size", "learning_rate") for t, (e, lo, hi) in (("first", first),
                                                                                         ("random", random))])


def test_the_tie_sensitivity_says_whether_random_ties_change_a_verdict():
    best = pd.DataFrame({"env": ["e", "e"], "utd": [1.0, 2.0], "tied_frac": [0.2, 0.6]})
    same = ties_claim(_ties((-0.4, -0.6, -0.2), (-0.3, -0.5, -0.1)), best)
    assert same.verdict == UNCHANGED and "tied in 40% of bootstrap samples" in same.summary and "60% at e σ=2" in (
        same.summary)
    assert ties_claim(_ties((-0.4, -0.6, -0.2), (-0.1, -0.3, 0.1)), best).verdict == CHANGED
    assert ties_claim(None, best, "no grid").verdict == NOT_FITTED


def _diagnostics(rng, over_utd: float, over_b: float, norm_utd: float, norm_lr: float) -> pd.DataFrame:
    """Grid cells of two tasks whose overfitting and log norm change by the given amounts per doubling, plus noise
    that grows with σ (as the measured overfitting's does)."""
    cells = pd.DataFrame([{"env": env, "utd": u, "batch_size": b, "learning_rate": lr}
                          for env in ("a", "b") for u in (0.5, 1.0, 2.0, 4.0, 8.0) for b in (32, 64, 128)
                          for lr in (1e-3, 3e-3, 1e-2)])
    log2 = {h: np.log2(cells[h].to_numpy(dtype=float)) for h in ("utd", "batch_size", "learning_rate")}
    noise = rng.normal(0.0, 0.1, len(cells)) * cells["utd"].to_numpy()
    return cells.assign(overfitting=over_utd * log2["utd"] + over_b * log2["batch_size"] + noise,
                        critic_param_norm=30.0 * np.exp(norm_utd * log2["utd"] + norm_lr * log2["learning_rate"]
                                                        + rng.normal(0.0, 0.02, len(cells))))


def test_the_mechanisms_are_judged_on_the_sign_of_each_claimed_slope(rng):
    rises = _diagnostics(rng, over_utd=0.5, over_b=0.3, norm_utd=0.3, norm_lr=0.2)
    over, norm = mechanism_claim("overfitting", rises), mechanism_claim("plasticity", rises)
    assert over.verdict == norm.verdict == SUPPORTED
    assert [s["statistic"] for s in over.stats] == ["slope per doubling of σ", "slope per doubling of B"]
    assert over.stats[0]["dof"] == 90 - 2 - 3 and over.stats[0]["lower"] < 0.5 < over.stats[0]["upper"]
    assert norm.stats[1]["lower"] < 0.2 < norm.stats[1]["upper"]
    falls_in_sigma = _diagnostics(rng, over_utd=-0.5, over_b=0.3, norm_utd=0.3, norm_lr=0.0)
    assert mechanism_claim("overfitting", falls_in_sigma).verdict == CONTRADICTED
    assert mechanism_claim("plasticity", falls_in_sigma).verdict == NOT_SHOWN  # flat in η: the interval spans 0
    one_b = rises[rises["batch_size"] == 64]
    assert mechanism_claim("overfitting", one_b).verdict == NOT_FITTED and "B" in mechanism_claim(
        "overfitting", one_b).summary
    assert mechanism_claim("plasticity", rises.drop(columns="critic_param_norm")).verdict == NOT_FITTED
    assert mechanism_claim("plasticity", None).verdict == NOT_FITTED


def test_mechanism_slopes_give_the_claims_numbers_over_all_tasks_and_each_tasks_own(rng):
    """Plot j's numbers: the rows of env "all" are the claims' own statistics; a task's rows are the same fit on that
    task's cells alone, so a slope that only one task has shows there."""
    cells = _diagnostics(rng, over_utd=0.5, over_b=0.3, norm_utd=0.3, norm_lr=0.2)
    cells.loc[cells["env"] == "b", "overfitting"] = rng.normal(0.0, 0.1, int((cells["env"] == "b").sum()))
    slopes = mechanism_slopes(cells)
    assert set(slopes["env"]) == {"all", "a", "b"} and len(slopes) == 3 * 4
    for key in MECHANISMS:
        pooled = slopes[(slopes["measure"] == key) & (slopes["env"] == "all")]
        assert pooled.drop(columns=["measure", "env", "axis"]).to_dict("records") == mechanism_claim(key, cells).stats
    own = slopes[(slopes["measure"] == "overfitting") & (slopes["axis"] == "utd")].set_index("env")
    assert own.loc["a", "lower"] > 0 and own.loc["b", "lower"] < 0 < own.loc["b", "upper"]
    assert (own.loc[["a", "b"], "dof"] == 45 - 1 - 3).all()
    one = mechanism_slopes(cells[cells["env"] == "a"])
    assert set(one["env"]) == {"a"} and len(one) == 4  # one task: its fit is the claims' fit, listed once
    assert mechanism_slopes(cells.drop(columns="critic_param_norm"))["measure"].unique().tolist() == ["overfitting"]


def test_the_markdown_table_has_a_verdict_for_every_claim_and_benchmark():
    table = claims_table({pipeline.TITLES[b]: _saved(b) for b in BENCHMARKS})
    text = claims_markdown(table)
    header, rule, *rows = text.split("\n\n")[0].splitlines()
    assert header == "| claim | " + " | ".join(pipeline.TITLES[b] for b in BENCHMARKS) + " |"
    assert len(rows) == 9 and set(table["verdict"]) <= {*VERDICTS, UNCHANGED, CHANGED}
    for row, words in zip(rows, [VERDICTS] * 7 + [(UNCHANGED, CHANGED, NOT_FITTED)] * 2, strict=True):
        cells = row.strip("|").split(" | ")[1:]
        assert len(cells) == len(BENCHMARKS) and all(c.startswith(tuple(f"**{v}**" for v in words)) for c in cells)


def test_the_claims_files_are_what_the_pipeline_makes_from_the_committed_analyses(tmp_path):
    for name in ("results", "params.yaml"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, tmp_path / name)
    pipeline.write_claims(tmp_path / "params.yaml")
    for made in (pipeline.CLAIMS_MD, pipeline.CLAIMS_CSV):
        assert (tmp_path / made).read_bytes() == (ROOT / made).read_bytes(), (
            f"{made} is not what the committed analyses say: run `rlscale pipeline overview` and commit it")


def test_the_readme_shows_the_committed_claims_table():
    begin, end = pipeline.README_CLAIMS
    block = (ROOT / "README.md").read_text().split(begin, 1)[1].split(end, 1)[0]
    assert block == "\n" + (ROOT / pipeline.CLAIMS_MD).read_text(), (
        "README.md's claims table differs from results/claims.md: run `rlscale pipeline overview` and commit README.md")


def test_the_overview_stage_depends_on_every_benchmarks_analysis_and_writes_the_claims():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["overview"]
    outs = {next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"]}
    assert {f"results/{b}/analysis" for b in BENCHMARKS} <= set(stage["deps"]), (
        "dvc.yaml's overview stage must list results/<benchmark>/analysis of every benchmark in params.yaml")
    assert {str(pipeline.CLAIMS_MD), str(pipeline.CLAIMS_CSV)} <= outs
