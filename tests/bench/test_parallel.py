"""Spreading one run's pieces over processes: same answers, same order, whatever the worker count."""

from __future__ import annotations

import concurrent.futures as cf
import os

import pytest

from bench.config import build_config
from bench.parallel import parallel_map
from bench.runner import ProcessExecutor, SerialExecutor, make_executor


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def test_one_worker_runs_in_this_process():
    out = parallel_map(_square_and_pid, [1, 2, 3], workers=1)
    assert [v for v, _ in out] == [1, 4, 9] and {pid for _, pid in out} == {os.getpid()}


def test_workers_give_the_same_answers_in_order_from_other_processes():
    out = parallel_map(_square_and_pid, list(range(6)), workers=2)
    assert [v for v, _ in out] == [x * x for x in range(6)]
    assert os.getpid() not in {pid for _, pid in out}


def test_auto_workers_are_one_per_core():
    cfg = build_config(None, {}, [])
    assert cfg.workers == "auto" and cfg.processes == (os.cpu_count() or 1)
    assert build_config(None, {"workers": "3"}, []).processes == 3


def test_processes_go_to_runs_first_and_to_pieces_of_runs_with_what_is_left():
    one_long_run = make_executor(4, pending=1)
    assert isinstance(one_long_run, SerialExecutor) and one_long_run.cpus == 4
    two_runs = make_executor(4, pending=2)
    assert isinstance(two_runs, ProcessExecutor) and (two_runs.workers, two_runs.per_run) == (2, 2)
    many = make_executor(4, pending=100)
    assert (many.workers, many.per_run) == (4, 1)
    assert isinstance(make_executor(1, pending=100), SerialExecutor)


def test_the_pool_is_kept_warm_between_calls():
    first = {pid for _, pid in parallel_map(_square_and_pid, list(range(8)), workers=2)}
    second = {pid for _, pid in parallel_map(_square_and_pid, list(range(8)), workers=2)}
    # Which of the two workers takes which item depends on the load; a fresh pool would add new processes.
    assert len(first | second) <= 2, "the second call reuses the first call's worker processes"


def _die(x: int) -> int:
    if x == 3:
        os._exit(1)
    return x


def test_a_dead_worker_breaks_only_that_call():
    with pytest.raises(cf.process.BrokenProcessPool):
        parallel_map(_die, list(range(6)), workers=2)
    assert [v for v, _ in parallel_map(_square_and_pid, [1, 2, 3], workers=2)] == [1, 4, 9]
