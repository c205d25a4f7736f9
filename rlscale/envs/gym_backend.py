"""``gym:<id>``: gymnasium tasks (MuJoCo v4/v5, classic control) with actions rescaled to [-1, 1]."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np

from rlscale.envs import EnvInfo
from rlscale.errors import RlscaleError

# Entry-point prefixes of the continuous-control families we support.
_FAMILIES = ("gymnasium.envs.mujoco", "gymnasium.envs.classic_control")


def available_ids() -> list[str]:
    """Continuous-action MuJoCo and classic-control ids registered in this gymnasium."""
    ids = []
    for env_id, spec in gym.registry.items():
        entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
        continuous = entry.startswith(_FAMILIES[0]) or "Pendulum" in env_id or "Continuous" in env_id
        if entry.startswith(_FAMILIES) and continuous:
            ids.append(env_id)
    return sorted(ids)


def check_gym_id(env_id: str) -> None:
    if env_id not in gym.registry:
        raise RlscaleError(f"unknown gym id '{env_id}'; available: {', '.join(available_ids())}")


def make_gym_env(env_id: str, **options: Any) -> tuple[gym.Env, EnvInfo]:
    if options:
        raise RlscaleError(f"gym:{env_id} takes no environment options, got {', '.join(sorted(options))}")
    check_gym_id(env_id)
    try:
        with warnings.catch_warnings():  # v4 is the paper's version; gymnasium's "out of date" notice is noise
            warnings.simplefilter("ignore", DeprecationWarning)
            env = gym.make(env_id)
    except (gym.error.Error, ImportError) as exc:
        raise RlscaleError(f"cannot build gym:{env_id}: {exc}") from exc
    if not isinstance(env.action_space, gym.spaces.Box):
        env.close()
        raise RlscaleError(f"gym:{env_id} has a discrete action space; rlscale agents need continuous actions")
    ones = np.ones(env.action_space.shape, dtype=np.float32)
    env = gym.wrappers.RescaleAction(env, -ones, ones)
    env = gym.wrappers.TransformObservation(
        env,
        lambda obs: np.asarray(obs, dtype=np.float32),
        gym.spaces.Box(-np.inf, np.inf, env.observation_space.shape, np.float32),
    )
    versions = {"gymnasium": gym.__version__}
    if env.spec is not None and "mujoco" in str(env.spec.entry_point):
        import mujoco

        versions["mujoco"] = mujoco.__version__
    return env, EnvInfo("gym", env_id, versions, {})
