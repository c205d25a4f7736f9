"""The steps of ``dvc.yaml``: training sweeps -> run tables -> fits -> figures, driven by ``params.yaml``.

``params.yaml`` names the active ``preset`` (``mini``: the embedded, CPU-trained default; ``paper``:
the paper's grids, for GPU machines) and holds one block of settings per preset and benchmark. DVC
cannot select a block by a parameter's value, so each stage calls ``rlscale pipeline STEP BENCHMARK``,
which resolves the preset here and runs the ordinary commands (``rlscale sweep``, ``collect``,
``fit hparams``, ``fit frontier``, papermill), printing each one as a user would type it. Sweep files
follow the convention ``sweeps/<preset>_<benchmark>.yaml`` (grid) and ``..._fitted.yaml``.

Run tables come with a provenance file (``<table>.provenance.json``): the git commits, versions,
devices and dates recorded in the runs' own ``config.json``, the host, and the wall time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from rlscale import io
from rlscale.errors import RlscaleError

NOTEBOOK_DIR = Path("notebooks")
BUILD_DIR = Path("build") / "notebooks"


@dataclasses.dataclass(frozen=True)
class BenchmarkParams:
    """One benchmark's settings in one preset."""

    name: str
    preset: str
    delta: float
    thresholds: tuple[float, ...]
    utds_to_predict: tuple[float, ...]
    max_return: dict[str, float]
    min_return: dict[str, float]
    n_bootstrap: int
    workers: int
    vectorize: int = 0  # > 0: ``sweep --vectorize --max-members N``
    notebooks: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def grid_sweep(self) -> Path:
        return Path("sweeps") / f"{self.preset}_{self.name}.yaml"

    @property
    def fitted_sweep(self) -> Path:
        return Path("sweeps") / f"{self.preset}_{self.name}_fitted.yaml"

    @property
    def grid_table(self) -> Path:
        return Path("data") / "runs" / f"{self.name}.parquet"

    @property
    def fitted_table(self) -> Path:
        return Path("data") / "runs" / f"{self.name}_fitted.parquet"

    @property
    def results(self) -> Path:
        return Path("results") / self.name

    def run_root(self, kind: str) -> Path:
        return Path("runs") / f"{self.preset}_{self.name}{'' if kind == 'grid' else '_' + kind}"

    def return_flags(self) -> list[str]:
        return ([f"--max-return={env}={r:g}" for env, r in self.max_return.items()]
                + [f"--min-return={env}={r:g}" for env, r in self.min_return.items()])


