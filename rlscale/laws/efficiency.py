"""Data efficiency: env steps to reach J as a function of the UTD ratio, D_J(σ) = D_min + (β_J/σ)^α_J.

The input is a tidy table of crossing times, one row per (env, utd, threshold) with a ``crossing``
column (env steps; NaN = never reached), e.g. from :func:`rlscale.laws.frontier.crossings_table`, or
crossing times computed elsewhere.

Two variants, as in the paper:

- ``normalize=True`` (the main text): divide each env's crossing times by a median of them, average over
  envs per (σ, J), fit one law per J, and multiply back by the median over envs of those per-env medians
  so the law is in env steps again. ``normalize_by="threshold"`` (rlscale's) takes each env's median over
  σ at each J; ``"task"`` (the authors') one median per env over every (σ, J) together, which needs every
  crossing (their median is NaN otherwise, so a never-reached J is an error here rather than a silent NaN);
- ``normalize=False`` (the appendix): one law per (env, J) on the raw crossing times.

Fitting. We fit the equivalent form D = D_min · (1 + (σ/s_0)^-α) (the paper's way of writing its
results, β = s_0 · D_min^(1/α)) because its parameters (log D_min, log s_0, α) are on similar scales.
Residuals are in log space (crossing times span orders of magnitude, noise is multiplicative),
minimised by bounded ``scipy.optimize.least_squares`` started from the best few points of a coarse,
vectorised grid over the parameters (the authors used a grid plus L-BFGS-B on squared error; the
multi-start avoids the local minima of the 3-parameter fit). ``loss="linear"`` fits as the authors' code
does: squared error on the normalised times themselves (divided by the scale m, so in units of the
median time), the model c + (σ/b)^-a, a brute-force 5x5x5 grid over (a, b, c) and an unbounded L-BFGS-B
from every grid point, the lowest loss kept; then D_min = m·c, α = a, β = b·m^(1/a). A linear fit whose
floor c is not positive (or whose a, b are not) is not a law of this form and is marked ``at_bound``.
Crossings that are NaN are dropped and counted; a fit with fewer than ``min_points`` σ values is
``not_fitted`` with a ``reason``.

In code and tables the exponent α is ``exponent`` (``alpha`` is only ever a significance level).

Intervals (:meth:`DataEfficiency.conf_int`): from the Jacobian at the optimum (Gauss-Newton covariance
s²(JᵀJ)⁻¹ with a t quantile on n − 3 degrees of freedom; β through the delta method on log β) by
default; when bootstrap crossings are given to :meth:`DataEfficiency.fit`, percentile intervals over
refits on every bootstrap sample instead (``ci_method_`` says which). Both use the fit's own loss.

Verdict (:mod:`rlscale.laws.summary`): a fit whose (log D_min, log s_0, α) sits on a bound of the
search is ``at_bound`` (typically s_0 at its upper bound: D_J keeps falling with σ as a pure power
law, so no floor D_min is visible in the data), one with an interval wider than ``max_ci_decades``
decades ``wide``. Two thresholds whose points are identical (every σ crossed both levels at the same
logged evaluation, so evaluations too sparse to tell them apart) give identical fits; the higher J
says so in ``same_as``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws.summary import (
    AT_BOUND,
    EXACT,
    JUDGE_ALPHA,
    MAX_CI_DECADES,
    NOT_FITTED,
    OK,
    WIDE,
    Summary,
    check_alpha,
    check_max_ci_decades,
    decades,
    t_quantile,
    text_column,
)

ALL = "all"
_NEEDED = ("env", "utd", "threshold", "crossing")
_N_STARTS = 4
_ALPHA_BOUNDS = (0.02, 10.0)
_SCALE_SPAN = 1e3  # s_0 may lie this factor beyond the observed σ range
PARAMETERS = ("d_min", "beta", "exponent", "utd_scale")
_THETA = ("log_d_min", "log_utd_scale", "exponent")  # the fitted coordinates
_COV = ("var_log_d_min", "var_log_utd_scale", "var_exponent", "cov_log_d_min_log_utd_scale",
        "cov_log_d_min_exponent", "cov_log_utd_scale_exponent")
#: the columns of :attr:`DataEfficiency.params_`, in order
PARAM_COLUMNS = ("group", "threshold", "n_points", "n_dropped", "df_resid", "d_min", "beta", "exponent", "utd_scale",
                 "rmse_log", "r2_log", *_COV, "status", "reason", "same_as")


def efficiency_curve(utd: np.ndarray | float, d_min: float, beta: float, exponent: float) -> np.ndarray:
    """D(σ) = D_min + (β/σ)^α with α = ``exponent``."""
    return d_min + (beta / np.asarray(utd, dtype=float)) ** exponent


def r2_log(log_y: np.ndarray, log_pred: np.ndarray) -> float:
    """R² of log D against the law's log prediction, 1 − SS_res/SS_tot; NaN without points or spread."""
    log_y, log_pred = np.asarray(log_y, dtype=float), np.asarray(log_pred, dtype=float)
    ss_tot = float(((log_y - log_y.mean()) ** 2).sum()) if len(log_y) else 0.0
    return float("nan") if ss_tot == 0 else 1.0 - float(((log_y - log_pred) ** 2).sum()) / ss_tot


def _positive(utd: Sequence[float] | float) -> np.ndarray:
    utd = np.atleast_1d(np.asarray(utd, dtype=float))
    if np.any(~np.isfinite(utd)) or np.any(utd <= 0):
        raise RlscaleError("data efficiency: utd values to predict at must be positive numbers")
    return utd


def _log_model(theta: np.ndarray, log_utd: np.ndarray) -> np.ndarray:
    """log D for theta = (log D_min, log s_0, α); a batch of thetas [k, 3] gives [k, len(log_utd)]."""
    theta = np.asarray(theta, dtype=float)
    t = theta[..., None]
    return t[..., 0, :] + np.logaddexp(0.0, -t[..., 2, :] * (log_utd - t[..., 1, :]))


