"""Figure functions drawn from laws fitted to a synthetic sweep with known laws (rlscale.laws.make_sweep).

Each test checks that what is drawn is what the estimators say (fit lines equal their predictions,
points equal the fitted points), that axes are log where the paper's are, and that held-out
(extrapolated) points are present and drawn differently.
"""

from __future__ import annotations

import copy

import matplotlib

matplotlib.use("Agg")


import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba

from rlscale.analysis import late_diagnostics
from rlscale.errors import RlscaleError
from rlscale.laws import (
    BatchSizeLaw,
    BestHyperparams,
    ComputeFrontier,
    DataEfficiency,
    HyperparamLaws,
    ThresholdCrossings,
    configs_of,
    crossings_table,
    default_thresholds,
    make_sweep,
    select_configs,
)
from rlscale.laws.powerlaw import PowerLaw
from rlscale.plots import (
    budget_extrapolation,
    data_efficiency,
    estimator_comparison,
    figure1,
    frontiers_by_threshold,
    hparam_laws,
    iso_performance,
    learning_curves,
    normalized_time,
    overfitting,
    pareto_frontier,
    save_figure,
    steps_to_threshold,
)
from rlscale.plots.curves import crossing_frame, task_configs
from rlscale.plots.frontier import EXTRAPOLATED_BUDGET_NOTE
from rlscale.plots.hparams import EDGE_NOTE
from rlscale.plots.style import (
    BASELINE,
    EXTRAPOLATED,
    EXTRAPOLATED_NOTE,
    FIT_LINE,
    FITTED,
    LABELS,
    j_colors,
    label_points,
    law_label,
    new_axes,
    utd_colors,
)

DELTA, N_PARAMS = 3e8, 150_000


def _nearest_grid_runs(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The runs whose (B, η) grid cell is nearest (in log) to the table's per-(env, σ) values."""
    bs = np.sort(runs["batch_size"].unique())
    lrs = np.sort(runs["learning_rate"].unique())
    keys = {(r.env, r.utd, int(bs[np.argmin(np.abs(np.log(bs / r.batch_size)))]),
             float(lrs[np.argmin(np.abs(np.log(lrs / r.learning_rate)))])) for r in table.itertuples(index=False)}
    index = pd.MultiIndex.from_frame(runs[["env", "utd", "batch_size", "learning_rate"]])
    return runs[index.isin(list(keys))].reset_index(drop=True)


def _frontier(crossings: ThresholdCrossings) -> tuple[ComputeFrontier, DataEfficiency]:
    index = select_configs(crossings)
    eff = DataEfficiency().fit(crossings_table(crossings, index)[0])
    batch = BatchSizeLaw.from_runs(configs_of(crossings, index))
    return ComputeFrontier(DELTA, N_PARAMS, batch).fit(eff), eff


@pytest.fixture(scope="module")
def fitted():
    """Grid sweep -> crossings -> best hparams -> laws; fitted-hparam and baseline runs -> frontiers."""
    runs = make_sweep(n_seeds=3, n_points=80)
    thresholds = default_thresholds(300.0, 800.0, 8)
    grid = ThresholdCrossings(thresholds, n_bootstrap=20).fit(runs)
    best = BestHyperparams(threshold=800.0).fit(grid)
    laws = HyperparamLaws().fit(best)
    utds = sorted(runs["utd"].unique())
    cr_fit = ThresholdCrossings(thresholds, n_bootstrap=20).fit(_nearest_grid_runs(runs, laws.propose(utds)))
    cr_base = ThresholdCrossings(thresholds, n_bootstrap=20).fit(_nearest_grid_runs(runs, laws.baseline(utds)))
    frontier, eff = _frontier(grid)
    return {"runs": runs, "grid": grid, "best": best, "laws": laws, "cr_fit": cr_fit, "cr_base": cr_base,
            "frontier": frontier, "eff": eff, "fit": _frontier(cr_fit), "base": _frontier(cr_base)}


def _line(ax, label: str):
    return next(line for line in ax.get_lines() if line.get_label() == label)


def _solid_lines(ax) -> list:
    """The drawn lines (not legend-note placeholders) that are not a curve's extrapolated, dotted part."""
    return [line for line in ax.get_lines() if line.get_gid() != "extrapolated" and len(line.get_xdata())]


def _within(curve: pd.DataFrame, utds) -> pd.DataFrame:
    """The rows of a frontier curve table at σ within the measured ``utds``."""
    return curve[(curve["utd"] >= np.min(utds)) & (curve["utd"] <= np.max(utds))]


def _errorbar_line(ax, label: str):
    return next(c for c in ax.containers if c.get_label() == label).lines[0]


def _collection(ax, label: str) -> PathCollection:
    return next(c for c in ax.collections if c.get_label() == label)


def _is_loglog(ax) -> bool:
    return ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_save_figure_writes_png_and_pdf_atomically(tmp_path, fitted):
    fig = budget_extrapolation(fitted["frontier"])
    paths = save_figure(fig, tmp_path / "sub" / "fig_g.png")
    assert [p.name for p in paths] == ["fig_g.png", "fig_g.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["fig_g.pdf", "fig_g.png"]
    with pytest.raises(RlscaleError, match="stem"):
        save_figure(fig, tmp_path / "..")
    again = save_figure(budget_extrapolation(fitted["frontier"]), tmp_path / "again" / "fig_g")
    for first, second in zip(paths, again, strict=True):  # no dates or versions that change: DVC hashes them
        assert first.read_bytes() == second.read_bytes(), first.name


def test_a_saved_figure_shows_in_a_notebook_as_the_png_on_disk(tmp_path, fitted):
    from IPython.core.formatters import format_display_data

    saved = save_figure(budget_extrapolation(fitted["frontier"]), tmp_path / "fig_g")
    data, meta = format_display_data(saved)
    assert data["image/png"] == saved[0].read_bytes()  # the very file, not a second rendering
    assert data["text/plain"] == "<figure saved as fig_g.png, fig_g.pdf>"  # no machine's path in a notebook
    assert 200 < meta["image/png"]["width"] < 1000 and 200 < meta["image/png"]["height"] < 1000


def test_pareto_frontier_draws_the_fitted_curve_and_points_with_the_frontier_compute(fitted):
    frontier, eff = fitted["frontier"], fitted["eff"]
    fig = pareto_frontier(frontier, eff, threshold=800.0)
    ax = fig.axes[0]
    assert _is_loglog(ax)
    assert "mathcal{D}" in ax.get_xlabel() and "mathcal{C}" in ax.get_ylabel()
    pts = eff.points_[np.isclose(eff.points_["threshold"], 800.0)].sort_values("utd")
    curve = _within(frontier.curves_[np.isclose(frontier.curves_["threshold"], 800.0)], pts["utd"])
    line = _line(ax, "fit")
    np.testing.assert_allclose(line.get_xdata(), curve["data"])
    np.testing.assert_allclose(line.get_ydata(), curve["compute"])
    offsets = _collection(ax, "measured").get_offsets()
    np.testing.assert_allclose(offsets[:, 0], pts["data"])
    np.testing.assert_allclose(offsets[:, 1], frontier.compute(pts["utd"].to_numpy(), pts["data"].to_numpy()))
    colours = _collection(ax, "measured").get_facecolors()
    np.testing.assert_allclose(colours, utd_colors(pts["utd"]))
    assert sum(colours[0][:3]) < sum(colours[-1][:3])  # plasma: low σ dark, high σ light
    opt = frontier.optimum_.iloc[-1]
    diamond = next(c for c in ax.collections if c.get_label().startswith(r"$\mathcal{F}$-optimal"))
    np.testing.assert_allclose(diamond.get_offsets()[0], [opt["data"], opt["compute"]])
    assert not opt["at_boundary"] and "(a bound)" not in diamond.get_label()
    bound = copy.copy(frontier)  # σ* on the edge of the searched σ range: the legend says it is a bound
    bound.optimum_ = frontier.optimum_.assign(at_boundary=True)
    label = next(c for c in pareto_frontier(bound, eff, threshold=800.0).axes[0].collections
                 if c.get_label().startswith(r"$\mathcal{F}$-optimal")).get_label()
    assert label.endswith("(a bound)")
    assert any(t.get_text() == r"$\sigma$=0.25" for t in ax.texts)
    with pytest.raises(RlscaleError, match="no threshold 123"):
        pareto_frontier(frontier, eff, threshold=123.0)


def test_pareto_frontier_with_baseline_draws_both_series(fitted):
    (f_fit, e_fit), (f_base, e_base) = fitted["fit"], fitted["base"]
    ax = pareto_frontier(f_fit, e_fit, baseline=(f_base, e_base)).axes[0]
    base = _line(ax, BASELINE["label"])
    assert to_rgba(base.get_color()) == to_rgba(BASELINE["color"])
    curve = f_base.curves_[np.isclose(f_base.curves_["threshold"], 800.0)]
    np.testing.assert_allclose(base.get_ydata(), _within(curve, e_base.points_["utd"])["compute"])
    _line(ax, FITTED["label"])
    b_pts = e_base.points_[np.isclose(e_base.points_["threshold"], 800.0)].sort_values("utd")
    squares = [c for c in ax.collections if to_rgba(c.get_facecolors()[0]) == to_rgba(BASELINE["color"])]
    assert len(squares) == 1  # the baseline's measured points, grey, beside the fitted hparams' coloured ones
    np.testing.assert_allclose(squares[0].get_offsets(), np.column_stack(
        [b_pts["data"], f_base.compute(b_pts["utd"].to_numpy(), b_pts["data"].to_numpy())]))
    assert len(_collection(ax, "measured").get_offsets()) == np.isclose(e_fit.points_["threshold"], 800.0).sum()


def test_pareto_frontier_says_when_the_baseline_has_no_law_at_that_threshold(fitted):
    (f_fit, e_fit), (f_base, e_base) = fitted["fit"], fitted["base"]
    partial = copy.copy(f_base)  # as when the baseline's D_J at the top J is not a law
    partial.curves_ = f_base.curves_[~np.isclose(f_base.curves_["threshold"], 800.0)]
    ax = pareto_frontier(f_fit, e_fit, threshold=800.0, baseline=(partial, e_base)).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"{BASELINE['label']}: no law at J" in labels
    assert not [line for line in ax.get_lines() if line.get_label().startswith(BASELINE["label"])]  # its key: a
    assert _collection(ax, f"{BASELINE['label']}: no law at J").get_offsets().size == 0  # marker, as drawn, no line
    _line(ax, FITTED["label"])


def test_budget_extrapolation_fit_line_is_the_law_and_held_out_points_are_stars(fitted):
    frontier = fitted["frontier"]
    ax = budget_extrapolation(frontier).axes[0]
    assert _is_loglog(ax)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), frontier.predict(line.get_xdata(), "utd"))
    law = frontier.laws_["utd"]
    assert f"dof {law.df_resid_}" in line.get_label() and "95% CI [" in line.get_label()
    held = frontier.optimum_[frontier.optimum_["held_out"]].sort_values("budget")
    assert len(held) == frontier.holdout == 2
    stars = _collection(ax, "held-out J (extrapolated)")
    np.testing.assert_allclose(stars.get_offsets(), held[["budget", "utd"]].to_numpy())
    normal = _collection(ax, "fitted J")
    assert len(normal.get_offsets()) == len(frontier.optimum_) - 2
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(frontier.optimum_)  # each J once: none "left out"
    assert stars.get_sizes()[0] == EXTRAPOLATED["s"] > normal.get_sizes()[0]
    assert not np.array_equal(stars.get_paths()[0].vertices, normal.get_paths()[0].vertices)
    # this law's exponent interval spans 0: dashed, and drawn over the fitted J's budgets only, not out to the held-out
    assert law.sign_undetermined("all") and line.get_linestyle() == "--"
    fit_budgets = frontier.optimum_.loc[frontier.optimum_["in_fit"], "budget"]
    np.testing.assert_allclose([line.get_xdata().min(), line.get_xdata().max()], [fit_budgets.min(), fit_budgets.max()])
    ax_data = budget_extrapolation(frontier, quantity="data").axes[0]
    np.testing.assert_allclose(ax_data.get_lines()[0].get_ydata(),
                               frontier.predict(ax_data.get_lines()[0].get_xdata(), "data"))


def test_frontiers_by_threshold_one_curve_per_j_coloured_low_to_high(fitted):
    frontier, eff = fitted["frontier"], fitted["eff"]
    fig = frontiers_by_threshold(frontier, eff)
    ax = fig.axes[0]
    lines = _solid_lines(ax)
    laws = eff.params_["status"] == "ok"
    assert len(lines) == len(frontier.optimum_) == laws.sum() >= 5  # one curve per J with a D_J law
    assert len(ax.collections) == len(eff.thresholds_)  # the points of every J
    missing = ", ".join(f"{j:g}" for j in eff.params_.loc[~laws, "threshold"])
    assert (f"no law, at J = {missing}" in ax.get_title()) == bool(missing)
    for line, j in zip(lines, frontier.optimum_["threshold"], strict=True):
        curve = frontier.curves_[np.isclose(frontier.curves_["threshold"], j)]
        np.testing.assert_allclose(line.get_xdata(), _within(curve, eff.points_["utd"])["data"])
    first, last = to_rgba(lines[0].get_color()), to_rgba(lines[-1].get_color())
    assert first != last and sum(last[:3]) > sum(first[:3])  # viridis: high J is lighter
    assert len(fig.axes) == 2 and "J" in fig.axes[1].get_ylabel()  # the J colour bar


def test_iso_performance_iso_cost_lines_pass_through_the_optima(fitted):
    frontier = fitted["frontier"]
    ax = iso_performance(frontier).axes[0]
    assert _is_loglog(ax)
    opt = frontier.optimum_.sort_values("threshold")
    through = _line(ax, r"$\mathcal{F}$-optimal points")
    np.testing.assert_allclose(through.get_xdata(), opt["data"])
    np.testing.assert_allclose(through.get_ydata(), opt["compute"])
    iso = [line for line in ax.get_lines() if line.get_linestyle() == "-."]  # dotted: extrapolated curves
    assert len(iso) == len(opt)
    for line, r in zip(iso, opt.itertuples(index=False), strict=True):
        np.testing.assert_allclose(line.get_ydata() + DELTA * line.get_xdata(), r.budget, rtol=1e-9)
        # the optimum lies on its iso-cost line
        assert np.isclose(r.compute + DELTA * r.data, r.budget)


def test_figure1_has_three_panels_per_benchmark(fitted):
    fig = figure1({"DMC": (fitted["frontier"], fitted["eff"]), "Gym": fitted["fit"]})
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert sum(t.startswith("DMC") for t in titles) == 1 and sum(t.startswith("Gym") for t in titles) == 1
    assert sum("(II)" in t for t in titles) == 2 and sum("(III)" in t for t in titles) == 2
    with pytest.raises(RlscaleError, match="at least one"):
        figure1({})


