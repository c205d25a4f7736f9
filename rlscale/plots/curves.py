"""Plots a and b: learning curves with their threshold crossings, and env steps to J against σ per task.

Both read fitted :class:`~rlscale.laws.ThresholdCrossings`. When a crossings object holds a raw
grid (several (B, η) per (env, σ)), the configuration drawn per (env, σ) is the one
:func:`~rlscale.laws.select_configs` keeps, the same one the frontier fits use.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rlscale.errors import RlscaleError
from rlscale.laws.frontier import select_configs
from rlscale.laws.thresholds import ThresholdCrossings
from rlscale.plots.style import (
    BASELINE,
    FIT_LINE,
    FITTED,
    LABELS,
    finish,
    fmt,
    fmt_j,
    j_colors,
    legend,
    new_grid,
    utd_ticks,
)


def task_configs(crossings: ThresholdCrossings) -> pd.DataFrame:
    """One row per (env, σ): env, utd, batch_size, learning_rate and ``index`` into ``configs_``."""
    index = select_configs(crossings)
    cfg = crossings.configs_.iloc[index].loc[:, ["env", "utd", "batch_size", "learning_rate"]]
    return cfg.assign(env=cfg["env"].astype(str), index=index).reset_index(drop=True)


def _subset(cfg: pd.DataFrame, envs: Sequence[str] | None, utds: Sequence[float] | None) -> pd.DataFrame:
    if envs is not None:
        unknown = sorted(set(envs) - set(cfg["env"]))
        if unknown:
            have = ", ".join(cfg["env"].unique())
            raise RlscaleError(f"plots: no runs for env(s) {', '.join(unknown)} (have {have})")
        cfg = cfg[cfg["env"].isin(list(envs))]
    if utds is not None:
        cfg = cfg[np.isclose(cfg["utd"].to_numpy()[:, None], np.asarray(utds, dtype=float)[None, :]).any(axis=1)]
    if cfg.empty:
        raise RlscaleError("plots: no (env, utd) left to draw")
    return cfg


def _thresholds(crossings: ThresholdCrossings, thresholds: Sequence[float] | None) -> np.ndarray:
    if thresholds is None:
        return crossings.thresholds_
    match = np.isclose(crossings.thresholds_[:, None], np.asarray(thresholds, dtype=float)[None, :])
    missing = [float(t) for t, found in zip(thresholds, match.any(axis=0), strict=True) if not found]
    if missing:
        raise RlscaleError(f"plots: threshold(s) {missing} were not computed "
                           f"(have {', '.join(f'{t:g}' for t in crossings.thresholds_)})")
    return crossings.thresholds_[match.any(axis=1)]


def _positions(crossings: ThresholdCrossings, thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    """Where each of ``thresholds`` (computed ones) sits in ``crossings.thresholds_``, which keep the order they were
    given in (descending for a lower-is-better metric): a binary search would read another J's crossings."""
    match = np.isclose(np.asarray(thresholds, dtype=float)[:, None], crossings.thresholds_[None, :])
    return match.argmax(axis=1)  # the first match of each


RAW_MEAN = {"lw": 0.8, "alpha": 0.35}
LEGEND_ROOM = 1.3  # inches added under plot a's panels for its legend


def _draw_run(ax: Axes, crossings: ThresholdCrossings, index: int, thresholds: np.ndarray, color, label: str,
              filled: bool) -> None:
    curve = crossings.mean_curve(index)
    ax.plot(curve["env_step"], curve["mean"], color=color, **RAW_MEAN)
    ax.plot(curve["env_step"], curve["smoothed"], color=color, label=label, **FIT_LINE)
    j_pos = _positions(crossings, thresholds)
    steps = crossings.crossing_[index, j_pos]
    ok = np.isfinite(steps)
    colors = np.asarray(j_colors(crossings.thresholds_), dtype=float)[j_pos][ok]
    ax.scatter(steps[ok], thresholds[ok], s=34, zorder=4, marker="o" if filled else "s", c=colors,
               edgecolors="black" if filled else BASELINE["color"], linewidths=1.0 if filled else 1.6)


