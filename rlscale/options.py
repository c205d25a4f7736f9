"""The analysis options besides the method's choices: their defaults, and which ``rlscale fit`` subcommand takes
which (no heavy imports: the command line's parsers read them).

One source for the defaults of :class:`rlscale.analysis.Analysis`, of ``rlscale fit``'s flags and of ``params.yaml``,
and for the pipeline's equivalent commands, which name only the options their subcommand has a flag for (a test
holds ``rlscale fit``'s parsers to :data:`FIT_FLAGS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rlscale.methods import OPTION_NAMES


@dataclass(frozen=True)
class AnalysisDefaults:
    """The default of every analysis option that has one besides None (None: the method's value, or derived)."""

    method: str = "rlscale"
    n_bootstrap: int = 100
    estimator: str = "bootstrap"
    variant: str = "shared"
    baseline_utd: float = 2.0
    holdout: int = 2
    #: a 95% interval wider than two decades does not pin a law down
    max_ci_decades: float = 2.0
    compare_estimators: tuple[str, ...] = ("point", "bootstrap", "mean_other")
    compute_unit: str = "flops"
    return_kind: str = "auto"


DEFAULTS = AnalysisDefaults()

#: the method's choices (rlscale.methods.METHOD_OPTIONS) the hyperparameter step makes, and the frontier step
HPARAM_CHOICES = ("seed", "crossing", "hparam_average", "unreached", "separate_utds", "max_return_preset")
FRONTIER_CHOICES = ("seed", "crossing", "dj_normalize", "dj_loss", "sigma_search", "budget_points",
                    "fitted_max_return_preset")
_COMMON = ("method", "n_bootstrap", "max_ci_decades", "max_return", "min_return", "reset_every_updates", "return_kind")
_HPARAM = ("thresholds", "utds_to_predict", "estimator", "variant", "baseline_utd")
_FRONTIER = ("delta", "thresholds", "j_lo", "holdout", "utd_range")
#: per ``rlscale fit`` subcommand, the Analysis options it has a flag for (``--name-with-dashes``)
FIT_FLAGS: dict[str, tuple[str, ...]] = {
    "hparams": tuple(dict.fromkeys((*_HPARAM, *_COMMON, *HPARAM_CHOICES))),
    "frontier": tuple(dict.fromkeys((*_FRONTIER, *_COMMON, *FRONTIER_CHOICES))),
    "analysis": tuple(dict.fromkeys((*_FRONTIER, *_HPARAM, *_COMMON, "hparam_fit_range", "utd_fit_range",
                                     "batch_law", "compute_unit", *OPTION_NAMES))),
}
