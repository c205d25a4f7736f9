"""Shared fixtures: small run tables in the schema of :mod:`rlscale.runs`."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest


def make_run_table(n_seeds: int = 3, n_points: int = 5) -> pd.DataFrame:
    """A small, valid run table: 2 utds x 2 batch sizes x 1 learning rate x ``n_seeds`` seeds."""
    rows = []
    for utd, bs, seed in itertools.product([1.0, 4.0], [128, 256], range(n_seeds)):
        for i in range(n_points):
            rows.append(
                {
                    "benchmark": "gym", "env": "HalfCheetah-v4", "algo": "sac", "utd": utd,
                    "batch_size": bs, "learning_rate": 3e-4, "critic_params": 150_000, "seed": seed,
                    "env_step": 1000 * (i + 1), "return": float(100 * i + seed),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def run_table() -> pd.DataFrame:
    return make_run_table()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
