"""Environments named ``BACKEND:ID`` (gymnasium MuJoCo / classic control, dm_control suite).

Every backend returns a gymnasium ``Env`` with a ``Box`` action space rescaled to [-1, 1] (agents act
in [-1, 1]^A), float32 observations, and termination kept apart from truncation (a time-out is not a
terminal state, so the critic still bootstraps through it). Seeding is per episode: the trainer passes
``reset(seed=...)`` drawn from its own seeded generator, so no simulator RNG has to be checkpointed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rlscale.errors import RlscaleError

if TYPE_CHECKING:  # building the command line reads this module's tables: gymnasium loads with a backend
    import gymnasium as gym

__all__ = ["BACKENDS", "PARALLEL_BACKENDS", "EnvInfo", "check_env_name", "make_env", "parse_env_name"]

#: backends that only exist as parallel envs (:mod:`rlscale.envs.parallel`; no single-env trainer)
PARALLEL_BACKENDS = ("warp", "isaac")


@dataclass(frozen=True)
class EnvInfo:
    """What a run records about its environment (``config.json``)."""

    backend: str
    env_id: str
    versions: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def _make_gym(env_id: str, **options: Any) -> tuple[gym.Env, EnvInfo]:
    from rlscale.envs.gym_backend import make_gym_env

    return make_gym_env(env_id, **options)


def _make_dmc(env_id: str, **options: Any) -> tuple[gym.Env, EnvInfo]:
    from rlscale.envs.dmc_backend import make_dmc_env

    return make_dmc_env(env_id, **options)


def _check_gym(env_id: str) -> None:
    from rlscale.envs.gym_backend import check_gym_id

    check_gym_id(env_id)


def _check_dmc(env_id: str) -> None:
    from rlscale.envs.dmc_backend import check_dmc_id

    check_dmc_id(env_id)


def _parallel_only(backend: str) -> Callable[..., tuple[gym.Env, EnvInfo]]:
    def make(env_id: str, **options: Any) -> tuple[gym.Env, EnvInfo]:
        raise RlscaleError(f"{backend}:{env_id} exists only as parallel environments: train it with algo=pql",
                           params=("algo",))

    return make


# backend name -> factory(env_id, **options) -> (env, info); backends import their simulator lazily.
# PARALLEL_BACKENDS are batched simulators (rlscale.envs.parallel), built only for agents on N parallel envs (PQL).
BACKENDS: dict[str, Callable[..., tuple[gym.Env, EnvInfo]]] = {
    "gym": _make_gym, "dmc": _make_dmc, **{b: _parallel_only(b) for b in PARALLEL_BACKENDS}}
# what each backend option a run leaves unset means (the backend's module reads its default from here)
OPTION_DEFAULTS: dict[str, dict[str, Any]] = {"dmc": {"action_repeat": 1}}
# backend name -> check(env_id) that the backend knows the id, without building it (warp: and isaac: ids are
# known only to their simulator, which the run imports)
ID_CHECKS: dict[str, Callable[[str], None]] = {"gym": _check_gym, "dmc": _check_dmc}


def parse_env_name(name: str) -> tuple[str, str]:
    """Split ``BACKEND:ID``; a bare id is an error because the backend decides seeding and wrappers."""
    backend, sep, env_id = name.partition(":")
    if not sep or not env_id:
        raise RlscaleError(f"environment '{name}' must be BACKEND:ID, backends: {', '.join(sorted(BACKENDS))}")
    if backend not in BACKENDS:
        raise RlscaleError(f"unknown environment backend '{backend}'; available: {', '.join(sorted(BACKENDS))}")
    return backend, env_id


def check_env_name(name: str) -> None:
    """Refuse a name its backend does not know, without building the env: a sweep's typo is one error before
    anything runs, not a failure in each of its runs. What only building tells (a discrete action space, a
    simulator that is not installed) is still the run's to find."""
    backend, env_id = parse_env_name(name)
    if backend in ID_CHECKS:
        ID_CHECKS[backend](env_id)


def make_env(name: str, **options: Any) -> tuple[gym.Env, EnvInfo]:
    """Build ``BACKEND:ID`` with backend ``options`` (e.g. ``action_repeat`` for dmc)."""
    backend, env_id = parse_env_name(name)
    return BACKENDS[backend](env_id, **options)
