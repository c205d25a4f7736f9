"""K configurations as one batched computation (one K-member agent) vs K single-run agents, on CPU or CUDA.

Two agents and two sizes each: SAC ``paper`` (HalfCheetah-v4: obs 17, action 6, 256x256 networks,
batch 256) and ``mini`` (Pendulum-v1: obs 3, action 1, 64x64, batch 64: the size of the ``mini``
sweeps this repository trains on CPU); BRO ``paper`` (walker-walk: obs 24, action 6, the 512-wide
2-block BroNet critic, batch 256) and ``mini`` (cartpole-balance: obs 5, action 1, a 64-wide 1-block
critic, batch 64; BRO's actors are 256 wide at every size). For each K, timed blocks of the two sides
alternate so that machine load hits both alike; the median rate of each is reported:

* updates/s: aggregate gradient updates per second (K members x vectorised steps / s), against K
  ``update`` calls per round of a single-run (K = 1) agent on the same thread budget and device (what K
  processes sharing them get at best: they add process switching and K copies of their weights in the
  caches on top); ``--compile MODE`` compiles both sides' ``update`` with ``torch.compile`` (``reduce-overhead``
  replays CUDA graphs);
* env steps/s: what the vectorised trainer does per env step (one batched ``act`` with exploration,
  then each member's env stepped) against K envs each stepped with its own agent's ``act``.

The table is printed and written as JSON with the machine's load average (``os.getloadavg``) before
and after, since on a shared machine the absolute rates depend on it.

    .venv/bin/python benchmarks/bench_vectorized.py [--device auto] [--algos sac bro] [--sizes paper mini]
        [--ks 1 2 4 8 16] [--seconds 1] [--blocks 3] [--threads 1] [--compile] [--json build/bench_vectorized.json]

Exits 1 when a target is missed: K = 8 at ``--min-ratio`` (default 2) times the K singles' updates/s at the
``--target-size`` (default mini: what CPUs train); ``--target-k``/``--target-size`` set it for other runs
(the GPU check: K = 64, paper size, 30x).
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
from rlscale.agents import make_agent
from rlscale.agents.base import Agent, AgentSettings, Batch
from rlscale.envs import make_env
from rlscale.train.loop import keep_freed_memory

SIZES = {  # (algo, size) -> env, obs, action, critic width, critic depth, batch
    ("sac", "paper"): ("gym:HalfCheetah-v4", 17, 6, 256, 2, 256),
    ("sac", "mini"): ("gym:Pendulum-v1", 3, 1, 64, 2, 64),
    ("bro", "paper"): ("dmc:walker-walk", 24, 6, 512, 2, 256),
    ("bro", "mini"): ("dmc:cartpole-balance", 5, 1, 64, 1, 64),
}
LR = 3e-4


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn: Callable[[], None], work: int, seconds: float, device: torch.device) -> float:
    """Calls ``fn`` (doing ``work`` units) for ``seconds`` and at least 3 times; units per second. Three calls
    first warm up the allocator, kernels and ``torch.compile`` (which recompiles once when a step counter changes)."""
    for _ in range(3):
        fn()
    _sync(device)
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < seconds:
        fn()
        n += 1
    _sync(device)
    return n * work / (time.perf_counter() - start)


def member_lrs(k: int, n: int) -> list[float]:
    """K members' learning rates: ``n`` values spread over 1e-4..1e-3 (LR for one), each on neighbouring members,
    as a sweep's chunk lists a learning rate's seeds together."""
    values = [LR] if n == 1 else np.geomspace(1e-4, 1e-3, n).tolist()
    return [values[i * min(n, k) // k] for i in range(k)]


def _agents(k: int, algo: str, size: str, device: torch.device, n_lrs: int) -> tuple[list[Agent], Agent]:
    """K single-run agents and one K-member agent whose member i starts from single i's weights and learning rate."""
    _, obs, act, width, depth, _ = SIZES[algo, size]
    settings = [AgentSettings(lr, width, depth) for lr in member_lrs(k, n_lrs)]
    singles = [make_agent(algo, obs, act, s, device, seeds=[seed]) for seed, s in enumerate(settings)]
    return singles, make_agent(algo, obs, act, settings, device, seeds=list(range(k)))


def _alternate(vec: Callable[[], None], single: Callable[[], None], k: int, args: argparse.Namespace,
               device: torch.device) -> tuple[float, float]:
    vec_rates, single_rates = [], []
    for _ in range(args.blocks):
        vec_rates.append(_rate(vec, k, args.seconds, device))
        single_rates.append(_rate(single, k, args.seconds, device))
    return statistics.median(vec_rates), statistics.median(single_rates)


def bench_updates(k: int, algo: str, size: str, device: torch.device, args: argparse.Namespace) -> tuple[float, float]:
    _, obs, act, _, _, batch = SIZES[algo, size]
    singles, vec = _agents(k, algo, size, device, args.learning_rates)
    single = singles[0]  # one agent's weights stay in the caches: the K singles' best case
    if args.compile:
        for agent in (single, vec):
            agent.update = torch.compile(agent.update, mode=args.compile)

    def make_batch(*shape: int) -> Batch:
        return Batch(torch.randn(*shape, obs, device=device), torch.rand(*shape, act, device=device) * 2 - 1,
                     torch.randn(*shape, device=device), torch.randn(*shape, obs, device=device),
                     torch.zeros(*shape, device=device))

    vec_batch, single_batch = make_batch(k, batch), make_batch(1, batch)

    def single_round() -> None:
        for _ in range(k):
            single.update(single_batch)

    return _alternate(lambda: vec.update(vec_batch), single_round, k, args, device)


