"""Spreading the independent pieces of one run over worker processes (:meth:`RunContext.map`)."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["parallel_map"]

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(x) for x in items]``, in order, over ``workers`` spawned processes.

    With one worker or one item it runs in this process: starting a process costs more than
    small work saves, and an in-process call keeps tracebacks and debuggers simple.
    """
    items = list(items)
    n = min(workers, len(items))
    if n <= 1:
        return [fn(x) for x in items]
    with cf.ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(fn, items))
