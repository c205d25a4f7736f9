"""The trainer: update schedule, curve table and config, failure handling, CLI errors, real learning."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

from rlscale import envs
from rlscale.cli import main
from rlscale.envs import EnvInfo
from rlscale.errors import RlscaleError
from rlscale.runs import REQUIRED_COLUMNS, read_run_table
from rlscale.train.config import RunConfig, Runtime
from rlscale.train.loop import RunFailed, train_members, train_run

TINY = {"env": "gym:Pendulum-v1", "algo": "sac", "batch_size": 16, "learning_rate": 1e-3, "seed": 0,
        "eval_episodes": 1, "critic_width": 16, "critic_depth": 1}


CPU = Runtime(device="cpu", quiet=True)


def _config(**kw) -> RunConfig:
    return RunConfig(**{**TINY, **kw})


@pytest.mark.parametrize(("utd", "warmup", "steps", "expected"), [
    (0.25, 20, 220, 50),   # one update every 4 env steps
    (1 / 3, 20, 220, 66),  # non-dyadic fraction: floor(200/3), no drift
    (3.0, 20, 120, 300),   # three updates per env step
    (0.1, 10, 210, 20),
])
def test_utd_gives_exact_update_counts(tmp_path, utd, warmup, steps, expected):
    train_run(_config(utd=utd, warmup_steps=warmup, env_steps=steps, eval_every=steps // 2), tmp_path / "r", CPU)
    curve = pd.read_parquet(tmp_path / "r" / "curve.parquet")
    assert curve["updates"].iloc[-1] == expected
    mid = steps // 2
    assert curve["updates"].iloc[0] == int(np.floor(utd * (mid - warmup) + 1e-9))


def test_curve_is_a_valid_run_table_with_compute_and_probes(tmp_path):
    run = tmp_path / "cheetah-ish"
    train_run(_config(utd=0.5, warmup_steps=50, env_steps=400, eval_every=200, val_fraction=0.05), run, CPU)
    curve = read_run_table(run / "curve.parquet")
    assert list(curve.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    assert curve["env_step"].tolist() == [200, 400]
    assert curve["updates"].tolist() == [75, 175]
    n = curve["critic_params"].iloc[0]
    assert (curve["flops"] == 10.0 * n * 16 * curve["updates"]).all()
    assert curve[["train_td_error", "val_td_error", "wall_s"]].notna().all().all()
    assert (curve["benchmark"] == "gym").all() and (curve["env"] == "Pendulum-v1").all()
    assert (curve["run_id"] == "cheetah-ish").all()
    config = json.loads((run / "config.json").read_text())
    assert config["settings"]["utd"] == 0.5 and config["critic_params"] == n
    assert {"rlscale", "torch", "gymnasium"} <= set(config["versions"]) and config["device"] == "cpu"
    assert config["env"]["versions"]["gymnasium"] == gym.__version__
    assert json.loads((run / "status.json").read_text())["status"] == "finished"
    assert not (run / "checkpoint.pt").exists()


def test_finished_run_is_a_noop_and_other_config_in_same_folder_is_refused(tmp_path):
    run = tmp_path / "r"
    cfg = _config(utd=1.0, warmup_steps=50, env_steps=200, eval_every=100)
    train_run(cfg, run, CPU)
    before = (run / "curve.parquet").stat().st_mtime_ns
    assert train_run(cfg, run, CPU).status == "finished"
    assert (run / "curve.parquet").stat().st_mtime_ns == before
    with pytest.raises(RlscaleError, match=r"different config \(batch_size: 16 -> 32\)"):
        train_run(_config(utd=1.0, warmup_steps=50, env_steps=200, eval_every=100, batch_size=32), run)


class NaNRewardAfter(gym.Wrapper):
    """A real env whose reward turns NaN after ``after`` steps (how a broken simulator looks)."""

    def __init__(self, env: gym.Env, after: int) -> None:
        super().__init__(env)
        self.after, self.steps = after, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        return obs, (float("nan") if self.steps > self.after else reward), terminated, truncated, info


def test_nan_reward_marks_run_failed_and_keeps_table(tmp_path, monkeypatch):
    def make_nan(env_id, **options):
        env, _ = envs.make_env(f"gym:{env_id}")
        return NaNRewardAfter(env, after=250), EnvInfo("nanny", env_id, {}, {})

    monkeypatch.setitem(envs.BACKENDS, "nanny", make_nan)
    run = tmp_path / "r"
    cfg = _config(env="nanny:Pendulum-v1", utd=1.0, warmup_steps=50, env_steps=1000, eval_every=100)
    with pytest.raises(RunFailed, match="non-finite (reward|return) at env step 200"):
        train_run(cfg, run, CPU)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and "non-finite" in status["reason"]
    # the eval env (its own wrapper) turns NaN during the evaluation at env step 200, before training's at 251
    assert pd.read_parquet(run / "curve.parquet")["env_step"].tolist() == [100]
    with pytest.raises(RlscaleError, match="failed before"):
        train_run(cfg, run, CPU)


def test_absurd_learning_rate_diverges_to_failed_status(tmp_path):
    run = tmp_path / "r"
    cfg = _config(learning_rate=1e12, utd=4.0, warmup_steps=20, env_steps=600, eval_every=100)
    with pytest.raises(RunFailed, match="non-finite"):
        train_run(cfg, run, CPU)
    assert json.loads((run / "status.json").read_text())["status"] == "failed"


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--utd", "0"], "invalid setting(s): utd=0.0"),
    (["--utd", "1", "--env", "gym:Nope-v0"], "unknown gym id 'Nope-v0'"),
    (["--utd", "1", "--algo", "ppo"], "unknown algo 'ppo'"),
    (["--utd", "1", "--device", "cuda:7"], "cuda"),
    (["--utd", "1", "--val-fraction", "1.5"], "val_fraction=1.5"),
    (["--utd", "1", "--threads", "-1"], "threads must be >= 0"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, extra, fragment):
    base = ["--env", "gym:Pendulum-v1", "--algo", "sac", "--batch-size", "16", "--learning-rate", "1e-3",
            "--env-steps", "100", "--eval-every", "50", "--warmup-steps", "20", "-o", str(tmp_path / "r")]
    assert main(["train", *base, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlscale: error:") and fragment in err
    assert not (tmp_path / "r" / "curve.parquet").exists()


def test_a_train_refused_for_an_unknown_env_leaves_nothing_it_created(tmp_path, capsys):
    flags = ["train", "--env", "gym:NoSuchEnv-v0", "--algo", "sac", "--utd", "1", "--batch-size", "16",
             "--learning-rate", "1e-3", "--env-steps", "200", "--eval-every", "100", "--warmup-steps", "50",
             "--threads", "1"]
    (tmp_path / "mine").mkdir()
    for out in (tmp_path / "new" / "r", tmp_path / "mine"):
        assert main([*flags, "-o", str(out)]) == 2
        assert "unknown gym id 'NoSuchEnv-v0'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # the folders it made are gone
    assert list((tmp_path / "mine").iterdir()) == []  # a folder it found is left as it was, without a lock file


def test_sac_learns_pendulum(tmp_path):
    """Real learning: random play scores about -1200 to -1500. At this learning rate a policy's return still swings
    by hundreds between evaluations late in training, so one seed's last evaluation is a noisy sample: three seeds,
    trained as one vectorised chunk, must score clearly better over their last three evaluations (the median).
    4000 env steps, since at 2500 the policies are still mid-climb: the median fell on either side of -400 by seed set
    and by CPU kernels (AVX2 / AVX-512); at 4000 it is -134 to -184 for seeds 0-2, 3-5, 6-8 and 9-11 under both."""
    configs = [RunConfig(env="gym:Pendulum-v1", algo="sac", utd=2.0, batch_size=64, learning_rate=3e-3, seed=seed,
                         env_steps=4000, eval_every=500, eval_episodes=5, critic_width=64, warmup_steps=300)
               for seed in range(3)]
    train_members(configs, [tmp_path / f"s{seed}" for seed in range(3)], CPU)
    late = [r for seed in range(3) for r in pd.read_parquet(tmp_path / f"s{seed}" / "curve.parquet")["return"][-3:]]
    assert np.median(late) > -400, late


def test_dmc_run_records_action_repeat_and_logs_rows(tmp_path):
    run = tmp_path / "r"
    cfg = _config(env="dmc:cartpole-swingup", utd=0.5, warmup_steps=20, env_steps=100, eval_every=50,
                  action_repeat=4)
    train_run(cfg, run, CPU)
    curve = read_run_table(run / "curve.parquet")
    assert curve["benchmark"].tolist() == ["dmc", "dmc"] and curve["updates"].tolist() == [15, 40]
    assert (curve["return"] >= 0).all()  # dmc rewards are in [0, 1] per step
    config = json.loads((run / "config.json").read_text())
    assert config["env"]["options"] == {"action_repeat": 4} and "dm_control" in config["env"]["versions"]


def test_reset_every_reaches_bro_and_is_refused_for_sac(tmp_path, capsys):
    from rlscale.agents import make_agent
    from rlscale.agents.base import AgentSettings

    settings = AgentSettings(1e-3, critic_width=16, critic_depth=1, reset_every=7)
    bro = make_agent("bro", 3, 1, settings, torch.device("cpu"))
    assert bro.reset_every == 7
    args = ["train", "--env", "gym:Pendulum-v1", "--algo", "sac", "--utd", "1", "--batch-size", "8",
            "--learning-rate", "1e-3", "--env-steps", "20", "--eval-every", "20", "--warmup-steps", "10",
            "--critic-width", "8", "--critic-depth", "1", "--eval-episodes", "1", "--quiet"]
    assert main([*args, "--reset-every", "5", "-o", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert err == "rlscale: error: invalid setting(s): reset_every=5 is for algo bro only\n", err
    assert not (tmp_path / "refused").exists()
    assert main([*args, "-o", str(tmp_path / "run")]) == 0  # the same run without it trains


def test_curves_record_overfitting_plasticity_and_training_returns(tmp_path):
    run = tmp_path / "r"
    train_run(_config(utd=1.0, warmup_steps=50, env_steps=400, eval_every=100, train_return_window=100), run, CPU)
    curve = read_run_table(run / "curve.parquet")
    # Pendulum's training episodes last 200 steps: one ends before the rows at 200 and 400, none before the others
    assert curve["train_return"].isna().tolist() == [True, False, True, False]
    assert curve["train_return"].dropna().between(-16.3 * 200, 0).all()  # a step costs at most pi^2 + 6.4 + 0.004
    np.testing.assert_allclose(curve["overfitting"], curve["newest_td_error"] - curve["train_td_error"])
    assert curve["newest_td_error"].notna().all() and (curve["critic_param_norm"] > 0).all()


def test_train_return_averages_the_episodes_of_its_window_however_often_rows_come(tmp_path):
    """The authors' point at env step t is the mean of the training episodes that ended in (t - 1000, t]; ours is
    the same for any eval_every (a window longer than the gap between rows overlaps the previous row's)."""
    run = tmp_path / "r"
    train_run(_config(utd=1.0, warmup_steps=50, env_steps=400, eval_every=100, train_return_window=300), run, CPU)
    ret = read_run_table(run / "curve.parquet")["train_return"].tolist()
    episode_200, episode_400 = ret[1], None
    assert np.isnan(ret[0]) and ret[2] == episode_200  # the episode that ended at 200 is inside both windows
    alone = tmp_path / "alone"
    train_run(_config(utd=1.0, warmup_steps=50, env_steps=400, eval_every=100, train_return_window=100), alone, CPU)
    episode_400 = read_run_table(alone / "curve.parquet")["train_return"].iloc[3]
    assert ret[3] == pytest.approx((episode_200 + episode_400) / 2)


def test_evaluating_more_often_changes_no_training_number(tmp_path):
    """Evaluations and probes draw from their own streams: the training run is the same however often it is looked
    at (its weights too, which the critic norm shows)."""
    often, rare = tmp_path / "often", tmp_path / "rare"
    train_run(_config(utd=1.0, warmup_steps=50, env_steps=400, eval_every=100), often, CPU)
    train_run(_config(utd=1.0, warmup_steps=50, env_steps=400, eval_every=200), rare, CPU)
    a, b = pd.read_parquet(often / "curve.parquet"), pd.read_parquet(rare / "curve.parquet")
    compared = ["env_step", "return", "updates", "train_return", "critic_param_norm"]
    pd.testing.assert_frame_equal(a[a["env_step"] % 200 == 0][compared].reset_index(drop=True), b[compared],
                                  check_exact=True)


def test_the_command_says_what_it_did_and_a_rerun_of_a_finished_run_trains_nothing(tmp_path, capsys):
    run = tmp_path / "r"
    args = ["train", "--env", "gym:Pendulum-v1", "--algo", "sac", "--utd", "1", "--batch-size", "16",
            "--learning-rate", "1e-3", "--env-steps", "200", "--eval-every", "100", "--eval-episodes", "1",
            "--critic-width", "16", "--warmup-steps", "50", "--device", "cpu", "-o", str(run)]
    assert main(args) == 0
    assert capsys.readouterr().err == f"rlscale: {run} finished (200 env steps)\n"
    status = json.loads((run / "status.json").read_text())
    assert status["effective_utd"] == 1.0 and status["updates"] == 150 and status["resumed_from"] is None
    (run / "status.json").write_text(json.dumps({**status, "resumed_from": 100}))  # as if an attempt had resumed
    assert main(args) == 0
    assert "resumed" not in capsys.readouterr().err  # this call trained nothing
