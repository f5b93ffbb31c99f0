"""The run grid on a cluster: Ray tasks or Slurm job arrays (through submitit), the same records.

The harness does not schedule. It hands each pending run to an engine the user already runs and
collects the records as runs finish, through the same :class:`bench.runner.Executor` interface
as the local worker processes, so planning, skipping finished runs, the progress bar and the
leaderboard are the same code whichever engine runs the grid. What holds on a cluster:

- A run is :func:`bench.runner.execute` on a worker: the same config hash and the same record,
  written atomically into the results directory. Workers should see the results directory on a
  shared filesystem: shared artifacts (source policies, cached features) and per-run files live
  there. The record also comes back to the driver, which writes it itself where the worker's copy
  is not visible (a worker-local directory), so no result is lost either way.
- Shared artifacts are built once per key under a file lock in the results directory's cache; on
  a shared filesystem whose locks work across nodes (NFSv4, Lustre, GPFS, BeeGFS), that is once
  per cluster, however many nodes ask at the same time.
- A run whose worker or node died (killed, out of memory, preempted) is started again up to
  ``retries`` times, then recorded as failed with the cause. A run that fails by itself (an
  exception in the task) is recorded as failed at once, as locally.
- A driver killed and started again resumes: finished records are skipped, and nothing
  half-written is ever read as a record. Ray stops a dead driver's runs with it; Slurm jobs
  already submitted run on, and a run started again by the new driver writes the same record.

Ray and submitit are optional extras (``pip install "transferbench[ray]"`` / ``[slurm]``).
"""

from __future__ import annotations

import importlib
import math
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.api import Resources
from bench.config import RayConfig, RunConfig, SlurmConfig
from bench.errors import UsageError
from bench.record import Record
from bench.runner import Executor, Job, _failed_record, execute
from bench.store import ResultStore

__all__ = ["RayExecutor", "SlurmExecutor", "cluster_executor", "run_on_worker"]


def run_on_worker(job: Job, workers: int = 1) -> Record:
    """What a Ray task or a Slurm job runs: one run, its record written and returned."""
    return execute(job, workers)


