"""The shared look of every figure: math labels, log axes, the J and σ colour scales, markers, saving.

Conventions (as in the paper): fitted laws are lines drawn over the measured points; points that
were held out of a fit (extrapolation) are stars with a black edge; thresholds J are coloured on a
viridis scale, UTD ratios σ on a plasma scale (log-spaced); fitted hyperparameters are blue and the
constant-hyperparameter baseline grey.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.ticker as ticker
import matplotlib.transforms as transforms
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rlscale.errors import RlscaleError
from rlscale.io import atomic_path
from rlscale.laws.powerlaw import PowerLaw

LABELS = {
    "utd": r"UTD ratio $\sigma$",
    "data": r"Data $\mathcal{D}_J$ (env steps)",
    "compute": r"Compute $\mathcal{C}_J$ (FLOPs)",
    "budget": r"Budget $\mathcal{F}_J = \mathcal{C}_J + \delta\,\mathcal{D}_J$ (FLOPs)",
    "utd_opt": r"Budget-optimal UTD $\sigma^*$",
    "batch_size": r"Batch size $B$",
    "learning_rate": r"Learning rate $\eta$",
    "best_batch_size": r"Best batch size $B^*$",
    "best_learning_rate": r"Best learning rate $\eta^*$",
    "threshold": r"Threshold $J$",
    "env_step": "Env steps",
    "score": "Return (0–1000 scale)",
    "steps_to_j": r"Env steps to reach $J$",
    "normalized_time": r"Time to $J$, task-normalised (env steps)",  # divided by each task's median, then multiplied
    # back by the median of those medians (rlscale.laws.efficiency): env steps again, not a ratio
}
FITTED = {"color": "#1f5fa8", "label": "fitted hparams"}
BASELINE = {"color": "#8a8a8a", "label": "constant baseline"}
FIT_LINE = {"lw": 2.0, "zorder": 2}
POINT = {"s": 36, "zorder": 3, "edgecolors": "white", "linewidths": 0.6}
EXTRAPOLATED = {"marker": "*", "s": 200, "zorder": 4, "edgecolors": "black", "linewidths": 0.9}
EXTRAPOLATED_LINE = {"ls": ":", "lw": 1.1, "zorder": 2}
EXTRAPOLATED_NOTE = "dotted: extrapolated beyond the measured σ"
J_CMAP = "viridis"
UTD_CMAP = "plasma"


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (4.2, 3.4)) -> tuple[Figure, Axes]:
    """Draw on ``ax`` when given (a panel of a bigger figure), else on a new figure."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def new_grid(nrows: int, ncols: int, panel: tuple[float, float] = (4.2, 3.4), **kwargs) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows`` × ``ncols`` panels; axes always as a 2-D array."""
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    return fig, np.atleast_2d(np.asarray(fig.subplots(nrows, ncols, squeeze=False, **kwargs)))


