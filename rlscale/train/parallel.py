"""One PQL run on N parallel envs: the same run folder, curve table, checkpoints and resume as ``Trainer``.

The collector (this thread) steps the vector env with mixed exploration noise and writes N transitions
per step into the shared device replay; the V- and P-learner threads (:class:`ConcurrentLearners`) update
concurrently, paced so that after env step t exactly floor(utd * (t - warmup)) critic updates are done
whenever the run is evaluated or checkpointed; in between, the collector only steps while the critic is
at most one vector step's worth of updates behind, so the lag never exceeds two (``status.json``
records the measured ``effective_utd`` and the largest lag seen).

Differences from the single-env trainer, all forced by parallel simulation:

* ``env_steps``, ``eval_every``, ``warmup_steps`` and ``checkpoint_every`` must be multiples of
  ``num_envs`` (a vector step adds N transitions at once).
* Evaluation runs ``eval_episodes`` envs of the same backend in parallel, deterministically, and
  averages each env's first episode return.
* Checkpoints are taken at evaluations (``checkpoint_every`` a multiple of ``eval_every``), not at
  episode ends (N envs never all end together); on resume every env starts a fresh episode (seeded from
  the run seed and the resume step), so a resumed run is complete and has no duplicate rows but, like
  any threaded PQL run, is not bit-for-bit reproducible.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rlscale import io
from rlscale.agents import AgentSettings
from rlscale.agents.pql import PQL, ConcurrentLearners, SharedReplay, exploration_std
from rlscale.envs import parse_env_name
from rlscale.envs.vector import VecEnv, make_vec_env
from rlscale.errors import RlscaleError
from rlscale.train import checkpoint
from rlscale.train.run import CONFIG, PROBE_BATCH, RunFailed, TrainConfig, Trainer, _progress, read_status

GENERATORS = ("v", "p", "split", "probe", "noise")  # torch streams on the device, all checkpointed


@dataclass(frozen=True)
class ParallelConfig(TrainConfig):
    """A :class:`TrainConfig` plus the number of parallel envs (part of what defines the results)."""

    num_envs: int = 16
    asynchronous: bool = False  # gym:/dmc: fallback only: AsyncVectorEnv (one process per env)

    def validate(self) -> None:
        super().validate()
        if self.algo != "pql":
            raise RlscaleError(f"parallel training runs algo 'pql', got '{self.algo}'")
        if self.num_envs < 1:
            raise RlscaleError(f"invalid setting(s): num_envs={self.num_envs}")
        steps = {"env_steps": self.env_steps, "eval_every": self.eval_every, "warmup_steps": self.warmup_steps,
                 "checkpoint_every": self.checkpoint_every or self.eval_every}
        bad = [f"{k}={v}" for k, v in steps.items() if v % self.num_envs]
        if bad:
            raise RlscaleError(f"{', '.join(bad)} must be multiple(s) of num_envs={self.num_envs}")
        if steps["checkpoint_every"] % self.eval_every:  # checkpoints are taken at evaluations
            raise RlscaleError(f"checkpoint_every={self.checkpoint_every} must be a multiple of "
                               f"eval_every={self.eval_every}")


class ParallelTrainer(Trainer):
    """Runs one :class:`ParallelConfig` in ``run_dir``; re-creating it on the same folder resumes."""

    config: ParallelConfig

    def _make_envs(self, n: int) -> VecEnv:
        cfg = self.config
        return make_vec_env(cfg.env, n, self.device, seed=cfg.seed, asynchronous=cfg.asynchronous,
                            **self._env_options())

    def run(self) -> dict[str, Any]:
        """Train to ``env_steps`` (or resume and finish); returns the final status. Raises RunFailed."""
        cfg = self.config
        prior = self._prepare()
        if prior and prior["status"] == "finished":
            return prior

        envs = self._make_envs(cfg.num_envs)
        eval_envs = self._make_envs(cfg.eval_episodes)
        obs_dim, action_dim, dev = envs.obs_dim, envs.action_dim, self.device
        torch.manual_seed(cfg.seed)
        agent = PQL(obs_dim, action_dim, AgentSettings(cfg.learning_rate, cfg.critic_width, cfg.critic_depth,
                                                       cfg.gamma), dev)
        capacity = min(cfg.buffer_size, cfg.env_steps)
        buffer = SharedReplay(capacity, obs_dim, action_dim, dev)
        val_buffer = SharedReplay(max(1, math.ceil(cfg.val_fraction * capacity) + 1000), obs_dim, action_dim, dev)
        gens = {}
        for name, s in zip(GENERATORS, np.random.SeedSequence(cfg.seed).generate_state(len(GENERATORS)), strict=True):
            gens[name] = torch.Generator(dev)
            gens[name].manual_seed(int(s))
        counters = {"env_step": 0, "updates": 0, "evals": 0, "wall_s": 0.0, "eval_s": 0.0, "max_lag": 0}
        rows: list[dict[str, Any]] = []
        n_params = int(agent.critic_params)

        state = checkpoint.load(self.run_dir) if prior else None
        if state is not None:
            agent.load_state_dict(state["agent"])
            buffer.load_state_dict(state["buffer"])
            val_buffer.load_state_dict(state["val_buffer"])
            for name, g in gens.items():
                g.set_state(state["generators"][name])
            counters, rows = state["counters"], state["rows"]
            self.resumed_from = counters["env_step"]
            self._write_curve(rows)  # drop rows logged after the checkpoint: they are recomputed
        else:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            io.write_json(self.run_dir / CONFIG, self._config_record(envs.info, n_params))
        self._write_status("running", counters["env_step"])

        learners = ConcurrentLearners(agent, buffer, cfg.batch_size, cfg.utd, cfg.warmup_steps,
                                      {"v": gens["v"], "p": gens["p"]}, updates=counters["updates"])
        learners.env_step = counters["env_step"]
        slack = math.ceil(cfg.utd * cfg.num_envs)  # the collector may run one vector step ahead of the critic
        ckpt_every = cfg.checkpoint_every or cfg.eval_every
        backend, env_id = parse_env_name(cfg.env)
        static = {"benchmark": backend, "env": env_id, "algo": cfg.algo, "utd": cfg.utd, "batch_size": cfg.batch_size,
                  "learning_rate": cfg.learning_rate, "critic_params": n_params, "seed": cfg.seed,
                  "run_id": self.run_dir.name}
        noise_std = exploration_std(cfg.num_envs, dev)
        env_step = counters["env_step"]
        progress = _progress(cfg.env_steps, env_step, self.quiet)
        t_start, wall_base = time.perf_counter(), counters["wall_s"]
        obs = envs.reset(seed=int(np.random.SeedSequence([cfg.seed, env_step]).generate_state(1)[0] >> 1))
        learners.start()
        try:
            while env_step < cfg.env_steps:
                if env_step < cfg.warmup_steps:
                    action = torch.rand((cfg.num_envs, action_dim), device=dev, generator=gens["noise"]) * 2 - 1
                else:
                    learners.wait_for_learners(slack)
                    action = agent.act_batch(obs, noise_std)
                if not torch.isfinite(action).all():
                    raise RunFailed(f"non-finite action at env step {env_step}")
                step = envs.step(action)
                env_step += cfg.num_envs
                if not (torch.isfinite(step.reward).all() and torch.isfinite(step.final_obs).all()):
                    raise RunFailed(f"non-finite reward or observation at env step {env_step}")
                held_out = torch.rand(cfg.num_envs, device=dev, generator=gens["split"]) < cfg.val_fraction
                for buf, mask in ((buffer, ~held_out), (val_buffer, held_out)):
                    if mask.any():
                        buf.extend(obs[mask], action[mask], step.reward[mask], step.final_obs[mask],
                                   step.terminated[mask])
                obs = step.obs
                learners.collected(env_step)

                if env_step % cfg.eval_every == 0 or env_step == cfg.env_steps:
                    learners.drain()
                    updates, t_eval = learners.v_updates, time.perf_counter()
                    row = self._evaluate_parallel(agent, eval_envs, buffer, val_buffer, gens["probe"],
                                                  counters["evals"])
                    counters["evals"] += 1
                    counters["eval_s"] += time.perf_counter() - t_eval
                    wall = wall_base + time.perf_counter() - t_start
                    row.update(static, env_step=env_step, updates=updates,
                               flops=10.0 * n_params * cfg.batch_size * updates, wall_s=wall)
                    losses = {k: float(v) for k, v in learners.info.items()}
                    bad = [k for k, v in {**losses, "return": row["return"]}.items() if not math.isfinite(v)]
                    if bad:
                        raise RunFailed(f"non-finite {', '.join(bad)} at env step {env_step}")
                    rows.append(row)
                    self._write_curve(rows)
                    counters.update(env_step=env_step, updates=updates, wall_s=wall,
                                    max_lag=max(counters["max_lag"], learners.max_lag))
                    self._write_status("running", env_step, **self._pace(counters))
                    if env_step % ckpt_every == 0 and env_step < cfg.env_steps:
                        checkpoint.save(self.run_dir, {
                            "agent": agent.state_dict(), "buffer": buffer.state_dict(),
                            "val_buffer": val_buffer.state_dict(), "counters": dict(counters), "rows": list(rows),
                            "generators": {name: g.get_state() for name, g in gens.items()}})
                    progress.set_postfix(ret=f"{row['return']:.1f}", upd_s=f"{updates / max(wall, 1e-9):.0f}")
                progress.update(cfg.num_envs)
        except RunFailed as exc:
            self._write_curve(rows)
            self._write_status("failed", env_step, str(exc))
            raise
        finally:
            learners.stop()
            progress.close()
            envs.close()
            eval_envs.close()
        self._write_status("finished", env_step, **self._pace(counters))
        if not self.keep_checkpoint:
            (self.run_dir / checkpoint.FILENAME).unlink(missing_ok=True)
        return read_status(self.run_dir) or {}

    def _pace(self, counters: dict[str, Any]) -> dict[str, Any]:
        """The measured update-to-data ratio after warm-up, the collector's largest lead over the critic, and
        training throughput (wall time without evaluations)."""
        after_warmup = counters["env_step"] - self.config.warmup_steps
        utd = counters["updates"] / after_warmup if after_warmup > 0 else None
        train_s = max(counters["wall_s"] - counters["eval_s"], 1e-9)
        return {"effective_utd": utd, "max_update_lag": int(counters["max_lag"]),
                "updates_per_s": counters["updates"] / train_s, "env_steps_per_s": counters["env_step"] / train_s,
                "train_s": train_s, "eval_s": counters["eval_s"]}

    def _write_status(self, status: str, env_step: int, reason: str | None = None, **extra: Any) -> None:
        io.write_json(self.run_dir / "status.json", {"status": status, "reason": reason, "env_step": env_step,
                                                     "num_envs": self.config.num_envs, **extra})

    @torch.no_grad()
    def _evaluate_parallel(self, agent: PQL, eval_envs: VecEnv, buffer: SharedReplay, val_buffer: SharedReplay,
                           probe: torch.Generator, eval_index: int) -> dict[str, Any]:
        """Deterministic returns of ``eval_episodes`` parallel envs (each env's first episode) and TD probes."""
        n = eval_envs.num_envs
        obs = eval_envs.reset(seed=int(np.random.SeedSequence([self.config.seed, eval_index]).generate_state(1)[0]
                                       >> 1))
        total = torch.zeros(n, device=self.device)
        running = torch.ones(n, dtype=torch.bool, device=self.device)
        while running.any():
            step = eval_envs.step(agent.act_batch(obs, None))
            total += torch.where(running, step.reward.to(self.device), 0.0)
            running &= ~(step.terminated | step.truncated).to(self.device)
            obs = step.obs
        train_td = agent.td_error(buffer.sample(PROBE_BATCH, probe)) if len(buffer) else math.nan
        val_td = agent.td_error(val_buffer.sample(min(PROBE_BATCH, len(val_buffer)), probe)) if len(
            val_buffer) else math.nan
        return {"return": float(total.mean()), "train_td_error": train_td, "val_td_error": val_td}

