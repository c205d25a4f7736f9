"""SAC on HalfCheetah-v4 (batch 256, 256x256 nets): our trainer vs a plain CleanRL-style loop.

Measures gradient updates/s of ``rlscale.agents.sac.SAC.update`` fed by our ``ReplayBuffer`` against a
reference written here in one piece the way CleanRL's ``sac_continuous_action.py`` does it (same
networks and losses; numpy replay with a host-to-device copy per batch; Adam with default settings;
``alpha.item()`` each step; Polyak by a Python loop over parameters), and env steps/s of our whole
trainer (acting, replay, evaluation, checkpoint, table writes) against a bare gymnasium loop with the
same actor. Blocks of the two alternate so that machine load hits both alike; the median rate of each
is reported with the ratio ours / reference. Exits 1 when the update ratio is below ``--min-ratio``.

    .venv/bin/python benchmarks/bench_train.py [--device auto] [--updates 300] [--env-steps 3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OBS, ACT, BATCH, LR, GAMMA, TAU = 17, 6, 256, 3e-4, 0.99, 0.005
ENV_LOOP_UTD = 1e-3  # the whole trainer timed at a negligible UTD
MIN_ENV_STEPS = round(1 / ENV_LOOP_UTD)  # fewer would be a run that never updates, which the trainer refuses


# ------------------------------------------------------------------ the plain reference (CleanRL style)
class SoftQNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(OBS + ACT, 256), nn.Linear(256, 256), nn.Linear(256, 1)

    def forward(self, x, a):
        x = torch.cat([x, a], 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(OBS, 256), nn.Linear(256, 256)
        self.fc_mean, self.fc_logstd = nn.Linear(256, ACT), nn.Linear(256, ACT)

    def forward(self, x):
        x = F.relu(self.fc2(F.relu(self.fc1(x))))
        log_std = torch.tanh(self.fc_logstd(x))
        return self.fc_mean(x), -5 + 0.5 * (2 - -5) * (log_std + 1)

    def get_action(self, x):
        mean, log_std = self(x)
        normal = torch.distributions.Normal(mean, log_std.exp())
        x_t = normal.rsample()
        y_t = torch.tanh(x_t)
        log_prob = normal.log_prob(x_t) - torch.log(1 - y_t.pow(2) + 1e-6)
        return y_t, log_prob.sum(1, keepdim=True), torch.tanh(mean)


class Reference:
    def __init__(self, device, data):
        self.device = device
        self.actor = Actor().to(device)
        self.qf1, self.qf2 = SoftQNetwork().to(device), SoftQNetwork().to(device)
        self.qf1_target, self.qf2_target = SoftQNetwork().to(device), SoftQNetwork().to(device)
        self.qf1_target.load_state_dict(self.qf1.state_dict())
        self.qf2_target.load_state_dict(self.qf2.state_dict())
        self.q_optimizer = torch.optim.Adam(list(self.qf1.parameters()) + list(self.qf2.parameters()), lr=LR)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=LR)
        self.log_alpha = torch.zeros(1, requires_grad=True, device=device)
        self.a_optimizer = torch.optim.Adam([self.log_alpha], lr=LR)
        self.alpha = self.log_alpha.exp().item()
        self.data = data  # numpy arrays, like SB3's ReplayBuffer that CleanRL uses
        self.rng = np.random.default_rng(0)

    def update(self):
        idx = self.rng.integers(0, len(self.data["obs"]), BATCH)
        obs, act, rew, nxt, term = (torch.as_tensor(self.data[k][idx], device=self.device)
                                    for k in ("obs", "action", "reward", "next_obs", "terminated"))
        with torch.no_grad():
            next_a, next_logp, _ = self.actor.get_action(nxt)
            min_q = torch.min(self.qf1_target(nxt, next_a), self.qf2_target(nxt, next_a)) - self.alpha * next_logp
            next_q = rew.flatten() + (1 - term.flatten()) * GAMMA * min_q.view(-1)
        qf_loss = F.mse_loss(self.qf1(obs, act).view(-1), next_q) + F.mse_loss(self.qf2(obs, act).view(-1), next_q)
        self.q_optimizer.zero_grad()
        qf_loss.backward()
        self.q_optimizer.step()

        pi, log_pi, _ = self.actor.get_action(obs)
        actor_loss = ((self.alpha * log_pi) - torch.min(self.qf1(obs, pi), self.qf2(obs, pi))).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        with torch.no_grad():
            _, log_pi, _ = self.actor.get_action(obs)
        alpha_loss = (-self.log_alpha.exp() * (log_pi + -ACT)).mean()
        self.a_optimizer.zero_grad()
        alpha_loss.backward()
        self.a_optimizer.step()
        self.alpha = self.log_alpha.exp().item()

        for param, target_param in zip(self.qf1.parameters(), self.qf1_target.parameters(), strict=True):
            target_param.data.copy_(TAU * param.data + (1 - TAU) * target_param.data)
        for param, target_param in zip(self.qf2.parameters(), self.qf2_target.parameters(), strict=True):
            target_param.data.copy_(TAU * param.data + (1 - TAU) * target_param.data)


def plain_env_loop(steps: int, device: torch.device) -> float:
    """Steps/s of a bare gymnasium loop acting with a CleanRL actor and storing into numpy arrays."""
    env = gym.wrappers.RescaleAction(gym.make("HalfCheetah-v4"), -1.0, 1.0)
    actor = Actor().to(device)
    store = np.zeros((steps, 2 * OBS + ACT + 2), np.float32)
    obs, _ = env.reset(seed=0)
    t0 = time.perf_counter()
    for t in range(steps):
        with torch.no_grad():
            action = actor.get_action(torch.as_tensor(obs[None], dtype=torch.float32, device=device))[0]
        action = action.cpu().numpy()[0]
        nxt, rew, term, trunc, _ = env.step(action)
        store[t] = np.concatenate([obs, action, [rew], nxt, [term]])
        obs = env.reset()[0] if term or trunc else nxt
    return steps / (time.perf_counter() - t0)


# ------------------------------------------------------------------ ours
def ours_setup(device, data):
    from rlscale.agents import make_agent
    from rlscale.agents.base import AgentSettings
    from rlscale.train.replay import ReplayBuffer

    agent = make_agent("sac", OBS, ACT, AgentSettings(LR), device)
    n = len(data["obs"])
    buffer = ReplayBuffer(1, n, OBS, ACT, device)
    rows = np.concatenate([data["obs"], data["action"], data["reward"][:, None], data["next_obs"],
                           data["terminated"][:, None]], axis=1)
    buffer.add(rows[None], np.ones((1, n), dtype=bool))
    rng = [np.random.default_rng(0)]
    return lambda: agent.update(buffer.sample([BATCH], rng))


def ours_env_loop(steps: int, device: torch.device) -> float:
    """Steps/s of the whole trainer at a negligible UTD (acting, replay, one eval, checkpoint, table)."""
    from rlscale.train.config import RunConfig, Runtime
    from rlscale.train.loop import train_run

    cfg = RunConfig(env="gym:HalfCheetah-v4", algo="sac", utd=ENV_LOOP_UTD, batch_size=BATCH, learning_rate=LR, seed=0,
                    env_steps=steps, eval_every=steps, eval_episodes=1, warmup_steps=0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train_run(cfg, os.path.join(tmp, "run"), Runtime(device=str(device), threads=torch.get_num_threads(),
                                                         quiet=True))
        elapsed = time.perf_counter() - t0
    return (steps + 1000) / elapsed  # + the 1000-step evaluation episode


def timed(fn, n: int, device: torch.device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return n / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as runs use)")
    parser.add_argument("--updates", type=int, default=300, help="updates per timed block")
    parser.add_argument("--blocks", type=int, default=5, help="alternating timed blocks per implementation")
    parser.add_argument("--env-steps", type=int, default=3000,
                        help=f"env steps for the env-throughput comparison (at least {MIN_ENV_STEPS})")
    parser.add_argument("--min-ratio", type=float, default=1.0)
    args = parser.parse_args()
    if args.env_steps < MIN_ENV_STEPS:
        parser.error(f"--env-steps must be at least {MIN_ENV_STEPS}, got {args.env_steps}")

    from rlscale.train.loop import resolve_device

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    from rlscale.train.loop import keep_freed_memory

    keep_freed_memory()  # as every training process does, so both sides allocate alike
    torch.manual_seed(0)
    g = np.random.default_rng(1)
    n = 100_000
    data = {"obs": g.normal(size=(n, OBS)), "action": g.uniform(-1, 1, (n, ACT)), "reward": g.normal(size=n),
            "next_obs": g.normal(size=(n, OBS)), "terminated": (g.random(n) < 0.01)}
    data = {k: v.astype(np.float32) for k, v in data.items()}
    ours, ref = ours_setup(device, data), Reference(device, data).update
    timed(ours, 20, device), timed(ref, 20, device)  # warm-up (allocator, kernels)
    ours_rates, ref_rates = [], []
    for _ in range(args.blocks):
        ours_rates.append(timed(ours, args.updates, device))
        ref_rates.append(timed(ref, args.updates, device))
    u_ours, u_ref = statistics.median(ours_rates), statistics.median(ref_rates)

    ours_env_loop(MIN_ENV_STEPS, device), plain_env_loop(100, device)  # warm-up: imports, MuJoCo model compilation
    e_ours, e_ref = ours_env_loop(args.env_steps, device), plain_env_loop(args.env_steps + 1000, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({args.threads} thread(s))"
    print(f"device: {name}; torch {torch.__version__}; load average {os.getloadavg()[0]:.1f}")
    print(f"updates/s   ours {u_ours:8.1f}  reference {u_ref:8.1f}  ratio {u_ours / u_ref:.3f}  "
          f"(blocks ours {[round(r) for r in ours_rates]}, ref {[round(r) for r in ref_rates]})")
    print(f"env steps/s ours {e_ours:8.1f}  reference {e_ref:8.1f}  ratio {e_ours / e_ref:.3f}")
    if u_ours / u_ref < args.min_ratio:
        print(f"FAIL: update ratio {u_ours / u_ref:.3f} < {args.min_ratio}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
