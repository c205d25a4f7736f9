"""How often does the claims table's "D_J(σ) = D_min + (β/σ)^α at every J" pass when the law is true?

The claim (:func:`rlscale.analysis.claims.efficiency_claim`) is supported when EVERY J's env-normalised D_J fit
(:class:`rlscale.laws.efficiency.DataEfficiency`, seed-bootstrap intervals) is ``ok`` (not ``wide``, ``at_bound`` or
``exact``) with residual dof ≥ 1 and R²(log D) ≥ 0.9. The published cpu verdicts are "not shown" (DMC 3 of 10 J
pass, Gym 2 of 10, mostly ``wide``). This measures the claim's power at the embedded design: on synthetic fitted runs
of the embedded cpu fitted runs' shape (DMC: cartpole-swingup, σ 0.5-16, 8 seeds, 12.5k env steps, an evaluation
every 250; Gym: InvertedPendulum + Pendulum, σ 1-16, 8 seeds, 8k steps, every 100) whose TRUE data efficiency follows
the law exactly, how often each J passes and how often the claim reads "supported"; and, for the J that pass, the
coverage of the fit's own 95 % intervals (``conf_int``, percentile over the bootstrap refits) of D_min, s_0 and α,
with their median bias (D_min, s_0 in decades, log10(estimate/truth); α in its own units).

Curves: :func:`rlscale.laws.synthetic.make_sweep` through ``bench_baseline_calibration.synthetic`` (one call per
(task, σ) at the embedded fitted runs' B, η), score = 1000 (1 - exp(-ln 5 t / D_seed)) + N(0, eval_noise),
D_seed = D_e(σ) · exp(seed_noise · z), D_e(σ) = d_e (1 + (σ/s_0)^-α) (make_sweep's D_0(σ) with a per-task floor).
The law's parameters were fixed ONCE from the embedded fitted runs, before any calibration number (:func:`law_of`,
printed first): s_0 and α are the published normalised D_J fit's at the mid J (the 5th of the preset's 10: DMC
J = 412, Gym J = 647; the same fit as ``results/<bench>/analysis/efficiency_params.csv``, recomputed here through
this benchmark's path), DMC s_0 = 0.648, α = 1.50; Gym s_0 = 8.56, α = 0.847; the per-task floor d_e is that fit's
D_min times the task's share of the normalisation (its median crossing at that J over the median of the tasks'),
converted from time-to-J to the model's time-to-800 by ln 5 / ln(1000/(1000 - J)). The noise is
``bench_baseline_calibration.measure``'s, measured on the embedded fitted + baseline runs (DMC eval_noise 74.9,
seed_noise 0.296; Gym 146.6, 0.178), also run at x0.5 and x2 (both).

Truth per J: at σ the population seed-mean curve is F(t / D(σ)) with F fixed, so its crossing of J is
h_J · D(σ) exactly, h_J solving E_z[exp(-ln 5 h / e^(seed_noise z))] = 1 - J/1000 (Gauss-Hermite); the normalised
points are then h_J · median_e(d_e) · (1 + (σ/s_0)^-α): the true D_min at J is h_J · median_e(d_e), s_0 and α are
the same at every J. What the chain's crossing adds on top (the first logged step at or past J, evaluation noise
on the seed mean) is part of the design being measured.

Code path: the preset's options through :func:`rlscale.pipeline.load_params` (``params.yaml`` presets.cpu), as the
pipeline reads them. A full :class:`~rlscale.analysis.Analysis` fit per replicate also fits the compute frontier,
the per-task and held-out D_J fits the claim does not read; each replicate calls the lowest public pieces the chain's
``fit_frontier`` calls for the claim instead: :func:`~rlscale.analysis.steps.load_runs` (via the baseline benchmark's
``load``), :func:`~rlscale.analysis.steps.crossings_of`, :func:`~rlscale.laws.frontier.select_configs`,
:func:`~rlscale.laws.frontier.crossings_table`, ``DataEfficiency(normalize=True, ...)`` and
:func:`~rlscale.analysis.claims.efficiency_claim`. On the embedded fitted table and on replicate 0 of every
(benchmark, noise) cell the full ``Analysis.fit`` + ``claims`` runs too, and its D_J table (``params_``) and verdict
must equal this path's (else exit 2). No power target is set: the table is the result (exit 0).

Default 400 replicates per (benchmark, noise) cell, about 8 min on one core (0.2 s a replicate): the Monte-Carlo SE
of a rate is at most 2.5 points (printed beside each).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_efficiency_calibration.py [--replicates 400] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import bench_baseline_calibration as base  # noqa: E402

from rlscale.analysis import Analysis  # noqa: E402
from rlscale.analysis.claims import SUPPORTED, claims, efficiency_claim, passing_levels  # noqa: E402
from rlscale.analysis.steps import crossings_of, frontier_thresholds  # noqa: E402
from rlscale.laws.efficiency import ALL, DataEfficiency  # noqa: E402
from rlscale.laws.frontier import crossings_table, select_configs  # noqa: E402
from rlscale.pipeline import load_params  # noqa: E402

ROOT = base.ROOT
NOISE_SCALES = base.NOISE_SCALES
LN5 = np.log(5.0)
MID = 4  # the 5th of the preset's 10 thresholds
PARAMS = {"d_min": "D_min", "utd_scale": "s_0", "exponent": "α"}


def fit_efficiency(table: pd.DataFrame, analysis: Analysis) -> DataEfficiency:
    """The fitted runs' env-normalised D_J fit as the chain's fit_frontier makes it (seed bootstrap)."""
    o = analysis.resolved_options()
    thresholds = frontier_thresholds(str(table["benchmark"].iloc[0]), analysis.thresholds, analysis.j_lo)
    crossings = crossings_of(table, thresholds, analysis.n_bootstrap, o["seed"], o["crossing"])
    points, boot = crossings_table(crossings, select_configs(crossings))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DataEfficiency(normalize=True, max_ci_decades=analysis.max_ci_decades,
                              normalize_by="task" if o["dj_normalize"] == "per_task" else "threshold",
                              loss=o["dj_loss"]).fit(points, boot)


def same_as_analysis(fitted: pd.DataFrame | Path, eff: DataEfficiency, verdict: str, analysis: Analysis,
                     what: str) -> None:
    """The full Analysis.fit + claims on the same table must give this path's D_J table and verdict."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = Analysis(**analysis.get_params()).fit(None, fitted=fitted)
    mine = [c for c in claims(full) if c.key == "data_efficiency"][0].verdict
    a, b = full.fitted_.efficiency.params_, eff.params_
    num = ["threshold", "d_min", "exponent", "utd_scale", "r2_log", "df_resid"]
    if (a.shape != b.shape or not np.allclose(a[num].to_numpy(float), b[num].to_numpy(float), equal_nan=True)
            or list(a["status"]) != list(b["status"]) or mine != verdict):
        print(f"FAIL: the fast path differs from Analysis.fit on {what} ({mine} against {verdict})", file=sys.stderr)
        raise SystemExit(2)


