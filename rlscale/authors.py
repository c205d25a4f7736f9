"""The paper authors' published runs: where each file lives, how it is fetched and checked, how it is read.

The authors of *Value-Based Deep RL Scales Predictably* published the runs behind their Gym and
DeepMind Control results as zips (served from their site, read by their ``qscaled`` code) and the
Isaac Gym runs as W&B exports (in the first author's fork of IsaacGymEnvs, pinned to a commit).
:data:`AUTHORS_FILES` lists them; :func:`fetch` returns a local path to one, in this order:

1. ``RLSCALE_AUTHORS_DATA=DIR``: a local copy laid out as ``gym/<name>.zip``, ``dmc/<name>.zip``,
   ``isaac/<name>.csv``; nothing is downloaded, a file missing there is an error;
2. the cache (``RLSCALE_CACHE_DIR``, else ``$XDG_CACHE_HOME/rlscale``, else ``~/.cache/rlscale``),
   under ``authors/`` in the same layout;
3. a download from the file's URL (or from ``RLSCALE_AUTHORS_MIRROR=URL`` + the same layout), with a
   progress bar, into the cache: a temp file renamed into place, one downloader at a time.

Checksums: the Isaac Gym files and ``gym_ours`` / ``gym_baseline_utd2`` have a recorded sha256 (of
the files at the pinned IsaacGymEnvs commit and of the zips in ``qscaled``'s repository,
``cache/zip/``, commit ``127dfb17``); a file that differs is rejected. No checksum of the authors'
``gym_sweep.zip`` or of the DMC zips was ever recorded (the ``gym_sweep`` copy this project was
tested with had to be rebuilt from the ``.npy`` files in their repository, so its checksum is not
theirs): their first download is recorded in ``authors/SHA256SUMS`` of the cache and checked on
every later use.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rlscale import io
from rlscale.errors import RlscaleError

QSCALED_URL = "https://prestonfu.com/assets/data/qscaled/{name}.zip"
ISAAC_COMMIT = "c230565c852e0f2f86065a0bb7c4f178ad1ddb3b"
ISAAC_URL = f"https://raw.githubusercontent.com/orybkin/IsaacGymEnvs/{ISAAC_COMMIT}/isaacgymenvs/sac/data/{{name}}.csv"
ENV_DATA, ENV_MIRROR, ENV_CACHE = "RLSCALE_AUTHORS_DATA", "RLSCALE_AUTHORS_MIRROR", "RLSCALE_CACHE_DIR"
HOW_TO_GET = (f"download the authors' files where there is network, or set {ENV_DATA}=DIR to a copy laid out as "
              "DIR/gym/<name>.zip, DIR/dmc/<name>.zip, DIR/isaac/<name>.csv")


class AuthorsDataMissing(RlscaleError):
    """One of the authors' files is neither in the local copy, nor in the cache, nor downloadable now."""


@dataclass(frozen=True)
class AuthorsFile:
    """One published file: its name, place in a local copy, URL, checksum (None: never recorded) and reader."""

    name: str
    benchmark: str
    what: str
    url: str
    sha256: str | None = None
    #: keyword arguments of :func:`rlscale.importers.import_qscaled` (Gym, DMC zips)
    import_options: dict[str, Any] = field(default_factory=dict)
    #: max-return preset (:data:`rlscale.laws.normalize.MAX_RETURN_PRESETS`) the authors normalised it with
    max_return_preset: str | None = None

    @property
    def relpath(self) -> str:
        return f"{self.benchmark}/{self.name}.{'csv' if self.benchmark == 'isaac' else 'zip'}"


def _gym(name: str, what: str, sha256: str | None, preset: str) -> AuthorsFile:
    return AuthorsFile(name, "gym", what, QSCALED_URL.format(name=name), sha256,
                       {"returns_key": "episode.return"}, preset)


def _dmc(name: str, what: str, returns_only: bool) -> AuthorsFile:
    # as their DMC analysis configs read these zips: the grid and fitted runs hold returns only, logged
    # every 1000 env steps from 5000; the baseline has the env step in column 0. Not checked against the
    # files (not available where this was written): `rlscale import authors` can override each option.
    grid = {"env_step_start": 5000, "env_step_freq": 1000} if returns_only else {}
    return AuthorsFile(name, "dmc", what, QSCALED_URL.format(name=name), None, grid)


def _isaac(name: str, what: str, sha256: str) -> AuthorsFile:
    return AuthorsFile(name, "isaac", what, ISAAC_URL.format(name=name), sha256)


