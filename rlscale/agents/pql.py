"""Parallel Q-Learning (Li et al., ICML 2023), the paper's agent on Isaac Gym. CleanRL-style, one file.

PQL splits DDPG/TD3-style learning into three roles that run at the same time:

* the **actor** (collector) steps N parallel envs with a deterministic policy plus Gaussian noise whose
  scale differs per env ("mixed exploration": env i uses a fixed std spread over [0.05, 0.8]);
* the **V-learner** trains the critic: twin Q MLPs, clipped double-Q targets, Polyak-averaged target
  critic. This is PQL's default non-distributional critic (not PQL-D's categorical one), with 1-step
  targets (PQL's n-step returns are not implemented);
* the **P-learner** trains the policy to maximise min(Q1, Q2) under its own copy of the critic.

Each role trains only its own network and reads the others' through *published snapshots*
(:class:`_Snapshot`): PQL's local copies that are synced as learning goes, so no lock is held during a
gradient step. The threads that run the two learners, and pace them to the run's ``utd``, are the
trainer's (:class:`rlscale.train.learners.ConcurrentLearners`); this file holds the networks and the
update rules. A PQL run is one member (K = 1 in the shapes of :mod:`rlscale.agents.base`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rlscale.agents import AGENTS
from rlscale.agents.base import AgentSettings, Batch, build_members
from rlscale.agents.networks import TwinCritic, member_norm, member_params, mlp
from rlscale.agents.optim import Adam
from rlscale.errors import RlscaleError

DEFAULTS = AGENTS["pql"].defaults  # what each setting a run leaves unset means (the registry holds the numbers)
WIDTH, DEPTH = DEFAULTS["critic_width"], DEFAULTS["critic_depth"]  # 256, 2
TAU = 0.05  # PQL's Polyak rate: its learners see a lot of fresh data per update
NOISE_MIN, NOISE_MAX = 0.05, 0.8  # PQL's mixed exploration range
POLICY_EVERY = 2  # critic updates per policy update (PQL's P-learner : V-learner ratio 1:2)


class DeterministicActor(nn.Module):
    def __init__(self, members: tuple[int, ...], obs_dim: int, action_dim: int, width: int, depth: int) -> None:
        super().__init__()
        self.trunk = mlp(members, obs_dim, action_dim, width, depth)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.trunk(obs))


def exploration_std(num_envs: int, device: torch.device) -> torch.Tensor:
    """Env i explores with a fixed std, evenly spread over [NOISE_MIN, NOISE_MAX]: ``[N, 1]``."""
    return torch.linspace(NOISE_MIN, NOISE_MAX, num_envs, device=device)[:, None]


class _Snapshot:
    """A network's parameters as last published by the thread that trains it.

    Publishing stores fresh clones (never written again), so a reader can copy them into its own module
    at any time without a lock; on CUDA an event orders the reader's copy after the writer's kernels.
    """

    def __init__(self, module: nn.Module) -> None:
        self.state: tuple[int, list[torch.Tensor], torch.cuda.Event | None] = (0, [], None)
        self.publish(module)

    @torch.no_grad()
    def publish(self, module: nn.Module) -> None:
        params = [p.detach().clone() for p in module.parameters()]
        event = None
        if params[0].is_cuda:
            event = torch.cuda.Event()
            event.record()
        self.state = (self.state[0] + 1, params, event)  # one reference assignment: atomic for readers

    @torch.no_grad()
    def pull(self, module: nn.Module, seen: int) -> int:
        """Copy the latest snapshot into ``module`` if newer than version ``seen``; returns the version held."""
        version, params, event = self.state
        if version != seen:
            if event is not None:
                torch.cuda.current_stream().wait_event(event)
                for p in params:  # the allocator must not recycle them before this stream has read them
                    p.record_stream(torch.cuda.current_stream())
            torch._foreach_copy_(list(module.parameters()), params)
        return version


class PQL:
    """The PQL networks and update rules; satisfies the :class:`~rlscale.agents.base.Agent` contract."""

    def __init__(self, obs_dim: int, action_dim: int, members: Sequence[AgentSettings], device: torch.device,
                 seeds: Sequence[int] | None = None, *, policy_every: int = POLICY_EVERY) -> None:
        if len(members) != 1:
            raise RlscaleError("pql trains one configuration per process (its learners are threads), "
                               f"got {len(members)}")
        settings = members[0]
        self.device, self.members = torch.device(device), 1
        self.gamma, self.policy_every = settings.gamma, policy_every
        width, depth = settings.critic_width or WIDTH, settings.critic_depth or DEPTH
        nets = build_members(lambda m: nn.ModuleDict({
            "actor": DeterministicActor(m, obs_dim, action_dim, width, DEPTH),  # the P-learner's
            "critic": TwinCritic(m, obs_dim, action_dim, width, depth)}), 1, seeds, self.device)  # the V-learner's
        self.actor, self.critic = nets["actor"], nets["critic"]
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = Adam(list(self.actor.parameters()), settings.learning_rate)
        self.critic_opt = Adam(list(self.critic.parameters()), settings.learning_rate)
        self.critic_params = member_params(self.critic)
        # each role's local copies of the networks it reads but does not train
        self.actor_of_v = copy.deepcopy(self.actor).requires_grad_(False)
        self.actor_of_collector = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_of_p = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_pub, self.critic_pub = _Snapshot(self.actor), _Snapshot(self.critic)
        self._seen = {"v": 1, "p": 1, "collector": 1}
        self._params = list(self.critic.parameters())
        self._target_params = list(self.critic_target.parameters())
        self._critic_steps = 0  # for the sequential ``update``

    # ---------------------------------------------------------------- actor (collector)
    @torch.no_grad()
    def act(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        """The latest published policy on ``[1, n, obs_dim]``; exploring, env i adds its own fixed noise std."""
        self._seen["collector"] = self.actor_pub.pull(self.actor_of_collector, self._seen["collector"])
        action = self.actor_of_collector(obs)
        if explore:
            std = exploration_std(obs.shape[-2], self.device)
            action = (action + std * torch.randn_like(action)).clamp(-1.0, 1.0)
        return action

    # ---------------------------------------------------------------- V-learner
    def _target(self, batch: Batch) -> torch.Tensor:
        next_q = self.critic_target(batch.next_obs, self.actor_of_v(batch.next_obs)).min(-2).values
        return batch.reward + self.gamma * (1.0 - batch.terminated) * next_q

    def update_critic(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One critic step on the clipped double-Q target, then Polyak targets and publish the critic."""
        self._seen["v"] = self.actor_pub.pull(self.actor_of_v, self._seen["v"])
        with torch.no_grad():
            target = self._target(batch)
        q = self.critic(batch.obs, batch.action)
        critic_loss = batch.mean(((q - target.unsqueeze(-2)) ** 2).sum(-2))
        self.critic_opt.step(torch.autograd.grad(critic_loss.sum(), self.critic_opt.params))
        with torch.no_grad():
            torch._foreach_lerp_(self._target_params, self._params, TAU)
        self.critic_pub.publish(self.critic)
        return {"critic_loss": critic_loss.detach(), "q": batch.mean(q[..., 0, :].detach())}

    # ---------------------------------------------------------------- P-learner
    def update_actor(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One policy step: maximise min(Q1, Q2) of the P-learner's critic copy, then publish the policy."""
        self._seen["p"] = self.critic_pub.pull(self.critic_of_p, self._seen["p"])
        actor_loss = -batch.mean(self.critic_of_p(batch.obs, self.actor(batch.obs)).min(-2).values)
        self.actor_opt.step(torch.autograd.grad(actor_loss.sum(), self.actor_opt.params))
        self.actor_pub.publish(self.actor)
        return {"actor_loss": actor_loss.detach()}

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The sequential form of the two learners (the Agent contract): a critic step, a policy step every
        ``policy_every`` critic steps."""
        info = self.update_critic(batch)
        self._critic_steps += 1
        if self._critic_steps % self.policy_every == 0:
            info.update(self.update_actor(batch))
        return info

    @torch.no_grad()
    def td_error(self, batch: Batch) -> torch.Tensor:
        q = self.critic(batch.obs, batch.action)
        return 0.5 * batch.mean(((q - self._target(batch).unsqueeze(-2)) ** 2).sum(-2))

    def critic_norm(self) -> torch.Tensor:
        return member_norm(self.critic)

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "critic_target": self.critic_target.state_dict(), "actor_of_v": self.actor_of_v.state_dict(),
                "critic_of_p": self.critic_of_p.state_dict(), "actor_opt": self.actor_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict(), "critic_steps": self._critic_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("actor", "critic", "critic_target", "actor_of_v", "critic_of_p", "actor_opt", "critic_opt"):
            getattr(self, name).load_state_dict(state[name])
        self._critic_steps = int(state["critic_steps"])
        self.actor_of_collector.load_state_dict(state["actor"])
        self.actor_pub.publish(self.actor)
        self.critic_pub.publish(self.critic)
        actor_version, critic_version = self.actor_pub.state[0], self.critic_pub.state[0]
        self._seen = {"v": actor_version, "p": critic_version, "collector": actor_version}
