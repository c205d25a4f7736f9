"""Fidelity: where our SAC's learning curves fall among the authors' own seeds, at cells of their Gym grid.

Trains the runs of a grid sweep file (default ``benchmarks/fidelity_gym.yaml``) with ``rlscale sweep`` (resumable:
re-running continues where it stopped, finished runs are skipped), collects them with ``rlscale collect``, reads
the authors' grid runs (``gym/gym_sweep.zip`` of their analysis code, the training-episode return their laws use)
and reports, per configuration and per kind of our return:

- ``return``: mean of our deterministic evaluation episodes (a different metric from theirs);
- ``train_return``: mean of our training (exploration) episodes that ended in the 1000 env steps up to the row
  (``train_return_window``), the metric the authors log and fit; reported when our curves have that column;

at every env step we logged after the authors' random-action warm-up (``--skip-steps``, 5000: their curves stay at
the random-policy level up to there):

- where our seeds' median falls in their seed distribution (percentile, and whether it is inside their
  interquartile range), and the share of our individual points inside their min-max and their IQR;
- the area between the median curves divided by the span (the mean gap), on the paper's 0-1000 score of the
  grid analysis (1000 x return / max return, :data:`rlscale.laws.normalize.MAX_RETURN_PRESETS` ``paper-grid``);
- each seed's mean return over the compared steps (one number per independent run, so no step-to-step
  correlation): the difference of our mean from theirs with Welch's 95% interval, and the Mann-Whitney U test's
  two-sided p;
- threshold crossings (the paper's method: seed mean, isotonic smoothing, first step >= J, 100 seed-bootstrap
  resamples) for levels J set from the authors' data alone: 25/50/75% of the way from their random-policy level
  to their smoothed mean at the last compared step;
- the sigma effect, which is what the laws fit: where our runs hold more than one sigma at a (task, B, eta), the
  data to reach each J at sigma relative to the smallest sigma, D_J(sigma) / D_J(sigma_0), ours and theirs at the
  same J (set as above from their sigma_0 curve), and ours divided by theirs with a 95% interval from 1000
  independent seed-bootstrap resamples of each of the four sets of runs. A lag that stretches every sigma alike
  leaves this at 1 and the laws' exponents where theirs are.

Beside our share of medians inside their IQR it prints what a faithful replica would score: the chance that the
median of as many draws as we have seeds lies inside the IQR of as many as they have (about 0.52 for 3 against
8), and the same statistic for every choice of as many of the authors' seeds as we have, held against their other
seeds.

Their seeds may be selected: the authors' collection script keeps, of each configuration with more than 8 runs, the
8 with the highest mean training return over the whole run, in that order (qscaled's ``trim``). The report says,
per configuration, whether their seeds are in exactly that order (by chance 1 in n!): then they are the best 8 of
more runs, and an unselected replica would sit lower. ``--keep-best N`` applies the same rule to our seeds (the
mean of our training return over our whole run) before comparing, for a like-for-like check with enough seeds
(their selection ranks 500k-1M step runs, so ranking our short runs selects harder on the early steps: an upper
bound on the effect). The spread of the per-seed means is compared too (Brown-Forsythe test): selection narrows
it.

The authors' runs are read from ``RLSCALE_AUTHORS_DATA``, else from the download cache
(``rlscale.authors.local_path``; nothing is downloaded); without them the benchmark stops with one line. Writes a
markdown report to stdout and JSON to ``--json`` (default ``RUNS/fidelity.json``); exits 1 when, for any
configuration, the share of our medians inside the authors' IQR is below ``--target`` (0.5, issue 19's "at most
points") for the like-for-like metric (``train_return``, else ``return``).

    .venv/bin/python benchmarks/bench_fidelity.py [--sweep FILE] [--runs runs/<FILE stem>] [--workers 2]
        [--report-only]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
FRACTIONS = (0.25, 0.5, 0.75)  # threshold levels between the authors' random-policy level and their final mean
MAX_REPLICA_SUBSETS = 500
SIGMA_BOOTSTRAP = 1000  # resamples per set of runs for the sigma effect's interval


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, default=REPO / "benchmarks" / "fidelity_gym.yaml",
                        help="grid sweep file of our runs (default: benchmarks/fidelity_gym.yaml)")
    parser.add_argument("--runs", type=Path, default=None,
                        help="folder of the run folders (default: runs/<the sweep file's name>: a sweep refuses a "
                             "folder holding another sweep's runs)")
    parser.add_argument("--workers", type=int, default=2, help="concurrent training processes (default 2)")
    parser.add_argument("--no-vectorize", action="store_true",
                        help="one process per run instead of one per (env, sigma) chunk of seeds")
    parser.add_argument("--device", default="auto", help="rlscale sweep --device (default auto)")
    parser.add_argument("--report-only", action="store_true", help="train nothing; report the runs there are")
    parser.add_argument("--include-unfinished", action="store_true",
                        help="also report unfinished runs up to where they stopped")
    parser.add_argument("--skip-steps", type=int, default=5000,
                        help="compare env steps after this many (the authors' random-action warm-up; default 5000)")
    parser.add_argument("--target", type=float, default=0.5,
                        help="least share of compared steps with our median inside the authors' IQR (default 0.5)")
    parser.add_argument("--keep-best", type=int, default=None, metavar="N",
                        help="compare only our N seeds with the highest mean training return over the run, per "
                             "configuration (the authors' own selection rule; default: every seed)")
    parser.add_argument("--json", type=Path, default=None, help="JSON report (default: RUNS/fidelity.json)")
    args = parser.parse_args()
    args.runs = args.runs or REPO / "runs" / args.sweep.stem

    from rlscale.authors import ENV_DATA, local_path

    authors = local_path("gym_sweep")
    if authors is None:
        print(f"bench_fidelity: error: the authors' Gym grid runs are neither in {ENV_DATA} nor in the download "
              f"cache; set {ENV_DATA} to the folder that holds gym/gym_sweep.zip (the authors' qscaled download), or "
              "fetch it with 'rlscale import authors gym_sweep'", file=sys.stderr)
        return 2
    try:
        configs = _sweep_configs(args.sweep)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"bench_fidelity: error: {args.sweep}: {exc}", file=sys.stderr)
        return 2

    train_s = None
    if not args.report_only:
        cmd = [sys.executable, "-m", "rlscale.cli", "sweep", str(args.sweep), "-o", str(args.runs),
               "--workers", str(args.workers), "--device", args.device,
               *([] if args.no_vectorize else ["--vectorize"])]
        start = time.perf_counter()
        code = subprocess.run(cmd, stdout=sys.stderr).returncode  # stdout stays the report
        train_s = time.perf_counter() - start
        if code not in (0, 1):  # 1: some run failed; the others are still reported
            print(f"bench_fidelity: error: rlscale sweep exited with {code}", file=sys.stderr)
            return 2

    table_path = args.runs / "fidelity_runs.parquet"
    cmd = [sys.executable, "-m", "rlscale.cli", "collect", str(args.runs), "-o", str(table_path),
           *(["--include-unfinished"] if args.include_unfinished else [])]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"bench_fidelity: error: rlscale collect: {done.stderr.strip().splitlines()[-1]}", file=sys.stderr)
        return 2
    ours = pd.read_parquet(table_path)
    ours = ours.merge(configs, on=["env", "utd", "batch_size", "learning_rate"])  # only this sweep's runs

    from rlscale.importers import import_qscaled

    theirs = import_qscaled(authors, returns_key="episode.return")
    if args.keep_best is not None and args.keep_best < 1:
        print(f"bench_fidelity: error: --keep-best must be at least 1, got {args.keep_best}", file=sys.stderr)
        return 2
    report = compare(ours, theirs, skip_steps=args.skip_steps, keep_best=args.keep_best)
    report.update(sweep=str(args.sweep), runs=str(args.runs), authors=str(authors), target=args.target,
                  train_wall_s=train_s, run_wall_s=_run_wall(ours), agent_settings=_agent_settings(args.runs, ours),
                  load_average=list(os.getloadavg()),
                  cpus=os.cpu_count(), generated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    print(to_markdown(report))
    out = args.json or args.runs / "fidelity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, default=_jsonable))
    tmp.replace(out)
    print(f"\nJSON: {out}")
    missed = [r for r in report["configs"] if r["primary"] and not r["median_in_iqr"] >= args.target]
    for r in missed:
        print(f"MISSED: {r['env']} sigma={r['utd']:g}: {r['median_in_iqr']:.2f} of our {r['kind']} medians inside the "
              f"authors' IQR (target {args.target:g})", file=sys.stderr)
    return 1 if missed else 0


def _sweep_configs(path: Path) -> pd.DataFrame:
    """The (env, utd, batch_size, learning_rate) grid of a grid-mode sweep file, env ids without the backend."""
    from rlscale import io

    doc = io.read_yaml(path, "sweep file")
    if doc.get("mode", "grid") != "grid":
        raise ValueError("the fidelity benchmark takes grid-mode sweep files")
    def as_list(value: object) -> list:
        return value if isinstance(value, list) else [value]

    envs = [str(e).partition(":")[2] or str(e) for e in as_list(doc["envs"])]
    rows = itertools.product(envs, as_list(doc["utd"]), as_list(doc["batch_size"]), as_list(doc["learning_rate"]))
    return pd.DataFrame([(e, float(u), int(b), float(lr)) for e, u, b, lr in rows],
                        columns=["env", "utd", "batch_size", "learning_rate"])


def _agent_settings(runs: Path, ours: pd.DataFrame) -> dict[str, list]:
    """Every run setting outside the grid, with the values the compared runs were trained with (their
    config.json as rlscale reads it: a run from before a setting existed shows the value it had then)."""
    from rlscale.errors import RlscaleError
    from rlscale.train.config import RunConfig

    grid = {"env", "utd", "batch_size", "learning_rate", "seed", "env_steps"}
    values: dict[str, set] = {}
    for run_id in ours["run_id"].dropna().unique() if "run_id" in ours else []:
        path = runs / str(run_id) / "config.json"
        try:
            settings = RunConfig.from_dict(json.loads(path.read_text())["settings"], source=str(path)).to_dict()
        except (OSError, ValueError, KeyError, RlscaleError):
            continue
        for key, value in settings.items():
            if key not in grid:
                values.setdefault(key, set()).add(json.dumps(value))
    return {key: [json.loads(v) for v in sorted(vals)] for key, vals in sorted(values.items())}


def _run_wall(ours: pd.DataFrame) -> float | None:
    """Sum over configurations of their longest run's wall time: the training time when the runs of one
    configuration share a vectorised process and the configurations run one after another."""
    if "wall_s" not in ours:
        return None
    return float(ours.groupby(["env", "utd", "batch_size", "learning_rate"])["wall_s"].max().sum())


# ---------------------------------------------------------------------------------------------- comparison
def compare(ours: pd.DataFrame, theirs: pd.DataFrame, *, skip_steps: int, keep_best: int | None = None) -> dict:
    """Every statistic of the report, per configuration of ``ours`` and per kind of our return; with
    ``keep_best``, of our best ``keep_best`` seeds per configuration only (:func:`best_seeds`)."""
    from rlscale.laws.normalize import MAX_RETURN_PRESETS

    max_return = MAX_RETURN_PRESETS["paper-grid"]
    kinds = [k for k in ("train_return", "return") if k in ours.columns and ours[k].notna().any()]
    rows, missing, kept = [], [], []
    keys = ["env", "utd", "batch_size", "learning_rate"]
    for key, mine in ours.groupby(keys, sort=True):
        seeds_run = int(mine["seed"].nunique())
        if keep_best is not None:
            mine = best_seeds(mine, keep_best, kinds[0])
        kept.append(mine)
        cfg = dict(zip(keys, key, strict=True))
        ref = theirs[(theirs["env"] == cfg["env"]) & np.isclose(theirs["utd"], cfg["utd"])
                     & (theirs["batch_size"] == cfg["batch_size"]) & np.isclose(theirs["learning_rate"],
                                                                               cfg["learning_rate"])]
        if ref.empty:
            missing.append(cfg)
            continue
        ref_wide = ref.pivot_table(index="env_step", columns="seed", values="return").sort_index()
        selection = {"authors_selected": authors_selected(ref_wide),
                     "ours_selected": {"kept": int(mine["seed"].nunique()), "of": seeds_run, "by": kinds[0]}}
        for kind in kinds:
            wide = mine.pivot_table(index="env_step", columns="seed", values=kind, dropna=False).sort_index()
            steps = wide.index.to_numpy()
            steps = steps[(steps > skip_steps) & (steps <= ref_wide.index.max())]
            if steps.size == 0:
                continue
            scale = 1000.0 / max_return[cfg["env"]] if cfg["env"] in max_return else np.nan
            row = {**cfg, "kind": kind, "primary": kind == kinds[0],
                   **_distribution_stats(wide.loc[steps].to_numpy(), _interp_seeds(ref_wide, steps), steps, scale)}
            row["seed_means"] = _seed_means(wide.loc[steps].to_numpy(), _interp_seeds(ref_wide, steps), scale)
            row.update(selection)
            row["crossings"] = _crossings(mine, ref, kind, steps, skip_steps)
            row["train_wall_s"] = float(mine["wall_s"].max()) if "wall_s" in mine else None
            rows.append(row)
    effect = [e for kind in kinds for e in sigma_effect(pd.concat(kept), theirs, kind, skip_steps)] if kept else []
    return {"configs": rows, "kinds": kinds, "skip_steps": skip_steps, "no_reference": missing, "keep_best": keep_best,
            "sigma_effect": effect,
            "thresholds": {"fractions": list(FRACTIONS), "rule": "J = r0 + f (r_end - r0): r0 the authors' seed mean "
                           "over their warm-up rows, r_end their isotonic seed-mean curve at the last compared step"}}


def sigma_effect(ours: pd.DataFrame, theirs: pd.DataFrame, kind: str, skip_steps: int) -> list[dict]:
    """D_J(sigma) / D_J(sigma_0) for our ``kind`` and the authors' training return, per (task, B, eta) of ours with
    more than one sigma, and ours divided by theirs with a seed-bootstrap interval.

    The same J for every sigma: set from the authors' sigma_0 curve as in :func:`_crossings`, up to the last env
    step every sigma of ours reached. The four sets of runs (ours and theirs at sigma_0 and sigma) are resampled
    independently; the interval is over the resamples in which all four reach J.
    """
    from rlscale.laws.thresholds import ThresholdCrossings

    out = []
    for (env, bs, lr), mine in ours.groupby(["env", "batch_size", "learning_rate"], sort=True):
        ref = theirs[(theirs["env"] == env) & (theirs["batch_size"] == bs) & np.isclose(theirs["learning_rate"], lr)]
        sigmas = sorted(set(mine["utd"]) & set(ref["utd"]))
        if len(sigmas) < 2:
            continue
        last = int(min(g["env_step"].max() for _, g in mine.groupby("utd")))
        parts, levels = [], []
        for sigma in sigmas:  # ours at the steps they logged, the authors' seeds interpolated there
            cell, theirs_cell = mine[np.isclose(mine["utd"], sigma)], ref[np.isclose(ref["utd"], sigma)]
            steps = np.sort(cell["env_step"].unique())
            steps = steps[(steps > skip_steps) & (steps <= min(last, theirs_cell["env_step"].max()))]
            authors = _authors_at(theirs_cell, steps)
            levels = levels or _levels(theirs_cell, authors, skip_steps)  # J from the authors' sigma_0 curve
            parts += [cell[cell["env_step"].isin(steps)].assign(value=cell[kind], benchmark="ours"),
                      authors.assign(benchmark="authors")]
        both = pd.concat(parts, ignore_index=True)
        fit = ThresholdCrossings(levels, n_bootstrap=SIGMA_BOOTSTRAP, random_state=0, value_column="value").fit(both)
        index = {(b, float(u)): i for i, (b, u) in enumerate(zip(fit.configs_["benchmark"], fit.configs_["utd"],
                                                                 strict=True))}
        for sigma in sigmas[1:]:
            for j, (f, level) in enumerate(zip(FRACTIONS, levels, strict=True)):
                point, boot = {}, {}
                for side in ("ours", "authors"):
                    i0, i1 = index[(side, float(sigmas[0]))], index[(side, float(sigma))]
                    point[side] = fit.crossing_[i1, j] / fit.crossing_[i0, j]
                    boot[side] = fit.bootstrap_[i1, j] / fit.bootstrap_[i0, j]
                rel = boot["ours"] / boot["authors"]
                ok = np.isfinite(rel)
                lo, hi = np.quantile(rel[ok], [0.025, 0.975]) if ok.any() else (np.nan, np.nan)
                out.append({"env": env, "batch_size": int(bs), "learning_rate": float(lr), "kind": kind,
                            "sigma_0": float(sigmas[0]), "sigma": float(sigma), "fraction": f, "level": level,
                            "ours": _num(point["ours"]), "authors": _num(point["authors"]),
                            "ours_over_authors": _num(point["ours"] / point["authors"]), "lo": _num(lo),
                            "hi": _num(hi), "reached_frac": float(ok.mean())})
    return out


def best_seeds(mine: pd.DataFrame, n: int, kind: str) -> pd.DataFrame:
    """The rows of our ``n`` seeds with the highest mean ``kind`` over their whole run: the rule by which the
    authors' collection script keeps 8 runs of a configuration (qscaled ``BaseCollector.trim``)."""
    score = mine.groupby("seed")[kind].mean().sort_values(ascending=False, kind="stable")
    return mine[mine["seed"].isin(score.index[:n])]


