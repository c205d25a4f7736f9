"""Shared fixtures: small run tables in the schema of :mod:`rlscale.runs`, a tiny sweep file, kill helpers."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rlscale.authors import ENV_DATA

# one Pendulum run of 200 env steps with a 16-wide, one-layer critic: seconds of training on one core
TINY_SWEEP = {"name": "tiny", "algo": "sac", "envs": ["gym:Pendulum-v1"], "utd": [1], "batch_size": [16],
              "learning_rate": [1e-3], "seeds": 1, "env_steps": 200, "eval_every": 100, "eval_episodes": 1,
              "warmup_steps": 50, "critic_width": 16, "critic_depth": 1}


def tiny_sweep(**changes: object) -> str:
    """The YAML of :data:`TINY_SWEEP` with ``changes``."""
    return yaml.safe_dump({**TINY_SWEEP, **changes}, sort_keys=False)


def make_run_table(n_seeds: int = 3, n_points: int = 5) -> pd.DataFrame:
    """A small, valid run table: 2 utds x 2 batch sizes x 1 learning rate x ``n_seeds`` seeds."""
    rows = []
    for utd, bs, seed in itertools.product([1.0, 4.0], [128, 256], range(n_seeds)):
        for i in range(n_points):
            rows.append(
                {
                    "benchmark": "gym", "env": "HalfCheetah-v4", "algo": "sac", "utd": utd,
                    "batch_size": bs, "learning_rate": 3e-4, "critic_params": 150_000, "seed": seed,
                    "env_step": 1000 * (i + 1), "return": float(100 * i + seed),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def run_table() -> pd.DataFrame:
    return make_run_table()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def one_thread():
    """One torch thread, as training runs use: on a loaded 2-core machine OpenMP's second thread makes small
    updates many times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def curve_rows(run_dir: Path) -> int:
    """Rows of a run's curve so far (0 while it is absent or being replaced)."""
    try:
        return len(pd.read_parquet(run_dir / "curve.parquet"))
    except (FileNotFoundError, OSError, ValueError):
        return 0


def kill_9_after_checkpoint(command: list[str], run_dir: Path, min_rows: int = 3) -> int:
    """Start ``rlscale train`` (``command``), SIGKILL it once it holds a checkpoint and ``min_rows``
    curve rows, check it was left resumable, and return the rows it had."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ((run_dir / "checkpoint.pt").exists() and curve_rows(run_dir) >= min_rows):
        assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "running"
    return curve_rows(run_dir)


def authors_data_dir(need: str = "gym") -> Path:
    """The paper authors' published runs for tests: the folder ``RLSCALE_AUTHORS_DATA`` names (gym/, isaac/). They
    are never committed, so where it is unset or lacks ``need`` the test skips in one line, as in a user's clone."""
    local = os.environ.get(ENV_DATA)
    if not local:
        pytest.skip(f"the authors' published runs are not given (set {ENV_DATA}=DIR)")
    if not (Path(local) / need).exists():
        pytest.skip(f"the authors' published runs are not at {local} (no {need}; set {ENV_DATA}=DIR)")
    return Path(local)


@pytest.fixture
def authors_data() -> Path:
    """Their runs' folder; tests that need it skip where it is absent."""
    return authors_data_dir()
