"""``rlscale collect``: finished runs -> one validated run table; skipped runs reported; one-line errors."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from rlscale.cli import main
from rlscale.runs import read_run_table
from rlscale.train.config import RunConfig, Runtime
from rlscale.train.loop import RunFailed, train_run

TINY = {"env": "gym:Pendulum-v1", "algo": "sac", "utd": 1.0, "batch_size": 16, "learning_rate": 1e-3,
        "env_steps": 200, "eval_every": 100, "eval_episodes": 1, "warmup_steps": 50, "critic_width": 16,
        "critic_depth": 1}
CPU = Runtime(device="cpu", quiet=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished seeds (one in a nested sweep folder) and a run that diverged after its first evaluation."""
    root = tmp_path_factory.mktemp("collect") / "runs"
    train_run(RunConfig(**TINY, seed=0), root / "a_s0", CPU)
    train_run(RunConfig(**TINY, seed=1), root / "nested" / "a_s1", CPU)
    diverging = {**TINY, "learning_rate": 1e12, "utd": 4.0, "env_steps": 600, "warmup_steps": 100, "seed": 0}
    with pytest.raises(RunFailed):
        train_run(RunConfig(**diverging), root / "diverged", CPU)
    (root / "crashed").mkdir()  # a run that died before writing anything but its sweep log
    (root / "crashed" / "train.log").write_text("$ rlscale train ...\n")
    return root


