"""The contract every task must pass, for first-party families and plugin authors alike.

    from bench.testing import check_task
    def test_my_task(tmp_path):
        check_task(my_spec, tmp_path)

Runs every method the task implements with the task's ``smoke_options`` and checks what the
harness relies on: the main metric is present and finite, parameter counts make sense, the run
is deterministic for a seed, and it goes through the same :func:`bench.runner.execute` as a
real run, record and all.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.api import TaskSpec
from bench.record import Record
from bench.runner import Job, execute

__all__ = ["check_task", "smoke_job"]


def smoke_job(spec: TaskSpec, method: str, results_dir: Path, seed: int = 0, role: str = "transfer") -> Job:
    """A job for ``method`` with the task's smoke options, at its smoke budget (default: its smallest)."""
    options = {**spec.options, **spec.smoke_options}
    role = "scratch" if method == "scratch" else role
    budget = spec.smoke_budget if spec.smoke_budget is not None else min(spec.budgets)
    return Job(spec, method, role, seed, budget, "cpu", options, str(results_dir))


def check_task(spec: TaskSpec, results_dir: Path, methods: tuple[str, ...] | None = None) -> dict[str, Record]:
    """Run each method twice with seed 0 (the second must repeat the first); raise AssertionError on a breach."""
    records: dict[str, Record] = {}
    for method in methods or spec.methods:
        job = smoke_job(spec, method, results_dir)
        first = execute(job)
        assert first.status == "ok", f"{spec.id} {method} failed:\n{first.error}"
        score = first.metrics[spec.metric]
        assert math.isfinite(score), f"{spec.id} {method}: main metric {score}"
        c = first.cost
        if c.trainable_params is not None and c.total_params is not None:
            assert 0 <= c.trainable_params <= c.total_params, f"{spec.id} {method}: trainable > total"
        t = first.timings
        assert t.overhead_s >= 0 and t.total_s > 0
        again = execute(job)
        assert again.metrics == first.metrics, f"{spec.id} {method}: same seed, different metrics"
        assert again.breakdowns == first.breakdowns, f"{spec.id} {method}: same seed, different breakdowns"
        records[method] = first
    return records
