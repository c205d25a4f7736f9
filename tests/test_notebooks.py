"""Every notebook runs through papermill and draws from a saved analysis, never refitting it.

A real ``python3`` kernel executes each notebook (as ``dvc repro`` does) with ``results`` pointing at a
saved analysis of a tiny synthetic sweep in tmp_path; one notebook also runs the pipeline's own way,
reading the committed analysis through params.yaml. Each figure notebook's own cells also run in this process on
the committed analysis, so what its figure shows (which series, which J, which scale) is read from its artists.
Plus structural checks on the committed notebooks.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from rlscale.analysis import Analysis, markdown_table, write_table_k
from rlscale.analysis.tables import TABLE_K_FILES
from rlscale.laws import default_thresholds, make_sweep
from rlscale.pipeline import COMPARISON_NOTEBOOK, FIGURE_NOTEBOOKS, OVERVIEW_NOTEBOOK
from rlscale.plots.style import BASELINE, EXTRAPOLATED_NOTE, FITTED

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
FIGURES = {name: [f"{name}.png", f"{name}.pdf"] for name in FIGURE_NOTEBOOKS if name.startswith("fig_")}
FIGURES["tab_k_coefficients"] = list(TABLE_K_FILES)


def _sweep() -> pd.DataFrame:
    """2 envs × 4 σ × 3 B × 3 η × 3 seeds × 40 evaluations, with TD errors whose gap grows with B·σ."""
    runs = make_sweep(utds=(0.5, 1.0, 2.0, 4.0), batch_sizes=(64, 256, 1024), learning_rates=(2e-4, 8e-4, 3.2e-3),
                      n_seeds=3, n_points=40, max_step=1_500_000)
    train = 0.05 * (1.0 + runs["utd"] * np.log10(runs["learning_rate"] / 1e-5))
    return runs.assign(train_td_error=train, val_td_error=train * (1.0 + 1e-3 * runs["batch_size"] * runs["utd"]))


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """A saved analysis of the sweep as DMC and one as Gym (returns on another scale), and the grid table."""
    root = tmp_path_factory.mktemp("saved")
    runs = _sweep()
    runs.to_parquet(root / "grid.parquet")
    options = {"delta": 1e10, "thresholds": list(default_thresholds(400.0, 800.0, 6)), "n_bootstrap": 4}
    Analysis(**options, hparam_fit_range=(0.5, 2.0), utd_fit_range=(0.5, 2.0)).fit(runs).save(root / "dmc")
    gym = runs.assign(benchmark="gym", **{"return": runs["return"] / 1000.0 * 5000.0})
    Analysis(**options, max_return={"env-a": 5000.0, "env-b": 5000.0}).fit(gym).save(root / "gym")
    return {"grid": root / "grid.parquet", "dmc": root / "dmc", "gym": root / "gym"}


def _execute(name: str, out_dir: Path, parameters: dict) -> nbformat.NotebookNode:
    import papermill

    executed = out_dir / f"{name}.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(executed), parameters=parameters,
                               kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    return nbformat.read(executed, as_version=4)


def _assert_written(out_dir: Path, files: list[str]) -> None:
    for name in files:
        path = out_dir / name
        assert path.is_file() and path.stat().st_size > 0, f"{name} was not written"
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if name.endswith(".pdf"):
            assert path.read_bytes()[:5] == b"%PDF-"


def test_every_notebook_has_an_intro_a_parameters_cell_no_outputs_and_a_python3_kernel():
    names = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert set(FIGURES) | {OVERVIEW_NOTEBOOK, COMPARISON_NOTEBOOK, "explore"} == set(names)
    for name in names:
        book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(book)
        assert book.metadata["kernelspec"]["name"] == "python3"
        code = [c for c in book.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), f"{name}: first code cell is not 'parameters'"
        assert all(c.outputs == [] and c.execution_count is None for c in code), f"{name} has outputs"
        intro = book.cells[0]
        assert intro.cell_type == "markdown" and intro.source.startswith("# "), f"{name}: no title"
        body = intro.source.split("\n", 1)[1].strip()
        assert 2 <= len(re.findall(r"[.!?](\s|$)", body)) <= 3 or name == "explore", f"{name}: 2-3 sentences"


def test_figure_notebooks_take_the_benchmark_and_preset_and_hold_no_data_values():
    for name in [*FIGURES, OVERVIEW_NOTEBOOK]:
        book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        params = book.cells[1].source
        assert re.search(r"^preset = None", params, re.M), name
        assert name == OVERVIEW_NOTEBOOK or re.search(r"^benchmark = \"dmc\"", params, re.M), name
        for value in ("delta", "\nthresholds =", "max_return", "runs_path", "n_bootstrap", "800"):
            assert value not in params, f"{name}'s parameters cell holds {value!r}: it comes from params.yaml"
        assert "load_and_fit" not in "".join(c.source for c in book.cells) and ".fit(" not in "".join(
            c.source for c in book.cells), f"{name} refits"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_notebook_draws_its_files_from_a_saved_analysis(name, saved, tmp_path):
    _execute(name, tmp_path, {"results": str(saved["dmc"]), "output_dir": str(tmp_path)})
    _assert_written(tmp_path, FIGURES[name])


def _draw_in_process(name: str, parameters: dict) -> dict:
    """The notebook's own code cells run in this process, ``parameters`` set after its parameters cell as papermill
    sets them, so what it drew (``fig``) can be read artist by artist; returns the cells' namespace."""
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    namespace: dict = {}
    for k, source in enumerate(c.source for c in book.cells if c.cell_type == "code"):
        exec(compile(source, f"{name}.ipynb cell {k}", "exec"), namespace)  # the notebook's own code
        if k == 0:
            namespace.update(parameters)
    return namespace


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else []


