"""Collect run folders (``rlscale train`` outputs) into one run table in the schema of :mod:`rlscale.runs`.

Only finished runs count by default: an unfinished curve would read as "never reached the threshold".
With ``include_unfinished`` the curves of interrupted and failed (diverged) runs are included up to
where they stopped, which the laws then treat as never crossing beyond that point.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from rlscale.errors import RlscaleError, RunTableError
from rlscale.runs import RUN_COLUMNS, validate_run_table
from rlscale.train.config import RunConfig
from rlscale.train.progress import progress_bar
from rlscale.train.rundir import CONFIG, CURVE, LOG, STATUS, RunDir, scan_run_dirs


def _status(run_dir: RunDir) -> tuple[str, str | None]:
    try:
        status = run_dir.read_status()
    except RlscaleError:
        return "unknown", f"unreadable {STATUS}"
    return ("unknown", f"no {STATUS}") if status is None else (status.status, status.reason)


def collect_runs(root: str | os.PathLike, *, include_unfinished: bool = False,
                 progress: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """The validated run table of the runs under ``root``, and one message per run left out or included partially.

    ``run_id`` is each run folder's path relative to ``root``, unique even across nested sweeps. Two folders
    count as the same run when their whole configs are equal; folders the table cannot tell apart (same
    env, algo, utd, batch size, learning rate and seed) but whose configs differ are refused too, naming
    the fields, since the laws would average them as seeds of one configuration.
    """
    root = Path(root)
    if not root.is_dir():
        raise RlscaleError(f"{root}: not a folder of runs")
    frames: list[pd.DataFrame] = []
    run_dirs, claimed = scan_run_dirs(root)
    notes = [f"skipped {where}: failed before its {CONFIG} was written (or is just starting)"
             + (f"; see its {LOG}" if (where / LOG).exists() else "") for where in claimed]
    by_status = 0  # runs skipped for their status alone, which include_unfinished would take
    configs: dict[str, RunConfig] = {}
    bar = progress_bar(len(run_dirs), unit="run", desc=f"collect {root}", disable=not progress)
    for run_dir in run_dirs:
        bar.update(1)
        where = run_dir.path
        rel = where.relative_to(root).as_posix() if where != root else where.name
        status, reason = _status(run_dir)
        if status != "finished" and not include_unfinished:
            notes.append(f"skipped {where}: {status}" + (f" ({reason})" if reason else ""))
            by_status += 1
            continue
        try:  # a run's identity is its whole config: without it, two folders could not be told apart
            config = run_dir.read_config()
        except RlscaleError as exc:
            cause = exc.__cause__
            why = f"{type(cause).__name__}: {cause}" if cause else str(exc).removeprefix(f"{where / CONFIG}: ")
            notes.append(f"skipped {where}: unreadable {CONFIG} ({why})")
            continue
        if config is None:
            notes.append(f"skipped {where}: {status}, no {CONFIG}")
            continue
        if not run_dir.has_curve:
            notes.append(f"skipped {where}: {status}, no {CURVE} yet")
            continue
        try:
            curve = run_dir.read_curve()
        except (OSError, ValueError) as exc:
            notes.append(f"skipped {where}: unreadable {CURVE} ({exc})")
            continue
        if len(curve) == 0:
            notes.append(f"skipped {where}: {status}, empty {CURVE}")
            continue
        if status != "finished":
            notes.append(f"included unfinished {where}: {status}" + (f" ({reason})" if reason else "")
                         + f", {len(curve)} rows")
        configs[rel] = config
        frames.append(curve.assign(run_id=rel))
    bar.close()
    if not frames:
        why = "; ".join(note.removeprefix("skipped ") for note in notes[:3]) + ("; ..." if len(notes) > 3 else "")
        raise RlscaleError(f"{root}: no finished runs to collect ({len(notes)} run folder(s) skipped"
                           + (f": {why})" if notes else ")")
                           + ("; include_unfinished=True takes unfinished ones too" if by_status else ""),
                           params=("include_unfinished",))
    table = pd.concat(frames, ignore_index=True)
    _check_distinct_runs(table, configs)
    return validate_run_table(table, source=str(root)), notes


def _check_distinct_runs(table: pd.DataFrame, configs: dict[str, RunConfig]) -> None:
    """Two folders holding the same run would silently double a seed, two with different configs under one
    table key would be averaged as seeds of one configuration: name them and what differs instead."""
    per_run = table.drop_duplicates(["run_id", *RUN_COLUMNS])
    dup = per_run[per_run.duplicated(list(RUN_COLUMNS), keep=False)]
    for _, group in dup.groupby(list(RUN_COLUMNS), sort=False):
        folders = group["run_id"].tolist()
        first = configs[folders[0]]
        for other in folders[1:]:
            diff = first.differences(configs[other])
            if diff:
                raise RunTableError(f"run folders {folders[0]} and {other} have the same env, algo, utd, batch size, "
                                    f"learning rate and seed but differ in {', '.join(diff)}; collect them into "
                                    "separate tables")
        raise RunTableError(f"run folders {', '.join(folders[:4])} hold the same run (identical configs); keep one")
