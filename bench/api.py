"""The public API that every task family and plugin is written against.

A *task* moves knowledge from a source to a target: its :class:`TaskSpec` is cheap, declarative
metadata (importing it must not import torch, pybullet or transformers) and its implementation,
named by ``TaskSpec.entry_point``, is imported only when a run needs it. A *method* is a way to
produce a target model (``scratch``, ``zero-shot``, ``fine-tune``...): its :class:`MethodSpec`
says what it means and how it is ranked; each task implements the methods it lists.

A run is one (task, method, seed, budget): the harness calls ``Task.run(method, ctx)`` with a
:class:`RunContext` and turns the :class:`RunResult` into a record.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bench.artifacts import ArtifactCache

__all__ = [
    "PHASES",
    "MethodSpec",
    "Reference",
    "Resources",
    "Role",
    "RunContext",
    "RunResult",
    "Task",
    "TaskSpec",
]

TASK_ID = re.compile(r"^(?P<family>[a-z0-9][a-z0-9_-]*)/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)-v(?P<version>\d+)$")
METHOD_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

Role = Literal["scratch", "transfer", "reference"]
"""How a method is ranked: ``scratch`` is the from-scratch baseline every other method is scored
against; ``transfer`` methods are ranked by their gain over it; ``reference`` rows (an oracle,
logistic regression on raw pixels) are shown for orientation and never ranked."""

PHASES = ("data", "source_train", "target_train", "eval")
"""The phases a run's wall time is split into; what is left over is the harness's overhead."""


@dataclass(frozen=True)
class Reference:
    """A published result for a task, shown beside the reproduced number, never mixed into it.

    ``protocol`` says how the published setting differs from ours (model size, data, budget),
    so that a difference can be read instead of hidden.
    """

    method: str
    value: float
    citation: str
    breakdown: str | None = None
    """None for the task's main metric, else the name of one target (a language, a condition)."""
    protocol: str = ""
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Task option values the published number was obtained with (e.g. ``{"model": ...}``): it is
    shown only beside settings run with those values; empty: beside every setting."""
    budget: int | None = None
    """The budget it was obtained at: shown only beside settings at that budget; None: any."""
    metric: str | None = None
    """None: the task's main metric; else one of ``TaskSpec.columns`` (a source policy's return on
    its own dynamics, which a published RL benchmark reports, is not the target's return)."""
    differs: str = ""
    """How our runs differ from the published ones where the protocol cannot be matched (a dev set
    against our test set, another split of the data). Non-empty: the number is shown with this
    text and no difference to ours is printed, since one would read as a reproduction gap."""

    def applies(self, budget: int, options: Mapping[str, Any]) -> bool:
        """Whether this number is comparable to a setting run at ``budget`` with ``options``."""
        return (self.budget is None or self.budget == budget) and all(
            options.get(k) == v for k, v in self.options.items())


@dataclass(frozen=True)
class MethodSpec:
    """What a method name means; tasks implement it, the leaderboard ranks it by ``role``."""

    name: str
    role: Role
    summary: str
    citation: str | None = None
    """BibTeX of the paper that introduced the method, printed by ``bench cite``."""

    def __post_init__(self) -> None:
        if not METHOD_NAME.match(self.name):
            raise ValueError(f"method name {self.name!r} must be lower-case letters, digits, - or _")
        if self.role not in ("scratch", "transfer", "reference"):
            raise ValueError(f"method {self.name!r}: role {self.role!r} is not one of scratch, transfer, reference")


@dataclass(frozen=True)
class Resources:
    """What one run asks a cluster scheduler for (Ray task options, Slurm job parameters).

    Local worker processes ignore it. Declare what a run really uses: a scheduler packs runs by
    these numbers, and a run given fewer CPUs than it spreads work over only runs slower.
    """

    cpus: float = 1.0
    gpus: float = 0.0
    """GPUs per run (fractions share one); a run planned for ``--device cuda`` gets at least one."""
    memory_gb: float | None = None
    """Peak memory the scheduler reserves; None: its default."""

    def __post_init__(self) -> None:
        if self.cpus <= 0 or self.gpus < 0 or (self.memory_gb is not None and self.memory_gb <= 0):
            raise ValueError(f"resources must be positive: {self}")