def _panels(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]


def _bar_span(fig) -> tuple[float, float]:
    """The J colour bar's span (the last axes: the colour bar a one-panel figure adds)."""
    return fig.axes[-1].get_ylim()


def _shows(name: str, fig, a: Analysis) -> None:
    """What the paper's figure ``name`` shows of the saved analysis ``a``: the fitted-hparam runs' laws, the baseline
    beside them where the figure compares them, every J on one colour scale, the proposals, every column."""
    fitted = a.fitted_
    span = pytest.approx((min(fitted.efficiency.thresholds_), max(fitted.efficiency.thresholds_)))
    if name == "fig_a_learning_curves":  # the hardest J, fitted against baseline
        ax = _panels(fig)[0]
        assert [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"] == [max(a.thresholds_)]
        assert {FITTED["label"], BASELINE["label"]} <= {line.get_label() for line in ax.get_lines()}
    elif name in ("fig_b_steps_to_threshold", "fig_d_data_efficiency", "fig_e_compute_vs_data"):  # fitted vs baseline
        texts = " ".join(_texts(fig.axes[0]))
        assert FITTED["label"] in texts and BASELINE["label"] in texts, texts
    elif name == "fig_c_normalized_time":  # every J's points, the fitted-hparam runs' (not the baseline's)
        eff = fitted.efficiency
        assert len(fig.axes[0].collections) == len(eff.thresholds_)
        lowest = eff.points_[np.isclose(eff.points_["threshold"], eff.thresholds_[0])].sort_values("utd")
        np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets(), lowest[["utd", "data"]].to_numpy())
    elif name == "fig_f_iso_performance":  # dotted beyond the measured σ: it was given the efficiency fit
        assert _bar_span(fig) == span and EXTRAPOLATED_NOTE in " ".join(_texts(fig.axes[0])).replace("\n", " ")
    elif name == "fig_g_budget_extrapolation":
        assert _bar_span(fig) == span  # every J of the analysis, as in Figure 1
    elif name == "fig_h_hparam_laws":
        proposed = {float(u) for u in a.hparams_.proposed["utd"]}
        drawn = {float(x) for ax in _panels(fig)[:1] for c in ax.collections if c.get_label().startswith("proposed")
                 for x in c.get_offsets()[:, 0]}
        assert drawn == proposed
    elif name == "fig_i_estimators":
        assert any(line.get_label().startswith("bootstrap fit") for line in _panels(fig)[0].get_lines())
    elif name == "fig_j_overfitting":
        sigma = fitted.efficiency.points_["utd"]
        bars = [ax for ax in fig.axes if ax.get_ylabel() == r"UTD ratio $\sigma$"]
        assert bars and all(bar.get_ylim() == pytest.approx((sigma.min(), sigma.max())) for bar in bars)


