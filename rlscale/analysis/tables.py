"""Rendering result tables for reports: Markdown with numbers to 4 significant digits and blanks for NaN, and the
files of table k."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from rlscale import io
from rlscale.analysis.chain import Analysis, write_csv
from rlscale.laws.summary import format_frame

#: table k's files: the coefficients, the extrapolation errors (CSV) and both as Markdown
TABLE_K_FILES = ("tab_k_coefficients.csv", "tab_k_extrapolation.csv", "tab_k_coefficients.md")


def markdown_table(frame: pd.DataFrame) -> str:
    """The table as GitHub Markdown (via pandas/tabulate), numbers to 4 significant digits, NaN blank."""
    return format_frame(frame).to_markdown(index=False, disable_numparse=True)


def write_table_k(analysis: Analysis, folder: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table k of a saved ``analysis`` (every law's coefficients, every held-out point's error) as
    :data:`TABLE_K_FILES` in ``folder``, each written atomically; returns the two tables."""
    coefficients, extrapolation = analysis.coefficients(), analysis.extrapolation()
    csv_coefficients, csv_extrapolation, md = (Path(folder) / name for name in TABLE_K_FILES)
    write_csv(csv_coefficients, coefficients)
    write_csv(csv_extrapolation, extrapolation)
    io.write_text(md, "## Fitted coefficients\n\n" + markdown_table(coefficients)
                  + "\n\n## Extrapolation errors\n\n" + markdown_table(extrapolation) + "\n")
    return coefficients, extrapolation
