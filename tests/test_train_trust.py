"""Runs and sweeps you can trust: no stale results, one writer per folder, no silent no-op runs, no tracebacks,
workers that die with their driver, files other users can read, progress off a terminal."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_sweep

from rlscale import io
from rlscale.cli import main
from rlscale.errors import RlscaleError
from rlscale.train.config import RunConfig
from rlscale.train.rundir import LOCK, STATUS, FolderLock
from rlscale.train.sweep import SWEEP_LOCK

TINY = tiny_sweep()
RUN = "sac_Pendulum-v1_utd1_bs16_lr1e-3_s0"
TRAIN = ["train", "--env", "gym:Pendulum-v1", "--algo", "sac", "--utd", "1", "--batch-size", "16",
         "--learning-rate", "1e-3", "--eval-every", "100", "--eval-episodes", "1", "--warmup-steps", "50",
         "--critic-width", "16", "--critic-depth", "1", "--threads", "1"]


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _one_error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlscale: error: ") and "Traceback" not in err, err
    return err


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rlscale.cli", *args]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie has exited
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------- 1. identity
def test_a_changed_sweep_is_refused_naming_the_fields_and_reruns_with_rerun_changed(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["sweep", str(_write(tmp_path, TINY)), "-o", str(out)]) == 0
    changed = _write(tmp_path, tiny_sweep(env_steps=300, critic_width=8))
    capsys.readouterr()
    assert main(["sweep", str(changed), "-o", str(out)]) == 2
    err = _one_error_line(capsys)
    assert "env_steps: 200 -> 300" in err and "critic_width: 16 -> 8" in err and "--rerun-changed" in err
    assert main(["sweep", str(changed), "-o", str(out), "--dry-run", "--rerun-changed"]) == 0
    assert f"{RUN}\tchanged: to rerun" in capsys.readouterr().out
    assert main(["sweep", str(changed), "-o", str(out), "--rerun-changed"]) == 0
    assert main(["collect", str(out), "-o", str(tmp_path / "t.parquet")]) == 0
    table = pd.read_parquet(tmp_path / "t.parquet")
    assert table["env_step"].max() == 300  # the new curve, not the old 200-step one
    saved = json.loads((out / RUN / "config.json").read_text())["settings"]
    assert saved["critic_width"] == 8 and saved["env_steps"] == 300
    assert main(["sweep", str(changed), "-o", str(out)]) == 0  # unchanged now: skipped
    assert "1 skipped (finished before)" in capsys.readouterr().out


def test_a_sweep_that_no_longer_lists_runs_it_ran_into_its_folder_is_refused_and_a_growing_one_runs(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["sweep", str(_write(tmp_path, TINY)), "-o", str(out)]) == 0
    assert main(["sweep", str(_write(tmp_path, tiny_sweep(seeds=2))), "-o", str(out)]) == 0  # more seeds: fine
    summary = (out / "sweep_tiny.json").read_text()
    shrunk = _write(tmp_path, tiny_sweep(utd=[2]))
    capsys.readouterr()
    for extra in ([], ["--dry-run"]):
        assert main(["sweep", str(shrunk), "-o", str(out), *extra]) == 2
        err = _one_error_line(capsys)
        assert (f"{out} holds 2 run(s) of an earlier version of sweep tiny that {shrunk} no longer lists "
                f"(e.g. {RUN})") in err
        assert "pass another --output, or remove those run folders" in err
    assert (out / "sweep_tiny.json").read_text() == summary and not (out / RUN.replace("utd1", "utd2")).exists()
    for name in (RUN, RUN.replace("_s0", "_s1")):
        shutil.rmtree(out / name)
    assert main(["sweep", str(shrunk), "-o", str(out)]) == 0
    assert main(["collect", str(out), "-o", str(tmp_path / "t.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "t.parquet")["utd"].unique().tolist() == [2.0]


def test_a_sweep_refuses_an_output_holding_run_folders_it_does_not_list_even_under_another_sweep_name(tmp_path,
                                                                                                       capsys):
    """The earlier-version check went by the sweep's name: the same grid saved under a new file name, with a σ
    changed, went on beside the old runs, and collect took both."""
    out = tmp_path / "runs"
    assert main(["sweep", str(_write(tmp_path, TINY)), "-o", str(out)]) == 0
    renamed = _write(tmp_path, tiny_sweep(name="tiny_v2", utd=[2]), "tiny_v2.yaml")
    capsys.readouterr()
    for extra in (["--dry-run"], []):
        assert main(["sweep", str(renamed), "-o", str(out), *extra]) == 2
        err = _one_error_line(capsys)
        assert (f"{out} holds 1 run folder(s) that {renamed} does not list (e.g. {RUN}: another sweep's, or copied "
                "in); collect would mix them with this sweep's runs: pass another --output") in err
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [RUN, "sweep_tiny.json"]  # none ran
    same = _write(tmp_path, tiny_sweep(name="tiny_again"), "again.yaml")  # the same runs under another name: no mix
    assert main(["sweep", str(same), "-o", str(out)]) == 0
    assert "1 skipped (finished before)" in capsys.readouterr().out


@pytest.mark.parametrize("damaged", ["curve.parquet", "config.json"])
def test_a_finished_run_whose_curve_or_config_is_damaged_is_reported_failed_not_skipped(tmp_path, capsys, damaged):
    """A finished run with a truncated curve (a disk fault, a bad copy) was skipped as finished on every rerun, while
    collect left it out of the table."""
    out = tmp_path / "runs"
    sweep = _write(tmp_path, TINY)
    assert main(["sweep", str(sweep), "-o", str(out)]) == 0
    path = out / RUN / damaged
    path.write_bytes(path.read_bytes()[:7])
    capsys.readouterr()
    assert main(["sweep", str(sweep), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "0 skipped (finished before), 1 failed" in captured.out
    summary = json.loads((out / "sweep_tiny.json").read_text())
    reason = summary["runs"][0]["reason"]
    assert reason.startswith(f"finished before, but {path}") and reason.endswith(f"remove {out / RUN} to run it again")
    assert main([*TRAIN, "--env-steps", "200", "-o", str(out / RUN)]) == 2
    assert str(path) in _one_error_line(capsys)  # train names the damaged file too
    shutil.rmtree(out / RUN)  # the way out it names
    assert main(["sweep", str(sweep), "-o", str(out)]) == 0
    assert main(["collect", str(out), "-o", str(tmp_path / "t.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "t.parquet")) == 2


def test_train_refuses_a_sweeps_output_folder_or_one_holding_runs_and_leaves_it_as_it_was(tmp_path, capsys):
    sweep_out, holder = tmp_path / "sweep_out", tmp_path / "holder"
    for folder, marker in ((sweep_out, "sweep_tiny.json"), (holder / "old" / RUN, STATUS)):
        folder.mkdir(parents=True)
        (folder / marker).write_text("{}")
    expected = {sweep_out: "is a sweep's output folder (it holds sweep_tiny.json)",
                holder: f"holds 1 other run folder(s) (e.g. {holder / 'old' / RUN})"}
    for folder, fragment in expected.items():
        before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
        assert main([*TRAIN, "--env-steps", "200", "-o", str(folder)]) == 2
        err = _one_error_line(capsys)
        assert f"{folder} {fragment}; give the run a folder of its own" in err
        assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # not even a lock file


def test_collect_tells_runs_apart_by_their_whole_config_and_names_what_differs(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["sweep", str(_write(tmp_path, TINY)), "-o", str(out)]) == 0
    twin = out / "other" / RUN
    shutil.copytree(out / RUN, twin)
    capsys.readouterr()
    assert main(["collect", str(out), "-o", str(tmp_path / "t.parquet")]) == 2
    assert "hold the same run (identical configs)" in _one_error_line(capsys)
    record = json.loads((twin / "config.json").read_text())
    record["settings"].update(warmup_steps=60, critic_width=32)
    (twin / "config.json").write_text(json.dumps(record))
    assert main(["collect", str(out), "-o", str(tmp_path / "t.parquet")]) == 2
    err = _one_error_line(capsys)
    assert "differ in critic_width: 32 -> 16, warmup_steps: 60 -> 50" in err and "separate tables" in err


def test_a_spelled_out_default_is_the_same_run_as_one_left_unset(tmp_path, capsys):
    """Giving a default explicitly (SAC's actor learning rate 3e-4, entropy target -0.5, ..., checkpoints every
    eval_every) trains the same run: the sweep skips the finished run instead of refusing it as changed, `train` on
    its folder finds it finished, and collect calls a second such run a duplicate, not a different config."""
    out = tmp_path / "runs"
    assert main(["sweep", str(_write(tmp_path, TINY)), "-o", str(out)]) == 0
    defaults = {"actor_learning_rate": 3e-4, "target_entropy": -0.5, "weight_init": "torch",
                "log_std_bounds": "squash", "temperature_loss": "log_alpha", "checkpoint_every": 100}
    capsys.readouterr()
    assert main(["sweep", str(_write(tmp_path, tiny_sweep(**defaults), "spelled.yaml")), "-o", str(out)]) == 0
    assert "0 finished, 1 skipped (finished before)" in capsys.readouterr().out
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in defaults.items()]
    curve = (out / RUN / "curve.parquet").read_bytes()
    assert main([*TRAIN, "--env-steps", "200", *flags, "-o", str(out / RUN)]) == 0
    assert (out / RUN / "curve.parquet").read_bytes() == curve  # finished: nothing trained again
    assert main([*TRAIN, "--env-steps", "200", *flags, "-o", str(out / "again" / RUN)]) == 0
    assert json.loads((out / "again" / RUN / "config.json").read_text())["settings"]["weight_init"] == "torch"
    capsys.readouterr()
    assert main(["collect", str(out), "-o", str(tmp_path / "t.parquet")]) == 2
    assert "hold the same run (identical configs)" in _one_error_line(capsys)
    unset = RunConfig(env="dmc:walker-walk", algo="bro", utd=1.0, batch_size=16, learning_rate=1e-3, env_steps=200,
                      eval_every=100, critic_depth=1)
    spelled = dataclasses.replace(unset, critic_width=512, reset_every=2_500_000, checkpoint_every=100,
                                  action_repeat=1, critic_depth=2)
    assert unset.differences(spelled) == ["critic_depth: 1 -> 2"]  # what the run does differently, and only that
    assert dataclasses.replace(unset, critic_width=512, seed=1).shared() == unset.shared()  # one chunk's members


# ---------------------------------------------------------------------------------------------- 2. one writer
def test_a_second_writer_of_a_run_folder_or_sweep_output_gets_one_line_naming_the_holder(tmp_path, capsys):
    run = tmp_path / "run"
    with FolderLock(run):
        assert (run / LOCK).read_text().strip() == str(os.getpid())
        assert main([*TRAIN, "--env-steps", "200", "-o", str(run)]) == 2
        err = _one_error_line(capsys)
        assert f"in use by process {os.getpid()}" in err and str(run) in err
        assert not (run / "config.json").exists()
    out = tmp_path / "sweep"
    with FolderLock(out, SWEEP_LOCK, what="sweep output"):
        assert main(["sweep", str(_write(tmp_path, TINY)), "-o", str(out)]) == 2
        assert f"sweep output is in use by process {os.getpid()}" in _one_error_line(capsys)
    with pytest.raises(RlscaleError, match="in use by process"), FolderLock(run), FolderLock(run):
        pass


def test_two_train_processes_on_one_folder_leave_one_consistent_run(tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen(_cli(*TRAIN, "--env-steps", "20000", "--learning-rate", "1e-3", "-o", str(run)),
                             stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (run / "curve.parquet").exists(), "the first run's first curve row")
    second = subprocess.run(_cli(*TRAIN, "--env-steps", "20000", "--learning-rate", "3e-4", "-o", str(run)),
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and f"in use by process {first.pid}" in second.stderr
    assert second.stderr.count("\n") == 1
    first.terminate()
    assert first.wait(timeout=60) == 130, first.stderr.read()
    assert json.loads((run / "config.json").read_text())["settings"]["learning_rate"] == 1e-3
    assert set(pd.read_parquet(run / "curve.parquet")["learning_rate"]) == {1e-3}


def test_the_lock_of_a_killed_writer_is_released_and_its_run_resumes(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(_cli(*TRAIN, "--env-steps", "4000", "--checkpoint-every", "100", "-o", str(run)),
                            stderr=subprocess.DEVNULL)
    _wait_for(lambda: (run / "checkpoint.pt").exists(), "a checkpoint")
    proc.kill()
    proc.wait()
    FolderLock(run).acquire().release()  # free at once: the kernel dropped it with the process
    assert json.loads((run / "status.json").read_text())["status"] == "running"


def test_sigterm_ends_a_run_as_ctrl_c_does_and_it_resumes(tmp_path):
    run = tmp_path / "run"
    cmd = _cli(*TRAIN, "--env-steps", "2000", "--checkpoint-every", "100", "-o", str(run))
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (run / "checkpoint.pt").exists(), "a checkpoint")
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().endswith("rlscale: interrupted") and "Traceback" not in err
    assert json.loads((run / "status.json").read_text())["status"] == "running"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "resumed" in done.stderr, done.stderr
    assert pd.read_parquet(run / "curve.parquet")["env_step"].tolist() == list(range(100, 2001, 100))


# ---------------------------------------------------------------------------------------------- 3. no-op runs
@pytest.mark.parametrize("flags, fragment", [
    (["--env-steps", "1000", "--utd", "4", "--warmup-steps", "5000"],
     "env_steps=1000 <= warmup_steps=5000: the run would do no update; raise env_steps or lower warmup_steps"),
    (["--env-steps", "1000", "--utd", "1e-9"], "utd=1e-09 gives floor(utd * (env_steps - warmup_steps)) = 0 updates"),
    (["--env-steps", "1000", "--utd", "0.001"], "raise utd or env_steps (to at least 1050)"),
    (["--env-steps", "1000", "--batch-size", "64"],
     "batch_size=64 is larger than the ~51 transitions the replay holds at the first update (env step 51"),
    (["--env-steps", "1000", "--batch-size", "1000000000000"], "lower batch_size or raise warmup_steps"),
])
def test_runs_that_would_train_nothing_or_oversample_are_refused_before_anything_is_written(tmp_path, capsys, flags,
                                                                                           fragment):
    assert main([*TRAIN, *flags, "-o", str(tmp_path / "r")]) == 2
    assert fragment in _one_error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_the_default_warmup_refuses_a_short_run_and_every_default_is_in_the_help(tmp_path, capsys):
    assert main(["train", "--env", "gym:Pendulum-v1", "--algo", "sac", "--utd", "4", "--batch-size", "32",
                 "--learning-rate", "1e-3", "--env-steps", "1000", "--eval-every", "500", "-o", str(tmp_path)]) == 2
    assert "warmup_steps=5000" in _one_error_line(capsys)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 5000)", "(default: 1000000)", "(default: 0.0)", "(default: 0.99)", "(default: 10)",
                    "(default: 0)", "(default: auto)", "(default: 1)"):
        assert default in help_text


def test_the_paper_and_mini_sweep_files_pass_the_update_checks():
    from rlscale.train.sweep import load_sweep

    for path in sorted(Path(__file__).parents[1].glob("sweeps/*.yaml")):
        if not path.stem.endswith(("_fitted", "_baseline")):  # those train at rlscale fit hparams' CSVs
            assert load_sweep(path).runs  # every run validated: at least one update, batches the replay holds


# ---------------------------------------------------------------------------------------------- 5. no tracebacks
def test_an_output_that_is_a_file_or_under_a_file_is_one_line_in_every_command(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    sweep = str(_write(tmp_path, TINY))
    for argv, fragment in [
        ([*TRAIN, "--env-steps", "200", "-o", str(afile)], f"{afile} is a file, not a folder"),
        ([*TRAIN, "--env-steps", "200", "-o", str(afile / "sub")], f"{afile} is a file, not a folder"),
        (["sweep", sweep, "-o", str(afile)], f"{afile} is a file, not a folder"),
        (["sweep", sweep, "-o", str(afile / "sub")], f"{afile} is a file, not a folder"),
        (["collect", str(tmp_path), "-o", str(afile / "t.csv")], f"{afile} is a file, not a folder"),
        (["collect", str(tmp_path), "-o", str(tmp_path)], f"{tmp_path} is a folder; give a file name"),
    ]:
        assert main(argv) == 2, argv
        assert fragment in _one_error_line(capsys)


def test_a_batch_size_written_as_a_float_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*TRAIN, "--env-steps", "200", "--batch-size", "1e12", "-o", str(tmp_path / "r")])
    assert exc.value.code == 2 and "invalid int value: '1e12'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_fitted_sweep_with_a_non_numeric_utd_is_one_line(tmp_path, capsys):
    (tmp_path / "h.csv").write_text("env,utd,learning_rate,batch_size_rounded\nPendulum-v1,abc,1e-3,32\n")
    text = ("name: f\nmode: fitted\nhparams: h.csv\nbackend: gym\nalgo: sac\nseeds: 1\nenv_steps: 300\n"
            "eval_every: 150\nwarmup_steps: 100\n")
    assert main(["sweep", str(_write(tmp_path, text)), "-o", str(tmp_path / "o"), "--dry-run"]) == 2
    assert "row(s) 0 have non-numeric, non-positive or missing utd" in _one_error_line(capsys)


# ---------------------------------------------------------------------------------------------- 7. umask
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        io.write_json(tmp_path / "a.json", {"x": 1})
        io.write_table(tmp_path / "t.csv", pd.DataFrame({"a": [1]}))
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "t.csv").stat().st_mode & 0o777 == mode


# ---------------------------------------------------------------------------------------------- 4. signals
def _sweep_until_checkpoint(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    text = tiny_sweep(env_steps=20000, checkpoint_every=100)
    yaml, out = _write(tmp_path, text), tmp_path / "runs"
    proc = subprocess.Popen(_cli("sweep", str(yaml), "-o", str(out), "--threads", "1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(lambda: (out / RUN / "checkpoint.pt").exists(), "the sweep's first checkpoint")
    return proc, out, out / RUN


def _worker_pid(run_dir: Path) -> int:
    return int((run_dir / LOCK).read_text())


def test_sigterm_stops_a_sweep_like_ctrl_c_and_the_summary_says_what_was_interrupted(tmp_path):
    proc, out, run_dir = _sweep_until_checkpoint(tmp_path)
    worker = _worker_pid(run_dir)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert f"1 interrupted, 0 not started (interrupted: {RUN}); the same command resumes it" in stdout
    assert "Traceback" not in stderr
    summary = json.loads((out / "sweep_tiny.json").read_text())
    assert summary["state"] == "interrupted" and summary["runs"][0]["status"] == "interrupted"
    _wait_for(lambda: not _alive(worker), "the worker to exit", timeout=30)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "running"  # resumable


def test_a_sweep_drivers_workers_die_with_it_even_on_sigkill(tmp_path):
    proc, out, run_dir = _sweep_until_checkpoint(tmp_path)
    worker = _worker_pid(run_dir)
    assert worker != proc.pid and _alive(worker)
    proc.kill()
    proc.communicate()
    _wait_for(lambda: not _alive(worker), "the orphaned worker to die (PR_SET_PDEATHSIG)", timeout=30)
    FolderLock(run_dir).acquire().release()  # nothing holds the run folder any more


# ---------------------------------------------------------------------------------------------- 8. progress
def test_progress_goes_to_stderr_as_lines_off_a_terminal_and_to_a_sweep_childs_train_log(tmp_path):
    env = {**os.environ, "RLSCALE_PROGRESS_EVERY": "0"}
    done = subprocess.run(_cli(*TRAIN, "--env-steps", "200", "-o", str(tmp_path / "r")), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("rlscale: r: ")]
    assert len(lines) >= 3 and "\r" not in done.stderr and "/200 step (" in lines[0] and "done" in lines[-1]
    out = tmp_path / "runs"
    done = subprocess.run(_cli("sweep", str(_write(tmp_path, TINY)), "-o", str(out)), env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "rlscale: sweep tiny: done, 1/1 run" in done.stderr
    assert f"rlscale: {RUN}: 1/200 step" in (out / RUN / "train.log").read_text()
    done = subprocess.run(_cli("collect", str(out), "-o", str(tmp_path / "t.parquet")), env=env,
                          capture_output=True, text=True, timeout=300)
    assert f"rlscale: collect {out}: done, 1/1 run" in done.stderr
    csv = tmp_path / "runs.csv"
    pd.read_parquet(tmp_path / "t.parquet").to_csv(csv, index=False)
    done = subprocess.run(_cli("import", "csv", str(csv), "-o", str(tmp_path / "i.parquet")), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


def test_work_that_cannot_count_its_progress_logs_a_heartbeat(monkeypatch, capsys):
    from rlscale.train.progress import heartbeat

    monkeypatch.setenv("RLSCALE_PROGRESS_EVERY", "0.1")
    with heartbeat("import csv big.csv (2000 MB)"):
        time.sleep(0.45)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3 and lines[0] == "rlscale: import csv big.csv (2000 MB): 0 s so far"
    assert lines[-1].startswith("rlscale: import csv big.csv (2000 MB): done in 0.")
    with heartbeat("quick"):
        pass
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------------------------- 6. fault injection
FAULT = tiny_sweep(name="fault", batch_size=[16, 32], seeds=2, env_steps=600, checkpoint_every=100)
WALL_CLOCK = ("wall_s",)


def _collected(out: Path, table: Path) -> pd.DataFrame:
    assert main(["collect", str(out), "-o", str(table)]) == 0
    return pd.read_parquet(table).drop(columns=list(WALL_CLOCK)).sort_values(["run_id", "env_step"],
                                                                              ignore_index=True)


def _progress(out: Path) -> int:
    """Env steps the sweep's runs have recorded so far (their status files; unreadable ones count as 0)."""
    steps = 0
    for path in out.glob(f"*/{STATUS}"):
        try:
            steps += int(json.loads(path.read_text()).get("env_step", 0))
        except (OSError, ValueError):
            pass
    return steps


