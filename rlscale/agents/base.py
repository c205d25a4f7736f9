"""The contract between the trainer and every agent.

The trainer owns environments, the replay buffer, evaluation, logging and checkpoints; an agent owns
its networks, optimisers and update rule. Keeping the contract this small is what lets one trainer run
SAC and BRO (and lets the vectorised grid stack members of one agent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch


@dataclass(frozen=True)
class Batch:
    """A minibatch of transitions, float32 tensors on the agent's device, leading dimension B."""

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor  # [B]
    next_obs: torch.Tensor
    terminated: torch.Tensor  # [B], 1.0 where the episode ended in a terminal state (not a time-out)


@dataclass(frozen=True)
class AgentSettings:
    """The scaling knobs every agent takes; ``None`` widths/depths mean the agent's paper default."""

    learning_rate: float
    critic_width: int | None = None
    critic_depth: int | None = None
    gamma: float = 0.99
    reset_every: int | None = None  # gradient steps between full resets; only agents with resets (BRO)


class Agent(Protocol):
    """What the trainer calls. Actions live in [-1, 1]^action_dim (the env wrappers rescale)."""

    critic_params: int  # N in the paper's compute C = 10 N B sigma D

    def act(self, obs: np.ndarray, *, explore: bool) -> np.ndarray:
        """Actions for a batch of observations ``[n, obs_dim]`` -> ``[n, action_dim]``."""
        ...

    def update(self, batch: Batch) -> dict[str, float | torch.Tensor]:
        """One gradient update (critic, actor, temperature, targets); returns scalar diagnostics.

        Values may be 0-d tensors left on the device: the trainer reads them only at evaluations
        (``float(v)``), so an agent need not synchronise the GPU after every update.
        """
        ...

    def td_error(self, batch: Batch) -> float:
        """Mean squared TD error of the critic on ``batch``, without gradients (overfitting probe)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: networks, targets, optimisers, counters."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# algo name -> "module:Class"; imported lazily so that `rlscale --help` stays fast.
AGENTS: dict[str, str] = {
    "sac": "rlscale.agents.sac:SAC",
    "bro": "rlscale.agents.bro:BRO",
    "pql": "rlscale.agents.pql:PQL",
}