def test_collect_concatenates_finished_runs_into_a_valid_table(runs, tmp_path, capsys):
    out = tmp_path / "table.parquet"
    assert main(["collect", str(runs), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    table = read_run_table(out, min_seeds=2)
    assert sorted(table["run_id"].unique()) == ["a_s0", "nested/a_s1"]
    assert len(table) == 4 and sorted(table["seed"].unique()) == [0, 1]
    assert {"flops", "updates", "train_td_error", "val_td_error"} <= set(table.columns)
    skipped = [line for line in captured.err.splitlines() if "skipped" in line]
    assert len(skipped) == 2 and "crashed: failed before its config.json" in skipped[0]
    assert "diverged: failed (non-finite" in skipped[1]
    assert "2 runs, 4 rows (2 skipped)" in captured.out
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]  # atomic write: no temp files left


def test_include_unfinished_takes_the_failed_run_up_to_its_failure(runs, tmp_path, capsys):
    out = tmp_path / "table.csv"
    assert main(["collect", str(runs), "-o", str(out), "--include-unfinished"]) == 0
    table = pd.read_csv(out)
    assert sorted(table["run_id"].unique()) == ["a_s0", "diverged", "nested/a_s1"]
    assert "included unfinished" in capsys.readouterr().err


def test_no_finished_runs_is_a_one_line_error_and_writes_nothing(runs, tmp_path, capsys):
    only_failed = tmp_path / "only_failed"
    shutil.copytree(runs / "diverged", only_failed / "diverged")
    out = tmp_path / "t.parquet"
    assert main(["collect", str(only_failed), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlscale: error:") and "no finished runs" in err
    assert not out.exists()
    assert main(["collect", str(tmp_path / "missing"), "-o", str(out)]) == 2
    assert "not a folder of runs" in capsys.readouterr().err


def test_collect_writes_the_format_its_suffix_names_in_any_case_and_refuses_other_names(runs, tmp_path, capsys):
    assert main(["collect", str(runs), "-o", str(tmp_path / "T.PARQUET")]) == 0
    assert sorted(pd.read_parquet(tmp_path / "T.PARQUET")["run_id"].unique()) == ["a_s0", "nested/a_s1"]
    assert main(["collect", str(runs), "-o", str(tmp_path / "T.CSV")]) == 0
    assert len(pd.read_csv(tmp_path / "T.CSV")) == 4
    for name in ("T.PARQUET", "T.CSV"):  # and the fits read them back
        assert len(read_run_table(tmp_path / name)) == 4
    capsys.readouterr()
    for name in ("t.txt", "t", "t.csv.gz"):
        assert main(["collect", str(runs), "-o", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "use a .parquet or .csv file name" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["T.CSV", "T.PARQUET"]


def test_folders_without_a_readable_config_are_skipped_one_line_each_saying_why(runs, tmp_path, capsys):
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    shutil.copytree(runs / "a_s0", copy / "corrupt")
    (copy / "corrupt" / "config.json").write_text('{"settings": {')  # not the twin of a_s0 it would look like
    assert main(["collect", str(copy), "-o", str(tmp_path / "t.parquet")]) == 0
    err = capsys.readouterr().err
    assert f"rlscale: skipped {copy / 'crashed'}: failed before its config.json was written" in err
    assert f"rlscale: skipped {copy / 'corrupt'}: unreadable config.json (JSONDecodeError: " in err
    assert sorted(read_run_table(tmp_path / "t.parquet")["run_id"].unique()) == ["a_s0", "nested/a_s1"]
    only_crashed = tmp_path / "only_crashed"
    shutil.copytree(runs / "crashed", only_crashed / "crashed")
    assert main(["collect", str(only_crashed), "-o", str(tmp_path / "u.parquet"), "--include-unfinished"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(1 run folder(s) skipped: " in err and "see its train.log" in err, err
    assert "--include-unfinished" not in err  # it would not help


def test_the_same_run_in_two_folders_is_refused(runs, tmp_path, capsys):
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    shutil.copytree(runs / "a_s0", copy / "again" / "a_s0")
    assert main(["collect", str(copy), "-o", str(tmp_path / "t.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a_s0, again/a_s0 hold the same run" in err


def test_runs_behind_links_are_collected_once_and_a_link_cycle_ends_the_walk(runs, tmp_path, capsys):
    """Runs gathered as links to where they were trained were not found (0 runs); a link to a folder already walked
    is the same folder, not a second copy of its runs, and a link back up the tree is walked once."""
    gathered = tmp_path / "gathered"
    gathered.mkdir()
    (gathered / "first").symlink_to(runs / "a_s0", target_is_directory=True)
    (gathered / "nested").symlink_to(runs / "nested", target_is_directory=True)
    (gathered / "second").symlink_to(runs / "a_s0", target_is_directory=True)
    (gathered / "nested_again").symlink_to(gathered, target_is_directory=True)
    out = tmp_path / "t.parquet"
    assert main(["collect", str(gathered), "-o", str(out)]) == 0
    assert sorted(read_run_table(out)["run_id"].unique()) == ["first", "nested/a_s1"]
    assert "2 runs, 4 rows (0 skipped)" in capsys.readouterr().out


def test_unfinished_runs_without_rows_yet_are_skipped_saying_so_even_when_unfinished_ones_are_taken(runs, tmp_path,
                                                                                                    capsys):
    """A run just started (config written, no curve yet) and one whose curve has no rows are skipped by name, not
    read as unreadable or taken as a run of no rows."""
    import json

    copy = tmp_path / "runs"
    shutil.copytree(runs / "a_s0", copy / "a_s0")
    for name in ("starting", "empty"):
        shutil.copytree(runs / "nested" / "a_s1", copy / name)
        (copy / name / "status.json").write_text(json.dumps({"status": "running", "reason": None, "env_step": 0}))
    (copy / "starting" / "curve.parquet").unlink()
    curve = pd.read_parquet(copy / "empty" / "curve.parquet")
    curve.iloc[:0].to_parquet(copy / "empty" / "curve.parquet")
    assert main(["collect", str(copy), "-o", str(tmp_path / "t.parquet"), "--include-unfinished"]) == 0
    err = capsys.readouterr().err
    assert f"rlscale: skipped {copy / 'starting'}: running, no curve.parquet yet" in err, err
    assert f"rlscale: skipped {copy / 'empty'}: running, empty curve.parquet" in err, err
    assert read_run_table(tmp_path / "t.parquet")["run_id"].unique().tolist() == ["a_s0"]