def learning_curves(
    crossings: ThresholdCrossings, baseline: ThresholdCrossings | None = None, envs: Sequence[str] | None = None,
    utds: Sequence[float] | None = None, thresholds: Sequence[float] | None = None,
) -> Figure:
    """Plot a: one panel per task (row) × σ (column): seed-mean return (thin, faint), its isotonic (monotone)
    fit (thick), from which the crossings are read, and the crossing of each J (markers coloured by J; dotted
    lines at each J). The legend sits below the bottom row's first panel and says which line is which.

    With ``baseline`` the constant-hyperparameter runs are drawn in grey, their crossings as squares.
    """
    cfg = _subset(task_configs(crossings), envs, utds)
    base_cfg = task_configs(baseline).set_index(["env", "utd"]) if baseline is not None else None
    thr = _thresholds(crossings, thresholds)
    env_list = list(dict.fromkeys(cfg["env"]))
    utd_list = sorted(cfg["utd"].unique())
    fig, axes = new_grid(len(env_list), len(utd_list), panel=(3.0, 2.4), sharey=True)
    fig.set_figheight(fig.get_figheight() + LEGEND_ROOM)  # the legend below takes room, not the panels' height
    for ax in axes.flat:
        ax.set_visible(False)
    for r in cfg.itertuples(index=False):
        ax = axes[env_list.index(r.env), utd_list.index(r.utd)]
        ax.set_visible(True)
        colors = np.asarray(j_colors(crossings.thresholds_))[_positions(crossings, thr)]
        for j, color in zip(thr, colors, strict=True):
            ax.axhline(j, color=color, ls=":", lw=0.9, zorder=0)
        if base_cfg is not None and (r.env, r.utd) in base_cfg.index:
            b_index = int(base_cfg.loc[(r.env, r.utd), "index"])
            _draw_run(ax, baseline, b_index, _thresholds(baseline, thr), BASELINE["color"], BASELINE["label"], False)
        _draw_run(ax, crossings, int(r.index), thr, FITTED["color"] if baseline is not None else "black",
                  FITTED["label"] if baseline is not None else "seed mean (isotonic)", True)
        finish(ax, xlog=False, ylog=False, title=rf"{r.env}, $\sigma$={fmt(r.utd)}")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    for ax in axes[-1]:
        ax.set_xlabel(LABELS["env_step"])
    for ax in axes[:, 0]:
        ax.set_ylabel(LABELS["score"])
    bottom = next(ax for ax in axes[::-1].flat if ax.get_visible())  # under the grid: no panel below it
    handles, labels = _legend_entries(crossings, thr, baseline is not None)
    legend(bottom, handles=handles, labels=[textwrap.fill(label, 48) for label in labels])
    return fig


def _legend_entries(crossings: ThresholdCrossings, thresholds: np.ndarray, with_baseline: bool) -> tuple[list, list]:
    """What each line of plot a is: the series (with a baseline), the thick isotonic fit the crossings are read
    from, the thin raw seed mean, and which J the dotted lines and markers are."""
    ink = "0.25"
    handles, labels = [], []
    if with_baseline:
        handles += [Line2D([], [], color=FITTED["color"], lw=2), Line2D([], [], color=BASELINE["color"], lw=2)]
        labels += [FITTED["label"], BASELINE["label"]]
    higher = getattr(crossings, "higher_is_better_", True)
    handles += [Line2D([], [], color=ink, **FIT_LINE), Line2D([], [], color=ink, **RAW_MEAN)]
    labels += [f"thick: isotonic (monotone {'non-decreasing' if higher else 'non-increasing'}) fit of the seed "
               "mean; crossings are read from it", "thin: raw seed mean"]
    one = len(thresholds) == 1
    color = j_colors(crossings.thresholds_)[int(_positions(crossings, thresholds[:1])[0])] if one else ink
    handles.append(Line2D([], [], color=color, ls=":", lw=0.9, marker="o", ms=5, markeredgecolor="black"))
    labels.append(f"dotted: J = {', '.join(fmt_j(j) for j in thresholds)}; marker: first logged env step where the "
                  "thick line reaches J" + ("" if not with_baseline else " (square: baseline)"))
    return handles, labels


def crossing_frame(crossings: ThresholdCrossings, threshold: float) -> pd.DataFrame:
    """Per (env, σ): crossing of J with its bootstrap 95% interval (NaN = never reached) and the fraction of
    bootstrap resamples that reach J (``reached_frac``)."""
    cfg = task_configs(crossings)
    j = np.nonzero(np.isclose(crossings.thresholds_, threshold))[0]
    if len(j) == 0:
        raise RlscaleError(f"plots: threshold {threshold:g} was not computed "
                           f"(have {', '.join(f'{t:g}' for t in crossings.thresholds_)})")
    frame = crossings.to_frame()  # configuration-major: row = config * n_thresholds + threshold
    rows = frame.iloc[cfg["index"].to_numpy() * len(crossings.thresholds_) + int(j[0])]
    return cfg.assign(crossing=rows["crossing"].to_numpy(), crossing_lower=rows["crossing_lower"].to_numpy(),
                      crossing_upper=rows["crossing_upper"].to_numpy(), reached_frac=rows["reached_frac"].to_numpy())


