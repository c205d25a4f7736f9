"""Vectorised agents: member k updates exactly as a single run (SAC and BRO); a chunk's folders are single-run
folders."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from rlscale.agents import make_agent
from rlscale.agents.base import AgentSettings, Batch, member_state, member_weights
from rlscale.cli import main
from rlscale.errors import RlscaleError
from rlscale.runs import read_run_table, validate_run_table
from rlscale.train.config import RunConfig, Runtime
from rlscale.train.loop import train_members, train_run
from rlscale.train.worker import Job

OBS, ACT = 5, 2
FIELDS = ("obs", "action", "reward", "next_obs", "terminated")
BASE = {"env": "gym:Pendulum-v1", "algo": "sac", "utd": 0.5, "env_steps": 300, "eval_every": 150,
        "eval_episodes": 1, "critic_width": 16, "critic_depth": 1, "warmup_steps": 50, "val_fraction": 0.05}
CPU = Runtime(device="cpu", quiet=True)
NETWORKS = {"sac": ("actor", "critic", "critic_target"),
            "bro": ("actor", "actor_o", "critic", "critic_target", "optimism", "kl_weight")}
NOISES = {"sac": 2, "bro": 3}  # standard normal draws per update: next actions, actions (, optimistic actions)
DIAGNOSTICS = {"sac": ("critic_loss", "actor_loss", "alpha", "entropy"),
               "bro": ("critic_loss", "actor_loss", "actor_o_loss", "alpha", "entropy", "kl", "optimism", "kl_weight")}


def _singles(algo, lrs, width=32, depth=2):
    """One single-run agent (K = 1) per learning rate, member k's weights from seed k."""
    return [make_agent(algo, OBS, ACT, AgentSettings(lr, width, depth), "cpu", seeds=[seed])
            for seed, lr in enumerate(lrs)]


def _vectorised(algo, lrs, width=32, depth=2):
    return make_agent(algo, OBS, ACT, [AgentSettings(lr, width, depth) for lr in lrs], "cpu",
                      seeds=list(range(len(lrs))))


def _random_batch(g, k, b, batch_sizes=None):
    return Batch(torch.randn(k, b, OBS, generator=g), torch.rand(k, b, ACT, generator=g) * 2 - 1,
                 torch.randn(k, b, generator=g), torch.randn(k, b, OBS, generator=g),
                 (torch.rand(k, b, generator=g) < 0.2).float(), member_weights(batch_sizes or [b] * k, b))


