"""``dmc:<domain>-<task>``: dm_control suite tasks as gymnasium envs.

We wrap dm_control's own ``suite.load`` (a ~60-line adapter) rather than add ``shimmy``: we need
exactly flattened observations, action repeat, the discount-based split between termination
(discount 0) and time-out truncation, and in-place per-episode reseeding, which is all here.
Action repeat defaults to 1, as in the BRO paper's DMC setup (configurable).
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

from rlscale.envs import OPTION_DEFAULTS, EnvInfo
from rlscale.errors import RlscaleError

# No rendering is needed for state-based control; this keeps dm_control from probing GLFW/EGL.
os.environ.setdefault("MUJOCO_GL", "disable")

DEFAULT_ACTION_REPEAT = OPTION_DEFAULTS["dmc"]["action_repeat"]


def _suite() -> Any:
    """dm_control's suite; an install missing one of its own requirements is one line, not a traceback."""
    try:
        from dm_control import suite
    except ImportError as exc:
        reason = f"{exc.name} is missing" if exc.name else str(exc).splitlines()[0]
        raise RlscaleError(f"dmc: tasks need dm_control, which does not import ({reason}): "
                           "pip install 'dm_control>=1.0.20' with its requirements") from exc
    return suite


def available_ids() -> list[str]:
    return sorted(f"{domain}-{task}" for domain, task in _suite().ALL_TASKS)


class DMCEnv(gym.Env):
    """A dm_control task: flat float32 observations, actions in [-1, 1], ``action_repeat`` physics steps."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, domain: str, task: str, action_repeat: int = DEFAULT_ACTION_REPEAT) -> None:
        self._env = _suite().load(domain, task, task_kwargs={"random": 0})
        self.action_repeat = action_repeat
        spec = self._env.action_spec()
        self._low = spec.minimum.astype(np.float64)
        self._high = spec.maximum.astype(np.float64)
        obs_dim = sum(int(np.prod(s.shape)) for s in self._env.observation_spec().values())
        self.action_space = gym.spaces.Box(-1.0, 1.0, spec.shape, np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)

    @staticmethod
    def _flatten(observation: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in observation.values()])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(seed)  # the task's RandomState draws the initial state
        return self._flatten(self._env.reset().observation), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        scaled = self._low + (np.clip(action, -1.0, 1.0) + 1.0) * 0.5 * (self._high - self._low)
        reward = 0.0
        for _ in range(self.action_repeat):
            ts = self._env.step(scaled)
            reward += float(ts.reward or 0.0)
            if ts.last():
                break
        terminated = bool(ts.last() and ts.discount == 0.0)
        truncated = bool(ts.last() and not terminated)
        return self._flatten(ts.observation), reward, terminated, truncated, {}


def check_dmc_id(env_id: str) -> None:
    ids = available_ids()
    if env_id not in ids:
        raise RlscaleError(f"unknown dmc task '{env_id}'; available: {', '.join(ids)}")


def make_dmc_env(env_id: str, action_repeat: int = DEFAULT_ACTION_REPEAT, **options: Any) -> tuple[gym.Env, EnvInfo]:
    if options:
        raise RlscaleError(f"dmc:{env_id} does not take option(s) {', '.join(sorted(options))}")
    if int(action_repeat) < 1:
        raise RlscaleError(f"action repeat must be >= 1, got {action_repeat}")
    check_dmc_id(env_id)
    domain, _, task = env_id.partition("-")
    from importlib.metadata import version

    env = DMCEnv(domain, task, int(action_repeat))
    versions = {"dm_control": version("dm_control"), "mujoco": version("mujoco")}
    return env, EnvInfo("dmc", env_id, versions, {"action_repeat": int(action_repeat)})
