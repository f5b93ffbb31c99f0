"""The fingerprint of the machine and software a record was produced on.

Scores move with library versions, devices and dtypes; every record carries this so that a
difference between two numbers can be explained instead of guessed. Everything here is computed
once per process.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

__all__ = ["git_state", "hardware", "harness_version", "packages", "resolve_device"]


@functools.cache
def harness_version() -> str:
    try:
        return metadata.version("transferbench")
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def packages() -> dict[str, str]:
    """Every installed distribution and its version (cheap, and nothing that matters is missed)."""
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out[name.lower()] = dist.version
    return dict(sorted(out.items()))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def _static_hardware() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
    }


def hardware() -> dict[str, Any]:
    """CPU, RAM, and (where torch is loaded) torch, CUDA and GPU details."""
    info = dict(_static_hardware())
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["cuda"] = torch.version.cuda
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            info["gpu"] = props.name
            info["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
            info["gpu_count"] = torch.cuda.device_count()
    return info


@functools.cache
def git_state(checkout: Path | None = None) -> tuple[str | None, bool | None]:
    """(revision, dirty) of ``checkout`` (default: the one transferbench runs from), or (None, None).

    ``status`` runs without git's optional locks: a plain one rewrites the index under
    ``.git/index.lock``, and a driver killed at that moment would leave the user's repository
    locked for every later git command.
    """
    here = checkout or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if rev.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return rev.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def hostname() -> str:
    return socket.gethostname()


def resolve_device(device: str) -> str:
    """Turn ``auto`` into ``cuda`` or ``cpu``; ``cuda`` without a GPU is a clear error."""
    from bench.errors import UsageError

    if device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; accepted: auto, cpu, cuda")
    if device == "cpu":
        return "cpu"
    try:
        import torch

        available = torch.cuda.is_available()
    except ImportError:
        available = False
    if device == "cuda" and not available:
        raise UsageError("device 'cuda' was asked for but no CUDA GPU is visible; use --device cpu or auto")
    return "cuda" if available else "cpu"
