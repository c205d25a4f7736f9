"""`rlscale fit hparams` writes the contract's two files, or one error line and nothing at all."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlscale.cli import main
from rlscale.cli.fit import ESTIMATOR_NAMES, parse_max_return, parse_min_return
from rlscale.errors import RlscaleError
from rlscale.laws.hparams import ESTIMATORS
from rlscale.laws.synthetic import SyntheticLaws, make_sweep

LAWS = SyntheticLaws()
ROOT = Path(__file__).resolve().parent.parent


def _sweep(**kw) -> pd.DataFrame:
    args = dict(utds=(0.5, 1.0, 2.0, 4.0), batch_sizes=(64, 256, 1024), learning_rates=(2.5e-4, 1e-3, 4e-3),
                n_seeds=3, n_points=80, max_step=4_000_000, random_state=0)
    args.update(kw)
    return make_sweep(LAWS, **args).drop(columns="score")


@pytest.fixture(scope="module")
def sweep_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("runs") / "runs.parquet"
    _sweep().to_parquet(path)
    return str(path)


def test_writes_hparams_json_and_proposals_csv_with_the_contract_shapes(sweep_path, tmp_path, capsys):
    out = tmp_path / "fit"
    code = main(["fit", "hparams", sweep_path, "-o", str(out), "--n-bootstrap", "20",
                 "--utds-to-predict", "0.25", "1", "16", "--validate-range", "1", "4"])
    assert code == 0, capsys.readouterr().err
    fitted = json.loads((out / "hparams.json").read_text())
    for h in ("batch_size", "learning_rate"):
        assert set(fitted[h]) == {"shared", "separate"}
        for variant in ("shared", "separate"):
            assert set(fitted[h][variant]) == set(LAWS.envs)
            for term in fitted[h][variant].values():
                assert {"coef", "exponent", "exponent_lower", "exponent_upper", "df_resid", "status"} <= set(term)
                assert term["exponent_lower"] <= term["exponent"] <= term["exponent_upper"]
                assert term["df_resid"] >= 1 and (term["status"] == "ok" or variant == "separate")
        shared = {env: t["exponent"] for env, t in fitted[h]["shared"].items()}
        assert len(set(shared.values())) == 1 and all(e < 0 for e in shared.values())  # falls with utd, as true
    assert fitted["threshold"] == 800.0 and fitted["estimator"] == "bootstrap"
    assert len(fitted["best"]) == 2 * 4 and {r["env"] for r in fitted["baseline"]} == set(LAWS.envs)
    extrapolation = fitted["extrapolation"]
    assert {p["utd"] for p in extrapolation["points"]} == {0.5}  # held out: the utd outside [1, 4]
    held = pd.DataFrame(extrapolation["points"]).dropna(subset=["predicted"])
    expected = held.groupby("hparam")["rel_error"].mean().to_dict()  # each law's error over its predicted points
    assert set(expected) == {"batch_size", "learning_rate"}
    assert extrapolation["mean_rel_error"] == pytest.approx(expected)
    assert all(0 <= e < 1 for e in extrapolation["mean_rel_error"].values())
    proposed = pd.read_csv(out / "proposed_hparams.csv")
    assert list(proposed.columns) == ["env", "utd", "batch_size", "learning_rate", "batch_size_rounded"]
    assert len(proposed) == 2 * 3 and set(proposed["utd"]) == {0.25, 1.0, 16.0}
    assert (proposed["batch_size_rounded"] % 16 == 0).all()
    for _, sub in proposed.groupby("env"):
        assert np.all(np.diff(sub.sort_values("utd")["batch_size"]) < 0)
    baseline = pd.read_csv(out / "baseline_hparams.csv")  # the grid-best (B, η) at σ = 2, at every proposed σ
    assert list(baseline.columns) == list(proposed.columns)
    assert baseline[["env", "utd"]].equals(proposed[["env", "utd"]])
    for row in fitted["baseline"]:
        at = baseline[baseline["env"] == row["env"]]
        for h in ("batch_size", "learning_rate"):  # the CSV's 10 significant digits
            assert at[h].tolist() == pytest.approx([row[h]] * len(at), rel=1e-9)
    assert sorted(p.name for p in out.iterdir()) == ["baseline_hparams.csv", "hparams.json", "proposed_hparams.csv"]


def test_csv_input_quadratic_estimator_and_default_utds(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    _sweep(random_state=1).to_csv(path, index=False)
    out = tmp_path / "fit"
    assert main(["fit", "hparams", str(path), "-o", str(out), "--n-bootstrap", "10", "--estimator", "quadratic",
                 "--thresholds", "500", "800"]) == 0, capsys.readouterr().err
    proposed = pd.read_csv(out / "proposed_hparams.csv")
    assert set(proposed["utd"]) == {0.5, 1.0, 2.0, 4.0}
    assert json.loads((out / "hparams.json").read_text())["thresholds"] == [500.0, 800.0]


def test_gym_env_without_max_return_names_the_flag_and_works_with_it(tmp_path, capsys):
    runs = _sweep(n_points=40)
    runs["benchmark"] = "gym"
    runs["env"] = runs["env"].map({"env-a": "MyHopper-v1", "env-b": "MyAnt-v1"})
    path = tmp_path / "gym.parquet"
    runs.to_parquet(path)
    out = tmp_path / "fit"
    assert main(["fit", "hparams", str(path), "-o", str(out), "--n-bootstrap", "5"]) == 2
    err = capsys.readouterr().err
    assert "--max-return" in err and "min return" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["fit", "hparams", str(path), "-o", str(out), "--n-bootstrap", "5",
                 "--max-return", "MyHopper-v1=1000", "--max-return", "MyAnt-v1=1000"]) == 0
    assert (out / "hparams.json").exists()


def test_unreached_threshold_gives_a_warning_line_and_null_in_the_json(tmp_path, capsys):
    runs = _sweep(n_points=40)
    hopeless = (runs["env"] == "env-b") & (runs["utd"] == 0.5)
    runs.loc[hopeless, "return"] = 100.0
    path = tmp_path / "runs.parquet"
    runs.to_parquet(path)
    assert main(["fit", "hparams", str(path), "-o", str(tmp_path / "fit"), "--n-bootstrap", "5"]) == 0
    err = capsys.readouterr().err
    assert "rlscale: warning: no configuration of env env-b at utd 0.5 reaches J = 800" in err
    best = json.loads((tmp_path / "fit" / "hparams.json").read_text())["best"]
    row = next(r for r in best if r["env"] == "env-b" and r["utd"] == 0.5)
    assert row["batch_size"] is None and row["n_reached"] == 0


@pytest.mark.parametrize(
    ("mutate", "extra", "message"),
    [
        (lambda df: df[df["seed"] == 0], [], "fewer than 2 seeds"),
        (lambda df: df.drop(columns="env_step"), [], "missing required column(s) env_step"),
        (lambda df: df, ["--max-return", "nonsense"], "--max-return expects ENV=R"),
        (lambda df: df, ["--n-bootstrap", "0"], "--n-bootstrap must be >= 1"),
        # the way out of a one-seed grid is named (it was not)
        (lambda df: df[df["seed"] == 0], [], "; --estimator point, mean_other and quadratic read the all-seeds "
         "curves, so one seed per configuration is enough for them"),
        (lambda df: df, ["--n-bootstrap", "0"], "got 0; for a grid with one seed per configuration keep it and pass "
         "--estimator point, mean_other or quadratic"),
        # a baseline σ that is not positive picked an arbitrary σ's (B, η) without a word
        (lambda df: df, ["--baseline-utd", "-1"], "--baseline-utd must be a positive number, got -1.0"),
        (lambda df: df, ["--baseline-utd", "nan"], "--baseline-utd must be a positive number, got nan"),
    ],
)
def test_bad_input_is_one_error_line_exit_2_and_nothing_written(tmp_path, capsys, mutate, extra, message):
    path = tmp_path / "runs.parquet"
    mutate(_sweep(n_points=30, utds=(1.0, 2.0))).to_parquet(path)
    out = tmp_path / "fit"
    assert main(["fit", "hparams", str(path), "-o", str(out), "--n-bootstrap", "5", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlscale: error:") and message in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("step", [["hparams"], ["analysis", "--delta", "1e9"]])
def test_a_failed_fit_prints_the_warnings_that_explain_it_then_one_error(tmp_path, capsys, step):
    path = tmp_path / "runs.parquet"
    _sweep(n_points=30, utds=(1.0, 2.0)).to_parquet(path)
    assert main(["fit", step[0], str(path), *step[1:], "-o", str(tmp_path / "fit"), "--n-bootstrap", "5",
                 "--thresholds", "1200"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rlscale: error: hyperparameter laws: no env has finite best hyperparameters")
    assert any(line.startswith("rlscale: warning: no configuration of env env-a at utd 1 reaches J = 1200")
               for line in err)
    assert all(line.startswith(("rlscale: warning:", "rlscale: error:")) for line in err)
    assert not (tmp_path / "fit").exists()


def test_the_point_estimator_fits_a_one_seed_grid_with_nan_intervals_the_bootstrap_refuses_it(tmp_path, capsys):
    path = tmp_path / "runs.parquet"
    _sweep(n_points=40, n_seeds=1).to_parquet(path)
    assert main(["fit", "hparams", str(path), "-o", str(tmp_path / "boot"), "--n-bootstrap", "5"]) == 2
    assert "fewer than 2 seeds" in capsys.readouterr().err
    assert main(["fit", "hparams", str(path), "-o", str(tmp_path / "fit"), "--n-bootstrap", "5",
                 "--estimator", "point"]) == 0
    assert "8 (env, utd) point(s) have configurations with a single seed" in capsys.readouterr().err
    best = json.loads((tmp_path / "fit" / "hparams.json").read_text())["best"]
    assert all(r["batch_size"] > 0 and r["batch_size_lower"] is None and r["learning_rate_upper"] is None
               for r in best)


def test_an_env_reaching_j_at_one_utd_only_is_left_out_with_a_warning_that_says_why(tmp_path, capsys):
    runs = _sweep(n_points=40)
    runs.loc[(runs["env"] == "env-b") & (runs["utd"] != 1.0), "return"] = 100.0
    path = tmp_path / "runs.parquet"
    runs.to_parquet(path)
    assert main(["fit", "hparams", str(path), "-o", str(tmp_path / "fit"), "--n-bootstrap", "5"]) == 0
    err = capsys.readouterr().err
    assert "env env-b has best hyperparameters at only one utd (1)" in err and "lower the highest threshold" in err
    assert set(json.loads((tmp_path / "fit" / "hparams.json").read_text())["batch_size"]["shared"]) == {"env-a"}


def test_the_same_fit_twice_gives_the_same_bytes(sweep_path, tmp_path):
    for name in ("a", "b"):
        assert main(["fit", "hparams", sweep_path, "-o", str(tmp_path / name), "--n-bootstrap", "10"]) == 0
    for name in ("hparams.json", "proposed_hparams.csv", "baseline_hparams.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    row = (tmp_path / "a" / "proposed_hparams.csv").read_text().splitlines()[1]
    assert all(len(v.replace(".", "").replace("-", "").lstrip("0")) <= 11 for v in row.split(",")[1:])


def test_the_readme_example_runs_on_the_embedded_data(tmp_path, capsys):
    readme = (ROOT / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("rlscale fit hparams data/runs/"))
    argv = shlex.split(line.split("#")[0])[1:]
    argv[argv.index("-o") + 1] = str(tmp_path / "fit")
    argv = [str(ROOT / a) if a.startswith("data/") else a for a in argv]
    assert main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "fit" / "proposed_hparams.csv").is_file()
    err = capsys.readouterr().err  # laws of undetermined direction are said here as `fit analysis` says them
    assert "rlscale: warning: B*(σ) of InvertedPendulum-v4, Pendulum-v1: a law, but its exponent's 95% interval" in err


def test_parse_max_and_min_return_accept_pairs_and_name_the_flag_on_bad_syntax():
    assert parse_max_return(["Ant-v4=6625", " Hopper-v4 = 3.5e3"]) == {"Ant-v4": 6625.0, "Hopper-v4": 3500.0}
    for bad in ["Ant-v4", "=5", "Ant-v4=x", "Ant-v4=-1", "Ant-v4=nan", "Ant-v4=inf"]:
        with pytest.raises(RlscaleError, match="--max-return expects ENV=R"):
            parse_max_return([bad])
    assert parse_min_return(["Pendulum-v1=-1500"]) == {"Pendulum-v1": -1500.0}
    with pytest.raises(RlscaleError, match="--min-return expects ENV=R"):
        parse_min_return(["Pendulum-v1=x"])


def test_missing_run_table_is_one_error_line(tmp_path, capsys):
    assert main(["fit", "hparams", str(tmp_path / "nope.parquet"), "-o", str(tmp_path / "fit")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_offers_exactly_the_library_estimators():
    assert set(ESTIMATOR_NAMES) == set(ESTIMATORS)


def test_reset_dips_are_filtered_before_the_crossings(tmp_path):
    clean = _sweep(n_points=100, eval_noise=0.0, utds=(1.0, 2.0), random_state=4)
    dipped = clean.copy()
    every = 400_000  # updates between resets
    updates = dipped["env_step"] * dipped["utd"]
    since_reset = updates - every * np.floor((updates - 1) / every)  # updates since the last reset
    dip = (updates > every) & (since_reset <= 2 * 40_000 * dipped["utd"])  # the first two evaluations
    dipped.loc[dip, "return"] *= 0.3
    times = {}
    for name, table, extra in [("clean", clean, []), ("filtered", dipped, ["--reset-every-updates", str(every)]),
                               ("unfiltered", dipped, [])]:
        path = tmp_path / f"{name}.parquet"
        table.to_parquet(path)
        assert main(["fit", "hparams", str(path), "-o", str(tmp_path / name), "--n-bootstrap", "5", *extra]) == 0
        best = json.loads((tmp_path / name / "hparams.json").read_text())["best"]
        times[name] = np.array([r["time_to_threshold"] for r in best], dtype=float)
    assert dip.any()
    # the dropped dip is bridged by interpolating each seed, so a crossing inside it moves at most by the dip
    # length (2 evaluations of 40k steps); unfiltered, the dips drag the isotonic fit down for much longer
    assert np.all(np.abs(times["filtered"] - times["clean"]) <= 2 * 40_000)
    assert np.all(times["unfiltered"] > 1.4 * times["clean"])


def test_cost_returns_fit_with_a_min_return_and_the_same_best_hyperparameters(tmp_path):
    runs = _sweep(n_points=40)
    runs["benchmark"] = "gym"
    scored = runs.assign(**{"return": runs["return"] * 1.5 - 1500.0})  # score s <-> return 1.5 s - 1500
    plain, cost = tmp_path / "plain.parquet", tmp_path / "cost.parquet"
    runs.to_parquet(plain)
    scored.to_parquet(cost)
    common = ["--n-bootstrap", "5", "--thresholds", "600"]
    envs = sorted(runs["env"].unique())
    assert main(["fit", "hparams", str(plain), "-o", str(tmp_path / "a"), *common,
                 *[f"--max-return={e}=1000" for e in envs]]) == 0
    assert main(["fit", "hparams", str(cost), "-o", str(tmp_path / "b"), *common,
                 *[f"--max-return={e}=0" for e in envs], *[f"--min-return={e}=-1500" for e in envs]]) == 0
    best_a = json.loads((tmp_path / "a" / "hparams.json").read_text())["best"]
    best_b = json.loads((tmp_path / "b" / "hparams.json").read_text())["best"]
    assert best_a == best_b


def test_a_grid_at_a_single_utd_says_the_laws_need_several_utds(tmp_path, capsys):
    path = tmp_path / "runs.parquet"
    _sweep(n_points=30, utds=(2.0,)).to_parquet(path)
    for argv in (["hparams", str(path)], ["analysis", str(path), "--delta", "1e9"]):
        assert main(["fit", *argv, "-o", str(tmp_path / "fit"), "--n-bootstrap", "5"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1] == ("rlscale: error: every run of the grid is at utd 2; the laws B*(σ), η*(σ) need a grid "
                           "at 2 or more utds: train or import runs at several utds"), err
        assert not (tmp_path / "fit").exists()


def test_a_max_return_of_zero_without_a_min_return_says_to_give_one(tmp_path, capsys):
    argv = ["fit", "hparams", str(ROOT / "data" / "runs" / "gym.parquet"), "-o", str(tmp_path / "fit"),
            "--max-return", "Pendulum-v1=0"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "give --min-return ENV=R below it" in err[0], err


def test_a_fit_off_a_terminal_logs_progress_lines_until_it_is_done(sweep_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RLSCALE_PROGRESS_EVERY", "0")  # a line every 0.01 s (the heartbeat's floor)
    # 1000 resamples: well over 0.01 s of fitting on any machine, so several intervals
    assert main(["fit", "hparams", sweep_path, "-o", str(tmp_path / "fit"), "--n-bootstrap", "1000"]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith(f"rlscale: fit hparams {sweep_path}: ")]
    assert len(lines) >= 2 and lines[0].endswith(" s so far") and lines[-1].split(": ")[-1].startswith("done in ")
