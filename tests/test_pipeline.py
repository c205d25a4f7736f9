"""`rlscale pipeline` steps: params.yaml presets resolve, a real tiny sweep becomes a table with provenance,
dvc.yaml / params.yaml / sweeps/ / notebooks/ agree with each other, and a reproduced pipeline stays clean."""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rlscale.analysis import Analysis
from rlscale.cli import build_parser, main
from rlscale.errors import RlscaleError
from rlscale.pipeline import (
    COMPARISON_NOTEBOOK,
    FIGURE_NOTEBOOKS,
    OVERVIEW_NOTEBOOK,
    TRAIN_KINDS,
    load_params,
    notebook_context,
    write_provenance,
)
from rlscale.runs import read_run_table, write_run_table

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
            for kind in TRAIN_KINDS:
                assert (ROOT / p.sweep(kind)).is_file(), f"{preset}: no {p.sweep(kind)}"
            assert list(p.thresholds) == sorted(p.thresholds)
            chain = p.chain()
            assert isinstance(chain, Analysis) and chain.delta == p.delta and chain.benchmark == bench


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


def test_a_malformed_params_yaml_or_an_unknown_key_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    path = _params(tmp_path)
    text = path.read_text()
    path.write_text(text.replace("preset: mini", "preset: [mini"))
    with pytest.raises(RlscaleError, match=r"params.yaml: not valid YAML at line \d+, column \d+"):
        load_params(path, "gym")
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", "hparams", "gym"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlscale: error: params.yaml: not valid YAML")
    path.write_text(text)
    doc = yaml.safe_load(text)
    doc["presets"]["mini"]["gym"]["thresholdz"] = [1, 2]
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(RlscaleError, match="presets.mini.gym: unknown key.s. thresholdz"):
        load_params(path, "gym")


@pytest.mark.parametrize("change, message", [
    ({"preset": ["mini"]}, "preset ['mini'] is not one of presets: mini"),
    ({"preset": None}, "no 'preset' key: set preset: NAME, one of presets: mini"),
    ({"presets": ["mini"]}, "'presets' must be a mapping of preset names to their settings"),
    ({"presets": {"mini": "gym"}}, "presets.mini must be a mapping of settings and benchmark blocks, got str"),
    ({"presets": {"mini": ["gym"]}}, "presets.mini must be a mapping of settings and benchmark blocks, got list"),
    ({"benchmarks": "gym"}, "'benchmarks' must be a list of benchmark names, got str"),
])
def test_a_params_yaml_of_the_wrong_shape_is_one_line_naming_the_key(tmp_path, monkeypatch, capsys, change, message):
    path = _params(tmp_path)
    doc = {**yaml.safe_load(path.read_text()), **change}
    path.write_text(yaml.safe_dump({k: v for k, v in doc.items() if v is not None}))
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", "hparams", "gym"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"rlscale: error: params.yaml: {message}"]


def test_benchmark_keys_are_analysis_options_and_preset_keys_their_defaults(tmp_path):
    p = load_params(_params(tmp_path, max_return={"Pendulum-v1": 0}, min_return={"Pendulum-v1": -1500},
                            utd_fit_range=[1, 2], notebooks={"fig_a_learning_curves": {"x": 2}}), "gym")
    assert p.analysis["utd_fit_range"] == [1, 2] and p.analysis["n_bootstrap"] == 5  # the preset's default
    assert p.chain().min_return == {"Pendulum-v1": -1500} and p.notebooks["fig_a_learning_curves"] == {"x": 2}
    assert p.notebook_workers == p.workers == 2  # kernels at a time default to the training workers
    own = load_params(_params(tmp_path, n_bootstrap=7, notebooks={"tab_k_coefficients": {"x": 3}}), "gym")
    assert own.n_bootstrap == own.analysis["n_bootstrap"] == own.chain().n_bootstrap == 7  # the benchmark's key wins
    assert own.notebooks["tab_k_coefficients"] == {"utd_fit_range": [1, 2], "x": 3}  # over the preset's, key by key