def finish(ax: Axes, xlabel: str | None = None, ylabel: str | None = None, xlog: bool = True,
           ylog: bool = True, title: str | None = None) -> Axes:
    """Log scales, labels and the light grid every panel shares."""
    if xlog:
        ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    if ax.get_autoscale_on():
        ax.autoscale_view()  # the limits of the new scale, not the linear ones, decide the ticks below
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    for which, log in (("x", xlog), ("y", ylog)):
        if log:
            _log_ticks(ax, which)
    ax.grid(True, which="major", alpha=0.3, lw=0.6)
    ax.grid(True, which="minor", alpha=0.1, lw=0.4)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def _log_ticks(ax: Axes, which: str) -> None:
    """Readable log ticks: a few round values on very short spans, 2× and 5× besides the decades up to
    ~2.5 decades (on x only for plain numbers, whose labels are short), the decades only beyond."""
    lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    axis = ax.xaxis if which == "x" else ax.yaxis
    span = np.log10(hi / lo) if lo > 0 else np.inf
    if span < 0.1:  # (nearly) constant data, e.g. sigma* pinned at a bound: widen so ticks stay distinct
        center = np.sqrt(lo * hi)
        lo, hi = center / 1.4, center * 1.4
        (ax.set_xlim if which == "x" else ax.set_ylim)(lo, hi)
        span = np.log10(hi / lo)
    if span < 1.5:
        plain = 1e-2 <= lo and hi <= 1e4
        if plain and span < 0.6:  # a short span of plain numbers: a few round values (1500, 2000, 2500)
            axis.set_major_locator(ticker.MaxNLocator(nbins=4 if which == "x" else 5, steps=[1, 2, 2.5, 5, 10]))
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt(v)))
            axis.set_minor_locator(ticker.NullLocator())
            return
        if which == "x" and span < 0.6:  # a short span of wide "1.5×10^11" labels: three side by side at most
            axis.set_major_locator(ticker.MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10]))
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: sci(v)))
            axis.set_minor_locator(ticker.NullLocator())
            return
        # every integer multiple only where labels are stacked; wide "6×10^10" labels side by side overlap
        subs = np.arange(1.0, 10.0) if span < 0.6 and which == "y" else (2.0, 5.0)
        axis.set_minor_locator(ticker.LogLocator(subs=subs))
        if plain:  # plain numbers (8, 9, 10) read better than 8×10^0 on short axes
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt(v)))
            axis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: fmt(v)))
        else:  # 1, 2, 5 x 10^k as major ticks: matplotlib would otherwise fall back to linear ticks on short spans
            axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: sci(v)))
            axis.set_minor_locator(ticker.LogLocator(subs=np.arange(1.0, 10.0)))
            axis.set_minor_formatter(ticker.NullFormatter())
    elif span < 2.5 and (which == "y" or 1e-2 <= lo and hi <= 1e4):
        # under ~2.5 decades a decade-only axis may show a single label: add 2x and 5x (stacked, or short)
        plain = 1e-2 <= lo and hi <= 1e4
        axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt(v) if plain else sci(v)))
        axis.set_minor_locator(ticker.LogLocator(subs=np.arange(1.0, 10.0)))
        axis.set_minor_formatter(ticker.NullFormatter())
    else:
        axis.set_minor_formatter(ticker.NullFormatter())


def utd_ticks(ax: Axes, utds: Sequence[float] | np.ndarray) -> None:
    """Label a log σ axis at the σ values themselves (0.25, 0.5, 1, 2, ...), as the paper does."""
    values = np.unique(np.asarray(utds, dtype=float))
    ax.xaxis.set_major_locator(ticker.FixedLocator(values))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt(v)))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.tick_params(axis="x", which="major", labelsize=8)
    if len(values) > 4 and max(len(fmt(v)) for v in values) > 4:  # e.g. σ = 8/n of Isaac Gym: 0.00012 ... 0.0078
        ax.tick_params(axis="x", which="major", labelrotation=45)


def j_norm(thresholds: Sequence[float] | np.ndarray) -> Normalize:
    thresholds = np.asarray(thresholds, dtype=float)
    lo, hi = float(np.min(thresholds)), float(np.max(thresholds))
    return Normalize(lo, hi if hi > lo else lo + 1.0)


def j_colors(thresholds: Sequence[float] | np.ndarray,
             among: Sequence[float] | np.ndarray | None = None) -> list[tuple[float, float, float, float]]:
    """One viridis colour per threshold J (low J dark, high J yellow), on the scale of ``among`` (default: of
    ``thresholds`` themselves). Pass the analysis' full set of J (``thresholds_``) as ``among`` when drawing a
    subset (e.g. the J that have a law), so the same J has the same colour in every panel and figure."""
    norm, cmap = j_norm(thresholds if among is None else among), mpl.colormaps[J_CMAP]
    return [cmap(norm(float(j))) for j in np.asarray(thresholds, dtype=float)]


def utd_norm(utds: Sequence[float] | np.ndarray) -> LogNorm:
    utds = np.asarray(utds, dtype=float)
    lo, hi = float(np.min(utds)), float(np.max(utds))
    return LogNorm(lo, hi if hi > lo else lo * 2.0)


def utd_colors(utds: Sequence[float] | np.ndarray,
               among: Sequence[float] | np.ndarray | None = None) -> list[tuple[float, float, float, float]]:
    """One plasma colour per σ (or any positive value) on a log scale, stopping short of the pale yellow end; on the
    scale of ``among`` when given (e.g. every σ of a benchmark, so a σ has one colour in all its figures)."""
    norm, cmap = utd_norm(utds if among is None else among), mpl.colormaps[UTD_CMAP]
    return [cmap(0.85 * norm(float(u))) for u in np.asarray(utds, dtype=float)]


