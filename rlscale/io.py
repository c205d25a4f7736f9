"""Atomic file writes: every file rlscale produces is written to a temp file, then renamed.

A killed process therefore leaves either the old file or the new one, never a half-written one. Files
get the mode any new file gets under the process's umask (``mkstemp`` alone would make them 0600, which
hides tables from the other users of a shared filesystem).

YAML files the user writes (``params.yaml``, sweep files) are read by :func:`read_yaml`: a key given twice is an
error, not a silent override, and every problem is one line naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from rlscale.errors import RlscaleError, os_error_text


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path`` (fsync'd first). An OS error on the way
    (a read-only filesystem, a full disk) is one :class:`RlscaleError` line naming ``path``; the old file stays."""
    path = Path(path)
    check_writable_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise RlscaleError(f"cannot write {path}: {os_error_text(exc)}") from exc
    try:
        os.fchmod(fd, 0o666 & ~umask())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        raise RlscaleError(f"cannot write {path}: {os_error_text(exc)}") from exc
    finally:
        tmp_path.unlink(missing_ok=True)


def check_writable_path(path: str | os.PathLike, *, folder: bool = False) -> None:
    """One line instead of an OS error when ``path`` cannot become a file (or, with ``folder``, a folder):
    it is a folder (a file), or one of its parents is a file."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise RlscaleError(f"{path} is a file, not a folder; give a folder path")
    if not folder and path.is_dir():
        raise RlscaleError(f"{path} is a folder; give a file name (e.g. {path / 'runs.parquet'})")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RlscaleError(f"cannot write {path}: {parent} is a file, not a folder")
            break


def umask() -> int:
    """The process's umask, read without changing it where Linux allows (os.umask can only be read by
    setting it, which races with other threads creating files)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Atomically write ``path`` with ``writer(tmp_path)`` (for torch.save, savefig, ...)."""
    with atomic_path(path) as tmp:
        writer(tmp)


def table_suffix(path: str | os.PathLike) -> str:
    """``.parquet`` or ``.csv``, the format a table file's suffix names in any case; any other name is refused,
    since a table written as CSV under it would not read back as what its name says."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise RlscaleError(f"{path}: use a .parquet or .csv file name (its suffix picks the table's format)")
    return suffix


def write_table(path: str | os.PathLike, df: pd.DataFrame) -> None:
    """Write a DataFrame as Parquet or CSV by the suffix of ``path`` (:func:`table_suffix`), atomically."""
    if table_suffix(path) == ".parquet":
        write_with(path, lambda tmp: df.to_parquet(tmp, index=False))
    else:
        write_with(path, lambda tmp: df.to_csv(tmp, index=False))


def _json_default(obj: Any) -> Any:
    """Make numpy scalars/arrays and paths JSON-serialisable."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_yaml(path: str | os.PathLike, what: str = "file") -> Any:
    """The document of a YAML file the user wrote (None when empty); a file that cannot be read, broken YAML or a key
    repeated in one mapping is one :class:`RlscaleError` line naming the file (and the line)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RlscaleError(f"{path}: cannot read {what} ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise RlscaleError(f"{path}: cannot read {what} (not UTF-8 text: byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=_unique_key_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RlscaleError(f"{path}: not valid YAML{where}: {problem}") from None


def _unique_key_loader() -> type:
    """A safe YAML loader that refuses a key repeated in one mapping, at any depth: plain YAML keeps the last
    value silently, so a second ``env_steps:`` further down a file would override the first unseen."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *anchor`` merges; its keys may be overridden
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader's own error names it
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"repeated key {key!r} (first at line {first + 1})", key_node.start_mark)
                seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader
