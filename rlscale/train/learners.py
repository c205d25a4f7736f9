"""Learners: who performs the updates, and when. Both keep the paper's sigma schedule exactly.

After the random warm-up, a run has done :func:`updates_due` = floor(sigma * (t - warmup)) gradient
updates after env step t (sigma held as an exact fraction, so that e.g. sigma = 0.1 does not drift).

* :class:`SyncLearner` updates in the collector's thread, right after each collection step (single
  runs and chunks of K members; every member updates at every step, on its own batch).
* :class:`ConcurrentLearners` are PQL's V-learner (critic) and P-learner (policy) threads, each on
  its own CUDA stream on a GPU (the same code runs on CPU, where torch releases the GIL inside
  kernels). They make exactly the due critic updates (the paper's sigma counts critic updates), one
  policy update per ``policy_every`` critic updates, and the collector waits whenever the critic is
  more than ``slack`` updates behind (PQL's speed-ratio control, with the ratio set by the run's
  ``utd`` instead of by hardware speed). :meth:`ConcurrentLearners.drain` waits until every due update
  is done, so evaluations and checkpoints see a consistent state.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from rlscale.agents.base import PARALLEL_METHODS, Agent, ParallelAgent
from rlscale.errors import RlscaleError
from rlscale.train.config import exact_ratio
from rlscale.train.replay import ReplayBuffer


def updates_due(utd: Fraction, warmup: int, env_step: int) -> int:
    """Gradient updates a run has done after env step ``env_step``."""
    return math.floor(utd * max(0, env_step - warmup))


class SyncLearner:
    """Every member updates in the collector's thread on its own batch (``batch_sizes[k]`` rows drawn with
    its own generator), as many times as are due after each collection step."""

    max_lag = 0  # updates never fall behind collection

    def __init__(self, agent: Agent, replay: ReplayBuffer, batch_sizes: Sequence[int],
                 generators: Sequence[np.random.Generator], utd: float, warmup: int, updates: int) -> None:
        self.agent, self.replay, self.batch_sizes, self.generators = agent, replay, list(batch_sizes), generators
        self.utd, self.warmup, self.updates = exact_ratio(utd), warmup, updates
        self.info: dict[str, torch.Tensor] = {}

    def start(self) -> None:
        """Nothing runs beside the collector."""

    def before_collect(self) -> None:
        """Updates are never behind when the collector steps."""

    def collected(self, env_step: int) -> None:
        if env_step <= self.warmup or not (self.replay.size > 0).all():
            return
        due = updates_due(self.utd, self.warmup, env_step)
        while self.updates < due:
            self.info = self.agent.update(self.replay.sample(self.batch_sizes, self.generators))
            self.updates += 1

    def drain(self) -> None:
        """Every due update is done by the time :meth:`collected` returns."""

    def state_dict(self) -> dict[str, Any]:
        return {}  # its generators are the members' training streams, checkpointed with them

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def stop(self) -> None:
        pass


class ConcurrentLearners:
    """PQL's V-learner and P-learner threads over one member's replay, paced to ``utd`` critic updates per
    env step after ``warmup``; ``slack``: how many due critic updates the collector may run ahead of."""

    def __init__(self, agent: ParallelAgent, replay: ReplayBuffer, batch_size: int, utd: float, warmup: int,
                 seed: int, updates: int, slack: int) -> None:
        missing = [name for name in PARALLEL_METHODS if not hasattr(agent, name)]
        if missing:
            raise RlscaleError(f"{type(agent).__name__} is registered as a parallel-env agent but has no "
                               f"{', '.join(missing)} (rlscale.agents.base.ParallelAgent)")
        self.agent, self.replay, self.batch_size = agent, replay, batch_size
        self.utd, self.warmup, self.slack = exact_ratio(utd), warmup, slack
        self.generators = {}  # each learner's own batch-index stream on the device
        for role, s in zip("vp", np.random.SeedSequence([seed, 1]).generate_state(2), strict=True):
            self.generators[role] = torch.Generator(replay.device)
            self.generators[role].manual_seed(int(s))
        self.cond = threading.Condition()
        self.env_step = 0
        self.v_updates, self.p_updates = updates, updates // agent.policy_every
        self.info: dict[str, torch.Tensor] = {}
        self.error: BaseException | None = None
        self.max_lag = 0  # most critic updates due but not yet done, seen right after a collector step
        self._stop = False
        self._threads: list[threading.Thread] = []

    @property
    def updates(self) -> int:
        return self.v_updates

    def due(self) -> int:
        return updates_due(self.utd, self.warmup, self.env_step) if self.replay.size[0] else 0

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._loop, args=(role,), name=f"pql-{role}", daemon=True)
                         for role in ("v", "p")]
        for t in self._threads:
            t.start()

    def _target(self, role: str) -> int:
        return self.due() if role == "v" else self.v_updates // self.agent.policy_every

    def _done(self, role: str) -> int:
        return self.v_updates if role == "v" else self.p_updates

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
                    info = step(self.replay.sample([self.batch_size], [self.generators[role]]))
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

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def before_collect(self) -> None:
        """Block while more than ``slack`` critic updates are due but not done."""
        with self.cond:
            self.cond.wait_for(lambda: self.error is not None or self.due() - self.v_updates <= self.slack)
        self._check()

    def collected(self, env_step: int) -> None:
        with self.cond:
            self.env_step = env_step
            self.max_lag = max(self.max_lag, self.due() - self.v_updates)
            self.cond.notify_all()

    def drain(self) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.error is not None or (
                self.v_updates >= self.due() and self.p_updates >= self.v_updates // self.agent.policy_every))
        self._check()

    def state_dict(self) -> dict[str, Any]:
        return {role: g.get_state() for role, g in self.generators.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for role, g in self.generators.items():
            g.set_state(state[role])

    def stop(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify_all()
        for t in self._threads:
            t.join()