def test_data_efficiency_fit_asymptote_and_baseline(fitted):
    (_, e_fit), (_, e_base) = fitted["fit"], fitted["base"]
    ax = data_efficiency(e_fit, 800.0, baseline=e_base).axes[0]
    assert _is_loglog(ax)
    fit = _line(ax, FITTED["label"])
    np.testing.assert_allclose(fit.get_ydata(), e_fit.predict(fit.get_xdata(), 800.0))
    base = _line(ax, BASELINE["label"])
    np.testing.assert_allclose(base.get_ydata(), e_base.predict(base.get_xdata(), 800.0))
    asymptote = _line(ax, r"$\mathcal{D}_{\min}$ (fitted hparams)")
    assert asymptote.get_linestyle() == "--"
    np.testing.assert_allclose(asymptote.get_ydata(), e_fit.params(800.0)[0])
    assert e_fit.is_law(800.0)
    for eff, color in ((e_fit, FITTED["color"]), (e_base, BASELINE["color"])):  # every measured point, in its colour
        pts = eff.points_[np.isclose(eff.points_["threshold"], 800.0)].sort_values("utd")
        drawn = [c for c in ax.collections if len(c.get_offsets()) and to_rgba(c.get_facecolors()[0]) == to_rgba(color)]
        assert len(drawn) == 1
        np.testing.assert_allclose(drawn[0].get_offsets(), pts[["utd", "data"]].to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()][:3] == ["0.25", "0.5", "1"]
    per_env = DataEfficiency(normalize=False).fit(crossings_table(fitted["cr_fit"])[0])
    with pytest.raises(RlscaleError, match="pass env="):
        data_efficiency(per_env)
    ax_env = data_efficiency(per_env, env="env-b").axes[0]
    np.testing.assert_allclose(ax_env.get_lines()[0].get_ydata(),
                               per_env.predict(ax_env.get_lines()[0].get_xdata(), 800.0, "env-b"))


def test_normalized_time_one_fit_per_threshold(fitted):
    eff = fitted["eff"]
    ax = normalized_time(eff).axes[0]
    assert _is_loglog(ax)
    lines = _solid_lines(ax)
    with_law = [j for j in eff.thresholds_ if eff.is_law(j)]
    assert len(lines) == len(with_law) >= 5
    for line, j in zip(lines, with_law, strict=True):
        np.testing.assert_allclose(line.get_ydata(), eff.predict(line.get_xdata(), j))
    assert len(ax.collections) == len(eff.thresholds_)
    first, last = to_rgba(lines[0].get_color()), to_rgba(lines[-1].get_color())
    assert sum(last[:3]) > sum(first[:3])  # viridis by J: the highest J is the lightest
    assert ax.get_ylabel() == LABELS["normalized_time"] and ax.get_ylabel().endswith("(env steps)")  # a time, no ratio
    per_env = DataEfficiency(normalize=False).fit(crossings_table(fitted["cr_fit"])[0])
    assert normalized_time(per_env, env="env-a").axes[0].get_ylabel() == r"Env steps to reach $J$"  # not normalised


def test_learning_curves_mark_the_crossings(fitted):
    cr, base = fitted["cr_fit"], fitted["cr_base"]
    fig = learning_curves(cr, baseline=base, envs=["env-a"], utds=[0.25, 8.0], thresholds=[800.0])
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [r"env-a, $\sigma$=0.25", r"env-a, $\sigma$=8"]
    ax = panels[0]
    assert ax.get_xscale() == "linear"
    i = int(np.flatnonzero((cr.configs_["env"] == "env-a") & (cr.configs_["utd"] == 0.25))[0])
    j = int(np.flatnonzero(np.isclose(cr.thresholds_, 800.0))[0])
    ours, theirs = ax.collections[1], ax.collections[0]  # baseline drawn first
    np.testing.assert_allclose(ours.get_offsets(), [[cr.crossing_[i, j], 800.0]])
    b = int(np.flatnonzero((base.configs_["env"] == "env-a") & (base.configs_["utd"] == 0.25))[0])
    np.testing.assert_allclose(theirs.get_offsets(), [[base.crossing_[b, j], 800.0]])
    assert to_rgba(theirs.get_edgecolors()[0]) == to_rgba(BASELINE["color"])  # baseline crossings: grey-edged
    j_colour = to_rgba(j_colors(cr.thresholds_)[j])  # J's colour on the scale of every J, as in the other plots
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(dotted) == 1 and list(dotted[0].get_ydata()) == [800.0, 800.0]
    assert to_rgba(dotted[0].get_color()) == j_colour
    assert all(to_rgba(c.get_facecolors()[0]) == j_colour for c in (ours, theirs))  # the marker of that J
    assert ax.get_ylabel() == LABELS["score"] and ax.get_xlabel() == LABELS["env_step"]
    assert [t.get_text() for t in ax.figure.axes[0].get_legend().get_texts()][:2] == [FITTED["label"],
                                                                                       BASELINE["label"]]
    smoothed = _line(ax, FITTED["label"])
    np.testing.assert_allclose(smoothed.get_ydata(), cr.mean_curve(i)["smoothed"])
    with pytest.raises(RlscaleError, match="no runs for env"):
        learning_curves(cr, envs=["nope"])
    with pytest.raises(RlscaleError, match=r"threshold\(s\) \[500.0\] were not computed"):
        learning_curves(cr, envs=["env-a"], thresholds=[500.0, 800.0])


def test_learning_curves_mark_each_j_at_its_own_crossing_whatever_order_the_thresholds_were_given_in():
    runs = make_sweep(n_seeds=2, n_points=40)
    cr = ThresholdCrossings([800.0, 550.0, 300.0], n_bootstrap=2).fit(runs)  # kept as given: descending
    cfg = task_configs(cr)  # the configuration plot a draws per (env, σ)
    i = int(cfg.loc[(cfg["env"] == "env-a") & (cfg["utd"] == 1.0), "index"].iloc[0])
    assert len(np.unique(cr.crossing_[i])) == 3 and np.isfinite(cr.crossing_[i]).all()
    for j in (300.0, 550.0):
        ax = next(ax for ax in learning_curves(cr, envs=["env-a"], utds=[1.0], thresholds=[j]).axes if ax.get_visible())
        np.testing.assert_allclose(ax.collections[0].get_offsets(), [[cr.crossing_[i, cr.thresholds_ == j][0], j]])
        dotted = next(line for line in ax.get_lines() if line.get_linestyle() == ":")
        assert to_rgba(dotted.get_color()) == to_rgba(j_colors([j], among=cr.thresholds_)[0])


def test_steps_to_threshold_plots_the_crossings_per_task(fitted):
    cr, base = fitted["cr_fit"], fitted["cr_base"]
    fig = steps_to_threshold(cr, 800.0, baseline=base)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["env-a, J = 800", "env-b, J = 800"]
    assert all(_is_loglog(ax) for ax in axes)
    j = int(np.flatnonzero(np.isclose(cr.thresholds_, 800.0))[0])
    sel = cr.configs_[cr.configs_["env"] == "env-b"].sort_values("utd")
    line = _errorbar_line(axes[1], FITTED["label"])
    base_x = np.asarray(_errorbar_line(axes[1], BASELINE["label"]).get_xdata(), float)
    # fitted and baseline markers sit a little to either side of their σ, so both whiskers show
    assert np.all(np.asarray(line.get_xdata(), float) < sel["utd"].to_numpy()) and np.all(base_x > sel["utd"])
    np.testing.assert_allclose(np.asarray(line.get_xdata(), float), sel["utd"], rtol=0.05)
    np.testing.assert_allclose(np.asarray(line.get_ydata(), float), cr.crossing_[sel.index, j])
    bounds = crossing_frame(cr, 800.0)
    bounds = bounds[bounds["env"] == "env-b"].sort_values("utd")
    whiskers = next(c for c in axes[1].containers if c.get_label() == FITTED["label"]).lines[2][0].get_segments()
    np.testing.assert_allclose([(s[:, 1].min(), s[:, 1].max()) for s in whiskers],
                               bounds[["crossing_lower", "crossing_upper"]].to_numpy())  # the bootstrap 95% interval
    assert axes[0].get_ylabel() == LABELS["steps_to_j"]
    assert [ax.get_title() for ax in steps_to_threshold(cr).axes if ax.get_title()][0] == "env-a, J = 800"  # highest
    # known answer: at σ = 0.25 the constant baseline (tuned at σ = 2) is slower than the fitted hparams
    base_line = _errorbar_line(axes[1], BASELINE["label"])
    assert np.asarray(base_line.get_ydata())[0] > np.asarray(line.get_ydata())[0]