def bench_env_steps(k: int, algo: str, size: str, device: torch.device,
                    args: argparse.Namespace) -> tuple[float, float]:
    env_name = SIZES[algo, size][0]
    singles, vec = _agents(k, algo, size, device, args.learning_rates)
    vec_envs = [make_env(env_name)[0] for _ in range(k)]
    envs = [make_env(env_name)[0] for _ in range(k)]
    vobs = np.stack([env.reset(seed=i)[0] for i, env in enumerate(vec_envs)])
    obs = [env.reset(seed=i)[0] for i, env in enumerate(envs)]

    def vec_step() -> None:  # as rlscale.train.collectors.MemberEnvs: one batched act, then each member's env
        actions = vec.act(torch.as_tensor(vobs, device=device)[:, None], explore=True)[:, 0].cpu().numpy()
        for i, env in enumerate(vec_envs):
            o, _, terminated, truncated, _ = env.step(actions[i])
            vobs[i] = env.reset()[0] if terminated or truncated else o

    def single_step() -> None:
        for i, (env, agent) in enumerate(zip(envs, singles, strict=True)):
            action = agent.act(torch.as_tensor(obs[i], device=device)[None, None], explore=True)[0, 0].cpu().numpy()
            o, _, terminated, truncated, _ = env.step(action)
            obs[i] = env.reset()[0] if terminated or truncated else o

    rates = _alternate(vec_step, single_step, k, args, device)
    for env in (*vec_envs, *envs):
        env.close()
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--algos", nargs="+", choices=["sac", "bro"], default=["sac", "bro"])
    parser.add_argument("--sizes", nargs="+", choices=["paper", "mini"], default=["paper", "mini"])
    parser.add_argument("--ks", type=int, nargs="+", help="default 1 2 4 8 16, plus 32 64 128 on CUDA")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed block")
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1, what a sweep worker gets; 0 = torch's default, which on a "
                        "loaded machine measures OpenMP contention more than the agents)")
    parser.add_argument("--skip-env", action="store_true", help="measure gradient updates only")
    parser.add_argument("--compile", nargs="?", const="default", choices=["default", "reduce-overhead", "max-autotune"],
                        help="torch.compile both sides' update in this mode (reduce-overhead: CUDA graphs)")
    parser.add_argument("--learning-rates", type=int, default=1,
                        help="distinct learning rates over the K members, as a sweep's chunk has them (default 1)")
    parser.add_argument("--target-k", type=int, default=8)
    parser.add_argument("--target-size", default="mini", choices=["paper", "mini"])
    parser.add_argument("--min-ratio", type=float, default=2.0)
    parser.add_argument("--json", default="build/bench_vectorized.json",
                        help="where to write the results (default: the git-ignored build/)")
    args = parser.parse_args()
    if args.learning_rates < 1:
        parser.error(f"--learning-rates must be >= 1, got {args.learning_rates}")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # as every training process does, so both sides allocate alike
    ks = args.ks or ([1, 2, 4, 8, 16, 32, 64, 128] if device.type == "cuda" else [1, 2, 4, 8, 16])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    load_before = os.getloadavg()
    print(f"device: {name}; torch {torch.__version__}; load average {load_before[0]:.2f} (1 min), "
          f"{os.cpu_count()} cores")
    results, missed = [], []
    for algo in args.algos:
        for size in args.sizes:
            env, obs, act, width, depth, batch = SIZES[algo, size]
            print(f"\n{algo} {size}: {env} sizes (obs {obs}, action {act}), critic {width} wide x {depth}, "
                  f"batch {batch}, {args.learning_rates} learning rate(s) over the members"
                  f"{f', torch.compile {args.compile}' if args.compile else ''}")
            print(f"{'K':>4} {'vec upd/s':>10} {'K singles':>10} {'ratio':>6} {'vec env/s':>10} {'K singles':>10} "
                  f"{'ratio':>6}")
            for k in ks:
                vu, su = bench_updates(k, algo, size, device, args)
                ve, se = (np.nan, np.nan) if args.skip_env else bench_env_steps(k, algo, size, device, args)
                print(f"{k:>4} {vu:>10.1f} {su:>10.1f} {vu / su:>6.2f} {ve:>10.1f} {se:>10.1f} {ve / se:>6.2f}",
                      flush=True)
                results.append({"algo": algo, "size": size, "k": k, "vec_updates_per_s": vu,
                                "single_updates_per_s": su, "vec_env_steps_per_s": None if np.isnan(ve) else ve,
                                "single_env_steps_per_s": None if np.isnan(se) else se})
                if k == args.target_k and size == args.target_size and vu / su < args.min_ratio:
                    missed.append(f"{algo} {size} K={k}: {vu / su:.2f}x < {args.min_ratio}x")
    load_after = os.getloadavg()
    print(f"\nload average after: {load_after[0]:.2f} (1 min); wrote {args.json}")
    io.write_json(args.json, {"device": name, "torch": torch.__version__, "cores": os.cpu_count(),
                              "threads": torch.get_num_threads(), "loadavg_before": load_before,
                              "loadavg_after": load_after, "seconds": args.seconds, "blocks": args.blocks,
                              "compile": args.compile, "learning_rates": args.learning_rates,
                              "sizes": {f"{a} {s}": dict(zip(("env", "obs", "action", "width", "depth", "batch"),
                                                             SIZES[a, s], strict=True))
                                        for a in args.algos for s in args.sizes},
                              "results": results})
    for line in missed:
        print(f"FAIL: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
