"""rlscale: companion and toolkit for *Value-Based Deep RL Scales Predictably* (Rybkin et al., ICML 2025).

The package follows the paper's pipeline: ``envs`` and ``agents`` -> ``train`` (runs, sweeps,
checkpoints) -> a run table (``runs``) -> ``laws`` (fitting) -> ``plots``.
"""

from rlscale.errors import RlscaleError

__version__ = "0.1.0"
__all__ = ["RlscaleError", "__version__"]
