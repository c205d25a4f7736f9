"""BRO: Bigger, Regularized, Optimistic (Nauman et al. 2024), the paper's agent on DeepMind Control.

CleanRL-style, one file. BRO is SAC with four changes, each visible in :meth:`BRO.update`:

- **Bigger**: a wide BroNet critic (residual blocks with layer norm, :mod:`rlscale.agents.bronet`).
- **Regularized**: AdamW weight decay, layer norm everywhere, and *full parameter resets* (every network,
  target and optimiser re-initialised) every ``reset_every`` gradient steps (2.5e6 in the scaling paper).
- **Distributional, not pessimistic**: twin quantile critics (100 quantiles, quantile Huber loss); the
  target and the actor use the *mean* of the two critics (pessimism 0), not their minimum.
- **Optimistic exploration**: a second, "optimistic" actor shifts the conservative actor's mean towards
  an upper confidence bound Q_mean + beta_opt * Q_spread; it acts in the environment, the conservative
  actor is evaluated. A KL penalty to the conservative actor (weight and beta_opt tuned by dual
  gradient steps towards a target KL) keeps the two close.

Hyperparameters are those of the reference code (``naumix/BiggerRegularizedOptimistic``); the learning
rate of the critic and both actors, and the critic's width/depth, are the scaling knobs.

Every tensor carries a leading member dimension K (:mod:`rlscale.agents.base`): K configurations that
differ in seed, learning rate and batch size update as one batched computation, and a single run is
K = 1, so the paper's DMC grid can be trained vectorised too.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

from rlscale.agents import AGENTS
from rlscale.agents.base import AgentSettings, Batch, build_members, shared_settings
from rlscale.agents.bronet import GAIN, BroNet
from rlscale.agents.networks import Linear, member_norm, member_params
from rlscale.agents.optim import Adam

DEFAULTS = AGENTS["bro"].defaults  # what each setting a run leaves unset means (the registry holds the numbers)
WIDTH, DEPTH = DEFAULTS["critic_width"], DEFAULTS["critic_depth"]  # BroNet with 2 residual blocks of width 512
ACTOR_WIDTH, ACTOR_DEPTH = 256, 1
N_QUANTILES = 100
KAPPA = 1.0  # quantile Huber threshold
TAU = 0.005
WEIGHT_DECAY = 1e-4  # optax.adamw's default, which the reference code uses
LOG_STD_MIN, LOG_STD_MAX = -10.0, 2.0
INIT_TEMPERATURE = 1.0
TEMPERATURE_LR = 3e-4
PESSIMISM = 0.0  # 0: mean of the two critics; 1 would be the clipped-double-Q-like lower bound
INIT_OPTIMISM, INIT_KL_WEIGHT = 1.0, 0.25
ADJUSTMENT_LR = 3e-5  # for optimism and the KL weight
DUAL_BETAS = (0.5, 0.999)  # the temperature's and the dual variables' Adam
KL_TARGET = 0.05  # per action dimension
STD_MULTIPLIER = 0.75  # the optimistic actor's std is this fraction of the conservative actor's
RESET_EVERY = DEFAULTS["reset_every"]  # 2.5e6 gradient steps between full resets, as in the paper's runs


class QuantileCritics(nn.Module):
    """Two independent BroNet critics per member (one more member dimension), each returning
    ``N_QUANTILES`` quantiles of Z(s, a): ``[*members, 2, B, N_QUANTILES]``."""

    def __init__(self, members: tuple[int, ...], obs_dim: int, action_dim: int, width: int, depth: int) -> None:
        super().__init__()
        self.z = BroNet((*members, 2), obs_dim + action_dim, width, depth, N_QUANTILES)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], dim=-1).unsqueeze(-3)
        return self.z(x.expand(*x.shape[:-3], 2, *x.shape[-2:]))


def critic_value(z: torch.Tensor, optimism: float | torch.Tensor = -PESSIMISM) -> torch.Tensor:
    """Quantiles ``[..., 2, B, N]`` of the twin critics -> mean ``+ optimism x`` half their spread: ``[..., B, N]``."""
    return z.mean(-3) + optimism * 0.5 * (z[..., 0, :, :] - z[..., 1, :, :]).abs()


class Actor(nn.Module):
    """The conservative policy: mean and std of a Gaussian that is squashed by tanh."""

    def __init__(self, members: tuple[int, ...], obs_dim: int, action_dim: int) -> None:
        super().__init__()
        self.trunk = BroNet(members, obs_dim, ACTOR_WIDTH, ACTOR_DEPTH)
        self.mean = Linear(members, ACTOR_WIDTH, action_dim, gain=GAIN)
        self.log_std = Linear(members, ACTOR_WIDTH, action_dim, gain=1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (1 + torch.tanh(self.log_std(h)))
        return self.mean(h), log_std.exp()


class OptimisticActor(nn.Module):
    """Shifts the conservative mean (a small learned shift, initialised near 0) and narrows its std."""

    def __init__(self, members: tuple[int, ...], obs_dim: int, action_dim: int) -> None:
        super().__init__()
        self.trunk = BroNet(members, obs_dim + action_dim, ACTOR_WIDTH, ACTOR_DEPTH)
        self.shift = Linear(members, ACTOR_WIDTH, action_dim, bias=False, gain=0.01)

    def forward(self, obs: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return mean + self.shift(self.trunk(torch.cat([obs, mean], dim=-1))), std * STD_MULTIPLIER


class BoundedScalar(nn.Module):
    """A positive scalar per member exp(l), with l tanh-squashed into [-10, 7.5] so dual ascent cannot run away."""

    LOG_MIN, LOG_MAX = -10.0, 7.5

    def __init__(self, members: tuple[int, ...], init: float) -> None:
        super().__init__()
        half = 0.5 * (self.LOG_MAX - self.LOG_MIN)
        self.raw = nn.Parameter(torch.full(members, math.atanh((math.log(init) - self.LOG_MIN) / half - 1.0)))

    def forward(self) -> torch.Tensor:
        return torch.exp(self.LOG_MIN + 0.5 * (self.LOG_MAX - self.LOG_MIN) * (1 + torch.tanh(self.raw)))


def squashed_sample(mean: torch.Tensor, std: torch.Tensor,
                    noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A reparameterised tanh-Gaussian action and its log-probability ``[..., B]``; ``noise`` is the standard
    normal draw (drawn here unless given)."""
    u = mean + std * (torch.randn_like(mean) if noise is None else noise)
    logp = Normal(mean, std, validate_args=False).log_prob(u).sum(-1)
    # log|det d tanh(u)/du| = sum log(1 - tanh(u)^2), in the numerically stable softplus form
    squash = (2 * (math.log(2.0) - u - F.softplus(-2 * u))).sum(-1)
    return torch.tanh(u), logp - squash


