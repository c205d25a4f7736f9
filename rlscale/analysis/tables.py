"""Rendering result tables for reports: Markdown with numbers to 4 significant digits and blanks for NaN."""

from __future__ import annotations

import pandas as pd

from rlscale.laws.summary import format_frame


def markdown_table(frame: pd.DataFrame) -> str:
    """The table as GitHub Markdown (via pandas/tabulate), numbers to 4 significant digits, NaN blank."""
    return format_frame(frame).to_markdown(index=False, disable_numparse=True)
