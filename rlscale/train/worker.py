"""The one entry point that trains: every executor hands it one serialised :class:`Job`.

A job is the runs one process trains (one run, or a chunk of K members trained as one batched
computation) and how (:class:`~rlscale.train.config.Runtime`). ``rlscale train`` builds a job from its
flags and calls :func:`run_job`; a sweep's local executor starts ``python -m rlscale.train.worker``
with the job's JSON on stdin (:func:`main`); a Ray task calls :func:`run_job` in its worker process.
The JSON holds each run's :class:`~rlscale.train.config.RunConfig` exactly as its ``config.json``
records it, so a run crosses process boundaries in one format.

Importing this module is cheap: torch is loaded only when a job runs, after Isaac Gym (which refuses to
load after torch) when a run needs it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlscale.errors import RlscaleError, os_error_line
from rlscale.train.config import RunConfig, Runtime
from rlscale.train.rundir import Status

PARENT_ENV = "RLSCALE_PARENT_PID"  # set by a sweep's local executor: the driver's PID
PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)


@dataclass(frozen=True)
class Job:
    """The runs one process trains: ``(config, output folder)`` pairs, and how."""

    runs: tuple[tuple[RunConfig, str], ...]
    runtime: Runtime = Runtime()

    def to_json(self) -> str:
        return json.dumps({"runs": [{"config": c.to_dict(), "output": out} for c, out in self.runs],
                           "runtime": dataclasses.asdict(self.runtime)})

    @classmethod
    def from_json(cls, text: str) -> Job:
        try:
            doc = json.loads(text)
            runs = tuple((RunConfig.from_dict(r["config"], source="job"), str(r["output"])) for r in doc["runs"])
            runtime = Runtime(**doc.get("runtime", {}))
        except (ValueError, TypeError, KeyError) as exc:
            raise RlscaleError(f"bad job ({type(exc).__name__}: {exc})") from exc
        if not runs:
            raise RlscaleError("bad job: no runs")
        return cls(runs, runtime)

    def describe(self) -> str:
        names = [Path(out).name for _, out in self.runs]
        return f"{len(names)} run(s): {names[0]}" + (f" (+{len(names) - 1} in the chunk)" if len(names) > 1 else "")


def run_job(job: Job) -> list[Status]:
    """Train the job's runs in this process (one run, or one chunk); each run's final status."""
    if any(c.env.startswith("isaac:") for c, _ in job.runs):  # Isaac Gym refuses to load after torch;
        with contextlib.suppress(ImportError):  # without it, rlscale.envs.parallel says how to install it
            import isaacgym  # noqa: F401

    from rlscale.train.loop import train_members

    return train_members([c for c, _ in job.runs], [out for _, out in job.runs], job.runtime)


def outcome_lines(job: Job, statuses: Sequence[Status]) -> list[str]:
    """What a person wants to read after the job: what resumed, finished or failed."""
    lines = []
    for (config, out), status in zip(job.runs, statuses, strict=True):
        if status.status == "failed":
            lines.append(f"rlscale: run failed: {status.reason} (table kept up to the failure in {out})")
        elif status.resumed_from is not None:
            lines.append(f"rlscale: resumed {out} from env step {status.resumed_from}")
        elif status.status == "finished" and status.env_step == config.env_steps:
            lines.append(f"rlscale: {out} finished ({config.env_steps} env steps)")
    return lines


def run_and_report(job: Job, out: Any = None) -> int:
    """:func:`run_job`, then its outcome lines (unless quiet) on ``out``; exit code 1 if a run failed."""
    statuses = run_job(job)
    if not job.runtime.quiet:
        for line in outcome_lines(job, statuses):
            print(line, file=out or sys.stderr, flush=True)
    return 1 if any(s.status == "failed" for s in statuses) else 0


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt for the block, as Ctrl-C does: ``finally`` blocks run, a sweep stops its
    workers and writes its summary, env subprocesses close (the main thread only; elsewhere a no-op)."""
    import threading

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def die_with_parent() -> None:
    """Get SIGTERM when the sweep driver that started this worker dies, even by SIGKILL.

    Linux's ``prctl(PR_SET_PDEATHSIG)`` through ctypes; elsewhere a no-op (a stray worker then holds its
    run folders' locks until it ends, and a new driver's worker for them refuses in one line). Checked
    against the driver's PID afterwards: a driver that died before the call leaves no signal to wait for.
    """
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:
        raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rlscale.train.worker < JOB.json``: exit code 0 when every run finished, 1 when one failed,
    2 with one line for an error the user can fix, 130 when interrupted (SIGINT, SIGTERM, its driver died)."""
    parser = argparse.ArgumentParser(prog="python -m rlscale.train.worker", description=main.__doc__)
    parser.parse_args(argv)
    try:
        with sigterm_as_interrupt():
            die_with_parent()
            return run_and_report(Job.from_json(sys.stdin.read()))
    except RlscaleError as exc:
        print(f"rlscale: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a run folder that cannot be made (read-only filesystem, ...): its run left resumable
        print(f"rlscale: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlscale: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
