"""What a run records about where it came from: package versions, git commit, host, time."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

__all__ = ["provenance", "git_commit"]

_PACKAGES = ("ntklab", "torch", "numpy", "scipy", "pandas", "pyarrow", "matplotlib", "pydantic")


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False
        )
        commit = out.stdout.strip() or None
        if commit:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True,
                text=True, timeout=5, check=False,
            ).stdout.strip()
            return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
    return None


@lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _cuda() -> dict | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return {"version": torch.version.cuda, "devices": [
        {"name": torch.cuda.get_device_name(i), "capability": ".".join(map(str, torch.cuda.get_device_capability(i)))}
        for i in range(torch.cuda.device_count())]}


def provenance() -> dict:
    """Where a run came from: package versions, git commit (with ``-dirty``), host, platform, torch threads,
    the CUDA devices this process sees (name, capability, CUDA version), whether the fused float32 ReLU step
    (:mod:`ntklab.dynamics._relu_kernel`) is built here or why not, creation time."""
    import torch

    from ..dynamics import _relu_kernel

    return {
        "versions": dict(_versions()),
        "git_commit": git_commit(),
        "host": platform.node(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "cuda": _cuda(),
        "relu_step_kernel": _relu_kernel.status(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
