"""Synthetic grid sweeps generated from known laws, to check that the fits recover them.

Every configuration (env, σ, B, η) gets a true time-to-800 in env steps,

    log D_800(σ, B, η) = log D_0(σ) + k_B (log B - log B*(σ))^2 + k_η (log η - log η*(σ))^2,

a quadratic bowl in log B, log η whose minimum moves along the hyperparameter laws
B*(σ) = b_B · σ^a_B and η*(σ) = b_η · σ^a_η (the paper's hyperparameter laws), and whose floor follows the
data-efficiency law D_0(σ) = d_min · (1 + (σ / s_0)^(-alpha)) (the form the authors report their fits in).
Each seed's learning curve on the 0-1000 scale is

    score(t) = 1000 · (1 - exp(-ln 5 · t / D_seed)),      D_seed = D_800 · exp(seed_noise · z),

which reaches 800 exactly at D_seed, plus independent Gaussian evaluation noise. A threshold J is
therefore reached at D_800 · ln(1000 / (1000 - J)) / ln 5 on the noise-free curve.

The table follows :mod:`rlscale.runs` with ``benchmark="dmc"`` so the returns are already on the
0-1000 scale (return normalisation passes them through), and also carries that value as ``score``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

_LN5 = float(np.log(5.0))


@dataclass(frozen=True)
class SyntheticLaws:
    """The true laws behind a synthetic sweep; per-env coefficients, shared exponents."""

    batch_coef: dict[str, float] = field(default_factory=lambda: {"env-a": 300.0, "env-b": 180.0})
    batch_exponent: float = -0.4
    lr_coef: dict[str, float] = field(default_factory=lambda: {"env-a": 1e-3, "env-b": 6e-4})
    lr_exponent: float = -0.3
    batch_curvature: float = 0.3
    lr_curvature: float = 0.3
    d_min: float = 2e5
    s0: float = 2.0
    alpha: float = 0.8

    @property
    def envs(self) -> list[str]:
        return list(self.batch_coef)

    def best_batch_size(self, env: str, utd: float | np.ndarray) -> np.ndarray:
        return self.batch_coef[env] * np.asarray(utd, dtype=float) ** self.batch_exponent

    def best_learning_rate(self, env: str, utd: float | np.ndarray) -> np.ndarray:
        return self.lr_coef[env] * np.asarray(utd, dtype=float) ** self.lr_exponent

    def data_efficiency(self, utd: float | np.ndarray) -> np.ndarray:
        """D_0(σ): env steps to reach 800 at the optimal hyperparameters."""
        return self.d_min * (1.0 + (np.asarray(utd, dtype=float) / self.s0) ** -self.alpha)

    def time_to_threshold(
        self, env: str, utd: float | np.ndarray, batch_size: float | np.ndarray,
        learning_rate: float | np.ndarray, threshold: float = 800.0,
    ) -> np.ndarray:
        """Noise-free env steps until the score first reaches ``threshold``."""
        db = np.log(batch_size) - np.log(self.best_batch_size(env, utd))
        dl = np.log(learning_rate) - np.log(self.best_learning_rate(env, utd))
        d800 = self.data_efficiency(utd) * np.exp(self.batch_curvature * db**2 + self.lr_curvature * dl**2)
        return d800 * np.log(1000.0 / (1000.0 - threshold)) / _LN5


def make_sweep(
    laws: SyntheticLaws | None = None,
    utds: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
    batch_sizes: Sequence[int] = (64, 128, 256, 512, 1024),
    learning_rates: Sequence[float] = (1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3, 3.2e-3),
    n_seeds: int = 8,
    n_points: int = 250,
    max_step: int = 2_500_000,
    seed_noise: float = 0.15,
    eval_noise: float = 15.0,
    critic_params: int = 150_000,
    random_state: int = 0,
) -> pd.DataFrame:
    """A run table for the full grid envs × utds × batch_sizes × learning_rates × seeds.

    Evaluations are at ``n_points`` evenly spaced env steps up to ``max_step``; configurations far
    from the optimum may never reach 800 within ``max_step`` (NaN crossings, as in real sweeps).
    """
    laws = laws or SyntheticLaws()
    rng = np.random.default_rng(random_state)
    grid = np.array(list(itertools.product(range(len(laws.envs)), utds, batch_sizes, learning_rates)), dtype=float)
    env_idx = grid[:, 0].astype(int)
    d800 = np.empty(len(grid))
    for i, env in enumerate(laws.envs):
        m = env_idx == i
        d800[m] = laws.time_to_threshold(env, grid[m, 1], grid[m, 2], grid[m, 3])
    steps = np.linspace(max_step / n_points, max_step, n_points).round().astype(np.int64)
    d_seed = d800[:, None] * np.exp(seed_noise * rng.standard_normal((len(grid), n_seeds)))
    score = 1000.0 * (1.0 - np.exp(-_LN5 * steps[None, None, :] / d_seed[:, :, None]))
    score += eval_noise * rng.standard_normal(score.shape)

    n_cfg = len(grid)
    cfg = np.repeat(np.arange(n_cfg), n_seeds * n_points)
    envs = np.asarray(laws.envs, dtype=object)
    return pd.DataFrame(
        {
            "benchmark": "dmc",
            "env": envs[env_idx[cfg]],
            "algo": "synthetic",
            "utd": grid[cfg, 1],
            "batch_size": grid[cfg, 2].astype(np.int64),
            "learning_rate": grid[cfg, 3],
            "critic_params": critic_params,
            "seed": np.tile(np.repeat(np.arange(n_seeds), n_points), n_cfg),
            "env_step": np.tile(steps, n_cfg * n_seeds),
            "return": score.ravel(),
            "score": score.ravel(),
        }
    )
