"""The environment report: versions and devices, recorded beside the artefacts they produced."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

REPORTED_PACKAGES = (
    "rlscale", "torch", "numpy", "scipy", "statsmodels", "pandas", "pyarrow", "gymnasium",
    "mujoco", "dm_control", "matplotlib", "seaborn", "papermill", "dvc",
)


def package_versions(names: tuple[str, ...] = REPORTED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def torch_device_report() -> dict[str, Any]:
    import torch

    report: dict[str, Any] = {
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "num_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        report["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return report


def simulator_report() -> dict[str, Any]:
    """Which simulators really load here: one MuJoCo task through gymnasium, one dm_control task."""
    report: dict[str, Any] = {}
    try:
        import gymnasium as gym

        env = gym.make("HalfCheetah-v4")
        env.reset(seed=0)
        env.close()
        report["gymnasium_mujoco"] = "ok"
    except Exception as exc:  # record, do not fail: the report documents what works
        report["gymnasium_mujoco"] = f"{type(exc).__name__}: {exc}"
    try:
        from dm_control import suite

        suite.load("cartpole", "swingup").reset()
        report["dm_control"] = "ok"
    except Exception as exc:
        report["dm_control"] = f"{type(exc).__name__}: {exc}"
    try:
        import isaacgym  # noqa: F401

        report["isaacgym"] = "ok"
    except ImportError:
        report["isaacgym"] = "not installed"
    return report


def environment_report() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        "torch": torch_device_report(),
        "simulators": simulator_report(),
    }