OPEN_NOTE = "open: some resamples never reach J"
OPEN_SHARE = "(% at the arrow: the share that do)"
_DODGE = 1.04  # fitted and baseline markers at the same σ sit this factor apart (log x), so both whiskers show


def steps_to_threshold(
    crossings: ThresholdCrossings, threshold: float | None = None, baseline: ThresholdCrossings | None = None,
    envs: Sequence[str] | None = None,
) -> Figure:
    """Plot b: per task, env steps to reach J (default: the highest) against σ (log–log) with bootstrap 95%
    intervals; fitted-hyperparameter runs in blue, the constant baseline in grey (each drawn a little to one side
    of its σ so the two sets of whiskers do not cover each other).

    An interval whose bound is NaN because some bootstrap resamples never reach J (``reached_frac`` < 1: "never"
    counts as infinitely late) is open upward: its whisker runs from the crossing to the top of the axes and ends
    in an arrowhead, labelled with the share of resamples that reach J, and the legend says so (:data:`OPEN_NOTE`).
    (Both bounds are upper-side: "never" is later than any step, whichever way the metric improves.)
    """
    if threshold is None:  # the hardest J: the lowest of a lower-is-better metric
        low = not getattr(crossings, "higher_is_better_", True)
        threshold = float(np.min(crossings.thresholds_) if low else np.max(crossings.thresholds_))
    threshold = float(threshold)
    series = [(crossings, FITTED if baseline is not None else {"color": "black", "label": "runs"}, "o")]
    if baseline is not None:
        series.append((baseline, BASELINE, "s"))
    frames = [(_subset(crossing_frame(c, threshold), envs, None), style, marker) for c, style, marker in series]
    dodge = [1.0] if baseline is None else [1.0 / _DODGE, _DODGE]
    env_list = list(dict.fromkeys(frames[0][0]["env"]))
    fig, axes = new_grid(1, len(env_list), panel=(3.4, 3.6))  # tall: the legend sits below the first panel
    any_open = False
    for ax, env in zip(axes[0], env_list, strict=True):
        opened = []
        for (frame, style, marker), shift in zip(frames, dodge, strict=True):
            sub = frame[frame["env"] == env].sort_values("utd")
            x = sub["utd"].to_numpy(dtype=float) * shift
            err = np.vstack([sub["crossing"] - sub["crossing_lower"], sub["crossing_upper"] - sub["crossing"]])
            ax.errorbar(x, sub["crossing"], yerr=np.where(np.isfinite(err), np.maximum(err, 0.0), 0.0),
                        color=style["color"], marker=marker, ms=5, capsize=2, lw=1.5, label=style["label"])
            is_open = (np.isfinite(sub["crossing"]) & ~(np.isfinite(sub["crossing_lower"])
                                                         & np.isfinite(sub["crossing_upper"]))).to_numpy()
            opened += [(xi, yi, frac, style["color"]) for xi, yi, frac in
                       zip(x[is_open], sub["crossing"].to_numpy()[is_open], sub["reached_frac"].to_numpy()[is_open],
                           strict=True)]
        finish(ax, LABELS["utd"], LABELS["steps_to_j"] if ax is axes[0, 0] else None,
               title=f"{env}, J = {fmt_j(threshold)}")
        utd_ticks(ax, frames[0][0]["utd"])
        for x, y, frac, color in opened:  # open upward: whisker to the top edge, arrowhead, share that reach J
            ax.annotate("", xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(x, y), textcoords="data",
                        arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.5, "shrinkA": 0, "shrinkB": 0,
                                    "mutation_scale": 9}, annotation_clip=False, gid="open_interval")
            if np.isfinite(frac):
                ax.annotate(f"{frac:.0%}", xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -1),
                            textcoords="offset points", fontsize=6, ha="left", va="top", color=color)
        any_open |= bool(opened)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if any_open:
        handles.append(Line2D([], [], color="0.3", lw=1.5, marker="^", ms=5))
        labels.append(f"{OPEN_NOTE}\n{OPEN_SHARE}")
    legend(axes[0, 0], handles=handles, labels=labels)
    return fig
