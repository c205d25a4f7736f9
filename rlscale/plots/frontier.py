"""Figure 1 and plots e, f, g: the data–compute frontier, σ* against the budget, iso-performance curves.

Every function reads a fitted :class:`~rlscale.laws.ComputeFrontier` (and the
:class:`~rlscale.laws.DataEfficiency` it was fitted from, for the measured points); nothing is
refitted here. Measured points are placed on the compute axis with the frontier's own
C = 10 · N · B(σ) · σ · D, so points and curve use the same compute model. A threshold whose
D_J(σ) is not a law has no frontier curve and no optimum: its points are drawn, and the panel says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rlscale.errors import RlscaleError
from rlscale.laws.efficiency import ALL, DataEfficiency
from rlscale.laws.frontier import ComputeFrontier
from rlscale.plots.style import (
    BASELINE,
    BELOW,
    EXTRAPOLATED,
    EXTRAPOLATED_NOTE,
    FIT_LINE,
    FITTED,
    LABELS,
    POINT,
    blank,
    colorbar,
    finish,
    fmt,
    fmt_j,
    j_colors,
    label_points,
    law_label,
    law_x,
    legend,
    new_axes,
    new_grid,
    pick_threshold,
    plot_over_sigma,
    title_note,
    utd_colors,
)


def _j_scale(shown: Sequence[float] | np.ndarray, thresholds: Sequence[float] | np.ndarray | None) -> np.ndarray:
    """The J the colour scale spans: every J of the analysis when given (with the drawn ones, should they lie
    outside), else the drawn ones."""
    shown = np.asarray(shown, dtype=float)
    return shown if thresholds is None else np.unique(np.concatenate([np.asarray(thresholds, dtype=float), shown]))


def _label(frontier: ComputeFrontier, key: str) -> str:
    """An axis label in the frontier's compute unit (FLOPs, or gradient steps as for Isaac Gym)."""
    gradient_steps = frontier.compute_unit == "gradient_steps"
    return LABELS[key].replace("(FLOPs)", "(gradient steps)") if gradient_steps else LABELS[key]


def _curve(frontier: ComputeFrontier, threshold: float, efficiency: DataEfficiency | None = None) -> pd.DataFrame:
    """The frontier curve at J; none where ``efficiency``'s D_J at J is not a law (the paper method computes curves
    for such J too, as the authors use them, but a curve drawn there would show a law the data do not determine)."""
    if efficiency is not None and not _is_law(efficiency, frontier, threshold):
        return frontier.curves_.iloc[:0]
    return frontier.curves_[np.isclose(frontier.curves_["threshold"], threshold)]


def _is_law(efficiency: DataEfficiency, frontier: ComputeFrontier, threshold: float) -> bool:
    return efficiency.is_law(threshold, _group(efficiency, frontier))


def _group(efficiency: DataEfficiency, frontier: ComputeFrontier) -> str | None:
    """The efficiency fit's group the frontier was built on (None: the pooled fit)."""
    return None if efficiency.normalize else frontier.group


def _draw_curve(ax: Axes, frontier: ComputeFrontier, efficiency: DataEfficiency | None, threshold: float, color,
                label: str | None = None, **line) -> bool:
    """The frontier curve at J, solid over the σ its D_J(σ) was measured at and dotted beyond (the curve's σ grid
    is wider than the data: the optimum is searched past them); all solid without ``efficiency`` (nothing to tell
    measured σ by). Returns whether any of it is extrapolated."""
    curve = _curve(frontier, threshold, efficiency)
    measured = measured_points(frontier, efficiency, threshold)["utd"] if efficiency is not None else curve["utd"]
    return plot_over_sigma(ax, curve["utd"], curve["data"], curve["compute"], measured, color, label=label, **line)


def _optimum(frontier: ComputeFrontier, threshold: float) -> pd.Series | None:
    rows = frontier.optimum_[np.isclose(frontier.optimum_["threshold"].astype(float), threshold)]
    return rows.iloc[0] if len(rows) else None


