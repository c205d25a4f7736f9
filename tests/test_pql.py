"""PQL on the CPU fallback: it learns, its measured UTD is the configured one, and a killed run resumes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import kill_9_after_checkpoint

from rlscale.agents import make_agent
from rlscale.agents.base import AgentSettings
from rlscale.errors import RlscaleError
from rlscale.train.config import RunConfig, Runtime
from rlscale.train.learners import ConcurrentLearners
from rlscale.train.loop import train_run
from rlscale.train.replay import ReplayBuffer

ARGS = {"env": "gym:Pendulum-v1", "algo": "pql", "utd": 0.5, "batch_size": 128, "learning_rate": 1e-3, "seed": 0,
        "env_steps": 6144, "eval_every": 1024, "eval_episodes": 4, "critic_width": 64, "critic_depth": 2,
        "warmup_steps": 1024, "num_envs": 16}
CPU = Runtime(device="cpu", quiet=True)
RANDOM_PENDULUM_RETURN = -1200.0  # uniform random actions average about -1200 per 200-step episode


def _random_return(episodes: int = 8) -> float:
    import gymnasium

    env, rng, total = gymnasium.make("Pendulum-v1"), np.random.default_rng(0), 0.0
    for ep in range(episodes):
        env.reset(seed=ep)
        done = False
        while not done:
            _, r, term, trunc, _ = env.step(rng.uniform(-2, 2, 1).astype(np.float32))
            total += r
            done = term or trunc
    return total / episodes


def test_pql_learns_pendulum_and_its_effective_utd_is_the_configured_one(tmp_path):
    status = train_run(RunConfig(**ARGS), tmp_path / "run", CPU)
    curve = pd.read_parquet(tmp_path / "run" / "curve.parquet")
    assert curve["env_step"].tolist() == list(range(1024, 6145, 1024))
    random_return = _random_return()
    assert random_return < -900
    # the greedy policy after ~2.5k updates is far better than random (a swing-up reaches about -150)
    assert curve["return"].iloc[-2:].max() > random_return + 600, curve["return"].tolist()

    # paced learners: at every logged row the critic has done floor(utd * (env_step - warmup)) updates (+-1),
    # and while running the collector never got more than two vector steps of updates ahead of the critic
    # (it may start step k+1 while the critic still works on step k's updates: PQL's concurrency)
    expected = np.floor(ARGS["utd"] * (curve["env_step"] - ARGS["warmup_steps"]))
    assert np.abs(curve["updates"] - expected).max() <= 1
    assert status.effective_utd == pytest.approx(ARGS["utd"], rel=0.01)
    assert 0 <= status.max_update_lag <= 2 * ARGS["utd"] * ARGS["num_envs"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["settings"]["num_envs"] == 16


def test_learners_run_in_threads_and_stop_exactly_at_the_due_update_count():
    agent = make_agent("pql", 3, 1, AgentSettings(1e-3, 16, 1), "cpu", seeds=[0])
    replay = ReplayBuffer(1, 1000, 3, 1, torch.device("cpu"), concurrent=True)
    replay.add(torch.randn(1, 64, 9), np.ones((1, 64), dtype=bool))
    learners = ConcurrentLearners(agent, replay, 32, utd=0.25, warmup=0, seed=0, updates=0, slack=4)
    learners.start()
    try:
        learners.collected(64)
        learners.drain()
        assert (learners.v_updates, learners.p_updates) == (16, 8)
        learners.collected(200)
        learners.drain()
        assert (learners.v_updates, learners.p_updates) == (50, 25)
        assert {"critic_loss", "actor_loss"} <= set(learners.info)
    finally:
        learners.stop()


def test_pql_is_an_agent_and_settings_are_checked(tmp_path):
    agent = make_agent("pql", 3, 1, AgentSettings(1e-3, 16, 1), torch.device("cpu"))
    assert agent.act(torch.zeros((1, 5, 3)), explore=False).shape == (1, 5, 1)
    with pytest.raises(RlscaleError, match="multiple"):
        train_run(RunConfig(**{**ARGS, "eval_every": 1000}), tmp_path / "x", CPU)
    with pytest.raises(RlscaleError, match="for parallel-env agents"):
        RunConfig(**{**ARGS, "algo": "sac"}).validate()


def _command(run_dir) -> list[str]:
    args = {**ARGS, "env_steps": 3072, "eval_every": 512, "warmup_steps": 512, "eval_episodes": 2}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in args.items()]
    return [sys.executable, "-m", "rlscale.cli", "train", *flags, "--device=cpu", "--quiet", "-o", str(run_dir)]



def test_kill_9_then_rerun_completes_the_curve_without_duplicates(tmp_path):
    run = tmp_path / "run"
    rows_at_kill = kill_9_after_checkpoint(_command(run), run)

    done = subprocess.run(_command(run), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "finished"
    curve = pd.read_parquet(run / "curve.parquet")
    assert rows_at_kill < len(curve)
    assert curve["env_step"].tolist() == list(range(512, 3073, 512))  # nothing missing, nothing duplicated
    assert (curve["updates"] == np.floor(0.5 * (curve["env_step"] - 512))).all()  # the resumed count goes on
    assert status["effective_utd"] == pytest.approx(0.5) and status["resumed_from"] >= 512


def test_a_parallel_agent_without_the_two_learner_steps_fails_in_one_line(tmp_path, monkeypatch):
    """The trainer runs a parallel-env agent's critic and policy steps in two threads; an agent registered as parallel
    without them (here SAC) is one line naming what it lacks, not an AttributeError inside a learner thread."""
    from rlscale.agents import AGENTS, AgentEntry

    monkeypatch.setitem(AGENTS, "parallel_sac", AgentEntry("rlscale.agents.sac:SAC", parallel=True))
    args = {**ARGS, "algo": "parallel_sac", "env_steps": 2048, "eval_every": 1024, "warmup_steps": 1024}
    del args["critic_width"], args["critic_depth"]
    with pytest.raises(RlscaleError, match=r"^SAC is registered as a parallel-env agent but has no policy_every, "
                                           r"update_critic, update_actor \(rlscale.agents.base.ParallelAgent\)$"):
        train_run(RunConfig(**args), tmp_path / "x", CPU)
