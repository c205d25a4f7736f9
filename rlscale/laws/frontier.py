"""Compute, the data-compute Pareto frontier and the budget-optimal UTD ratio (METHOD 1, 2.8-2.10).

For each threshold J with a fitted data-efficiency law D_J(σ) (:mod:`rlscale.laws.efficiency`):

- compute C_J(σ) = 10 · N · B(σ) · σ · D_J(σ) FLOPs (σ · D_J gradient steps of batch B(σ) through a
  critic of N parameters; B(σ) is the batch-size law averaged over the benchmark's tasks,
  :class:`BatchSizeLaw`);
- the frontier is the curve (C_J(σ), D_J(σ)) for σ on a log grid;
- the budget F = C + δ · D (δ = FLOPs one env step costs) is minimised over σ continuously
  (bounded scalar minimisation in log σ around the best grid point), giving σ*_J, D*_J, C*_J, F*_J;
- σ*, D* and C* are fitted as power laws of F* on all but the top ``holdout`` thresholds and the
  held-out ones are predicted: relative error |pred − actual| / actual per point and the mean.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize

from rlscale.errors import RlscaleError
from rlscale.laws.efficiency import ALL, DataEfficiency
from rlscale.laws.powerlaw import PowerLaw
from rlscale.laws.thresholds import ThresholdCrossings
from rlscale.runs import CONFIG_COLUMNS

QUANTITIES = ("utd", "data", "compute")


def select_configs(crossings: ThresholdCrossings) -> np.ndarray:
    """Index (into ``crossings.configs_``) of one configuration per (benchmark, env, algo, utd).

    With a raw grid several (B, η) share an (env, σ); we keep the one that reaches the highest
    threshold earliest, breaking ties (e.g. all never reach it) by the next lower threshold and so
    on ("never" counts as infinitely late). With fitted-hyperparameter runs there is one
    configuration per (env, σ) and this keeps it.
    """
    order = np.argsort(crossings.thresholds_)[::-1]
    late = np.where(np.isnan(crossings.crossing_), np.inf, crossings.crossing_)[:, order]
    keys = ["benchmark", "env", "algo", "utd"]
    frame = crossings.configs_.loc[:, keys].reset_index(drop=True)
    by_threshold = [f"_j{k}" for k in range(late.shape[1])]
    frame[by_threshold] = late
    frame = frame.sort_values([*keys, *by_threshold], kind="stable")
    return np.sort(frame.drop_duplicates(keys).index.to_numpy())


def crossings_table(
    crossings: ThresholdCrossings, index: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tidy (env, utd, threshold, crossing) tables for :class:`DataEfficiency`: point estimates and
    the bootstrap samples (with a ``sample`` column), for the configurations in ``index``
    (default: :func:`select_configs`)."""
    index = select_configs(crossings) if index is None else np.asarray(index)
    cfg = crossings.configs_.iloc[index].reset_index(drop=True)
    thr = crossings.thresholds_
    n_cfg, n_thr, n_boot = len(index), thr.size, crossings.bootstrap_.shape[-1]
    points = pd.DataFrame({
        "env": np.repeat(cfg["env"].astype(str).to_numpy(), n_thr),
        "utd": np.repeat(cfg["utd"].to_numpy(dtype=float), n_thr),
        "threshold": np.tile(thr, n_cfg),
        "crossing": crossings.crossing_[index].ravel(),
    })
    boot = pd.DataFrame({
        "env": np.repeat(cfg["env"].astype(str).to_numpy(), n_thr * n_boot),
        "utd": np.repeat(cfg["utd"].to_numpy(dtype=float), n_thr * n_boot),
        "threshold": np.tile(np.repeat(thr, n_boot), n_cfg),
        "sample": np.tile(np.arange(n_boot), n_cfg * n_thr),
        "crossing": crossings.bootstrap_[index].ravel(),
    })
    return points, boot


