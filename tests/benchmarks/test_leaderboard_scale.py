"""How the leaderboard scales: load, build and render from 1k, 10k and 50k records.

Kept out of the default test run (a few minutes). Run on a quiet machine with:

    python -m pytest tests/benchmarks/test_leaderboard_scale.py -m benchmark -s

The records are those of a sweep-heavy study, written with the tests' record factory into a
results directory the way runs write them: 20 tasks, each with a learning-rate sweep of three
values at three budgets, four methods (scratch, two transfer methods, one reference) and five
seeds, repeated with one more option value until the count is reached. For each size it prints
the seconds of loading the files, of building every leaderboard number (the across-task
bootstrap included) and of rendering the table format, and the cost per record; the figures go
into the benchmark's ``extra_info`` (``--benchmark-json FILE``). The goal it asserts: 10,000
records built and rendered (table format) in at most 5 s of one core.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench import leaderboard
from bench.store import ResultStore

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from record_factory import make_record  # noqa: E402

pytestmark = pytest.mark.benchmark

METHODS = (("scratch", "scratch"), ("fine-tune", "transfer"), ("linear-probe", "transfer"), ("oracle", "reference"))


def write_study(results: Path, n: int) -> None:
    """``n`` records of a sweep-heavy study, one JSON file each in the layout runs write."""
    rng = np.random.default_rng(0)
    written = 0
    study = 0
    while written < n:
        task = f"study/T{study % 20}-v0"
        for lr in (0.1, 0.01, 0.001):
            for budget in (5, 10, 20):
                for method, role in METHODS:
                    for seed in range(5):
                        if written == n:
                            return
                        record = make_record(task=task, method=method, role=role, seed=seed, budget=budget,
                                             score=float(rng.normal(0.5 + 0.02 * (role == "transfer"), 0.05)),
                                             options={"lr": lr, "study": study // 20}, metrics={"aux": 1.0},
                                             breakdowns={"score": {"de": 0.4, "fr": 0.5}})
                        path = results / task.replace("/", "_") / method / f"seed-{seed}-{record.config_hash[:12]}.json"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_text(json.dumps(record.model_dump(mode="json")))
                        written += 1
        study += 1


@pytest.mark.parametrize("n", [1_000, 10_000, 50_000])
def test_leaderboard_cost_per_record(benchmark, tmp_path, n):
    write_study(tmp_path, n)
    timings: dict[str, float] = {}

    def rebuild() -> str:
        start = time.perf_counter()
        loaded = ResultStore(tmp_path).load()
        timings["load_s"] = time.perf_counter() - start
        start = time.perf_counter()
        board = leaderboard.build(loaded.records, problems=loaded.problems)
        timings["build_s"] = time.perf_counter() - start
        start = time.perf_counter()
        text = leaderboard.render(board, "table")
        timings["render_s"] = time.perf_counter() - start
        assert len(loaded.records) == n and not loaded.problems
        return text

    text = benchmark.pedantic(rebuild, rounds=1, iterations=1)
    assert "Across tasks" in text
    per_record_ms = {k.removesuffix("_s"): 1000 * v / n for k, v in timings.items()}
    benchmark.extra_info.update({"records": n, **timings, "ms_per_record": per_record_ms})
    print(f"\n{n} records: load {timings['load_s']:.2f} s, build {timings['build_s']:.2f} s, render "
          f"{timings['render_s']:.2f} s; per record " + ", ".join(f"{k} {v:.3f} ms" for k, v in per_record_ms.items()))
    if n == 10_000:
        assert timings["build_s"] + timings["render_s"] <= 5.0
