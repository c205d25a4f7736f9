"""K SAC agents of one architecture trained as one batched computation (issue 5).

Member k is the single-run :class:`rlscale.agents.sac.SAC` with its own seed, learning rate and batch
size; every linear layer of all K members is one ``torch.baddbmm`` over stacked weights ``[K, in, out]``
(the twin critics are stacked too, ``[2K, in, out]``), so an update costs the same number of kernels for
K = 1 or K = 128. Batched linear layers rather than ``torch.func.stack_module_state`` + ``vmap``: the
weights stay plain leaf tensors, so Adam and Polyak averaging are a handful of foreach kernels over
six tensors instead of over K copies, and there is no functorch dispatch per call (a design choice;
``benchmarks/bench_vectorized.py`` compares against K single-run agents, not against ``vmap``).

Where it pays: the win is the per-update overhead (Python, dispatch, kernel launches) shared by K
members. Small networks (the ``mini`` sweeps' 64-wide critics on CPU) and GPUs are overhead-bound and
gain several-fold; 256-wide networks at batch 256 on a CPU are bound by the matmuls themselves, which
K members multiply, so there the aggregate rate stays near K single agents' (see the benchmark).

Per-member batch sizes: every member gets ``B_max`` rows, and a weight mask ``[K, B_max]`` (1 for the
first ``B_k`` rows, then 0) turns every mean into member k's mean over its own ``B_k`` rows. Because
members share no parameter, the sum of the K losses has exactly member k's gradient in member k's
slice. Adam is hand-written (torch's Adam takes one scalar learning rate per parameter group, not one
per slice of a tensor); it is torch's default Adam update (no weight decay, no amsgrad).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlscale.agents.base import Batch
from rlscale.agents.networks import LOG_STD_MAX, LOG_STD_MIN
from rlscale.agents.sac import SAC, TAU, TEMPERATURE_LR

BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, as the single-run SAC uses


def _stack_mlp(mlps: Sequence[nn.Sequential]) -> list[torch.Tensor]:
    """[W_1, b_1, W_2, b_2, ...] with W stacked as ``[M, in, out]`` and b as ``[M, 1, out]``."""
    linears = [[m for m in seq if isinstance(m, nn.Linear)] for seq in mlps]
    params = []
    for layer in zip(*linears, strict=True):
        params.append(torch.stack([lin.weight.detach().t() for lin in layer]).contiguous())
        params.append(torch.stack([lin.bias.detach()[None] for lin in layer]).contiguous())
    return [p.requires_grad_(True) for p in params]


def _forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Batched MLP: ``x [M, B, in]`` -> ``[M, B, out]``, ReLU between the layers."""
    n = len(params) // 2
    for i in range(n):
        x = torch.baddbmm(params[2 * i + 1], x, params[2 * i])
        if i < n - 1:
            x = F.relu(x)
    return x


class _BatchedAdam:
    """Adam over stacked tensors with one learning rate per member (``lrs[i]`` broadcasts against ``params[i]``)."""

    def __init__(self, params: list[torch.Tensor], lrs: list[torch.Tensor]) -> None:
        self.params, self.lrs = params, lrs
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.step_count = 0

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        self.step_count += 1
        b1, b2 = BETAS
        bc1, bc2_sqrt = 1 - b1**self.step_count, math.sqrt(1 - b2**self.step_count)
        torch._foreach_lerp_(self.exp_avg, grads, 1 - b1)
        torch._foreach_mul_(self.exp_avg_sq, b2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, 1 - b2)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, bc2_sqrt)
        torch._foreach_add_(denom, EPS)
        step = torch._foreach_div(self.exp_avg, denom)
        torch._foreach_mul_(step, self.lrs)
        torch._foreach_add_(self.params, step, alpha=-1.0 / bc1)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step_count, "exp_avg": [t.clone() for t in self.exp_avg],
                "exp_avg_sq": [t.clone() for t in self.exp_avg_sq]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step"])
        with torch.no_grad():
            torch._foreach_copy_(self.exp_avg, state["exp_avg"])
            torch._foreach_copy_(self.exp_avg_sq, state["exp_avg_sq"])


