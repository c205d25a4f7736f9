"""Run a sweep's runs as Ray tasks, on one machine or a cluster (``rlscale sweep --executor ray``).

Ray, not a scheduler of our own, places each run where its CPU/GPU request fits, and reruns a task
whose worker or node was lost (``max_retries``). Each task trains in its own fresh worker process
(``max_calls=1``) by handing the run's :class:`~rlscale.train.worker.Job` to the training entry point
in-process, so a lost worker is a lost run, and the rerun resumes from the run's last checkpoint
instead of starting over. Run folders are written by the
tasks themselves, so OUT must be a path every node sees (a shared filesystem, mounted at the same
place). The driver keeps the sweep's bookkeeping: which runs to skip, the summary file, the exit code.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlscale.errors import RlscaleError
from rlscale.train.config import Runtime
from rlscale.train.rundir import RunDir
from rlscale.train.sweep import RunResult, RunSpec, failure_reason
from rlscale.train.worker import Job, run_and_report

INSTALL_HINT = "the Ray executor needs Ray: pip install 'rlscale[ray]'"


def import_ray() -> Any:
    """Ray is an optional extra: without it, one line saying how to get it."""
    try:
        import ray
    except ImportError as exc:
        raise RlscaleError(INSTALL_HINT) from exc
    return ray


def _train_task(job_json: str) -> dict[str, Any]:
    """One run, inside a Ray worker: the job trained in-process, its output appended to the run's train.log."""
    import traceback

    import ray

    job = Job.from_json(job_json)
    run_dir = RunDir(job.runs[0][1])
    run_dir.path.mkdir(parents=True, exist_ok=True)
    gpu_ids = ",".join(str(g) for g in ray.get_gpu_ids())
    device = job.runtime.device
    where = f"ray {f'cuda (GPU {gpu_ids})' if device == 'cuda' else 'cpu'} on {ray.util.get_node_ip_address()}"
    start = time.perf_counter()
    with open(run_dir.log_path, "ab") as log:
        log.write(f"$ ray task  # {job.describe()}, {where}, pid {os.getpid()}\n".encode())
        log.flush()
        # the worker is ours alone (max_calls=1): point its stdout/stderr at the log, as a subprocess would
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            rc = run_and_report(job)
        except RlscaleError as exc:
            print(f"rlscale: error: {exc}", file=sys.stderr)
            rc = 2
        except Exception:
            traceback.print_exc()
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    try:
        status = run_dir.read_status()
    except RlscaleError:
        status = None
    finished = rc == 0 and status is not None and status.status == "finished"
    return {"returncode": rc, "finished": finished, "wall_s": time.perf_counter() - start, "device": where,
            "reason": None if finished else failure_reason(rc, status, run_dir.log_path)}


@dataclass
class RayExecutor:
    """Each run is a Ray task asking for ``cpus_per_run`` CPUs and ``gpus_per_run`` (fractional) GPUs.

    ``address``: None starts a local Ray instance (or uses the one this process already joined),
    ``"auto"`` joins the cluster this machine is part of, ``"ray://host:10001"`` connects through Ray Client.
    ``gpus_per_run`` None means 1 when the cluster has GPUs and ``device`` is not ``"cpu"``, else 0.
    """

    address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float | None = None
    device: str = "auto"
    threads: int | None = None
    max_retries: int = 3
    _pending: dict[Any, RunSpec] = field(default_factory=dict, init=False, repr=False)

    def run(self, runs: Sequence[RunSpec], out_dir: Path, on_start: Callable[[RunSpec], None],
            on_done: Callable[[RunResult], None]) -> None:
        ray = import_ray()
        own = not ray.is_initialized()
        if own:
            self._connect(ray)
        try:
            self._run(ray, runs, out_dir.resolve(), on_start, on_done)
        except BaseException:  # Ctrl-C or a bug: end the running tasks, report them interrupted
            for spec in self._pending.values():
                on_done(RunResult(spec.name, "interrupted", "sweep stopped; resumes from its checkpoint"))
            self.stop()
            raise
        finally:
            if own:
                ray.shutdown()

    def _connect(self, ray: Any) -> None:
        import logging

        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        except Exception as exc:  # Ray also raises bare Exception (e.g. a local node that timed out starting)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            where = self.address or "a new local instance"
            raise RlscaleError(f"cannot start or join Ray at {where}: {first}") from exc

    def _gpus(self, ray: Any) -> float:
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        gpus = self.gpus_per_run
        if gpus is None:
            gpus = 1.0 if cluster_gpus > 0 and self.device != "cpu" else 0.0
        if self.device == "cuda" and gpus == 0:
            raise RlscaleError("device=cuda but the Ray cluster has no GPUs (or gpus_per_run=0)",
                               params=("device", "gpus_per_run"))
        if gpus > 0 and cluster_gpus == 0:
            raise RlscaleError(f"gpus_per_run={gpus:g} but the Ray cluster has no GPUs", params=("gpus_per_run",))
        return gpus

    def _run(self, ray: Any, runs: Sequence[RunSpec], out_dir: Path, on_start: Callable[[RunSpec], None],
             on_done: Callable[[RunResult], None]) -> None:
        gpus = self._gpus(ray)
        cpus = ray.cluster_resources().get("CPU", 0)
        if self.cpus_per_run > cpus:
            raise RlscaleError(f"cpus_per_run={self.cpus_per_run:g} exceeds the Ray cluster's {cpus:g} CPUs",
                               params=("cpus_per_run",))
        device = "cuda" if gpus > 0 else "cpu"
        threads = self.threads or max(1, int(self.cpus_per_run))
        task = ray.remote(max_calls=1)(_train_task).options(num_cpus=self.cpus_per_run, num_gpus=gpus,
                                                             max_retries=self.max_retries)
        for spec in runs:  # Ray queues them; each starts once a node has its resources free
            ref = task.remote(spec.job(out_dir, Runtime(device=device, threads=threads)).to_json())
            self._pending[ref] = spec
            on_start(spec)
        while self._pending:
            done, _ = ray.wait(list(self._pending), num_returns=1)
            spec = self._pending.pop(done[0])
            on_done(self._result(ray, spec, done[0]))

    def _result(self, ray: Any, spec: RunSpec, ref: Any) -> RunResult:
        try:
            out = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            return RunResult(spec.name, "interrupted", "sweep stopped; resumes from its checkpoint")
        except ray.exceptions.RayError as exc:  # the trainer raised, or its worker died more than max_retries times
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            return RunResult(spec.name, "failed", f"ray: {type(exc).__name__}: {lines[-1] if lines else ''}")
        status = "finished" if out["finished"] else "failed"
        return RunResult(spec.name, status, out["reason"], out["returncode"], out["wall_s"], out["device"])

    def stop(self) -> None:
        """Cancel queued and running tasks (running ones are killed; they resume from their checkpoints)."""
        import ray

        if not ray.is_initialized():
            return
        for ref in list(self._pending):
            ray.cancel(ref, force=True)
        self._pending.clear()