def law_of(bench: str, analysis: Analysis) -> dict:
    """The law fixed once from the embedded fitted runs: (s_0, α) and D_min of the mid-J normalised fit, per-task
    floors d_e in the model's time-to-800."""
    path = ROOT / f"data/runs/{bench}_fitted.parquet"
    eff = fit_efficiency(base.load(path, analysis), analysis)
    same_as_analysis(path, eff, efficiency_claim(eff).verdict, analysis, f"the embedded {bench} fitted runs")
    mid = float(eff.thresholds_[MID])
    r = eff.params_[(eff.params_["group"] == ALL) & np.isclose(eff.params_["threshold"], mid)].iloc[0]
    norm = eff.normalization_[np.isclose(eff.normalization_["threshold"], mid)]
    to_800 = LN5 / np.log(1000.0 / (1000.0 - mid))
    floors = {str(n.env): float(r.d_min * n.median / n.scale * to_800) for n in norm.itertuples(index=False)}
    return {"mid": mid, "s0": float(r.utd_scale), "alpha": float(r.exponent), "d_min_mid": float(r.d_min),
            "status_mid": str(r.status), "floors": floors, "passing": passing_levels(eff),
            "verdict": efficiency_claim(eff).verdict}


def seed_mean_factor(j: float, seed_noise: float) -> float:
    """h_J: the population seed-mean curve 1000 (1 - E exp(-ln 5 t / (D e^(s z)))) reaches J at t = h_J · D."""
    from scipy import optimize

    z, w = np.polynomial.hermite_e.hermegauss(40)
    w = w / w.sum()
    target = 1.0 - j / 1000.0
    return float(optimize.brentq(lambda h: (w * np.exp(-LN5 * h / np.exp(seed_noise * z))).sum() - target,
                                 1e-6, 1e3))


def truth(law: dict, thresholds: np.ndarray, seed_noise: float) -> pd.DataFrame:
    """Per J the true (D_min, s_0, α) of the normalised points (the module docstring)."""
    scale = float(np.median(list(law["floors"].values())))
    return pd.DataFrame({"d_min": [seed_mean_factor(j, seed_noise) * scale for j in thresholds],
                         "utd_scale": law["s0"], "exponent": law["alpha"]},
                        index=pd.Index(thresholds, name="threshold"))


