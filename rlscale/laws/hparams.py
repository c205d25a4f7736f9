"""Best batch size and learning rate per (task, σ), and their power laws in σ (the paper's hyperparameter step).

:class:`BestHyperparams` turns threshold crossings into one best (B, η) per (benchmark, env, algo,
utd); :class:`HyperparamLaws` fits B*(σ) and η*(σ) with :class:`~rlscale.laws.powerlaw.PowerLaw`
(shared slope per benchmark and separate slopes per env), proposes hyperparameters for any σ and
gives the constant-hyperparameter baseline. Averages of hyperparameters are geometric (in log space) by
default; ``average="arithmetic"`` averages the values themselves, as the authors' code does.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws.powerlaw import SHARED_DOF_NOTE, PowerLaw
from rlscale.laws.summary import MAX_CI_DECADES, OK, SIGN_UNDETERMINED, Summary, check_alpha
from rlscale.laws.thresholds import ThresholdCrossings

TASK_COLUMNS = ("benchmark", "env", "algo", "utd")
HPARAMS = ("batch_size", "learning_rate")
#: how each law is named in what is printed
LAW_NAMES = {"batch_size": "B*(σ)", "learning_rate": "η*(σ)"}

AVERAGES = ("log", "arithmetic")
UNREACHED = ("drop", "first")
SEPARATE_UTDS = ("all", "all_but_largest")

TIE_BREAKS = ("first", "random")

# Each estimator maps time-to-threshold on the grid [n_B, n_eta, samples] (inf = never reached) to
# per-sample (log B, log eta); "bootstrap" ones average those over the bootstrap samples. ``average``
# says how values are averaged ("log": geometric mean, "arithmetic"), ``unreached`` what a sample in which
# no grid value reaches J gives ("drop": nothing, NaN; "first": the smallest grid value, what np.argmin of
# all-infinite times returns), ``rng`` how cells reaching J at the same logged step are told apart (None: the
# smallest grid value, as np.argmin and the paper do; a generator: one of them at random).
Estimator = Callable[[np.ndarray, np.ndarray, np.ndarray, str, str, np.random.Generator | None],
                     tuple[np.ndarray, np.ndarray]]


def _argmin(times: np.ndarray, axis: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """np.argmin along ``axis``; with ``rng``, ties among the finite minima broken uniformly at random instead of
    toward the first (smallest grid value). Where nothing is finite it is the first, as np.argmin."""
    first = np.argmin(times, axis=axis)
    if rng is None:
        return first
    low = np.min(times, axis=axis, keepdims=True)
    tied = (times == low) & np.isfinite(low)
    pick = np.argmin(np.where(tied, rng.random(times.shape), np.inf), axis=axis)
    return np.where(np.isfinite(np.squeeze(low, axis=axis)), pick, first)


def tied_best(times: np.ndarray) -> np.ndarray:
    """Per sample of a grid [n_B, n_eta, samples]: whether two or more cells share the smallest finite time (the
    best cell reached J at the same logged step as another, so which one is "best" is a tie-break)."""
    flat = times.reshape(-1, times.shape[-1])
    low = flat.min(axis=0)
    return np.isfinite(low) & ((flat == low).sum(axis=0) >= 2)


def average_logs(log_values: np.ndarray, average: str, axis: int | None = None) -> np.ndarray | float:
    """The mean of values given as logs, as a log: geometric (``"log"``) or arithmetic; NaN entries skipped."""
    if axis is None:
        finite = log_values[np.isfinite(log_values)]
        if not len(finite):
            return np.nan
        return float(finite.mean()) if average == "log" else float(np.log(np.exp(finite).mean()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice: nothing reached J there
        if average == "log":
            return np.nanmean(log_values, axis=axis)
        return np.log(np.nanmean(np.exp(log_values), axis=axis))


def _joint_argmin(times: np.ndarray, log_b: np.ndarray, log_lr: np.ndarray, average: str = "log",
                  unreached: str = "drop", rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The grid cell with the smallest time: the best B and the η that was best with it."""
    n_b, n_lr, n_s = times.shape
    flat = times.reshape(n_b * n_lr, n_s)
    idx = _argmin(flat, 0, rng)
    ok = np.isfinite(flat[idx, np.arange(n_s)]) | (unreached == "first")
    return np.where(ok, log_b[idx // n_lr], np.nan), np.where(ok, log_lr[idx % n_lr], np.nan)


def _mean_of_conditional_best(
    times: np.ndarray, log_b: np.ndarray, log_lr: np.ndarray, average: str = "log", unreached: str = "drop",
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best B for each η (and best η for each B), averaged over the other hyperparameter (the paper's)."""
    b_idx = _argmin(times, 0, rng)  # [n_lr, samples]
    b_ok = np.isfinite(np.min(times, axis=0)) | (unreached == "first")
    lr_idx = _argmin(times, 1, rng)  # [n_b, samples]
    lr_ok = np.isfinite(np.min(times, axis=1)) | (unreached == "first")
    b = average_logs(np.where(b_ok, log_b[b_idx], np.nan), average, axis=0)
    lr = average_logs(np.where(lr_ok, log_lr[lr_idx], np.nan), average, axis=0)
    return b, lr


def _quadratic_optimum(
    times: np.ndarray, log_b: np.ndarray, log_lr: np.ndarray, average: str = "log", unreached: str = "drop",
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Beyond the paper: the vertex of a quadratic in (log B, log η) fitted to log time around the best cell.

    The grid argmin can only return grid values, which flattens the fitted slopes when the true
    optimum sits between grid points. We fit log time = quadratic (6 terms) to the finite cells of
    the 3×3 window around the best cell (shifted inwards at the grid edge) and take its vertex,
    clipped to the window. If the window is not convex in both directions we fall back per axis
    to a 1-D parabola through the best cell's row/column, and finally to the grid value. A sample where
    nothing reached J has no vertex (NaN), whatever ``unreached`` says.
    """
    n_b, n_lr, n_s = times.shape
    out_b, out_lr = np.full(n_s, np.nan), np.full(n_s, np.nan)
    log_t = np.log(times)
    for s in range(n_s):
        z = log_t[:, :, s]
        if not np.isfinite(z).any():
            continue
        i, j = np.unravel_index(int(_argmin(np.where(np.isfinite(z), z, np.inf).ravel(), 0, rng)), z.shape)
        rows, cols = _window(i, n_b), _window(j, n_lr)
        out_b[s], out_lr[s] = _vertex(z, log_b, log_lr, i, j, rows, cols)
    return out_b, out_lr


def _window(i: int, n: int) -> np.ndarray:
    lo = min(max(i - 1, 0), max(n - 3, 0))
    return np.arange(lo, min(lo + 3, n))


def _vertex(
    z: np.ndarray, log_b: np.ndarray, log_lr: np.ndarray, i: int, j: int, rows: np.ndarray, cols: np.ndarray
) -> tuple[float, float]:
    u_lo, u_hi = log_b[rows].min(), log_b[rows].max()
    v_lo, v_hi = log_lr[cols].min(), log_lr[cols].max()
    uu, vv = np.meshgrid(log_b[rows] - log_b[i], log_lr[cols] - log_lr[j], indexing="ij")
    zz = z[np.ix_(rows, cols)]
    ok = np.isfinite(zz)
    if ok.sum() >= 6 and len(rows) == 3 and len(cols) == 3:
        u, v, w = uu[ok], vv[ok], zz[ok]
        design = np.column_stack([np.ones_like(u), u, v, u * u, v * v, u * v])
        coef, _, rank, _ = np.linalg.lstsq(design, w, rcond=None)
        hess = np.array([[2 * coef[3], coef[5]], [coef[5], 2 * coef[4]]])
        if rank == 6 and hess[0, 0] > 0 and np.linalg.det(hess) > 0:
            du, dv = np.linalg.solve(hess, -coef[1:3])
            return float(np.clip(log_b[i] + du, u_lo, u_hi)), float(np.clip(log_lr[j] + dv, v_lo, v_hi))
    b = _parabola_vertex(log_b[rows], z[rows, j], log_b[i], u_lo, u_hi)
    lr = _parabola_vertex(log_lr[cols], z[i, cols], log_lr[j], v_lo, v_hi)
    return b, lr


def _parabola_vertex(x: np.ndarray, y: np.ndarray, best: float, lo: float, hi: float) -> float:
    ok = np.isfinite(y)
    if ok.sum() < 3:
        return best
    a, b, _ = np.polyfit(x[ok], y[ok], 2)
    return float(np.clip(-b / (2 * a), lo, hi)) if a > 0 else best


# name -> (per-sample estimator, average it over bootstrap samples?)
ESTIMATORS: dict[str, tuple[Estimator, bool]] = {
    "bootstrap": (_mean_of_conditional_best, True),
    "bootstrap_joint": (_joint_argmin, True),
    "point": (_joint_argmin, False),
    "mean_other": (_mean_of_conditional_best, False),
    "quadratic": (_quadratic_optimum, False),
    "bootstrap_quadratic": (_quadratic_optimum, True),
}
ESTIMATOR_HELP = {
    "bootstrap": "the paper's (default): per bootstrap sample the best B for each η and the best η "
    "for each B, averaged over samples and over the other hyperparameter",
    "bootstrap_joint": "per bootstrap sample the best grid cell (best B and the η best with it), averaged",
    "point": "grid argmin of the all-seeds crossing",
    "mean_other": "all-seeds best B for each η (best η for each B), averaged over the other hyperparameter",
    "quadratic": "beyond the paper: vertex of a quadratic in log B, log η fitted to log time around the best cell",
    "bootstrap_quadratic": "beyond the paper: the quadratic vertex per bootstrap sample, averaged over samples",
}


def check_estimator(name: str) -> None:
    """Refuse a name that is none of :data:`ESTIMATORS` before any work: the analysis checks it before loading its
    tables, the best-hyperparameter step before fitting, both with this one message."""
    if name not in ESTIMATORS:
        raise RlscaleError(f"unknown estimator '{name}' (choose from {', '.join(ESTIMATORS)})")


class BestHyperparams:
    """Uncertainty-corrected best (B, η) per (benchmark, env, algo, utd) at one threshold.

    ``estimator`` is one of :data:`ESTIMATORS` (see :data:`ESTIMATOR_HELP`); ``average`` ("log": geometric
    means, "arithmetic") and ``unreached`` ("drop"/"first", see :data:`Estimator`) are the averaging choices
    (rlscale's defaults; the authors': "arithmetic", "first"). After :meth:`fit`,
    ``best_`` has TASK_COLUMNS, ``batch_size``, ``learning_rate`` (continuous), ``*_lower``/``*_upper``
    (2.5/97.5 percentiles of the per-bootstrap-sample estimate; :meth:`conf_int` for other levels; NaN, with a
    warning, where a configuration has one seed, which no resample varies),
    ``tied_frac`` (the share of bootstrap samples whose best grid cell reached J at the same logged step as
    another: the estimate then rests on ``tie_break``, "first" the smallest grid value as the paper's argmin,
    "random" one of the tied cells at random, seeded by ``random_state``), ``estimated_frac`` (the share of
    bootstrap samples that gave an estimate of both B and η: with ``unreached="drop"`` a sample where no cell
    reaches J gives none, so a low share, e.g. with ``n_reached`` 0, says the estimate rests on the few lucky
    resamples),
    ``*_log_std`` (their spread in natural log), ``grid_batch_size``/``grid_learning_rate`` (grid
    argmin of the all-seeds crossing, what the constant baseline reuses), ``time_to_threshold`` (its
    crossing), ``n_reached`` (grid cells whose all-seeds curve reached the threshold), ``n_cells`` and
    ``batch_size_at_edge``/``learning_rate_at_edge`` (the grid argmin is the task's smallest or largest value
    over all σ: the optimum may lie beyond the grid; a warning counts them, and the (task, σ) whose grid lacks
    cells the task has elsewhere). A (task, σ) where no cell reaches the threshold gets NaN and a warning, and so
    does B (η) at one that tried a single value of a B (η) its task varies at other σ: nothing was chosen there.
    """

    def __init__(self, threshold: float = 800.0, estimator: str = "bootstrap", average: str = "log",
                 unreached: str = "drop", tie_break: str = "first", random_state: int | None = 0) -> None:
        self.threshold = threshold
        self.estimator = estimator
        self.average = average
        self.unreached = unreached
        self.tie_break = tie_break
        self.random_state = random_state

    def fit(self, crossings: ThresholdCrossings) -> BestHyperparams:
        check_estimator(self.estimator)
        if self.average not in AVERAGES or self.unreached not in UNREACHED or self.tie_break not in TIE_BREAKS:
            raise RlscaleError(f"best hyperparameters: average must be one of {', '.join(AVERAGES)}, unreached "
                               f"one of {', '.join(UNREACHED)} and tie_break one of {', '.join(TIE_BREAKS)} (got "
                               f"{self.average!r}, {self.unreached!r}, {self.tie_break!r})")
        rng = np.random.default_rng(self.random_state) if self.tie_break == "random" else None
        if crossings.bootstrap_ is None:
            raise RlscaleError("best hyperparameters: these crossings were restored from a saved analysis and have "
                               "no bootstrap samples; compute them from the run table")
        match = np.nonzero(np.isclose(crossings.thresholds_, self.threshold))[0]
        if len(match) == 0:
            raise RlscaleError(f"best hyperparameters: threshold {self.threshold:g} was not computed "
                               f"(crossings have {', '.join(f'{t:g}' for t in crossings.thresholds_)})")
        j = int(match[0])
        func, average = ESTIMATORS[self.estimator]
        configs = crossings.configs_
        point = np.where(np.isnan(crossings.crossing_[:, j]), np.inf, crossings.crossing_[:, j])
        boot = np.where(np.isnan(crossings.bootstrap_[:, j]), np.inf, crossings.bootstrap_[:, j])

        rows, samples, one_seed, edges, holes, single = [], [], [], [], [], []
        task_grid = {key: (np.unique(g["batch_size"]), np.unique(g["learning_rate"]))  # each task's B and η over σ
                     for key, g in configs.groupby(list(TASK_COLUMNS[:-1]), sort=True, observed=True)}
        for key, idx in configs.groupby(list(TASK_COLUMNS), sort=True, observed=True).indices.items():
            sub = configs.iloc[idx]
            b_vals, b_pos = np.unique(sub["batch_size"].to_numpy(dtype=float), return_inverse=True)
            lr_vals, lr_pos = np.unique(sub["learning_rate"].to_numpy(dtype=float), return_inverse=True)
            grid_point = np.full((len(b_vals), len(lr_vals), 1), np.inf)
            grid_point[b_pos, lr_pos, 0] = point[idx]
            grid_boot = np.full((len(b_vals), len(lr_vals), boot.shape[1]), np.inf)
            grid_boot[b_pos, lr_pos] = boot[idx]
            log_b, log_lr = np.log(b_vals), np.log(lr_vals)

            samples_b, samples_lr = func(grid_boot, log_b, log_lr, self.average, self.unreached, rng)
            if average:
                value_b, value_lr = (float(average_logs(s, self.average)) for s in (samples_b, samples_lr))
            else:
                value_b, value_lr = (float(v[0]) for v in func(grid_point, log_b, log_lr, self.average,
                                                                self.unreached, rng))
            estimated = float(np.mean(np.isfinite(samples_b) & np.isfinite(samples_lr)))
            # one value tried here of a B (or η) the task varies at other σ: the argmin over it is that value, no
            # estimate (a task that never varies it has its one value as the best everywhere)
            grid_b, grid_lr = task_grid[key[:-1]]
            lone_b, lone_lr = len(b_vals) < 2 <= len(grid_b), len(lr_vals) < 2 <= len(grid_lr)
            one_value = lone_b or lone_lr
            if one_value:
                single.append((key, len(idx)))
            if lone_b:
                value_b, samples_b = np.nan, np.full_like(samples_b, np.nan)
            if lone_lr:
                value_lr, samples_lr = np.nan, np.full_like(samples_lr, np.nan)
            if sub["n_seeds"].min() < 2:  # every resample of one seed is that seed: a zero-width interval is no CI
                one_seed.append(key)
                samples_b, samples_lr = np.full_like(samples_b, np.nan), np.full_like(samples_lr, np.nan)
            samples.append((samples_b, samples_lr))
            cell = int(np.argmin(grid_point[:, :, 0]))
            reached = bool(np.isfinite(grid_point[:, :, 0].flat[cell]))
            row = dict(zip(TASK_COLUMNS, key, strict=True))
            row.update(_describe("batch_size", value_b, samples_b))
            row.update(_describe("learning_rate", value_lr, samples_lr))
            row["grid_batch_size"] = float(b_vals[cell // len(lr_vals)]) if reached else np.nan
            row["grid_learning_rate"] = float(lr_vals[cell % len(lr_vals)]) if reached else np.nan
            row["time_to_threshold"] = float(grid_point.flat[cell]) if reached else np.nan
            row["n_reached"] = int(np.isfinite(grid_point).sum())
            row["tied_frac"] = float(tied_best(grid_boot).mean())
            row["estimated_frac"] = estimated
            row["n_cells"] = len(idx)
            for h, grid in (("batch_size", grid_b), ("learning_rate", grid_lr)):
                row[f"{h}_at_edge"] = reached and row[f"grid_{h}"] in (grid[0], grid[-1])
            if row["batch_size_at_edge"] or row["learning_rate_at_edge"]:
                edges.append(row)
            if len(idx) < len(grid_b) * len(grid_lr):
                holes.append((key, len(idx), len(grid_b) * len(grid_lr)))
            rows.append(row)
            if not one_value and (not np.isfinite(value_b) or not np.isfinite(value_lr)):
                warnings.warn(
                    f"no configuration of env {key[1]} at utd {key[3]:g} reaches J = {self.threshold:g}; "
                    "its best hyperparameters are NaN and left out of the laws",
                    RlscaleWarning, stacklevel=2,
                )
        if one_seed:
            env, utd = one_seed[0][1], one_seed[0][3]
            warnings.warn(f"best hyperparameters: {len(one_seed)} (env, utd) point(s) have configurations with a "
                          f"single seed (first: env {env} at utd {utd:g}); their intervals are NaN: the bootstrap "
                          "over seeds needs 2 or more", RlscaleWarning, stacklevel=2)
        if edges:
            first = edges[0]
            warnings.warn(f"best hyperparameters at J = {self.threshold:g}: at {len(edges)} of {len(rows)} (env, utd) "
                          f"point(s) the grid-best B or η is the smallest or largest the grid tried (first: env "
                          f"{first['env']} at utd {first['utd']:g}, B {first['grid_batch_size']:g}, η "
                          f"{first['grid_learning_rate']:g}): the optimum may lie beyond the grid, so these are bounds "
                          "more than measurements (best_ columns *_at_edge)", RlscaleWarning, stacklevel=2)
        always_tied = [r for r in rows if r["tied_frac"] == 1.0]
        if always_tied:
            first = always_tied[0]
            warnings.warn(f"best hyperparameters at J = {self.threshold:g}: at {len(always_tied)} of {len(rows)} "
                          f"(env, utd) point(s) the best grid cell ties with another in every bootstrap sample (first: "
                          f"env {first['env']} at utd {first['utd']:g}): the data do not pick the best (B, η) there, "
                          "the tie-break does (the smallest tied grid values); log evaluations more often or raise J "
                          "(best_ column tied_frac)", RlscaleWarning, stacklevel=2)
        if single:
            (_, env, _, utd), have = single[0]
            warnings.warn(f"best hyperparameters: {len(single)} (env, utd) point(s) tried a single B or a single η of "
                          f"the several their env tries at other utds (first: env {env} at utd {utd:g}, {have} "
                          "configuration(s)): a best among one value is that value, not an estimate, so it is NaN "
                          "there and left out of the laws", RlscaleWarning, stacklevel=2)
        if holes:
            (_, env, _, utd), have, full = min(holes, key=lambda hole: hole[1] / hole[2])  # the sparsest says most
            warnings.warn(f"best hyperparameters: {len(holes)} (env, utd) point(s) lack cells of their env's B × η "
                          f"grid (sparsest: env {env} at utd {utd:g}, {have} of {full} configurations): their best "
                          "(B, η) is picked among fewer configurations than at the other utds", RlscaleWarning,
                          stacklevel=2)
        self.best_ = pd.DataFrame(rows)
        self._samples = samples
        self.threshold_ = float(crossings.thresholds_[j])
        return self

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Percentile (1 - alpha) intervals of the per-bootstrap-sample estimates, one row per (task, σ):
        TASK_COLUMNS and ``batch_size_lower`` … ``learning_rate_upper``."""
        check_alpha(alpha)
        if getattr(self, "_samples", None) is None:
            raise RlscaleError("best hyperparameters: restored from a saved analysis (95% intervals in best_ only); "
                               "refit for another level")
        out = self.best_.loc[:, list(TASK_COLUMNS)].copy()
        for k, h in enumerate(HPARAMS):
            bounds = [_percentiles(s[k], alpha) for s in self._samples]
            out[f"{h}_lower"] = [b[0] for b in bounds]
            out[f"{h}_upper"] = [b[1] for b in bounds]
        return out

    @classmethod
    def from_frame(cls, best: pd.DataFrame, threshold: float, estimator: str) -> BestHyperparams:
        """Restore from a saved ``best_`` table (95% intervals only)."""
        out = cls(threshold=threshold, estimator=estimator)
        out.best_ = best.reset_index(drop=True)
        out.threshold_ = float(threshold)
        out._samples = None
        return out

    def summary(self, alpha: float = 0.05) -> Summary:
        """The best (B, η) per (task, σ) with (1 - alpha) intervals: those of ``best_`` at 95%, else
        :meth:`conf_int` (which a restored fit refuses)."""
        check_alpha(alpha)
        best = self.best_
        if alpha != 0.05:
            ci = self.conf_int(alpha)
            best = best.assign(**{c: ci[c].to_numpy() for c in ci.columns if c.endswith(("_lower", "_upper"))})
        cols = [*TASK_COLUMNS[1:], "batch_size", "batch_size_lower", "batch_size_upper", "learning_rate",
                "learning_rate_lower", "learning_rate_upper", "n_reached", "n_cells"]
        return Summary(f"Best hyperparameters ({self.estimator}) at J = {self.threshold_:g}",
                       [("(task, σ)", len(self.best_)),
                        ("interval", f"{100 * (1 - alpha):g}% percentile over bootstrap samples")],
                       [("", best.loc[:, cols].drop(columns="algo"))],
                       [ESTIMATOR_HELP.get(self.estimator, "")])

    def __repr__(self) -> str:
        if not hasattr(self, "best_"):
            return f"BestHyperparams(threshold={self.threshold:g}, estimator={self.estimator!r})"
        missing = int((~np.isfinite(self.best_["batch_size"])).sum())
        return (f"<BestHyperparams ({self.estimator}) at J = {self.threshold_:g}: {len(self.best_)} (task, σ), "
                f"{missing} never reached>")


def _percentiles(log_samples: np.ndarray, alpha: float) -> tuple[float, float]:
    finite = log_samples[np.isfinite(log_samples)]
    if not len(finite):
        return np.nan, np.nan
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(np.exp(lo)), float(np.exp(hi))


def _describe(name: str, log_value: float, log_samples: np.ndarray) -> dict[str, float]:
    finite = log_samples[np.isfinite(log_samples)]
    lo, hi = _percentiles(log_samples, 0.05)
    return {
        name: float(np.exp(log_value)),
        f"{name}_lower": lo,
        f"{name}_upper": hi,
        f"{name}_log_std": float(finite.std()) if len(finite) > 1 else np.nan,
    }


#: the columns of :meth:`HyperparamLaws.propose` and :meth:`HyperparamLaws.baseline`
def _positive_utds(utds: Iterable[float]) -> np.ndarray:
    utds = np.asarray(list(utds), dtype=float)
    if utds.size == 0 or np.any(~np.isfinite(utds)) or np.any(utds <= 0):
        raise RlscaleError("hyperparameter laws: utds to propose must be positive numbers")
    return utds


PROPOSAL_COLUMNS = ("env", "utd", "batch_size", "learning_rate", "batch_size_rounded")


def round_batch_size(batch_size: np.ndarray | Sequence[float], multiple: int = 16) -> np.ndarray:
    """As the paper rounds batch sizes: nearest multiple of ``multiple`` (halves round up), at least ``multiple``."""
    b = np.asarray(batch_size, dtype=float)
    return np.maximum(multiple, multiple * np.floor(b / multiple + 0.5)).astype(np.int64)


class HyperparamLaws:
    """B*(σ) and η*(σ) as power laws, fitted independently (the paper finds them uncorrelated).

    ``fit`` takes a :class:`BestHyperparams` (or its ``best_`` table). Both variants are always
    fitted: ``laws_[hparam]["shared"]`` (one slope per benchmark, one intercept per env; the
    paper's recommended one) and ``laws_[hparam]["separate"]`` (per env), each a dict
    benchmark -> :class:`PowerLaw`. ``shared_slope`` picks the variant :meth:`propose` uses.
    ``baseline_`` is the constant-hyperparameter baseline: the grid-best (B, η) at
    ``baseline_utd`` (or the nearest σ present, in log distance) per env. An env whose best
    hyperparameters are finite at fewer than 2 σ cannot have a law; it is left out with a warning.
    ``separate_utds``: the σ the separate laws are fitted on, ``"all"`` or ``"all_but_largest"`` (the
    authors': each task's largest σ left out of its own law; the shared law always uses every σ).
    """

    def __init__(self, shared_slope: bool = True, baseline_utd: float = 2.0,
                 max_ci_decades: float = MAX_CI_DECADES, separate_utds: str = "all") -> None:
        self.shared_slope = shared_slope
        self.baseline_utd = baseline_utd
        self.max_ci_decades = max_ci_decades
        self.separate_utds = separate_utds

    def fit(self, best: BestHyperparams | pd.DataFrame) -> HyperparamLaws:
        check_baseline_utd(self.baseline_utd)
        table = best.best_ if isinstance(best, BestHyperparams) else best
        table = table[np.isfinite(table["batch_size"]) & np.isfinite(table["learning_rate"])]
        counts = table.groupby("env", observed=True)["utd"].nunique()
        too_few = sorted(str(env) for env, n in counts.items() if n < 2)
        for env in too_few:
            have = ", ".join(f"{u:g}" for u in sorted(table.loc[table["env"] == env, "utd"]))
            warnings.warn(f"hyperparameter laws: env {env} has best hyperparameters at only one utd ({have}); "
                          "a law in σ needs 2 or more, so it is left out (lower the highest threshold J, which "
                          "picks the hyperparameters, or add utds)", RlscaleWarning, stacklevel=2)
        table = table[~table["env"].astype(str).isin(too_few)]
        if table.empty:
            raise RlscaleError("hyperparameter laws: no env has finite best hyperparameters at 2 or more utds "
                               "(see the warnings: nothing reached the highest threshold J often enough)")
        if self.separate_utds not in SEPARATE_UTDS:
            raise RlscaleError(f"hyperparameter laws: separate_utds must be one of {', '.join(SEPARATE_UTDS)}, "
                               f"got {self.separate_utds!r}")
        self.laws_: dict[str, dict[str, dict[str, PowerLaw]]] = {h: {"shared": {}, "separate": {}} for h in HPARAMS}
        self.env_benchmark_: dict[str, str] = {}
        for bench, sub in table.groupby("benchmark", sort=True, observed=True):
            for env in sub["env"].unique():
                self.env_benchmark_[str(env)] = str(bench)
            separate = self._separate_points(sub)
            for h in HPARAMS:
                for variant, points in (("shared", sub), ("separate", separate)):
                    law = PowerLaw(shared_slope=variant == "shared", max_ci_decades=self.max_ci_decades)
                    self.laws_[h][variant][str(bench)] = law.fit(points["utd"], points[h],
                                                                 points["env"].astype(str).tolist())
        self.baseline_ = _baseline(table, self.baseline_utd)
        lacking = self.baseline_.loc[~np.isfinite(self.baseline_["batch_size"]), "env"].tolist()
        if lacking:
            warnings.warn(f"constant baseline: no (B, eta) of {', '.join(lacking)} reaches the threshold at the grid's "
                          f"sigma nearest {self.baseline_utd:g}, so it has no baseline", RlscaleWarning, stacklevel=2)
        return self

    def _separate_points(self, sub: pd.DataFrame) -> pd.DataFrame:
        """The points of the separate laws: every σ, or every σ but each env's largest."""
        if self.separate_utds == "all":
            return sub
        largest = sub.groupby("env", observed=True)["utd"].transform("max")
        kept = sub[sub["utd"] < largest]
        few = sorted(str(env) for env, n in kept.groupby("env", observed=True)["utd"].nunique().items() if n < 2)
        missing = sorted(set(sub["env"].astype(str)) - set(kept["env"].astype(str)))
        if few or missing:
            raise RlscaleError(f"hyperparameter laws: without its largest utd, env(s) {', '.join(few + missing)} "
                               "keep fewer than 2 utds for a separate law; use separate_utds='all'")
        return kept

    @property
    def variant(self) -> str:
        return "shared" if self.shared_slope else "separate"

    @property
    def envs_(self) -> list[str]:
        return list(self.env_benchmark_)

    def law(self, hparam: str, env: str, variant: str | None = None) -> PowerLaw:
        """The :class:`PowerLaw` that holds ``env``'s law of ``hparam``."""
        if env not in self.env_benchmark_:
            raise RlscaleError(f"hyperparameter laws: no fit for env '{env}' (fitted: {', '.join(self.envs_)})")
        if hparam not in HPARAMS or (variant or self.variant) not in self.laws_[HPARAMS[0]]:
            raise RlscaleError(f"hyperparameter laws: hparam must be one of {', '.join(HPARAMS)} and variant one of "
                               f"{', '.join(self.laws_[HPARAMS[0]])} (got {hparam!r}, {variant!r})")
        return self.laws_[hparam][variant or self.variant][self.env_benchmark_[env]]

    def predict(self, utds: Iterable[float], env: str, hparam: str, variant: str | None = None) -> np.ndarray:
        return self.law(hparam, env, variant).predict(list(utds), env)

    def propose(self, utds: Iterable[float], envs: Iterable[str] | None = None) -> pd.DataFrame:
        """Proposed (B, η) for every env × σ; ``batch_size_rounded``: to a multiple of 16, at least 16. Point values,
        what a sweep trains at; :meth:`predict_interval` gives their intervals and verdicts."""
        utds = _positive_utds(utds)
        frames = []
        for env in (list(envs) if envs is not None else self.envs_):
            b = self.predict(utds, env, "batch_size")
            frames.append(pd.DataFrame({
                "env": env, "utd": utds, "batch_size": b, "learning_rate": self.predict(utds, env, "learning_rate"),
                "batch_size_rounded": round_batch_size(b),
            }))
        return pd.concat(frames, ignore_index=True)

    def predict_interval(self, utds: Iterable[float], envs: Iterable[str] | None = None, alpha: float = 0.05,
                         variant: str | None = None) -> pd.DataFrame:
        """B*(σ) and η*(σ) of every env × σ with the (1 - alpha) interval of its law there: ``env, hparam, utd`` and
        :meth:`PowerLaw.predict_interval`'s ``estimate, lower, upper, df_resid, status, extrapolated`` (σ outside
        the σ the env's law was fitted on), ``sign_undetermined`` (its exponent's interval includes 0)."""
        utds = _positive_utds(utds)
        frames = []
        for env in (list(envs) if envs is not None else self.envs_):
            for h in HPARAMS:
                frame = self.law(h, env, variant).predict_interval(utds, env, alpha)
                frames.append(frame.drop(columns="group").rename(columns={"x": "utd"}).assign(env=env, hparam=h))
        table = pd.concat(frames, ignore_index=True)
        return table.loc[:, ["env", "hparam", "utd", *[c for c in table.columns if c not in ("env", "hparam", "utd")]]]

    def baseline(self, utds: Iterable[float], envs: Iterable[str] | None = None) -> pd.DataFrame:
        """The constant baseline reused at every σ (same columns as :meth:`propose`); an env whose grid-best cell at
        the baseline σ is missing (no configuration reached the threshold) has no rows."""
        utds = np.asarray(list(utds), dtype=float)
        base = self.baseline_.set_index("env")
        frames = []
        for env in (list(envs) if envs is not None else self.envs_):
            row = base.loc[env]
            if not np.isfinite(row["batch_size"]):
                continue
            frames.append(pd.DataFrame({
                "env": env, "utd": utds, "batch_size": row["batch_size"], "learning_rate": row["learning_rate"],
                "batch_size_rounded": round_batch_size(np.full(len(utds), row["batch_size"])),
            }))
        if not frames:  # no env has a baseline
            return pd.DataFrame(columns=PROPOSAL_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """(1 - alpha) intervals of every law, indexed by (hparam, variant, group, parameter)."""
        frames = [law.conf_int(alpha).assign(hparam=h, variant=v).set_index(["hparam", "variant"], append=True)
                  for h, v, _, law in self._each()]
        return pd.concat(frames).reorder_levels(["hparam", "variant", "group", "parameter"])

    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy parameter table of both variants: hparam, variant, benchmark + :meth:`PowerLaw.table` columns."""
        frames = [law.table(alpha).assign(hparam=h, variant=v, benchmark=b) for h, v, b, law in self._each()]
        table = pd.concat(frames, ignore_index=True)
        return table.loc[:, ["hparam", "variant", "benchmark", *[c for c in table.columns
                                                                 if c not in ("hparam", "variant", "benchmark")]]]

    def _each(self):
        for h in HPARAMS:
            for v in ("shared", "separate"):
                for b, law in self.laws_[h][v].items():
                    yield h, v, b, law

    def to_frame(self) -> pd.DataFrame:
        """The fitted state of every law (hparam, variant, benchmark + :data:`~rlscale.laws.powerlaw.TERM_COLUMNS`)."""
        return pd.concat([law.to_frame().assign(hparam=h, variant=v, benchmark=b) for h, v, b, law in self._each()],
                         ignore_index=True)

    @classmethod
    def from_frames(cls, terms: pd.DataFrame, baseline: pd.DataFrame, shared_slope: bool = True,
                    baseline_utd: float = 2.0, max_ci_decades: float = MAX_CI_DECADES) -> HyperparamLaws:
        """Restore from :meth:`to_frame` and ``baseline_`` tables (e.g. a saved analysis)."""
        out = cls(shared_slope=shared_slope, baseline_utd=baseline_utd, max_ci_decades=max_ci_decades)
        out.laws_ = {h: {"shared": {}, "separate": {}} for h in HPARAMS}
        out.env_benchmark_ = {}
        for (h, v, b), sub in terms.groupby(["hparam", "variant", "benchmark"], sort=False):
            out.laws_[h][v][str(b)] = PowerLaw.from_frame(sub, shared_slope=v == "shared",
                                                          max_ci_decades=max_ci_decades)
            out.env_benchmark_.update({str(g): str(b) for g in sub["group"]})
        out.baseline_ = baseline.reset_index(drop=True).astype({"env": str})
        return out

    def to_dict(self) -> dict:
        """``{hparam: {"shared"|"separate": {env: {coef, exponent, coef_lower, coef_upper, exponent_lower,
        exponent_upper, n_obs, df_resid, r2, status, reason}}}}`` with 95% intervals."""
        out: dict = {}
        for h in HPARAMS:
            out[h] = {"shared": {}, "separate": {}}
        for h, v, _, law in self._each():
            out[h][v].update(law_terms(law))
        return out

    def problems(self) -> list[str]:
        """One line per law (of the variant :meth:`propose` uses) that is not a law, and per law whose exponent's 95%
        interval includes 0 (one line for the tasks that share it): what the summary notes, ``fit hparams`` prints
        and an analysis records."""
        laws = self.table()
        laws = laws[(laws["variant"] == self.variant) & (laws["parameter"] == "exponent")]
        lines = [f"{LAW_NAMES[r.hparam]} of {r.group} is not a law ({r.status}): {r.reason}"
                 for r in laws.itertuples(index=False) if r.status != OK]
        flat = laws[(laws["status"] == OK) & (laws["lower"] < 0) & (laws["upper"] > 0)]
        for (hparam, lower, upper), rows in flat.groupby(["hparam", "lower", "upper"], sort=False):
            lines.append(f"{LAW_NAMES[hparam]} of {', '.join(rows['group'])}: {SIGN_UNDETERMINED} [{lower:.3g}, "
                         f"{upper:.3g}] includes 0, so the data do not tell whether it rises or falls with σ")
        return lines

    def summary(self, alpha: float = 0.05) -> Summary:
        table = self.table(alpha)
        table = table[table["variant"] == self.variant].drop(columns=["variant", "status", "reason"])
        notes = self.problems() + ([SHARED_DOF_NOTE] if self.variant == "shared" and len(self.envs_) > 1 else [])
        law = next(iter(self.laws_["batch_size"][self.variant].values()))
        return Summary(f"Hyperparameter laws B*(σ), η*(σ) = coef · σ^exponent ({self.variant} slope)",
                       [("envs", len(self.envs_)), ("points per law", law.n_obs_), ("residual dof", law.df_resid_),
                        ("interval", f"{100 * (1 - alpha):g}%")], [("", table)], notes)

    def __repr__(self) -> str:
        if not hasattr(self, "laws_"):
            return f"HyperparamLaws(shared_slope={self.shared_slope}, baseline_utd={self.baseline_utd:g})"
        parts = []
        for h in HPARAMS:
            for bench, law in self.laws_[h][self.variant].items():
                exps = ", ".join(f"{e:+.3g}" for e in law.terms_["exponent"].round(3).unique())
                parts.append(f"{h} ({bench}) σ^{exps}")
        return f"<HyperparamLaws ({self.variant} slope), {len(self.envs_)} env(s): {'; '.join(parts)}>"


def law_terms(law: PowerLaw) -> dict[str, dict]:
    """{group: {coef, exponent, their 95% lower/upper, n_obs, df_resid, r2, status, reason}}: a law as JSON."""
    ci = law.conf_int(0.05)
    out = {}
    for r in law.terms_.itertuples(index=False):
        out[str(r.group)] = {
            "coef": float(r.coef), "exponent": float(r.exponent),
            "coef_lower": float(ci.loc[(r.group, "coef"), "lower"]),
            "coef_upper": float(ci.loc[(r.group, "coef"), "upper"]),
            "exponent_lower": float(ci.loc[(r.group, "exponent"), "lower"]),
            "exponent_upper": float(ci.loc[(r.group, "exponent"), "upper"]),
            "n_obs": int(r.n_obs), "df_resid": int(r.df_resid), "r2": float(r.r2), "status": r.status,
            "reason": r.reason,
        }
    return out


def check_baseline_utd(utd: object) -> None:
    """The baseline's σ is matched to the grid's nearest in log distance: one that is not a positive number would
    pick an arbitrary σ's (B, η) without a word."""
    if isinstance(utd, bool) or not isinstance(utd, numbers.Real) or not (math.isfinite(utd) and utd > 0):
        raise RlscaleError(f"baseline_utd= must be a positive number, got {utd!r}", params=("baseline_utd",))


def _baseline(table: pd.DataFrame, utd: float) -> pd.DataFrame:
    rows = []
    for env, sub in table.groupby("env", sort=True, observed=True):
        nearest = sub.iloc[int(np.argmin(np.abs(np.log(sub["utd"].to_numpy()) - np.log(utd))))]
        rows.append({"env": str(env), "utd": float(nearest["utd"]), "batch_size": float(nearest["grid_batch_size"]),
                     "learning_rate": float(nearest["grid_learning_rate"])})
    return pd.DataFrame(rows)


HELDOUT_COLUMNS = ("env", "utd", "hparam", "actual", "predicted", "rel_error", "reason")


def extrapolation_errors(
    best: BestHyperparams | pd.DataFrame,
    fit_range: tuple[float, float] = (1.0, 8.0),
    shared_slope: bool = True,
    max_ci_decades: float = MAX_CI_DECADES,
    separate_utds: str = "all",
) -> pd.DataFrame:
    """Fit the laws on σ inside ``fit_range``, predict the other σ: |pred - actual| / actual.

    One row per held-out (env, σ, hparam); where the restricted fit is not a law (too few σ inside the
    range, no residual dof, too wide) ``predicted`` is NaN and ``reason`` says why."""
    table = best.best_ if isinstance(best, BestHyperparams) else best
    finite = np.isfinite(table["batch_size"]) & np.isfinite(table["learning_rate"])
    inside = table["utd"].between(*fit_range)
    held = table[~inside & finite]
    if held.empty:
        raise RlscaleError(f"hyperparameter laws: no utd outside {fit_range[0]:g}..{fit_range[1]:g} to hold out")
    laws, why = None, ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RlscaleWarning)
        try:
            laws = HyperparamLaws(shared_slope=shared_slope, max_ci_decades=max_ci_decades,
                                  separate_utds=separate_utds).fit(table[inside])
        except RlscaleError as exc:
            why = f"no law fitted on utd {fit_range[0]:g}..{fit_range[1]:g}: {exc}"
    rows = []
    for r in held.itertuples(index=False):
        for h in HPARAMS:
            actual = float(getattr(r, h))
            pred, reason = np.nan, why
            if laws is not None:
                if r.env not in laws.env_benchmark_:
                    reason = f"env {r.env} has fewer than 2 utds in {fit_range[0]:g}..{fit_range[1]:g}"
                else:
                    law = laws.law(h, r.env)
                    if law.is_law(r.env):
                        pred = float(law.predict([r.utd], r.env)[0])
                    else:
                        reason = f"not a law ({law.terms_.loc[r.env, 'status']}): {law.terms_.loc[r.env, 'reason']}"
            rows.append({"env": str(r.env), "utd": float(r.utd), "hparam": h, "actual": actual, "predicted": pred,
                         "rel_error": abs(pred - actual) / actual, "reason": reason})
    return pd.DataFrame(rows, columns=list(HELDOUT_COLUMNS))