def authors_selected(ref_wide: pd.DataFrame) -> dict:
    """Whether the authors' seeds of one configuration [steps, seeds] are the best of more runs.

    Their collector reorders a configuration's runs only when it had more than it keeps, and then lists the kept
    ones from the highest mean training return over the whole run down. Seeds in exactly that order happen by
    chance with probability 1/n! (ties aside), so the order is the selection's signature.
    """
    means = ref_wide.mean(axis=0, skipna=True).to_numpy()
    n = int(means.size)
    return {"descending": bool(n > 1 and np.all(np.diff(means) <= 0)), "seeds": n,
            "chance": 1.0 / math.factorial(n), "run_means": [float(x) for x in means]}


def _interp_seeds(ref_wide: pd.DataFrame, steps: np.ndarray) -> np.ndarray:
    """The authors' seeds at our env steps [steps, seeds], linear in env step (their Walker2d/Ant/Humanoid rows
    sit at 1, 1001, 2001, ... where HalfCheetah's sit at 1000, 2000, ...)."""
    x = ref_wide.index.to_numpy(dtype=float)
    cols = [np.interp(steps, x[ok], y[ok], left=np.nan, right=np.nan)
            for y in ref_wide.to_numpy().T for ok in [~np.isnan(y)]]
    return np.stack(cols, axis=1)


