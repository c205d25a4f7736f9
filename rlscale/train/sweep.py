"""Sweeps: a YAML file -> a list of runs -> worker processes, with a summary of outcomes.

A sweep file is either a grid (``envs x utd x batch_size x learning_rate x seeds``) or, with
``mode: fitted``, the (env, utd) rows of ``proposed_hparams.csv`` (``rlscale fit hparams``) at their
proposed batch size (``batch_size_rounded``) and learning rate, optionally also at multiples of each
(the paper's sensitivity runs: 0.7x and 1.4x of B* and of eta*, one at a time). Every other key is a
setting shared by all runs: any field of :class:`~rlscale.train.config.RunConfig` (``algo``,
``env_steps``, ``eval_every``, ``warmup_steps``, ...; see :data:`FIXED_KEYS`), checked as the config checks it.

Each run is a folder ``OUT/NAME`` with a deterministic NAME (``sac_HalfCheetah-v4_utd2_bs256_lr3e-4_s0``).
Execution is delegated to an :class:`Executor`: :class:`LocalExecutor` (``--workers N`` processes, GPU
round-robin) or :class:`rlscale.train.ray_executor.RayExecutor` (Ray tasks on a cluster). Both hand each
process one :class:`~rlscale.train.worker.Job`.

Vectorised sweeps (``--vectorize``, local executor): runs that differ only in seed, learning rate and
batch size are cut into chunks of at most ``--max-members`` (16 on CPU, 64 on CUDA) and each chunk is
one job, one process training all its members as one batched computation; ``--workers`` still counts
concurrent jobs. Members write ordinary run folders and are recorded in the outcomes one by one, so
``collect`` and ``--retry-failed`` work as for single runs; a killed chunk's unfinished members are
recorded failed and resume from their checkpoints with ``--retry-failed``. PQL runs (their own threads
and parallel envs), groups of one, and runs that hold a single run's partial state go one process each.
Restarting a sweep skips finished runs, resumes unfinished ones (``rlscale train`` resumes from its
checkpoint) and never silently re-runs a failed one. A run's identity is its whole config: a folder whose
``config.json`` differs from what the sweep file now gives it is an error naming the fields, unless
``rerun_changed`` (``--rerun-changed``) retrains it from scratch. A sweep whose earlier version (its summary
``OUT/sweep_<name>.json``) ran runs that it no longer lists is refused while their folders are in OUT.

One driver per output folder (a :class:`~rlscale.train.rundir.FolderLock` on ``OUT/.sweep.lock``) and one
writer per run folder (each worker process locks its folders). Worker processes die with their driver:
each sets ``PR_SET_PDEATHSIG`` on Linux (:mod:`rlscale.train.worker`), and a driver ending on Ctrl-C or
SIGTERM stops them and records them ``interrupted``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import Any, Protocol

import numpy as np

from rlscale import io
from rlscale.agents import AGENTS
from rlscale.envs import check_env_name, parse_env_name
from rlscale.errors import RlscaleError
from rlscale.train.config import RunConfig, Runtime, parse_value, required_keys
from rlscale.train.rundir import MANIFEST, FolderLock, RunDir, Status, find_run_dirs
from rlscale.train.worker import PARENT_ENV, Job

GRID_FIELDS = ("env", "utd", "batch_size", "learning_rate", "seed")  # set per run by the grid or the proposals
FIXED_KEYS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name not in (*GRID_FIELDS, "algo"))
REQUIRED_FIXED = tuple(k for k in required_keys() if k in FIXED_KEYS)
COMMON_KEYS = ("name", "mode", "algo", "seeds", *FIXED_KEYS)
MAX_MEMBERS = {"cpu": 16, "cuda": 64}  # default chunk size
GRID_KEYS = ("envs", "utd", "batch_size", "learning_rate")
FITTED_KEYS = ("hparams", "backend", "envs", "utd", "batch_size_multipliers", "learning_rate_multipliers")
HPARAM_COLUMNS = ("env", "utd", "learning_rate", "batch_size_rounded")
SWEEP_LOCK = ".sweep.lock"  # in the output folder: held by the one driver writing it
LOCK_WAIT_S = 15.0  # how long a launch waits for a run folder's previous writer (a dying worker) to exit


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its config and the folder name it gets under the sweep's output."""

    config: RunConfig

    @property
    def name(self) -> str:
        c = self.config
        env_id = c.env.partition(":")[2] or c.env
        return f"{c.algo}_{env_id}_utd{_fmt(c.utd)}_bs{c.batch_size}_lr{_fmt_lr(c.learning_rate)}_s{c.seed}"

    @property
    def runs(self) -> tuple[RunSpec, ...]:
        return (self,)

    @property
    def report(self) -> tuple[str, ...]:
        return (self.name,)

    def job(self, out_dir: Path, runtime: Runtime) -> Job:
        return Job(((self.config, str(out_dir / self.name)),), runtime)


