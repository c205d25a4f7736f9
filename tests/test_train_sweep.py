"""Sweeps: YAML validation, run names, fitted mode, and a tiny real sweep (2 workers, a failure, restart, resume)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from rlscale.cli import main
from rlscale.cli.train import config_flags
from rlscale.errors import RlscaleError
from rlscale.train.config import RunConfig
from rlscale.train.rundir import RunDir, Status
from rlscale.train.sweep import LocalExecutor, RunSpec, load_sweep, parse_sweep, plan, run_sweep
from rlscale.train.worker import PARENT_ENV

TINY_FIXED = """\
algo: sac
batch_size: 16
learning_rate: 1e-3
env_steps: 200
eval_every: 100
eval_episodes: 1
warmup_steps: 50
critic_width: 16
critic_depth: 1
"""
GRID = "envs: [gym:Pendulum-v1]\nutd: [0.5, 2]\nbatch_size: [64, 256]\nlearning_rate: [3e-4, 1.0e-3]\n"
BASE = "algo: sac\nseeds: 2\nenv_steps: 1000\neval_every: 100\nwarmup_steps: 300\n"


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_expands_to_the_product_with_stable_names(tmp_path):
    sweep = load_sweep(_write(tmp_path, BASE + GRID, "grid.yaml"))
    assert sweep.name == "grid" and len(sweep.runs) == 2 * 2 * 2 * 2
    names = [r.name for r in sweep.runs]
    assert names == [r.name for r in load_sweep(tmp_path / "grid.yaml").runs]  # same order, same names
    assert "sac_Pendulum-v1_utd0.5_bs64_lr3e-4_s0" in names and "sac_Pendulum-v1_utd2_bs256_lr1e-3_s1" in names
    run = sweep.runs[0].config
    assert run.learning_rate == 3e-4 and isinstance(run.batch_size, int)  # "3e-4" (a YAML 1.1 string) is a number
    # every run is one grid point at one listed seed, with every other key of the file as written
    more = {"critic_width": 64, "critic_depth": 3, "eval_episodes": 3, "buffer_size": 5000, "val_fraction": 0.1}
    fixed = {"env_steps": 1000, "eval_every": 100, "warmup_steps": 300, **more}  # BASE's and more
    text = BASE.replace("seeds: 2", "seeds: [3, 7]") + GRID + "".join(f"{k}: {v}\n" for k, v in more.items())
    configs = [r.config for r in load_sweep(_write(tmp_path, text)).runs]
    assert sorted((c.env, c.utd, c.batch_size, c.learning_rate, c.seed) for c in configs) == sorted(
        ("gym:Pendulum-v1", u, b, lr, s) for u in (0.5, 2.0) for b in (64, 256) for lr in (3e-4, 1e-3) for s in (3, 7))
    assert all(c.algo == "sac" and {k: getattr(c, k) for k in fixed} == fixed for c in configs)


def _config(env, algo, utd, bs, lr, seed, **fixed):
    return RunConfig(env=env, algo=algo, utd=utd, batch_size=bs, learning_rate=lr, seed=seed,
                     **{"env_steps": 1000, "eval_every": 100, "warmup_steps": 300, **fixed})


def test_run_name_and_train_arguments_follow_the_training_cli(tmp_path, capsys):
    spec = RunSpec(_config("gym:HalfCheetah-v4", "sac", 2.0, 256, 3e-4, 0, warmup_steps=400))
    assert spec.name == "sac_HalfCheetah-v4_utd2_bs256_lr3e-4_s0"
    other = RunSpec(_config("dmc:walker-walk", "bro", 0.25, 112, 1.87e-3, 3))
    assert other.name == "bro_walker-walk_utd0.25_bs112_lr1.87e-3_s3"
    args = config_flags(spec.config)
    assert args[:4] == ["--env", "gym:HalfCheetah-v4", "--algo", "sac"]
    for flag in ("--utd", "--batch-size", "--learning-rate", "--env-steps", "--eval-every", "--warmup-steps"):
        assert flag in args
    assert "--seed" not in args and "--buffer-size" not in args  # at their defaults
    # the flags give back the same config: the sweep's dry run prints commands that train exactly this run
    parsed = main(["train", *args, "-o", str(tmp_path / "x"), "--device", "cuda:99"])
    assert parsed == 2 and "cuda:99" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # a refused run writes nothing


def test_fitted_mode_runs_proposed_hparams_with_multipliers(tmp_path):
    pd.DataFrame({
        "env": ["walker-walk", "walker-walk", "cheetah-run"], "utd": [1.0, 8.0, 1.0],
        "batch_size": [294.2, 106.3, 250.0], "learning_rate": [1.0213e-3, 5.26e-4, 8e-4],
        "batch_size_rounded": [288, 112, 256],
    }).to_csv(tmp_path / "proposed_hparams.csv", index=False)
    text = ("mode: fitted\nalgo: bro\nhparams: proposed_hparams.csv\nbackend: dmc\nenvs: [dmc:walker-walk]\n"
            "seeds: [0]\nenv_steps: 1000\neval_every: 100\nwarmup_steps: 500\n"
            "batch_size_multipliers: [0.7, 1.4]\nlearning_rate_multipliers: [0.7, 1.4]\n")
    runs = [r.config for r in load_sweep(_write(tmp_path, text)).runs]
    got = {(r.env, r.utd, r.batch_size, r.learning_rate) for r in runs}
    assert got == {
        ("dmc:walker-walk", 1.0, 288, 1.02e-3), ("dmc:walker-walk", 1.0, 208, 1.02e-3),  # 0.7 * 288 = 201.6 -> 208
        ("dmc:walker-walk", 1.0, 400, 1.02e-3), ("dmc:walker-walk", 1.0, 288, 7.15e-4),
        ("dmc:walker-walk", 1.0, 288, 1.43e-3),
        ("dmc:walker-walk", 8.0, 112, 5.26e-4), ("dmc:walker-walk", 8.0, 80, 5.26e-4),
        ("dmc:walker-walk", 8.0, 160, 5.26e-4), ("dmc:walker-walk", 8.0, 112, 3.68e-4),
        ("dmc:walker-walk", 8.0, 112, 7.36e-4),
    }
    no_backend = text.replace("backend: dmc\nenvs: [dmc:walker-walk]\n", "")
    with pytest.raises(RlscaleError, match="set 'backend'"):
        load_sweep(_write(tmp_path, no_backend))
    plain = text.replace("batch_size_multipliers: [0.7, 1.4]\nlearning_rate_multipliers: [0.7, 1.4]\n", "")
    got = {(r.utd, r.batch_size, r.learning_rate) for r in (s.config for s in load_sweep(_write(tmp_path, plain)).runs)}
    assert got == {(1.0, 288, 1.02e-3), (8.0, 112, 5.26e-4)}  # no multipliers: the proposals only
    only_8 = {(r.config.utd, r.config.batch_size) for r in load_sweep(_write(tmp_path, plain + "utd: [8]\n")).runs}
    assert only_8 == {(8.0, 112)}  # a utd list keeps those σ only


@pytest.mark.parametrize(("rows", "fragment"), [
    # a second row for one (env, σ) trained a best-of-two as the "fitted" run without a word
    ({"utd": [1.0, 1.0], "batch_size_rounded": [288, 112]},
     "env dmc:walker-walk at utd 1 has 2 rows (row(s) 0, 1); a proposals file gives one (B, η) per (env, utd)"),
    # 287.6 was cut to 287 without a word
    ({"utd": [1.0, 8.0], "batch_size_rounded": [287.6, 112]}, "row(s) 0 have a batch_size_rounded that is not a whole"),
])
def test_a_proposals_file_with_two_rows_for_one_env_and_utd_or_a_fractional_batch_is_refused(tmp_path, capsys, rows,
                                                                                             fragment):
    pd.DataFrame({"env": "walker-walk", "learning_rate": 1e-3, **rows}).to_csv(tmp_path / "p.csv", index=False)
    path = _write(tmp_path, "mode: fitted\nalgo: bro\nhparams: p.csv\nbackend: dmc\nseeds: [0]\nenv_steps: 1000\n"
                  "eval_every: 100\nwarmup_steps: 500\n")
    assert main(["sweep", str(path), "-o", str(tmp_path / "runs"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"rlscale: error: {tmp_path / 'p.csv'}: ") and fragment in err, err


@pytest.mark.parametrize(("change", "fragment"), [
    ({"table": lambda t: t.drop(columns="learning_rate")}, "p.csv: missing column(s) learning_rate (expected the "),
    ({"table": lambda t: t.assign(learning_rate=[-1e-3, 1e-3])},
     "p.csv: row(s) 0 have non-numeric, non-positive or missing utd, learning_rate or batch_size_rounded"),
    ({"sweep": lambda s: s.replace("backend: dmc", "backend: 'dmc:'")},
     "s.yaml: 'backend' must be a backend name such as gym or dmc, got 'dmc:'"),
    ({"sweep": lambda s: s + "envs: [dmc:cheetah-run]\n"}, "s.yaml: no (env, utd) rows of "),
    ({"sweep": lambda s: s + "utd: [2]\n"}, "s.yaml: no (env, utd) rows of "),
])
def test_a_fitted_sweep_whose_proposals_file_is_wrong_or_selects_nothing_is_one_line(tmp_path, capsys, change,
                                                                                      fragment):
    table = pd.DataFrame({"env": "walker-walk", "utd": [1.0, 8.0], "learning_rate": 1e-3,
                          "batch_size_rounded": [288, 112]})
    change.get("table", lambda t: t)(table).to_csv(tmp_path / "p.csv", index=False)
    text = ("mode: fitted\nalgo: bro\nhparams: p.csv\nbackend: dmc\nseeds: [0]\nenv_steps: 1000\neval_every: 100\n"
            "warmup_steps: 500\n")
    path = _write(tmp_path, change.get("sweep", lambda s: s)(text))
    assert main(["sweep", str(path), "-o", str(tmp_path / "runs"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlscale: error: ") and fragment in err, err


@pytest.mark.parametrize(("text", "fragment"), [
    (BASE + GRID + "colour: red\n", "unknown key(s) colour"),
    (BASE + GRID.replace("[0.5, 2]", "[0.5, -2]"), "'utd' must be a number > 0, got -2"),
    (BASE + GRID.replace("[0.5, 2]", "[fast]"), "'utd' must be a number > 0, got 'fast'"),
    (BASE + GRID.replace("[64, 256]", "[64.5]"), "'batch_size' must be an integer > 0"),
    (BASE + GRID.replace("gym:Pendulum-v1", "Pendulum-v1"), "'envs' must be a list of BACKEND:ID"),
    (BASE + GRID.replace("gym:Pendulum-v1", "mujoco:Ant"), "unknown environment backend 'mujoco'"),
    (BASE.replace("seeds: 2", "seeds: [1, 1]") + GRID, "'seeds' must be a count or a list of distinct"),
    (BASE.replace("algo: sac", "algo: ppo") + GRID, "unknown algo 'ppo'"),
    (BASE.replace("env_steps: 1000\n", "") + GRID, "missing required key 'env_steps'"),
    (BASE + GRID.replace("learning_rate: [3e-4, 1.0e-3]\n", ""), "missing required key 'learning_rate'"),
    (BASE + GRID + "hparams: x.csv\n", "unknown key(s) hparams for mode grid"),
    (BASE + "mode: fitted\n", "missing required key 'hparams'"),
    (BASE + GRID + "mode: random\n", "'mode' must be 'grid' or 'fitted'"),
    (BASE + GRID + "name: a/b\n", "'name' must be a non-empty string without '/', got 'a/b'"),
    (BASE.replace("seeds: 2", "seeds: 0") + GRID, "'seeds' must be >= 1, got 0"),
    (BASE.replace("seeds: 2\n", "") + GRID, "missing required key 'seeds'"),
    (BASE + GRID.replace("[0.5, 2]", "[]"), "'utd' must not be empty"),
    (BASE + GRID.replace("[64, 256]", "[64, 64]"), "'batch_size' lists a value twice"),
    (BASE.replace("algo: sac", "algo: 5") + GRID, "'algo' must be a non-empty string, got 5"),
    (BASE + GRID + "utd: [1\n", "not valid YAML at line"),
    ("- just\n- a list\n", "must be a mapping"),
])
def test_bad_sweep_file_is_one_line_error_and_writes_nothing(tmp_path, capsys, text, fragment):
    path = _write(tmp_path, text)
    assert main(["sweep", str(path), "-o", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlscale: error:") and fragment in err, err
    assert not (tmp_path / "runs").exists()


def test_a_key_repeated_in_a_sweep_file_is_refused_naming_the_key_and_its_lines(tmp_path, capsys):
    path = _write(tmp_path, BASE + GRID + "env_steps: 4000\n")  # YAML alone would train 4000 steps, silently
    assert main(["sweep", str(path), "-o", str(tmp_path / "runs"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 10, column 1: repeated key 'env_steps' (first at line 3)" in err, err
    with pytest.raises(RlscaleError, match="line 10, column 16: repeated key 'a' \\(first at line 10\\)"):
        load_sweep(_write(tmp_path, BASE + GRID + "nested: {a: 1, a: 2}\n"))  # at any depth


def test_benchmark_sweep_files_are_valid():
    root = Path(__file__).resolve().parent.parent / "benchmarks"
    sizes = {p.stem: len(load_sweep(p).runs) for p in sorted(root.glob("*.yaml"))}
    assert sizes == {"fidelity_gym": 12, "fidelity_gym_gpu": 64, "fidelity_gym_short": 8, "fidelity_halfcheetah": 20,
                     "fidelity_halfcheetah_jaxrl": 6, "fidelity_halfcheetah_long": 10, "fidelity_walker2d": 12}


def test_example_sweep_files_are_valid(tmp_path):
    root = Path(__file__).resolve().parent.parent / "sweeps"
    at_a_csv = ("_fitted", "_baseline")  # `mode: fitted` sweeps: the proposals and the constant baseline
    sizes = {p.stem: len(load_sweep(p).runs) for p in sorted(root.glob("*.yaml")) if not p.stem.endswith(at_a_csv)}
    assert sizes == {"cpu_dmc": 480, "cpu_gym": 576, "mini_dmc": 72, "mini_gym": 72, "paper_dmc": 3584,
                     "paper_gym": 3200}
    for kind in at_a_csv:
        files = sorted(root.glob(f"*{kind}.yaml"))
        assert {p.stem for p in files} == {f"{s}{kind}" for s in sizes}
        for path in files:  # each needs 'rlscale fit hparams' output first; a copy here has none next to it
            copy = tmp_path / "sweeps" / path.name
            copy.parent.mkdir(exist_ok=True)
            copy.write_text(path.read_text())
            with pytest.raises(RlscaleError, match="cannot read hparams file"):
                load_sweep(copy)


def test_duplicate_grid_values_are_rejected():
    doc = {"algo": "sac", "envs": ["gym:Pendulum-v1"], "utd": [1, 1.0], "batch_size": 16, "learning_rate": 1e-3,
           "seeds": 1, "env_steps": 100, "eval_every": 50}
    with pytest.raises(RlscaleError, match="'utd' lists a value twice"):
        parse_sweep(doc)


def test_an_env_id_its_backend_does_not_know_refuses_the_sweep_before_any_run(tmp_path, capsys):
    """A typo in a 3,200-run sweep is one line naming the file before anything starts, not 3,200 failed runs."""
    out = tmp_path / "runs"
    for env, said in (("gym:Pendulum-v9", "unknown gym id 'Pendulum-v9'"),
                      ("dmc:walker-wlak", "unknown dmc task 'walker-wlak'")):
        path = _write(tmp_path, TINY_FIXED + f"envs: [gym:Pendulum-v1, {env}]\nutd: 1\nseeds: 1\n")
        for extra in ([], ["--dry-run"]):
            assert main(["sweep", str(path), "-o", str(out), *extra]) == 2
            err = capsys.readouterr().err
            assert err.startswith(f"rlscale: error: {path}: {said}; available: ") and err.count("\n") == 1, err
    assert not out.exists()


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A real sweep: 2 Pendulum runs that finish and 2 that fail (CartPole: a known id, whose discrete actions only
    building the env finds), on 2 workers."""
    tmp = tmp_path_factory.mktemp("sweep")
    yaml = _write(tmp, TINY_FIXED + "envs: [gym:Pendulum-v1, gym:CartPole-v1]\nutd: 1\nseeds: 2\n", "tiny.yaml")
    runs = tmp / "runs"
    rc = main(["sweep", str(yaml), "-o", str(runs), "--workers", "2"])
    return yaml, runs, rc, json.loads((runs / "sweep_tiny.json").read_text())


