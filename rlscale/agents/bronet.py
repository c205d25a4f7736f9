"""BroNet (Nauman et al. 2024): the residual, layer-normalised MLP that lets BRO's critic scale.

    x = ReLU(LN(Dense(input)))
    repeat ``depth`` times:  x = x + LN(Dense(ReLU(LN(Dense(x)))))
    optional output layer:   Dense(x)

Layer norm after every dense layer is what keeps the wide critic trainable at high replay ratios;
weights are orthogonal (gain sqrt 2) and biases zero, as in the BRO reference implementation. Like
every network here it carries leading member dimensions (:mod:`rlscale.agents.networks`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rlscale.agents.networks import LayerNorm, Linear

GAIN = math.sqrt(2)


class ResidualBlock(nn.Module):
    """``x + LN(Dense(ReLU(LN(Dense(x)))))``: the skip keeps the signal, both LNs bound its scale."""

    def __init__(self, members: tuple[int, ...], width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            Linear(members, width, width, gain=GAIN),
            LayerNorm(members, width),
            nn.ReLU(),
            Linear(members, width, width, gain=GAIN),
            LayerNorm(members, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class BroNet(nn.Module):
    """Dense -> LN -> ReLU, ``depth`` residual blocks, then a dense output layer when ``out_dim`` is set."""

    def __init__(self, members: tuple[int, ...], in_dim: int, width: int, depth: int,
                 out_dim: int | None = None) -> None:
        super().__init__()
        self.stem = nn.Sequential(Linear(members, in_dim, width, gain=GAIN), LayerNorm(members, width), nn.ReLU())
        self.blocks = nn.Sequential(*(ResidualBlock(members, width) for _ in range(depth)))
        self.head = Linear(members, width, out_dim, gain=GAIN) if out_dim is not None else nn.Identity()
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def bronet_params(in_dim: int, width: int, depth: int, out_dim: int | None = None) -> int:
    """Parameter count of one ``BroNet(in_dim, width, depth, out_dim)`` without building it: the closed form of the
    critic size N that the agents count on their built networks (:func:`~rlscale.agents.networks.member_params`)."""

    def dense_ln(i: int, o: int) -> int:
        return i * o + o + 2 * o  # weight, bias, layer-norm scale and shift

    n = dense_ln(in_dim, width) + depth * 2 * dense_ln(width, width)
    return n + (width * out_dim + out_dim if out_dim is not None else 0)