def _why(efficiency: DataEfficiency, frontier: ComputeFrontier, threshold: float) -> str:
    """Why there is no frontier at J (the D_J verdict)."""
    row = efficiency._row(threshold, _group(efficiency, frontier))
    return rf"$\mathcal{{D}}_J$ is not a law ({row.status})"  # mathtext, as the axis labels write it


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
    frontier and its points in grey. ``threshold`` defaults to the hardest J that has a frontier (the highest J
    whose D_J is a law).
    """
    fig, ax = new_axes(ax)
    j = pick_threshold(efficiency.thresholds_, threshold, lambda t: len(_curve(frontier, t, efficiency)) > 0,
                       frontier.higher_is_better)
    curve = _curve(frontier, j, efficiency)
    pts = measured_points(frontier, efficiency, j)
    notes, extrapolated = [], False
    if baseline is not None:
        b_frontier, b_eff = baseline
        b_pts = measured_points(b_frontier, b_eff, j) if np.isclose(b_eff.thresholds_, j).any() else pts.iloc[:0]
        if len(b_pts):
            ax.scatter(b_pts["data"], b_pts["compute"], color=BASELINE["color"], marker="s", **POINT)
        if len(_curve(b_frontier, j, b_eff)):
            extrapolated |= _draw_curve(ax, b_frontier, b_eff, j, BASELINE["color"], BASELINE["label"],
                                        **{**FIT_LINE, "ls": "--"})
        else:
            ax.scatter([], [], color=BASELINE["color"], marker="s", label=f"{BASELINE['label']}: no law at J")
    label = "fit" if baseline is None else FITTED["label"]
    if len(curve):
        extrapolated |= _draw_curve(ax, frontier, efficiency, j, "black", label, **FIT_LINE)
    else:
        notes.append(f"no frontier at J = {fmt_j(j)}: {_why(efficiency, frontier, j)}")
    if len(pts):
        ax.scatter(pts["data"], pts["compute"], c=utd_colors(pts["utd"]), label="measured", **POINT)
        if label_utd:
            label_points(ax, pts["data"], pts["compute"], [rf"$\sigma$={fmt(u)}" for u in pts["utd"]])
            ax.set_ymargin(0.1)  # room for a label under the lowest point, where the σ crowd (Isaac Gym's 8/n)
        colorbar(fig, ax, pts["utd"], kind="utd")
    opt = _optimum(frontier, j)
    if opt is not None:
        bound = " (a bound)" if opt["at_boundary"] else ""
        ax.scatter([opt["data"]], [opt["compute"]], marker="D", color="black", s=40, zorder=5,
                   label=rf"$\mathcal{{F}}$-optimal $\sigma^*$={opt['utd']:.2g}{bound}")
    finish(ax, LABELS["data"], _label(frontier, "compute"), title=f"Pareto frontier, J = {fmt_j(j)}")
    legend(ax, notes + ([EXTRAPOLATED_NOTE] if extrapolated else []), width=50)
    return fig


def budget_extrapolation(frontier: ComputeFrontier, ax: Axes | None = None, quantity: str = "utd",
                         thresholds: Sequence[float] | np.ndarray | None = None) -> Figure:
    """Figure 1 (II) and plot g: σ* (or D*, C*) against the budget F*, the power-law fit, held-out J as stars.

    Points are coloured by J. The fit line (only where the law in F is a law) spans every budget so the
    held-out points show how far the law extrapolates, solid over the fitted points' budgets and dotted beyond them;
    its legend gives the exponent's 95% interval and dof. Where that interval spans 0 (sign undetermined) the line
    is dashed and drawn over the fitted points' budgets only.
    ``thresholds``: every J of the analysis (``efficiency.thresholds_``), so that J are coloured on the same scale
    as in the other panels and figures (default: the J with an optimum only).
    """
    fig, ax = new_axes(ax)
    opt = frontier.optimum_.sort_values("budget")
    notes = []
    if opt.empty:
        notes.append(f"no optimum at any J: {frontier.reason_}")
    else:
        j_scale = _j_scale(opt["threshold"], thresholds)
        colors = j_colors(opt["threshold"], among=j_scale)
        held_mask = opt["held_out"].astype(bool).to_numpy()
        used = opt["in_fit"].astype(bool).to_numpy()
        if frontier.has_law(quantity):
            law = frontier.laws_[quantity]
            fitted = opt.loc[used, "budget"]
            budgets = law_x(law, ALL, fitted, opt["budget"])
            label, line = law_label(law, ALL, r"\mathcal{F}")
            # solid over the fitted budgets, dotted beyond: the curve is parametrised by F here, not by σ
            if plot_over_sigma(ax, budgets, budgets, frontier.predict(budgets, quantity), fitted, "black", label=label,
                               **line):
                notes.append(EXTRAPOLATED_BUDGET_NOTE)
        else:
            law = frontier.laws_.get(quantity)
            why = frontier.law_reason_ if law is None else str(law.terms_["status"].iloc[0])
            notes.append(f"no law in F: {why}")
        left_out = ~used & ~held_mask
        for mask, label, marker in ((used, "fitted J", "o"), (left_out, "left out (a bound or a repeat)", "X")):
            if mask.any():
                ax.scatter(opt.loc[mask, "budget"], opt.loc[mask, quantity],
                           c=[colors[i] for i in np.flatnonzero(mask)], label=label, marker=marker, **POINT)
        if held_mask.any():
            ax.scatter(opt.loc[held_mask, "budget"], opt.loc[held_mask, quantity],
                       c=[colors[i] for i in np.flatnonzero(held_mask)], label="held-out J (extrapolated)",
                       **EXTRAPOLATED)
        colorbar(fig, ax, j_scale)
    ylabel = {"utd": LABELS["utd_opt"], "data": r"$\mathcal{D}^*_J$ (env steps)",
              "compute": r"$\mathcal{C}^*_J$ (FLOPs)"}[quantity]
    if frontier.compute_unit == "gradient_steps":
        ylabel = ylabel.replace("(FLOPs)", "(gradient steps)")
    finish(ax, _label(frontier, "budget"), ylabel, title="Budget extrapolation")
    if opt.empty:
        blank(ax)
    legend(ax, notes, loc="center" if opt.empty else BELOW, width=50)
    return fig


#: the legend note of a law in F drawn past the budgets it was fitted on (out to the held-out J)
EXTRAPOLATED_BUDGET_NOTE = "dotted: extrapolated beyond the fitted budgets"


def frontiers_by_threshold(frontier: ComputeFrontier, efficiency: DataEfficiency | None = None,
                           ax: Axes | None = None) -> Figure:
    """Figure 1 (III): the fitted frontier of every J with a law, coloured by J, with measured points."""
    fig, ax = new_axes(ax)
    thresholds = np.asarray(efficiency.thresholds_ if efficiency is not None else
                            frontier.optimum_["threshold"], dtype=float)
    drawn = [j for j in thresholds if len(_curve(frontier, j, efficiency))]
    extrapolated = False
    for j, color in zip(thresholds, j_colors(thresholds), strict=True):
        if j in drawn:
            extrapolated |= _draw_curve(ax, frontier, efficiency, j, color, **FIT_LINE)
        if efficiency is not None:
            pts = measured_points(frontier, efficiency, j)
            ax.scatter(pts["data"], pts["compute"], color=color, **POINT)
    if len(thresholds):
        colorbar(fig, ax, thresholds)
    missing = [fmt_j(j) for j in thresholds if j not in drawn]
    finish(ax, LABELS["data"], _label(frontier, "compute"), title="Frontiers for every J")
    title_note(ax, f"points only, no law, at J = {', '.join(missing)}" if missing else "")
    if extrapolated:
        legend(ax, [EXTRAPOLATED_NOTE], width=50)
    return fig


def iso_performance(frontier: ComputeFrontier, ax: Axes | None = None, iso_cost: bool = True,
                    thresholds: Sequence[float] | np.ndarray | None = None,
                    efficiency: DataEfficiency | None = None) -> Figure:
    """Plot f: iso-performance curves (one per J with a law), the F-optimal point on each, the line through
    them, and the iso-cost lines C + δ·D = F*_J on which each optimum lies (dash-dotted: dotted is the curves'
    σ beyond the measured ones). ``thresholds``: every J of the analysis, the scale J are coloured on (as
    :func:`budget_extrapolation`). ``efficiency``: the fit the frontier was built from, whose measured σ decide
    where each curve turns dotted (without it the curves are drawn solid throughout) and whose verdicts which J are
    drawn (the paper method keeps optima whose D_J is no law; they are not drawn)."""
    fig, ax = new_axes(ax, figsize=(4.8, 3.8))
    ax.set_xscale("log")
    ax.set_yscale("log")
    opt = frontier.optimum_.sort_values("threshold")
    if efficiency is not None:  # an optimum on a curve whose D_J is no law (the paper method keeps them) is not drawn
        opt = opt[[_is_law(efficiency, frontier, j) for j in opt["threshold"].astype(float)]]
    if opt.empty:
        finish(ax, LABELS["data"], _label(frontier, "compute"), title="Iso-performance curves")
        blank(ax)
        legend(ax, [f"no frontier: {frontier.reason_ or 'no threshold has a data-efficiency law'}"], loc="center",
               width=50)
        return fig
    with_law = opt["threshold"].to_numpy(dtype=float)
    j_scale = _j_scale(with_law, thresholds)
    colors = j_colors(with_law, among=j_scale)
    extrapolated = False
    for j, color in zip(with_law, colors, strict=True):
        extrapolated |= _draw_curve(ax, frontier, efficiency, j, color, **FIT_LINE)
    x_lim, y_lim = ax.get_xlim(), ax.get_ylim()
    if iso_cost and frontier.delta > 0:
        data = np.geomspace(*x_lim, 400)
        for k, (r, color) in enumerate(zip(opt.itertuples(index=False), colors, strict=True)):
            compute = r.budget - frontier.delta * data
            ok = compute > 0
            ax.plot(data[ok], compute[ok], color=color, ls="-.", lw=0.9, zorder=1,
                    label=r"iso-cost $\mathcal{C}+\delta\mathcal{D}=\mathcal{F}^*_J$" if k == 0 else None)
    if len(opt) > 1:
        ax.plot(opt["data"], opt["compute"], color="black", lw=1.2, zorder=3, label=r"$\mathcal{F}$-optimal points")
    ax.scatter(opt["data"], opt["compute"], c=colors, zorder=4, s=50, edgecolors="black", linewidths=0.9,
               label=None if len(opt) > 1 else r"$\mathcal{F}$-optimal point")
    ax.set_xlim(x_lim)
    ax.set_ylim(y_lim)
    colorbar(fig, ax, j_scale)
    finish(ax, LABELS["data"], _label(frontier, "compute"),
           title=rf"Iso-performance curves ($\delta$ = {frontier.delta:.2g})")
    if efficiency is not None:  # the colour bar spans every J: say which J have no curve, as plot c and (III) do
        missing = [fmt_j(j) for j in efficiency.thresholds_ if not _is_law(efficiency, frontier, float(j))]
        title_note(ax, f"no curve, no law, at J = {', '.join(missing)}" if missing else "")
    legend(ax, [EXTRAPOLATED_NOTE] if extrapolated else [], width=50)
    return fig


def figure1(benchmarks: Mapping[str, tuple[ComputeFrontier, DataEfficiency]], threshold: float | None = None) -> Figure:
    """Figure 1: one column per benchmark, rows (I) frontier at J, (II) σ* against F, (III) all frontiers."""
    if not benchmarks:
        raise RlscaleError("figure1: give at least one benchmark (name -> (frontier, efficiency))")
    fig, axes = new_grid(3, len(benchmarks), panel=(4.4, 3.5))
    for col, (name, (frontier, efficiency)) in enumerate(benchmarks.items()):
        pareto_frontier(frontier, efficiency, threshold, ax=axes[0, col])
        budget_extrapolation(frontier, ax=axes[1, col], thresholds=efficiency.thresholds_)
        frontiers_by_threshold(frontier, efficiency, ax=axes[2, col])
        axes[0, col].set_title(f"{name}\n(I) " + axes[0, col].get_title())
        axes[1, col].set_title("(II) " + axes[1, col].get_title())
        axes[2, col].set_title("(III) " + axes[2, col].get_title())
    return fig
