"""`rlscale fit frontier` writes frontier.json and frontier_curves.csv, or one error line and nothing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rlscale.cli import main
from rlscale.laws.synthetic import make_sweep
from rlscale.laws.thresholds import default_thresholds


def _sweep() -> pd.DataFrame:
    return make_sweep(utds=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0), batch_sizes=(128, 256, 512),
                      learning_rates=(4e-4, 1.6e-3), n_seeds=3, n_points=80, random_state=1).drop(columns="score")


@pytest.fixture(scope="module")
def sweep_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("runs") / "runs.parquet"
    _sweep().to_parquet(path)
    return str(path)


def test_writes_frontier_json_and_curves_with_every_contract_field(sweep_path, tmp_path, capsys):
    out = tmp_path / "fit"
    code = main(["fit", "frontier", sweep_path, "-o", str(out), "--delta", "4e9", "--n-bootstrap", "10",
                 "--validate-utd-range", "0.25", "4"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["frontier.json", "frontier_curves.csv"]
    result = json.loads((out / "frontier.json").read_text())
    thresholds = [t["threshold"] for t in result["thresholds"]]
    np.testing.assert_allclose(thresholds, default_thresholds(200.0))  # the table is DMC: J_lo = 200
    for t in result["thresholds"]:
        for name in ("d_min", "beta", "exponent"):  # percentile bootstrap: need not contain the point estimate
            assert 0 < t[f"{name}_lower"] < t[f"{name}_upper"] and t[name] > 0
        if t["status"] == "ok":
            assert t["budget_opt"] == pytest.approx(t["compute_opt"] + 4e9 * t["data_opt"])
            assert t["data_opt"] == pytest.approx(t["d_min"] + (t["beta"] / t["utd_opt"]) ** t["exponent"])
        else:
            assert t["utd_opt"] is None and t["reason"]
    assert sum(t["status"] == "ok" for t in result["thresholds"]) >= 8
    batch = result["batch_size_law"]["terms"]  # B(σ): the mean over envs of coef·σ^exponent

    def budget(t: dict, utd: float) -> float:  # F = C + δ·D with C = 10·N·B(σ)·σ·D, from the law's own numbers
        data = t["d_min"] + (t["beta"] / utd) ** t["exponent"]
        b = np.mean([law["coef"] * utd ** law["exponent"] for law in batch.values()])
        return 10 * result["critic_params"] * b * utd * data + 4e9 * data

    inside = [t for t in result["thresholds"] if t["status"] == "ok" and not t["at_boundary"]]
    assert inside
    for t in inside:  # σ* is the budget's minimum, not only the best of the curve's points
        u = t["utd_opt"]
        assert t["budget_opt"] == pytest.approx(budget(t, u), rel=1e-8)
        assert budget(t, u) <= min(budget(t, u * 1.001), budget(t, u / 1.001))
    assert [t["held_out"] for t in result["thresholds"]] == [False] * 8 + [True] * 2
    assert result["ci_method"] == "bootstrap" and result["critic_params"] == 150_000
    for law in ("utd_law", "data_law", "compute_law"):
        assert {"coef", "exponent", "coef_lower", "exponent_upper", "r2", "df_resid", "status"} <= set(result[law])
    ext = result["extrapolation"]["thresholds"]
    assert {p["threshold"] for p in ext["points"]} == set(thresholds[-2:])
    assert set(ext["mean_rel_error"]) == {"utd", "data", "compute"}
    assert {p["utd"] for p in result["extrapolation"]["utd"]["points"]} == {8.0}
    assert len(result["selected_configs"]) == 2 * 6
    assert {r["group"] for r in result["per_env"]} == {"env-a", "env-b"}
    assert "runs" in result["batch_size_law"]["source"]
    curves = pd.read_csv(out / "frontier_curves.csv")
    assert list(curves.columns) == ["threshold", "utd", "data", "compute", "budget"]
    assert curves["threshold"].nunique() == 10
    assert curves["utd"].min() == pytest.approx(0.125) and curves["utd"].max() == pytest.approx(16.0)


def test_hparams_json_sets_the_batch_size_law_and_options_are_honoured(sweep_path, tmp_path, capsys):
    hparams = tmp_path / "hparams.json"
    laws = {"env-a": {"coef": 300.0, "exponent": -0.4}, "env-b": {"coef": 180.0, "exponent": -0.4}}
    separate = {"env-a": {"coef": 600.0, "exponent": -0.2}, "env-b": {"coef": 100.0, "exponent": -0.6}}
    hparams.write_text(json.dumps({"batch_size": {"shared": laws, "separate": separate}}))
    out = tmp_path / "fit"
    args = ["fit", "frontier", sweep_path, "--delta", "1e10", "--hparams", str(hparams), "--n-bootstrap", "0",
            "--thresholds", "500", "600", "700", "800", "--holdout", "1", "--utd-range", "0.1", "50"]
    code = main([*args, "-o", str(out), "--seed", "7"])
    assert code == 0, capsys.readouterr().err
    result = json.loads((out / "frontier.json").read_text())
    assert str(hparams) in result["batch_size_law"]["source"]
    assert result["seed"] == 7 and result["options"]["seed"] == 7
    assert result["ci_method"] == "jacobian" and result["utd_range"] == [0.1, 50.0]
    assert [t["held_out"] for t in result["thresholds"]] == [False, False, False, True]
    curves = pd.read_csv(out / "frontier_curves.csv")
    top = curves[curves["threshold"] == 800.0]
    batch = 0.5 * (300.0 + 180.0) * top["utd"] ** -0.4
    np.testing.assert_allclose(top["compute"], 10 * 150_000 * batch * top["utd"] * top["data"], rtol=1e-9)
    assert main([*args, "-o", str(tmp_path / "separate"), "--hparams-variant", "separate"]) == 0
    curves = pd.read_csv(tmp_path / "separate" / "frontier_curves.csv")
    top = curves[curves["threshold"] == 800.0]
    batch = 0.5 * (600.0 * top["utd"] ** -0.2 + 100.0 * top["utd"] ** -0.6)
    np.testing.assert_allclose(top["compute"], 10 * 150_000 * batch * top["utd"] * top["data"], rtol=1e-9)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--delta", "-1"], "--delta"),
        (["--delta", "4e9", "--holdout", "-1"], "--holdout"),
        (["--delta", "4e9", "--utd-range", "4", "1"], "--utd-range"),
        (["--delta", "4e9", "--hparams", "missing.json"], "--hparams"),
        (["--delta", "4e9", "--max-return", "Ant"], "--max-return"),
        (["--delta", "4e9", "--max-ci-decades", "0"], "--max-ci-decades"),
    ],
)
def test_bad_options_give_one_error_line_and_write_nothing(sweep_path, tmp_path, capsys, extra, message):
    out = tmp_path / "fit"
    assert main(["fit", "frontier", sweep_path, "-o", str(out), "--n-bootstrap", "2", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlscale: error:") and message in err[0]
    assert not out.exists()


def test_a_table_mixing_benchmarks_is_rejected_with_nothing_written(tmp_path, capsys):
    runs = _sweep()
    runs.loc[runs["env"] == "env-b", "benchmark"] = "gym"
    path = tmp_path / "mixed.parquet"
    runs.to_parquet(path)
    out = tmp_path / "fit"
    assert main(["fit", "frontier", str(path), "-o", str(out), "--delta", "4e9", "--n-bootstrap", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mixes benchmarks (dmc, gym)" in err[0]
    assert not out.exists()


def test_gym_returns_are_normalised_with_max_return_and_default_thresholds_start_at_300(sweep_path, tmp_path, capsys):
    runs = pd.read_parquet(sweep_path).assign(benchmark="gym")
    runs["return"] *= np.where(runs["env"] == "env-a", 5.0, 2.0)  # max returns 5000 and 2000
    gym_path = tmp_path / "gym.parquet"
    runs.to_parquet(gym_path)
    args = ["--delta", "4e9", "--n-bootstrap", "0"]
    assert main(["fit", "frontier", str(gym_path), "-o", str(tmp_path / "gym"), *args, "--max-return",
                 "env-a=5000", "--max-return", "env-b=2000"]) == 0, capsys.readouterr().err
    assert main(["fit", "frontier", sweep_path, "-o", str(tmp_path / "dmc"), *args, "--j-lo", "300"]) == 0
    gym = json.loads((tmp_path / "gym" / "frontier.json").read_text())
    dmc = json.loads((tmp_path / "dmc" / "frontier.json").read_text())
    np.testing.assert_allclose([t["threshold"] for t in gym["thresholds"]], default_thresholds(300.0))
    for g, d in zip(gym["thresholds"], dmc["thresholds"], strict=True):
        assert g["d_min"] == pytest.approx(d["d_min"]) and g["status"] == d["status"]
    capsys.readouterr()
    assert main(["fit", "frontier", str(gym_path), "-o", str(tmp_path / "none"), *args]) == 2
    assert "no max return for env(s) env-a, env-b" in capsys.readouterr().err


def test_reads_the_hparams_json_that_fit_hparams_writes(sweep_path, tmp_path, capsys):
    assert main(["fit", "hparams", sweep_path, "-o", str(tmp_path / "hp"), "--n-bootstrap", "5"]) == 0
    hparams = json.loads((tmp_path / "hp" / "hparams.json").read_text())
    out = tmp_path / "fit"
    assert main(["fit", "frontier", sweep_path, "-o", str(out), "--delta", "4e9", "--n-bootstrap", "0",
                 "--hparams", str(tmp_path / "hp" / "hparams.json")]) == 0, capsys.readouterr().err
    terms = json.loads((out / "frontier.json").read_text())["batch_size_law"]["terms"]
    assert terms == {env: {"coef": t["coef"], "exponent": t["exponent"]}
                     for env, t in hparams["batch_size"]["shared"].items()}


def test_a_threshold_never_reached_is_reported_as_null_with_a_warning(sweep_path, tmp_path, capsys):
    out = tmp_path / "fit"
    args = ["fit", "frontier", sweep_path, "--delta", "4e9", "--n-bootstrap", "0"]
    assert main([*args, "-o", str(out), "--thresholds", "600", "700", "800", "1200"]) == 0
    err = capsys.readouterr().err
    assert "D_J at J=1200 is not a law (not_fitted): J is reached at 0 utd value(s)" in err
    assert "σ*(F), D*(F), C*(F): no law: not a law (exact): 2 points for 2 parameters" in err
    top = json.loads((out / "frontier.json").read_text())["thresholds"][-1]
    assert top["threshold"] == 1200.0 and top["d_min"] is None and top["utd_opt"] is None and top["reason"]
    assert main([*args, "-o", str(tmp_path / "none"), "--thresholds", "1200"]) == 0
    err = capsys.readouterr().err
    assert "no frontier: no threshold has a data-efficiency law: J=1200: not_fitted" in err
    assert json.loads((tmp_path / "none" / "frontier.json").read_text())["utd_law"] is None


def test_a_single_utd_says_why_there_is_no_law(tmp_path, capsys):
    runs = _sweep()
    path = tmp_path / "one.parquet"
    runs[runs["utd"] == 1.0].to_parquet(path)
    assert main(["fit", "frontier", str(path), "-o", str(tmp_path / "fit"), "--delta", "4e9", "--n-bootstrap",
                 "0", "--thresholds", "800"]) == 0
    err = capsys.readouterr().err
    assert "J is reached at 1 utd value(s); a law of 3 parameters needs 4 or more (0 (env, utd) point(s)" in err
