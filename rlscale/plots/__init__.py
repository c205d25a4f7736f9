"""Figure functions that draw the paper's plots from fitted :mod:`rlscale.laws` objects (a saved
:class:`rlscale.analysis.Analysis` holds them all); each returns its matplotlib figure (so tests and
notebooks can inspect it) and :func:`save_figure` writes PNG + PDF. A fit that is not a law is drawn
as points without a line, with a note in the panel saying why. Tables are results, not drawings:
``Analysis.coefficients()`` and ``Analysis.extrapolation()``.

Figure 1: :func:`figure1` (panels :func:`pareto_frontier`, :func:`budget_extrapolation`,
:func:`frontiers_by_threshold`). The paper's other plots: a :func:`learning_curves`, b
:func:`steps_to_threshold`, c :func:`normalized_time`, d :func:`data_efficiency`, e
:func:`pareto_frontier` (with ``baseline``), f :func:`iso_performance`, g :func:`budget_extrapolation`,
h :func:`hparam_laws`, i :func:`estimator_comparison`, j :func:`overfitting`.
"""

from rlscale.plots.curves import learning_curves, steps_to_threshold
from rlscale.plots.diagnostics import overfitting
from rlscale.plots.efficiency import data_efficiency, normalized_time
from rlscale.plots.frontier import (
    budget_extrapolation,
    figure1,
    frontiers_by_threshold,
    iso_performance,
    pareto_frontier,
)
from rlscale.plots.hparams import estimator_comparison, hparam_laws
from rlscale.plots.style import save_figure

__all__ = [
    "budget_extrapolation",
    "data_efficiency",
    "estimator_comparison",
    "figure1",
    "frontiers_by_threshold",
    "hparam_laws",
    "iso_performance",
    "learning_curves",
    "normalized_time",
    "overfitting",
    "pareto_frontier",
    "save_figure",
    "steps_to_threshold",
]
