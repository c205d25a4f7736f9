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
    FIT_LINE,
    FITTED,
    LABELS,
    POINT,
    colorbar,
    finish,
    j_colors,
    legend,
    new_axes,
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


def _utd_grid(efficiency: DataEfficiency, extend: float = 1.5) -> np.ndarray:
    utds = efficiency.points_["utd"]
    return np.geomspace(utds.min() / extend, utds.max() * extend, 200)


def _draw_law(ax: Axes, efficiency: DataEfficiency, threshold: float, env: str | None, color, label: str | None,
              marker: str = "o", asymptote: bool = True) -> str:
    """Points always; the law (and its D_min asymptote) only where the fit is a law. Returns a note if not."""
    group = _group(efficiency, env)
    pts = _points(efficiency, group, threshold)
    row = efficiency._row(threshold, None if efficiency.normalize else group)
    ax.scatter(pts["utd"], pts["data"], color=color, marker=marker, **POINT)
    if row.status != OK:
        if label:
            ax.scatter([], [], color=color, marker=marker, label=f"{label}: no law ({row.status})")
        return f"J = {threshold:g}{'' if not label else f' ({label})'}: not a law ({row.status})"
    grid = _utd_grid(efficiency)
    ax.plot(grid, efficiency.predict(grid, threshold, None if efficiency.normalize else group), color=color,
            label=label, **FIT_LINE)
    if asymptote:
        ax.axhline(row.d_min, color=color, ls="--", lw=1.0, label=rf"$\mathcal{{D}}_{{\min}}$ ({label})")
    return ""


def _default_threshold(efficiency: DataEfficiency, threshold: float | None, higher_is_better: bool = True) -> float:
    """``threshold``, else the hardest J (the highest; the lowest of a lower-is-better metric)."""
    if threshold is not None:
        return float(threshold)
    return float(np.max(efficiency.thresholds_) if higher_is_better else np.min(efficiency.thresholds_))


def data_efficiency(
    efficiency: DataEfficiency, threshold: float | None = None, env: str | None = None,
    baseline: DataEfficiency | None = None, ax: Axes | None = None, higher_is_better: bool = True,
) -> Figure:
    """Plot d: D_J(σ) at one J (default: the hardest, the highest unless ``higher_is_better`` is False) —
    measured points, the fitted law and its D_min asymptote (dashed) where the fit is a law and, when
    ``baseline`` is given, the constant-hyperparameter runs' points and law in grey."""
    fig, ax = new_axes(ax)
    threshold = _default_threshold(efficiency, threshold, higher_is_better)
    if baseline is not None and np.isclose(baseline.thresholds_, threshold).any():
        _draw_law(ax, baseline, threshold, env, BASELINE["color"], BASELINE["label"], marker="s")
    label = FITTED["label"] if baseline is not None else r"fit $\mathcal{D}_{\min} + (\beta/\sigma)^\alpha$"
    _draw_law(ax, efficiency, threshold, env, FITTED["color"] if baseline is not None else "black", label)
    title = f"Data efficiency, J = {threshold:g}" + ("" if env is None else f" ({env})")
    finish(ax, LABELS["utd"], LABELS["data"], title=title)
    utd_ticks(ax, efficiency.points_["utd"])
    legend(ax)
    return fig


def normalized_time(efficiency: DataEfficiency, env: str | None = None, ax: Axes | None = None) -> Figure:
    """Plot c: (task-normalised) time to threshold against σ for every J, coloured by J, with the fits that
    are laws."""
    fig, ax = new_axes(ax, figsize=(4.6, 3.6))
    thresholds = efficiency.thresholds_
    notes = [_draw_law(ax, efficiency, float(j), env, color, label=None, asymptote=False)
             for j, color in zip(thresholds, j_colors(thresholds), strict=True)]
    colorbar(fig, ax, thresholds)
    ylabel = LABELS["normalized_time"] if efficiency.normalize else LABELS["steps_to_j"]
    finish(ax, LABELS["utd"], ylabel, title="Time to threshold for every J" + ("" if env is None else f" ({env})"))
    utd_ticks(ax, efficiency.points_["utd"])
    missing = [f"{j:g}" for j, n in zip(thresholds, notes, strict=True) if n]
    title_note(ax, f"points only, no law, at J = {', '.join(missing)}" if missing else "")
    return fig