class VectorSAC:
    """K SAC members; ``members[k]`` supplies member k's initial networks, learning rate and gamma.

    Build the members as the single-run trainer would (``torch.manual_seed(seed_k)`` then ``SAC(...)``)
    and member k starts from exactly the single run's weights. Fresh members (no update yet) are expected:
    Adam moments start at zero.
    """

    def __init__(self, members: Sequence[SAC], batch_sizes: Sequence[int], device: torch.device) -> None:
        if not members or len(members) != len(batch_sizes):
            raise ValueError("need one batch size per member, and at least one member")
        self.device = torch.device(device)
        self.k = len(members)
        self.gamma = members[0].gamma
        if any(m.gamma != self.gamma for m in members):
            raise ValueError("all members must share gamma")
        self.target_entropy = members[0].target_entropy
        self.critic_params = members[0].critic_params
        self.batch_sizes = [int(b) for b in batch_sizes]
        self.max_batch = max(self.batch_sizes)
        rows = torch.arange(self.max_batch)
        mask = torch.stack([(rows < b).float() for b in self.batch_sizes])
        self.weights = (mask / mask.sum(1, keepdim=True)).to(self.device)  # [K, B_max], each row sums to 1

        def to_dev(ts: list[torch.Tensor]) -> list[torch.Tensor]:
            return [t.detach().to(self.device).requires_grad_(True) for t in ts]

        self.actor = to_dev(_stack_mlp([m.actor.trunk for m in members]))
        # twin critics interleaved: row 2k is member k's q1, row 2k+1 its q2
        self.critic = to_dev(_stack_mlp([q for m in members for q in (m.critic.q1, m.critic.q2)]))
        self.critic_target = [t.detach().clone() for t in self.critic]
        self.log_alpha = torch.stack([m.log_alpha.detach() for m in members]).to(self.device).requires_grad_(True)

        lr = torch.tensor([m.critic_opt.param_groups[0]["lr"] for m in members], device=self.device)
        self.learning_rates = lr
        self.actor_opt = _BatchedAdam(self.actor, [lr.view(-1, 1, 1)] * len(self.actor))
        self.critic_opt = _BatchedAdam(self.critic, [lr.repeat_interleave(2).view(-1, 1, 1)] * len(self.critic))
        self.alpha_opt = _BatchedAdam([self.log_alpha], [torch.full((self.k,), TEMPERATURE_LR, device=self.device)])

    # ----------------------------------------------------------------- networks
    def _policy(self, obs: torch.Tensor, actor: Sequence[torch.Tensor] | None = None) -> tuple[torch.Tensor, ...]:
        mean, log_std = _forward(actor or self.actor, obs).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        return mean, log_std

    def _sample(self, obs: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Same formula as ``TanhGaussianActor.sample`` with the standard-normal ``noise`` given."""
        mean, log_std = self._policy(obs)
        std = log_std.exp()
        u = mean + std * noise
        normal_logp = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        squash = (2 * (math.log(2.0) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), normal_logp - squash

    def _q(self, params: Sequence[torch.Tensor], obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Both critics of every member: ``[K, 2, B]``."""
        x = torch.cat([obs, action], dim=-1)
        x = x.unsqueeze(1).expand(-1, 2, -1, -1).reshape(2 * self.k, x.shape[1], x.shape[2])
        return _forward(params, x).view(self.k, 2, -1)

    # ----------------------------------------------------------------- the agent contract, batched over members
    @torch.no_grad()
    def act(self, obs: np.ndarray, *, explore: bool) -> np.ndarray:
        """One action per member: ``obs [K, obs_dim]`` -> ``[K, action_dim]``."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)[:, None]
        mean, log_std = self._policy(obs_t)
        if explore:  # the action of _sample, without its log-probability
            mean = mean + log_std.exp() * torch.randn_like(mean)
        return torch.tanh(mean)[:, 0].cpu().numpy()

    @torch.no_grad()
    def act_member(self, k: int, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions of member k alone (evaluation): ``obs [n, obs_dim]`` -> ``[n, action_dim]``."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)[None]
        return torch.tanh(self._policy(obs_t, [p[k : k + 1] for p in self.actor])[0])[0].cpu().numpy()

    def update(self, batch: Batch, noise: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """One SAC step of every member on ``batch`` (fields ``[K, B_max, ...]``); diagnostics are ``[K]`` tensors.

        ``noise`` (next-action, action), each ``[K, B_max, A]`` standard normal, is drawn here unless given;
        giving it is how a test feeds member k the same noise as a single run.
        """
        w = self.weights
        if noise is None:
            shape = (self.k, self.max_batch, batch.action.shape[-1])
            noise = (torch.randn(shape, device=self.device), torch.randn(shape, device=self.device))
        alpha = self.log_alpha.detach().exp()[:, None]  # [K, 1]

        # 1. critic: regress both Qs on the soft clipped-double-Q target (weighted mean over each member's B_k)
        with torch.no_grad():
            next_action, next_logp = self._sample(batch.next_obs, noise[0])
            next_q = self._q(self.critic_target, batch.next_obs, next_action).min(1).values - alpha * next_logp
            target = batch.reward + self.gamma * (1.0 - batch.terminated) * next_q
        q = self._q(self.critic, batch.obs, batch.action)
        critic_loss = (((q - target[:, None]) ** 2).sum(1) * w).sum(-1)  # [K]
        self.critic_opt.step(torch.autograd.grad(critic_loss.sum(), self.critic))

        # 2. actor: maximise min Q - alpha log pi (gradients taken for the actor only)
        action, logp = self._sample(batch.obs, noise[1])
        min_q = self._q(self.critic, batch.obs, action).min(1).values
        actor_loss = ((alpha * logp - min_q) * w).sum(-1)
        self.actor_opt.step(torch.autograd.grad(actor_loss.sum(), self.actor))

        # 3. temperature: push each member's entropy towards -|A|
        entropy = -(logp.detach() * w).sum(-1)
        alpha_loss = -(self.log_alpha * (self.target_entropy - entropy))
        self.alpha_opt.step(torch.autograd.grad(alpha_loss.sum(), [self.log_alpha]))

        # 4. targets: Polyak averaging
        with torch.no_grad():
            torch._foreach_lerp_(self.critic_target, self.critic, TAU)

        return {"critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(), "alpha": alpha[:, 0],
                "entropy": entropy}

    @torch.no_grad()
    def td_error_member(self, k: int, batch: Batch) -> float:
        """Member k's mean squared TD error on ``batch`` (single-run shapes ``[B, ...]``), as ``SAC.td_error``."""
        actor, critic = [p[k : k + 1] for p in self.actor], [p[2 * k : 2 * k + 2] for p in self.critic]
        target_critic = [p[2 * k : 2 * k + 2] for p in self.critic_target]
        obs, next_obs = batch.obs[None], batch.next_obs[None]
        mean, log_std = self._policy(next_obs, actor)
        std = log_std.exp()
        u = mean + std * torch.randn_like(mean)
        normal_logp = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        next_logp = (normal_logp - (2 * (math.log(2.0) - u - F.softplus(-2 * u))).sum(-1))[0]
        pair = torch.cat([next_obs, torch.tanh(u)], -1).expand(2, -1, -1)
        next_q = _forward(target_critic, pair).squeeze(-1).min(0).values - self.log_alpha[k].exp() * next_logp
        target = batch.reward + self.gamma * (1.0 - batch.terminated) * next_q
        q = _forward(critic, torch.cat([obs, batch.action[None]], -1).expand(2, -1, -1)).squeeze(-1)
        return float(((q - target) ** 2).mean())

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's networks as single-run SAC state dicts (``actor``/``critic``/``critic_target``, ``log_alpha``)."""

        def unstack(params: list[torch.Tensor], rows: list[int], names: list[str]) -> dict[str, torch.Tensor]:
            out = {}
            for prefix, row in zip(names, rows, strict=True):
                for i in range(len(params) // 2):
                    out[f"{prefix}{2 * i}.weight"] = params[2 * i][row].detach().t().clone()
                    out[f"{prefix}{2 * i}.bias"] = params[2 * i + 1][row, 0].detach().clone()
            return out

        return {"actor": unstack(self.actor, [k], ["trunk."]),
                "critic": unstack(self.critic, [2 * k, 2 * k + 1], ["q1.", "q2."]),
                "critic_target": unstack(self.critic_target, [2 * k, 2 * k + 1], ["q1.", "q2."]),
                "log_alpha": self.log_alpha[k].detach().clone()}

    def state_dict(self) -> dict[str, Any]:
        return {"actor": [p.detach().clone() for p in self.actor], "critic": [p.detach().clone() for p in self.critic],
                "critic_target": [p.clone() for p in self.critic_target], "log_alpha": self.log_alpha.detach().clone(),
                "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
                "alpha_opt": self.alpha_opt.state_dict()}

    def member_states(self) -> list[dict[str, Any]]:
        """Member k's rows of every stacked tensor of :meth:`state_dict` (networks, Adam moments), for its own
        checkpoint; :meth:`load_member_states` stacks them back."""

        def cut(value: Any, rows: slice) -> Any:
            if isinstance(value, torch.Tensor):
                return value[rows].clone()
            if isinstance(value, list):
                return [cut(v, rows) for v in value]
            if isinstance(value, dict):
                return {name: cut(v, rows) for name, v in value.items()}
            return value  # Adam's step count: all members step together

        full = self.state_dict()
        return [{key: cut(value, slice(2 * k, 2 * k + 2) if key.startswith("critic") else slice(k, k + 1))
                 for key, value in full.items()} for k in range(self.k)]

    def load_member_states(self, states: Sequence[dict[str, Any]]) -> None:
        def join(values: list[Any]) -> Any:
            first = values[0]
            if isinstance(first, torch.Tensor):
                return torch.cat(values).to(self.device)
            if isinstance(first, list):
                return [join(list(vs)) for vs in zip(*values, strict=True)]
            if isinstance(first, dict):
                return {name: join([v[name] for v in values]) for name in first}
            return first

        if len(states) != self.k:
            raise ValueError(f"{len(states)} member states for {self.k} members")
        self.load_state_dict(join(list(states)))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self.actor, state["actor"])
            torch._foreach_copy_(self.critic, state["critic"])
            torch._foreach_copy_(self.critic_target, state["critic_target"])
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
