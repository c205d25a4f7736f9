"""Parallel env backends: the gymnasium fallback, MuJoCo Warp against gymnasium's MuJoCo, Isaac's one-line error."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from rlscale.envs import make_env
from rlscale.envs.parallel import make_parallel_env
from rlscale.errors import RlscaleError


@pytest.mark.parametrize("asynchronous", [False, True])
def test_gym_fallback_steps_batches_and_keeps_the_true_final_observation(asynchronous):
    env = make_parallel_env("gym:Pendulum-v1", 3, "cpu", asynchronous=asynchronous)
    obs = env.reset(seed=5)
    assert obs.shape == (3, 3) and obs.dtype == torch.float32 and (env.obs_dim, env.action_dim) == (3, 1)
    np.testing.assert_array_equal(obs.numpy(), env.reset(seed=5).numpy())
    for t in range(200):  # Pendulum truncates at 200 steps: the last step auto-resets every env
        step = env.step(torch.zeros(3, 1))
        assert not step.terminated.any()
        if t < 199:
            assert not step.truncated.any() and torch.equal(step.obs, step.final_obs)
    assert step.truncated.all() and not torch.allclose(step.obs, step.final_obs)
    env.close()


def test_parallel_only_backends_are_refused_by_the_single_env_factory():
    with pytest.raises(RlscaleError, match="algo=pql"):
        make_env("warp:Ant")
    with pytest.raises(RlscaleError, match="unknown warp task"):
        make_parallel_env("warp:Walker", 2, "cpu")


def test_isaac_without_isaacgym_is_one_line_saying_how_to_install():
    try:
        import isaacgym  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("Isaac Gym is installed here")
    with pytest.raises(RlscaleError, match="pip install"):
        make_parallel_env("isaac:Ant", 4, "cpu")
    cmd = [sys.executable, "-m", "rlscale.cli", "train", "--env", "isaac:Ant", "--algo", "pql", "--utd", "1",
           "--batch-size", "256", "--learning-rate", "3e-4", "--env-steps", "4096", "--eval-every", "1024",
           "--warmup-steps", "1024", "--device", "cpu", "-o", "/nonexistent-never-written"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("rlscale: error: isaac:") and done.stderr.count("\n") == 1


def test_warp_ant_matches_gymnasium_ant_v4_step_for_step():
    """Same state, same actions, in free fall (no contacts): MuJoCo Warp (float32) and gymnasium's MuJoCo give
    the same observations, rewards and terminations. Under ground contact the two solvers drift apart
    (about 1e-2 in position after one step), so that is checked only loosely."""
    pytest.importorskip("mujoco_warp")
    import gymnasium

    venv = make_parallel_env("warp:Ant", 2, "cpu")
    obs = venv.reset(seed=0)
    assert obs.shape == (2, 27) and venv.action_dim == 8
    genv = gymnasium.make("Ant-v4").unwrapped
    genv.reset(seed=0)
    a = torch.rand((2, 8), generator=torch.Generator().manual_seed(1)) * 2 - 1
    for lift, atol in ((2.0, 1e-3), (0.0, 2e-2)):  # one step each: a terminated world is reset at once
        venv.reset(seed=0)
        venv.qpos[:, 2] += lift  # the torch view is the simulator's state (zero-copy)
        genv.set_state(venv.qpos[0].double().numpy(), venv.qvel[0].double().numpy())
        step = venv.step(a)
        g_obs, g_reward, g_term, _, _ = genv.step(a[0].numpy())
        assert bool(step.terminated[0]) == g_term == (lift > 0)
        np.testing.assert_allclose(step.final_obs[0, :13].numpy(), g_obs[:13], atol=atol)
        if lift:
            np.testing.assert_allclose(step.final_obs[0].numpy(), g_obs, atol=atol)
            assert step.reward[0].item() == pytest.approx(g_reward, abs=atol)
