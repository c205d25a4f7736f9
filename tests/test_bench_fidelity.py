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


def _curves(seeds: range, delay: int = 0, rng_seed: int = 0, *, centre: float = 18000, width: float = 2500,
            utd: float = 1.0) -> pd.DataFrame:
    """HalfCheetah-like curves: random level -280 until 5k steps, a rise centred at ``centre`` (+ delay) to 3000."""
    rng = np.random.default_rng(rng_seed)
    steps = np.arange(1000, 30001, 1000)
    rows = []
    for s in seeds:
        shift = rng.normal(0, 1500)
        level = -280 + 3280 / (1 + np.exp(-(steps - centre - delay - shift) / width))
        level[steps <= 5000] = -280
        for t, r in zip(steps, level + rng.normal(0, 60, steps.size), strict=True):
            rows.append({"benchmark": "gym", "env": "HalfCheetah-v4", "algo": "sac", "utd": utd, "batch_size": 256,
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
    assert len(ratios) == len(replica["crossings"]) == len(bench.FRACTIONS)  # one crossing per J, none left out
    assert all(r is not None and r > 1.2 for r in ratios)  # crossing 6k steps later than the reference's ~18k
    assert all(0.8 < c["ratio"] < 1.2 for c in replica["crossings"])
    seeds_slow, seeds_same = slow["seed_means"], replica["seed_means"]
    assert len(seeds_slow["ours"]) == 3 and len(seeds_slow["authors"]) == 8
    assert seeds_slow["difference_upper"] < 0 and seeds_slow["mannwhitney_p"] < 0.05  # every seed of ours is late
    assert seeds_same["difference_lower"] < 0 < seeds_same["difference_upper"]
    assert "| HalfCheetah-v4 | 1 | train_return |" in bench.to_markdown({**late, "runs": "r", "load_average": [0, 0, 0],
                                                                          "cpus": 2})


def _best_first(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its seeds renumbered from the highest mean return over the run down, as the authors'
    collector lists the runs it keeps."""
    order = table.groupby("seed")["return"].mean().sort_values(ascending=False).index
    return table.assign(seed=table["seed"].map({old: new for new, old in enumerate(order)}))


def test_the_authors_selection_is_told_by_the_order_of_their_seeds(bench):
    theirs = _curves(range(8))
    wide = theirs.pivot_table(index="env_step", columns="seed", values="return")
    assert not bench.authors_selected(wide)["descending"]  # the fixture's seeds are in drawing order
    selected = bench.authors_selected(_best_first(theirs).pivot_table(index="env_step", columns="seed",
                                                                      values="return"))
    assert selected["descending"] and selected["seeds"] == 8 and selected["chance"] == pytest.approx(1 / 40320)
    report = bench.compare(_ours(theirs, 0), _best_first(theirs), skip_steps=5000)
    assert report["configs"][0]["authors_selected"]["descending"]
    text = bench.to_markdown({**report, "runs": "r", "load_average": [0, 0, 0], "cpus": 2})
    assert "yes: best 8 of more runs (1 in 40,320) | all 3 |" in text


def test_keep_best_compares_only_our_seeds_with_the_highest_mean_training_return(bench):
    theirs = _curves(range(8))
    ours = _ours(theirs, 0)  # seeds 0, 1, 2 at -20, 0, +20 around the reference's median
    kept = bench.best_seeds(ours, 2, "train_return")
    assert sorted(kept["seed"].unique()) == [1, 2]
    row = bench.compare(ours, theirs, skip_steps=5000, keep_best=2)["configs"][0]
    assert row["n_seeds"] == 2 and row["ours_selected"] == {"kept": 2, "of": 3, "by": "train_return"}
    assert row["seed_means"]["difference"] > bench.compare(ours, theirs, skip_steps=5000)["configs"][0][
        "seed_means"]["difference"]


def test_the_spread_of_seed_means_is_compared(bench):
    theirs = _curves(range(16))  # seeds rise about 1500 env steps apart (SD of the rise)
    one = _ours(theirs, 0).query("seed == 1")  # on the reference's median curve
    narrow = pd.concat([one.assign(seed=s, train_return=one["train_return"] + 10.0 * s,
                                   **{"return": one["return"] + 10.0 * s}) for s in range(8)], ignore_index=True)
    like = _curves(range(16), rng_seed=1)  # drawn as the reference's were
    tight = bench.compare(narrow, theirs, skip_steps=5000)["configs"][0]["seed_means"]
    same = bench.compare(like.assign(train_return=like["return"]), theirs, skip_steps=5000)["configs"][0]["seed_means"]
    assert tight["sd_ours"] == pytest.approx(np.std(10.0 * np.arange(8), ddof=1))
    assert tight["sd_authors"] > 5 * tight["sd_ours"] and tight["spread_p"] < 0.05
    assert same["spread_p"] > 0.05


def _two_sigmas(centres: tuple[float, float], widths: tuple[float, float], seeds: range, rng_seed: int) -> pd.DataFrame:
    table = pd.concat([_curves(seeds, 0, rng_seed + k, centre=c, width=w, utd=u)
                       for k, (u, c, w) in enumerate(zip((1.0, 2.0), centres, widths, strict=True))], ignore_index=True)
    return table.assign(train_return=table["return"], wall_s=1.0)


def test_the_sigma_effect_is_one_for_a_lag_that_stretches_every_sigma_alike_and_above_one_without_it(bench):
    theirs = _two_sigmas((18000, 13000), (2500, 2000), range(8), 0)  # sigma 2 reaches every J ~0.75x as late
    stretched = _two_sigmas((18000 * 1.25, 13000 * 1.25), (2500 * 1.25, 2000 * 1.25), range(6), 10)  # late alike
    flat = _two_sigmas((18000, 18000), (2500, 2500), range(6), 10)  # sigma 2 no faster than sigma 1
    lagged = bench.compare(stretched, theirs, skip_steps=5000)
    effect = [e for e in lagged["sigma_effect"] if e["kind"] == "train_return"]
    assert [(e["sigma_0"], e["sigma"], e["fraction"]) for e in effect] == [(1.0, 2.0, f) for f in bench.FRACTIONS]
    assert [len(r["crossings"]) for r in lagged["configs"]] == [len(bench.FRACTIONS)] * len(lagged["configs"])
    assert all(c["ratio"] > 1.1 for r in lagged["configs"] for c in r["crossings"])  # ours are late at each sigma
    for e in effect:
        assert e["authors"] < 0.9 and e["ours"] < 0.9 and e["reached_frac"] == 1.0
        assert e["lo"] < 1.0 < e["hi"]  # ... but sigma shortens our data need as it shortens theirs
    missing = [e for e in bench.compare(flat, theirs, skip_steps=5000)["sigma_effect"] if e["kind"] == "train_return"]
    assert len(missing) == len(bench.FRACTIONS) and all(e["ours"] == pytest.approx(1.0, abs=0.15) for e in missing)
    assert all(e["lo"] > 1.0 for e in missing)
    text = bench.to_markdown({**lagged, "runs": "r", "load_average": [0, 0, 0], "cpus": 2})
    assert "| HalfCheetah-v4 | 2 / 1 | train_return | 0.5 |" in text


def test_runs_logged_more_sparsely_than_the_authors_are_not_read_as_late(bench):
    theirs = _curves(range(8))
    sparse = theirs[theirs["env_step"] % 5000 == 0]  # the authors' own seeds, a row every 5k steps instead of 1k
    report = bench.compare(sparse.assign(train_return=sparse["return"], wall_s=1.0), theirs, skip_steps=5000)
    crossings = report["configs"][0]["crossings"]
    assert len(crossings) == len(bench.FRACTIONS)
    assert all(c["ratio"] == pytest.approx(1.0) for c in crossings)
    assert all(c["ours"]["crossing"] % 5000 == 0 for c in crossings)
