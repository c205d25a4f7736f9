"""SAC follows the authors' set-up by default (the grid's eta on the critic only, the actor at 3e-4, entropy target
-|A|/2, nothing held out), each setting configurable, and a run folder from before these settings still reads as
what it was trained with. The details their public material leaves open (initialisation, log-std bounds, the
temperature's loss) are settings too, with jaxrl's choices one value away."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from rlscale.agents import make_agent
from rlscale.agents.base import AgentSettings, Batch
from rlscale.agents.networks import Linear
from rlscale.analysis import late_diagnostics
from rlscale.errors import RlscaleError
from rlscale.plots.diagnostics import overfitting
from rlscale.runs import read_run_table
from rlscale.train.config import RunConfig, Runtime
from rlscale.train.loop import train_run
from rlscale.train.rundir import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")

PENDULUM = {"env": "gym:Pendulum-v1", "algo": "sac", "utd": 1.0, "batch_size": 16, "learning_rate": 1e-2,
            "env_steps": 400, "eval_every": 400, "eval_episodes": 1, "critic_width": 16, "critic_depth": 1}


def _first_step(before: dict, after: dict) -> float:
    """Largest parameter change: Adam's first step moves every parameter with a gradient by about its lr."""
    return max(float((after[k] - before[k]).abs().max()) for k in before)


def _batch(obs_dim: int, action_dim: int, n: int = 32) -> Batch:
    g = torch.Generator().manual_seed(0)
    return Batch(torch.randn(1, n, obs_dim, generator=g), torch.rand(1, n, action_dim, generator=g) * 2 - 1,
                 torch.randn(1, n, generator=g), torch.randn(1, n, obs_dim, generator=g), torch.zeros(1, n))


@pytest.mark.parametrize(("settings", "actor_lr", "per_dim"), [
    ({}, 3e-4, -0.5),  # the authors' set-up
    ({"actor_learning_rate": None, "target_entropy": -1.0}, 3e-4, -1.0),
    ({"actor_learning_rate": 1e-2, "target_entropy": -1.0}, 1e-2, -1.0),  # rlscale's SAC before: actor at eta
])
def test_the_grids_learning_rate_drives_the_critic_and_the_actor_keeps_its_own(settings, actor_lr, per_dim):
    agent = make_agent("sac", 3, 2, [AgentSettings(1e-2, critic_width=16, **settings)], torch.device("cpu"), [0])
    assert agent.target_entropy == per_dim * 2
    actor0 = {k: v.clone() for k, v in agent.actor.state_dict().items()}
    critic0 = {k: v.clone() for k, v in agent.critic.state_dict().items()}
    agent.update(_batch(3, 2))
    assert _first_step(actor0, agent.actor.state_dict()) == pytest.approx(actor_lr, rel=1e-3)
    assert _first_step(critic0, agent.critic.state_dict()) == pytest.approx(1e-2, rel=1e-3)


def test_a_run_trains_with_the_settings_of_its_config(tmp_path):
    """Through the trainer: one update (warm-up 199 steps), checkpointed at the first episode end (200)."""
    cfg = RunConfig(**PENDULUM, warmup_steps=199, checkpoint_every=200, target_entropy=-0.25)
    train_run(cfg, tmp_path / "r", Runtime(device="cpu", quiet=True, keep_checkpoint=True))
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)
    assert state["counters"]["env_step"] == 200 and state["counters"]["updates"] == 1
    fresh = make_agent("sac", 3, 1, [AgentSettings(1e-2, critic_width=16, critic_depth=1)], torch.device("cpu"), [0])
    assert _first_step(fresh.actor.state_dict(), state["agent"]["actor"]) == pytest.approx(3e-4, rel=1e-3)
    assert _first_step(fresh.critic.state_dict(), state["agent"]["critic"]) == pytest.approx(1e-2, rel=1e-3)
    curve = json.loads((tmp_path / "r" / "config.json").read_text())["settings"]
    assert curve["val_fraction"] == 0.0 and curve["target_entropy"] == -0.25


def test_a_config_json_without_the_new_settings_reads_as_the_run_it_was():
    old = {k: v for k, v in RunConfig(**PENDULUM).to_dict().items()
           if k not in ("actor_learning_rate", "target_entropy", "val_fraction", "train_return_window")}
    cfg = RunConfig.from_dict(old)
    assert (cfg.actor_learning_rate, cfg.target_entropy, cfg.val_fraction, cfg.train_return_window) == (
        1e-2, -1.0, 0.05, 400)  # actor at eta, -|A|, 5 % held out, train_return since the previous row
    bro = RunConfig.from_dict({**old, "algo": "bro", "env": "dmc:walker-walk"})
    assert bro.actor_learning_rate is None and bro.target_entropy is None  # never SAC settings of BRO


