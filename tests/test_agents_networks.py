"""The member-stacked dense layer is K ``nn.Linear`` layers, with its weights laid out as their gradients arrive."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from rlscale.agents.base import build_members
from rlscale.agents.networks import Linear


@pytest.mark.parametrize("members", [(1,), (3,), (3, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_each_member_is_nn_linear_in_value_and_gradient_and_the_gradient_comes_laid_out_as_the_weight(members, bias):
    torch.manual_seed(0)
    layer = Linear(members, 5, 4, bias=bias).double()
    x = torch.randn(*members, 7, 5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(*members, 7, 4, dtype=torch.float64)
    y = layer(x)
    params = [layer.weight] + ([layer.bias] if bias else [])
    grads = torch.autograd.grad(y, [x, *params], g)
    assert grads[1].stride() == layer.weight.stride()  # the optimiser takes it without a transposed copy
    for i in itertools.product(*(range(m) for m in members)):
        w = layer.weight[i].detach().requires_grad_()
        b = layer.bias[i].detach().requires_grad_() if bias else None
        xi = x[i].detach().requires_grad_()
        yi = F.linear(xi, w, b)
        torch.testing.assert_close(y[i], yi, rtol=1e-12, atol=1e-12)
        expected = torch.autograd.grad(yi, [xi, w] + ([b] if bias else []), g[i])
        for mine, theirs in zip(grads, expected, strict=True):
            torch.testing.assert_close(mine[i], theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gain", [None, 2**0.5])
def test_k_joined_members_keep_the_layout_and_each_starts_from_its_single_runs_weights(gain):
    joined = build_members(lambda m: Linear(m, 5, 4, gain=gain), 3, [10, 11, 12], torch.device("cpu"))
    assert joined.weight.stride() == Linear((3,), 5, 4, gain=gain).weight.stride()
    for i, seed in enumerate([10, 11, 12]):
        torch.manual_seed(seed)
        single = Linear((1,), 5, 4, gain=gain)
        assert torch.equal(joined.weight[i], single.weight[0]) and torch.equal(joined.bias[i], single.bias[0])
