"""Soft Actor-Critic (Haarnoja et al. 2018), the paper's agent on OpenAI Gym. CleanRL-style, one file.

Twin 256x256 critics with Polyak-averaged targets, a tanh-Gaussian actor updated every step, and the
temperature tuned towards an entropy target. The grid's learning rate eta and the critic's width/depth are the
scaling knobs; everything else is fixed at the authors' set-up where their public material shows it:

- eta is the **critic's** learning rate: the authors' analysis code indexes their Gym grid by the run config key
  ``agent.critic_lr`` (prestonfu/qscaled, the grid-search collector). The actor keeps its own learning rate,
  :data:`ACTOR_LR` = 3e-4 (``actor_learning_rate``), the default of the jaxrl SAC learner their configs follow
  (ikostrikov/jaxrl ``SACLearner``; the same in their later public training code, prestonfu/model_scaling).
- entropy target -|A|/2 (:data:`TARGET_ENTROPY_PER_DIM`, ``target_entropy``), the same two sources; initial
  temperature 1.0 and temperature learning rate 3e-4, tau = 0.005, gamma = 0.99, twin critics with the min and
  the entropy term in the target: the same two sources, equal to the usual SAC values.

Ours, because the authors' Gym training code is not public, so these are guesses either way: PyTorch's default
initialisation (``weight_init``; jaxrl: ``orthogonal``), CleanRL's log-std squashing into [-5, 2]
(``log_std_bounds``; jaxrl: ``clip`` to [-10, 2]), the temperature loss on log alpha (``temperature_loss``; jaxrl:
``alpha``, the same fixed point), one independent minibatch per update (Adam's defaults are jaxrl's). jaxrl's three
together did not bring our HalfCheetah curves closer to the authors' (6 seeds each way; README, "SAC: the authors'
set-up"). ``actor_learning_rate`` = eta and ``target_entropy`` = -1 give rlscale's SAC before it followed the
authors (what run folders without these settings were trained with).

Every tensor carries a leading member dimension K (:mod:`rlscale.agents.base`): K configurations that
differ in seed, learning rate and batch size update as one batched computation, and a single run is
K = 1. Members share no parameter, so the gradient of the sum of the K losses is each member's own
gradient in its own slice.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rlscale.agents import AGENTS
from rlscale.agents.base import AgentSettings, Batch, build_members, shared_settings
from rlscale.agents.networks import TanhGaussianActor, TwinCritic, member_norm, member_params
from rlscale.agents.optim import Adam

DEFAULTS = AGENTS["sac"].defaults  # what each setting a run leaves unset means (the registry holds the numbers)
WIDTH, DEPTH = DEFAULTS["critic_width"], DEFAULTS["critic_depth"]  # 256, 2
TAU = 0.005
INIT_TEMPERATURE = 1.0
TEMPERATURE_LR = 3e-4
ACTOR_LR = DEFAULTS["actor_learning_rate"]  # 3e-4 (the grid's eta is the critic's)
TARGET_ENTROPY_PER_DIM = DEFAULTS["target_entropy"]  # -0.5: entropy target -|A|/2


class SAC:
    def __init__(self, obs_dim: int, action_dim: int, members: Sequence[AgentSettings], device: torch.device,
                 seeds: Sequence[int] | None = None) -> None:
        settings = shared_settings(members)
        self.device, self.members = torch.device(device), len(members)
        self.gamma = settings.gamma
        width, depth = settings.critic_width or WIDTH, settings.critic_depth or DEPTH

        orthogonal, clip = settings.weight_init == "orthogonal", settings.log_std_bounds == "clip"

        def networks(m: tuple[int, ...]) -> nn.ModuleDict:
            # the actor follows the critic's width (small critics get small actors); N counts the critic only
            return nn.ModuleDict({"actor": TanhGaussianActor(m, obs_dim, action_dim, width, DEPTH,
                                                             orthogonal=orthogonal, clip=clip),
                                  "critic": TwinCritic(m, obs_dim, action_dim, width, depth, orthogonal=orthogonal)})

        nets = build_members(networks, self.members, seeds, self.device)
        self.actor, self.critic = nets["actor"], nets["critic"]
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.full((self.members,), math.log(INIT_TEMPERATURE), device=self.device,
                                    requires_grad=True)
        per_dim = TARGET_ENTROPY_PER_DIM if settings.target_entropy is None else settings.target_entropy
        self.target_entropy = per_dim * action_dim
        actor_lr = ACTOR_LR if settings.actor_learning_rate is None else settings.actor_learning_rate
        self.critic_opt = Adam(list(self.critic.parameters()), [m.learning_rate for m in members])
        self.actor_opt = Adam(list(self.actor.parameters()), actor_lr)
        self.alpha_opt = Adam([self.log_alpha], TEMPERATURE_LR)
        self.loss_on_alpha = settings.temperature_loss == "alpha"
        self.critic_params = member_params(self.critic)
        self._params, self._target_params = list(self.critic.parameters()), list(self.critic_target.parameters())

    @torch.no_grad()
    def act(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        return self.actor.act(obs, explore)

    def update(self, batch: Batch, noise: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """One SAC step of every member on its own rows of ``batch``; diagnostics ``[K]``, left on the device.

        ``noise`` (next actions', actions'), standard normal ``[K, B, A]``, is drawn here unless given (how a
        test feeds member k the noise of a single run).
        """
        next_noise, noise_now = noise if noise is not None else (None, None)
        alpha = self.log_alpha.detach().exp()[:, None]

        # 1. critic: regress both Qs on the soft clipped-double-Q target
        with torch.no_grad():
            target = self._target(batch, alpha, next_noise)
        q = self.critic(batch.obs, batch.action)
        critic_loss = batch.mean(((q - target.unsqueeze(-2)) ** 2).sum(-2))  # MSE of q1 plus MSE of q2
        self.critic_opt.step(torch.autograd.grad(critic_loss.sum(), self.critic_opt.params))

        # 2. actor: maximise min Q - alpha log pi (gradients taken for the actor's parameters only)
        action, logp = self.actor.sample(batch.obs, noise_now)
        actor_loss = batch.mean(alpha * logp - self.critic(batch.obs, action).min(-2).values)
        self.actor_opt.step(torch.autograd.grad(actor_loss.sum(), self.actor_opt.params))

        # 3. temperature: push the policy's entropy towards its target (-|A|/2 by default)
        entropy = -batch.mean(logp.detach())
        scale = self.log_alpha.exp() if self.loss_on_alpha else self.log_alpha  # jaxrl's loss, or CleanRL's
        alpha_loss = scale * (entropy - self.target_entropy)
        self.alpha_opt.step(torch.autograd.grad(alpha_loss.sum(), [self.log_alpha]))

        # 4. targets: Polyak averaging theta' <- theta' + tau (theta - theta')
        with torch.no_grad():
            torch._foreach_lerp_(self._target_params, self._params, TAU)

        return {"critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(), "alpha": alpha[:, 0],
                "entropy": entropy}

    def _target(self, batch: Batch, alpha: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """The soft clipped double-Q target r + γ(1 − terminated)(min Q' − α log π) at fresh next actions, one
        definition for :meth:`update` and :meth:`td_error`; ``alpha`` ``[K, 1]``, ``noise`` as in :meth:`update`."""
        next_action, next_logp = self.actor.sample(batch.next_obs, noise)
        next_q = self.critic_target(batch.next_obs, next_action).min(-2).values - alpha * next_logp
        return batch.reward + self.gamma * (1.0 - batch.terminated) * next_q

    @torch.no_grad()
    def td_error(self, batch: Batch) -> torch.Tensor:
        """Mean squared TD error of both critics against the same target as in :meth:`update`."""
        target = self._target(batch, self.log_alpha.exp()[:, None])
        return 0.5 * batch.mean(((self.critic(batch.obs, batch.action) - target.unsqueeze(-2)) ** 2).sum(-2))

    def critic_norm(self) -> torch.Tensor:
        return member_norm(self.critic)

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
