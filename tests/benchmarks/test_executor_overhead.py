"""Wall time of the quick suite through the local executor and through Ray, side by side.

Kept out of the default test run (about 15 minutes on 2 cores). Run with:

    python -m pytest tests/benchmarks/test_executor_overhead.py -m benchmark -s

Both grids run from empty results directories with the same number of CPUs, so each builds its
own shared artifacts (source models, converted and pretrained encoders) the same way; Ray's
share includes starting a local Ray instance and its workers. Asserts that Ray costs at most
10% more wall time and identical metrics in every record, and prints both times. Measured
(2 cores, 147 runs): local 447.0 s, Ray 449.9 s (+0.7%).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.store import ResultStore

pytestmark = pytest.mark.benchmark

CPUS = 2


def _run(results: Path, *extra: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--workers", str(CPUS), "--results-dir",
                           str(results), "--no-progress", *extra], capture_output=True, text=True,
                          env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"), timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return time.perf_counter() - start


def test_ray_costs_at_most_ten_percent_more_than_local_processes(tmp_path):
    pytest.importorskip("ray")
    local = _run(tmp_path / "local")
    ray = _run(tmp_path / "ray", "--executor", "ray")
    print(f"\nquick suite on {CPUS} CPUs: local executor {local:.1f} s, Ray executor {ray:.1f} s "
          f"({100 * (ray / local - 1):+.1f}%)")

    def metrics(results: Path) -> dict[tuple[str, str, int, str], dict[str, float]]:
        return {(r.task, r.method, r.seed, r.config_hash): r.metrics for r in ResultStore(results).load().records}

    assert metrics(tmp_path / "ray") == metrics(tmp_path / "local")
    assert ray <= 1.10 * local
