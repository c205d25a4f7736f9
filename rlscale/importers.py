"""Read other people's learning curves into a run table (:mod:`rlscale.runs`).

Every importer returns a validated run table, so what it hands on is exactly what the laws read.
Columns a source does not hold are filled the same way everywhere (:func:`finish_run_table`):

- ``benchmark``: given, else inferred from the env id: Gym ids (``HalfCheetah-v4``) -> ``gym``,
  the tasks of dm_control's suite (``walker-walk``, ``ball_in_cup-catch``: :data:`DMC_TASKS`) -> ``dmc``;
  any other id (``my-robot``) needs one given, since the benchmark decides how returns are scaled;
- ``algo``: given, else the paper's agent for the benchmark (gym -> ``sac``, dmc -> ``bro``);
- ``critic_params``: given, else the paper's critic parameter count N (1.5e5 for gym, 4.92e6 for dmc).

Whatever is filled so (not given, not in the source) is named in one warning: N and the benchmark change
the laws (compute, the 0-1000 scale), and the paper's values are rarely right for one's own agent.

Each importer also says which curve it read in the ``metric`` column (:data:`rlscale.runs.METRICS`):
the paper authors' Gym zips hold the return of the training episodes (``train_return``), their
Isaac Gym exports a failure rate (``failure_rate``, lower is better).

Sources
    :func:`import_qscaled`      the authors' zip, or the folder it unpacks to:
                                ``<name>/utd_<σ>/<env>/<metric>/bs_<B>_lr_<η>.npy``
    :func:`import_csv`          a CSV of curves, long (one row per point) or wide (one column per seed)
    :func:`import_wandb`        Weights & Biases runs through its API (needs ``pip install wandb``)
    :func:`runs_from_wandb`     the converter behind it, fed with (name, config, history) records
    :func:`import_wandb_csv`    the "Download CSV" of a W&B line-plot panel (single runs or run groups)
    :func:`import_isaac_wandb`  the authors' Isaac Gym exports (run names ``hlg_1cubes_b<n>_mb<B>_lr<η>``)
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlscale.errors import RlscaleError, RlscaleWarning
from rlscale.runs import (
    DEFAULT_METRIC,
    METRICS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    ROW_KEY,
    RUN_COLUMNS,
    validate_run_table,
)

DEFAULT_ALGO = {"gym": "sac", "dmc": "bro"}
DEFAULT_CRITIC_PARAMS = {"gym": 150_000, "dmc": 4_920_000}
SCHEMA_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_UTD_DIR = re.compile(rf"utd_(?P<utd>{_NUMBER})")
_QSCALED_FILE = re.compile(rf"bs_(?P<batch_size>\d+)_lr_(?P<learning_rate>{_NUMBER})(?:_reset_(?:True|False))?\.npy")
_GROUPED_DIR = re.compile(
    rf"(?P<algo>[A-Za-z][A-Za-z0-9-]*)_(?P<batch_size>\d+)_(?P<utd>{_NUMBER})_(?P<learning_rate>{_NUMBER})")
_GYM_ID = re.compile(r"[A-Z][A-Za-z0-9]*-v\d+")

#: the tasks of dm_control's suite (``dm_control.suite.ALL_TASKS``, version 1.0.50), by domain. Written out, not
#: read from dm_control: importing its suite loads MuJoCo (~0.6 s, more than this module); a test keeps the two
#: equal. Only these ids are taken for DMC: an own task named ``domain-task`` (``my-robot``, ``hopper-medium``)
#: would otherwise have its raw returns read as DMC's 0-1000 scores.
DMC_TASKS: dict[str, tuple[str, ...]] = {
    "acrobot": ("swingup", "swingup_sparse"),
    "ball_in_cup": ("catch",),
    "cartpole": ("balance", "balance_sparse", "swingup", "swingup_sparse", "three_poles", "two_poles"),
    "cheetah": ("run",),
    "dog": ("fetch", "run", "stand", "trot", "walk"),
    "finger": ("spin", "turn_easy", "turn_hard"),
    "fish": ("swim", "upright"),
    "hopper": ("hop", "stand"),
    "humanoid": ("run", "run_pure_state", "stand", "walk"),
    "humanoid_CMU": ("run", "stand", "walk"),
    "lqr": ("lqr_2_1", "lqr_6_2"),
    "manipulator": ("bring_ball", "bring_peg", "insert_ball", "insert_peg"),
    "pendulum": ("swingup",),
    "point_mass": ("easy", "hard"),
    "quadruped": ("escape", "fetch", "run", "walk"),
    "reacher": ("easy", "hard"),
    "stacker": ("stack_2", "stack_4"),
    "swimmer": ("swimmer15", "swimmer6"),
    "walker": ("run", "stand", "walk"),
}


def infer_benchmark(env: str) -> str | None:
    """``gym`` for Gym-style ids, ``dmc`` for the tasks of dm_control's suite (:data:`DMC_TASKS`), else None."""
    if _GYM_ID.fullmatch(env):
        return "gym"
    domain, sep, task = env.partition("-")
    if sep and task in DMC_TASKS.get(domain, ()):
        return "dmc"
    return None