def test_hparam_laws_fit_lines_r2_proposals_and_grid(fitted):
    best, laws, grid = fitted["best"], fitted["laws"], fitted["grid"]
    fig = hparam_laws(best, laws, proposed_utds=[0.125, 1.0, 16.0], grid=grid.configs_)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(axes) == 4 and all(_is_loglog(ax) for ax in axes)
    ax_b = axes[2]  # env-b, batch size
    assert ax_b.get_title() == "env-b"
    assert [ax.get_ylabel() for ax in axes] == [LABELS["best_batch_size"], LABELS["best_learning_rate"]] * 2
    rows = best.best_[best.best_["env"].astype(str) == "env-b"].sort_values("utd")
    whiskers = next(c for c in ax_b.containers if c.get_label() == "bootstrap estimate").lines[2][0].get_segments()
    np.testing.assert_allclose([(s[:, 1].min(), s[:, 1].max()) for s in whiskers],
                               rows[["batch_size_lower", "batch_size_upper"]].to_numpy())  # the bootstrap 95% interval
    fit = next(line for line in ax_b.get_lines() if line.get_label().startswith("fit"))
    np.testing.assert_allclose(fit.get_ydata(), laws.predict(fit.get_xdata(), "env-b", "batch_size"))
    r2 = laws.law("batch_size", "env-b").terms_.loc["env-b", "r2"]
    assert f"$R^2$={r2:.2f}" in fit.get_label()
    lo, hi = laws.law("batch_size", "env-b").conf_int().loc[("env-b", "exponent")]
    assert f"95% CI [{lo:.2f}, {hi:.2f}], dof " in fit.get_label()
    stars = _collection(ax_b, "proposed (extrapolated)")
    assert sorted(stars.get_offsets()[:, 0]) == [0.125, 16.0]
    inside = _collection(ax_b, "proposed")
    np.testing.assert_allclose(inside.get_offsets()[:, 1], laws.predict([1.0], "env-b", "batch_size"))
    horizontal = [line for line in ax_b.get_lines() if line.get_label().startswith("_")
                  and np.ptp(line.get_ydata()) == 0]
    assert sorted(line.get_ydata()[0] for line in horizontal) == sorted(grid.configs_["batch_size"].unique())


def test_estimator_comparison_one_series_per_estimator(fitted):
    grid = fitted["grid"]
    estimates = {name: BestHyperparams(800.0, name).fit(grid) for name in ("point", "bootstrap", "mean_other")}
    fig = estimator_comparison(estimates, env="env-a", laws={"bootstrap": fitted["laws"]})
    ax_b, ax_lr = (ax for ax in fig.axes if ax.get_title())
    labels = [line.get_label() for line in ax_lr.get_lines() if line.get_linestyle() == "None"]
    assert labels == ["point", "bootstrap", "mean_other"]
    point = _line(ax_b, "point")
    rows = estimates["point"].best_[estimates["point"].best_["env"] == "env-a"].sort_values("utd")
    np.testing.assert_allclose(point.get_ydata(), rows["batch_size"])
    assert len(ax_b.get_lines()) == 4  # three estimators and the bootstrap law
    every = estimator_comparison(estimates, laws={"bootstrap": fitted["laws"]})  # a shared slope rests on every task
    titles = [ax.get_title() for ax in every.axes if ax.get_title()]
    assert titles == ["env-a: estimators"] * 2 + ["env-b: estimators"] * 2
    with pytest.raises(RlscaleError, match="at least one"):
        estimator_comparison({})
    # an estimator whose laws could not be fitted (None) is drawn as points only
    fig = estimator_comparison(estimates, env="env-a", laws={"bootstrap": None})
    assert len([ax for ax in fig.axes if ax.get_title()][0].get_lines()) == 3


@pytest.fixture(scope="module")
def td_runs():
    """TD errors with a known shape: the val/train gap grows with B·σ late in training; train error grows with η."""
    rows = []
    for utd in (0.5, 4.0):
        for b in (64, 256, 1024):
            for lr in (1e-4, 1e-3):
                for seed in range(2):
                    for step in range(1, 11):
                        train = 0.1 * (1.0 + utd * np.log10(lr / 1e-5))
                        late = step > 8
                        rows.append({"env": "env-a", "utd": utd, "batch_size": b, "learning_rate": lr, "seed": seed,
                                     "env_step": 1000 * step, "train_td_error": train if late else 5.0,
                                     "val_td_error": train * (1.0 + 1e-3 * b * utd) if late else 5.0})
    return pd.DataFrame(rows)


def test_late_diagnostics_average_the_late_evaluations(td_runs):
    table = late_diagnostics(td_runs, last_frac=0.2)
    row = table[(table["utd"] == 4.0) & (table["batch_size"] == 1024) & (table["learning_rate"] == 1e-3)].iloc[0]
    assert row["train_td_error"] == pytest.approx(0.1 * (1 + 4 * 2))
    assert row["val_td_error"] == pytest.approx(0.9 * (1 + 1e-3 * 1024 * 4))
    assert "overfitting" not in table.columns
    newest = td_runs.assign(newest_td_error=td_runs["val_td_error"], replay_td_error=td_runs["train_td_error"],
                            critic_param_norm=10.0 * td_runs["learning_rate"] / 1e-4 * td_runs["utd"])
    paper = late_diagnostics(newest)
    np.testing.assert_allclose(paper["overfitting"], paper["newest_td_error"] - paper["replay_td_error"])
    with pytest.raises(RlscaleError, match="logs none of"):
        late_diagnostics(td_runs.drop(columns=["val_td_error", "train_td_error"]))


def test_a_table_logging_only_the_overfitting_difference_gets_the_overfitting_figure(td_runs):
    """A table brought in with the paper's measure already subtracted (no newest or replay column) is drawn as is."""
    own = td_runs.assign(overfitting=td_runs["val_td_error"] - td_runs["train_td_error"],
                         critic_param_norm=td_runs["learning_rate"] * 1e4).drop(columns=["val_td_error",
                                                                                          "train_td_error"])
    late = late_diagnostics(own)
    row = late[(late["utd"] == 4.0) & (late["batch_size"] == 1024) & (late["learning_rate"] == 1e-3)].iloc[0]
    assert row["overfitting"] == pytest.approx(0.9 * 1e-3 * 1024 * 4)
    by_sigma = [ax for ax in overfitting(late).axes if ax.get_title()][0]
    assert by_sigma.get_ylabel().startswith("Overfitting\n(newest") and "not logged" not in by_sigma.get_title()


def test_overfitting_draws_every_task_with_its_own_claimed_slopes_and_the_pooled_fit_above():
    """Plot j shows each task (two rows each) with its slope per doubling and interval in the panel titles, and the
    claims' fit over all tasks above the figure, so the task that carries a claim is on the page."""
    from rlscale.analysis import mechanism_slopes

    rng = np.random.default_rng(0)
    cells = pd.DataFrame([{"env": env, "utd": u, "batch_size": b, "learning_rate": lr} for env in ("a", "b")
                          for u in (1.0, 2.0, 4.0, 8.0) for b in (32, 64, 128) for lr in (1e-3, 1e-2)])
    cells["overfitting"] = np.log2(cells["utd"]) + rng.normal(0.0, 0.1, len(cells))
    cells["critic_param_norm"] = 30.0 * cells["utd"] ** 0.3 * np.exp(rng.normal(0.0, 0.02, len(cells)))
    slopes = mechanism_slopes(cells)
    fig = overfitting(cells, slopes=slopes)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert [t.split(":")[0] for t in titles] == ["a"] * 4 + ["b"] * 4
    a_cells = cells[cells["env"] == "a"]
    assert (a_cells["overfitting"] < 0).any()  # drawn as measured, below zero too
    for panel, (x, y) in zip(fig.axes[:4], (("utd", "overfitting"), ("batch_size", "overfitting"),
                                            ("learning_rate", "critic_param_norm"), ("utd", "critic_param_norm")),
                             strict=True):
        np.testing.assert_allclose(panel.collections[0].get_offsets(), a_cells[[x, y]].to_numpy())
    a_sigma = slopes[(slopes["env"] == "a") & (slopes["measure"] == "overfitting") & (slopes["axis"] == "utd")]
    r = a_sigma.iloc[0]
    assert f"per doubling {r['estimate']:+.2f} [{r['lower']:.2f}, {r['upper']:.2f}], dof {int(r['dof'])}" in titles[0]
    assert "log norm per doubling" in titles[2]
    assert fig.get_suptitle().startswith("Fit over all tasks (the claims): overfitting σ +")
    only_b = overfitting(cells, env="b", slopes=slopes)
    assert {ax.get_title().split(":")[0] for ax in only_b.axes if ax.get_title()} == {"b"}
    assert "per doubling" not in " ".join(ax.get_title() for ax in overfitting(cells).axes)


