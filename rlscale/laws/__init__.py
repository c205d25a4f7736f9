"""Fitting the paper's scaling laws from a run table.

In order of the workflow (METHOD 2): return normalisation (:mod:`.normalize`), threshold crossings
(:mod:`.thresholds`), best hyperparameters and their laws (:mod:`.hparams`), data efficiency
(:mod:`.efficiency`), compute, Pareto frontier and budget-optimal σ (:mod:`.frontier`); power laws
with CIs (:mod:`.powerlaw`) and synthetic sweeps from known laws (:mod:`.synthetic`).
"""

from rlscale.laws.efficiency import DataEfficiency, efficiency_curve
from rlscale.laws.frontier import BatchSizeLaw, ComputeFrontier, configs_of, crossings_table, select_configs
from rlscale.laws.hparams import BestHyperparams, HyperparamLaws, extrapolation_errors, round_batch_size
from rlscale.laws.normalize import (
    MAX_RETURN_PRESETS,
    ReturnNormalizer,
    filter_reset_dips,
    parse_max_return,
    parse_min_return,
)
from rlscale.laws.powerlaw import PowerLaw, PowerLawTerm
from rlscale.laws.synthetic import SyntheticLaws, make_sweep
from rlscale.laws.thresholds import ThresholdCrossings, default_thresholds

__all__ = [
    "MAX_RETURN_PRESETS",
    "ReturnNormalizer",
    "filter_reset_dips",
    "parse_max_return",
    "MAX_RETURN_PRESETS",
    "BatchSizeLaw",
    "BestHyperparams",
    "ComputeFrontier",
    "DataEfficiency",
    "HyperparamLaws",
    "PowerLaw",
    "PowerLawTerm",
    "ReturnNormalizer",
    "SyntheticLaws",
    "ThresholdCrossings",
    "configs_of",
    "crossings_table",
    "default_thresholds",
    "efficiency_curve",
    "extrapolation_errors",
    "filter_reset_dips",
    "make_sweep",
    "parse_max_return",
    "parse_min_return",
    "round_batch_size",
    "select_configs",
]
