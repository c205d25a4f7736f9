"""The README's Python example, run as written on the embedded data: an example that fits no law teaches nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_python_chain_fits_data_efficiency_laws_on_the_embedded_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"\*\*In Python\*\*.*?```python\n(.*?)```", readme, re.S)
    assert block, "the README's **In Python** example is gone"
    code = block.group(1).replace('"data/runs/', f'"{ROOT / "data" / "runs"}/')
    monkeypatch.chdir(tmp_path)  # the example saves to fit/dmc
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own code
    from rlscale.analysis import Analysis
    from rlscale.laws.summary import OK

    a = scope["a"]
    assert (a.fitted_.efficiency.params_["status"] == OK).any(), a
    assert repr(Analysis.load(tmp_path / "fit" / "dmc")) == repr(a)
    answers = a.predict(utds=[0.5, 4], budgets=[1e11])
    assert {"batch_size", "data_to_threshold", "utd_optimal"} <= set(answers["quantity"]) and (
        answers["status"] == OK).any()


def test_the_readme_predict_command_runs_as_written_on_the_committed_analysis(monkeypatch, capsys):
    from rlscale.cli import main

    command = re.search(r"`rlscale fit predict ([^`]*)`", (ROOT / "README.md").read_text())
    assert command, "the README's `rlscale fit predict` example is gone"
    monkeypatch.chdir(ROOT)  # its analysis folder is the repository's own
    assert main(["fit", "predict", *command.group(1).split()]) == 0
    out = capsys.readouterr()
    assert "utd_optimal" in out.out and "sign_undetermined" in out.out
    assert "extrapolate a law whose exponent's 95% interval includes 0" in out.err  # as the README says of σ*(F)
