"""The importers on the authors' own published runs (skipped where the folder is absent, as in a user's clone)."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression

from rlscale.authors import AUTHORS_FILES, sha256_of
from rlscale.importers import import_isaac_wandb, import_qscaled
from rlscale.laws.thresholds import ThresholdCrossings

GYM_LEARNING_RATES = {"Ant-v4": {5e-5, 1e-4, 2e-4}, "Humanoid-v4": {5e-5, 1e-4, 2e-4},
                      "HalfCheetah-v4": {5e-4, 1e-3, 2e-3}, "Walker2d-v4": {2e-4, 5e-4, 1e-3}}


def test_the_copy_matches_every_recorded_checksum(authors_data):
    listed = dict(line.split()[::-1] for line in (authors_data / "SHA256SUMS").read_text().splitlines())
    for entry in AUTHORS_FILES.values():
        path = authors_data / entry.relpath
        if entry.sha256 is not None and path.is_file():
            assert sha256_of(path) == entry.sha256 == listed[entry.relpath]


def test_gym_grid_zip_holds_the_papers_grid_of_training_returns(authors_data):
    runs = import_qscaled(authors_data / "gym" / "gym_sweep.zip")
    assert set(runs["metric"]) == {"train_return"} and set(runs["benchmark"]) == {"gym"}
    configs = runs.groupby(["env", "utd", "batch_size", "learning_rate"])["seed"].nunique()
    assert len(configs) == 144 and configs.value_counts().to_dict() == {8: 141, 7: 3}
    for env, grid in configs.groupby(level="env"):
        index = grid.index.to_frame()
        assert set(index["utd"]) == {1.0, 2.0, 4.0, 8.0} and set(index["batch_size"]) == {128, 256, 512}
        assert set(index["learning_rate"]) == GYM_LEARNING_RATES[env]
    last = runs.groupby("env")["env_step"].max()
    assert last.to_dict() == {"Ant-v4": 999_001, "HalfCheetah-v4": 500_000, "Humanoid-v4": 999_001,
                              "Walker2d-v4": 499_001}


def test_gym_fitted_and_baseline_zips_cover_sigma_from_a_quarter_to_sixteen(authors_data):
    ours = import_qscaled(authors_data / "gym" / "gym_ours.zip")
    base = import_qscaled(authors_data / "gym" / "gym_baseline_utd2.zip")
    for runs in (ours, base):
        per_env = runs.groupby("env")["utd"].unique()
        assert all(sorted(u) == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0] for u in per_env)
        assert runs.groupby(["env", "utd"])[["batch_size", "learning_rate"]].nunique().max().max() == 1
    # the baseline reuses the grid's best (B, η) at σ = 2 at every σ (the paper's Gym baseline)
    hparams = base.groupby("env")[["learning_rate", "batch_size"]].agg(set)
    assert hparams.map(lambda s: s.pop()).to_dict("index") == {
        "Ant-v4": {"learning_rate": 1e-4, "batch_size": 256},
        "HalfCheetah-v4": {"learning_rate": 2e-3, "batch_size": 512},
        "Humanoid-v4": {"learning_rate": 2e-4, "batch_size": 256},
        "Walker2d-v4": {"learning_rate": 5e-4, "batch_size": 128}}
    # below σ = 1 the runs are longer (×1/σ, as the paper says)
    ant = ours[ours["env"] == "Ant-v4"].groupby("utd")["env_step"].max()
    assert ant[0.25] > 3.9e6 and ant[1.0] < 1.0e6 < ant[0.5]


def test_an_unpacked_folder_reads_exactly_like_the_zip(authors_data, tmp_path):
    with zipfile.ZipFile(authors_data / "gym" / "gym_baseline_utd2.zip") as zf:
        zf.extractall(tmp_path)
    pd.testing.assert_frame_equal(import_qscaled(tmp_path / "gym_baseline_utd2"),
                                  import_qscaled(authors_data / "gym" / "gym_baseline_utd2.zip"))


def test_isaac_best_export_is_one_group_mean_per_n_and_equals_the_mean_of_the_sweeps_runs(authors_data):
    best = import_isaac_wandb(authors_data / "isaac" / "igpush_best.csv")
    n = sorted(8 / best["utd"].unique())
    assert n == [1024.0, 2048.0, 4096.0, 8192.0, 16384.0, 32768.0, 65536.0]
    assert set(best["seeds_in_mean"]) == {5} and best.groupby("utd")["seed"].nunique().eq(1).all()
    assert set(best["metric"]) == {"failure_rate"} and best["return"].between(0, 1).all()
    sweep = import_isaac_wandb(authors_data / "isaac" / "igpush_b16384.csv")
    runs = sweep[sweep["learning_rate"] == 2e-4]
    assert runs["seed"].nunique() == 5
    group = best[best["utd"] == 8 / 16384].set_index("env_step")["return"]
    np.testing.assert_allclose(group, runs.groupby("env_step")["return"].mean().loc[group.index], rtol=0, atol=1e-12)


def test_isaac_sweeps_hold_single_runs_of_five_seeds(authors_data):
    for name in ("igpush_b8192", "igpush_b16384", "igpush_w2048_b512", "igpush_w2048_b1024", "igpush_w2048_b2048",
                 "igpush_w2048_b8192"):
        runs = import_isaac_wandb(authors_data / AUTHORS_FILES[name].relpath)
        assert "seeds_in_mean" not in runs.columns and runs["run_id"].str.match(r"\d+_hlg_").all()
        assert runs.groupby(["utd", "batch_size", "learning_rate"])["seed"].nunique().eq(5).all(), name


def test_failure_rate_crossings_on_the_isaac_runs_follow_the_non_increasing_fit(authors_data):
    best = import_isaac_wandb(authors_data / "isaac" / "igpush_best.csv")
    levels = [0.2, 0.1, 0.05]
    tc = ThresholdCrossings(levels, n_bootstrap=1, value_column="return").fit(best)
    assert tc.higher_is_better_ is False and np.isfinite(tc.crossing_).all()
    for i, cfg in tc.configs_.iterrows():
        curve = best[best["utd"] == cfg["utd"]].sort_values("env_step")
        fit = isotonic_regression(curve["return"].to_numpy(), increasing=False).x
        expected = [curve["env_step"].to_numpy()[np.argmax(fit <= j)] for j in levels]
        np.testing.assert_array_equal(tc.crossing_[i], expected)
    assert (np.diff(tc.crossing_, axis=1) > 0).all()  # a lower failure rate takes longer