def _authors_at(ref: pd.DataFrame, steps: np.ndarray) -> pd.DataFrame:
    """One cell of the authors' runs as a run table at our env steps (:func:`_interp_seeds`), ``value`` = return."""
    wide = ref.pivot_table(index="env_step", columns="seed", values="return").sort_index()
    at = pd.DataFrame(_interp_seeds(wide, steps), index=pd.Index(steps, name="env_step"), columns=wide.columns)
    table = at.melt(ignore_index=False, value_name="return").reset_index().dropna(subset=["return"])
    first = ref.iloc[0]
    return table.assign(**{c: first[c] for c in ("benchmark", "env", "algo", "utd", "batch_size", "learning_rate",
                                                  "critic_params")}, value=table["return"])


def _distribution_stats(mine: np.ndarray, ref: np.ndarray, steps: np.ndarray, scale: float) -> dict:
    """Where our seeds [steps, n] fall among the authors' seeds [steps, m] at each step."""
    from scipy.stats import percentileofscore

    med = np.nanmedian(mine, axis=1)
    lo, q1, rmed, q3, hi = np.nanpercentile(ref, [0, 25, 50, 75, 100], axis=1)
    pct = np.array([percentileofscore(r[~np.isnan(r)], m, kind="mean") for r, m in zip(ref, med, strict=True)])
    present = ~np.isnan(mine)
    gap = med - rmed
    span = steps[-1] - steps[0]
    mean_gap = float(np.trapezoid(gap, steps) / span) if span > 0 else float(gap[0])
    mean_abs_gap = float(np.trapezoid(np.abs(gap), steps) / span) if span > 0 else float(abs(gap[0]))
    return {
        "n_seeds": int(present.any(axis=0).sum()), "n_seeds_authors": int(ref.shape[1]), "n_steps": int(steps.size),
        "first_step": int(steps[0]), "last_step": int(steps[-1]),
        "median_in_iqr": float(np.mean((med >= q1) & (med <= q3))),
        "median_in_iqr_replica": _replica_share(ref, mine.shape[1]),
        "points_in_range": float(((mine >= lo[:, None]) & (mine <= hi[:, None]))[present].mean()),
        "points_in_iqr": float(((mine >= q1[:, None]) & (mine <= q3[:, None]))[present].mean()),
        "median_percentile": float(np.mean(pct)), "mean_gap_return": mean_gap, "mean_abs_gap_return": mean_abs_gap,
        "mean_gap_score": mean_gap * scale, "mean_abs_gap_score": mean_abs_gap * scale,
        "steps": [{"env_step": int(s), "authors": dict(zip(("min", "q1", "median", "q3", "max"),
                                                            map(float, v), strict=True)),
                   "ours_median": float(m), "ours": [float(x) for x in row], "percentile": float(p)}
                  for s, *v, m, row, p in zip(steps, lo, q1, rmed, q3, hi, med, mine, pct, strict=True)],
    }