def colorbar(fig: Figure, ax: Axes | Sequence[Axes], values: Sequence[float] | np.ndarray, kind: str = "threshold"):
    """A colour bar for the J scale (``kind="threshold"``) or a log scale of σ, B or η (``kind="utd"``,
    ``"batch_size"``, ``"learning_rate"``; colours as :func:`utd_colors`), ticked at the values."""
    if kind == "threshold":
        mappable = mpl.cm.ScalarMappable(j_norm(values), mpl.colormaps[J_CMAP])
    else:
        cmap = mpl.colors.ListedColormap(mpl.colormaps[UTD_CMAP](np.linspace(0, 0.85, 256)))
        mappable = mpl.cm.ScalarMappable(utd_norm(values), cmap)
    bar = fig.colorbar(mappable, ax=ax, label=LABELS[kind], pad=0.02)
    levels = np.unique(np.asarray(values, dtype=float))
    if kind == "threshold" and (len(levels) == 1 or np.diff(levels).min() >= 0.06 * np.ptp(levels)):
        bar.set_ticks(levels)  # the J levels themselves, when they are few or spread enough to read
        bar.ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt(v)))
    if kind != "threshold":
        bar.set_ticks(np.unique(np.asarray(values, dtype=float)))
        bar.ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt(v)))
        bar.ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        bar.ax.yaxis.set_minor_locator(ticker.NullLocator())
    return bar


def blank(ax: Axes) -> None:
    """No ticks on a panel with nothing to draw (its note says why), so it does not look like data."""
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(ticker.NullLocator())
        axis.set_minor_locator(ticker.NullLocator())


def title_note(ax: Axes, note: str, width: int = 48) -> None:
    """A short note (e.g. which J have no law) as a second title line, where it cannot hide data."""
    if note:  # wrapped: a long list of J would run into the next panel
        ax.set_title(f"{ax.get_title()}\n" + textwrap.fill(f"({note})", width), fontsize=9)


BELOW = "below"


def legend(ax: Axes, notes: Sequence[str] = (), fontsize: float = 7, loc: str = BELOW, width: int = 40,
           handles: Sequence | None = None, labels: Sequence[str] | None = None) -> None:
    """The panel's legend, with ``notes`` (what is not drawn and why, e.g. "no law in F: exact") as entries
    without a marker. By default (``loc="below"``) it sits under the panel, below its x-axis label, so it never
    hides data (the figure's layout engine and ``bbox_inches="tight"`` make room for it); any other ``loc`` puts
    it inside the axes (e.g. ``"center"`` on a blank panel that only says why nothing is drawn). ``handles`` and
    ``labels``: entries gathered elsewhere (e.g. from several panels), else the panel's own."""
    if handles is None:
        for note in notes:
            ax.plot([], [], " ", label=textwrap.fill(note, width))
        handles, labels = ax.get_legend_handles_labels()
    else:
        handles, labels = list(handles), list(labels or [])
        for note in notes:
            handles.append(Line2D([], [], ls=" "))
            labels.append(textwrap.fill(note, width))
    if not handles:
        return
    if loc != BELOW:
        ax.legend(handles, labels, fontsize=fontsize, loc=loc)
        return
    below = transforms.offset_copy(ax.transAxes, fig=ax.figure, y=-_decoration_depth(ax), units="points")
    ax.legend(handles, labels, fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              bbox_transform=below, borderaxespad=0.0, frameon=False)


def _decoration_depth(ax: Axes) -> float:
    """How far (points) the x tick labels and x-axis label reach below the axes: where a legend below may start."""
    major = ax.xaxis.get_major_ticks()
    tick = major[0] if major else None
    depth = 4.0  # a margin
    if tick is not None and tick.label1.get_visible():
        size = tick.label1.get_size()
        rotation = np.deg2rad(tick.label1.get_rotation() % 180)
        if rotation:  # a slanted label reaches down by its length
            longest = max((len(t.get_text()) for t in ax.xaxis.get_ticklabels()), default=4)
            size = size * np.cos(rotation) + 0.6 * size * longest * np.sin(rotation)
        depth += tick.get_tick_padding() + tick.get_pad() + 1.25 * size
    if ax.xaxis.label.get_text():
        depth += ax.xaxis.labelpad + 1.25 * ax.xaxis.label.get_size()
    return depth


