"""Valid records built in tests, for leaderboard and store tests that need no real run."""

from __future__ import annotations

from bench.hashing import config_hash
from bench.record import Provenance, Record, Timings


def make_record(task: str = "t/T-v0", method: str = "scratch", role: str = "scratch", seed: int = 0,
                score: float | None = 0.5, higher_is_better: bool = True, budget: int = 5,
                options: dict | None = None, metrics: dict[str, float] | None = None,
                breakdowns: dict[str, dict[str, float]] | None = None,
                curves: dict[str, list[tuple[float, float]]] | None = None,
                files: dict[str, str] | None = None) -> Record:
    """A record of one run; ``metrics`` are secondary metrics beside the main ``score`` (ok runs only)."""
    config = {"task": task, "task_version": 0, "method": method, "seed": seed, "budget": budget,
              "device": "cpu", "options": options or {}}
    ok = score is not None
    return Record(
        task=task, task_version=0, method=method, role=role, seed=seed, budget=budget, config=config,
        config_hash=config_hash(config), status="ok" if ok else "failed",
        error=None if ok else "RuntimeError: boom", metric="score",
        higher_is_better=higher_is_better, metrics={"score": score, **(metrics or {})} if ok else {},
        breakdowns=breakdowns or {}, curves=curves or {}, files=files or {},
        timings=Timings(total_s=1.0, target_train_s=0.9),
        provenance=Provenance(harness_version="0.1.0", python="3.11", packages={}, hardware={}),
        started_at="2026-11-23T00:00:00+00:00", finished_at="2026-11-23T00:00:01+00:00",
    )
