"""The ``paper`` method on the authors' own Gym runs reproduces their published fits (skipped without the files).

Targets are the authors' published numbers (the paper's Gym laws, §4 and Figure 1: B* ∝ σ^-0.310, η* ∝ σ^-0.285,
D_J at J = 800 of 2.17e5·(1 + (σ/2.29)^-0.70), σ* = 2.62e-9·F^0.62, and the per-task coefficients of their
released fit, ``experiments/outputs/grid_proposed_hparams/gym_sweep/shared_fitted.csv`` in the authors' qscaled
repository); the tolerances were fixed before any fit was run and are not to be widened.

The grid part (B*, η*) depends on the seed bootstrap, whose draws cannot be replayed from the authors' files
(their draw order follows their zip's member order and a cached pickle); seed 42 is the paper method's default.
σ*(F) depends on the B*(σ) law compute uses: the authors' code reads their saved law from disk, so this test
feeds those published coefficients explicitly (``batch_law``); what our own re-fitted law gives is reported by
``test_with_its_own_batch_law_the_paper_method_reports_another_sigma_exponent`` and the benchmark.
"""

from __future__ import annotations

import math

import pytest
from conftest import authors_data_dir

from rlscale.analysis import Analysis
from rlscale.importers import import_qscaled

ENVS = ("Ant-v4", "HalfCheetah-v4", "Humanoid-v4", "Walker2d-v4")
B_COEF = dict(zip(ENVS, (415.8, 412.0, 313.2, 322.8), strict=True))
LR_COEF = dict(zip(ENVS, (1.504e-4, 1.871e-3, 1.905e-4, 8.24e-4), strict=True))
#: the authors' published shared-slope B*(σ) law of the Gym grid, which their compute C_J uses
PUBLISHED_BATCH_LAW = {"exponent": -0.3096, "coef": B_COEF, "source": "the authors' published Gym B*(σ) law"}


@pytest.fixture(scope="module")
def gym_runs():
    path = authors_data_dir("gym/gym_sweep.zip")
    return {name: import_qscaled(path / "gym" / f"{name}.zip")
            for name in ("gym_sweep", "gym_ours", "gym_baseline_utd2")}


@pytest.fixture(scope="module")
def paper(gym_runs):
    return Analysis(delta=4e9, method="paper", batch_law=PUBLISHED_BATCH_LAW).fit(
        gym_runs["gym_sweep"], fitted=gym_runs["gym_ours"], baseline=gym_runs["gym_baseline_utd2"])


def test_the_paper_method_reproduces_the_authors_shared_hyperparameter_laws(paper):
    laws = paper.hparams_.laws
    assert abs(laws.law("batch_size", "Ant-v4").exponent("Ant-v4") - (-0.3096)) <= 0.01
    assert abs(laws.law("learning_rate", "Ant-v4").exponent("Ant-v4") - (-0.2849)) <= 0.01
    for env in ENVS:
        assert math.isclose(laws.law("batch_size", env).coef(env), B_COEF[env], rel_tol=0.03), env
        assert math.isclose(laws.law("learning_rate", env).coef(env), LR_COEF[env], rel_tol=0.03), env


def test_the_paper_method_reproduces_the_authors_data_efficiency_law_at_800(paper):
    params = paper.fitted_.efficiency.params_.set_index("threshold")
    top = params.loc[params.index.max()]
    assert math.isclose(top["d_min"], 2.170e5, rel_tol=0.01) and math.isclose(top["exponent"], 0.700, rel_tol=0.01)


def test_the_paper_method_reproduces_the_baseline_data_efficiency_law_at_800_on_the_baselines_own_scale(paper):
    """The paper's baseline D_J(800) = 4.04e5·(1 + (σ/0.95)^−1.41) comes from the baseline runs normalised by their
    own per-task medians; on the fitted runs' scale (rlscale's choice) D_min reads 3.97e5."""
    params = paper.baseline_.efficiency.params_.set_index("threshold")
    top = params.loc[params.index.max()]
    assert math.isclose(top["d_min"], 4.04e5, rel_tol=0.002) and math.isclose(top["exponent"], 1.41, rel_tol=0.002)
    assert paper.resolved_options()["baseline_scale"] == "own"


def test_the_paper_method_with_the_published_batch_law_reproduces_the_sigma_star_law(paper):
    law = paper.fitted_.frontier.laws_["utd"]
    assert abs(law.exponent() - 0.620) <= 0.02


def test_every_output_records_the_method_its_options_and_the_max_returns(paper, tmp_path):
    paper.save(tmp_path / "a")
    again = Analysis.load(tmp_path / "a")
    metrics = again.metrics()
    assert metrics["method"] == "paper" and metrics["options"]["dj_loss"] == "linear"
    assert metrics["options"]["seed"] == 42 and metrics["max_return"]["fitted"]["preset"] == "paper-fitted"
    assert metrics["max_return"]["fitted"]["max_return"]["HalfCheetah-v4"] == 9800
    assert metrics["max_return"]["grid"]["max_return"]["HalfCheetah-v4"] == pytest.approx(1.25 * 7300)
    hparams = paper.hparams_.to_dict()
    assert hparams["method"] == "paper" and hparams["options"]["hparam_average"] == "arithmetic"
    assert again.fitted_.batch.source == PUBLISHED_BATCH_LAW["source"]


def test_with_its_own_batch_law_the_paper_method_reports_another_sigma_exponent(gym_runs, paper):
    """Not a reproduction target: with the B*(σ) law it fits itself (shared exponent ≈ -0.319 at seed 42 instead of
    the published -0.3096), the σ*(F) exponent moves (a 0.01 change in the B* exponent moves it by about 0.045)."""
    own = Analysis(delta=4e9, method="paper").fit(gym_runs["gym_sweep"], fitted=gym_runs["gym_ours"])
    exponent = own.fitted_.frontier.laws_["utd"].exponent()
    print(f"σ*(F) exponent, paper method with its own B*(σ) law: {exponent:.4f} (published law: "
          f"{paper.fitted_.frontier.laws_['utd'].exponent():.4f}; authors 0.620)")
    assert own.fitted_.batch.source != PUBLISHED_BATCH_LAW["source"] and 0.5 < exponent < 0.8


def test_the_comparison_gives_each_reproduced_number_its_interval_and_its_fits_verdict(paper):
    """A published number matched to three digits by a fit its own bootstrap leaves undetermined is a point value
    only: the comparison now says so, beside the interval that shows it."""
    from rlscale.analysis.compare import compare

    table = compare({"paper": paper}).set_index("quantity")
    top = table.loc["D_min at J=800 (fitted runs)"]
    assert top["paper status"] == "wide" and top["paper lower"] < top["paper"] < top["paper upper"]
    assert top["paper upper"] / top["paper lower"] > 5  # D_min anywhere from 3.6e4 to 3.0e5
    base = table.loc["D_min at J=800 (baseline runs)"]
    assert base["paper status"] == "ok" and base["paper lower"] < base["paper"] < base["paper upper"]
    sigma = table.loc["σ*(F) exponent"]
    assert sigma["paper status"] == "ok" and sigma["paper lower"] < 0.62 < sigma["paper upper"]
    assert table.loc["held-out σ* error, hardest J", "paper status"] == ""  # one number, no interval
