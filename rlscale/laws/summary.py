"""What every fitted law shares: its verdict (is it a law?), its summary, and interval arithmetic.

A fit is published as a law only when the data determine it. Each law carries a ``status`` and a
``reason`` (a sentence, not a number) from this vocabulary:

- ``ok``: a law; drawn as a line, used downstream, predicts held-out points;
- ``exact``: as many points as parameters, no residual degrees of freedom, so no error estimate;
- ``at_bound``: a parameter of a bounded fit sits on its bound (the data do not determine it);
- ``wide``: a 95% interval spans more than ``max_ci_decades`` decades (scale parameters:
  log10(upper / lower); exponents: upper - lower, i.e. decades of y per decade of x);
- ``not_fitted``: too few points to fit at all.

Anything but ``ok`` is drawn as points without a law line and reported as a one-line warning.

:class:`Summary` is the object ``summary()`` returns, like statsmodels' own: ``print`` it (text), or
let a notebook render it (``_repr_html_``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd

from rlscale.options import DEFAULTS

OK = "ok"
EXACT = "exact"
AT_BOUND = "at_bound"
WIDE = "wide"
NOT_FITTED = "not_fitted"

#: default for ``max_ci_decades``: a 95% interval wider than two decades does not pin a law down
MAX_CI_DECADES = DEFAULTS.max_ci_decades
#: the significance level at which a fit is judged (95% intervals), whatever level a table is later shown at
JUDGE_ALPHA = 0.05
#: how a law whose exponent's 95% interval spans 0 is described: it is a law (its value is determined), but not the
#: direction it moves in
SIGN_UNDETERMINED = "a law, but its exponent's 95% interval"


def t_quantile(alpha: float, df_resid: float) -> float:
    """The two-sided (1 - alpha) quantile of Student's t on ``df_resid`` degrees of freedom (NaN if < 1)."""
    from scipy.special import stdtrit  # the t quantile without importing scipy.stats (seconds on a loaded host)

    check_alpha(alpha)
    return float(stdtrit(df_resid, 1.0 - alpha / 2.0)) if df_resid >= 1 else float("nan")


def check_alpha(alpha: float) -> None:
    from rlscale.errors import RlscaleError

    if not (isinstance(alpha, int | float) and 0 < alpha < 1):
        raise RlscaleError(f"alpha (the significance level of the intervals) must be in (0, 1), got {alpha!r}")


def check_max_ci_decades(value: float) -> None:
    """Refuse a span limit that is not a positive number: 0, a negative or NaN would mark every fit ``wide``."""
    from rlscale.errors import RlscaleError

    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not value > 0:
        raise RlscaleError(f"max_ci_decades must be a positive number of decades, got {value!r}: every fit would "
                           "be marked wide", params=("max_ci_decades",))


def decades(lower: float, upper: float) -> float:
    """How many decades a positive interval spans (inf when it reaches 0 or is undefined)."""
    if not (np.isfinite(lower) and np.isfinite(upper)) or lower <= 0:
        return float("inf")
    return float(np.log10(upper / lower))


def text_column(column: pd.Series) -> pd.Series:
    """A text column read back from CSV, where an empty string comes back as NaN."""
    return column.astype(object).where(column.notna(), "").astype(str)


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return "" if np.isnan(value) else str(value)
        return f"{value:.4g}"
    return str(value)


def format_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers to 4 significant digits, NaN as blank: what a reader of a summary needs."""
    return frame.astype(object).map(_fmt) if len(frame) else frame


class Summary:
    """A fitted law's summary: a title, key facts (points, residual dof, interval level), tables, notes.

    ``as_text()`` (also ``str``/``repr``) and ``as_html()`` (also ``_repr_html_``, so a notebook renders
    it) show the same content; ``tables`` keeps the tidy frames for further use.
    """

    def __init__(self, title: str, info: Sequence[tuple[str, object]] = (),
                 tables: Sequence[tuple[str, pd.DataFrame]] = (), notes: Sequence[str] = ()) -> None:
        self.title = title
        self.info = list(info)
        self.tables = list(tables)
        self.notes = list(notes)

    def as_text(self) -> str:
        lines = [self.title, "=" * len(self.title)]
        lines += [f"{key}: {_fmt(value)}" for key, value in self.info]
        for caption, frame in self.tables:
            lines.append("")
            if caption:
                lines.append(caption)
            lines.append(format_frame(frame).to_string(index=False) if len(frame) else "(empty)")
        if self.notes:
            lines.append("")
            lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self) -> str:
        parts = [f"<h4>{html.escape(self.title)}</h4>"]
        if self.info:
            parts.append("<p>" + "; ".join(f"<b>{html.escape(k)}</b>: {html.escape(_fmt(v))}" for k, v in self.info)
                         + "</p>")
        for caption, frame in self.tables:
            if caption:
                parts.append(f"<p><i>{html.escape(caption)}</i></p>")
            parts.append(format_frame(frame).to_html(index=False, escape=True, border=0))
        if self.notes:
            parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes) + "</ul>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()

    def __contains__(self, text: str) -> bool:
        """``"lower is better" in summary``: a search in the text, as on the string summaries used to be."""
        return text in self.as_text()

    __repr__ = __str__