@pytest.fixture
def dtype(request):
    """Runs the test with torch's default dtype set to the parameter."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(request.param)
    yield request.param
    torch.set_default_dtype(saved)


# BRO in float32: its optimistic actor's KL term (about 300 on these random batches) amplifies the last-bit
# differences between a batched and an unbatched matmul to 1e-4 within four updates, so float32 is compared on
# the first update and the six updates run in float64, where the same maths agree to the last digits.
# Weights in float32 are compared tensor by tensor (the norm of the difference against the weights' norm): Adam
# divides each gradient by its own size, so an element whose gradient cancels to ~1e-7 (10^5 below the median)
# carries float32's rounding of that sum (here up to 15 %, measured with AVX-512 kernels) into a step of the full
# learning rate, while the whole gradients agree to 1e-6. A wrong learning rate, batch or mask moves every element.
@pytest.mark.parametrize(("algo", "depth", "dtype", "steps"), [
    ("sac", 1, torch.float32, 6), ("sac", 2, torch.float32, 6), ("bro", 1, torch.float32, 1),
    ("bro", 1, torch.float64, 6)], indirect=["dtype"])
def test_each_member_updates_as_the_single_run_on_the_same_batches(algo, depth, dtype, steps):
    lrs, batch_sizes = [1e-3, 3e-4, 2e-3], [8, 16, 12]
    singles = _singles(algo, lrs, depth=depth)
    vec = _vectorised(algo, lrs, depth=depth)
    g = torch.Generator().manual_seed(0)
    for step in range(steps):
        batch = _random_batch(g, 3, max(batch_sizes), batch_sizes)
        noise = [torch.randn(3, max(batch_sizes), ACT, generator=g) for _ in range(NOISES[algo])]
        single_info = []
        for k, (agent, b) in enumerate(zip(singles, batch_sizes, strict=True)):
            # the single agent draws its noise tensors with randn_like from torch's global stream:
            # read them from that stream first, then replay the stream for the update itself
            torch.manual_seed(100 * step + k)
            for n in noise:
                n[k, :b] = torch.randn(b, ACT)
            torch.manual_seed(100 * step + k)
            single_info.append(agent.update(Batch(*(getattr(batch, f)[k : k + 1, :b] for f in FIELDS))))
        vec_info = vec.update(batch, noise=tuple(noise))
        for k, info in enumerate(single_info):
            for name in DIAGNOSTICS[algo]:
                assert float(vec_info[name][k]) == pytest.approx(float(info[name][0]), rel=1e-5, abs=1e-6), (
                    step, k, name)
    vec_state = vec.state_dict()
    for k, agent in enumerate(singles):
        state = member_state(vec_state, k)
        for name in NETWORKS[algo]:
            ref = getattr(agent, name).state_dict()
            assert set(ref) == set(state[name])
            for p in ref:
                if dtype == torch.float64:
                    torch.testing.assert_close(state[name][p], ref[p], rtol=1e-5, atol=1e-6)
                else:
                    assert float((state[name][p] - ref[p]).norm()) <= 1e-5 * float(ref[p].norm()), (k, name, p)
        torch.testing.assert_close(state["log_alpha"], agent.log_alpha.detach(), rtol=1e-6, atol=1e-7)


def test_rows_beyond_a_members_batch_size_do_not_change_its_update():
    vec_a, vec_b = _vectorised("sac", [1e-3, 1e-3]), _vectorised("sac", [1e-3, 1e-3])
    g = torch.Generator().manual_seed(1)
    batch = _random_batch(g, 2, 8, [4, 8])
    noise = tuple(torch.randn(2, 8, ACT, generator=g) for _ in range(2))
    changed = Batch(*(getattr(batch, f).clone() for f in FIELDS), batch.weight)
    changed.obs[:, 4:] += 100.0  # member 0 uses only its first 4 rows, member 1 all 8
    info_a, info_b = vec_a.update(batch, noise=noise), vec_b.update(changed, noise=noise)
    torch.testing.assert_close(info_a["critic_loss"][0], info_b["critic_loss"][0])
    assert not torch.allclose(info_a["critic_loss"][1], info_b["critic_loss"][1])


def _configs(**kw):
    return [RunConfig(**{**BASE, **kw}, seed=s, learning_rate=lr, batch_size=b)
            for s, lr, b in [(0, 1e-3, 16), (1, 3e-4, 32), (2, 1e-3, 8)]]


def test_member_folders_are_single_run_folders_that_collect_reads(tmp_path, capsys):
    configs = _configs()
    statuses = train_members(configs, [tmp_path / "grid" / f"m{k}" for k in range(3)], CPU)
    assert [s.status for s in statuses] == ["finished"] * 3
    for k, cfg in enumerate(configs):
        run = tmp_path / "grid" / f"m{k}"
        curve = read_run_table(run / "curve.parquet")
        validate_run_table(curve, source=str(run))
        assert curve["env_step"].tolist() == [150, 300]
        assert curve["updates"].tolist() == [50, 125]  # floor(0.5 * (t - 50)), as a single run
        assert (curve["batch_size"] == cfg.batch_size).all() and (curve["seed"] == cfg.seed).all()
        assert (curve["learning_rate"] == cfg.learning_rate).all() and (curve["utd"] == cfg.utd).all()
        assert (curve["flops"] == 10.0 * curve["critic_params"] * cfg.batch_size * curve["updates"]).all()
        assert curve[["return", "train_td_error", "val_td_error"]].notna().all().all()
        record = json.loads((run / "config.json").read_text())
        assert record["settings"] == json.loads(json.dumps(cfg.__dict__))
        assert json.loads((run / "status.json").read_text())["status"] == "finished"
    out = tmp_path / "table.parquet"
    assert main(["collect", str(tmp_path / "grid"), "-o", str(out)]) == 0
    table = pd.read_parquet(out)
    assert sorted(table["run_id"].unique()) == ["m0", "m1", "m2"] and len(table) == 6


def test_before_any_update_members_evaluate_exactly_as_single_runs(tmp_path):
    # no update happens during warm-up, so a member's policy, eval episodes and table equal the single run's
    configs = _configs(warmup_steps=400, env_steps=410, eval_every=200)
    train_members(configs, [tmp_path / f"v{k}" for k in range(3)], CPU)
    for k, cfg in enumerate(configs):
        train_run(cfg, tmp_path / f"s{k}", CPU)
        vec, single = (pd.read_parquet(tmp_path / f"{p}{k}" / "curve.parquet").iloc[:2] for p in ("v", "s"))
        assert vec["return"].tolist() == pytest.approx(single["return"].tolist(), rel=1e-6)
        assert vec["updates"].tolist() == single["updates"].tolist() == [0, 0]


@pytest.mark.parametrize(("change", "message"), [
    ({"utd": 1.0}, "differ in utd"),
    ({"algo": "bro"}, "differ in algo"),
])
def test_members_that_differ_in_shared_settings_are_refused(tmp_path, change, message):
    configs = _configs()
    configs[1] = RunConfig(**{**configs[1].__dict__, **change})
    with pytest.raises(RlscaleError, match=message):
        train_members(configs, [tmp_path / f"m{k}" for k in range(3)], CPU)
    pql = [RunConfig(**{**c.__dict__, "algo": "pql", "num_envs": 2}) for c in _configs(env_steps=200, eval_every=100)]
    with pytest.raises(RlscaleError, match="cannot be vectorised"):
        train_members(pql, [tmp_path / f"m{k}" for k in range(3)], CPU)
    assert not any(tmp_path.iterdir())


def test_rerunning_a_finished_chunk_trains_nothing_and_a_different_run_is_refused(tmp_path):
    configs = _configs(env_steps=60, eval_every=60)
    dirs = [tmp_path / f"m{k}" for k in range(3)]
    train_members(configs, dirs, CPU)
    stamps = [(d / "curve.parquet").stat().st_mtime_ns for d in dirs]
    assert [s.status for s in train_members(configs, dirs, CPU)] == ["finished"] * 3
    assert [(d / "curve.parquet").stat().st_mtime_ns for d in dirs] == stamps
    assert not any((d / "checkpoint.pt").exists() for d in dirs)
    with pytest.raises(RlscaleError, match="different config"):
        train_members(_configs(env_steps=90, eval_every=60), dirs, CPU)


def test_a_killed_chunk_resumes_from_its_checkpoints_to_the_uninterrupted_curves(tmp_path):
    # Pendulum's 200-step episodes end together: checkpoints at env steps 200, 400, ... as a single run's
    configs = _configs(env_steps=800, eval_every=200)
    dirs = [tmp_path / "killed" / f"m{k}" for k in range(3)]
    job = Job(tuple((c, str(d)) for c, d in zip(configs, dirs, strict=True)), CPU)
    proc = subprocess.Popen([sys.executable, "-m", "rlscale.train.worker"], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdin.write(job.to_json().encode())
    proc.stdin.close()
    deadline = time.monotonic() + 120
    while not all((d / "checkpoint.pt").exists() for d in dirs) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, proc.stderr.read().decode()
    status = json.loads((dirs[0] / "status.json").read_text())
    assert status["status"] == "running" and status["vectorized"] == ["m0", "m1", "m2"]
    saved = torch.load(dirs[1] / "checkpoint.pt", weights_only=False)
    assert saved["counters"]["env_step"] % 200 == 0 and saved["collector"]["episode"] is None
    # a newer checkpoint that only one member holds (phase one cut short) is not a resumable set; it holds one more
    # row, so a resume that mixed it with the others' older ones would show in member 1's curve
    torch.save({**saved, "counters": {**saved["counters"], "env_step": saved["counters"]["env_step"] + 200},
                "rows": [*saved["rows"], {**saved["rows"][-1], "env_step": saved["counters"]["env_step"] + 200}]},
               dirs[1] / "checkpoint.pt.next")

    # a member resumed on its own by `rlscale train` is refused with one line (its checkpoint is the chunk's)
    with pytest.raises(RlscaleError, match="member of a vectorised chunk"):
        train_run(configs[0], dirs[0], CPU)
    # so are its members copied under new names, naming the folders the chunk resumes under
    renamed = [tmp_path / "renamed" / f"r{k}" for k in range(3)]
    for d, r in zip(dirs, renamed, strict=True):
        shutil.copytree(d, r)
    with pytest.raises(RlscaleError, match="of the folders m0, m1, m2; resume it by running the same sweep"):
        train_members(configs, renamed, CPU)

    resumed = train_members(configs, dirs, CPU)
    assert [s.status for s in resumed] == ["finished"] * 3
    train_members(configs, [tmp_path / "whole" / f"m{k}" for k in range(3)], CPU)
    for k in range(3):
        got = pd.read_parquet(dirs[k] / "curve.parquet")
        want = pd.read_parquet(tmp_path / "whole" / f"m{k}" / "curve.parquet")
        assert got["env_step"].tolist() == [200, 400, 600, 800]
        pd.testing.assert_frame_equal(got.drop(columns="wall_s"), want.drop(columns="wall_s"))
        assert not (dirs[k] / "checkpoint.pt").exists() and not (dirs[k] / "checkpoint.pt.next").exists()


def test_each_member_trains_at_its_own_learning_rate_batch_size_and_random_streams(tmp_path):
    """Inside a chunk, member k's slice gets its own learning rate, batch size and seed's streams.

    The curve columns say which settings a member had, not which it trained with: these are read from what
    training did. Adam's first step moves every weight by lr * g / (|g| + eps), that is by the learning rate
    itself wherever the gradient is not ~0, so one update shows the member's learning rate in its critic. Its
    numpy streams (warm-up actions, batch indices, the held-out split, the probes) are the single run's, so
    after the same steps they are in the single run's state only if it drew the single run's batch sizes.
    """
    configs = [RunConfig(**{**BASE, "utd": 1.0, "warmup_steps": 199, "env_steps": 400, "eval_every": 200,
                            "checkpoint_every": 200}, seed=s, learning_rate=lr, batch_size=b)
               for s, lr, b in [(0, 1e-3, 16), (1, 3e-4, 32)]]
    keep = Runtime(device="cpu", quiet=True, keep_checkpoint=True)
    train_members(configs, [tmp_path / "chunk" / f"m{k}" for k in range(2)], keep)
    for k, cfg in enumerate(configs):
        # the checkpoint at env step 200 (a Pendulum episode's end), after exactly one update
        saved = torch.load(tmp_path / "chunk" / f"m{k}" / "checkpoint.pt", weights_only=False)
        assert saved["counters"]["env_step"] == 200 and saved["counters"]["updates"] == 1
        settings = AgentSettings(cfg.learning_rate, cfg.critic_width, cfg.critic_depth)
        start = make_agent("sac", 3, 1, settings, "cpu", seeds=[cfg.seed]).critic.state_dict()  # Pendulum: 3, 1
        steps = torch.cat([(saved["agent"]["critic"][p] - start[p]).abs().flatten() for p in start])
        assert float(steps[steps > 0].median()) == pytest.approx(cfg.learning_rate, rel=1e-3), k
        train_run(cfg, tmp_path / f"single{k}", keep)
        single = torch.load(tmp_path / f"single{k}" / "checkpoint.pt", weights_only=False)
        assert saved["rng"]["numpy"] == single["rng"]["numpy"], k