def quantile_huber_loss(z: torch.Tensor, target: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
    """QR-DQN loss per sample: predicted quantiles ``z [..., B, N]`` (levels ``taus [N]``) against target
    samples ``[..., B, M]`` (no gradient) -> ``[..., B]``, summed over quantiles, averaged over target samples.

    For every pair, u = target - z and the loss is |tau - 1{u < 0}| huber(u) / kappa. Written as one autograd
    function (its gradient is -|tau - 1{u < 0}| clamp(u, -kappa, kappa) / kappa, averaged over targets) rather
    than through ``F.huber_loss``: autograd would keep several ``[..., B, N, M]`` tensors (100 x 100 pairs per
    sample) alive for the backward pass, which on CPU made K members' batched update slower than K single ones;
    this keeps only ``[..., B, N]``, and computes the pairs in cache-sized passes on the CPU, nine elementwise
    kernels each into three buffers reused from pass to pass (memory traffic, not arithmetic, is their cost: a
    fresh temporary per kernel is memory the cache has not seen). On a GPU a pass costs nine kernel launches
    rather than cache misses, so it takes far larger ones: K = 64 members at the paper's batch of 256 hold
    3.3e8 pairs, 5000 CPU-sized passes but 10 GPU-sized ones.
    """
    return _QuantileHuber.apply(z, target, taus)


class _QuantileHuber(torch.autograd.Function):
    CHUNK = 1 << 16  # CPU: (quantile, target) pairs per pass, 256 kB of float32 per buffer: the three stay in cache
    DEVICE_CHUNK = 1 << 25  # GPU: 128 MB of float32 per buffer

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, target: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
        lead = torch.broadcast_shapes(z.shape[:-1], target.shape[:-1])
        z2, t2 = z.expand(*lead, z.shape[-1]).reshape(-1, z.shape[-1]), target.expand(*lead, target.shape[-1])
        t2 = t2.reshape(-1, target.shape[-1])
        loss, slope = z2.new_empty(len(z2)), torch.empty_like(z2)
        chunk = _QuantileHuber.CHUNK if z.device.type == "cpu" else _QuantileHuber.DEVICE_CHUNK
        rows = min(len(z2), max(1, chunk // (z2.shape[1] * t2.shape[1])))
        buffers = [z2.new_empty(rows, z2.shape[1], t2.shape[1]) for _ in range(3)]
        tilt = taus[:, None] - 0.5
        for t, q, slope_rows, loss_rows in zip(t2.unsqueeze(1).split(rows), z2.unsqueeze(2).split(rows),
                                               slope.split(rows), loss.split(rows), strict=True):
            u, c, weighted = buffers if len(t) == rows else (b[: len(t)] for b in buffers)
            torch.sub(t, q, out=u)  # every (predicted quantile, target) pair
            torch.clamp(u, -KAPPA, KAPPA, out=c)
            # |tau - 1{u < 0}| c = c / 2 + (tau - 1/2) |c|: under-estimates weigh tau, over-estimates 1 - tau (a pair
            # with u = 0 adds nothing either way); arithmetic, as torch.where is an order of magnitude slower on CPU
            torch.abs(c, out=weighted).mul_(tilt).add_(c, alpha=0.5)
            torch.mean(weighted, -1, out=slope_rows)
            # huber(u) = c (u - c / 2), c = clamp(u): u^2 / 2 inside, |c| (|u| - |c| / 2) outside
            torch.sum(weighted.mul_(u.sub_(c, alpha=0.5)), (-2, -1), out=loss_rows)
        ctx.save_for_backward(slope.view(*lead, -1).sum_to_size(z.shape) / KAPPA)
        return loss.view(lead) / (KAPPA * t2.shape[1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (slope,) = ctx.saved_tensors
        return -grad.unsqueeze(-1) * slope, None, None


class BRO:
    def __init__(self, obs_dim: int, action_dim: int, members: Sequence[AgentSettings], device: torch.device,
                 seeds: Sequence[int] | None = None) -> None:
        settings = shared_settings(members)
        self.device, self.members = torch.device(device), len(members)
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.gamma = settings.gamma
        self.lrs = [m.learning_rate for m in members]
        self.width, self.depth = settings.critic_width or WIDTH, settings.critic_depth or DEPTH
        self.reset_every = int(settings.reset_every or RESET_EVERY)
        self.target_entropy = -action_dim / 2.0
        self.taus = ((torch.arange(N_QUANTILES, device=self.device) + 0.5) / N_QUANTILES).float()
        self.updates = 0
        self.resets = 0
        self._build(seeds)
        self.critic_params = member_params(self.critic)

    def _build(self, seeds: Sequence[int] | None = None) -> None:
        """(Re-)initialise every network, target, temperature, dual variable and optimiser."""

        def networks(m: tuple[int, ...]) -> nn.ModuleDict:
            return nn.ModuleDict({
                "critic": QuantileCritics(m, self.obs_dim, self.action_dim, self.width, self.depth),
                "actor": Actor(m, self.obs_dim, self.action_dim),
                "actor_o": OptimisticActor(m, self.obs_dim, self.action_dim),
                "optimism": BoundedScalar(m, INIT_OPTIMISM), "kl_weight": BoundedScalar(m, INIT_KL_WEIGHT)})

        nets = build_members(networks, self.members, seeds, self.device)
        self.critic, self.actor, self.actor_o = nets["critic"], nets["actor"], nets["actor_o"]
        self.optimism, self.kl_weight = nets["optimism"], nets["kl_weight"]
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.full((self.members,), math.log(INIT_TEMPERATURE), device=self.device,
                                    requires_grad=True)
        self.critic_opt = Adam(list(self.critic.parameters()), self.lrs, weight_decay=WEIGHT_DECAY)
        self.actor_opt = Adam(list(self.actor.parameters()), self.lrs, weight_decay=WEIGHT_DECAY)
        self.actor_o_opt = Adam(list(self.actor_o.parameters()), self.lrs, weight_decay=WEIGHT_DECAY)
        self.alpha_opt = Adam([self.log_alpha], TEMPERATURE_LR, betas=DUAL_BETAS)
        self.dual_opt = Adam([self.optimism.raw, self.kl_weight.raw], ADJUSTMENT_LR, betas=DUAL_BETAS)
        self._params, self._target_params = list(self.critic.parameters()), list(self.critic_target.parameters())

    @torch.no_grad()
    def act(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        """Explore with the optimistic actor; evaluate the conservative actor's mean action."""
        mean, std = self.actor(obs)
        if not explore:
            return torch.tanh(mean)
        mean_o, std_o = self.actor_o(obs, mean, std)
        return torch.tanh(mean_o + std_o * torch.randn_like(mean_o))  # squashed_sample's action, without log pi

    def update(self, batch: Batch, noise: tuple[torch.Tensor, ...] | None = None) -> dict[str, torch.Tensor]:
        """One BRO step of every member on its own rows of ``batch``; diagnostics ``[K]``, left on the device.

        ``noise`` (next actions', actions', optimistic actions'), standard normal ``[K, B, A]``, is drawn here
        unless given (how a test feeds member k the noise of a single run).
        """
        # 0. full reset every `reset_every` gradient steps (plasticity): everything starts from scratch
        if self.updates and self.updates % self.reset_every == 0:
            self._build()
            self.resets += 1
        self.updates += 1
        next_noise, noise_now, optimistic_noise = noise if noise is not None else (None, None, None)
        alpha = self.log_alpha.detach().exp()[:, None]

        # 1. critics: quantile regression on the soft target built from the *mean* of both target critics
        with torch.no_grad():
            next_action, next_logp = squashed_sample(*self.actor(batch.next_obs), next_noise)
            next_z = critic_value(self.critic_target(batch.next_obs, next_action))
            not_done = (1.0 - batch.terminated).unsqueeze(-1)
            target = batch.reward.unsqueeze(-1) + self.gamma * not_done * (next_z - (alpha * next_logp).unsqueeze(-1))
        z = self.critic(batch.obs, batch.action)
        critic_loss = batch.mean(quantile_huber_loss(z, target.unsqueeze(-3), self.taus).sum(-2))
        self.critic_opt.step(torch.autograd.grad(critic_loss.sum(), self.critic_opt.params))

        # 2. targets: Polyak averaging theta' <- theta' + tau (theta - theta')
        with torch.no_grad():
            torch._foreach_lerp_(self._target_params, self._params, TAU)

        # 3. conservative actor: maximise mean-over-quantiles Q - alpha log pi (gradients for the actor only)
        action, logp = squashed_sample(*self.actor(batch.obs), noise_now)
        q = critic_value(self.critic(batch.obs, action)).mean(-1)
        actor_loss = batch.mean(alpha * logp - q)
        self.actor_opt.step(torch.autograd.grad(actor_loss.sum(), self.actor_opt.params))

        # 4. optimistic actor: maximise the upper bound Q_mean + beta_opt * Q_spread, KL-tied to the actor
        with torch.no_grad():
            mean_c, std_c = self.actor(batch.obs)
            optimism, kl_weight = self.optimism(), self.kl_weight()
        mean_o, std_o = self.actor_o(batch.obs, mean_c, std_c)
        z = self.critic(batch.obs, squashed_sample(mean_o, std_o, optimistic_noise)[0])
        q_upper = critic_value(z, optimism[:, None, None]).mean(-1)
        # KL between the Gaussians before the std narrowing, i.e. how far the mean was shifted
        kl = kl_divergence(Normal(mean_o, std_o / STD_MULTIPLIER, validate_args=False),
                           Normal(mean_c, std_c, validate_args=False)).sum(-1)
        actor_o_loss = -batch.mean(q_upper) + kl_weight * batch.mean(kl)
        self.actor_o_opt.step(torch.autograd.grad(actor_o_loss.sum(), self.actor_o_opt.params))

        # 5. temperature: push the conservative actor's entropy towards -|A|/2
        entropy = -batch.mean(logp.detach())
        alpha_loss = self.log_alpha.exp() * (entropy - self.target_entropy)
        self.alpha_opt.step(torch.autograd.grad(alpha_loss.sum(), [self.log_alpha]))

        # 6. dual steps: more optimism and less KL weight while the per-dimension KL is under target
        kl_mean = batch.mean(kl.detach())
        kl_gap = kl_mean / self.action_dim - KL_TARGET
        dual_loss = (self.optimism() - PESSIMISM) * kl_gap - self.kl_weight() * kl_gap
        self.dual_opt.step(torch.autograd.grad(dual_loss.sum(), self.dual_opt.params))

        return {
            "critic_loss": critic_loss.detach(),
            "actor_loss": actor_loss.detach(),
            "actor_o_loss": actor_o_loss.detach(),
            "alpha": alpha[:, 0],
            "entropy": entropy,
            "kl": kl_mean,
            "optimism": optimism,
            "kl_weight": kl_weight,
        }

    @torch.no_grad()
    def td_error(self, batch: Batch) -> torch.Tensor:
        """Mean squared TD error of both critics' mean Q against the mean of the target in :meth:`update`."""
        next_action, next_logp = squashed_sample(*self.actor(batch.next_obs))
        next_q = critic_value(self.critic_target(batch.next_obs, next_action)).mean(-1)
        alpha = self.log_alpha.exp()[:, None]
        target = batch.reward + self.gamma * (1.0 - batch.terminated) * (next_q - alpha * next_logp)
        q = self.critic(batch.obs, batch.action).mean(-1)  # [K, 2, B]
        return 0.5 * batch.mean(((q - target.unsqueeze(-2)) ** 2).sum(-2))

    def critic_norm(self) -> torch.Tensor:
        return member_norm(self.critic)

    def state_dict(self) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "resets": self.resets,
            "actor": self.actor.state_dict(),
            "actor_o": self.actor_o.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "optimism": self.optimism.state_dict(),
            "kl_weight": self.kl_weight.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "actor_o_opt": self.actor_o_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
            "dual_opt": self.dual_opt.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates, self.resets = int(state["updates"]), int(state["resets"])
        for name in ("actor", "actor_o", "critic", "critic_target", "optimism", "kl_weight"):
            getattr(self, name).load_state_dict(state[name])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        for name in ("critic_opt", "actor_opt", "actor_o_opt", "alpha_opt", "dual_opt"):
            getattr(self, name).load_state_dict(state[name])
