"""Fetching the authors' files: a real HTTP server on localhost stands in for their site (no network in tests)."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
import zipfile

import numpy as np
import pytest

from rlscale.authors import AUTHORS_FILES, AuthorsDataMissing, fetch, import_authors, local_path, sha256_of
from rlscale.errors import RlscaleError


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local HTTP mirror of the authors' files (``RLSCALE_AUTHORS_MIRROR``), an empty cache, no local copy."""
    root = tmp_path / "mirror"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("RLSCALE_AUTHORS_DATA", raising=False)
    monkeypatch.setenv("RLSCALE_AUTHORS_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.setenv("RLSCALE_CACHE_DIR", str(tmp_path / "cache"))
    yield root, requests
    server.shutdown()
    server.server_close()


def _serve(root, relpath: str, data: bytes) -> None:
    (root / relpath).parent.mkdir(parents=True, exist_ok=True)
    (root / relpath).write_bytes(data)


def _tiny_sweep_zip(path, scale: float = 1.0) -> bytes:
    curves = np.column_stack([np.arange(1, 4) * 1000.0, scale * np.ones((3, 2))])
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("gym_sweep/utd_1/Ant-v4/episode.return/bs_256_lr_0.0001.npy", "w") as fh:
            np.save(fh, curves)
    return path.read_bytes()


def test_download_lands_checked_in_the_cache_with_a_progress_bar(authors_data, mirror, tmp_path, capsys):
    root, requests = mirror
    entry = AUTHORS_FILES["igpush_b16384"]
    _serve(root, entry.relpath, (authors_data / entry.relpath).read_bytes())
    path = fetch("igpush_b16384")
    assert path == tmp_path / "cache" / "authors" / "isaac" / "igpush_b16384.csv"
    assert sha256_of(path) == entry.sha256 and "igpush_b16384" in capsys.readouterr().err
    (root / entry.relpath).unlink()  # the site goes away: the cache serves
    runs = import_authors("igpush_b16384", progress=False)
    assert set(runs["metric"]) == {"failure_rate"} and len(requests) == 1
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(RlscaleError, match=r"cached .* has sha256 [0-9a-f]{64}, not the recorded 4607"):
        fetch("igpush_b16384")


def test_a_served_file_that_differs_from_the_recorded_checksum_is_not_kept(mirror, tmp_path):
    root, _ = mirror
    _serve(root, "isaac/igpush_best.csv", b"global_step\n1\n")
    with pytest.raises(RlscaleError, match="igpush_best: the file at http.* has sha256 .* not 1a17a09f.*not kept"):
        fetch("igpush_best", progress=False)
    assert list((tmp_path / "cache" / "authors").rglob("*.csv")) == []


def test_a_file_without_a_published_checksum_is_recorded_at_first_download(mirror, tmp_path):
    root, _ = mirror
    _serve(root, "gym/gym_sweep.zip", _tiny_sweep_zip(tmp_path / "a.zip"))
    path = fetch("gym_sweep", progress=False)
    sums = (tmp_path / "cache" / "authors" / "SHA256SUMS").read_text()
    assert sums == f"{sha256_of(path)}  gym/gym_sweep.zip\n"
    path.unlink()
    _serve(root, "gym/gym_sweep.zip", _tiny_sweep_zip(tmp_path / "b.zip", scale=2.0))  # republished, different
    with pytest.raises(RlscaleError, match="gym_sweep: the file at .* not " + sums.split()[0]):
        fetch("gym_sweep", progress=False)


def test_one_download_when_two_fetch_the_same_file_at_once(authors_data, mirror):
    root, requests = mirror
    entry = AUTHORS_FILES["igpush_b65536"]
    _serve(root, entry.relpath, (authors_data / entry.relpath).read_bytes())
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(fetch(entry.name, progress=False))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(paths) == 2, "a fetch raised instead of returning the file"  # a raising thread appends nothing
    assert len(requests) == 1 and len(set(paths)) == 1 and sha256_of(paths[0]) == entry.sha256


def test_without_network_or_copy_one_line_says_how_to_get_the_files(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.delenv("RLSCALE_AUTHORS_DATA", raising=False)
    monkeypatch.setenv("RLSCALE_AUTHORS_MIRROR", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("RLSCALE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(AuthorsDataMissing) as info:
        fetch("dmc_sweep", progress=False)
    message = str(info.value)
    assert "\n" not in message and "cannot download" in message and "RLSCALE_AUTHORS_DATA=DIR" in message
    assert not list((tmp_path / "cache").rglob("*.zip"))


def test_a_local_copy_is_used_as_it_is_and_checked(authors_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RLSCALE_AUTHORS_DATA", str(authors_data))
    assert fetch("gym_ours") == authors_data / "gym" / "gym_ours.zip"
    copy = tmp_path / "copy"
    shutil.copytree(authors_data / "isaac", copy / "isaac")
    (copy / "isaac" / "igpush_best.csv").write_text("global_step\n")
    monkeypatch.setenv("RLSCALE_AUTHORS_DATA", str(copy))
    with pytest.raises(RlscaleError, match="igpush_best: the copy in RLSCALE_AUTHORS_DATA has sha256"):
        fetch("igpush_best")
    with pytest.raises(AuthorsDataMissing, match="gym_ours: not in RLSCALE_AUTHORS_DATA"):
        fetch("gym_ours")


def test_local_path_finds_the_copy_or_the_cached_file_and_downloads_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("RLSCALE_AUTHORS_DATA", raising=False)
    monkeypatch.setenv("RLSCALE_CACHE_DIR", str(tmp_path / "cache"))
    assert local_path("gym_sweep") is None
    cached = tmp_path / "cache" / "authors" / AUTHORS_FILES["gym_sweep"].relpath
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"zip")
    assert local_path("gym_sweep") == cached
    monkeypatch.setenv("RLSCALE_AUTHORS_DATA", str(tmp_path / "copy"))
    assert local_path("gym_sweep") is None  # a copy named is the one read, as fetch reads it
