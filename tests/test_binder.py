"""Binder parity: ``environment.yml`` + ``postBuild`` give the environment ``make`` gives, with a kernel that
JupyterLab finds and that imports rlscale.

The fast checks compare the set-up files; the slow one builds what repo2docker builds, from the pip section of
``environment.yml`` only, in a fresh venv (torch first, as the Makefile's ``TORCH_SPEC`` rule does), runs
``postBuild``, and executes a notebook through the kernel JupyterLab would list. It installs from the package
index (3-8 min on 2 cores), so it runs with ``make binder-check`` (``RLSCALE_BINDER_CHECK=1``), not ``make test``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
# what postBuild's `pip install -e .` needs of the checkout
SOURCE = ("pyproject.toml", "README.md", "postBuild", "environment.yml", "constraints.txt", "rlscale")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pip_section() -> list[str]:
    return next(d["pip"] for d in _environment()["dependencies"] if isinstance(d, dict))


def _normalise(spec: str) -> tuple[str, frozenset[str], str]:
    req = Requirement(spec)
    return req.name.lower().replace("_", "-"), frozenset(req.extras), str(req.specifier)


def test_environment_yml_matches_pyproject():
    project = _project()
    wanted = {_normalise(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"]}
    listed = {_normalise(s) for s in _pip_section() if not s.startswith("-")}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"


def test_environment_yml_python_satisfies_requires_python():
    pins = [d for d in _environment()["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert len(pins) == 1, f"environment.yml should pin python once, found {pins}"
    version = pins[0].split("=", 1)[1].lstrip("=")
    assert version in SpecifierSet(_project()["requires-python"]), f"{pins[0]} outside requires-python"


def _pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return {_normalise(s.split("==")[0])[0]: s.split("==")[1] for s in lines if s and not s.startswith("#")}


def test_constraints_pin_every_dependency_within_pyproject_ranges():
    project = _project()
    pins = _pins()
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
    for spec in specs:
        name, _, specifier = _normalise(spec)
        if name == "torch":  # the Makefile's TORCH_SPEC, or a GPU machine's own build
            assert name not in pins, "constraints.txt must leave torch to TORCH_SPEC"
            continue
        assert name in pins, f"constraints.txt does not pin {name}: run `make lock`"
        assert SpecifierSet(specifier).contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {specifier!r}: run `make lock`")


def test_constraints_leave_torch_and_what_torch_requires_to_the_torch_build():
    """Each torch release bounds its own requirements its own way (torch 2.11: setuptools<82; 2.13: >=77): a pin of
    one (setuptools==84.2.1) made pip swap a GPU machine's torch 2.11 for a newer multi-GB build."""
    from importlib.metadata import distribution

    torch_own = {_normalise(spec)[0] for spec in distribution("torch").requires or []
                 if Requirement(spec).marker is None or Requirement(spec).marker.evaluate({"extra": ""})}
    pinned = set(_pins())
    assert {"setuptools", "sympy"} <= torch_own  # what this torch asks for (the check below is not vacuous)
    assert not pinned & torch_own, f"constraints.txt pins torch's own requirements {sorted(pinned & torch_own)}"
    assert not {n for n in pinned if n in ("torch", "triton") or n.startswith("nvidia-")}


def test_environment_yml_installs_with_the_constraints_on_their_python():
    assert "-c constraints.txt" in _pip_section(), "environment.yml's pip section should carry -c constraints.txt"
    wrote = next(s.split()[-1] for s in (ROOT / "constraints.txt").read_text().splitlines()
                 if s.startswith("# python "))
    python = next(d for d in _environment()["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.split("=", 1)[1].lstrip("=") == wrote, f"constraints.txt is for Python {wrote}, Binder has {python}"


def test_postbuild_is_an_executable_script_that_installs_the_package():
    post = ROOT / "postBuild"
    assert os.access(post, os.X_OK), "postBuild must be executable (repo2docker runs it directly)"
    assert post.read_text().startswith("#!"), "postBuild needs a shebang line"


def _run(command: list[str], env: dict[str, str], cwd: Path, what: str) -> str:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("RLSCALE_BINDER_CHECK") != "1",
                    reason="installs a fresh venv from the package index (3-8 min): run `make binder-check`")
def test_fresh_venv_from_environment_yml_and_postbuild_has_a_kernel_that_imports_rlscale(tmp_path):
    source = tmp_path / "repo"
    source.mkdir()
    for name in SOURCE:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter" / "config"),
               JUPYTER_DATA_DIR=str(tmp_path / "jupyter" / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter" / "runtime"), JUPYTER_PREFER_ENV_PATH="1")
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # the Makefile's torch rule (a local CPU wheel on the project's machines), then the pip section as written,
    # beside environment.yml as conda writes it (so -c constraints.txt resolves); its index option names Binder's
    # CPU torch index, which torch already installed makes moot here
    _run([*pip, os.environ.get("TORCH_SPEC", "torch==2.13.0")], env, source, "installing torch")
    requirements = source / "condaenv.requirements.txt"
    requirements.write_text("\n".join(s for s in _pip_section() if not s.startswith("--extra-index-url")) + "\n")
    _run([*pip, "-r", str(requirements)], env, source, "installing environment.yml's pip section")
    _run([str(source / "postBuild")], env, source, "postBuild")
    _run([str(bin_dir / "python"), "-m", "pip", "check"], env, source, "pip check (rlscale's requirements met)")

    specs = json.loads(_run([str(bin_dir / "jupyter"), "kernelspec", "list", "--json"], env, source,
                            "jupyter kernelspec list"))["kernelspecs"]
    assert "python3" in specs, f"JupyterLab lists no python3 kernel: {sorted(specs)}"
    assert Path(specs["python3"]["resource_dir"]).is_relative_to(venv), f"python3 kernel not from the venv: {specs}"

    book = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    book.cells = [nbformat.v4.new_code_cell("import sys, rlscale, torch\nprint(sys.prefix, rlscale.__file__)")]
    nbformat.write(book, tmp_path / "probe.ipynb")
    _run([str(bin_dir / "papermill"), str(tmp_path / "probe.ipynb"), str(tmp_path / "probe.out.ipynb"),
          "--kernel", "python3", "--no-progress-bar"], env, tmp_path, "the probe notebook through the python3 kernel")
    out = nbformat.read(tmp_path / "probe.out.ipynb", as_version=4).cells[0].outputs
    prefix, module = "".join(o.get("text", "") for o in out).split()
    assert Path(prefix).resolve() == venv.resolve(), f"the kernel ran in {prefix}, not in the Binder venv {venv}"
    assert Path(module).resolve().is_relative_to(source.resolve() / "rlscale"), f"rlscale imported from {module}"
