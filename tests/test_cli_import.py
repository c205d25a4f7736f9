"""``rlscale import ...``: writes a valid run table, or one error line and nothing at all."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlscale.cli import main
from rlscale.runs import read_run_table


def _zip(path, n_seeds: int = 3, steps_first: bool = True) -> None:
    steps = np.arange(1, 11) * 10_000.0
    with zipfile.ZipFile(path, "w") as zf:
        for utd in ("1", "4"):
            for bs, lr in ((128, "0.001"), (256, "3e-4")):
                curves = np.linspace(0, 1000, 10)[:, None] + np.arange(n_seeds)
                curves = np.column_stack([steps, curves]) if steps_first else curves
                buf = io.BytesIO()
                np.save(buf, curves)
                zf.writestr(f"dmc_sweep/utd_{utd}/walker-walk/returns/bs_{bs}_lr_{lr}.npy", buf.getvalue())


def test_import_qscaled_writes_a_run_table(tmp_path, capsys):
    _zip(tmp_path / "sweep.zip")
    out = tmp_path / "runs.parquet"
    assert main(["import", "qscaled", str(tmp_path / "sweep.zip"), "-o", str(out), "--returns-key", "returns"]) == 0
    runs = read_run_table(out, min_seeds=3)
    assert len(runs) == 2 * 2 * 3 * 10 and set(runs["algo"]) == {"bro"}
    assert "wrote" in capsys.readouterr().out


def test_an_import_filling_the_papers_defaults_prints_one_warning_line_naming_the_flags(tmp_path, capsys):
    _zip(tmp_path / "sweep.zip")
    out = tmp_path / "runs.parquet"
    assert main(["import", "qscaled", str(tmp_path / "sweep.zip"), "-o", str(out)]) == 0
    warned = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("rlscale: warning: ")]
    assert warned == [f"rlscale: warning: qscaled zip {tmp_path / 'sweep.zip'}: filled in benchmark dmc (inferred "
                      "from the env ids), algo bro and critic_params 4.92e+06 (the paper's dmc defaults): pass "
                      "--benchmark/--algo/--critic-params for your own agent"]
    assert main(["import", "qscaled", str(tmp_path / "sweep.zip"), "-o", str(out), "--benchmark", "dmc", "--algo",
                 "bro", "--critic-params", "4.92e6"]) == 0
    assert "rlscale: warning" not in capsys.readouterr().err


def test_imported_table_feeds_fit_hparams(tmp_path):
    _zip(tmp_path / "sweep.zip")
    out = tmp_path / "runs.csv"
    assert main(["import", "qscaled", str(tmp_path / "sweep.zip"), "-o", str(out)]) == 0
    assert main(["fit", "hparams", str(out), "-o", str(tmp_path / "fit"), "--n-bootstrap", "5"]) == 0
    assert (tmp_path / "fit" / "hparams.json").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--returns-key", "episode_return"], "no metric 'episode_return' (available: returns)"),
        (["--env-step-freq", "1000"], "both --env-step-start and --env-step-freq"),
        (["--env-step-start", "0", "--env-step-freq", "0"], "--env-step-freq F needs F > 0"),
        (["--env-step-start", "-1", "--env-step-freq", "1000"], "--env-step-start S needs S >= 0"),
        (["--collection", "nope"], "no collection 'nope' (available: dmc_sweep)"),
        (["--critic-params", "-5"], "'critic_params' must be > 0"),
    ],
)
def test_import_qscaled_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, extra, message):
    _zip(tmp_path / "sweep.zip")
    out = tmp_path / "runs.parquet"
    assert main(["import", "qscaled", str(tmp_path / "sweep.zip"), "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlscale: error: ") and message in err and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "sweep.zip"]


def test_import_rejects_unknown_output_format_and_missing_source(tmp_path, capsys):
    _zip(tmp_path / "sweep.zip")
    assert main(["import", "qscaled", str(tmp_path / "sweep.zip"), "-o", str(tmp_path / "runs.txt")]) == 2
    assert "use a .parquet or .csv" in capsys.readouterr().err
    assert main(["import", "qscaled", str(tmp_path / "none.zip"), "-o", str(tmp_path / "r.parquet")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_import_reads_the_output_suffix_in_any_case_as_collect_does(tmp_path):
    _zip(tmp_path / "sweep.zip")
    for name, read in (("R.PARQUET", pd.read_parquet), ("R.Csv", pd.read_csv)):
        assert main(["import", "qscaled", str(tmp_path / "sweep.zip"), "-o", str(tmp_path / name)]) == 0
        assert len(read(tmp_path / name)) == 2 * 2 * 3 * 10


def test_import_csv_wide_with_column_mapping_and_constants(tmp_path):
    frame = pd.DataFrame({"task": "Walker2d-v4", "t": [1000, 2000, 3000], "seed0": [1.0, 2.0, 3.0],
                          "seed1": [1.5, 2.5, 3.5]})
    frame.to_csv(tmp_path / "curves.csv", index=False)
    out = tmp_path / "runs.parquet"
    code = main(["import", "csv", str(tmp_path / "curves.csv"), "-o", str(out), "--wide", "--column", "env=task",
                 "--column", "env_step=t", "--set", "utd=0.5", "--set", "batch_size=256",
                 "--set", "learning_rate=1e-3", "--algo", "td3"])
    assert code == 0
    runs = read_run_table(out)
    assert set(runs["algo"]) == {"td3"} and set(runs["utd"]) == {0.5} and len(runs) == 6


def test_import_csv_bad_mapping_is_one_line(tmp_path, capsys):
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "c.csv", index=False)
    assert main(["import", "csv", str(tmp_path / "c.csv"), "-o", str(tmp_path / "r.parquet"), "--column", "env"]) == 2
    assert "--column expects FIELD=VALUE" in capsys.readouterr().err
    assert main(["import", "csv", str(tmp_path / "c.csv"), "-o", str(tmp_path / "r.parquet"),
                 "--seed-columns", "x"]) == 2
    assert "--seed-columns needs --wide" in capsys.readouterr().err
    assert not (tmp_path / "r.parquet").exists()


def test_import_csv_without_a_step_column_names_the_missing_column_not_repeated_steps(tmp_path, capsys):
    """Without env_step, every row of a run was taken for a repeat of one step and --keep-last was named as the way
    out, which would keep one row per run."""
    pd.DataFrame({"env": "Hopper-v4", "utd": 1, "batch_size": 64, "learning_rate": 1e-4, "seed": 0,
                  "return": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "r.parquet"
    assert main(["import", "csv", str(tmp_path / "c.csv"), "-o", str(out), "--critic-params", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no value for column(s) env_step" in err and "repeat" not in err, err
    assert not out.exists()


def test_import_csv_mapping_onto_a_column_the_csv_has_is_one_line_naming_the_column(tmp_path, capsys):
    pd.DataFrame({"env": "Hopper-v4", "utd": 1, "batch_size": 64, "learning_rate": 1e-4, "seed": 0,
                  "env_step": [0, 500], "step": [0, 1000], "return": [1.0, 2.0], "eval_return": [3.0, 4.0]}
                 ).to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "r.parquet"
    for field, column in (("return", "eval_return"), ("env_step", "step")):
        assert main(["import", "csv", str(tmp_path / "c.csv"), "-o", str(out), "--column", f"{field}={column}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("rlscale: error: ") and err.count("\n") == 1, err
        assert f"mapping {field}={column} in --column would make a second '{field}' column" in err and not out.exists()
    assert main(["import", "csv", str(tmp_path / "c.csv"), "-o", str(out), "--column", "return=eval_return",
                 "--column", "train_return=return"]) == 0  # the CSV's own column mapped away: no clash
    assert read_run_table(out)["return"].tolist() == [3.0, 4.0]


def test_an_own_task_named_domain_task_needs_a_benchmark_and_its_max_return_is_then_used(tmp_path, capsys):
    """``my-robot`` was taken for DMC: its raw returns read as scores and ``--max-return my-robot=R`` ignored."""
    rows = [{"task": "my-robot", "utd": utd, "bs": bs, "lr": 3e-4, "seed": seed, "step": 1000 * i,
             "ret": 9000.0 * i / 10 * (1 + 0.1 * seed) * (1 + utd / 8)}
            for utd in (1, 4) for bs in (128, 256) for seed in range(2) for i in range(1, 11)]
    pd.DataFrame(rows).to_csv(tmp_path / "own.csv", index=False)
    out, args = tmp_path / "own.parquet", ["--column", "env=task", "--column", "env_step=step", "--column",
                                           "return=ret", "--column", "batch_size=bs", "--column", "learning_rate=lr"]
    assert main(["import", "csv", str(tmp_path / "own.csv"), "-o", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlscale: error: ") and err.count("\n") == 1 and "--benchmark NAME" in err, err
    assert not out.exists()
    assert main(["import", "csv", str(tmp_path / "own.csv"), "-o", str(out), *args, "--benchmark", "mine",
                 "--algo", "td3", "--critic-params", "2e5"]) == 0
    assert main(["fit", "hparams", str(out), "-o", str(tmp_path / "fit"), "--n-bootstrap", "5", "--thresholds",
                 "500"]) == 2
    assert "no max return for env(s) my-robot" in capsys.readouterr().err
    assert main(["fit", "hparams", str(out), "-o", str(tmp_path / "fit"), "--n-bootstrap", "5", "--thresholds",
                 "500", "--max-return", "my-robot=9125"]) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "fit" / "hparams.json").read_text())["max_return"]["grid"]["max_return"] == {
        "my-robot": 9125.0}


def test_a_max_return_for_a_dmc_task_is_one_line_saying_it_does_not_apply(tmp_path, capsys):
    _zip(tmp_path / "sweep.zip")
    out = tmp_path / "runs.parquet"
    assert main(["import", "qscaled", str(tmp_path / "sweep.zip"), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["fit", "hparams", str(out), "-o", str(tmp_path / "fit"), "--n-bootstrap", "5",
                 "--max-return", "walker-walk=500"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlscale: error: max return given for env(s) walker-walk, whose returns are used as they "
                          "are") and err.count("\n") == 1, err
    assert not (tmp_path / "fit").exists()


def test_import_csv_of_training_returns_with_metric_feeds_a_train_return_fit(tmp_path, capsys):
    """Labelled eval_return, a table of training returns made --return-kind train fail, saying it had none."""
    rows = [{"env": "walker-walk", "utd": utd, "batch_size": bs, "learning_rate": 3e-4, "seed": seed,
             "env_step": 1000 * i, "return": 100.0 * i * (1 + 0.1 * seed) * (1 + utd / 8) * (1 + bs / 1024)}
            for utd in (1, 4) for bs in (128, 256) for seed in range(2) for i in range(1, 11)]
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "runs.parquet"
    assert main(["import", "csv", str(tmp_path / "c.csv"), "-o", str(out), "--metric", "train_return", "--algo",
                 "bro", "--critic-params", "4.92e6"]) == 0
    assert "return read as" not in capsys.readouterr().err and set(read_run_table(out)["metric"]) == {"train_return"}
    assert main(["fit", "hparams", str(out), "-o", str(tmp_path / "fit"), "--n-bootstrap", "5", "--thresholds", "500",
                 "--return-kind", "train"]) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "fit" / "hparams.json").read_text())["metric"] == "train_return"
    assert main(["import", "csv", str(tmp_path / "c.csv"), "-o", str(out)]) == 0
    assert "rlscale: warning: curves csv " + str(tmp_path / "c.csv") + ": return read as eval_return" in (
        capsys.readouterr().err)


def test_import_wandb_csv_with_run_config_table(tmp_path):
    export = pd.DataFrame({"Step": [1000, 2000], "alpha - eval/return": [5.0, 9.0],
                           "alpha - eval/return__MIN": [5.0, 9.0], "beta - eval/return": [6.0, np.nan]})
    export.to_csv(tmp_path / "export.csv", index=False)
    pd.DataFrame({"run_name": ["alpha", "beta"], "env": "cheetah-run", "utd": [1, 2], "batch_size": 256,
                  "learning_rate": 3e-4}).to_csv(tmp_path / "configs.csv", index=False)
    out = tmp_path / "runs.csv"
    assert main(["import", "wandb-csv", str(tmp_path / "export.csv"), "-o", str(out),
                 "--run-configs", str(tmp_path / "configs.csv")]) == 0
    runs = read_run_table(out)
    assert runs.groupby("utd")["env_step"].apply(list).to_dict() == {1.0: [1000, 2000], 2.0: [1000]}


def test_import_wandb_api_errors_are_one_line(tmp_path, capsys):
    code = main(["import", "wandb", "me/proj", "-o", str(tmp_path / "r.parquet"), "--return-key", "r",
                 "--filters", "{bad"])
    assert code == 2 and "--filters is not valid JSON" in capsys.readouterr().err
    code = main(["import", "wandb", "me/proj", "-o", str(tmp_path / "r.parquet"), "--return-key", "r",
                 "--config", "utd"])
    assert code == 2 and "--config expects FIELD=VALUE" in capsys.readouterr().err


def test_import_qscaled_folder_with_a_named_metric(tmp_path):
    _zip(tmp_path / "sweep.zip")
    with zipfile.ZipFile(tmp_path / "sweep.zip") as zf:
        zf.extractall(tmp_path / "npy")
    out = tmp_path / "runs.parquet"
    assert main(["import", "qscaled", str(tmp_path / "npy"), "-o", str(out), "--metric", "eval_return"]) == 0
    runs = read_run_table(out)
    assert set(runs["metric"]) == {"eval_return"} and len(runs) == 2 * 2 * 3 * 10


def test_import_isaac_and_wandb_csv_group_size(tmp_path):
    steps = np.arange(1, 4) * 8192.0
    name = "experiment: hlg_1cubes_b4096_mb1280_lr1.6e-4_val - episodic_stats/failure_2_last"
    pd.DataFrame({"global_step": steps, name: [0.9, 0.5, 0.1], f"{name}__MIN": [0.8, 0.4, 0.05],
                  f"{name}__MAX": [0.95, 0.6, 0.2]}).to_csv(tmp_path / "best.csv", index=False)
    out = tmp_path / "best.parquet"
    assert main(["import", "isaac", str(tmp_path / "best.csv"), "-o", str(out), "--group-size", "4"]) == 0
    runs = read_run_table(out)
    assert set(runs["utd"]) == {8 / 4096} and set(runs["seeds_in_mean"]) == {4}
    assert set(runs["metric"]) == {"failure_rate"} and set(runs["critic_params"]) == {1}
    assert main(["import", "wandb-csv", str(tmp_path / "best.csv"), "-o", str(tmp_path / "w.csv"),
                 "--step-column", "global_step", "--name-pattern", r"experiment: hlg_1cubes_b(?P<batch_size>\d+).*",
                 "--set", "env=push", "--set", "utd=1", "--set", "learning_rate=1e-4", "--benchmark", "isaac",
                 "--algo", "pql", "--critic-params", "1", "--group-size", "5"]) == 0
    assert set(read_run_table(tmp_path / "w.csv")["seeds_in_mean"]) == {5}


def test_import_authors_reads_a_local_copy_or_says_how_to_get_the_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "copy" / "dmc").mkdir(parents=True)
    _zip(tmp_path / "copy" / "dmc" / "dmc_sweep.zip", steps_first=False)  # their DMC zips hold returns only
    monkeypatch.setenv("RLSCALE_AUTHORS_DATA", str(tmp_path / "copy"))
    out = tmp_path / "runs.parquet"
    capsys.readouterr()
    assert main(["import", "authors", "dmc_sweep", "-o", str(out)]) == 0
    assert "filled in" not in capsys.readouterr().err  # the paper's values are these files' own: no warning
    runs = read_run_table(out)
    assert set(runs["algo"]) == {"bro"} and set(runs["critic_params"]) == {4_920_000}
    assert set(runs["metric"]) == {"returns"} and runs["env_step"].min() == 5000  # their DMC step grid
    assert main(["import", "authors", "dmc_ours", "-o", str(tmp_path / "ours.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in RLSCALE_AUTHORS_DATA" in err and "dmc/dmc_ours.zip" in err
    assert main(["import", "authors", "gym_tiny", "-o", str(out)]) == 2
    assert "known: gym_sweep, gym_ours" in capsys.readouterr().err
    _zip(tmp_path / "copy" / "dmc" / "dmc_baseline.zip", steps_first=False)
    assert main(["import", "authors", "dmc_baseline", "-o", str(out)]) == 2  # recorded: steps in column 0
    assert "--env-step-start S and --env-step-freq F" in capsys.readouterr().err
    assert main(["import", "authors", "dmc_baseline", "-o", str(out), "--env-step-start", "0",
                 "--env-step-freq", "2000"]) == 0
    assert read_run_table(out)["env_step"].max() == 18_000
    assert main(["import", "authors", "igpush_best", "-o", str(out), "--returns-key", "r"]) == 2
    assert "apply to the zips, not to igpush_best" in capsys.readouterr().err
    assert main(["import", "authors", "--list"]) == 0
    listing = capsys.readouterr().out
    assert f"local copy {tmp_path / 'copy' / 'dmc' / 'dmc_sweep.zip'}" in listing and "igpush_best" in listing


def test_import_csv_off_a_terminal_logs_progress_lines_until_the_table_is_written(tmp_path, monkeypatch, capsys):
    grid = pd.read_parquet(Path(__file__).resolve().parent.parent / "data" / "runs" / "gym.parquet")
    # copies under other seeds up to 230k rows (~50 MB of CSV): about a second of reading and writing, several
    # intervals; sized by rows, so a larger embedded grid does not grow the file (200 copies of today's was 2 GB)
    n_copies = -(-230_000 // len(grid))
    copies = [grid.assign(seed=grid["seed"] + 1000 * k, run_id=grid["run_id"] + f"-{k}") for k in range(n_copies)]
    source = tmp_path / "big.csv"
    pd.concat(copies, ignore_index=True).to_csv(source, index=False)
    monkeypatch.setenv("RLSCALE_PROGRESS_EVERY", "0")  # a line every 0.01 s (the heartbeat's floor)
    assert main(["import", "csv", str(source), "-o", str(tmp_path / "runs.parquet")]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith(f"rlscale: import csv {source} (")]
    assert len(lines) >= 2 and lines[0].endswith(" s so far") and "done in " in lines[-1]
    assert (tmp_path / "runs.parquet").is_file()


def test_one_csv_per_run_in_a_folder_imports_as_one_table_with_values_read_from_the_file_names(tmp_path, capsys):
    """A logger that writes one file per run needed a script to join them (import csv read exactly one file, and said
    'no such file' of a folder)."""
    logs = tmp_path / "logs"
    for utd in (1, 2):
        for seed in (0, 1):
            folder = logs / f"utd{utd}"
            folder.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"step": [1000, 2000], "episode_return": [10.0 * utd + seed, 20.0 * utd + seed],
                          "wall": [1.0, 2.0]}).to_csv(folder / f"bs256_s{seed}.csv", index=False)
    out = tmp_path / "runs.parquet"
    flags = ["--column", "env_step=step", "--column", "return=episode_return", "--set", "env=Hopper-v4",
             "--set", "learning_rate=3e-4", "--metric", "train_return"]
    pattern = r"utd(?P<utd>\d+)/bs(?P<batch_size>\d+)_s(?P<seed>\d+)"
    assert main(["import", "csv", str(logs), "-o", str(out), "--name-pattern", pattern, *flags]) == 0
    runs = read_run_table(out)
    assert len(runs) == 8 and set(runs["utd"]) == {1.0, 2.0} and set(runs["batch_size"]) == {256}
    row = runs[(runs["utd"] == 2.0) & (runs["seed"] == 1) & (runs["env_step"] == 2000)]
    assert row["return"].tolist() == [41.0]
    capsys.readouterr()
    files = [str(logs / "utd1" / f"bs256_s{seed}.csv") for seed in (0, 1)]  # a file is named by its own name
    assert main(["import", "csv", *files, "-o", str(out), "--name-pattern", r"bs(?P<batch_size>\d+)_s(?P<seed>\d+)",
                 "--set", "utd=1", *flags]) == 0
    assert sorted(read_run_table(out)["return"]) == [10.0, 11.0, 20.0, 21.0]
    capsys.readouterr()
    (logs / "utd1" / "notes.csv").write_text("a\n1\n")
    assert main(["import", "csv", str(logs), "-o", str(tmp_path / "x.parquet"), "--name-pattern", pattern, *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run name(s) not matched by --name-pattern: utd1/notes" in err
    (tmp_path / "empty").mkdir()
    assert main(["import", "csv", str(tmp_path / "empty"), "-o", str(tmp_path / "x.parquet")]) == 2
    assert "a folder with no .csv file below it" in capsys.readouterr().err


@pytest.mark.parametrize(("seeds", "expected", "note"), [
    (["seed_3", "seed_7"], [3, 7], "seeds read from the numbers ending their names (seed_3 -> 3)"),
    (["alpha", "beta"], [0, 1], "seeds are names (alpha, ...) that no ending number tells apart: numbered 0, 1"),
    (["run1", "other1"], [0, 1], "seeds are names (run1, ...) that no ending number tells apart"),
])
def test_seeds_written_as_names_are_numbered_and_said(tmp_path, capsys, seeds, expected, note):
    """A long table whose seeds are names was refused ('non-numeric values'), with no option to map them."""
    pd.DataFrame({"env": "Hopper-v4", "utd": 1, "batch_size": 64, "learning_rate": 1e-4, "seed": seeds,
                  "env_step": 1000, "return": [1.0, 2.0]}).to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "r.parquet"
    assert main(["import", "csv", str(tmp_path / "c.csv"), "-o", str(out), "--metric", "eval_return"]) == 0
    assert note in capsys.readouterr().err
    assert sorted(read_run_table(out)["seed"]) == expected


def test_a_resumed_loggers_repeated_steps_keep_the_last_row_when_asked(tmp_path, capsys):
    frame = pd.DataFrame({"env": "Hopper-v4", "utd": 1, "batch_size": 64, "learning_rate": 1e-4, "seed": 0,
                          "env_step": [1000, 2000, 3000, 2000, 3000, 4000], "return": [1.0, 2.0, 3.0, 2.5, 3.5, 4.5]})
    frame.to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "r.parquet"
    args = ["import", "csv", str(tmp_path / "c.csv"), "-o", str(out), "--metric", "eval_return"]
    assert main(args) == 2
    assert capsys.readouterr().err == (  # the way out named, as the command line spells it
        f"rlscale: error: curves csv {tmp_path / 'c.csv'}: 2 row(s) repeat an env step of their run (first: env "
        "step 2000), as a logger resumed from a checkpoint writes; --keep-last keeps the last of each\n"
    ) and not out.exists()
    from rlscale.errors import RlscaleError
    from rlscale.importers import import_csv

    with pytest.raises(RlscaleError, match="; keep_last=True keeps the last of each$"):  # and as Python spells it
        import_csv(tmp_path / "c.csv", metric="eval_return")
    assert main([*args, "--keep-last"]) == 0
    assert "2 row(s) repeat an env step of their run (a resumed logger); the last of each is kept" in (
        capsys.readouterr().err)
    assert read_run_table(out)["return"].tolist() == [1.0, 2.5, 3.5, 4.5]
