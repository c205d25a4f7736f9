"""Train K SAC configurations of one (env, utd) in one process as one batched computation (issue 5).

Vectorised sweeps: ``rlscale sweep SWEEP.yaml -o OUT --vectorize`` groups the sweep's runs that differ
only in seed, learning rate and batch size, cuts each group into chunks of at most ``--max-members``
and trains each chunk here, in one process (:class:`rlscale.train.sweep.VectorJob`). Members may differ
in exactly those three settings. Member k follows the single-run trainer's schedule and random streams:
its initial weights come from ``torch.manual_seed(seed_k)``, its numpy streams (episode seeds, warm-up
actions, batch indices, the train/validation split, the probes) are the single run's, and it writes its
own run folder with the single-run ``config.json``, ``status.json`` and ``curve.parquet`` (through
:class:`Trainer`'s own helpers), so ``collect`` and the laws cannot tell the difference. What differs
from K single runs is the torch noise of the policy (drawn for all members at once), so curves match
in distribution, not bit for bit. Each member steps its own env (a Python loop, as gymnasium's
``SyncVectorEnv`` would do) and resets it with a seed from its own stream, as the single run does.

Checkpoints follow the single run's cadence: once ``checkpoint_every`` env steps have passed, at the
first step where every member is at an episode end (members of fixed-length tasks, i.e. Pendulum,
HalfCheetah and every DMC task, end their episodes together, so this is the single run's step). If
terminations have put the members out of step, the checkpoint is taken anyway once ``2 x
checkpoint_every`` steps have passed: it then records each unfinished episode's reset seed and actions,
and resuming replays them (the simulators are deterministic). Every member folder holds its own slice
(``checkpoint.pt``: its networks, Adam moments, buffers, random streams, counters and curve rows; the
status says ``running`` and names the chunk). The K files are written in two phases (all
``checkpoint.pt.next``, then renamed), so a kill at any moment leaves one complete set: resuming loads
the newest step that every member holds. Re-running the same chunk resumes; on CPU the resumed curves
equal an uninterrupted run's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlscale import io
from rlscale.agents.base import AgentSettings, Batch
from rlscale.agents.sac import SAC
from rlscale.agents.vsac import VectorSAC
from rlscale.envs import make_env, parse_env_name
from rlscale.errors import RlscaleError
from rlscale.train import checkpoint
from rlscale.train.run import STATUS, TrainConfig, Trainer, read_status

MEMBER_KEYS = ("seed", "learning_rate", "batch_size")  # what members may differ in
CHUNK_KEY = "vectorized"  # in status.json and checkpoints: the chunk's member folder names, in order
NEXT = checkpoint.FILENAME + ".next"  # phase one of a checkpoint


class VectorReplay:
    """K ring buffers in one ``[K, capacity, row]`` tensor; member k's rows are laid out as in ``ReplayBuffer``."""

    def __init__(self, k: int, capacity: int, obs_dim: int, action_dim: int, device: torch.device) -> None:
        self.capacity, self.device = int(capacity), torch.device(device)
        widths = [obs_dim, action_dim, 1, obs_dim, 1]
        bounds = np.cumsum([0, *widths])
        self.columns = [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(5)]
        self.storage = torch.zeros((k, self.capacity, int(bounds[-1])), device=self.device)
        self._host = self.storage.numpy() if self.device.type == "cpu" else None  # shares memory: no copy
        self.size = np.zeros(k, dtype=np.int64)
        self.pos = np.zeros(k, dtype=np.int64)

    def add(self, members: np.ndarray, rows: np.ndarray) -> None:
        """One transition ``rows[i]`` for each member ``members[i]``: a single write (one host-to-device copy)."""
        if len(members) == 0:
            return
        if self._host is not None:
            self._host[members, self.pos[members]] = rows
        else:
            self.storage[torch.as_tensor(members, device=self.device),
                         torch.as_tensor(self.pos[members], device=self.device)] = torch.as_tensor(rows,
                                                                                                  device=self.device)
        self.pos[members] = (self.pos[members] + 1) % self.capacity
        self.size[members] = np.minimum(self.size[members] + 1, self.capacity)

    def _batch(self, rows: torch.Tensor) -> Batch:
        c = self.columns
        return Batch(obs=rows[..., c[0]], action=rows[..., c[1]], reward=rows[..., c[2].start],
                     next_obs=rows[..., c[3]], terminated=rows[..., c[4].start])

    def sample(self, batch_sizes: Sequence[int], rngs: Sequence[np.random.Generator]) -> Batch:
        """Fields ``[K, B_max, ...]``: member k's first ``B_k`` rows are drawn as ``ReplayBuffer.sample`` draws
        them (same generator calls), the rest are row 0 and carry zero weight in the update."""
        idx = np.zeros((len(rngs), max(batch_sizes)), dtype=np.int64)
        for k, (b, rng) in enumerate(zip(batch_sizes, rngs, strict=True)):
            idx[k, :b] = rng.integers(0, self.size[k], size=b)
        idx_t = torch.as_tensor(idx, device=self.device)
        members = torch.arange(len(rngs), device=self.device)[:, None]
        return self._batch(self.storage[members, idx_t])

    def member(self, k: int) -> _MemberReplay:
        return _MemberReplay(self, k)

    def member_state(self, k: int) -> dict[str, Any]:
        """Member k's filled rows on the CPU, in ``ReplayBuffer.state_dict``'s layout."""
        size = int(self.size[k])
        return {"size": size, "pos": int(self.pos[k]), "storage": self.storage[k, :size].cpu()}

    def load_member_state(self, k: int, state: dict[str, Any]) -> None:
        self.size[k], self.pos[k] = int(state["size"]), int(state["pos"])
        self.storage[k, : self.size[k]] = state["storage"].to(self.device)


