"""Collectors: how a run's transitions are gathered and how its policy is evaluated.

* :class:`MemberEnvs`: one environment per member, stepped in a Python loop (as gymnasium's
  ``SyncVectorEnv`` would): a single run (K = 1) or a chunk of K members. Each episode is reset with a
  seed from its member's training stream, so member k sees what a single run with its seed sees, and
  an episode cut by a checkpoint is replayed on resume (the simulators are deterministic).
* :class:`ParallelEnvs`: N parallel environments of one run (PQL), on the CPU (``gym:``/``dmc:``) or the
  GPU (``warp:``/``isaac:``); each collection step adds N transitions. A resumed run starts fresh
  episodes in every env (seeded from the run seed and the resume step).

Both return a step's transitions as rows ``[K, n, row]`` in the replay buffer's layout, say which
members produced non-finite numbers, and keep the undiscounted returns of the training episodes with the env
step each ended at (:meth:`pop_returns`, the ``train_return`` column: the mean over the episodes that ended in
the last ``train_return_window`` env steps, as the authors log it every 1000 env steps, however often a run
evaluates).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rlscale.agents.base import Agent
from rlscale.envs import EnvInfo, make_env
from rlscale.train.config import RunConfig


def episode_seed(*keys: int) -> int:
    """A 31-bit reset seed derived from ``keys`` (e.g. run seed, evaluation index, episode)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0] >> 1)


