"""The paper's numbers against rlscale's fits of the authors' own runs, under each method (``paper_vs_rlscale``).

:data:`PUBLISHED` lists every number the paper or the authors' released fits state for the runs they published
(Gym: the laws of the paper's §4-§5 and Figure 1; the per-task coefficients and the J = 300 / baseline D_J of
their released analysis outputs in their ``qscaled`` repository; Isaac Gym: the times to a failure rate of 0.1
typed into their Pareto notebook in the first author's IsaacGymEnvs fork). :func:`compare` puts each next to the
value of every given saved :class:`~rlscale.analysis.Analysis` and their relative differences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rlscale.analysis.chain import Analysis

GYM_ENVS = ("Ant-v4", "HalfCheetah-v4", "Humanoid-v4", "Walker2d-v4")


@dataclass(frozen=True)
class Published:
    """One published number: what it is, its value, where it is stated, and how to read it from an analysis."""

    quantity: str
    value: float
    source: str
    key: tuple  # (kind, *args) read by _value


_B = dict(zip(GYM_ENVS, (415.8, 412.0, 313.2, 322.8), strict=True))
_LR = dict(zip(GYM_ENVS, (1.504e-4, 1.871e-3, 1.905e-4, 8.24e-4), strict=True))
_FIT = "authors' released Gym fit"
#: the authors' published shared-slope B*(σ) law of the Gym grid: their compute C_J uses it (read from disk)
PUBLISHED_GYM_BATCH_LAW = {"exponent": -0.3096, "coef": _B, "source": "the authors' published Gym B*(σ) law"}
#: the times (M env steps) to a failure rate of 0.1 typed into the authors' Isaac Gym Pareto notebook, n = 1024 … 65536
ISAAC_TYPED_TIMES = dict(zip((1024, 2048, 4096, 8192, 16384, 32768, 65536), (87, 102, 155, 196, 262, 483, 860),
                             strict=True))

PUBLISHED: tuple[Published, ...] = (
    Published("B*(σ) shared exponent", -0.3096, "paper §4 (−0.310); " + _FIT, ("hparam", "batch_size", "exponent")),
    Published("η*(σ) shared exponent", -0.2849, "paper §4 (−0.285); " + _FIT, ("hparam", "learning_rate", "exponent")),
    *(Published(f"B* coef {e}", v, _FIT, ("hparam", "batch_size", e)) for e, v in _B.items()),
    *(Published(f"η* coef {e}", v, _FIT, ("hparam", "learning_rate", e)) for e, v in _LR.items()),
    Published("D_min at J=800 (fitted runs)", 2.170e5, "paper Figure 1 / §5 (2.17e5)", ("dj", "fitted", 800, "d_min")),
    Published("α at J=800 (fitted runs)", 0.700, "paper Figure 1 / §5 (0.70)", ("dj", "fitted", 800, "exponent")),
    Published("D_min at J=300 (fitted runs)", 6.72e4, _FIT, ("dj", "fitted", 300, "d_min")),
    Published("D_min at J=800 (baseline runs)", 4.04e5, "paper §5 (4.04e5)", ("dj", "baseline", 800, "d_min")),
    Published("α at J=800 (baseline runs)", 1.41, "paper §5 (1.41)", ("dj", "baseline", 800, "exponent")),
    Published("σ*(F) coefficient", 2.62e-9, "paper §5 (2.62e-9)", ("budget", "coef")),
    Published("σ*(F) exponent", 0.620, "paper §5 (0.62)", ("budget", "exponent")),
    Published("held-out σ* error, 2nd-hardest J", 0.128, "from the authors' σ*(F) law (not stated by them)",
              ("heldout", 1)),
    Published("held-out σ* error, hardest J", 0.218, "from the authors' σ*(F) law (not stated by them)",
              ("heldout", 0)),
)


def _read(a: Analysis, key: tuple) -> tuple[float, float, float, str]:
    """The analysis' value of a published quantity with its 95% interval and the verdict of the fit it comes from
    (NaN and "" for a held-out error, which is a single number)."""
    kind = key[0]
    blank = (np.nan, np.nan, np.nan, "")
    try:
        if kind == "hparam":
            law = a.hparams_.laws.law(key[1], GYM_ENVS[0])
            group = GYM_ENVS[0] if key[2] == "exponent" else key[2]
            ci = law.conf_int().loc[(group, "exponent" if key[2] == "exponent" else "coef")]
            value = law.exponent(group) if key[2] == "exponent" else law.coef(group)
            return value, float(ci["lower"]), float(ci["upper"]), str(law.terms_.loc[group, "status"])
        if kind == "dj":
            eff = a.frontier_fit(key[1]).efficiency
            params = eff.params_[np.isclose(eff.params_["threshold"], key[2])]
            if not len(params):
                return blank
            row = params.iloc[0]
            ci = eff.conf_int().loc[(row["group"], float(row["threshold"]), key[3])]
            return float(row[key[3]]), float(ci["lower"]), float(ci["upper"]), str(row["status"])
        law = a.fitted_.frontier.laws_.get("utd")
        if law is None:
            return blank
        if kind == "budget":
            ci = law.conf_int().loc[(law.groups_[0], key[1])]
            value = law.exponent() if key[1] == "exponent" else law.coef()
            return value, float(ci["lower"]), float(ci["upper"]), str(law.terms_["status"].iloc[0])
        ext = a.fitted_.frontier.extrapolation_
        ext = ext[ext["quantity"] == "utd"].sort_values("threshold", ascending=not a.fitted_.frontier.higher_is_better)
        return (float(ext["rel_error"].iloc[key[1]]), np.nan, np.nan, "") if len(ext) > key[1] else blank
    except Exception:  # noqa: BLE001 - a quantity an analysis does not have (no grid, no law) is a blank cell
        return blank


def compare(analyses: Mapping[str, Analysis]) -> pd.DataFrame:
    """One row per published Gym number: ``quantity``, ``published``, ``source``, then per analysis name its
    value, ``rel_diff <name>`` = (value − published) / |published|, its 95% interval (``<name> lower``, ``<name>
    upper``) and the verdict of the fit it comes from (``<name> status``: a number of a fit that is not ``ok`` is
    reproduced as a point value only)."""
    rows = []
    for p in PUBLISHED:
        row = {"quantity": p.quantity, "published": p.value}
        for name, a in analyses.items():
            v, lower, upper, status = _read(a, p.key)
            row[name] = v
            row[f"rel_diff {name}"] = (v - p.value) / abs(p.value)
            row[f"{name} lower"], row[f"{name} upper"], row[f"{name} status"] = lower, upper, status
        row["source"] = p.source
        rows.append(row)
    return pd.DataFrame(rows)


def isaac_times(a: Analysis, threshold: float = 0.1) -> pd.DataFrame:
    """Per n (= 8/σ) our crossing of the failure rate ``threshold`` (M env steps) next to the authors' typed value."""
    cross = a.fitted_.crossings
    j = int(np.argmin(np.abs(cross.thresholds_ - threshold)))
    configs = cross.configs_.reset_index(drop=True)
    n = np.rint(8.0 / configs["utd"].to_numpy(dtype=float)).astype(int)
    out = pd.DataFrame({"n_envs": n, "batch_size": configs["batch_size"].to_numpy(),
                        "learning_rate": configs["learning_rate"].to_numpy(),
                        "rlscale_M_steps": cross.crossing_[:, j] / 1e6})
    out["authors_typed_M_steps"] = out["n_envs"].map(ISAAC_TYPED_TIMES)
    out["rel_diff"] = (out["rlscale_M_steps"] - out["authors_typed_M_steps"]) / out["authors_typed_M_steps"]
    return out.sort_values("n_envs").reset_index(drop=True)