class _MemberReplay:
    """Member k's buffer with the ``ReplayBuffer`` interface the trainer's probes use (``len``, ``sample``)."""

    def __init__(self, replay: VectorReplay, k: int) -> None:
        self.replay, self.k = replay, k

    def __len__(self) -> int:
        return int(self.replay.size[self.k])

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        idx = torch.as_tensor(rng.integers(0, len(self), size=batch_size), device=self.replay.device)
        return self.replay._batch(self.replay.storage[self.k, idx])


class _MemberAgent:
    """Member k seen through the single-run agent contract, for :meth:`Trainer._evaluate`."""

    def __init__(self, agent: VectorSAC, k: int) -> None:
        self.agent, self.k = agent, k

    def act(self, obs: np.ndarray, *, explore: bool) -> np.ndarray:
        return self.agent.act_member(self.k, obs)

    def td_error(self, batch: Batch) -> float:
        return self.agent.td_error_member(self.k, batch)


def _check_configs(configs: Sequence[TrainConfig], output_dirs: Sequence[str | Path]) -> None:
    if not configs:
        raise RlscaleError("train_vectorized needs at least one config")
    if len(configs) != len(output_dirs):
        raise RlscaleError(f"{len(configs)} configs but {len(output_dirs)} output folders")
    if len({Path(d).resolve() for d in output_dirs}) != len(output_dirs):
        raise RlscaleError("every member needs its own output folder")
    for cfg in configs:
        cfg.validate()
        if cfg.algo != "sac":
            raise RlscaleError(f"vectorised training supports algo 'sac' only, got '{cfg.algo}'")
    first = dataclasses.asdict(configs[0])
    for cfg in configs[1:]:
        diff = sorted(k for k, v in dataclasses.asdict(cfg).items() if k not in MEMBER_KEYS and v != first[k])
        if diff:
            raise RlscaleError("vectorised members may differ only in " + ", ".join(MEMBER_KEYS)
                               + f"; they differ in {', '.join(diff)}")


# ---------------------------------------------------------------------------------------------- checkpoints
def _save_checkpoints(run_dirs: Sequence[Path], states: Sequence[dict[str, Any]]) -> None:
    """Phase one writes every member's ``.next`` file (each atomically), phase two renames them all."""
    for run_dir, state in zip(run_dirs, states, strict=True):
        io.write_with(run_dir / NEXT, lambda tmp, s=state: torch.save(s, tmp))
    for run_dir in run_dirs:
        os.replace(run_dir / NEXT, run_dir / checkpoint.FILENAME)