def _seed_means(mine: np.ndarray, ref: np.ndarray, scale: float) -> dict:
    """Each seed's mean over the compared steps, ours [steps, n] against theirs [steps, m]: Welch's interval on
    the difference of the means and the Mann-Whitney U test (seeds are independent runs; steps of one are not)."""
    from scipy.stats import levene, mannwhitneyu, ttest_ind

    ours, theirs = np.nanmean(mine, axis=0), np.nanmean(ref, axis=0)
    ours, theirs = ours[~np.isnan(ours)], theirs[~np.isnan(theirs)]
    welch = ttest_ind(ours, theirs, equal_var=False)
    ci = welch.confidence_interval(0.95)
    return {"ours": ours.tolist(), "authors": theirs.tolist(), "difference": float(ours.mean() - theirs.mean()),
            "difference_lower": float(ci.low), "difference_upper": float(ci.high), "welch_dof": float(welch.df),
            "mannwhitney_p": float(mannwhitneyu(ours, theirs).pvalue), "score_per_return": scale,
            "sd_ours": float(ours.std(ddof=1)), "sd_authors": float(theirs.std(ddof=1)),
            "spread_p": float(levene(ours, theirs, center="median").pvalue)}  # Brown-Forsythe


def _replica_share(ref: np.ndarray, n: int) -> dict:
    """What a faithful replica with n seeds scores on the share of steps with its median inside the authors' IQR.

    ``expected``: the chance, at one step, that the median of n draws lies inside the IQR of m draws from the
    same distribution (Monte Carlo, Gaussian; it depends on n and m only). ``mean``/``p05``: the share over steps
    for every choice of n of the authors' own seeds held against the IQR of their other seeds (or
    MAX_REPLICA_SUBSETS random choices): the step-to-step correlation of real curves widens the spread.
    """
    m = ref.shape[1]
    draws = np.random.default_rng(0).standard_normal((20_000, m + n))
    q1, q3 = np.percentile(draws[:, :m], [25, 75], axis=1)
    med = np.median(draws[:, m:], axis=1)
    expected = float(np.mean((med >= q1) & (med <= q3)))
    if m - n < 2:
        return {"expected": expected, "mean": None, "p05": None, "subsets": 0}
    subsets = list(itertools.combinations(range(m), n))
    if len(subsets) > MAX_REPLICA_SUBSETS:
        rng = np.random.default_rng(0)
        subsets = [tuple(rng.choice(m, n, replace=False)) for _ in range(MAX_REPLICA_SUBSETS)]
    shares = []
    for pick in subsets:
        rest = np.delete(ref, pick, axis=1)
        med = np.nanmedian(ref[:, pick], axis=1)
        q1, q3 = np.nanpercentile(rest, [25, 75], axis=1)
        shares.append(np.mean((med >= q1) & (med <= q3)))
    return {"expected": expected, "mean": float(np.mean(shares)), "p05": float(np.quantile(shares, 0.05)),
            "subsets": len(subsets)}


