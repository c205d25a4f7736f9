"""Does today's engine still train the runs the embedded default was fitted on?

The `cpu` preset's run tables (``data/runs/``) were trained once, by the commits their provenance files name, on the
machine named there. Retraining them (``dvc repro --force``) cannot give the same bytes: a change in the last bit of
one matmul (another CPU's kernels, or an engine change such as the fused Adam kernel or the ``[members, in, out]``
weight layout that came after these runs) grows, through the environment's dynamics, into a different curve within a
few hundred updates. What must hold instead is that the retrained runs are the same *in distribution*: this
benchmark retrains a few grid chunks of the committed sweep files with the engine as it is now and compares them,
seed against seed of the same cell (env, σ, B, η), with the committed runs.

Chunks: DMC cartpole-swingup σ 0.5 B 32, σ 2 B 64 and σ 8 B 32 (32 runs each: 4 η × 8 seeds), Gym Pendulum-v1
σ 1 B 64 and σ 8 B 128 and InvertedPendulum-v4 σ 4 B 32 (24 runs each: 3 η × 8 seeds), 168 runs: both benchmarks,
both tasks and σ from the lowest to the highest of each grid. The four at σ ≤ 4 were fixed before any comparison
(but DMC σ 0.5 B 32, retrained first as a spot check); the two at σ 8, about 15 minutes each on one core, were added
after those four showed no drift, before their own runs were trained.

Per run, six statistics (fixed with the chunks): ``auc`` (the mean evaluation return over the curve), ``final``
(the mean over its last quarter), ``t_mid`` and ``t_top`` (the first env step at which the return reaches the
preset's middle and highest J, on the analysis's 0-1000 scale; never reached ranks last), ``log_norm`` (log of the
critic's parameter norm at the end) and ``overfit`` (the mean newest-minus-replay TD error over the last quarter).
Test per statistic: ranks within each cell, the sum of the retrained runs' ranks against its distribution under
label permutations within cells (a stratified Wilcoxon test; ``--permutations``, default 20000), two-sided. A
statistic whose p is below 0.01 is a drift (exit 1); with six statistics a false alarm has a chance of at most 6%.
Effect size: A, the chance that a retrained run's value exceeds a committed one's of the same cell (ties count
half), averaged over cells; 0.5 is no shift; 95% interval from resampling seeds within cells.

The chunks are trained through the library's sweep (``run_sweep``, vectorised chunks as the preset's sweeps were
run) into ``--out`` (default ``build/engine_drift``), one folder per chunk; a second call reuses finished runs.
Training takes about 52 minutes on one core for the six chunks, 31 with ``--workers 2`` (two chunks at a time). Exit 0:
no drift; 1: a drift; 2: bad input or a run that failed.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_engine_drift.py [--out DIR] [--workers 2] [--chunks ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.stats import rankdata

from rlscale.errors import RlscaleError
from rlscale.laws.normalize import score_to_return
from rlscale.pipeline import load_params
from rlscale.runs import read_run_table
from rlscale.train.collect import collect_runs
from rlscale.train.sweep import LocalExecutor, parse_sweep, run_sweep

ROOT = Path(__file__).resolve().parent.parent
CELL = ["env", "utd", "batch_size", "learning_rate"]
STATISTICS = ("auc", "final", "t_mid", "t_top", "log_norm", "overfit")
ALPHA = 0.01
CHUNKS = ("dmc:cartpole-swingup:0.5:32", "dmc:cartpole-swingup:2:64", "dmc:cartpole-swingup:8:32",
          "gym:Pendulum-v1:1:64", "gym:InvertedPendulum-v4:4:32", "gym:Pendulum-v1:8:128")


def _stop(message: str) -> SystemExit:
    """Bad input or a failed run: one line, exit 2 (exit 1 means a drift)."""
    print(f"bench_engine_drift: {message}", file=sys.stderr)
    return SystemExit(2)


@dataclass(frozen=True)
class ChunkSpec:
    """One (env, σ, B) of a preset's grid sweep: all its learning rates and seeds, trained as one chunk."""

    benchmark: str
    env: str
    utd: float
    batch_size: int

    @classmethod
    def parse(cls, text: str) -> ChunkSpec:
        try:
            benchmark, env, utd, batch = text.split(":")
            return cls(benchmark, env, float(utd), int(batch))
        except ValueError:
            raise _stop(f"chunk {text!r} is not BENCHMARK:ENV:SIGMA:B, "
                        "e.g. dmc:cartpole-swingup:0.5:32") from None

    @property
    def name(self) -> str:
        return f"{self.benchmark}_{self.env}_s{self.utd:g}_b{self.batch_size}"

    def sweep_doc(self, grid: dict) -> dict:
        """The committed grid sweep narrowed to this chunk (same name and settings, so the same run configs)."""
        env = next((e for e in grid["envs"] if e.split(":", 1)[1] == self.env), None)
        if env is None or self.utd not in grid["utd"] or self.batch_size not in grid["batch_size"]:
            raise _stop(f"{self.name} is not a chunk of the {self.benchmark} grid (envs "
                             f"{grid['envs']}, utd {grid['utd']}, batch_size {grid['batch_size']})")
        return grid | {"envs": [env], "utd": [self.utd], "batch_size": [self.batch_size]}