def test_a_notebook_finds_the_pipelines_analysis_from_inside_notebooks(tmp_path, monkeypatch):
    _params(tmp_path)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    nb = notebook_context("gym")
    assert nb.results == tmp_path / "results" / "gym" / "analysis" and nb.figures == tmp_path / "figures" / "gym"
    with pytest.raises(RlscaleError, match="no saved analysis here"):
        _ = nb.analysis
    with pytest.raises(RlscaleError, match="benchmark 'isaac'"):
        notebook_context("isaac")
    doc = yaml.safe_load((tmp_path / "params.yaml").read_text())
    doc["presets"]["paper"] = doc["presets"]["mini"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(RlscaleError, match="results/ hold the analysis of the active preset 'mini', not 'paper'"):
        notebook_context("gym", "paper")  # results/ hold one preset's analysis: another's is not read as it


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
        "name": "mini_gym", "algo": "sac", "envs": ["gym:CartPole-v1"], "utd": [1], "batch_size": [16],
        "learning_rate": [1e-3], "seeds": 1, "env_steps": 240, "eval_every": 120, "warmup_steps": 50}))
    _params(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", "grid", "gym"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rlscale: error: 'rlscale sweep sweeps/mini_gym.yaml ...' exited with 1")
    assert not Path("data").exists()


