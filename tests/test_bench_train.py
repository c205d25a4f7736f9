"""The single-run speed benchmark (benchmarks/bench_train.py) still runs against today's trainer: its timed loops
are real runs, and run settings the trainer has since learned to refuse would only show on the GPU machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_train.py"


def test_bench_train_runs_to_its_table_at_toy_sizes():
    run = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--updates", "5", "--blocks", "1",
                          "--env-steps", "1000", "--min-ratio", "0"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "updates/s   ours" in run.stdout and "env steps/s ours" in run.stdout


def test_bench_train_refuses_too_few_env_steps_in_one_line():
    run = subprocess.run([sys.executable, str(SCRIPT), "--env-steps", "300"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2 and "--env-steps must be at least 1000, got 300" in run.stderr
    assert "Traceback" not in run.stderr