def retrain(doc: dict, out_dir: Path) -> pd.DataFrame:
    """Train (or reuse the finished runs of) the sweep ``doc`` in ``out_dir`` as one vectorised chunk on one core;
    its run table."""
    sweep = parse_sweep(doc, source=str(out_dir))
    report = run_sweep(sweep, out_dir, LocalExecutor(workers=1, threads=1), vectorize=True,
                       max_members=len(sweep.runs), progress=False)
    if report.counts()["failed"] or report.state != "finished":
        raise _stop(f"{report.summary()} in {out_dir}; see the runs' train.log")
    table, _ = collect_runs(out_dir)
    return table


def _first_step(ret: np.ndarray, steps: np.ndarray, level: float) -> float:
    """One seed's first logged step at or above ``level``: a test statistic per run, not the analysis's crossing
    (which reads the isotonic fit of a cell's seed mean)."""
    hit = np.flatnonzero(ret >= level)
    return float(steps[hit[0]]) if hit.size else np.inf


def run_statistics(table: pd.DataFrame, j_mid: float, j_top: float, max_return: dict, min_return: dict
                   ) -> pd.DataFrame:
    """One row per run (its cell and seed): the six statistics of the module docstring."""
    rows = []
    for key, run in table.sort_values("env_step").groupby([*CELL, "seed"], sort=True):
        ret = run["return"].to_numpy(float)
        steps = run["env_step"].to_numpy(float)
        last = slice(len(run) - max(1, len(run) // 4), None)
        t_mid, t_top = (_first_step(ret, steps, score_to_return(j, key[0], max_return, min_return))
                        for j in (j_mid, j_top))
        rows.append(dict(zip([*CELL, "seed"], key, strict=True), auc=ret.mean(), final=ret[last].mean(),
                         t_mid=t_mid, t_top=t_top, log_norm=np.log(run["critic_param_norm"].iloc[-1]),
                         overfit=run["overfitting"].to_numpy(float)[last].mean()))
    return pd.DataFrame(rows)


def _cells(stats: pd.DataFrame, statistic: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per cell: the committed and the retrained runs' values."""
    return [(g.loc[~g.retrained, statistic].to_numpy(float), g.loc[g.retrained, statistic].to_numpy(float))
            for _, g in stats.groupby(CELL, sort=True)]


def stratified_rank_test(cells: list[tuple[np.ndarray, np.ndarray]], permutations: int, rng: np.random.Generator
                         ) -> float:
    """Two-sided p of the retrained runs' rank sum, ranks and label permutations within each cell."""
    observed = expected = 0.0
    null = np.zeros(permutations)
    for old, new in cells:
        ranks = rankdata(np.concatenate([old, new]))  # average ranks: ties and never-reached (inf) share them
        observed += ranks[len(old):].sum()
        expected += len(new) * ranks.mean()
        shuffled = rng.permuted(np.broadcast_to(ranks, (permutations, ranks.size)), axis=1)
        null += shuffled[:, : len(new)].sum(axis=1)
    extreme = (np.abs(null - expected) >= abs(observed - expected) - 1e-9).sum()
    return float((extreme + 1) / (permutations + 1))  # a Monte-Carlo p is never 0


def superiority(cells: list[tuple[np.ndarray, np.ndarray]], resamples: int, rng: np.random.Generator
                ) -> tuple[float, float, float]:
    """A = P(retrained > committed) + P(tie)/2, averaged over cells, with a 95% seed-resampling interval."""
    def a_of(old: np.ndarray, new: np.ndarray) -> np.ndarray:  # old: [..., n], new: [..., m]
        gt = (new[..., :, None] > old[..., None, :]).mean(axis=(-1, -2))
        eq = (new[..., :, None] == old[..., None, :]).mean(axis=(-1, -2))
        return gt + eq / 2

    point = float(np.mean([a_of(old, new) for old, new in cells]))
    draws = np.mean([a_of(old[rng.integers(0, len(old), (resamples, len(old)))],
                          new[rng.integers(0, len(new), (resamples, len(new)))]) for old, new in cells], axis=0)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return point, float(lo), float(hi)


def first_divergence(committed: pd.DataFrame, retrained: pd.DataFrame) -> pd.Series:
    """Per run, the first logged env step at which the two curves' returns differ by more than 1e-3 (NaN: never)."""
    both = committed.merge(retrained, on=[*CELL, "seed", "env_step"], suffixes=("_c", "_r"))
    both = both.assign(differs=(both["return_c"] - both["return_r"]).abs() > 1e-3)
    return both[both.differs].groupby([*CELL, "seed"])["env_step"].min().reindex(
        both.groupby([*CELL, "seed"]).size().index)


def compare(committed: pd.DataFrame, retrained: pd.DataFrame, *, j_mid: float, j_top: float, max_return: dict,
            min_return: dict, permutations: int = 20000, seed: int = 0) -> pd.DataFrame:
    """One row per statistic: its test's p, the effect A with its interval, and whether it drifted."""
    runs = retrained[[*CELL, "seed"]].drop_duplicates()
    committed = committed.merge(runs, on=[*CELL, "seed"])
    if len(committed[[*CELL, "seed"]].drop_duplicates()) != len(runs):
        raise _stop("the committed table lacks some retrained runs (another sweep file?)")
    stats = pd.concat([run_statistics(committed, j_mid, j_top, max_return, min_return).assign(retrained=False),
                       run_statistics(retrained, j_mid, j_top, max_return, min_return).assign(retrained=True)])
    rng = np.random.default_rng(seed)
    rows = []
    for statistic in STATISTICS:
        cells = _cells(stats, statistic)
        p = stratified_rank_test(cells, permutations, rng)
        a, lo, hi = superiority(cells, 2000, rng)
        rows.append(dict(statistic=statistic, cells=len(cells), runs=len(runs), A=a, A_lo=lo, A_hi=hi, p=p,
                         drift=p < ALPHA))
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", nargs="+", default=list(CHUNKS), metavar="BENCHMARK:ENV:SIGMA:B")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "engine_drift")
    ap.add_argument("--workers", type=int, default=2, help="chunks trained at a time, one core each")
    ap.add_argument("--permutations", type=int, default=20000)
    args = ap.parse_args(argv)
    specs = [ChunkSpec.parse(c) for c in args.chunks]
    started = time.time()
    tables = []
    for benchmark in sorted({s.benchmark for s in specs}):
        sweep_file = ROOT / "sweeps" / f"cpu_{benchmark}.yaml"
        if not sweep_file.is_file():
            raise _stop(f"no grid sweep {sweep_file.relative_to(ROOT)} for benchmark {benchmark!r} (dmc or gym)")
        grid = yaml.safe_load(sweep_file.read_text())
        docs = {s.name: s.sweep_doc(grid) for s in specs if s.benchmark == benchmark}
        with ThreadPoolExecutor(args.workers) as pool:  # each chunk is its own process: threads only wait
            retrained = pd.concat(pool.map(lambda item: retrain(item[1], args.out / item[0]), docs.items()))
        committed = read_run_table(ROOT / "data" / "runs" / f"{benchmark}.parquet")
        params = load_params(ROOT / "params.yaml", benchmark=benchmark, preset="cpu")
        j = sorted(params.thresholds)
        result = compare(committed, retrained, j_mid=j[len(j) // 2 - 1], j_top=j[-1],
                         max_return=params.max_return, min_return=params.min_return,
                         permutations=args.permutations)
        diverged = first_divergence(committed, retrained)
        print(f"\n{benchmark}: {result.runs.iloc[0]} runs in {result.cells.iloc[0]} cells "
              f"({', '.join(n for n in docs)}); J mid {j[len(j) // 2 - 1]:g}, top {j[-1]:g}")
        print(f"curves identical to the committed ones: {int(diverged.isna().sum())} of {len(diverged)} runs; "
              f"first logged difference > 1e-3 at env step {diverged.median():g} (median), "
              f"{diverged.min():g}-{diverged.max():g}")
        print("| statistic | A = P(retrained > committed) [95% CI] | p (stratified rank test) | drift (p < 0.01) |")
        print("|---|---|---|---|")
        for r in result.itertuples():
            flag = "**yes**" if r.drift else "no"
            print(f"| {r.statistic} | {r.A:.3f} [{r.A_lo:.3f}, {r.A_hi:.3f}] | {r.p:.3f} | {flag} |")
        tables.append(result)
    drifted = sum(int(t.drift.sum()) for t in tables)
    print(f"\n{drifted} drift(s) at p < {ALPHA}; {time.time() - started:.0f} s")
    return 1 if drifted else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RlscaleError as exc:
        raise _stop(str(exc)) from None