@pytest.mark.parametrize("workers", [0, -1])
def test_a_training_step_with_no_worker_slot_is_one_line_before_any_run(tmp_path, monkeypatch, capsys, workers):
    """workers: 0 in params.yaml ended in a ZeroDivisionError traceback, workers: -1 in a sweep waiting forever."""
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "mini_gym.yaml").write_text(yaml.safe_dump({
        "name": "mini_gym", "algo": "sac", "envs": ["gym:Pendulum-v1"], "utd": [1], "batch_size": [16],
        "learning_rate": [1e-3], "seeds": 1, "env_steps": 240, "eval_every": 120, "warmup_steps": 60}))
    path = _params(tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["presets"]["mini"]["workers"] = workers
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", "grid", "gym"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"rlscale: error: workers= must be an integer >= 1, got {workers}"]
    assert not Path("runs").exists() and not Path("data").exists()


@pytest.mark.parametrize("kind", ["fitted", "baseline"])
def test_a_missing_sweep_file_of_a_training_step_is_one_line(tmp_path, monkeypatch, capsys, kind):
    _params(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", kind, "gym"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"rlscale: error: sweeps/mini_gym_{kind}.yaml: no such sweep file for preset 'mini'"]


def test_fitted_and_baseline_steps_train_at_the_hparams_csvs_and_the_analysis_fits_both(tmp_path, monkeypatch,
                                                                                        capsys):
    """hparams -> proposed and baseline CSVs -> fitted and baseline runs -> an analysis that uses both tables, on the
    committed Gym grid's Pendulum runs (real runs) and tiny real training at the CSVs."""
    (tmp_path / "data" / "runs").mkdir(parents=True)
    grid = read_run_table(ROOT / "data" / "runs" / "gym.parquet")
    write_run_table(grid[grid["env"] == "Pendulum-v1"], tmp_path / "data" / "runs" / "gym.parquet")
    _params(tmp_path, thresholds=[300, 400, 500, 600, 700], utds_to_predict=[1, 2],
            max_return={"Pendulum-v1": 0}, min_return={"Pendulum-v1": -1500})
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", "hparams", "gym"]) == 0
    proposed, baseline = (pd.read_csv(f"results/gym/{k}_hparams.csv") for k in ("proposed", "baseline"))
    constant = json.loads(Path("results/gym/hparams.json").read_text())["baseline"]
    assert [r["utd"] for r in constant] == [2.0]  # the grid-best (B, η) at σ = 2 ...
    assert list(baseline.columns) == list(proposed.columns)
    assert baseline[["env", "utd"]].equals(proposed[["env", "utd"]])
    for h in ("batch_size", "learning_rate"):  # ... at every σ of the proposals
        assert baseline[h].tolist() == pytest.approx([constant[0][h]] * 2, rel=1e-9)
    first = Path("results/gym/baseline_hparams.csv").read_bytes()
    assert main(["pipeline", "hparams", "gym"]) == 0 and Path("results/gym/baseline_hparams.csv").read_bytes() == first

    Path("sweeps").mkdir()
    for kind, csv in (("fitted", "proposed_hparams.csv"), ("baseline", "baseline_hparams.csv")):
        Path(f"sweeps/mini_gym_{kind}.yaml").write_text(yaml.safe_dump({
            "name": f"mini_gym_{kind}", "mode": "fitted", "algo": "sac", "hparams": f"../results/gym/{csv}",
            "backend": "gym", "seeds": 2, "env_steps": 240, "eval_every": 120, "eval_episodes": 1, "warmup_steps": 130,
            "critic_width": 16}))
    capsys.readouterr()
    assert main(["pipeline", "fitted", "gym"]) == 0 and main(["pipeline", "analysis", "gym"]) == 0
    assert "--fitted data/runs/gym_fitted.parquet -o" in capsys.readouterr().out
    assert Analysis.load("results/gym/analysis").sources_["baseline"]["table"] == "grid"  # stands in for the runs

    assert main(["pipeline", "baseline", "gym"]) == 0
    out = capsys.readouterr().out
    assert "+ rlscale sweep sweeps/mini_gym_baseline.yaml -o runs/mini_gym_baseline --workers 2" in out
    table = read_run_table("data/runs/gym_baseline.parquet")
    trained = table[["utd", "batch_size", "learning_rate"]].drop_duplicates().sort_values("utd")
    assert trained["utd"].tolist() == [1.0, 2.0] and sorted(table["seed"].unique()) == [0, 1]
    assert trained["batch_size"].tolist() == baseline["batch_size_rounded"].tolist()
    assert trained["learning_rate"].tolist() == pytest.approx(baseline["learning_rate"].tolist(), rel=1e-3)
    prov = json.loads(Path("data/runs/gym_baseline.provenance.json").read_text())
    assert prov["runs"] == 4 and prov["sweep_file"] == "sweeps/mini_gym_baseline.yaml"
    assert prov["commands"][1] == "rlscale collect runs/mini_gym_baseline -o data/runs/gym_baseline.parquet"

    assert main(["pipeline", "analysis", "gym"]) == 0
    out = capsys.readouterr().out
    assert "+ rlscale fit analysis data/runs/gym.parquet --fitted data/runs/gym_fitted.parquet --baseline " \
           "data/runs/gym_baseline.parquet -o results/gym/analysis" in out
    sources = Analysis.load("results/gym/analysis").sources_
    assert sources["baseline"]["table"] == "data/runs/gym_baseline.parquet" and sources["baseline"]["runs"] == 4
    assert sources["fitted"]["table"] == "data/runs/gym_fitted.parquet" and sources["fitted"]["runs"] == 4


def _dvc() -> str:
    return shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")  # the venv running pytest


def test_dvc_yaml_has_a_stage_for_every_notebook_and_sweep_file():
    listed = subprocess.run([_dvc(), "stage", "list", "--name-only"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()
    dvc_text = (ROOT / "dvc.yaml").read_text()
    # paper_vs_rlscale reads the authors' runs, which are never committed: `make authors` runs it, not DVC
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if p.stem not in ("explore",
                                                                                               COMPARISON_NOTEBOOK))
    assert set(notebooks) == {*FIGURE_NOTEBOOKS, OVERVIEW_NOTEBOOK}
    for name in notebooks:
        assert f"notebooks/{name}.ipynb" in dvc_text, f"dvc.yaml runs no notebook {name}"
    assert "overview" in listed
    for bench in yaml.safe_load((ROOT / "params.yaml").read_text())["benchmarks"]:
        assert {f"grid@{bench}", f"hparams@{bench}", f"fitted@{bench}", f"baseline@{bench}", f"analysis@{bench}",
                f"figures@{bench}"} <= set(listed)


def _copy_of_the_repository(dest: Path) -> Path:
    """What a fresh clone holds: the tracked files and the not yet committed, not ignored ones."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone"]):
        subprocess.run(cmd, cwd=dest, check=True)
    return dest


def _dvc_status(cwd: Path, env: dict) -> str:
    return subprocess.run([_dvc(), "status"], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def _numbers(text: str, suffix: str) -> tuple[list[str], list[float]]:
    """A results file's text fields and numbers, in order (CSV cells or JSON leaves)."""
    if suffix == ".csv":
        table = pd.read_csv(io.StringIO(text))
        cells = [v for row in table.itertuples(index=False) for v in row]
    else:
        cells = []
        stack = [json.loads(text)]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                cells.extend(f"key:{k}" for k in node)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
            else:
                cells.append(node)
    numeric = [isinstance(v, int | float) and not isinstance(v, bool) for v in cells]
    return ([str(v) for v, n in zip(cells, numeric, strict=True) if not n],
            [float(v) for v, n in zip(cells, numeric, strict=True) if n])


def _assert_same_results(clone: Path) -> None:
    """Every results file the clone rewrote holds the committed text and the committed numbers to 1e-4 relative
    (1e-9 absolute near zero). Bit equality holds only on the CPU that committed them: other SIMD kernels (AVX-512
    against AVX2, measured) move least-squares optima and interval ends by 1e-8 to 1e-5 relative."""
    changed = subprocess.run(["git", "status", "--porcelain", "results"], cwd=clone, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    for line in changed:
        status, name = line[:2].strip(), line[3:]
        assert status == "M", f"{line}: a hand-run fit added or removed a results file"
        committed = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=clone, capture_output=True, text=True,
                                   check=True).stdout
        old_text, old_num = _numbers(committed, Path(name).suffix)
        new_text, new_num = _numbers((clone / name).read_text(), Path(name).suffix)
        assert new_text == old_text, f"{name}: text fields differ from the committed file"
        assert new_num == pytest.approx(old_num, rel=1e-4, abs=1e-9, nan_ok=True), name


@pytest.mark.slow
def test_a_fresh_clone_reproduces_and_stays_clean_after_repro_twice_and_a_hand_run_fit(tmp_path):
    clone = _copy_of_the_repository(tmp_path / "clone")
    # dvc and rlscale from the venv running pytest (a worktree or fresh clone may have no .venv of its own)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([_dvc(), "repro"], cwd=clone, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert not any(f"Running stage '{kind}@" in run.stdout for kind in TRAIN_KINDS)  # no training
    assert "Running stage 'analysis@" not in run.stdout  # the committed analysis is up to date
    assert (clone / "figures" / "fig01_overview.png").is_file()
    assert (clone / "figures" / "gym" / "fig_h_hparam_laws.pdf").is_file()
    assert "up to date" in _dvc_status(clone, env)
    again = subprocess.run([_dvc(), "repro"], cwd=clone, env=env, capture_output=True, text=True, check=True)
    assert "Running stage" not in again.stdout and "up to date" in _dvc_status(clone, env)
    hand_run = (["hparams", "gym"], ["analysis", "gym"])  # by hand, as the README invites
    for step in hand_run:
        subprocess.run(["rlscale", "pipeline", *step], cwd=clone, env=env, capture_output=True, check=True)
    _assert_same_results(clone)
    # from here on this machine's own numbers: dvc's stage and the hand run must write the same bytes
    subprocess.run([_dvc(), "repro"], cwd=clone, env=env, capture_output=True, check=True)
    for cmd in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "local",
                                       "--allow-empty"]):
        subprocess.run(cmd, cwd=clone, check=True)
    for step in hand_run:
        subprocess.run(["rlscale", "pipeline", *step], cwd=clone, env=env, capture_output=True, check=True)
    assert "up to date" in _dvc_status(clone, env), _dvc_status(clone, env)
    forced = subprocess.run([_dvc(), "repro", "-f", "--single-item", "overview"], cwd=clone, env=env,
                            capture_output=True, text=True)
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert "up to date" in _dvc_status(clone, env)  # the same figure again: PNG and PDF bytes do not change
    assert subprocess.run(["git", "status", "--porcelain", "dvc.lock", "results"], cwd=clone, capture_output=True,
                          text=True, check=True).stdout == ""


@pytest.mark.parametrize("first_start", ["os._exit(1)", "time.sleep(600)"], ids=["dies", "never_answers"])
def test_a_kernel_that_fails_to_start_is_started_once_more(tmp_path, monkeypatch, first_start):
    """Kernels started side by side can race for a TCP port: one dies before replying to kernel_info, or never answers
    (its client talks to a port nobody serves; 'Kernel didn't respond', which failed a whole pipeline run under load).
    A real kernel (the python3 kernelspec, overridden on JUPYTER_PATH) that fails so at its first start only is
    started again."""
    import nbformat

    from rlscale import pipeline
    from rlscale.pipeline import run_notebook

    monkeypatch.setattr(pipeline, "KERNEL_START_S", 15)  # how long a silent kernel is waited for: short here
    start = tmp_path / "start_once_failing.py"
    start.write_text("import os, sys, time\nmarker = sys.argv.pop(1)\nif not os.path.exists(marker):\n"
                     f"    open(marker, 'w').close()\n    {first_start}\n"
                     "from ipykernel import kernelapp\nkernelapp.launch_new_instance()\n")
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(start), str(tmp_path / "failed_once"), "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                                           nbformat.v4.new_code_cell("print(x * 21)")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "notebooks").mkdir()
    nbformat.write(book, tmp_path / "notebooks" / "starts.ipynb")
    monkeypatch.chdir(tmp_path)
    run_notebook("starts", {"x": 2, "benchmark": "gym"}, "b/starts", executed_dir=tmp_path / "executed")
    assert (tmp_path / "failed_once").is_file()
    published = (tmp_path / "executed" / "b" / "starts.ipynb").read_text()
    assert "42" in published and "benchmark" not in published  # only the parameters the notebook declares
    run_notebook("starts", {"x": 2}, "b/starts", executed_dir=tmp_path / "again")  # a second run, other timings:
    assert (tmp_path / "again" / "b" / "starts.ipynb").read_text() == published  # the published copy is the same


def test_notebook_kernels_run_numpy_without_its_avx512_kernels_and_the_pipeline_keeps_its_environment(
        tmp_path, monkeypatch):
    """numpy's AVX-512 and AVX2 kernels round some plotted coordinates' last bit differently; a real kernel sees
    every SIMD target past AVX2 switched off (so x86 CPUs draw the same bytes), and the pipeline's process is
    left as it was."""
    import nbformat

    from rlscale.pipeline import _numpy_features_above_avx2, run_notebook

    names = _numpy_features_above_avx2().split()
    if not names:
        pytest.skip("this numpy dispatches to nothing past AVX2 (not an x86 build)")
    monkeypatch.delenv("NPY_DISABLE_CPU_FEATURES", raising=False)
    book = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("names = []", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import os, warnings\nwarnings.simplefilter('error', ImportWarning)\n"
                                  "from numpy._core._multiarray_umath import __cpu_features__\n"
                                  "print(os.environ['NPY_DISABLE_CPU_FEATURES'], "
                                  "'on:', [n for n in names if __cpu_features__[n]])")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "notebooks").mkdir()
    nbformat.write(book, tmp_path / "notebooks" / "simd.ipynb")
    monkeypatch.chdir(tmp_path)
    run_notebook("simd", {"names": names}, "b/simd", executed_dir=tmp_path / "executed")
    assert f"{' '.join(names)} on: []" in (tmp_path / "executed" / "b" / "simd.ipynb").read_text()
    assert "NPY_DISABLE_CPU_FEATURES" not in os.environ


