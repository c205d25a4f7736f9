"""The steps of ``dvc.yaml``: training sweeps -> run tables -> one analysis per benchmark -> figures.

``params.yaml`` names the active ``preset`` (``mini``: the embedded, CPU-trained default; ``paper``:
the paper's grids, for GPU machines) and holds one block of settings per preset and benchmark. DVC
cannot select a block by a parameter's value, so each stage calls ``rlscale pipeline STEP BENCHMARK``,
which resolves the preset here and runs the library, printing the equivalent command a user would
type. Sweep files follow the convention ``sweeps/<preset>_<benchmark>.yaml`` (grid), ``..._fitted.yaml`` and
``..._baseline.yaml`` (``mode: fitted`` sweeps of the proposals and of the constant baseline).

A benchmark block's keys are the options of :class:`rlscale.analysis.Analysis` (``delta``,
``thresholds``, ``utds_to_predict``, ``hparam_fit_range``, ...; a preset-level key is the default of
every benchmark) plus ``notebooks`` (per-notebook display parameters). The ``hparams`` step writes the
proposals the fitted runs are trained at and the constant baseline the baseline runs are trained at; the
``analysis`` step fits everything once into ``results/<benchmark>/analysis`` (and the published numbers,
``results/<benchmark>/metrics.json``);
the ``figures`` and ``overview`` steps run the notebooks, which only read that saved analysis, and keep their
executed copies (``figures/executed``) and Figure 1 at README size (``figures/fig1_<preset>.png``) in git for readers.

Run tables come with a provenance file (``<table>.provenance.json``): the git commits, versions,
devices and dates recorded in the runs' own ``config.json``, the host, and the wall time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import platform
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlscale import io
from rlscale.errors import RlscaleError
from rlscale.options import DEFAULTS, FIT_FLAGS

if TYPE_CHECKING:
    from rlscale.train.rundir import RunDir, Status

NOTEBOOK_DIR = Path("notebooks")
BUILD_DIR = Path("build") / "notebooks"
#: the executed notebooks, outputs and all, without timings: git-tracked, so a reader opens them on the web
EXECUTED_DIR = Path("figures") / "executed"
#: Figure 1 at README size, git-tracked: ``figures/fig1_<preset>.png``
README_FIGURE_WIDTH = 900
#: the notebooks of one benchmark's figures and table, run by the ``figures`` step
FIGURE_NOTEBOOKS = ("fig_a_learning_curves", "fig_b_steps_to_threshold", "fig_c_normalized_time",
                    "fig_d_data_efficiency", "fig_e_compute_vs_data", "fig_f_iso_performance",
                    "fig_g_budget_extrapolation", "fig_h_hparam_laws", "fig_i_estimators", "fig_j_overfitting",
                    "tab_k_coefficients")
OVERVIEW_NOTEBOOK = "fig01_overview"
#: the comparison of the paper's numbers with rlscale's fits of the authors' runs, run by the ``authors`` step
COMPARISON_NOTEBOOK = "paper_vs_rlscale"
#: preset-level keys that are not analysis options
_PRESET_KEYS = ("workers", "vectorize", "notebook_workers", "notebooks")
_BENCHMARK_KEYS = ("notebooks",)


#: the training steps: the σ × B × η grid, the runs at the proposals of the grid's laws, and the runs at the
#: constant baseline (the grid-best (B, η) at σ = ``baseline_utd``) over the same σ as the proposals
TRAIN_KINDS = ("grid", "fitted", "baseline")


def _suffix(kind: str) -> str:
    if kind not in TRAIN_KINDS:
        raise RlscaleError(f"no training step {kind!r} (one of {', '.join(TRAIN_KINDS)})")
    return "" if kind == "grid" else f"_{kind}"


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
    analysis: dict[str, Any] = dataclasses.field(default_factory=dict)  # every option of the Analysis
    notebook_workers: int = 1  # notebook kernels at a time in the figures step

    def sweep(self, kind: str) -> Path:
        """``sweeps/<preset>_<benchmark>[_<kind>].yaml``, the sweep file of a training step (``TRAIN_KINDS``)."""
        return Path("sweeps") / f"{self.preset}_{self.name}{_suffix(kind)}.yaml"

    def table(self, kind: str) -> Path:
        """``data/runs/<benchmark>[_<kind>].parquet``, the run table a training step writes."""
        return Path("data") / "runs" / f"{self.name}{_suffix(kind)}.parquet"

    @property
    def results(self) -> Path:
        return Path("results") / self.name

    @property
    def analysis_dir(self) -> Path:
        return self.results / "analysis"

    @property
    def metrics(self) -> Path:
        return self.results / "metrics.json"

    @property
    def figures(self) -> Path:
        return Path("figures") / self.name

    def run_root(self, kind: str) -> Path:
        return Path("runs") / f"{self.preset}_{self.name}{_suffix(kind)}"

    def chain(self):
        """The benchmark's :class:`~rlscale.analysis.Analysis`, built from its options."""
        from rlscale.analysis import Analysis

        return Analysis(benchmark=self.name, **self.analysis)


def read_params(path: str | os.PathLike = "params.yaml") -> dict[str, Any]:
    """``params.yaml`` as a dict; a missing file, broken YAML or a repeated key is one line naming the file (and
    line)."""
    path = Path(path)
    if not path.is_file():
        raise RlscaleError(f"{path}: no such file (run from the repository root)")
    doc = io.read_yaml(path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise RlscaleError(f"{path}: expected a mapping of settings at the top level, got {type(doc).__name__}")
    return doc


def benchmark_names(path: str | os.PathLike = "params.yaml") -> list[str]:
    names = read_params(path).get("benchmarks") or []
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise RlscaleError(f"{path}: 'benchmarks' must be a non-empty list of benchmark names")
    return [str(n) for n in names]


def load_params(path: str | os.PathLike = "params.yaml", benchmark: str | None = None,
                preset: str | None = None) -> BenchmarkParams:
    """The settings of ``benchmark`` in ``preset`` (default: the active one) from ``params.yaml``; one line on
    any gap, unknown key or bad value."""
    from rlscale.analysis import Analysis

    doc = read_params(path)
    preset = preset if preset is not None else doc.get("preset")
    presets = doc.get("presets") or {}
    if not isinstance(presets, dict) or not presets:
        raise RlscaleError(f"{path}: 'presets' must be a mapping of preset names to their settings")
    names = ", ".join(map(str, presets))
    if preset is None:
        raise RlscaleError(f"{path}: no 'preset' key: set preset: NAME, one of presets: {names}")
    if not isinstance(preset, str) or preset not in presets:
        raise RlscaleError(f"{path}: preset {preset!r} is not one of presets: {names}")
    block = presets[preset] or {}
    if not isinstance(block, dict):
        raise RlscaleError(f"{path}: presets.{preset} must be a mapping of settings and benchmark blocks, "
                           f"got {type(block).__name__}")
    benchmarks = doc.get("benchmarks") or []
    if not isinstance(benchmarks, list):
        raise RlscaleError(f"{path}: 'benchmarks' must be a list of benchmark names, got {type(benchmarks).__name__}")
    if benchmark not in benchmarks or benchmark not in block:
        raise RlscaleError(f"{path}: benchmark {benchmark!r} is not in benchmarks {benchmarks} "
                           f"with a block in preset {preset!r}")
    bench = block[benchmark] or {}
    if not isinstance(bench, dict):
        raise RlscaleError(f"{path}: presets.{preset}.{benchmark} must be a mapping of settings")
    options = set(Analysis.option_names()) - {"benchmark"}
    for where, keys, extra in ((f"presets.{preset}", block, (*_PRESET_KEYS, *benchmarks)),
                               (f"presets.{preset}.{benchmark}", bench, _BENCHMARK_KEYS)):
        unknown = sorted(str(k) for k in keys if k not in options and k not in extra)
        if unknown:
            raise RlscaleError(f"{path}: {where}: unknown key(s) {', '.join(unknown)} (an analysis option: "
                               f"{', '.join(sorted(options))}; or {', '.join(extra[:3])})")
    analysis = {k: v for k, v in block.items() if k in options}
    analysis.update({k: v for k, v in bench.items() if k in options})
    try:
        analysis.setdefault("n_bootstrap", DEFAULTS.n_bootstrap)
        out = BenchmarkParams(
            name=benchmark, preset=preset, delta=float(analysis["delta"]),
            thresholds=tuple(float(t) for t in analysis["thresholds"]),
            utds_to_predict=tuple(float(u) for u in analysis["utds_to_predict"]),
            max_return={str(k): float(v) for k, v in (analysis.get("max_return") or {}).items()},
            min_return={str(k): float(v) for k, v in (analysis.get("min_return") or {}).items()},
            n_bootstrap=int(analysis["n_bootstrap"]), workers=int(block.get("workers", 1)),
            vectorize=int(block.get("vectorize") or 0),
            notebooks=_notebook_overrides(block.get("notebooks"), bench.get("notebooks")),
            analysis=analysis, notebook_workers=int(block.get("notebook_workers") or block.get("workers", 1)),
        )
        out.chain().get_params()  # every option is a valid constructor argument
    except KeyError as exc:
        raise RlscaleError(f"{path}: presets.{preset}.{benchmark} lacks key {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise RlscaleError(f"{path}: presets.{preset}.{benchmark}: {exc}") from None
    return out


def _notebook_overrides(*levels: Any) -> dict[str, dict[str, Any]]:
    """Per-notebook parameters of the preset, then of the benchmark (which wins)."""
    out: dict[str, dict[str, Any]] = {}
    for level in levels:
        for name, values in (level or {}).items():
            out.setdefault(str(name), {}).update(values or {})
    return out


def train(params: BenchmarkParams, kind: str) -> Path:
    """Run the sweep of a training step (``TRAIN_KINDS``; finished runs are skipped), collect it, write its
    provenance."""
    from rlscale.train.collect import collect_runs
    from rlscale.train.sweep import LocalExecutor, load_sweep, run_sweep, visible_gpus

    sweep, table = params.sweep(kind), params.table(kind)
    if not sweep.is_file():
        raise RlscaleError(f"{sweep}: no such sweep file for preset {params.preset!r}")
    root = params.run_root(kind)
    sweep_cmd = ["sweep", str(sweep), "-o", str(root), "--workers", str(params.workers)]
    if params.vectorize > 0:
        sweep_cmd += ["--vectorize", "--max-members", str(params.vectorize)]
    collect_cmd = ["collect", str(root), "-o", str(table)]
    _echo(sweep_cmd)
    report = run_sweep(load_sweep(sweep), root, LocalExecutor(workers=params.workers, gpus=visible_gpus()),
                       vectorize=params.vectorize > 0, max_members=params.vectorize or None)
    print(report.summary(), flush=True)
    if report.counts()["failed"]:
        raise RlscaleError(f"'rlscale {shlex.join(sweep_cmd[:2])} ...' exited with 1 "
                           f"({report.counts()['failed']} run(s) failed; reasons in {report.path})")
    _echo(collect_cmd)
    runs, notes = collect_runs(root)
    for note in notes:
        print(f"rlscale: {note}", file=sys.stderr)
    io.write_table(table, runs)
    write_provenance(table, root, sweep, [sweep_cmd, collect_cmd])
    return table


def write_provenance(table: Path, root: Path, sweep: Path, commands: Sequence[Sequence[str]]) -> Path:
    """``<table>.provenance.json`` from the run folders' configs and status records and this host; an unreadable
    record is one line naming its file."""
    from rlscale.train.rundir import find_run_dirs

    run_dirs = find_run_dirs(root)
    configs = [c for c in (d.read_record() for d in run_dirs) if c is not None]
    if not configs:
        raise RlscaleError(f"{root}: no run folders to describe")
    statuses = {d: s for d in run_dirs if (s := d.read_status()) is not None}
    finished = max(d.status_path.stat().st_mtime for d in statuses) if statuses else None
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
        "executed_as": _executed_as(list(statuses.values())),
        "started": started,
        "finished": datetime.fromtimestamp(finished, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000") if finished else None,
        "span_s": round(finished - datetime.strptime(started, "%Y-%m-%dT%H:%M:%S%z").timestamp(), 1)
        if finished else None,
        "process_wall_s": round(_process_wall(statuses), 1),
        "host": {"platform": platform.platform(), "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
                 "python": sys.version.split()[0]},
    }
    doc["versions"] = [json.loads(v) for v in doc["versions"]]
    path = table.with_name(table.stem + ".provenance.json")
    io.write_json(path, doc)
    print(f"wrote {path}")
    return path


def _executed_as(statuses: Sequence[Status]) -> str:
    """How the runs were trained, from their status records (vectorised members list their chunk)."""
    chunks = {s.chunk for s in statuses if s.chunk}
    singles = sum(1 for s in statuses if not s.chunk)
    sizes = sorted({len(c) for c in chunks})
    return (f"{len(chunks)} vectorised chunk(s) of {'/'.join(map(str, sizes)) or 0} members, "
            f"{singles} single run(s)")


def _process_wall(statuses: Mapping[RunDir, Status]) -> float:
    """Seconds of training processes: each single run's final ``wall_s`` plus, once per vectorised chunk (a
    member's status lists the chunk), the chunk's, so K members are not counted K times."""
    total, seen = 0.0, set()
    for run_dir, status in statuses.items():
        members = status.chunk or ()
        if members and members in seen:
            continue
        seen.add(members)
        if run_dir.has_curve:
            try:
                wall = run_dir.read_curve(columns=["wall_s"])["wall_s"]
            except (OSError, ValueError, KeyError) as exc:
                raise RlscaleError(f"{run_dir.path}: unreadable run curve ({type(exc).__name__}: {exc})") from None
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


def _echo(argv: Sequence[str]) -> None:
    """Print the ``rlscale`` command a step is equivalent to, as a user would type it."""
    print("+ rlscale " + shlex.join(argv), flush=True)


def _print_warnings(lines: Sequence[str]) -> None:
    for line in dict.fromkeys(lines):
        print(f"rlscale: warning: {line}", file=sys.stderr)


def _fit_argv(params: BenchmarkParams, subcommand: str, *head: str) -> list[str]:
    """``fit SUBCOMMAND HEAD... --option value ...`` with the benchmark's analysis options that the subcommand has a
    flag for (:data:`rlscale.options.FIT_FLAGS`): a command its parser takes, whatever ``params.yaml`` sets (an
    option of another step does not change what this one computes)."""
    typed = {"delta": params.delta, "thresholds": params.thresholds, "utds_to_predict": params.utds_to_predict,
             "n_bootstrap": params.n_bootstrap, "max_return": params.max_return, "min_return": params.min_return}
    opts = {**params.analysis, **typed}
    argv = ["fit", subcommand, *head]
    for name in FIT_FLAGS[subcommand]:
        value = opts.get(name)
        if value is None or (isinstance(value, Mapping | list | tuple) and not value) or name == "batch_law":
            continue  # batch_law: a mapping here, a JSON file's path on the command line
        flag = f"--{name.replace('_', '-')}"
        if isinstance(value, Mapping):
            argv += [f"{flag}={key}={float(v):g}" for key, v in value.items()]
        elif isinstance(value, list | tuple):
            argv += [flag, *(f"{float(v):g}" for v in value)]
        else:
            argv += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return argv


def fit_hparams(params: BenchmarkParams) -> Path:
    """The proposals the fitted runs are trained at, the constant baseline the baseline runs are trained at (and
    ``hparams.json``), from the grid, with the options of the benchmark's analysis (so they are the laws the
    analysis step fits again)."""
    import warnings

    from rlscale.analysis import json_ready, write_csv
    from rlscale.errors import RlscaleWarning

    _echo(_fit_argv(params, "hparams", str(params.table("grid")), "-o", str(params.results)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = params.chain().fit_hparams(params.table("grid"))
    _print_warnings([str(w.message) for w in caught if issubclass(w.category, RlscaleWarning)])
    io.write_json(params.results / "hparams.json", json_ready(fit.to_dict()))
    write_csv(params.results / "proposed_hparams.csv", fit.proposed)
    write_csv(params.results / "baseline_hparams.csv", fit.baseline)
    print(f"wrote {params.results / 'hparams.json'}, {params.results / 'proposed_hparams.csv'} and "
          f"{params.results / 'baseline_hparams.csv'}")
    return params.results / "proposed_hparams.csv"


def analyse(params: BenchmarkParams) -> Path:
    """The benchmark's whole analysis, fitted once and saved, and its published numbers (the DVC metrics)."""
    from rlscale.analysis import Analysis

    given = {k: params.table(k) for k in ("fitted", "baseline") if params.table(k).is_file()}
    _echo(_fit_argv(params, "analysis", str(params.table("grid")),
                    *[a for k, t in given.items() for a in (f"--{k}", str(t))], "-o", str(params.analysis_dir),
                    "--metrics", str(params.metrics)))
    a = params.chain().fit(params.table("grid"), **given)
    _print_warnings(a.warnings_)
    a.save(params.analysis_dir)
    io.write_json(params.metrics, Analysis.load(params.analysis_dir).metrics())
    print(f"wrote {params.analysis_dir} and {params.metrics} ({repr(a)[1:-1]})")
    return params.analysis_dir


def find_root(start: str | os.PathLike | None = None) -> Path:
    """The repository root: the nearest folder at or above ``start`` (default: the working directory)
    holding ``params.yaml`` (a notebook runs in ``notebooks/``)."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").is_file():
            return folder
    raise RlscaleError(f"no params.yaml at or above {here}: run from inside the repository, or give results=")


@dataclasses.dataclass
class NotebookContext:
    """What a figure notebook needs, resolved from ``params.yaml`` in one call: where the benchmark's saved
    analysis is, where its figures go, and the analysis itself (loaded on first use)."""

    benchmark: str
    preset: str | None
    results: Path
    figures: Path
    #: the run tables the analysis was fitted on (None when ``results`` was given)
    grid_table: Path | None = None
    fitted_table: Path | None = None

    @functools.cached_property
    def analysis(self):
        from rlscale.analysis import Analysis

        return Analysis.load(self.results)

    def output(self, name: str) -> Path:
        """``<figures>/<name>`` (the folder is created)."""
        self.figures.mkdir(parents=True, exist_ok=True)
        return self.figures / name


def notebook_context(benchmark: str, preset: str | None = None, *, results: str | os.PathLike | None = None,
                     output_dir: str | os.PathLike | None = None) -> NotebookContext:
    """The pipeline's saved analysis of ``benchmark`` (``results/<benchmark>/analysis`` of the active preset)
    and its figure folder (``figures/<benchmark>``); ``results``/``output_dir`` point elsewhere instead."""
    if results is not None:
        out = Path(output_dir) if output_dir is not None else Path(results).parent / "figures"
        return NotebookContext(benchmark, preset, Path(results), out)
    root = find_root()
    doc = read_params(root / "params.yaml")
    active = doc.get("preset")
    preset = preset or active
    params = load_params(root / "params.yaml", benchmark, preset)
    if preset != active:
        raise RlscaleError(f"results/ hold the analysis of the active preset {active!r}, not {preset!r}: switch "
                           "params.yaml's preset and reproduce, or give results=")
    figures = Path(output_dir) if output_dir is not None else root / params.figures
    return NotebookContext(benchmark, preset, root / params.analysis_dir, figures,
                           grid_table=root / params.table("grid"), fitted_table=root / params.table("fitted"))


#: Figure 1's column titles
TITLES = {"dmc": "DMC", "gym": "Gym", "isaac": "Isaac Gym"}


def overview_context(benchmarks: Sequence[str] | None = None, preset: str | None = None, *,
                     results: dict[str, str | os.PathLike] | None = None,
                     output_dir: str | os.PathLike | None = None) -> tuple[dict[str, Any], Path]:
    """Figure 1's columns: {title: saved analysis} of ``benchmarks`` (default: every benchmark of
    ``params.yaml``), and the folder the figure goes to (``figures/``); ``results`` ({title: folder}) draws
    other saved analyses instead."""
    from rlscale.analysis import Analysis

    if results is not None:
        out = Path(output_dir) if output_dir is not None else Path(".")
        return {str(title): Analysis.load(folder) for title, folder in results.items()}, out
    root = find_root()
    names = list(benchmarks) if benchmarks else benchmark_names(root / "params.yaml")
    columns = {TITLES.get(name, name): notebook_context(name, preset).analysis for name in names}
    return columns, Path(output_dir) if output_dir is not None else root / "figures"


#: seconds a kernel may take to start: several kernels importing torch side by side on 2 busy cores took over
#: papermill's default of 60
KERNEL_START_S = 300


def run_notebook(name: str, parameters: dict[str, Any], build_name: str,
                 executed_dir: Path = EXECUTED_DIR) -> Path:
    """Execute ``notebooks/NAME.ipynb`` with papermill, passing only the parameters it declares. The executed copy
    goes to ``build/notebooks`` (a log: it holds timings) and, once it ran through, without its timings to
    ``executed_dir`` (an output: the same analysis gives the same bytes; git-tracked ``figures/executed`` for the
    pipeline's presets, the git-ignored build folder for the authors' runs)."""
    import papermill

    source = NOTEBOOK_DIR / f"{name}.ipynb"
    if not source.is_file():
        raise RlscaleError(f"{source}: no such notebook")
    declared = papermill.inspect_notebook(str(source))
    given = {k: v for k, v in parameters.items() if k in declared}
    executed = BUILD_DIR / f"{build_name}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    print(f"+ papermill {source} {executed} --cwd {NOTEBOOK_DIR} -y {shlex.quote(json.dumps(given))}", flush=True)
    try:
        _execute_with_one_restart(source, executed, given)
    except papermill.PapermillExecutionError as exc:
        raise RlscaleError(f"{source} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
                           f"(executed copy: {executed})") from None
    except RuntimeError as exc:  # jupyter's "Kernel died before replying to kernel_info", nbclient's DeadKernelError
        raise RlscaleError(f"{source}: its kernel died ({exc}); nothing was published, run the step again") from None
    publish_executed(executed, Path(executed_dir) / f"{build_name}.ipynb")
    return executed


def _execute_with_one_restart(source: Path, executed: Path, parameters: dict[str, Any]) -> None:
    """papermill's run of ``source``, started once more when its kernel failed to start: it died before replying to
    kernel_info, or never answered ("Kernel didn't respond in N seconds").

    jupyter_client picks a kernel's TCP ports by binding to port 0 and closing again, so kernels started side by
    side can race for one ("Address already in use") and die at start-up, or leave the client talking to a port no
    kernel serves: no cell has run, so a restart is safe.
    """
    import papermill

    for attempt in range(2):
        try:
            with _environment(NPY_DISABLE_CPU_FEATURES=_numpy_features_above_avx2()):
                papermill.execute_notebook(str(source), str(executed), parameters=parameters, kernel_name="python3",
                                           cwd=str(NOTEBOOK_DIR), progress_bar=False, start_timeout=KERNEL_START_S)
            return
        except RuntimeError as exc:
            if attempt or not any(sign in str(exc) for sign in ("kernel_info", "didn't respond")):
                raise


def _numpy_features_above_avx2() -> str:
    """The SIMD targets past AVX2 that this numpy dispatches to (AVX-512 and x86-64-v4), for notebook kernels to
    switch off: numpy's AVX-512 and AVX2 kernels round some plotted coordinates' last bit differently, so the same
    analyses drew figures that differed by a few hundred pixels between an Intel AVX-512 and an AMD AVX2 CPU. With
    numpy held to AVX2 every x86 CPU that has it draws the same bytes, and git-tracked figures stay unchanged
    wherever ``make repro`` runs. Empty where there are none (other CPUs; the names differ between numpy versions) or
    where the user chose numpy's features (numpy refuses both of its variables at once)."""
    if os.environ.get("NPY_ENABLE_CPU_FEATURES") or os.environ.get("NPY_DISABLE_CPU_FEATURES"):
        return ""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__
    return " ".join(name for name in __cpu_dispatch__ if name.startswith("AVX512") or name == "X86_V4")


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """``values`` (the non-empty ones) set in this process's environment, which kernels inherit, then undone."""
    added = {key: value for key, value in values.items() if value}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def publish_executed(executed: Path, dest: Path) -> Path:
    """``executed`` without what changes from run to run (papermill's and the kernel's timings, cell ids) into
    ``dest``: the outputs a reader sees, byte-identical when the analysis is."""
    import nbformat

    book = nbformat.read(executed, as_version=4)
    book.metadata = nbformat.from_dict({k: book.metadata[k] for k in ("kernelspec", "language_info")
                                        if k in book.metadata})
    for index, cell in enumerate(book.cells):
        cell.id = f"cell-{index}"
        for key in ("papermill", "execution"):
            cell.metadata.pop(key, None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    io.write_text(dest, nbformat.writes(book).rstrip("\n") + "\n")
    return dest


def readme_figure(png: Path, dest: Path, width: int = README_FIGURE_WIDTH) -> Path:
    """A small copy of ``png`` (``width`` pixels wide, 256 colours) for the README."""
    from PIL import Image  # matplotlib's own image library

    with Image.open(png) as image:
        small = image.convert("RGB").resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    io.write_with(dest, lambda tmp: small.quantize(256).save(tmp, format="PNG", optimize=True))
    return dest


def _run_one(job: tuple[Any, ...]) -> str:
    return str(run_notebook(*job))


def run_notebooks(jobs: Sequence[tuple[Any, ...]], workers: int = 1) -> list[str]:
    """Run (name, parameters, build name[, executed dir]) jobs (``run_notebook``'s arguments), ``workers`` kernels at
    a time; the first failure stops it."""
    if workers <= 1 or len(jobs) <= 1:
        return [_run_one(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        return list(pool.map(_run_one, jobs))


def figures(params: BenchmarkParams, names: Sequence[str] = FIGURE_NOTEBOOKS) -> list[str]:
    """The benchmark's figure and table notebooks, each reading its saved analysis, into ``figures/<benchmark>``."""
    jobs = [(name, {"benchmark": params.name, "preset": params.preset, **params.notebooks.get(name, {})},
             f"{params.name}/{name}") for name in names]
    params.figures.mkdir(parents=True, exist_ok=True)
    return run_notebooks(jobs, workers=params.notebook_workers)


def overview(path: str | os.PathLike = "params.yaml") -> str:
    """Figure 1 over every benchmark of the active preset, into ``figures/``, and its README copy
    ``figures/fig1_<preset>.png``; then the claims table (:func:`write_claims`)."""
    doc = read_params(path)
    for name in benchmark_names(path):
        load_params(path, name)  # every block resolves
    parameters = {"preset": doc.get("preset"), **(((doc.get("presets") or {}).get(doc.get("preset")) or {})
                                                   .get("notebooks") or {}).get(OVERVIEW_NOTEBOOK, {})}
    executed = run_notebook(OVERVIEW_NOTEBOOK, parameters, OVERVIEW_NOTEBOOK)
    figures = Path(path).parent / "figures"
    small = readme_figure(figures / f"{OVERVIEW_NOTEBOOK}.png", figures / f"fig1_{doc.get('preset')}.png")
    print(f"wrote {small}")
    write_claims(path)
    return executed.as_posix()


#: the claims table of the active preset's benchmarks (``results/claims.md``, ``.csv``) and the README's markers
CLAIMS_MD, CLAIMS_CSV = Path("results") / "claims.md", Path("results") / "claims.csv"
README_CLAIMS = ("<!-- claims:begin -->", "<!-- claims:end -->")


def write_claims(path: str | os.PathLike = "params.yaml") -> Path:
    """The paper's claims judged on every benchmark's saved analysis (:mod:`rlscale.analysis.claims`) into
    ``results/claims.md`` and ``.csv``, and the same table into the README between its markers (where there is a
    README): one source, so the README always shows what the committed analyses say."""
    from rlscale.analysis import Analysis, claims_markdown, claims_table, write_csv

    root = Path(path).parent
    analyses = {TITLES.get(name, name): Analysis.load(root / load_params(path, name).analysis_dir)
                for name in benchmark_names(path)}
    table = claims_table(analyses)
    text = claims_markdown(table)
    write_csv(root / CLAIMS_CSV, table)
    io.write_text(root / CLAIMS_MD, text)
    readme = root / "README.md"
    if readme.is_file():
        io.write_text(readme, readme_with_claims(readme.read_text(), text))
    print(f"wrote {root / CLAIMS_MD}, {root / CLAIMS_CSV}" + (" and README.md's claims table" if readme.is_file()
                                                              else ""))
    return root / CLAIMS_MD


def readme_with_claims(readme: str, table: str) -> str:
    """``readme`` with ``table`` between its claims markers (one line if they are missing)."""
    begin, end = README_CLAIMS
    if readme.count(begin) != 1 or readme.count(end) != 1 or readme.index(begin) > readme.index(end):
        raise RlscaleError(f"README.md needs one {begin} ... {end} block for the claims table")
    head, rest = readme.split(begin, 1)
    return f"{head}{begin}\n{table}{end}{rest.split(end, 1)[1]}"


#: where the authors preset writes (git-ignored: nothing derived from the authors' files is committed)
AUTHORS_DIR = Path("build") / "authors"
#: failure-rate levels of the Isaac Gym column, fixed before fitting: from half the episodes failing down to the
#: authors' own level 0.1, log-spaced (denser towards the hardest), as the Gym levels are on their scale
ISAAC_THRESHOLDS = tuple(0.5 * 0.2 ** (k / 9) for k in range(10))
#: the Gym analyses of the authors preset: the paper method with the published B*(σ) law in compute, the paper
#: method with its own re-fitted law, and rlscale's method (Isaac Gym: the two methods)
AUTHORS_GYM_ANALYSES = ("paper", "paper_own_batch_law", "rlscale")
#: Figure 1's notebooks that need a grid (B*, η* laws, estimators, TD-error diagnostics): not drawn for Isaac Gym
_GRID_NOTEBOOKS = ("fig_a_learning_curves", "fig_h_hparam_laws", "fig_i_estimators", "fig_j_overfitting")


def authors(out: str | os.PathLike = AUTHORS_DIR, n_bootstrap: int = DEFAULTS.n_bootstrap, workers: int = 2) -> Path:
    """The ``authors`` preset: the authors' published runs (``RLSCALE_AUTHORS_DATA=DIR``, else fetched and cached)
    fitted with the ``paper`` method and rlscale's, every figure and table, and ``paper_vs_rlscale``, into ``out``
    (git-ignored). Gym: σ grid, fitted and baseline runs, δ = 4e9 FLOPs per env step; Isaac Gym: the best
    configuration per n (σ = 8/n), failure rate (lower is better), compute in gradient steps, δ = 0.01; DMC: their
    zips are not published in a form we have: skipped with one line when absent."""
    from rlscale.analysis import Analysis
    from rlscale.analysis.compare import PUBLISHED_GYM_BATCH_LAW
    from rlscale.authors import import_authors

    out = Path(out).resolve()
    print(f"+ rlscale import authors gym_sweep gym_ours gym_baseline_utd2 igpush_best  (into {out})", flush=True)
    tables = {name: import_authors(name) for name in ("gym_sweep", "gym_ours", "gym_baseline_utd2", "igpush_best")}
    try:
        import_authors("dmc_sweep")
        print("rlscale: DMC: the authors' zips are here, but their layout is not yet checked against ours: skipped")
    except RlscaleError as exc:
        print(f"rlscale: DMC skipped: {exc}")
    gym = {"grid": tables["gym_sweep"], "fitted": tables["gym_ours"], "baseline": tables["gym_baseline_utd2"]}
    gym_analyses = (
        Analysis(delta=4e9, method="paper", batch_law=PUBLISHED_GYM_BATCH_LAW, n_bootstrap=n_bootstrap),
        Analysis(delta=4e9, method="paper", n_bootstrap=n_bootstrap),
        # the authors' fitted runs are on their own max-return scale whatever the method: the same preset here
        Analysis(delta=4e9, method="rlscale", fitted_max_return_preset="paper-fitted", n_bootstrap=n_bootstrap),
    )
    runs = {
        **{("gym", name): (a, gym) for name, a in zip(AUTHORS_GYM_ANALYSES, gym_analyses, strict=True)},
        **{("isaac", m): (Analysis(delta=0.01, method=m, compute_unit="gradient_steps", thresholds=ISAAC_THRESHOLDS,
                                   n_bootstrap=n_bootstrap), {"grid": None, "fitted": tables["igpush_best"]})
           for m in ("paper", "rlscale")},
    }
    for (bench, name), (a, given) in runs.items():
        folder = authors_analysis(out, bench, name)
        print(f"+ rlscale fit analysis ({bench}/{name}: {a.method} method) -o {folder}", flush=True)
        a.fit(given["grid"], fitted=given["fitted"], baseline=given.get("baseline"))
        _print_warnings(a.warnings_)
        a.save(folder)
        io.write_json(folder.parent / "metrics.json", Analysis.load(folder).metrics())
    figures_dir = out / "figures"
    jobs = [(OVERVIEW_NOTEBOOK, {"results": {"Gym": str(authors_analysis(out, "gym", "paper")),
                                             "Isaac Gym": str(authors_analysis(out, "isaac", "paper"))},
                                 "output_dir": str(figures_dir)}, "authors/fig01_overview", out / "executed"),
            (COMPARISON_NOTEBOOK, {"authors_dir": str(out)}, f"authors/{COMPARISON_NOTEBOOK}", out / "executed")]
    for bench in ("gym", "isaac"):
        names = [n for n in FIGURE_NOTEBOOKS if bench == "gym" or n not in _GRID_NOTEBOOKS]
        jobs += [(n, {"benchmark": bench, "results": str(authors_analysis(out, bench, "paper")),
                      "output_dir": str(figures_dir / bench)}, f"authors/{bench}/{n}", out / "executed") for n in names]
    print(f"rlscale: Isaac Gym has no grid: {', '.join(_GRID_NOTEBOOKS)} are drawn for Gym only")
    if Analysis.load(authors_analysis(out, "gym", "paper")).diagnostics_ is None:
        jobs = [job for job in jobs if job[0] != "fig_j_overfitting"]
        print("rlscale: the authors' Gym runs log no TD errors or critic norms: no overfitting figure (j)")
    run_notebooks(jobs, workers=workers)
    print(f"wrote {out} (analyses, metrics, figures/, paper_vs_rlscale.csv and .md)")
    return out


def authors_analysis(out: str | os.PathLike, benchmark: str, name: str) -> Path:
    """The folder of one saved analysis of the authors preset: ``<out>/<benchmark>/<name>/analysis``."""
    return Path(out) / benchmark / name / "analysis"


def compare_authors(out: str | os.PathLike = AUTHORS_DIR) -> tuple[Any, Any]:
    """The paper's Gym numbers next to the authors preset's fits of the same runs (:data:`AUTHORS_GYM_ANALYSES`), and
    the Isaac Gym times to a failure rate of 0.1, read from the analyses in ``out`` and written there
    (``paper_vs_rlscale.csv``, ``isaac_times_to_0.1.csv``, both in ``paper_vs_rlscale.md``); returns the two tables.
    One line where ``out`` holds no fits: the authors' runs are never committed (a fresh clone, Binder)."""
    from rlscale.analysis import Analysis, markdown_table, write_csv
    from rlscale.analysis.compare import compare, isaac_times

    out = Path(out)
    if not authors_analysis(out, "gym", "paper").is_dir():
        raise RlscaleError(f"{out}: no fits of the authors' runs here; run `make authors` first (it downloads their "
                           "published runs and fits them, a few minutes)")
    table = compare({name: Analysis.load(authors_analysis(out, "gym", name)) for name in AUTHORS_GYM_ANALYSES})
    times = isaac_times(Analysis.load(authors_analysis(out, "isaac", "paper")))
    write_csv(out / "paper_vs_rlscale.csv", table)
    write_csv(out / "isaac_times_to_0.1.csv", times)
    io.write_text(out / "paper_vs_rlscale.md", "## Gym: published numbers and rlscale's fits of the same runs\n\n"
                  + markdown_table(table) + "\n\n## Isaac Gym: time to a failure rate of 0.1 (M env steps)\n\n"
                  + markdown_table(times) + "\n")
    return table, times