def test_sweep_runs_in_parallel_and_records_failures(swept):
    _, runs, rc, summary = swept
    assert rc == 1  # failures happened
    assert summary["state"] == "finished" and summary["counts"] == {
        "finished": 2, "skipped": 0, "failed": 2, "interrupted": 0}
    by_name = {r["name"]: r for r in summary["runs"]}
    for seed in (0, 1):
        ok = by_name[f"sac_Pendulum-v1_utd1_bs16_lr1e-3_s{seed}"]
        assert ok["status"] == "finished" and ok["returncode"] == 0
        curve = pd.read_parquet(runs / ok["name"] / "curve.parquet")
        assert curve["env_step"].tolist() == [100, 200] and (curve["seed"] == seed).all()
        bad = by_name[f"sac_CartPole-v1_utd1_bs16_lr1e-3_s{seed}"]
        assert bad["status"] == "failed" and bad["returncode"] == 2 and "discrete action space" in bad["reason"]


def test_restarted_sweep_skips_finished_runs_and_does_not_silently_retry_failed_ones(swept, capsys):
    yaml, runs, _, _ = swept
    finished = runs / "sac_Pendulum-v1_utd1_bs16_lr1e-3_s0"
    mtime = (finished / "curve.parquet").stat().st_mtime_ns
    log = (finished / "train.log").read_text()
    assert main(["sweep", str(yaml), "-o", str(runs), "--workers", "2"]) == 1
    summary = json.loads((runs / "sweep_tiny.json").read_text())
    assert summary["counts"] == {"finished": 0, "skipped": 2, "failed": 2, "interrupted": 0}
    assert all("failed before" in r["reason"] for r in summary["runs"] if r["status"] == "failed")
    assert (finished / "curve.parquet").stat().st_mtime_ns == mtime and (finished / "train.log").read_text() == log
    assert "failed before" in capsys.readouterr().err
    # --dry-run lists every run with its state and writes nothing
    assert main(["sweep", str(yaml), "-o", str(runs), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and sum("\tskipped\t" in line for line in out) == 2 and "2 finished, 2 failed" in out[-1]
    # a crashed run runs again with --retry-failed, or once its folder is removed
    assert main(["sweep", str(yaml), "-o", str(runs), "--dry-run", "--retry-failed"]) == 0
    assert "2 to run, 2 finished, 0 failed" in capsys.readouterr().out
    shutil.rmtree(runs / "sac_CartPole-v1_utd1_bs16_lr1e-3_s0")
    assert main(["sweep", str(yaml), "-o", str(runs), "--dry-run"]) == 0
    assert "1 to run, 2 finished, 1 failed" in capsys.readouterr().out


def test_a_run_the_trainer_marked_failed_is_reported_failed_and_not_retried_even_with_retry_failed(swept, tmp_path):
    """A diverged run (its status.json says failed) stays failed with the trainer's reason: never skipped as if
    it had finished, never retrained by --retry-failed (which retries crashes), until its folder is removed."""
    yaml, runs, _, _ = swept
    sweep = load_sweep(yaml)
    name = "sac_Pendulum-v1_utd1_bs16_lr1e-3_s1"
    shutil.copytree(runs / name, tmp_path / "out" / name)
    RunDir(tmp_path / "out" / name).write_status(Status("failed", 100, "non-finite critic_loss at env step 100"))
    for retry in (False, True):
        todo, settled = plan(sweep, tmp_path / "out", retry_failed=retry)
        assert sorted(s.name for s in todo) == sorted(s.name for s in sweep.runs if s.name != name)
        assert list(settled) == [name] and settled[name].status == "failed"
        assert settled[name].reason.startswith("failed before: non-finite critic_loss at env step 100; remove ")


def test_interrupted_sweep_resumes_unfinished_runs_from_their_checkpoints(tmp_path):
    """Ctrl-C (SIGINT) a real sweep mid-run, restart it: the run resumes and its curve is complete."""
    long = TINY_FIXED.replace("env_steps: 200", "env_steps: 1200").replace("eval_every: 100", "eval_every: 200")
    yaml = _write(tmp_path, long + "envs: [gym:Pendulum-v1]\nutd: 0.5\nseeds: 1\ncheckpoint_every: 200\n", "r.yaml")
    runs = tmp_path / "runs"
    run_dir = runs / "sac_Pendulum-v1_utd0.5_bs16_lr1e-3_s0"
    cmd = [sys.executable, "-m", "rlscale.cli", "sweep", str(yaml), "-o", str(runs)]
    # a shell starts background jobs with SIGINT ignored, and that is inherited: give the sweep the default
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (run_dir / "checkpoint.pt").exists()
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert json.loads((run_dir / "status.json").read_text())["status"] == "running"
    # one worker, no --threads: the run got the machine's cores (the cores divided among the workers)
    assert json.loads((run_dir / "config.json").read_text())["threads"] == max(1, os.cpu_count() or 1)
    summary = json.loads((runs / "sweep_r.json").read_text())
    assert summary["state"] == "interrupted" and summary["counts"]["interrupted"] == 1
    staged = run_dir / "checkpoint.pt.next"  # a stop between the two phases of a save: the newer one is whole
    checkpoint = staged if staged.exists() else run_dir / "checkpoint.pt"
    saved = torch.load(checkpoint, weights_only=False)["counters"]["env_step"]
    started = (run_dir / "config.json").read_text()

    assert main(["sweep", str(yaml), "-o", str(runs)]) == 0
    # resumed from that checkpoint, not retrained from scratch (whose curve would look the same)
    assert json.loads((run_dir / "status.json").read_text())["resumed_from"] == saved > 0
    assert f"resumed {run_dir} from env step {saved}" in (run_dir / "train.log").read_text()
    assert (run_dir / "config.json").read_text() == started
    curve = pd.read_parquet(run_dir / "curve.parquet")
    assert curve["env_step"].tolist() == list(range(200, 1201, 200))
    assert json.loads((run_dir / "status.json").read_text())["status"] == "finished"
    assert (run_dir / "train.log").read_text().count("$ ") == 2  # two attempts, the second resumed


def test_gpus_are_handed_out_round_robin_one_per_worker_slot(tmp_path, monkeypatch):
    """Each worker slot pins its runs to one GPU via CUDA_VISIBLE_DEVICES and asks train for cuda.

    A sitecustomize on the workers' path records the CUDA_VISIBLE_DEVICES each worker process started with (the
    report's device label alone passed with the variable never set). Run on a machine without those GPUs, both
    runs fail with train's own CUDA message, which shows cuda was asked for.
    """
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(
        "import os\n"
        f"if {PARENT_ENV!r} in os.environ:\n"
        f"    open(os.path.join({str(probe)!r}, f'seen_{{os.getpid()}}'), 'w').write("
        "os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'))\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(probe), os.environ.get("PYTHONPATH")])))
    sweep = load_sweep(_write(tmp_path, TINY_FIXED + "envs: [gym:Pendulum-v1]\nutd: 1\nseeds: 2\n", "g.yaml"))
    report = run_sweep(sweep, tmp_path / "runs", LocalExecutor(workers=2, gpus=["5", "7"]), progress=False)
    devices = sorted(r.device for r in report.results.values())
    assert devices == ["cuda (GPU 5)", "cuda (GPU 7)"]
    assert sorted(p.read_text() for p in probe.glob("seen_*")) == ["5", "7"]  # what each worker process saw
    if not torch.cuda.is_available():
        assert all(r.status == "failed" and "CUDA is not available" in r.reason for r in report.results.values())
