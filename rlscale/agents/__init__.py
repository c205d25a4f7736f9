"""Agents, one readable file each (CleanRL style): SAC for Gym, BRO for DMC, PQL for parallel simulation.

Every agent implements :class:`rlscale.agents.base.Agent` for K members at once (the K configurations
of a chunk; a single run is K = 1) and is built by :func:`make_agent`. This module imports nothing
heavy: the registry is read when the command line is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rlscale.errors import RlscaleError

if TYPE_CHECKING:
    from rlscale.agents.base import Agent, AgentSettings


@dataclass(frozen=True)
class AgentEntry:
    """Where an agent lives and how it collects data."""

    path: str  # "module:Class", imported lazily so that `rlscale --help` stays fast
    # True: one run steps N parallel envs while learner threads update concurrently (PQL); such agents
    # train one member per process. False: one env per member, updates in the collector's thread.
    parallel: bool = False
    # the optional run settings (RunConfig fields left None) this agent takes, and what each means when a run
    # leaves it unset: a run that sets one to this value is the same run (the agent's module reads its
    # constants from here). A setting some entry names is refused for agents whose entry does not, and the
    # `rlscale train` help lists who takes it with which default: a new agent-specific knob is a RunConfig
    # field, an AgentSettings field of the same name and a key here. An agent's other constants belong in its
    # module
    defaults: Mapping[str, Any] = field(default_factory=dict)
    about: str = ""  # a few words for `--algo`'s help: what the agent is for


AGENTS: dict[str, AgentEntry] = {
    "sac": AgentEntry("rlscale.agents.sac:SAC", about="the paper's agent on Gym", defaults={
        "critic_width": 256, "critic_depth": 2, "actor_learning_rate": 3e-4, "target_entropy": -0.5,
        "weight_init": "torch", "log_std_bounds": "squash", "temperature_loss": "log_alpha"}),
    "bro": AgentEntry("rlscale.agents.bro:BRO", about="the paper's agent on DMC", defaults={
        "critic_width": 512, "critic_depth": 2, "reset_every": 2_500_000}),
    "pql": AgentEntry("rlscale.agents.pql:PQL", about="on num_envs parallel envs", parallel=True,
                      defaults={"critic_width": 256, "critic_depth": 2}),
}


def make_agent(algo: str, obs_dim: int, action_dim: int, settings: AgentSettings | Sequence[AgentSettings],
               device: Any, seeds: Sequence[int] | None = None) -> Agent:
    """Build the agent named ``algo`` with one member per settings (one settings object: one member).

    With ``seeds``, member k's networks are initialised right after ``torch.manual_seed(seeds[k])``, so
    member k starts from exactly the weights of a single run with that seed.
    """
    if algo not in AGENTS:
        raise RlscaleError(f"unknown algo '{algo}'; available: {', '.join(sorted(AGENTS))}")
    module, cls = AGENTS[algo].path.split(":")
    members = list(settings) if isinstance(settings, Sequence) else [settings]
    agent = getattr(importlib.import_module(module), cls, None)
    if agent is None:
        raise RlscaleError(f"agent {algo}: module {module} has no {cls} (its registry path is {AGENTS[algo].path})")
    return agent(obs_dim, action_dim, members, device, seeds)
