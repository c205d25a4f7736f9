"""The analysis chain: fitted once, saved, loaded; one number wherever it is shown; honest about non-laws."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from rlscale.analysis import Analysis, json_ready, load_runs, nearest_grid_runs, optimum_for_deltas
from rlscale.cli import main
from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws import (
    BatchSizeLaw,
    BestHyperparams,
    HyperparamLaws,
    ThresholdCrossings,
    default_thresholds,
    make_sweep,
)
from rlscale.plots import budget_extrapolation, data_efficiency, figure1, hparam_laws

THRESHOLDS = [float(t) for t in default_thresholds(300.0, 800.0, 8)]
OPTIONS = {"delta": 3e8, "thresholds": THRESHOLDS, "n_bootstrap": 20, "hparam_fit_range": (0.5, 4.0),
           "utd_fit_range": (0.5, 4.0), "utds_to_predict": [0.25, 0.5, 1, 2, 4, 8, 16]}


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, str]:
    """A synthetic grid and its 'fitted runs' (the grid cells nearest the proposals), as files."""
    root = tmp_path_factory.mktemp("tables")
    grid = make_sweep(n_seeds=3, n_points=80).drop(columns="score")
    crossings = ThresholdCrossings([800.0], n_bootstrap=20).fit(grid.assign(score=grid["return"]))
    laws = HyperparamLaws().fit(BestHyperparams().fit(crossings))
    fitted = nearest_grid_runs(grid, laws.propose(sorted(grid["utd"].unique())))
    paths = {"grid": str(root / "grid.parquet"), "fitted": str(root / "fitted.parquet")}
    grid.to_parquet(paths["grid"])
    fitted.to_parquet(paths["fitted"])
    return paths


@pytest.fixture(scope="module")
def saved(tables, tmp_path_factory) -> tuple[Analysis, Analysis, str]:
    """(fitted, loaded, folder) of one analysis."""
    a = Analysis(**OPTIONS).fit(tables["grid"], fitted=tables["fitted"])
    folder = tmp_path_factory.mktemp("result") / "analysis"
    a.save(folder)
    return a, Analysis.load(folder), str(folder)


def test_the_chain_is_three_lines_and_reads_like_statsmodels(saved):
    a, _, _ = saved
    assert a.benchmark_ == "dmc" and list(a.thresholds_) == THRESHOLDS
    assert a.sources_["fitted"]["role"].startswith("D_J") and "no baseline runs" in a.sources_["baseline"]["role"]
    assert a.fitted_.frontier.has_law() and a.hparams_.laws.law("batch_size", "env-a").is_law("env-a")
    assert a.hparams_.best.threshold_ == max(THRESHOLDS)  # the hardest J picks (B, η), as the paper's Section 4
    text = a.summary().as_text()
    assert "residual dof" in a.hparams_.laws.summary().as_text() and "σ*(F) = coef·F^exponent" in text
    assert "<table" in a._repr_html_() and repr(a).startswith("<Analysis of dmc (rlscale method): J 300")
    assert Analysis(delta=1.0).get_params()["delta"] == 1.0 and "hparam_fit_range" in Analysis.option_names()


def test_options_read_back_as_analysis_json_records_them():
    """get_params is the analysis.json form of the options: one JSON normaliser (json_ready), arrays included."""
    a = Analysis(delta=1 / 3, thresholds=np.array([300.0, 400.0]), max_return={"a": np.float32(9800.0)})
    params = a.get_params()
    assert params["delta"] == 0.3333333333 and params["thresholds"] == [300.0, 400.0]
    assert type(params["max_return"]["a"]) is float and json.loads(json.dumps(params)) == params
    assert json_ready(np.array([[1.0, np.nan], [np.inf, 2.0]])) == [[1.0, None], [None, 2.0]]

def test_a_saved_analysis_loads_with_the_same_tables_metrics_and_intervals(saved):
    a, b, _ = saved
    # saved numbers carry 10 significant digits; intervals recomputed from them agree to ~1e-9
    for table in ("coefficients", "extrapolation"):
        left, right = getattr(a, table)(), getattr(b, table)()
        pd.testing.assert_frame_equal(left.drop(columns="rel_error", errors="ignore"),
                                      right.drop(columns="rel_error", errors="ignore"), check_exact=False, rtol=1e-7)
    np.testing.assert_allclose(a.extrapolation()["rel_error"], b.extrapolation()["rel_error"], atol=1e-7)
    pd.testing.assert_frame_equal(pd.json_normalize(a.metrics()), pd.json_normalize(b.metrics()), check_exact=False,
                                  rtol=1e-7)
    pd.testing.assert_frame_equal(a.fitted_.efficiency.conf_int(0.2), b.fitted_.efficiency.conf_int(0.2),
                                  check_exact=False, rtol=1e-7)
    pd.testing.assert_frame_equal(a.hparams_.laws.conf_int(0.1), b.hparams_.laws.conf_int(0.1), check_exact=False,
                                  rtol=1e-7)
    assert b.crossings_ is None and b.warnings_ == a.warnings_
    assert set(b.estimators_) == {"point", "bootstrap", "mean_other"}


def test_a_loaded_analysis_gives_table_k_and_metrics_the_coefficients_as_saved(saved):
    """Table k's notebook and metrics.json read a loaded analysis; recomputed from 10-digit bootstrap rows, its
    intervals would differ from coefficients.csv in the last digits, so the saved table is what they get."""
    from rlscale.analysis import read_csv

    a, b, folder = saved
    written = read_csv(Path(folder) / "coefficients.csv")
    pd.testing.assert_frame_equal(b.coefficients(), written)
    assert b.coefficients() is not b.coefficients()  # a copy: a caller's edit does not reach the next one
    assert set(written.loc[written["law"].str.startswith("D_J"), "parameter"]) == {"D_min", "β", "α"}
    level = b.coefficients(alpha=0.1)  # another level is computed: the fitted analysis's 90% table, not the saved 95%
    pd.testing.assert_frame_equal(level, a.coefficients(alpha=0.1), check_exact=False, rtol=1e-7)
    ok = (written["status"] == "ok").to_numpy()
    assert ((level["upper"] - level["lower"])[ok] < (written["upper"] - written["lower"])[ok]).any()


def test_metrics_and_figures_show_the_same_numbers(saved):
    _, b, _ = saved
    metrics = b.metrics()
    law = metrics["budget"]["utd_law"]
    ax = budget_extrapolation(b.fitted_.frontier).axes[0]
    line = next(x for x in ax.get_lines() if len(x.get_xdata()))
    np.testing.assert_allclose(line.get_ydata(), law["coef"] * line.get_xdata() ** law["exponent"], rtol=1e-9)
    assert f"{law['exponent']:.2f}" in line.get_label()
    top = max(THRESHOLDS)
    dj = metrics["data_efficiency"][f"J={top:g}"]
    ax = data_efficiency(b.fitted_.efficiency, top).axes[0]
    curve = next(x for x in ax.get_lines() if x.get_label().startswith("fit"))
    expected = dj["d_min"] + (dj["beta"] / curve.get_xdata()) ** dj["exponent"]
    np.testing.assert_allclose(curve.get_ydata(), expected, rtol=1e-9)
    coef = b.coefficients().set_index(["law", "runs", "threshold", "parameter"])  # table k: 95% intervals
    for name, symbol in (("d_min", "D_min"), ("beta", "β"), ("exponent", "α")):
        row = coef.loc[("D_J(σ) = D_min + (β/σ)^α", "fitted", top, symbol)]
        assert (dj[f"{name}_lower"], dj[f"{name}_upper"]) == pytest.approx((row["lower"], row["upper"]), rel=1e-7)
    hb = metrics["hparams"]["batch_size"]["env-a"]
    ax = hparam_laws(b.hparams_.best, b.hparams_.laws).axes[0]
    fit = next(x for x in ax.get_lines() if x.get_label().startswith("fit"))
    np.testing.assert_allclose(fit.get_ydata(), hb["coef"] * fit.get_xdata() ** hb["exponent"], rtol=1e-9)
    # table k shows the variant the proposals used, as the metrics do
    table_k = coef.loc[("B*(σ) = coef·σ^exponent", "grid")].reset_index()
    row = table_k[table_k["group"] == "env-a"].set_index("parameter").loc["exponent"]
    assert (row["estimate"], row["lower"], row["upper"], row["df_resid"]) == pytest.approx(
        (hb["exponent"], hb["exponent_lower"], hb["exponent_upper"], hb["df_resid"]), rel=1e-9)
    panel = [x for x in figure1({"DMC": b.fitted_.pair}).axes if x.get_title().startswith("(II)")][0]
    fig1 = next(x for x in panel.get_lines() if len(x.get_xdata()))
    np.testing.assert_array_equal(fig1.get_ydata(), line.get_ydata())


def test_the_cli_the_metrics_and_figure_1_give_one_sigma_star_exponent(saved, tables, tmp_path, capsys):
    _, b, _ = saved
    assert main(["fit", "hparams", tables["grid"], "-o", str(tmp_path), "--thresholds", *map(str, THRESHOLDS),
                 "--n-bootstrap", "20"]) == 0
    assert main(["fit", "frontier", tables["fitted"], "-o", str(tmp_path), "--delta", "3e8", "--thresholds",
                 *map(str, THRESHOLDS), "--hparams", str(tmp_path / "hparams.json"), "--n-bootstrap", "20"]) == 0
    cli = json.loads((tmp_path / "frontier.json").read_text())["utd_law"]["exponent"]
    metric = b.metrics()["budget"]["utd_law"]["exponent"]
    drawn = b.fitted_.frontier.laws_["utd"].exponent()
    assert cli == pytest.approx(metric, rel=1e-8) and drawn == pytest.approx(metric, rel=1e-8)
    hp = json.loads((tmp_path / "hparams.json").read_text())["batch_size"]["shared"]["env-a"]["exponent"]
    assert hp == pytest.approx(b.metrics()["hparams"]["batch_size"]["env-a"]["exponent"], rel=1e-8)


def test_the_same_inputs_and_seed_give_the_same_bytes(saved, tables, tmp_path):
    _, _, folder = saved
    again = Analysis(**OPTIONS).fit(tables["grid"], fitted=tables["fitted"]).save(tmp_path / "again")
    from pathlib import Path

    first = sorted(Path(folder).iterdir())
    assert [p.name for p in first] == sorted(p.name for p in again.iterdir())
    for path in first:
        assert path.read_bytes() == (again / path.name).read_bytes(), path.name


def test_fits_that_are_not_laws_publish_a_reason_instead_of_a_number(saved):
    a, _, _ = saved
    coef = a.coefficients()
    flagged = coef[coef["status"] != "ok"]
    assert flagged["estimate"].isna().all() and (flagged["reason"] != "").all()
    assert coef.loc[coef["status"] == "ok", "estimate"].notna().all()
    for name, entry in a.metrics()["data_efficiency"].items():
        assert ("d_min" in entry) == (entry["status"] == "ok"), name
        assert entry["status"] == "ok" or entry["reason"]
    ext = a.extrapolation()
    assert len(ext) and (ext["predicted"].notna() | (ext["reason"] != "")).all()  # every blank says why
    assert ext.loc[ext["law"].str.startswith("σ*"), "predicted"].notna().all()  # held-out top J: predicted


def test_without_fitted_runs_the_grid_stands_in_and_says_so(tables):
    a = Analysis(delta=3e8, thresholds=THRESHOLDS[-3:], n_bootstrap=5, holdout=0).fit(tables["grid"])
    assert a.sources_["fitted"]["table"] == "grid" and "no fitted runs given" in a.fitted_.source
    assert len(a.fitted_.configs) == 12  # one configuration per (env, σ)



def test_a_one_seed_grid_is_analysed_with_an_estimator_that_reads_the_all_seeds_curves(tables, tmp_path, capsys):
    """It was refused whatever the estimator, though fit hparams took it and the --estimator help says it works."""
    grid = pd.read_parquet(tables["grid"])
    one_seed = tmp_path / "one_seed.parquet"
    grid[grid["seed"] == 0].to_parquet(one_seed)
    options = {"delta": 3e8, "thresholds": THRESHOLDS[-3:], "n_bootstrap": 5, "holdout": 0}
    a = Analysis(**options, estimator="point").fit(one_seed)
    assert a.hparams_.best.best_["batch_size_lower"].isna().all()  # one seed: no interval, not a zero-width one
    assert "Jacobian" in a.fitted_.source
    assert a.fitted_.efficiency.ci_method_ == "jacobian" and a.fitted_.n_bootstrap == 0
    assert any(w.startswith("fitted runs: one seed") and "not from a seed bootstrap" in w for w in a.warnings_)
    with pytest.raises(RlscaleError, match=r"fewer than 2 seeds.*; estimator bootstrap resamples them, but "
                       r"estimators point, mean_other and quadratic read the all-seeds curves"):
        Analysis(**options).fit(one_seed)
    with pytest.raises(RlscaleError, match=r"^n_bootstrap must be >= 1, got 0: .*estimators point, mean_other and "
                       r"quadratic read the all-seeds curves"):
        Analysis(**{**options, "n_bootstrap": 0}, estimator="point").fit(one_seed)
    args = ["fit", "analysis", str(one_seed), "--delta", "3e8", "--thresholds", *map(str, THRESHOLDS[-3:]),
            "--n-bootstrap", "5", "--holdout", "0"]
    assert main([*args, "-o", str(tmp_path / "point"), "--estimator", "point"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    for extra in ([], ["--n-bootstrap", "0"]):
        assert main([*args, *extra, "-o", str(tmp_path / "bootstrap")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("rlscale: error: ") and err.count("\n") == 1 and "--estimator point" in err, err
    assert main(["fit", "frontier", str(one_seed), "-o", str(tmp_path / "frontier"), "--delta", "3e8"]) == 2
    assert "with --n-bootstrap 0 the D_J intervals come from the fit's Jacobian" in capsys.readouterr().err


def test_an_unknown_estimator_gets_one_message_from_the_analysis_and_the_best_hyperparameter_step(tables):
    message = (r"^unknown estimator 'median' \(choose from bootstrap, bootstrap_joint, point, mean_other, quadratic, "
               r"bootstrap_quadratic\)$")
    with pytest.raises(RlscaleError, match=message):
        Analysis(delta=3e8, estimator="median").fit(tables["grid"])  # refused before the tables are read
    grid = make_sweep(n_seeds=2, n_points=10)
    with pytest.raises(RlscaleError, match=message):
        BestHyperparams(estimator="median").fit(ThresholdCrossings([800.0], n_bootstrap=2).fit(grid))


def test_a_return_range_may_name_an_env_of_any_table_of_the_analysis_and_one_of_none_is_refused(tables):
    # benchmark gym: a range given for a DMC env is refused (its returns are already on the 0-1000 scale)
    grid, fitted = (pd.read_parquet(tables[t]).assign(benchmark="gym") for t in ("grid", "fitted"))
    some = fitted[fitted["env"] == "env-a"]  # fitted runs of one env only: env-b's range is the grid's
    options = {"delta": 3e8, "thresholds": THRESHOLDS[-3:], "n_bootstrap": 5, "holdout": 0}
    ranges = {"env-a": 1000.0, "env-b": 1000.0}
    a = Analysis(**options, max_return=ranges).fit(grid, fitted=some)
    assert set(a.fitted_.configs["env"]) == {"env-a"}
    with pytest.raises(RlscaleError, match=r"^max return given for env\(s\) env-A, which no row of the run tables "
                       r"holds \(envs: env-a, env-b; names are case-sensitive\): did you mean env-a\?$"):
        Analysis(**options, max_return={**ranges, "env-A": 1000.0}).fit(grid, fitted=some)


def test_a_table_mixing_algos_is_refused_naming_them_and_saying_to_fit_each(tables, tmp_path, capsys):
    grid = pd.read_parquet(tables["grid"])
    mixed = grid.assign(algo=np.where(grid["env"] == "env-a", "sac", "td3"))  # one law per env would pool them
    with pytest.raises(RlscaleError, match=r"^the table mixes algos \(sac, td3\); .*fit each separately \(filter "
                       r"the table to one algo\)$"):
        load_runs(mixed)
    path = tmp_path / "two_algos.parquet"
    mixed.to_parquet(path)
    assert main(["fit", "hparams", str(path), "-o", str(tmp_path / "out"), "--n-bootstrap", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlscale: error: the table mixes algos (sac, td3)") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()

def test_loading_a_missing_or_foreign_folder_is_one_line(tmp_path):
    with pytest.raises(RlscaleError, match="no saved analysis here"):
        Analysis.load(tmp_path)
    (tmp_path / "analysis.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(RlscaleError, match="format 99"):
        Analysis.load(tmp_path)
    (tmp_path / "analysis.json").write_text("{not json")
    with pytest.raises(RlscaleError, match="not valid JSON"):
        Analysis.load(tmp_path)


@pytest.mark.parametrize("table", ["hparam_laws", "best_hparams", "crossings", "efficiency_params"])
def test_a_saved_analysis_with_a_truncated_table_is_one_line_for_predict_and_summary(saved, tmp_path, capsys, table):
    """A table cut short since it was saved (a disk fault, a bad copy): its checksum says so; in a save made before
    the checksums (``tables`` a list of names) it gave a pandas KeyError traceback."""
    for checksums in (True, False):
        folder = tmp_path / f"analysis_{checksums}"
        shutil.copytree(saved[2], folder)
        if not checksums:
            doc = json.loads((folder / "analysis.json").read_text())
            (folder / "analysis.json").write_text(json.dumps({**doc, "tables": sorted(doc["tables"])}))
        path = folder / f"{table}.csv"
        path.write_text(path.read_text()[:60])
        why = (f"{path}: changed since the analysis was saved" if checksums
               else f"{folder}: the saved analysis is damaged .*")
        with pytest.raises(RlscaleError, match=f"^{why}.*; fit and save it again$"):
            Analysis.load(folder)
        for command in (["predict", str(folder), "--utd", "1"], ["summary", str(folder)]):
            assert main(["fit", *command]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and re.match(f"rlscale: error: {why}", err), err


def test_a_save_cut_short_or_a_table_copied_in_from_another_fit_is_refused_not_mixed(tables, tmp_path):
    """``analysis.json`` is written last with every table's checksum: tables from two fits never load as one."""
    fits = {}
    for seed in (0, 1):  # two fits of one grid whose bootstrap intervals differ
        fits[seed] = Analysis(**{**OPTIONS, "seed": seed}).fit(tables["grid"], fitted=tables["fitted"]).save(
            tmp_path / str(seed))
    first, second = fits[0], fits[1]
    assert (first / "best_hparams.csv").read_bytes() != (second / "best_hparams.csv").read_bytes()
    shutil.copy(second / "best_hparams.csv", first / "best_hparams.csv")  # as a save cut short before analysis.json
    with pytest.raises(RlscaleError, match=r"best_hparams.csv: changed since the analysis was saved \(a save cut "
                       r"short, or a table edited or copied in\); fit and save it again$"):
        Analysis.load(first)
    Analysis.load(second)  # its own tables load


