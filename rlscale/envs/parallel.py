"""Parallel environments for PQL: N copies stepped as one batch, observations and rewards as torch tensors.

Three backends behind one small interface (:class:`ParallelEnv`):

* ``gym:<id>`` / ``dmc:<id>`` -- the CPU fallback: ``gymnasium.vector`` (Sync or Async) over our own
  single envs (so wrappers, action rescaling and termination vs truncation are exactly the single runs').
* ``warp:<task>`` -- GPU-parallel MuJoCo with MuJoCo Warp (``pip install mujoco-warp``): gymnasium's own
  Ant / HalfCheetah / Humanoid MJCF assets and v4 reward terms, all worlds stepped by one kernel launch
  per physics stage; state is shared with torch without copies (``warp.to_torch``). It also runs on CPU
  (slowly, after a one-off kernel compile), which is how it is tested without a GPU.
* ``isaac:<task>`` -- Isaac Gym through IsaacGymEnvs (``isaacgymenvs.make``), the paper's PQL setting;
  neither ships on a package registry, so without them this is one line saying how to install them.

Autoreset: a finished env is reset inside ``step``; ``step`` returns the observation to act on next
(post-reset) and, separately, the true next observation of the transition (``final_obs``), which is
what goes into the replay buffer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from rlscale.envs import PARALLEL_BACKENDS, EnvInfo, make_env, parse_env_name
from rlscale.errors import RlscaleError

__all__ = ["PARALLEL_BACKENDS", "StepResult", "ParallelEnv", "make_parallel_env"]


@dataclass(frozen=True)
class StepResult:
    """One batched step; every field is a tensor on the env's device with leading dimension N."""

    obs: torch.Tensor  # what to act on next (already reset where the episode ended)
    reward: torch.Tensor
    terminated: torch.Tensor  # bool: a terminal state (no bootstrapping)
    truncated: torch.Tensor  # bool: a time-out (bootstrap through it)
    final_obs: torch.Tensor  # the transition's next observation (pre-reset)


class ParallelEnv(Protocol):
    num_envs: int
    obs_dim: int
    action_dim: int
    device: torch.device
    info: EnvInfo

    def reset(self, seed: int) -> torch.Tensor:
        """Reset every env (env i seeded from ``seed`` and i); returns observations ``[N, obs_dim]``."""
        ...

    def step(self, actions: torch.Tensor) -> StepResult:
        """Actions in [-1, 1], ``[N, action_dim]`` on any device."""
        ...

    def close(self) -> None: ...


# ----------------------------------------------------------------------------- CPU fallback
class GymParallelEnv:
    """``gymnasium.vector`` over ``make_env(name)``; same-step autoreset keeps the true final observation."""

    def __init__(self, name: str, num_envs: int, device: torch.device, *, asynchronous: bool = False,
                 **options: Any) -> None:
        import gymnasium

        _, self.info = make_env(name, **options)  # validates the name and options once, in this process
        cls = gymnasium.vector.AsyncVectorEnv if asynchronous else gymnasium.vector.SyncVectorEnv
        self.envs = cls([lambda: make_env(name, **options)[0]] * num_envs,
                        autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP)
        self.num_envs, self.device = num_envs, torch.device(device)
        self.obs_dim = int(self.envs.single_observation_space.shape[0])
        self.action_dim = int(self.envs.single_action_space.shape[0])

    def _t(self, x: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=self.device)

    def reset(self, seed: int) -> torch.Tensor:
        return self._t(self.envs.reset(seed=[seed + i for i in range(self.num_envs)])[0])

    def step(self, actions: torch.Tensor) -> StepResult:
        obs, reward, terminated, truncated, info = self.envs.step(actions.detach().cpu().numpy())
        final = obs.copy()
        if "final_obs" in info:  # same-step autoreset: obs is already the reset one where an episode ended
            for i in np.flatnonzero(info["_final_obs"]):
                final[i] = info["final_obs"][i]
        return StepResult(self._t(obs), self._t(reward), self._t(terminated, torch.bool),
                          self._t(truncated, torch.bool), self._t(final))

    def close(self) -> None:
        self.envs.close()


