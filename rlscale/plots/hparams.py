"""Plots h and i: best batch size and learning rate against σ, their power laws, and estimator comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rlscale.errors import RlscaleError
from rlscale.laws.hparams import HPARAMS, BestHyperparams, HyperparamLaws
from rlscale.plots.style import (
    EXTRAPOLATED,
    EXTRAPOLATED_NOTE,
    FITTED,
    LABELS,
    finish,
    fmt,
    law_label,
    law_x,
    legend,
    new_grid,
    plot_over_sigma,
    utd_ticks,
)

_MARKERS = ("o", "s", "^", "D", "v", "P")
#: legend entry of a best (B, η) at a σ where no grid cell's all-seeds mean curve reaches J (``n_reached == 0``): the
#: estimate rests only on the bootstrap resamples that happen to reach J, so it is drawn hollow
UNREACHED_NOTE = "hollow: no cell's seed mean reaches J at this σ"
#: legend entry of a grid-best value that is the grid's smallest or largest (``*_at_edge``): a bound more than a
#: measurement
EDGE_NOTE = "ringed: this σ's grid-best cell is at the grid's edge (a bound)"
EDGE_COLOR = "#c0392b"


def _unreached(sub: pd.DataFrame) -> np.ndarray:
    """Rows whose σ has no grid cell with an all-seeds mean curve that reaches J."""
    if "n_reached" not in sub:
        return np.zeros(len(sub), dtype=bool)
    return (sub["n_reached"].to_numpy(dtype=float) == 0)


def _envs(best: pd.DataFrame, envs: Sequence[str] | None) -> list[str]:
    have = list(dict.fromkeys(best["env"].astype(str)))
    if envs is None:
        return have
    unknown = sorted(set(envs) - set(have))
    if unknown:
        raise RlscaleError(f"plots: no best hyperparameters for env(s) {', '.join(unknown)} (have {', '.join(have)})")
    return list(envs)


def _grid_values(grid: Mapping[str, Sequence[float]] | pd.DataFrame | None, hparam: str) -> np.ndarray:
    """Grid values of one hyperparameter from a mapping or from a configs table (``crossings.configs_``)."""
    if grid is None:
        return np.array([])
    values = grid[hparam] if not isinstance(grid, pd.DataFrame) else grid[hparam].unique()
    return np.unique(np.asarray(values, dtype=float))


def hparam_laws(
    best: BestHyperparams, laws: HyperparamLaws, proposed_utds: Sequence[float] | None = None,
    grid: Mapping[str, Sequence[float]] | pd.DataFrame | None = None, envs: Sequence[str] | None = None,
) -> Figure:
    """Plot h: per task (row), B*(σ) and η*(σ) (columns): bootstrap estimates with their 95% interval,
    the fitted power law where it is a law (exponent, its 95% interval, dof and R² in the legend; solid over the
    estimates' σ and dotted beyond; dashed, and over the estimates' σ only, where the interval spans 0), the values
    proposed at ``proposed_utds`` (stars where outside the fitted σ range) and the swept grid values as light
    horizontal lines.

    An estimate at a σ where no grid cell's all-seeds mean reaches J (``n_reached == 0``) is drawn hollow (it rests
    only on the resamples that reach J); a grid-best value at the grid's edge (``*_at_edge``) is ringed."""
    table = best.best_.assign(env=best.best_["env"].astype(str))
    env_list = _envs(table, envs)
    fig, axes = new_grid(len(env_list), len(HPARAMS), panel=(3.6, 4.2))  # tall: each legend sits below its panel
    with_law = [e for e in env_list if e in laws.env_benchmark_]
    proposal = laws.propose(proposed_utds, with_law) if proposed_utds is not None and with_law else None
    for row, env in enumerate(env_list):
        sub = table[table["env"] == env].sort_values("utd")
        fitted_range = (sub["utd"].min(), sub["utd"].max())
        all_utds = np.concatenate([sub["utd"], [] if proposed_utds is None else np.asarray(proposed_utds, float)])
        for col, h in enumerate(HPARAMS):
            ax = axes[row, col]
            notes: list[str] = []
            for value in _grid_values(grid, h):
                ax.axhline(value, color="0.85", lw=0.8, zorder=0)
            err = np.vstack([sub[h] - sub[f"{h}_lower"], sub[f"{h}_upper"] - sub[h]])
            yerr = np.where(np.isfinite(err), np.maximum(err, 0.0), 0.0)
            unreached = _unreached(sub)
            for mask, label, face in ((~unreached, f"{best.estimator} estimate", "black"),
                                      (unreached, UNREACHED_NOTE, "white")):
                if mask.any():
                    ax.errorbar(sub["utd"][mask], sub[h][mask], yerr=yerr[:, mask], fmt="o", color="black",
                                mfc=face, ms=5, capsize=2, label=label, zorder=3)
            edge = sub[f"{h}_at_edge"].fillna(False).astype(bool).to_numpy() if f"{h}_at_edge" in sub else None
            if edge is not None and edge.any():
                ax.scatter(sub["utd"][edge], sub[h][edge], marker="o", s=110, facecolors="none", linewidths=1.0,
                           edgecolors=EDGE_COLOR, zorder=2, label=EDGE_NOTE)
            law = laws.law(h, env) if env in laws.env_benchmark_ else None
            if law is not None and law.is_law(env):
                label, line = law_label(law, env, r"\sigma")
                estimated = sub.loc[np.isfinite(sub[h]), "utd"]
                line_utd = law_x(law, env, estimated, all_utds, extend=1.3)
                if plot_over_sigma(ax, line_utd, line_utd, laws.predict(line_utd, env, h), estimated,
                                   FITTED["color"], label=f"{label}, $R^2$={law.terms_.loc[env, 'r2']:.2f}", **line):
                    notes.append(EXTRAPOLATED_NOTE)
            else:
                status = "no law" if law is None else f"not a law ({law.terms_.loc[env, 'status']})"
                notes = [f"{h.replace('_', ' ')}: {status}"]
            if proposal is not None and law is not None and law.is_law(env):
                prop = proposal[proposal["env"] == env]
                outside = ~prop["utd"].between(*fitted_range)
                ax.scatter(prop.loc[~outside, "utd"], prop.loc[~outside, h], marker="D", s=30, zorder=4,
                           facecolors="none", edgecolors=FITTED["color"], label="proposed")
                if outside.any():
                    ax.scatter(prop.loc[outside, "utd"], prop.loc[outside, h], color=FITTED["color"],
                               label="proposed (extrapolated)", **EXTRAPOLATED)
            _grid_ylim(ax, sub, h, proposal, env)
            finish(ax, LABELS["utd"], LABELS[f"best_{h}"], title=env)
            utd_ticks(ax, all_utds)
            legend(ax, notes, fontsize=6, width=50)
    return fig


