"""The training loop, written once: a single run, a chunk of K member runs, and a PQL run.

One loop, parameterised by how transitions are collected (:mod:`rlscale.train.collectors`: one env
per member, or N parallel envs) and by who updates (:mod:`rlscale.train.learners`: in the collector's
thread, or PQL's learner threads). Per collection step it

1. checkpoints, once ``checkpoint_every`` env steps have passed, at the first step where every live
   member is between episodes (members of fixed-length tasks end episodes together), or anyway after
   twice that (the unfinished episodes are then replayed on resume);
2. collects a step: uniformly random actions during the warm-up, the agent's exploration after;
3. sends each transition either to the member's replay or, with probability ``val_fraction`` decided
   by a dedicated seeded stream, to its held-out buffer that is never trained on;
4. lets the learner do the updates now due: floor(sigma * (t - warmup)) after env step t;
5. every ``eval_every`` env steps writes one curve row per member (:meth:`_Loop.evaluate`).

Member k follows a single run's schedule and random streams exactly: its initial weights come from
``torch.manual_seed(seed_k)`` and its numpy streams (episode seeds and warm-up actions and batch
indices; the train/held-out split; the probes) are the single run's. What differs from K single runs
is the torch noise of the policy, drawn for all members at once, so a chunk's curves match single
runs' in distribution, not bit for bit. A member whose numbers turn non-finite is marked failed (its
table kept up to the failure) and acts with zero actions from then on, while the others train on.

Re-running the same run folders resumes from their checkpoint; on CPU a resumed run's curve equals
an uninterrupted run's (PQL's threads make its runs reproducible only in distribution).
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlscale import __version__
from rlscale.agents import AGENTS, make_agent
from rlscale.agents.base import AgentSettings, join_states, member_state
from rlscale.envs import parse_env_name
from rlscale.errors import RlscaleError
from rlscale.train.collectors import MemberEnvs, ParallelEnvs
from rlscale.train.config import MEMBER_KEYS, RunConfig, Runtime
from rlscale.train.learners import ConcurrentLearners, SyncLearner
from rlscale.train.progress import progress_bar
from rlscale.train.replay import ReplayBuffer
from rlscale.train.rundir import (
    CHUNK_KEY,
    RunDir,
    Status,
    load_checkpoints,
    locked,
    rng_state,
    save_checkpoints,
    set_rng_state,
)

PROBE_BATCH = 1024  # transitions per TD-error probe
STREAMS = ("train", "split", "probe")  # each member's numpy streams, spawned from its seed


class RunFailed(RlscaleError):
    """The run diverged (NaN/inf loss, action or return); the table up to the failure is kept."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise RlscaleError(f"bad device '{name}': use auto, cpu, cuda or cuda:K") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RlscaleError(f"device '{name}' requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RlscaleError(f"device '{name}' does not exist ({torch.cuda.device_count()} CUDA device(s))")
    elif device.type != "cpu":
        raise RlscaleError(f"unsupported device '{name}': use auto, cpu, cuda or cuda:K")
    return device


def train_run(config: RunConfig, run_dir: str | Path, runtime: Runtime | None = None) -> Status:
    """Train one run into ``run_dir`` (or resume it, or return at once if it finished); raises RunFailed."""
    (status,) = train_members([config], [run_dir], runtime)
    if status.status == "failed":
        raise RunFailed(status.reason or "failed")
    return status


def train_members(configs: Sequence[RunConfig], run_dirs: Sequence[str | Path],
                  runtime: Runtime | None = None) -> list[Status]:
    """Train ``configs[k]`` into ``run_dirs[k]``, all in this process; returns each run's final status
    (its ``resumed_from`` is this call's: None for a run that had finished or failed before).

    More than one config makes a chunk: its members may differ only in seed, learning rate and batch
    size. Re-running on the same folders resumes; members that finished or failed before are left as
    they are (a single run that failed before is refused: remove its folder to rerun it).
    """
    runtime = runtime or Runtime()
    if runtime.threads < 0:
        raise RlscaleError(f"threads must be >= 0 (0 = torch's default), got {runtime.threads}")
    configs = [c.validate() for c in configs]
    _check_members(configs, run_dirs)
    resolve_device(runtime.device)  # a bad device is refused before any folder is made
    dirs = [RunDir(d) for d in run_dirs]
    with locked(dirs):  # one writer per folder, from the first read to the last write
        return _train_locked(configs, dirs, runtime)