AUTHORS_FILES: dict[str, AuthorsFile] = {f.name: f for f in (
    _gym("gym_sweep", "Gym grid: 4 tasks, σ ∈ {1, 2, 4, 8} × 3 B × 3 η, 8 seeds (SAC)", None, "paper-grid"),
    _gym("gym_ours", "Gym runs at the fitted B*(σ), η*(σ), σ ∈ {0.25 … 16}",
         "3d933c26b0463cd99e8d448fe80e5ca838e6ee41dc7e87beeed06e915afdf64a", "paper-fitted"),
    _gym("gym_baseline_utd2", "Gym runs at the constant baseline (grid best at σ = 2), σ ∈ {0.25 … 16}",
         "2ea3a2161fadac62a9b5d5b1896206cf2ce9d448d54eb90941f29f3e340145f4", "paper-fitted"),
    _dmc("dmc_sweep", "DMC grid (BRO)", returns_only=True),
    _dmc("dmc_ours", "DMC runs at the fitted hyperparameters and at 0.7x/1.4x of B* or η* (BRO)", returns_only=True),
    _dmc("dmc_baseline", "DMC runs at the constant baseline (BRO)", returns_only=False),
    _isaac("igpush_best", "Isaac Gym: the best configuration per n parallel envs, group means over 5 seeds",
           "1a17a09f07720b7dc8a7f4923de2a82f83f1942f5ef6392537b2e2659eb9c02e"),
    _isaac("igpush_b8192", "Isaac Gym: η sweep at n = 8192",
           "b5aa2f3e94c4e2a7a5177aa11971a17336504fea0012dbb9a11f2b1ed42eaf95"),
    _isaac("igpush_b16384", "Isaac Gym: η sweep at n = 16384",
           "4607089b24e7ef19b9a843b01875fdb377acaf691b8b5be79376d33f7a134040"),
    _isaac("igpush_b32768", "Isaac Gym: η sweep at n = 32768",
           "e59ed5fa7a4956a037e2d31372db126e973c81d6c2432f5a76896b2e075a5faf"),
    _isaac("igpush_b65536", "Isaac Gym: η sweep at n = 65536",
           "68a08dab24819159bc013cb6fdd01e2bb02d35c801468e8d68316c7e6c4b2f79"),
    _isaac("igpush_w2048_b512", "Isaac Gym: η sweep at n = 512 ('w2048' runs)",
           "99aa806749aadee41b7280dd623234e5af95d3ac7e62149cc130e7dab9105257"),
    _isaac("igpush_w2048_b1024", "Isaac Gym: η sweep at n = 1024 ('w2048' runs)",
           "acf97f7d116f9498a0c2894a9195c5964f56a4456c732ad1e87df38dbd84265c"),
    _isaac("igpush_w2048_b2048", "Isaac Gym: η sweep at n = 2048 ('w2048' runs)",
           "11c6e39a55bc975d4cf9702f56aacaf2e313d3c9a0a5e5cca12d71ab65b9c21c"),
    _isaac("igpush_w2048_b8192", "Isaac Gym: η sweep at n = 8192 ('w2048' runs)",
           "cc5d4ac752929eff1547137af3e1bfbfe0db05a54b9f8c0b1336cffb757c366d"),
)}


def authors_file(name: str) -> AuthorsFile:
    """The entry of :data:`AUTHORS_FILES` called ``name``, or a one-line error listing the names."""
    try:
        return AUTHORS_FILES[name]
    except KeyError:
        raise RlscaleError(f"no published file of the authors called '{name}' "
                           f"(known: {', '.join(AUTHORS_FILES)})") from None


def cache_dir() -> Path:
    """Where downloads are kept: ``RLSCALE_CACHE_DIR``, else ``$XDG_CACHE_HOME/rlscale``, else ``~/.cache/rlscale``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rlscale"


def locate(name: str) -> str:
    """Where the file ``name`` would come from now, in words (for listings; nothing is fetched)."""
    entry = authors_file(name)
    if os.environ.get(ENV_DATA):
        path = Path(os.environ[ENV_DATA]) / entry.relpath
        return f"local copy {path}" if path.is_file() else f"missing from {ENV_DATA} ({path})"
    cached = cache_dir() / "authors" / entry.relpath
    return f"cached {cached}" if cached.is_file() else "not downloaded yet"


def local_path(name: str) -> Path | None:
    """The authors' file ``name`` where it is without a download: the copy in ``RLSCALE_AUTHORS_DATA`` where that is
    set, else the cache's; None where it is not there (nothing is checked or fetched)."""
    entry = authors_file(name)
    local = os.environ.get(ENV_DATA)
    path = Path(local) / entry.relpath if local else cache_dir() / "authors" / entry.relpath
    return path if path.is_file() else None


