"""One run config: its fields are the ``rlscale train`` flags, the sweep keys and the job a worker receives."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from rlscale.agents.base import AgentSettings, shared_settings
from rlscale.cli import build_parser, main
from rlscale.cli.train import config_flags
from rlscale.errors import RlscaleError
from rlscale.train.config import RunConfig, Runtime, parse_value
from rlscale.train.rundir import RunDir
from rlscale.train.sweep import FIXED_KEYS, GRID_FIELDS, parse_sweep
from rlscale.train.worker import Job

PENDULUM = {"env": "gym:Pendulum-v1", "algo": "sac", "utd": 2.0, "batch_size": 64, "learning_rate": 3e-4,
            "env_steps": 1000, "eval_every": 100, "warmup_steps": 128}


def _train_parser():
    return build_parser()._subparsers._group_actions[0].choices["train"]


def test_every_setting_is_a_train_flag_with_its_default_in_the_help(capsys):
    parser = _train_parser()
    flags = {a.dest for a in parser._actions}
    assert {f.name for f in dataclasses.fields(RunConfig)} | {f.name for f in dataclasses.fields(Runtime)} <= flags
    text = parser.format_help()
    assert "(default: 5000)" in text and "(default: 1000000)" in text and "(default: 0.0)" in text
    assert "--num-envs" in text and "--asynchronous" in text and "--newest-window" in text


@pytest.mark.parametrize("config", [
    RunConfig(**PENDULUM),
    RunConfig(**{**PENDULUM, "warmup_steps": 0}, seed=3, val_fraction=0.05, critic_width=32, newest_window=500,
              actor_learning_rate=1e-3, target_entropy=-1.0),
    RunConfig(**{**PENDULUM, "algo": "bro", "env": "dmc:walker-walk"}, reset_every=1000, action_repeat=2),
    RunConfig(**{**PENDULUM, "algo": "pql", "env_steps": 1024, "eval_every": 256, "warmup_steps": 64}, num_envs=8,
              asynchronous=True),
])
def test_the_flags_of_a_config_parse_back_to_the_same_config(config):
    args = _train_parser().parse_args([*config_flags(config), "-o", "out"])
    assert RunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)}) == config


def test_every_setting_is_a_sweep_key_and_pql_settings_come_from_the_file():
    assert set(FIXED_KEYS) | set(GRID_FIELDS) | {"algo"} == {f.name for f in dataclasses.fields(RunConfig)}
    doc = {"algo": "pql", "envs": ["gym:Pendulum-v1"], "utd": [0.5], "batch_size": [64], "learning_rate": [1e-3],
           "seeds": 1, "env_steps": 2048, "eval_every": 512, "warmup_steps": 256, "num_envs": 32,
           "asynchronous": True, "gamma": 0.98, "newest_window": 200}
    (run,) = parse_sweep(doc).runs
    assert (run.config.num_envs, run.config.asynchronous, run.config.gamma, run.config.newest_window) == (
        32, True, 0.98, 200)
    with pytest.raises(RlscaleError, match="sweep: env_steps=2048, eval_every=512, warmup_steps=256 must be "
                                           r"multiple\(s\) of num_envs=3"):
        parse_sweep({**doc, "num_envs": 3})
    with pytest.raises(RlscaleError, match="'asynchronous' must be true or false, got 'yes'"):
        parse_sweep({**doc, "asynchronous": "yes"})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("utd", 0, "'utd' must be a number > 0, got 0"),
    ("batch_size", 12.5, "'batch_size' must be an integer > 0, got 12.5"),
    ("warmup_steps", -1, "'warmup_steps' must be an integer >= 0, got -1"),
    ("val_fraction", 1.0, "'val_fraction' must be a number >= 0 and < 1, got 1.0"),
    ("gamma", 0, "'gamma' must be a number > 0 and <= 1, got 0"),
    ("env", "", "'env' must be a non-empty string, got ''"),
])
def test_one_check_per_setting_with_one_line_saying_what_it_must_be(name, value, message):
    with pytest.raises(RlscaleError, match=f"^src: {message}$"):
        parse_value(name, value, "src")
    assert parse_value("learning_rate", "3e-4", "src") == 3e-4  # YAML 1.1 reads 3e-4 as a string


def test_a_config_json_from_before_the_newer_settings_still_identifies_its_run(tmp_path):
    old = {k: v for k, v in RunConfig(**PENDULUM).to_dict().items()
           if k not in ("num_envs", "asynchronous", "newest_window")}  # what runs wrote before these existed
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_config({"settings": old})
    assert run.claim(RunConfig(**PENDULUM)) is None  # same run (no status yet), not "a different config"
    with pytest.raises(RlscaleError, match=r"different config \(utd: 2.0 -> 4.0\)"):
        run.claim(RunConfig(**{**PENDULUM, "utd": 4.0}))
    old_pql = {**old, "algo": "pql", "num_envs": 16, "asynchronous": False}  # a PQL run of the old trainer
    run.write_config({"settings": old_pql})
    assert run.claim(RunConfig(**{**PENDULUM, "algo": "pql"})) is None
    run.write_config({"settings": {**old, "colour": "red"}})
    with pytest.raises(RlscaleError, match="config.json: unknown setting"):
        run.claim(RunConfig(**PENDULUM))
    # older still: no held-out probe setting, SAC's actor at the critic's learning rate and entropy target -1 per
    # action dimension; such a run reads as what it ran, not as today's defaults (dropping the legacy values passed)
    sac = {**PENDULUM, "learning_rate": 1e-3}
    older = {k: v for k, v in RunConfig(**sac).to_dict().items() if k not in (
        "num_envs", "asynchronous", "newest_window", "val_fraction", "actor_learning_rate", "target_entropy")}
    run.write_config({"settings": older})
    assert run.claim(RunConfig(**sac, val_fraction=0.05, actor_learning_rate=1e-3, target_entropy=-1.0)) is None
    with pytest.raises(RlscaleError, match=r"different config \(val_fraction: 0.05 -> 0.0, actor_learning_rate: "
                                           r"0.001 -> 0.0003, target_entropy: -1.0 -> -0.5\)"):
        run.claim(RunConfig(**sac))


def test_a_job_crosses_process_boundaries_as_json_and_bad_jobs_are_one_line():
    job = Job(((RunConfig(**PENDULUM), "runs/a"), (RunConfig(**{**PENDULUM, "seed": 1}), "runs/b")),
              Runtime(device="cpu", threads=2))
    assert Job.from_json(job.to_json()) == job
    assert json.loads(job.to_json())["runs"][1]["config"]["seed"] == 1
    with pytest.raises(RlscaleError, match="job: missing required setting"):
        Job.from_json('{"runs": [{"config": {"env": "gym:Pendulum-v1"}, "output": "x"}]}')


def test_train_flags_are_checked_before_anything_is_written(tmp_path, capsys):
    base = [f for f in config_flags(RunConfig(**PENDULUM))]
    assert main(["train", *base, "--num-envs", "4", "-o", str(tmp_path / "r")]) == 2
    assert "num_envs and asynchronous are for parallel-env agents (pql), not sac" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_negative_value_in_scientific_notation_is_a_value_not_an_option(tmp_path, capsys):
    """argparse before Python 3.14 said "expected one argument" to ``--learning-rate -1e-3``."""
    args = build_parser().parse_args(["train", *config_flags(RunConfig(**PENDULUM)), "--target-entropy", "-1e-1",
                                      "-o", "r"])
    assert args.target_entropy == -0.1
    flags = config_flags(RunConfig(**PENDULUM))
    flags[flags.index("--learning-rate") + 1] = "-1e-3"
    assert main(["train", *flags, "-o", str(tmp_path / "r")]) == 2
    assert "learning_rate=-0.001 (must be > 0)" in capsys.readouterr().err


def test_a_batch_larger_than_the_replay_names_the_setting_that_limits_the_replay():
    pendulum = {**PENDULUM, "batch_size": 16, "warmup_steps": 100}
    with pytest.raises(RlscaleError, match="raise buffer_size to at least 16$"):  # more warm-up cannot help
        RunConfig(**pendulum, buffer_size=10).validate()
    with pytest.raises(RlscaleError, match="raise warmup_steps to at least 16$"):
        RunConfig(**{**pendulum, "warmup_steps": 5}).validate()
    with pytest.raises(RlscaleError, match="raise warmup_steps and buffer_size to at least 16$"):
        RunConfig(**{**pendulum, "warmup_steps": 5}, buffer_size=10).validate()
    with pytest.raises(RlscaleError, match="raise buffer_size to at least 1101$"):  # (1 - 0.07) * 1100 < 1023
        RunConfig(**{**pendulum, "batch_size": 1023, "env_steps": 3000, "warmup_steps": 2000}, buffer_size=1000,
                  val_fraction=0.07).validate()


def test_the_settings_members_share_carry_no_learning_rate_to_build_an_optimiser_from():
    """An agent that built its optimiser from the shared settings trained every member at member 0's rate, while each
    member's folder recorded its own: the shared learning rate is NaN, so such a run fails as non-finite."""
    shared = shared_settings([AgentSettings(1e-3, critic_width=8), AgentSettings(3e-3, critic_width=8)])
    assert math.isnan(shared.learning_rate) and shared.critic_width == 8
    with pytest.raises(RlscaleError, match="may differ only in learning rate"):
        shared_settings([AgentSettings(1e-3, critic_width=8), AgentSettings(1e-3, critic_width=16)])


