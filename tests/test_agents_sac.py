"""SAC: the paper's critic size, a working update, Polyak targets, exact state round-trips (a single run: K = 1)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rlscale.agents import make_agent
from rlscale.agents.base import AgentSettings, Batch
from rlscale.errors import RlscaleError

pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(obs_dim: int, action_dim: int, n: int = 64, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        obs=torch.randn(1, n, obs_dim, generator=g),
        action=torch.rand(1, n, action_dim, generator=g) * 2 - 1,
        reward=torch.randn(1, n, generator=g),
        next_obs=torch.randn(1, n, obs_dim, generator=g),
        terminated=(torch.rand(1, n, generator=g) < 0.1).float(),
    )


def test_halfcheetah_critic_has_about_1_5e5_params():
    agent = make_agent("sac", 17, 6, AgentSettings(3e-4), torch.device("cpu"))
    # two critics of (23*256+256) + (256*256+256) + (256+1) parameters
    assert agent.critic_params == 2 * (23 * 256 + 256 + 256 * 256 + 256 + 257) == 144_386


def test_width_and_depth_knobs_change_critic_size():
    small = make_agent("sac", 17, 6, AgentSettings(3e-4, critic_width=64, critic_depth=1), torch.device("cpu"))
    deep = make_agent("sac", 17, 6, AgentSettings(3e-4, critic_depth=3), torch.device("cpu"))
    assert small.critic_params == 2 * (23 * 64 + 64 + 64 + 1)
    assert deep.critic_params == 144_386 + 2 * (256 * 256 + 256)


def test_update_reduces_td_error_and_targets_lag_by_tau():
    torch.manual_seed(0)
    agent = make_agent("sac", 3, 1, AgentSettings(1e-3, critic_width=64), torch.device("cpu"))
    batch = _batch(3, 1)
    before = agent.td_error(batch)
    target0 = [p.clone() for p in agent.critic_target.parameters()]
    info = agent.update(batch)
    assert set(info) >= {"critic_loss", "actor_loss", "alpha", "entropy"}
    for p_t, p0, p in zip(agent.critic_target.parameters(), target0, agent.critic.parameters(), strict=True):
        torch.testing.assert_close(p_t, p0 + 0.005 * (p - p0))
    for _ in range(200):
        agent.update(batch)
    assert float(agent.td_error(batch)) < 0.5 * float(before)


def test_td_error_is_half_the_critic_loss_of_update_on_the_same_draw():
    """td_error regresses on the same soft target as update: with the same next-action noise, the same loss."""
    agent = make_agent("sac", 3, 1, AgentSettings(1e-3, critic_width=16), torch.device("cpu"))
    batch = _batch(3, 1)
    torch.manual_seed(7)
    td = agent.td_error(batch)
    torch.manual_seed(7)
    assert torch.equal(agent.update(batch)["critic_loss"], 2.0 * td)

def test_critic_norm_is_the_l2_norm_of_every_critic_parameter():
    agent = make_agent("sac", 3, 1, AgentSettings(1e-3, critic_width=16), torch.device("cpu"))
    flat = torch.cat([p.detach().flatten() for p in agent.critic.parameters()])
    torch.testing.assert_close(agent.critic_norm(), torch.linalg.vector_norm(flat)[None])


# a target below the policy's entropy all along, and one above any 1-D squashed policy's (at most log 2)
@pytest.mark.parametrize("target_entropy", [-3.0, 2.0])
def test_temperature_moves_towards_target_entropy(target_entropy):
    """alpha falls while the entropy is above its target and rises while it is below, at every update."""
    torch.manual_seed(0)
    agent = make_agent("sac", 3, 1, AgentSettings(1e-3, critic_width=32, target_entropy=target_entropy),
                       torch.device("cpu"))
    infos = [agent.update(_batch(3, 1, seed=i)) for i in range(50)]
    alphas = np.array([float(info["alpha"]) for info in infos])  # each update's alpha, before its step
    gap = target_entropy - np.array([float(info["entropy"]) for info in infos])
    assert alphas[0] == pytest.approx(1.0) and (np.sign(gap) == np.sign(gap[0])).all()
    assert (np.sign(np.diff(alphas)) == np.sign(gap[0])).all(), (alphas, gap)


def test_actions_are_in_unit_box_and_deterministic_when_not_exploring():
    agent = make_agent("sac", 3, 2, AgentSettings(3e-4, critic_width=32), torch.device("cpu"))
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(1, 5, 3)), dtype=torch.float32)
    a = agent.act(obs, explore=True)
    assert a.shape == (1, 5, 2) and bool((a.abs() <= 1).all())
    torch.testing.assert_close(agent.act(obs, explore=False), agent.act(obs, explore=False), rtol=0, atol=0)


def test_state_dict_round_trip_continues_identically():
    settings = AgentSettings(1e-3, critic_width=32)
    torch.manual_seed(1)
    a = make_agent("sac", 3, 1, settings, torch.device("cpu"))
    for i in range(5):
        a.update(_batch(3, 1, seed=i))
    b = make_agent("sac", 3, 1, settings, torch.device("cpu"))
    b.load_state_dict(copy.deepcopy(a.state_dict()))  # as through torch.save/load: no shared tensors
    torch.manual_seed(9)
    la = a.update(_batch(3, 1, seed=99))
    torch.manual_seed(9)
    lb = b.update(_batch(3, 1, seed=99))
    assert float(la["critic_loss"]) == float(lb["critic_loss"])
    for pa, pb in zip(a.actor.parameters(), b.actor.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def test_unknown_algo_is_one_line_error():
    with pytest.raises(RlscaleError, match="available: bro, pql, sac"):
        make_agent("ppo", 3, 1, AgentSettings(1e-3), torch.device("cpu"))