def _crossings(mine: pd.DataFrame, ref: pd.DataFrame, kind: str, steps: np.ndarray, skip_steps: int) -> list[dict]:
    """First-crossing env steps (ours, theirs) of levels set from the authors' curve, with bootstrap intervals."""
    from rlscale.laws.thresholds import ThresholdCrossings

    # both sides at our logged steps after the warm-up (our evaluation there is of an untrained policy), the
    # authors' seeds interpolated there, so that a crossing resolves the same steps on either side
    authors = _authors_at(ref, steps)
    levels = _levels(ref, authors, skip_steps)
    mine = mine[mine["env_step"].isin(steps)].assign(value=mine[kind])
    out = []
    fits = {side: ThresholdCrossings(levels, n_bootstrap=100, random_state=0, value_column="value").fit(table)
            .to_frame() for side, table in (("ours", mine), ("authors", authors))}
    for i, (f, level) in enumerate(zip(FRACTIONS, levels, strict=True)):
        row = {"fraction": f, "level": level}
        for side, frame in fits.items():
            r = frame.iloc[i]
            row[side] = {"crossing": _num(r["crossing"]), "lo": _num(r["crossing_lower"]),
                         "hi": _num(r["crossing_upper"]), "reached_frac": float(r["reached_frac"])}
        a, b = row["ours"]["crossing"], row["authors"]["crossing"]
        row["ratio"] = a / b if a is not None and b else None
        out.append(row)
    return out