def finish_run_table(
    frame: pd.DataFrame,
    *,
    benchmark: str | None = None,
    algo: str | None = None,
    critic_params: float | None = None,
    source: str = "import",
) -> pd.DataFrame:
    """Fill benchmark/algo/critic_params (given values win), keep the schema's columns, validate; one warning
    names what was filled, since the user may not know that the paper's values stand in for theirs."""
    frame = frame.copy()
    if "env" not in frame.columns:
        raise RlscaleError(f"{source}: no env column (map one, or set env=ID with constants=)", params=("constants",))
    filled: dict[str, str] = {}  # parameter -> what was filled
    if benchmark is not None:
        frame["benchmark"] = benchmark
    elif "benchmark" not in frame.columns:
        codes, envs = pd.factorize(frame["env"].astype(str))
        inferred = pd.Series([infer_benchmark(e) for e in envs], dtype=object)
        if inferred.isna().any():
            raise RlscaleError(f"{source}: cannot infer the benchmark of env(s) "
                               f"{', '.join(envs[inferred.isna().to_numpy()])} (neither a Gym id like "
                               "HalfCheetah-v4 nor a dm_control suite task like walker-walk); pass benchmark=NAME",
                               params=("benchmark",))
        frame["benchmark"] = inferred.to_numpy()[codes]
        filled["benchmark"] = f"benchmark {'/'.join(sorted(set(inferred)))} (inferred from the env ids)"
    codes, benches = pd.factorize(frame["benchmark"].astype(str))
    fills = [(col, defaults) for col, given, defaults in (
        ("algo", algo, DEFAULT_ALGO),
        ("critic_params", critic_params, DEFAULT_CRITIC_PARAMS)
    ) if given is None and col not in frame.columns]
    unknown = sorted({b for _, defaults in fills for b in benches if b not in defaults})
    if fills and unknown:  # both missing are named at once: one more run of the import, not two
        raise RlscaleError(f"{source}: no default {' or '.join(c for c, _ in fills)} for benchmark(s) "
                           f"{', '.join(unknown)}; pass {' and '.join(f'{c}=' for c, _ in fills)}",
                           params=[c for c, _ in fills])
    defaulted: dict[str, dict[str, Any]] = {}
    for col, given in (("algo", algo), ("critic_params", critic_params)):
        if given is not None:
            frame[col] = given
    for col, defaults in fills:
        frame[col] = np.asarray([defaults[b] for b in benches])[codes]
        defaulted[col] = {b: defaults[b] for b in benches}
    for b in sorted({b for values in defaulted.values() for b in values}):
        items = [f"algo {defaulted['algo'][b]}"] if "algo" in defaulted else []
        items += [f"critic_params {defaulted['critic_params'][b]:.3g}"] if "critic_params" in defaulted else []
        filled[f"defaults {b}"] = f"{' and '.join(items)} (the paper's {b} defaults)"
    if filled:
        params = [p for p in ("benchmark", "algo", "critic_params") if p in filled or p in defaulted]
        warnings.warn(RlscaleWarning(f"{source}: filled in {', '.join(filled.values())}: pass "
                                     f"{'/'.join(f'{p}=' for p in params)} for your own agent", params=params),
                      stacklevel=3)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise RlscaleError(f"{source}: no value for column(s) {', '.join(missing)} "
                           "(map a source column to each, or set a constant FIELD=VALUE with constants=)",
                           params=("constants",))
    table = validate_run_table(frame.loc[:, [c for c in SCHEMA_COLUMNS if c in frame.columns]], source=source)
    _warn_uneven_runs(table, source)
    return table


def parse_pairs(items: Iterable[str], flag: str) -> dict[str, str]:
    """Parse repeated ``KEY=VALUE`` options (``--set``, ``--column``, ``--config``) into a dict."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise RlscaleError(f"{flag} expects FIELD=VALUE, got '{item}'")
        out[key.strip()] = value.strip()
    return out


def _check_fields(fields: Iterable[str], param: str) -> None:
    unknown = [f for f in fields if f not in SCHEMA_COLUMNS]
    if unknown:
        raise RlscaleError(f"unknown run-table column(s) {', '.join(unknown)} in {param}= "
                           f"(known: {', '.join(SCHEMA_COLUMNS)})", params=(param,))


def _apply_constants(frame: pd.DataFrame, constants: Mapping[str, Any] | None) -> pd.DataFrame:
    constants = dict(constants or {})
    _check_fields(constants, "constants")
    return frame.assign(**constants) if constants else frame


# --- the authors' zip format ---------------------------------------------------------------------------

_UTD_LAYOUT = "<name>/utd_<σ>/<env>/<metric>/bs_<B>_lr_<η>.npy"
_GROUPED_LAYOUT = "<name>/<ALGO>_<B>_<σ>_<η>/<env>.npy"
#: metric folders of the authors' zips whose meaning is known: their Gym SAC logs ``episode/return``
#: for the episodes it trains on (there is no separate evaluation curve in the zips)
QSCALED_METRICS = {"episode.return": "train_return"}


@dataclass(frozen=True)
class _Member:
    """One .npy file of a qscaled zip, located by its path (hyperparameters are parsed later)."""

    name: str
    collection: str
    metric: str | None  # None in the grouped layout, which has no metric folder
    env: str
    config: str  # the path components that hold the hyperparameters


def _qscaled_members(names: Sequence[str], source: str) -> list[_Member]:
    """Every data file of the zip, in either of the authors' layouts; macOS resource forks skipped."""
    out = []
    for name in names:
        if not name.endswith(".npy") or name.startswith("__MACOSX/") or "/._" in name:
            continue
        parts = name.split("/")
        if len(parts) >= 4 and parts[-4].startswith("utd_"):
            out.append(_Member(name, "/".join(parts[:-4]), parts[-2], parts[-3], f"{parts[-4]}/{parts[-1]}"))
        elif len(parts) >= 2 and _GROUPED_DIR.fullmatch(parts[-2]):
            out.append(_Member(name, "/".join(parts[:-2]), None, parts[-1][: -len(".npy")], parts[-2]))
        else:
            raise RlscaleError(f"{source}: file '{name}' is laid out neither as {_UTD_LAYOUT} nor as {_GROUPED_LAYOUT}")
    return out


def _parse_member(member: _Member, source: str) -> dict[str, Any]:
    """utd, batch_size, learning_rate (and algo in the grouped layout) from a member's path."""
    if member.metric is None:
        match = _GROUPED_DIR.fullmatch(member.config)
        assert match is not None  # _qscaled_members only keeps matching directories
        return {"algo": match["algo"].lower(), "utd": float(match["utd"]), "batch_size": int(match["batch_size"]),
                "learning_rate": float(match["learning_rate"])}
    utd_dir, file_name = member.config.split("/")
    utd, hparams = _UTD_DIR.fullmatch(utd_dir), _QSCALED_FILE.fullmatch(file_name)
    if utd is None or hparams is None:
        raise RlscaleError(f"{source}: cannot parse utd, batch size and learning rate from '{member.name}' "
                           f"(expected {_UTD_LAYOUT})")
    return {"utd": float(utd["utd"]), "batch_size": int(hparams["batch_size"]),
            "learning_rate": float(hparams["learning_rate"])}


