"""benchmarks/bench_engine_drift.py: its test finds an engine that trains differently and passes one that does not,
and its retraining goes through the library's sweep (a finished chunk is reused, not trained again)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from rlscale.runs import read_run_table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_engine_drift as drift  # noqa: E402

SCALE = dict(j_mid=412.0, j_top=600.0, max_return={}, min_return={})


@pytest.fixture(scope="module")
def committed():
    table = read_run_table(ROOT / "data" / "runs" / "dmc.parquet")
    return table[(table.utd == 2) & (table.batch_size == 64)].reset_index(drop=True)


def test_the_committed_runs_against_themselves_show_no_drift(committed):
    result = drift.compare(committed, committed.copy(), permutations=2000, **SCALE)
    assert list(result.statistic) == list(drift.STATISTICS)
    assert (result.p == 1.0).all() and np.allclose(result.A, 0.5) and not result.drift.any()
    assert result.runs.iloc[0] == 32 and result.cells.iloc[0] == 4
    assert drift.first_divergence(committed, committed).isna().all()


def test_an_engine_that_learns_slower_or_grows_its_critic_is_a_drift(committed):
    slower = committed.assign(env_step=committed.env_step * 1.5)  # every return reached 1.5x later
    slower = slower[slower.env_step <= committed.env_step.max()]
    result = drift.compare(committed, slower, permutations=2000, **SCALE).set_index("statistic")
    assert result.loc["t_mid", "drift"] and result.loc["t_mid", "A"] > 0.8
    assert result.loc["auc", "drift"] and result.loc["auc", "A"] < 0.2

    bigger = committed.assign(critic_param_norm=committed.critic_param_norm * 1.1)
    result = drift.compare(committed, bigger, permutations=2000, **SCALE).set_index("statistic")
    assert list(result.index[result.drift]) == ["log_norm"] and result.loc["log_norm", "A"] > 0.7


def test_a_chunk_is_retrained_through_the_sweep_reused_when_finished_and_reproduced_exactly_here(tmp_path):
    doc = dict(name="tiny", algo="sac", envs=["gym:Pendulum-v1"], utd=[1], batch_size=[16],
               learning_rate=[1e-3, 3e-3], seeds=2, env_steps=400, eval_every=100, eval_episodes=1,
               warmup_steps=100, critic_width=16)
    first = drift.retrain(doc, tmp_path / "a")
    curves = sorted((tmp_path / "a").glob("*/curve.parquet"))
    written = [c.stat().st_mtime_ns for c in curves]
    reused = drift.retrain(doc, tmp_path / "a")
    assert reused.equals(first) and [c.stat().st_mtime_ns for c in curves] == written and len(curves) == 4
    again = drift.retrain(doc, tmp_path / "b")
    assert len(first) == 4 * 4 and drift.first_divergence(first, again).isna().all()
    result = drift.compare(first, again, permutations=500, j_mid=300, j_top=600,
                           max_return={"Pendulum-v1": 0}, min_return={"Pendulum-v1": -1500})
    assert not result.drift.any() and (result.p == 1.0).all()
