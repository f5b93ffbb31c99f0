"""Shared hygiene for the sim-to-real tests."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _collect_abandoned_simulations() -> Iterator[None]:
    """Collect envs earlier tests dropped without closing, before this test connects its own.

    pybullet's ``BulletClient.__del__`` disconnects by client id, and ids are reused: a client
    collected in the middle of a later test can disconnect that test's simulation ("Not connected
    to physics server"), depending on when the garbage collector happens to run.
    """
    gc.collect()
    # What survived is alive: freeze it, so that the next test's collection walks only what was made
    # since (the whole heap of torch, transformers and earlier fixtures took 0.5 s per test).
    gc.freeze()
    yield