@dataclass(frozen=True)
class BatchSizeLaw:
    """B(σ) for compute: the mean over tasks of B*_task(σ) = coef_task · σ^exponent_task (METHOD 1)."""

    terms: dict[str, tuple[float, float]]
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __call__(self, utd: np.ndarray | float) -> np.ndarray:
        utd = np.asarray(utd, dtype=float)
        return np.mean([c * utd**e for c, e in self.terms.values()], axis=0)

    @classmethod
    def from_hparams(
        cls, hparams: dict | str | os.PathLike, envs: Sequence[str] | None = None, variant: str = "shared"
    ) -> BatchSizeLaw:
        """From the ``batch_size`` laws of a ``hparams.json`` written by ``rlscale fit hparams``."""
        if not isinstance(hparams, dict):
            path = Path(hparams)
            try:
                hparams = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise RlscaleError(f"--hparams {path}: cannot read it as JSON ({exc})") from exc
            source = str(path)
        else:
            source = "hparams"
        try:
            laws = hparams["batch_size"][variant]
            terms = {str(env): (float(v["coef"]), float(v["exponent"])) for env, v in laws.items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise RlscaleError(f"{source}: no batch_size/{variant} laws with coef and exponent ({exc})") from exc
        if envs is not None:
            missing = sorted(set(envs) - set(terms))
            if missing:
                raise RlscaleError(f"{source}: no batch-size law for env(s) {', '.join(missing)}")
            terms = {env: terms[env] for env in envs}
        if not terms or not all(np.isfinite(c) and c > 0 and np.isfinite(e) for c, e in terms.values()):
            raise RlscaleError(f"{source}: batch-size laws need positive finite coef and finite exponent")
        return cls(terms, source=f"{source} ({variant})")

    @classmethod
    def from_runs(cls, configs: pd.DataFrame) -> BatchSizeLaw:
        """Fit B = coef_env · σ^exponent (shared slope) to the batch sizes the selected runs used.

        A table whose runs all use one batch size gives exponent 0 (a constant B)."""
        sub = configs.loc[:, ["env", "utd", "batch_size"]].astype({"env": str})
        if sub["batch_size"].nunique() == 1:
            b = float(sub["batch_size"].iloc[0])
            return cls({env: (b, 0.0) for env in sub["env"].unique()}, source="runs (constant batch size)")
        law = PowerLaw(shared_slope=True).fit(sub["utd"], sub["batch_size"].astype(float), sub["env"].tolist())
        terms = {str(env): (t.coef, t.exponent) for env, t in law.terms_.items()}
        return cls(terms, source="runs (power law fitted to the batch sizes used)", extra={"fit": law.to_dict()})

    def to_dict(self) -> dict:
        return {"source": self.source, "terms": {env: {"coef": c, "exponent": e} for env, (c, e) in self.terms.items()},
                **self.extra}


class ComputeFrontier:
    """Pareto frontier and budget-optimal σ per threshold, and the power laws of σ*, D*, C* in F*.

    Parameters: ``delta`` (FLOPs per env step), ``critic_params`` (N), ``batch_size`` (callable
    B(σ), e.g. :class:`BatchSizeLaw`), ``utd_range`` (σ range swept and searched; default: the σ
    range of the fitted points widened by 2× each side), ``n_grid`` (points per curve), ``holdout``
    (top thresholds held out of the budget laws), ``group`` (which law of the efficiency fit:
    "all" for the normalised one, else an env).

    Fitted attributes: ``curves_`` (threshold, utd, data, compute, budget), ``optimum_`` (threshold,
    utd, data, compute, budget, at_boundary: σ* hit the edge of ``utd_range`` so it is a bound,
    held_out), ``laws_`` (quantity -> :class:`PowerLaw` of it in F*, or missing with a reason in
    ``law_reason_``), ``extrapolation_`` (threshold, quantity, budget, actual, predicted, rel_error).
    """

    def __init__(
        self,
        delta: float,
        critic_params: float,
        batch_size: Callable[[np.ndarray], np.ndarray],
        utd_range: tuple[float, float] | None = None,
        n_grid: int = 200,
        holdout: int = 2,
        group: str = ALL,
    ) -> None:
        self.delta = delta
        self.critic_params = critic_params
        self.batch_size = batch_size
        self.utd_range = utd_range
        self.n_grid = n_grid
        self.holdout = holdout
        self.group = group

    def compute(self, utd: np.ndarray, data: np.ndarray) -> np.ndarray:
        """C = 10 · N · B(σ) · σ · D FLOPs."""
        return 10.0 * self.critic_params * np.asarray(self.batch_size(utd), dtype=float) * utd * data

    def fit(self, efficiency: DataEfficiency) -> ComputeFrontier:
        self._check()
        params = efficiency.params_[(efficiency.params_["group"] == self.group) & (efficiency.params_["reason"] == "")]
        if params.empty:
            raise RlscaleError(f"frontier: no fitted data-efficiency law for '{self.group}'")
        if self.utd_range is None:
            utds = efficiency.points_.loc[efficiency.points_["group"] == self.group, "utd"]
            self.utd_range_ = (float(utds.min()) / 2.0, float(utds.max()) * 2.0)
        else:
            self.utd_range_ = (float(self.utd_range[0]), float(self.utd_range[1]))
        grid = np.geomspace(*self.utd_range_, self.n_grid)
        curves, optima = [], []
        for r in params.sort_values("threshold").itertuples(index=False):
            data = r.d_min + (r.beta / grid) ** r.alpha
            compute = self.compute(grid, data)
            curves.append(pd.DataFrame({"threshold": r.threshold, "utd": grid, "data": data, "compute": compute,
                                        "budget": compute + self.delta * data}))
            optima.append({"threshold": float(r.threshold), **self._optimum(grid, (r.d_min, r.beta, r.alpha))})
        self.curves_ = pd.concat(curves, ignore_index=True)
        optimum = pd.DataFrame(optima)
        n_fit = len(optimum) - self.holdout
        optimum["held_out"] = np.arange(len(optimum)) >= n_fit
        self.optimum_ = optimum
        self._fit_laws(optimum)
        return self

    def _check(self) -> None:
        if not (np.isfinite(self.delta) and self.delta >= 0):
            raise RlscaleError(f"frontier: delta (FLOPs per env step) must be >= 0, got {self.delta}")
        if not (np.isfinite(self.critic_params) and self.critic_params > 0):
            raise RlscaleError(f"frontier: critic_params must be positive, got {self.critic_params}")
        if self.holdout < 0 or self.n_grid < 3:
            raise RlscaleError(f"frontier: need holdout >= 0 and n_grid >= 3 (got {self.holdout}, {self.n_grid})")
        if self.utd_range is not None and not (0 < self.utd_range[0] < self.utd_range[1] < np.inf):
            raise RlscaleError(f"frontier: utd_range must be 0 < lo < hi, got {self.utd_range}")

    def _optimum(self, grid: np.ndarray, law: tuple[float, float, float]) -> dict:
        d_min, beta, alpha = law

        def log_budget(log_utd: float) -> float:
            utd = np.exp(log_utd)
            data = d_min + (beta / utd) ** alpha
            return float(np.log(self.compute(np.array([utd]), np.array([data]))[0] + self.delta * data))

        values = np.array([log_budget(v) for v in np.log(grid)])
        i = int(np.argmin(values))
        lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
        res = optimize.minimize_scalar(log_budget, bounds=(lo, hi), method="bounded", options={"xatol": 1e-8})
        log_utd = float(res.x) if res.fun <= values[i] else float(np.log(grid[i]))
        utd = float(np.exp(log_utd))
        data = float(d_min + (beta / utd) ** alpha)
        compute = float(self.compute(np.array([utd]), np.array([data]))[0])
        return {"utd": utd, "data": data, "compute": compute, "budget": compute + self.delta * data,
                "at_boundary": bool(i in (0, len(grid) - 1))}

    def _fit_laws(self, optimum: pd.DataFrame) -> None:
        # thresholds whose optimum is identical (their crossings fell on the same evaluations) count once:
        # repeated points would fake degrees of freedom and shrink the confidence intervals
        fit = optimum[~optimum["held_out"]].drop_duplicates(subset=["budget", *QUANTITIES])
        self.laws_: dict[str, PowerLaw] = {}
        self.law_reason_ = ""
        if fit["budget"].nunique() < 2:
            self.law_reason_ = f"need 2 or more non-held-out thresholds to fit laws in F (have {len(fit)})"
        else:
            for q in QUANTITIES:
                self.laws_[q] = PowerLaw(shared_slope=False).fit(fit["budget"], fit[q])
        rows = []
        if self.laws_:
            for r in optimum[optimum["held_out"]].itertuples(index=False):
                for q in QUANTITIES:
                    actual = float(getattr(r, q))
                    pred = float(self.laws_[q].predict(r.budget)[0])
                    rows.append({"threshold": r.threshold, "quantity": q, "budget": r.budget, "actual": actual,
                                 "predicted": pred, "rel_error": abs(pred - actual) / actual})
        self.extrapolation_ = pd.DataFrame(
            rows, columns=["threshold", "quantity", "budget", "actual", "predicted", "rel_error"])

    def predict(self, budget: Sequence[float] | float, quantity: str = "utd") -> np.ndarray:
        """σ* (or D*, C* with ``quantity="data"``/``"compute"``) for budgets F from the fitted law."""
        if quantity not in QUANTITIES:
            raise RlscaleError(f"frontier: quantity must be one of {', '.join(QUANTITIES)}, got '{quantity}'")
        if quantity not in self.laws_:
            raise RlscaleError(f"frontier: no law in F was fitted ({self.law_reason_})")
        return self.laws_[quantity].predict(budget)

    def mean_rel_error(self) -> dict[str, float]:
        """Mean relative error on the held-out thresholds per quantity."""
        return {str(q): float(g["rel_error"].mean()) for q, g in self.extrapolation_.groupby("quantity")}

    def to_dict(self) -> dict:
        """Optima per threshold, the laws in F (y = coef · F^exponent) and the held-out errors."""
        return {
            "delta": self.delta, "critic_params": self.critic_params, "utd_range": list(self.utd_range_),
            "holdout": self.holdout,
            "optimum": self.optimum_.to_dict(orient="records"),
            **{f"{q}_law": (self.laws_[q].to_dict()["all"] if q in self.laws_ else None) for q in QUANTITIES},
            "law_reason": self.law_reason_,
            "extrapolation": {"mean_rel_error": self.mean_rel_error(),
                              "points": self.extrapolation_.to_dict(orient="records")},
        }

    def summary(self) -> str:
        lines = [f"ComputeFrontier: δ = {self.delta:.3g} FLOPs/env step, N = {self.critic_params:.3g}, "
                 f"σ in [{self.utd_range_[0]:.3g}, {self.utd_range_[1]:.3g}], top {self.holdout} J held out"]
        for r in self.optimum_.itertuples(index=False):
            flag = " (at the σ bound)" if r.at_boundary else ""
            held = " held out" if r.held_out else ""
            lines.append(f"  J={r.threshold:6.1f}: σ* {r.utd:.3g}{flag}  D* {r.data:.3g}  C* {r.compute:.3g}  "
                         f"F* {r.budget:.3g}{held}")
        if not self.laws_:
            lines.append(f"  laws in F not fitted: {self.law_reason_}")
        for q, law in self.laws_.items():
            t = law.terms_["all"]
            lines.append(f"  {q}*(F) = {t.coef:.3g} · F^{t.exponent:.3f} [{t.exponent_ci[0]:.3f}, "
                         f"{t.exponent_ci[1]:.3f}]")
        for q, err in self.mean_rel_error().items():
            lines.append(f"  held-out mean relative error of {q}*: {err:.3f}")
        return "\n".join(lines)


def configs_of(crossings: ThresholdCrossings, index: np.ndarray) -> pd.DataFrame:
    """The selected configurations (CONFIG_COLUMNS + critic_params) as a plain frame."""
    return crossings.configs_.iloc[np.asarray(index)].loc[:, [*CONFIG_COLUMNS, "critic_params"]].reset_index(drop=True)
