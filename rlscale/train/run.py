"""One training run: collect, update at the UTD ratio, evaluate, log the curve, checkpoint, resume.

Layout of a run folder::

    config.json     every setting, versions, git commit, device (written once; checked on resume)
    status.json     {"status": "running" | "finished" | "failed", "reason": ..., "env_step": ...}
    curve.parquet   the run-table rows so far (rewritten atomically at every evaluation)
    checkpoint.pt   latest checkpoint (removed when the run finishes unless keep_checkpoint)

Update schedule: after the random warm-up, the run has done exactly floor(sigma * (t - warmup))
updates after env step t (the ``updates_due += sigma; while updates_due >= 1`` loop, with sigma
held as an exact fraction so that e.g. sigma = 0.1 does not drift). Held-out transitions: each
collected transition goes, with probability ``val_fraction`` decided by a dedicated seeded
generator, to a validation buffer that is never trained on (METHOD 3: same policy, never trained on).
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from rlscale import __version__, io
from rlscale.agents import AgentSettings, make_agent
from rlscale.envs import make_env, parse_env_name
from rlscale.errors import RlscaleError
from rlscale.runs import validate_run_table
from rlscale.train import checkpoint
from rlscale.train.replay import ReplayBuffer

CONFIG, STATUS, CURVE = "config.json", "status.json", "curve.parquet"
PROBE_BATCH = 1024  # transitions per TD-error probe (train and validation)


@dataclass(frozen=True)
class TrainConfig:
    """The settings that define a run's results; two runs with equal configs give equal curves on CPU."""

    env: str
    algo: str
    utd: float
    batch_size: int
    learning_rate: float
    seed: int
    env_steps: int
    eval_every: int
    eval_episodes: int = 10
    critic_width: int | None = None
    critic_depth: int | None = None
    warmup_steps: int = 5000
    buffer_size: int = 1_000_000
    val_fraction: float = 0.05
    checkpoint_every: int | None = None  # env steps; None = eval_every
    action_repeat: int | None = None  # dmc only; None = the backend's default
    gamma: float = 0.99
    reset_every: int | None = None  # BRO: gradient steps between full resets; None = the agent's (2.5e6)

    def validate(self) -> None:
        parse_env_name(self.env)
        checks = {
            "utd": self.utd > 0 and math.isfinite(self.utd),
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0 and math.isfinite(self.learning_rate),
            "env_steps": self.env_steps >= 1,
            "eval_every": self.eval_every >= 1,
            "eval_episodes": self.eval_episodes >= 1,
            "warmup_steps": self.warmup_steps >= 0,
            "buffer_size": self.buffer_size >= 1,
            "val_fraction": 0.0 <= self.val_fraction < 1.0,
            "critic_width": self.critic_width is None or self.critic_width >= 1,
            "critic_depth": self.critic_depth is None or self.critic_depth >= 1,
            "checkpoint_every": self.checkpoint_every is None or self.checkpoint_every >= 1,
            "action_repeat": self.action_repeat is None or self.action_repeat >= 1,
            "gamma": 0.0 < self.gamma <= 1.0,
            "reset_every": self.reset_every is None or (self.reset_every >= 1 and self.algo == "bro"),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise RlscaleError("invalid setting(s): " + ", ".join(f"{k}={getattr(self, k)}" for k in bad))


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


def read_status(run_dir: Path) -> dict[str, Any] | None:
    import json

    path = Path(run_dir) / STATUS
    return json.loads(path.read_text()) if path.exists() else None


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


class Trainer:
    """Runs one :class:`TrainConfig` in ``run_dir``; re-creating it on the same folder resumes."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        device: str = "auto",
        threads: int = 1,
        quiet: bool = False,
        keep_checkpoint: bool = False,
    ) -> None:
        config.validate()
        if threads < 0:
            raise RlscaleError(f"threads must be >= 0 (0 = torch's default), got {threads}")
        self.config = config
        self.run_dir = Path(run_dir)
        self.device = resolve_device(device)
        self.threads = threads
        self.quiet = quiet
        self.keep_checkpoint = keep_checkpoint
        self.resumed_from: int | None = None  # env step of the checkpoint this run continued from

    # ----------------------------------------------------------------- setup and bookkeeping
    def _check_folder(self) -> dict[str, Any] | None:
        """Return the prior status if this folder holds the same run; refuse a different one."""
        import json

        cfg_path = self.run_dir / CONFIG
        if not cfg_path.exists():
            return None
        try:
            saved = json.loads(cfg_path.read_text())["settings"]
        except (ValueError, KeyError) as exc:
            raise RlscaleError(f"{cfg_path} is not an rlscale run config") from exc
        mine = dataclasses.asdict(self.config)
        diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
        if diff:
            shown = ", ".join(f"{k}: {saved.get(k)!r} -> {mine.get(k)!r}" for k in diff)
            raise RlscaleError(f"{self.run_dir} holds a run with a different config ({shown}); use another folder")
        return read_status(self.run_dir)

    def _write_status(self, status: str, env_step: int, reason: str | None = None) -> None:
        io.write_json(self.run_dir / STATUS, {"status": status, "reason": reason, "env_step": env_step})

    def _env_options(self) -> dict[str, Any]:
        return {} if self.config.action_repeat is None else {"action_repeat": self.config.action_repeat}

    def _write_curve(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            io.write_table(self.run_dir / CURVE, validate_run_table(pd.DataFrame(rows), source=str(self.run_dir)))

    # ----------------------------------------------------------------- the run
    def _prepare(self) -> dict[str, Any] | None:
        """The folder's prior status (None: a new run), refusing runs this trainer cannot continue;
        sets the torch threads. Shared by every trainer built on this one."""
        prior = self._check_folder()
        if prior and prior["status"] == "failed":
            raise RlscaleError(f"run in {self.run_dir} failed before ({prior['reason']}); remove the folder to rerun")
        if prior and prior["status"] != "finished" and prior.get("vectorized"):
            raise RlscaleError(f"{self.run_dir} is a member of a vectorised chunk ({len(prior['vectorized'])} runs); "
                               "resume it with the same 'rlscale sweep ... --vectorize' command")
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        return prior

    def run(self) -> dict[str, Any]:
        """Train to ``env_steps`` (or resume and finish); returns the final status. Raises RunFailed."""
        cfg = self.config
        prior = self._prepare()
        if prior and prior["status"] == "finished":
            return prior

        env, info = make_env(cfg.env, **self._env_options())
        eval_env, _ = make_env(cfg.env, **self._env_options())
        obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
        torch.manual_seed(cfg.seed)  # before the agent exists: its initial weights come from this stream
        settings = AgentSettings(cfg.learning_rate, cfg.critic_width, cfg.critic_depth, cfg.gamma, cfg.reset_every)
        agent = make_agent(cfg.algo, obs_dim, action_dim, settings, self.device)
        buffer = ReplayBuffer(min(cfg.buffer_size, cfg.env_steps), obs_dim, action_dim, self.device)
        val_capacity = max(1, math.ceil(cfg.val_fraction * min(cfg.buffer_size, cfg.env_steps)) + 1000)
        val_buffer = ReplayBuffer(val_capacity, obs_dim, action_dim, self.device)
        n_params = int(agent.critic_params)

        # three independent streams: training (episode seeds, warm-up actions, batches), the
        # train/validation split, and the TD-error probes (so probing never changes training)
        seeds = np.random.SeedSequence(cfg.seed).spawn(3)
        rngs = {"train": np.random.default_rng(seeds[0]), "split": np.random.default_rng(seeds[1]),
                "probe": np.random.default_rng(seeds[2])}
        counters = {"env_step": 0, "updates": 0, "evals": 0, "wall_s": 0.0, "ckpt_step": 0}
        rows: list[dict[str, Any]] = []

        state = checkpoint.load(self.run_dir) if prior else None
        if state is not None:
            agent.load_state_dict(state["agent"])
            buffer.load_state_dict(state["buffer"])
            val_buffer.load_state_dict(state["val_buffer"])
            checkpoint.set_rng_state(state["rng"], rngs)
            counters, rows = state["counters"], state["rows"]
            self.resumed_from = counters["env_step"]
            self._write_curve(rows)  # drop rows logged after the checkpoint: they are recomputed
        else:
            io.write_json(self.run_dir / CONFIG, self._config_record(info, n_params))
        self._write_status("running", counters["env_step"])

        utd = Fraction(cfg.utd).limit_denominator(1_000_000)
        ckpt_every = cfg.checkpoint_every or cfg.eval_every
        backend, env_id = parse_env_name(cfg.env)
        static = {"benchmark": backend, "env": env_id, "algo": cfg.algo, "utd": cfg.utd, "batch_size": cfg.batch_size,
                  "learning_rate": cfg.learning_rate, "critic_params": n_params, "seed": cfg.seed,
                  "run_id": self.run_dir.name}
        progress = _progress(cfg.env_steps, counters["env_step"], self.quiet)
        t_start, wall_base = time.perf_counter(), counters["wall_s"]
        env_step, updates = counters["env_step"], counters["updates"]
        last_info: dict[str, Any] = {}
        need_reset, obs = True, None
        try:
            while env_step < cfg.env_steps:
                if need_reset:
                    if env_step - counters["ckpt_step"] >= ckpt_every:
                        counters.update(env_step=env_step, updates=updates, wall_s=wall_base + time.perf_counter()
                                        - t_start, ckpt_step=env_step)
                        checkpoint.save(self.run_dir, {"agent": agent.state_dict(), "buffer": buffer.state_dict(),
                                                       "val_buffer": val_buffer.state_dict(),
                                                       "rng": checkpoint.rng_state(rngs), "counters": dict(counters),
                                                       "rows": list(rows)})
                    obs, _ = env.reset(seed=int(rngs["train"].integers(2**31)))
                    need_reset = False

                if env_step < cfg.warmup_steps:
                    action = rngs["train"].uniform(-1.0, 1.0, action_dim).astype(np.float32)
                else:
                    action = agent.act(obs[None], explore=True)[0]
                if not np.isfinite(action).all():
                    raise RunFailed(f"non-finite action at env step {env_step}")
                next_obs, reward, terminated, truncated, _ = env.step(action)
                env_step += 1
                if not (math.isfinite(reward) and np.isfinite(next_obs).all()):
                    raise RunFailed(f"non-finite reward or observation at env step {env_step}")
                held_out = cfg.val_fraction > 0 and rngs["split"].random() < cfg.val_fraction
                (val_buffer if held_out else buffer).add(obs, action, reward, next_obs, terminated)
                obs, need_reset = next_obs, terminated or truncated

                if env_step > cfg.warmup_steps and len(buffer):
                    due = math.floor(utd * (env_step - cfg.warmup_steps))
                    while updates < due:
                        last_info = agent.update(buffer.sample(cfg.batch_size, rngs["train"]))
                        updates += 1

                if env_step % cfg.eval_every == 0 or env_step == cfg.env_steps:
                    row = self._evaluate(agent, eval_env, buffer, val_buffer, rngs["probe"], counters["evals"])
                    counters["evals"] += 1
                    row.update(static, env_step=env_step, updates=updates,
                               flops=10.0 * n_params * cfg.batch_size * updates,
                               wall_s=wall_base + time.perf_counter() - t_start)
                    losses = {k: float(v) for k, v in last_info.items()}
                    bad = [k for k, v in {**losses, "return": row["return"]}.items() if not math.isfinite(v)]
                    if bad:
                        raise RunFailed(f"non-finite {', '.join(bad)} at env step {env_step}")
                    rows.append(row)
                    self._write_curve(rows)
                    progress.set_postfix(ret=f"{row['return']:.1f}", upd_s=f"{updates / max(row['wall_s'], 1e-9):.0f}")
                progress.update(1)
        except RunFailed as exc:
            self._write_curve(rows)
            self._write_status("failed", env_step, str(exc))
            raise
        finally:
            progress.close()
            env.close()
            eval_env.close()
        self._write_status("finished", env_step)
        if not self.keep_checkpoint:
            (self.run_dir / checkpoint.FILENAME).unlink(missing_ok=True)
        return read_status(self.run_dir) or {}

    def _evaluate(self, agent: Any, eval_env: Any, buffer: ReplayBuffer, val_buffer: ReplayBuffer,
                  probe_rng: np.random.Generator, eval_index: int) -> dict[str, Any]:
        """Mean return of deterministic episodes (seeded by (seed, eval index, episode)) and TD-error probes."""
        returns = []
        for episode in range(self.config.eval_episodes):
            seed = int(np.random.SeedSequence([self.config.seed, eval_index, episode]).generate_state(1)[0] >> 1)
            obs, _ = eval_env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = eval_env.step(agent.act(obs[None], explore=False)[0])
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
        train_td = agent.td_error(buffer.sample(PROBE_BATCH, probe_rng)) if len(buffer) else math.nan
        val_td = agent.td_error(val_buffer.sample(min(PROBE_BATCH, len(val_buffer)), probe_rng)) if len(
            val_buffer) else math.nan
        return {"return": float(np.mean(returns)), "train_td_error": train_td, "val_td_error": val_td}

    def _config_record(self, info: Any, n_params: int) -> dict[str, Any]:
        import gymnasium

        return {
            "settings": dataclasses.asdict(self.config),
            "run_id": self.run_dir.name,
            "critic_params": n_params,
            "env": {"backend": info.backend, "id": info.env_id, "versions": info.versions, "options": info.options},
            "versions": {"rlscale": __version__, "torch": torch.__version__, "numpy": np.__version__,
                         "gymnasium": gymnasium.__version__, "python": sys.version.split()[0]},
            "git_commit": _git_commit(),
            "device": str(self.device),
            "cuda_device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None,
            "threads": self.threads,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }


def _progress(total: int, initial: int, quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                disable=quiet or not sys.stderr.isatty())
