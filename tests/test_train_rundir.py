"""The run folder: one status record with one reader and one writer; older records still read."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_sweep

from rlscale.cli import main
from rlscale.errors import RlscaleError
from rlscale.train.rundir import CHUNK_KEY, RunDir, Status

TINY = tiny_sweep()


def test_a_status_round_trips_and_keeps_the_on_disk_chunk_key(tmp_path):
    run = RunDir(tmp_path / "m0")
    status = Status("running", 400, chunk=("m0", "m1"), resumed_from=200, updates=150, effective_utd=0.5)
    run.write_status(status)
    doc = json.loads((run.path / "status.json").read_text())
    assert doc[CHUNK_KEY] == ["m0", "m1"] and doc["status"] == "running" and doc["env_step"] == 400
    assert run.read_status() == status


def test_status_records_of_older_versions_read(tmp_path):
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    (run.path / "status.json").write_text(json.dumps({  # the old PQL trainer's record
        "status": "finished", "reason": None, "env_step": 6144, "num_envs": 16, "effective_utd": 0.5,
        "max_update_lag": 3, "updates_per_s": 10.0, "env_steps_per_s": 100.0, "train_s": 60.0, "eval_s": 1.0}))
    status = run.read_status()
    assert status.settled and status.env_step == 6144 and status.chunk is None and status.max_update_lag == 3


@pytest.mark.parametrize("text", ["", "{not json", '{"status": "done"}', "[]"])
def test_a_corrupt_status_is_one_line_naming_the_file_in_sweep_and_collect(tmp_path, capsys, text):
    run = RunDir(tmp_path / "runs" / "sac_Pendulum-v1_utd1_bs16_lr1e-3_s0")
    run.path.mkdir(parents=True)
    (run.path / "status.json").write_text(text)
    with pytest.raises(RlscaleError, match=f"{run.path / 'status.json'}: unreadable run status"):
        run.read_status()
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text(TINY)
    assert main(["sweep", str(sweep), "-o", str(tmp_path / "runs")]) == 1  # recorded failed; other runs go on
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{run.path / 'status.json'}: unreadable run status" in err
    (result,) = json.loads((tmp_path / "runs" / "sweep_tiny.json").read_text())["runs"]
    assert result["status"] == "failed" and f"{run.path / 'status.json'}: unreadable run status" in result["reason"]
    assert main(["collect", str(tmp_path / "runs"), "-o", str(tmp_path / "t.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # the run is skipped (unreadable status), not a traceback
    assert f"no finished runs to collect (1 run folder(s) skipped: {run.path}: " in err  # and the error says why


def test_a_file_where_the_run_folder_should_be_is_one_line(tmp_path, capsys):
    (tmp_path / "r").write_text("not a folder")
    assert main(["train", "--env", "gym:Pendulum-v1", "--algo", "sac", "--utd", "1", "--batch-size", "16",
                 "--learning-rate", "1e-3", "--env-steps", "100", "--eval-every", "50", "--warmup-steps", "20",
                 "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "r is a file, not a folder" in err