def law_label(law: PowerLaw, group: Hashable, var: str, alpha: float = 0.05) -> tuple[str, dict]:
    """The legend entry of a fitted power law: its exponent with the (1 - alpha) interval and the residual dof, and
    the line style to draw it with, dashed where the interval spans 0 (a fit, but no trend the data can carry: its
    sign is undetermined, and :func:`law_x` draws it over its data only)."""
    lo, hi = law.exponent_interval(group, alpha)
    dof = int(law.terms_.loc[group, "df_resid"])
    ci = f"[{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) and np.isfinite(hi) else "no CI"
    flat = law.sign_undetermined(group, alpha)
    label = (rf"fit $\propto {var}^{{{law.exponent(group):.2f}}}$, {100 * (1 - alpha):g}% CI {ci}, dof {dof}"
             + ("\nCI spans 0: sign undetermined" if flat else ""))
    return label, {**FIT_LINE, "ls": "--" if flat else "-"}


def law_x(law: PowerLaw, group: Hashable, data_x: Sequence[float] | np.ndarray,
          reach_x: Sequence[float] | np.ndarray = (), extend: float = 1.5, n: int = 100,
          alpha: float = 0.05) -> np.ndarray:
    """Where to draw a fitted power law (log-spaced x). With a determined sign: from the smallest to the largest of
    ``data_x`` (the x of the points it was fitted to) and ``reach_x`` (x it extrapolates to: held-out points,
    proposals), widened by ``extend``. With an exponent interval that spans 0: over ``data_x`` only, never beyond
    (a direction the data do not carry is not extrapolated). The ends of ``data_x`` are among the x, so a curve drawn
    solid over the data and dotted beyond (:func:`plot_over_sigma`) changes style exactly there."""
    data, reach = (np.asarray(v, dtype=float) for v in (data_x, reach_x))
    data, reach = (v[np.isfinite(v) & (v > 0)] for v in (data, reach))
    if law.sign_undetermined(group, alpha):
        x, extend = data, 1.0
    else:
        x = np.concatenate([data, reach])
    return np.union1d(np.geomspace(x.min() / extend, x.max() * extend, n), [data.min(), data.max()])


def pick_threshold(thresholds: Sequence[float] | np.ndarray, threshold: float | None,
                   is_law: Callable[[float], bool], higher_is_better: bool = True) -> float:
    """The J a one-J figure draws: ``threshold`` if it was fitted, else the hardest J whose fit is a law (the highest;
    the lowest of a lower-is-better metric), so the figure shows a law whenever one exists; the hardest J when none
    is (the figure then says why)."""
    available = np.asarray(thresholds, dtype=float)
    if threshold is not None:
        match = available[np.isclose(available, threshold)]
        if match.size == 0:
            raise RlscaleError(f"plots: the fit has no threshold {threshold:g} "
                               f"(fitted: {', '.join(f'{t:g}' for t in available)})")
        return float(match[0])
    hardest_first = np.sort(available)[::-1] if higher_is_better else np.sort(available)
    return float(next((j for j in hardest_first if is_law(float(j))), hardest_first[0]))


def sigma_grid(data_utd: Sequence[float] | np.ndarray, extend: float = 1.5, n: int = 200) -> np.ndarray:
    """Log-spaced σ from the smallest measured σ / ``extend`` to the largest × ``extend``, with the measured ends
    themselves on it, so :func:`plot_over_sigma` can end the solid part exactly at the data."""
    utd = np.asarray(data_utd, dtype=float)
    utd = utd[np.isfinite(utd) & (utd > 0)]
    return np.union1d(np.geomspace(utd.min() / extend, utd.max() * extend, n), [utd.min(), utd.max()])


def sigma_parts(utd: Sequence[float] | np.ndarray,
                measured_utd: Sequence[float] | np.ndarray) -> list[tuple[np.ndarray, bool]]:
    """Split a curve parametrised by σ (``utd``, sorted) into runs of consecutive indices: ``(index, True)`` for
    the extrapolated runs (σ below the smallest or above the largest measured σ: the law says what happens there,
    the data do not), ``(index, False)`` for the part inside. An extrapolated run shares its end point with the part
    inside, so the drawn curve has no gap."""
    utd = np.asarray(utd, dtype=float)
    measured = np.asarray(measured_utd, dtype=float)
    measured = measured[np.isfinite(measured)]
    if not len(utd) or not len(measured):
        return [(np.arange(len(utd)), False)] if len(utd) else []
    lo, hi = measured.min() * (1 - 1e-9), measured.max() * (1 + 1e-9)
    inside = np.flatnonzero((utd >= lo) & (utd <= hi))
    if not len(inside):
        return [(np.arange(len(utd)), True)]
    first, last = int(inside[0]), int(inside[-1])
    parts = [(np.arange(0, first + 1), True)] if first > 0 else []
    parts.append((np.arange(first, last + 1), False))
    if last < len(utd) - 1:
        parts.append((np.arange(last, len(utd)), True))
    return parts


