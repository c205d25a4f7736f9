"""Parallel Q-Learning (Li et al., ICML 2023), the paper's agent on Isaac Gym. CleanRL-style, one file.

PQL splits DDPG/TD3-style learning into three roles that run at the same time:

* the **actor** (collector) steps N parallel envs with a deterministic policy plus Gaussian noise whose
  scale differs per env ("mixed exploration": env i uses a fixed std spread over [0.05, 0.8]);
* the **V-learner** trains the critic: twin Q MLPs, clipped double-Q targets, Polyak-averaged target
  critic. This is PQL's default non-distributional critic (not PQL-D's categorical one), with 1-step
  targets (PQL's n-step returns are not implemented);
* the **P-learner** trains the policy to maximise min(Q1, Q2) under its own copy of the critic.

Each role trains only its own network and reads the others' through *published snapshots*
(:class:`_Snapshot`): PQL's local copies that are synced as learning goes, so no lock is held during a
gradient step. :class:`ConcurrentLearners` runs the two learners as threads, each on its own CUDA stream
on a GPU (the same code path runs on CPU, where torch releases the GIL inside kernels), and paces them:
the V-learner makes exactly ``floor(utd * (env_steps - warmup))`` critic updates (the paper's sigma counts
critic updates), the P-learner one update per ``policy_every`` critic updates, and the collector waits
whenever the critic is more than one vector step of updates behind -- PQL's speed-ratio control, with
the ratio set by the run's ``utd`` instead of by hardware speed.
"""

from __future__ import annotations

import copy
import math
import threading
from contextlib import nullcontext
from fractions import Fraction
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlscale.agents.base import AgentSettings, Batch
from rlscale.agents.networks import TwinCritic, count_params, mlp

WIDTH, DEPTH = 256, 2
TAU = 0.05  # PQL's Polyak rate: its learners see a lot of fresh data per update
NOISE_MIN, NOISE_MAX = 0.05, 0.8  # PQL's mixed exploration range
POLICY_EVERY = 2  # critic updates per policy update (PQL's P-learner : V-learner ratio 1:2)


class DeterministicActor(nn.Module):
    def __init__(self, obs_dim: int, action_dim: int, width: int, depth: int) -> None:
        super().__init__()
        self.trunk = mlp(obs_dim, action_dim, width, depth)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.trunk(obs))


def exploration_std(num_envs: int, device: torch.device) -> torch.Tensor:
    """Env i explores with a fixed std, evenly spread over [NOISE_MIN, NOISE_MAX]: ``[N, 1]``."""
    return torch.linspace(NOISE_MIN, NOISE_MAX, num_envs, device=device)[:, None]


class _Snapshot:
    """A network's parameters as last published by the thread that trains it.

    Publishing stores fresh clones (never written again), so a reader can copy them into its own module
    at any time without a lock; on CUDA an event orders the reader's copy after the writer's kernels.
    """

    def __init__(self, module: nn.Module) -> None:
        self.state: tuple[int, list[torch.Tensor], torch.cuda.Event | None] = (0, [], None)
        self.publish(module)

    @torch.no_grad()
    def publish(self, module: nn.Module) -> None:
        params = [p.detach().clone() for p in module.parameters()]
        event = None
        if params[0].is_cuda:
            event = torch.cuda.Event()
            event.record()
        self.state = (self.state[0] + 1, params, event)  # one reference assignment: atomic for readers

    @torch.no_grad()
    def pull(self, module: nn.Module, seen: int) -> int:
        """Copy the latest snapshot into ``module`` if newer than version ``seen``; returns the version held."""
        version, params, event = self.state
        if version != seen:
            if event is not None:
                torch.cuda.current_stream().wait_event(event)
                for p in params:  # the allocator must not recycle them before this stream has read them
                    p.record_stream(torch.cuda.current_stream())
            torch._foreach_copy_(list(module.parameters()), params)
        return version