@pytest.mark.parametrize("name", sorted(set(FIGURES) - {"tab_k_coefficients"}))
def test_a_figure_notebook_draws_what_its_figure_shows_of_the_pipelines_analysis(name, tmp_path, monkeypatch):
    """On the committed DMC analysis (the tiny sweep above has no D_J law: no frontier to draw)."""
    monkeypatch.chdir(NOTEBOOKS)  # where papermill runs it
    namespace = _draw_in_process(name, {"benchmark": "dmc", "output_dir": str(tmp_path)})
    a = namespace["a"]
    assert a.fitted_.frontier.has_law() and namespace["nb"].results == ROOT / "results" / "dmc" / "analysis"
    _shows(name, namespace["fig"], a)


def test_figure1_notebook_draws_a_column_per_saved_analysis_in_order(saved, tmp_path, monkeypatch):
    monkeypatch.chdir(NOTEBOOKS)
    namespace = _draw_in_process(OVERVIEW_NOTEBOOK, {"results": {"DMC": str(saved["dmc"]), "Gym": str(saved["gym"])},
                                                      "output_dir": str(tmp_path)})
    tops = [ax.get_title().split("\n")[0] for ax in namespace["fig"].axes if "(I)" in ax.get_title()]
    assert tops == ["DMC", "Gym"]


def test_table_k_holds_the_saved_tables(saved, tmp_path):
    _execute("tab_k_coefficients", tmp_path, {"results": str(saved["dmc"]), "output_dir": str(tmp_path)})
    a = Analysis.load(saved["dmc"])
    table = pd.read_csv(tmp_path / "tab_k_coefficients.csv", keep_default_na=False, na_values=[""])
    np.testing.assert_allclose(table["estimate"], a.coefficients()["estimate"], rtol=1e-9)
    assert "| law" in (tmp_path / "tab_k_coefficients.md").read_text()


def test_figure1_notebook_draws_one_column_per_saved_analysis(saved, tmp_path):
    _execute(OVERVIEW_NOTEBOOK, tmp_path, {"results": {"DMC": str(saved["dmc"]), "Gym": str(saved["gym"])},
                                           "output_dir": str(tmp_path)})
    _assert_written(tmp_path, ["fig01_overview.png", "fig01_overview.pdf"])


def test_a_notebook_reads_the_pipelines_analysis_through_params_yaml(tmp_path):
    executed = _execute("fig_g_budget_extrapolation", tmp_path, {"benchmark": "gym", "output_dir": str(tmp_path)})
    _assert_written(tmp_path, ["fig_g_budget_extrapolation.png", "fig_g_budget_extrapolation.pdf"])
    assert not any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))


def test_explore_notebook_fits_a_given_table(saved, tmp_path):
    executed = _execute("explore", tmp_path, {"runs_path": str(saved["grid"]), "n_bootstrap": 5,
                                              "deltas": [1e9, 1e11]})
    assert any(o.get("output_type") == "display_data" for c in executed.cells if c.cell_type == "code"
               for o in c.outputs)


def test_table_k_is_written_by_the_library_the_notebook_calls(saved, tmp_path):
    coefficients, extrapolation = write_table_k(Analysis.load(saved["dmc"]), tmp_path / "k")
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == sorted(TABLE_K_FILES)  # no temp file left
    md = (tmp_path / "k" / "tab_k_coefficients.md").read_text()
    assert md == ("## Fitted coefficients\n\n" + markdown_table(coefficients) + "\n\n## Extrapolation errors\n\n"
                  + markdown_table(extrapolation) + "\n")
    assert pd.read_csv(tmp_path / "k" / "tab_k_extrapolation.csv").shape[0] == len(extrapolation)