def fetch(name: str, *, progress: bool = True) -> Path:
    """A checked local path to the authors' file ``name`` (the local copy, the cache, or a fresh download)."""
    entry = authors_file(name)
    local = os.environ.get(ENV_DATA)
    if local:
        path = Path(local) / entry.relpath
        if not path.is_file():
            raise AuthorsDataMissing(f"{entry.name}: not in {ENV_DATA}={local} (no {entry.relpath}); "
                                     f"unset {ENV_DATA} to download it from {entry.url}")
        _verify(path, entry.sha256, entry.name, f"the copy in {ENV_DATA}", "replace it with the authors' file")
        return path
    root = cache_dir() / "authors"
    target = root / entry.relpath
    with _lock(root):
        if not target.is_file():
            mirror = os.environ.get(ENV_MIRROR)
            url = f"{mirror.rstrip('/')}/{entry.relpath}" if mirror else entry.url
            expected = entry.sha256 or _recorded(root).get(entry.relpath)
            digest = download(url, target, expected=expected, progress=progress, label=entry.name)
            if expected is None:
                _record(root, entry.relpath, digest)
            return target
        _verify(target, entry.sha256 or _recorded(root).get(entry.relpath), entry.name, f"the cached {target}",
                "delete it to download it again")
    return target


def download(url: str, target: Path, *, expected: str | None = None, progress: bool = True, label: str = "",
             timeout: float = 60) -> str:
    """Stream ``url`` into ``target`` with a tqdm bar and return the bytes' sha256. The bytes land in a
    temp file renamed into place only when complete and, if ``expected`` is given, equal to it."""
    from tqdm.auto import tqdm

    name = label or target.name
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, io.atomic_path(target) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=name,
                                             disable=not progress, leave=False) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            if expected is not None and digest.hexdigest() != expected:
                raise _ChecksumMismatch(digest.hexdigest())
    except _ChecksumMismatch as exc:
        raise RlscaleError(f"{name}: the file at {url} has sha256 {exc}, not {expected}; it was not kept") from None
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, short reads
        reason = getattr(exc, "reason", exc)
        raise AuthorsDataMissing(f"{name}: cannot download {url} ({reason}); {HOW_TO_GET}") from exc
    return digest.hexdigest()


class _ChecksumMismatch(Exception):
    """Raised inside the temp-file block so that nothing is renamed into place."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, expected: str | None, name: str, where: str, remedy: str) -> None:
    if expected is not None and (got := sha256_of(path)) != expected:
        raise RlscaleError(f"{name}: {where} has sha256 {got}, not the recorded {expected}; {remedy}")


@contextmanager
def _lock(root: Path) -> Iterator[None]:
    """One downloader per cache folder: others wait, then find the file in place."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _recorded(root: Path) -> dict[str, str]:
    """Checksums recorded at first download of files that have none published (``sha256sum`` format)."""
    sums = root / "SHA256SUMS"
    if not sums.is_file():
        return {}
    pairs = (line.split(maxsplit=1) for line in sums.read_text().splitlines() if line.strip())
    return {rel.strip(): digest for digest, rel in pairs}


def _record(root: Path, relpath: str, digest: str) -> None:
    sums = {**_recorded(root), relpath: digest}
    io.write_text(root / "SHA256SUMS", "".join(f"{d}  {r}\n" for r, d in sorted(sums.items())))


def import_authors(name: str, *, progress: bool = True, **options: Any) -> pd.DataFrame:
    """Fetch the authors' file ``name`` and read it as a run table with the importer that fits it;
    ``options`` (e.g. ``env_step_start``, ``returns_key``) override the recorded import options. The
    benchmark, algo and N are given as the paper's, which they are for these files: not inferred, so not
    warned about on every pipeline run."""
    from rlscale.importers import DEFAULT_ALGO, DEFAULT_CRITIC_PARAMS, import_isaac_wandb, import_qscaled

    entry = authors_file(name)
    path = fetch(name, progress=progress)
    if entry.benchmark == "isaac":
        return import_isaac_wandb(path, **options)
    paper = {"benchmark": entry.benchmark, "algo": DEFAULT_ALGO[entry.benchmark],
             "critic_params": DEFAULT_CRITIC_PARAMS[entry.benchmark]}
    return import_qscaled(path, **{**paper, **entry.import_options, **options})