def test_a_notebook_whose_kernel_dies_is_one_line_and_publishes_nothing(tmp_path, monkeypatch):
    import nbformat

    from rlscale.pipeline import run_notebook

    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                                           nbformat.v4.new_code_cell("import os\nos._exit(1)")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "notebooks").mkdir()
    nbformat.write(book, tmp_path / "notebooks" / "dies.ipynb")
    monkeypatch.chdir(tmp_path)  # the pipeline's folders are relative to the repository root
    with pytest.raises(RlscaleError, match=r"^notebooks/dies.ipynb: its kernel died \(.+\); nothing was published, "
                                           "run the step again$"):
        run_notebook("dies", {"x": 2}, "b/dies")
    assert not (tmp_path / "figures").exists()


@pytest.mark.parametrize("step", ["hparams", "analysis"])
def test_the_command_a_fit_step_prints_is_one_its_subcommand_takes(tmp_path, monkeypatch, capsys, step):
    """`dj_loss: linear` (a choice of the frontier step) was printed as `fit hparams ... --dj-loss linear`, which the
    parser refuses; options of the step's own are all there."""
    _params(tmp_path, dj_loss="linear", hparam_average="arithmetic", j_lo=250, holdout=1, utd_range=[0.5, 4],
            max_return={"Pendulum-v1": 0}, min_return={"Pendulum-v1": -1500}, baseline_utd=2, return_kind="train",
            utds_to_predict=[])  # an empty list: left out, not a flag without values the parser refuses
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", step, "gym"]) == 2  # no run table here: the step fails after printing its command
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("+ rlscale fit "))
    args = build_parser().parse_args(shlex.split(line)[2:])
    assert (args.fit_command, args.hparam_average, args.baseline_utd, args.return_kind) == (step, "arithmetic", 2,
                                                                                         "train")
    assert args.max_return == ["Pendulum-v1=0"] and args.min_return == ["Pendulum-v1=-1500"]
    if step == "analysis":
        assert (args.dj_loss, args.j_lo, args.holdout, args.utd_range) == ("linear", 250, 1, [0.5, 4])


