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
from rlscale.train.rundir import CURVE, STATUS, RunDir, find_run_dirs


def _status(run_dir: RunDir) -> tuple[str, str | None]:
    try:
        status = run_dir.read_status()
    except RlscaleError:
        return "unknown", f"unreadable {STATUS}"
    return ("unknown", f"no {STATUS}") if status is None else (status.status, status.reason)


def collect_runs(root: str | os.PathLike, *, include_unfinished: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """The validated run table of the runs under ``root``, and one message per run left out or included partially.

    ``run_id`` is each run folder's path relative to ``root``, unique even across nested sweeps.
    """
    root = Path(root)
    if not root.is_dir():
        raise RlscaleError(f"{root}: not a folder of runs")
    frames: list[pd.DataFrame] = []
    notes: list[str] = []
    for run_dir in find_run_dirs(root):
        where = run_dir.path
        rel = where.relative_to(root).as_posix() if where != root else where.name
        status, reason = _status(run_dir)
        if status != "finished" and not include_unfinished:
            notes.append(f"skipped {where}: {status}" + (f" ({reason})" if reason else ""))
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
        frames.append(curve.assign(run_id=rel))
    if not frames:
        raise RlscaleError(f"{root}: no finished runs to collect ({len(notes)} run folder(s) skipped)"
                           + ("" if include_unfinished else "; --include-unfinished takes unfinished ones too"))
    table = pd.concat(frames, ignore_index=True)
    _check_distinct_runs(table)
    return validate_run_table(table, source=str(root)), notes


def _check_distinct_runs(table: pd.DataFrame) -> None:
    """Two folders holding the same (config, seed) would silently double a seed: name them instead."""
    per_run = table.drop_duplicates(["run_id", *RUN_COLUMNS])
    dup = per_run.duplicated(list(RUN_COLUMNS), keep=False)
    if dup.any():
        folders = per_run.loc[dup, "run_id"].tolist()
        raise RunTableError(f"run folders {', '.join(folders[:4])} hold the same run (config and seed); keep one")