@dataclass(frozen=True)
class TaskSpec:
    """Declarative description of a transfer task.

    The id is versioned (``family/Name-v0``): bump the version whenever a change can move a
    score, and never change what a released version measures.
    """

    id: str
    entry_point: str
    """``"package.module:Factory"``; ``Factory(spec, options)`` returns a :class:`Task`."""
    summary: str
    source: str
    target: str
    metric: str
    """Name of the main metric, a key of ``RunResult.metrics``."""
    budgets: tuple[int, ...]
    """Target budgets the task accepts (in ``budget_unit``); a run uses one of them."""
    default_budget: int
    methods: tuple[str, ...]
    """Methods this task implements; ``scratch`` is required."""
    higher_is_better: bool = True
    budget_unit: str = "examples"
    suites: tuple[str, ...] = ("quick",)
    needs_network: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    """Task options and their defaults; users override them with ``--set options.<name>=...``."""
    references: tuple[Reference, ...] = ()
    citation: str | None = None
    """BibTeX of the data or paper the task is built on."""
    reference_method: str | None = None
    """A method whose score is the task's ceiling (an oracle trained on the target), for readers and
    plugins; the cross-task aggregate does not use it, since one normalization rule must hold
    across tasks and not every task has a ceiling."""
    paired_seeds: bool = False
    """Whether seeds pair: for a given seed every method sees the same target data (the labelled
    subset, the training order) and the same evaluation (test set, episode seeds). Then the
    leaderboard tests each difference with the paired t-test over seeds, which cancels the seed's
    shared luck; otherwise with Welch's t-test. Declare it only where it holds."""
    seconds_per_run: Mapping[str, float] = field(default_factory=dict)
    """Rough CPU seconds per run and method, for ``run --dry-run``'s cost estimate."""
    smoke_options: Mapping[str, Any] = field(default_factory=dict)
    """Option overrides that make every method run in seconds, for the contract check
    (:func:`bench.testing.check_task`); they change the numbers, never the code path."""
    smoke_budget: int | None = None
    """Target budget for the contract check where the smallest of ``budgets`` takes minutes (it
    need not be one of ``budgets``); None: the smallest budget."""
    columns: tuple[str, ...] = ()
    """Secondary metrics (keys of ``RunResult.metrics``) the leaderboard shows beside the main
    one, as means over seeds: a reality gap, a worst case over a perturbation grid, a jumpstart."""
    comparisons: tuple[tuple[str, str], ...] = ()
    """Pairs of methods (a, b) the leaderboard compares head to head, beside each one's gain over
    scratch: a's mean minus b's with an interval and a verdict (e.g. domain randomization
    against the nominal source policy it is meant to beat)."""
    target_breakdown: bool = False
    """Whether the main metric's breakdown names the targets a reader compares methods on (languages,
    named conditions): the leaderboard then shows it as a per-target table with intervals and
    verdicts against scratch, and published per-target references beside it. Off for breakdowns
    that are diagnostics (per-class accuracy) or perturbation grids (plotted instead)."""
    source_breakdown: str | None = None
    """The breakdown key of the source domain where the task tests there too (a cross-lingual
    task's 'en'): with ``target_breakdown``, the leaderboard derives the transfer gap, the source's
    score minus each other target's and minus their mean, per seed with an interval."""
    learning_curve: str | None = None
    """Name of the ``RunResult.curves`` entry holding the main metric against target budget
    spent; the leaderboard derives from it how much budget each method needs to reach
    scratch's final score."""
    resources: Mapping[str, Resources] = field(default_factory=dict)
    """Per method, what one run asks a cluster for (``--executor ray|slurm``); methods not named
    ask for one CPU (see :meth:`resources_for`)."""
    data_check: str | None = None
    """``"module:function"`` for a task whose data no Python package ships (a dataset from the
    system's package manager): the function returns None where the data is present, else one line
    saying how to get it. A suite leaves such a task out with that line, so that a fresh install
    still runs the rest; naming the task with ``--task`` is then an error with the same line."""
    plan_check: str | None = None
    """``"module:function"`` called at plan time with the resolved options and the budgets asked
    for, ``(options, budgets) -> str | None``: None where every run can happen, else one line
    naming the bad value and the accepted ones (a budget above the smallest class's size). The
    grid is then refused before anything runs, instead of a run failing minutes into it. Keep it
    cheap: it must not load data or models."""
    hub_check: str | None = None
    """``"module:function"`` for a task that loads from a model or dataset hub, called by ``bench
    check-real`` with the resolved options: ``(options) -> [(what, problem or None), ...]``, one
    pair per pinned repository and revision the task would load (its files, columns, labels),
    from metadata only, in seconds, never downloading weights."""

    def __post_init__(self) -> None:
        m = TASK_ID.match(self.id)
        if not m:
            raise ValueError(f"task id {self.id!r} must look like 'family/Name-v0'")
        hooks = (("entry_point", self.entry_point), ("data_check", self.data_check or ":"),
                 ("plan_check", self.plan_check or ":"), ("hub_check", self.hub_check or ":"))
        for what, point in hooks:
            if ":" not in point:
                raise ValueError(f"task {self.id}: {what} {point!r} must be 'module:attribute'")
        if "scratch" not in self.methods:
            raise ValueError(f"task {self.id}: every task must implement the 'scratch' baseline")
        if self.default_budget not in self.budgets:
            raise ValueError(f"task {self.id}: default_budget {self.default_budget} is not in budgets {self.budgets}")
        if not self.suites:
            raise ValueError(f"task {self.id}: belongs to no suite")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "seconds_per_run", MappingProxyType(dict(self.seconds_per_run)))
        object.__setattr__(self, "resources", MappingProxyType(dict(self.resources)))
        unknown = set(self.smoke_options) - set(self.options)
        if unknown:
            raise ValueError(f"task {self.id}: smoke_options name unknown options {sorted(unknown)}")
        object.__setattr__(self, "smoke_options", MappingProxyType(dict(self.smoke_options)))

    def __hash__(self) -> int:
        return hash(self.id)

    def resources_for(self, method: str, device: str = "cpu") -> Resources:
        """What one run of ``method`` asks a cluster for on ``device`` (a CUDA run gets a GPU)."""
        r = self.resources.get(method, Resources())
        return replace(r, gpus=max(r.gpus, 1.0)) if device.startswith("cuda") and r.gpus == 0 else r

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType does not pickle; specs travel to worker processes.
        state = {k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in self.__dict__.items()}
        return (_rebuild_task_spec, (state,))

    @property
    def family(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def version(self) -> int:
        return int(self.id.rsplit("-v", 1)[1])


def _rebuild_task_spec(state: dict[str, Any]) -> TaskSpec:
    return TaskSpec(**state)


@dataclass
class RunResult:
    """What a task returns for one run; the harness adds timings, cost and provenance."""

    metrics: dict[str, float]
    """Must contain the task's main metric."""
    breakdowns: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per-target scores: metric name -> {target (language, condition, grid point): value}."""
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Learning curves: name -> [(x, y)], e.g. target accuracy against target steps."""
    trainable_params: int | None = None
    total_params: int | None = None
    train_samples: int = 0
    """Target examples (or environment steps) processed in target training, for throughput."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping in the record (JSON-serializable)."""
    files: dict[str, str] = field(default_factory=dict)
    """Files the run wrote into ``RunContext.output_dir`` (a rollout GIF, a plot): label -> path."""


class RunContext:
    """Everything a task needs for one run, and the harness's hooks into it.

    Tasks time their work with :meth:`phase` so that the record splits wall time into data
    preparation, source training, target training and evaluation, and share expensive
    intermediate results (a source model, cached features) through :attr:`artifacts`.
    """

    def __init__(
        self,
        *,
        task: TaskSpec,
        method: str,
        seed: int,
        budget: int,
        device: str,
        options: Mapping[str, Any],
        artifacts: ArtifactCache,
        show_progress: bool = False,
        workers: int = 1,
        output_dir: Path | None = None,
    ) -> None:
        self.task = task
        self.method = method
        self.seed = seed
        self.budget = budget
        self.device = device
        self.options = MappingProxyType(dict(options))
        self.artifacts = artifacts
        self.show_progress = show_progress
        self.workers = workers
        """CPU processes this run may use for :meth:`map` (its share of the machine)."""
        self.output_dir = output_dir
        """Where the run may write files it names in ``RunResult.files`` (None: nowhere)."""
        self.log = logging.getLogger(f"transferbench.{task.family}")
        self.timings: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self._active: str | None = None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Attribute the wall time of the block to one of :data:`PHASES` (not nestable)."""
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}; phases are {', '.join(PHASES)}")
        if self._active is not None:
            raise RuntimeError(f"phase {name!r} started inside phase {self._active!r}")
        self._active = name
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] += time.perf_counter() - start
            self._active = None

    def progress(self, total: int, desc: str) -> Any:
        """A progress bar for long work inside a run (a no-op unless the run is interactive)."""
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, leave=False, disable=not self.show_progress, unit="step")


    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(x) for x in items]`` spread over this run's :attr:`workers` processes.

        For independent, CPU-bound pieces of one run (evaluating a policy on many perturbed
        targets). ``fn`` and the items must pickle; worker processes are spawned, so ``fn``
        should live in a module that imports only what it needs.
        """
        from bench.parallel import parallel_map

        return parallel_map(fn, items, self.workers)


@runtime_checkable
class Task(Protocol):
    """A task implementation: runs one method and returns its result."""

    def run(self, method: str, ctx: RunContext) -> RunResult: ...


TaskFactory = Callable[[TaskSpec, Mapping[str, Any]], Task]
