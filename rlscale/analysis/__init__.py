"""The fit chain from run tables to every law of the paper, run once per benchmark and saved.

:class:`Analysis` is the chain (options in, ``fit``, ``save``/``load``, tables, metrics, summary);
:mod:`rlscale.analysis.steps` holds its steps, which ``rlscale fit hparams`` / ``rlscale fit frontier``
also run one at a time; :mod:`rlscale.analysis.claims` judges the paper's claims on a saved analysis. Nothing
here draws: figures live in :mod:`rlscale.plots`.
"""

from rlscale.analysis.chain import Analysis, read_csv, write_csv
from rlscale.analysis.claims import VERDICTS, Claim, claims, claims_markdown, claims_table, mechanism_slopes
from rlscale.analysis.steps import (
    DEFAULT_J_LO,
    DIAGNOSTIC_COLUMNS,
    FrontierFit,
    HparamFit,
    compare_data,
    fit_frontier,
    fit_hparams,
    frontier_thresholds,
    json_ready,
    late_diagnostics,
    load_runs,
    nearest_grid_runs,
    optimum_for_deltas,
    return_scale,
    widened_utds,
)
from rlscale.analysis.tables import markdown_table, write_table_k

__all__ = [
    "DEFAULT_J_LO",
    "DIAGNOSTIC_COLUMNS",
    "VERDICTS",
    "Analysis",
    "Claim",
    "FrontierFit",
    "HparamFit",
    "claims",
    "claims_markdown",
    "claims_table",
    "compare_data",
    "fit_frontier",
    "fit_hparams",
    "frontier_thresholds",
    "json_ready",
    "late_diagnostics",
    "load_runs",
    "markdown_table",
    "mechanism_slopes",
    "nearest_grid_runs",
    "optimum_for_deltas",
    "read_csv",
    "return_scale",
    "widened_utds",
    "write_csv",
    "write_table_k",
]
