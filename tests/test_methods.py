"""Methods: named bundles of the fit chain's choices, each also an option of its own, recorded in every output."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json

import numpy as np
import pandas as pd
import pytest

from rlscale.analysis import Analysis
from rlscale.cli import build_parser, main
from rlscale.errors import RlscaleError
from rlscale.laws.efficiency import DataEfficiency, _linear_loss
from rlscale.laws.hparams import average_logs
from rlscale.laws.synthetic import SyntheticLaws, make_sweep
from rlscale.methods import METHOD_OPTIONS, method_options
from rlscale.options import DEFAULTS, FIT_FLAGS


@pytest.fixture(scope="module")
def grid_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("runs") / "grid.parquet"
    make_sweep(SyntheticLaws(), utds=(0.5, 1.0, 2.0, 4.0), batch_sizes=(64, 256, 1024),
               learning_rates=(2.5e-4, 1e-3, 4e-3), n_seeds=3, n_points=60, max_step=4_000_000,
               random_state=0).drop(columns="score").to_parquet(path)
    return str(path)


def test_a_method_is_a_bundle_and_a_given_option_overrides_it():
    paper = method_options("paper")
    assert paper["hparam_average"] == "arithmetic" and paper["seed"] == 42 and paper["dj_loss"] == "linear"
    assert method_options("rlscale") == {o.name: o.rlscale for o in METHOD_OPTIONS}
    assert method_options("paper", dj_loss="log", seed=3)["dj_loss"] == "log"
    assert method_options("paper", seed=0)["seed"] == 0  # a given 0 is given, not the method's 42
    with pytest.raises(RlscaleError, match="unknown method 'papr'"):
        method_options("papr")
    with pytest.raises(RlscaleError, match="dj_loss must be one of log, linear"):
        method_options("paper", dj_loss="quadratic")
    for seed in (1.5, True, "3"):
        with pytest.raises(RlscaleError, match="seed must be an integer"):
            method_options("rlscale", seed=seed)


def test_the_paper_method_makes_each_choice_of_the_authors_analysis_code():
    """Their public analysis code (README, "The authors' runs"): J reached only past it, arithmetic means of the
    sampled best values with an unreached sample at the first grid value, separate slopes without the largest σ,
    one median per task, a linear least-squares D_J, the best of 100 σ, every optimum in F whatever its D_J verdict,
    each run set on its own scale, other max returns for the fitted runs than for the grid, numpy seeded with 42."""
    assert method_options("paper") == {
        "seed": 42, "crossing": "strict", "hparam_average": "arithmetic", "unreached": "first",
        "separate_utds": "all_but_largest", "dj_normalize": "per_task", "dj_loss": "linear", "sigma_search": "grid",
        "budget_points": "all", "baseline_scale": "own", "max_return_preset": "paper-grid",
        "fitted_max_return_preset": "paper-fitted"}


def test_arithmetic_and_geometric_averages_differ_as_they_should():
    logs = np.log(np.array([128.0, 512.0]))
    assert np.exp(average_logs(logs, "log")) == pytest.approx(256.0)
    assert np.exp(average_logs(logs, "arithmetic")) == pytest.approx(320.0)
    rows = np.log(np.array([[128.0, 512.0], [64.0, np.nan]]))  # per row, NaN (never reached) skipped
    np.testing.assert_allclose(np.exp(average_logs(rows, "log", axis=1)), [256.0, 64.0])
    np.testing.assert_allclose(np.exp(average_logs(rows, "arithmetic", axis=1)), [320.0, 64.0])


def _linear_fit(times: np.ndarray, utd: np.ndarray) -> pd.Series:
    """DataEfficiency(loss="linear")'s law of one env's times."""
    table = pd.DataFrame({"env": "a", "utd": utd, "threshold": 800.0, "crossing": times})
    return DataEfficiency(normalize=False, loss="linear").fit(table).params_.iloc[0]


def test_the_linear_d_j_fit_finds_the_least_squares_optimum_of_a_known_law():
    utd = np.array([0.25, 0.5, 1, 2, 4, 8, 16])
    y = 1.03 + (utd / 2.29) ** -0.70
    law = _linear_fit(1e5 * y, utd)  # D = 1e5·(1.03 + (σ/2.29)^-0.7): D_min = 1.03e5, β = 2.29·1e5^(1/0.7)
    assert (law["d_min"], law["beta"], law["exponent"]) == pytest.approx((1.03e5, 2.29 * 1e5 ** (1 / 0.7), 0.70),
                                                                          rel=1e-5)
    from scipy import optimize

    for theta in ([0.7, 1.3, 0.9], [1.4, 0.5, -0.2]):  # its gradient is the loss's: L-BFGS-B follows it
        numeric = optimize.approx_fprime(np.array(theta), lambda th: _linear_loss(th, utd, y)[0], 1e-7)
        np.testing.assert_allclose(_linear_loss(np.array(theta), utd, y)[1], numeric, rtol=1e-4, atol=1e-8)
    noisy = 1e5 * y * (1 + 0.03 * np.sin(np.arange(7)))
    law, m = _linear_fit(noisy, utd), float(np.median(noisy))  # the authors fit c + (σ/b)^-a to times / m
    best = np.array([law["exponent"], law["beta"] / m ** (1 / law["exponent"]), law["d_min"] / m])
    for start in ([0.4, 0.2, 0.4], [1.2, 0.8, -0.4], [-0.4, 0.6, 1.2]):
        other = optimize.minimize(_linear_loss, start, args=(utd, noisy / m), method="L-BFGS-B", jac=True).x
        assert _linear_loss(best, utd, noisy / m)[0] <= _linear_loss(other, utd, noisy / m)[0] * (1 + 1e-9)


def test_per_task_normalisation_refuses_a_never_reached_crossing():
    table = pd.DataFrame({"env": ["a"] * 4 + ["b"] * 4, "utd": [1, 2, 4, 8] * 2, "threshold": 800.0,
                          "crossing": [4e5, 3e5, 2.5e5, 2.2e5, 5e5, np.nan, 3e5, 2.6e5]})
    with pytest.raises(RlscaleError, match="never reaches J=800 at utd 2"):
        DataEfficiency(normalize_by="task").fit(table)


def test_fit_analysis_method_paper_records_method_options_and_max_returns(grid_path, tmp_path, capsys):
    out, metrics = tmp_path / "a", tmp_path / "m.json"
    code = main(["fit", "analysis", grid_path, "--fitted", grid_path, "-o", str(out), "--metrics", str(metrics),
                 "--delta", "1e9",
                 "--thresholds", "300", "400", "500", "600", "700", "--n-bootstrap", "10",
                 "--method", "paper", "--dj-loss", "log"])
    assert code == 0, capsys.readouterr().err
    m = json.loads(metrics.read_text())
    assert m["method"] == "paper" and m["options"]["dj_loss"] == "log" and m["options"]["seed"] == 42
    assert m["options"]["hparam_average"] == "arithmetic"
    assert m["max_return"]["grid"]["preset"] == "paper-grid" and m["max_return"]["fitted"]["preset"] == "paper-fitted"
    saved = json.loads((out / "analysis.json").read_text())
    assert saved["method"] == "paper" and saved["resolved_options"]["unreached"] == "first"
    assert Analysis.load(out).resolved_options() == m["options"]
    hp = tmp_path / "hp"
    assert main(["fit", "hparams", grid_path, "-o", str(hp), "--n-bootstrap", "10", "--method", "paper"]) == 0
    doc = json.loads((hp / "hparams.json").read_text())
    assert doc["method"] == "paper" and doc["options"]["separate_utds"] == "all_but_largest"
    assert doc["max_return"]["grid"]["preset"] == "paper-grid"


def test_crossing_interpolated_flows_from_the_option_to_the_crossings_of_cli_and_library(grid_path, tmp_path, capsys):
    from rlscale.laws.thresholds import CROSSINGS

    assert next(o for o in METHOD_OPTIONS if o.name == "crossing").choices == CROSSINGS
    hp = tmp_path / "hp"
    code = main(["fit", "hparams", grid_path, "-o", str(hp), "--n-bootstrap", "5", "--crossing", "interpolated",
                 "--thresholds", "500", "700"])
    assert code == 0, capsys.readouterr().err
    assert json.loads((hp / "hparams.json").read_text())["options"]["crossing"] == "interpolated"
    fits = {rule: Analysis(delta=1e9, crossing=rule, n_bootstrap=5, thresholds=[500.0, 700.0]).fit_hparams(grid_path)
            for rule in ("inclusive", "interpolated")}
    logged, interpolated = (fits[r].crossings.crossing_ for r in ("inclusive", "interpolated"))
    reached = np.isfinite(logged)
    assert reached.any() and np.all(interpolated[reached] <= logged[reached])
    assert np.any(interpolated[reached] < logged[reached])  # between logged steps, not on them
    cli = json.loads((hp / "hparams.json").read_text())  # the command line's laws are the interpolated ones
    for h in ("batch_size", "learning_rate"):
        exponents = {r: fits[r].laws.law(h, "env-a").exponent("env-a") for r in fits}
        assert cli[h]["shared"]["env-a"]["exponent"] == pytest.approx(exponents["interpolated"], rel=1e-8)
    assert any(fits["inclusive"].laws.law(h, "env-a").exponent("env-a") != pytest.approx(
        fits["interpolated"].laws.law(h, "env-a").exponent("env-a"), rel=1e-6) for h in ("batch_size", "learning_rate"))


def test_a_bad_method_option_is_one_line(grid_path, tmp_path, capsys):
    law = tmp_path / "law.json"
    law.write_text("{not json")
    code = main(["fit", "analysis", grid_path, "-o", str(tmp_path / "a"), "--delta", "1e9", "--batch-law", str(law)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rlscale: error: --batch-law") and err.count("\n") == 1


@pytest.mark.parametrize("doc", ['[1, 2]', '{"exponent": 0.3, "coef": 5}', '{"exponent": "steep", "coef": {"e": 1}}'])
def test_a_batch_law_of_the_wrong_shape_is_one_line_without_python_internals(grid_path, tmp_path, capsys, doc):
    law = tmp_path / "law.json"
    law.write_text(doc)
    code = main(["fit", "analysis", grid_path, "-o", str(tmp_path / "a"), "--delta", "1e9", "--batch-law", str(law)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rlscale: error:") and err.count("\n") == 1, err
    assert "object has no attribute" not in err and "could not convert" not in err, err


def test_a_strict_crossing_waits_until_the_smoothed_curve_is_past_j():
    from rlscale.laws.thresholds import ThresholdCrossings
    from rlscale.runs import validate_run_table

    curve = [100.0, 300.0, 500.0, 500.0, 520.0, 700.0]  # at J = 500 from step 3, past it from step 5
    rows = [{"benchmark": "gym", "env": "e", "algo": "sac", "utd": 1.0, "batch_size": 256, "learning_rate": 3e-4,
             "critic_params": 1, "seed": s, "env_step": 1000 * (k + 1), "return": v}
            for s in range(2) for k, v in enumerate(curve)]
    runs = validate_run_table(pd.DataFrame(rows))
    inclusive, strict = (ThresholdCrossings([500.0, 700.0], n_bootstrap=2, value_column="return", strict=flag).fit(runs)
                         for flag in (False, True))
    assert inclusive.crossing_[0].tolist() == [3000.0, 6000.0]
    assert strict.crossing_[0, 0] == 5000.0 and np.isnan(strict.crossing_[0, 1])


def _fit_parser(subcommand: str) -> argparse.ArgumentParser:
    fit = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "fit")[1]
    return fit._subparsers._group_actions[0].choices[subcommand]


@pytest.mark.parametrize("subcommand", sorted(FIT_FLAGS))
def test_each_fit_subcommand_has_a_flag_for_exactly_the_options_fit_flags_lists(subcommand):
    """The pipeline's equivalent commands name FIT_FLAGS' options only: a flag missing from the parser is a command
    it refuses."""
    dests = {a.dest for a in _fit_parser(subcommand)._actions}
    assert dests & set(Analysis.option_names()) == set(FIT_FLAGS[subcommand])


def test_analysis_fit_and_params_yaml_share_one_set_of_defaults():
    signature = inspect.signature(Analysis).parameters
    given = {f.name: getattr(DEFAULTS, f.name) for f in dataclasses.fields(DEFAULTS)}
    assert {name: signature[name].default for name in given} == given
    for subcommand in FIT_FLAGS:
        parser = _fit_parser(subcommand)
        assert {a.dest: a.default for a in parser._actions if a.dest in given} == {
            a.dest: given[a.dest] for a in parser._actions if a.dest in given}