def replicate(bench: str, m: dict, law: dict, scale: float, rep: int, analysis: Analysis, true: pd.DataFrame,
              check: bool) -> tuple[list[dict], dict]:
    """One replicate: per-J pass and, where it passes, interval coverage and log errors; the claim."""
    d = {(e, u): law["floors"][e] * (1.0 + (u / law["s0"]) ** -law["alpha"]) for e, u in m["d800"]}
    code = 100 + ["dmc", "gym"].index(bench) * 3 + NOISE_SCALES.index(scale)  # apart from the baseline benchmark's
    raw = base.synthetic(bench, {**m, "d800": d}, "fitted", "null", scale, code * 10_000 + rep, analysis)
    eff = fit_efficiency(base.load(raw, analysis), analysis)
    claim = efficiency_claim(eff)
    if check:
        same_as_analysis(raw, eff, claim.verdict, analysis, f"{bench} x{scale:g} replicate {rep}")
    ok = passing_levels(eff)
    stats = {s["statistic"]: s["estimate"] for s in claim.stats}
    assert int(stats["J levels passing"]) == int(ok.sum()), (bench, rep)
    ci = eff.conf_int(0.05)
    params = eff.params_[eff.params_["group"] == ALL].set_index("threshold")
    rows = []
    for j, passed in ok.items():
        row = {"threshold": j, "pass": bool(passed), "status": params.loc[j, "status"]}
        if passed:
            for name in PARAMS:
                lo, hi = ci.loc[(ALL, j, name)]
                t, est = float(true.loc[j, name]), float(params.loc[j, name])
                row[f"cov_{name}"] = bool(lo <= t <= hi)
                row[f"err_{name}"] = est - t if name == "exponent" else float(np.log10(est / t))
        rows.append(row)
    return rows, {"supported": claim.verdict == SUPPORTED, "k": int(ok.sum())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=400, help="synthetic replicates per cell (default: 400)")
    parser.add_argument("--quick", action="store_true", help="20 replicates, measured noise (x1) only")
    parser.add_argument("--benchmarks", nargs="+", default=list(base.BENCHES), choices=list(base.BENCHES))
    args = parser.parse_args()
    n_rep = 20 if args.quick else args.replicates
    scales = (1.0,) if args.quick else NOISE_SCALES
    start, load_avg = time.perf_counter(), os.getloadavg()
    summary, per_j = [], []
    print(f"# D_J(σ) claim calibration: {n_rep} replicates per cell, load average {load_avg[0]:.2f}\n")
    for bench in args.benchmarks:
        analysis = Analysis(**load_params(ROOT / "params.yaml", bench, "cpu").analysis)
        m = base.measure(bench, analysis)
        law = law_of(bench, analysis)
        thresholds = np.asarray(law["passing"].index, dtype=float)
        print(f"## {bench}: the law and noise, fixed from the embedded runs\n\nmid-J (J={law['mid']:g}) fit: D_min "
              f"{law['d_min_mid']:.0f}, s_0 {law['s0']:.3g}, α {law['alpha']:.3g} ({law['status_mid']}); floors "
              "d_e (model's time to 800): " + ", ".join(f"{e} {v:.0f}" for e, v in law["floors"].items())
              + f"; eval_noise {m['eval_noise']:.1f}, seed_noise {m['seed_noise']:.3f}; the embedded runs through "
              f"this path: {int(law['passing'].sum())} of {len(thresholds)} J pass ({law['verdict']})\n")
        for scale in scales:
            true = truth(law, thresholds, scale * m["seed_noise"])
            rows, claim_rows = [], []
            for rep in range(n_rep):
                r, c = replicate(bench, m, law, scale, rep, analysis, true, check=rep == 0)
                rows += r
                claim_rows.append(c)
            frame, cl = pd.DataFrame(rows), pd.DataFrame(claim_rows)
            passed = frame[frame["pass"]]
            s = {"benchmark": bench, "noise": scale, "claim supported": base.pct(cl["supported"].mean(), n_rep),
                 "mean J passing (of 10)": f"{cl['k'].mean():.2f}",
                 "median J passing": f"{cl['k'].median():g}",
                 "J pass, all J": base.pct(frame["pass"].mean(), len(frame))}
            for name, label in PARAMS.items():
                if len(passed):
                    s[f"{label} coverage"] = f"{100 * passed[f'cov_{name}'].mean():.1f}"
                    s[f"{label} median bias"] = f"{passed[f'err_{name}'].median():+.3f}"
            summary.append(s)
            for j, g in frame.groupby("threshold"):
                st = g["status"].value_counts(normalize=True)
                gp = g[g["pass"]]
                per_j.append({"benchmark": bench, "noise": scale, "J": j, "pass": base.pct(g["pass"].mean(), len(g)),
                              "wide": f"{100 * st.get('wide', 0):.0f}",
                              "at_bound": f"{100 * st.get('at_bound', 0):.0f}",
                              "exact/not fitted": f"{100 * (st.get('exact', 0) + st.get('not_fitted', 0)):.0f}",
                              **{f"{label} cov.": f"{100 * gp[f'cov_{name}'].mean():.0f}" if len(gp) else ""
                                 for name, label in PARAMS.items()}})
            print(f"- {bench} x{scale:g} done at {time.perf_counter() - start:.0f} s", flush=True)
    print("\n## Claim level (± Monte-Carlo SE, %); coverage and bias over the passing (replicate, J) "
          "(D_min, s_0: log10 decades; α: units)\n")
    print(pd.DataFrame(summary).fillna("").to_markdown(index=False))
    print("\n## Per J (± Monte-Carlo SE, %): pass rate, failing statuses, 95 % coverage where it passes\n")
    print(pd.DataFrame(per_j).to_markdown(index=False))
    print(f"\n{time.perf_counter() - start:.0f} s on one core, load average at start {load_avg[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