def _select_members(
    members: list[_Member], returns_key: str | None, collection: str | None, source: str
) -> list[_Member]:
    """The members of one collection and one metric; one-line errors that list what the zip holds."""
    collections = sorted({m.collection for m in members})
    if collection is not None:
        members = [m for m in members if m.collection == collection]
        if not members:
            raise RlscaleError(f"{source}: no collection '{collection}' (available: {', '.join(collections)})")
    elif len(collections) > 1:
        raise RlscaleError(f"{source}: holds several collections ({', '.join(collections)}); "
                           "choose one with collection=NAME", params=("collection",))
    keys = sorted({m.metric for m in members if m.metric is not None})
    if not keys:
        if returns_key is not None:
            raise RlscaleError(f"{source}: its files ({_GROUPED_LAYOUT}) have no metric folders; "
                               "leave out returns_key=", params=("returns_key",))
        return members
    key = returns_key.replace("/", ".") if returns_key is not None else None
    if key is None:
        if len(keys) > 1:
            raise RlscaleError(f"{source}: holds several metrics; choose one with returns_key= "
                               f"(available: {', '.join(keys)})", params=("returns_key",))
        key = keys[0]
    elif key not in keys:
        raise RlscaleError(f"{source}: no metric '{returns_key}' (available: {', '.join(keys)})")
    return [m for m in members if m.metric == key]


def import_qscaled(
    path: str | os.PathLike,
    returns_key: str | None = None,
    *,
    collection: str | None = None,
    metric: str | None = None,
    benchmark: str | None = None,
    algo: str | None = None,
    critic_params: float | None = None,
    env_step_start: int | None = None,
    env_step_freq: int | None = None,
) -> pd.DataFrame:
    """Read the authors' published zip (the layouts of ``qscaled``'s zip loaders), or the folder of
    ``.npy`` files it unpacks to, without extracting anything.

    Two layouts: ``<name>/utd_<σ>/<env>/<metric>/bs_<B>_lr_<η>.npy`` (an optional ``_reset_True`` /
    ``_reset_False`` suffix of their DMC files is accepted) and ``<name>/<ALGO>_<B>_<σ>_<η>/<env>.npy``
    (their DMC baseline; ``ALGO`` fills ``algo``). A folder may be the ``<name>`` folder itself or one
    above it. Each file holds a 2-D array: the env step in the first column, one column per seed
    after it (seeds are numbered 0, 1, ... by column). Some of their zips store only the returns,
    logged every ``env_step_freq`` steps from ``env_step_start``; pass both and every column is a
    seed. ``returns_key`` picks the metric folder (``qscaled`` saves a ``/`` in the key as ``.``,
    e.g. ``episode/return`` -> ``episode.return``); it may be left out when there is a single
    metric. Several ``<name>`` collections need ``collection``. ``metric`` names what the curves are
    (the ``metric`` column; default: :data:`QSCALED_METRICS` for a known folder, else the folder's
    own name, else ``return``). Seed columns that are entirely NaN (padding for missing seeds) are
    dropped with a warning.
    """
    steps = ("env_step_start", "env_step_freq")
    if (env_step_start is None) != (env_step_freq is None):
        raise RlscaleError("qscaled zip: give both env_step_start= and env_step_freq=, or neither", params=steps)
    if env_step_freq is not None and not (env_step_freq > 0 and env_step_start >= 0):
        raise RlscaleError("qscaled zip: env_step_freq=F needs F > 0 and env_step_start=S needs S >= 0", params=steps)
    path = Path(path)
    source = f"qscaled {'folder' if path.is_dir() else 'zip'} {path}"
    pieces, dropped, seen = [], 0, {}
    with _qscaled_files(path, source) as (names, read):
        members = _qscaled_members(names, source)
        if not members:
            raise RlscaleError(f"{source}: holds no .npy files")
        for member in _select_members(members, returns_key, collection, source):
            config = {"env": member.env, **_parse_member(member, source)}
            key = tuple(config.values())
            if key in seen:
                raise RlscaleError(f"{source}: '{seen[key]}' and '{member.name}' hold the same configuration "
                                   f"({', '.join(f'{k}={v}' for k, v in config.items())}); import them separately")
            seen[key] = member.name
            steps, returns = _load_curves(read(member.name), member.name, source, env_step_start, env_step_freq)
            keep = ~np.all(np.isnan(returns), axis=0)
            dropped += int((~keep).sum())
            seeds = np.flatnonzero(keep)
            pieces.append(pd.DataFrame({
                **config,
                "seed": np.tile(seeds, len(steps)),
                "env_step": np.repeat(steps, len(seeds)),
                "return": returns[:, keep].ravel(),
                "metric": metric or QSCALED_METRICS.get(member.metric or "", member.metric or "return"),
            }))
    if dropped:
        warnings.warn(f"{source}: dropped {dropped} seed column(s) holding only NaN", RlscaleWarning, stacklevel=2)
    frame = pd.concat(pieces, ignore_index=True)
    return finish_run_table(frame, benchmark=benchmark, algo=algo, critic_params=critic_params, source=source)


@contextmanager
def _qscaled_files(path: Path, source: str) -> Iterator[tuple[list[str], Callable[[str], bytes]]]:
    """(member names with ``/`` separators, reader of a member's bytes) of a zip or a folder."""
    if path.is_dir():
        names = sorted(f.relative_to(path).as_posix() for f in path.rglob("*.npy") if f.is_file())
        yield names, lambda name: (path / name).read_bytes()
        return
    if not path.is_file():
        raise RlscaleError(f"{source}: no such file or folder")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise RlscaleError(f"{source}: not a readable zip file ({exc})") from exc
    with archive:
        yield archive.namelist(), archive.read


