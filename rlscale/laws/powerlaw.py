"""Power laws fitted as lines in log-log space with statsmodels OLS, so every parameter has a CI.

The paper writes its laws as y = (beta / x)^alpha; we store the equivalent y = coef * x^exponent
(exponent = -alpha, coef = beta^alpha) because that is what the log-log line gives directly.
Groups (tasks) share one slope with per-group intercepts (``shared_slope=True``, one OLS with group
dummies: the paper's recommended variant) or get their own line each (``shared_slope=False``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm

from rlscale.errors import RlscaleError

_ALL = "all"


@dataclass(frozen=True)
class PowerLawTerm:
    """One group's fitted law y = coef * x^exponent with (1 - alpha) confidence intervals."""

    coef: float
    exponent: float
    coef_ci: tuple[float, float]
    exponent_ci: tuple[float, float]

    def to_dict(self) -> dict[str, float | list[float]]:
        return {
            "coef": self.coef,
            "exponent": self.exponent,
            "coef_ci": list(self.coef_ci),
            "exponent_ci": list(self.exponent_ci),
        }


class PowerLaw:
    """Estimator for y = coef_g * x^exponent_g over groups g.

    Attributes after :meth:`fit`: ``terms_`` (group -> :class:`PowerLawTerm`), ``r2_`` (group -> R^2
    of the log-log fit on that group's points), ``n_obs_``, ``results_`` (statsmodels results, one
    for shared, one per group for separate).
    """

    def __init__(self, shared_slope: bool = True, alpha: float = 0.05) -> None:
        self.shared_slope = shared_slope
        self.alpha = alpha

    def fit(self, x: Sequence[float], y: Sequence[float], groups: Sequence[Hashable] | None = None) -> PowerLaw:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        g = np.asarray([_ALL] * len(x) if groups is None else list(groups), dtype=object)
        if not (len(x) == len(y) == len(g)):
            raise RlscaleError(f"power law: x, y and groups differ in length ({len(x)}, {len(y)}, {len(g)})")
        keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        x, y, g = x[keep], y[keep], g[keep]
        names = list(dict.fromkeys(g.tolist()))
        for name in names:
            if np.unique(x[g == name]).size < 2:
                raise RlscaleError(f"power law: group '{name}' needs points at 2 or more distinct x values")
        lx, ly = np.log(x), np.log(y)
        self.n_obs_ = int(len(x))
        self.terms_: dict[Hashable, PowerLawTerm] = {}
        self.results_: dict[Hashable, sm.regression.linear_model.RegressionResultsWrapper] = {}
        with np.errstate(divide="ignore", invalid="ignore"):  # as many points as parameters: CIs are NaN
            self._fit_ols(names, g, lx, ly)
        self.r2_ = {}
        for name in names:
            m = g == name
            self.r2_[name] = _r2(ly[m], np.log(self.predict(x[m], [name] * int(m.sum()))))
        return self

    def _fit_ols(self, names: list[Hashable], g: np.ndarray, lx: np.ndarray, ly: np.ndarray) -> None:
        if self.shared_slope:
            dummies = (g[:, None] == np.asarray(names, dtype=object)[None, :]).astype(float)
            res = sm.OLS(ly, np.column_stack([dummies, lx])).fit()
            ci = res.conf_int(self.alpha)
            slope, slope_ci = float(res.params[-1]), (float(ci[-1, 0]), float(ci[-1, 1]))
            for i, name in enumerate(names):
                self.terms_[name] = _term(res.params[i], ci[i], slope, slope_ci)
                self.results_[name] = res
        else:
            for name in names:
                m = g == name
                res = sm.OLS(ly[m], sm.add_constant(lx[m])).fit()
                ci = res.conf_int(self.alpha)
                slope_ci = (float(ci[1, 0]), float(ci[1, 1]))
                self.terms_[name] = _term(res.params[0], ci[0], float(res.params[1]), slope_ci)
                self.results_[name] = res

    @property
    def groups_(self) -> list[Hashable]:
        return list(self.terms_)

    def predict(self, x: Sequence[float] | float, groups: Sequence[Hashable] | Hashable | None = None) -> np.ndarray:
        """y at ``x`` for ``groups`` (one group for all x, or one per x; omit for an ungrouped fit)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        if groups is None or isinstance(groups, str) or not isinstance(groups, Sequence):
            groups = [_ALL if groups is None else groups] * len(x)
        unknown = sorted({str(name) for name in groups if name not in self.terms_})
        if unknown:
            raise RlscaleError(f"power law: no fit for group(s) {', '.join(unknown)}; fitted: "
                               f"{', '.join(map(str, self.terms_))}")
        coef = np.array([self.terms_[name].coef for name in groups])
        exponent = np.array([self.terms_[name].exponent for name in groups])
        return coef * x**exponent

    def to_dict(self) -> dict[str, dict[str, float | list[float]]]:
        return {str(name): {**term.to_dict(), "r2": self.r2_[name]} for name, term in self.terms_.items()}

    def summary(self) -> str:
        pct = round(100 * (1 - self.alpha))
        kind = "shared slope" if self.shared_slope else "separate slopes"
        lines = [f"PowerLaw y = coef * x^exponent ({kind}, {self.n_obs_} points, {pct}% CI)"]
        for name, t in self.terms_.items():
            lines.append(
                f"  {str(name):<24} coef {t.coef:.4g} [{t.coef_ci[0]:.4g}, {t.coef_ci[1]:.4g}]  "
                f"exponent {t.exponent:+.3f} [{t.exponent_ci[0]:+.3f}, {t.exponent_ci[1]:+.3f}]  "
                f"R2 {self.r2_[name]:.3f}"
            )
        return "\n".join(lines)


def _term(log_coef: float, log_coef_ci: np.ndarray, slope: float, slope_ci: tuple[float, float]) -> PowerLawTerm:
    return PowerLawTerm(
        coef=float(np.exp(log_coef)),
        exponent=slope,
        coef_ci=(float(np.exp(log_coef_ci[0])), float(np.exp(log_coef_ci[1]))),
        exponent_ci=slope_ci,
    )


def _r2(observed: np.ndarray, predicted: np.ndarray) -> float:
    ss_tot = float(((observed - observed.mean()) ** 2).sum())
    return float("nan") if ss_tot == 0 else 1.0 - float(((observed - predicted) ** 2).sum()) / ss_tot
