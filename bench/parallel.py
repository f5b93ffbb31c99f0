"""Spreading the independent pieces of one run over worker processes (:meth:`RunContext.map`)."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["parallel_map", "shutdown"]

T = TypeVar("T")
R = TypeVar("R")

_pools: dict[int, cf.ProcessPoolExecutor] = {}
_lock = threading.Lock()


def _pool(workers: int) -> cf.ProcessPoolExecutor:
    """A pool kept for the life of this process: runs that follow each other reuse its warm workers
    (interpreter started, libraries imported) instead of paying for new ones every time."""
    with _lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            _pools[workers] = pool
        return pool


def shutdown() -> None:
    """Stop the kept worker processes (they also stop when this process exits)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(x) for x in items]``, in order, over ``workers`` spawned processes.

    With one worker or one item it runs in this process: starting a process costs more than
    small work saves, and an in-process call keeps tracebacks and debuggers simple. A pool whose
    worker died is dropped, so the next call starts a fresh one; the error reaches the caller.
    """
    items = list(items)
    n = min(workers, len(items))
    if n <= 1:
        return [fn(x) for x in items]
    pool = _pool(workers)
    try:
        return list(pool.map(fn, items))
    except cf.process.BrokenProcessPool:
        with _lock:
            if _pools.get(workers) is pool:
                del _pools[workers]
        raise