class MemberEnvs:
    """One environment per member; ``train_rngs[k]`` draws member k's episode seeds and warm-up actions."""

    def __init__(self, config: RunConfig, train_rngs: Sequence[np.random.Generator], device: torch.device) -> None:
        k = len(train_rngs)
        made = [make_env(config.env, **config.env_options) for _ in range(2 * k)]
        self.envs, self.eval_envs = [e for e, _ in made[:k]], [e for e, _ in made[k:]]
        self.info: EnvInfo = made[0][1]
        self.obs_dim = int(self.envs[0].observation_space.shape[0])
        self.action_dim = int(self.envs[0].action_space.shape[0])
        self.rngs, self.device, self.steps = train_rngs, device, 1
        self.need_reset = np.ones(k, dtype=bool)
        self.obs = np.zeros((k, self.obs_dim), dtype=np.float32)
        # each member's current episode (reset seed, actions so far): what a mid-episode checkpoint replays
        self.episodes: list[tuple[int, list[np.ndarray]]] = [(0, []) for _ in range(k)]
        self.episode_return = np.zeros(k)
        self.ended: list[list[tuple[int, float]]] = [[] for _ in range(k)]  # (env step it ended at, return)

    def begin(self, states: Sequence[dict[str, Any]] | None, env_step: int) -> None:
        """Continue from the members' checkpointed collector states (None: a fresh start)."""
        for k, state in enumerate(states or []):
            self.ended[k] = _ended(state["ended"], env_step)
            if state["episode"] is not None:  # replay the unfinished episode to rebuild the simulator's state
                seed, actions = state["episode"]
                self.obs[k] = self.envs[k].reset(seed=seed)[0]
                for a in actions:
                    self.obs[k], reward = self.envs[k].step(a)[:2]
                    self.episode_return[k] += reward
                self.episodes[k], self.need_reset[k] = (seed, list(actions)), False

    def at_boundary(self, alive: np.ndarray) -> bool:
        """Every live member is between episodes (a checkpoint here needs no replay)."""
        return bool((self.need_reset | ~alive).all())

    def collect(self, agent: Agent, warmup: bool, alive: np.ndarray, env_step: int) -> tuple[np.ndarray, dict]:
        """One env step of every member: rows ``[K, 1, row]`` and ``{member: why it failed}``."""
        for k in np.flatnonzero(self.need_reset):
            seed = int(self.rngs[k].integers(2**31))
            self.obs[k] = self.envs[k].reset(seed=seed)[0]
            self.episodes[k] = (seed, [])
        self.need_reset[:] = False
        if warmup:
            actions = np.stack([r.uniform(-1.0, 1.0, self.action_dim).astype(np.float32) for r in self.rngs])
        else:
            obs = torch.as_tensor(self.obs, device=self.device)[:, None]
            actions = agent.act(obs, explore=True)[:, 0].cpu().numpy()
        bad = {}
        if not np.isfinite(actions).all():
            finite = np.isfinite(actions).all(1)
            bad = {int(k): f"non-finite action at env step {env_step}" for k in np.flatnonzero(alive & ~finite)}
            actions[~finite] = 0.0
        actions[~alive] = 0.0  # a failed member's env idles along
        k_members = len(self.envs)
        next_obs, rewards, terminated = np.empty_like(self.obs), np.empty(k_members), np.empty(k_members)
        for k, env in enumerate(self.envs):
            next_obs[k], rewards[k], terminated[k], truncated, _ = env.step(actions[k])
            self.episodes[k][1].append(actions[k].copy())
            self.need_reset[k] = terminated[k] or truncated
        self.episode_return += rewards
        for k in np.flatnonzero(self.need_reset):  # the episodes that just ended
            self.ended[k].append((env_step + 1, float(self.episode_return[k])))
            self.episode_return[k] = 0.0
        for k in np.flatnonzero(alive & ~(np.isfinite(rewards) & np.isfinite(next_obs).all(1))):
            bad.setdefault(int(k), f"non-finite reward or observation at env step {env_step + 1}")
        rows = np.concatenate([self.obs, actions, rewards[:, None], next_obs, terminated[:, None]], axis=1,
                              dtype=np.float32)
        self.obs = next_obs
        return rows[:, None], bad

    def pop_returns(self, env_step: int, window: int) -> np.ndarray:
        """Mean return of each member's training episodes that ended in the ``window`` env steps up to
        ``env_step`` (NaN: none); forgets the episodes that ended before that window."""
        self.ended = [_inside(r, env_step, window) for r in self.ended]
        return np.array([np.mean([x for _, x in r]) if r else math.nan for r in self.ended])

    def evaluate(self, agent: Agent, seeds: Sequence[int], env_step: int, episodes: int,
                 alive: np.ndarray) -> np.ndarray:
        """Mean return of ``episodes`` deterministic episodes per live member, members in lockstep; episode e of
        the evaluation at env step t of the member with seed s is reset with ``episode_seed(s, t, e)``, so how
        often a run is evaluated changes none of its numbers."""
        totals = np.zeros(len(self.eval_envs))
        obs = np.zeros((len(self.eval_envs), self.obs_dim), dtype=np.float32)
        for episode in range(episodes):
            running = alive.copy()
            for k in np.flatnonzero(running):
                obs[k] = self.eval_envs[k].reset(seed=episode_seed(seeds[k], env_step, episode))[0]
            while running.any():
                actions = agent.act(torch.as_tensor(obs, device=self.device)[:, None], explore=False)
                actions = actions[:, 0].cpu().numpy()
                for k in np.flatnonzero(running):
                    obs[k], reward, terminated, truncated, _ = self.eval_envs[k].step(actions[k])
                    totals[k] += float(reward)
                    running[k] = not (terminated or truncated)
        return np.where(alive, totals / episodes, math.nan)

    def member_state(self, k: int) -> dict[str, Any]:
        episode = None if self.need_reset[k] else (self.episodes[k][0], np.array(self.episodes[k][1]))
        return {"episode": episode, "ended": [list(e) for e in self.ended[k]]}

    def close(self) -> None:
        for env in (*self.envs, *self.eval_envs):
            env.close()