def test_an_old_run_folder_is_not_silently_continued_with_the_new_defaults(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    old = {k: v for k, v in RunConfig(**PENDULUM).to_dict().items()
           if k not in ("actor_learning_rate", "target_entropy")}
    run.write_config({"settings": old})
    with pytest.raises(RlscaleError, match=r"different config \(actor_learning_rate: 0.01 -> 0.0003, "
                                           r"target_entropy: -1.0 -> -0.5\)"):
        run.claim(RunConfig(**PENDULUM))
    assert run.claim(RunConfig(**PENDULUM, actor_learning_rate=1e-2, target_entropy=-1.0)) is None


@pytest.mark.parametrize(("name", "value"), [("actor_learning_rate", 3e-4), ("target_entropy", -0.5),
                                             ("weight_init", "orthogonal"), ("log_std_bounds", "clip"),
                                             ("temperature_loss", "alpha")])
def test_sac_settings_are_refused_for_other_agents(name, value):
    with pytest.raises(RlscaleError, match=f"^invalid setting\\(s\\): {name}={value} is for algo sac only$"):
        RunConfig(**{**PENDULUM, "algo": "bro", "env": "dmc:walker-walk"}, **{name: value}).validate()


def test_runs_with_nothing_held_out_still_give_the_papers_overfitting_figure(tmp_path):
    """Figure j's overfitting is newest-data minus replay TD error, which needs no held-out data."""
    for seed in (0, 1):
        train_run(RunConfig(**{**PENDULUM, "seed": seed, "eval_every": 100}, warmup_steps=100),
                  tmp_path / f"s{seed}", Runtime(device="cpu", quiet=True))
    runs = pd.concat([read_run_table(tmp_path / f"s{s}" / "curve.parquet") for s in (0, 1)])
    assert runs["val_td_error"].isna().all()
    late = late_diagnostics(runs)
    np.testing.assert_allclose(late["overfitting"], late["newest_td_error"] - late["train_td_error"])
    figure = overfitting(late)
    assert "held-out" not in " ".join(ax.get_title() for ax in figure.axes)


def _linears(net: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of member 0 of every dense layer, input to output."""
    return [(m.weight.flatten(0, -3)[0], m.bias.flatten(0, -2)[0]) for m in net.modules() if isinstance(m, Linear)]


def test_orthogonal_init_is_jaxrls_gain_sqrt2_with_the_actors_output_at_gain_1_and_zero_biases():
    agent = make_agent("sac", 17, 6, [AgentSettings(1e-3, weight_init="orthogonal")], torch.device("cpu"), [0])
    for net, out_gain in ((agent.actor, 1.0), (agent.critic, math.sqrt(2))):
        layers = _linears(net)
        assert len(layers) == 3
        for i, (w, b) in enumerate(layers):
            gain = out_gain if i == len(layers) - 1 else math.sqrt(2)
            small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w  # orthonormal rows or columns, times gain^2
            torch.testing.assert_close(small, gain ** 2 * torch.eye(len(small)), atol=1e-4, rtol=0)
            assert not b.any()
    torch.testing.assert_close(agent.critic_target.state_dict(), agent.critic.state_dict())
    default = make_agent("sac", 17, 6, [AgentSettings(1e-3)], torch.device("cpu"), [0])
    assert all(b.any() for _, b in _linears(default.actor))  # PyTorch's default: uniform biases


def test_clipped_log_std_spans_jaxrls_bounds_and_starts_wider_than_the_squashed_one():
    obs = torch.randn(1, 64, 3, generator=torch.Generator().manual_seed(0))
    clip = make_agent("sac", 3, 2, [AgentSettings(1e-3, log_std_bounds="clip")], torch.device("cpu"), [0])
    squash = make_agent("sac", 3, 2, [AgentSettings(1e-3)], torch.device("cpu"), [0])
    raw = clip.actor.trunk(obs).chunk(2, dim=-1)[1]
    torch.testing.assert_close(clip.actor(obs)[1], raw.clamp(-10, 2))
    torch.testing.assert_close(squash.actor(obs)[1], -5 + 3.5 * (torch.tanh(raw) + 1))  # same weights (seed 0)
    with torch.no_grad():  # near 0 against near -1.5
        assert float(clip.actor(obs)[1].mean()) > float(squash.actor(obs)[1].mean()) + 1
    with torch.no_grad():
        clip.actor.trunk[-1].bias.fill_(100.0)
        assert float(clip.actor(obs)[1].max()) == 2.0


@pytest.mark.parametrize(("loss", "scale"), [(None, 1.0), ("log_alpha", 1.0), ("alpha", 0.1)])
def test_the_temperature_loss_on_alpha_scales_its_gradient_by_alpha(loss, scale):
    """jaxrl's loss alpha (H - target) has gradient alpha (H - target) in log alpha; CleanRL's, H - target. Adam's
    first moment after one step is (1 - beta1) times the gradient."""
    agent = make_agent("sac", 3, 2, [AgentSettings(1e-3, temperature_loss=loss)], torch.device("cpu"), [0])
    with torch.no_grad():
        agent.log_alpha.fill_(math.log(0.1))
    info = agent.update(_batch(3, 2))
    gap = float(info["entropy"][0]) - agent.target_entropy
    assert float(agent.alpha_opt.exp_avg[0][0]) == pytest.approx(0.1 * scale * gap, rel=1e-4)


def test_an_unknown_variant_is_refused_with_the_values_it_takes():
    with pytest.raises(RlscaleError, match=r"'log_std_bounds' must be squash or clip, got 'tanh'"):
        RunConfig.from_dict({**PENDULUM, "log_std_bounds": "tanh"}, "sweep.yaml")