def test_a_new_agents_registry_entry_is_read_as_the_existing_ones_are(monkeypatch):
    """A parallel-env agent other than pql gets its default num_envs too (was a TypeError in validate); defaults
    naming no run setting are one line saying where such constants belong (was a KeyError), and so is a registry path
    naming no class (was an AttributeError)."""
    from rlscale.agents import AGENTS, AgentEntry, make_agent
    from rlscale.train.config import PQL_NUM_ENVS

    monkeypatch.setitem(AGENTS, "mypql", AgentEntry("rlscale.agents.pql:PQL", parallel=True))
    config = RunConfig(**{**PENDULUM, "algo": "mypql", "env_steps": 1024, "eval_every": 128, "warmup_steps": 128})
    assert config.num_envs == PQL_NUM_ENVS and config.validate() is config
    monkeypatch.setitem(AGENTS, "td3", AgentEntry("rlscale.agents.sac:SAC", defaults={"policy_noise": 0.2}))
    with pytest.raises(RlscaleError, match="the defaults of agent td3 name policy_noise, which are no run setting"):
        RunConfig(**{**PENDULUM, "algo": "td3"}).resolved()
    monkeypatch.setitem(AGENTS, "td3", AgentEntry("rlscale.agents.sac:TD3"))
    with pytest.raises(RlscaleError, match=r"agent td3: module rlscale.agents.sac has no TD3 \(its registry path"):
        make_agent("td3", 3, 1, [AgentSettings(1e-3)], "cpu")