def _extra(module: str, executor: str, extra: str) -> Any:
    """Import an optional engine, or say in one line which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"--executor {executor} needs {module}, which is not installed: "
                         f'pip install "transferbench[{extra}]"') from None


def _longest_first(jobs: Sequence[Job]) -> list[Job]:
    """Costly runs (the ones that build shared sources) start first, as in the local executor."""
    return sorted(jobs, key=lambda j: -j.spec.seconds_per_run.get(j.method, 0.0))


def _kept(job: Job, record: Record) -> Record:
    """Write the returned record on the driver's side unless the worker's copy is already there."""
    store = ResultStore(job.results_dir)
    if not store.path_for(job.spec.id, job.method, job.seed, job.config_hash).exists():
        store.write(record)
    return record


def _key(job: Job) -> str:
    return f"{job.label} {job.config_hash}"


def _died(job: Job, exc: BaseException, attempts: int) -> Record:
    first = (str(exc).strip().splitlines() or [""])[0]
    return _failed_record(job, f"the worker running it died {attempts} time(s) ({type(exc).__name__}: {first})")


class RayExecutor:
    """Every run a Ray task asking for its method's :class:`~bench.api.Resources`.

    With no ``address``, a local Ray instance with ``cpus`` CPUs is started for the grid and
    stopped after it; with one, the grid goes to that cluster and leaves it running. Each
    worker imports the task's code: install transferbench and the plugins on every node.
    """

    def __init__(self, config: RayConfig, cpus: int) -> None:
        self.address = config.address
        self.retries = config.retries
        self.cpus = cpus
        self.workers = cpus

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Record]]:
        ray = _extra("ray", "ray", "ray")
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, num_cpus=None if self.address else self.cpus, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        try:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", self.cpus)))
            remote = ray.remote(run_on_worker)
            running: dict[Any, Job] = {}
            needs = [(job, job.spec.resources_for(job.method, job.device)) for job in _longest_first(jobs)]
            for job, need in needs:
                self._check_feasible(ray, job, need)
            for job, need in needs:
                options: dict[str, Any] = {"num_cpus": need.cpus, "num_gpus": need.gpus,
                                           "max_retries": self.retries, "retry_exceptions": False}
                if need.memory_gb:
                    options["memory"] = int(need.memory_gb * 2**30)
                running[remote.options(**options).remote(job, max(1, int(need.cpus)))] = job
            while running:
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    job = running.pop(ref)
                    try:
                        record = _kept(job, ray.get(ref))
                    except ray.exceptions.RayError as exc:
                        record = _died(job, exc, self.retries + 1)
                    yield job, record
        finally:
            if started:
                ray.shutdown()

    @staticmethod
    def _check_feasible(ray: Any, job: Job, need: Resources) -> None:
        """A run no node can ever hold would wait forever: say so instead."""
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        fits = any(n.get("CPU", 0) >= need.cpus and n.get("GPU", 0) >= need.gpus for n in nodes)
        if not fits:
            biggest: dict[str, Any] = max(nodes, key=lambda n: (n.get("GPU", 0), n.get("CPU", 0)), default={})
            raise UsageError(f"{job.label} asks for {need.cpus:g} CPU(s) and {need.gpus:g} GPU(s); the Ray "
                             f"cluster's largest node has {biggest.get('CPU', 0):g} CPU(s) and "
                             f"{biggest.get('GPU', 0):g} GPU(s)")


class SlurmExecutor:
    """Runs submitted as Slurm job arrays through submitit, one array per kind of resources.

    ``cluster="local"`` submits the same arrays as processes on this machine (submitit's local
    executor), which is how the path is tested without a cluster. Job scripts, pickles and logs
    go to ``folder`` (default ``<results_dir>/.slurm``).
    """

    def __init__(self, config: SlurmConfig, results_dir: Path, poll_s: float = 2.0) -> None:
        self.config = config
        self.folder = Path(config.folder or Path(results_dir) / ".slurm")
        self.poll_s = poll_s if config.cluster == "slurm" else min(poll_s, 0.2)
        self.workers = 0  # how many jobs Slurm runs at once is the cluster's business: no overhead figure

    def _executor(self, submitit: Any, need: Resources) -> Any:
        ex = submitit.AutoExecutor(folder=str(self.folder / "%j"), cluster=self.config.cluster)
        params: dict[str, Any] = {
            "name": "transferbench", "timeout_min": self.config.time_min, "cpus_per_task": math.ceil(need.cpus),
            "gpus_per_node": math.ceil(need.gpus), "slurm_array_parallelism": self.config.array_parallelism,
        }
        if need.memory_gb:
            params["mem_gb"] = need.memory_gb
        if self.config.partition:
            params["slurm_partition"] = self.config.partition
        if self.config.additional:
            params["slurm_additional_parameters"] = dict(self.config.additional)
        ex.update_parameters(**params)
        return ex

    def _submit(self, submitit: Any, jobs: Sequence[Job]) -> list[tuple[Any, Job]]:
        groups: dict[Resources, list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.spec.resources_for(job.method, job.device), []).append(job)
        out = []
        for need, group in groups.items():
            handles = self._executor(submitit, need).map_array(run_on_worker, group,
                                                               [max(1, int(need.cpus))] * len(group))
            if self.config.cluster == "local":
                for h in handles:  # no network filesystem to wait for: a dead job's missing result is final
                    if hasattr(h, "_results_timeout_s"):
                        h._results_timeout_s = 1.0
            out += list(zip(handles, group, strict=True))
        return out

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Record]]:
        submitit = _extra("submitit", "slurm", "slurm")
        # submitit keeps each job as a pickle it unpickles on the node: whoever can write this folder
        # can run code as the submitter, so a folder made here is the submitter's alone.
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        attempts = dict.fromkeys((_key(j) for j in jobs), 1)
        running = self._submit(submitit, _longest_first(jobs))
        while running:
            still, again = [], []
            for handle, job in running:
                if not handle.done():
                    still.append((handle, job))
                    continue
                try:
                    yield job, _kept(job, handle.result())
                except (submitit.core.utils.UncompletedJobError, submitit.core.utils.FailedJobError) as exc:
                    if attempts[_key(job)] <= self.config.retries:
                        attempts[_key(job)] += 1
                        again.append(job)
                    else:
                        yield job, _died(job, exc, attempts[_key(job)])
            running = still + (self._submit(submitit, again) if again else [])
            if running:
                time.sleep(self.poll_s)


def cluster_executor(config: RunConfig) -> Executor:
    """The executor ``config.executor`` names, for the engines other than local processes."""
    if config.executor == "ray":
        _extra("ray", "ray", "ray")  # said before any run starts, not in the middle of the progress bar
        return RayExecutor(config.ray, config.processes)
    if config.executor == "slurm":
        _extra("submitit", "slurm", "slurm")
        if config.slurm.cluster == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
            raise UsageError("--executor slurm: no Slurm on this machine (sbatch/srun not found); run it on a "
                             "login node of the cluster, or --set slurm.cluster=local to try the path here")
        return SlurmExecutor(config.slurm, config.results_dir)
    raise ValueError(f"executor {config.executor!r} is not a cluster engine; accepted: ray, slurm")
