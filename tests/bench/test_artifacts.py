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


def _weights(d: Path) -> None:
    (d / "model.safetensors").write_bytes(b"w" * 10_000)


def test_a_truncated_artifact_is_rebuilt_once_with_a_warning_naming_it(tmp_path, caplog):
    import bench.artifacts

    cache = ArtifactCache(tmp_path)
    first = cache.get_or_build("model", {"seed": 1}, _weights)
    (first / "model.safetensors").write_bytes(b"w" * 100)  # cut short, as a full disk or a bad copy leaves it
    bench.artifacts._VERIFIED.clear()  # what a new process knows
    again = ArtifactCache(tmp_path)
    with caplog.at_level("WARNING", logger="transferbench"):
        path = again.get_or_build("model", {"seed": 1}, _weights)
    assert path == first and (path / "model.safetensors").stat().st_size == 10_000
    assert [u.hit for u in again.used] == [False]
    assert [r.getMessage() for r in caplog.records] == [
        f"artifact {first} is damaged (model.safetensors is 100 bytes, 10,000 when built): rebuilding it"]
    (first / "model.safetensors").write_bytes(b"x" * 10_000)  # same size, other bytes
    bench.artifacts._VERIFIED.clear()
    caplog.clear()
    with caplog.at_level("WARNING", logger="transferbench"):
        ArtifactCache(tmp_path).get_or_build("model", {"seed": 1}, _weights)
    assert "model.safetensors does not match its checksum" in caplog.records[0].getMessage()


def _killed_build(root: str, started: str) -> None:
    def build(d: Path) -> None:
        (d / "half.bin").write_bytes(b"h" * 1000)
        Path(started).write_text("building")
        time.sleep(60)

    ArtifactCache(Path(root)).get_or_build("model", {"seed": 7}, build)


def test_what_a_killed_build_left_is_removed_by_the_next_build_of_its_key(tmp_path):
    import os
    import signal

    started = tmp_path / "started"
    proc = multiprocessing.get_context("spawn").Process(target=_killed_build, args=(str(tmp_path / "c"), str(started)))
    proc.start()
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    folder = tmp_path / "c" / "model"
    assert [p for p in folder.iterdir() if p.is_dir()], "the killed build left its temporary directory"
    path = ArtifactCache(tmp_path / "c").get_or_build("model", {"seed": 7}, _weights)
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [path.name]