class PQL:
    """The PQL networks and update rules; satisfies the :class:`~rlscale.agents.base.Agent` contract."""

    def __init__(self, obs_dim: int, action_dim: int, settings: AgentSettings, device: torch.device, *,
                 policy_every: int = POLICY_EVERY) -> None:
        self.device = torch.device(device)
        self.gamma, self.policy_every = settings.gamma, policy_every
        width, depth = settings.critic_width or WIDTH, settings.critic_depth or DEPTH
        self.actor = DeterministicActor(obs_dim, action_dim, width, DEPTH).to(self.device)  # P-learner's
        self.critic = TwinCritic(obs_dim, action_dim, width, depth).to(self.device)  # V-learner's
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        lr = settings.learning_rate
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=lr, foreach=True)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=lr, foreach=True)
        self.critic_params = count_params(self.critic)
        # each role's local copies of the networks it reads but does not train
        self.actor_of_v = copy.deepcopy(self.actor).requires_grad_(False)
        self.actor_of_collector = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_of_p = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_pub, self.critic_pub = _Snapshot(self.actor), _Snapshot(self.critic)
        self._seen = {"v": 1, "p": 1, "collector": 1}
        self._params = list(self.critic.parameters())
        self._target_params = list(self.critic_target.parameters())
        self._critic_steps = 0  # for the sequential ``update``

    # ---------------------------------------------------------------- actor (collector)
    @torch.no_grad()
    def act_batch(self, obs: torch.Tensor, noise_std: torch.Tensor | None) -> torch.Tensor:
        """Actions for ``[N, obs_dim]`` on the device: the latest published policy plus per-env noise."""
        self._seen["collector"] = self.actor_pub.pull(self.actor_of_collector, self._seen["collector"])
        action = self.actor_of_collector(obs)
        if noise_std is not None:
            action = (action + noise_std * torch.randn_like(action)).clamp(-1.0, 1.0)
        return action

    def act(self, obs: np.ndarray, *, explore: bool) -> np.ndarray:
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        std = torch.full((len(obs_t), 1), 0.5 * (NOISE_MIN + NOISE_MAX), device=self.device) if explore else None
        return self.act_batch(obs_t, std).cpu().numpy()

    # ---------------------------------------------------------------- V-learner
    def _target(self, batch: Batch) -> torch.Tensor:
        next_q = torch.min(*self.critic_target(batch.next_obs, self.actor_of_v(batch.next_obs)))
        return batch.reward + self.gamma * (1.0 - batch.terminated) * next_q

    def update_critic(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One critic step on the clipped double-Q target, then Polyak targets and publish the critic."""
        self._seen["v"] = self.actor_pub.pull(self.actor_of_v, self._seen["v"])
        with torch.no_grad():
            target = self._target(batch)
        q1, q2 = self.critic(batch.obs, batch.action)
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(self._target_params, self._params, TAU)
        self.critic_pub.publish(self.critic)
        return {"critic_loss": critic_loss.detach(), "q": q1.detach().mean()}

    # ---------------------------------------------------------------- P-learner
    def update_actor(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One policy step: maximise min(Q1, Q2) of the P-learner's critic copy, then publish the policy."""
        self._seen["p"] = self.critic_pub.pull(self.critic_of_p, self._seen["p"])
        actor_loss = -torch.min(*self.critic_of_p(batch.obs, self.actor(batch.obs))).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()
        self.actor_pub.publish(self.actor)
        return {"actor_loss": actor_loss.detach()}

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The sequential form of the two learners (the Agent contract): a critic step, a policy step every
        ``policy_every`` critic steps."""
        info = self.update_critic(batch)
        self._critic_steps += 1
        if self._critic_steps % self.policy_every == 0:
            info.update(self.update_actor(batch))
        return info

    @torch.no_grad()
    def td_error(self, batch: Batch) -> float:
        q1, q2 = self.critic(batch.obs, batch.action)
        target = self._target(batch)
        return float(0.5 * (F.mse_loss(q1, target) + F.mse_loss(q2, target)))

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "critic_target": self.critic_target.state_dict(), "actor_of_v": self.actor_of_v.state_dict(),
                "critic_of_p": self.critic_of_p.state_dict(), "actor_opt": self.actor_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict(), "critic_steps": self._critic_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("actor", "critic", "critic_target", "actor_of_v", "critic_of_p", "actor_opt", "critic_opt"):
            getattr(self, name).load_state_dict(state[name])
        self._critic_steps = int(state["critic_steps"])
        self.actor_of_collector.load_state_dict(state["actor"])
        self.actor_pub.publish(self.actor)
        self.critic_pub.publish(self.critic)
        actor_version, critic_version = self.actor_pub.state[0], self.critic_pub.state[0]
        self._seen = {"v": actor_version, "p": critic_version, "collector": actor_version}


class SharedReplay:
    """A ring buffer on the device that the collector fills N transitions at a time and both learners sample.

    Rows are ``[obs, action, reward, next_obs, terminated]`` as in :class:`rlscale.train.replay.ReplayBuffer`
    (same state-dict layout). Indices come from a torch generator on the device, so sampling needs no
    host round trip. Rows are written before ``size`` grows, so a learner never samples an unwritten row.
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, device: torch.device) -> None:
        self.capacity, self.device = int(capacity), torch.device(device)
        bounds = np.cumsum([0, obs_dim, action_dim, 1, obs_dim, 1])
        self.columns = [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(5)]
        self.storage = torch.zeros((self.capacity, int(bounds[-1])), device=self.device)
        self.size = self.pos = 0
        self.written: torch.cuda.Event | None = None  # learners' streams wait on the latest write

    def __len__(self) -> int:
        return self.size

    def extend(self, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
               terminated: torch.Tensor) -> None:
        rows = torch.cat([obs, action, reward[:, None], next_obs, terminated[:, None].float()], dim=1)
        rows = rows[-self.capacity:]
        idx = (self.pos + torch.arange(len(rows), device=self.device)) % self.capacity
        self.storage.index_copy_(0, idx, rows)
        if self.device.type == "cuda":
            event = torch.cuda.Event()
            event.record()
            self.written = event
        self.pos = (self.pos + len(rows)) % self.capacity
        self.size = min(self.size + len(rows), self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        if self.written is not None:
            torch.cuda.current_stream().wait_event(self.written)
        rows = self.storage[torch.randint(0, self.size, (batch_size,), device=self.device, generator=generator)]
        c = self.columns
        return Batch(obs=rows[:, c[0]], action=rows[:, c[1]], reward=rows[:, c[2].start], next_obs=rows[:, c[3]],
                     terminated=rows[:, c[4].start])

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "pos": self.pos, "storage": self.storage[: self.size].cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size, self.pos = int(state["size"]), int(state["pos"])
        self.storage[: self.size] = state["storage"].to(self.device)


class ConcurrentLearners:
    """The V-learner and P-learner threads, paced to ``utd`` critic updates per env step after ``warmup``.

    The collector calls :meth:`collected` after adding data and :meth:`wait_for_learners` before its next
    step; :meth:`drain` blocks until both learners have done every update that is due (evaluations and
    checkpoints happen only then, so they see a consistent state).
    """

    def __init__(self, agent: PQL, replay: SharedReplay, batch_size: int, utd: float, warmup: int,
                 generators: dict[str, torch.Generator], *, updates: int = 0) -> None:
        self.agent, self.replay, self.batch_size = agent, replay, batch_size
        self.utd, self.warmup = Fraction(utd).limit_denominator(1_000_000), warmup
        self.generators = generators  # "v" and "p": each learner's own batch-index stream
        self.cond = threading.Condition()
        self.env_step = 0
        self.v_updates, self.p_updates = updates, updates // agent.policy_every
        self.info: dict[str, torch.Tensor] = {}
        self.error: BaseException | None = None
        self.max_lag = 0  # most critic updates due but not yet done, seen right after a collector step
        self._stop = False
        self._threads: list[threading.Thread] = []

    def due(self) -> int:
        return math.floor(self.utd * max(0, self.env_step - self.warmup)) if len(self.replay) else 0

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._loop, args=(role,), name=f"pql-{role}", daemon=True)
                         for role in ("v", "p")]
        for t in self._threads:
            t.start()

    def _target(self, role: str) -> int:
        return self.due() if role == "v" else self.v_updates // self.agent.policy_every

    def _loop(self, role: str) -> None:
        stream = torch.cuda.Stream(self.replay.device) if self.replay.device.type == "cuda" else None
        step = self.agent.update_critic if role == "v" else self.agent.update_actor
        try:
            while True:
                with self.cond:
                    self.cond.wait_for(lambda: self._stop or self._done(role) < self._target(role))
                    if self._stop:
                        return
                with torch.cuda.stream(stream) if stream is not None else nullcontext():
                    info = step(self.replay.sample(self.batch_size, self.generators[role]))
                    if stream is not None:
                        stream.synchronize()  # an update counts as done once its kernels have run
                with self.cond:
                    self.info.update(info)
                    if role == "v":
                        self.v_updates += 1
                    else:
                        self.p_updates += 1
                    self.cond.notify_all()
        except BaseException as exc:  # surfaced in the collector's thread by _check
            with self.cond:
                self.error = exc
                self.cond.notify_all()

    def _done(self, role: str) -> int:
        return self.v_updates if role == "v" else self.p_updates

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def collected(self, env_step: int) -> None:
        with self.cond:
            self.env_step = env_step
            self.max_lag = max(self.max_lag, self.due() - self.v_updates)
            self.cond.notify_all()

    def wait_for_learners(self, slack: int) -> None:
        """Block while more than ``slack`` critic updates are due but not done."""
        with self.cond:
            self.cond.wait_for(lambda: self.error is not None or self.due() - self.v_updates <= slack)
        self._check()

    def drain(self) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.error is not None or (
                self.v_updates >= self.due() and self.p_updates >= self.v_updates // self.agent.policy_every))
        self._check()

    def stop(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify_all()
        for t in self._threads:
            t.join()
