"""The leaderboard's types: rows, cells, comparisons and the settings they belong to.

A setting is one table: a task at one target budget with one set of task options, identified
by the options' hash and named, where a human reads it, by the options that set it apart.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from bench.api import Reference
from bench.stats import ALPHA

BETTER, NEGATIVE, WORSE, NS = "better", "negative transfer", "worse", "n.s."
"""Verdicts: against scratch a loss is negative transfer; between two transfer methods it is just worse."""


LEVEL = f"{100 * (1 - ALPHA):g}%"


ROLLOUT = "rollout"
"""The ``Record.files`` label whose file the Markdown leaderboard shows as an image per task."""


GRID_POINT = re.compile(r"^(?P<axis>[^=\s]+)=(?P<value>-?[0-9.eE+-]+)$")
"""The last word of a breakdown key that is a point on a perturbation axis, e.g. ``motor_strength=0.7``."""


class Setting(NamedTuple):
    """One table: a task at one target budget with one set of task options (by their hash)."""

    task: str
    budget: int
    options_hash: str


@dataclass
class Row:
    """One method in one setting of one task."""

    task: str
    budget: int
    options_hash: str
    """Short hash of the task options; settings with other options are other tables."""
    method: str
    role: str
    seeds: int
    failed: int
    mean: float | None
    ci: tuple[float, float] | None
    gain: float | None = None
    """Mean minus scratch's mean, signed so that positive is better."""
    gain_ci: tuple[float, float] | None = None
    verdict: str = ""
    """Transfer rows: better, negative transfer, n.s. or 'too few seeds'; scratch and reference rows: ''."""
    test: str = ""
    """The test behind the gain's interval and verdict: 'paired t' or 'Welch t'."""
    p: float | None = None
    seeds_needed: int | None = None
    """Where the gain is not significant: seeds per method that would detect it with 80% power."""
    seeds_needed_capped: bool = False
    """True when even ``seeds_needed`` seeds (the cap) would not: shown as '>N'."""
    columns: dict[str, float | None] = field(default_factory=dict)
    """Means over ok seeds of the task's secondary metrics (``TaskSpec.columns``), in the spec's order."""
    column_cis: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    """Their t intervals over seeds, for published numbers of a secondary metric (``Reference.metric``)."""
    budget_to_scratch: float | None = None
    """Target budget by which half the seeds' learning curves reach scratch's mean final score (see
    :func:`budget_to_reach`); None when the task names no learning curve or there is none to read."""
    budget_to_scratch_censored: bool = False
    """More than half the seeds never reach it: ``budget_to_scratch`` is then the setting's budget, a lower bound."""
    data_saved: float | None = None
    """How many times this row's budget scratch needs to reach this row's mean score (see
    :func:`data_saved`); None where scratch ran at fewer than two budgets in these options, and
    for scratch's own rows: read off its own curve they would say about 1.0x by construction
    (exactly 1.0x only where scratch is monotone), a number that looks like a finding and is not,
    so the table shows '—' there."""
    data_saved_bound: str = ""
    """'>' when the score is beyond scratch's best at any budget run (the factor is a lower bound),
    '<' when it is below scratch's score at its smallest budget (an upper bound), else ''."""
    wall_s: float | None = None
    source_s: float | None = None
    """Seconds spent building the shared source artifacts this method starts from (once per seed)."""
    peak_mb: float | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    throughput: float | None = None
    """Target training samples (images, env steps) per second of target-training wall time."""
    files: dict[str, str] = field(default_factory=dict)
    """Per ``Record.files`` label, the file of the lowest ok seed that has one (relative to the results directory)."""
    hardware: dict[str, int] = field(default_factory=dict)
    """Ok runs per machine (CPU model and cores, GPU). Wall time, source time, memory and throughput
    are not comparable across machines: with several, the cost columns are those of the machine
    with the most runs, and :attr:`hardware_cost` holds each machine's."""
    hardware_cost: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Where the row's runs come from several machines, the cost columns per machine."""

    @property
    def setting(self) -> Setting:
        return Setting(self.task, self.budget, self.options_hash)

    @property
    def data_saved_censored(self) -> bool:
        """Whether :attr:`data_saved` is a bound rather than a value (:attr:`data_saved_bound` says which way)."""
        return bool(self.data_saved_bound)


@dataclass
class TargetCell:
    """One method's main metric on one target (a language, a condition), over seeds."""

    mean: float
    ci: tuple[float, float] | None
    verdict: str = ""
    """Against scratch on the same target: better, negative transfer, n.s.; '' for scratch and references."""


@dataclass
class PerTarget:
    """The main metric per target of one setting, for tasks whose breakdown names a handful of
    targets rather than a perturbation grid; with the task's source among them, the transfer gap."""

    task: str
    budget: int
    options_hash: str
    source: str | None
    targets: list[str]
    """Every target in the records' order, the source first."""
    cells: dict[str, dict[str, TargetCell]] = field(default_factory=dict)
    """method -> target -> its cell."""
    gaps: dict[str, dict[str, TargetCell]] = field(default_factory=dict)
    """method -> target (and 'mean', over the targets other than the source) -> source minus target,
    computed per seed (lower is better: less is lost away from the source)."""