def test_overfitting_colours_sigma_on_the_benchmarks_scale_as_figure1_does():
    cells = pd.DataFrame([{"env": "a", "utd": u, "batch_size": b, "learning_rate": 1e-3, "overfitting": 0.1 * u,
                           "critic_param_norm": 30.0 * u} for u in (0.5, 1.0, 2.0, 4.0, 8.0) for b in (32, 128)])
    every_sigma = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]  # the fitted runs reach σ = 16, the grid σ = 8
    fig = overfitting(cells, utd_scale=every_sigma)
    by_sigma = [ax for ax in fig.axes if ax.get_title().startswith("a: overfitting vs B")][0]
    np.testing.assert_allclose(by_sigma.collections[0].get_facecolors(),
                               utd_colors(cells["utd"], among=every_sigma))  # σ = 8 as in Figure 1, not the top
    bars = [ax for ax in fig.axes if ax.get_ylabel() == r"UTD ratio $\sigma$"]
    assert len(bars) == 2 and all(bar.get_ylim() == pytest.approx((0.5, 16.0)) for bar in bars)
    assert utd_colors([8.0], among=every_sigma) != utd_colors([8.0], among=cells["utd"])


def test_overfitting_draws_the_probe_it_has_and_says_which(td_runs):
    fig = overfitting(late_diagnostics(td_runs))
    panels = [ax for ax in fig.axes if ax.get_title()]
    by_sigma, by_b, by_lr, _ = panels
    assert "held-out probe" in by_sigma.get_title() and "critic norm not logged" in by_lr.get_title()
    offsets = by_b.collections[0].get_offsets()
    gap = 0.1 * (1.0 + 4.0 * 2.0) * 1e-3 * 1024 * 4.0  # val − train at σ 4, B 1024, η 1e-3
    assert any(np.allclose(o, [1024, gap]) for o in offsets)
    newest = td_runs.assign(newest_td_error=td_runs["val_td_error"], replay_td_error=td_runs["train_td_error"],
                            critic_param_norm=td_runs["learning_rate"] * 1e4)
    paper = [ax for ax in overfitting(late_diagnostics(newest)).axes if ax.get_title()]
    assert paper[0].get_ylabel().startswith("Overfitting\n(newest") and "\n" not in paper[0].get_title()
    assert paper[2].get_ylabel() == "Critic parameter norm"


def test_a_fit_that_is_not_a_law_is_drawn_as_points_without_a_line():
    utds = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    rows = [{"env": "e", "utd": u, "threshold": j, "crossing": 5000.0 * u**-0.6 * j / 800} for u in utds
            for j in (600.0, 700.0, 800.0)]  # pure power laws: s_0 at its bound, not a law
    eff = DataEfficiency().fit(pd.DataFrame(rows))
    ax = data_efficiency(eff).axes[0]
    assert ax.get_lines() == [] or all(len(line.get_xdata()) == 0 for line in ax.get_lines())
    assert any("no law (at_bound)" in t.get_text() for t in ax.get_legend().get_texts())
    assert len(ax.collections[0].get_offsets()) == len(utds)
    ax = normalized_time(eff).axes[0]
    assert all(len(line.get_xdata()) == 0 for line in ax.get_lines()) and "no law" in ax.get_title()
    frontier = ComputeFrontier(delta=3e9, critic_params=1e5, batch_size=BatchSizeLaw({"e": (256.0, 0.0)})).fit(eff)
    ax = budget_extrapolation(frontier).axes[0]
    assert not ax.get_lines() or all(len(line.get_xdata()) == 0 for line in ax.get_lines())
    assert any("no optimum at any J" in t.get_text() for t in ax.get_legend().get_texts())
    ax = pareto_frontier(frontier, eff).axes[0]
    assert not [line for line in ax.get_lines() if len(line.get_xdata())]
    assert len(_collection(ax, "measured").get_offsets()) == len(utds)


def test_one_j_figures_default_to_the_hardest_j_whose_fit_is_a_law():
    utds = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    wiggle = (1.02, 0.97, 1.01, 0.99, 1.03, 0.98, 1.0)
    rows = [{"env": "e", "utd": u, "threshold": j, "crossing": (j / 800) * (2000.0 + (3000.0 / u) ** 0.8) * w}
            for u, w in zip(utds, wiggle, strict=True) for j in (600.0, 700.0)]
    rows += [{"env": "e", "utd": u, "threshold": 800.0, "crossing": 5000.0 * u**-0.6} for u in utds]  # no D_min
    eff = DataEfficiency().fit(pd.DataFrame(rows))
    assert [eff.is_law(j) for j in (600.0, 700.0, 800.0)] == [True, True, False]
    frontier = ComputeFrontier(delta=3e9, critic_params=1e5, batch_size=BatchSizeLaw({"e": (256.0, 0.0)})).fit(eff)
    assert data_efficiency(eff).axes[0].get_title() == "Data efficiency, J = 700"
    assert "J = 700" in pareto_frontier(frontier, eff).axes[0].get_title()
    assert "J = 700" in figure1({"B": (frontier, eff)}).axes[0].get_title()
    ax = data_efficiency(eff, 800.0).axes[0]  # asked for, the hardest J is drawn and says it has no law
    assert any("no law (at_bound)" in t.get_text() for t in ax.get_legend().get_texts())
    with pytest.raises(RlscaleError, match="no threshold 750"):
        data_efficiency(eff, 750.0)
    # the paper method (budget_points="all") keeps a curve where D_J is no law, as the authors use it: not drawn
    authors_way = ComputeFrontier(delta=3e9, critic_params=1e5, batch_size=BatchSizeLaw({"e": (256.0, 0.0)}),
                                  budget_points="all").fit(eff)
    assert np.isclose(authors_way.curves_["threshold"], 800.0).any()
    assert "J = 700" in pareto_frontier(authors_way, eff).axes[0].get_title()
    ax = pareto_frontier(authors_way, eff, threshold=800.0).axes[0]
    assert not [line for line in ax.get_lines() if len(line.get_xdata())]
    assert any("no frontier at J = 800" in t.get_text() for t in ax.get_legend().get_texts())
    assert "points only, no law, at J = 800" in frontiers_by_threshold(authors_way, eff).axes[0].get_title()
    ax = iso_performance(authors_way, efficiency=eff).axes[0]
    assert len(ax.collections[-1].get_offsets()) == 2  # the F-optimal points of J = 600, 700 only
    assert "no curve, no law, at J = 800" in ax.get_title()  # its colour bar reaches J = 800: the title says why
    assert "no law" not in iso_performance(authors_way).axes[0].get_title()  # without the verdicts, nothing to say
    flipped = DataEfficiency().fit(pd.DataFrame(rows).assign(threshold=lambda t: -t["threshold"]))  # lower is better
    assert data_efficiency(flipped, higher_is_better=False).axes[0].get_title() == "Data efficiency, J = -700"


