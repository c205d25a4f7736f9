"""The GPU check's torch steps (benchmarks/gpu_check.sh step 1: K members against K single runs, eager, compiled and
in CUDA graphs' compile mode) still run against today's agents. A GPU is lent for minutes at a time, and its first
call runs these steps: a script broken here would spend them on a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = {"vectorized_sac": None, "vectorized_sac_compile": "default", "vectorized_sac_cudagraphs": "reduce-overhead",
         "vectorized_bro": None}


def _gpu_check(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PY": sys.executable, "OUT": str(out)}
    return subprocess.run(["bash", "benchmarks/gpu_check.sh", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_torch_steps_run_at_toy_sizes_and_write_a_table_each(tmp_path):
    run = _gpu_check(tmp_path, "--tiny", "--group", "torch")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    summary = (tmp_path / "summary.txt").read_text()
    for step, mode in STEPS.items():
        assert f"-- {step}: exit 0" in summary, summary
        table = json.loads((tmp_path / f"{step}.json").read_text())
        assert table["compile"] == mode
        rows = {(row["algo"], row["k"]): row for row in table["results"]}
        algo = step.split("_")[1]
        assert set(rows) == {(algo, 1), (algo, 2)}
        assert all(row["vec_updates_per_s"] > 0 and row["single_updates_per_s"] > 0 for row in rows.values())
    assert "pql_warp" not in summary and "train_single" not in summary  # the simulator steps are the other group's


def test_an_unknown_argument_or_group_is_refused_in_one_line_before_any_step(tmp_path):
    for args, line in ((["--group", "gpu"], "gpu_check: --group is torch or sim"),
                       (["--tiyn"], "gpu_check: unknown argument '--tiyn' (--tiny, --group torch|sim)")):
        run = _gpu_check(tmp_path, *args)
        assert run.returncode == 2 and run.stderr.strip() == line and run.stdout == ""
    assert not (tmp_path / "summary.txt").exists()
