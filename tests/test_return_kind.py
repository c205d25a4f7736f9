"""The laws fit the return asked for: the training-episode return (the authors' Gym metric) or the evaluation
return, recorded in every output; a table that does not hold the one asked for is one error line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rlscale.analysis import Analysis, load_runs
from rlscale.analysis.steps import select_return
from rlscale.cli import main
from rlscale.errors import RlscaleError
from rlscale.laws import default_thresholds, make_sweep
from rlscale.runs import RUN_COLUMNS

THRESHOLDS = [float(t) for t in default_thresholds(300.0, 800.0, 8)][-3:]
LAG = 5  # rows: the training return reaches each level this many evaluations after the evaluation return


@pytest.fixture(scope="module")
def grid() -> pd.DataFrame:
    """A synthetic grid whose ``train_return`` is its evaluation return five rows late."""
    table = make_sweep(n_seeds=3, n_points=80).drop(columns="score").sort_values([*RUN_COLUMNS, "env_step"])
    late = table.groupby(list(RUN_COLUMNS), observed=True)["return"].shift(LAG)
    return table.assign(train_return=late.fillna(table["return"].min())).reset_index(drop=True)


def test_auto_keeps_the_tables_return_and_train_swaps_in_the_training_return(grid):
    assert select_return(grid, "auto") is grid and select_return(grid, "eval") is grid
    train = select_return(grid, "train")
    np.testing.assert_array_equal(train["return"], grid["train_return"])
    assert (train["metric"] == "train_return").all()
    assert select_return(train, "train") is train  # already the training return (e.g. the authors' Gym tables)


@pytest.mark.parametrize(("table", "kind", "message"), [
    (lambda g: g.assign(metric="train_return").drop(columns="train_return"), "eval",
     r"^return_kind eval: the run table's return is the training-episode return \(metric train_return\); "),
    (lambda g: g.drop(columns="train_return"), "train", "metric eval_return.* and no train_return column"),
    (lambda g: g.assign(metric="failure_rate"), "train", r"metric failure_rate\)"),
    (lambda g: g, "best", "return_kind must be auto, train or eval, got 'best'"),
])
def test_a_return_the_table_does_not_hold_is_one_error_line(grid, table, kind, message):
    with pytest.raises(RlscaleError, match=message) as err:
        load_runs(table(grid), return_kind=kind)
    assert "\n" not in str(err.value)


def test_the_analysis_fits_the_kind_asked_for_and_records_it(grid):
    options = {"delta": 3e8, "thresholds": THRESHOLDS, "n_bootstrap": 5, "holdout": 0}
    fits = {kind: Analysis(**options, return_kind=kind).fit(grid) for kind in ("auto", "train")}
    assert fits["auto"].get_params()["return_kind"] == "auto" and fits["train"].get_params()["return_kind"] == "train"
    assert fits["auto"].sources_["grid"]["metric"] == "eval_return"
    assert fits["train"].sources_["grid"]["metric"] == "train_return"
    first = {kind: a.crossings_.to_frame()["crossing"].dropna().median() for kind, a in fits.items()}
    assert first["train"] > first["auto"]  # the lagging return crosses later


def test_fit_commands_take_return_kind_and_write_what_they_fitted(grid, tmp_path, capsys):
    path = tmp_path / "runs.parquet"
    grid.to_parquet(path)
    common = ["--thresholds", *map(str, THRESHOLDS), "--n-bootstrap", "5"]
    assert main(["fit", "hparams", str(path), "-o", str(tmp_path / "h"), *common, "--return-kind", "train"]) == 0
    doc = json.loads((tmp_path / "h" / "hparams.json").read_text())
    assert doc["return_kind"] == "train" and doc["metric"] == "train_return"
    assert main(["fit", "frontier", str(path), "-o", str(tmp_path / "f"), *common, "--delta", "3e8",
                 "--holdout", "0"]) == 0
    doc = json.loads((tmp_path / "f" / "frontier.json").read_text())
    assert doc["return_kind"] == "auto" and doc["metric"] == "eval_return"
    capsys.readouterr()
    grid.drop(columns="train_return").to_parquet(path)
    assert main(["fit", "hparams", str(path), "-o", str(tmp_path / "x"), *common, "--return-kind", "train"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlscale: error: return_kind train: ") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