class ParallelEnvs:
    """N parallel environments of one run (PQL); exploration is the agent's (PQL's per-env noise)."""

    def __init__(self, config: RunConfig, train_rngs: Sequence[np.random.Generator], device: torch.device) -> None:
        from rlscale.envs.parallel import make_parallel_env

        def make(n: int) -> Any:
            return make_parallel_env(config.env, n, device, seed=config.seed, asynchronous=config.asynchronous,
                                     **config.env_options)

        self.envs, self.eval_envs = make(config.num_envs), make(config.eval_episodes)
        self.info: EnvInfo = self.envs.info
        self.obs_dim, self.action_dim = self.envs.obs_dim, self.envs.action_dim
        self.rngs, self.device, self.seed, self.steps = train_rngs, device, config.seed, config.num_envs
        self.episode_return = torch.zeros(config.num_envs, device=device)
        self.ended: list[tuple[int, float]] = []  # (env step it ended at, return)
        self.obs: torch.Tensor | None = None

    def begin(self, states: Sequence[dict[str, Any]] | None, env_step: int) -> None:
        """Every env starts a fresh episode, seeded from the run seed and ``env_step``."""
        if states:
            self.ended = _ended(states[0]["ended"], env_step)
        self.obs = self.envs.reset(seed=episode_seed(self.seed, env_step))

    def at_boundary(self, alive: np.ndarray) -> bool:
        return True  # a resumed run starts fresh episodes anyway

    def collect(self, agent: Agent, warmup: bool, alive: np.ndarray, env_step: int) -> tuple[torch.Tensor, dict]:
        """One vector step: rows ``[1, N, row]`` on the device and ``{0: why it failed}``."""
        if warmup:
            uniform = self.rngs[0].uniform(-1.0, 1.0, (self.steps, self.action_dim))
            action = torch.as_tensor(uniform, dtype=torch.float32, device=self.device)
        else:
            action = agent.act(self.obs[None], explore=True)[0]
        if not torch.isfinite(action).all():
            return torch.empty(0), {0: f"non-finite action at env step {env_step}"}
        step = self.envs.step(action)
        if not (torch.isfinite(step.reward).all() and torch.isfinite(step.final_obs).all()):
            return torch.empty(0), {0: f"non-finite reward or observation at env step {env_step + self.steps}"}
        rows = torch.cat([self.obs, action, step.reward[:, None], step.final_obs, step.terminated[:, None].float()],
                         dim=1)
        self.episode_return += step.reward
        done = step.terminated | step.truncated
        if done.any():
            self.ended += [(env_step + self.steps, r) for r in self.episode_return[done].tolist()]
            self.episode_return[done] = 0.0
        self.obs = step.obs
        return rows[None], {}

    def pop_returns(self, env_step: int, window: int) -> np.ndarray:
        self.ended = _inside(self.ended, env_step, window)
        return np.array([np.mean([x for _, x in self.ended]) if self.ended else math.nan])

    @torch.no_grad()
    def evaluate(self, agent: Agent, seeds: Sequence[int], env_step: int, episodes: int,
                 alive: np.ndarray) -> np.ndarray:
        """Each of the ``eval_episodes`` parallel envs' first deterministic episode, averaged (env i of the
        evaluation at env step t is seeded from ``episode_seed(seed, t, 0) + i``)."""
        obs = self.eval_envs.reset(seed=episode_seed(seeds[0], env_step, 0))
        total = torch.zeros(self.eval_envs.num_envs, device=self.device)
        running = torch.ones(self.eval_envs.num_envs, dtype=torch.bool, device=self.device)
        while running.any():
            step = self.eval_envs.step(agent.act(obs[None], explore=False)[0])
            total += torch.where(running, step.reward.to(self.device), 0.0)
            running &= ~(step.terminated | step.truncated).to(self.device)
            obs = step.obs
        return np.array([float(total.mean())])

    def member_state(self, k: int) -> dict[str, Any]:
        return {"ended": [list(e) for e in self.ended]}

    def close(self) -> None:
        self.envs.close()
        self.eval_envs.close()


def _inside(ended: Sequence[tuple[int, float]], env_step: int, window: int) -> list[tuple[int, float]]:
    """The episodes that ended after ``env_step - window``."""
    return [(step, r) for step, r in ended if step > env_step - window]


def _ended(saved: Sequence[Any], env_step: int) -> list[tuple[int, float]]:
    """A checkpoint's ended episodes; a checkpoint written before they carried their end step holds bare
    returns, counted as ending at the checkpoint's step."""
    return [(int(e[0]), float(e[1])) if isinstance(e, list | tuple) else (env_step, float(e)) for e in saved]