def test_a_law_whose_exponent_interval_spans_zero_is_dashed_and_says_so():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    trend = PowerLaw().fit(x, 3.0 * x**-0.5 * np.array([1.0, 1.02, 0.98, 1.01]))
    flat = PowerLaw().fit(x, np.array([1.0, 1.4, 0.8, 1.2]))
    label, line = law_label(trend, "all", r"\sigma")
    assert line["ls"] == "-" and "spans 0" not in label and "dof 2" in label
    label, line = law_label(flat, "all", r"\sigma")
    lo, hi = flat.conf_int().loc[("all", "exponent")]
    assert lo < 0 < hi and line["ls"] == "--"
    assert label.endswith(f"[{lo:.2f}, {hi:.2f}], dof 2\nCI spans 0: sign undetermined")


def test_an_exactly_determined_budget_law_is_not_drawn(fitted):
    frontier = copy.copy(fitted["frontier"])
    keep = frontier.optimum_["threshold"].isin(sorted(frontier.optimum_["threshold"])[-4:])
    frontier.optimum_ = frontier.optimum_[keep].reset_index(drop=True)  # 2 fitted J + 2 held out: an exact law
    frontier._fit_laws()
    assert frontier.laws_["utd"].terms_.loc["all", "status"] == "exact" and not frontier.has_law()
    ax = budget_extrapolation(frontier).axes[0]
    assert not [line for line in ax.get_lines() if len(line.get_xdata())]
    assert any("no law in F: exact" in t.get_text() for t in ax.get_legend().get_texts())
    assert len(_collection(ax, "held-out J (extrapolated)").get_offsets()) == 2


def test_a_budget_law_of_determined_sign_is_drawn_out_past_the_held_out_budgets_dotted_beyond_the_fitted_ones(fitted):
    frontier = copy.copy(fitted["frontier"])
    opt = frontier.optimum_.sort_values("budget").reset_index(drop=True)
    wobble = np.resize([1.0, 1.04, 0.97, 1.02], len(opt))
    frontier.optimum_ = opt.assign(utd=2.0 * (opt["budget"] / opt["budget"].min()) ** 0.8 * wobble)  # a clear rise
    frontier._fit_laws()
    assert frontier.has_law() and not frontier.laws_["utd"].sign_undetermined("all")
    ax = budget_extrapolation(frontier).axes[0]
    solid = _solid_lines(ax)
    assert len(solid) == 1 and solid[0].get_linestyle() == "-" and "sign undetermined" not in solid[0].get_label()
    fit_budgets = frontier.optimum_.loc[frontier.optimum_["in_fit"], "budget"]
    np.testing.assert_allclose([solid[0].get_xdata().min(), solid[0].get_xdata().max()],
                               [fit_budgets.min(), fit_budgets.max()])
    dotted = [line for line in ax.get_lines() if line.get_gid() == "extrapolated"]
    assert [line.get_linestyle() for line in dotted] == [":", ":"]  # below the fitted budgets, and out past them
    drawn = np.concatenate([line.get_xdata() for line in dotted])
    assert drawn.min() < opt["budget"].min() and drawn.max() > opt["budget"].max()  # reaching the held-out J
    # and past them as far as it reaches below the fitted budgets: widened from the held-out J, not the fitted ones
    assert drawn.max() / opt["budget"].max() == pytest.approx(fit_budgets.min() / drawn.min())
    assert EXTRAPOLATED_BUDGET_NOTE in _legend_texts(ax)


def test_an_hparam_law_of_undetermined_sign_is_drawn_over_its_estimates_not_out_to_the_proposals(fitted):
    best = copy.copy(fitted["best"])
    table = best.best_.copy()
    a = table["env"].astype(str) == "env-a"
    table.loc[a, "batch_size"] = np.resize([256.0, 360.0, 200.0, 310.0, 230.0, 330.0], a.sum())  # no trend in σ
    best.best_ = table
    laws = HyperparamLaws(shared_slope=False).fit(best)
    assert laws.law("batch_size", "env-a").is_law("env-a")
    assert laws.law("batch_size", "env-a").sign_undetermined("env-a")
    fig = hparam_laws(best, laws, proposed_utds=[0.125, 1.0, 16.0])
    panels = [ax for ax in fig.axes if ax.get_title()]
    ax_a, ax_b = panels[0], panels[2]  # batch size of env-a, env-b
    flat = next(line for line in ax_a.get_lines() if line.get_label().startswith("fit"))
    assert flat.get_linestyle() == "--" and "sign undetermined" in flat.get_label()
    utds = table.loc[a, "utd"]
    np.testing.assert_allclose([flat.get_xdata().min(), flat.get_xdata().max()], [utds.min(), utds.max()])
    trend = next(line for line in ax_b.get_lines() if line.get_label().startswith("fit"))
    assert not laws.law("batch_size", "env-b").sign_undetermined("env-b")  # a determined law reaches the proposals,
    utds_b = table.loc[~a, "utd"]  # solid over its estimates' σ and dotted beyond them
    assert trend.get_linestyle() == "-"
    np.testing.assert_allclose([trend.get_xdata().min(), trend.get_xdata().max()], [utds_b.min(), utds_b.max()])
    dotted = np.concatenate([line.get_xdata() for line in ax_b.get_lines() if line.get_gid() == "extrapolated"])
    assert dotted.min() < 0.125 and dotted.max() > 16.0 and EXTRAPOLATED_NOTE in _legend_texts(ax_b)


def test_steps_to_threshold_draws_an_interval_some_resamples_never_close_as_open_upward(fitted):
    base = fitted["cr_base"].to_frame()
    j = 800.0
    row = base[(base["env"] == "env-b") & np.isclose(base["threshold"], j)].sort_values("utd").index[-1]
    base.loc[row, ["crossing_upper", "reached_frac"]] = [np.nan, 0.8]  # 20% of resamples never reach J
    never = base[(base["env"] == "env-a") & np.isclose(base["threshold"], j)].sort_values("utd").index[0]
    base.loc[never, ["crossing", "crossing_lower", "crossing_upper", "reached_frac"]] = [np.nan, np.nan, np.nan, 0.0]
    open_base = ThresholdCrossings.from_frames(base)
    fig = steps_to_threshold(fitted["cr_fit"], j, baseline=open_base)
    ax_a, ax_b = (ax for ax in fig.axes if ax.get_title())
    arrows = [t for t in ax_b.texts if t.get_gid() == "open_interval"]
    # env-a's lowest σ never reaches J at all: no crossing to draw an interval from, so no arrow either
    assert len(arrows) == 1 and not [t for t in ax_a.texts if t.get_gid() == "open_interval"]
    arrow = arrows[0]
    assert arrow.xy[1] == 1.0 and arrow.xyann[1] == pytest.approx(base.loc[row, "crossing"])  # crossing -> top edge
    assert arrow.arrow_patch is not None and "80%" in [t.get_text() for t in ax_b.texts]
    legend_texts = [t.get_text() for t in ax_a.get_legend().get_texts()]
    assert any(t.startswith("open: some resamples never reach J") for t in legend_texts)
    closed = steps_to_threshold(fitted["cr_fit"], j, baseline=fitted["cr_base"])  # every interval closed: no note
    assert not any("open" in t.get_text() for t in closed.axes[0].get_legend().get_texts())


