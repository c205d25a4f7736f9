import json

import pytest

from rlscale import io


def test_write_json_replaces_atomically(tmp_path):
    path = tmp_path / "sub" / "out.json"
    io.write_json(path, {"a": 1})
    io.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["out.json"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.json"
    io.write_json(path, {"a": 1})

    def broken_writer(tmp):
        tmp.write_text("partial")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        io.write_with(path, broken_writer)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_numpy_values_are_json_serialisable(tmp_path):
    import numpy as np

    io.write_json(tmp_path / "x.json", {"v": np.float64(1.5), "arr": np.arange(3)})
    assert json.loads((tmp_path / "x.json").read_text()) == {"v": 1.5, "arr": [0, 1, 2]}
