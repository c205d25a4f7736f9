import numpy as np
import pandas as pd
import pytest

from rlscale.errors import RunTableError
from rlscale.runs import REQUIRED_COLUMNS, read_run_table, validate_run_table, write_run_table


def test_valid_table_gets_canonical_dtypes_and_order(run_table):
    shuffled = run_table.sample(frac=1.0, random_state=0)
    out = validate_run_table(shuffled)
    assert list(out.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    assert out["batch_size"].dtype == np.int64 and out["utd"].dtype == np.float64
    assert out["env"].dtype == "string"
    assert out.groupby(["utd", "batch_size", "seed"])["env_step"].apply(lambda s: s.is_monotonic_increasing).all()


def test_missing_column_is_named(run_table):
    with pytest.raises(RunTableError, match="missing required column.*learning_rate"):
        validate_run_table(run_table.drop(columns=["learning_rate"]))


def test_non_numeric_value_names_the_rows(run_table):
    run_table["utd"] = run_table["utd"].astype(object)
    run_table.loc[3, "utd"] = "fast"
    with pytest.raises(RunTableError, match=r"'utd' has non-numeric values \(row 3\)"):
        validate_run_table(run_table)


def test_fractional_batch_size_is_rejected(run_table):
    run_table["batch_size"] = run_table["batch_size"].astype(float)
    run_table.loc[7, "batch_size"] = 128.5
    with pytest.raises(RunTableError, match=r"'batch_size' must hold whole numbers \(row 7\)"):
        validate_run_table(run_table)


def test_negative_env_step_is_rejected(run_table):
    run_table.loc[[2, 9], "env_step"] = -5
    with pytest.raises(RunTableError, match=r"'env_step' must be >= 0 \(rows 2, 9\)"):
        validate_run_table(run_table)


def test_utd_below_one_is_valid_but_zero_is_not(run_table):
    run_table.loc[run_table["utd"] == 1.0, "utd"] = 0.25
    assert set(validate_run_table(run_table)["utd"]) == {0.25, 4.0}
    run_table.loc[0, "utd"] = 0.0
    with pytest.raises(RunTableError, match="'utd' must be > 0"):
        validate_run_table(run_table)


def test_duplicate_rows_are_named(run_table):
    doubled = pd.concat([run_table, run_table.iloc[[4]]], ignore_index=True)
    with pytest.raises(RunTableError, match=rf"duplicate rows .*rows 4, {len(run_table)}\)"):
        validate_run_table(doubled)


def test_duplicated_column_names_are_one_error_naming_them(run_table):
    twice = pd.concat([run_table, run_table[["return", "utd", "utd"]]], axis=1)
    with pytest.raises(RunTableError, match=r"^run table: duplicated column name\(s\) return, utd; keep one of each$"):
        validate_run_table(twice)


def test_all_nan_run_is_rejected_but_single_nan_is_kept(run_table):
    run_table.loc[0, "return"] = np.nan
    assert validate_run_table(run_table)["return"].isna().sum() == 1
    run = (run_table["utd"] == 4.0) & (run_table["batch_size"] == 256) & (run_table["seed"] == 1)
    run_table.loc[run, "return"] = np.nan
    with pytest.raises(RunTableError, match=r"run \(.*utd=4.0, batch_size=256.*seed=1\) has only NaN returns"):
        validate_run_table(run_table)


def test_infinite_return_is_rejected(run_table):
    run_table.loc[5, "return"] = np.inf
    with pytest.raises(RunTableError, match=r"infinite values \(row 5\)"):
        validate_run_table(run_table)


def test_single_seed_rejected_when_bootstrap_needs_several(run_table):
    one_seed = run_table[run_table["seed"] == 0]
    validate_run_table(one_seed)
    with pytest.raises(RunTableError, match="4 configuration.*fewer than 2 seeds.*1 seed") as raised:
        validate_run_table(one_seed, min_seeds=2)
    assert "mixes" not in str(raised.value)


def test_a_run_with_another_agents_label_is_named_as_the_likely_cause_of_a_lone_seed(run_table):
    first = (run_table["utd"] == 1.0) & (run_table["batch_size"] == 128) & (run_table["seed"] == 0)  # one run
    mislabelled = run_table.assign(algo=run_table["algo"].astype(str).where(~first, "bro"))
    with pytest.raises(RunTableError, match=r"1 configuration\(s\) have fewer than 2 seeds.*; the table mixes algos "
                                            r"bro, sac: a run labelled with another's is a configuration of its own$"):
        validate_run_table(mislabelled, min_seeds=2)


def test_empty_table_and_non_dataframe_are_rejected(run_table):
    with pytest.raises(RunTableError, match="no rows"):
        validate_run_table(run_table.iloc[:0])
    with pytest.raises(RunTableError, match="expected a pandas DataFrame"):
        validate_run_table(run_table.to_dict())


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip_through_file(run_table, tmp_path, suffix):
    run_table["wall_s"] = 1.5
    path = tmp_path / f"runs{suffix}"
    written = write_run_table(run_table, path)
    back = read_run_table(path)
    pd.testing.assert_frame_equal(back, written)


def test_invalid_table_is_not_written(run_table, tmp_path):
    path = tmp_path / "runs.parquet"
    with pytest.raises(RunTableError):
        write_run_table(run_table.drop(columns=["seed"]), path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_unreadable_and_missing_files_give_one_line(tmp_path):
    bad = tmp_path / "runs.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(RunTableError, match="cannot be read"):
        read_run_table(bad)
    with pytest.raises(RunTableError, match="no such file"):
        read_run_table(tmp_path / "absent.csv")
