"""The fidelity benchmark's statistics (benchmarks/bench_fidelity.py): an agent on the reference's median curve
scores as one, a late agent is reported late, on either of our returns."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_fidelity", ROOT / "benchmarks" / "bench_fidelity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _curves(seeds: range, delay: int = 0, rng_seed: int = 0) -> pd.DataFrame:
    """HalfCheetah-like curves: random level -280 until 5k steps, a rise centred at 18k (+ delay) to 3000."""
    rng = np.random.default_rng(rng_seed)
    steps = np.arange(1000, 30001, 1000)
    rows = []
    for s in seeds:
        shift = rng.normal(0, 1500)
        level = -280 + 3280 / (1 + np.exp(-(steps - 18000 - delay - shift) / 2500))
        level[steps <= 5000] = -280
        for t, r in zip(steps, level + rng.normal(0, 60, steps.size), strict=True):
            rows.append({"benchmark": "gym", "env": "HalfCheetah-v4", "algo": "sac", "utd": 1.0, "batch_size": 256,
                         "learning_rate": 1e-3, "critic_params": 144386, "seed": s, "env_step": int(t),
                         "return": float(r)})
    return pd.DataFrame(rows)


def _ours(theirs: pd.DataFrame, delay: int) -> pd.DataFrame:
    """Three seeds around the reference's median curve (the middle one on it), ``delay`` env steps late."""
    median = theirs.groupby("env_step")["return"].median()
    late = np.interp(median.index - delay, median.index, median.to_numpy(), left=median.iloc[0])
    one = theirs[theirs["seed"] == 0].sort_values("env_step").reset_index(drop=True)
    table = pd.concat([one.assign(seed=s, **{"return": late + 20.0 * (s - 1)}) for s in range(3)], ignore_index=True)
    return table.assign(train_return=table["return"], wall_s=1.0)


def test_a_replica_scores_like_the_reference_and_a_late_agent_is_late(bench):
    theirs = _curves(range(8))
    same = bench.compare(_ours(theirs, 0), theirs, skip_steps=5000)
    late = bench.compare(_ours(theirs, 6000), theirs, skip_steps=5000)
    assert same["kinds"] == ["train_return", "return"]
    for report in (same, late):
        assert [r["kind"] for r in report["configs"]] == ["train_return", "return"]
        assert report["configs"][0]["primary"] and report["configs"][0]["n_seeds_authors"] == 8
    replica, slow = same["configs"][0], late["configs"][0]
    assert replica["median_in_iqr"] == 1.0 and replica["median_percentile"] == pytest.approx(50, abs=7)
    assert slow["median_in_iqr"] < 0.5
    assert slow["mean_gap_return"] < -500 < replica["mean_gap_return"] < 500
    ratios = [c["ratio"] for c in slow["crossings"]]
    assert all(r is not None and r > 1.2 for r in ratios)  # crossing 6k steps later than the reference's ~18k
    assert all(0.8 < c["ratio"] < 1.2 for c in replica["crossings"])
    seeds_slow, seeds_same = slow["seed_means"], replica["seed_means"]
    assert len(seeds_slow["ours"]) == 3 and len(seeds_slow["authors"]) == 8
    assert seeds_slow["difference_upper"] < 0 and seeds_slow["mannwhitney_p"] < 0.05  # every seed of ours is late
    assert seeds_same["difference_lower"] < 0 < seeds_same["difference_upper"]
    assert "| HalfCheetah-v4 | 1 | train_return |" in bench.to_markdown({**late, "runs": "r", "load_average": [0, 0, 0],
                                                                          "cpus": 2})
