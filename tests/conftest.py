"""Shared fixtures: a real plugin site (distribution metadata with entry points) and a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent


def make_plugin_site(site: Path, dist: str, entry_points: dict[str, dict[str, str]],
                     modules: dict[str, str]) -> Path:
    """A directory that, on sys.path, is an installed distribution with these entry points."""
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, text in modules.items():
        (site / f"{name}.py").write_text(text)
    return site


@pytest.fixture(scope="session")
def toy_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy task installed as a plugin distribution (``toy-plugin``) in a site directory."""
    site = tmp_path_factory.mktemp("toy-site")
    shutil.copy(HERE / "bench" / "toytask.py", site / "toytask.py")
    return make_plugin_site(
        site, "toy_plugin",
        {"transferbench.tasks": {"toy": "toytask:TASKS"}, "transferbench.methods": {"toy": "toytask:METHODS"}},
        {},
    )


@pytest.fixture
def with_site(monkeypatch: pytest.MonkeyPatch, toy_site: Path) -> Path:
    """Put the toy plugin on sys.path for in-process calls."""
    monkeypatch.syspath_prepend(str(toy_site))
    return toy_site


def bench_cli(*args: str, cwd: Path, sites: tuple[Path, ...] = (), timeout: float = 300,
              check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bench`` in a subprocess with extra plugin sites on PYTHONPATH."""
    if args and args[0] == "run" and not any(a.startswith("--workers") for a in args):
        args = (*args, "--workers", "1")  # the toy runs take milliseconds: spawning workers would dominate
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, sites), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc
