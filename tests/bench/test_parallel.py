"""Spreading one run's pieces over processes: same answers, same order, whatever the worker count."""

from __future__ import annotations

import os

from bench.parallel import parallel_map


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def test_one_worker_runs_in_this_process():
    out = parallel_map(_square_and_pid, [1, 2, 3], workers=1)
    assert [v for v, _ in out] == [1, 4, 9] and {pid for _, pid in out} == {os.getpid()}


def test_workers_give_the_same_answers_in_order_from_other_processes():
    out = parallel_map(_square_and_pid, list(range(6)), workers=2)
    assert [v for v, _ in out] == [x * x for x in range(6)]
    assert os.getpid() not in {pid for _, pid in out}


def test_auto_workers_are_capped_by_cores_and_pending_runs():
    from bench.config import build_config

    cfg = build_config(None, {}, [])
    assert cfg.workers == "auto"
    assert cfg.worker_count(1) == 1 and cfg.worker_count(10_000) == (os.cpu_count() or 1)
    assert build_config(None, {"workers": "3"}, []).worker_count(1) == 3
