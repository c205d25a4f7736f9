"""What a visitor sees without running anything: the README's Figure 1 and the executed notebooks, all
git-tracked pipeline outputs that must be exactly what the pipeline makes from the committed analyses."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml
from matplotlib.testing.compare import calculate_rms
from PIL import Image

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


#: RMS pixel difference (0-255 scale; matplotlib's own image-test measure) up to which two renderings of the same
#: analyses are the same figure, for the README's 256-colour Figure 1 and for the executed notebook's full-size one.
#: Notebook kernels run numpy without its AVX-512 kernels, so x86 CPUs with AVX2 draw the same bytes; numpy's AVX-512
#: kernels (what an Intel CPU used before) differ from its AVX2 ones in the last bit of some plotted coordinates: RMS
#: 0.062 (README) and 0.005 (notebook), the size of difference a CPU outside that set may still make. One plotted
#: number changed by 0.01 % gives 0.10-0.12 and 0.019, by 0.1 % 0.17 and 0.07, by 1 % 0.32 and 0.33: each line fails
#: a 0.1 % change.
README_FIGURE_RMS, NOTEBOOK_FIGURE_RMS = 0.1, 0.03


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def _assert_same_figure(made: bytes, committed: bytes, name: str, tolerance: float) -> None:
    """Bytes on an x86 CPU with AVX2 (as the committing one); elsewhere the same pixels up to last-bit rounding."""
    if made == committed:
        return
    a, b = _rgb(made), _rgb(committed)
    assert a.shape == b.shape, f"{name} is {a.shape[1]}x{a.shape[0]} px, committed {b.shape[1]}x{b.shape[0]}"
    rms = calculate_rms(a, b)
    assert rms <= tolerance, (
        f"{name} is not the one the pipeline makes (RMS {rms:.3f}): run `dvc repro overview` and commit it")


def _without_images(book: nbformat.NotebookNode) -> tuple[str, list[bytes]]:
    images = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                images.append(base64.b64decode(output["data"]["image/png"]))
                output["data"]["image/png"] = ""
    return nbformat.writes(book), images


def test_figure1_and_its_executed_notebook_are_what_the_pipeline_makes(tmp_path, monkeypatch):
    """The overview step rerun on a copy of the committed analyses gives the committed figure and notebook: the
    same bytes on an x86 CPU with AVX2, as the committing one; on another, the same text and figures up to the RMS
    above."""
    for name in ("notebooks", "results", "params.yaml"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    pipeline.overview("params.yaml")
    small = Path("figures") / f"fig1_{PRESET}.png"
    _assert_same_figure((tmp_path / small).read_bytes(), (ROOT / small).read_bytes(), str(small),
                        README_FIGURE_RMS)
    executed = pipeline.EXECUTED_DIR / f"{pipeline.OVERVIEW_NOTEBOOK}.ipynb"
    made_text, made_images = _without_images(nbformat.read(tmp_path / executed, as_version=4))
    text, images = _without_images(nbformat.read(ROOT / executed, as_version=4))
    assert made_text == text, f"{executed} is not the one the pipeline makes: run `dvc repro overview` and commit it"
    assert len(made_images) == len(images), f"{executed} shows {len(made_images)} figures, committed {len(images)}"
    for made, committed in zip(made_images, images, strict=True):
        _assert_same_figure(made, committed, f"{executed}'s figure", NOTEBOOK_FIGURE_RMS)
