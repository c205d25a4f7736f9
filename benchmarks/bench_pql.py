"""PQL throughput: env steps/s of the parallel backends and updates/s of a paced PQL run.

Two measurements per backend:

* env steps/s of the vector env alone (random actions, no learning): N envs x vector steps / s;
* a short PQL run (``train_run``, learners in threads, utd as given): the run's own
  ``env_steps_per_s`` and ``updates_per_s`` from ``status.json`` (wall time includes evaluations) and
  its measured ``effective_utd``.

Backends: ``gym:HalfCheetah-v4`` on the CPU fallback (SyncVectorEnv) always; ``warp:Ant`` (MuJoCo Warp)
with ``--warp-envs`` worlds (default 4096, PQL's scale) when CUDA and mujoco-warp are present, or on the
CPU with ``--warp-device cpu`` (slow; how the GPU check tests itself). Prints a table; exits non-zero if
a run's effective UTD is off by more than 1%.

    .venv/bin/python benchmarks/bench_pql.py [--device auto] [--seconds 3] [--warp-envs 4096]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from rlscale.envs.parallel import make_parallel_env
from rlscale.train.config import RunConfig, Runtime
from rlscale.train.loop import resolve_device, train_run


def env_rate(name: str, num_envs: int, device: torch.device, seconds: float) -> float:
    env = make_parallel_env(name, num_envs, device)
    env.reset(seed=0)
    env.step(torch.zeros(num_envs, env.action_dim, device=device))  # warm-up (CUDA graph capture, kernel loads)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(torch.rand(num_envs, env.action_dim, device=device) * 2 - 1)
        steps += 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    rate = steps * num_envs / (time.perf_counter() - start)
    env.close()
    return rate


def pql_run(name: str, num_envs: int, device: torch.device, utd: float, vector_steps: int, batch: int) -> dict:
    n = num_envs * vector_steps
    cfg = RunConfig(env=name, algo="pql", utd=utd, batch_size=batch, learning_rate=3e-4, seed=0, env_steps=n,
                    eval_every=n, eval_episodes=2, num_envs=num_envs,
                    warmup_steps=max(num_envs * 2, batch))  # the first update's batch must fit in the replay
    with tempfile.TemporaryDirectory() as tmp:
        train_run(cfg, Path(tmp) / "run", Runtime(device=str(device), threads=0 if device.type == "cuda" else 1,
                                                  quiet=True))
        return json.loads((Path(tmp) / "run" / "status.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--gym-steps", type=int, default=64, help="vector steps of the CPU-fallback PQL run")
    parser.add_argument("--warp-envs", type=int, default=4096)
    parser.add_argument("--warp-steps", type=int, default=50, help="vector steps of the warp PQL run")
    parser.add_argument("--warp-device", default="auto", help="auto: the CUDA device if any (else no warp case); cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    cases = [("gym:HalfCheetah-v4", 16, torch.device("cpu"), 0.25, args.gym_steps, 256)]
    warp_device = device if args.warp_device == "auto" else resolve_device(args.warp_device)
    if warp_device.type == "cuda" or args.warp_device != "auto":
        try:
            import mujoco_warp  # noqa: F401
        except ImportError:
            print("mujoco-warp not installed: warp backend skipped", file=sys.stderr)
        else:  # PQL-scale: 4096 envs, batch 8192
            cases.append(("warp:Ant", args.warp_envs, warp_device, 0.01 * 4096 / args.warp_envs, args.warp_steps,
                          min(8192, 2 * args.warp_envs)))
    failed = False
    print(f"{'backend':22s} {'N':>5s} {'device':7s} {'env steps/s':>12s} | PQL: {'utd':>5s} {'env steps/s':>12s} "
          f"{'updates/s':>10s} {'eff. utd':>9s}")
    for name, n, dev, utd, vsteps, batch in cases:
        rate = env_rate(name, n, dev, args.seconds)
        status = pql_run(name, n, dev, utd, vsteps, batch)
        eff = status["effective_utd"]
        failed |= abs(eff - utd) > 0.01 * utd
        print(f"{name:22s} {n:5d} {dev.type:7s} {rate:12.0f} | {utd:9.3g} {status['env_steps_per_s']:12.0f} "
              f"{status['updates_per_s']:10.1f} {eff:9.4f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