def test_which_agents_take_a_setting_and_its_defaults_are_read_from_the_registry(monkeypatch):
    """An agent's own knobs are the keys of its registry entry's defaults: validation and the help follow a new entry,
    with no list of agent names to extend (SAC's knobs were listed in three places, restated in the help)."""
    from rlscale.agents import AGENTS, AgentEntry

    monkeypatch.setitem(AGENTS, "td3", AgentEntry("rlscale.agents.sac:SAC", about="a new agent", defaults={
        "critic_width": 400, "critic_depth": 2, "actor_learning_rate": 1e-3}))
    td3 = {**PENDULUM, "algo": "td3"}
    assert RunConfig(**td3, actor_learning_rate=2e-3, critic_depth=3).validate().resolved()["critic_width"] == 400
    with pytest.raises(RlscaleError, match=r"^invalid setting\(s\): reset_every=10 is for algo bro only$"):
        RunConfig(**td3, reset_every=10).validate()
    with pytest.raises(RlscaleError, match=r"^invalid setting\(s\): target_entropy=-1.0 is for algo sac only$"):
        RunConfig(**td3, target_entropy=-1.0).validate()
    text = " ".join(_train_parser().format_help().split())
    assert "agent: sac (the paper's agent on Gym), bro (the paper's agent on DMC), pql" in text
    assert "td3 (a new agent)" in text
    assert "critic hidden width (default: sac 256, bro 512, pql 256, td3 400)" in text
    assert "(algo sac or td3 only; default: sac 0.0003, td3 0.001)" in text
    assert "(algo bro only; default: 2500000)" in text
    monkeypatch.setitem(AGENTS, "td3", AgentEntry("rlscale.agents.sac:SAC", defaults={"critic_width": 256}))
    with pytest.raises(RlscaleError, match=r"^invalid setting\(s\): critic_depth=3 is for algo sac or bro or pql "
                                           "only$"):
        RunConfig(**td3, critic_depth=3).validate()
    assert "(residual blocks of a BroNet critic) (algo sac or bro or pql only; default: 2)" in " ".join(
        _train_parser().format_help().split())  # one default for all that take it: shown once


def test_an_env_option_is_refused_where_the_backend_does_not_take_it():
    """action_repeat on a gym: run was accepted by the config and failed only when the env was built, once per run of
    a sweep; the backends' option table says which backends take it."""
    with pytest.raises(RlscaleError, match=r"^invalid setting\(s\): action_repeat=2 is for dmc: environments only$"):
        RunConfig(**PENDULUM, action_repeat=2).validate()
    dmc = RunConfig(**{**PENDULUM, "algo": "bro", "env": "dmc:cartpole-balance"}, action_repeat=2).validate()
    assert dmc.env_options == {"action_repeat": 2} and RunConfig(**PENDULUM).env_options == {}