@pytest.mark.slow
def test_a_vectorised_sweep_killed_at_random_moments_and_resumed_gives_the_uninterrupted_table(tmp_path):
    """Seeded rounds: SIGKILL the driver (its workers die with it), or its workers and then the driver, at a
    random moment; resume each time with the same command; the collected table equals an uninterrupted one's."""
    yaml = _write(tmp_path, FAULT)
    argv = ["sweep", str(yaml), "--vectorize", "--max-members", "2", "--threads", "1", "--retry-failed"]
    rng = np.random.default_rng(16)
    out = tmp_path / "killed"
    total = 4 * 600  # env steps of the whole sweep
    # kill moments are drawn in progress, not in seconds, so that a fast or a loaded machine kills alike: each
    # round waits until the runs' recorded env steps pass a random point, then a random fraction of a second more
    targets = np.sort(rng.uniform(0.1, 0.9, size=4)) * total
    kills = 0
    for target in targets:
        proc = subprocess.Popen(_cli(*argv, "-o", str(out)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _progress(out) < target and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is not None:
            break
        workers = [int(p.read_text()) for p in out.glob(f"*/{LOCK}") if p.read_text().strip()]
        workers = [pid for pid in workers if pid != proc.pid and _alive(pid)]
        if workers and rng.random() < 0.5:  # the workers first, then the driver
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.communicate()
        kills += 1
        for pid in workers:
            _wait_for(lambda pid=pid: not _alive(pid), "the workers to die with their driver", timeout=30)
    assert kills >= 2, "the sweep finished before it could be killed twice: lengthen it"
    assert main([*argv, "-o", str(out)]) == 0
    launches = [(d / "train.log").read_text().count("$ ") for d in out.iterdir() if (d / "train.log").exists()]
    assert max(launches) >= 2  # at least one chunk was cut mid-run and resumed
    assert main([*argv[:-1], "-o", str(tmp_path / "clean")]) == 0
    killed, clean = _collected(out, tmp_path / "k.parquet"), _collected(tmp_path / "clean", tmp_path / "c.parquet")
    assert len(clean) == 4 * 6
    pd.testing.assert_frame_equal(killed, clean)


def test_config_differences_name_every_changed_field():
    a = RunConfig(env="gym:Pendulum-v1", algo="sac", utd=1.0, batch_size=16, learning_rate=1e-3, env_steps=200,
                  eval_every=100, warmup_steps=50)
    b = RunConfig(**{**a.to_dict(), "env_steps": 300, "critic_width": 8})
    assert a.differences(b) == ["env_steps: 200 -> 300", "critic_width: 256 -> 8"]  # unset: the default it stands for
