"""Layers with leading member dimensions, and the MLP agents' networks built from them.

Every layer stores its parameters with leading ``members`` dimensions, e.g. ``(K,)`` for K actors or
``(K, 2)`` for K pairs of twin critics, and evaluates all of them with one batched matmul
(``baddbmm``). The slice of a parameter at one member index has exactly the shape and meaning of the
plain ``nn.Linear`` / ``nn.LayerNorm`` parameter and is initialised the way those layers initialise
themselves, so a single run is the K = 1 case of the same code and member k of a chunk starts from a
single run's weights (:func:`rlscale.agents.base.build_members`).

Why not ``torch.func.vmap`` over ``functional_call`` of K stacked ``nn.Module`` copies: on one CPU
thread a forward and backward pass of a 64-wide twin critic at B = 64 took 0.12 ms this way against
0.33 ms with vmap for K = 1, and 0.51 ms against 0.73 ms for K = 8 (equal within noise at 256 wide);
the runs trained on CPU are of that small size, and vmap's dispatch cost would also slow single runs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0  # CleanRL's bounds: keep the policy from collapsing or exploding
CLIP_LOG_STD_MIN, CLIP_LOG_STD_MAX = -10.0, 2.0  # jaxrl's bounds, applied by clipping (log_std_bounds "clip")
HIDDEN_GAIN = math.sqrt(2)  # orthogonal initialisation's gain on ReLU layers (jaxrl's default_init)


class Linear(nn.Module):
    """Dense layers for every member index: ``x [*members, B, in]`` -> ``[*members, B, out]``.

    ``gain`` None initialises each member as ``nn.Linear`` does (Kaiming-uniform weights, uniform bias);
    a number gives orthogonal weights with that gain and zero bias (BRO's initialisation).
    """

    def __init__(self, members: tuple[int, ...], in_features: int, out_features: int, *, bias: bool = True,
                 gain: float | None = None) -> None:
        super().__init__()
        weight = torch.empty(*members, out_features, in_features)
        bias_ = torch.empty(*members, out_features) if bias else None
        if not weight.is_meta:
            with torch.no_grad():
                biases = bias_.view(-1, out_features) if bias_ is not None else [None] * math.prod(members)
                for w, b in zip(weight.view(-1, out_features, in_features), biases, strict=True):
                    if gain is None:  # nn.Linear.reset_parameters, member by member
                        nn.init.kaiming_uniform_(w, a=math.sqrt(5))
                        if b is not None:
                            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0
                            nn.init.uniform_(b, -bound, bound)
                    else:
                        nn.init.orthogonal_(w, gain)
                        if b is not None:
                            nn.init.zeros_(b)
        # Kept in memory as [*members, in, out] (its shape and values stay [*members, out, in]): autograd hands the
        # batched matmul's weight gradient over in that layout, and the optimiser's fused kernel, which pairs a
        # weight with its gradient by memory order, then takes it as it comes instead of copying it transposed
        # (that copy cost a K = 8 BRO update about as much as its matmuls' backward pass on CPU)
        self.weight = nn.Parameter(weight.mT.contiguous().mT)
        self.bias = nn.Parameter(bias_) if bias_ is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weight, self.bias
        lead = w.shape[:-2]
        if len(lead) > 1:  # several member dimensions (K members' twin critics): fold them into one
            w, x = w.flatten(0, -3), x.reshape(-1, *x.shape[-2:])
            b = None if b is None else b.flatten(0, -2)
        y = torch.bmm(x, w.transpose(1, 2)) if b is None else torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
        return y if len(lead) == 1 else y.view(*lead, *y.shape[-2:])


class LayerNorm(nn.Module):
    """Layer norm over the last dimension with a scale and shift for every member index."""

    def __init__(self, members: tuple[int, ...], width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(*members, width))
        self.bias = nn.Parameter(torch.zeros(*members, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:]) * self.weight.unsqueeze(-2) + self.bias.unsqueeze(-2)


def mlp(members: tuple[int, ...], in_dim: int, out_dim: int, width: int, depth: int,
        out_gain: float | None = None, *, orthogonal: bool = False) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` ReLU units, then a linear output; ``orthogonal`` initialises the
    hidden layers orthogonally with gain sqrt 2 and the output with ``out_gain`` (else PyTorch's default)."""
    hidden = HIDDEN_GAIN if orthogonal else None
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [Linear(members, in_dim if i == 0 else width, width, gain=hidden), nn.ReLU()]
    layers.append(Linear(members, width if depth else in_dim, out_dim, gain=out_gain if orthogonal else None))
    return nn.Sequential(*layers)


class TanhGaussianActor(nn.Module):
    """pi(a|s): a Gaussian squashed by tanh into [-1, 1]^A, with the change-of-variables log-prob.

    The log-std is squashed by tanh into [-5, 2] (CleanRL), or with ``clip`` clipped to [-10, 2] (jaxrl). The
    two differ most at the start: a near-zero output is a std of exp(-1.5) = 0.22 squashed, of 1 clipped.
    """

    def __init__(self, members: tuple[int, ...], obs_dim: int, action_dim: int, width: int = 256,
                 depth: int = 2, *, orthogonal: bool = False, clip: bool = False) -> None:
        super().__init__()
        self.trunk = mlp(members, obs_dim, 2 * action_dim, width, depth, 1.0, orthogonal=orthogonal)
        self.clip = clip

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.trunk(obs).chunk(2, dim=-1)
        if self.clip:
            return mean, log_std.clamp(CLIP_LOG_STD_MIN, CLIP_LOG_STD_MAX)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        return mean, log_std

    def sample(self, obs: torch.Tensor, noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action and its log-probability ``[..., B]``; ``noise`` is the standard normal
        draw (drawn here unless given)."""
        mean, log_std = self(obs)
        std = log_std.exp()
        u = mean + std * (torch.randn_like(mean) if noise is None else noise)
        normal_logp = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log|det d tanh(u)/du| = sum log(1 - tanh(u)^2), in the numerically stable softplus form
        squash = (2 * (math.log(2.0) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), normal_logp - squash

    def act(self, obs: torch.Tensor, explore: bool) -> torch.Tensor:
        """The action of :meth:`sample` (same noise draw) without its log-probability, or the mean's."""
        mean, log_std = self(obs)
        return torch.tanh(mean + log_std.exp() * torch.randn_like(mean) if explore else mean)


class TwinCritic(nn.Module):
    """Two independent Q(s, a) MLPs per member (one more member dimension); their minimum curbs
    overestimation (clipped double Q). Returns ``[*members, 2, B]``."""

    def __init__(self, members: tuple[int, ...], obs_dim: int, action_dim: int, width: int = 256,
                 depth: int = 2, *, orthogonal: bool = False) -> None:
        super().__init__()
        self.q = mlp((*members, 2), obs_dim + action_dim, 1, width, depth, HIDDEN_GAIN, orthogonal=orthogonal)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], dim=-1).unsqueeze(-3)
        return self.q(x.expand(*x.shape[:-3], 2, *x.shape[-2:])).squeeze(-1)


def member_params(module: nn.Module) -> int:
    """Parameters of one member of ``module`` (every parameter's leading dimension counts members)."""
    return sum(p[0].numel() for p in module.parameters())


def member_norm(module: nn.Module) -> torch.Tensor:
    """Each member's L2 norm over all of ``module``'s parameters: ``[K]``."""
    with torch.no_grad():
        return torch.stack([p.flatten(1).square().sum(1) for p in module.parameters()]).sum(0).sqrt()
