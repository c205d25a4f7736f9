"""The paper's claims, each judged on one benchmark's saved :class:`~rlscale.analysis.Analysis`.

Per claim: the statistic, its 95% interval, its degrees of freedom and a verdict from a fixed vocabulary:

- ``supported``: the data show it (an interval excludes 0 on the claimed side; every D_J fit passes the bar; ...);
- ``not shown``: the data neither show nor refute it (an interval spans 0, a fit misses the bar, no interval);
- ``contradicted``: an interval lies entirely on the wrong side;
- ``not fitted``: there is nothing to judge, and the row says why.

The claims (the paper's §4-§5): (a) B*(σ) and (b) η*(σ) fall with σ: the shared-slope exponent (one slope per
benchmark, one intercept per task) is below 0; (c) D_J(σ) = D_min + (β/σ)^α holds at every J used: each fit a
law (status ``ok``) with residual dof ≥ :data:`MIN_DOF` and R² in log D ≥ :data:`MIN_R2`; (d) σ*(F) is a power
law that extrapolates: a law in F (status ``ok``) whose held-out hardest-J error is reported (shown, not judged:
the paper states no bar); (e) the runs at the fitted hyperparameters reach J with less data than the
constant-hyperparameter baseline somewhere in σ: at the hardest J, some σ whose ratio of env steps (fitted over
baseline) has its 95% seed-bootstrap interval below 1 (:func:`~rlscale.analysis.steps.compare_data`);
contradicted when every σ compared has it above 1. Any of m σ counts, with no correction for m (the rule was fixed
before the embedded runs), so the text says how many σ were tested: with m σ and no difference, one falls below 1
by chance far more often than 2.5% (``benchmarks/bench_baseline_calibration.py`` measures it for the embedded design).
The paper's explanation of (a) and (b), judged on the grid's end-of-training diagnostics (:func:`mechanism_claim`): (f)
overfitting, the newest-data minus replay TD error, rises with σ and with B; (g) the critic's parameter norm, the
paper's plasticity proxy, rises with σ and with η: slopes per doubling with heteroscedasticity-robust intervals.

Two sensitivity lines follow, shown and not judged. Ties: the paper's best-hyperparameter argmin gives a tie (several
grid cells reaching J at the same logged step) to the smallest grid value; how often the best cell was tied, and
whether a verdict of (a) or (b) changes when ties are broken at random
(:func:`~rlscale.analysis.steps.tie_sensitivity`).
Estimators: whether a verdict of (a) or (b) changes under the other best-(B, η) estimators the analysis compares
(:func:`estimators_claim`). The claims of (a), (b) also give their exponent without the σ no grid cell reaches J at.

:func:`claims` gives one benchmark's tidy table, :func:`claims_table` several, :func:`claims_markdown` the
table a reader sees (one column per benchmark). The bars are the ones fixed before any run was judged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rlscale.analysis.chain import Analysis
from rlscale.laws.efficiency import ALL, DataEfficiency
from rlscale.laws.frontier import ComputeFrontier
from rlscale.laws.hparams import HPARAMS
from rlscale.laws.powerlaw import PowerLaw
from rlscale.laws.summary import NOT_FITTED as STATUS_NOT_FITTED
from rlscale.laws.summary import OK

#: the intervals' significance level (95% intervals)
ALPHA = 0.05
#: a D_J law needs at least this R² of log D against its prediction ...
MIN_R2 = 0.9
#: ... and at least this many residual degrees of freedom
MIN_DOF = 1

SUPPORTED, NOT_SHOWN, CONTRADICTED, NOT_FITTED = "supported", "not shown", "contradicted", "not fitted"
UNCHANGED, CHANGED = "unchanged", "changed"
VERDICTS = (SUPPORTED, NOT_SHOWN, CONTRADICTED, NOT_FITTED)
#: claim key -> the claim as the table states it
CLAIMS = {
    "batch_size": "B*(σ) falls with σ",
    "learning_rate": "η*(σ) falls with σ",
    "data_efficiency": "D_J(σ) = D_min + (β/σ)^α at every J",
    "budget": "σ*(F) is a power law that extrapolates",
    "baseline": "fitted (B, η) reach J with less data than the constant baseline",
    "overfitting": "overfitting (newest − replay TD error) rises with σ and with B",
    "plasticity": "the critic's parameter norm rises with σ and with η",
}
#: (f), (g): the diagnostic column (logged, or ``log`` of it), and the grid axes whose slope must be above 0
MECHANISMS = {"overfitting": ("overfitting", False, ("utd", "batch_size")),
              "plasticity": ("critic_param_norm", True, ("utd", "learning_rate"))}
_AXES = {"utd": "σ", "batch_size": "B", "learning_rate": "η"}
#: the sensitivity line under the claims: its key, what it says, and its words (did the B*, η* verdicts change?)
SENSITIVITY = {"ties": "B*(σ), η*(σ) with best-cell ties broken at random (sensitivity)",
               "estimators": "B*(σ), η*(σ) under the other best-(B, η) estimators (sensitivity)"}
COLUMNS = ("benchmark", "claim", "statement", "verdict", "statistic", "estimate", "lower", "upper", "dof", "n_obs",
           "summary")
LEGEND = (
    f"Verdicts: **{SUPPORTED}** (B*, η*: the 95% interval of the shared exponent is below 0; D_J: every J's fit "
    f"is a law with residual dof ≥ {MIN_DOF} and R²(log D) ≥ {MIN_R2:g}; σ*(F): a law in F with residual dof, its "
    "held-out error shown, not judged; baseline: at the hardest J some σ whose 95% interval of the data ratio "
    "fitted/baseline is below 1; overfitting, norm: every claimed slope's 95% interval is above 0), "
    f"**{NOT_SHOWN}** (an interval spans 0 or 1, or a fit misses the bar), "
    f"**{CONTRADICTED}** (the interval lies entirely on the wrong side), **{NOT_FITTED}** (nothing to judge; the "
    f"cell says why). The sensitivity lines: **{UNCHANGED}** / **{CHANGED}**, whether a verdict on B* or η* changes "
    "when the best grid cell's ties (cells reaching J at the same logged step, which the paper's argmin gives to "
    "the smallest grid value) are broken at random, and when the best (B, η) per σ comes from another estimator "
    "(point: the grid argmin of the all-seeds crossing; mean_other: the all-seeds best B for each η and best η for "
    "each B, averaged over the other). Intervals: Student's t on the residual dof (power laws), seed "
    "bootstrap (data ratios), HC3 on Student's t (diagnostic slopes, one point per grid cell).")


@dataclass
class Claim:
    """One claim judged on one benchmark: the verdict, one line saying why, and the numbers behind it."""

    key: str
    verdict: str
    summary: str
    stats: list[dict[str, Any]] = field(default_factory=list)

    def rows(self, benchmark: str) -> list[dict[str, Any]]:
        stats = self.stats or [{"statistic": ""}]
        statement = {**CLAIMS, **SENSITIVITY}[self.key]
        return [{"benchmark": benchmark, "claim": self.key, "statement": statement, "verdict": self.verdict,
                 **{k: s.get(k, np.nan) for k in ("statistic", "estimate", "lower", "upper", "dof", "n_obs")},
                 "summary": self.summary} for s in stats]


def claims(a: Analysis) -> list[Claim]:
    """Every claim judged on the fitted (or loaded) analysis ``a``, in the order of :data:`CLAIMS`."""
    out = []
    for h in HPARAMS:
        if a.hparams_ is None:
            out.append(exponent_claim(h, None, "no σ × B × η grid, so no law"))
        else:
            out.append(exponent_claim(h, a.hparams_.laws.laws_[h]["shared"].get(a.benchmark_),
                                      f"no task of {a.benchmark_} has best hyperparameters at 2 or more σ",
                                      a.hparams_.best.best_))
    out += [efficiency_claim(a.fitted_.efficiency), budget_claim(a.fitted_.frontier)]
    sources = {k: (v or {}).get("table") for k, v in a.sources_.items()}
    note = (f"baseline: grid cells at the grid-best (B, η) of σ = {a.baseline_utd:g}, no trained baseline runs"
            if sources.get("baseline") == "grid" else "")
    if sources.get("fitted") == "grid":
        note += ("; " if note else "") + "fitted: grid cells, no fitted runs"
    why = ("no baseline runs and no grid to stand in for them" if a.baseline_ is None else
           "this saved analysis predates the fitted/baseline comparison: fit it again")
    out.append(baseline_claim(a.data_ratio_, a.fitted_.frontier.higher_is_better, note, why))
    out += [mechanism_claim(key, a.diagnostics_) for key in MECHANISMS]
    best = None if a.hparams_ is None else a.hparams_.best.best_
    out.append(ties_claim(a.ties_, best, "no σ × B × η grid, so no best cells" if a.hparams_ is None else
                          "this saved analysis predates the tie sensitivity: fit it again"))
    laws = {} if a.hparams_ is None else {a.hparams_.best.estimator: a.hparams_.laws,
                                           **{name: law for name, (_, law) in a.estimators_.items()}}
    out.append(estimators_claim(laws, None if a.hparams_ is None else a.hparams_.best.estimator, a.benchmark_))
    return out


def claims_table(analyses: Mapping[str, Analysis]) -> pd.DataFrame:
    """The tidy table (:data:`COLUMNS`) of every benchmark: one row per (benchmark, claim, statistic)."""
    rows = [row for name, a in analyses.items() for c in claims(a) for row in c.rows(str(name))]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def claims_markdown(table: pd.DataFrame) -> str:
    """:func:`claims_table`'s table for a reader: one row per claim, one column per benchmark, then the legend."""
    benchmarks = list(dict.fromkeys(table["benchmark"]))
    lines = ["| claim | " + " | ".join(benchmarks) + " |", "|---" * (len(benchmarks) + 1) + "|"]
    first = table.drop_duplicates(["benchmark", "claim"]).set_index(["claim", "benchmark"])
    for key, statement in {**CLAIMS, **SENSITIVITY}.items():
        cells = []
        for bench in benchmarks:
            r = first.loc[(key, bench)] if (key, bench) in first.index else None
            cells.append("" if r is None else f"**{r['verdict']}**: {r['summary']}".replace("|", "\\|"))
        lines.append(f"| {statement} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + LEGEND + "\n"


def sign_verdict(lower: float, upper: float, claimed_below: float = 0.0) -> str:
    """The verdict on "the value is below ``claimed_below``" from its interval: supported when the interval is
    entirely below, contradicted when entirely above, else (spanning it, or no interval) not shown."""
    if np.isnan(lower) or np.isnan(upper):
        return NOT_SHOWN
    if upper < claimed_below:
        return SUPPORTED
    if lower > claimed_below:
        return CONTRADICTED
    return NOT_SHOWN


def _num(x: float) -> str:
    return f"{x:.3g}" if np.isfinite(x) else ("∞" if x > 0 else "−∞" if x < 0 else "nan")


def _ci(lo: float, hi: float) -> str:
    return f"95% CI [{_num(lo)}, {_num(hi)}]"


def exponent_claim(hparam: str, law: PowerLaw | None, why_none: str = "", best: pd.DataFrame | None = None) -> Claim:
    """(a), (b): the shared-slope exponent of B*(σ) or η*(σ) (``law``: its shared-slope :class:`PowerLaw`, None
    when there is none, ``why_none`` saying why) is below 0. ``best`` (the best-hyperparameter table the law was
    fitted on) adds a sensitivity statistic, not judged: the exponent without the σ at which no grid cell's all-seeds
    mean reaches J (``n_reached`` 0), where the estimate comes only from the resamples that happen to reach it."""
    key, name = hparam, {"batch_size": "B*(σ)", "learning_rate": "η*(σ)"}[hparam]
    if law is None:
        return Claim(key, NOT_FITTED, f"no {name} law: {why_none}")
    est, lo, hi, dof, n = _exponent_ci(law)
    statuses = sorted(set(law.terms_["status"]))
    verdict = sign_verdict(lo, hi)
    text = (f"shared exponent {_num(est)}, {_ci(lo, hi)}, dof {dof}, {n} points over {len(law.groups_)} task(s)"
            f"{_why(verdict, lo, hi)}" + ("" if statuses == [OK] else f"; law status {', '.join(statuses)}"))
    stats = [{"statistic": "shared exponent", "estimate": est, "lower": lo, "upper": hi, "dof": dof, "n_obs": n}]
    if best is not None:
        extra, words = _without_unreached(hparam, law, best)
        stats += extra
        text += words
    return Claim(key, verdict, text, stats)


def _why(verdict: str, lo: float, hi: float) -> str:
    return {SUPPORTED: "", CONTRADICTED: " (it rises)", NOT_SHOWN: " (CI spans 0)" if np.isfinite([lo, hi]).all()
            else " (no residual dof, no interval)"}[verdict]


def _without_unreached(hparam: str, law: PowerLaw, best: pd.DataFrame) -> tuple[list[dict[str, Any]], str]:
    """The shared exponent refitted without each task's σ where ``n_reached`` is 0: (its statistic row, the words
    added to the claim), or nothing where no such σ was fitted. Said, not judged: the verdict keeps every σ."""
    table = best[np.isfinite(best["batch_size"]) & np.isfinite(best["learning_rate"])
                 & best["env"].astype(str).isin(law.groups_)]
    unreached = table[table["n_reached"] == 0]
    if unreached.empty:
        return [], ""
    kept = table[table["n_reached"] > 0]
    where = ", ".join(f"{u:g}" for u in sorted(unreached["utd"].unique()))
    share = (f" (estimated in {unreached['estimated_frac'].mean():.0%} of resamples)"
             if "estimated_frac" in unreached.columns and unreached["estimated_frac"].notna().all() else "")
    head = f"; without σ {where}, where no grid cell's seed mean reaches J{share}: "
    if kept.empty or kept.groupby("env", observed=True)["utd"].nunique().min() < 2:
        return [], head + "too few σ left for a law"
    refit = PowerLaw(shared_slope=True, max_ci_decades=law.max_ci_decades).fit(
        kept["utd"], kept[hparam], kept["env"].astype(str).tolist())
    est, lo, hi, dof, n = _exponent_ci(refit)
    row = {"statistic": f"shared exponent without σ {where} (no cell reaches J)", "estimate": est, "lower": lo,
           "upper": hi, "dof": dof, "n_obs": n}
    return [row], head + f"{_num(est)}, {_ci(lo, hi)}, dof {dof}{_why(sign_verdict(lo, hi), lo, hi)}"


def passing_levels(efficiency: DataEfficiency) -> pd.Series:
    """Per J (the index, ascending) whether its env-normalised D_J fit clears claim (c)'s bar: a law (status ``ok``)
    with residual dof ≥ :data:`MIN_DOF` and R²(log D) ≥ :data:`MIN_R2`."""
    p = efficiency.params_
    p = p[p["group"] == ALL].sort_values("threshold").set_index("threshold")
    return (p["status"] == OK) & (p["df_resid"] >= MIN_DOF) & (p["r2_log"] >= MIN_R2)


def efficiency_claim(efficiency: DataEfficiency) -> Claim:
    """(c): every J's env-normalised D_J fit is a law with residual dof ≥ :data:`MIN_DOF` and R²(log D) ≥
    :data:`MIN_R2`."""
    key = "data_efficiency"
    params = efficiency.params_
    params = params[params["group"] == ALL].sort_values("threshold")
    if params.empty or (params["status"] == STATUS_NOT_FITTED).all():
        reasons = "; ".join(dict.fromkeys(params["reason"])) or "no crossings"
        return Claim(key, NOT_FITTED, f"no J has a D_J fit: {reasons}")
    passing = passing_levels(efficiency).to_numpy()
    fails = []
    for r, ok in zip(params.itertuples(index=False), passing, strict=True):
        if ok:
            continue
        why = [r.status] if r.status != OK else []
        why += [f"dof {r.df_resid}"] if r.df_resid < MIN_DOF else []
        why += [f"R² {_num(r.r2_log)}"] if not r.r2_log >= MIN_R2 else []
        fails.append(f"J={r.threshold:g} {', '.join(why)}")
    same = [f"J={r.threshold:g} = J={r.same_as:g}" for r in params.itertuples(index=False) if np.isfinite(r.same_as)]
    r2_min, dof_min = float(params["r2_log"].min()), int(params["df_resid"].min())
    k, n = int(passing.sum()), len(params)
    text = (f"{k} of {n} J pass (ok, dof ≥ {MIN_DOF}, R² ≥ {MIN_R2:g}); min R²(log) {_num(r2_min)}, min dof {dof_min}"
            + (f"; fail: {'; '.join(fails)}" if fails else "")
            + (f"; identical points: {', '.join(same)}" if same else ""))
    stats = [{"statistic": "J levels passing", "estimate": k, "n_obs": n},
             {"statistic": "min R² (log D)", "estimate": r2_min},
             {"statistic": "min residual dof", "estimate": dof_min},
             *({"statistic": f"R² (log D) at J={r.threshold:g}", "estimate": r.r2_log, "dof": r.df_resid,
                "n_obs": r.n_points} for r in params.itertuples(index=False))]
    return Claim(key, SUPPORTED if k == n else NOT_SHOWN, text, stats)


def budget_claim(front: ComputeFrontier) -> Claim:
    """(d): σ*(F) is a law in F, and its error on the held-out hardest J is reported."""
    key = "budget"
    law = front.laws_.get("utd")
    if law is None:
        return Claim(key, NOT_FITTED, f"no σ*(F) law: {front.law_reason_ or front.reason_}")
    est, lo, hi, dof, n = _exponent_ci(law)
    status, reason = law.terms_.loc[ALL, "status"], law.terms_.loc[ALL, "reason"]
    held = front.extrapolation_[front.extrapolation_["quantity"] == "utd"]
    done = held[np.isfinite(held["predicted"].to_numpy(dtype=float))]
    error = float(done["rel_error"].mean()) if len(done) else np.nan
    levels = ", ".join(f"{t:g}" for t in done["threshold"])
    stats = [{"statistic": "σ*(F) exponent", "estimate": est, "lower": lo, "upper": hi, "dof": dof, "n_obs": n},
             {"statistic": "held-out σ* mean relative error", "estimate": error, "n_obs": len(done)}]
    text = f"exponent {_num(est)}, {_ci(lo, hi)}, dof {dof}, {n} optima"
    if status != OK:
        return Claim(key, NOT_SHOWN, f"{text}; not a law ({status}): {reason}", stats)
    if not len(done):
        return Claim(key, NOT_SHOWN, f"{text}; no held-out J to predict", stats)
    return Claim(key, SUPPORTED, f"{text}; held-out σ* error {100 * error:.3g}% (J = {levels})", stats)


def baseline_claim(ratio: pd.DataFrame | None, higher_is_better: bool = True, note: str = "",
                   why_none: str = "") -> Claim:
    """(e): at the hardest J, some σ where the fitted runs need less data than the baseline (``ratio``: the table of
    :func:`~rlscale.analysis.steps.compare_data`, None when there is none, ``why_none`` saying why; ``note``:
    where the runs come from, appended)."""
    key = "baseline"
    if ratio is None:
        return Claim(key, NOT_FITTED, why_none)
    fallback = f"; {note}" if note else ""
    rows = ratio[ratio["group"] == ALL]
    if rows.empty:
        return Claim(key, NOT_FITTED, f"the fitted and baseline runs share no σ{fallback}")
    thresholds = np.sort(rows["threshold"].unique())
    top = float(thresholds[-1] if higher_is_better else thresholds[0])
    judged = rows[rows["n_envs"] > 0]
    below = judged["ratio_upper"] < 1
    above = judged["ratio_lower"] > 1
    at_top = judged[np.isclose(judged["threshold"], top)].sort_values("utd")
    stats = [{"statistic": f"data ratio fitted/baseline at σ={r.utd:g}, J={r.threshold:g}", "estimate": r.ratio,
              "lower": r.ratio_lower, "upper": r.ratio_upper, "n_obs": r.n_envs}
             for r in judged.sort_values(["threshold", "utd"]).itertuples(index=False)]
    count = (f"over all J: {int(below.sum())} of {len(judged)} (σ, J) below 1, {int(above.sum())} above 1")
    if at_top.empty:
        return Claim(key, NOT_SHOWN, f"at J={top:g} neither reaches J at any σ; {count}{fallback}", stats)
    cells = "; ".join(f"σ={r.utd:g}: {_num(r.ratio)} [{_num(r.ratio_lower)}, {_num(r.ratio_upper)}]"
                      + (f" ({r.note})" if r.note else "") for r in at_top.itertuples(index=False))
    if at_top["n_samples"].max() == 0:
        return Claim(key, NOT_SHOWN, f"at J={top:g} {cells} (one seed per configuration: no interval); "
                                     f"{count}{fallback}", stats)
    less = at_top[at_top["ratio_upper"] < 1]["utd"]
    more = at_top[at_top["ratio_lower"] > 1]["utd"]
    if len(less):
        verdict, where = SUPPORTED, (f"less data at σ = {_join(less)}; {len(less)} of {len(at_top)} σ below 1, each "
                                     f"interval at 95%, not corrected for the {len(at_top)} σ tested")
    elif len(more) == len(at_top):
        verdict, where = CONTRADICTED, "more data at every σ"
    else:
        verdict, where = NOT_SHOWN, "at no σ is the interval below 1" + (f" (above 1 at σ = {_join(more)})"
                                                                        if len(more) else "")
    return Claim(key, verdict, f"at J={top:g}: {where}; ratio [95% CI] {cells}; {count}{fallback}", stats)


def mechanism_claim(key: str, diagnostics: pd.DataFrame | None) -> Claim:
    """(f), (g): the paper's explanation of the laws, judged on the grid's end-of-training diagnostics (one row per
    (task, σ, B, η) cell, the seed mean: :func:`~rlscale.analysis.steps.late_diagnostics`), by
    :func:`_mechanism_fit` over every task. Supported when every claimed slope's interval is above 0, contradicted
    when one lies below 0."""
    column, in_log, claimed = MECHANISMS[key]
    if diagnostics is None or column not in diagnostics.columns:
        return Claim(key, NOT_FITTED, f"the grid's runs log no {column.replace('_', ' ')}" if diagnostics is not None
                     else "no σ × B × η grid, so no diagnostics")
    stats, why_not, n_obs = _mechanism_fit(key, diagnostics)
    if why_not:
        return Claim(key, NOT_FITTED, why_not)
    verdicts = [sign_verdict(-s["upper"], -s["lower"]) for s in stats]  # "rises": the slope is above 0
    verdict = (CONTRADICTED if CONTRADICTED in verdicts else SUPPORTED if set(verdicts) == {SUPPORTED}
               else NOT_SHOWN)
    parts = [f"{_AXES[h]}: {_num(s['estimate'])} [{_num(s['lower'])}, {_num(s['upper'])}]"
             for h, s in zip(claimed, stats, strict=True)]
    unit = "log norm" if in_log else "TD error"
    return Claim(key, verdict, f"{unit} per doubling, 95% CI (HC3): {'; '.join(parts)}; dof {stats[0]['dof']}, "
                 f"{n_obs} cells", stats)


def mechanism_slopes(diagnostics: pd.DataFrame | None) -> pd.DataFrame:
    """Every claimed slope of (f) and (g) as plot j draws it: the fit over all tasks (``env`` "all", the claims'
    numbers) and, with several tasks, each task's own. Columns: measure, env, axis, statistic, estimate, lower,
    upper, dof, n_obs; a fit that cannot be made has no rows."""
    rows: list[dict] = []
    if diagnostics is None:
        return pd.DataFrame(columns=_SLOPE_COLUMNS)
    envs = sorted(diagnostics["env"].astype(str).unique())
    groups = [(ALL, diagnostics)] + ([(e, diagnostics[diagnostics["env"].astype(str) == e]) for e in envs]
                                     if len(envs) > 1 else [])
    for key, (column, _, claimed) in MECHANISMS.items():
        if column not in diagnostics.columns:
            continue
        for env, table in groups:
            stats, why_not, _ = _mechanism_fit(key, table)
            rows += [] if why_not else [{"measure": key, "env": env if len(envs) > 1 else envs[0], "axis": h, **s}
                                        for h, s in zip(claimed, stats, strict=True)]
    return pd.DataFrame(rows, columns=_SLOPE_COLUMNS)


_SLOPE_COLUMNS = ["measure", "env", "axis", "statistic", "estimate", "lower", "upper", "dof", "n_obs"]


def _mechanism_fit(key: str, diagnostics: pd.DataFrame) -> tuple[list[dict], str, int]:
    """One least-squares fit of the measure (the norm in log) on log2 σ, log2 B and log2 η with one intercept per
    task; each claimed slope (per doubling) with its 95% interval, heteroscedasticity-robust (HC3) on Student's t.
    Returns (one stats row per claimed axis, why not fitted or "", cells used)."""
    from statsmodels.regression.linear_model import OLS  # not statsmodels.api: it imports everything

    column, in_log, claimed = MECHANISMS[key]
    table = diagnostics[np.isfinite(diagnostics[column].to_numpy(dtype=float))]
    if in_log:
        table = table[table[column] > 0]
    y = np.asarray(table[column], dtype=float)
    y = np.log(y) if in_log else y
    axes = [h for h in _AXES if table[h].nunique() > 1]
    tasks = pd.get_dummies(table["env"].astype(str), dtype=float)
    design = np.column_stack([tasks.to_numpy(), *(np.log2(table[h].to_numpy(dtype=float)) for h in axes)])
    if any(h not in axes for h in claimed) or len(y) <= design.shape[1]:
        return [], (f"{len(y)} grid cells over {', '.join(_AXES[h] for h in axes) or 'no axis'}: too few to fit a "
                    f"slope in each of {', '.join(_AXES[h] for h in claimed)}"), len(y)
    res = OLS(y, design).fit(cov_type="HC3", use_t=True)
    ci = res.conf_int(ALPHA)
    stats = []
    for h in claimed:
        i = tasks.shape[1] + axes.index(h)
        stats.append({"statistic": f"slope per doubling of {_AXES[h]}" + (" (log norm)" if in_log else ""),
                      "estimate": float(res.params[i]), "lower": float(ci[i, 0]), "upper": float(ci[i, 1]),
                      "dof": int(res.df_resid), "n_obs": len(y)})
    return stats, "", len(y)


def _join(values: Sequence[float]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def ties_claim(ties: pd.DataFrame | None, best: pd.DataFrame | None, why_none: str = "") -> Claim:
    """The sensitivity of (a), (b) to ties: per (task, σ) the share of bootstrap samples whose best grid cell at the
    hardest J was tied (``best``: the ``best_`` table, ``tied_frac``), and the shared exponents refitted with the
    ties broken at random (``ties``: :func:`~rlscale.analysis.steps.tie_sensitivity`); ``unchanged`` when every
    verdict of (a), (b) stays the same."""
    key = "ties"
    if ties is None or best is None or "tied_frac" not in best.columns:
        return Claim(key, NOT_FITTED, why_none)
    stats = [{"statistic": f"best cell tied, share of samples at {r.env} σ={r.utd:g}", "estimate": r.tied_frac}
             for r in best.itertuples(index=False)]
    worst = best.loc[best["tied_frac"].idxmax()] if len(best) else None
    text = (f"best cell tied in {100 * best['tied_frac'].mean():.3g}% of bootstrap samples (mean over {len(best)} "
            f"(task, σ); most {100 * worst['tied_frac']:.3g}% at {worst['env']} σ={worst['utd']:g})"
            if worst is not None else "no (task, σ)")
    parts, changed = [], False
    for h, name in (("batch_size", "B*"), ("learning_rate", "η*")):
        rows = {r.tie_break: r for r in ties[ties["hparam"] == h].itertuples(index=False)}
        if "random" not in rows:
            parts.append(f"{name}: no law with random ties")
            continue
        r = rows["random"]
        verdict = sign_verdict(r.lower, r.upper)
        changed |= "first" not in rows or verdict != sign_verdict(rows["first"].lower, rows["first"].upper)
        parts.append(f"{name} {_num(r.exponent)} [{_num(r.lower)}, {_num(r.upper)}] ({verdict})")
        stats.append({"statistic": f"{name} shared exponent, random ties", "estimate": r.exponent,
                      "lower": r.lower, "upper": r.upper, "dof": r.df_resid, "n_obs": r.n_obs})
    return Claim(key, CHANGED if changed else UNCHANGED,
                 f"{text}; random ties: {'; '.join(parts)}", stats)


def estimators_claim(laws: Mapping[str, Any], main: str | None, benchmark: str) -> Claim:
    """The sensitivity of (a), (b) to the best-(B, η) estimator: the shared exponent of each other estimator's laws
    (``laws``: estimator name -> its :class:`~rlscale.laws.hparams.HyperparamLaws` or None, ``main`` the one the
    claims judge), with its interval and verdict; ``changed`` when a verdict differs from the main estimator's."""
    key = "estimators"
    others = [name for name in laws if name != main]
    if main is None or not others:
        return Claim(key, NOT_FITTED, "no σ × B × η grid, so no estimators" if main is None else
                     "no other estimator was fitted (compare_estimators)")

    def shared(name: str, hparam: str) -> PowerLaw | None:
        return None if laws[name] is None else laws[name].laws_[hparam]["shared"].get(benchmark)

    stats, parts, changed = [], [], False
    for h, name in (("batch_size", "B*"), ("learning_rate", "η*")):
        law = shared(main, h)
        reference = None if law is None else _exponent_ci(law)
        for other in others:
            law = shared(other, h)
            if law is None:
                parts.append(f"{name} {other}: no law")
                changed |= reference is not None
                continue
            est, lo, hi, dof, n = _exponent_ci(law)
            verdict = sign_verdict(lo, hi)
            changed |= reference is None or verdict != sign_verdict(reference[1], reference[2])
            parts.append(f"{name} {other} {_num(est)} [{_num(lo)}, {_num(hi)}] ({verdict})")
            stats.append({"statistic": f"{name} shared exponent, {other} estimator", "estimate": est, "lower": lo,
                          "upper": hi, "dof": dof, "n_obs": n})
    return Claim(key, CHANGED if changed else UNCHANGED, f"against {main}: {'; '.join(parts)}", stats)


def _exponent_ci(law: PowerLaw) -> tuple[float, float, float, int, int]:
    """(exponent, 95% lower, upper, residual dof, points) of a shared-slope (or ungrouped) law."""
    group = law.groups_[0]
    return (law.exponent(group), *law.exponent_interval(group, ALPHA), law.df_resid_, law.n_obs_)
