"""``rlscale sweep --executor ray`` on a local 2-CPU Ray instance: a real sweep, a killed worker, a restart."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from rlscale.cli import main

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (optional extra: pip install 'rlscale[ray]')")

TINY = """\
algo: sac
batch_size: 16
learning_rate: 1e-3
eval_episodes: 1
warmup_steps: 50
critic_width: 16
critic_depth: 1
envs: [gym:Pendulum-v1]
"""


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance (2 CPUs) for the module: starting one takes ~20 s on a small machine."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 2**20,
             logging_level="WARNING")
    yield ray
    ray.shutdown()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@needs_ray
def test_ray_sweep_runs_every_run_records_failures_and_a_restart_skips_the_finished_ones(ray_instance, tmp_path):
    """Two Pendulum runs finish; two CartPole runs (a known id whose discrete actions only building the env finds)
    fail, and are recorded failed with train's reason, not counted finished."""
    yaml = _write(tmp_path / "tiny.yaml", TINY.replace("[gym:Pendulum-v1]", "[gym:Pendulum-v1, gym:CartPole-v1]")
                  + "env_steps: 200\neval_every: 100\nutd: 1\nseeds: 2\n")
    runs = tmp_path / "runs"
    assert main(["sweep", str(yaml), "-o", str(runs), "--executor", "ray", "--cpus-per-run", "1"]) == 1
    summary = json.loads((runs / "sweep_tiny.json").read_text())
    assert summary["state"] == "finished"
    assert summary["counts"] == {"finished": 2, "skipped": 0, "failed": 2, "interrupted": 0}
    by_name = {r["name"]: r for r in summary["runs"]}
    for seed in (0, 1):
        record = by_name[f"sac_Pendulum-v1_utd1_bs16_lr1e-3_s{seed}"]
        assert record["status"] == "finished" and record["device"].startswith("ray cpu on ")
        run_dir = runs / record["name"]
        curve = pd.read_parquet(run_dir / "curve.parquet")
        assert curve["env_step"].tolist() == [100, 200] and (curve["seed"] == seed).all()
        assert json.loads((run_dir / "status.json").read_text())["status"] == "finished"
        assert (run_dir / "train.log").read_text().count("$ ray task") == 1
        bad = by_name[f"sac_CartPole-v1_utd1_bs16_lr1e-3_s{seed}"]
        assert bad["status"] == "failed" and bad["returncode"] == 2 and "discrete action space" in bad["reason"]

    finished = [n for n, r in by_name.items() if r["status"] == "finished"]
    mtimes = {n: (runs / n / "curve.parquet").stat().st_mtime_ns for n in finished}
    assert main(["sweep", str(yaml), "-o", str(runs), "--executor", "ray"]) == 1
    again = json.loads((runs / "sweep_tiny.json").read_text())
    assert again["counts"] == {"finished": 0, "skipped": 2, "failed": 2, "interrupted": 0}
    assert {n: (runs / n / "curve.parquet").stat().st_mtime_ns for n in finished} == mtimes


@needs_ray
def test_a_killed_ray_worker_is_retried_and_the_run_resumes_from_its_checkpoint(ray_instance, tmp_path):
    """SIGKILL the worker training the run once its checkpoint exists: Ray reruns the task, which resumes."""
    yaml = _write(tmp_path / "k.yaml", TINY + "env_steps: 2000\neval_every: 200\ncheckpoint_every: 200\n"
                  "utd: 0.5\nseeds: 1\n")
    runs = tmp_path / "runs"
    run_dir = runs / "sac_Pendulum-v1_utd0.5_bs16_lr1e-3_s0"
    killed: list[int] = []

    def kill_worker_after_first_checkpoint() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            log = run_dir / "train.log"
            pids = re.findall(r"pid (\d+)\n", log.read_text()) if log.exists() else []
            if pids and (run_dir / "checkpoint.pt").exists():
                os.kill(int(pids[0]), signal.SIGKILL)
                killed.append(int(pids[0]))
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_worker_after_first_checkpoint)
    killer.start()
    rc = main(["sweep", str(yaml), "-o", str(runs), "--executor", "ray"])
    killer.join()
    assert killed, "the run finished or never checkpointed before the worker could be killed"
    assert rc == 0
    summary = json.loads((runs / "sweep_k.json").read_text())
    assert summary["counts"] == {"finished": 1, "skipped": 0, "failed": 0, "interrupted": 0}
    log = (run_dir / "train.log").read_text()
    assert log.count("$ ray task") == 2  # the first attempt (killed) and Ray's retry
    assert f"pid {killed[0]}\n" in log.split("$ ray task")[1]
    resumed = re.search(r"resumed .* from env step (\d+)", log)
    assert resumed is not None and int(resumed.group(1)) >= 200  # continued, did not start over
    curve = pd.read_parquet(run_dir / "curve.parquet")
    assert curve["env_step"].tolist() == list(range(200, 2001, 200))  # no duplicated or missing rows
    assert json.loads((run_dir / "status.json").read_text())["status"] == "finished"


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--executor", "ray", "--workers", "2"], "--workers is for --executor local"),
    (["--executor", "ray", "--cpus-per-run", "0"], "--cpus-per-run must be > 0"),
    (["--executor", "ray", "--gpus-per-run", "-0.5"], "--gpus-per-run must be >= 0"),
    (["--gpus-per-run", "0.5"], "need --executor ray"),
    (["--address", "auto"], "need --executor ray"),
])
def test_bad_ray_options_are_one_line_errors_and_write_nothing(tmp_path, capsys, extra, fragment):
    yaml = _write(tmp_path / "s.yaml", TINY + "env_steps: 200\neval_every: 100\nutd: 1\nseeds: 1\n")
    assert main(["sweep", str(yaml), "-o", str(tmp_path / "runs"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlscale: error:") and fragment in err, err
    assert not (tmp_path / "runs").exists()


def test_without_ray_the_ray_executor_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what 'import ray' sees when the extra is not installed
    yaml = _write(tmp_path / "s.yaml", TINY + "env_steps: 200\neval_every: 100\nutd: 1\nseeds: 1\n")
    assert main(["sweep", str(yaml), "-o", str(tmp_path / "runs"), "--executor", "ray"]) == 2
    assert capsys.readouterr().err == "rlscale: error: the Ray executor needs Ray: pip install 'rlscale[ray]'\n"
    assert not (tmp_path / "runs").exists()