@dataclass
class Comparison:
    """Method ``a`` against method ``b`` in one setting: a's mean minus b's (positive: a is better)."""

    task: str
    budget: int
    options_hash: str
    a: str
    b: str
    difference: float
    ci: tuple[float, float] | None
    verdict: str
    """better, worse, n.s. or 'too few seeds' (a loss here is not negative transfer: b is not scratch)."""
    test: str = ""
    p: float | None = None
    seeds_needed: int | None = None
    seeds_needed_capped: bool = False


@dataclass
class Aggregate:
    """A method across tasks: IQM of its gain relative to scratch and P(improve), stratified bootstrap intervals."""

    method: str
    iqm: float
    ci: tuple[float, float] | None
    tasks: int
    runs: int
    p_improve: float = float("nan")
    """Probability that a run of the method beats a run of scratch, averaged over tasks."""
    p_improve_ci: tuple[float, float] | None = None


@dataclass
class Leaderboard:
    rows: list[Row]
    aggregates: list[Aggregate]
    references: dict[str, list[Reference]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    """Per task: the main metric's name and direction, e.g. 'accuracy (higher is better)'."""
    normalization: str = ""
    problems: list[str] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    """Per task: the secondary metrics shown beside the main one, which differ between tasks."""
    budget_units: dict[str, str] = field(default_factory=dict)
    """Per task with a learning curve: its budget unit, which names the 'to scratch's final' column."""
    default_budgets: dict[str, int] = field(default_factory=dict)
    """Per task with an installed spec: the budget whose setting stands for the task in per-task plots."""
    breakdowns: dict[tuple[str, int, str], dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    """Per setting and method: the main metric's breakdown as {key: values over ok seeds}, kept for the
    plots (which need every seed for their intervals) and left out of the rendered formats."""
    comparisons: list[Comparison] = field(default_factory=list)
    option_values: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """Per (task, options hash): the options themselves, from which sweeps over one option are found."""
    budget_unit_names: dict[str, str] = field(default_factory=dict)
    """Per task with an installed spec: its budget unit (e.g. 'labels per class'), which labels the
    budget axis of its plots; records alone do not say what a budget counts."""
    per_target: dict[tuple[str, int, str], PerTarget] = field(default_factory=dict)
    """Per setting whose breakdown names up to :data:`MAX_TARGETS` targets that are not grid points."""
    paired: dict[str, bool] = field(default_factory=dict)
    """Per task: whether its seeds pair (``TaskSpec.paired_seeds``), which picks the test of every difference."""
    _settings: list[Setting] | None = field(default=None, init=False, repr=False, compare=False)
    _rows_of: dict[Setting, list[Row]] | None = field(default=None, init=False, repr=False, compare=False)

    def settings(self) -> list[Setting]:
        """Every setting, in the order rows came, options of one (task, budget) by their values."""
        if self._settings is None:
            groups: dict[tuple[str, int], dict[str, None]] = {}
            for r in self.rows:
                groups.setdefault((r.task, r.budget), {}).setdefault(r.options_hash, None)

            def by_values(task: str, opts: str) -> tuple[list[tuple[int, Any]], str]:
                vals = self.option_values.get((task, opts), {})
                return [sort_key(vals[k]) for k in sorted(vals)], opts

            self._settings = [Setting(task, budget, opts) for (task, budget), group in groups.items()
                              for opts in sorted(group, key=functools.partial(by_values, task))]
        return self._settings

    def rows_of(self, setting: tuple[str, int, str]) -> list[Row]:
        """The rows of one setting, in table order; one pass over all rows for every setting, so
        that rendering stays linear in the number of records."""
        if self._rows_of is None:
            self._rows_of = defaultdict(list)
            for r in self.rows:
                self._rows_of[r.setting].append(r)
        return self._rows_of.get(Setting(*setting), [])

    def label(self, setting: tuple[str, int, str]) -> str:
        """The options that set a setting apart from the task's other settings at its budget, by
        name and value (``'l2=2.0, units=3'``); empty when the task has one setting at that budget."""
        task, budget, opts = setting
        others = [o for t, b, o in self.settings() if t == task and b == budget]
        if len(others) < 2:
            return ""
        values = {o: self.option_values.get((task, o), {}) for o in others}
        return options_label(values[opts], varying_options(values.values()))


def sort_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, json.dumps(v))


def varying_options(settings: Iterable[Mapping[str, Any]]) -> list[str]:
    """The option names whose values differ between these settings' options, sorted."""
    settings = list(settings)
    names = sorted({k for v in settings for k in v})
    return [k for k in names if len({json.dumps(v.get(k), sort_keys=True) for v in settings}) > 1]


def options_label(vals: Mapping[str, Any], varying: Sequence[str]) -> str:
    return ", ".join(f"{k}={json.dumps(vals.get(k)) if not isinstance(vals.get(k), str) else vals[k]}"
                     for k in varying)


def mean_or_none(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def budget_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"
