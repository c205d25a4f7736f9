"""Every notebook runs through papermill on a tiny synthetic table and writes its figure / table files.

A real ``python3`` kernel executes each notebook (as ``dvc repro`` does), with the parameters
pointing at fixture tables in tmp_path; plus structural checks on the committed notebooks.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from rlscale.analysis import load_and_fit, nearest_grid_runs, optimum_for_deltas
from rlscale.laws import make_sweep

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FAST = {"n_bootstrap": 4, "thresholds": [400.0, 500.0, 600.0, 700.0, 800.0], "delta": 1e10}

# notebook -> (extra parameters, files it must write into output_dir)
EXPECTED: dict[str, tuple[dict, list[str]]] = {
    "fig_a_learning_curves": ({}, ["fig_a_learning_curves.png", "fig_a_learning_curves.pdf"]),
    "fig_b_steps_to_threshold": ({}, ["fig_b_steps_to_threshold.png", "fig_b_steps_to_threshold.pdf"]),
    "fig_c_normalized_time": ({}, ["fig_c_normalized_time.png", "fig_c_normalized_time.pdf"]),
    "fig_d_data_efficiency": ({}, ["fig_d_data_efficiency.png", "fig_d_data_efficiency.pdf"]),
    "fig_e_compute_vs_data": ({}, ["fig_e_compute_vs_data.png", "fig_e_compute_vs_data.pdf"]),
    "fig_f_iso_performance": ({}, ["fig_f_iso_performance.png", "fig_f_iso_performance.pdf"]),
    "fig_g_budget_extrapolation": ({}, ["fig_g_budget_extrapolation.png", "fig_g_budget_extrapolation.pdf"]),
    "fig_h_hparam_laws": ({}, ["fig_h_hparam_laws.png", "fig_h_hparam_laws.pdf"]),
    "fig_i_estimators": ({}, ["fig_i_estimators.png", "fig_i_estimators.pdf"]),
    "tab_k_coefficients": ({"hparam_fit_range": [0.5, 2.0], "utd_fit_range": [0.5, 2.0]},
                           ["tab_k_coefficients.csv", "tab_k_extrapolation.csv", "tab_k_coefficients.md"]),
}


def _sweep() -> pd.DataFrame:
    """2 envs × 4 σ × 3 B × 3 η × 3 seeds × 40 evaluations, with TD errors whose gap grows with B·σ."""
    runs = make_sweep(utds=(0.5, 1.0, 2.0, 4.0), batch_sizes=(64, 256, 1024), learning_rates=(2e-4, 8e-4, 3.2e-3),
                      n_seeds=3, n_points=40, max_step=1_500_000)
    train = 0.05 * (1.0 + runs["utd"] * np.log10(runs["learning_rate"] / 1e-5))
    return runs.assign(train_td_error=train, val_td_error=train * (1.0 + 1e-3 * runs["batch_size"] * runs["utd"]))


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tables")
    runs = _sweep()
    paths = {"grid": root / "grid.parquet", "gym": root / "gym.parquet"}
    runs.to_parquet(paths["grid"])
    runs.assign(benchmark="gym", score=runs["return"], **{"return": runs["return"] / 1000.0 * 5000.0}).to_parquet(
        paths["gym"])
    return paths


def _execute(name: str, out_dir: Path, parameters: dict) -> None:
    import papermill

    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out_dir / f"{name}.ipynb"),
                               parameters={**parameters, "output_dir": str(out_dir)}, kernel_name="python3",
                               cwd=str(NOTEBOOKS), progress_bar=False)


def _assert_written(out_dir: Path, files: list[str]) -> None:
    for name in files:
        path = out_dir / name
        assert path.is_file() and path.stat().st_size > 0, f"{name} was not written"
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if name.endswith(".pdf"):
            assert path.read_bytes()[:5] == b"%PDF-"


def test_every_notebook_has_a_parameters_cell_no_outputs_and_a_python3_kernel():
    names = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert set(EXPECTED) | {"fig01_overview", "fig_j_overfitting", "explore"} == set(names)
    for name in names:
        book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(book)
        assert book.metadata["kernelspec"]["name"] == "python3"
        code = [c for c in book.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), f"{name}: first code cell is not 'parameters'"
        assert all(c.outputs == [] and c.execution_count is None for c in code), f"{name} has outputs"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_figure_notebook_writes_its_files(name, tables, tmp_path):
    extra, files = EXPECTED[name]
    _execute(name, tmp_path, {"runs_path": str(tables["grid"]), "fitted_runs_path": None, **FAST, **extra})
    _assert_written(tmp_path, files)


def test_fitted_vs_baseline_notebook_takes_two_tables(tables, tmp_path):
    runs = pd.read_parquet(tables["grid"])
    cells = runs[["env", "utd"]].drop_duplicates()
    nearest_grid_runs(runs, cells.assign(batch_size=256, learning_rate=8e-4)).to_parquet(tmp_path / "fitted.parquet")
    nearest_grid_runs(runs, cells.assign(batch_size=64, learning_rate=3.2e-3)).to_parquet(tmp_path / "baseline.parquet")
    _execute("fig_d_data_efficiency", tmp_path, {"runs_path": str(tables["grid"]), **FAST,
                                                 "fitted_runs_path": str(tmp_path / "fitted.parquet"),
                                                 "baseline_runs_path": str(tmp_path / "baseline.parquet")})
    _assert_written(tmp_path, ["fig_d_data_efficiency.png", "fig_d_data_efficiency.pdf"])


def test_figure1_notebook_draws_one_column_per_benchmark(tables, tmp_path):
    benchmarks = {"DMC": {"runs_path": str(tables["grid"]), "delta": 1e10},
                  "Gym": {"runs_path": str(tables["gym"]), "delta": 4e9, "max_return": {"env-a": 5000.0,
                                                                                       "env-b": 5000.0}}}
    _execute("fig01_overview", tmp_path, {"benchmarks": benchmarks, **FAST})
    _assert_written(tmp_path, ["fig01_overview.png", "fig01_overview.pdf"])


def test_overfitting_notebook_reads_the_td_error_columns(tables, tmp_path):
    _execute("fig_j_overfitting", tmp_path, {"runs_path": str(tables["grid"]), "env": "env-b"})
    _assert_written(tmp_path, ["fig_j_overfitting.png", "fig_j_overfitting.pdf"])


def test_explore_notebook_runs_on_a_given_table(tables, tmp_path):
    _execute("explore", tmp_path, {"runs_path": str(tables["grid"]), "n_bootstrap": 5, "deltas": [1e9, 1e11]})
    executed = nbformat.read(tmp_path / "explore.ipynb", as_version=4)
    assert any(o.get("output_type") == "display_data" for c in executed.cells if c.cell_type == "code"
               for o in c.outputs)


def test_a_costlier_env_step_moves_sigma_star_up(tables):
    a = load_and_fit(pd.read_parquet(tables["grid"]), **FAST)
    moves = optimum_for_deltas(a.frontier, [1e8, 1e12])
    top = moves[np.isclose(moves["threshold"], 800.0)].set_index("delta")["utd"]
    assert top[1e12] > top[1e8]
