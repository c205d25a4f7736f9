"""What a visitor sees without running anything: the README's Figure 1 and the executed notebooks, all
git-tracked pipeline outputs that must be exactly what the pipeline makes from the committed analyses."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from rlscale import pipeline

ROOT = Path(__file__).resolve().parents[1]
PRESET = yaml.safe_load((ROOT / "params.yaml").read_text())["preset"]
BENCHMARKS = pipeline.benchmark_names(ROOT / "params.yaml")
EXECUTED = ROOT / pipeline.EXECUTED_DIR


def _tracked(path: Path) -> bool:
    return subprocess.run(["git", "ls-files", "--error-unmatch", str(path.relative_to(ROOT))], cwd=ROOT,
                          capture_output=True).returncode == 0


def test_the_readme_opens_with_the_committed_small_figure1_and_links_every_executed_notebook():
    readme = (ROOT / "README.md").read_text()
    small = ROOT / "figures" / f"fig1_{PRESET}.png"
    head = readme.split("\n## ", 1)[0]
    assert f"](figures/fig1_{PRESET}.png)" in head, "the README's opening shows no Figure 1"
    assert small.is_file() and _tracked(small), f"{small.name} is not committed"
    assert small.stat().st_size < 300_000, f"{small.name} is {small.stat().st_size} bytes: keep it small"
    linked = set(re.findall(r"\]\((figures/executed/[^)]+\.ipynb)\)", readme))
    expected = {f"figures/executed/{pipeline.OVERVIEW_NOTEBOOK}.ipynb"} | {
        f"figures/executed/{bench}/{name}.ipynb" for bench in BENCHMARKS for name in pipeline.FIGURE_NOTEBOOKS}
    assert expected <= linked, f"README links no executed copy of {sorted(expected - linked)}"
    for name in expected:
        assert (ROOT / name).is_file() and _tracked(ROOT / name), f"{name} is not committed"


@pytest.mark.parametrize("bench", BENCHMARKS)
def test_every_executed_notebook_shows_its_figure_and_holds_no_timings_or_machine_paths(bench):
    for name in pipeline.FIGURE_NOTEBOOKS:
        book = nbformat.read(EXECUTED / bench / f"{name}.ipynb", as_version=4)
        outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], f"{bench}/{name} holds an error"
        assert name.startswith("tab_") or any("image/png" in o.get("data", {}) for o in outputs), (
            f"{bench}/{name}: its figure is not shown")
        text = nbformat.writes(book)
        for leak in (str(ROOT), "start_time", "end_time", "iopub."):
            assert leak not in text, f"{bench}/{name} holds {leak!r}: it changes from run to run"


def test_figure1_and_its_executed_notebook_are_what_the_pipeline_makes(tmp_path, monkeypatch):
    """The overview step rerun on a copy of the committed analyses gives the committed bytes."""
    for name in ("notebooks", "results", "params.yaml"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    pipeline.overview("params.yaml")
    for made in (Path("figures") / f"fig1_{PRESET}.png", pipeline.EXECUTED_DIR / f"{pipeline.OVERVIEW_NOTEBOOK}.ipynb"):
        assert (tmp_path / made).read_bytes() == (ROOT / made).read_bytes(), (
            f"{made} is not the one the pipeline makes: run `dvc repro overview` and commit it")
