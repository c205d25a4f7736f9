"""The member-stacked Adam is torch's Adam/AdamW, member by member, with each member's own learning rate."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from rlscale.agents.optim import Adam


@pytest.mark.parametrize(("betas", "weight_decay"), [((0.9, 0.999), 0.0), ((0.5, 0.999), 0.0), ((0.9, 0.999), 1e-4)])
# distinct, all equal, a run of neighbours sharing one (taken as one slice), and one split around another
@pytest.mark.parametrize("lrs", [[1e-3, 3e-4, 2e-2], [3e-4] * 3, [1e-3, 1e-3, 2e-2], [1e-3, 2e-2, 1e-3]])
@pytest.mark.parametrize("grads_as_laid_out", [True, False])
def test_each_member_steps_as_torch_optim_on_its_own_slice(betas, weight_decay, lrs, grads_as_laid_out):
    """Also for a weight kept transposed in memory (as ``Linear`` keeps its weights), with its gradients in its own
    layout (as autograd hands them over) or in another one (copied into its layout)."""
    g = torch.Generator().manual_seed(0)
    stacked = [torch.randn(3, 4, 5, generator=g), torch.randn(3, 2, 5, generator=g),
               torch.randn(3, 5, 4, generator=g).mT]
    ours = Adam(stacked, lrs, betas=betas, weight_decay=weight_decay)
    theirs = []
    for k, lr in enumerate(lrs):  # member k alone, as torch.optim sees a single run's parameters
        params = [torch.nn.Parameter(p[k].clone()) for p in stacked]
        cls = torch.optim.AdamW if weight_decay else torch.optim.Adam
        theirs.append((params, cls(params, lr=lr, betas=betas, weight_decay=weight_decay, foreach=True)))
    for _ in range(20):
        grads = [torch.randn(p.shape, generator=g) for p in stacked]
        ours.step([torch.empty_like(p).copy_(grad) for p, grad in zip(stacked, grads, strict=True)]
                  if grads_as_laid_out else grads)
        for k, (params, opt) in enumerate(theirs):
            for p, grad in zip(params, grads, strict=True):
                p.grad = grad[k].clone()
            opt.step()
    for k, (params, _) in enumerate(theirs):
        for p, mine in zip(params, stacked, strict=True):
            torch.testing.assert_close(mine[k], p.detach(), rtol=1e-6, atol=1e-7)


def test_state_round_trip_continues_identically():
    g = torch.Generator().manual_seed(1)
    a_params = [torch.randn(2, 3, generator=g)]
    b_params = [a_params[0].clone()]
    a, b = Adam(a_params, [1e-2, 1e-3]), Adam(b_params, [1e-2, 1e-3])
    grads = [[torch.randn(2, 3, generator=g)] for _ in range(4)]
    for grad in grads[:2]:
        a.step(grad)
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    b_params[0].copy_(a_params[0])
    for grad in grads[2:]:
        a.step(grad)
        b.step(grad)
    assert torch.equal(a_params[0], b_params[0]) and a.step_count == b.step_count == 4


@pytest.mark.parametrize("lrs", [[1e-2, 1e-3], [1e-2, 1e-2]])
def test_a_gradient_laid_out_unlike_its_parameter_steps_as_one_laid_out_like_it(lrs):
    """The fused kernel pairs a parameter with its gradient in memory order: a transposed gradient taken as it
    lies would pair each weight with another weight's gradient."""
    g = torch.Generator().manual_seed(2)
    a_params = [torch.randn(2, 4, 3, generator=g)]
    b_params = [a_params[0].clone()]
    a, b = Adam(a_params, lrs), Adam(b_params, lrs)
    for _ in range(3):
        grad = torch.randn(2, 3, 4, generator=g).transpose(1, 2)
        assert not grad.is_contiguous()
        a.step([grad])
        b.step([grad.contiguous()])
    assert torch.equal(a_params[0], b_params[0])


@pytest.mark.parametrize("lrs", [[1e-3] * 4, [1e-3, 1e-3, 2e-2, 2e-2]])
def test_a_step_of_linear_layers_copies_no_tensor(lrs):
    """``Linear`` keeps its weights transposed in memory, and autograd hands their gradients over so; torch's CPU kernel
    copied such a gradient (not contiguous in torch's sense) at every step, unused, unless it gets contiguous views."""
    from torch.profiler import ProfilerActivity, profile

    from rlscale.agents.networks import Linear

    layers = torch.nn.Sequential(Linear((4,), 6, 5), Linear((4,), 5, 3))
    opt = Adam(list(layers.parameters()), lrs, weight_decay=1e-4)
    grads = torch.autograd.grad(layers(torch.randn(4, 7, 6)).square().sum(), opt.params)
    assert not layers[0].weight.is_contiguous()
    assert all(g.stride() == p.stride() for g, p in zip(grads, opt.params, strict=True))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        opt.step(grads)
    names = [event.name for event in prof.events()]
    assert "aten::_fused_adamw_" in names and "aten::copy_" not in names and "aten::clone" not in names


def test_an_update_compiled_with_torch_compile_steps_as_the_eager_one():
    """``torch.compile`` of an agent's update (how the GPU benchmarks run it) used to fail inside the optimiser: torch's
    functionalisation refuses the fused kernel's in-place update of the parameters; the step runs outside the graph."""
    from rlscale.agents.networks import Linear

    torch.manual_seed(0)
    eager_layers = torch.nn.Sequential(Linear((2,), 6, 5), torch.nn.ReLU(), Linear((2,), 5, 3))
    compiled_layers = copy.deepcopy(eager_layers)
    x = torch.randn(2, 7, 6)

    def update(layers: torch.nn.Module, opt: Adam) -> None:
        opt.step(torch.autograd.grad(layers(x).square().sum(), opt.params))

    eager_opt, compiled_opt = (Adam(list(m.parameters()), [1e-3, 2e-2], weight_decay=1e-4)
                               for m in (eager_layers, compiled_layers))
    compiled = torch.compile(update)
    for _ in range(3):
        update(eager_layers, eager_opt)
        compiled(compiled_layers, compiled_opt)
    for ours, eager in zip(compiled_layers.parameters(), eager_layers.parameters(), strict=True):
        torch.testing.assert_close(ours, eager)
    assert compiled_opt.step_count == 3 and not torch.equal(compiled_layers[0].weight, Linear((2,), 6, 5).weight)


def test_a_training_run_that_compiles_nothing_never_imports_torch_dynamo(tmp_path):
    """Leaving the step out of torch.compile once took ``torch.compiler.disable`` as a decorator, which imports
    torch._dynamo: three more seconds of start-up for every training process of every sweep."""
    script = ("import sys\nfrom rlscale.cli import main\n"
              f"rc = main(['train', '--env', 'gym:Pendulum-v1', '--algo', 'bro', '--utd', '1', '--batch-size', '8', "
              "'--learning-rate', '1e-3', '--env-steps', '120', '--eval-every', '120', '--eval-episodes', '1', "
              f"'--warmup-steps', '100', '--critic-width', '8', '--critic-depth', '1', '--quiet', '-o', "
              f"{str(tmp_path / 'run')!r}])\n"
              "print(rc, 'torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split()[-2:] == ["0", "False"], out