def plot_over_sigma(ax: Axes, utd: Sequence[float] | np.ndarray, x: Sequence[float] | np.ndarray,
                    y: Sequence[float] | np.ndarray, measured_utd: Sequence[float] | np.ndarray, color,
                    label: str | None = None, **line) -> bool:
    """Draw a law or frontier curve given at σ = ``utd`` (points ``x``, ``y``): solid (``line``) where σ lies within
    the measured σ, dotted and thinner (:data:`EXTRAPOLATED_LINE`, gid ``"extrapolated"``) beyond it, so a reader
    sees where the curve rests on data. ``label`` goes on the part inside. Returns whether anything was
    extrapolated (the panel then owes the reader :data:`EXTRAPOLATED_NOTE`)."""
    utd = np.asarray(utd, dtype=float)
    order = np.argsort(utd, kind="stable")
    utd, x, y = utd[order], np.asarray(x, dtype=float)[order], np.asarray(y, dtype=float)[order]
    parts = sigma_parts(utd, measured_utd)
    labelled = next((k for k, (_, out) in enumerate(parts) if not out), 0)
    for k, (index, out) in enumerate(parts):
        style = {**line, **EXTRAPOLATED_LINE, "zorder": line.get("zorder", 2)} if out else line
        ax.plot(x[index], y[index], color=color, label=label if k == labelled else None,
                gid="extrapolated" if out else None, **style)
    return any(out for _, out in parts)


def sci(value: float) -> str:
    """``2×10^{11}`` as mathtext (``10^{11}`` for a power of ten)."""
    if not (np.isfinite(value) and value > 0):
        return ""
    exp = int(np.floor(np.log10(value) + 1e-9))
    mant = round(value / 10.0**exp, 2)
    return f"$10^{{{exp}}}$" if np.isclose(mant, 1.0) else f"${mant:g}\\times10^{{{exp}}}$"


def fmt(value: float) -> str:
    """Short numbers for legends and σ labels (0.25, 2, 1e+05, 0.0039)."""
    return f"{value:g}" if 1e-2 <= abs(value) < 1e4 else f"{value:.2g}"


def fmt_j(threshold: float) -> str:
    """A threshold J in a title or note: 4 significant digits (696.3, not the paper ladder's 696.341; 600; 0.1),
    enough to tell apart the levels of the ladders rlscale and the paper use; the tables keep every digit."""
    return f"{threshold:.4g}"


#: where a point label may go, in order of preference: its offset from the point (points) and alignment. Upper right
#: first (where labels have room they stay there), then straight above (extending right, then left); below likewise;
#: then to the left.
_LABEL_SPOTS = (((5, 3), "left", "bottom"), ((-3, 5), "left", "bottom"), ((3, 5), "right", "bottom"),
                ((5, -3), "left", "top"), ((-3, -5), "left", "top"), ((3, -5), "right", "top"),
                ((-5, 3), "right", "bottom"), ((-5, -3), "right", "top"))


class _PointLabels(Artist):
    """Keeps point labels (e.g. σ = 0.00024 next to σ = 0.00012) off each other, inside the axes and off the axes'
    markers. Each label, in the order given, takes the first spot of :data:`_LABEL_SPOTS` that does best on, in turn:
    covering no label placed before it (text on text is unreadable), staying inside the axes (off the spines and tick
    labels), and covering no marker nor curve while lying nearer its own point than any other. It runs when the axes
    are drawn, once the layout has fixed where everything lies, so it holds in any backend and figure size."""

    def __init__(self, labels: Sequence):
        super().__init__()
        self.labels = list(labels)
        self.set_zorder(-np.inf)  # placed before the labels and markers are drawn
        self.set_in_layout(False)

    def _markers(self, renderer) -> list[transforms.Bbox]:
        boxes = []
        for coll in self.axes.collections:
            offsets = coll.get_offset_transform().transform(coll.get_offsets())
            sizes = np.resize(np.asarray(coll.get_sizes(), dtype=float), len(offsets)) if len(coll.get_sizes()) else (
                np.zeros(len(offsets)))
            for (x, y), size in zip(offsets, sizes, strict=True):
                r = renderer.points_to_pixels(np.sqrt(size) / 2)  # a marker's size is its area in points²
                boxes.append(transforms.Bbox([[x - r, y - r], [x + r, y + r]]))
        return boxes

    def draw(self, renderer) -> None:
        frame = self.axes.bbox
        markers = self._markers(renderer)
        centres = np.array([box.get_points().mean(axis=0) for box in markers]).reshape(-1, 2)
        curves = [line.get_transform().transform(line.get_xydata()) for line in self.axes.get_lines()
                  if len(line.get_xdata())]  # a fitted curve: many points, so a label it crosses holds some
        placed: list[transforms.Bbox] = []
        for label in self.labels:
            own = self.axes.transData.transform(label.xy)
            options = []
            for spot in _LABEL_SPOTS:
                _place(label, spot)
                box = label.get_window_extent(renderer)
                inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
                covers = (any(box.overlaps(other) for other in markers) or not _nearest(box, own, centres)
                          or any(box.count_contains(curve) for curve in curves))
                options.append(((any(box.overlaps(other) for other in placed), not inside, covers), spot, box))
            _, spot, box = min(options, key=lambda option: option[0])  # min keeps the earliest of equals
            _place(label, spot)
            placed.append(box)


