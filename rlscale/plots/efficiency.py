"""Plots c and d: data efficiency D_J(σ), the points a :class:`~rlscale.laws.DataEfficiency` fitted and its laws."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rlscale.errors import RlscaleError
from rlscale.laws.efficiency import ALL, DataEfficiency
from rlscale.laws.summary import OK
from rlscale.plots.style import (
    BASELINE,
    EXTRAPOLATED_NOTE,
    FIT_LINE,
    FITTED,
    LABELS,
    POINT,
    colorbar,
    finish,
    fmt_j,
    j_colors,
    legend,
    new_axes,
    pick_threshold,
    plot_over_sigma,
    sigma_grid,
    title_note,
    utd_ticks,
)


def _group(efficiency: DataEfficiency, env: str | None) -> str:
    if efficiency.normalize:
        return ALL
    if env is None or env not in efficiency.groups_:
        raise RlscaleError(f"plots: this efficiency fit is per env; pass env= (one of {', '.join(efficiency.groups_)})")
    return env


def _points(efficiency: DataEfficiency, group: str, threshold: float):
    pts = efficiency.points_
    pts = pts[(pts["group"] == group) & np.isclose(pts["threshold"], threshold)]
    return pts[np.isfinite(pts["data"])].sort_values("utd")


def _draw_law(ax: Axes, efficiency: DataEfficiency, threshold: float, env: str | None, color, label: str | None,
              marker: str = "o", asymptote: bool = True) -> tuple[str, bool]:
    """Points always; the law (and its D_min asymptote) only where the fit is a law, dotted beyond the σ of the
    points it was fitted to (over the σ span of every point of the fit, so all J share one x range). Returns a note
    if it is not a law, and whether the line reaches beyond its points' σ."""
    group = _group(efficiency, env)
    pts = _points(efficiency, group, threshold)
    row = efficiency._row(threshold, None if efficiency.normalize else group)
    ax.scatter(pts["utd"], pts["data"], color=color, marker=marker, **POINT)
    if row.status != OK:
        if label:
            ax.scatter([], [], color=color, marker=marker, label=f"{label}: no law ({row.status})")
        return f"J = {fmt_j(threshold)}{'' if not label else f' ({label})'}: not a law ({row.status})", False
    grid = np.union1d(sigma_grid(efficiency.points_["utd"]), [pts["utd"].min(), pts["utd"].max()])
    law = efficiency.predict(grid, threshold, None if efficiency.normalize else group)
    extrapolated = plot_over_sigma(ax, grid, grid, law, pts["utd"], color, label=label, **FIT_LINE)
    if asymptote:
        ax.axhline(row.d_min, color=color, ls="--", lw=1.0, label=rf"$\mathcal{{D}}_{{\min}}$ ({label})")
    return "", extrapolated


def data_efficiency(
    efficiency: DataEfficiency, threshold: float | None = None, env: str | None = None,
    baseline: DataEfficiency | None = None, ax: Axes | None = None, higher_is_better: bool = True,
) -> Figure:
    """Plot d: D_J(σ) at one J (default: the hardest J whose fit is a law, the highest unless ``higher_is_better``
    is False) —
    measured points, the fitted law and its D_min asymptote (dashed) where the fit is a law and, when
    ``baseline`` is given, the constant-hyperparameter runs' points and law in grey."""
    fig, ax = new_axes(ax)
    threshold = pick_threshold(efficiency.thresholds_, threshold,
                               lambda t: efficiency.is_law(t, None if efficiency.normalize else env), higher_is_better)
    extrapolated = False
    if baseline is not None and np.isclose(baseline.thresholds_, threshold).any():
        extrapolated = _draw_law(ax, baseline, threshold, env, BASELINE["color"], BASELINE["label"], marker="s")[1]
    label = FITTED["label"] if baseline is not None else r"fit $\mathcal{D}_{\min} + (\beta/\sigma)^\alpha$"
    extrapolated |= _draw_law(ax, efficiency, threshold, env, FITTED["color"] if baseline is not None else "black",
                              label)[1]
    title = f"Data efficiency, J = {fmt_j(threshold)}" + ("" if env is None else f" ({env})")
    finish(ax, LABELS["utd"], LABELS["data"], title=title)
    utd_ticks(ax, efficiency.points_["utd"])
    legend(ax, [EXTRAPOLATED_NOTE] if extrapolated else [], width=50)
    return fig


def normalized_time(efficiency: DataEfficiency, env: str | None = None, ax: Axes | None = None) -> Figure:
    """Plot c: (task-normalised) time to threshold against σ for every J, coloured by J, with the fits that
    are laws."""
    fig, ax = new_axes(ax, figsize=(4.6, 3.6))
    thresholds = efficiency.thresholds_
    drawn = [_draw_law(ax, efficiency, float(j), env, color, label=None, asymptote=False)
             for j, color in zip(thresholds, j_colors(thresholds), strict=True)]
    notes = [note for note, _ in drawn]
    colorbar(fig, ax, thresholds)
    ylabel = LABELS["normalized_time"] if efficiency.normalize else LABELS["steps_to_j"]
    finish(ax, LABELS["utd"], ylabel, title="Time to threshold for every J" + ("" if env is None else f" ({env})"))
    utd_ticks(ax, efficiency.points_["utd"])
    missing = [fmt_j(j) for j, n in zip(thresholds, notes, strict=True) if n]
    title_note(ax, f"points only, no law, at J = {', '.join(missing)}" if missing else "")
    if any(extrapolated for _, extrapolated in drawn):
        legend(ax, [EXTRAPOLATED_NOTE], width=50)
    return fig
