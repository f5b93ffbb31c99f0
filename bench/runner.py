"""The run grid: tasks x methods x budgets x seeds, each run turned into a record.

:func:`plan` expands a :class:`RunConfig` into :class:`Job` objects, each with its fully resolved
config and hash. :func:`execute` runs one job and writes its record; it is a plain picklable
function so that any :class:`Executor` (the in-process one, local worker processes, and later a
cluster engine) can run it. :func:`run_grid` skips finished runs, hands the rest to an executor and
shows progress. A killed ``run`` loses at most the runs in flight: every record is written
atomically the moment its run ends.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import logging
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import isfinite
from pathlib import Path
from typing import Any, Protocol

import psutil

from bench import hardware
from bench.api import PHASES, RunContext, RunResult, Task, TaskSpec
from bench.artifacts import ArtifactCache
from bench.config import RunConfig, resolve_options
from bench.errors import FaultError, UsageError, unknown
from bench.hashing import config_hash
from bench.holds import Holds
from bench.record import Cost, Provenance, Record, Timings
from bench.registry import Registry, load_task, missing_data, plan_problem
from bench.store import ResultStore

__all__ = [
    "Executor",
    "Job",
    "ProcessExecutor",
    "RunSummary",
    "SerialExecutor",
    "execute",
    "make_executor",
    "plan",
    "run_grid",
]

log = logging.getLogger("transferbench")


@dataclass(frozen=True)
class Job:
    """One run, fully resolved: everything :func:`execute` needs, and nothing it must look up."""

    spec: TaskSpec
    method: str
    role: str
    seed: int
    budget: int
    device: str
    options: dict[str, Any]
    results_dir: str
    show_progress: bool = False

    @property
    def config(self) -> dict[str, Any]:
        """Everything that determines the run's numbers; hashed into the record's config hash."""
        return {
            "task": self.spec.id,
            "task_version": self.spec.version,
            "method": self.method,
            "seed": self.seed,
            "budget": self.budget,
            "device": self.device,
            "options": self.options,
        }

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    @property
    def label(self) -> str:
        return f"{self.spec.id} {self.method} budget={self.budget} seed={self.seed}"


# --- planning -------------------------------------------------------------------------------


def select_tasks(config: RunConfig, registry: Registry) -> list[TaskSpec]:
    """The tasks the config names; a named task whose data is missing is a :class:`UsageError`."""
    return task_selection(config, registry)[0]


def task_selection(config: RunConfig, registry: Registry) -> tuple[list[TaskSpec], list[tuple[str, str]]]:
    """The tasks to run, and the suite's tasks left out because their data is missing (id, how to get it).

    A suite leaves such a task out so that a fresh install runs everything else; a task named
    with ``--task`` was asked for, so its missing data is an error.
    """
    if config.tasks:
        specs = [registry.task(t) for t in config.tasks]
        if config.suite:
            specs = [s for s in specs if config.suite in s.suites]
        for spec in specs:
            why = missing_data(spec)
            if why:
                raise UsageError(f"task {spec.id}: {why}")
        return specs, []
    specs, left_out = [], []
    for spec in (registry.task(t) for t in registry.suite(config.suite or "quick")):
        why = missing_data(spec)
        if why:
            left_out.append((spec.id, why))
        else:
            specs.append(spec)
    return specs, left_out


def _variants(spec: TaskSpec, config: RunConfig) -> list[dict[str, Any]]:
    """The task's resolved options, one per combination of the swept values it accepts.

    Options a task does not have are not swept for it (one sweep may address several tasks).
    Values that resolve to the same options (``1`` and ``1.0`` for a float option) are one run,
    not two runs racing for one record.
    """
    swept = {k: v for k, v in config.sweep.items() if k in spec.options}
    variants: dict[str, dict[str, Any]] = {}
    for combo in itertools.product(*swept.values()):
        options = resolve_options(spec, {**config.options, **dict(zip(swept, combo, strict=True))}, strict=False)
        variants.setdefault(config_hash(options), options)
    return list(variants.values())


def plan(config: RunConfig, registry: Registry, device: str) -> list[Job]:
    """Expand the config into jobs; bad names and values raise :class:`UsageError`.

    The grid is tasks x option variants (every combination of ``config.sweep``) x budgets x
    methods x seeds; each job's options carry its swept values, so its config hash, its record
    and the resume check all see them.
    """
    specs = select_tasks(config, registry)
    if not specs:
        raise UsageError(f"no task matches tasks={config.tasks} in suite {config.suite!r}")
    for m in config.methods:
        registry.method(m)
    implemented = {m for s in specs for m in registry.task_methods(s)}
    for m in config.methods:
        if m not in implemented:
            raise UsageError(
                f"no selected task implements method {m!r}; they implement {', '.join(sorted(implemented))}"
            )
    accepted = {o for s in specs for o in s.options}
    for name in [*config.options, *config.sweep]:
        if name not in accepted:
            raise unknown("task option", name, accepted)
    jobs: list[Job] = []
    for spec in specs:
        budgets = config.budgets or [spec.default_budget]
        for b in budgets:
            if b not in spec.budgets:
                raise UsageError(
                    f"budget {b} is not offered by task {spec.id}; accepted ({spec.budget_unit}): "
                    + ", ".join(map(str, spec.budgets))
                )
        methods = registry.task_methods(spec)
        if config.methods:
            methods = [m for m in methods if m in config.methods or registry.method(m).role == "scratch"]
        for options in _variants(spec, config):
            why = plan_problem(spec, options, budgets)
            if why:
                raise UsageError(f"task {spec.id}: {why}")
            for b in budgets:
                for m in methods:
                    role = registry.method(m).role
                    for seed in config.seeds:
                        jobs.append(Job(spec, m, role, seed, b, device, options, str(config.results_dir)))
    return jobs


# --- one run --------------------------------------------------------------------------------

_TASKS: dict[tuple[str, str], Task] = {}


def _task_for(job: Job) -> Task:
    """Task objects are built once per worker process and options, then reused by its runs."""
    key = (job.spec.id, config_hash(job.options))
    if key not in _TASKS:
        _TASKS[key] = load_task(job.spec, job.options)
    return _TASKS[key]


class _PeakMemory:
    """Samples the process's resident memory in a thread: a peak per run, not per process."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> _PeakMemory:
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _gpu_peak_reset() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _gpu_peak_mb() -> float | None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return None


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send whatever a task prints, from Python or native code, to stderr while it runs.

    stdout is the leaderboard's (``--format json`` must stay parseable); simulators and libraries
    that print banners at the file-descriptor level would otherwise interleave with it.
    """
    try:
        out, err = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real descriptors (captured, embedded)
        yield
        return
    sys.stdout.flush()
    saved = os.dup(out)
    os.dup2(err, out)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, out)
        os.close(saved)


def _provenance() -> Provenance:
    """Versions, git state and hardware of this process (cached pieces, cheap per record)."""
    revision, dirty = hardware.git_state()
    return Provenance(
        harness_version=hardware.harness_version(),
        python=sys.version.split()[0],
        packages=hardware.packages(),
        git_revision=revision,
        git_dirty=dirty,
        hardware=hardware.hardware(),
        hostname=hardware.hostname(),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_result(job: Job, result: Any) -> RunResult:
    if not isinstance(result, RunResult):
        raise TypeError(f"task returned {type(result).__name__}, not RunResult")
    score = result.metrics.get(job.spec.metric)
    if score is None:
        raise ValueError(f"task returned no value for its main metric {job.spec.metric!r}")
    bad = [k for k, v in result.metrics.items() if not isfinite(float(v))]
    if bad:
        raise ValueError(f"task returned non-finite metrics: {', '.join(bad)}")
    return result


def _relative_files(files: Mapping[str, str], root: Path) -> dict[str, str]:
    out = {}
    for label, path in files.items():
        p = Path(path)
        out[label] = p.resolve().relative_to(root.resolve()).as_posix() if p.is_absolute() else p.as_posix()
    return out


def execute(job: Job, workers: int = 1) -> Record:
    """Run one job, write its record atomically and return it. Never raises for a failing task.

    ``workers`` is the number of processes the run may spread its own pieces over
    (:meth:`RunContext.map`); it never changes the run's numbers, so it is not in the config.
    """
    start = time.perf_counter()
    started_at = _now()
    store = ResultStore(job.results_dir)
    ctx = RunContext(
        task=job.spec,
        method=job.method,
        seed=job.seed,
        budget=job.budget,
        device=job.device,
        options=job.options,
        artifacts=ArtifactCache(store.cache_dir / "artifacts"),
        show_progress=job.show_progress,
        workers=workers,
        output_dir=store.files_dir(job.spec.id, job.method, job.seed, job.config_hash),
    )
    result: RunResult | None = None
    error = None
    setup_s = 0.0
    with _PeakMemory() as memory, _stdout_to_stderr():
        try:
            t0 = time.perf_counter()
            task = _task_for(job)
            setup_s = time.perf_counter() - t0
            _seed_everything(job.seed)
            _gpu_peak_reset()
            result = _check_result(job, task.run(job.method, ctx))
        except Exception as exc:  # recorded as a failed run; the grid goes on
            tb = traceback.format_exception(exc)
            error = f"{type(exc).__name__}: {exc}\n" + "".join(tb[-6:])
            log.debug("run %s failed", job.label, exc_info=True)
    total = time.perf_counter() - start
    phases = {f"{p}_s": ctx.timings[p] for p in PHASES}
    train_s = ctx.timings["target_train"]
    samples = result.train_samples if result else 0
    record = Record(
        task=job.spec.id,
        task_version=job.spec.version,
        method=job.method,
        role=job.role,  # type: ignore[arg-type]
        seed=job.seed,
        budget=job.budget,
        config=job.config,
        config_hash=job.config_hash,
        status="ok" if result is not None else "failed",
        error=error,
        metric=job.spec.metric,
        higher_is_better=job.spec.higher_is_better,
        metrics={k: float(v) for k, v in result.metrics.items()} if result else {},
        breakdowns=result.breakdowns if result else {},
        curves=result.curves if result else {},
        timings=Timings(total_s=total, setup_s=setup_s, overhead_s=max(0.0, total - setup_s - sum(phases.values())),
                        **phases),
        cost=Cost(
            peak_rss_mb=memory.peak / 2**20,
            peak_gpu_mb=_gpu_peak_mb(),
            trainable_params=result.trainable_params if result else None,
            total_params=result.total_params if result else None,
            train_samples=samples,
            throughput=samples / train_s if samples and train_s > 0 else None,
        ),
        artifacts=ctx.artifacts.uses(),
        extra=result.extra if result else {},
        files=_relative_files(result.files, store.root) if result else {},
        provenance=_provenance(),
        started_at=started_at,
        finished_at=_now(),
    )
    store.write(record)
    return record


# --- executors ------------------------------------------------------------------------------


class Executor(Protocol):
    """Runs jobs and yields each with its record as it finishes, in any order.

    The only contract: every job yielded has had :func:`execute` called on it, so its record is
    in the results directory. A distributed engine implements this and nothing else changes.
    """

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Record]]: ...


class SerialExecutor:
    """Runs jobs one after another in this process: no start-up cost, progress inside runs.

    Each run may still spread its own independent pieces over ``cpus`` processes.
    """

    def __init__(self, cpus: int = 1) -> None:
        self.cpus = cpus

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Record]]:
        for job in jobs:
            yield job, execute(job, workers=self.cpus)


def _init_worker(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


class ProcessExecutor:
    """Runs jobs in ``workers`` local processes, each with its share of the CPU threads.

    A worker that dies (killed, out of memory, a crash in native code) breaks the whole pool.
    Jobs that had not started go on in a fresh pool; each job that was running is retried alone
    (up to ``retries`` times), so a crash is pinned on the run that causes it, which is then
    recorded as failed while the others finish.
    """

    def __init__(self, workers: int, retries: int = 1, per_run: int = 1) -> None:
        self.workers = workers
        self.retries = retries
        self.per_run = per_run
        self.threads = max(1, (os.cpu_count() or 1) // workers)

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Record]]:
        with tempfile.TemporaryDirectory(prefix=f"{CLAIMS_PREFIX}{os.getpid()}-") as claims:
            # Longest first: the grid ends sooner, and runs that build a shared source artifact
            # (the costly ones) start before the cheap runs that wait for it.
            pending = sorted(jobs, key=lambda j: -j.spec.seconds_per_run.get(j.method, 0.0))
            stalled = 0
            while pending:
                suspects: list[Job] = []
                before = len(pending)
                pending = yield from self._round(pending, self.workers, Path(claims), suspects)
                # A pool that breaks before any run starts, round after round, has workers that die
                # on start (an import that fails in them, a script that starts a grid when imported):
                # fresh pools would fail forever.
                stalled = stalled + 1 if len(pending) == before and not suspects else 0
                if stalled >= 3:
                    raise FaultError(f"the worker processes died before starting any run, {stalled} pools in a "
                                     f"row; {len(pending)} run(s) not started (try --workers 1 to see the error)")
                for job in suspects:
                    for _ in range(self.retries):
                        broke: list[Job] = []
                        broke += yield from self._round([job], 1, Path(claims), broke)
                        if not broke:
                            break
                    else:
                        yield job, _failed_record(job, "the worker process running it died (killed or crashed)")

    def _round(
        self, jobs: list[Job], workers: int, claims: Path, suspects: list[Job]
    ) -> Generator[tuple[Job, Record], None, list[Job]]:
        """Run ``jobs`` in one pool; return those that never started because the pool broke."""
        unstarted: list[Job] = []
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                    initargs=(self.threads,)) as pool:
            futures = {pool.submit(_execute_claimed, job, str(claims), self.per_run): job for job in jobs}
            for fut in cf.as_completed(futures):
                job = futures[fut]
                try:
                    yield job, fut.result()
                except cf.process.BrokenProcessPool:
                    started = (claims / job.config_hash).exists()
                    (suspects if started else unstarted).append(job)
        return unstarted


CLAIMS_PREFIX = "transferbench-claims-"
"""Temporary folders of claim files, named by the driver's process id: a killed driver cannot
remove its own, so the next driver removes those whose process is gone."""


def _remove_dead_claims() -> None:
    for folder in Path(tempfile.gettempdir()).glob(f"{CLAIMS_PREFIX}*-*"):
        pid = folder.name.removeprefix(CLAIMS_PREFIX).split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # another user's live driver
            pass


def _execute_claimed(job: Job, claims: str, workers: int = 1) -> Record:
    """:func:`execute`, leaving a claim file while it runs so a crash can be pinned on it."""
    claim = Path(claims) / job.config_hash
    claim.touch()
    record = execute(job, workers)
    claim.unlink(missing_ok=True)
    return record


def _failed_record(job: Job, error: str) -> Record:
    """A failed record written by the driver for a run whose worker could not write one."""
    record = Record(
        task=job.spec.id, task_version=job.spec.version, method=job.method, role=job.role,  # type: ignore[arg-type]
        seed=job.seed, budget=job.budget, config=job.config, config_hash=job.config_hash,
        status="failed", error=error, metric=job.spec.metric, higher_is_better=job.spec.higher_is_better,
        timings=Timings(total_s=0.0),
        provenance=_provenance(),
        started_at=_now(), finished_at=_now(),
    )
    ResultStore(job.results_dir).write(record)
    return record


def make_executor(processes: int, pending: int) -> Executor:
    """Share ``processes`` between runs and the pieces inside each run (:meth:`RunContext.map`).

    As many runs go in parallel as there are processes and pending runs; a process the runs
    cannot use (one long run, say) serves the runs' own pieces instead.
    """
    workers = max(1, min(processes, pending))
    per_run = max(1, processes // workers)
    return SerialExecutor(per_run) if workers == 1 else ProcessExecutor(workers, per_run=per_run)


# --- the grid -------------------------------------------------------------------------------


@dataclass
class RunSummary:
    """What one ``run`` did: records made now, runs skipped as already finished, failures."""

    ran: list[Record] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    held: list[Job] = field(default_factory=list)
    """Runs another live driver was running: left to it (see :mod:`bench.holds`)."""
    wall_s: float = 0.0
    workers: int = 1

    @property
    def failed(self) -> list[Record]:
        return [r for r in self.ran if r.status == "failed"]

    @property
    def setup_s(self) -> float:
        """Seconds the tasks spent being built (library imports, fixed data), once per worker."""
        return sum(r.timings.setup_s for r in self.ran)

    @property
    def overhead_fraction(self) -> float | None:
        """Share of the grid's wall time (times workers) that was neither task set-up nor task work.

        Everything else counts against the harness: planning, skipping finished runs, worker
        start-up, seeding, provenance, record writing, progress display, and idle workers at the
        end of a parallel grid.
        """
        work = sum(
            r.timings.setup_s + r.timings.data_s + r.timings.source_train_s + r.timings.target_train_s
            + r.timings.eval_s
            for r in self.ran
        )
        if not self.ran or not self.wall_s or self.workers < 1:
            return None  # workers < 1: an engine that does not say how many runs it holds at once
        return max(0.0, 1 - work / (self.wall_s * self.workers))


def pending_jobs(jobs: Iterable[Job], force: bool) -> tuple[list[Job], list[Job]]:
    """Split jobs into (to run, already finished with exactly this config)."""
    todo: list[Job] = []
    done: list[Job] = []
    for job in jobs:
        finished = None if force else ResultStore(job.results_dir).finished(
            job.spec.id, job.method, job.seed, job.config_hash)
        (done if finished else todo).append(job)
    return todo, done


def run_grid(jobs: Sequence[Job], executor: Executor, force: bool = False, progress: bool = True) -> RunSummary:
    """Run every job that has no finished record (all of them with ``force``)."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    _remove_dead_claims()  # whatever executor this driver uses: a killed one's may have had workers
    todo, done = pending_jobs(jobs, force)
    summary = RunSummary(skipped=done, workers=getattr(executor, "workers", 1))
    with Holds(todo[0].results_dir if todo else ".") as holds:
        held = holds.take([job.config_hash for job in todo]) if todo else set()
        mine = [job for job in todo if job.config_hash in held]
        summary.held = [job for job in todo if job.config_hash not in held]
        with tqdm(total=len(mine), desc="runs", unit="run", disable=not progress or not mine) as bar:
            for job, record in executor.map(mine):
                holds.release(job.config_hash)
                summary.ran.append(record)
                bar.set_postfix_str(f"{len(summary.failed)} failed, last: {job.method} seed {job.seed}")
                bar.update()
                if record.status == "failed":
                    first = (record.error or "").splitlines()[0] if record.error else ""
                    bar.write(f"FAILED {job.label}: {first}")
    summary.wall_s = time.perf_counter() - start
    summary.workers = getattr(executor, "workers", summary.workers)  # a cluster says its size once it is joined
    return summary