# ----------------------------------------------------------------------------- MuJoCo Warp
@dataclass(frozen=True)
class WarpTask:
    """A gymnasium MuJoCo task's v4 reward terms (its ``*_env.py`` defaults), rebuilt on batched state."""

    xml: str
    obs_skip: int  # leading qpos entries left out of the observation (the root's x, y)
    forward_weight: float
    ctrl_cost: float
    healthy_reward: float
    healthy_z: tuple[float, float] | None  # None: never terminates (HalfCheetah)
    reset_noise: float
    uniform_qvel_noise: bool  # Humanoid draws qvel noise uniformly, Ant/HalfCheetah as noise * N(0, 1)
    com_forward: bool  # Humanoid: progress of the mass-weighted centre of mass, else the root's x
    frame_skip: int = 5
    max_steps: int = 1000


NCONMAX, NJMAX = 64, 256

WARP_TASKS = {
    "Ant": WarpTask("ant.xml", 2, 1.0, 0.5, 1.0, (0.2, 1.0), 0.1, False, False),
    "HalfCheetah": WarpTask("half_cheetah.xml", 1, 1.0, 0.1, 0.0, None, 0.1, False, False),
    "Humanoid": WarpTask("humanoid.xml", 2, 1.25, 0.1, 5.0, (1.0, 2.0), 1e-2, True, True),
}


def _import_warp() -> tuple[Any, Any]:
    try:
        import warp

        warp.config.quiet = True  # before mujoco_warp initialises warp: no banner on every run
        import mujoco_warp
    except ImportError as exc:
        raise RlscaleError(f"warp: environments need MuJoCo Warp ({exc.name} is missing): "
                           "pip install 'mujoco-warp>=4.0' 'warp-lang>=1.19'") from exc
    return warp, mujoco_warp


