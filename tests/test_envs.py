"""Environment backends: naming, action rescaling, termination vs truncation, seeding, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rlscale.envs import PARALLEL_BACKENDS, make_env, parse_env_name
from rlscale.errors import RlscaleError


@pytest.mark.parametrize("name", ["gym:Pendulum-v1", "gym:HalfCheetah-v4", "dmc:cartpole-swingup"])
def test_env_has_unit_actions_float32_obs_and_steps(name):
    env, info = make_env(name)
    assert info.backend == name.split(":")[0] and info.versions
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == env.observation_space.shape
    for _ in range(5):
        obs, reward, terminated, truncated, _ = env.step(np.ones(env.action_space.shape, np.float32))
        assert np.isfinite(reward) and obs.dtype == np.float32
    env.close()


@pytest.mark.parametrize("backend", PARALLEL_BACKENDS)
def test_a_parallel_only_backend_refuses_a_single_env_and_names_pql(backend):
    assert parse_env_name(f"{backend}:task") == (backend, "task")
    with pytest.raises(RlscaleError, match=f"{backend}:task exists only as parallel environments: train it with "
                                           "algo=pql"):
        make_env(f"{backend}:task")

def test_gym_mujoco_records_versions():
    _, info = make_env("gym:HalfCheetah-v4")
    assert set(info.versions) == {"gymnasium", "mujoco"}


def test_same_seed_same_episode_start_and_different_seed_differs():
    for name in ["gym:Pendulum-v1", "dmc:cartpole-swingup"]:
        env, _ = make_env(name)
        a, b, c = env.reset(seed=7)[0], env.reset(seed=7)[0], env.reset(seed=8)[0]
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_dmc_time_limit_is_truncation_not_termination_and_action_repeat_shortens_episode():
    env, info = make_env("dmc:cartpole-swingup", action_repeat=4)
    assert info.options == {"action_repeat": 4}
    env.reset(seed=0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        steps += 1
    assert truncated and not terminated and steps == 1000 // 4


def test_gym_action_rescaling_maps_unit_box_to_env_bounds():
    env, _ = make_env("gym:Pendulum-v1")  # torque bounds are [-2, 2]
    env.reset(seed=0)
    env.step(np.ones(1, np.float32))
    assert env.unwrapped.last_u == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("nope:Foo", "available: dmc, gym"),
        ("Pendulum-v1", "BACKEND:ID"),
        ("gym:NoSuchEnv-v0", "HalfCheetah-v4"),
        ("dmc:walker-fly", "walker-walk"),
        ("gym:CartPole-v1", "discrete"),
    ],
)
def test_bad_env_names_fail_with_one_line_listing_choices(name, fragment):
    with pytest.raises(RlscaleError, match=fragment) as exc:
        make_env(name)
    assert "\n" not in str(exc.value)


def test_a_dm_control_missing_one_of_its_requirements_is_one_line_naming_it(tmp_path):
    # absl-py is one of dm_control's own requirements; a None entry makes its import fail, as in an install without it
    argv = ["train", "--env", "dmc:cartpole-balance", "--algo", "sac", "--utd", "1", "--batch-size", "32",
            "--learning-rate", "3e-4", "--env-steps", "100", "--eval-every", "50", "--warmup-steps", "50",
            "-o", str(tmp_path / "run")]
    code = f"import sys; sys.modules['absl'] = None; from rlscale.cli import main; sys.exit(main({argv!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "rlscale: error: dmc: tasks need dm_control, which does not import (absl is missing): "
        "pip install 'dm_control>=1.0.20' with its requirements"
    ]
    assert not (tmp_path / "run").exists()


def test_parse_env_name_splits_backend_and_id():
    assert parse_env_name("dmc:dog-run") == ("dmc", "dog-run")


def test_dmc_actions_outside_the_unit_box_are_clipped_before_they_reach_the_physics():
    """The dmc backend clips, as gymnasium's RescaleAction does for gym (the recorded control was 3 unclipped); the
    suite's tasks take [-1, 1] controls, so inside the box an action is the control itself."""
    env, _ = make_env("dmc:cartpole-swingup", action_repeat=1)
    env.reset(seed=0)
    physics = env.unwrapped._env.physics
    for action, control in ((3.0, 1.0), (-7.0, -1.0), (-0.25, -0.25)):
        env.step(np.array([action], np.float32))
        assert physics.data.ctrl.tolist() == [control]
