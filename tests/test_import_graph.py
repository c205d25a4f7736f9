"""The package's layers run one way: cli -> train / analysis -> agents, envs, laws -> runs, io.

Read from the source with ``ast`` (imports inside functions count too), so a lazy import cannot hide
a dependency that runs the wrong way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rlscale

PACKAGE = Path(rlscale.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every rlscale module ``path`` imports (``from a import b`` counts ``a`` and ``a.b``)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "rlscale" or name.startswith("rlscale.")}


GRAPH = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _importers(layer: str, of: tuple[str, ...]) -> dict[str, list[str]]:
    """Modules of ``layer`` (a package or module) that import any of ``of``."""
    def inside(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    return {module: sorted(i for i in imports if any(inside(i, o) for o in of))
            for module, imports in GRAPH.items()
            if inside(module, layer) and any(inside(i, o) for i in imports for o in of)}


def test_the_graph_sees_the_packages_modules():
    assert {"rlscale.cli.train", "rlscale.train.loop", "rlscale.agents.sac", "rlscale.laws.powerlaw"} <= set(GRAPH)
    assert "rlscale.train.config" in GRAPH["rlscale.cli.train"]


def test_no_library_module_imports_the_cli():
    offenders = {m: i for m, i in _importers("rlscale", ("rlscale.cli",)).items() if not m.startswith("rlscale.cli")}
    assert offenders == {}


@pytest.mark.parametrize(("layer", "above"), [
    ("rlscale.train", ("rlscale.cli", "rlscale.analysis", "rlscale.plots", "rlscale.pipeline")),
    ("rlscale.agents", ("rlscale.cli", "rlscale.train", "rlscale.analysis", "rlscale.plots", "rlscale.laws",
                        "rlscale.envs")),
    ("rlscale.envs", ("rlscale.cli", "rlscale.train", "rlscale.analysis", "rlscale.plots", "rlscale.laws",
                      "rlscale.agents")),
    ("rlscale.runs", ("rlscale.cli", "rlscale.train", "rlscale.analysis", "rlscale.plots", "rlscale.laws")),
    ("rlscale.io", ("rlscale.cli", "rlscale.train", "rlscale.analysis", "rlscale.plots", "rlscale.laws",
                    "rlscale.runs")),
])
def test_lower_layers_never_import_higher_ones(layer, above):
    assert _importers(layer, above) == {}


@pytest.mark.parametrize("layer", ["rlscale.laws", "rlscale.analysis"])
def test_fitting_imports_neither_plotting_nor_the_cli(layer):
    assert _importers(layer, ("rlscale.plots", "rlscale.cli", "rlscale.pipeline")) == {}