def test_a_threshold_has_the_same_colour_in_every_panel_of_figure1_and_in_plots_f_and_g(fitted):
    frontier, eff = fitted["frontier"], fitted["eff"]
    assert len(frontier.optimum_) < len(eff.thresholds_)  # some J have no law: the subset must not set the scale
    fig = figure1({"synthetic": (frontier, eff)})
    panel_2, panel_3 = (ax for ax in fig.axes if ax.get_title().startswith(("(II)", "(III)")))
    j_law = frontier.optimum_.sort_values("budget")["threshold"].to_numpy(dtype=float)
    every_j = [line.get_color() for line in _solid_lines(panel_3)]  # one frontier curve per J with a law, low to high
    curve_colour = {j: to_rgba(c) for j, c in zip(np.sort(j_law), every_j, strict=True)}
    for label, mask in (("fitted J", "in_fit"), ("held-out J (extrapolated)", "held_out")):
        points = _collection(panel_2, label)
        drawn = frontier.optimum_[frontier.optimum_[mask]].sort_values("budget")["threshold"]
        np.testing.assert_allclose(points.get_facecolors(), [curve_colour[j] for j in drawn])
    for plot in (budget_extrapolation(frontier, thresholds=eff.thresholds_),
                 iso_performance(frontier, thresholds=eff.thresholds_)):
        bar = plot.axes[1]  # the colour bar
        assert bar.get_ylim() == pytest.approx((eff.thresholds_.min(), eff.thresholds_.max()))  # the full J scale
    f_lines = [line for line in iso_performance(frontier, thresholds=eff.thresholds_).axes[0].get_lines()
               if line.get_linestyle() == "-" and len(line.get_xdata()) > 2]
    np.testing.assert_allclose(to_rgba(f_lines[0].get_color()), curve_colour[np.sort(j_law)[0]])


def test_estimator_comparison_draws_laws_as_plot_h_over_finite_estimates_and_lists_missing_ones(fitted):
    grid = fitted["grid"]
    point = BestHyperparams(800.0, "point").fit(grid)
    table = point.best_.copy()
    a = table["env"].astype(str) == "env-a"
    low = table.loc[a, "utd"].min()
    table.loc[a & (table["utd"] == low), ["batch_size", "learning_rate"]] = np.nan  # no estimate at the lowest σ
    table.loc[a & (table["utd"] != low), "batch_size"] = np.resize([256.0, 360.0, 200.0, 310.0, 230.0],
                                                                     (a & (table["utd"] != low)).sum())  # flat
    point.best_ = table
    laws = {"point": HyperparamLaws(shared_slope=False).fit(point), "bootstrap": fitted["laws"]}
    fig = estimator_comparison({"point": point, "bootstrap": fitted["best"]}, env="env-a", laws=laws)
    ax_b = next(ax for ax in fig.axes if ax.get_title())
    fit = next(line for line in ax_b.get_lines() if line.get_label().startswith("point fit"))
    finite = table.loc[a & np.isfinite(table["batch_size"]), "utd"]
    np.testing.assert_allclose([fit.get_xdata().min(), fit.get_xdata().max()], [finite.min(), finite.max()])
    assert laws["point"].law("batch_size", "env-a").sign_undetermined("env-a")
    assert fit.get_linestyle() == "--" and "CI spans 0: sign undetermined" in fit.get_label()
    texts = [t.get_text() for t in ax_b.get_legend().get_texts()]
    assert f"no estimate (NaN) at σ = {low:g}: point" in texts
    boot = next(line for line in ax_b.get_lines() if line.get_label().startswith("bootstrap fit"))
    assert "95% CI [" in boot.get_label()  # every law line has its legend entry


def test_hparam_laws_draws_a_best_at_an_unreached_sigma_hollow_and_rings_grid_edge_points(fitted):
    best = copy.copy(fitted["best"])
    table = best.best_.copy()
    b = (table["env"].astype(str) == "env-b").to_numpy()
    low = table.loc[b, "utd"].min()
    table.loc[b & (table["utd"] == low).to_numpy(), "n_reached"] = 0  # no cell's all-seeds mean reaches J at low σ
    best.best_ = table
    fig = hparam_laws(best, fitted["laws"])
    ax_b = [ax for ax in fig.axes if ax.get_title()][2]  # env-b, batch size
    hollow = _errorbar_line(ax_b, "hollow: no cell's seed mean reaches J at this σ")
    assert list(np.asarray(hollow.get_xdata(), float)) == [low] and to_rgba(hollow.get_markerfacecolor()) == to_rgba(
        "white")
    filled = _errorbar_line(ax_b, "bootstrap estimate")
    assert low not in np.asarray(filled.get_xdata(), float) and to_rgba(filled.get_markerfacecolor()) == to_rgba(
        "black")
    edge = table[b & table["batch_size_at_edge"].to_numpy(dtype=bool)]
    rings = [c for c in ax_b.collections if c.get_label() == EDGE_NOTE]
    assert len(edge) == 1  # the fixture's env-b grid-best B at σ 8 is the grid's smallest
    np.testing.assert_allclose(rings[0].get_offsets(), edge[["utd", "batch_size"]].to_numpy())
    ax_b_lr = [ax for ax in fig.axes if ax.get_title()][3]  # env-b, learning rate: its own edge flags, none at the edge
    assert not table.loc[b, "learning_rate_at_edge"].any()
    assert not [c for c in ax_b_lr.collections if c.get_label() == EDGE_NOTE]
    ax_a = [ax for ax in fig.axes if ax.get_title()][0]  # every σ of env-a reached: nothing hollow
    assert not [c for c in ax_a.containers if c.get_label().startswith("hollow")]


def test_legends_sit_below_their_panel_and_hide_no_data(fitted):
    import io

    fit, base = fitted["fit"], fitted["base"]
    figures = {"e": pareto_frontier(*fit, baseline=base), "g": budget_extrapolation(fitted["frontier"]),
               "h": hparam_laws(fitted["best"], fitted["laws"], proposed_utds=[0.125, 16.0]),
               "b": steps_to_threshold(fitted["cr_fit"], 800.0, baseline=fitted["cr_base"])}
    for name, fig in figures.items():
        fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")  # lays the figure out
        panels = [ax for ax in fig.axes if ax.get_legend() is not None]
        assert panels, name
        for ax in panels:
            box, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
            assert box.y1 <= frame.y0, name  # the legend's top is under the axes' bottom
            labels = ax.xaxis.label.get_window_extent()
            assert box.y1 <= labels.y0 + 1, name  # and under the x-axis label


def _legend_texts(ax) -> list[str]:
    return [t.get_text().replace("\n", " ") for t in ax.get_legend().get_texts()] if ax.get_legend() else []


def _assert_dotted_beyond(ax, color, utd, x, measured) -> None:
    """The curve of ``color`` (x at σ = utd) is solid over the measured σ and dotted, thinner, beyond, with no gap."""
    lines = [line for line in ax.get_lines() if to_rgba(line.get_color()) == to_rgba(color) and len(line.get_xdata())
             and line.get_linestyle() in ("-", ":")]  # not a D_min asymptote (--) nor an iso-cost line (-.)
    solid = [line for line in lines if line.get_gid() != "extrapolated"]
    dotted = [line for line in lines if line.get_gid() == "extrapolated"]
    inside = (utd >= np.min(measured)) & (utd <= np.max(measured))
    assert len(solid) == 1 and (~inside).any()
    np.testing.assert_allclose(np.sort(solid[0].get_xdata()), np.sort(x[inside]))
    assert [line.get_linestyle() for line in dotted] == [":"] * len(dotted) and len(dotted) == 2  # below and above
    assert all(line.get_linewidth() < solid[0].get_linewidth() == FIT_LINE["lw"] for line in dotted)
    drawn = np.unique(np.concatenate([line.get_xdata() for line in lines]))
    np.testing.assert_allclose(drawn, np.unique(x))  # every point of the curve, each part meeting the next
    assert EXTRAPOLATED_NOTE in _legend_texts(ax)


def test_a_law_is_dotted_and_thinner_beyond_the_sigma_of_the_points_it_was_fitted_to(fitted):
    (_, e_fit), (_, e_base) = fitted["fit"], fitted["base"]
    ax = data_efficiency(e_fit, 800.0, baseline=e_base).axes[0]
    for eff, color in ((e_fit, FITTED["color"]), (e_base, BASELINE["color"])):
        law = [line.get_xdata() for line in ax.get_lines()
               if to_rgba(line.get_color()) == to_rgba(color) and line.get_linestyle() != "--"]
        grid = np.unique(np.concatenate(law))  # the law's σ grid
        _assert_dotted_beyond(ax, color, grid, grid, eff.points_["utd"])
    ax_c = normalized_time(e_fit).axes[0]
    assert sum(line.get_gid() == "extrapolated" for line in ax_c.get_lines()) == 2 * len(_solid_lines(ax_c))
    assert EXTRAPOLATED_NOTE in _legend_texts(ax_c)


