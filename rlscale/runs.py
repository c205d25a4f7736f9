"""The run table: the one schema that flows from training through the laws to the figures.

Long format, one row per evaluation point of one seed of one run; stored as Parquet (preferred)
or CSV. Every entry point reads tables through :func:`read_run_table` / :func:`validate_run_table`.

Required columns
    ``benchmark`` (str)       benchmark family, e.g. ``gym``, ``dmc``, ``isaac``
    ``env`` (str)             task id, e.g. ``HalfCheetah-v4``, ``walker-walk``
    ``algo`` (str)            agent, e.g. ``sac``, ``bro``, ``pql``
    ``utd`` (float)           updates-to-data ratio sigma: gradient updates per env step (may be < 1)
    ``batch_size`` (int)      B
    ``learning_rate`` (float) eta (critic and actor)
    ``critic_params`` (int)   N, critic parameter count used for compute C = 10 N B sigma D
    ``seed`` (int)
    ``env_step`` (int)        data D collected so far
    ``return`` (float)        raw mean evaluation return (not normalised), or the curve ``metric`` names

Optional columns (``rlscale train`` writes all but ``metric`` and ``seeds_in_mean``; tables from elsewhere
may lack any)
    ``updates`` (int)               gradient updates so far (sigma * (env_step - warm-up), rounded down)
    ``flops`` (float)               10 N B updates, the paper's compute
    ``wall_s`` (float)              seconds of training so far
    ``train_return`` (float)        mean undiscounted return of the training (exploration) episodes that
                                    ended in the last ``train_return_window`` env steps up to the row (default
                                    1000, the authors' logging; runs before that setting: since the previous
                                    row), warm-up episodes included; NaN if none ended (a curve next to
                                    ``return``; compare ``metric`` = ``train_return``, which says that
                                    ``return`` itself holds a training return)
    ``train_td_error`` (float)      mean squared TD error on a uniform sample of the replay buffer
    ``newest_td_error`` (float)     the same on the newest transitions in the replay buffer (by default
                                    those collected since the previous row; ``newest_window`` sets a count)
    ``overfitting`` (float)         ``newest_td_error - train_td_error``: the paper's overfitting measure
                                    (high sigma and large B fit the average stored transition better than
                                    new ones; why the best B falls with sigma)
    ``critic_param_norm`` (float)   L2 norm of all critic parameters, the paper's plasticity proxy (it
                                    grows with sigma and eta; why the best eta falls with sigma)
    ``val_td_error`` (float)        TD error on held-out transitions never trained on (a different probe,
                                    from the follow-up work on TD generalisation)
    ``run_id`` (str)
    ``metric`` (str)                what ``return`` holds; absent means ``eval_return``. Known names
                                    (:data:`METRICS`): ``eval_return`` (mean return of evaluation episodes,
                                    what rlscale's trainer logs), ``train_return`` (mean return of the
                                    training episodes, e.g. the paper authors' Gym zips), ``failure_rate`` (a
                                    fraction, lower is better, e.g. their Isaac Gym runs); an importer that
                                    cannot tell writes the source's own key. One configuration holds one metric.
    ``seeds_in_mean`` (int)         the row's "seed" is the mean curve of this many seeds, not one seed (a
                                    W&B grouped export keeps only the mean): nothing can be resampled over
                                    its seeds, so bootstrap intervals are unavailable for it

Tables written before the ``train_return``, ``newest_td_error``, ``overfitting`` and
``critic_param_norm`` columns existed stay valid: every optional column may be absent.

A *configuration* is one (benchmark, env, algo, utd, batch_size, learning_rate); a *run* is a
configuration with a seed. Single NaN returns (e.g. a diverged evaluation) are allowed and handled
by the laws; a run whose returns are all NaN is rejected.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from rlscale import io
from rlscale.errors import RunTableError, TooFewSeeds

REQUIRED_DTYPES: dict[str, str] = {
    "benchmark": "string",
    "env": "string",
    "algo": "string",
    "utd": "float64",
    "batch_size": "int64",
    "learning_rate": "float64",
    "critic_params": "int64",
    "seed": "int64",
    "env_step": "int64",
    "return": "float64",
}
OPTIONAL_DTYPES: dict[str, str] = {
    "updates": "int64",
    "flops": "float64",
    "wall_s": "float64",
    "train_return": "float64",
    "train_td_error": "float64",
    "newest_td_error": "float64",
    "overfitting": "float64",
    "critic_param_norm": "float64",
    "val_td_error": "float64",
    "run_id": "string",
    "metric": "string",
    "seeds_in_mean": "int64",
}
REQUIRED_COLUMNS = tuple(REQUIRED_DTYPES)
OPTIONAL_COLUMNS = tuple(OPTIONAL_DTYPES)
CONFIG_COLUMNS = ("benchmark", "env", "algo", "utd", "batch_size", "learning_rate")
RUN_COLUMNS = (*CONFIG_COLUMNS, "seed")
ROW_KEY = (*RUN_COLUMNS, "env_step")

#: what the ``return`` column can hold, and whether a higher value is better
METRICS: dict[str, bool] = {"eval_return": True, "train_return": True, "failure_rate": False}
DEFAULT_METRIC = "eval_return"

_POSITIVE = ("utd", "batch_size", "learning_rate", "critic_params")
_NON_NEGATIVE = ("env_step", "updates", "flops", "wall_s")
_MAX_LISTED_ROWS = 5


def _rows(index: pd.Index | np.ndarray) -> str:
    """Format offending row numbers: the first few, then how many in all."""
    idx = [int(i) for i in index]
    shown = ", ".join(str(i) for i in idx[:_MAX_LISTED_ROWS])
    more = f", ... ({len(idx)} rows)" if len(idx) > _MAX_LISTED_ROWS else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more}"


def validate_run_table(df: pd.DataFrame, *, min_seeds: int = 1, source: str = "run table") -> pd.DataFrame:
    """Check ``df`` against the schema and return a canonical copy.

    The copy has canonical dtypes, required columns first then known optional ones then any
    extra columns, a fresh 0..n-1 index, and rows sorted by run and env step. Row numbers in
    error messages refer to the input's row positions (0-based). ``min_seeds`` rejects
    configurations with fewer seeds (bootstrap over seeds needs at least 2).
    """
    if not isinstance(df, pd.DataFrame):
        raise RunTableError(f"{source}: expected a pandas DataFrame, got {type(df).__name__}")
    twice = list(dict.fromkeys(df.columns[df.columns.duplicated()]))
    if twice:  # which one holds the column is the caller's call (and df[col] would be a frame, not a column)
        raise RunTableError(f"{source}: duplicated column name(s) {', '.join(map(str, twice))}; keep one of each")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise RunTableError(f"{source}: missing required column(s) {', '.join(missing)}")
    if len(df) == 0:
        raise RunTableError(f"{source}: the table has no rows")
    df = df.reset_index(drop=True)
    out = pd.DataFrame(index=df.index)
    for col, dtype in {**REQUIRED_DTYPES, **OPTIONAL_DTYPES}.items():
        if col in df.columns:
            out[col] = _coerce(df[col], col, dtype, source)
    extra = [c for c in df.columns if c not in out.columns]
    for col in extra:
        out[col] = df[col]

    for col in _POSITIVE:
        bad = out.index[~(out[col] > 0)]
        if len(bad):
            raise RunTableError(f"{source}: column '{col}' must be > 0 ({_rows(bad)})")
    for col in _NON_NEGATIVE:
        if col in out.columns:
            bad = out.index[out[col].notna() & (out[col] < 0)]
            if len(bad):
                raise RunTableError(f"{source}: column '{col}' must be >= 0 ({_rows(bad)})")
    if "seeds_in_mean" in out.columns:
        bad = out.index[out["seeds_in_mean"].notna() & (out["seeds_in_mean"] < 1)]
        if len(bad):
            raise RunTableError(f"{source}: column 'seeds_in_mean' must be >= 1 ({_rows(bad)})")
    if "metric" in out.columns:
        _check_metric(out, source)
    bad = out.index[np.isinf(out["return"].to_numpy())]
    if len(bad):
        raise RunTableError(f"{source}: column 'return' has infinite values ({_rows(bad)})")

    dup = out.duplicated(list(ROW_KEY), keep=False)
    if dup.any():
        raise RunTableError(
            f"{source}: duplicate rows for the same run and env_step ({_rows(out.index[dup])})"
        )

    run_key = list(RUN_COLUMNS)
    all_nan = out["return"].isna().groupby([out[c] for c in run_key], observed=True).transform("all")
    if all_nan.any():
        first = out.loc[all_nan.idxmax()]
        raise RunTableError(
            f"{source}: run {_describe(first, RUN_COLUMNS)} has only NaN returns ({_rows(out.index[all_nan])})"
        )

    if min_seeds > 1:
        seeds = out.groupby(list(CONFIG_COLUMNS), observed=True)["seed"].transform("nunique")
        few = seeds < min_seeds
        if few.any():
            first = out.loc[few.idxmax()]
            n_cfg = out.loc[few, list(CONFIG_COLUMNS)].drop_duplicates().shape[0]
            labels = {c: sorted(out[c].astype(str).unique()) for c in ("benchmark", "algo")}
            mixed = "; ".join(f"{c}s {', '.join(v)}" for c, v in labels.items() if len(v) > 1)
            raise TooFewSeeds(
                f"{source}: {n_cfg} configuration(s) have fewer than {min_seeds} seeds, which the "
                f"bootstrap over seeds needs; first: {_describe(first, CONFIG_COLUMNS)} with "
                f"{int(seeds[few.idxmax()])} seed(s) ({_rows(out.index[few])})"
                + (f"; the table mixes {mixed}: a run labelled with another's is a configuration of its own"
                   if mixed else "")
            )

    return out.sort_values(list(ROW_KEY), kind="stable").reset_index(drop=True)


def _check_metric(out: pd.DataFrame, source: str) -> None:
    """Every row names its metric, and a configuration does not mix two."""
    bad = out.index[out["metric"].isna()]
    if len(bad):
        raise RunTableError(f"{source}: column 'metric' has missing values ({_rows(bad)})")
    if out["metric"].nunique() == 1:
        return
    mixed = out.groupby(list(CONFIG_COLUMNS), observed=True)["metric"].transform("nunique") > 1
    if mixed.any():
        first = out.loc[mixed.idxmax()]
        raise RunTableError(f"{source}: configuration {_describe(first, CONFIG_COLUMNS)} mixes metrics "
                            f"({', '.join(sorted(out.loc[mixed, 'metric'].unique()))}) ({_rows(out.index[mixed])})")


def table_metric(runs: pd.DataFrame) -> str:
    """The one metric the table's ``return`` column holds (``eval_return`` without a ``metric`` column).

    Thresholds on a table that mixes metrics would compare different quantities, so that is an error.
    """
    if "metric" not in runs.columns:
        return DEFAULT_METRIC
    names = sorted({str(name) for name in runs["metric"].dropna().unique()})  # not row by row
    if len(names) > 1:
        raise RunTableError(f"run table mixes metrics ({', '.join(names)}); give one metric at a time")
    return names[0] if names else DEFAULT_METRIC


def higher_is_better(metric: str) -> bool:
    """Direction of a metric: False for the lower-is-better ones of :data:`METRICS`, True otherwise."""
    return METRICS.get(metric, True)


def _describe(row: pd.Series, cols: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"{c}={row[c]}" for c in cols) + ")"


def _coerce(series: pd.Series, col: str, dtype: str, source: str) -> pd.Series:
    """Cast one column to its schema dtype, or raise naming the rows that cannot be cast."""
    if dtype == "string":
        bad = series.index[series.isna()]
        if len(bad) and col in REQUIRED_DTYPES:
            raise RunTableError(f"{source}: column '{col}' has missing values ({_rows(bad)})")
        return series.astype("string")
    if series.dtype == bool or pd.api.types.is_bool_dtype(series.dtype):
        raise RunTableError(f"{source}: column '{col}' must be numeric, found booleans")
    numeric = pd.to_numeric(series, errors="coerce")
    bad = series.index[numeric.isna() & series.notna()]
    if len(bad):
        raise RunTableError(f"{source}: column '{col}' has non-numeric values ({_rows(bad)})")
    numeric = numeric.astype("float64")
    if dtype == "float64":
        if col != "return" and col in REQUIRED_DTYPES:
            bad = series.index[numeric.isna()]
            if len(bad):
                raise RunTableError(f"{source}: column '{col}' has missing values ({_rows(bad)})")
        return numeric
    values = numeric.to_numpy()
    missing = np.isnan(values)
    if missing.any() and col in REQUIRED_DTYPES:
        raise RunTableError(f"{source}: column '{col}' has missing values ({_rows(series.index[missing])})")
    bad = series.index[~missing & (values != np.round(values))]
    if len(bad):
        raise RunTableError(f"{source}: column '{col}' must hold whole numbers ({_rows(bad)})")
    return numeric.astype("Int64" if missing.any() else "int64")


def read_run_table(path: str | os.PathLike, *, min_seeds: int = 1) -> pd.DataFrame:
    """Read a Parquet or CSV run table and validate it."""
    path = Path(path)
    if not path.exists():
        raise RunTableError(f"run table {path}: no such file")
    try:
        suffix = path.suffix.lower()  # in any case, as tables are written (rlscale.io.table_suffix)
        if suffix == ".parquet":
            df = pd.read_parquet(path)
        elif suffix in (".csv", ".gz"):
            df = pd.read_csv(path)
        else:
            raise RunTableError(f"run table {path}: unknown format (use .parquet or .csv)")
    except RunTableError:
        raise
    except Exception as exc:  # a corrupt file: say which file and why, in one line
        raise RunTableError(f"run table {path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    return validate_run_table(df, min_seeds=min_seeds, source=f"run table {path}")


def write_run_table(df: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """Validate ``df`` and write it atomically (Parquet or CSV by suffix); return the canonical table."""
    table = validate_run_table(df, source=f"run table {path}")
    io.write_table(path, table)
    return table
