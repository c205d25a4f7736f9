"""Fitting the paper's scaling laws from a run table, one estimator per step of its workflow.

In order: return normalisation (:mod:`.normalize`), threshold crossings (:mod:`.thresholds`), best
hyperparameters and their laws in σ (:mod:`.hparams`), data efficiency D_J(σ) (:mod:`.efficiency`),
compute, Pareto frontier and budget-optimal σ (:mod:`.frontier`); power laws with intervals
(:mod:`.powerlaw`), the verdict and summary every law shares (:mod:`.summary`) and synthetic sweeps
from known laws (:mod:`.synthetic`). Estimators follow scikit-learn (``fit`` returns the estimator,
fitted attributes end in ``_``); fitted laws follow statsmodels (``conf_int(alpha)``, ``summary()``).
The whole chain, run once per benchmark and saved, is :class:`rlscale.analysis.Analysis`.
"""

from rlscale.laws.efficiency import DataEfficiency, efficiency_curve
from rlscale.laws.frontier import BatchSizeLaw, ComputeFrontier, configs_of, crossings_table, select_configs
from rlscale.laws.hparams import BestHyperparams, HyperparamLaws, extrapolation_errors, round_batch_size
from rlscale.laws.normalize import MAX_RETURN_PRESETS, ReturnNormalizer, filter_reset_dips
from rlscale.laws.powerlaw import PowerLaw
from rlscale.laws.summary import Summary
from rlscale.laws.synthetic import SyntheticLaws, make_sweep
from rlscale.laws.thresholds import ThresholdCrossings, default_thresholds

__all__ = [
    "MAX_RETURN_PRESETS",
    "BatchSizeLaw",
    "BestHyperparams",
    "ComputeFrontier",
    "DataEfficiency",
    "HyperparamLaws",
    "PowerLaw",
    "ReturnNormalizer",
    "Summary",
    "SyntheticLaws",
    "ThresholdCrossings",
    "configs_of",
    "crossings_table",
    "default_thresholds",
    "efficiency_curve",
    "extrapolation_errors",
    "filter_reset_dips",
    "make_sweep",
    "round_batch_size",
    "select_configs",
]
