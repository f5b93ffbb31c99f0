"""Run records: one validated, schema-versioned JSON document per (task, method, seed, config).

A record holds everything that can move a score (the full resolved config and its hash, package
versions, git revision, hardware) and everything the leaderboard needs (metrics, per-target
breakdowns, learning curves, timings, cost). The leaderboard is derived from records alone.

Records written by older versions of transferbench are upgraded on load by the ordered
migrations in :data:`MIGRATIONS`; ``tests/data/historic_records`` keeps one file per released
schema version to prove it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "SCHEMA_VERSION",
    "Cost",
    "Provenance",
    "Record",
    "RecordError",
    "Timings",
    "parse_record",
]

SCHEMA_VERSION: Final = 1


class RecordError(ValueError):
    """A file that is not a valid transferbench record (corrupt, foreign or from the future)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timings(_Model):
    """Wall-clock seconds of one run, split by phase; ``overhead_s`` is the harness's own share."""

    total_s: float
    setup_s: float = 0.0
    """Building the task object: importing its libraries, loading fixed data (once per worker)."""
    data_s: float = 0.0
    source_train_s: float = 0.0
    target_train_s: float = 0.0
    eval_s: float = 0.0
    overhead_s: float = 0.0
    """``total_s`` minus set-up and the four phases: seeding, memory sampling, result checks."""


class Cost(_Model):
    """What the method cost on this hardware."""

    peak_rss_mb: float | None = None
    """Peak resident memory of the worker process during the run (includes libraries loaded)."""
    peak_gpu_mb: float | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    train_samples: int = 0
    throughput: float | None = None
    """Target training samples (or steps) per second of target training."""


class Provenance(_Model):
    """Where and with what a record was produced, for citing and for explaining differences."""

    harness_version: str
    python: str
    packages: dict[str, str]
    git_revision: str | None = None
    git_dirty: bool | None = None
    hardware: dict[str, Any]
    hostname: str | None = None


class Record(_Model):
    """One run's result. ``status == "failed"`` records carry the error instead of metrics."""

    schema_version: Literal[1] = SCHEMA_VERSION
    task: str
    task_version: int
    method: str
    role: Literal["scratch", "transfer", "reference"]
    seed: int
    budget: int
    config: dict[str, Any]
    """The full resolved config of the run; everything in it is hashed into ``config_hash``."""
    config_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    status: Literal["ok", "failed"]
    error: str | None = None
    metric: str
    higher_is_better: bool
    metrics: dict[str, float] = Field(default_factory=dict)
    breakdowns: dict[str, dict[str, float]] = Field(default_factory=dict)
    curves: dict[str, list[tuple[float, float]]] = Field(default_factory=dict)
    timings: Timings
    cost: Cost = Field(default_factory=Cost)
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
    """Files the run wrote (rollout GIFs...): label -> path relative to the results directory."""
    provenance: Provenance
    started_at: str
    finished_at: str

    @field_validator("task")
    @classmethod
    def _task_id(cls, v: str) -> str:
        from bench.api import TASK_ID

        if not TASK_ID.match(v):
            raise ValueError(f"task id {v!r} is not 'family/Name-v0'")
        return v

    @field_validator("metrics")
    @classmethod
    def _finite(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, x in v.items() if not math.isfinite(x))
        if bad:
            raise ValueError(f"non-finite metric(s) {', '.join(bad)}: the harness records such runs as failed")
        return v

    @property
    def score(self) -> float | None:
        """The task's main metric, or None for a failed run."""
        return self.metrics.get(self.metric) if self.status == "ok" else None

    @property
    def setting(self) -> str:
        """What must match for two records to be compared: task, budget and task options."""
        return f"{self.task}|{self.budget}|{json.dumps(self.config.get('options', {}), sort_keys=True)}"

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


# A migration takes a record dict of schema version k and returns one of version k + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def parse_record(text: str) -> Record:
    """Parse and validate a record, upgrading older schema versions; raise :class:`RecordError`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"not JSON ({exc.msg.removesuffix(' at')} at line {exc.lineno})") from None
    except RecursionError:
        raise RecordError("not a transferbench record (JSON nested too deeply)") from None
    if not isinstance(data, dict) or "schema_version" not in data or "config_hash" not in data:
        raise RecordError("not a transferbench record (no schema_version or config_hash)")
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RecordError(
            f"schema version {version!r} is newer than this transferbench understands ({SCHEMA_VERSION}); upgrade"
        )
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise RecordError(f"no migration from schema version {version}")
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    try:
        return Record.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RecordError(f"invalid record: {where}: {first['msg']} ({exc.error_count()} problem(s))") from None