def test_fit_analysis_cli_writes_the_folder_and_the_metrics(tables, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert main(["fit", "analysis", tables["grid"], "--fitted", tables["fitted"], "-o", str(out), "--metrics",
                 str(tmp_path / "metrics.json"), "--delta", "3e8", "--thresholds", *map(str, THRESHOLDS),
                 "--n-bootstrap", "20"]) == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == Analysis.load(out).metrics() and metrics["budget"]["utd_law"]["status"] in {"ok", "wide"}
    assert main(["fit", "analysis", tables["grid"], "-o", str(tmp_path / "x"), "--delta", "-1"]) == 2
    assert "--delta must be a non-negative number" in capsys.readouterr().err


def test_a_table_without_diagnostics_is_told_the_run_table_columns_that_would_give_them(tables):
    """The message named replay_td_error, an alias read for other tables but no run-table column."""
    from rlscale.analysis import late_diagnostics
    from rlscale.runs import OPTIONAL_COLUMNS

    with pytest.raises(RlscaleError, match="logs none of") as info:
        late_diagnostics(pd.read_parquet(tables["grid"]))
    named = str(info.value).split("logs none of ", 1)[1].split(", ")
    assert named == ["newest_td_error", "critic_param_norm", "train_td_error", "val_td_error", "overfitting"]
    assert set(named) <= set(OPTIONAL_COLUMNS)


def test_a_costlier_env_step_moves_sigma_star_up(saved):
    _, b, _ = saved
    moves = optimum_for_deltas(b.fitted_, [1e7, 1e10])
    top = moves[np.isclose(moves["threshold"], max(THRESHOLDS))].set_index("delta")["utd"]
    assert top[1e10] > top[1e7]


def test_fitting_imports_no_drawing_and_no_cli_and_its_messages_name_no_flags():
    import re
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, rlscale.analysis, rlscale.laws; print(sorted(m for m in sys.modules if m.startswith("
            "('rlscale.plots', 'rlscale.cli', 'matplotlib'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    root = Path(__file__).resolve().parent.parent / "rlscale"
    for path in [*(root / "laws").glob("*.py"), *(root / "analysis").glob("*.py")]:
        flags = re.findall(r"""["'][^"'\n]*\s--[a-z][a-z-]+""", path.read_text())
        assert not flags, f"{path.name} names CLI flags: {flags}"


def test_predict_answers_at_new_utds_and_budgets_with_the_laws_intervals_and_verdicts(saved, tmp_path, capsys):
    """The three questions a user brings (B* and η* at my σ, env steps to reach J at my σ, the best σ for my budget)
    answered from a saved analysis, each with the interval of its law, its verdict and whether it extrapolates; the
    CLI prints the same table and says how to read rows that are not laws."""
    a, b, folder = saved
    table = b.predict([2.0, 100.0], thresholds=[THRESHOLDS[0]], budgets=[1e12, 1e14], alpha=0.1)
    assert set(table["quantity"]) == {"batch_size", "learning_rate", "data_to_threshold", "utd_optimal",
                                      "data_optimal", "compute_optimal"}
    b_star = table[(table["quantity"] == "batch_size") & (table["env"] == "env-a")]
    np.testing.assert_allclose(b_star["estimate"], a.hparams_.laws.predict([2.0, 100.0], "env-a", "batch_size"))
    assert b_star["extrapolated"].tolist() == [False, True]  # the grid's σ end at 8
    d_j = table[(table["quantity"] == "data_to_threshold") & (table["env"] == "env-a")]
    np.testing.assert_allclose(d_j["estimate"], a.fitted_.per_env.predict([2.0, 100.0], THRESHOLDS[0], "env-a"))
    assert (d_j["env_return"] == THRESHOLDS[0]).all()  # a DMC task's returns are its scores
    sigma = table[table["quantity"] == "utd_optimal"]
    np.testing.assert_allclose(sigma["estimate"], a.fitted_.frontier.predict([1e12, 1e14]))
    ok = table[table["status"] == "ok"]
    assert len(ok) and (ok["lower"] < ok["estimate"]).all() and (ok["estimate"] < ok["upper"]).all()
    wide = b.predict([2.0, 100.0], thresholds=[THRESHOLDS[0]], budgets=[1e12, 1e14], alpha=0.05)
    for quantity, g in table[table["status"] == "ok"].groupby("quantity"):  # each a 90% interval inside the 95% one
        w = wide.loc[g.index]
        assert (w["quantity"] == quantity).all()
        assert (w["lower"] <= g["lower"]).all() and (g["upper"] <= w["upper"]).all()
        assert ((g["upper"] - g["lower"]) < (w["upper"] - w["lower"])).any(), quantity
    assert main(["fit", "predict", folder, "--utd", "2", "100", "--threshold", str(THRESHOLDS[0]), "--budget", "1e12",
                 "1e14", "--alpha", "0.1", "-o", str(tmp_path / "p.csv")]) == 0
    out = capsys.readouterr()
    assert "utd_optimal" in out.out and "extrapolated" in out.out
    written = pd.read_csv(tmp_path / "p.csv")
    columns = ["estimate", "lower", "upper"]
    np.testing.assert_allclose(written[columns], table[columns], rtol=1e-9)
    lines = out.err.splitlines()  # the library's warnings too, each one line after the table, never Python's format
    assert lines and all(line.startswith("rlscale: warning: ") for line in lines)
    assert lines[-1].startswith("rlscale: warning: rows whose status is not 'ok' are not laws")


def test_fit_summary_prints_a_saved_analysis_laws_as_the_notebook_shows_them(saved, tmp_path, capsys):
    """`fit analysis` prints only what it wrote: the laws themselves had to be read out of JSON."""
    assert main(["fit", "summary", saved[2]]) == 0
    assert capsys.readouterr().out == saved[1].summary().as_text() + "\n"
    assert main(["fit", "summary", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlscale: error: ") and err.count("\n") == 1


@pytest.mark.parametrize(("args", "message"), [
    ([], "give --utd SIGMA ... and/or --budget F"),
    (["--utd", "-1"], "must be positive numbers, got -1"),
    (["--budget", "0"], "must be positive numbers, got 0"),
    (["--utd", "1", "--threshold", "123"], "no fit for threshold 123"),
])
def test_predict_with_nothing_to_predict_or_a_bad_value_is_one_line(saved, capsys, args, message):
    assert main(["fit", "predict", saved[2], *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_an_hparams_json_given_as_the_batch_law_prices_compute_with_its_laws(saved, tables, tmp_path):
    """`fit analysis --batch-law` took only a published law's numbers, and refused the hparams.json `fit hparams`
    writes ('lacks exponent')."""
    a = saved[0]
    doc = {**a.hparams_.laws.to_dict(), "variant": a.hparams_.laws.variant}  # hparams.json's laws and variant
    b = Analysis(**{**OPTIONS, "n_bootstrap": 5}, batch_law=doc).fit(tables["grid"], fitted=tables["fitted"])
    assert b.fitted_.batch.terms == BatchSizeLaw.from_laws(a.hparams_.laws).terms
    assert b.fitted_.batch.source == "batch_law (an hparams.json)"


def test_fitted_runs_of_two_network_sizes_in_one_task_are_said_since_compute_prices_one(tables, tmp_path):
    fitted = pd.read_parquet(tables["fitted"])
    size = float(fitted["critic_params"].iloc[0])
    assert (fitted["critic_params"] == size).all()
    small = fitted["utd"] == fitted["utd"].max()
    fitted.loc[small, "critic_params"] = 12345  # one σ trained with a much smaller critic
    fitted.loc[fitted["utd"] == fitted["utd"].min(), "critic_params"] = 100 * size  # and one with a larger
    assert fitted["utd"].nunique() > 4  # so most (env, σ) points keep the first size: it is their median
    fitted.to_parquet(tmp_path / "mixed.parquet")
    a = Analysis(**{**OPTIONS, "n_bootstrap": 5}).fit(tables["grid"], fitted=str(tmp_path / "mixed.parquet"))
    said = [w for w in a.warnings_ if w.startswith("compute: the critic's size differs within")]
    assert len(said) == 1 and "12345 to" in said[0] and "one network size per task" in said[0]
    assert a.fitted_.frontier.critic_params == size and f"points ({size:g})" in said[0]
    b = Analysis(**{**OPTIONS, "n_bootstrap": 5}).fit(tables["grid"], fitted=tables["fitted"])
    assert not any("critic's size differs" in w for w in b.warnings_)


def test_fitted_runs_holding_several_configurations_or_envs_the_grid_lacks_are_said(tables, tmp_path):
    """Given the grid as 'fitted runs', D_J silently kept the best of several configurations per (env, σ), an
    optimistic selection its intervals do not include; fitted envs the grid lacks have no B*(σ) law for compute."""
    grid = pd.read_parquet(tables["grid"])
    other = pd.read_parquet(tables["fitted"]).assign(env=lambda t: t["env"].astype(str) + "-own")
    other.to_parquet(tmp_path / "other.parquet")
    a = Analysis(**{**OPTIONS, "n_bootstrap": 5}).fit(tables["grid"], fitted=tables["grid"])
    n = grid.groupby(["env", "utd"])["batch_size"].size().gt(0).sum()
    assert any(w.startswith(f"fitted runs: {n} (env, utd) hold several configurations") for w in a.warnings_)
    b = Analysis(**{**OPTIONS, "n_bootstrap": 5}).fit(tables["grid"], fitted=str(tmp_path / "other.parquet"))
    assert any(w.startswith("fitted runs: env(s) env-a-own") and "not in the grid" in w for w in b.warnings_)
    assert not any("several configurations" in w for w in b.warnings_)
    fitted = pd.read_parquet(tables["fitted"])
    cell = fitted.iloc[0]
    at = (grid["env"] == cell["env"]) & (grid["utd"] == cell["utd"])
    second = grid[at & (grid["batch_size"] != cell["batch_size"])]
    second = second[(second[["batch_size", "learning_rate"]] == second.iloc[0][["batch_size", "learning_rate"]]).all(1)]
    two = pd.concat([fitted, second], ignore_index=True)  # one more configuration at one (env, σ): two there
    c = Analysis(**{**OPTIONS, "n_bootstrap": 5}).fit(tables["grid"], fitted=two)
    assert any(w.startswith(f"fitted runs: 1 (env, utd) hold several configurations (first: env {cell['env']} at "
                            f"utd {cell['utd']:g}, 2)") for w in c.warnings_), c.warnings_


def test_a_law_whose_exponent_interval_spans_zero_says_its_direction_is_not_determined():
    """Such a law was published as 'ok' with nothing said, though its data cannot tell a rising from a falling law;
    the embedded Gym analysis has such laws (its grid is small)."""
    from pathlib import Path

    a = Analysis.load(Path(__file__).resolve().parents[1] / "results" / "gym" / "analysis")
    exponent = a.hparams_.laws.conf_int().loc[("batch_size", "shared")].xs("exponent", level="parameter").iloc[0]
    assert exponent["lower"] < 0 < exponent["upper"]
    line = (f"B*(σ) of InvertedPendulum-v4, Pendulum-v1: a law, but its exponent's 95% interval "
            f"[{exponent['lower']:.3g}, {exponent['upper']:.3g}] includes 0, so the data do not tell whether it rises "
            "or falls with σ")
    assert line in a.problems()
    sigma = a.baseline_.frontier
    lower, upper = sigma.conf_int().loc[("utd", "exponent")]
    assert sigma.has_law() and lower < 0 < upper
    assert any(p.startswith("baseline runs: σ*(F): a law, but its exponent's 95% interval") for p in a.problems())


def test_a_seed_whose_curve_copies_another_seeds_is_said(tables):
    """The authors' Gym grid holds 39 such copies; a copy counts twice in the bootstrap over seeds, unsaid."""
    grid = pd.read_parquet(tables["grid"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_runs(grid)
    cell = grid.iloc[0]
    same = (grid[["env", "utd", "batch_size", "learning_rate"]] == cell[["env", "utd", "batch_size", "learning_rate"]]
            ).all(axis=1)
    copied = grid[same & (grid["seed"] == 1)].assign(seed=0)
    table = pd.concat([grid[~(same & (grid["seed"] == 0))], copied], ignore_index=True)
    with pytest.warns(RlscaleWarning, match=rf"run table: 1 run\(s\) repeat another seed's curve exactly \(first: env "
                                            rf"{cell['env']} at utd {cell['utd']:g}, .*seeds 0, 1\)"):
        load_runs(table)


def test_a_threshold_is_given_in_each_tasks_own_return_beside_the_data_to_reach_it():
    """J lives on the 0-1000 scale; a user reads their task in its own returns (Pendulum's are costs in [-1500, 0])."""
    from pathlib import Path

    a = Analysis.load(Path(__file__).resolve().parents[1] / "results" / "gym" / "analysis")
    table = a.predict([2.0], thresholds=[300.0]).query("quantity == 'data_to_threshold'").set_index("env")
    assert table.loc["Pendulum-v1", "env_return"] == -1500 + 0.3 * 1500
    assert table.loc["InvertedPendulum-v4", "env_return"] == 300.0  # max return 1000, min 0


def test_the_baseline_is_pooled_on_the_fitted_runs_scale_so_its_points_agree_with_the_data_ratios(tables):
    fitted = pd.read_parquet(tables["fitted"])
    stretch = np.where(fitted["env"] == "env-b", 3.0, 1.0) * fitted["utd"].map(lambda u: 1.5 if u >= 4 else 0.7)
    baseline = fitted.assign(env_step=(fitted["env_step"] * stretch).round().astype(fitted["env_step"].dtype))
    a = Analysis(delta=3e8, thresholds=THRESHOLDS[:4], n_bootstrap=5, holdout=0).fit(
        tables["grid"], fitted=fitted, baseline=baseline)
    assert a.baseline_.efficiency.normalization_.equals(a.fitted_.efficiency.normalization_)
    assert "fitted runs' per-task scale" in a.baseline_.source
    points = pd.concat([fit.efficiency.points_.assign(runs=runs) for runs, fit in a.frontier_fits().items()])
    pooled = points.pivot_table(index=["threshold", "utd"], columns="runs", values="data")
    pooled = (pooled["fitted"] / pooled["baseline"]).dropna()
    ratio = a.data_ratio_[a.data_ratio_["group"] != "all"]
    both = ratio.groupby(["threshold", "utd"]).filter(lambda g: np.isfinite(g["ratio"]).all() and len(g) > 1)
    span = both.groupby(["threshold", "utd"])["ratio"].agg(["min", "max"]).join(pooled.rename("pooled"), how="inner")
    assert len(span) and (span["max"] > span["min"]).any()
    assert ((span["pooled"] >= span["min"] * (1 - 1e-9)) & (span["pooled"] <= span["max"] * (1 + 1e-9))).all()


def test_numbers_held_in_object_columns_are_written_to_ten_significant_digits_too(tmp_path):
    from rlscale.analysis import write_csv

    empty = pd.DataFrame(columns=["threshold", "utd", "at_boundary", "note"])  # runs without an optimum
    full = pd.DataFrame({"threshold": [200.0], "utd": [0.949385575384317], "at_boundary": [False], "note": [""]})
    write_csv(tmp_path / "optima.csv", pd.concat([full.assign(runs="fitted"), empty.assign(runs="baseline")],
                                                 ignore_index=True))
    assert (tmp_path / "optima.csv").read_text().splitlines()[1] == "200,0.9493855754,False,,fitted"


def test_extrapolating_a_law_of_undetermined_direction_is_flagged_as_the_claims_and_figures_treat_it(saved):
    """The claims call a law whose exponent interval includes 0 not shown and the figures stop it at its data, so a
    prediction past its data says the same: a column on every row and one warning, not a bare 'ok'."""
    loaded = Analysis.load(saved[2])
    law = loaded.fitted_.frontier.laws_["utd"]
    law.terms_["var_exponent"] = 4.0 * (1.0 + law.terms_["exponent"] ** 2)  # se > 2 |exponent|: the CI holds 0
    inside = float(np.sqrt(law.terms_["x_min"].item() * law.terms_["x_max"].item()))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RlscaleWarning)
        near = loaded.predict(budgets=[inside])  # within the fitted budgets: nothing to warn of
    assert near.loc[near["quantity"] == "utd_optimal", "sign_undetermined"].tolist() == [True]
    with pytest.warns(RlscaleWarning, match="1 prediction\\(s\\) extrapolate a law whose exponent's 95% interval "
                                            "includes 0 \\(first: utd_optimal of all at F 1e\\+20\\)"):
        far = loaded.predict([2.0], budgets=[1e20])
    row = far[far["quantity"] == "utd_optimal"].iloc[0]
    assert row["status"] == "ok" and row["extrapolated"] and row["sign_undetermined"]
    assert not far.loc[far["quantity"] == "data_optimal", "sign_undetermined"].any()
    assert far["sign_undetermined"].dtype == bool


def test_b_and_eta_predictions_say_how_many_of_their_optima_are_grid_edge_bounds(saved):
    loaded = Analysis.load(saved[2])
    best = loaded.hparams_.best.best_
    best["batch_size_at_edge"], best["learning_rate_at_edge"] = True, False  # every B* optimum a bound
    with pytest.warns(RlscaleWarning, match=r"B\*/η\* of 2 \(hparam, env\) pair\(s\) rest mostly on optima at the "
                                            r"grid's edge \(first: B\*\(σ\) of env-a, 100% of its points\)"):
        table = loaded.predict([2.0])
    share = table.dropna(subset=["at_grid_edge"]).set_index(["quantity", "env"])["at_grid_edge"]
    assert share.to_dict() == {("batch_size", "env-a"): 1.0, ("learning_rate", "env-a"): 0.0,
                               ("batch_size", "env-b"): 1.0, ("learning_rate", "env-b"): 0.0}
    assert table.loc[table["quantity"] == "data_to_threshold", "at_grid_edge"].isna().all()
    best.loc[best["env"] == "env-a", "batch_size_at_edge"] = False  # a shared slope counts every task's optima
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        half = loaded.predict([2.0])
    assert half.set_index(["quantity", "env"]).loc[("batch_size", "env-b"), "at_grid_edge"] == 0.5
    assert not any("rest mostly on optima" in str(w.message) for w in caught)  # half is not most


def test_a_prediction_outside_its_own_interval_gets_a_column_and_one_warning(saved):
    a = saved[1]
    eff = a.fitted_.per_env
    r = eff.params_[eff.params_["status"] == "ok"].iloc[0]
    boot = eff.bootstrap_.copy()
    hit = (boot["group"] == r["group"]) & np.isclose(boot["threshold"], r["threshold"])
    boot.loc[hit, "log_d_min"] = np.log(r["d_min"]) + 0.5 + 0.01 * np.arange(hit.sum())  # refits all above the fit
    boot.loc[hit, "log_utd_scale"], boot.loc[hit, "exponent"] = np.log(r["utd_scale"]), r["exponent"]
    leaning = Analysis.load(saved[2])
    leaning.fitted_.per_env.bootstrap_ = boot
    with pytest.warns(RlscaleWarning, match="1 prediction\\(s\\) lie outside their own interval") as caught:
        table = leaning.predict([1.0], thresholds=[r["threshold"]])
    assert sum(issubclass(w.category, RlscaleWarning) for w in caught) == 1
    assert "outside_interval" in table.columns and table["outside_interval"].dtype == bool
    flagged = table[table["outside_interval"]]
    assert flagged[["quantity", "env"]].values.tolist() == [["data_to_threshold", r["group"]]]
    assert (flagged["estimate"] < flagged["lower"]).all()


def test_a_data_ratio_interval_is_order_statistics_of_its_samples_and_all_is_a_geometric_mean_over_envs(tables):
    """The baseline claim reads these: per (env, σ, J) the (1 - alpha) interval of fitted over baseline env steps lies
    between order statistics of the per-sample ratios (20 samples at alpha 0.5: the 5th smallest and the 5th largest);
    'all' is the geometric mean over the envs where either run set reaches J."""
    from rlscale.analysis import compare_data

    fitted = pd.read_parquet(tables["fitted"])
    fitted.loc[(fitted["env"] == "env-b") & (fitted["utd"] == fitted["utd"].max()), "return"] *= 0.5
    # other curves than the fitted runs at each seed, twice as slow from σ = 4: ratios that vary between samples
    baseline = fitted.assign(seed=(fitted["seed"] + 1) % 3,
                             env_step=np.where(fitted["utd"] >= 4, 2, 1) * fitted["env_step"])
    a = Analysis(delta=3e8, thresholds=THRESHOLDS[:4], n_bootstrap=20, holdout=0).fit(
        tables["grid"], fitted=fitted, baseline=baseline)
    ratio = compare_data(a.fitted_, a.baseline_, alpha=0.5)
    keys = ["env", "utd", "threshold"]
    pair = a.fitted_.crossing_samples.astype({"env": str}).merge(
        a.baseline_.crossing_samples.astype({"env": str}), on=[*keys, "sample"], suffixes=("_fit", "_base"))
    per_env = ratio[ratio["group"] != "all"].rename(columns={"group": "env"}).set_index(keys)
    checked = 0
    for at, g in pair.groupby(keys):
        r = per_env.loc[at]
        with np.errstate(invalid="ignore"):
            each = np.sort((g["crossing_fit"].fillna(np.inf) / g["crossing_base"].fillna(np.inf)).to_numpy())
        if len(each) == 20 and not np.isnan(each).any():
            assert (r["ratio_lower"], r["ratio_upper"]) == pytest.approx((each[4], each[-5]), rel=1e-9), at
            checked += 1
    assert checked >= len(per_env) // 2
    assert (per_env["ratio_lower"] < per_env["ratio_upper"]).any()  # samples that differ, so the order matters
    everyone = ratio[ratio["group"] == "all"]
    for r in everyone.itertuples(index=False):
        envs = per_env.xs((r.utd, r.threshold), level=["utd", "threshold"])
        reach = envs[envs["ratio"].notna()]  # NaN: neither run set reaches J there
        assert r.n_envs == len(reach)
        with np.errstate(divide="ignore"):
            assert r.ratio == pytest.approx(np.exp(np.log(reach["ratio"]).mean()), rel=1e-9)
            np.testing.assert_allclose(r.fitted_data, np.exp(np.log(reach["fitted_data"]).mean()), rtol=1e-9)
    assert (everyone["n_envs"] == 1).any() and (everyone["n_envs"] == 2).any()  # the dimmed env is left out


def test_fitted_and_baseline_runs_sharing_their_seeds_are_resampled_in_pairs(tables):
    """Runs of the two sets with the same seed share their random streams and their crossings correlate, so sample k
    resamples the same seeds of both: two copies of one run set then give a ratio of exactly 1 in every sample."""
    fitted = pd.read_parquet(tables["fitted"])
    a = Analysis(delta=3e8, thresholds=THRESHOLDS[:4], n_bootstrap=20, holdout=0).fit(
        tables["grid"], fitted=fitted, baseline=fitted.copy())
    reached = a.data_ratio_.dropna(subset=["ratio"])
    assert len(reached) and (reached["n_samples"] == 20).all()
    assert (reached["ratio_lower"] == 1).all() and (reached["ratio_upper"] == 1).all()
    assert not reached["note"].fillna("").str.contains("same").any()  # paired by seed, not taken as one run set


def test_the_grid_stands_in_for_runs_at_given_hyperparameters_with_the_cell_nearest_in_log(tables):
    grid = pd.read_parquet(tables["grid"])
    # B 370 is nearer 256 than 512 in steps but nearer 512 in log; η 3e-4 is nearest 4e-4 in log
    want = pd.DataFrame({"env": ["env-a", "env-b"], "utd": [1.0, 4.0], "batch_size": [370.0, 1000.0],
                         "learning_rate": [3e-4, 1.1e-4]})
    picked = nearest_grid_runs(grid, want)
    cells = sorted(picked.groupby(["env", "utd", "batch_size", "learning_rate"]).size().index)
    assert cells == [("env-a", 1.0, 512, 4e-4), ("env-b", 4.0, 1024, 1e-4)]
    assert len(picked) == sum(len(grid[(grid["env"] == e) & (grid["utd"] == u) & (grid["batch_size"] == b)
                                       & np.isclose(grid["learning_rate"], lr)]) for e, u, b, lr in cells)


def test_every_fit_analysis_flag_reaches_the_analysis(tables, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert main(["fit", "analysis", tables["grid"], "--fitted", tables["fitted"], "-o", str(out), "--delta", "3e8",
                 "--thresholds", *map(str, THRESHOLDS[-4:]), "--n-bootstrap", "5", "--holdout", "1",
                 "--hparam-fit-range", "0.5", "4", "--utd-fit-range", "0.5", "4", "--utd-range", "0.2", "20",
                 "--variant", "separate", "--baseline-utd", "1", "--max-ci-decades", "3", "--utds-to-predict", "1",
                 "3", "--seed", "5", "--sigma-search", "grid"]) == 0, capsys.readouterr().err
    a = Analysis.load(out)
    given = {"delta": 3e8, "thresholds": THRESHOLDS[-4:], "n_bootstrap": 5, "holdout": 1, "hparam_fit_range": [0.5, 4],
             "utd_fit_range": [0.5, 4], "utd_range": [0.2, 20], "variant": "separate", "baseline_utd": 1,
             "max_ci_decades": 3, "utds_to_predict": [1, 3], "seed": 5, "sigma_search": "grid"}
    params = a.get_params()
    assert {k: params[k] for k in given} == json_ready(given)  # as analysis.json records them
    assert a.hparams_.validate_range == (0.5, 4.0) and a.fitted_.validate_utd_range == (0.5, 4.0)
    assert a.fitted_.frontier.utd_range_ == (0.2, 20.0) and a.hparams_.laws.variant == "separate"
    assert sorted(a.hparams_.proposed["utd"].unique()) == [1.0, 3.0] and a.fitted_.frontier.search == "grid"


@pytest.mark.parametrize("limit", [0.0, -1.0, float("nan")])
def test_a_span_limit_that_is_not_positive_is_refused_since_every_fit_would_be_wide(tables, tmp_path, limit):
    """max_ci_decades 0 (or below, or NaN) marked every law 'wide' without a word: only the CLI refused it."""
    from rlscale.analysis import fit_frontier
    from rlscale.laws import PowerLaw

    message = r"^max_ci_decades must be a positive number of decades, got .*: every fit would be marked wide$"
    with pytest.raises(RlscaleError, match=message):
        Analysis(delta=3e8, max_ci_decades=limit).fit(tmp_path / "not-read.parquet")  # before any table is read
    with pytest.raises(RlscaleError, match=message):
        fit_frontier(load_runs(tables["fitted"]), 3e8, n_bootstrap=2, max_ci_decades=limit)
    with pytest.raises(RlscaleError, match=message):
        PowerLaw(max_ci_decades=limit).fit([1.0, 2.0, 4.0], [1.0, 2.0, 3.0])
