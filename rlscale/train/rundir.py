"""A run folder: the one module that knows its files, its status record, its checkpoints and its curve.

Layout::

    config.json         every setting (RunConfig), versions, git commit, device; written once, checked on resume
    status.json         a :class:`Status`: running, finished or failed, why, how far and how fast
    curve.parquet       the run-table rows so far (rewritten atomically at every evaluation)
    checkpoint.pt       the latest checkpoint (removed when the run finishes unless kept)
    checkpoint.pt.next  a checkpoint being written (phase one of two, see :func:`save_checkpoints`)
    train.log           a sweep's log of the processes that trained the run (every attempt appended)
    .lock               held (``fcntl.flock``) by the one process writing the folder; holds its PID

One writer per folder: :class:`FolderLock` is an exclusive ``flock`` taken before the folder is read
and held until the writer ends; the kernel releases it when the process dies, however it dies, so a
killed run never leaves a stale lock. (``flock`` rather than the ``filelock`` package: the same
system call underneath, but we also record and report the holder's PID.) A start that fails before
writing anything removes the lock file and the folders it made (:func:`locked`).

A run folder holds one run: a folder holding a sweep's summary (``sweep_<name>.json``) or other run
folders is refused, since ``collect`` would take the run for one more run of theirs.

A *chunk* (K runs that differ only in seed, learning rate and batch size, trained as one batched
process by ``rlscale sweep --vectorize``) writes K ordinary run folders: ``collect`` and the laws
cannot tell them from single runs. Each member's status names the chunk's member folders (the
``vectorized`` key, :attr:`Status.chunk`), which is how a sweep resumes the chunk as it was cut, and
each member folder holds member k's slice of the chunk's checkpoint.

Every file is written through :mod:`rlscale.io` (temp file, then rename): a killed process leaves the
old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlscale import io
from rlscale.errors import RlscaleError
from rlscale.train.config import RunConfig

CONFIG, STATUS, CURVE, CHECKPOINT, LOG = "config.json", "status.json", "curve.parquet", "checkpoint.pt", "train.log"
LOCK = ".lock"
MANIFEST = "sweep_{}.json"  # a sweep's summary, in its output folder (rlscale.train.sweep)
STAGED = CHECKPOINT + ".next"
CHUNK_KEY = "vectorized"  # status.json and checkpoints: the chunk's member folder names, in order
CHECKPOINT_FORMAT = 2  # bumped when the checkpoint layout changes; older checkpoints are refused in one line


class FolderLock:
    """An exclusive lock on a folder (``FOLDER/NAME``, holding the holder's PID) for the life of its writer.

    ``acquire`` never waits: a second writer gets one line naming the holder's PID. Where ``fcntl`` is
    missing (not a POSIX system) the lock is a no-op.
    """

    def __init__(self, folder: str | os.PathLike, name: str = LOCK, what: str = "run folder") -> None:
        self.folder, self.name, self.what = Path(folder), name, what
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.folder / self.name

    def acquire(self, wait: float = 0.0) -> FolderLock:
        """Take the lock (a no-op when this object holds it), polling up to ``wait`` seconds while another
        process holds it."""
        if self._fd is not None:
            return self
        deadline = time.monotonic() + wait
        while True:
            try:
                return self._try_acquire()
            except RlscaleError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def _try_acquire(self) -> FolderLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return self
        io.check_writable_path(self.folder, folder=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RlscaleError(f"{self.folder}: this {self.what} is in use by process {holder} (another rlscale "
                               "process writing it); wait for it to end or stop it") from None
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        if current is None or not os.path.samestat(os.fstat(fd), current):
            os.close(fd)  # a failed start removed the file while we waited on it (see locked): lock the new one
            return self._try_acquire()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def locked(dirs: Sequence[RunDir]) -> Any:
    """Hold every folder's lock (all or none) for the block.

    A block that fails (a refused folder, an unknown env) removes, still under the lock, the lock files this
    call made and the folders it made that are left empty: a failed start leaves no empty run folder, and no
    lock file in a folder it refused, that ``collect`` would report as a run that failed.
    """
    made = [_Made.before(d.path) for d in dirs]
    with contextlib.ExitStack() as stack:
        held: list[_Made] = []
        try:
            for d, m in zip(dirs, made, strict=True):
                stack.enter_context(FolderLock(d.path))
                held.append(m)
            yield
        except BaseException:
            for m in held:
                m.undo()
            raise


@dataclass(frozen=True)
class _Made:
    """What taking a folder's lock adds: the lock file (``lock``: it was missing) and the missing folders from
    ``folder`` up to ``top``."""

    folder: Path
    lock: bool
    top: Path | None

    @classmethod
    def before(cls, folder: Path) -> _Made:
        top = None
        for p in (folder, *folder.parents):
            if p.exists():
                break
            top = p
        return cls(folder, not (folder / LOCK).exists(), top)

    def undo(self) -> None:
        """Remove the lock file, then the folders made while they are empty (call with the lock held: a process
        waiting on the removed file then locks a new one, see :class:`FolderLock`)."""
        if not self.lock:
            return
        with contextlib.suppress(OSError):
            (self.folder / LOCK).unlink()
        if self.top is None:
            return
        for p in (self.folder, *self.folder.parents):
            try:
                p.rmdir()  # refused while the folder holds anything: what the run wrote stays
            except OSError:
                return
            if p == self.top:
                return


@dataclass(frozen=True)
class Status:
    """A run's ``status.json``: one record, one writer (the trainer), one reader (:meth:`RunDir.read_status`)."""

    status: str  # "running" | "finished" | "failed"
    env_step: int = 0
    reason: str | None = None  # why it failed
    chunk: tuple[str, ...] | None = None  # member folders of the chunk this run trains in (None: a single run)
    resumed_from: int | None = None  # env step this attempt continued from (None: it started fresh)
    updates: int = 0
    effective_utd: float | None = None  # measured updates / (env_step - warmup_steps)
    max_update_lag: int = 0  # most critic updates due but not yet done after a collection step (PQL's threads)
    updates_per_s: float | None = None  # training throughput (wall time without evaluations)
    env_steps_per_s: float | None = None
    train_s: float | None = None
    eval_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        chunk = out.pop("chunk")
        return {**out, CHUNK_KEY: list(chunk) if chunk else None}

    @classmethod
    def from_json(cls, doc: Any) -> Status:
        """Tolerates fields written by older versions (ignored) and absent ones (defaults)."""
        if not isinstance(doc, dict) or doc.get("status") not in ("running", "finished", "failed"):
            raise ValueError("not a run status record")
        names = {f.name for f in dataclasses.fields(cls)} - {"chunk"}
        chunk = doc.get(CHUNK_KEY)
        return cls(**{k: v for k, v in doc.items() if k in names}, chunk=tuple(chunk) if chunk else None)

    @property
    def settled(self) -> bool:
        """Finished or failed: nothing more to train."""
        return self.status in ("finished", "failed")


class RunDir:
    """One run folder; every read and write of its files goes through here."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    @property
    def status_path(self) -> Path:
        return self.path / STATUS

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ----------------------------------------------------------------- claiming
    def claim(self, config: RunConfig) -> Status | None:
        """Take this folder (its lock held) for training ``config``: refuse a file, a folder of other runs, or a
        folder holding a different run; returns its status (None: nothing trained here yet)."""
        io.check_writable_path(self.path, folder=True)
        self._refuse_other_runs()
        saved = self.read_config()
        if saved is None:
            return None
        diff = saved.differences(config)
        if diff:
            raise RlscaleError(f"{self.path} holds a run with a different config ({', '.join(diff)}); "
                               "use another folder")
        return self.read_status()

    def _refuse_other_runs(self) -> None:
        """A sweep's output folder, or one holding run folders, is no place for a run: ``collect`` would take
        the folder itself for one more run among them."""
        manifests = sorted(self.path.glob(MANIFEST.format("*")))
        if manifests:
            raise RlscaleError(f"{self.path} is a sweep's output folder (it holds {manifests[0].name}); give the "
                               "run a folder of its own")
        others = [d.path for d in find_run_dirs(self.path) if d.path != self.path]
        if others:
            raise RlscaleError(f"{self.path} holds {len(others)} other run folder(s) (e.g. {others[0]}); give the "
                               "run a folder of its own")

    def clear(self) -> None:
        """Delete everything the folder holds but its lock (call with the lock held): a run retrained anew."""
        for entry in self.path.iterdir():
            if entry.name == LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    # ----------------------------------------------------------------- config.json
    def read_config(self) -> RunConfig | None:
        record = self.read_record()
        if record is None:
            return None
        path = self.path / CONFIG
        try:
            settings = record["settings"]
        except KeyError as exc:
            raise RlscaleError(f"{path} is not an rlscale run config ({type(exc).__name__}: {exc})") from exc
        return RunConfig.from_dict(settings, source=str(path))

    def read_record(self) -> dict[str, Any] | None:
        """The whole ``config.json``: the settings and what the run was trained with (versions, git commit, device,
        start time); None where there is none yet."""
        path = self.path / CONFIG
        try:
            record = json.loads(path.read_text())
            if not isinstance(record, dict):
                raise TypeError(f"a JSON {type(record).__name__}, not an object")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise RlscaleError(f"{path} is not an rlscale run config ({type(exc).__name__}: {exc})") from exc
        return record

    def write_config(self, record: dict[str, Any]) -> None:
        io.write_json(self.path / CONFIG, record)

    # ----------------------------------------------------------------- status.json
    def read_status(self) -> Status | None:
        path = self.path / STATUS
        try:
            return Status.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise RlscaleError(f"{path}: unreadable run status ({exc}); remove the run folder to train it "
                               "again") from exc

    def write_status(self, status: Status) -> None:
        io.write_json(self.path / STATUS, status.to_json())

    # ----------------------------------------------------------------- curve.parquet
    def write_curve(self, rows: list[dict[str, Any]]) -> None:
        """The run-table rows so far, validated against the schema of :mod:`rlscale.runs`."""
        import pandas as pd

        from rlscale.runs import validate_run_table

        if rows:
            io.write_table(self.path / CURVE, validate_run_table(pd.DataFrame(rows), source=str(self.path)))

    def read_curve(self, columns: Sequence[str] | None = None) -> Any:
        import pandas as pd

        return pd.read_parquet(self.path / CURVE, columns=None if columns is None else list(columns))

    @property
    def has_curve(self) -> bool:
        return (self.path / CURVE).exists()

    def damage(self) -> str | None:
        """Why a finished run's results cannot be read back (its config or its curve unreadable or gone, as a
        disk fault or a bad copy leaves them), or None: such a run is not finished for a sweep, which would
        otherwise skip it every time while ``collect`` leaves it out."""
        import pyarrow.parquet as pq

        try:
            if self.read_config() is None:
                return f"no {CONFIG}"
        except RlscaleError as exc:
            return str(exc)
        try:
            pq.read_metadata(self.path / CURVE)
        except (OSError, ValueError) as exc:
            return f"{self.path / CURVE}: unreadable run curve ({str(exc).splitlines()[0]})"
        return None

    # ----------------------------------------------------------------- checkpoint.pt
    def remove_checkpoint(self) -> None:
        for name in (CHECKPOINT, STAGED):
            (self.path / name).unlink(missing_ok=True)

    def _read_checkpoint(self, name: str) -> dict[str, Any] | None:
        import torch

        path = self.path / name
        if not path.exists():
            return None
        try:  # our own file: numpy RNG states and python objects, so not weights-only
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # a corrupt checkpoint names the file and the way out, not a pickle traceback
            why = (str(exc).splitlines() or [type(exc).__name__])[0].split(". ")[0]
            raise RlscaleError(f"cannot read checkpoint {path} ({why}); remove it to restart the run from its first "
                               "step (a vectorised chunk's runs restart together)") from exc
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise RlscaleError(f"{path} was written by an older rlscale; remove it to restart the run from its "
                               "first step")
        return state


def find_run_dirs(root: str | os.PathLike) -> list[RunDir]:
    """Every folder under ``root`` (recursively, through symbolic links, hidden folders skipped) that holds a run's
    config or status."""
    return scan_run_dirs(root)[0]


def scan_run_dirs(root: str | os.PathLike) -> tuple[list[RunDir], list[Path]]:
    """One walk of ``root``: its run folders (:func:`find_run_dirs`), and the folders a run took (its lock, its sweep
    log) that hold neither config nor status: runs that failed, or are just starting, before writing their config.

    Links are followed (runs gathered as links to where they were trained), each folder once: under the first path
    that reaches it in sorted order, so a link to a folder already walked is no second copy of its runs, and a link
    back up the tree ends the walk there.
    """
    found, claimed, seen = [], [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if CONFIG in filenames or STATUS in filenames:
            found.append(RunDir(dirpath))
        elif LOCK in filenames or LOG in filenames:
            claimed.append(Path(dirpath))
    return found, claimed


# ---------------------------------------------------------------------------------------------- checkpoints
def save_checkpoints(dirs: Sequence[RunDir], states: Sequence[dict[str, Any]]) -> None:
    """Member k's state into ``dirs[k]``, all or none: phase one writes every ``checkpoint.pt.next`` (each
    atomically), phase two renames them all, so a kill at any moment leaves one complete set."""
    import torch

    for run_dir, state in zip(dirs, states, strict=True):
        io.write_with(run_dir.path / STAGED, lambda tmp, s=state: torch.save({**s, "format": CHECKPOINT_FORMAT}, tmp))
    for run_dir in dirs:
        os.replace(run_dir.path / STAGED, run_dir.path / CHECKPOINT)


def load_checkpoints(dirs: Sequence[RunDir]) -> list[dict[str, Any]] | None:
    """The newest step every member holds (finishing an interrupted phase two), else None.

    A set is complete when every member's state names these same member folders and is at one step. A single run's
    own checkpoint is its own under any folder name, so a run folder copied or renamed before it finished resumes.
    """
    names = [d.name for d in dirs]

    def ours(state: dict[str, Any] | None) -> bool:
        return state is not None and (state.get(CHUNK_KEY) == names
                                      or len(names) == 1 and len(state.get(CHUNK_KEY) or ()) == 1)

    def complete(states: list[dict[str, Any] | None]) -> bool:
        return all(ours(s) for s in states) and len({s["counters"]["env_step"] for s in states if s is not None}) == 1

    newest = [d._read_checkpoint(STAGED) or d._read_checkpoint(CHECKPOINT) for d in dirs]
    if complete(newest):
        for d in dirs:  # finish an interrupted phase two
            if (d.path / STAGED).exists():
                os.replace(d.path / STAGED, d.path / CHECKPOINT)
        return newest
    for d in dirs:  # phase one was interrupted: its files are an incomplete set
        (d.path / STAGED).unlink(missing_ok=True)
    older = [d._read_checkpoint(CHECKPOINT) for d in dirs]
    return older if complete(older) else None


def rng_state(generators: dict[str, np.random.Generator]) -> dict[str, Any]:
    """Python, numpy (the named generators), torch CPU and every CUDA device's RNG state."""
    import torch

    return {
        "python": random.getstate(),
        "numpy": {name: g.bit_generator.state for name, g in generators.items()},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any], generators: dict[str, np.random.Generator]) -> None:
    import torch

    random.setstate(state["python"])
    for name, g in generators.items():
        g.bit_generator.state = state["numpy"][name]
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
