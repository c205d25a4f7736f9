"""Library messages name the library's parameters (``algo=``); the command line names the flag that sets each.

A notebook calling :func:`rlscale.importers.import_csv` cannot "pass --benchmark"; a shell user cannot pass
``benchmark=``. The library says ``name=`` and lists the names in the error's ``params``; ``rlscale.cli`` rewrites
them to the flags of the command that ran (:mod:`rlscale.cli._flags`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest

import rlscale
from rlscale.cli import build_parser, main
from rlscale.cli._flags import command_flags, in_cli_terms
from rlscale.errors import RlscaleError
from rlscale.importers import import_csv, import_qscaled, import_wandb_csv

PACKAGE = Path(rlscale.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
#: a string that is exactly one flag token (``"--workers"``, the ``"--max-return="`` of ``f"--max-return={env}"``) is
#: an element of a command line being built (the pipeline echoes each step as the ``rlscale`` command it equals), not
#: a message; a message's flag has words or a space around it (``f"--gpus-per-run {gpus}"``)
ARGV_TOKEN = re.compile(r"--[a-z][a-z0-9-]*=?")
#: flags of external tools in the command lines the library echoes: (file name, flag) -> why it is no message
EXTERNAL = {("pipeline.py", "--cwd"): "papermill's own option, in the papermill command the notebook step echoes"}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants: documentation may show the command line, messages may not."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _flag_mentions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docs = _docstrings(tree)
    return [f"{path}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
            and not ARGV_TOKEN.fullmatch(node.value)
            and any((path.name, flag) not in EXTERNAL for flag in FLAG.findall(node.value))]


def test_library_strings_name_no_cli_flags():
    library = [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] != "cli"]
    assert len(library) > 20
    assert [m for p in library for m in _flag_mentions(p)] == []


def test_the_scan_sees_a_flag_in_an_f_string_message(tmp_path):
    (tmp_path / "m.py").write_text('"""Doc: ``--algo`` is fine here."""\nx = 1\n'
                                   'raise ValueError(f"{x}: pass --algo NAME")\n')
    assert _flag_mentions(tmp_path / "m.py") == [f"{tmp_path / 'm.py'}:3: ': pass --algo NAME'"]


def _flags(*argv: str) -> dict:
    parser = build_parser()
    return command_flags(parser, parser.parse_args(argv))


def test_a_parameter_becomes_the_flag_that_sets_it_with_its_value_after_a_space():
    flags = _flags("import", "csv", "c.csv", "-o", "r.csv")
    error = RlscaleError("pass benchmark=NAME, or constants= with env=ID; metric=x and metric=", params=(
        "benchmark", "constants", "metric"))
    assert in_cli_terms(error, flags) == "pass --benchmark NAME, or --set with env=ID; --metric x and --metric"
    named = RlscaleError("output= names a folder", params=("output",))  # -o and --output: the long one, as named
    assert in_cli_terms(named, flags) == "--output names a folder"


def test_a_switch_given_as_true_becomes_the_bare_flag():
    error = RlscaleError("no runs; include_unfinished=True takes unfinished ones too", params=("include_unfinished",))
    assert in_cli_terms(error, _flags("collect", "runs", "-o", "t.csv")) == (
        "no runs; --include-unfinished takes unfinished ones too")


def test_a_parameter_the_command_has_no_flag_for_and_unlisted_names_stay_as_they_are():
    error = RlscaleError("missing from run_configs=: a (utd=2)", params=("run_configs",))
    assert in_cli_terms(error, _flags("import", "isaac", "x.csv", "-o", "r.csv")) == str(error)
    assert in_cli_terms(error, _flags("import", "wandb-csv", "x.csv", "-o", "r.csv", "--run-configs", "c.csv")) == (
        "missing from --run-configs: a (utd=2)")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("rlscale: error: ") and err.count("\n") == 1, err
    return err


def test_an_unknown_benchmark_names_benchmark_in_python_and_the_flag_on_the_command_line(tmp_path, capsys):
    pd.DataFrame({"env": "my-robot", "utd": 1, "batch_size": 64, "learning_rate": 1e-4, "seed": 0,
                  "env_step": [0, 500], "return": [1.0, 2.0], "metric": "eval_return"}).to_csv(tmp_path / "c.csv",
                                                                                            index=False)
    with pytest.raises(RlscaleError, match=r"pass benchmark=NAME$") as caught:
        import_csv(tmp_path / "c.csv")
    assert caught.value.params == ("benchmark",)
    assert main(["import", "csv", str(tmp_path / "c.csv"), "-o", str(tmp_path / "r.csv")]) == 2
    assert _one_error_line(capsys).endswith("pass --benchmark NAME\n")


def test_half_a_step_grid_names_both_parameters_in_python_and_both_flags_on_the_command_line(tmp_path, capsys):
    with pytest.raises(RlscaleError, match=r"give both env_step_start= and env_step_freq=, or neither$"):
        import_qscaled(tmp_path / "z.zip", env_step_start=0)
    assert main(["import", "qscaled", str(tmp_path / "z.zip"), "-o", str(tmp_path / "r.csv"),
                 "--env-step-start", "0"]) == 2
    assert _one_error_line(capsys) == ("rlscale: error: qscaled zip: give both --env-step-start and --env-step-freq, "
                                       "or neither\n")


def test_a_bad_group_size_names_group_size_in_python_and_the_flag_on_the_command_line(tmp_path, capsys):
    pd.DataFrame({"Step": [0, 100], "utd1 - eval/return": [1.0, 2.0]}).to_csv(tmp_path / "w.csv", index=False)
    with pytest.raises(RlscaleError, match=r"^group_size= must be >= 1, got 0$"):
        import_wandb_csv(tmp_path / "w.csv", name_pattern=r"utd(?P<utd>\d)", group_size=0)
    assert main(["import", "wandb-csv", str(tmp_path / "w.csv"), "-o", str(tmp_path / "r.csv"), "--name-pattern",
                 r"utd(?P<utd>\d)", "--group-size", "0"]) == 2
    assert _one_error_line(capsys) == "rlscale: error: --group-size must be >= 1, got 0\n"
