"""`rlscale pipeline` steps: params.yaml presets resolve, a real tiny sweep becomes a table with provenance,
and dvc.yaml / params.yaml / sweeps/ / notebooks/ agree with each other."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from rlscale.cli import main
from rlscale.errors import RlscaleError
from rlscale.pipeline import load_params, notebook_parameters
from rlscale.runs import read_run_table

ROOT = Path(__file__).resolve().parent.parent


def _params(tmp_path: Path, **mini) -> Path:
    block = {"delta": 1e9, "thresholds": [-900, -600], "utds_to_predict": [1, 2], "max_return": {}, "min_return": {}}
    block.update(mini)
    doc = {"preset": "mini", "benchmarks": ["gym"],
           "presets": {"mini": {"workers": 2, "n_bootstrap": 5, "gym": block,
                                "notebooks": {"tab_k_coefficients": {"utd_fit_range": [1, 2], "x": 1}}}}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_repository_params_resolve_for_every_preset_and_benchmark(tmp_path):
    doc = yaml.safe_load((ROOT / "params.yaml").read_text())
    for preset in doc["presets"]:
        path = tmp_path / f"{preset}.yaml"
        path.write_text(yaml.safe_dump({**doc, "preset": preset}))
        for bench in doc["benchmarks"]:
            p = load_params(path, bench)
            assert (ROOT / p.grid_sweep).is_file() and (ROOT / p.fitted_sweep).is_file()
            assert list(p.thresholds) == sorted(p.thresholds)


def test_missing_or_bad_preset_blocks_are_one_line_errors(tmp_path):
    with pytest.raises(RlscaleError, match="no such file"):
        load_params(tmp_path / "nope.yaml", "gym")
    with pytest.raises(RlscaleError, match="benchmark 'dmc'"):
        load_params(_params(tmp_path), "dmc")
    path = _params(tmp_path)
    doc = yaml.safe_load(path.read_text())
    del doc["presets"]["mini"]["gym"]["delta"]
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(RlscaleError, match="lacks key 'delta'"):
        load_params(path, "gym")
    doc["preset"] = "huge"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(RlscaleError, match="preset 'huge'"):
        load_params(path, "gym")


def test_notebook_parameters_point_from_notebooks_and_carry_the_preset_overrides(tmp_path):
    p = load_params(_params(tmp_path, max_return={"Pendulum-v1": 0}, min_return={"Pendulum-v1": -1500},
                            notebooks={"tab_k_coefficients": {"x": 2}}), "gym")
    got = notebook_parameters(p, Path("figures/gym"), "tab_k_coefficients")
    assert got["runs_path"] == "../data/runs/gym.parquet" and got["output_dir"] == "../figures/gym"
    assert got["threshold"] == -600 and got["utd_fit_range"] == [1, 2] and got["x"] == 2  # benchmark's wins
    assert got["min_return"] == {"Pendulum-v1": -1500.0}
    assert "utd_fit_range" not in notebook_parameters(p, Path("figures/gym"), "fig_d_data_efficiency")


def test_grid_step_trains_collects_and_writes_provenance(tmp_path, monkeypatch, capsys):
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "mini_gym.yaml").write_text(yaml.safe_dump({
        "name": "mini_gym", "algo": "sac", "envs": ["gym:Pendulum-v1"], "utd": [1], "batch_size": [16],
        "learning_rate": [1e-3], "seeds": 2, "env_steps": 240, "eval_every": 120, "eval_episodes": 1,
        "warmup_steps": 60, "critic_width": 16}))
    _params(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", "grid", "gym"]) == 0
    out = capsys.readouterr().out
    assert "+ rlscale sweep sweeps/mini_gym.yaml -o runs/mini_gym --workers 2" in out
    table = read_run_table("data/runs/gym.parquet")
    assert sorted(table["seed"].unique()) == [0, 1] and set(table["env_step"]) == {120, 240}
    prov = json.loads(Path("data/runs/gym.provenance.json").read_text())
    assert prov["runs"] == 2 and prov["process_wall_s"] > 0 and prov["span_s"] >= 0
    assert prov["host"]["cpu_count"] == os.cpu_count()
    assert prov["commands"][1] == "rlscale collect runs/mini_gym -o data/runs/gym.parquet"
    assert prov["devices"] == ["cpu x1 threads"] and len(prov["sweep_sha256"]) == 64
    assert prov["executed_as"].endswith("2 single run(s)") and "gymnasium" in prov["versions"][0]


def test_a_failed_sweep_stops_the_step_before_any_table_is_written(tmp_path, monkeypatch, capsys):
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "mini_gym.yaml").write_text(yaml.safe_dump({
        "name": "mini_gym", "algo": "sac", "envs": ["gym:NoSuchEnv-v0"], "utd": [1], "batch_size": [16],
        "learning_rate": [1e-3], "seeds": 1, "env_steps": 240, "eval_every": 120}))
    _params(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", "grid", "gym"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rlscale: error: 'rlscale sweep sweeps/mini_gym.yaml ...' exited with 1")
    assert not Path("data").exists()


def test_dvc_yaml_has_a_stage_for_every_notebook_and_sweep_file():
    dvc = shutil.which("dvc", path=str(ROOT / ".venv" / "bin")) or shutil.which("dvc")
    listed = subprocess.run([dvc, "stage", "list", "--name-only"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()
    dvc_text = (ROOT / "dvc.yaml").read_text()
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if p.stem != "explore")
    for name in notebooks:
        assert name in dvc_text, f"dvc.yaml runs no notebook {name}"
    assert "overview" in listed and "table@gym" in listed
    for bench in yaml.safe_load((ROOT / "params.yaml").read_text())["benchmarks"]:
        assert {f"grid@{bench}", f"hparams@{bench}", f"fitted@{bench}", f"frontier@{bench}"} <= set(listed)