def _place(label, spot: tuple[tuple[float, float], str, str]) -> None:
    offset, ha, va = spot
    label.xyann = offset
    label.set_horizontalalignment(ha)
    label.set_verticalalignment(va)


def _nearest(box: transforms.Bbox, own: np.ndarray, centres: np.ndarray) -> bool:
    """Whether no marker centre lies nearer the label ``box`` than its own point ``own`` (display units): a label
    between two points reads as the nearer one's."""
    def gap(points: np.ndarray) -> np.ndarray:
        lo, hi = box.get_points()
        return np.hypot(*np.clip(np.maximum(lo - points, points - hi), 0, None).T)

    return bool((gap(centres) >= gap(np.atleast_2d(own)).min() - 1e-6).all())


def label_points(ax: Axes, x: Sequence[float], y: Sequence[float], texts: Sequence[str], fontsize: float = 7) -> list:
    """Small labels next to points (data coordinates), each moved round its point where it would cover another label
    or a marker (:class:`_PointLabels`)."""
    labels = [ax.annotate(text, (xi, yi), textcoords="offset points", xytext=_LABEL_SPOTS[0][0], fontsize=fontsize,
                          in_layout=False)  # placed inside the axes where they fit: the layout need not make room
              for xi, yi, text in zip(x, y, texts, strict=True)]
    if labels:
        ax.add_artist(_PointLabels(labels))
    return labels


class SavedFigure(list):
    """The files :func:`save_figure` wrote (a list of paths). A notebook shows it as the saved PNG itself, so
    JupyterLab and an executed notebook display exactly the picture on disk, whatever matplotlib backend is on."""

    def __init__(self, paths: Sequence[Path], png: bytes, dpi: int):
        super().__init__(paths)
        self._png, self._dpi = png, dpi

    def _repr_png_(self) -> tuple[bytes, dict[str, int]]:
        # at its size in inches on screen (96 CSS px per inch), sharp on high-density screens
        width, height = (int.from_bytes(self._png[at:at + 4], "big") for at in (16, 20))  # the PNG's IHDR chunk
        return self._png, {"width": round(width * 96 / self._dpi), "height": round(height * 96 / self._dpi)}

    def __repr__(self) -> str:  # file names only: an executed notebook holds no machine's paths
        return f"<figure saved as {', '.join(path.name for path in self)}>"


def save_figure(fig: Figure, path_stem: str | os.PathLike, dpi: int = 150) -> SavedFigure:
    """Write ``<stem>.png`` and ``<stem>.pdf``, each atomically (never a half-written figure); a notebook cell
    ending with this call shows the saved PNG."""
    stem = Path(path_stem)
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    if stem.name in ("", ".", ".."):
        raise RlscaleError(f"save_figure: '{path_stem}' is not a file name stem")
    paths = []
    for fmt_ in ("png", "pdf"):
        path = stem.with_name(f"{stem.name}.{fmt_}")
        with atomic_path(path) as tmp:
            # no creation date / software stamps: the same figure gives the same bytes (DVC hashes them)
            meta = {"CreationDate": None} if fmt_ == "pdf" else {"Software": None}
            fig.savefig(tmp, format=fmt_, dpi=dpi, bbox_inches="tight", metadata=meta)
        paths.append(path)
    return SavedFigure(paths, paths[0].read_bytes(), dpi)
