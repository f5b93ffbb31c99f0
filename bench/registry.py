"""Discovery of tasks and methods through Python entry points.

First-party families and third-party plugins register the same way: an entry point in the group
``transferbench.tasks`` (or ``transferbench.methods``) names a sequence of :class:`TaskSpec`
(or :class:`MethodSpec`), or a function returning one. Only those spec modules are imported here;
a task's implementation is imported when a run needs it. A plugin that fails to load is reported
once and skipped, so one broken package never hides the others.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from bench.api import MethodSpec, Task, TaskSpec
from bench.errors import UsageError, unknown

__all__ = ["METHOD_GROUP", "TASK_GROUP", "Registry", "load_object", "hub_checks", "load_task", "missing_data",
           "plan_problem"]

TASK_GROUP = "transferbench.tasks"
METHOD_GROUP = "transferbench.methods"

log = logging.getLogger("transferbench")

T = TypeVar("T", TaskSpec, MethodSpec)


def load_object(ref: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module_name, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


@dataclass
class _Table(Generic[T]):
    """Specs of one kind by name, with the source each came from and any duplicate claims."""

    kind: str
    items: dict[str, T] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, spec: T, source: str) -> None:
        if name in self.items or name in self.duplicates:
            claims = self.duplicates.setdefault(name, [self.sources.pop(name)] if name in self.sources else [])
            claims.append(source)
            self.items.pop(name, None)
            return
        self.items[name] = spec
        self.sources[name] = source

    def get(self, name: str) -> T:
        if name in self.duplicates:
            raise UsageError(
                f"{self.kind} {name!r} is registered twice, by {' and by '.join(self.duplicates[name])}; "
                "uninstall one of them"
            )
        try:
            return self.items[name]
        except KeyError:
            raise unknown(self.kind, name, self.items) from None


class Registry:
    """All task and method specs that are installed, with the problems found on the way."""

    def __init__(self) -> None:
        self._tasks: _Table[TaskSpec] = _Table("task")
        self._methods: _Table[MethodSpec] = _Table("method")
        self.problems: list[str] = []
        """One line per plugin that failed to load, and per duplicate id."""

    @classmethod
    def discover(cls) -> Registry:
        """Load every installed ``transferbench.tasks`` and ``transferbench.methods`` entry point."""
        reg = cls()
        for group, kind, table in ((METHOD_GROUP, MethodSpec, reg._methods), (TASK_GROUP, TaskSpec, reg._tasks)):
            for ep in _unique(entry_points(group=group)):
                source = f"{ep.dist.name if ep.dist else '?'} ({ep.name} = {ep.value})"
                try:
                    specs = _load_specs(ep, kind)
                except (Exception, SystemExit) as exc:  # a broken plugin must not break the others, nor exit
                    reg.problems.append(f"plugin {source} failed to load: {type(exc).__name__}: {exc}")
                    continue
                for spec in specs:
                    name = spec.id if isinstance(spec, TaskSpec) else spec.name
                    table.add(name, spec, source)
        for table in (reg._tasks, reg._methods):
            for name, claims in table.duplicates.items():
                reg.problems.append(f"{table.kind} {name!r} is registered twice, by {' and by '.join(claims)}")
        reg._check_methods()
        return reg

    @classmethod
    def from_specs(cls, tasks: Iterable[TaskSpec], methods: Iterable[MethodSpec], source: str = "test") -> Registry:
        """A registry built from specs in hand (tests, notebooks)."""
        reg = cls()
        for m in methods:
            reg._methods.add(m.name, m, source)
        for t in tasks:
            reg._tasks.add(t.id, t, source)
        reg._check_methods()
        return reg

    def _check_methods(self) -> None:
        for spec in list(self._tasks.items.values()):
            missing = [m for m in spec.methods if m not in self._methods.items]
            if missing:
                self.problems.append(
                    f"task {spec.id!r} lists methods no plugin registers: {', '.join(missing)}; they are skipped"
                )

    # --- look-ups ---------------------------------------------------------------------------
    @property
    def tasks(self) -> Mapping[str, TaskSpec]:
        return dict(sorted(self._tasks.items.items()))

    @property
    def methods(self) -> Mapping[str, MethodSpec]:
        return dict(sorted(self._methods.items.items()))

    def task(self, task_id: str) -> TaskSpec:
        return self._tasks.get(task_id)

    def method(self, name: str) -> MethodSpec:
        return self._methods.get(name)

    def source(self, task_id: str) -> str:
        return self._tasks.sources.get(task_id, "?")

    def suites(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for spec in self.tasks.values():
            for s in spec.suites:
                out.setdefault(s, []).append(spec.id)
        return dict(sorted(out.items()))

    def suite(self, name: str) -> list[str]:
        suites = self.suites()
        if name not in suites:
            raise unknown("suite", name, suites)
        return suites[name]

    def task_methods(self, spec: TaskSpec) -> list[str]:
        """The methods of ``spec`` that are registered (unregistered ones are reported in problems)."""
        return [m for m in spec.methods if m in self._methods.items]

    def check_method_for(self, spec: TaskSpec, method: str) -> MethodSpec:
        meth = self.method(method)
        if method not in spec.methods:
            raise UsageError(
                f"task {spec.id!r} does not implement method {method!r}; it implements {', '.join(spec.methods)}"
            )
        return meth


def load_task(spec: TaskSpec, options: Mapping[str, Any]) -> Task:
    """Import the task's implementation and build it (the expensive imports happen here)."""
    factory = load_object(spec.entry_point)
    task = factory(spec, options)
    if not isinstance(task, Task):
        raise TypeError(f"{spec.entry_point} returned {type(task).__name__}, which has no run(method, ctx)")
    return task


def missing_data(spec: TaskSpec) -> str | None:
    """None where the task's data is present (or it declares no check), else how to get it."""
    if spec.data_check is None:
        return None
    message: str | None = load_object(spec.data_check)()
    return message


def plan_problem(spec: TaskSpec, options: Mapping[str, Any], budgets: Sequence[int]) -> str | None:
    """None where the task can run every budget with these options (or declares no check), else why not."""
    if spec.plan_check is None:
        return None
    message: str | None = load_object(spec.plan_check)(options, tuple(budgets))
    return message


def hub_checks(spec: TaskSpec, options: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """What ``bench check-real`` reports for one task: (what, problem or None) per pinned repository."""
    if spec.hub_check is None:
        return []
    return [(str(what), problem) for what, problem in load_object(spec.hub_check)(options)]


def _unique(eps: Iterable[EntryPoint]) -> list[EntryPoint]:
    """Entry points once each: one distribution can be visible twice on sys.path (editable installs)."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for ep in eps:
        key = (ep.dist.name if ep.dist else "", ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            out.append(ep)
    return out


def _load_specs(ep: EntryPoint, kind: type) -> list[Any]:
    obj = ep.load()
    if callable(obj) and not isinstance(obj, (list, tuple)):
        obj = obj()
    if isinstance(obj, kind):
        obj = [obj]
    specs = list(obj)
    bad = [s for s in specs if not isinstance(s, kind)]
    if bad:
        raise TypeError(f"expected {kind.__name__} objects, got {type(bad[0]).__name__}")
    return specs