def _levels(ref: pd.DataFrame, at: pd.DataFrame, skip_steps: int) -> list[float]:
    """J = r0 + f (r_end - r0) for f in FRACTIONS: r0 the authors' seed mean over their warm-up rows (``ref``), r_end
    their isotonic seed-mean curve at the last of our steps (``at``, :func:`_authors_at`)."""
    from rlscale.laws.thresholds import ThresholdCrossings

    r0 = float(ref.loc[ref["env_step"] <= skip_steps, "return"].mean())
    smoothed = ThresholdCrossings([r0], n_bootstrap=1, value_column="value").fit(at).mean_curve(0)
    return [r0 + f * (float(smoothed["smoothed"].iloc[-1]) - r0) for f in FRACTIONS]


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


# ---------------------------------------------------------------------------------------------- report
def to_markdown(report: dict) -> str:
    rows = report["configs"]
    lines = ["## Fidelity: rlscale SAC against the authors' Gym grid runs (their metric: training-episode return)", ""]
    meta = [f"runs: {report['runs']}", f"steps compared: after {report['skip_steps']} (the authors' warm-up)"]
    if report.get("train_wall_s") is not None:
        meta.append(f"training wall time this invocation: {report['train_wall_s'] / 60:.1f} min")
    if report.get("run_wall_s") is not None:
        meta.append(f"per-configuration training time (longest seed), summed: {report['run_wall_s'] / 60:.1f} min")
    la = report["load_average"]
    meta.append(f"load average {la[0]:.1f} / {la[1]:.1f} / {la[2]:.1f} on {report['cpus']} CPUs")
    lines += ["; ".join(meta), ""]
    if report.get("agent_settings"):
        shown = ", ".join(f"{k} {'/'.join(json.dumps(x) for x in v)}" for k, v in report["agent_settings"].items()
                          if k in ("algo", "actor_learning_rate", "target_entropy", "weight_init", "log_std_bounds",
                                   "temperature_loss", "val_fraction", "warmup_steps", "train_return_window",
                                   "eval_every", "eval_episodes"))
        lines += [f"our runs' settings (config.json; null: the agent's default): {shown}", ""]
    if "train_return" not in report["kinds"]:
        lines += ["Our curves have no `train_return` column: only our evaluation return (deterministic episodes, "
                  "a different metric from the authors') is compared.", ""]
    lines += ["| env | σ | B | η | our metric | seeds ours/theirs | steps | median in their IQR | replica (expected; "
              "their seeds: mean, 5%) "
              "| our points in min–max | in IQR | median percentile | mean gap (score) | mean abs gap (score) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rep = r["median_in_iqr_replica"]
        replica = f"{rep['expected']:.2f}; " + (f"{rep['mean']:.2f}, {rep['p05']:.2f}" if rep["mean"] is not None
                                                  else "n/a")
        lines.append(f"| {r['env']} | {r['utd']:g} | {r['batch_size']} | {r['learning_rate']:g} | {r['kind']} | "
                     f"{r['n_seeds']}/{r['n_seeds_authors']} | {r['first_step'] // 1000}k–{r['last_step'] // 1000}k | "
                     f"**{r['median_in_iqr']:.2f}** | {replica} | {r['points_in_range']:.2f} | {r['points_in_iqr']:.2f}"
                     f" | {r['median_percentile']:.0f} | {r['mean_gap_score']:+.1f} | {r['mean_abs_gap_score']:.1f} |")
    lines += ["", "Each seed's mean return over the compared steps (independent runs): ours against theirs.", "",
              "| env | σ | our metric | ours: mean (seeds) | authors: mean (seeds) | difference [Welch 95% CI] (dof) "
              "| in score | Mann-Whitney p | SD ours / theirs | spread p (Brown-Forsythe) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["seed_means"]
        lines.append(f"| {r['env']} | {r['utd']:g} | {r['kind']} | {np.mean(m['ours']):.0f} ({len(m['ours'])}) | "
                     f"{np.mean(m['authors']):.0f} ({len(m['authors'])}) | {m['difference']:+.0f} "
                     f"[{m['difference_lower']:+.0f}, {m['difference_upper']:+.0f}] ({m['welch_dof']:.1f}) | "
                     f"{m['difference'] * m['score_per_return']:+.1f} | {m['mannwhitney_p']:.3f} | "
                     f"{m['sd_ours']:.0f} / {m['sd_authors']:.0f} | {m['spread_p']:.3f} |")
    lines += ["", "Selection. The authors' collector keeps the 8 runs of a configuration with the highest mean "
              "training return over the whole run when it has more, listed best first; seeds in that order are its "
              "signature.",
              "", "| env | σ | B | η | their seeds best first (chance) | ours compared |", "|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["primary"]):
        a, o = r["authors_selected"], r["ours_selected"]
        theirs = (f"yes: best {a['seeds']} of more runs (1 in {round(1 / a['chance']):,})" if a["descending"]
                  else f"no ({a['seeds']} seeds)")
        ours = (f"best {o['kept']} of {o['of']} by mean {o['by']} over the run" if o["kept"] < o["of"]
                else f"all {o['of']}")
        lines.append(f"| {r['env']} | {r['utd']:g} | {r['batch_size']} | {r['learning_rate']:g} | {theirs} | {ours} |")
    lines += ["", "Threshold crossings (k env steps; 95% seed-bootstrap interval; '–' never reached). J is set from "
              "the authors' data: 25/50/75% of the way from their random-policy level to their final smoothed mean.",
              "", "| env | σ | our metric | f | J (return) | ours | authors | ours / authors |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for c in r["crossings"]:
            ratio = f"{c['ratio']:.2f}" if c["ratio"] is not None else "–"
            lines.append(f"| {r['env']} | {r['utd']:g} | {r['kind']} | {c['fraction']:g} | {c['level']:.0f} | "
                         f"{_k(c['ours'])} | {_k(c['authors'])} | {ratio} |")
    if report.get("sigma_effect"):
        lines += ["", "The σ effect, which the laws fit: data to reach J at σ over data at σ0, ours and the authors', "
                  "at the same J (set from their σ0 curve as above); ours ÷ theirs with a 95% interval from "
                  f"{SIGMA_BOOTSTRAP} independent seed-bootstrap resamples of each set of runs (share of resamples "
                  "where all four reach J). 1 inside the interval: our runs show the authors' σ effect at that J.",
                  "", "| env | σ / σ0 | our metric | f | J (return) | ours D(σ)/D(σ0) | authors | ours ÷ authors [95%] "
                  "(resamples reaching J) |", "|---|---|---|---|---|---|---|---|"]
        num = _ratio_text
        for e in report["sigma_effect"]:
            lines.append(f"| {e['env']} | {e['sigma']:g} / {e['sigma_0']:g} | {e['kind']} | {e['fraction']:g} | "
                         f"{e['level']:.0f} | {num(e['ours'])} | {num(e['authors'])} | {num(e['ours_over_authors'])} "
                         f"[{num(e['lo'])}, {num(e['hi'])}] ({e['reached_frac']:.2f}) |")
    for r in (r for r in rows if r["primary"]):
        lines += ["", f"### {r['env']} σ={r['utd']:g} B={r['batch_size']} η={r['learning_rate']:g}: our {r['kind']}",
                  "", "| env step | authors min / q1 / median / q3 / max | our median (seeds) | percentile |",
                  "|---|---|---|---|"]
        for s in r["steps"]:
            if s["env_step"] % 5000 and s is not r["steps"][-1]:
                continue
            a = s["authors"]
            ours = ", ".join(f"{x:.0f}" for x in s["ours"])
            lines.append(f"| {s['env_step']} | {a['min']:.0f} / {a['q1']:.0f} / {a['median']:.0f} / {a['q3']:.0f} / "
                         f"{a['max']:.0f} | {s['ours_median']:.0f} ({ours}) | {s['percentile']:.0f} |")
    if report["no_reference"]:
        lines += ["", "No authors' runs for: " + "; ".join(str(c) for c in report["no_reference"])]
    return "\n".join(lines)


def _ratio_text(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _k(side: dict) -> str:
    def fmt(x: float | None) -> str:
        return "–" if x is None else f"{x / 1000:.0f}"
    return f"{fmt(side['crossing'])} [{fmt(side['lo'])}, {fmt(side['hi'])}]"


if __name__ == "__main__":
    sys.exit(main())
