import json
import resource
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
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


def _limited_file_size(limit: int):
    """A child whose files cannot grow past ``limit`` bytes: the kernel refuses the write (EFBIG), a real OS error
    any user can provoke, as a full disk or a read-only filesystem would."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_an_output_the_os_refuses_to_write_is_one_error_line_and_keeps_the_old_file(tmp_path):
    curves = pd.DataFrame({"env": "Pendulum-v1", "utd": 1.0, "batch_size": 64, "learning_rate": 1e-3,
                           "seed": np.repeat([0, 1], 50), "env_step": np.tile(np.arange(1, 51) * 100, 2),
                           "return": np.linspace(-1500, 0, 100)})
    curves.to_csv(tmp_path / "curves.csv", index=False)
    out = tmp_path / "runs.csv"
    out.write_text("old\n")
    proc = subprocess.run([sys.executable, "-m", "rlscale.cli", "import", "csv", str(tmp_path / "curves.csv"), "-o",
                           str(out), "--critic-params", "1000"], capture_output=True, text=True,
                          preexec_fn=_limited_file_size(100))
    assert proc.returncode == 2, proc.stderr
    error = [line for line in proc.stderr.splitlines() if "error" in line]
    assert error == [f"rlscale: error: cannot write {out}: File too large"], proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv", "runs.csv"]


def test_a_yaml_file_that_is_not_utf8_text_is_one_error_line(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_bytes(b"algo: sac\n\xff\xfe")
    with pytest.raises(io.RlscaleError, match=r"sweep.yaml: cannot read sweep file \(not UTF-8 text: byte 10\)"):
        io.read_yaml(path, "sweep file")
