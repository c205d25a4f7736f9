"""Figure 1 and plots e, f, g: the data–compute frontier, σ* against the budget, iso-performance curves.

Every function reads a fitted :class:`~rlscale.laws.ComputeFrontier` (and the
:class:`~rlscale.laws.DataEfficiency` it was fitted from, for the measured points); nothing is
refitted here. Measured points are placed on the compute axis with the frontier's own
C = 10 · N · B(σ) · σ · D, so points and curve use the same compute model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rlscale.errors import RlscaleError
from rlscale.laws.efficiency import DataEfficiency
from rlscale.laws.frontier import ComputeFrontier
from rlscale.plots.style import (
    BASELINE,
    EXTRAPOLATED,
    FIT_LINE,
    FITTED,
    LABELS,
    POINT,
    colorbar,
    finish,
    fmt,
    j_colors,
    new_axes,
    new_grid,
    utd_colors,
)


def _pick_threshold(frontier: ComputeFrontier, threshold: float | None) -> float:
    available = frontier.optimum_["threshold"].to_numpy(dtype=float)
    if threshold is None:
        return float(available.max())
    match = available[np.isclose(available, threshold)]
    if match.size == 0:
        raise RlscaleError(f"plots: the frontier has no threshold {threshold:g} "
                           f"(fitted: {', '.join(f'{t:g}' for t in available)})")
    return float(match[0])


def _curve(frontier: ComputeFrontier, threshold: float) -> pd.DataFrame:
    return frontier.curves_[np.isclose(frontier.curves_["threshold"], threshold)]


def measured_points(frontier: ComputeFrontier, efficiency: DataEfficiency, threshold: float) -> pd.DataFrame:
    """The efficiency fit's points at J (utd, data) with their compute under the frontier's model."""
    pts = efficiency.points_
    pts = pts[(pts["group"] == frontier.group) & np.isclose(pts["threshold"], threshold)]
    pts = pts[np.isfinite(pts["data"])].sort_values("utd")
    return pts.assign(compute=frontier.compute(pts["utd"].to_numpy(), pts["data"].to_numpy()))


def pareto_frontier(
    frontier: ComputeFrontier, efficiency: DataEfficiency, threshold: float | None = None, ax: Axes | None = None,
    baseline: tuple[ComputeFrontier, DataEfficiency] | None = None, label_utd: bool = True,
) -> Figure:
    """Figure 1 (I) and plot e: the fitted curve (D_J(σ), C_J(σ)) with the measured points coloured by σ.

    The budget-optimal point is a black diamond. ``baseline`` adds the constant-hyperparameter
    frontier and its points in grey. ``threshold`` defaults to the highest fitted J.
    """
    fig, ax = new_axes(ax)
    j = _pick_threshold(frontier, threshold)
    curve = _curve(frontier, j)
    pts = measured_points(frontier, efficiency, j)
    b_thresholds = [] if baseline is None else baseline[0].optimum_["threshold"].to_numpy(dtype=float)
    if baseline is not None and not np.isclose(b_thresholds, j).any():
        # the baseline's D_J(σ) has no fit at this J (too few σ reach it): say so instead of failing
        ax.plot([], [], color=BASELINE["color"], ls="--", label=f"{BASELINE['label']}: no fit at J = {j:g}")
    elif baseline is not None:
        b_frontier, b_eff = baseline
        b_curve = _curve(b_frontier, j)
        b_pts = measured_points(b_frontier, b_eff, j)
        ax.plot(b_curve["data"], b_curve["compute"], color=BASELINE["color"], ls="--", label=BASELINE["label"],
                **FIT_LINE)
        ax.scatter(b_pts["data"], b_pts["compute"], color=BASELINE["color"], marker="s", **POINT)
    ax.plot(curve["data"], curve["compute"], color="black", label="fit" if baseline is None else FITTED["label"],
            **FIT_LINE)
    if len(pts):
        ax.scatter(pts["data"], pts["compute"], c=utd_colors(pts["utd"]), label="measured", **POINT)
        if label_utd:
            for r in pts.itertuples(index=False):
                ax.annotate(rf"$\sigma$={fmt(r.utd)}", (r.data, r.compute), textcoords="offset points",
                            xytext=(5, 3), fontsize=7)
        colorbar(fig, ax, pts["utd"], kind="utd")
    opt = frontier.optimum_[np.isclose(frontier.optimum_["threshold"], j)].iloc[0]
    ax.scatter([opt["data"]], [opt["compute"]], marker="D", color="black", s=40, zorder=5,
               label=rf"$\mathcal{{F}}$-optimal $\sigma^*$={opt['utd']:.2g}")
    ax.legend(fontsize=7, loc="upper right")
    finish(ax, LABELS["data"], LABELS["compute"], title=f"Pareto frontier, J = {j:g}")
    return fig


def budget_extrapolation(frontier: ComputeFrontier, ax: Axes | None = None, quantity: str = "utd") -> Figure:
    """Figure 1 (II) and plot g: σ* (or D*, C*) against the budget F*, the power-law fit, held-out J as stars.

    Points are coloured by J. The fit line spans every budget so the held-out points show how
    far the law extrapolates.
    """
    fig, ax = new_axes(ax)
    opt = frontier.optimum_.sort_values("budget")
    colors = j_colors(opt["threshold"])
    fit_part, held = opt[~opt["held_out"]], opt[opt["held_out"]]
    fit_colors = [c for c, h in zip(colors, opt["held_out"], strict=True) if not h]
    held_colors = [c for c, h in zip(colors, opt["held_out"], strict=True) if h]
    if quantity in frontier.laws_:
        budgets = np.geomspace(opt["budget"].min() / 1.5, opt["budget"].max() * 1.5, 100)
        term = frontier.laws_[quantity].terms_["all"]
        ax.plot(budgets, frontier.predict(budgets, quantity), color="black",
                label=rf"fit $\propto \mathcal{{F}}^{{{term.exponent:.2f}}}$", **FIT_LINE)
    ax.scatter(fit_part["budget"], fit_part[quantity], c=fit_colors, label="fitted J", **POINT)
    if len(held):
        ax.scatter(held["budget"], held[quantity], c=held_colors, label="held-out J (extrapolated)", **EXTRAPOLATED)
    colorbar(fig, ax, opt["threshold"])
    ylabel = {"utd": LABELS["utd_opt"], "data": r"$\mathcal{D}^*_J$ (env steps)",
              "compute": r"$\mathcal{C}^*_J$ (FLOPs)"}[quantity]
    ax.legend(fontsize=7)
    title = "Budget extrapolation" if quantity in frontier.laws_ else f"no law in F: {frontier.law_reason_}"
    finish(ax, LABELS["budget"], ylabel, title=title)
    return fig


def frontiers_by_threshold(frontier: ComputeFrontier, efficiency: DataEfficiency | None = None,
                           ax: Axes | None = None) -> Figure:
    """Figure 1 (III): the fitted frontier of every J, coloured by J, with measured points when given."""
    fig, ax = new_axes(ax)
    thresholds = frontier.optimum_["threshold"].to_numpy(dtype=float)
    for j, color in zip(thresholds, j_colors(thresholds), strict=True):
        curve = _curve(frontier, j)
        ax.plot(curve["data"], curve["compute"], color=color, **FIT_LINE)
        if efficiency is not None:
            pts = measured_points(frontier, efficiency, j)
            ax.scatter(pts["data"], pts["compute"], color=color, **POINT)
    colorbar(fig, ax, thresholds)
    finish(ax, LABELS["data"], LABELS["compute"], title="Frontiers for every J")
    return fig


def iso_performance(frontier: ComputeFrontier, ax: Axes | None = None, iso_cost: bool = True) -> Figure:
    """Plot f: iso-performance curves (one per J), the F-optimal point on each, the line through them,
    and the iso-cost lines C + δ·D = F*_J on which each optimum lies (dotted)."""
    fig, ax = new_axes(ax, figsize=(4.8, 3.8))
    ax.set_xscale("log")
    ax.set_yscale("log")
    opt = frontier.optimum_.sort_values("threshold")
    thresholds = opt["threshold"].to_numpy(dtype=float)
    colors = j_colors(thresholds)
    for j, color in zip(thresholds, colors, strict=True):
        curve = _curve(frontier, j)
        ax.plot(curve["data"], curve["compute"], color=color, **FIT_LINE)
    x_lim, y_lim = ax.get_xlim(), ax.get_ylim()
    if iso_cost and frontier.delta > 0:
        data = np.geomspace(*x_lim, 400)
        for k, (r, color) in enumerate(zip(opt.itertuples(index=False), colors, strict=True)):
            compute = r.budget - frontier.delta * data
            ok = compute > 0
            ax.plot(data[ok], compute[ok], color=color, ls=":", lw=1.0, zorder=1,
                    label=r"iso-cost $\mathcal{C}+\delta\mathcal{D}=\mathcal{F}^*_J$" if k == 0 else None)
    ax.plot(opt["data"], opt["compute"], color="black", lw=1.2, zorder=3, label=r"$\mathcal{F}$-optimal points")
    ax.scatter(opt["data"], opt["compute"], c=colors, zorder=4, s=50, edgecolors="black", linewidths=0.9)
    ax.set_xlim(x_lim)
    ax.set_ylim(y_lim)
    colorbar(fig, ax, thresholds)
    ax.legend(fontsize=7, loc="upper right")
    finish(ax, LABELS["data"], LABELS["compute"], title=rf"Iso-performance curves ($\delta$ = {frontier.delta:.2g})")
    return fig


def figure1(benchmarks: Mapping[str, tuple[ComputeFrontier, DataEfficiency]], threshold: float | None = None) -> Figure:
    """Figure 1: one column per benchmark, rows (I) frontier at J, (II) σ* against F, (III) all frontiers."""
    if not benchmarks:
        raise RlscaleError("figure1: give at least one benchmark (name -> (frontier, efficiency))")
    fig, axes = new_grid(3, len(benchmarks), panel=(4.4, 3.5))
    for col, (name, (frontier, efficiency)) in enumerate(benchmarks.items()):
        pareto_frontier(frontier, efficiency, threshold, ax=axes[0, col])
        budget_extrapolation(frontier, ax=axes[1, col])
        frontiers_by_threshold(frontier, efficiency, ax=axes[2, col])
        axes[0, col].set_title(f"{name}\n(I) " + axes[0, col].get_title())
        axes[1, col].set_title("(II) " + axes[1, col].get_title())
        axes[2, col].set_title("(III) " + axes[2, col].get_title())
    return fig
