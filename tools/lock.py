"""Write constraints.txt: the exact versions, in this venv, of everything ``rlscale[dev,ray,warp]`` pulls in.

``make lock`` runs it after a dependency change, once ``make test`` passes; ``make repro``, ``make test`` and Binder
install with it, so a fresh clone gets the versions that produced the committed outputs. torch, its CUDA
wheels and the packages torch itself requires are left out: the Makefile's ``TORCH_SPEC`` (or a GPU machine's own
build) decides them, and each torch release bounds its requirements its own way (torch 2.11 wants
``setuptools<82``, 2.13 ``>=77``), so a pin of one would make pip replace the GPU machine's torch.
"""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("dev", "ray", "warp")
#: decided per machine: the CPU wheel here, the CUDA build on a GPU machine
UNPINNED = ("torch", "triton")
UNPINNED_PREFIXES = ("nvidia-",)


def unpinned(name: str) -> bool:
    """Decided per machine (see the module's docstring)."""
    return name in UNPINNED or name.startswith(UNPINNED_PREFIXES)


def requirements(name: str, extras: frozenset[str] = frozenset()) -> list:
    """The installed ``name``'s requirements that apply here, with ``extras`` (markers evaluated)."""
    from packaging.markers import default_environment  # installed with the dev extra, not in a bare venv
    from packaging.requirements import Requirement

    env = default_environment()
    return [req for req in map(Requirement, md.distribution(name).requires or [])
            if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in extras | {""})]


def closure(root: str, extras: tuple[str, ...]) -> dict[str, str]:
    """Installed name -> version of every distribution ``root[extras]`` needs here, not looking inside the
    distributions decided per machine (whose own requirements come with them)."""
    from packaging.utils import canonicalize_name

    seen: dict[str, str] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    todo = [(root, frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in done:
            continue
        done.add((canonicalize_name(name), wanted))
        dist = md.distribution(name)
        seen[canonicalize_name(dist.metadata["Name"])] = dist.version
        if not unpinned(canonicalize_name(name)):
            todo += [(req.name, frozenset(req.extras)) for req in requirements(name, wanted)]
    return seen


def left_to_torch() -> set[str]:
    """torch's own requirements (canonical names): its build decides their versions."""
    from packaging.utils import canonicalize_name

    return {canonicalize_name(req.name) for req in requirements("torch")}


def pip_args(lock: Path) -> str:
    """``-c LOCK`` where this Python is the one the lock was written on, else nothing (and say so on stderr):
    the pins need not exist for another Python, whose install then resolves from pyproject.toml's ranges."""
    py = ".".join(map(str, sys.version_info[:2]))
    wrote = next((line.split()[-1] for line in lock.read_text().splitlines() if line.startswith("# python ")), None)
    if wrote == py:
        return f"-c {lock}"
    print(f"note: {lock} pins Python {wrote}'s versions; on Python {py} the install resolves pyproject.toml's "
          "ranges instead, so outputs may differ from the committed ones in the last digits", file=sys.stderr)
    return ""


def write(lock: Path) -> None:
    pins = closure("rlscale", EXTRAS)
    pins.pop("rlscale")
    torch_own = left_to_torch()
    keep = {n: v for n, v in pins.items() if not unpinned(n) and n not in torch_own}
    py = ".".join(map(str, sys.version_info[:2]))
    lines = [f"# rlscale[{','.join(EXTRAS)}]'s dependencies as tested, on Python {py}: written by `make lock`",
             "# (tools/lock.py) from the venv `make test` passed in; torch, triton, nvidia-* and torch's own",
             f"# requirements ({', '.join(sorted(torch_own))}) are not pinned.",
             f"# python {py}", *(f"{n}=={v}" for n, v in sorted(keep.items()))]
    lock.write_text("\n".join(lines) + "\n")
    print(f"{lock}: {len(keep)} pins for Python {py}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--pip-args"]:
        print(pip_args(Path(sys.argv[2])))
    else:
        write(ROOT / "constraints.txt")
