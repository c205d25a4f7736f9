"""The set-up files agree with each other and the CLI only offers commands that run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from rlscale.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def _normalise(spec: str) -> tuple[str, frozenset[str], str]:
    req = Requirement(spec)
    return req.name.lower().replace("_", "-"), frozenset(req.extras), str(req.specifier)


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_normalise(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_normalise(s) for s in pip_section if not s.startswith("-")}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"


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