def _read_checkpoint(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:  # our own file: numpy RNG states and python objects, so not weights-only
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a corrupt checkpoint names the file, not a pickle traceback
        raise RlscaleError(f"cannot read checkpoint {path}: {exc}") from exc


def _load_checkpoints(run_dirs: Sequence[Path], names: list[str]) -> list[dict[str, Any]] | None:
    """The newest checkpoint step every member holds (``.next`` if the set is complete), else None."""

    def consistent(states: list[dict[str, Any] | None]) -> bool:
        return all(s is not None and s.get(CHUNK_KEY) == names for s in states) and len(
            {s["counters"]["env_step"] for s in states if s is not None}) == 1

    newest = [_read_checkpoint(d / NEXT) or _read_checkpoint(d / checkpoint.FILENAME) for d in run_dirs]
    if consistent(newest):
        for d in run_dirs:  # finish an interrupted phase two
            if (d / NEXT).exists():
                os.replace(d / NEXT, d / checkpoint.FILENAME)
        return newest
    for d in run_dirs:  # phase one was interrupted: its files are an incomplete set
        (d / NEXT).unlink(missing_ok=True)
    older = [_read_checkpoint(d / checkpoint.FILENAME) for d in run_dirs]
    return older if consistent(older) else None


def _write_status(run_dir: Path, status: str, env_step: int, names: list[str], reason: str | None = None) -> None:
    """The single run's status record plus the chunk's member names (how a sweep finds the chunk to resume)."""
    io.write_json(run_dir / STATUS, {"status": status, "reason": reason, "env_step": env_step, CHUNK_KEY: names})


# ---------------------------------------------------------------------------------------------- training
def train_vectorized(configs: Sequence[TrainConfig], output_dirs: Sequence[str | Path], *, device: str = "auto",
                     threads: int = 1, quiet: bool = True, keep_checkpoint: bool = False) -> list[dict[str, Any]]:
    """Train every ``configs[k]`` into ``output_dirs[k]`` in one process; returns each member's final status.

    Re-running on the same folders resumes from the members' checkpoints; members that finished or
    failed before are left as they are. A member that diverges is marked failed (its table kept up to
    the failure, as a single run) and acts with zero actions from then on, while the others train on.
    """
    _check_configs(configs, output_dirs)
    all_trainers = [Trainer(cfg, d, device=device, threads=threads, quiet=quiet)
                    for cfg, d in zip(configs, output_dirs, strict=True)]
    priors = [tr._check_folder() for tr in all_trainers]  # refuses a folder that holds a different run
    settled = [p is not None and p["status"] in ("finished", "failed") for p in priors]
    if all(settled):
        return [read_status(tr.run_dir) or {} for tr in all_trainers]
    states = None
    if any(p is not None for p in priors):
        states = _load_checkpoints([tr.run_dir for tr in all_trainers], [tr.run_dir.name for tr in all_trainers])
    # resuming needs every member's slice; a fresh start trains only the unsettled members
    slots = list(range(len(configs))) if states is not None else [k for k in range(len(configs)) if not settled[k]]
    _train(all_trainers, slots, states, [not settled[k] for k in slots], keep_checkpoint)
    return [read_status(tr.run_dir) or {} for tr in all_trainers]


def _train(all_trainers: list[Trainer], slots: list[int], states: list[dict[str, Any]] | None, active: list[bool],
           keep_checkpoint: bool) -> None:
    """The training loop over the members ``slots`` (``active[k]``: may act and write its folder)."""
    trainers = [all_trainers[k] for k in slots]
    configs = [tr.config for tr in trainers]
    names = [tr.run_dir.name for tr in trainers]
    threads = trainers[0].threads
    if threads > 0:
        torch.set_num_threads(threads)
    cfg, k_members, dev = configs[0], len(configs), trainers[0].device
    options = trainers[0]._env_options()

    envs = [make_env(cfg.env, **options)[0] for _ in range(k_members)]
    eval_env, info = make_env(cfg.env, **options)
    obs_dim, action_dim = eval_env.observation_space.shape[0], eval_env.action_space.shape[0]
    members = []
    for c in configs:
        torch.manual_seed(c.seed)  # as the single run: member k's initial weights come from its own seed
        members.append(SAC(obs_dim, action_dim, AgentSettings(c.learning_rate, c.critic_width, c.critic_depth,
                                                              c.gamma), dev))
    agent = VectorSAC(members, [c.batch_size for c in configs], dev)
    n_params = int(agent.critic_params)
    del members
    capacity = min(cfg.buffer_size, cfg.env_steps)
    buffer = VectorReplay(k_members, capacity, obs_dim, action_dim, dev)
    val_buffer = VectorReplay(k_members, max(1, math.ceil(cfg.val_fraction * capacity) + 1000), obs_dim, action_dim,
                              dev)
    rngs = []
    for c in configs:  # the single run's three streams per member
        seeds = np.random.SeedSequence(c.seed).spawn(3)
        rngs.append({name: np.random.default_rng(s) for name, s in zip(("train", "split", "probe"), seeds,
                                                                         strict=True)})
    counters = {"env_step": 0, "updates": 0, "evals": 0, "wall_s": 0.0, "ckpt_step": 0}
    rows: list[list[dict[str, Any]]] = [[] for _ in configs]
    alive = np.array(active, dtype=bool)
    need_reset = np.ones(k_members, dtype=bool)
    obs = np.zeros((k_members, obs_dim), dtype=np.float32)
    # the current episode of each member (reset seed, actions so far): what a mid-episode checkpoint replays
    episodes: list[tuple[int, list[np.ndarray]]] = [(0, []) for _ in configs]

    if states is not None:
        agent.load_member_states([s["agent"] for s in states])
        for k, s in enumerate(states):
            buffer.load_member_state(k, s["buffer"])
            val_buffer.load_member_state(k, s["val_buffer"])
            checkpoint.set_rng_state(s["rng"], rngs[k])  # also torch's state: the same in every member's file
            rows[k] = s["rows"]
            alive[k] = alive[k] and s["alive"]
            if s["episode"] is not None:  # replay the unfinished episode to rebuild the simulator's state
                seed, actions = s["episode"]
                obs[k] = envs[k].reset(seed=seed)[0]
                for a in actions:
                    obs[k] = envs[k].step(a)[0]
                episodes[k], need_reset[k] = (seed, list(actions)), False
        counters = dict(states[0]["counters"])
        for k in np.flatnonzero(alive):
            trainers[k]._write_curve(rows[k])  # drop rows logged after the checkpoint: they are recomputed
    else:
        for k in np.flatnonzero(alive):
            trainers[k].run_dir.mkdir(parents=True, exist_ok=True)
            io.write_json(trainers[k].run_dir / "config.json", trainers[k]._config_record(info, n_params))
    for k in np.flatnonzero(alive):
        _write_status(trainers[k].run_dir, "running", counters["env_step"], names)

    backend, env_id = parse_env_name(cfg.env)
    statics = [{"benchmark": backend, "env": env_id, "algo": c.algo, "utd": c.utd, "batch_size": c.batch_size,
                "learning_rate": c.learning_rate, "critic_params": n_params, "seed": c.seed,
                "run_id": tr.run_dir.name} for c, tr in zip(configs, trainers, strict=True)]
    utd = Fraction(cfg.utd).limit_denominator(1_000_000)
    ckpt_every = cfg.checkpoint_every or cfg.eval_every
    batch_sizes = [c.batch_size for c in configs]
    train_rngs = [r["train"] for r in rngs]
    t_start, wall_base = time.perf_counter(), counters["wall_s"]
    env_step, updates = counters["env_step"], counters["updates"]
    last_info: dict[str, torch.Tensor] = {}

    def fail(k: int, reason: str) -> None:
        alive[k] = False
        trainers[k]._write_curve(rows[k])
        _write_status(trainers[k].run_dir, "failed", env_step, names, reason)

    def save() -> None:
        counters.update(env_step=env_step, updates=updates, wall_s=wall_base + time.perf_counter() - t_start,
                        ckpt_step=env_step)
        agent_states = agent.member_states()
        _save_checkpoints([tr.run_dir for tr in trainers], [{
            CHUNK_KEY: names, "agent": agent_states[k], "buffer": buffer.member_state(k),
            "val_buffer": val_buffer.member_state(k), "rng": checkpoint.rng_state(rngs[k]),
            "counters": dict(counters), "rows": list(rows[k]), "alive": bool(alive[k]),
            "episode": None if need_reset[k] else (episodes[k][0], np.array(episodes[k][1]))}
            for k in range(k_members)])

    try:
        while env_step < cfg.env_steps:
            since = env_step - counters["ckpt_step"]
            if since >= ckpt_every and ((need_reset | ~alive).all() or since >= 2 * ckpt_every):
                save()
            for k in np.flatnonzero(need_reset):
                seed = int(train_rngs[k].integers(2**31))
                obs[k] = envs[k].reset(seed=seed)[0]
                episodes[k] = (seed, [])
            need_reset[:] = False

            if env_step < cfg.warmup_steps:
                actions = np.stack([r.uniform(-1.0, 1.0, action_dim).astype(np.float32) for r in train_rngs])
            else:
                actions = agent.act(obs, explore=True)
            for k in np.flatnonzero(alive & ~np.isfinite(actions).all(1)):
                fail(int(k), f"non-finite action at env step {env_step}")
            actions[~alive] = 0.0
            env_step += 1
            next_obs, rewards, terminated = np.empty_like(obs), np.empty(k_members), np.empty(k_members)
            for k in range(k_members):
                next_obs[k], rewards[k], terminated[k], truncated, _ = envs[k].step(actions[k])
                episodes[k][1].append(actions[k].copy())
                need_reset[k] = terminated[k] or truncated
                if alive[k] and not (math.isfinite(rewards[k]) and np.isfinite(next_obs[k]).all()):
                    fail(k, f"non-finite reward or observation at env step {env_step}")
            held_out = np.array([c.val_fraction > 0 and r["split"].random() < c.val_fraction
                                 for c, r in zip(configs, rngs, strict=True)])
            transitions = np.concatenate([obs, actions, rewards[:, None], next_obs, terminated[:, None]], axis=1,
                                         dtype=np.float32)
            buffer.add(np.flatnonzero(~held_out), transitions[~held_out])
            val_buffer.add(np.flatnonzero(held_out), transitions[held_out])
            obs = next_obs

            if env_step > cfg.warmup_steps and (buffer.size > 0).all():
                due = math.floor(utd * (env_step - cfg.warmup_steps))
                while updates < due:
                    last_info = agent.update(buffer.sample(batch_sizes, train_rngs))
                    updates += 1

            if env_step % cfg.eval_every == 0 or env_step == cfg.env_steps:
                wall = wall_base + time.perf_counter() - t_start
                for k in np.flatnonzero(alive):
                    k = int(k)
                    row = trainers[k]._evaluate(_MemberAgent(agent, k), eval_env, buffer.member(k),
                                                val_buffer.member(k), rngs[k]["probe"], counters["evals"])
                    row.update(statics[k], env_step=env_step, updates=updates,
                               flops=10.0 * n_params * batch_sizes[k] * updates, wall_s=wall)
                    losses = {name: float(v[k]) for name, v in last_info.items()}
                    bad = [n for n, v in {**losses, "return": row["return"]}.items() if not math.isfinite(v)]
                    if bad:
                        fail(k, f"non-finite {', '.join(bad)} at env step {env_step}")
                        continue
                    rows[k].append(row)
                    trainers[k]._write_curve(rows[k])
                counters["evals"] += 1
    finally:
        for env in envs:
            env.close()
        eval_env.close()
    for k in np.flatnonzero(alive):
        _write_status(trainers[k].run_dir, "finished", env_step, names)
    if not keep_checkpoint:  # only once every member's status is final: a kill before this still resumes
        for tr in trainers:
            (tr.run_dir / checkpoint.FILENAME).unlink(missing_ok=True)
            (tr.run_dir / NEXT).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- a chunk as a process
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rlscale.train.vectorized --job JSON``: how a sweep runs one chunk in its own process.

    JSON is a list of ``{"config": TrainConfig fields, "output": run folder}``. Exit code 0 when every
    member finished, 1 when any failed, 2 with one line for a user error.
    """
    parser = argparse.ArgumentParser(prog="python -m rlscale.train.vectorized", description=main.__doc__)
    parser.add_argument("--job", required=True, help="JSON list of {config, output}")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        job = json.loads(args.job)
        configs = [TrainConfig(**member["config"]) for member in job]
        outputs = [str(member["output"]) for member in job]
    except (ValueError, TypeError, KeyError) as exc:
        print(f"rlscale: error: bad --job ({exc})", file=sys.stderr)
        return 2
    try:
        statuses = train_vectorized(configs, outputs, device=args.device, threads=args.threads, quiet=args.quiet)
    except RlscaleError as exc:
        print(f"rlscale: error: {exc}", file=sys.stderr)
        return 2
    failed = [out for out, s in zip(outputs, statuses, strict=True) if s.get("status") != "finished"]
    for out in failed:
        print(f"rlscale: run failed: {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
