"""Importers: the authors' zip, curve CSVs, W&B histories and W&B CSV exports into run tables."""

from __future__ import annotations

import importlib.util
import io
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.importers import (
    import_csv,
    import_isaac_wandb,
    import_qscaled,
    import_wandb,
    import_wandb_csv,
    infer_benchmark,
    parse_pairs,
    read_filters,
    runs_from_wandb,
)
from rlscale.runs import REQUIRED_COLUMNS


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _curves(steps: np.ndarray, n_seeds: int, scale: float) -> np.ndarray:
    seeds = np.arange(n_seeds)
    return np.column_stack([steps, scale * steps[:, None] / steps[-1] + seeds[None, :]])


def _write_zip(path, members: dict[str, np.ndarray | bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data if isinstance(data, bytes) else _npy(data))


def _paper_like_zip(path) -> None:
    steps = np.arange(1, 6) * 5000.0
    members = {}
    grid = [("0.5", 256, "0.0001", 700.0), ("2", 128, "3e-4", 900.0), ("16", 512, "6.95e-05", 800.0)]
    for utd, bs, lr, scale in grid:
        members[f"gym_sweep/utd_{utd}/Ant-v4/episode.return/bs_{bs}_lr_{lr}.npy"] = _curves(steps, 3, scale)
        members[f"gym_sweep/utd_{utd}/Ant-v4/episode.length/bs_{bs}_lr_{lr}.npy"] = _curves(steps, 3, 1.0)
    members["__MACOSX/gym_sweep/utd_2/Ant-v4/episode.return/._bs_128_lr_3e-4.npy"] = b"resource fork"
    _write_zip(path, members)


def test_qscaled_zip_becomes_a_run_table_with_parsed_hyperparameters(tmp_path):
    _paper_like_zip(tmp_path / "gym.zip")
    runs = import_qscaled(tmp_path / "gym.zip", "episode.return")
    assert list(runs.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    configs = runs.drop_duplicates(["utd", "batch_size", "learning_rate"])
    assert sorted(zip(configs["utd"], configs["batch_size"], configs["learning_rate"], strict=True)) == [
        (0.5, 256, 1e-4), (2.0, 128, 3e-4), (16.0, 512, 6.95e-5)]
    assert set(runs["benchmark"]) == {"gym"} and set(runs["algo"]) == {"sac"}
    assert set(runs["critic_params"]) == {150_000}
    assert sorted(runs["seed"].unique()) == [0, 1, 2] and len(runs) == 3 * 5 * 3
    one = runs[(runs["utd"] == 2.0) & (runs["seed"] == 2)]
    np.testing.assert_allclose(one["return"], 900.0 * np.arange(1, 6) / 5 + 2)
    assert one["env_step"].tolist() == [5000, 10000, 15000, 20000, 25000]


def test_qscaled_returns_key_with_slash_and_overrides(tmp_path):
    _paper_like_zip(tmp_path / "gym.zip")
    runs = import_qscaled(tmp_path / "gym.zip", "episode/return", benchmark="mine", algo="td3", critic_params=2e5)
    assert set(runs["benchmark"]) == {"mine"} and set(runs["algo"]) == {"td3"}
    assert set(runs["critic_params"]) == {200_000}


def test_qscaled_says_which_return_its_curves_are(tmp_path):
    _paper_like_zip(tmp_path / "gym.zip")
    assert set(import_qscaled(tmp_path / "gym.zip", "episode.return")["metric"]) == {"train_return"}
    assert set(import_qscaled(tmp_path / "gym.zip", "episode.length")["metric"]) == {"episode.length"}
    assert set(import_qscaled(tmp_path / "gym.zip", "episode.return", metric="eval_return")["metric"]) == {
        "eval_return"}


def test_qscaled_folder_of_npy_files_reads_like_the_zip(tmp_path):
    _paper_like_zip(tmp_path / "gym.zip")
    with zipfile.ZipFile(tmp_path / "gym.zip") as zf:
        zf.extractall(tmp_path / "unpacked")
    from_zip = import_qscaled(tmp_path / "gym.zip", "episode.return")
    pd.testing.assert_frame_equal(import_qscaled(tmp_path / "unpacked", "episode.return"), from_zip)
    pd.testing.assert_frame_equal(import_qscaled(tmp_path / "unpacked" / "gym_sweep", "episode.return"), from_zip)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RlscaleError, match="holds no .npy files"):
        import_qscaled(tmp_path / "empty")
    with pytest.raises(RlscaleError, match="no such file or folder"):
        import_qscaled(tmp_path / "absent")


def test_qscaled_missing_key_lists_available_keys(tmp_path):
    _paper_like_zip(tmp_path / "gym.zip")
    with pytest.raises(RlscaleError, match=r"no metric 'returns' \(available: episode.length, episode.return\)"):
        import_qscaled(tmp_path / "gym.zip", "returns")
    with pytest.raises(RlscaleError, match="several metrics.*returns_key="):
        import_qscaled(tmp_path / "gym.zip")


def test_qscaled_dmc_zip_with_fixed_step_grid_and_nan_padded_seed(tmp_path):
    returns = np.column_stack([np.linspace(0, 900, 4), np.linspace(10, 910, 4), np.full(4, np.nan)])
    _write_zip(tmp_path / "dmc.zip", {"dmc_sweep/utd_1.0/walker-walk/None/bs_256_lr_0.0003.npy": returns})
    with pytest.warns(RlscaleWarning, match="dropped 1 seed column"):
        runs = import_qscaled(tmp_path / "dmc.zip", env_step_start=5000, env_step_freq=1000)
    assert set(runs["benchmark"]) == {"dmc"} and set(runs["algo"]) == {"bro"}
    assert set(runs["critic_params"]) == {4_920_000}
    assert sorted(runs["seed"].unique()) == [0, 1]
    assert sorted(runs["env_step"].unique()) == [5000, 6000, 7000, 8000]


def test_qscaled_grouped_layout_and_reset_suffix_of_the_authors_dmc_zips(tmp_path):
    returns = np.column_stack([np.linspace(0, 900, 4) + 0.25, np.linspace(10, 910, 4)])
    _write_zip(tmp_path / "base.zip", {"dmc_baseline/BRO_256_0.5_3e-4/cartpole-swingup.npy": returns,
                                       "dmc_baseline/BRO_512_2_1.5e-4/cartpole-swingup.npy": returns})
    runs = import_qscaled(tmp_path / "base.zip", env_step_start=5000, env_step_freq=1000)
    configs = runs.drop_duplicates(["utd", "batch_size"])
    assert sorted(zip(configs["utd"], configs["batch_size"], configs["learning_rate"], strict=True)) == [
        (0.5, 256, 3e-4), (2.0, 512, 1.5e-4)]
    assert set(runs["algo"]) == {"bro"} and set(runs["benchmark"]) == {"dmc"}
    with pytest.raises(RlscaleError, match="no metric folders; leave out returns_key="):
        import_qscaled(tmp_path / "base.zip", "returns", env_step_start=5000, env_step_freq=1000)
    with pytest.raises(RlscaleError, match="whole numbers.*env_step_start=S and env_step_freq=F"):
        import_qscaled(tmp_path / "base.zip")

    curves = np.column_stack([np.arange(1, 5) * 1000.0, returns])
    _write_zip(tmp_path / "ours.zip", {"dmc_ours/utd_0.5/cartpole-swingup/online_returns/"
                                       "bs_528_lr_0.000902_reset_True.npy": curves})
    runs = import_qscaled(tmp_path / "ours.zip", "online_returns")
    assert set(runs["batch_size"]) == {528} and set(runs["learning_rate"]) == {0.000902}
    _write_zip(tmp_path / "both.zip", {
        "d/utd_1/walker-walk/r/bs_256_lr_3e-4_reset_True.npy": curves,
        "d/utd_1/walker-walk/r/bs_256_lr_0.0003_reset_False.npy": curves})
    with pytest.raises(RlscaleError, match="hold the same configuration.*import them separately"):
        import_qscaled(tmp_path / "both.zip", "r")


@pytest.mark.parametrize(
    ("name", "array", "message"),
    [
        ("c/utd_fast/Ant-v4/ret/bs_256_lr_1e-4.npy", None, "cannot parse.*utd_fast"),
        ("c/utd_1/Ant-v4/ret/batch256_lr_1e-4.npy", None, "cannot parse.*batch256"),
        ("c/utd_1/Ant-v4/ret/bs_256_lr_abc.npy", None, "cannot parse.*lr_abc"),
        ("Ant-v4/ret/bs_256_lr_1e-4.npy", None, "laid out neither as"),
        ("c/utd_1/Ant-v4/ret/bs_256_lr_1e-4.npy", np.arange(5.0), r"shape \(5,\)"),
        ("c/utd_1/Ant-v4/ret/bs_256_lr_1e-4.npy", np.array([[0.5, 1.0], [1.0, 2.0]]), "whole numbers"),
        ("c/utd_1/Ant-v4/ret/bs_256_lr_1e-4.npy", np.array([[1.0, 1.0], [1.0, 2.0]]), "repeats env steps"),
        ("c/utd_1/Ant-v4/ret/bs_256_lr_1e-4.npy", b"not an array", "not a readable .npy"),
        ("c/utd_1/Ant-v4/ret/bs_256_lr_1e-4.npy", np.array([["1000", "1"]]), r"not numeric \(dtype <U4\)"),
    ],
)
def test_qscaled_malformed_files_are_named_in_one_line(tmp_path, name, array, message):
    good = np.column_stack([np.arange(1, 4) * 1000.0, np.ones((3, 2))])
    _write_zip(tmp_path / "bad.zip", {name: good if array is None else array})
    with pytest.raises(RlscaleError, match=message) as info:
        import_qscaled(tmp_path / "bad.zip", "ret")
    assert "\n" not in str(info.value)


def test_qscaled_several_collections_need_a_choice_and_bad_zip_fails(tmp_path):
    curve = _curves(np.arange(1, 4) * 1000.0, 2, 500.0)
    _write_zip(tmp_path / "two.zip", {"a/utd_1/Ant-v4/r/bs_256_lr_1e-4.npy": curve,
                                      "b/utd_1/Ant-v4/r/bs_256_lr_1e-4.npy": curve})
    with pytest.raises(RlscaleError, match=r"several collections \(a, b\).*collection=NAME"):
        import_qscaled(tmp_path / "two.zip", "r")
    assert len(import_qscaled(tmp_path / "two.zip", "r", collection="b")) == 6
    (tmp_path / "junk.zip").write_bytes(b"junk")
    with pytest.raises(RlscaleError, match="not a readable zip"):
        import_qscaled(tmp_path / "junk.zip", "r")
    _write_zip(tmp_path / "isaac.zip", {"a/utd_1/ShadowHand/r/bs_256_lr_1e-4.npy": curve})
    with pytest.raises(RlscaleError, match="cannot infer the benchmark of env.*ShadowHand.*benchmark=NAME"):
        import_qscaled(tmp_path / "isaac.zip", "r")
    with pytest.raises(RlscaleError, match="no default algo or critic_params for benchmark.*isaac.*algo= and "
                       "critic_params=$"):
        import_qscaled(tmp_path / "isaac.zip", "r", benchmark="isaac")
    with pytest.raises(RlscaleError, match="no default critic_params for benchmark.*isaac.*; pass critic_params=$"):
        import_qscaled(tmp_path / "isaac.zip", "r", benchmark="isaac", algo="pql")


def test_benchmark_is_inferred_from_env_ids():
    assert [infer_benchmark(e) for e in ["HalfCheetah-v4", "Humanoid-v5", "walker-walk", "ball_in_cup-catch",
                                         "humanoid_CMU-run", "ShadowHand", "cartpole"]] == [
        "gym", "gym", "dmc", "dmc", "dmc", None, None]


def test_an_own_task_named_like_a_dmc_id_is_not_taken_for_dmc(tmp_path):
    """Taken for DMC, its raw returns were read as 0-1000 scores and BRO's N used for its compute, without a word."""
    assert [infer_benchmark(e) for e in ["my-robot", "hopper-medium", "franka-reach", "walker-backflip"]] == [None] * 4
    pd.DataFrame({"env": "my-robot", "utd": 1.0, "batch_size": 256, "learning_rate": 3e-4, "seed": 0,
                  "env_step": [1000, 2000], "return": [1.0, 2.0]}).to_csv(tmp_path / "own.csv", index=False)
    with pytest.raises(RlscaleError, match=r"cannot infer the benchmark of env\(s\) my-robot .*dm_control suite task"
                       r".*pass benchmark=NAME$"):
        import_csv(tmp_path / "own.csv")
    assert set(import_csv(tmp_path / "own.csv", benchmark="gym")["benchmark"]) == {"gym"}


def test_an_import_that_fills_benchmark_algo_or_n_by_default_says_so_in_one_warning(tmp_path):
    """The paper's SAC/BRO values stood in for the user's agent without a word, changing compute and σ*(F)."""
    pd.DataFrame({"env": ["HalfCheetah-v4"] * 2 + ["walker-walk"] * 2, "utd": 1.0, "batch_size": 256,
                  "learning_rate": 3e-4, "seed": 0, "env_step": [1000, 2000] * 2, "return": [1.0, 2.0] * 2}
                 ).to_csv(tmp_path / "c.csv", index=False)
    with pytest.warns(RlscaleWarning) as caught:
        import_csv(tmp_path / "c.csv", metric="eval_return")
    assert [str(w.message) for w in caught] == [
        f"curves csv {tmp_path / 'c.csv'}: filled in benchmark dmc/gym (inferred from the env ids), algo bro and "
        "critic_params 4.92e+06 (the paper's dmc defaults), algo sac and critic_params 1.5e+05 (the paper's gym "
        "defaults): pass benchmark=/algo=/critic_params= for your own agent"]
    with pytest.warns(RlscaleWarning, match=r": filled in critic_params 1.5e\+05 \(the paper's gym defaults\): pass "
                      r"critic_params= for your own agent$"):
        import_csv(tmp_path / "c.csv", benchmark="gym", algo="td3", metric="eval_return")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs = import_csv(tmp_path / "c.csv", benchmark="mine", algo="td3", critic_params=2e5, metric="eval_return")
        runs = import_csv(tmp_path / "c.csv", constants={"benchmark": "mine", "algo": "td3", "critic_params": 2e5,
                                                         "metric": "eval_return"})
    assert set(runs["critic_params"]) == {200_000}


def test_dmc_ids_are_the_tasks_of_dm_controls_suite_listed_without_importing_it():
    import subprocess
    import sys

    from rlscale.importers import DMC_TASKS

    suite = pytest.importorskip("dm_control.suite")
    assert {(domain, task) for domain, tasks in DMC_TASKS.items() for task in tasks} == set(suite.ALL_TASKS)
    code = "import sys, rlscale.importers; print(sorted(m for m in ('dm_control', 'mujoco') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_long_csv_with_column_mapping_and_constants(tmp_path):
    frame = pd.DataFrame({"task": "Hopper-v4", "step": [1000, 2000] * 2, "episode_reward": [1.0, 2.0, 3.0, 4.0],
                          "seed": [0, 0, 1, 1], "notes": "x"})
    frame.to_csv(tmp_path / "long.csv", index=False)
    runs = import_csv(tmp_path / "long.csv", columns={"env": "task", "env_step": "step", "return": "episode_reward"},
                      constants={"utd": "2", "batch_size": 256, "learning_rate": 3e-4})
    assert "notes" not in runs.columns and set(runs["benchmark"]) == {"gym"}
    assert runs.loc[runs["seed"] == 1, "return"].tolist() == [3.0, 4.0]
    assert set(runs["utd"]) == {2.0}
    with pytest.raises(RlscaleError, match="no value for column.*utd.*constants="):
        import_csv(tmp_path / "long.csv", columns={"env": "task", "env_step": "step", "return": "episode_reward"},
                   constants={"batch_size": 256, "learning_rate": 3e-4})
    with pytest.raises(RlscaleError, match=r"no column\(s\) reward"):
        import_csv(tmp_path / "long.csv", columns={"return": "reward"})
    with pytest.raises(RlscaleError, match="unknown run-table column.*rewards in columns="):
        import_csv(tmp_path / "long.csv", columns={"rewards": "episode_reward"})


def test_a_csv_return_is_read_as_the_metric_given_and_a_defaulted_one_is_said(tmp_path):
    """Every CSV return was labelled eval_return without a word, a training return or failure rate included."""
    pd.DataFrame({"env": "Hopper-v4", "utd": 1.0, "batch_size": 256, "learning_rate": 3e-4, "seed": 0,
                  "env_step": [1000, 2000], "return": [1.0, 2.0]}).to_csv(tmp_path / "c.csv", index=False)
    given = {"benchmark": "gym", "algo": "sac", "critic_params": 1e5}
    with pytest.warns(RlscaleWarning) as caught:
        runs = import_csv(tmp_path / "c.csv", **given)
    assert [str(w.message) for w in caught] == [
        f"curves csv {tmp_path / 'c.csv'}: return read as eval_return (evaluation episodes, higher is better); pass "
        "metric=train_return for training-episode returns or metric=failure_rate for a failure rate"]
    assert set(runs["metric"]) == {"eval_return"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for metric in ("train_return", "failure_rate"):
            assert set(import_csv(tmp_path / "c.csv", metric=metric, **given)["metric"]) == {metric}
        assert set(import_csv(tmp_path / "c.csv", constants={"metric": "train_return"}, **given)["metric"]) == {
            "train_return"}
    with pytest.warns(RlscaleWarning, match=r"metric success is none of eval_return \(higher is better\), "
                      r"train_return \(higher is better\), failure_rate \(lower is better\): thresholded as higher"):
        import_csv(tmp_path / "c.csv", metric="success", **given)
    with pytest.raises(RlscaleError, match=r"metric=train_return and the table's own metric column .* disagree"):
        import_csv(tmp_path / "c.csv", metric="train_return", constants={"metric": "eval_return"}, **given)


def test_one_csv_column_mapped_to_two_fields_fills_both(tmp_path):
    frame = pd.DataFrame({"env": "Hopper-v4", "utd": 1.0, "batch_size": 256, "learning_rate": 3e-4, "seed": 0,
                          "step": [1000, 2000], "return": [1.0, 2.0]})
    frame.to_csv(tmp_path / "long.csv", index=False)
    for columns in ({"env_step": "step", "updates": "step"}, {"updates": "step", "env_step": "step"}):
        runs = import_csv(tmp_path / "long.csv", columns=columns)
        assert runs["env_step"].tolist() == runs["updates"].tolist() == [1000, 2000] and "step" not in runs


def test_wide_csv_one_column_per_seed(tmp_path):
    frame = pd.DataFrame({"env": "walker-walk", "utd": 1.0, "batch_size": 256, "learning_rate": 3e-4,
                          "env_step": [1000, 2000], "seed_0": [10.0, 20.0], "seed_1": [11.0, 21.0], "extra": 1})
    frame.to_csv(tmp_path / "wide.csv", index=False)
    runs = import_csv(tmp_path / "wide.csv", wide=True)
    assert set(runs["algo"]) == {"bro"} and sorted(runs["seed"].unique()) == [0, 1]
    assert runs.loc[runs["seed"] == 1, "return"].tolist() == [11.0, 21.0]
    renamed = frame.rename(columns={"seed_0": "r_s7", "seed_1": "r_s9"})
    renamed.to_csv(tmp_path / "wide2.csv", index=False)
    runs = import_csv(tmp_path / "wide2.csv", wide=True, seed_columns=r"r_s(?P<seed>\d+)")
    assert sorted(runs["seed"].unique()) == [7, 9]
    with pytest.raises(RlscaleError, match="named group"):
        import_csv(tmp_path / "wide2.csv", wide=True, seed_columns=r"r_s\d+")
    with pytest.raises(RlscaleError, match="no seed columns match"):
        import_csv(tmp_path / "wide2.csv", wide=True)


def _wandb_records() -> list[tuple[str, dict, pd.DataFrame]]:
    """What wandb.Api().runs() yields, reduced to (run.name, run.config, run.history(keys=[step, return]))."""
    records = []
    for i, (utd, seed) in enumerate([(1, 0), (1, 1), (4, 0)]):
        config = {"env_name": "HalfCheetah-v4", "agent": {"utd": utd, "lr": 3e-4, "batch_size": 256}, "seed": seed,
                  "_wandb": {"value": {"cli_version": "0.17"}}}
        history = pd.DataFrame({"_step": np.arange(4), "env_step": [0, 1000, np.nan, 2000],
                                "eval/return": [1.0, 2.0, np.nan, 3.0 + i]})
        records.append((f"run-{i}", config, history))
    return records


def test_wandb_histories_map_nested_config_keys():
    runs = runs_from_wandb(_wandb_records(), "eval/return", step_key="env_step",
                           config_keys={"utd": "agent.utd", "learning_rate": "agent.lr",
                                        "batch_size": "agent.batch_size"})
    assert sorted(runs["utd"].unique()) == [1.0, 4.0] and set(runs["learning_rate"]) == {3e-4}
    assert runs["env_step"].tolist()[:3] == [0, 1000, 2000]  # the row logged without a return is skipped
    assert set(runs["run_id"]) == {"run-0", "run-1", "run-2"}
    assert runs.loc[runs["run_id"] == "run-2", "return"].tolist() == [1.0, 2.0, 5.0]


def test_wandb_seedless_runs_are_numbered_and_raw_value_wrappers_unwrapped():
    records = [(name, {"env": {"value": "walker-walk"}, "utd": {"value": 2, "desc": None}, "batch_size": 256,
                       "lr": 1e-3}, hist) for name, _, hist in _wandb_records()]
    with pytest.warns(RlscaleWarning, match="skipped run.*empty"):
        runs = runs_from_wandb([*records, ("empty", {}, pd.DataFrame({"env_step": [], "eval/return": []}))],
                               "eval/return", step_key="env_step")
    assert set(runs["env"]) == {"walker-walk"} and set(runs["utd"]) == {2.0}
    assert runs.groupby("run_id")["seed"].first().to_dict() == {"run-0": 0, "run-1": 1, "run-2": 2}


def test_wandb_missing_config_key_is_a_one_line_error():
    with pytest.raises(RlscaleError, match="run 'run-0' has no config key 'agent.gamma' for utd"):
        runs_from_wandb(_wandb_records(), "eval/return", step_key="env_step", config_keys={"utd": "agent.gamma"})
    with pytest.raises(RlscaleError, match="no run logged both"), pytest.warns(RlscaleWarning, match="skipped"):
        runs_from_wandb(_wandb_records(), "return", step_key="env_step")


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed")
def test_wandb_api_without_the_package_says_how_to_install_it():
    with pytest.raises(RlscaleError, match="pip install wandb"):
        import_wandb("me/project", "eval/return")


def test_parse_pairs_and_filters():
    assert parse_pairs(["utd=agent.utd", " env = task "], "--config") == {"utd": "agent.utd", "env": "task"}
    with pytest.raises(RlscaleError, match="--config expects FIELD=VALUE"):
        parse_pairs(["utd"], "--config")
    assert read_filters('{"tags": "sweep"}') == {"tags": "sweep"}
    with pytest.raises(RlscaleError, match="filters= is not valid JSON"):
        read_filters("{tags")


_RUNS = ["HalfCheetah-v4_utd2_bs256_lr0.0003_s0", "HalfCheetah-v4_utd2_bs256_lr0.0003_s1"]
_HEADER = ",".join(['"Step"'] + [f'"{r} - eval/return{suffix}"' for r in _RUNS for suffix in ("", "__MIN", "__MAX")])
# a W&B "Download CSV" of one line plot: seed 1 logged nothing at step 5000 (blank cells)
WANDB_EXPORT = _HEADER + """
"5000","312.5","312.5","312.5","",""," "
"10000","1250.25","1250.25","1250.25","1100","1100","1100"
"15000","2600","2600","2600","2400.5","2400.5","2400.5"
"""


def test_wandb_csv_export_with_name_pattern(tmp_path):
    (tmp_path / "export.csv").write_text(WANDB_EXPORT)
    pattern = r"(?P<env>.+)_utd(?P<utd>[\d.]+)_bs(?P<batch_size>\d+)_lr(?P<learning_rate>[\d.e-]+)_s(?P<seed>\d+)"
    runs = import_wandb_csv(tmp_path / "export.csv", name_pattern=pattern)
    assert set(runs["env"]) == {"HalfCheetah-v4"} and set(runs["utd"]) == {2.0}
    assert runs.loc[runs["seed"] == 1, "env_step"].tolist() == [10000, 15000]  # blank cell = not logged
    assert runs.loc[runs["seed"] == 0, "return"].tolist() == [312.5, 1250.25, 2600.0]
    with pytest.raises(RlscaleError, match="not matched by name_pattern="):
        import_wandb_csv(tmp_path / "export.csv", name_pattern=r"(?P<env>.+)_utd(?P<utd>\d+)")


def test_wandb_csv_export_with_run_config_table_and_numbered_seeds(tmp_path):
    (tmp_path / "export.csv").write_text(WANDB_EXPORT)
    configs = pd.DataFrame({"run_name": _RUNS, "env": "Ant-v4", "utd": 0.5, "batch_size": 128})
    runs = import_wandb_csv(tmp_path / "export.csv", run_configs=configs, constants={"learning_rate": 1e-4})
    assert set(runs["env"]) == {"Ant-v4"} and sorted(runs["seed"].unique()) == [0, 1]
    with pytest.raises(RlscaleError, match="missing from run_configs="):
        import_wandb_csv(tmp_path / "export.csv", run_configs=configs.iloc[:1], constants={"learning_rate": 1e-4})
    with pytest.raises(RlscaleError, match="exactly one of name_pattern= or run_configs="):
        import_wandb_csv(tmp_path / "export.csv")
    two_metrics = pd.DataFrame({"Step": [1, 2], "a - eval/return": [1, 2], "a - train/loss": [3, 4]})
    two_metrics.to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(RlscaleError, match=r"several metrics; choose one with metric= \(eval/return, train/loss\)"):
        import_wandb_csv(tmp_path / "two.csv", name_pattern=r"(?P<env>.+)")


def _grouped_export(path, *, single_too: bool = False) -> None:
    """A W&B export of a panel that grouped runs: per group its mean and the runs' min/max envelope."""
    steps = [1000, 2000, 3000]
    frame = {"global_step": steps}
    for name, mean in (("experiment: HalfCheetah-v4_utd1", [100.0, 400.0, 900.0]),
                       ("experiment: HalfCheetah-v4_utd4", [150.0, 600.0, np.nan])):
        frame[f"{name} - eval/return"] = mean
        frame[f"{name} - eval/return__MIN"] = [m - 10 for m in mean]
        frame[f"{name} - eval/return__MAX"] = [m + 10 for m in mean]
    if single_too:
        frame["7_HalfCheetah-v4_utd1 - eval/return"] = [90.0, 380.0, 880.0]
        frame["7_HalfCheetah-v4_utd1 - eval/return__MIN"] = frame["7_HalfCheetah-v4_utd1 - eval/return"]
        frame["7_HalfCheetah-v4_utd1 - eval/return__MAX"] = frame["7_HalfCheetah-v4_utd1 - eval/return"]
    pd.DataFrame(frame).to_csv(path, index=False)


def test_wandb_csv_group_means_enter_as_one_seed_each_with_their_group_size(tmp_path):
    _grouped_export(tmp_path / "groups.csv")
    pattern = r"(?:experiment: |\d+_)?(?P<env>[^_]+)_utd(?P<utd>\d+)"
    constants = {"batch_size": 256, "learning_rate": 3e-4}
    runs = import_wandb_csv(tmp_path / "groups.csv", name_pattern=pattern, step_column="global_step",
                            constants=constants, group_size=8)
    assert runs.groupby("utd")["seed"].nunique().tolist() == [1, 1]
    assert set(runs["seeds_in_mean"]) == {8} and set(runs["metric"]) == {"eval/return"}
    assert runs.loc[runs["utd"] == 1.0, "return"].tolist() == [100.0, 400.0, 900.0]
    unknown = import_wandb_csv(tmp_path / "groups.csv", name_pattern=pattern, step_column="global_step",
                               constants={**constants, "metric": "eval_return"})
    assert unknown["seeds_in_mean"].isna().all() and set(unknown["metric"]) == {"eval_return"}
    _grouped_export(tmp_path / "mixed.csv", single_too=True)
    with pytest.raises(RlscaleError, match="both a group's mean and single runs"):
        import_wandb_csv(tmp_path / "mixed.csv", name_pattern=pattern, step_column="global_step",
                         constants=constants)


def test_wandb_csv_warns_when_the_runs_of_a_configuration_end_far_apart(tmp_path):
    frame = pd.DataFrame({"Step": np.arange(1, 11) * 1000.0,
                          "a_s0 - r": np.linspace(0, 1, 10), "a_s1 - r": [*np.linspace(0, 1, 3), *[np.nan] * 7]})
    frame.to_csv(tmp_path / "ragged.csv", index=False)
    constants = {"env": "Ant-v4", "utd": 1, "batch_size": 256, "learning_rate": 3e-4}
    with pytest.warns(RlscaleWarning, match=r"some seeds end well before the others, up to 3.3x earlier.*fewer seeds"):
        runs = import_wandb_csv(tmp_path / "ragged.csv", name_pattern=r"a_s(?P<seed>\d)", constants=constants)
    assert "seeds_in_mean" not in runs.columns


def test_a_csv_whose_seeds_end_early_is_warned_naming_the_configuration_and_how_much_earlier(tmp_path):
    """Crashed seeds left the seed mean to the survivors past their end, moving crossings without a word."""
    rows = [{"env": "Ant-v4", "utd": utd, "batch_size": 256, "learning_rate": 3e-4, "seed": seed, "env_step": step,
             "return": step / 10} for utd in (1, 2) for seed in range(4) for step in range(1000, 11_000, 1000)
            if not (utd == 2 and seed < 3 and step > 3000)]
    frame = pd.DataFrame(rows)
    frame.loc[(frame["utd"] == 1) & (frame["seed"] == 0) & (frame["env_step"] > 8000), "return"] = np.nan
    frame.to_csv(tmp_path / "crashed.csv", index=False)
    with pytest.warns(RlscaleWarning) as caught:
        import_csv(tmp_path / "crashed.csv", benchmark="gym", algo="sac", critic_params=1e5, metric="eval_return")
    assert [str(w.message) for w in caught] == [
        f"curves csv {tmp_path / 'crashed.csv'}: in 1 configuration(s) some seeds end well before the others, up to "
        "3.3x earlier (first: benchmark=gym, env=Ant-v4, algo=sac, utd=2.0, batch_size=256, learning_rate=0.0003: "
        "3 of 4 seeds end by env step 3000, the last at 10000); past a seed's end the seed mean averages fewer seeds, "
        "so thresholds first reached there are the remaining seeds' crossings"]
    history = pd.DataFrame({"_step": [1000, 2000, 3000, 4000], "r": [1.0, 2.0, 3.0, 4.0]})
    records = [(f"r{seed}", {"env": "Ant-v4", "utd": 1, "batch_size": 256, "lr": 3e-4, "seed": seed},
                history.iloc[: 4 - 2 * seed]) for seed in range(2)]
    with pytest.warns(RlscaleWarning, match=r"^wandb: in 1 configuration\(s\) .* up to 2.0x earlier .*1 of 2 seeds end "
                      r"by env step 2000, the last at 4000\)"):
        runs_from_wandb(records, "r", benchmark="gym", algo="sac", critic_params=1e5)


def _isaac_export(path, names: list[str], grouped: bool) -> None:
    steps = np.arange(1, 6) * 8192.0
    frame = {"global_step": steps}
    for i, name in enumerate(names):
        curve = np.linspace(0.99, 0.05 + 0.01 * i, 5)
        for col, values in (("_step", np.arange(5.0)), ("episodic_stats/failure_2_last", curve)):
            frame[f"{name} - {col}"] = values
            frame[f"{name} - {col}__MIN"] = values - 0.01 * grouped
            frame[f"{name} - {col}__MAX"] = values + 0.01 * grouped
    pd.DataFrame(frame).to_csv(path, index=False)


def test_isaac_exports_give_sigma_from_parallel_envs_and_a_failure_rate(tmp_path):
    _isaac_export(tmp_path / "sweep.csv", ["101_hlg_1cubes_b8192_mb2048_lr1e-4", "102_hlg_1cubes_b8192_mb2048_lr1e-4",
                                            "103_hlg_1cubes_b8192_mb2048_lr2e-4"], grouped=False)
    runs = import_isaac_wandb(tmp_path / "sweep.csv")
    assert set(runs["utd"]) == {8 / 8192} and set(runs["batch_size"]) == {2048}
    assert runs.groupby("learning_rate")["seed"].nunique().to_dict() == {1e-4: 2, 2e-4: 1}
    assert set(runs["metric"]) == {"failure_rate"} and set(runs["benchmark"]) == {"isaac"}
    assert set(runs["env"]) == {"franka_push_1cube"} and set(runs["algo"]) == {"pql"}
    assert "seeds_in_mean" not in runs.columns and runs["run_id"].str.startswith("10").all()
    assert set(runs["env_step"]) == {8192 * k for k in range(1, 6)}

    _isaac_export(tmp_path / "best.csv", ["experiment: hlg_1cubes_b1024_mb512_lr1e-4_val",
                                          "experiment: hlg_1cubes_b65536_mb8064_lr3.7e-4"], grouped=True)
    best = import_isaac_wandb(tmp_path / "best.csv", updates_per_step=4)
    assert sorted(best["utd"].unique()) == [4 / 65536, 4 / 1024] and set(best["seeds_in_mean"]) == {5}
    assert best.groupby("utd")["seed"].nunique().tolist() == [1, 1]

    _isaac_export(tmp_path / "tags.csv", ["experiment: hlg_1cubes_b1024_mb512_lr1e-4_val",
                                          "experiment: hlg_1cubes_b1024_mb512_lr1e-4_3"], grouped=True)
    with pytest.raises(RlscaleError, match="n=1024, B=512, η=0.0001 appears under several run tags"):
        import_isaac_wandb(tmp_path / "tags.csv")
    _isaac_export(tmp_path / "other.csv", ["walker_utd1"], grouped=False)
    with pytest.raises(RlscaleError, match="walker_utd1 are not the authors' 'hlg_<k>cubes_b<n>_mb<B>_lr<η>' runs"):
        import_isaac_wandb(tmp_path / "other.csv")