def _load_curves(
    data: bytes, name: str, source: str, start: int | None, freq: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """(env steps [T], returns [T, seeds]) of one .npy member, read from bytes."""
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise RlscaleError(f"{source}: '{name}' is not a readable .npy array ({exc})") from exc
    steps_first = freq is None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < (2 if steps_first else 1):
        want = "env step + at least one seed column" if steps_first else "at least one seed column"
        raise RlscaleError(f"{source}: '{name}' has shape {array.shape}; expected a 2-D array ({want})")
    if not np.issubdtype(array.dtype, np.number):
        raise RlscaleError(f"{source}: '{name}' is not numeric (dtype {array.dtype})")
    array = array.astype("float64")
    if not steps_first:
        return start + freq * np.arange(array.shape[0], dtype=np.int64), array
    steps = array[:, 0]
    whole = np.isfinite(steps) & (steps >= 0) & (np.abs(steps - np.round(steps)) <= 1e-6 * np.maximum(steps, 1))
    if not whole.all():
        raise RlscaleError(f"{source}: '{name}' column 0 must hold env steps (whole numbers >= 0); "
                           f"bad value {steps[~whole][0]!r} in row {int(np.flatnonzero(~whole)[0])} "
                           "(if the arrays hold returns only, pass env_step_start=S and env_step_freq=F)",
                           params=("env_step_start", "env_step_freq"))
    steps = np.round(steps).astype(np.int64)
    if np.unique(steps).size != steps.size:
        raise RlscaleError(f"{source}: '{name}' repeats env steps in column 0")
    return steps, array[:, 1:]


# --- generic CSV ---------------------------------------------------------------------------------------

DEFAULT_SEED_COLUMNS = r"(?:seed[_-]?)?(?P<seed>\d+)"


def import_csv(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    columns: Mapping[str, str] | None = None,
    constants: Mapping[str, Any] | None = None,
    wide: bool = False,
    seed_columns: str = DEFAULT_SEED_COLUMNS,
    metric: str | None = None,
    name_pattern: str | None = None,
    keep_last: bool = False,
    benchmark: str | None = None,
    algo: str | None = None,
    critic_params: float | None = None,
) -> pd.DataFrame:
    """Read a CSV of learning curves, or several as one table (``path``: files and folders, a folder meaning every
    ``.csv`` below it in name order: loggers that write one file per run).

    ``columns`` maps run-table columns to the CSV's names (``{"return": "episode_reward",
    "env_step": "step"}``; two fields may name one column); columns already named as in :mod:`rlscale.runs`
    need no mapping.
    ``constants`` sets (or overrides) a column for every row (``{"env": "Hopper-v4", "utd": 2}``).
    Long layout: one row per (run, seed, env step). Wide layout (``wide=True``): one row per
    (run, env step) and one return column per seed; the seed columns are those whose whole name
    matches the regex ``seed_columns`` and its named group ``seed`` gives the seed (default: ``3``,
    ``seed3``, ``seed_3``, ``seed-3``). Columns outside the schema are dropped. ``metric`` names what the
    return is (the ``metric`` column, :data:`rlscale.runs.METRICS`); without it, or a ``metric`` column, the
    return is taken for an evaluation return, which a warning says: a training return fitted as one changes
    the laws (``return_kind``), and a failure rate fitted as a return is thresholded in the wrong direction.
    ``name_pattern``: a regex matched against each file's whole name (below the folder given, or the file's own
    name; without ``.csv``) whose named groups set columns for that file's rows, as ``constants`` do for all.
    Seeds written as names (``seed_3``, ``s3``, a run id) are read as the number ending each name where that
    tells them apart, else numbered within each configuration (:func:`_seeds_from_names`); ``keep_last``: rows
    repeating a run's env step (a logger resumed from a checkpoint logs some steps again) keep the last one,
    counted in a warning, rather than being refused.
    """
    files = _csv_files(path)
    source = f"curves csv {files[0][0]}" if len(files) == 1 else f"curves csvs {files[0][0]} (+{len(files) - 1})"
    named = (_configs_of_names([name for _, name in files], name_pattern, None, source).drop(columns="run_id")
             if name_pattern is not None else None)
    parts = []
    for k, (file, _) in enumerate(files):
        part = _read_csv(file, f"curves csv {file}")
        parts.append(part if named is None else part.assign(**named.iloc[k].to_dict()))
    raw = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    columns = dict(columns or {})
    _check_fields(columns, "columns")
    absent = [c for c in columns.values() if c not in raw.columns]
    if absent:
        raise RlscaleError(f"{source}: no column(s) {', '.join(absent)} "
                           f"(columns: {', '.join(map(str, raw.columns))})")
    renamed = set(columns.values())
    clash = [(dst, src) for dst, src in columns.items() if dst != src and dst in raw.columns and dst not in renamed]
    if clash:  # two columns of one name: which one the table should hold is the user's call
        dst, src = clash[0]
        raise RlscaleError(f"{source}: mapping {dst}={src} in columns= would make a second '{dst}' column (the CSV "
                           f"has one already); remove the CSV's '{dst}' column or map it to another field "
                           f"(FIELD={dst} in columns=)", params=("columns",))
    # copied, not renamed: one CSV column may feed several fields (env_step and updates from one step counter)
    frame = raw.drop(columns=list(renamed)).assign(**{dst: raw[src] for dst, src in columns.items()})
    if wide:
        frame = _melt_seeds(frame, seed_columns, source)
    frame = _seeds_from_names(_apply_constants(frame, constants), source)
    frame = _keep_last(frame, source, keep_last)
    return finish_run_table(_read_as(frame, metric, source), benchmark=benchmark, algo=algo,
                            critic_params=critic_params, source=source)


def _seeds_from_names(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """A ``seed`` column of names as numbers, said in one warning: the integer ending each name where every name
    has one and none repeats within a configuration (``seed_3`` -> 3), else 0, 1, ... within each configuration in
    order of appearance. Seeds only tell a configuration's runs apart, so either numbering fits the same laws."""
    if "seed" not in frame.columns or frame["seed"].isna().any() or pd.to_numeric(frame["seed"], errors="coerce"
                                                                                  ).notna().all():
        return frame  # numbers already, or gaps the run-table check names
    names = frame["seed"].astype(str)
    config = [c for c in RUN_COLUMNS if c != "seed" and c in frame.columns]
    digits = names.str.extract(r"(\d+)$")[0]
    if digits.notna().all():
        pairs = frame.loc[:, config].assign(_name=names, _number=digits).drop_duplicates()
        if not pairs.duplicated([*config, "_number"]).any():
            warnings.warn(f"{source}: seeds read from the numbers ending their names ({names.iloc[0]} -> "
                          f"{int(digits.iloc[0])})", RlscaleWarning, stacklevel=3)
            return frame.assign(seed=digits.astype(int))
    warnings.warn(f"{source}: seeds are names ({names.iloc[0]}, ...) that no ending number tells apart: numbered 0, "
                  "1, ... within each configuration in order of appearance", RlscaleWarning, stacklevel=3)
    return _number_seeds(frame.drop(columns="seed").assign(_seed_name=names), "_seed_name")


def _keep_last(frame: pd.DataFrame, source: str, keep_last: bool) -> pd.DataFrame:
    """Of rows repeating one run's env step, the last (what a resumed logger wrote after its restart) with
    ``keep_last``; without it such rows are an error that names the way out."""
    # benchmark and algo, where absent, are filled later from the env and the options: one value per env, so the
    # columns present tell runs apart (a required one missing is refused by the run-table check after this)
    if "env_step" not in frame.columns:  # no step to repeat: the run-table check names the missing column
        return frame
    repeated = frame.duplicated([c for c in ROW_KEY if c in frame.columns], keep="last")
    if repeated.any() and not keep_last:
        at = f" (first: env step {frame.loc[repeated, 'env_step'].iloc[0]:g})"
        raise RlscaleError(f"{source}: {int(repeated.sum())} row(s) repeat an env step of their run{at}, as a logger "
                           "resumed from a checkpoint writes; "
                           "keep_last=True keeps the last of each", params=("keep_last",))
    if repeated.any():
        warnings.warn(f"{source}: {int(repeated.sum())} row(s) repeat an env step of their run (a resumed logger); "
                      "the last of each is kept", RlscaleWarning, stacklevel=3)
    return frame[~repeated].reset_index(drop=True)


def _read_as(frame: pd.DataFrame, metric: str | None, source: str) -> pd.DataFrame:
    """``frame`` with its ``metric`` column set to ``metric`` (or the default, said in one warning line)."""
    known = ", ".join(f"{m} ({'higher' if up else 'lower'} is better)" for m, up in METRICS.items())
    if metric is not None:
        if not metric.strip():
            raise RlscaleError(f"metric= is empty: give a name ({known})", params=("metric",))
        if "metric" in frame.columns and not frame["metric"].astype(str).eq(metric).all():
            raise RlscaleError(f"{source}: metric={metric} and the table's own metric column (or a metric in "
                               "constants=) disagree; give one of them", params=("metric", "constants"))
        if metric not in METRICS:
            warnings.warn(f"{source}: metric {metric} is none of {known}: thresholded as higher is better",
                          RlscaleWarning, stacklevel=3)
        return frame.assign(metric=metric)
    if "metric" in frame.columns:
        return frame
    warnings.warn(RlscaleWarning(f"{source}: return read as {DEFAULT_METRIC} (evaluation episodes, higher is "
                                 "better); pass metric=train_return for training-episode returns or "
                                 "metric=failure_rate for a failure rate", params=("metric",)), stacklevel=3)
    return frame.assign(metric=DEFAULT_METRIC)


def _melt_seeds(frame: pd.DataFrame, pattern: str, source: str) -> pd.DataFrame:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise RlscaleError(f"seed_columns= is not a valid regex ({exc})", params=("seed_columns",)) from exc
    if "seed" not in regex.groupindex:
        raise RlscaleError("seed_columns= needs a named group (?P<seed>...)", params=("seed_columns",))
    matches = {c: regex.fullmatch(str(c)) for c in frame.columns}
    seed_cols = {c: m["seed"] for c, m in matches.items() if m is not None}
    if not seed_cols:
        raise RlscaleError(f"{source}: no seed columns match '{pattern}' "
                           f"(columns: {', '.join(map(str, frame.columns))})")
    if "return" in frame.columns:
        raise RlscaleError(f"{source}: a wide table holds returns in its seed columns, not in a 'return' column")
    ids = [c for c in frame.columns if c not in seed_cols]
    long = frame.melt(id_vars=ids, value_vars=list(seed_cols), var_name="seed", value_name="return")
    long["seed"] = long["seed"].map(seed_cols)
    return long


# --- Weights & Biases ----------------------------------------------------------------------------------

#: config keys tried, in order, for each run-table column when ``config_keys`` does not name one
DEFAULT_CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "env": ("env", "env_name", "env_id", "task"),
    "utd": ("utd", "utd_ratio", "updates_per_step"),
    "batch_size": ("batch_size",),
    "learning_rate": ("learning_rate", "lr"),
    "seed": ("seed",),
    "algo": ("algo",),
    "benchmark": ("benchmark",),
    "critic_params": ("critic_params",),
}


def _lookup(config: Mapping[str, Any], key: str) -> Any:
    """``config[key]``, else the nested path ``a.b.c``; unwraps W&B's raw ``{"value": x}`` entries."""
    node: Any = config
    if key in config:
        node = config[key]
    else:
        for part in key.split("."):
            if isinstance(node, Mapping) and "value" in node and part not in node:
                node = node["value"]
            if not isinstance(node, Mapping) or part not in node:
                raise KeyError(key)
            node = node[part]
    if isinstance(node, Mapping) and set(node) <= {"value", "desc"} and "value" in node:
        node = node["value"]
    return node


def runs_from_wandb(
    records: Iterable[tuple[str, Mapping[str, Any], pd.DataFrame]],
    return_key: str,
    *,
    step_key: str = "_step",
    config_keys: Mapping[str, str] | None = None,
    constants: Mapping[str, Any] | None = None,
    benchmark: str | None = None,
    algo: str | None = None,
    critic_params: float | None = None,
) -> pd.DataFrame:
    """Convert W&B runs, given as (run name, ``run.config``, ``run.history(keys=...)``), to a run table.

    The history's ``step_key`` column is the env step (log your env step counter and name it here;
    W&B's own ``_step`` counts ``log`` calls) and ``return_key`` the evaluation return; rows missing
    either are skipped (other metrics were logged there). Each run-table column is looked up in the
    config under ``config_keys[column]`` (dotted paths reach into nested configs) or else under the
    names in :data:`DEFAULT_CONFIG_KEYS`; ``constants`` fill columns the config lacks. Without a seed,
    runs that share a configuration are numbered 0, 1, ... in the order given. Runs with no logged
    points are skipped with a warning.
    """
    config_keys = dict(config_keys or {})
    _check_fields(config_keys, "config_keys")
    constants = dict(constants or {})
    pieces, empty = [], []
    for name, config, history in records:
        missing = [k for k in (step_key, return_key) if k not in history.columns]
        points = history.loc[:, [step_key, return_key]].dropna() if not missing else history.iloc[:0]
        if points.empty:
            empty.append(name)
            continue
        row: dict[str, Any] = {}
        for field, candidates in DEFAULT_CONFIG_KEYS.items():
            if field in constants:
                continue
            keys = (config_keys[field],) if field in config_keys else candidates
            for key in keys:
                try:
                    row[field] = _lookup(config, key)
                    break
                except KeyError:
                    continue
            else:
                if field in config_keys:
                    raise RlscaleError(f"wandb: run '{name}' has no config key '{config_keys[field]}' "
                                       f"for {field} (top-level keys: {', '.join(map(str, config))})")
        pieces.append(pd.DataFrame({**row, "run_id": str(name), "_run": len(pieces),
                                    "env_step": points[step_key].to_numpy(), "return": points[return_key].to_numpy()}))
    if empty:
        shown = ", ".join(map(str, empty[:5])) + (f", ... ({len(empty)} runs)" if len(empty) > 5 else "")
        warnings.warn(f"wandb: skipped run(s) with no '{step_key}'/'{return_key}' points: {shown}",
                      RlscaleWarning, stacklevel=2)
    if not pieces:
        raise RlscaleError(f"wandb: no run logged both '{step_key}' and '{return_key}'")
    frame = _apply_constants(pd.concat(pieces, ignore_index=True), constants)
    frame = _number_seeds(frame, "_run")
    return finish_run_table(frame, benchmark=benchmark, algo=algo, critic_params=critic_params, source="wandb")


def _number_seeds(frame: pd.DataFrame, run_key: str) -> pd.DataFrame:
    """Give runs (distinct ``run_key``) without a seed the numbers 0, 1, ... within their configuration."""
    if "seed" in frame.columns:
        return frame.drop(columns=run_key) if run_key != "run_id" else frame
    config = [c for c in RUN_COLUMNS if c != "seed" and c in frame.columns]
    runs = frame.drop_duplicates(run_key).loc[:, [*config, run_key]].copy()
    runs["seed"] = runs.groupby(config, dropna=False, sort=False).cumcount() if config else np.arange(len(runs))
    out = frame.merge(runs.loc[:, [run_key, "seed"]], on=run_key, how="left", validate="many_to_one")
    return out.drop(columns=run_key) if run_key != "run_id" else out


def import_wandb(
    path: str,
    return_key: str,
    *,
    step_key: str = "_step",
    config_keys: Mapping[str, str] | None = None,
    constants: Mapping[str, Any] | None = None,
    filters: Mapping[str, Any] | None = None,
    samples: int = 10_000,
    benchmark: str | None = None,
    algo: str | None = None,
    critic_params: float | None = None,
) -> pd.DataFrame:
    """Fetch the runs of ``entity/project`` through ``wandb.Api`` and convert them (:func:`runs_from_wandb`).

    ``filters`` is W&B's MongoDB-style run filter (e.g. ``{"tags": "utd-sweep"}``); ``samples`` caps
    the points W&B returns per run (it subsamples longer histories).
    """
    try:
        import wandb
    except ImportError as exc:
        raise RlscaleError("importing from the W&B API needs the wandb package: pip install wandb "
                           "(or download the panel as CSV and import that: the W&B CSV importer needs no wandb)"
                           ) from exc
    try:
        runs = wandb.Api().runs(path, filters=dict(filters or {}))
        records = [(run.name, dict(run.config), run.history(keys=[step_key, return_key], samples=samples))
                   for run in runs]
    except Exception as exc:  # network, auth, unknown project: one line naming the cause
        raise RlscaleError(f"wandb: cannot fetch runs of '{path}' ({type(exc).__name__}: {exc})") from exc
    return runs_from_wandb(records, return_key, step_key=step_key, config_keys=config_keys, constants=constants,
                           benchmark=benchmark, algo=algo, critic_params=critic_params)


def import_wandb_csv(
    path: str | os.PathLike,
    *,
    name_pattern: str | None = None,
    run_configs: pd.DataFrame | None = None,
    metric: str | None = None,
    step_column: str = "Step",
    constants: Mapping[str, Any] | None = None,
    group_size: int | None = None,
    benchmark: str | None = None,
    algo: str | None = None,
    critic_params: float | None = None,
) -> pd.DataFrame:
    """Read a W&B panel's "Download CSV": ``Step``, ``<run name> - <metric>``, ``... - <metric>__MIN/__MAX``.

    Empty cells mean the run logged nothing at that step and are skipped. ``Step`` is the panel's
    x-axis: set it to your env-step metric before downloading (or name another column with
    ``step_column``). Run names are mapped to configurations either by ``name_pattern``, a regex
    matching the whole name whose named groups are run-table columns (e.g.
    ``(?P<env>.+)_utd(?P<utd>[\\d.]+)_bs(?P<batch_size>\\d+)_s(?P<seed>\\d+)``), or by ``run_configs``,
    a table with a ``run_name`` column and run-table columns. ``constants`` fill the rest; without a
    seed, runs sharing a configuration are numbered 0, 1, ... by column order. The ``metric`` column
    is the exported metric's name unless ``constants`` set it.

    A panel that groups runs exports, per group, the mean over the group's runs (over those that
    logged each step) with the runs' ``__MIN``/``__MAX`` envelope; single runs export ``__MIN`` =
    ``__MAX`` = the value. A group's mean enters as one "seed" whose ``seeds_in_mean`` is
    ``group_size`` (unknown, NA, when not given): the seeds themselves are not in the export, so
    nothing can be resampled over them. The envelopes are not kept. A configuration may not mix a
    group's mean with single runs.
    """
    path = Path(path)
    source = f"wandb csv {path}"
    if (name_pattern is None) == (run_configs is None):
        raise RlscaleError(f"{source}: give exactly one of name_pattern= or run_configs= to map run names "
                           "to configurations", params=("name_pattern", "run_configs"))
    raw = _read_csv(path, source)
    if step_column not in raw.columns:
        raise RlscaleError(f"{source}: no step column '{step_column}' (columns: {', '.join(map(str, raw.columns))})")

    series: dict[str, tuple[str, str]] = {}
    for col in raw.columns:
        if col == step_column or str(col).endswith(("__MIN", "__MAX")):
            continue
        run, sep, name = str(col).rpartition(" - ")
        if not sep:
            raise RlscaleError(f"{source}: column '{col}' is not '<run name> - <metric>' as W&B exports it")
        series[col] = (run, name)
    metrics = sorted({m for _, m in series.values()})
    if metric is None and len(metrics) > 1:
        raise RlscaleError(f"{source}: holds several metrics; choose one with metric= ({', '.join(metrics)})",
                           params=("metric",))
    metric = metric if metric is not None else (metrics[0] if metrics else None)
    chosen = {col: run for col, (run, m) in series.items() if m == metric}
    if not chosen:
        raise RlscaleError(f"{source}: no '{metric}' curves (metrics: {', '.join(metrics) or 'none'})")

    if group_size is not None and group_size < 1:
        raise RlscaleError(f"group_size= must be >= 1, got {group_size}", params=("group_size",))
    grouped = {run for col, run in chosen.items() if _is_group_mean(raw, col)}

    long = raw.melt(id_vars=[step_column], value_vars=list(chosen), var_name="column", value_name="return")
    long = long.dropna(subset=["return"])
    long["run_id"] = long["column"].map(chosen)
    long = long.rename(columns={step_column: "env_step"}).drop(columns="column")
    configs = _configs_of_names(list(dict.fromkeys(chosen.values())), name_pattern, run_configs, source)
    frame = long.merge(configs, on="run_id", how="left", validate="many_to_one").assign(metric=metric)
    if grouped:
        sizes = pd.array([group_size if run in grouped else 1 for run in frame["run_id"]], dtype="Int64")
        frame["seeds_in_mean"] = sizes
    frame = _number_seeds(_apply_constants(frame, constants), "run_id")
    if grouped:
        _check_groups_alone(frame, source)
    return finish_run_table(frame, benchmark=benchmark, algo=algo, critic_params=critic_params, source=source)


def _is_group_mean(raw: pd.DataFrame, column: str) -> bool:
    """A W&B series is a group's mean when its exported envelope is not a single line."""
    if f"{column}__MIN" not in raw.columns or f"{column}__MAX" not in raw.columns:
        return False
    low, high = (pd.to_numeric(raw[f"{column}__{end}"], errors="coerce") for end in ("MIN", "MAX"))
    return bool((high > low).any())


def _check_groups_alone(frame: pd.DataFrame, source: str) -> None:
    config = [c for c in RUN_COLUMNS if c != "seed" and c in frame.columns]
    kinds = frame.assign(_group=frame["seeds_in_mean"].ne(1).fillna(True)).groupby(config)["_group"].nunique()
    if (kinds > 1).any():
        first = ", ".join(f"{c}={v}" for c, v in zip(config, kinds.index[kinds > 1][0], strict=True))
        raise RlscaleError(f"{source}: configuration ({first}) holds both a group's mean and single runs; "
                           "import them separately")


def _warn_uneven_runs(table: pd.DataFrame, source: str, ratio: float = 1.5) -> None:
    """Warn, in one line, where some seeds of a configuration end (last non-NaN return) ``ratio`` times or more
    before its longest seed: past a seed's end the seed mean averages the others only, so a threshold crossed
    there is the surviving seeds' (crashed or pre-empted runs bias the crossings toward them)."""
    config = [c for c in RUN_COLUMNS if c != "seed"]
    ends = table[table["return"].notna()].groupby([*config, "seed"], observed=True)["env_step"].max()
    longest = ends.groupby(config, observed=True).transform("max")
    early = ends[ends * ratio < longest]
    if early.empty:
        return
    configs = early.index.droplevel("seed").unique()
    first = configs[0]
    seeds = ends.xs(first, level=config)
    early_first = early.xs(first, level=config)
    described = ", ".join(f"{c}={v}" for c, v in zip(config, first, strict=True))
    factor = float((longest[early.index] / early).max())
    warnings.warn(f"{source}: in {len(configs)} configuration(s) some seeds end well before the others, up to "
                  f"{factor:.1f}x earlier (first: {described}: {len(early_first)} of {len(seeds)} seeds end by env "
                  f"step {int(early_first.max())}, the last at {int(seeds.max())}); past a seed's end the seed mean "
                  "averages fewer seeds, so thresholds first reached there are the remaining seeds' crossings",
                  RlscaleWarning, stacklevel=4)


#: the authors' Isaac Gym run names: ``hlg_<k>cubes_b<n>_mb<B>_lr<η>`` with n parallel envs and minibatch B,
#: a W&B run id before (single runs) or a ``<key>: `` group prefix, and tags after (``_val``, ``_3``, ``_w2048_cr``)
_ISAAC_NAME = re.compile(
    rf"(?:[^:]+: )?(?:\d+_)?hlg_(?P<cubes>\d+)cubes_b(?P<n_envs>\d+)_mb(?P<batch_size>\d+)"
    rf"_lr(?P<learning_rate>{_NUMBER})(?P<tag>(?:_[A-Za-z0-9]+)*)")
ISAAC_METRIC_KEY = "episodic_stats/failure_2_last"
#: gradient steps per vectorised step of the n parallel envs in the authors' Isaac Gym runs (σ = 8/n)
ISAAC_UPDATES_PER_STEP = 8


def import_isaac_wandb(
    path: str | os.PathLike,
    *,
    group_size: int | None = 5,
    updates_per_step: float = ISAAC_UPDATES_PER_STEP,
    critic_params: float | None = 1,
) -> pd.DataFrame:
    """Read one of the paper authors' Isaac Gym W&B exports (``igpush_*.csv``) as a run table.

    The task is Franka cube pushing; the curve is ``episodic_stats/failure_2_last``, a failure rate
    (``metric`` = ``failure_rate``: lower is better, thresholds in its own units); the x-axis
    ``global_step`` counts env steps over all parallel envs. A run name carries n (parallel envs),
    B (minibatch) and η; σ = ``updates_per_step`` / n. Two kinds of file: the sweeps
    (``igpush_b<n>.csv``, ``igpush_w2048_b<n>.csv``) export single runs, one seed each; the
    ``igpush_best.csv`` export holds, per configuration, only the mean over its runs (the authors'
    README: 5 seeds, ``group_size``), which enters as one "seed" with ``seeds_in_mean`` set and
    cannot be bootstrapped. The group mean averages the runs that logged each step, so its tail,
    after the first runs ended, rests on fewer seeds. A name's tag (``_val``, ``_3``, ``_w2048``,
    ``_cr``) is kept in ``run_id`` only; one configuration under two tags is an error, since what
    the tags change is not documented. The critic size N is not published; the paper counts Isaac
    Gym compute in gradient steps (σ·D), which no N reproduces in 10·N·B·σ·D, so ``critic_params``
    defaults to 1: a marker, not a network size.
    """
    path = Path(path)
    source = f"isaac wandb csv {path}"
    if not updates_per_step > 0:
        raise RlscaleError(f"{source}: updates per vectorised step must be > 0, got {updates_per_step}")
    header = _read_csv(path, source).columns
    names = sorted({str(c).rpartition(" - ")[0] for c in header if " - " in str(c)})
    matches = {name: _ISAAC_NAME.fullmatch(name) for name in names}
    unmatched = [n for n, m in matches.items() if m is None]
    if unmatched or not names:
        raise RlscaleError(f"{source}: run name(s) {', '.join(unmatched[:3]) or '(none)'} are not the authors' "
                           "'hlg_<k>cubes_b<n>_mb<B>_lr<η>' runs")
    table = pd.DataFrame([{
        "run_name": name, "env": f"franka_push_{m['cubes']}cube", "utd": updates_per_step / int(m["n_envs"]),
        "batch_size": int(m["batch_size"]), "learning_rate": float(m["learning_rate"]), "tag": m["tag"],
    } for name, m in matches.items()])
    tags = table.groupby(["env", "utd", "batch_size", "learning_rate"])["tag"].nunique()
    if (tags > 1).any():
        env, utd, bs, lr = tags.index[tags > 1][0]
        raise RlscaleError(f"{source}: n={updates_per_step / utd:g}, B={bs}, η={lr:g} appears under several run "
                           "tags; split the export by tag")
    return import_wandb_csv(
        path, run_configs=table.drop(columns="tag"), metric=ISAAC_METRIC_KEY, step_column="global_step",
        constants={"metric": "failure_rate"}, group_size=group_size, benchmark="isaac", algo="pql",
        critic_params=critic_params)


def _configs_of_names(
    names: list[str], pattern: str | None, table: pd.DataFrame, source: str
) -> pd.DataFrame:
    """One row per run name with the run-table columns its name (or the config table) gives."""
    if pattern is not None:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise RlscaleError(f"name_pattern= is not a valid regex ({exc})", params=("name_pattern",)) from exc
        _check_fields(regex.groupindex, "name_pattern")
        if not regex.groupindex:
            raise RlscaleError("name_pattern= needs named groups, e.g. (?P<utd>[\\d.]+)", params=("name_pattern",))
        matches = [regex.fullmatch(n) for n in names]
        unmatched = [n for n, m in zip(names, matches, strict=True) if m is None]
        if unmatched:
            raise RlscaleError(f"{source}: run name(s) not matched by name_pattern=: {', '.join(unmatched[:5])}"
                               + (f", ... ({len(unmatched)} runs)" if len(unmatched) > 5 else ""),
                               params=("name_pattern",))
        return pd.DataFrame([{"run_id": n, **m.groupdict()} for n, m in zip(names, matches, strict=True)])
    if "run_name" not in table.columns:
        raise RlscaleError(f"run_configs= needs a 'run_name' column (columns: {', '.join(map(str, table.columns))})",
                           params=("run_configs",))
    _check_fields([c for c in table.columns if c != "run_name"], "run_configs")
    table = table.rename(columns={"run_name": "run_id"}).astype({"run_id": str})
    if table["run_id"].duplicated().any():
        raise RlscaleError(f"run_configs= lists run name(s) twice: "
                           f"{', '.join(table.loc[table['run_id'].duplicated(), 'run_id'].unique()[:5])}",
                           params=("run_configs",))
    unknown = sorted(set(names) - set(table["run_id"]))
    if unknown:
        raise RlscaleError(f"{source}: run name(s) missing from run_configs=: {', '.join(unknown[:5])}"
                           + (f", ... ({len(unknown)} runs)" if len(unknown) > 5 else ""), params=("run_configs",))
    return table


def read_filters(text: str | None) -> dict[str, Any] | None:
    """Parse the JSON text of a W&B run filter (``filters=`` of :func:`import_wandb`) into a dict."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RlscaleError(f"filters= is not valid JSON ({exc.msg} at position {exc.pos})",
                           params=("filters",)) from exc
    if not isinstance(value, dict):
        raise RlscaleError("filters= must be a JSON object, e.g. '{\"tags\": \"utd-sweep\"}'", params=("filters",))
    return value


def _csv_files(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[tuple[Path, str]]:
    """(file, name) of each CSV to read: a file as given (named by its stem), a folder's every ``.csv`` below it in
    name order (named by its path below the folder, without ``.csv``)."""
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not paths:
        raise RlscaleError("curves csv: no file given")
    files: list[tuple[Path, str]] = []
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted(f for f in given.rglob("*.csv") if f.is_file())
            if not found:
                raise RlscaleError(f"curves csv {given}: a folder with no .csv file below it")
            files += [(f, f.relative_to(given).with_suffix("").as_posix()) for f in found]
        elif given.is_file():
            files.append((given, given.stem))
        else:
            raise RlscaleError(f"curves csv {given}: no such file or folder")
    return files


def _read_csv(path: Path, source: str) -> pd.DataFrame:
    """Read a CSV, or raise one line naming ``source`` (a missing or unreadable file is a user error)."""
    if not path.is_file():
        raise RlscaleError(f"{source}: no such file")
    try:
        return pd.read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise RlscaleError(f"{source}: cannot be read ({type(exc).__name__}: {exc})") from exc