def _train_locked(configs: list[RunConfig], dirs: list[RunDir], runtime: Runtime) -> list[Status]:
    priors = [d.claim(c) for d, c in zip(dirs, configs, strict=True)]
    names = [d.name for d in dirs]
    for d, prior in zip(dirs, priors, strict=True):
        if prior and prior.status == "running" and prior.chunk and list(prior.chunk) != names:
            raise RlscaleError(f"{d.path} is a member of a vectorised chunk of the folders {', '.join(prior.chunk)}; "
                               "resume it by running the same sweep, vectorised, again, under those names")
    if len(dirs) == 1 and priors[0] and priors[0].status == "failed":
        raise RlscaleError(f"run in {dirs[0].path} failed before ({priors[0].reason}); remove the folder to rerun")
    damage = dirs[0].damage() if len(dirs) == 1 and priors[0] and priors[0].status == "finished" else None
    if damage:
        raise RlscaleError(f"run in {dirs[0].path} finished before, but {damage}; remove the folder to rerun")
    settled = [p is not None and p.settled for p in priors]
    if not all(settled):
        states = load_checkpoints(dirs) if any(p is not None for p in priors) else None
        # resuming needs every member's slice; a fresh start trains only the unsettled members
        slots = list(range(len(dirs))) if states is not None else [k for k in range(len(dirs)) if not settled[k]]
        loop = _Loop([configs[k] for k in slots], [dirs[k] for k in slots], [not settled[k] for k in slots],
                     runtime)
        loop.run(states)
    return [dataclasses.replace(prior, resumed_from=None) if prior is not None and prior.settled
            else d.read_status() or Status("running") for d, prior in zip(dirs, priors, strict=True)]


