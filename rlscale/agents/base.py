"""The contract between the trainer and every agent, for K members at once.

The trainer owns environments, the replay buffer, evaluation, logging and checkpoints; an agent owns
its networks, optimisers and update rule. Every tensor an agent takes or returns has a leading
*member* dimension K: the K configurations of a chunk (``rlscale sweep --vectorize``), which may differ
in seed, learning rate and batch size. A single run is K = 1 of the same code. Keeping the contract
this small is what lets one training loop run SAC, BRO and PQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch
from torch import nn

from rlscale.errors import RlscaleError


@dataclass(frozen=True)
class Batch:
    """Minibatches of the K members: float32 tensors ``[K, B, ...]`` on the agent's device."""

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor  # [K, B]
    next_obs: torch.Tensor
    terminated: torch.Tensor  # [K, B], 1.0 where the episode ended in a terminal state (not a time-out)
    # [K, B]: member k's batch is its first B_k rows (weights 1/B_k, then 0), when batch sizes differ;
    # None: every member uses all B rows
    weight: torch.Tensor | None = None

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """Each member's mean of ``x [K, B]`` over its own rows: ``[K]``."""
        return x.mean(-1) if self.weight is None else (x * self.weight).sum(-1)


def member_weights(counts: Sequence[int], width: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """:attr:`Batch.weight` for members whose batches are their first ``counts[k]`` of ``width`` rows (None when
    every member uses all rows)."""
    if all(c == width for c in counts):
        return None
    mask = torch.arange(width)[None] < torch.as_tensor(list(counts))[:, None]
    return (mask / mask.sum(1, keepdim=True).clamp(min=1)).to(device)


@dataclass(frozen=True)
class AgentSettings:
    """One member's settings: each field is the run setting of the same name (``rlscale.train.config.RunConfig``,
    whose help says what it does). ``None`` means the agent's default; the agents that take an optional setting,
    and their defaults, are their registry entries' (``rlscale.agents.AGENTS``)."""

    learning_rate: float
    critic_width: int | None = None
    critic_depth: int | None = None
    gamma: float = 0.99
    reset_every: int | None = None
    actor_learning_rate: float | None = None
    target_entropy: float | None = None
    weight_init: str | None = None
    log_std_bounds: str | None = None
    temperature_loss: str | None = None


def shared_settings(members: Sequence[AgentSettings]) -> AgentSettings:
    """The settings every member shares (all but the learning rate, which is NaN here: an optimiser built from it
    would train every member at one rate while each records its own; read each member's); members that differ
    otherwise are refused."""
    if not members:
        raise RlscaleError("an agent needs at least one member")
    first = replace(members[0], learning_rate=0.0)
    if any(replace(m, learning_rate=0.0) != first for m in members):
        raise RlscaleError("members of one agent may differ only in learning rate (and seed, batch size)")
    return replace(first, learning_rate=math.nan)


class Agent(Protocol):
    """What the trainer calls. Actions live in [-1, 1]^action_dim (the env wrappers rescale)."""

    members: int  # K
    critic_params: int  # N in the paper's compute C = 10 N B sigma D, of one member

    def act(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        """Actions ``[K, n, action_dim]`` for observations ``[K, n, obs_dim]``."""
        ...

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One gradient update of every member; diagnostics ``[K]``, left on the device (the trainer reads
        them only at evaluations, so an agent need not synchronise the GPU after every update)."""
        ...

    def td_error(self, batch: Batch) -> torch.Tensor:
        """Each member's mean squared TD error of its critic on its rows of ``batch`` (``[K]``, no gradients)."""
        ...

    def critic_norm(self) -> torch.Tensor:
        """Each member's critic parameter norm ``[K]`` (the paper's plasticity proxy)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly; every tensor of one dimension or more is member-stacked."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class ParallelAgent(Agent, Protocol):
    """An agent on N parallel envs (registry ``parallel=True``, PQL): besides :meth:`update`, a critic and a policy
    learner that the trainer runs in two threads, one policy step per ``policy_every`` critic steps."""

    policy_every: int

    def update_critic(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One critic step (the steps the run's sigma counts); diagnostics ``[K]``."""
        ...

    def update_actor(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One policy step; diagnostics ``[K]``."""
        ...


PARALLEL_METHODS = ("policy_every", "update_critic", "update_actor")  # what a ParallelAgent adds to an Agent


# ---------------------------------------------------------------------------------------------- members
def build_members(build: Callable[[tuple[int, ...]], nn.Module], k: int, seeds: Sequence[int] | None,
                  device: torch.device) -> nn.Module:
    """``build((1,))`` once per member (right after ``torch.manual_seed(seeds[i])`` when seeds are given),
    joined into ``build((k,))``: member i starts from exactly the weights a single run would."""
    if seeds is not None and len(seeds) != k:
        raise ValueError(f"{len(seeds)} seeds for {k} members")
    parts = []
    for i in range(k):
        if seeds is not None:
            torch.manual_seed(seeds[i])
        parts.append(build((1,)))
    if k == 1:
        return parts[0].to(device)
    with torch.device("meta"):  # the joined module's own initialisation would be thrown away
        whole = build((k,))
    whole.to_empty(device=device)  # keeps the memory layout each parameter was built with
    states = [p.state_dict() for p in parts]
    whole.load_state_dict({name: torch.cat([s[name] for s in states]) for name in states[0]})
    return whole


def member_state(state: Any, k: int) -> Any:
    """Member k's slice of an agent's ``state_dict``: every tensor of one dimension or more is cut to row
    ``k:k+1`` (a K = 1 agent's state), everything else (step counts) is shared."""
    if isinstance(state, torch.Tensor):
        return state[k : k + 1].clone() if state.dim() else state.clone()
    if isinstance(state, dict):
        return {name: member_state(v, k) for name, v in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(member_state(v, k) for v in state)
    return state


def join_states(states: Sequence[Any]) -> Any:
    """The inverse of :func:`member_state`: K members' states stacked back into one agent's state."""
    first = states[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(list(states)) if first.dim() else first
    if isinstance(first, dict):
        return {name: join_states([s[name] for s in states]) for name in first}
    if isinstance(first, list | tuple):
        return type(first)(join_states(list(vs)) for vs in zip(*states, strict=True))
    return first