def load_params(path: str | os.PathLike = "params.yaml", benchmark: str | None = None) -> BenchmarkParams:
    """The active preset's settings of ``benchmark`` from ``params.yaml``; one line on any gap."""
    path = Path(path)
    if not path.is_file():
        raise RlscaleError(f"{path}: no such file (run from the repository root)")
    doc = yaml.safe_load(path.read_text()) or {}
    preset = doc.get("preset")
    presets = doc.get("presets") or {}
    if preset not in presets:
        raise RlscaleError(f"{path}: preset {preset!r} is not one of presets: {', '.join(map(str, presets))}")
    block = presets[preset] or {}
    benchmarks = doc.get("benchmarks") or []
    if benchmark not in benchmarks or benchmark not in block:
        raise RlscaleError(f"{path}: benchmark {benchmark!r} is not in benchmarks {benchmarks} "
                           f"with a block in preset {preset!r}")
    bench = block[benchmark] or {}
    try:
        return BenchmarkParams(
            name=benchmark, preset=preset, delta=float(bench["delta"]),
            thresholds=tuple(float(t) for t in bench["thresholds"]),
            utds_to_predict=tuple(float(u) for u in bench["utds_to_predict"]),
            max_return={str(k): float(v) for k, v in (bench.get("max_return") or {}).items()},
            min_return={str(k): float(v) for k, v in (bench.get("min_return") or {}).items()},
            n_bootstrap=int(block.get("n_bootstrap", 100)), workers=int(block.get("workers", 1)),
            vectorize=int(block.get("vectorize") or 0),
            notebooks=_notebook_overrides(block.get("notebooks"), bench.get("notebooks")),
        )
    except KeyError as exc:
        raise RlscaleError(f"{path}: presets.{preset}.{benchmark} lacks key {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise RlscaleError(f"{path}: presets.{preset}.{benchmark}: {exc}") from None


def _notebook_overrides(*levels: Any) -> dict[str, dict[str, Any]]:
    """Per-notebook parameters of the preset, then of the benchmark (which wins)."""
    out: dict[str, dict[str, Any]] = {}
    for level in levels:
        for name, values in (level or {}).items():
            out.setdefault(str(name), {}).update(values or {})
    return out


def _rlscale(argv: Sequence[str]) -> None:
    """Run one ``rlscale`` command in this process, echoing it; a non-zero exit stops the step."""
    from rlscale.cli import main

    print("+ rlscale " + shlex.join(argv), flush=True)
    rc = main(list(argv))
    if rc != 0:
        raise RlscaleError(f"'rlscale {shlex.join(argv[:2])} ...' exited with {rc} (see the lines above)")


def train(params: BenchmarkParams, kind: str) -> Path:
    """Run the grid or fitted sweep (finished runs are skipped), collect it, write its provenance."""
    from rlscale.train.collect import collect_runs
    from rlscale.train.sweep import LocalExecutor, load_sweep, run_sweep, visible_gpus

    sweep = params.grid_sweep if kind == "grid" else params.fitted_sweep
    table = params.grid_table if kind == "grid" else params.fitted_table
    if not sweep.is_file():
        raise RlscaleError(f"{sweep}: no such sweep file for preset {params.preset!r}")
    root = params.run_root(kind)
    sweep_cmd = ["sweep", str(sweep), "-o", str(root), "--workers", str(params.workers)]
    if params.vectorize > 0:
        sweep_cmd += ["--vectorize", "--max-members", str(params.vectorize)]
    collect_cmd = ["collect", str(root), "-o", str(table)]
    print("+ rlscale " + shlex.join(sweep_cmd), flush=True)
    report = run_sweep(load_sweep(sweep), root, LocalExecutor(workers=params.workers, gpus=visible_gpus()),
                       vectorize=params.vectorize > 0, max_members=params.vectorize or None)
    print(report.summary(), flush=True)
    if report.counts()["failed"]:
        raise RlscaleError(f"'rlscale {shlex.join(sweep_cmd[:2])} ...' exited with 1 "
                           f"({report.counts()['failed']} run(s) failed; reasons in {report.path})")
    print("+ rlscale " + shlex.join(collect_cmd), flush=True)
    runs, notes = collect_runs(root)
    for note in notes:
        print(f"rlscale: {note}", file=sys.stderr)
    io.write_table(table, runs)
    write_provenance(table, root, sweep, [sweep_cmd, collect_cmd])
    return table


def write_provenance(table: Path, root: Path, sweep: Path, commands: Sequence[Sequence[str]]) -> Path:
    """``<table>.provenance.json`` from the run folders' ``config.json``/``status.json`` and this host."""
    configs = [json.loads(p.read_text()) for p in sorted(root.rglob("config.json"))]
    if not configs:
        raise RlscaleError(f"{root}: no run folders to describe")
    statuses = sorted(root.rglob("status.json"))
    finished = max(p.stat().st_mtime for p in statuses) if statuses else None
    started = min(c["started"] for c in configs if c.get("started"))
    doc: dict[str, Any] = {
        "table": str(table),
        "sweep_file": str(sweep),
        "sweep_sha256": hashlib.sha256(sweep.read_bytes()).hexdigest(),
        "commands": ["rlscale " + shlex.join(c) for c in commands],
        "runs": len(configs),
        "git_commits": sorted({c.get("git_commit") or "unknown" for c in configs}),
        "versions": sorted({json.dumps({**c.get("versions", {}), **(c.get("env") or {}).get("versions", {})},
                                       sort_keys=True) for c in configs}),
        "devices": sorted({f"{c.get('device')} x{c.get('threads')} threads" for c in configs}),
        "executed_as": _executed_as(statuses),
        "started": started,
        "finished": datetime.fromtimestamp(finished, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000") if finished else None,
        "span_s": round(finished - datetime.strptime(started, "%Y-%m-%dT%H:%M:%S%z").timestamp(), 1)
        if finished else None,
        "process_wall_s": round(_process_wall(root), 1),
        "host": {"platform": platform.platform(), "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
                 "python": sys.version.split()[0]},
    }
    doc["versions"] = [json.loads(v) for v in doc["versions"]]
    path = table.with_name(table.stem + ".provenance.json")
    io.write_json(path, doc)
    print(f"wrote {path}")
    return path


def _executed_as(statuses: Sequence[Path]) -> str:
    """How the runs were trained, from their ``status.json`` (vectorised members list their chunk)."""
    chunks = {tuple(m) for p in statuses if (m := json.loads(p.read_text()).get("vectorized"))}
    singles = sum(1 for p in statuses if not json.loads(p.read_text()).get("vectorized"))
    sizes = sorted({len(c) for c in chunks})
    return (f"{len(chunks)} vectorised chunk(s) of {'/'.join(map(str, sizes)) or 0} members, "
            f"{singles} single run(s)")


def _process_wall(root: Path) -> float:
    """Seconds of training processes: each single run's final ``wall_s`` plus, once per vectorised
    chunk (``status.json`` lists its members), the chunk's, so K members are not counted K times."""
    import pandas as pd

    total, seen = 0.0, set()
    for status_path in sorted(root.rglob("status.json")):
        members = tuple(json.loads(status_path.read_text()).get("vectorized") or ())
        if members and members in seen:
            continue
        seen.add(members)
        curve = status_path.parent / "curve.parquet"
        if curve.is_file():
            wall = pd.read_parquet(curve, columns=["wall_s"])["wall_s"]
            total += float(wall.max()) if len(wall) else 0.0
    return total


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fit_hparams(params: BenchmarkParams) -> Path:
    """``rlscale fit hparams`` at the preset's thresholds: ``hparams.json`` (a DVC metric) and proposals."""
    _rlscale(["fit", "hparams", str(params.grid_table), "-o", str(params.results),
              "--thresholds", *[f"{t:g}" for t in params.thresholds],
              "--utds-to-predict", *[f"{u:g}" for u in params.utds_to_predict],
              "--n-bootstrap", str(params.n_bootstrap), *params.return_flags()])
    return params.results / "hparams.json"


def fit_frontier(params: BenchmarkParams) -> Path:
    """``rlscale fit frontier`` of the fitted-hyperparameter runs (the grid's when there are none)."""
    table = params.fitted_table if params.fitted_table.is_file() else params.grid_table
    _rlscale(["fit", "frontier", str(table), "-o", str(params.results), "--delta", f"{params.delta:g}",
              "--thresholds", *[f"{t:g}" for t in params.thresholds], "--hparams", str(params.results / "hparams.json"),
              "--n-bootstrap", str(params.n_bootstrap), *params.return_flags()])
    return params.results / "frontier.json"


def notebook_parameters(params: BenchmarkParams, output_dir: Path, notebook: str | None = None) -> dict[str, Any]:
    """Every parameter a figure notebook may take, as seen from ``notebooks/`` (papermill's cwd), plus
    the preset's own values for ``notebook`` (``presets.<preset>.notebooks.<name>``)."""
    up = Path("..")
    fitted = up / params.fitted_table if params.fitted_table.is_file() else None
    return {
        "runs_path": str(up / params.grid_table), "fitted_runs_path": str(fitted) if fitted else None,
        "delta": params.delta, "thresholds": list(params.thresholds), "threshold": max(params.thresholds),
        "curve_thresholds": [max(params.thresholds)], "max_return": params.max_return,
        "min_return": params.min_return, "n_bootstrap": params.n_bootstrap, "output_dir": str(up / output_dir),
        **params.notebooks.get(notebook or "", {}),
    }


def run_notebook(name: str, parameters: dict[str, Any], output_dir: Path, build_name: str) -> Path:
    """Execute ``notebooks/NAME.ipynb`` with papermill, passing only the parameters it declares; the
    executed copy goes to ``build/notebooks`` (a log, not an output: it holds timestamps)."""
    import papermill

    source = NOTEBOOK_DIR / f"{name}.ipynb"
    if not source.is_file():
        raise RlscaleError(f"{source}: no such notebook")
    declared = papermill.inspect_notebook(str(source))
    given = {k: v for k, v in parameters.items() if k in declared}
    output_dir.mkdir(parents=True, exist_ok=True)
    executed = BUILD_DIR / f"{build_name}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    print(f"+ papermill {source} {executed} --cwd {NOTEBOOK_DIR} -y {shlex.quote(json.dumps(given))}", flush=True)
    try:
        papermill.execute_notebook(str(source), str(executed), parameters=given, kernel_name="python3",
                                   cwd=str(NOTEBOOK_DIR), progress_bar=False)
    except papermill.PapermillExecutionError as exc:
        raise RlscaleError(f"{source} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
                           f"(executed copy: {executed})") from None
    return executed


def overview_parameters(benchmarks: Sequence[BenchmarkParams], titles: dict[str, str]) -> dict[str, Any]:
    """Figure 1's ``benchmarks`` parameter: one column per benchmark with its own J levels and returns."""
    specs = {}
    for b in benchmarks:
        p = notebook_parameters(b, Path("figures"))
        specs[titles.get(b.name, b.name)] = {
            "runs_path": p["runs_path"], "fitted_runs": p["fitted_runs_path"], "delta": b.delta,
            "thresholds": list(b.thresholds), "max_return": b.max_return, "min_return": b.min_return,
        }
    return {"benchmarks": specs, "thresholds": None, "n_bootstrap": benchmarks[0].n_bootstrap,
            "output_dir": str(Path("..") / "figures")}
