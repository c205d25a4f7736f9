"""Exact resume: a run killed with SIGKILL and re-run gives the same curve as an uninterrupted one (CPU)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import kill_9_after_checkpoint

from rlscale.train.config import RunConfig, Runtime
from rlscale.train.loop import train_run

ARGS = {"env": "gym:Pendulum-v1", "algo": "sac", "utd": 1.0, "batch_size": 16, "learning_rate": 1e-3, "seed": 3,
        "env_steps": 2000, "eval_every": 200, "eval_episodes": 1, "critic_width": 16, "critic_depth": 1,
        "warmup_steps": 100, "val_fraction": 0.05}
CPU = Runtime(device="cpu", threads=1, quiet=True)
KEEP = Runtime(device="cpu", threads=1, quiet=True, keep_checkpoint=True)
COMPARED = ["env_step", "return", "updates", "flops", "train_td_error", "val_td_error", "critic_params", "run_id"]


def _command(run_dir) -> list[str]:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in ARGS.items()]
    return [sys.executable, "-m", "rlscale.cli", "train", *flags, "--device=cpu", "--threads=1", "-o", str(run_dir)]


def test_kill_9_then_rerun_gives_the_uninterrupted_curve(tmp_path):
    reference = tmp_path / "a" / "run"
    train_run(RunConfig(**ARGS), reference, CPU)

    run = tmp_path / "b" / "run"
    rows_at_kill = kill_9_after_checkpoint(_command(run), run)

    done = subprocess.run(_command(run), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stderr and "from env step 0" not in done.stderr
    assert json.loads((run / "status.json").read_text())["status"] == "finished"

    ours, theirs = pd.read_parquet(run / "curve.parquet"), pd.read_parquet(reference / "curve.parquet")
    assert rows_at_kill < len(ours)
    assert ours["env_step"].tolist() == list(range(200, 2001, 200))  # nothing missing, nothing duplicated
    pd.testing.assert_frame_equal(ours[COMPARED], theirs[COMPARED], check_exact=True)


def test_rows_after_the_last_checkpoint_are_recomputed_identically(tmp_path):
    """A run stopped after the last checkpoint (status still running) drops and recomputes the later rows."""
    cfg = RunConfig(**{**ARGS, "env_steps": 1000, "checkpoint_every": 500})
    run = tmp_path / "run"
    train_run(cfg, run, KEEP)
    full = pd.read_parquet(run / "curve.parquet")
    (run / "status.json").write_text(json.dumps({"status": "running", "reason": None, "env_step": 1000}))
    status = train_run(cfg, run, CPU)
    assert status.resumed_from == 600  # first episode end (200-step episodes) at least 500 steps after 0
    pd.testing.assert_frame_equal(pd.read_parquet(run / "curve.parquet")[COMPARED], full[COMPARED],
                                  check_exact=True)


def test_a_run_folder_moved_under_a_new_name_before_it_finished_resumes_where_it_stopped(tmp_path):
    """Its checkpoint named the old folder; a single run's own checkpoint is its own under any name."""
    cfg = RunConfig(**{**ARGS, "env_steps": 1000, "checkpoint_every": 500})
    train_run(cfg, tmp_path / "old", KEEP)
    full = pd.read_parquet(tmp_path / "old" / "curve.parquet")
    (tmp_path / "old" / "status.json").write_text(json.dumps({"status": "running", "reason": None, "env_step": 1000}))
    (tmp_path / "old").rename(tmp_path / "new")
    status = train_run(cfg, tmp_path / "new", CPU)
    assert status.resumed_from == 600  # not a silent restart from env step 0
    resumed = pd.read_parquet(tmp_path / "new" / "curve.parquet")
    assert resumed["run_id"].unique().tolist() == ["new"]  # one name in the curve: its rows from before the move too
    pd.testing.assert_frame_equal(resumed[COMPARED].drop(columns="run_id"), full[COMPARED].drop(columns="run_id"),
                                  check_exact=True)


@pytest.mark.parametrize("damage", [b"", b"not a checkpoint"])
def test_a_corrupt_checkpoint_is_one_line_naming_the_way_out_and_removing_it_restarts_the_run(tmp_path, damage):
    cfg = RunConfig(**{**ARGS, "env_steps": 400})
    run = tmp_path / "run"
    train_run(cfg, run, KEEP)
    (run / "status.json").write_text(json.dumps({"status": "running", "reason": None, "env_step": 0}))
    (run / "checkpoint.pt").write_bytes(damage)
    from rlscale.errors import RlscaleError

    with pytest.raises(RlscaleError, match="cannot read checkpoint") as caught:
        train_run(cfg, run, CPU)
    # one line that says what to do (torch's own text ran on over several sentences and named no way out)
    assert "\n" not in str(caught.value) and str(caught.value).endswith("remove it to restart the run from its first "
                                                                       "step (a vectorised chunk's runs restart "
                                                                       "together)")
    (run / "checkpoint.pt").unlink()  # the way out it names
    assert train_run(cfg, run, CPU).status == "finished"
    assert pd.read_parquet(run / "curve.parquet")["env_step"].is_unique
