"""Plot j: why the laws look this way, overfitting against σ and B, plasticity against η and σ.

It reads the late-training summary of a grid (:attr:`rlscale.analysis.Analysis.diagnostics_`, one row
per (env, σ, B, η)). The paper's overfitting is the TD error on the newest data minus the TD error on
data replayed uniformly (column ``overfitting``); its plasticity proxy is the critic's parameter norm
(``critic_param_norm``). A table that logs neither falls back to what it has and says so on the
panel: the held-out probe (validation minus training TD error, on transitions never trained on, a
different measure) and the training TD error.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rlscale.errors import RlscaleError
from rlscale.plots.style import LABELS, colorbar, finish, new_grid, title_note, utd_colors, utd_ticks

#: (measure, axis) of every claimed slope, in the order the claims list them, and the axes' symbols
_CLAIMED = (("overfitting", "utd"), ("overfitting", "batch_size"), ("plasticity", "utd"),
            ("plasticity", "learning_rate"))
_SYMBOL = {"utd": "σ", "batch_size": "B", "learning_rate": "η"}


def _measures(table: pd.DataFrame) -> tuple[pd.Series, str, str, pd.Series, str, str]:
    """(overfitting values, label, note) and (plasticity values, label, note) from what the table logs."""
    if "overfitting" in table.columns:
        over, over_label, over_note = table["overfitting"], "Overfitting\n(newest − replay TD error)", ""
    elif {"val_td_error", "train_td_error"} <= set(table.columns):
        over = table["val_td_error"] - table["train_td_error"]
        over_label = "Validation − training TD error"
        over_note = "held-out probe; newest − replay not logged"
    else:
        raise RlscaleError("plots: the diagnostics have neither newest/replay nor validation/training TD errors")
    if "critic_param_norm" in table.columns:
        plast, plast_label, plast_note = table["critic_param_norm"], "Critic parameter norm", ""
    elif "train_td_error" in table.columns:
        plast, plast_label = table["train_td_error"], "Training TD error"
        plast_note = "stand-in; critic norm not logged"
    else:
        raise RlscaleError("plots: the diagnostics have neither a critic parameter norm nor a training TD error")
    return over, over_label, over_note, plast, plast_label, plast_note


def overfitting(diagnostics: pd.DataFrame, env: str | None = None, slopes: pd.DataFrame | None = None,
                utd_scale: Sequence[float] | np.ndarray | None = None) -> Figure:
    """Plot j: per task (two rows each), scatter panels with one point per grid cell (σ, B, η): overfitting against
    σ (coloured by B) and against B (coloured by σ); plasticity against η (coloured by σ) and against σ (coloured
    by η). ``env``: one task only (None: every task). ``slopes`` (:func:`rlscale.analysis.mechanism_slopes`): each
    panel's claimed slope per doubling with its 95% interval in its title, and the fit over all tasks, which the
    claims judge, above the figure. ``utd_scale``: every σ of the benchmark (grid and fitted runs), the scale σ is
    coloured on, so that a σ has the colour it has in Figure 1 and plot e (default: the grid's σ)."""
    if diagnostics is None or diagnostics.empty:
        raise RlscaleError("plots: no diagnostics to draw (the grid's run table logs no TD errors)")
    have = sorted(diagnostics["env"].astype(str).unique())
    if env is not None and env not in have:
        raise RlscaleError(f"plots: no diagnostics for env {env} (have {', '.join(have)})")
    envs = have if env is None else [env]
    fig, axes = new_grid(2 * len(envs), 2, panel=(3.7, 2.9))
    for row, task in enumerate(envs):
        table = diagnostics[diagnostics["env"].astype(str) == task]
        over, over_label, over_note, plast, plast_label, plast_note = _measures(table)
        logged = {"overfitting": not over_note, "plasticity": not plast_note}
        panels = [
            (axes[2 * row, 0], "utd", over, over_label, "batch_size", False, "overfitting", "vs σ", over_note),
            (axes[2 * row, 1], "batch_size", over, over_label, "utd", False, "overfitting", "vs B", ""),
            (axes[2 * row + 1, 0], "learning_rate", plast, plast_label, "utd", True, "plasticity", "vs η", plast_note),
            (axes[2 * row + 1, 1], "utd", plast, plast_label, "learning_rate", True, "plasticity", "vs σ", ""),
        ]
        for ax, x, y, ylabel, colour_by, ylog, measure, versus, note in panels:
            values = table[colour_by].to_numpy(dtype=float)
            scale = np.union1d(values, utd_scale) if colour_by == "utd" and utd_scale is not None else values
            colours = utd_colors(values, among=scale)
            ax.scatter(table[x], y, c=colours, s=30, edgecolors="white", linewidths=0.5, zorder=3)
            if not ylog:
                ax.axhline(0.0, color="0.6", lw=0.8, zorder=1)
            finish(ax, LABELS[x], ylabel, ylog=ylog and bool(np.all(y > 0)), title=f"{task}: {measure} {versus}")
            utd_ticks(ax, table[x])
            colorbar(fig, ax, scale, kind=colour_by)
            slope = _slope(slopes, measure, task, x) if logged[measure] else None
            title_note(ax, note or (slope or ""), width=56)  # a slope with its interval and dof on one line
    pooled = [_slope(slopes, m, "all", x, named=True) for m, x in _CLAIMED] if len(have) > 1 else []
    if any(pooled):
        fig.suptitle(textwrap.fill("Fit over all tasks (the claims): " + "; ".join(p for p in pooled if p), 110),
                     fontsize=9)
    return fig


def _slope(slopes: pd.DataFrame | None, measure: str, env: str, axis: str, named: bool = False) -> str | None:
    """"per doubling +0.80 [0.51, 1.09], dof 32" (named: "overfitting σ +0.80 ...") for one (measure, task, axis)
    of ``slopes``; None where it has none."""
    if slopes is None:
        return None
    hit = slopes[(slopes["measure"] == measure) & (slopes["env"] == env) & (slopes["axis"] == axis)]
    if hit.empty:
        return None
    r = hit.iloc[0]
    what = f"{measure} {_SYMBOL[axis]}" if named else ("log norm" if measure == "plasticity" else "") + " per doubling"
    return f"{what.strip()} {r['estimate']:+.2f} [{r['lower']:.2f}, {r['upper']:.2f}], dof {int(r['dof'])}"
