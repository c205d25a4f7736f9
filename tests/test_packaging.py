"""The CLI only offers commands that run, and the environment report names what is installed."""

import json
import subprocess
import sys
from pathlib import Path

from rlscale.cli import build_parser, main


def test_every_listed_command_has_working_help():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sub.choices, "no commands registered"
    for name in sub.choices:
        done = subprocess.run(
            [sys.executable, "-m", "rlscale.cli", name, "--help"], capture_output=True, text=True
        )
        assert done.returncode == 0, f"`rlscale {name} --help` failed: {done.stderr}"


def test_env_report_writes_versions_and_simulators(tmp_path):
    out = tmp_path / "env.json"
    assert main(["env-report", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["packages"]["torch"] and report["packages"]["rlscale"]
    assert report["simulators"]["gymnasium_mujoco"] == "ok"
    assert report["simulators"]["dm_control"] == "ok"
    assert report["simulators"]["isaacgym"] in {"ok", "not installed"}


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "rlscale"
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and "rlscale" in done.stdout