@pytest.mark.parametrize("name, text, message", [
    ("config.json", "{not json", r"config.json is not an rlscale run config \(JSONDecodeError: "),
    ("status.json", "[1, 2]", r"status.json: unreadable run status \("),
    ("curve.parquet", "not parquet", r": unreadable run curve \("),
])
def test_an_unreadable_run_folder_file_stops_the_provenance_in_one_line(tmp_path, name, text, message):
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"settings": {}, "started": "2026-01-01T00:00:00+0000"}))
    (run / "status.json").write_text(json.dumps({"status": "finished"}))
    (run / name).write_text(text)
    (tmp_path / "s.yaml").write_text("name: s\n")
    with pytest.raises(RlscaleError, match=message) as caught:
        write_provenance(tmp_path / "t.parquet", tmp_path / "runs", tmp_path / "s.yaml", [])
    assert "\n" not in str(caught.value) and not (tmp_path / "t.provenance.json").exists()


def test_a_repeated_key_in_params_yaml_is_an_error(tmp_path, monkeypatch, capsys):
    """YAML alone keeps the last of two `n_bootstrap:` keys, silently: params.yaml is read as sweep files are."""
    path = _params(tmp_path)
    path.write_text(path.read_text().replace("  mini:\n", "  mini:\n    n_bootstrap: 7\n", 1))
    with pytest.raises(RlscaleError, match=r"params.yaml: not valid YAML at line \d+, column \d+: repeated key "
                                           r"'n_bootstrap' \(first at line \d+\)"):
        load_params(path, "gym")
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", "hparams", "gym"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