class WarpParallelEnv:
    """N worlds of one gymnasium MuJoCo model in MuJoCo Warp, rewards/terminations computed in torch.

    Observations follow the v5 options that drop contact/inertia terms (``qpos[skip:]`` and ``qvel``),
    which is what gymnasium's Ant-v4 uses by default; for Humanoid this is a 45-dim observation instead
    of v4's 376 (the inertia/force terms would need extra physics stages every step), and its solver is
    Newton instead of the XML's PGS (which MuJoCo Warp does not implement).
    """

    def __init__(self, task: str, num_envs: int, device: torch.device) -> None:
        import gymnasium
        import mujoco

        if task not in WARP_TASKS:
            raise RlscaleError(f"unknown warp task '{task}'; available: {', '.join(sorted(WARP_TASKS))}")
        wp, mjw = _import_warp()
        self.wp, self.mjw, self.spec = wp, mjw, WARP_TASKS[task]
        self.num_envs, self.device = num_envs, torch.device(device)
        self.wp_device = "cpu" if self.device.type == "cpu" else f"cuda:{self.device.index or 0}"
        xml = os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets", self.spec.xml)
        mjm = mujoco.MjModel.from_xml_path(xml)
        if mjm.opt.solver == mujoco.mjtSolver.mjSOL_PGS:  # humanoid.xml asks for PGS, which MuJoCo Warp lacks
            mjm.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
        self.mjm = mjm
        with wp.ScopedDevice(self.wp_device):
            self.model = mjw.put_model(mjm)
            # per-world contact / constraint-row capacity; MuJoCo Warp's model-size guesses are tight for
            # Humanoid falls, and overflowing contacts would be dropped
            self.data = mjw.put_data(mjm, mujoco.MjData(mjm), nworld=num_envs, nconmax=NCONMAX, njmax=NJMAX)
        self.qpos, self.qvel = wp.to_torch(self.data.qpos), wp.to_torch(self.data.qvel)  # zero-copy views
        self.ctrl, self.xipos = wp.to_torch(self.data.ctrl), wp.to_torch(self.data.xipos)
        self.mass = torch.as_tensor(mjm.body_mass, dtype=torch.float32, device=self.device)
        self.qpos0 = torch.as_tensor(mjm.qpos0, dtype=torch.float32, device=self.device)
        lo, hi = mjm.actuator_ctrlrange.T
        self.ctrl_lo = torch.as_tensor(lo, dtype=torch.float32, device=self.device)
        self.ctrl_hi = torch.as_tensor(hi, dtype=torch.float32, device=self.device)
        self.dt = float(mjm.opt.timestep) * self.spec.frame_skip
        self.obs_dim, self.action_dim = mjm.nq - self.spec.obs_skip + mjm.nv, mjm.nu
        self.steps = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.generator = torch.Generator(self.device)
        self.graph = None
        self.info = EnvInfo("warp", task, {"mujoco": mujoco.__version__, "warp": wp.__version__,
                                            "mujoco_warp": _version("mujoco-warp"), "gymnasium": gymnasium.__version__},
                            {"frame_skip": self.spec.frame_skip, "obs": "qpos[skip:], qvel"})

    def _warp(self, fn: Any, *args: Any) -> None:
        """Run a MuJoCo Warp call on the simulator's device, ordered after torch's writes and before its reads
        (warp and torch use different CUDA streams)."""
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()
        with self.wp.ScopedDevice(self.wp_device):
            fn(self.model, self.data, *args)
        if self.device.type == "cuda":
            self.wp.synchronize_device(self.wp_device)

    def _physics(self) -> None:
        """``frame_skip`` physics steps; on CUDA captured once as a graph and replayed."""
        wp, mjw = self.wp, self.mjw
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()  # torch's writes to ctrl/qpos land first
            if self.graph is None:
                with wp.ScopedDevice(self.wp_device), wp.ScopedCapture() as capture:
                    for _ in range(self.spec.frame_skip):
                        mjw.step(self.model, self.data)
                self.graph = capture.graph
            wp.capture_launch(self.graph)
            wp.synchronize_device(self.wp_device)
        else:
            with wp.ScopedDevice(self.wp_device):
                for _ in range(self.spec.frame_skip):
                    mjw.step(self.model, self.data)

    def _forward_position(self) -> torch.Tensor:
        if self.spec.com_forward:
            return (self.xipos[:, :, 0] * self.mass).sum(1) / self.mass.sum()
        return self.qpos[:, 0].clone()

    def _obs(self) -> torch.Tensor:
        return torch.cat([self.qpos[:, self.spec.obs_skip:], self.qvel], dim=1).float()

    def _reset(self, mask: torch.Tensor) -> None:
        """Gymnasium's reset distribution: qpos0 + U(-noise, noise), qvel noise, for the worlds in ``mask``."""
        n, noise = int(mask.sum()), self.spec.reset_noise
        if n == 0:
            return
        u = torch.rand((n, self.mjm.nq), generator=self.generator, device=self.device)
        qvel = (torch.rand((n, self.mjm.nv), generator=self.generator, device=self.device) * 2 - 1
                if self.spec.uniform_qvel_noise else torch.randn((n, self.mjm.nv), generator=self.generator,
                                                                 device=self.device))
        self._warp(self.mjw.reset_data, self.wp.from_torch(mask.to(torch.bool).contiguous()))
        self.qpos[mask] = self.qpos0 + noise * (2 * u - 1)
        self.qvel[mask] = noise * qvel
        self.steps[mask] = 0

    def reset(self, seed: int) -> torch.Tensor:
        self.generator.manual_seed(seed)
        self._reset(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        if self.spec.com_forward:  # xipos is only computed by the physics: one forward pass for the start COM
            self._warp(self.mjw.forward)
        return self._obs()

    def step(self, actions: torch.Tensor) -> StepResult:
        a = actions.to(self.device, torch.float32).clamp(-1, 1)
        before = self._forward_position()
        self.ctrl.copy_(self.ctrl_lo + (a + 1) * 0.5 * (self.ctrl_hi - self.ctrl_lo))
        self._physics()
        spec = self.spec
        progress = (self._forward_position() - before) / self.dt
        reward = spec.forward_weight * progress - spec.ctrl_cost * a.square().sum(1)
        finite = torch.isfinite(self.qpos).all(1) & torch.isfinite(self.qvel).all(1)
        if spec.healthy_z is None:
            terminated = ~finite
        else:
            z = self.qpos[:, 2]
            terminated = ~(finite & (z >= spec.healthy_z[0]) & (z <= spec.healthy_z[1]))
            reward = reward + spec.healthy_reward  # v4 pays it on the terminal step too (terminate_when_unhealthy)
        self.steps += 1
        truncated = (self.steps >= spec.max_steps) & ~terminated
        final_obs = torch.nan_to_num(self._obs())
        self._reset(terminated | truncated)
        return StepResult(self._obs(), reward.float(), terminated, truncated, final_obs)

    def close(self) -> None:
        self.graph = None


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


# ----------------------------------------------------------------------------- Isaac Gym
ISAAC_INSTALL = ("isaac: environments need Isaac Gym (download Isaac Gym Preview 4 from NVIDIA, "
                 "pip install -e isaacgym/python) and IsaacGymEnvs (pip install -e IsaacGymEnvs, from its git repo)")


class IsaacParallelEnv:
    """IsaacGymEnvs' documented API: ``isaacgymenvs.make(seed, task, num_envs, sim_device, rl_device, ...)``
    returns a vectorised env whose ``step`` gives ``(obs_dict, rew, reset_buf, extras)``, torch tensors on
    ``rl_device``, auto-resetting the envs whose episode ended; ``extras["time_outs"]`` marks time-outs.
    Isaac Gym does not expose the pre-reset observation, so ``final_obs`` is the next observation it
    returns (the terminal state's value is masked anyway; only time-outs bootstrap from it).
    """

    def __init__(self, task: str, num_envs: int, device: torch.device, seed: int = 0) -> None:
        try:
            import isaacgym  # noqa: F401  (rlscale train imports it before torch, as Isaac Gym requires)
            import isaacgymenvs
        except ImportError as exc:  # also Isaac Gym's own "PyTorch was imported before isaacgym" error
            raise RlscaleError(f"{ISAAC_INSTALL} ({exc})") from exc
        self.device = torch.device(device)
        dev = "cuda:0" if self.device.type == "cpu" else str(self.device)
        self.env = isaacgymenvs.make(seed=seed, task=task, num_envs=num_envs, sim_device=dev, rl_device=dev,
                                     graphics_device_id=0, headless=True)
        self.num_envs = num_envs
        self.obs_dim = int(self.env.observation_space.shape[0])
        self.action_dim = int(self.env.action_space.shape[0])
        self.info = EnvInfo("isaac", task, {"isaacgymenvs": _version("isaacgymenvs")}, {})

    def reset(self, seed: int) -> torch.Tensor:
        return self.env.reset()["obs"].to(self.device)

    def step(self, actions: torch.Tensor) -> StepResult:
        obs_dict, reward, done, extras = self.env.step(actions.clamp(-1, 1))
        obs = obs_dict["obs"].to(self.device)
        time_out = extras.get("time_outs", torch.zeros_like(done)).to(self.device).bool()
        done = done.to(self.device).bool()
        return StepResult(obs, reward.to(self.device).float(), done & ~time_out, time_out, obs)

    def close(self) -> None:
        self.env = None


def make_parallel_env(name: str, num_envs: int, device: torch.device | str = "cpu", *, seed: int = 0,
                 asynchronous: bool = False, **options: Any) -> ParallelEnv:
    """``num_envs`` parallel copies of ``BACKEND:ID`` whose tensors live on ``device``."""
    if num_envs < 1:
        raise RlscaleError(f"num_envs must be >= 1, got {num_envs}")
    backend, env_id = parse_env_name(name)
    device = torch.device(device)
    if backend == "warp":
        if options:
            raise RlscaleError(f"warp:{env_id} takes no environment options, got {', '.join(sorted(options))}")
        return WarpParallelEnv(env_id, num_envs, device)
    if backend == "isaac":
        return IsaacParallelEnv(env_id, num_envs, device, seed)
    return GymParallelEnv(name, num_envs, device, asynchronous=asynchronous, **options)
