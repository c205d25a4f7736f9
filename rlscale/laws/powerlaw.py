"""Power laws fitted as lines in log-log space with statsmodels OLS, so every parameter has an interval.

The paper writes its laws as y = (beta / x)^alpha; we store the equivalent y = coef * x^exponent
(exponent = -alpha, coef = beta^alpha) because that is what the log-log line gives directly.
Groups (tasks) share one slope with per-group intercepts (``shared_slope=True``, one OLS with group
dummies: the paper's recommended variant) or get their own line each (``shared_slope=False``).

The fitted state is one tidy row per group (:attr:`PowerLaw.terms_`: estimates, their covariance in
(log coef, exponent), residual degrees of freedom, R², verdict), so a saved law is reloaded with
:meth:`PowerLaw.from_frame` and gives the same intervals at any level without refitting.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

from rlscale.errors import RlscaleError
from rlscale.laws.summary import (
    EXACT,
    JUDGE_ALPHA,
    MAX_CI_DECADES,
    OK,
    WIDE,
    Summary,
    check_max_ci_decades,
    t_quantile,
)

_ALL = "all"
#: the columns of :attr:`PowerLaw.terms_` (one row per group), in order
TERM_COLUMNS = ("group", "coef", "exponent", "n_obs", "df_resid", "var_log_coef", "var_exponent",
                "cov_log_coef_exponent", "log_x_centre", "x_min", "x_max", "r2", "status", "reason")


class PowerLaw:
    """Estimator for y = coef_g * x^exponent_g over groups g.

    ``max_ci_decades``: a group whose 95% exponent interval is wider than this, or whose fitted value at
    the centre of its x values (geometric mean) is uncertain by more than this many decades, is marked
    ``wide``; one fitted with no residual degrees of freedom ``exact`` (see :mod:`rlscale.laws.summary`).

    After :meth:`fit`: ``terms_`` (DataFrame indexed by group, columns :data:`TERM_COLUMNS`),
    ``n_obs_``, ``df_resid_`` (residual dof of the shared fit, or the sum over groups), ``results_``
    (statsmodels results per group; absent on a reloaded law).
    """

    def __init__(self, shared_slope: bool = True, max_ci_decades: float = MAX_CI_DECADES) -> None:
        self.shared_slope = shared_slope
        self.max_ci_decades = max_ci_decades

    def fit(self, x: Sequence[float], y: Sequence[float], groups: Sequence[Hashable] | None = None) -> PowerLaw:
        """OLS of log y on log x (per group, or with a shared slope). A NaN or infinite x or y marks a point to leave
        out (an unreached optimum, say); zero or negative values cannot be fitted in log–log and are an error."""
        from statsmodels.regression.linear_model import OLS  # not statsmodels.api: it imports everything

        check_max_ci_decades(self.max_ci_decades)
        x, y = _numbers(x, "x"), _numbers(y, "y")
        g = np.asarray([_ALL] * len(x) if groups is None else list(groups), dtype=object)
        if not (len(x) == len(y) == len(g)):
            raise RlscaleError(f"power law: x, y and groups differ in length ({len(x)}, {len(y)}, {len(g)})")
        bad = np.isfinite(x) & np.isfinite(y) & ((x <= 0) | (y <= 0))
        if bad.any():  # a log-log fit cannot hold it, and dropping it would fit other data than given
            i = int(np.argmax(bad))
            raise RlscaleError(f"power law: x and y must be positive, got ({x[i]:g}, {y[i]:g}) at point {i} "
                               f"({int(bad.sum())} such point(s)); NaN marks a point to leave out")
        keep = np.isfinite(x) & np.isfinite(y)
        x, y, g = x[keep], y[keep], g[keep]
        names = list(dict.fromkeys(g.tolist()))
        if not names:
            raise RlscaleError("power law: no positive, finite (x, y) points to fit")
        for name in names:
            if np.unique(x[g == name]).size < 2:
                raise RlscaleError(f"power law: group '{name}' needs points at 2 or more distinct x values "
                                   f"(has {np.unique(x[g == name]).size})")
        lx, ly = np.log(x), np.log(y)
        self.results_: dict[Hashable, object] = {}
        rows = []
        with np.errstate(divide="ignore", invalid="ignore"):  # an exact fit has no residual variance
            if self.shared_slope:
                dummies = (g[:, None] == np.asarray(names, dtype=object)[None, :]).astype(float)
                res = OLS(ly, np.column_stack([dummies, lx])).fit()
                cov = _cov(res)
                for i, name in enumerate(names):
                    block = cov[np.ix_([i, -1], [i, -1])]
                    rows.append(_row(name, res.params[i], res.params[-1], block, int(res.df_resid), lx[g == name]))
                    self.results_[name] = res
            else:
                for name in names:
                    m = g == name
                    res = OLS(ly[m], np.column_stack([np.ones(int(m.sum())), lx[m]])).fit()
                    rows.append(_row(name, res.params[0], res.params[1], _cov(res), int(res.df_resid), lx[m]))
                    self.results_[name] = res
        terms = pd.DataFrame(rows).set_index("group", drop=False)
        for name in names:
            m = g == name
            pred = terms.loc[name, "exponent"] * lx[m] + np.log(terms.loc[name, "coef"])
            terms.loc[name, "r2"] = _r2(ly[m], pred)
        self._set_terms(terms)
        return self

    def _set_terms(self, terms: pd.DataFrame) -> None:
        """Judge each group (ok / exact / wide) and store the fitted state."""
        statuses, reasons = [], []
        for r in terms.itertuples(index=False):
            status, reason = self._judge(r)
            statuses.append(status)
            reasons.append(reason)
        terms = terms.assign(status=statuses, reason=reasons)
        self.terms_ = terms.loc[:, list(TERM_COLUMNS)]
        self.n_obs_ = int(self.terms_["n_obs"].sum())
        self.df_resid_ = int(self.terms_["df_resid"].iloc[0] if self.shared_slope else self.terms_["df_resid"].sum())

    def _judge(self, r) -> tuple[str, str]:
        if r.df_resid < 1:
            return EXACT, (f"{int(r.n_obs)} points for {int(r.n_obs - r.df_resid)} parameters: no residual degrees "
                           "of freedom, so no error estimate")
        t = t_quantile(JUDGE_ALPHA, r.df_resid)
        width = 2 * t * np.sqrt(r.var_exponent)
        centre = 2 * t * np.sqrt(_var_at(r, r.log_x_centre)) / np.log(10.0)
        if not (width <= self.max_ci_decades and centre <= self.max_ci_decades):
            return WIDE, (f"95% interval of the exponent {width:.3g} wide and of the law at the data's centre "
                          f"{centre:.3g} decades (limit {self.max_ci_decades:g})")
        return OK, ""

    @classmethod
    def from_frame(cls, terms: pd.DataFrame, shared_slope: bool = True,
                   max_ci_decades: float = MAX_CI_DECADES) -> PowerLaw:
        """A fitted law from its saved :attr:`terms_` (e.g. read back from CSV); the verdict is recomputed."""
        missing = [c for c in TERM_COLUMNS if c not in terms.columns and c not in ("status", "reason")]
        if missing:
            raise RlscaleError(f"power law: saved terms lack column(s) {', '.join(missing)}")
        law = cls(shared_slope=shared_slope, max_ci_decades=max_ci_decades)
        frame = terms.copy()
        frame["group"] = frame["group"].astype(str)
        law._set_terms(frame.set_index("group", drop=False).drop(columns=["status", "reason"], errors="ignore"))
        return law

    @property
    def groups_(self) -> list[Hashable]:
        return list(self.terms_.index)

    def is_law(self, group: Hashable = _ALL) -> bool:
        """Whether ``group``'s fit is published as a law (status ``ok``)."""
        return group in self.terms_.index and self.terms_.loc[group, "status"] == OK

    def coef(self, group: Hashable = _ALL) -> float:
        return float(self._term(group)["coef"])

    def exponent(self, group: Hashable = _ALL) -> float:
        return float(self._term(group)["exponent"])

    def exponent_interval(self, group: Hashable = _ALL, alpha: float = 0.05) -> tuple[float, float]:
        """The (1 - alpha) interval of ``group``'s exponent, as :meth:`conf_int` gives it (NaN without residual
        dof): what a verdict on the law's direction reads."""
        r = self._term(group)
        return _exponent_bounds(r["exponent"], r["var_exponent"], r["df_resid"], alpha)

    def sign_undetermined(self, group: Hashable = _ALL, alpha: float = 0.05) -> bool:
        """Whether the exponent's (1 - alpha) interval includes 0 or is undefined: a fitted law whose direction the
        data do not give (``rlscale.laws.summary.SIGN_UNDETERMINED``), so it is not drawn past its data."""
        lo, hi = self.exponent_interval(group, alpha)
        return not (lo > 0 or hi < 0)

    def _term(self, group: Hashable) -> pd.Series:
        if group not in self.terms_.index:
            raise RlscaleError(f"power law: no fit for group(s) {group}; fitted: {', '.join(map(str, self.groups_))}")
        return self.terms_.loc[group]

    def predict(self, x: Sequence[float] | float, groups: Sequence[Hashable] | Hashable | None = None) -> np.ndarray:
        """y at ``x`` for ``groups`` (one group for all x, or one per x; omit for an ungrouped fit). The point value
        only, whatever the verdict: :meth:`predict_interval` says how far to trust it."""
        x, terms = self._at(x, groups)
        return terms["coef"].to_numpy(dtype=float) * x ** terms["exponent"].to_numpy(dtype=float)

    def predict_interval(self, x: Sequence[float] | float, groups: Sequence[Hashable] | Hashable | None = None,
                         alpha: float = 0.05) -> pd.DataFrame:
        """y at ``x`` with the (1 - alpha) interval of the law there, one row per x: ``group, x, estimate, lower,
        upper, df_resid, status, extrapolated, sign_undetermined``.

        The interval is the fitted line's (t on the residual dof, from the covariance of log coef and exponent), so
        it widens away from the data; NaN where the fit has no residual dof. ``status`` is the group's verdict (only
        ``ok`` is a law), ``extrapolated`` marks x outside the range the group was fitted on and
        ``sign_undetermined`` a group whose exponent's (1 - alpha) interval includes 0 (:meth:`sign_undetermined`):
        the data do not say whether y rises or falls with x, so an extrapolated row of it is not a prediction the
        law supports, however narrow its interval near the data.
        """
        x, terms = self._at(x, groups)
        lx = np.log(x)
        var = (terms["var_log_coef"].to_numpy(dtype=float) + lx**2 * terms["var_exponent"].to_numpy(dtype=float)
               + 2 * lx * terms["cov_log_coef_exponent"].to_numpy(dtype=float))
        t = np.array([t_quantile(alpha, df) for df in terms["df_resid"]])
        estimate = terms["coef"].to_numpy(dtype=float) * x ** terms["exponent"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            half = t * np.sqrt(np.maximum(var, 0.0))
        x_min, x_max = terms["x_min"].to_numpy(dtype=float), terms["x_max"].to_numpy(dtype=float)
        return pd.DataFrame({
            "group": terms["group"].to_numpy(), "x": x, "estimate": estimate, "lower": estimate * np.exp(-half),
            "upper": estimate * np.exp(half), "df_resid": terms["df_resid"].to_numpy(dtype=int),
            "status": terms["status"].to_numpy(), "extrapolated": ~np.isclose(np.clip(x, x_min, x_max), x),
            "sign_undetermined": [self.sign_undetermined(group, alpha) for group in terms.index]})

    def _at(self, x: Sequence[float] | float, groups: Sequence[Hashable] | Hashable | None) -> tuple[np.ndarray,
                                                                                                    pd.DataFrame]:
        """``x`` as an array and the terms row of each x's group."""
        x = np.atleast_1d(_numbers(x, "x"))
        if not (np.isfinite(x) & (x > 0)).all():
            raise RlscaleError(f"power law: x must be positive numbers, got {x[~(np.isfinite(x) & (x > 0))][0]:g}")
        if groups is None or isinstance(groups, str) or not isinstance(groups, Sequence):
            groups = [_ALL if groups is None else groups] * len(x)
        unknown = sorted({str(name) for name in groups if name not in self.terms_.index})
        if unknown:
            raise RlscaleError(f"power law: no fit for group(s) {', '.join(unknown)}; fitted: "
                               f"{', '.join(map(str, self.groups_))}")
        return x, self.terms_.loc[list(groups)]

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """(1 - alpha) intervals (t on the residual dof), indexed by (group, parameter): ``lower``, ``upper``.

        NaN where the fit has no residual degrees of freedom."""
        rows = []
        for r in self.terms_.itertuples(index=False):
            t = t_quantile(alpha, r.df_resid)
            se_c = np.sqrt(r.var_log_coef)
            log_c = np.log(r.coef)
            rows.append((r.group, "coef", float(np.exp(log_c - t * se_c)), float(np.exp(log_c + t * se_c))))
            rows.append((r.group, "exponent", *_exponent_bounds(r.exponent, r.var_exponent, r.df_resid, alpha)))
        frame = pd.DataFrame(rows, columns=["group", "parameter", "lower", "upper"])
        return frame.set_index(["group", "parameter"])

    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy parameter table: group, parameter, estimate, std_err (of log coef / exponent), lower, upper,
        n_obs, df_resid, r2, status, reason."""
        ci = self.conf_int(alpha)
        rows = []
        for r in self.terms_.itertuples(index=False):
            for name, estimate, se in (("coef", r.coef, np.sqrt(r.var_log_coef)),
                                       ("exponent", r.exponent, np.sqrt(r.var_exponent))):
                lo, hi = ci.loc[(r.group, name)]
                rows.append({"group": str(r.group), "parameter": name, "estimate": float(estimate),
                             "std_err": float(se), "lower": float(lo), "upper": float(hi), "n_obs": int(r.n_obs),
                             "df_resid": int(r.df_resid), "r2": float(r.r2), "status": r.status, "reason": r.reason})
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """The fitted state, one row per group (what :meth:`from_frame` reads)."""
        return self.terms_.reset_index(drop=True)

    def summary(self, alpha: float = 0.05) -> Summary:
        kind = "shared slope" if self.shared_slope else "separate slopes"
        table = self.table(alpha).drop(columns=["status", "reason"])
        notes = [f"{r.group}: not a law ({r.status}): {r.reason}" for r in self.terms_.itertuples() if r.status != OK]
        notes.append("std_err of coef is that of log coef; intervals from Student's t on the residual dof")
        if self.shared_slope and len(self.terms_) > 1:
            notes.append(SHARED_DOF_NOTE)
        return Summary(f"Power law y = coef · x^exponent ({kind})",
                       [("groups", len(self.terms_)), ("points", self.n_obs_), ("residual dof", self.df_resid_),
                        ("interval", f"{100 * (1 - alpha):g}%")], [("", table)], notes)

    def __repr__(self) -> str:
        if not hasattr(self, "terms_"):
            return f"PowerLaw(shared_slope={self.shared_slope}, max_ci_decades={self.max_ci_decades:g})"
        kind = "shared slope" if self.shared_slope else "separate slopes"
        exps = self.terms_["exponent"].round(3).unique()
        laws = int((self.terms_["status"] == OK).sum())
        return (f"<PowerLaw y = coef·x^exponent, {kind}: {len(self.terms_)} group(s), {self.n_obs_} points, "
                f"{self.df_resid_} residual dof, exponent {', '.join(f'{e:+.3g}' for e in exps)}; "
                f"{laws}/{len(self.terms_)} ok>")


#: why a shared-slope table shows a group's n_obs below its df_resid
SHARED_DOF_NOTE = ("shared slope: n_obs counts a group's own points, df_resid is the one pooled fit's (every group's "
                   "points less one intercept per group and the slope)")


def _cov(res) -> np.ndarray:
    """Parameter covariance, NaN when the fit has no residual degrees of freedom."""
    k = len(res.params)
    return np.asarray(res.cov_params(), dtype=float) if res.df_resid >= 1 else np.full((k, k), np.nan)


def _row(name: Hashable, log_coef: float, slope: float, cov: np.ndarray, df_resid: int, lx: np.ndarray) -> dict:
    return {"group": name, "coef": float(np.exp(log_coef)), "exponent": float(slope), "n_obs": int(len(lx)),
            "df_resid": int(df_resid), "var_log_coef": float(cov[0, 0]), "var_exponent": float(cov[1, 1]),
            "cov_log_coef_exponent": float(cov[0, 1]), "log_x_centre": float(lx.mean()),
            "x_min": float(np.exp(lx.min())), "x_max": float(np.exp(lx.max())), "r2": np.nan}


def _var_at(r, log_x: float) -> float:
    """Variance of the fitted log y at log x."""
    return float(r.var_log_coef + log_x**2 * r.var_exponent + 2 * log_x * r.cov_log_coef_exponent)


def _r2(observed: np.ndarray, predicted: np.ndarray) -> float:
    ss_tot = float(((observed - observed.mean()) ** 2).sum())
    return float("nan") if ss_tot == 0 else 1.0 - float(((observed - predicted) ** 2).sum()) / ss_tot


def _numbers(values: Sequence[float] | float, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise RlscaleError(f"power law: {name} must be numbers, got {np.asarray(values).ravel()[:3].tolist()}"
                           ) from None


def _exponent_bounds(exponent: float, var_exponent: float, df_resid: int, alpha: float) -> tuple[float, float]:
    """exponent ∓ t(alpha, df) · se: the one formula :meth:`PowerLaw.conf_int` and its shortcuts share."""
    half = t_quantile(alpha, df_resid) * np.sqrt(var_exponent)
    return float(exponent - half), float(exponent + half)
