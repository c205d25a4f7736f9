"""Compute, the data-compute Pareto frontier and the budget-optimal UTD ratio.

For each threshold J whose data-efficiency fit D_J(σ) is a law (:mod:`rlscale.laws.efficiency`; a
fit marked ``at_bound``, ``wide`` … gives no frontier, only its points):

- compute C_J(σ) = 10 · N · B(σ) · σ · D_J(σ) FLOPs (σ · D_J gradient steps of batch B(σ) through a
  critic of N parameters; B(σ) is the batch-size law averaged over the benchmark's tasks,
  :class:`BatchSizeLaw`);
- the frontier is the curve (C_J(σ), D_J(σ)) for σ on a log grid;
- the budget F = C + δ · D (δ = FLOPs one env step costs) is minimised over σ continuously
  (bounded scalar minimisation in log σ around the best grid point), giving σ*_J, D*_J, C*_J, F*_J;
- σ*, D* and C* are fitted as power laws of F* on all but the top ``holdout`` thresholds (of every
  threshold given, whether or not it has a law), leaving out optima on the edge of the σ range (a
  bound, not an optimum) and thresholds whose points repeat a lower one's (counted once); the
  held-out ones are predicted where the law in F is a law: |pred − actual| / actual per point.

The authors' choices (``search="grid"``: σ*_J is the best of 100 log-spaced σ over the data's σ range,
no refinement; ``budget_points="all"``: every optimum below the held-out J enters the laws in F) are
options; with ``budget_points="all"`` a D_J fit enters whatever its verdict (``wide``, ``exact``,
``at_bound``: the authors judge no fit), so a law in F may rest on D_J laws that are not laws here (the
optimum's ``note`` says so). ``compute_unit="gradient_steps"`` counts compute as σ·D gradient steps (the
paper's Isaac Gym convention, where δ is then gradient steps per env step); "top" thresholds are the hardest ones, the
lowest levels of a lower-is-better metric (``higher_is_better=False``).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.laws.efficiency import ALL, DataEfficiency
from rlscale.laws.hparams import HyperparamLaws, law_terms
from rlscale.laws.powerlaw import PowerLaw
from rlscale.laws.summary import MAX_CI_DECADES, NOT_FITTED, OK, SIGN_UNDETERMINED, Summary, text_column
from rlscale.laws.thresholds import ThresholdCrossings
from rlscale.runs import CONFIG_COLUMNS

QUANTITIES = ("utd", "data", "compute")
SEARCHES = ("continuous", "grid")
BUDGET_POINTS = ("distinct_interior", "all")
COMPUTE_UNITS = ("flops", "gradient_steps")
#: σ values of the authors' grid search for σ*_J
GRID_SEARCH_POINTS = 100


def select_configs(crossings: ThresholdCrossings) -> np.ndarray:
    """Index (into ``crossings.configs_``) of one configuration per (benchmark, env, algo, utd).

    With a raw grid several (B, η) share an (env, σ); we keep the one that reaches the hardest
    threshold (the highest, or the lowest of a lower-is-better metric) earliest, breaking ties (e.g. all
    never reach it) by the next hardest threshold and so on ("never" counts as infinitely late). With
    fitted-hyperparameter runs there is one configuration per (env, σ) and this keeps it.
    """
    order = np.argsort(crossings.thresholds_)
    order = order[::-1] if getattr(crossings, "higher_is_better_", True) else order
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
    """B(σ) for compute: the mean over tasks of B*_task(σ) = coef_task · σ^exponent_task."""

    terms: dict[str, tuple[float, float]]
    source: str = ""

    def __call__(self, utd: np.ndarray | float) -> np.ndarray:
        utd = np.asarray(utd, dtype=float)
        return np.mean([c * utd**e for c, e in self.terms.values()], axis=0)

    @classmethod
    def from_laws(cls, laws: HyperparamLaws, envs: Sequence[str] | None = None,
                  variant: str | None = None) -> BatchSizeLaw:
        """From fitted hyperparameter laws (their ``batch_size`` laws of ``variant``, default the laws' own)."""
        variant = variant or laws.variant
        return cls.from_hparams(laws.to_dict(), envs=envs, variant=variant, source=f"hyperparameter laws ({variant})")

    @classmethod
    def from_hparams(cls, hparams: dict | str | os.PathLike, envs: Sequence[str] | None = None,
                     variant: str = "shared", source: str | None = None) -> BatchSizeLaw:
        """From the ``batch_size`` laws of a ``hparams.json`` (as ``rlscale fit hparams`` writes it) or its dict."""
        if not isinstance(hparams, dict):
            path = Path(hparams)
            try:
                hparams = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise RlscaleError(f"{path}: cannot read it as JSON ({exc})") from exc
            source = source or str(path)
        source = source or "hparams"
        try:
            laws = hparams["batch_size"][variant]
            # as saved (10 significant digits), so a law read back from hparams.json gives the same compute
            terms = {str(env): (float(f"{float(v['coef']):.10g}"), float(f"{float(v['exponent']):.10g}"))
                     for env, v in laws.items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise RlscaleError(f"{source}: no batch_size/{variant} laws with coef and exponent ({exc})") from exc
        flagged = sorted(env for env, v in laws.items() if v.get("status", OK) != OK and (envs is None or env in envs))
        if flagged:
            warnings.warn(f"{source}: B*(σ) of {', '.join(flagged)} is not a law ({laws[flagged[0]]['status']}); "
                          "compute uses it as given", RlscaleWarning, stacklevel=2)
        return cls._checked(terms, envs, source, "law")

    @classmethod
    def from_shared(cls, exponent: float, coefs: dict[str, float], envs: Sequence[str] | None = None,
                    source: str = "given") -> BatchSizeLaw:
        """From a shared-slope law given as numbers (e.g. a published fit): B*_env(σ) = coef_env · σ^exponent."""
        if not isinstance(coefs, Mapping):
            raise RlscaleError(f"{source}: coef must map each env to its coefficient ({{env: coef}}), got "
                               f"{type(coefs).__name__} {coefs!r:.60}")
        try:
            terms = {str(env): (float(c), float(exponent)) for env, c in coefs.items()}
        except (TypeError, ValueError):
            raise RlscaleError(f"{source}: a batch-size law needs a number as exponent ({exponent!r:.40}) and as each "
                               "env's coef") from None
        return cls._checked(terms, envs, source, "coefficient")

    @classmethod
    def _checked(cls, terms: dict[str, tuple[float, float]], envs: Sequence[str] | None, source: str,
                 what: str) -> BatchSizeLaw:
        """The law of ``envs`` (all of ``terms`` when None), refused in one line if one is missing or not finite."""
        if envs is not None:
            missing = sorted(set(envs) - set(terms))
            if missing:
                raise RlscaleError(f"{source}: no batch-size {what} for env(s) {', '.join(missing)}")
            terms = {env: terms[env] for env in envs}
        if not terms or not all(np.isfinite(c) and c > 0 and np.isfinite(e) for c, e in terms.values()):
            raise RlscaleError(f"{source}: batch-size laws need positive finite coef and finite exponent")
        return cls(terms, source=source)

    @classmethod
    def from_runs(cls, configs: pd.DataFrame) -> BatchSizeLaw:
        """B as the selected runs used it: per env the geometric mean when an env's runs share one batch size
        (exponent 0), else a power law of the batch sizes in σ fitted per env (a description, not a law)."""
        sub = configs.loc[:, ["env", "utd", "batch_size"]].astype({"env": str, "batch_size": float})
        terms = {}
        for env, g in sub.groupby("env", sort=True):
            if g["batch_size"].nunique() == 1 or g["utd"].nunique() < 2:
                terms[str(env)] = (float(np.exp(np.log(g["batch_size"]).mean())), 0.0)
            else:
                law = PowerLaw(shared_slope=False).fit(g["utd"], g["batch_size"], [str(env)] * len(g))
                terms[str(env)] = (law.coef(str(env)), law.exponent(str(env)))
        return cls(terms, source="runs (the batch sizes the selected runs used)")

    def to_dict(self) -> dict:
        return {"source": self.source, "terms": {env: {"coef": c, "exponent": e} for env, (c, e) in self.terms.items()}}

    @classmethod
    def from_dict(cls, doc: dict) -> BatchSizeLaw:
        return cls({str(env): (float(t["coef"]), float(t["exponent"])) for env, t in doc["terms"].items()},
                   source=str(doc.get("source", "")))


OPTIMUM_COLUMNS = ("threshold", "utd", "data", "compute", "budget", "at_boundary", "held_out", "in_fit", "note")
EXTRAPOLATION_COLUMNS = ("threshold", "quantity", "budget", "actual", "predicted", "rel_error", "reason")


class ComputeFrontier:
    """Pareto frontier and budget-optimal σ per threshold, and the power laws of σ*, D*, C* in F*.

    Parameters: ``delta`` (FLOPs per env step; gradient steps per env step with ``compute_unit=
    "gradient_steps"``), ``critic_params`` (N), ``batch_size`` (callable B(σ), e.g. :class:`BatchSizeLaw`),
    ``utd_range`` (σ range swept and searched; default: the σ range of the fitted points widened by 2×
    each side, or exactly that range with ``search="grid"``), ``n_grid`` (points per curve; 100 with
    ``search="grid"``), ``holdout`` (hardest thresholds held out of the budget laws), ``group`` (which law
    of the efficiency fit: "all" for the normalised one, else an env), ``max_ci_decades`` (verdict of the
    laws in F), ``search``, ``budget_points``, ``compute_unit``, ``higher_is_better`` (see the module).

    Fitted attributes: ``curves_`` (threshold, utd, data, compute, budget; thresholds with a D_J law
    only), ``optimum_`` (:data:`OPTIMUM_COLUMNS`: ``at_boundary`` = σ* on the edge of ``utd_range``,
    a bound; ``in_fit`` = used by the laws in F; ``note`` = why not), ``laws_`` (quantity ->
    :class:`PowerLaw` of it in F*, with its verdict), ``law_reason_`` (why there are no laws in F,
    else empty), ``extrapolation_`` (:data:`EXTRAPOLATION_COLUMNS`), ``reason_`` (why there is no
    frontier at all, else empty).
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
        max_ci_decades: float = MAX_CI_DECADES,
        search: str = "continuous",
        budget_points: str = "distinct_interior",
        compute_unit: str = "flops",
        higher_is_better: bool = True,
    ) -> None:
        self.delta = delta
        self.critic_params = critic_params
        self.batch_size = batch_size
        self.utd_range = utd_range
        self.n_grid = n_grid
        self.holdout = holdout
        self.group = group
        self.max_ci_decades = max_ci_decades
        self.search = search
        self.budget_points = budget_points
        self.compute_unit = compute_unit
        self.higher_is_better = higher_is_better

    def compute(self, utd: np.ndarray, data: np.ndarray) -> np.ndarray:
        """C = 10 · N · B(σ) · σ · D FLOPs, or σ · D gradient steps."""
        utd = np.asarray(utd, dtype=float)
        if self.compute_unit == "gradient_steps":
            return utd * np.asarray(data, dtype=float)
        return 10.0 * self.critic_params * np.asarray(self.batch_size(utd), dtype=float) * utd * np.asarray(data)

    def fit(self, efficiency: DataEfficiency) -> ComputeFrontier:
        self._check()
        all_params = efficiency.params_[efficiency.params_["group"] == self.group]
        if all_params.empty:
            raise RlscaleError(f"frontier: the efficiency fit has no group '{self.group}' "
                               f"(has {', '.join(map(str, efficiency.groups_))})")
        thresholds = np.sort(all_params["threshold"].to_numpy(dtype=float))
        hardest_last = thresholds if self.higher_is_better else thresholds[::-1]
        held = set(hardest_last[len(thresholds) - self.holdout:]) if self.holdout else set()
        if self.budget_points == "all":  # the authors judge no fit: every D_J with estimates, whatever its verdict
            params = all_params[np.isfinite(all_params[["d_min", "beta", "exponent"]].to_numpy(dtype=float)).all(1)]
        else:
            params = all_params[all_params["status"] == OK]
        widen = 2.0 if self.search == "continuous" else 1.0
        if self.utd_range is None:
            utds = efficiency.points_.loc[efficiency.points_["group"] == self.group, "utd"]
            self.utd_range_ = (float(utds.min()) / widen, float(utds.max()) * widen)
        else:
            self.utd_range_ = (float(self.utd_range[0]), float(self.utd_range[1]))
        grid = np.geomspace(*self.utd_range_, self.n_grid if self.search == "continuous" else GRID_SEARCH_POINTS)
        curves, optima = [], []
        for r in params.sort_values("threshold").itertuples(index=False):
            data = r.d_min + (r.beta / grid) ** r.exponent
            compute = self.compute(grid, data)
            curves.append(pd.DataFrame({"threshold": r.threshold, "utd": grid, "data": data, "compute": compute,
                                        "budget": compute + self.delta * data}))
            opt = {"threshold": float(r.threshold), **self._optimum(grid, (r.d_min, r.beta, r.exponent)),
                   "held_out": float(r.threshold) in held}
            if self.budget_points == "distinct_interior":
                opt["note"] = _note(opt, r.same_as)
            else:
                opt["note"] = "" if r.status == OK else f"D_J is not a law here ({r.status}); used as the authors do"
            opt["in_fit"] = not opt["held_out"] and (not opt["note"] or self.budget_points == "all")
            optima.append(opt)
        self.reason_ = "" if optima else "no threshold has a data-efficiency law: " + "; ".join(
            f"J={r.threshold:g}: {r.status}" for r in all_params.itertuples(index=False))
        columns = ["threshold", "utd", "data", "compute", "budget"]
        self.curves_ = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=columns, dtype=float)
        self.optimum_ = pd.DataFrame(optima, columns=list(OPTIMUM_COLUMNS))
        self._fit_laws()
        return self

    def _check(self) -> None:
        if not (np.isfinite(self.delta) and self.delta >= 0):
            raise RlscaleError(f"frontier: delta (FLOPs per env step) must be >= 0, got {self.delta}")
        if not (np.isfinite(self.critic_params) and self.critic_params > 0):
            raise RlscaleError(f"frontier: critic_params must be positive, got {self.critic_params}")
        for name, value, allowed in (("search", self.search, SEARCHES), ("budget_points", self.budget_points,
                                                                         BUDGET_POINTS),
                                     ("compute_unit", self.compute_unit, COMPUTE_UNITS)):
            if value not in allowed:
                raise RlscaleError(f"frontier: {name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.holdout < 0 or self.n_grid < 3:
            raise RlscaleError(f"frontier: need holdout >= 0 and n_grid >= 3 (got {self.holdout}, {self.n_grid})")
        if self.utd_range is not None and not (0 < self.utd_range[0] < self.utd_range[1] < np.inf):
            raise RlscaleError(f"frontier: utd_range must be 0 < lo < hi, got {self.utd_range}")

    def _optimum(self, grid: np.ndarray, law: tuple[float, float, float]) -> dict:
        d_min, beta, exponent = law

        def log_budget(log_utd: float) -> float:
            utd = np.exp(log_utd)
            data = d_min + (beta / utd) ** exponent
            return float(np.log(self.compute(np.array([utd]), np.array([data]))[0] + self.delta * data))

        from scipy import optimize  # here, not at import: reading a saved analysis needs no optimiser

        values = np.array([log_budget(v) for v in np.log(grid)])
        i = int(np.argmin(values))
        log_utd = float(np.log(grid[i]))
        if self.search == "continuous":
            lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
            res = optimize.minimize_scalar(log_budget, bounds=(lo, hi), method="bounded", options={"xatol": 1e-8})
            log_utd = float(res.x) if res.fun <= values[i] else log_utd
        utd = float(np.exp(log_utd))
        data = float(d_min + (beta / utd) ** exponent)
        compute = float(self.compute(np.array([utd]), np.array([data]))[0])
        return {"utd": utd, "data": data, "compute": compute, "budget": compute + self.delta * data,
                "at_boundary": bool(i in (0, len(grid) - 1))}

    def _fit_laws(self) -> None:
        fit = self.optimum_[self.optimum_["in_fit"].astype(bool)]
        self.laws_: dict[str, PowerLaw] = {}
        self.law_reason_ = ""
        if fit["budget"].nunique() < 2:
            self.law_reason_ = (f"only {len(fit)} optimum below the held-out top {self.holdout} J (a law in F "
                                "needs 3 or more, for residual dof)")
        else:
            for q in QUANTITIES:
                law = PowerLaw(shared_slope=False, max_ci_decades=self.max_ci_decades)
                self.laws_[q] = law.fit(fit["budget"], fit[q], [self.group] * len(fit))
            if not self.laws_["utd"].is_law(self.group):
                self.law_reason_ = f"not a law ({self.laws_['utd'].terms_.loc[self.group, 'status']}): " + str(
                    self.laws_["utd"].terms_.loc[self.group, "reason"])
        self.extrapolation_ = self._extrapolate()

    def _extrapolate(self) -> pd.DataFrame:
        rows = []
        for r in self.optimum_[self.optimum_["held_out"].astype(bool)].itertuples(index=False):
            for q in QUANTITIES:
                actual = float(getattr(r, q))
                law = self.laws_.get(q)
                if law is None or not law.is_law(self.group):
                    why = self.law_reason_ or law.terms_.loc[self.group, "reason"]
                    pred, reason = np.nan, f"no law of {q}* in F ({why})"
                else:
                    pred, reason = float(law.predict(r.budget, self.group)[0]), ""
                rows.append({"threshold": r.threshold, "quantity": q, "budget": r.budget, "actual": actual,
                             "predicted": pred, "rel_error": abs(pred - actual) / actual, "reason": reason})
        return pd.DataFrame(rows, columns=list(EXTRAPOLATION_COLUMNS))

    def has_law(self, quantity: str = "utd") -> bool:
        """Whether the law of σ* (or D*, C*) in F is a law (fitted, with residual dof, not too wide)."""
        return quantity in self.laws_ and self.laws_[quantity].is_law(self.group)

    def predict(self, budget: Sequence[float] | float, quantity: str = "utd") -> np.ndarray:
        """σ* (or D*, C* with ``quantity="data"``/``"compute"``) for budgets F from the fitted law. The point value
        only, whatever the verdict: :meth:`predict_interval` says how far to trust it."""
        return self._law(quantity).predict(budget, self.group)

    def predict_interval(self, budget: Sequence[float] | float, quantity: str = "utd",
                         alpha: float = 0.05) -> pd.DataFrame:
        """σ* (or D*, C*) for budgets F with the (1 - alpha) interval of the law in F there: ``quantity, budget`` and
        :meth:`PowerLaw.predict_interval`'s ``estimate, lower, upper, df_resid, status, extrapolated`` (F outside the
        budgets of the optima the law was fitted on), ``sign_undetermined``. Without a law in F the rows are
        ``not_fitted`` (NaN), said once in a warning with the reason, so the other answers of a prediction stand."""
        columns = ["quantity", "budget", "estimate", "lower", "upper", "df_resid", "status", "extrapolated",
                   "sign_undetermined"]
        if quantity in QUANTITIES and quantity not in self.laws_:
            warnings.warn(f"frontier: no law in F was fitted ({self.law_reason_ or self.reason_}): its {quantity}* "
                          "rows are not_fitted", RlscaleWarning, stacklevel=2)
            budget = np.atleast_1d(np.asarray(budget, dtype=float))
            return pd.DataFrame({"quantity": quantity, "budget": budget, "estimate": np.nan, "lower": np.nan,
                                 "upper": np.nan, "df_resid": 0, "status": NOT_FITTED, "extrapolated": False,
                                 "sign_undetermined": True}).loc[:, columns]
        frame = self._law(quantity).predict_interval(budget, self.group, alpha)
        return frame.drop(columns="group").rename(columns={"x": "budget"}).assign(quantity=quantity).loc[:, columns]

    def _law(self, quantity: str) -> PowerLaw:
        if quantity not in QUANTITIES:
            raise RlscaleError(f"frontier: quantity must be one of {', '.join(QUANTITIES)}, got '{quantity}'")
        if quantity not in self.laws_:
            raise RlscaleError(f"frontier: no law in F was fitted ({self.law_reason_ or self.reason_})")
        return self.laws_[quantity]

    def mean_rel_error(self) -> dict[str, float]:
        """Mean relative error on the held-out thresholds per quantity (where predicted)."""
        done = self.extrapolation_[np.isfinite(self.extrapolation_["predicted"].to_numpy(dtype=float))]
        return {str(q): float(g["rel_error"].mean()) for q, g in done.groupby("quantity")}

    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy parameter table of the laws in F: quantity + :meth:`PowerLaw.table` columns."""
        frames = [law.table(alpha).assign(quantity=q) for q, law in self.laws_.items()]
        if not frames:
            return pd.DataFrame(columns=["quantity", "group", "parameter", "estimate", "std_err", "lower", "upper",
                                         "n_obs", "df_resid", "r2", "status", "reason"])
        table = pd.concat(frames, ignore_index=True)
        return table.loc[:, ["quantity", *[c for c in table.columns if c != "quantity"]]]

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """(1 - alpha) intervals of the laws in F, indexed by (quantity, parameter)."""
        table = self.table(alpha)
        return table.set_index(["quantity", "parameter"]).loc[:, ["lower", "upper"]]

    def problems(self) -> list[str]:
        """One line per optimum that is a bound and per missing or flagged law in F."""
        lines = []
        if self.reason_:
            return [f"no frontier: {self.reason_}"]
        lo, hi = self.utd_range_
        lines += [f"J={r.threshold:g}: σ* is at the edge of the utd range {lo:g}..{hi:g} (a bound, not an optimum)"
                  for r in self.optimum_[self.optimum_["at_boundary"].astype(bool)].itertuples(index=False)]
        if self.law_reason_:
            lines.append(f"σ*(F), D*(F), C*(F): no law: {self.law_reason_}")
        elif "utd" in self.laws_:
            lower, upper = self.laws_["utd"].exponent_interval(self.group)
            if lower < 0 < upper:
                lines.append(f"σ*(F): {SIGN_UNDETERMINED} [{lower:.3g}, {upper:.3g}] includes 0, so the data do not "
                             "tell whether σ* rises or falls with the budget")
        return lines

    def to_dict(self) -> dict:
        """Optima per threshold, the laws in F (y = coef · F^exponent, 95% intervals) and the held-out errors."""
        return {
            "delta": self.delta, "critic_params": self.critic_params, "utd_range": list(self.utd_range_),
            "holdout": self.holdout, "reason": self.reason_, "search": self.search,
            "budget_points": self.budget_points, "compute_unit": self.compute_unit,
            "higher_is_better": self.higher_is_better,
            "optimum": self.optimum_.to_dict(orient="records"),
            **{f"{q}_law": (law_terms(self.laws_[q])[self.group] if q in self.laws_ else None) for q in QUANTITIES},
            "law_reason": self.law_reason_,
            "extrapolation": {"mean_rel_error": self.mean_rel_error(),
                              "points": self.extrapolation_.to_dict(orient="records")},
        }

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """The fitted state: ``curves``, ``optimum``, ``laws`` (one row per quantity)."""
        laws = [law.to_frame().assign(quantity=q) for q, law in self.laws_.items()]
        return {"curves": self.curves_, "optimum": self.optimum_,
                "laws": pd.concat(laws, ignore_index=True) if laws else pd.DataFrame(columns=["quantity", "group"])}

    @classmethod
    def from_frames(cls, frames: dict[str, pd.DataFrame], delta: float, critic_params: float,
                    batch_size: BatchSizeLaw, utd_range: tuple[float, float], holdout: int, reason: str = "",
                    law_reason: str = "", max_ci_decades: float = MAX_CI_DECADES, **options) -> ComputeFrontier:
        """Restore a fit from :meth:`to_frames` and its scalars (e.g. a saved analysis); ``options``: ``search``,
        ``budget_points``, ``compute_unit``, ``higher_is_better`` as fitted."""
        out = cls(delta, critic_params, batch_size, utd_range=utd_range, holdout=holdout,
                  max_ci_decades=max_ci_decades, **options)
        out.utd_range_ = (float(utd_range[0]), float(utd_range[1]))
        out.curves_ = frames["curves"].reset_index(drop=True)
        optimum = frames["optimum"].reset_index(drop=True)
        out.optimum_ = optimum.assign(note=text_column(optimum["note"]),
                                      **{c: optimum[c].astype(bool) for c in ("at_boundary", "held_out", "in_fit")})
        out.laws_ = {str(q): PowerLaw.from_frame(sub.drop(columns="quantity"), shared_slope=False,
                                                 max_ci_decades=max_ci_decades)
                     for q, sub in frames["laws"].groupby("quantity", sort=False)}
        out.laws_ = {q: out.laws_[q] for q in QUANTITIES if q in out.laws_}
        if out.laws_:  # the laws carry the group they were fitted for
            out.group = str(next(iter(out.laws_.values())).groups_[0])
        out.reason_, out.law_reason_ = reason, law_reason
        out.extrapolation_ = out._extrapolate()
        return out

    def summary(self, alpha: float = 0.05) -> Summary:
        unit = "FLOPs" if self.compute_unit == "flops" else "gradient steps"
        info = [(f"δ ({unit} per env step)", self.delta), ("compute", "10·N·B(σ)·σ·D FLOPs" if self.compute_unit ==
                                                          "flops" else "σ·D gradient steps"),
                ("N (critic parameters)", self.critic_params),
                ("σ range", f"{self.utd_range_[0]:.3g}..{self.utd_range_[1]:.3g}"),
                ("held-out top thresholds", self.holdout)]
        tables = [("optimum per J", self.optimum_.drop(columns="note")), ("laws in F", self.table(alpha))]
        if len(self.extrapolation_):
            tables.append(("held-out thresholds", self.extrapolation_))
        notes = self.problems() + [f"J={r.threshold:g}: {r.note}" for r in self.optimum_.itertuples() if r.note]
        return Summary("Compute frontier C_J = 10·N·B(σ)·σ·D_J, budget F = C + δ·D, σ*(F) = coef·F^exponent",
                       info, tables, notes)

    def __repr__(self) -> str:
        if not hasattr(self, "optimum_"):
            return f"ComputeFrontier(delta={self.delta:g}, critic_params={self.critic_params:g})"
        law = (f"σ* ∝ F^{self.laws_['utd'].exponent(self.group):.3g} "
               f"({self.laws_['utd'].terms_.loc[self.group, 'status']})"
               if "utd" in self.laws_ else "no law in F")
        return f"<ComputeFrontier δ = {self.delta:g}: {len(self.optimum_)} optima, {law}>"


def _note(opt: dict, same_as: float) -> str:
    """Why an optimum is left out of the laws in F (empty if it is used or held out)."""
    if opt["held_out"]:
        return ""
    if opt["at_boundary"]:
        return "σ* on the edge of the utd range: a bound, not an optimum"
    if np.isfinite(same_as):
        return f"same points as J={same_as:g}: counted once"
    return ""


def configs_of(crossings: ThresholdCrossings, index: np.ndarray) -> pd.DataFrame:
    """The selected configurations (CONFIG_COLUMNS + critic_params) as a plain frame."""
    return crossings.configs_.iloc[np.asarray(index)].loc[:, [*CONFIG_COLUMNS, "critic_params"]].reset_index(drop=True)
