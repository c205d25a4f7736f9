"""The authors preset without the authors' files: one line saying how to get them, nothing written."""

from __future__ import annotations

from rlscale.cli import main


def test_without_the_files_the_authors_step_says_in_one_line_how_to_get_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RLSCALE_AUTHORS_DATA", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    code = main(["pipeline", "authors"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("rlscale: error: gym_sweep: not in RLSCALE_AUTHORS_DATA")
    assert "prestonfu.com" in err and not (tmp_path / "build").exists()