def _grid_ylim(ax: Axes, sub: pd.DataFrame, hparam: str, proposal: pd.DataFrame | None, env: str) -> None:
    """Zoom on the estimates (grid lines far outside them would flatten the plot)."""
    values = [sub[hparam], sub[f"{hparam}_lower"], sub[f"{hparam}_upper"]]
    if proposal is not None:
        values.append(proposal.loc[proposal["env"] == env, hparam])
    v = np.concatenate([np.asarray(x, dtype=float) for x in values])
    v = v[np.isfinite(v) & (v > 0)]
    if len(v):
        ax.set_ylim(v.min() / 1.4, v.max() * 1.4)


def estimator_comparison(
    estimates: Mapping[str, BestHyperparams], env: str | None = None,
    laws: Mapping[str, HyperparamLaws | None] | None = None,
) -> Figure:
    """Plot i: best B and η against σ from several estimators (point, bootstrap, mean over the other
    hyperparameter, ...) on one axes per hyperparameter, one row per task (``env``: that task only); ``laws`` adds
    each estimator's fitted law as a line in its colour where it is a law, as plot h draws them (exponent, 95%
    interval and dof in the legend; dashed where the interval spans 0), over the σ where that estimator has an
    estimate. A σ where an estimator gives no estimate (NaN: e.g. no grid cell reaches J there) is listed in the
    legend. Every task is drawn by default because a shared-slope law rests on all of them."""
    if not estimates:
        raise RlscaleError("estimator_comparison: give at least one BestHyperparams (name -> estimate)")
    first = next(iter(estimates.values())).best_
    envs = [env] if env is not None else list(dict.fromkeys(first["env"].astype(str)))
    fig, axes = new_grid(len(envs), len(HPARAMS), panel=(4.0, 5.4))  # tall: the legend sits below the panel
    for row, task in zip(axes, envs, strict=True):
        _estimators(row, estimates, task, laws)
    return fig


def _estimators(axes: Sequence[Axes], estimates: Mapping[str, BestHyperparams], env: str,
                laws: Mapping[str, HyperparamLaws | None] | None) -> None:
    """One row of plot i: every estimator's best B (first axes) and η (second) of one task, with their laws."""
    colors = [f"C{k}" for k in range(len(estimates))]
    utds = []
    notes: dict[str, list[str]] = {h: [] for h in HPARAMS}
    missing: dict[str, dict[str, list[str]]] = {h: {} for h in HPARAMS}  # σ list -> estimators with no estimate
    for k, (name, est) in enumerate(estimates.items()):
        sub = est.best_[est.best_["env"].astype(str) == env].sort_values("utd")
        if sub.empty:
            raise RlscaleError(f"estimator_comparison: estimator '{name}' has no rows for env {env}")
        utds.extend(sub["utd"])
        for ax, h in zip(axes, HPARAMS, strict=True):
            ax.plot(sub["utd"], sub[h], marker=_MARKERS[k % len(_MARKERS)], ls="none", ms=6, color=colors[k],
                    label=name, zorder=3)
            have = np.isfinite(sub[h].to_numpy(dtype=float))
            if not have.all():
                missing[h].setdefault(", ".join(fmt(u) for u in sub["utd"][~have]), []).append(name)
            law = None if laws is None or laws.get(name) is None or env not in laws[name].env_benchmark_ else (
                laws[name].law(h, env))
            if law is not None and law.is_law(env) and have.any():
                label, line = law_label(law, env, r"\sigma")
                grid = law_x(law, env, sub.loc[have, "utd"], extend=1.0, n=50)
                ax.plot(grid, laws[name].predict(grid, env, h), color=colors[k], alpha=0.8, label=f"{name} {label}",
                        **{**line, "lw": 1.2})
            elif law is not None:
                notes[h].append(f"{name}: not a law ({law.terms_.loc[env, 'status']})")
    for ax, h in zip(axes, HPARAMS, strict=True):
        finish(ax, LABELS["utd"], LABELS[f"best_{h}"], title=f"{env}: estimators")
        utd_ticks(ax, utds)
        gaps = [f"no estimate (NaN) at σ = {utd}: {', '.join(names)}" for utd, names in missing[h].items()]
        legend(ax, gaps + notes[h], fontsize=6)
