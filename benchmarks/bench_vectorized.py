"""K SAC configurations as one batched computation (``VectorSAC``) vs K single-run SAC agents, on CPU or CUDA.

Two sizes: ``paper`` (HalfCheetah-v4: obs 17, action 6, 256x256 networks, batch 256) and ``mini``
(Pendulum-v1: obs 3, action 1, 64x64, batch 64: the size of the ``mini`` sweeps this repository trains
on CPU). For each K, timed blocks of the two sides alternate so that machine load hits both alike; the
median rate of each is reported:

* updates/s: aggregate gradient updates per second (K members x vectorised steps / s), against K
  ``SAC.update`` calls per round on the same thread budget and device (what K processes sharing them
  get at best: they add process switching and K copies of the per-update overhead on top);
* env steps/s: what the vectorised trainer does per env step (one batched ``act`` with exploration,
  then each member's env stepped) against K envs each stepped with its own agent's ``act``.

The table is printed and written as JSON with the machine's load average (``os.getloadavg``) before
and after, since on a shared machine the absolute rates depend on it.

    .venv/bin/python benchmarks/bench_vectorized.py [--device auto] [--sizes paper mini] [--ks 1 2 4 8 16]
        [--seconds 1] [--blocks 3] [--threads 1] [--json bench_vectorized.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from rlscale import io
from rlscale.agents.base import AgentSettings, Batch
from rlscale.agents.sac import SAC
from rlscale.agents.vsac import VectorSAC
from rlscale.envs import make_env

SIZES = {  # env, obs, action, width, batch
    "paper": ("gym:HalfCheetah-v4", 17, 6, 256, 256),
    "mini": ("gym:Pendulum-v1", 3, 1, 64, 64),
}
LR = 3e-4


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn: Callable[[], None], work: int, seconds: float, device: torch.device) -> float:
    """Calls ``fn`` (doing ``work`` units) for ``seconds`` and at least 3 times; units per second."""
    fn()
    _sync(device)
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < seconds:
        fn()
        n += 1
    _sync(device)
    return n * work / (time.perf_counter() - start)


def _agents(k: int, size: str, device: torch.device) -> tuple[list[SAC], VectorSAC]:
    _, obs, act, width, batch = SIZES[size]
    singles = []
    for seed in range(k):
        torch.manual_seed(seed)
        singles.append(SAC(obs, act, AgentSettings(LR, width), device))
    return singles, VectorSAC(singles, [batch] * k, device)


def _alternate(vec: Callable[[], None], single: Callable[[], None], k: int, args: argparse.Namespace,
               device: torch.device) -> tuple[float, float]:
    vec_rates, single_rates = [], []
    for _ in range(args.blocks):
        vec_rates.append(_rate(vec, k, args.seconds, device))
        single_rates.append(_rate(single, k, args.seconds, device))
    return statistics.median(vec_rates), statistics.median(single_rates)


def bench_updates(k: int, size: str, device: torch.device, args: argparse.Namespace) -> tuple[float, float]:
    _, obs, act, _, batch = SIZES[size]
    singles, vec = _agents(k, size, device)

    def make_batch(*shape: int) -> Batch:
        return Batch(torch.randn(*shape, obs, device=device), torch.rand(*shape, act, device=device) * 2 - 1,
                     torch.randn(*shape, device=device), torch.randn(*shape, obs, device=device),
                     torch.zeros(*shape, device=device))

    vec_batch, single_batch = make_batch(k, batch), make_batch(batch)

    def single_round() -> None:
        for agent in singles:
            agent.update(single_batch)

    return _alternate(lambda: vec.update(vec_batch), single_round, k, args, device)


def bench_env_steps(k: int, size: str, device: torch.device, args: argparse.Namespace) -> tuple[float, float]:
    env_name = SIZES[size][0]
    singles, vec = _agents(k, size, device)
    vec_envs = [make_env(env_name)[0] for _ in range(k)]
    envs = [make_env(env_name)[0] for _ in range(k)]
    vobs = np.stack([env.reset(seed=i)[0] for i, env in enumerate(vec_envs)])
    obs = [env.reset(seed=i)[0] for i, env in enumerate(envs)]

    def vec_step() -> None:  # as rlscale.train.vectorized: one batched act, then each member's env
        actions = vec.act(vobs, explore=True)
        for i, env in enumerate(vec_envs):
            o, _, terminated, truncated, _ = env.step(actions[i])
            vobs[i] = env.reset()[0] if terminated or truncated else o

    def single_step() -> None:
        for i, (env, agent) in enumerate(zip(envs, singles, strict=True)):
            o, _, terminated, truncated, _ = env.step(agent.act(obs[i][None], explore=True)[0])
            obs[i] = env.reset()[0] if terminated or truncated else o

    rates = _alternate(vec_step, single_step, k, args, device)
    for env in (*vec_envs, *envs):
        env.close()
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--ks", type=int, nargs="+", help="default 1 2 4 8 16, plus 32 64 128 on CUDA")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed block")
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1, what a sweep worker gets; 0 = torch's default, which on a "
                        "loaded machine measures OpenMP contention more than the agents)")
    parser.add_argument("--skip-env", action="store_true", help="measure gradient updates only")
    parser.add_argument("--json", default="bench_vectorized.json", help="where to write the results")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    ks = args.ks or ([1, 2, 4, 8, 16, 32, 64, 128] if device.type == "cuda" else [1, 2, 4, 8, 16])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    load_before = os.getloadavg()
    print(f"device: {name}; torch {torch.__version__}; load average {load_before[0]:.2f} (1 min), "
          f"{os.cpu_count()} cores")
    results = []
    for size in args.sizes:
        env, obs, act, width, batch = SIZES[size]
        print(f"\n{size}: {env} sizes (obs {obs}, action {act}), {width}x{width}, batch {batch}")
        print(f"{'K':>4} {'vec upd/s':>10} {'K singles':>10} {'ratio':>6} {'vec env/s':>10} {'K singles':>10} "
              f"{'ratio':>6}")
        for k in ks:
            vu, su = bench_updates(k, size, device, args)
            ve, se = (np.nan, np.nan) if args.skip_env else bench_env_steps(k, size, device, args)
            print(f"{k:>4} {vu:>10.1f} {su:>10.1f} {vu / su:>6.2f} {ve:>10.1f} {se:>10.1f} {ve / se:>6.2f}",
                  flush=True)
            results.append({"size": size, "k": k, "vec_updates_per_s": vu, "single_updates_per_s": su,
                            "vec_env_steps_per_s": None if np.isnan(ve) else ve,
                            "single_env_steps_per_s": None if np.isnan(se) else se})
    load_after = os.getloadavg()
    print(f"\nload average after: {load_after[0]:.2f} (1 min); wrote {args.json}")
    io.write_json(args.json, {"device": name, "torch": torch.__version__, "cores": os.cpu_count(),
                              "threads": torch.get_num_threads(), "loadavg_before": load_before,
                              "loadavg_after": load_after, "seconds": args.seconds, "blocks": args.blocks,
                              "sizes": {s: dict(zip(("env", "obs", "action", "width", "batch"), SIZES[s],
                                                    strict=True)) for s in args.sizes},
                              "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
