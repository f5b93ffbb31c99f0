"""The content-addressed artifact cache: built once, shared across processes, never half."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from bench.artifacts import ArtifactCache


def _slow_build(root: str, marker: str) -> str:
    def build(d: Path) -> None:
        with open(marker, "a") as f:
            f.write("x")
        time.sleep(0.3)
        (d / "model.bin").write_text("weights")

    return str(ArtifactCache(Path(root)).get_or_build("model", {"seed": 1}, build))


def test_built_once_then_hit(tmp_path):
    cache = ArtifactCache(tmp_path)
    calls = []
    for _ in range(2):
        p = cache.get_or_build("m", {"a": 1}, lambda d: (calls.append(1), (d / "f").write_text("x")))
    assert len(calls) == 1 and (p / "f").read_text() == "x"
    assert [u.hit for u in cache.used] == [False, True]
    assert cache.get_or_build("m", {"a": 2}, lambda d: None) != p


def test_parallel_processes_build_once(tmp_path):
    marker = tmp_path / "builds.txt"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        paths = pool.starmap(_slow_build, [(str(tmp_path / "c"), str(marker))] * 3)
    assert len(set(paths)) == 1 and marker.read_text() == "x"


def test_a_failed_build_leaves_nothing(tmp_path):
    cache = ArtifactCache(tmp_path)

    def bad(d: Path) -> None:
        (d / "half").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.get_or_build("m", {"a": 1}, bad)
    assert not cache.path("m", {"a": 1}).exists()
    assert [p for p in (tmp_path / "m").iterdir() if not p.name.endswith(".lock")] == []


def test_a_build_leaves_the_random_streams_as_it_found_them(tmp_path):
    """The run that builds an artifact and the run that finds it cached go on from the same state."""
    import random

    import numpy as np
    import torch

    def build(d):
        (d / "x").write_text(f"{random.random()} {np.random.rand()} {float(torch.rand(1))}")

    def after(cache):
        random.seed(1)
        np.random.seed(1)
        torch.manual_seed(1)
        cache.get_or_build("a", {"k": 1}, build)
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    cache = ArtifactCache(tmp_path)
    built = after(cache)
    assert cache.used[-1].hit is False
    found = after(cache)
    assert cache.used[-1].hit is True
    assert built == found