@dataclass(frozen=True)
class Chunk:
    """Runs that differ only in seed, learning rate and batch size, trained as one process (one executor job).

    ``report`` names the runs whose outcomes this sweep invocation records (a resumed chunk also carries
    members that finished or failed before; they occupy their slot and are left as they are). The chunk's
    output goes to the first member's ``train.log``.
    """

    runs: tuple[RunSpec, ...]
    report: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.runs[0].name}+{len(self.runs) - 1}"

    def job(self, out_dir: Path, runtime: Runtime) -> Job:
        return Job(tuple((spec.config, str(out_dir / spec.name)) for spec in self.runs), runtime)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _fmt_lr(lr: float) -> str:
    """3e-4, 1.87e-3: short, stable and free of dots-before-e that would make names ambiguous."""
    return np.format_float_scientific(lr, trim="-", exp_digits=1).replace("+", "")


# ---------------------------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Sweep:
    """A parsed, validated sweep file: its name and the runs it defines (in a stable order)."""

    name: str
    runs: tuple[RunSpec, ...]
    source: str = ""


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep YAML file; every problem is one :class:`RlscaleError` line."""
    path = Path(path)
    doc = io.read_yaml(path, "sweep file")
    return parse_sweep(doc, source=str(path), base_dir=path.parent, default_name=path.stem)


def parse_sweep(doc: Any, *, source: str = "sweep", base_dir: Path = Path("."), default_name: str = "sweep") -> Sweep:
    """Validate a sweep document (the YAML's mapping) and expand it into runs."""
    if not isinstance(doc, dict):
        raise RlscaleError(f"{source}: a sweep file must be a mapping of keys to values")
    mode = doc.get("mode", "grid")
    if mode not in ("grid", "fitted"):
        raise RlscaleError(f"{source}: 'mode' must be 'grid' or 'fitted', got {mode!r}")
    allowed = (*COMMON_KEYS, *(GRID_KEYS if mode == "grid" else FITTED_KEYS))
    unknown = [str(k) for k in doc if k not in allowed]
    if unknown:
        raise RlscaleError(f"{source}: unknown key(s) {', '.join(unknown)} for mode {mode} "
                           f"(allowed: {', '.join(sorted(set(allowed)))})")
    v = _Validator(source)
    algo = v.string(doc, "algo")
    if algo not in AGENTS:
        raise RlscaleError(f"{source}: unknown algo {algo!r}; available: {', '.join(sorted(AGENTS))}")
    seeds = v.seeds(doc)
    missing = [k for k in REQUIRED_FIXED if k not in doc]
    if missing:
        raise RlscaleError(f"{source}: missing required key '{missing[0]}'")
    fixed = {key: parse_value(key, doc[key], source) for key in FIXED_KEYS if key in doc}
    if mode == "grid":
        points = _grid_points(doc, v)
    else:
        points = _fitted_points(doc, v, base_dir)
    runs = []
    for (env, utd, bs, lr), seed in itertools.product(points, seeds):
        config = RunConfig(env=env, algo=algo, utd=utd, batch_size=bs, learning_rate=lr, seed=seed, **fixed)
        try:
            config.validate()
        except RlscaleError as exc:
            raise RlscaleError(f"{source}: {exc}") from exc
        runs.append(RunSpec(config))
    for env in dict.fromkeys(run.config.env for run in runs):  # each name once, before any run starts
        try:
            check_env_name(env)
        except RlscaleError as exc:
            raise RlscaleError(f"{source}: {exc}") from exc
    names: dict[str, RunSpec] = {}
    for run in runs:
        if run.name in names:
            raise RlscaleError(f"{source}: two grid points give the same run {run.name} (duplicate values?)")
        names[run.name] = run
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name or "/" in name:
        raise RlscaleError(f"{source}: 'name' must be a non-empty string without '/', got {name!r}")
    return Sweep(name=name, runs=tuple(runs), source=source)


def _grid_points(doc: dict, v: _Validator) -> list[tuple[str, float, int, float]]:
    for key in GRID_KEYS:
        if key not in doc:
            raise RlscaleError(f"{v.source}: missing required key '{key}' (grid mode)")
    envs = v.envs(doc["envs"])
    utds = v.values(doc["utd"], "utd")
    sizes = v.values(doc["batch_size"], "batch_size")
    lrs = v.values(doc["learning_rate"], "learning_rate")
    return list(itertools.product(envs, utds, sizes, lrs))


def _fitted_points(doc: dict, v: _Validator, base_dir: Path) -> list[tuple[str, float, int, float]]:
    import pandas as pd

    from rlscale.laws.hparams import round_batch_size

    if "hparams" not in doc:
        raise RlscaleError(f"{v.source}: missing required key 'hparams' (fitted mode: path of proposed_hparams.csv)")
    path = Path(v.string(doc, "hparams"))
    path = path if path.is_absolute() else base_dir / path
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise RlscaleError(f"{v.source}: cannot read hparams file {path} ({exc})") from exc
    missing = [c for c in HPARAM_COLUMNS if c not in table.columns]
    if missing:
        raise RlscaleError(f"{path}: missing column(s) {', '.join(missing)} (expected the proposed_hparams.csv "
                           "that fitting the hyperparameter laws writes)")
    backend = doc.get("backend")
    if backend is not None and (not isinstance(backend, str) or ":" in backend or not backend):
        raise RlscaleError(f"{v.source}: 'backend' must be a backend name such as gym or dmc, got {backend!r}")
    envs = [f"{backend}:{e}" if backend and ":" not in str(e) else str(e) for e in table["env"]]
    if any(":" not in e for e in envs):
        raise RlscaleError(f"{v.source}: the hparams file names envs without a backend; set 'backend' (gym or dmc)")
    table = table.assign(env=envs)
    if "envs" in doc:
        keep = set(v.envs(doc["envs"]))
        table = table[table["env"].isin(keep)]
    if "utd" in doc:
        keep_utd = v.values(doc["utd"], "utd")
        utd = pd.to_numeric(table["utd"], errors="coerce").to_numpy(dtype=float)
        table = table[np.isclose(utd[:, None], keep_utd).any(axis=1)]
    if table.empty:
        raise RlscaleError(f"{v.source}: no (env, utd) rows of {path} are selected")
    table = table.assign(**{c: pd.to_numeric(table[c], errors="coerce") for c in HPARAM_COLUMNS[1:]})
    bad = ~(np.isfinite(table["utd"]) & (table["utd"] > 0) & np.isfinite(table["learning_rate"])
            & (table["learning_rate"] > 0) & (table["batch_size_rounded"] >= 1))
    if bad.any():
        raise RlscaleError(f"{path}: row(s) {', '.join(str(i) for i in table.index[bad][:5])} have non-numeric, "
                           "non-positive or missing utd, learning_rate or batch_size_rounded")
    fractional = table["batch_size_rounded"] != np.floor(table["batch_size_rounded"])
    if fractional.any():
        raise RlscaleError(f"{path}: row(s) {', '.join(str(i) for i in table.index[fractional][:5])} have a "
                           "batch_size_rounded that is not a whole number")
    twice = table.duplicated(["env", "utd"], keep=False)
    if twice.any():  # the fitted runs are one (B, η) per (env, σ): a second would train a best-of-two
        first = table[twice].iloc[0]
        raise RlscaleError(f"{path}: env {first['env']} at utd {first['utd']:g} has {int(twice.sum())} rows (row(s) "
                           f"{', '.join(str(i) for i in table.index[twice][:5])}); a proposals file gives one (B, η) "
                           "per (env, utd)")

    def multipliers(key: str) -> list[float]:  # absent: no sensitivity runs
        return v.values(doc[key], key) if key in doc else []

    b_mult = [1.0, *multipliers("batch_size_multipliers")]
    lr_mult = multipliers("learning_rate_multipliers")
    points: list[tuple[str, float, int, float]] = []
    for row in table.itertuples(index=False):
        # learning rates to 3 significant digits so that the value trained equals the one in the run name
        lr = float(f"{row.learning_rate:.3g}")
        b = int(row.batch_size_rounded)
        for m in b_mult:  # B* times m (rounded to a multiple of 16 again), at eta*
            points.append((row.env, float(row.utd), int(round_batch_size([b * m])[0]) if m != 1.0 else b, lr))
        for m in lr_mult:  # eta* times m, at B*
            points.append((row.env, float(row.utd), b, float(f"{row.learning_rate * m:.3g}")))
    return list(dict.fromkeys(points))  # a multiplier can round back onto B*: keep each point once


class _Validator:
    """One-line messages for bad values, naming the file and key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def string(self, doc: dict, key: str) -> str:
        if key not in doc:
            raise RlscaleError(f"{self.source}: missing required key '{key}'")
        value = doc[key]
        if not isinstance(value, str) or not value:
            raise RlscaleError(f"{self.source}: '{key}' must be a non-empty string, got {value!r}")
        return value

    def values(self, value: Any, key: str) -> list[Any]:
        """A list of values of the run setting ``key`` (a grid axis), or of positive numbers (multipliers)."""
        items = value if isinstance(value, list) else [value]
        if not items:
            raise RlscaleError(f"{self.source}: '{key}' must not be empty")
        out = [parse_value(key, x, self.source) if key in GRID_FIELDS else self.multiplier(x, key) for x in items]
        if len(set(out)) != len(out):
            raise RlscaleError(f"{self.source}: '{key}' lists a value twice")
        return out

    def multiplier(self, value: Any, key: str) -> float:
        try:
            return parse_value("utd", value, self.source)  # a positive number, as a utd is
        except RlscaleError:
            raise RlscaleError(f"{self.source}: '{key}' must be a number > 0, got {value!r}") from None

    def envs(self, value: Any) -> list[str]:
        items = value if isinstance(value, list) else [value]
        if not items or any(not isinstance(e, str) or ":" not in e for e in items):
            raise RlscaleError(f"{self.source}: 'envs' must be a list of BACKEND:ID names (e.g. gym:HalfCheetah-v4), "
                               f"got {value!r}")
        if len(set(items)) != len(items):
            raise RlscaleError(f"{self.source}: 'envs' lists a value twice")
        for env in items:
            try:
                parse_env_name(env)
            except RlscaleError as exc:
                raise RlscaleError(f"{self.source}: {exc}") from exc
        return list(items)

    def seeds(self, doc: dict) -> list[int]:
        """``seeds: 8`` means seeds 0..7; a list gives them explicitly."""
        if "seeds" not in doc:
            raise RlscaleError(f"{self.source}: missing required key 'seeds' (a count or a list of seeds)")
        value = doc["seeds"]
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise RlscaleError(f"{self.source}: 'seeds' must be >= 1, got {value}")
            return list(range(value))
        if (isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                      for s in value) and len(set(value)) == len(value)):
            return list(value)
        raise RlscaleError(f"{self.source}: 'seeds' must be a count or a list of distinct integers >= 0, "
                           f"got {value!r}")


# ---------------------------------------------------------------------------------------------- execution
@dataclass
class RunResult:
    """The outcome of one run in this sweep invocation."""

    name: str
    status: str  # finished | failed | skipped (finished before) | interrupted
    reason: str | None = None
    returncode: int | None = None
    wall_s: float = 0.0
    device: str | None = None


class Executor(Protocol):
    """Trains each item (a run, or a :class:`Chunk` where the executor takes them) as one
    :class:`~rlscale.train.worker.Job` and reports every start and outcome (callbacks may come from threads).

    ``stop()`` asks running runs to end (they resume from their checkpoints on the next sweep).
    """

    def run(self, items: Sequence[RunSpec | Chunk], out_dir: Path, on_start: Callable[[RunSpec], None],
            on_done: Callable[[RunResult], None]) -> None: ...

    def stop(self) -> None: ...


def visible_gpus() -> list[str]:
    """GPU ids to hand out: those in CUDA_VISIBLE_DEVICES if set, else 0..count-1 (torch's count)."""
    import torch

    count = torch.cuda.device_count()
    if count == 0:
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [s.strip() for s in env.split(",") if s.strip()] if env else []
    return ids[:count] if ids else [str(i) for i in range(count)]


@dataclass
class LocalExecutor:
    """``workers`` concurrent worker processes (``python -m rlscale.train.worker``) on this machine.

    With GPUs, worker slot k always uses GPU ``gpus[k % len(gpus)]`` (CUDA_VISIBLE_DEVICES), so several
    runs share a GPU when workers > GPUs. Each process gets ``threads`` torch CPU threads (default: the
    cores divided among the workers), which keeps concurrent CPU runs from oversubscribing the machine.
    """

    workers: int = 1
    gpus: list[str] = field(default_factory=list)
    threads: int | None = None
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, init=False, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:  # no worker slot: a division by zero (0) or a sweep waiting forever (< 0)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise RlscaleError(f"workers= must be an integer >= 1, got {self.workers!r}", params=("workers",))
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise RlscaleError(f"threads= must be an integer >= 1, got {self.threads!r}", params=("threads",))

    def run(self, items: Sequence[RunSpec | Chunk], out_dir: Path, on_start: Callable[[RunSpec], None],
            on_done: Callable[[RunResult], None]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        slots: Queue[int] = Queue()
        for k in range(self.workers):
            slots.put(k)
        threads = self.threads or max(1, (os.cpu_count() or 1) // self.workers)

        def one(item: RunSpec | Chunk) -> None:
            if self._stopping.is_set():
                return
            slot = slots.get()
            try:
                for result in self._run(item, out_dir, slot, threads, on_start):
                    on_done(result)
            finally:
                slots.put(slot)

        pool = ThreadPoolExecutor(max_workers=self.workers)
        futures = [pool.submit(one, item) for item in items]
        try:
            for future in futures:
                future.result()
        except BaseException:  # Ctrl-C or a bug: end the running children instead of waiting for them
            self.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, item: RunSpec | Chunk, out_dir: Path, slot: int, threads: int,
             on_start: Callable[[RunSpec], None]) -> list[RunResult]:
        """One worker process for the item; each reported run's outcome is read from its own folder."""
        env = {**os.environ, PARENT_ENV: str(os.getpid())}  # the worker dies with this process (worker.py)
        device = "cpu"
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
            device = "cuda"
        job = item.job(out_dir, Runtime(device=device, threads=threads))
        chunk = len(item.runs) > 1
        where = f"cuda (GPU {env['CUDA_VISIBLE_DEVICES']})" if self.gpus else "cpu"
        where += ", vectorised" if chunk else ""
        dirs = [RunDir(out_dir / spec.name) for spec in item.runs]
        for d in dirs:
            d.path.mkdir(parents=True, exist_ok=True)
        for d in dirs[1:]:
            with open(d.log_path, "ab") as other:
                other.write(f"$ vectorised chunk {item.name}: output in {dirs[0].log_path}\n".encode())
        for d in dirs:  # a previous writer (a worker of a killed driver) may still be exiting: give it time
            try:
                FolderLock(d.path).acquire(wait=LOCK_WAIT_S).release()
            except RlscaleError:
                pass  # still held: the worker refuses the folder in one line, recorded as the run's failure
        for spec in item.runs:
            if spec.name in item.report:
                on_start(spec)
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "rlscale.train.worker"]
        rc = self._launch(item.name, cmd, job, env, dirs[0].log_path, where)
        if rc is None:
            return [RunResult(name, "interrupted", "sweep stopped", device=where) for name in item.report]
        wall = time.perf_counter() - start
        results = []
        for name in item.report:
            status = _final_status(out_dir / name)
            if status is not None and status.status == "finished" and (rc == 0 or chunk):
                results.append(RunResult(name, "finished", None, rc, wall, where))
            elif self._stopping.is_set():
                results.append(RunResult(name, "interrupted", "sweep stopped; resumes from its checkpoint", rc, wall,
                                         where))
            else:
                results.append(RunResult(name, "failed", failure_reason(rc, status, dirs[0].log_path), rc, wall,
                                         where))
        return results

    def _launch(self, key: str, cmd: list[str], job: Job, env: dict[str, str], log_path: Path,
                where: str) -> int | None:
        """Run ``cmd`` with the job on its stdin (its own session, output appended to ``log_path``), tracked
        under ``key`` so that stopping the sweep reaches it; its exit code, or None when the sweep was already
        stopping."""
        with open(log_path, "ab") as log:
            log.write(f"$ {' '.join(cmd)}  # {job.describe()}, {where}\n".encode())
            log.flush()
            with self._lock:
                if self._stopping.is_set():
                    return None
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
                self._procs[key] = proc
            try:
                proc.stdin.write(job.to_json().encode())
                proc.stdin.close()
            except BrokenPipeError:  # it died before reading its job: its exit code says why
                pass
            rc = proc.wait()
        with self._lock:
            self._procs.pop(key, None)
        return rc

    def stop(self) -> None:
        """Terminate running runs (SIGTERM to each run's process group); queued runs are not started."""
        import signal

        self._stopping.set()
        with self._lock:
            for proc in self._procs.values():
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass


def _final_status(run_dir: Path) -> Status | None:
    """The status a finished process left (a corrupt record counts as none: the run is reported failed)."""
    try:
        return RunDir(run_dir).read_status()
    except RlscaleError:
        return None


def failure_reason(rc: int, status: Status | None, log_path: Path) -> str:
    """The trainer's own reason if it recorded one, else the last line the process printed."""
    if status is not None and status.status == "failed" and status.reason:
        return str(status.reason)
    if rc < 0:
        return f"killed by signal {-rc}"
    try:
        lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    last = lines[-1] if lines and not lines[-1].startswith("$ ") else f"exit code {rc}"
    return last.removeprefix("rlscale: error: ") if rc != 0 else f"exited without finishing ({last})"


# ---------------------------------------------------------------------------------------------- the sweep
class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the sweep; ``report`` says what finished and what was interrupted."""

    def __init__(self, report: SweepReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass
class SweepReport:
    """What happened, also written to ``OUT/sweep_<name>.json`` after every run."""

    sweep: Sweep
    out_dir: Path
    results: dict[str, RunResult] = field(default_factory=dict)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    state: str = "running"

    @property
    def path(self) -> Path:
        return self.out_dir / MANIFEST.format(self.sweep.name)

    def counts(self) -> dict[str, int]:
        out = {"finished": 0, "skipped": 0, "failed": 0, "interrupted": 0}
        for r in self.results.values():
            out[r.status] += 1
        return out

    def summary(self) -> str:
        c = self.counts()
        line = (f"sweep {self.sweep.name}: {c['finished']} finished, {c['skipped']} skipped (finished before), "
                f"{c['failed']} failed, {c['interrupted']} interrupted")
        if self.state == "interrupted":
            stopped = [r.name for r in self.results.values() if r.status == "interrupted"]
            line += (f", {len(self.sweep.runs) - len(self.results)} not started"
                     + (f" (interrupted: {', '.join(stopped)})" if stopped else "")
                     + "; the same command resumes it")
        return f"{line}; summary in {self.path}"

    def write(self) -> None:
        io.write_json(self.path, {
            "sweep": self.sweep.name,
            "source": self.sweep.source,
            "state": self.state,
            "started": self.started,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "n_runs": len(self.sweep.runs),
            "run_names": [s.name for s in self.sweep.runs],  # also those not reported yet: see check_dropped
            "counts": self.counts(),
            "not_started": len(self.sweep.runs) - len(self.results),
            "runs": [
                {"name": r.name, "status": r.status, "reason": r.reason, "returncode": r.returncode,
                 "wall_s": round(r.wall_s, 3), "device": r.device}
                for r in (self.results.get(s.name) for s in self.sweep.runs) if r is not None
            ],
        })


def changed_runs(sweep: Sweep, out_dir: Path) -> dict[str, list[str]]:
    """The runs whose folder holds a config other than the one the sweep gives them, with the differences
    (``"field: old -> new"``). An unreadable ``config.json`` is left to the worker, which names the file."""
    changed = {}
    for spec in sweep.runs:
        try:
            saved = RunDir(out_dir / spec.name).read_config()
        except RlscaleError:
            continue
        diff = [] if saved is None else saved.differences(spec.config)
        if diff:
            changed[spec.name] = diff
    return changed


def check_changed(sweep: Sweep, out_dir: Path, changed: dict[str, list[str]]) -> None:
    """One line naming the changed fields (of the first changed run) and what to do."""
    if not changed:
        return
    name, diff = next(iter(changed.items()))
    more = f" and {len(changed) - 1} more run(s)" if len(changed) > 1 else ""
    raise RlscaleError(f"{out_dir / name}{more} hold(s) a run with another config than {sweep.source or 'the sweep'} "
                       f"now gives ({', '.join(diff)}); rerun_changed=True retrains them from scratch (their old "
                       "results are deleted), or pass another out_dir=", params=("rerun_changed", "out_dir"))


def check_dropped(sweep: Sweep, out_dir: Path, listed: Sequence[str]) -> None:
    """Refuse to run where an earlier version of this sweep (its summary lists ``listed``) left run folders
    that this version no longer lists: this run's summary would forget them and ``collect`` would mix them
    with this version's runs. A grid that only grows lists every earlier run and goes on. Run folders of no
    version of it (another sweep's, one renamed since, or runs copied in) are refused alike."""
    current = {s.name for s in sweep.runs}
    dropped = set(listed) - current
    left = sorted(p.name for p in out_dir.iterdir() if p.name in dropped and p.is_dir()) if dropped else []
    if left:
        raise RlscaleError(f"{out_dir} holds {len(left)} run(s) of an earlier version of sweep {sweep.name} that "
                           f"{sweep.source or 'the sweep'} no longer lists (e.g. {left[0]}); collect would mix them "
                           "with this version's runs: pass another out_dir=, or remove those run folders",
                           params=("out_dir",))
    if not out_dir.is_dir():
        return
    others = [d.path.relative_to(out_dir) for d in find_run_dirs(out_dir)
              if d.path.parent != out_dir or d.name not in current]
    if others:
        raise RlscaleError(f"{out_dir} holds {len(others)} run folder(s) that {sweep.source or 'the sweep'} does not "
                           f"list (e.g. {others[0]}: another sweep's, or copied in); collect would mix them with this "
                           "sweep's runs: pass another out_dir=, or remove those run folders", params=("out_dir",))


def rerun_changed_runs(out_dir: Path, changed: dict[str, list[str]]) -> None:
    """Empty each changed run's folder (under its lock, so never under a live writer) to train it anew."""
    for name in changed:
        run_dir = RunDir(out_dir / name)
        with FolderLock(run_dir.path).acquire(wait=LOCK_WAIT_S):
            run_dir.clear()


def plan(sweep: Sweep, out_dir: Path, *, retry_failed: bool = False,
         rerun_changed: bool = False) -> tuple[list[RunSpec], dict[str, RunResult]]:
    """Split the sweep into runs to launch and runs settled before.

    Run folders that an earlier version of the sweep ran and this one no longer lists are an error
    (:func:`check_dropped`). Finished runs are skipped when their folder's config is the sweep's; a
    folder holding another config is an error naming the fields, unless ``rerun_changed`` (the run is
    then launched: :func:`run_sweep` first empties its folder). Failed runs are not re-run: those the
    trainer marked failed (diverged) need their folder removed; those that crashed or were killed
    (recorded failed in the previous summary) are re-launched only with ``retry_failed`` or once their
    folder is removed. A run whose status record is unreadable, or a finished one whose config or curve is, is
    reported failed with the file's name.
    Unfinished runs resume from their checkpoints.
    """
    listed, previous = _previous_summary(out_dir / MANIFEST.format(sweep.name))
    check_dropped(sweep, out_dir, listed)
    changed = changed_runs(sweep, out_dir)
    if not rerun_changed:
        check_changed(sweep, out_dir, changed)
    todo, settled = [], {}
    for spec in sweep.runs:
        if spec.name in changed:
            todo.append(spec)
            continue
        run_dir = RunDir(out_dir / spec.name)
        try:
            status = run_dir.read_status()
        except RlscaleError as exc:
            settled[spec.name] = RunResult(spec.name, "failed", str(exc))
            continue
        damage = run_dir.damage() if status is not None and status.status == "finished" else None
        if damage:
            reason = f"finished before, but {damage}; remove {run_dir.path} to run it again"
            settled[spec.name] = RunResult(spec.name, "failed", reason)
        elif status is not None and status.status == "finished":
            settled[spec.name] = RunResult(spec.name, "skipped", "finished before")
        elif status is not None and status.status == "failed":
            reason = f"failed before: {status.reason}; remove {out_dir / spec.name} to run it again"
            settled[spec.name] = RunResult(spec.name, "failed", reason)
        elif spec.name in previous and (out_dir / spec.name).exists() and not retry_failed:
            reason = f"failed before: {previous[spec.name]}; it runs again when failed runs are retried"
            settled[spec.name] = RunResult(spec.name, "failed", reason)
        else:
            todo.append(spec)
    return todo, settled


def vector_jobs(sweep: Sweep, todo: Sequence[RunSpec], out_dir: Path,
                max_members: int) -> tuple[list[RunSpec | Chunk], list[str]]:
    """Cut the runs to launch into vectorised chunks of at most ``max_members``; also returns notices.

    Runs are grouped by every setting except seed, learning rate and batch size; each group is split
    into near-equal chunks. A chunk that holds a vectorised checkpoint resumes exactly as it was cut,
    a run whose folder holds a single run's partial state continues as a single run, and runs of an
    agent that is not vectorised (or a group of one) go one process each, as without vectorisation.
    """
    if max_members < 1:
        raise RlscaleError(f"max_members= must be >= 1, got {max_members}", params=("max_members",))
    single = sorted({s.config.algo for s in todo if AGENTS[s.config.algo].parallel})
    notes = [f"vectorised sweep: algo {a} trains N parallel envs with learner threads, one run per process; its runs "
             "are not vectorised" for a in single]
    items: list[RunSpec | Chunk] = []
    pending = {s.name: s for s in todo}
    known = {s.name: s for s in sweep.runs}
    statuses = {s.name: _final_status(out_dir / s.name) for s in todo}
    claimed: set[str] = set()
    for spec in todo:  # chunks interrupted before resume as they were cut
        status = statuses[spec.name]
        if spec.name in claimed or status is None or status.status != "running" or not status.chunk:
            continue
        if all(n in known for n in status.chunk) and not claimed & set(status.chunk):
            items.append(Chunk(tuple(known[n] for n in status.chunk), tuple(n for n in status.chunk if n in pending)))
            claimed.update(status.chunk)
    groups: dict[tuple, list[RunSpec]] = {}
    for spec in todo:
        if spec.name in claimed:
            continue
        status = statuses[spec.name]
        if AGENTS[spec.config.algo].parallel or (status is not None and not status.chunk):
            items.append(spec)  # not vectorised, or a single run's partial state: it resumes as a single run
            continue
        groups.setdefault(spec.config.shared(), []).append(spec)
    for members in groups.values():
        for chunk in np.array_split(np.arange(len(members)), math.ceil(len(members) / max_members)):
            specs = tuple(members[i] for i in chunk)
            items.append(specs[0] if len(specs) == 1 else Chunk(specs, tuple(s.name for s in specs)))
    return items, notes


def _previous_summary(summary: Path) -> tuple[list[str], dict[str, str]]:
    """What the last invocation of this sweep wrote: every run its version listed, and the runs it recorded as
    failed with their reasons (nothing from a summary that is missing or unreadable)."""
    import json

    try:
        doc = json.loads(summary.read_text())
        runs = [r for r in doc["runs"] if isinstance(r, dict) and isinstance(r.get("name"), str)]
        # summaries written before run_names was recorded list the runs that had an outcome
        listed = [n for n in doc.get("run_names", []) if isinstance(n, str)] + [r["name"] for r in runs]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return [], {}
    return listed, {r["name"]: str(r.get("reason")) for r in runs if r.get("status") == "failed"}


def run_sweep(sweep: Sweep, out_dir: str | os.PathLike, executor: Executor, *, retry_failed: bool = False,
              rerun_changed: bool = False, progress: bool = True, vectorize: bool = False,
              max_members: int | None = None) -> SweepReport:
    """Launch the sweep's pending runs on ``executor``; returns the report (also written to disk).

    ``vectorize``: train each chunk of runs that differ only in seed, learning rate and batch size as one
    process (:func:`vector_jobs`; ``max_members`` defaults to 64 with GPUs, else 16). The outcomes are
    recorded per run either way. Holds the output folder's sweep lock throughout. Ctrl-C or SIGTERM
    (KeyboardInterrupt) stops the running runs, records them and raises :class:`SweepInterrupted`.
    """
    out_dir = Path(out_dir)
    io.check_writable_path(out_dir, folder=True)
    with FolderLock(out_dir, SWEEP_LOCK, what="sweep output"):
        return _run_locked(sweep, out_dir, executor, retry_failed=retry_failed, rerun_changed=rerun_changed,
                           progress=progress, vectorize=vectorize, max_members=max_members)


def _run_locked(sweep: Sweep, out_dir: Path, executor: Executor, *, retry_failed: bool, rerun_changed: bool,
                progress: bool, vectorize: bool, max_members: int | None) -> SweepReport:
    from rlscale.train.progress import progress_bar

    todo, settled = plan(sweep, out_dir, retry_failed=retry_failed, rerun_changed=rerun_changed)
    if rerun_changed:
        rerun_changed_runs(out_dir, changed_runs(sweep, out_dir))
    items: Sequence[RunSpec | Chunk] = todo
    if vectorize:
        if not isinstance(executor, LocalExecutor):
            raise RlscaleError("vectorised sweeps run on the local executor only")
        if max_members is None:
            max_members = MAX_MEMBERS["cuda" if getattr(executor, "gpus", None) else "cpu"]
        items, notes = vector_jobs(sweep, todo, out_dir, max_members)
        for note in notes:
            print(f"rlscale: {note}", file=sys.stderr)
    report = SweepReport(sweep, out_dir, dict(settled))
    report.write()
    running: set[str] = set()
    lock = threading.Lock()
    bar = progress_bar(len(sweep.runs), initial=len(settled), unit="run", desc=f"sweep {sweep.name}",
                       disable=not progress)

    def postfix() -> None:
        c = report.counts()
        bar.set_postfix(done=c["finished"] + c["skipped"], failed=c["failed"], running=len(running))

    def on_start(spec: RunSpec) -> None:
        with lock:
            running.add(spec.name)
            postfix()

    def on_done(result: RunResult) -> None:
        with lock:
            running.discard(result.name)
            report.results[result.name] = result
            report.write()
            if result.status == "failed":
                bar.write(f"rlscale: run failed: {result.name}: {result.reason}")
            if result.status != "interrupted":
                bar.update(1)
            postfix()

    for result in settled.values():
        if result.status == "failed":
            print(f"rlscale: run failed: {result.name}: {result.reason}", file=sys.stderr)
    postfix()
    try:
        executor.run(items, out_dir, on_start, on_done)
        report.state = "finished"
    except KeyboardInterrupt as exc:
        executor.stop()
        report.state = "interrupted"
        raise SweepInterrupted(report) from exc
    finally:
        bar.close()
        report.write()
    return report