def _bounds(log_utd: np.ndarray, log_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    span = np.log(_SCALE_SPAN)
    lo = np.array([log_y.min() - np.log(1e4), log_utd.min() - span, _ALPHA_BOUNDS[0]])
    hi = np.array([log_y.max(), log_utd.max() + span, _ALPHA_BOUNDS[1]])
    return lo, hi


def _fit_one(log_utd: np.ndarray, log_y: np.ndarray, start: np.ndarray | None = None):
    """Bounded least squares in log space; multi-start from a coarse grid unless ``start`` is given."""
    from scipy import optimize  # here, not at import: reading a saved analysis needs no optimiser

    lo, hi = _bounds(log_utd, log_y)

    def residual(theta: np.ndarray) -> np.ndarray:
        return _log_model(theta, log_utd) - log_y

    def jacobian(theta: np.ndarray) -> np.ndarray:
        weight = special.expit(-theta[2] * (log_utd - theta[1]))  # d softplus(z) / dz
        return np.column_stack([np.ones_like(log_utd), weight * theta[2], -weight * (log_utd - theta[1])])

    if start is not None:
        starts = [np.clip(start, lo, hi)]
    else:
        grid = np.array(list(itertools.product(
            log_y.min() + np.log([0.05, 0.2, 0.5, 0.8, 0.95]),
            np.linspace(log_utd.min() - 2.0, log_utd.max() + 2.0, 9),
            [0.1, 0.3, 0.6, 1.0, 1.5, 2.5, 4.0],
        )))
        loss = ((_log_model(grid, log_utd) - log_y[None, :]) ** 2).sum(axis=1)
        starts = [np.clip(t, lo, hi) for t in grid[np.argsort(loss)[:_N_STARTS]]]
    best = None
    for theta0 in starts:
        res = optimize.least_squares(residual, theta0, jac=jacobian, bounds=(lo, hi), method="trf", x_scale="jac")
        if best is None or res.cost < best.cost:
            best = res
    return best


#: the authors' brute-force grid over (a, b, c) of c + (σ/b)^-a, in normalised units
_BRUTE_GRID = (slice(-2, 2, 0.8), slice(0, 1, 0.2), slice(-2, 2, 0.8))
_B_EPS = 1e-12  # their model divides by b + 1e-12


def _linear_loss(theta: np.ndarray, utd: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error of c + (σ/b)^-a against ``y`` and its gradient in (a, b, c); 1e300 where undefined."""
    a, b, c = theta
    with np.errstate(all="ignore"):
        ratio = utd / (b + _B_EPS)
        power = ratio ** (-a)
        r = c + power - y
        d_pred = np.stack([-power * np.log(ratio), a / (b + _B_EPS) * power, np.ones_like(utd)])
        value = float(np.mean(r**2))
        grad = 2.0 * np.mean(r * d_pred, axis=1)
    if not (np.isfinite(value) and np.isfinite(grad).all()):
        return 1e300, np.zeros(3)
    return value, grad


def _fit_linear_many(problems: Sequence[tuple[np.ndarray, np.ndarray]], n_iter: int = 100,
                     n_polish: int = 3) -> list[tuple[float, float, float]]:
    """The authors' fit of c + (σ/b)^-a to normalised times ``y``: a local minimisation of the mean squared
    error from every point of their 5x5x5 brute-force grid, the lowest loss kept. Returns (a, b, c).

    Their code runs SciPy's L-BFGS-B from each of the 125 points, one call at a time (about 0.5 s per fit
    here); we run ``n_iter`` steps of a damped Gauss-Newton (Levenberg-Marquardt) from all 125 at once,
    vectorised, and finish the ``n_polish`` lowest with L-BFGS-B, which reaches their optimum (the tests check
    it against their published fits and against L-BFGS-B runs from their grid points).

    ``problems``: (σ values, normalised times) pairs, each fitted on its own and answered in order (a, b, c); the
    problems with the same number of points run their Gauss-Newton steps stacked, every start its own row.
    """
    out: list[tuple[float, float, float]] = [(np.nan, np.nan, np.nan)] * len(problems)
    by_size: dict[int, list[int]] = {}
    for k, (utd, _) in enumerate(problems):
        by_size.setdefault(len(utd), []).append(k)
    for members in by_size.values():
        for k, best in zip(members, _fit_linear_stacked([problems[k] for k in members], n_iter, n_polish), strict=True):
            out[k] = best
    return out


def _fit_linear_stacked(problems: list[tuple[np.ndarray, np.ndarray]], n_iter: int,
                        n_polish: int) -> list[tuple[float, float, float]]:
    """:func:`_fit_linear_many` of problems with the same number of points."""
    from scipy import optimize

    axes = [np.arange(s.start, s.stop, s.step) for s in _BRUTE_GRID]  # what scipy.optimize.brute evaluates
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    n_starts = len(grid)
    theta = np.tile(grid, (len(problems), 1))  # every problem's starts, one row each
    utd_rows = np.repeat(np.stack([np.asarray(u, dtype=float) for u, _ in problems]), n_starts, axis=0)
    y_rows = np.repeat(np.stack([np.asarray(v, dtype=float) for _, v in problems]), n_starts, axis=0)

    def evaluate(th: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):
            ratio = utd_rows[rows] / (th[:, 1:2] + _B_EPS)
            power = ratio ** (-th[:, 0:1])
            r = th[:, 2:3] + power - y_rows[rows]
            jac = np.stack([-power * np.log(ratio), th[:, 0:1] / (th[:, 1:2] + _B_EPS) * power,
                            np.ones_like(power)], axis=-1)
            cost = np.mean(r**2, axis=1)
        bad = ~(np.isfinite(cost) & np.isfinite(jac).all(axis=(1, 2)))
        return np.where(bad, np.inf, cost), np.where(bad[:, None], 0.0, r), np.where(bad[:, None, None], 0.0, jac)

    cost, r, jac = evaluate(theta, np.arange(len(theta)))
    damping = np.full(len(theta), 1e-3)
    live = np.flatnonzero(np.isfinite(cost))  # starts still moving
    eye = np.eye(3)
    for _ in range(n_iter):
        if not len(live):
            break
        th, c, res, jc, lam = theta[live], cost[live], r[live], jac[live], damping[live]
        a = jc.transpose(0, 2, 1) @ jc
        g = np.einsum("kni,kn->ki", jc, res)
        with np.errstate(all="ignore"):
            step = -np.linalg.solve(a + lam[:, None, None] * (a * eye + 1e-12 * eye), g[..., None])[..., 0]
        step = np.where(np.isfinite(step), step, 0.0)
        new_cost, new_r, new_jac = evaluate(th + step, live)
        better = new_cost < c
        theta[live] = np.where(better[:, None], th + step, th)
        r[live] = np.where(better[:, None], new_r, res)
        jac[live] = np.where(better[:, None, None], new_jac, jc)
        damping[live] = lam = np.clip(np.where(better, lam / 3.0, lam * 4.0), 1e-12, 1e12)
        cost[live] = np.where(better, new_cost, c)
        done = (better & (c - new_cost <= 1e-15 * c)) | (lam >= 1e12)
        live = live[~done]
    out = []
    for k, (utd, y) in enumerate(problems):
        own_theta, own_cost = theta[k * n_starts:(k + 1) * n_starts], cost[k * n_starts:(k + 1) * n_starts]
        best, best_loss = own_theta[int(np.argmin(own_cost))], float(np.min(own_cost))
        for start in own_theta[np.argsort(own_cost, kind="stable")[:n_polish]]:  # the lowest few, by L-BFGS-B
            polished = optimize.minimize(_linear_loss, start, args=(utd, y), method="L-BFGS-B", jac=True).x
            loss = _linear_loss(polished, utd, y)[0]
            if loss <= best_loss:
                best, best_loss = polished, loss
        out.append(tuple(float(v) for v in best))
    return out


def _linear_to_theta(a: float, b: float, c: float, scale: float) -> np.ndarray | None:
    """(log D_min, log s_0, α) of m·(c + (σ/b)^-a) = D_min·(1 + (σ/s_0)^-α), or None outside that form."""
    if not (a > 0 and b > 0 and c > 0 and np.isfinite([a, b, c]).all()):
        return None
    return np.array([np.log(scale * c), np.log(b + _B_EPS) - np.log(c) / a, a])


def _refit_batched(problems: list[tuple | None], loss: str) -> list[list[np.ndarray]]:
    """The thetas of many bootstrap refit problems ((log σ, log y, mask, theta0, lo, hi) or None), each sample's
    refit unchanged: the problems with the same number of σ values are stacked into one :func:`_refit_many` call
    (every sample is its own row there, with its own σ values, start and bounds)."""
    out: list[list[np.ndarray]] = [[] for _ in problems]
    by_width: dict[int, list[int]] = {}
    for k, problem in enumerate(problems):
        if problem is not None:
            by_width.setdefault(problem[0].size, []).append(k)
    for members in by_width.values():
        parts = [problems[k] for k in members]
        sizes = [p[1].shape[0] for p in parts]

        def stack(i: int, parts: list = parts, sizes: list = sizes) -> np.ndarray:
            return np.concatenate([np.broadcast_to(p[i], (n, p[i].shape[-1]))
                                   for p, n in zip(parts, sizes, strict=True)])

        thetas = _refit_many(stack(0), stack(1), stack(2), stack(3), stack(4), stack(5), loss=loss)
        for k, chunk in zip(members, np.split(thetas, np.cumsum(sizes)[:-1]), strict=True):
            out[k] = list(chunk)
    return out


def _refit_many(
    log_utd: np.ndarray, log_y: np.ndarray, mask: np.ndarray, theta0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
    n_iter: int = 60, loss: str = "log",
) -> np.ndarray:
    """Refit many samples at once (bootstrap): projected Levenberg-Marquardt from a common start (or, with
    ``log_utd`` [samples, points] and ``theta0``, ``lo``, ``hi`` [samples, 3], each sample from its own).

    Hand-written because ``least_squares`` fits one problem per call and a bootstrap needs
    thousands of tiny 3-parameter fits; ``log_y`` [samples, points] with ``mask`` marking the
    points each sample has (a threshold a resample never reached). ``loss``: residuals of log times,
    or of the times themselves divided by each sample's median time (the linear loss). Returns thetas
    [samples, 3].
    """
    w = mask.astype(float)
    theta = np.array(np.broadcast_to(np.clip(theta0, lo, hi), (log_y.shape[0], 3)))
    log_x = log_utd if log_utd.ndim == 2 else log_utd[None, :]
    damping = np.full(log_y.shape[0], 1e-2)
    if loss == "linear":
        y = np.where(mask, np.exp(log_y), np.nan)
        unit = np.nanmedian(y, axis=1, keepdims=True)
        y = np.where(mask, y, 0.0) / unit

    def residual(th: np.ndarray) -> np.ndarray:
        f = _log_model(th, log_utd)
        return ((f - log_y) if loss == "log" else (np.exp(f) / unit - y)) * w

    def cost(th: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = residual(th)
        return (r**2).sum(axis=1), r

    c, r = cost(theta)
    for _ in range(n_iter):
        weight = special.expit(-theta[:, 2:3] * (log_x - theta[:, 1:2]))
        jac = np.stack([np.ones_like(weight), weight * theta[:, 2:3], -weight * (log_x - theta[:, 1:2])],
                       axis=-1) * w[..., None]
        if loss == "linear":
            jac = jac * (np.exp(_log_model(theta, log_utd)) / unit)[..., None]
        a = jac.transpose(0, 2, 1) @ jac
        g = np.einsum("kni,kn->ki", jac, r)
        diag = np.einsum("kii->ki", a)
        lhs = a + (damping[:, None] * diag + 1e-12)[..., None] * np.eye(3)
        step = np.linalg.solve(lhs, -g[..., None])[..., 0]
        trial = np.clip(theta + step, lo, hi)
        c_new, r_new = cost(trial)
        better = c_new < c
        theta[better], c[better], r[better] = trial[better], c_new[better], r_new[better]
        damping = np.where(better, damping / 3.0, damping * 4.0)
    return theta


def _theta_to_params(theta: np.ndarray) -> dict[str, float]:
    log_dmin, log_s0, exponent = (float(v) for v in theta)
    return {"d_min": float(np.exp(log_dmin)), "beta": float(np.exp(log_s0 + log_dmin / exponent)),
            "exponent": exponent, "utd_scale": float(np.exp(log_s0))}


def _cov_matrix(row) -> np.ndarray:
    v = [getattr(row, c) for c in _COV]
    return np.array([[v[0], v[3], v[4]], [v[3], v[1], v[5]], [v[4], v[5], v[2]]], dtype=float)


def _jacobian_intervals(row, alpha: float) -> dict[str, tuple[float, float]]:
    """(1 - alpha) intervals from the stored covariance of (log D_min, log s_0, α): t on n − 3 dof."""
    t = t_quantile(alpha, row.df_resid)
    cov = _cov_matrix(row)
    log_dmin, log_s0, exponent = np.log(row.d_min), np.log(row.utd_scale), row.exponent
    grad_log_beta = np.array([1.0 / exponent, 1.0, -log_dmin / exponent**2])
    se = {"d_min": np.sqrt(max(cov[0, 0], 0.0)), "utd_scale": np.sqrt(max(cov[1, 1], 0.0)),
          "exponent": np.sqrt(max(cov[2, 2], 0.0)),
          "beta": np.sqrt(max(float(grad_log_beta @ cov @ grad_log_beta), 0.0))}
    centre = {"d_min": log_dmin, "utd_scale": log_s0, "beta": log_s0 + log_dmin / exponent}
    # with few points (t on 1 dof is 12.7) and a flat direction a log-space bound can lie beyond the float range:
    # exp's inf (or 0) is then the honest bound, and decades() reads such an interval as too wide, not a law
    with np.errstate(over="ignore"):
        out = {k: (float(np.exp(c - t * se[k])), float(np.exp(c + t * se[k]))) for k, c in centre.items()}
    out["exponent"] = (float(exponent - t * se["exponent"]), float(exponent + t * se["exponent"]))
    return out


def _bootstrap_intervals(thetas: np.ndarray, alpha: float) -> dict[str, tuple[float, float]]:
    """Percentile (1 - alpha) intervals over the per-sample refits (thetas [samples, 3])."""
    if not len(thetas):
        return dict.fromkeys(PARAMETERS, (np.nan, np.nan))
    frame = pd.DataFrame([_theta_to_params(t) for t in thetas])
    q = [alpha / 2, 1 - alpha / 2]
    return {name: tuple(float(v) for v in np.quantile(frame[name], q)) for name in PARAMETERS}


def _check_table(crossings: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = [c for c in _NEEDED if c not in crossings.columns]
    if missing:
        raise RlscaleError(f"data efficiency: {what} lacks column(s) {', '.join(missing)}")
    table = crossings.loc[:, [*_NEEDED, *(["sample"] if "sample" in crossings.columns else [])]].copy()
    table["env"] = table["env"].astype(str)
    for col in ("utd", "threshold", "crossing"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    bad = ~np.isfinite(table["utd"]) | (table["utd"] <= 0) | ~np.isfinite(table["threshold"])
    bad |= table["crossing"] <= 0
    if bad.any():
        raise RlscaleError(f"data efficiency: {what} has non-positive or non-numeric utd/threshold/crossing "
                           f"in {int(bad.sum())} row(s), first at row {int(np.flatnonzero(bad.to_numpy())[0])}")
    key = ["env", "utd", "threshold", *(["sample"] if "sample" in table.columns else [])]
    dup = table.duplicated(key)
    if dup.any():
        raise RlscaleError(f"data efficiency: {what} has {int(dup.sum())} duplicate (env, utd, threshold) rows; "
                           "keep one configuration per (env, utd) first (rlscale.laws.frontier.select_configs)")
    return table


NORMALIZE_BY = ("threshold", "task")
LOSSES = ("log", "linear")


#: the columns of :attr:`DataEfficiency.normalization_`: per (J, env) the env's median crossing and the pooled scale
NORMALIZATION_COLUMNS = ("threshold", "env", "median", "scale")


def _normalization(table: pd.DataFrame, by: str = "threshold", within: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per (J, env) of a point table: the median that env's times are divided by and the scale the mean over envs
    is multiplied back by (the median over envs of those medians); the same numbers for every J when
    ``by="task"``. What another run set is put on to be compared with these runs (``reference``). ``within``
    (``("sample",)`` for bootstrap tables): columns each of whose values is normalised on its own, kept in front;
    one computation for the point fit, its bootstrap refits and :attr:`DataEfficiency.normalization_`."""
    within = list(within)
    per = [*within, "threshold"] if by == "threshold" else within
    medians = table.groupby([*per, "env"], as_index=False)["crossing"].median().rename(columns={"crossing": "median"})
    if by == "task":  # the env's median over every (σ, J), repeated at each J
        levels = table.loc[:, [*within, "threshold"]].drop_duplicates().sort_values([*within, "threshold"])
        medians = levels.merge(medians, on=within) if within else levels.merge(medians, how="cross")
    scale = medians.groupby([*within, "threshold"])["median"].median().rename("scale")
    medians = medians.join(scale, on=[*within, "threshold"])
    return medians.loc[:, [*within, *NORMALIZATION_COLUMNS]].reset_index(drop=True)


def _aggregate(table: pd.DataFrame, normalize: bool, by: str = "threshold",
               reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Points to fit: (group, threshold, utd, data, scale), NaN crossings kept (dropped by the fit, counted).

    ``by``: each env's times are divided by its median per J ("threshold") or over every (σ, J) ("task");
    ``scale`` is the median over envs of those medians, which takes the mean back to env steps.
    ``reference`` (:data:`NORMALIZATION_COLUMNS`, another run set's :func:`_normalization`): divide by its
    medians and multiply by its scale instead, the same numbers for every bootstrap sample, so that two run sets
    are on one scale and a point of one over a point of the other is a mean of their per-env ratios; a (J, env)
    the reference has no finite median for keeps this table's own median (and scale)."""
    if not normalize:
        return table.rename(columns={"env": "group", "crossing": "data"})
    sample = ["sample"] if "sample" in table.columns else []
    if by == "task" and not sample and table["crossing"].isna().any():
        first = table[table["crossing"].isna()].iloc[0]
        raise RlscaleError(f"data efficiency: per-task normalisation needs every crossing, but env {first['env']} "
                           f"never reaches J={first['threshold']:g} at utd {first['utd']:g} (the authors' median "
                           "would be NaN); lower the thresholds or normalise per threshold")
    keys = ["threshold", *sample]
    own = _normalization(table, by, tuple(sample))
    median = table.loc[:, [*keys, "env"]].merge(own, on=[*keys, "env"], how="left")["median"].set_axis(table.index)
    scale = own.groupby(keys)["scale"].first()
    if reference is not None:
        ref = table.loc[:, ["threshold", "env"]].merge(reference.loc[:, list(NORMALIZATION_COLUMNS)],
                                                       on=["threshold", "env"], how="left")
        given = np.isfinite(ref["median"].to_numpy(dtype=float))
        median = pd.Series(np.where(given, ref["median"].to_numpy(dtype=float), median.to_numpy(dtype=float)),
                           index=table.index)
    table = table.assign(rel=table["crossing"] / median)
    points = table.groupby([*keys, "utd"], as_index=False)["rel"].mean()  # mean over envs that reached J
    points = points.join(scale, on=keys)
    if reference is not None:
        ref_scale = reference.groupby("threshold")["scale"].first()
        given = points["threshold"].map(ref_scale).to_numpy(dtype=float)
        points["scale"] = np.where(np.isfinite(given), given, points["scale"].to_numpy(dtype=float))
    points["data"] = points["rel"] * points["scale"]
    return points.drop(columns=["rel"]).assign(group=ALL)


def _unreferenced(table: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """The (J, env) of a point table with a crossing whose reference has no finite median (or scale) there."""
    seen = table[np.isfinite(table["crossing"].to_numpy(dtype=float))].drop_duplicates(["threshold", "env"])
    ref = seen.loc[:, ["threshold", "env"]].merge(reference, on=["threshold", "env"], how="left")
    bad = ~(np.isfinite(ref["median"].to_numpy(dtype=float)) & np.isfinite(ref["scale"].to_numpy(dtype=float)))
    return ref.loc[bad, ["threshold", "env"]]


def outside_interval(estimate: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Whether each estimate lies outside its own interval (a bound that is NaN does not count): a percentile
    bootstrap interval can, where the refits lean to one side of the point fit."""
    estimate, lower, upper = (np.asarray(v, dtype=float) for v in (estimate, lower, upper))
    with np.errstate(invalid="ignore"):
        return (estimate < lower) | (estimate > upper)


def _outside_message(n: int, what: str, first: float) -> str:
    return (f"{what}: the estimate lies outside its own interval at {n} value(s) (first: σ {first:g}); the percentile "
            "interval of the bootstrap refits leans away from the point fit there (outside_interval marks the rows): "
            "read the interval as the refits' spread, not as centred on the estimate")


HELDOUT_COLUMNS = ("group", "threshold", "utd", "actual", "predicted", "rel_error", "reason")
BOOTSTRAP_COLUMNS = ("group", "threshold", "sample", *_THETA)


class DataEfficiency:
    """D_J(σ) = D_min + (β_J/σ)^α_J per threshold J (and per env when ``normalize=False``).

    Fitted attributes: ``params_`` (one row per (group, threshold), columns :data:`PARAM_COLUMNS`:
    ``d_min``, ``beta``, ``exponent`` (α), ``utd_scale`` (s_0 of the form D_min·(1 + (σ/s_0)^-α)),
    ``n_points``, ``n_dropped`` (NaN crossings), ``df_resid`` (n − 3), ``rmse_log`` and ``r2_log`` (the
    goodness of fit in log D: root mean square residual and R² = 1 − SS_res/SS_tot, NaN where there is no
    fit or no spread), the covariance
    of (log D_min, log s_0, α), ``status``/``reason`` (the verdict) and ``same_as``); ``points_``
    (the points fitted: group, threshold, utd, data); ``bootstrap_`` (per-sample refits, or None);
    ``groups_`` ("all" for the normalised fit, else env names); ``thresholds_``; ``ci_method_``
    ("jacobian" or "bootstrap"); ``normalization_`` (the normalised fit's per-(J, env) medians and scale,
    :data:`NORMALIZATION_COLUMNS`: its own or the ``reference`` it was given; None per env or when loaded).
    :meth:`conf_int` gives intervals at any level.

    Held-out σ: with ``fit_utds=(lo, hi)`` the points are built from every σ (so the normalisation is
    the same) but each law is fitted on σ in [lo, hi] only; ``heldout_`` then lists every other point
    with its prediction and relative error |pred − actual| / actual where the fit is a law, else the
    reason there is none.
    """

    def __init__(
        self, normalize: bool = True, min_points: int = 4, fit_utds: tuple[float, float] | None = None,
        max_ci_decades: float = MAX_CI_DECADES, normalize_by: str = "threshold", loss: str = "log",
    ) -> None:
        self.normalize = normalize
        self.min_points = min_points
        self.fit_utds = fit_utds
        self.max_ci_decades = max_ci_decades
        self.normalize_by = normalize_by
        self.loss = loss

    def fit(self, crossings: pd.DataFrame, bootstrap: pd.DataFrame | None = None,
            reference: pd.DataFrame | None = None) -> DataEfficiency:
        """Fit from crossings (env, utd, threshold, crossing); ``bootstrap`` adds a ``sample`` column.

        ``reference``: another fit's :attr:`normalization_`, to put these runs on that fit's per-env scale (a
        baseline compared with fitted runs) rather than their own, so the two fits' points divide into a mean of
        per-env ratios; one :class:`~rlscale.errors.RlscaleWarning` names the (J, env) it has no median for (these
        runs' own is used there). Only for the env-normalised fit."""
        if self.min_points < 3:
            raise RlscaleError(f"data efficiency: min_points must be >= 3 (3 parameters), got {self.min_points}")
        check_max_ci_decades(self.max_ci_decades)
        if self.normalize_by not in NORMALIZE_BY or self.loss not in LOSSES:
            raise RlscaleError(f"data efficiency: normalize_by must be one of {', '.join(NORMALIZE_BY)} and loss one "
                               f"of {', '.join(LOSSES)} (got {self.normalize_by!r}, {self.loss!r})")
        table = _check_table(crossings, "crossings table")
        if table.empty:
            raise RlscaleError("data efficiency: the crossings table is empty")
        if reference is not None:
            if not self.normalize:
                raise RlscaleError("data efficiency: a reference normalisation needs normalize=True")
            missing = [c for c in NORMALIZATION_COLUMNS if c not in reference.columns]
            if missing:
                raise RlscaleError(f"data efficiency: the reference normalisation lacks column(s) {', '.join(missing)}")
            reference = reference.loc[:, list(NORMALIZATION_COLUMNS)].astype({"env": str})
            own = _unreferenced(table, reference)
            if len(own):
                warnings.warn(f"data efficiency: the reference runs have no median crossing at {len(own)} (J, env) "
                              f"these runs reach (first: env {own['env'].iloc[0]} at J={own['threshold'].iloc[0]:g}): "
                              "there these runs' own median (and scale) normalise them, so their points are not on "
                              "the reference's scale", RlscaleWarning, stacklevel=2)
        points = _aggregate(table, self.normalize, self.normalize_by, reference)
        self.normalization_ = (reference if reference is not None else
                               _normalization(table, self.normalize_by) if self.normalize else None)
        boot = None
        if bootstrap is not None:
            boot_table = _check_table(bootstrap, "bootstrap table")
            if "sample" not in boot_table.columns:
                raise RlscaleError("data efficiency: the bootstrap table needs a 'sample' column")
            boot = _aggregate(boot_table, self.normalize, self.normalize_by, reference)
        self.ci_method_ = "bootstrap" if boot is not None else "jacobian"
        inside = np.ones(len(points), dtype=bool)
        if self.fit_utds is not None:
            lo, hi = self.fit_utds
            inside = points["utd"].between(lo, hi).to_numpy()
            if boot is not None:
                boot = boot[boot["utd"].between(lo, hi)]
        rows, samples, pending = [], [], []
        cells = list(points[inside].groupby(["group", "threshold"], sort=True))
        linear: list = [None] * len(cells)
        if self.loss == "linear":  # the authors' fits of every (group, J), stacked (each fit unchanged)
            problems = [self._linear_problem(sub) for _, sub in cells]
            fitted = iter(_fit_linear_many([p for p in problems if p is not None]))
            linear = [next(fitted) if p is not None else None for p in problems]
        for ((group, thr), sub), abc in zip(cells, linear, strict=True):
            pending.append(self._fit_group(group, thr, sub, boot, abc))
        # every (group, J)'s bootstrap refits in a few batched solves (one per number of σ values), then the verdicts
        refits = _refit_batched([job[3] if job is not None else None for _, job in pending], self.loss)
        for (row, job), thetas in zip(pending, refits, strict=True):
            if job is not None:
                theta, bounds = job[0], job[1]
                row["status"], row["reason"] = self._judge(row, theta, bounds, thetas)
            rows.append(row)
            samples += [(row["group"], row["threshold"], k, *t) for k, t in enumerate(thetas)]
        if not rows:
            raise RlscaleError(f"data efficiency: no points with utd in {self.fit_utds} to fit")
        self.points_ = points.loc[:, ["group", "threshold", "utd", "data"]].reset_index(drop=True)
        self.bootstrap_ = pd.DataFrame(samples, columns=list(BOOTSTRAP_COLUMNS)) if boot is not None else None
        self._set_params(_mark_same(pd.DataFrame(rows), self.points_[inside]))
        if self.fit_utds is not None:
            self.heldout_ = self._heldout(self.points_[~inside])
        return self

    def _set_params(self, params: pd.DataFrame) -> None:
        self.params_ = params.loc[:, list(PARAM_COLUMNS)].reset_index(drop=True)
        self.groups_ = list(dict.fromkeys(self.params_["group"]))
        self.thresholds_ = np.sort(self.params_["threshold"].unique())
        self._index = {(r.group, float(r.threshold)): r for r in self.params_.itertuples(index=False)}

    def _heldout(self, held: pd.DataFrame) -> pd.DataFrame:
        held = held[np.isfinite(held["data"].to_numpy())]
        lo, hi = self.fit_utds
        rows = []
        for r in held.itertuples(index=False):
            fit = self._index.get((r.group, float(r.threshold)))
            pred, reason = np.nan, ""
            if fit is None:
                reason = f"no points of J={r.threshold:g} with utd in {lo:g}..{hi:g}"
            elif fit.status != OK:
                reason = f"no law on utd {lo:g}..{hi:g} ({fit.status}): {fit.reason}"
            else:
                pred = float(efficiency_curve(r.utd, fit.d_min, fit.beta, fit.exponent))
            rows.append({"group": r.group, "threshold": float(r.threshold), "utd": float(r.utd),
                         "actual": float(r.data), "predicted": pred, "rel_error": abs(pred - r.data) / r.data,
                         "reason": reason})
        return pd.DataFrame(rows, columns=list(HELDOUT_COLUMNS))

    @staticmethod
    def _finite(sub: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One (group, J)'s points that reach J: the mask over ``sub``, their σ and their times."""
        ok = np.isfinite(sub["data"].to_numpy())
        return ok, sub["utd"].to_numpy()[ok], sub["data"].to_numpy()[ok]

    @staticmethod
    def _linear_scale(sub: pd.DataFrame, data: np.ndarray) -> float:
        """The scale m the linear fit works in, as the authors fit: the normalisation's (per env: the env's median
        time)."""
        return float(sub["scale"].iloc[0]) if "scale" in sub.columns else float(np.median(data))

    def _linear_problem(self, sub: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
        """(σ, times in units of the scale m) that :meth:`_fit_group` gives the linear fit; None: too few σ."""
        _, utd, data = self._finite(sub)
        return (utd, data / self._linear_scale(sub, data)) if self._enough(utd) else None

    def _enough(self, utd: np.ndarray) -> bool:
        """Whether J is reached at enough σ values to fit a law of 3 parameters (``min_points``)."""
        return np.unique(utd).size >= self.min_points

    def _fit_group(self, group: str, thr: float, sub: pd.DataFrame, boot: pd.DataFrame | None,
                   linear: tuple[float, float, float] | None = None) -> tuple[dict, tuple | None]:
        """One (group, J)'s point fit: its row, and (theta, bounds, group, bootstrap refit problem or None) where it
        was fitted (the verdict waits for the refits), None where not (the row then has its verdict). ``linear``:
        the linear fit's (a, b, c) of :meth:`_linear_problem` (:func:`_fit_linear_many`), given with ``loss="linear"``
        wherever there are enough σ."""
        ok, utd, data = self._finite(sub)
        row: dict = {"group": group, "threshold": float(thr), "n_points": int(ok.sum()),
                     "n_dropped": int((~ok).sum()), "df_resid": int(ok.sum()) - 3, "rmse_log": np.nan, "r2_log": np.nan,
                     "status": NOT_FITTED, "reason": "", "same_as": np.nan,
                     **dict.fromkeys(PARAMETERS, np.nan), **dict.fromkeys(_COV, np.nan)}
        if not self._enough(utd):
            row["reason"] = (f"J is reached at {np.unique(utd).size} utd value(s); a law of 3 parameters needs "
                             f"{self.min_points} or more ({row['n_dropped']} (env, utd) point(s) never reach J)")
            return row, None
        log_utd, log_y = np.log(utd), np.log(data)
        if self.loss == "linear":
            a, b, c = linear
            theta = _linear_to_theta(a, b, c, self._linear_scale(sub, data))
            if theta is None:
                row["status"], row["reason"] = AT_BOUND, (
                    f"the linear fit m·(c + (σ/b)^-a) gives c = {c:.3g}, a = {a:.3g}, b = {b:.3g}: no positive floor "
                    "D_min (or no decay in σ), so it is not a law D_min + (β/σ)^α")
                return row, None
            bounds = None
            row.update(_covariance_at(theta, log_utd, data))
            row["rmse_log"] = float(np.sqrt(np.mean((_log_model(theta, log_utd) - log_y) ** 2)))
        else:
            res = _fit_one(log_utd, log_y)
            theta, bounds = res.x, _bounds(log_utd, log_y)
            row.update(_covariance(res, len(log_y)))
            row["rmse_log"] = float(np.sqrt(2.0 * res.cost / len(log_y)))
        row["r2_log"] = r2_log(log_y, _log_model(theta, log_utd))
        row.update(_theta_to_params(theta))
        problem = None
        if boot is not None:
            sub_boot = boot[(boot["group"] == group) & np.isclose(boot["threshold"], thr)]
            problem = self._bootstrap_problem(sub_boot, theta, utd, log_y)
        return row, (theta, bounds, group, problem)

    def _judge(self, row: dict, theta: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None,
               thetas: list[np.ndarray]) -> tuple[str, str]:
        if row["df_resid"] < 1:
            return EXACT, f"{row['n_points']} points for 3 parameters: no residual degrees of freedom"
        if bounds is not None:  # the linear fit is unbounded
            lo, hi = bounds
            tol = 1e-6 * (hi - lo)
            for k, name in enumerate(_THETA):
                for side, bound in (("lower", lo[k]), ("upper", hi[k])):
                    if abs(theta[k] - bound) <= tol[k]:
                        return AT_BOUND, _BOUND_REASONS.get((name, side), f"{name} reached its {side} bound")
        ci = (_bootstrap_intervals(np.asarray(thetas), JUDGE_ALPHA) if thetas
              else _jacobian_intervals(pd.Series(row), JUDGE_ALPHA))
        spans = {"D_min": decades(*ci["d_min"]), "s_0": decades(*ci["utd_scale"]),
                 "α": ci["exponent"][1] - ci["exponent"][0]}
        wide = {k: v for k, v in spans.items() if not v <= self.max_ci_decades}
        if wide:
            what = ", ".join(f"{k} spans {v:.3g} decades" if k != "α" else f"α's interval is {v:.3g} wide"
                             for k, v in wide.items())
            return WIDE, (f"95% interval too wide ({what}; limit {self.max_ci_decades:g}): the points do not "
                          "determine the law")
        return OK, ""

    def _bootstrap_problem(self, boot: pd.DataFrame, theta: np.ndarray, utd: np.ndarray,
                           log_y: np.ndarray) -> tuple | None:
        """The refits on each bootstrap sample with enough points, started at the point estimate, as the arguments
        of :func:`_refit_many` (without ``loss``); None when no sample has enough points."""
        # [sample, σ] times, NaN where a sample has no point: one (sample, σ) row each (_check_table, _aggregate),
        # so placing them is a pivot; done in numpy, since a pandas pivot per (group, J) is most of the cost here
        columns = np.unique(utd)
        rows, row = np.unique(boot["sample"].to_numpy(), return_inverse=True)
        at = boot["utd"].to_numpy(dtype=float)
        col = np.minimum(np.searchsorted(columns, at), len(columns) - 1)
        hit = columns[col] == at
        values = np.full((len(rows), len(columns)), np.nan)
        values[row[hit], col[hit]] = boot["data"].to_numpy(dtype=float)[hit]
        ok = np.isfinite(values) & (values > 0)
        keep = ok.sum(axis=1) >= self.min_points
        if not keep.any():
            return None
        log_x = np.log(columns)
        lo, hi = _bounds(np.log(utd), log_y)
        lo, hi = np.minimum(lo, theta), np.maximum(hi, theta)  # an unbounded (linear) fit may lie beyond them
        return log_x, np.where(ok, np.log(np.where(ok, values, 1.0)), 0.0)[keep], ok[keep], theta, lo, hi

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """(1 - alpha) intervals of D_min, β, α (``exponent``) and s_0 (``utd_scale``), indexed by
        (group, threshold, parameter): ``lower``, ``upper`` (NaN where not fitted or no residual dof)."""
        rows = []
        for r in self.params_.itertuples(index=False):
            if r.status == NOT_FITTED:
                ci = dict.fromkeys(PARAMETERS, (np.nan, np.nan))
            elif self.bootstrap_ is not None:
                ci = _bootstrap_intervals(self._bootstrap_thetas(r), alpha)
            else:
                ci = _jacobian_intervals(r, alpha)
            rows += [(r.group, float(r.threshold), name, *ci[name]) for name in PARAMETERS]
        frame = pd.DataFrame(rows, columns=["group", "threshold", "parameter", "lower", "upper"])
        return frame.set_index(["group", "threshold", "parameter"])

    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy parameter table: group, threshold, parameter, estimate, lower, upper, n_points, df_resid,
        rmse_log, r2_log, status, reason, same_as."""
        ci = self.conf_int(alpha).reset_index()
        long = self.params_.melt(id_vars=["group", "threshold", "n_points", "df_resid", "rmse_log", "r2_log", "status",
                                          "reason", "same_as"], value_vars=list(PARAMETERS),
                                 var_name="parameter", value_name="estimate")
        out = long.merge(ci, on=["group", "threshold", "parameter"], how="left")
        order = {name: k for k, name in enumerate(PARAMETERS)}
        out = out.sort_values(["group", "threshold", "parameter"], key=lambda c: c.map(order) if c.name ==
                              "parameter" else c, kind="stable").reset_index(drop=True)
        return out.loc[:, ["group", "threshold", "parameter", "estimate", "lower", "upper", "n_points", "df_resid",
                           "rmse_log", "r2_log", "status", "reason", "same_as"]]

    def is_law(self, threshold: float, env: str | None = None) -> bool:
        return self._row(threshold, env).status == OK

    def _row(self, threshold: float, env: str | None):
        group = ALL if self.normalize else env
        if group is None:
            raise RlscaleError(f"data efficiency: fitted per env; pass env= (one of {', '.join(self.groups_)})")
        match = [k for k in self._index if k[0] == group and np.isclose(k[1], threshold)]
        if not match:
            raise RlscaleError(f"data efficiency: no fit for threshold {threshold:g}"
                               f"{'' if self.normalize else f' and env {group}'}; fitted thresholds: "
                               f"{', '.join(f'{t:g}' for t in self.thresholds_)}")
        return self._index[match[0]]

    def params(self, threshold: float, env: str | None = None) -> tuple[float, float, float]:
        """(D_min, β, α) of one fit (NaN when not fitted; see ``params_['status']`` for whether it is a law)."""
        r = self._row(threshold, env)
        return float(r.d_min), float(r.beta), float(r.exponent)

    def predict(self, utd: Sequence[float] | float, threshold: float, env: str | None = None) -> np.ndarray:
        """D_J at the given σ values: the point value only, whatever the verdict (:meth:`predict_interval` says how
        far to trust it). A per-env fit (``normalize=False``) answers in that env's own env steps; the pooled fit
        (group ``"all"``) in normalised env steps, the mean over tasks of each task's crossings divided by its median
        crossing (per J or per task, ``normalize_by``) times the median over tasks of those medians, a median task's
        scale that is no one task's own: for a task's own env steps use the per-env fit."""
        return efficiency_curve(_positive(utd), *self.params(threshold, env))

    def predict_interval(self, utd: Sequence[float] | float, threshold: float, env: str | None = None,
                         alpha: float = 0.05, warn: bool = True) -> pd.DataFrame:
        """D_J at the given σ with its (1 - alpha) interval, one row per σ: ``group, threshold, utd, estimate, lower,
        upper, df_resid, status, extrapolated`` (σ outside the σ this law was fitted on), ``sign_undetermined``
        (always False: the law's form fixes its direction, D_J falls with σ), ``outside_interval``.

        The interval is that of the fitted curve at σ: percentiles of the bootstrap refits' curves where the fit has
        them (the samples of :meth:`conf_int`), else the delta method on the stored covariance of (log D_min,
        log s_0, α) with t on the residual dof; NaN where not fitted or without residual dof. A percentile interval
        need not contain the point fit (the refits lean one way): ``outside_interval`` marks those rows and, with
        ``warn``, one :class:`~rlscale.errors.RlscaleWarning` says so, rather than another interval silently.
        """
        check_alpha(alpha)
        utd, r = _positive(utd), self._row(threshold, env)
        log_u = np.log(utd)
        estimate = efficiency_curve(utd, r.d_min, r.beta, r.exponent)
        lower = upper = np.full(len(utd), np.nan)
        thetas = self._bootstrap_thetas(r) if self.bootstrap_ is not None else None
        if r.status != NOT_FITTED and thetas is not None and len(thetas):
            lower, upper = np.quantile(np.exp(_log_model(thetas, log_u)), [alpha / 2, 1 - alpha / 2], axis=0)
        elif r.status != NOT_FITTED and thetas is None:
            # log D = log D_min + log(1 + z), z = (σ/s_0)^-α: the gradient in (log D_min, log s_0, α)
            shift = log_u - np.log(r.utd_scale)
            weight = special.expit(-r.exponent * shift)  # z / (1 + z)
            grad = np.column_stack([np.ones_like(log_u), weight * r.exponent, -weight * shift])
            var = np.einsum("ui,ij,uj->u", grad, _cov_matrix(r), grad)
            with np.errstate(invalid="ignore"):
                half = t_quantile(alpha, r.df_resid) * np.sqrt(np.maximum(var, 0.0))
            lower, upper = estimate * np.exp(-half), estimate * np.exp(half)
        fitted = self.points_[(self.points_["group"] == r.group) & np.isclose(self.points_["threshold"], r.threshold)
                              & np.isfinite(self.points_["data"])]["utd"].to_numpy(dtype=float)
        if self.fit_utds is not None:
            fitted = fitted[(fitted >= self.fit_utds[0]) & (fitted <= self.fit_utds[1])]
        lo, hi = (fitted.min(), fitted.max()) if len(fitted) else (np.inf, -np.inf)
        outside = outside_interval(estimate, lower, upper)
        if warn and outside.any():
            warnings.warn(_outside_message(int(outside.sum()), f"D_J at J={r.threshold:g}" + (
                "" if r.group == ALL else f" ({r.group})"), float(utd[outside][0])), RlscaleWarning, stacklevel=2)
        return pd.DataFrame({"group": r.group, "threshold": float(r.threshold), "utd": utd, "estimate": estimate,
                             "lower": lower, "upper": upper, "df_resid": int(r.df_resid), "status": r.status,
                             "extrapolated": (utd < lo) | (utd > hi), "sign_undetermined": False,
                             "outside_interval": outside})

    def _bootstrap_thetas(self, r) -> np.ndarray:
        b = self.bootstrap_
        return b[(b["group"] == r.group) & np.isclose(b["threshold"], r.threshold)].loc[:, list(_THETA)].to_numpy(
            dtype=float)

    def problems(self) -> list[str]:
        """One line per (group, J) that is not a law, and per J whose points repeat a lower J's."""
        lines = []
        for r in self.params_.itertuples(index=False):
            head = f"D_J at J={r.threshold:g}" + ("" if r.group == ALL else f" ({r.group})")
            if r.status != OK:
                lines.append(f"{head} is not a law ({r.status}): {r.reason}")
            if np.isfinite(r.same_as):
                lines.append(f"{head} has the same points as J={r.same_as:g}: every utd crossed both levels at the "
                             "same logged evaluation")
        return lines

    def to_dict(self, alpha: float = 0.05) -> list[dict]:
        """One dict per (group, threshold): parameters with ``<name>_lower``/``<name>_upper``, counts, verdict."""
        ci = self.conf_int(alpha)
        out = []
        for r in self.params_.to_dict(orient="records"):
            row = {k: v for k, v in r.items() if k not in _COV}
            for name in PARAMETERS:
                row[f"{name}_lower"], row[f"{name}_upper"] = (float(v) for v in ci.loc[(r["group"], r["threshold"],
                                                                                          name)])
            out.append(row)
        return out

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """The fitted state: ``params``, ``points`` and (bootstrap intervals) ``bootstrap``."""
        frames = {"params": self.params_, "points": self.points_}
        if self.bootstrap_ is not None:
            frames["bootstrap"] = self.bootstrap_
        return frames

    @classmethod
    def from_frames(cls, params: pd.DataFrame, points: pd.DataFrame, bootstrap: pd.DataFrame | None = None,
                    normalize: bool = True, fit_utds: tuple[float, float] | None = None,
                    max_ci_decades: float = MAX_CI_DECADES, normalize_by: str = "threshold",
                    loss: str = "log") -> DataEfficiency:
        """Restore a fit from :meth:`to_frames` (e.g. a saved analysis); the saved verdicts are kept and, with
        ``fit_utds``, the held-out points are predicted again."""
        missing = [c for c in PARAM_COLUMNS if c not in params.columns and c != "r2_log"]
        if missing:
            raise RlscaleError(f"data efficiency: saved parameters lack column(s) {', '.join(missing)}")
        out = cls(normalize=normalize, fit_utds=fit_utds, max_ci_decades=max_ci_decades, normalize_by=normalize_by,
                  loss=loss)
        out.points_ = points.loc[:, ["group", "threshold", "utd", "data"]].astype({"group": str}).reset_index(drop=True)
        out.normalization_ = None
        out.bootstrap_ = None if bootstrap is None else bootstrap.astype({"group": str}).reset_index(drop=True)
        out.ci_method_ = "bootstrap" if bootstrap is not None else "jacobian"
        params = params.astype({"group": str}).assign(reason=text_column(params["reason"]),
                                                      status=text_column(params["status"]))
        if "r2_log" not in params.columns:  # saved before rlscale recorded it: the same number from the saved points
            params = params.assign(r2_log=out._r2_of(params))
        out._set_params(params)
        if fit_utds is not None:
            out.heldout_ = out._heldout(out.points_[~out.points_["utd"].between(*fit_utds)])
        return out

    def _r2_of(self, params: pd.DataFrame) -> list[float]:
        """R² in log D of each saved fit over the points it was fitted on (finite, inside ``fit_utds``)."""
        points = self.points_[np.isfinite(self.points_["data"].to_numpy(dtype=float))]
        if self.fit_utds is not None:
            points = points[points["utd"].between(*self.fit_utds)]
        out = []
        for r in params.itertuples(index=False):
            sub = points[(points["group"] == r.group) & np.isclose(points["threshold"], r.threshold)]
            law = np.array([r.d_min, r.beta, r.exponent], dtype=float)
            if len(sub) == 0 or not np.isfinite(law).all():
                out.append(np.nan)
                continue
            utd, data = sub["utd"].to_numpy(dtype=float), sub["data"].to_numpy(dtype=float)
            out.append(r2_log(np.log(data), np.log(efficiency_curve(utd, *law))))
        return out

    def summary(self, alpha: float = 0.05) -> Summary:
        kind = "env-normalised" if self.normalize else "per env"
        ci = self.conf_int(alpha)
        rows = []
        for r in self.params_.itertuples(index=False):  # one row per fit
            row = {"group": r.group, "threshold": r.threshold, "n_points": r.n_points, "df_resid": r.df_resid,
                   "R² (log)": r.r2_log}
            for name, symbol in (("d_min", "D_min"), ("beta", "β"), ("exponent", "α"), ("utd_scale", "s_0")):
                row[symbol] = getattr(r, name)
                row[f"{symbol} lower"], row[f"{symbol} upper"] = ci.loc[(r.group, float(r.threshold), name)]
            rows.append({**row, "status": r.status})
        wide = pd.DataFrame(rows)
        return Summary(f"Data efficiency D_J(σ) = D_min + (β/σ)^α ({kind})",
                       [("fits", len(self.params_)), ("laws", int((self.params_["status"] == OK).sum())),
                        ("interval", f"{100 * (1 - alpha):g}% ({self.ci_method_})")], [("", wide)],
                       self.problems() + ([_POOLED_UNITS] if self.normalize else []))

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"DataEfficiency(normalize={self.normalize}, min_points={self.min_points})"
        laws = int((self.params_["status"] == OK).sum())
        return (f"<DataEfficiency D_J(σ) = D_min + (β/σ)^α ({'env-normalised' if self.normalize else 'per env'}): "
                f"{len(self.params_)} fits, {laws} laws, thresholds {', '.join(f'{t:g}' for t in self.thresholds_)}>")


_BOUND_REASONS = {
    ("log_utd_scale", "upper"): "s_0 reached its upper bound (1000x the largest utd): D_J keeps falling with σ as a "
                                "pure power law, no floor D_min is visible in the data, so D_min is not determined",
    ("log_utd_scale", "lower"): "s_0 reached its lower bound (1/1000 of the smallest utd): D_J is flat in σ over the "
                                "data, so α and s_0 are not determined",
    ("exponent", "lower"): "α reached its lower bound (0.02)",
    ("exponent", "upper"): "α reached its upper bound (10): D_J drops like a step at s_0",
    ("log_d_min", "lower"): "D_min reached its lower bound (1e-4 of the smallest crossing): no floor in the data",
    ("log_d_min", "upper"): "D_min reached its upper bound (the largest crossing)",
}


#: what a pooled fit's D_J and D_min are measured in (see :meth:`DataEfficiency.predict`)
_POOLED_UNITS = ("pooled over tasks: D_J and D_min are in normalised env steps, the mean over tasks of each task's "
                 "crossing over its median crossing, times the median over tasks of those medians (a median task's "
                 "scale; a task's own env steps are its per-env fit's)")


def _covariance(res, n: int) -> dict[str, float]:
    """Gauss-Newton covariance s²(JᵀJ)⁻¹ of (log D_min, log s_0, α) at the optimum (NaN without dof)."""
    dof = n - 3
    if dof < 1:
        return dict.fromkeys(_COV, np.nan)
    try:
        cov = (2.0 * res.cost / dof) * np.linalg.inv(res.jac.T @ res.jac)
    except np.linalg.LinAlgError:
        return dict.fromkeys(_COV, np.nan)
    return dict(zip(_COV, (cov[0, 0], cov[1, 1], cov[2, 2], cov[0, 1], cov[0, 2], cov[1, 2]), strict=True))


def _covariance_at(theta: np.ndarray, log_utd: np.ndarray, data: np.ndarray) -> dict[str, float]:
    """Gauss-Newton covariance of (log D_min, log s_0, α) for the linear loss: residuals D(σ) - data."""
    dof = len(data) - 3
    if dof < 1:
        return dict.fromkeys(_COV, np.nan)
    fitted = np.exp(_log_model(theta, log_utd))
    weight = special.expit(-theta[2] * (log_utd - theta[1]))
    jac = fitted[:, None] * np.column_stack([np.ones_like(log_utd), weight * theta[2], -weight * (log_utd - theta[1])])
    try:
        cov = (float(((fitted - data) ** 2).sum()) / dof) * np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        return dict.fromkeys(_COV, np.nan)
    return dict(zip(_COV, (cov[0, 0], cov[1, 1], cov[2, 2], cov[0, 1], cov[0, 2], cov[1, 2]), strict=True))


def _mark_same(params: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """``same_as``: the lowest J of the same group whose fitted points are identical (NaN if none). A J that no σ
    reaches has no points to repeat: its (NaN) crossings are not "the same logged evaluation" as another's."""
    params = params.copy()
    for group, sub in points.groupby("group", sort=False):
        seen: list[tuple[float, np.ndarray]] = []
        for thr, pts in sub.sort_values(["threshold", "utd"]).groupby("threshold", sort=True):
            key = pts.loc[:, ["utd", "data"]].to_numpy(dtype=float)
            if not np.isfinite(key[:, 1]).any():
                continue
            twin = next((t for t, k in seen if k.shape == key.shape and np.array_equal(k, key, equal_nan=True)), None)
            if twin is not None:
                params.loc[(params["group"] == group) & np.isclose(params["threshold"], thr), "same_as"] = twin
            else:
                seen.append((float(thr), key))
    return params