def _check_members(configs: Sequence[RunConfig], run_dirs: Sequence[str | Path]) -> None:
    if not configs:
        raise RlscaleError("nothing to train: no run configs")
    if len(configs) != len(run_dirs):
        raise RlscaleError(f"{len(configs)} configs but {len(run_dirs)} output folders")
    if len({Path(d).resolve() for d in run_dirs}) != len(run_dirs):
        raise RlscaleError("every run needs its own output folder")
    if len(configs) > 1:
        if AGENTS[configs[0].algo].parallel:
            raise RlscaleError(f"algo {configs[0].algo} trains one run per process (N parallel envs, learner "
                               "threads); it cannot be vectorised over configurations")
        first, given = dict(configs[0].shared()), configs[0].to_dict()
        # differing once resolved decides; the settings named are those given differently (algo, not the
        # agent defaults it brings)
        diff = sorted({k for c in configs[1:] for k, v in c.shared() if v != first[k] and getattr(c, k) != given[k]})
        if diff:
            raise RlscaleError("vectorised members may differ only in " + ", ".join(MEMBER_KEYS)
                               + f"; they differ in {', '.join(diff)}")


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt options (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's largest: allocations below it come from the heap
TRIM_THRESHOLD = 1 << 30   # free heap kept before any is handed back to the system


def keep_freed_memory() -> bool:
    """Let this process reuse the memory an update frees instead of handing it back to the system.

    With glibc's default thresholds an update's larger temporaries (BRO's 100 x 100 quantile pairs, a K-member
    batch) are mapped afresh and page-faulted in at every step, then returned: on CPU that cost a 64-wide BRO
    update up to half its time, and it made a run's speed depend on what the process had allocated before.
    ``mallopt`` through ctypes (the process's allocator has no Python interface); a no-op, returning False,
    where the C library is not glibc.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


class _Loop:
    """The state of one training process: K members (``active[k]``: may act and write its folder)."""

    def __init__(self, configs: list[RunConfig], dirs: list[RunDir], active: list[bool], runtime: Runtime) -> None:
        self.configs, self.dirs, self.runtime = configs, dirs, runtime
        self.cfg, self.k = configs[0], len(configs)
        self.device = resolve_device(runtime.device)
        if runtime.threads > 0:
            torch.set_num_threads(runtime.threads)
        keep_freed_memory()
        self.chunk = tuple(d.name for d in dirs) if self.k > 1 else None
        self.alive = np.array(active, dtype=bool)
        self.streams = [dict(zip(STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(c.seed).spawn(3)),
                                 strict=True)) for c in configs]
        parallel = AGENTS[self.cfg.algo].parallel
        collector_cls = ParallelEnvs if parallel else MemberEnvs
        self.collector = collector_cls(self.cfg, [s["train"] for s in self.streams], self.device)
        obs_dim, action_dim = self.collector.obs_dim, self.collector.action_dim
        # every AgentSettings field is a run setting of the same name (resolved: members that spell out a
        # default and members that leave it unset are one chunk)
        resolved = [c.resolved() for c in configs]
        settings = [AgentSettings(**{f.name: r[f.name] for f in dataclasses.fields(AgentSettings)}) for r in resolved]
        self.agent = make_agent(self.cfg.algo, obs_dim, action_dim, settings, self.device, [c.seed for c in configs])
        self.n_params = int(self.agent.critic_params)
        capacity = min(self.cfg.buffer_size, self.cfg.env_steps)
        self.replay = ReplayBuffer(self.k, capacity, obs_dim, action_dim, self.device, concurrent=parallel)
        self.held_out = ReplayBuffer(self.k, max(1, math.ceil(self.cfg.val_fraction * capacity) + 1000), obs_dim,
                                     action_dim, self.device)
        self.parallel = parallel
        self.counters: dict[str, Any] = {"env_step": 0, "updates": 0, "wall_s": 0.0, "eval_s": 0.0,
                                         "ckpt_step": 0, "max_lag": 0}
        self.rows: list[list[dict[str, Any]]] = [[] for _ in configs]
        self.newest_from = np.zeros(self.k, dtype=np.int64)  # transitions added before the previous evaluation
        self.resumed_from: int | None = None
        backend, env_id = parse_env_name(self.cfg.env)
        self.static = [{"benchmark": backend, "env": env_id, "algo": c.algo, "utd": c.utd, "batch_size": c.batch_size,
                        "learning_rate": c.learning_rate, "critic_params": self.n_params, "seed": c.seed,
                        "run_id": d.name} for c, d in zip(configs, dirs, strict=True)]

    # ----------------------------------------------------------------- start, resume, finish
    def _restore(self, states: list[dict[str, Any]]) -> None:
        self.agent.load_state_dict(join_states([s["agent"] for s in states]))
        for k, s in enumerate(states):
            self.replay.load_member_state(k, s["buffer"])
            self.held_out.load_member_state(k, s["val_buffer"])
            set_rng_state(s["rng"], self.streams[k])  # also torch's state: the same in every member's file
            self.rows[k] = [{**row, "run_id": self.dirs[k].name} for row in s["rows"]]  # the folder may have moved
            self.alive[k] = self.alive[k] and s["alive"]
            self.newest_from[k] = s["newest_from"]
        self.counters.update(states[0]["counters"])
        self.resumed_from = self.counters["env_step"]

    def _record(self, k: int) -> dict[str, Any]:
        """The run's ``config.json``."""
        import gymnasium

        info = self.collector.info
        return {
            "settings": self.configs[k].to_dict(),
            "run_id": self.dirs[k].name,
            "critic_params": self.n_params,
            "env": {"backend": info.backend, "id": info.env_id, "versions": info.versions, "options": info.options},
            "versions": {"rlscale": __version__, "torch": torch.__version__, "numpy": np.__version__,
                         "gymnasium": gymnasium.__version__, "python": sys.version.split()[0]},
            "git_commit": _git_commit(),
            "device": str(self.device),
            "cuda_device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None,
            "threads": self.runtime.threads,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def _status(self, state: str, reason: str | None = None) -> Status:
        c = self.counters
        train_s = max(c["wall_s"] - c["eval_s"], 1e-9)
        after_warmup = c["env_step"] - self.cfg.warmup_steps
        return Status(state, c["env_step"], reason, self.chunk, self.resumed_from, c["updates"],
                      c["updates"] / after_warmup if after_warmup > 0 else None, int(c["max_lag"]),
                      c["updates"] / train_s, c["env_step"] / train_s, train_s, c["eval_s"])

    def _write_status(self, state: str) -> None:
        for k in np.flatnonzero(self.alive):
            self.dirs[k].write_status(self._status(state))

    def fail(self, k: int, reason: str) -> None:
        self.alive[k] = False
        self.dirs[k].write_curve(self.rows[k])
        self.dirs[k].write_status(self._status("failed", reason))

    def save(self) -> None:
        agent_state = self.agent.state_dict()
        save_checkpoints(self.dirs, [{
            CHUNK_KEY: [d.name for d in self.dirs], "agent": member_state(agent_state, k),
            "buffer": self.replay.member_state(k), "val_buffer": self.held_out.member_state(k),
            "rng": rng_state(self.streams[k]), "counters": dict(self.counters), "rows": list(self.rows[k]),
            "alive": bool(self.alive[k]), "newest_from": int(self.newest_from[k]),
            "collector": self.collector.member_state(k), "learner": self.learner.state_dict()}
            for k in range(self.k)])

    # ----------------------------------------------------------------- the loop
    def run(self, states: list[dict[str, Any]] | None) -> None:
        cfg, c = self.cfg, self.counters
        if states is not None:
            self._restore(states)
            for k in np.flatnonzero(self.alive):
                self.dirs[k].write_curve(self.rows[k])  # drop rows logged after the checkpoint: recomputed
        else:
            for k in np.flatnonzero(self.alive):
                self.dirs[k].path.mkdir(parents=True, exist_ok=True)
                self.dirs[k].write_config(self._record(k))
        if self.parallel:
            self.learner: SyncLearner | ConcurrentLearners = ConcurrentLearners(
                self.agent, self.replay, cfg.batch_size, cfg.utd, cfg.warmup_steps, cfg.seed, c["updates"],
                slack=math.ceil(cfg.utd * self.collector.steps))  # the collector may run one step ahead
        else:
            self.learner = SyncLearner(self.agent, self.replay, [m.batch_size for m in self.configs],
                                       [s["train"] for s in self.streams], cfg.utd, cfg.warmup_steps, c["updates"])
        if states is not None:
            self.learner.load_state_dict(states[0]["learner"])
        self.learner.collected(c["env_step"])
        self.collector.begin([s["collector"] for s in states] if states else None, c["env_step"])
        self._write_status("running")

        desc = self.dirs[0].name + (f" (+{self.k - 1} vectorised)" if self.k > 1 else "")
        progress = progress_bar(cfg.env_steps, initial=c["env_step"], unit="step", desc=desc,
                                disable=self.runtime.quiet)
        t_start, wall_base = time.perf_counter(), c["wall_s"]
        env_step = c["env_step"]
        every = cfg.checkpoint_interval
        self.learner.start()
        try:
            while env_step < cfg.env_steps and self.alive.any():
                since = env_step - c["ckpt_step"]
                if since >= every and (self.collector.at_boundary(self.alive) or since >= 2 * every):
                    self.learner.drain()
                    c.update(env_step=env_step, updates=self.learner.updates, ckpt_step=env_step,
                             wall_s=wall_base + time.perf_counter() - t_start, max_lag=self.learner.max_lag)
                    self.save()
                warmup = env_step < cfg.warmup_steps
                if not warmup:
                    self.learner.before_collect()
                rows, bad = self.collector.collect(self.agent, warmup, self.alive, env_step)
                for k, reason in bad.items():
                    self.fail(k, reason)
                if bad and self.parallel:
                    break
                env_step += self.collector.steps
                self._store(rows)
                self.learner.collected(env_step)
                if env_step % cfg.eval_every == 0 or env_step >= cfg.env_steps:
                    c.update(env_step=env_step, wall_s=wall_base + time.perf_counter() - t_start)
                    self.evaluate()
                    progress.set_postfix(ret=f"{self.rows[int(np.argmax(self.alive))][-1]['return']:.1f}"
                                         if self.alive.any() else "failed",
                                         upd_s=f"{self.learner.updates / max(c['wall_s'], 1e-9):.0f}")
                progress.update(self.collector.steps)
        except (MemoryError, torch.cuda.OutOfMemoryError) as exc:  # a recorded failure, not a run left "running"
            for k in np.flatnonzero(self.alive):
                self.fail(int(k), f"out of memory at env step {env_step} ({str(exc).splitlines()[0][:200]}); "
                          "lower batch_size or buffer_size")
        finally:
            self.learner.stop()
            progress.close()
            self.collector.close()
        c.update(env_step=env_step, updates=self.learner.updates, wall_s=wall_base + time.perf_counter() - t_start,
                 max_lag=self.learner.max_lag)
        self._write_status("finished")
        if not self.runtime.keep_checkpoint:  # only once every status is final: a kill before this still resumes
            for d in self.dirs:
                d.remove_checkpoint()

    def _store(self, rows: np.ndarray | torch.Tensor) -> None:
        """Each transition to its member's replay or, with probability val_fraction, its held-out buffer."""
        n = rows.shape[1]
        held = np.stack([s["split"].random(n) < c.val_fraction if c.val_fraction > 0 else np.zeros(n, bool)
                         for s, c in zip(self.streams, self.configs, strict=True)])
        self.replay.add(rows, ~held)
        self.held_out.add(rows, held)

    # ----------------------------------------------------------------- evaluation
    def evaluate(self) -> None:
        """One curve row per live member: deterministic return, training return, TD-error probes, critic norm."""
        c, t_eval = self.counters, time.perf_counter()
        self.learner.drain()
        c.update(updates=self.learner.updates, max_lag=self.learner.max_lag)
        returns = self.collector.evaluate(self.agent, [m.seed for m in self.configs], c["env_step"],
                                          self.cfg.eval_episodes, self.alive)
        probes = self.probe()
        train_returns = self.collector.pop_returns(c["env_step"], self.cfg.train_return_window)
        c["eval_s"] += time.perf_counter() - t_eval
        losses = {name: v.tolist() for name, v in self.learner.info.items()}
        for k in np.flatnonzero(self.alive):
            k = int(k)
            row = {**self.static[k], "env_step": c["env_step"], "return": float(returns[k]),
                   "updates": c["updates"], "flops": 10.0 * self.n_params * self.configs[k].batch_size * c["updates"],
                   "wall_s": c["wall_s"], "train_return": float(train_returns[k]),
                   **{name: values[k] for name, values in probes.items()}}
            bad = [n for n, v in {**{n: v[k] for n, v in losses.items()}, "return": row["return"]}.items()
                   if not math.isfinite(v)]
            if bad:
                self.fail(k, f"non-finite {', '.join(bad)} at env step {c['env_step']}")
                continue
            self.rows[k].append(row)
            self.dirs[k].write_curve(self.rows[k])
        self._write_status("running")

    def probe(self) -> dict[str, list[float]]:
        """TD errors on uniform replay samples, on held-out transitions and on the newest transitions, and
        the critic's parameter norm; the probes' own noise never touches training's random streams."""
        rngs = [s["probe"] for s in self.streams]
        replay_n = [PROBE_BATCH if n else 0 for n in self.replay.size]
        held_n = [min(PROBE_BATCH, int(n)) for n in self.held_out.size]
        since = self.replay.added - self.newest_from
        windows = [min(int(self.cfg.newest_window or w), int(n)) for w, n in zip(since, self.replay.size,
                                                                                  strict=True)]
        self.newest_from = self.replay.added.copy()
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            train = self.agent.td_error(self.replay.sample(replay_n, rngs)).tolist()
            # nothing held out (val_fraction 0, the default): no probe, no draw from the probe streams
            held = self.agent.td_error(self.held_out.sample(held_n, rngs)).tolist() if any(held_n) else [0.0] * self.k
            newest = self.agent.td_error(self.replay.newest(windows, PROBE_BATCH, rngs)).tolist()
        norm = self.agent.critic_norm().tolist()

        def known(values: list[float], counts: Sequence[int]) -> list[float]:
            return [v if n else math.nan for v, n in zip(values, counts, strict=True)]

        train, held, newest = known(train, replay_n), known(held, held_n), known(newest, windows)
        return {"train_td_error": train, "val_td_error": held, "newest_td_error": newest,
                "overfitting": [a - b for a, b in zip(newest, train, strict=True)], "critic_param_norm": norm}

