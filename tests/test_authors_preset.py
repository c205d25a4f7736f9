"""The authors preset without the authors' files: one line saying how to get them, nothing written."""

from __future__ import annotations

import pytest

from rlscale.cli import main
from rlscale.errors import RlscaleError
from rlscale.pipeline import compare_authors


def test_without_the_files_the_authors_step_says_in_one_line_how_to_get_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RLSCALE_AUTHORS_DATA", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    code = main(["pipeline", "authors"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("rlscale: error: gym_sweep: not in RLSCALE_AUTHORS_DATA")
    assert "prestonfu.com" in err and not (tmp_path / "build").exists()


def test_the_comparison_without_the_authors_fits_is_one_line_and_writes_nothing(tmp_path):
    """A fresh clone or Binder: the authors' runs and their fits are never committed."""
    with pytest.raises(RlscaleError, match=r"no fits of the authors' runs here; run `make authors` first") as caught:
        compare_authors(tmp_path)
    assert "\n" not in str(caught.value) and not any(tmp_path.iterdir())
