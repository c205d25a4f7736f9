"""Plot j: why the laws look this way, overfitting against σ and B, plasticity against η and σ.

It reads the late-training summary of a grid (:attr:`rlscale.analysis.Analysis.diagnostics_`, one row
per (env, σ, B, η)). The paper's overfitting is the TD error on the newest data minus the TD error on
data replayed uniformly (column ``overfitting``); its plasticity proxy is the critic's parameter norm
(``critic_param_norm``). A table that logs neither falls back to what it has and says so on the
panel: the held-out probe (validation minus training TD error, on transitions never trained on, a
different measure) and the training TD error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rlscale.errors import RlscaleError
from rlscale.plots.style import LABELS, colorbar, finish, new_grid, title_note, utd_colors, utd_ticks


def _measures(table: pd.DataFrame) -> tuple[pd.Series, str, str, pd.Series, str, str]:
    """(overfitting values, label, note) and (plasticity values, label, note) from what the table logs."""
    if "overfitting" in table.columns:
        over, over_label, over_note = table["overfitting"], "Overfitting (newest − replay TD error)", ""
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


def overfitting(diagnostics: pd.DataFrame, env: str | None = None) -> Figure:
    """Plot j: scatter panels, one point per grid cell (σ, B, η) of one task: overfitting against σ
    (coloured by B) and against B (coloured by σ); plasticity against η (coloured by σ) and against σ
    (coloured by η)."""
    if diagnostics is None or diagnostics.empty:
        raise RlscaleError("plots: no diagnostics to draw (the grid's run table logs no TD errors)")
    env = env if env is not None else str(diagnostics["env"].iloc[0])
    table = diagnostics[diagnostics["env"].astype(str) == env]
    if table.empty:
        raise RlscaleError(f"plots: no diagnostics for env {env} (have {', '.join(diagnostics['env'].unique())})")
    over, over_label, over_note, plast, plast_label, plast_note = _measures(table)
    fig, axes = new_grid(2, 2, panel=(3.7, 2.9))
    panels = [
        (axes[0, 0], "utd", over, over_label, "batch_size", False, f"{env}: overfitting vs σ", over_note),
        (axes[0, 1], "batch_size", over, over_label, "utd", False, f"{env}: overfitting vs B", ""),
        (axes[1, 0], "learning_rate", plast, plast_label, "utd", True, f"{env}: plasticity vs η", plast_note),
        (axes[1, 1], "utd", plast, plast_label, "learning_rate", True, f"{env}: plasticity vs σ", ""),
    ]
    for ax, x, y, ylabel, colour_by, ylog, title, note in panels:
        colours = utd_colors(table[colour_by].to_numpy(dtype=float))
        ax.scatter(table[x], y, c=colours, s=30, edgecolors="white", linewidths=0.5, zorder=3)
        if not ylog:
            ax.axhline(0.0, color="0.6", lw=0.8, zorder=1)
        finish(ax, LABELS[x], ylabel, ylog=ylog and bool(np.all(y > 0)), title=title)
        utd_ticks(ax, table[x])
        colorbar(fig, ax, table[colour_by].to_numpy(dtype=float), kind=colour_by)
        title_note(ax, note)
    return fig