def test_frontier_curves_are_dotted_where_their_sigma_lies_beyond_the_measured_sigma(fitted):
    frontier, eff = fitted["frontier"], fitted["eff"]
    j_law = np.sort(frontier.optimum_["threshold"].to_numpy(dtype=float))
    measured = eff.points_["utd"]
    fig = figure1({"synthetic": (frontier, eff)})
    panel_1, panel_3 = (ax for ax in fig.axes if ax.get_title().startswith(("synthetic", "(III)")))
    curve = frontier.curves_[np.isclose(frontier.curves_["threshold"], j_law[-1])]
    _assert_dotted_beyond(panel_1, "black", curve["utd"].to_numpy(), curve["data"].to_numpy(), measured)
    f_ax = iso_performance(frontier, thresholds=eff.thresholds_, efficiency=eff).axes[0]
    for ax in (panel_3, f_ax):
        for j, line in zip(j_law, _solid_lines(ax), strict=False):
            curve = frontier.curves_[np.isclose(frontier.curves_["threshold"], j)]
            _assert_dotted_beyond(ax, line.get_color(), curve["utd"].to_numpy(), curve["data"].to_numpy(), measured)
    plain = iso_performance(frontier).axes[0]  # no efficiency fit: nothing tells the measured σ, nothing dotted
    assert not [line for line in plain.get_lines() if line.get_gid() == "extrapolated"]
    assert EXTRAPOLATED_NOTE not in _legend_texts(plain)


def test_learning_curves_legend_sits_below_the_grid_and_says_which_line_is_which(fitted):
    import io

    cr, base = fitted["cr_fit"], fitted["cr_base"]
    fig = learning_curves(cr, baseline=base, utds=[0.25, 8.0], thresholds=[800.0])
    fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")  # lays the figure out
    with_legend = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert len(with_legend) == 1
    box = with_legend[0].get_legend().get_window_extent()
    assert all(box.y1 <= ax.xaxis.label.get_window_extent().y0 + 1 for ax in fig.axes if ax.get_visible())
    texts = _legend_texts(with_legend[0])
    assert texts[:2] == [FITTED["label"], BASELINE["label"]]
    thick, thin, dotted = texts[2:]
    assert thick.startswith("thick: isotonic (monotone non-decreasing) fit of the seed mean") and "crossings" in thick
    assert thin == "thin: raw seed mean"
    assert dotted.startswith("dotted: J = 800;")
    handles = with_legend[0].get_legend().legend_handles
    assert handles[2].get_linewidth() > handles[3].get_linewidth() and handles[4].get_linestyle() == ":"
    panel = next(ax for ax in fig.axes if ax.get_visible())
    drawn = [line for line in panel.get_lines() if len(line.get_xdata()) > 2]
    assert max(line.get_linewidth() for line in drawn) == handles[2].get_linewidth()  # the legend's thick is drawn
    assert min(line.get_linewidth() for line in drawn) == handles[3].get_linewidth()  # and its thin


def test_a_legend_note_writes_d_j_as_mathtext_like_the_axis_labels(fitted):
    import io

    frontier, eff = fitted["frontier"], fitted["eff"]
    no_law = [float(j) for j in eff.thresholds_ if not eff.is_law(j)]
    ax = pareto_frontier(frontier, eff, threshold=no_law[-1]).axes[0]
    note = next(t for t in _legend_texts(ax) if t.startswith("no frontier"))
    assert r"$\mathcal{D}_J$ is not a law" in note and "D_J" not in note.replace(r"\mathcal{D}_J", "")
    assert r"$\mathcal{D}_J$" in ax.get_xlabel()
    ax.figure.savefig(io.BytesIO(), format="png")  # the mathtext parses


def _label_boxes(fig) -> tuple[list, list]:
    """Each axes' bounding box and its annotations' boxes, once laid out and drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    return [(ax.bbox, [t.get_window_extent(renderer) for t in ax.texts]) for ax in fig.axes if ax.texts], renderer


def test_sigma_labels_of_crowded_points_move_apart_and_stay_inside_the_axes():
    # Isaac Gym's Figure 1 (I): σ = 8/n, long labels, the last three points closer than a label is wide
    utd = 8 / np.array([1024, 2048, 4096, 8192, 16384, 32768, 65536])
    data = np.array([9.2e7, 1.02e8, 1.6e8, 2.0e8, 2.7e8, 5.0e8, 1.0e9])
    rows = [{"env": "e", "utd": u, "threshold": 0.1, "crossing": d} for u, d in zip(utd, data, strict=True)]
    eff = DataEfficiency().fit(pd.DataFrame(rows))
    frontier = ComputeFrontier(delta=0.01, critic_params=1.0, batch_size=BatchSizeLaw({"e": (1.0, 0.0)}),
                               compute_unit="gradient_steps", higher_is_better=False).fit(eff)
    fig = figure1({"Isaac Gym": (frontier, eff)})
    [(frame, boxes)], _ = _label_boxes(fig)
    assert len(boxes) == len(utd)
    for k, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        assert not any(box.overlaps(other) for other in boxes[k + 1:])


def test_a_point_label_stays_at_the_upper_right_of_its_point_unless_that_is_taken_or_outside():
    fig, ax = new_axes(None)
    x, y = np.array([1.0, 2.0, 2.3, 10.0]), np.array([1.0, 1.0, 1.0, 1.0])
    ax.scatter(x, y)
    ax.set_xscale("log")
    ax.set_xlim(0.5, 10.5)
    labels = label_points(ax, x, y, ["alone", "crowded", "next", "edge"])
    _label_boxes(fig)
    assert labels[0].xyann == (5, 3) and labels[0].get_horizontalalignment() == "left"  # nothing in the way
    assert labels[1].xyann != (5, 3)  # its upper right holds the next point
    assert labels[3].get_horizontalalignment() == "right"  # at the right edge: extends to the left


def test_plot_c_draws_every_j_over_the_same_sigma_range_when_a_hard_j_lacks_a_point():
    utds = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    wiggle = (1.02, 0.97, 1.01, 0.99, 1.03, 0.98, 1.0)
    rows = [{"env": "e", "utd": u, "threshold": j, "crossing": (j / 800) * (2000.0 + (3000.0 / u) ** 0.8) * w}
            for u, w in zip(utds, wiggle, strict=True) for j in (600.0, 700.0) if (u, j) != (0.25, 700.0)]
    eff = DataEfficiency().fit(pd.DataFrame(rows))  # J = 700 never reached at σ = 0.25: no point there
    assert eff.is_law(600.0) and eff.is_law(700.0)
    ax = normalized_time(eff).axes[0]
    spans = {}
    for line in ax.get_lines():
        if len(line.get_xdata()):
            lo, hi = spans.get(line.get_color(), (np.inf, 0.0))
            spans[line.get_color()] = (min(lo, line.get_xdata().min()), max(hi, line.get_xdata().max()))
    assert len(spans) == 2 and len(set(spans.values())) == 1  # one σ range for every J (dotted where it has no point)


def test_titles_write_a_threshold_to_four_significant_digits():
    utds = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    wiggle = (1.02, 0.97, 1.01, 0.99, 1.03, 0.98, 1.0)
    j = 696.341  # a level of the paper's ladder, 1000 - logspace(...)
    rows = [{"env": "e", "utd": u, "threshold": j, "crossing": (2000.0 + (3000.0 / u) ** 0.8) * w}
            for u, w in zip(utds, wiggle, strict=True)]
    eff = DataEfficiency().fit(pd.DataFrame(rows))
    assert data_efficiency(eff).axes[0].get_title() == "Data efficiency, J = 696.3"
