"""The leaderboard, derived from records alone.

Per task and setting (budget and options): each method's mean over seeds with a Student-t
interval, its gain over the from-scratch baseline with an interval and a verdict from a t-test
(paired by seed where the task says its seeds pair, else Welch's; see :mod:`bench.stats`), and
cost columns. Across tasks: the IQM of each method's gain relative to scratch and its probability
of improving on scratch, with stratified bootstrap intervals.

Numbers come only from records; task specs, where installed, add published reference results,
the normalization ceiling, the secondary metrics shown beside the main one and the learning
curve from which the budget each method needs to match scratch is read, and the budget unit
that labels plot axes. Nothing here knows a task family: per-target plots are driven by the
shape of breakdown keys (``<prefix> axis=value``), and sweeps are found by comparing the options
each record carries in ``config["options"]``: an option that takes several values while all
others stay equal is a sweep, whether it came from ``--sweep``, ``--set`` or separate runs.

Two figures answer the questions a single budget cannot: the data-efficiency curve (the main
metric against the target budget, :func:`plot_data_efficiency`) with the factor of data transfer
saves in the tables (:func:`data_saved`), and the score against a swept option
(:func:`plot_sweep`), e.g. layer transferability against the number of transferred units.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from bench.api import Reference, TaskSpec
from bench.hashing import config_hash
from bench.record import Record
from bench.stats import (
    ALPHA,
    POWER,
    TOO_FEW,
    Difference,
    TaskRuns,
    benjamini_hochberg,
    compare,
    mean_ci,
    normalized_iqm_ci,
    probability_of_improvement,
)
from bench.stats import WORSE as _WORSE

__all__ = ["FORMATS", "Aggregate", "Comparison", "DataEfficiency", "Leaderboard", "PerTarget", "Robustness", "Row",
           "Sweep", "TargetCell",
           "budget_to_reach", "build", "data_efficiency", "data_saved", "plot_data_efficiency", "plot_robustness",
           "plot_sweep", "render", "robustness", "sweeps", "task_plot_name", "write_files"]

FORMATS = ("table", "md", "csv", "latex", "json")
BETTER, NEGATIVE, WORSE, NS = "better", "negative transfer", "worse", "n.s."
"""Verdicts: against scratch a loss is negative transfer; between two transfer methods it is just worse."""
LEVEL = f"{100 * (1 - ALPHA):g}%"
ROLLOUT = "rollout"
"""The ``Record.files`` label whose file the Markdown leaderboard shows as an image per task."""
GRID_POINT = re.compile(r"^(?P<axis>[^=\s]+)=(?P<value>-?[0-9.eE+-]+)$")
"""The last word of a breakdown key that is a point on a perturbation axis, e.g. ``motor_strength=0.7``."""


@dataclass
class Row:
    """One method in one setting of one task."""

    task: str
    budget: int
    options: str
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
    options: str
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
    options: str
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

    def settings(self) -> list[tuple[str, int, str]]:
        """(task, budget, options hash) in the order rows came, options of one (task, budget) by their values."""
        groups: dict[tuple[str, int], dict[str, None]] = {}
        for r in self.rows:
            groups.setdefault((r.task, r.budget), {}).setdefault(r.options, None)

        def by_values(task: str, opts: str) -> tuple[list[tuple[int, Any]], str]:
            vals = self.option_values.get((task, opts), {})
            return [_sortable(vals[k]) for k in sorted(vals)], opts

        return [(task, budget, opts) for (task, budget), group in groups.items()
                for opts in sorted(group, key=functools.partial(by_values, task))]


def _mean(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def _sign(records: Sequence[Record]) -> float:
    return 1.0 if records[0].higher_is_better else -1.0


def _final_mean(records: Sequence[Record], curve: str) -> float | None:
    """Mean over ok seeds of the last point (largest x) of a learning curve: scratch's full-budget level."""
    finals = [max(r.curves[curve], key=lambda p: p[0])[1] for r in records if r.status == "ok" and r.curves.get(curve)]
    return _mean(finals)


def _first_reach(curve: Sequence[tuple[float, float]], target: float, sign: float) -> float | None:
    """The smallest x whose y is at least as good as ``target``; None if no point is.

    The tolerance keeps a seed whose final score equals a mean of identical finals from missing it
    by float rounding.
    """
    tol = 1e-9 * max(1.0, abs(target))
    return next((x for x, y in sorted(curve, key=lambda p: p[0]) if sign * (y - target) >= -tol), None)


def budget_to_reach(crossings: Sequence[float | None], budget: float) -> tuple[float, bool] | None:
    """Median over seeds of the budget at which each seed first reaches a score; None for no seeds.

    Seeds that never reach it (None) are censored at the budget, so an ordinary median would
    invent a number; this is the Kaplan-Meier median for that censoring: the smallest budget by
    which at least half the seeds have reached the score (the lower median when none is censored,
    which is also a budget some seed was actually evaluated at). Returns ``(value, censored)``;
    censored, with value ``budget``, means more than half the seeds never reach it within it.
    """
    if not crossings:
        return None
    reached = sorted(x for x in crossings if x is not None)
    need = math.ceil(len(crossings) / 2)
    if len(reached) < need:
        return float(budget), True
    return float(reached[need - 1]), False


def data_saved(scratch: Sequence[tuple[float, float]], score: float, budget: float,
               sign: float = 1.0) -> tuple[float, str] | None:
    """The factor of target data transfer saves: scratch's budget to reach ``score``, over ``budget``.

    ``scratch`` holds (budget, mean score) pairs at two or more budgets. Scratch's curve is made
    monotone by its running best (more data never counts as hurting: a dip is seed noise, and an
    inverse would not exist without it), and the budget at which it reaches ``score`` is
    interpolated linearly in log budget, because scores grow roughly with the log of the data and
    budgets are spaced geometrically. Beyond scratch's best the factor is a lower bound (``'>'``:
    largest budget / ``budget``); below its score at the smallest budget it is an upper bound
    (``'<'``). ``sign`` is -1 where lower scores are better. Budgets of zero have no place on a log
    scale and are left out. Returns ``(factor, bound)``; None with fewer than two positive budgets
    or a non-positive ``budget``. For example, scratch at (1, 0.5), (10, 0.7), (100, 0.8) and a
    score of 0.75 at budget 1 give ``(10 ** 1.5, '')``: 31.6x, halfway between 10 and 100 in log budget.
    """
    pts = sorted((float(b), sign * float(m)) for b, m in scratch if b > 0)
    if len(pts) < 2 or budget <= 0:
        return None
    best, env = -math.inf, []
    for b, m in pts:
        best = max(best, m)
        env.append((b, best))
    s = sign * score
    if s > env[-1][1]:
        return env[-1][0] / budget, ">"
    if s < env[0][1]:
        return env[0][0] / budget, "<"
    for (b0, m0), (b1, m1) in zip(env, env[1:], strict=False):
        if m1 >= s:
            if s <= m0:
                return b0 / budget, ""
            t = (s - m0) / (m1 - m0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0))) / budget, ""
    return env[0][0] / budget, ""


def _fill_data_saved(rows: Sequence[Row], signs: Mapping[str, float]) -> None:
    """Set :attr:`Row.data_saved` on every non-scratch row whose task and options have scratch at
    two or more budgets."""
    curves: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if r.method == "scratch" and r.mean is not None:
            curves[(r.task, r.options)].append((r.budget, r.mean))
    for r in rows:
        curve = curves.get((r.task, r.options), [])
        if r.method == "scratch" or r.mean is None or len(curve) < 2:
            continue
        found = data_saved(curve, r.mean, r.budget, signs.get(r.task, 1.0))
        if found:
            r.data_saved, r.data_saved_bound = found


def _first_files(records: Sequence[Record]) -> dict[str, str]:
    files: dict[str, str] = {}
    for r in sorted(records, key=lambda r: r.seed):
        for label, path in r.files.items():
            files.setdefault(label, path)
    return files


def _breakdown_values(records: Sequence[Record]) -> dict[str, list[float]]:
    values: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for key, value in r.breakdowns.get(r.metric, {}).items():
            values[key].append(value)
    return dict(values)


MAX_TARGETS = 30
"""More breakdown keys than this are a grid or a per-class report, not targets to tabulate."""


def per_target(task: str, budget: int, opts: str, by_method: Mapping[str, Sequence[Record]],
               source: str | None, paired: bool = False) -> PerTarget | None:
    """The per-target table of one setting (see :class:`PerTarget`); None where the breakdown is
    missing, a perturbation grid or longer than :data:`MAX_TARGETS`.

    Each transfer method is tested against scratch on each target, as the main table does (paired
    by seed where the task's seeds pair); with one test per cell the table issues dozens, so its
    verdicts control the false discovery rate over all of them (Benjamini-Hochberg). The gap is
    formed within each run (source minus target of the same seed), so its interval is that of a
    per-seed quantity.
    """
    ok = {m: [r for r in recs if r.status == "ok" and r.breakdowns.get(r.metric)] for m, recs in by_method.items()}
    keys = list(dict.fromkeys(k for recs in ok.values() for r in recs for k in r.breakdowns[r.metric]))
    if not keys or len(keys) > MAX_TARGETS or any(GRID_POINT.match(k.split()[-1]) for k in keys):
        return None
    if source is not None and source not in keys:
        source = None
    targets = ([source] if source else []) + [k for k in keys if k != source]
    higher = next(recs for recs in ok.values() if recs)[0].higher_is_better

    def on(recs: Sequence[Record], target: str) -> dict[int, float]:
        return {r.seed: r.breakdowns[r.metric][target] for r in recs if target in r.breakdowns[r.metric]}

    def cell(values: Sequence[float]) -> TargetCell:
        return TargetCell(float(np.mean(values)), mean_ci(values))

    scratch = {t: on(ok.get("scratch", []), t) for t in targets}
    out = PerTarget(task, budget, opts, source, targets)
    tests: list[tuple[str, str, Difference]] = []
    for method, recs in ok.items():
        if not recs:
            continue
        out.cells[method] = {}
        for t in targets:
            values = on(recs, t)
            if values:
                out.cells[method][t] = cell(list(values.values()))
                if recs[0].role == "transfer" and scratch[t]:
                    tests.append((method, t, compare(values, scratch[t], paired=paired, higher_is_better=higher)))
        if source:
            gaps: dict[str, list[float]] = defaultdict(list)
            for b in (r.breakdowns[r.metric] for r in recs if source in r.breakdowns[r.metric]):
                others = [b[source] - b[t] for t in targets[1:] if t in b]
                for t in targets[1:]:
                    if t in b:
                        gaps[t].append(b[source] - b[t])
                if others:
                    gaps["mean"].append(float(np.mean(others)))
            out.gaps[method] = {t: cell(v) for t, v in gaps.items()}
    rejected = benjamini_hochberg([d.p if d.verdict != TOO_FEW else None for _, _, d in tests])
    for (method, t, d), reject in zip(tests, rejected, strict=True):
        out.cells[method][t].verdict = _against_scratch(d.with_verdict(reject).verdict)
    return out


def _by_seed(records: Sequence[Record]) -> dict[int, float]:
    return {r.seed: r.score for r in records if r.status == "ok" and r.score is not None}


def _against_scratch(verdict: str) -> str:
    """A transfer method's loss against the from-scratch baseline is negative transfer."""
    return NEGATIVE if verdict == _WORSE else verdict


def build(
    records: Sequence[Record], specs: Mapping[str, TaskSpec] | None = None, problems: Sequence[str] = ()
) -> Leaderboard:
    """Group records by (task, budget, options, method) and compute every leaderboard number."""
    specs = specs or {}
    groups: dict[tuple[str, int, str], dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    option_values: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        key = (r.task, r.budget, config_hash(r.config.get("options", {}))[:8])
        groups[key][r.method].append(r)
        option_values.setdefault((r.task, key[2]), dict(r.config.get("options", {})))
    rows: list[Row] = []
    runs_of: dict[str, list[TaskRuns]] = defaultdict(list)
    paired: dict[str, bool] = {}
    units: dict[str, str] = {}
    columns: dict[str, list[str]] = {}
    budget_units: dict[str, str] = {}
    breakdowns: dict[tuple[str, int, str], dict[str, dict[str, list[float]]]] = {}
    comparisons: list[Comparison] = []
    targets_of: dict[tuple[str, int, str], PerTarget] = {}
    for (task, budget, opts), by_method in sorted(groups.items()):
        any_rec = next(iter(by_method.values()))[0]
        sign = _sign([any_rec])
        units[task] = f"{any_rec.metric} ({'higher' if sign > 0 else 'lower'} is better)"
        scratch = [r.score for r in by_method.get("scratch", []) if r.score is not None]
        spec = specs.get(task)
        paired_seeds = bool(spec and spec.paired_seeds)
        paired[task] = paired_seeds
        scratch_by_seed = _by_seed(by_method.get("scratch", []))
        shown = list(spec.columns) if spec else []
        if shown:
            columns[task] = shown
        curve = spec.learning_curve if spec else None
        if spec and curve:
            budget_units[task] = spec.budget_unit
        scratch_final = _final_mean(by_method.get("scratch", []), curve) if curve else None
        breakdowns[(task, budget, opts)] = {}
        table_rows = []
        for method, recs in by_method.items():
            ok = [r for r in recs if r.status == "ok"]
            scores = [r.score for r in ok if r.score is not None]
            row = Row(
                task=task, budget=budget, options=opts, method=method, role=recs[0].role,
                seeds=len(scores), failed=len(recs) - len(ok), mean=_mean(scores),
                ci=mean_ci(scores),
                wall_s=_mean([r.timings.total_s for r in ok]),
                source_s=_mean([sum(a.get("build_s", 0.0) for a in r.artifacts) for r in ok]) if any(
                    r.artifacts for r in ok) else None,
                peak_mb=_mean([r.cost.peak_rss_mb for r in ok if r.cost.peak_rss_mb is not None]),
                trainable_params=ok[0].cost.trainable_params if ok else None,
                total_params=ok[0].cost.total_params if ok else None,
                throughput=_mean([r.cost.throughput for r in ok if r.cost.throughput]),
                columns={name: _mean([r.metrics[name] for r in ok if name in r.metrics]) for name in shown},
                column_cis={name: mean_ci([r.metrics[name] for r in ok if name in r.metrics]) for name in shown},
                files=_first_files(ok),
            )
            if curve and scratch_final is not None:
                crossed = budget_to_reach(
                    [_first_reach(r.curves[curve], scratch_final, sign) for r in ok if r.curves.get(curve)], budget)
                if crossed is not None:
                    row.budget_to_scratch, row.budget_to_scratch_censored = crossed
            breakdowns[(task, budget, opts)][method] = _breakdown_values(ok)
            if scores and scratch and method != "scratch":
                d = compare(_by_seed(ok), scratch_by_seed, paired=paired_seeds, higher_is_better=sign > 0)
                row.gain, row.gain_ci, row.test, row.p = d.estimate, d.ci, d.test, d.p
                if row.role == "transfer":
                    row.verdict = _against_scratch(d.verdict)
                    row.seeds_needed, row.seeds_needed_capped = d.seeds_needed or (None, False)
            if row.role == "transfer" and scores and scratch:
                runs_of[method].append(TaskRuns(scores, scratch, sign > 0))
            table_rows.append(row)
        for a, b in spec.comparisons if spec else ():
            sa, sb = (_by_seed(by_method.get(m, [])) for m in (a, b))
            if sa and sb:
                d = compare(sa, sb, paired=paired_seeds, higher_is_better=sign > 0)
                comparisons.append(Comparison(task, budget, opts, a, b, d.estimate, d.ci, d.verdict, d.test, d.p,
                                              *(d.seeds_needed or (None, False))))
        table = (per_target(task, budget, opts, by_method, spec.source_breakdown, paired_seeds)
                 if spec and spec.target_breakdown else None)
        if table:
            targets_of[(task, budget, opts)] = table
        order = {"scratch": 0, "transfer": 1, "reference": 2}
        table_rows.sort(key=lambda r: (order.get(r.role, 3), -(r.gain or 0.0) if r.gain is not None else 0.0))
        rows.extend(table_rows)
    _fill_data_saved(rows, {task: _sign([next(iter(g.values()))[0]]) for (task, _, _), g in groups.items()})
    aggregates = []
    for method, runs in runs_of.items():
        point, ci = normalized_iqm_ci(runs)
        improve, improve_ci = probability_of_improvement(runs)
        aggregates.append(Aggregate(method, point, ci, len(runs), sum(len(t.method) for t in runs), improve,
                                    improve_ci))
    aggregates.sort(key=lambda a: -a.iqm)
    normalization = (
        "normalized score = (method - scratch's mean) / |scratch's mean| in each task and setting (0 = scratch, "
        "0.1 = 10% better), IQM over all runs of all tasks; P(improve) = the probability that a run of the method "
        f"beats a run of scratch (a tie counts one half), averaged over tasks. {LEVEL} stratified bootstrap "
        "intervals, resampling scratch's runs as well as the method's.")
    references = {t: list(s.references) for t, s in specs.items() if s.references and t in units}
    return Leaderboard(rows, aggregates, references, units, normalization, list(problems), columns=columns,
                       budget_units=budget_units,
                       default_budgets={t: s.default_budget for t, s in specs.items() if t in units},
                       breakdowns=breakdowns, comparisons=comparisons, option_values=option_values,
                       budget_unit_names={t: s.budget_unit for t, s in specs.items() if t in units},
                       per_target=targets_of, paired=paired)


# --- rendering ------------------------------------------------------------------------------


def _f(x: float | None, digits: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _ci(ci: tuple[float, float] | None, digits: int = 3) -> str:
    return "—" if ci is None else f"[{_f(ci[0], digits)}, {_f(ci[1], digits)}]"


def _gain(x: float | None) -> str:
    return "—" if x is None else f"{x:+.3f}"


def _params(n: int | None) -> str:
    if n is None:
        return "—"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def _verdict_mark(v: str) -> str:
    return {BETTER: "▲ better", NEGATIVE: "▼ NEGATIVE TRANSFER", WORSE: "▼ worse", NS: "no significant difference",
            TOO_FEW: "too few seeds for a verdict"}.get(v, v)


def _seeds_needed(n: int | None, capped: bool) -> str:
    return "—" if n is None else f">{n}" if capped else str(n)


SEEDS_HEADER = f"seeds for {100 * POWER:g}%"
HEADERS = ["method", "role", "seeds", "mean", f"{LEVEL} CI", "gain vs scratch", f"gain {LEVEL} CI", "verdict",
           SEEDS_HEADER, "wall s/run", "source s", "peak MB", "trainable", "total params", "samples/s"]
DATA_SAVED_HEADER = "scratch data to match"
_TASK_COLUMNS_AT = HEADERS.index(SEEDS_HEADER) + 1


def _budget(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


def _to_scratch(r: Row) -> str:
    if r.budget_to_scratch is None:
        return "—"
    return (">" if r.budget_to_scratch_censored else "") + _budget(r.budget_to_scratch)


def _to_scratch_header(unit: str) -> str:
    return f"{unit} to scratch's final"


def _headers(lb: Leaderboard, task: str) -> list[str]:
    """The table's headers: the common ones with the task's own columns after the verdict and seeds needed."""
    own = list(lb.columns.get(task, []))
    if task in lb.budget_units:
        own.append(_to_scratch_header(lb.budget_units[task]))
    if _has_data_saved(lb, task):
        own.append(DATA_SAVED_HEADER)
    return HEADERS[:_TASK_COLUMNS_AT] + own + HEADERS[_TASK_COLUMNS_AT:]


def _has_data_saved(lb: Leaderboard, task: str) -> bool:
    return any(r.data_saved is not None for r in lb.rows if r.task == task)


def _data_saved(r: Row) -> str:
    return "—" if r.data_saved is None else f"{r.data_saved_bound}{r.data_saved:.1f}x"


def _cells(lb: Leaderboard, r: Row) -> list[str]:
    seeds = f"{r.seeds}" + (f" (+{r.failed} failed)" if r.failed else "")
    role = {"reference": "reference (not ranked)", "scratch": "baseline"}.get(r.role, r.role)
    common = [r.method, role, seeds, _f(r.mean), _ci(r.ci), _gain(r.gain), _ci(r.gain_ci),
              _verdict_mark(r.verdict) if r.verdict else "", _seeds_needed(r.seeds_needed, r.seeds_needed_capped),
              _f(r.wall_s, 1), _f(r.source_s, 1),
              _f(r.peak_mb, 0), _params(r.trainable_params), _params(r.total_params), _f(r.throughput, 0)]
    own = [_f(r.columns.get(name)) for name in lb.columns.get(r.task, [])]
    if r.task in lb.budget_units:
        own.append(_to_scratch(r))
    if _has_data_saved(lb, r.task):
        own.append(_data_saved(r))
    return common[:_TASK_COLUMNS_AT] + own + common[_TASK_COLUMNS_AT:]


def _setting_title(lb: Leaderboard, task: str, budget: int, opts: str) -> str:
    """The heading of one table: the options that set it apart from the task's other settings,
    by name and value (the hash alone would send a reader to the records), then the hash."""
    others = {o for t, b, o in lb.settings() if t == task and b == budget}
    if len(others) < 2:
        return f"{task} — budget {budget} — {lb.units.get(task, '')}"
    values = {o: lb.option_values.get((task, o), {}) for o in others}
    names = sorted({k for v in values.values() for k in v})
    varying = [k for k in names if len({json.dumps(v.get(k), sort_keys=True) for v in values.values()}) > 1]
    label = _options_label(values[opts], varying)
    return f"{task} — budget {budget}, {label + ' ' if label else ''}(options {opts}) — {lb.units.get(task, '')}"


def _text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def _aggregate_rows(lb: Leaderboard) -> list[list[str]]:
    return [[a.method, _f(a.iqm), _ci(a.ci), _f(a.p_improve), _ci(a.p_improve_ci), str(a.tasks), str(a.runs)]
            for a in lb.aggregates]


AGG_HEADERS = ["method", "normalized IQM", f"{LEVEL} CI", "P(improve)", f"{LEVEL} CI", "tasks", "runs"]


def _test_line(lb: Leaderboard, task: str) -> str:
    """Which test stands behind a task's gains and verdicts, in one line under its table."""
    if lb.paired.get(task):
        return (f"gains and verdicts: paired t-test over seeds at {100 * ALPHA:g}% (this task's methods see the same "
                "target data and evaluation in each seed, so the seed's shared luck cancels)")
    return f"gains and verdicts: Welch's t-test at {100 * ALPHA:g}% (this task does not declare that its seeds pair)"


def _target_cell(c: TargetCell | None) -> str:
    if c is None:
        return "—"
    half = f"±{(c.ci[1] - c.ci[0]) / 2:.3f}" if c.ci else ""
    return f"{c.mean:.3f}{half}" + {BETTER: " ▲", WORSE: " ▼"}.get(c.verdict, "")


def _per_target_parts(lb: Leaderboard, setting: tuple[str, int, str], table: Callable[..., str]) -> list[str]:
    """The per-target table (published per-target results beside ours, with the difference) and
    the transfer-gap table, as text blocks; none where the setting has no :class:`PerTarget`."""
    pt = lb.per_target.get(setting)
    if pt is None:
        return []
    task = setting[0]
    order = [r.method for r in lb.rows if (r.task, r.budget, r.options) == setting and r.method in pt.cells]
    rows = [[m, *(_target_cell(pt.cells[m].get(t)) for t in pt.targets)] for m in order]
    refs = [ref for ref in _applicable(lb, setting) if ref.breakdown is not None]
    published: dict[str, dict[str, float]] = defaultdict(dict)
    for ref in refs:
        assert ref.breakdown is not None
        published[ref.method][ref.breakdown] = ref.value
    withheld = {ref.method: ref.differs for ref in refs if ref.differs}
    for method, values in published.items():
        rows.append([f"published {method}", *(_f(values.get(t)) for t in pt.targets)])
        if method in pt.cells and method not in withheld:
            rows.append([f"{method} − published", *(
                _gain(pt.cells[method][t].mean - values[t]) if t in values and t in pt.cells[method] else "—"
                for t in pt.targets)])
    metric = lb.units.get(task, "score").split(" (")[0]
    gap = "" if table is _md_table else "\n"
    tests = sum(1 for cells in pt.cells.values() for c in cells.values() if c.verdict)
    test = "paired t-test" if lb.paired.get(task) else "Welch's t-test"
    parts = [f"{gap}Per target: {metric}, mean ± half the {LEVEL} t interval over seeds; ▲/▼: better / worse than "
             f"scratch on that target ({test}), with the false discovery rate over the table's {tests} tests held at "
             f"{100 * ALPHA:g}% (Benjamini-Hochberg).", table(["method", *pt.targets], rows)]
    cites = {ref.citation for ref in refs}
    if cites:
        parts.append("Published: " + "; ".join(sorted(cites)))
    for method, why in sorted(withheld.items()):
        parts.append(f"No difference to published {method}: not comparable ({why}).")
    if pt.gaps:
        others = [*pt.targets[1:], "mean"]
        parts.append(f"{gap}Transfer gap: {pt.source} minus each target (lower: less is lost away from the source), "
                     f"per seed, mean ± half the {LEVEL} t interval.")
        parts.append(table(["method", *others],
                           [[m, *(_target_cell(pt.gaps[m].get(t)) for t in others)] for m in order if m in pt.gaps]))
    return parts


def _applicable(lb: Leaderboard, setting: tuple[str, int, str]) -> list[Reference]:
    """The task's published results comparable to this setting (see :meth:`Reference.applies`)."""
    task, budget, opts = setting
    options = lb.option_values.get((task, opts), {})
    return [ref for ref in lb.references.get(task, []) if ref.applies(budget, options)]


def _references(lb: Leaderboard, setting: tuple[str, int, str]) -> list[str]:
    out = []
    ours = {r.method: r for r in lb.rows if (r.task, r.budget, r.options) == setting}
    tabulated = setting in lb.per_target
    applicable = _applicable(lb, setting)
    for ref in applicable:
        if ref.breakdown is not None and tabulated:
            continue
        row = ours.get(ref.method)
        mean, ci = (None, None) if row is None else (
            (row.mean, row.ci) if ref.metric is None else (row.columns.get(ref.metric), row.column_cis.get(ref.metric)))
        diff = ""
        if mean is not None and ref.breakdown is None:
            if ref.differs:
                diff = f", ours {_f(mean)} (no difference shown: not comparable, {ref.differs})"
            else:
                shifted = _ci((ci[0] - ref.value, ci[1] - ref.value)) if ci else ""
                diff = f", ours {_f(mean)} (ours − published {mean - ref.value:+.3f} {shifted})".replace(" )", ")")
        what = f" [{ref.breakdown}]" if ref.breakdown else (f" ({ref.metric})" if ref.metric else "")
        proto = f"; protocol: {ref.protocol}" if ref.protocol else ""
        out.append(f"published {ref.method}{what}: {ref.value:g} ({ref.citation}){diff}{proto}")
    elsewhere = sorted({_scope(ref) for ref in lb.references.get(setting[0], []) if ref not in applicable})
    if elsewhere:
        out.append(f"published results of other settings not shown here: {'; '.join(elsewhere)}")
    return out


def _scope(ref: Reference) -> str:
    """The setting a published number belongs to, in the words of ``--budget`` and ``--set``."""
    parts = [f"{k}={v}" for k, v in sorted(ref.options.items())]
    return ", ".join(parts + ([f"budget {ref.budget}"] if ref.budget is not None else []))


def _comparisons(lb: Leaderboard, task: str, budget: int, opts: str) -> list[str]:
    return [f"{c.a} vs {c.b}: {_gain(c.difference)} {_ci(c.ci)} {_verdict_mark(c.verdict)}"
            + (f" ({SEEDS_HEADER}: {_seeds_needed(c.seeds_needed, c.seeds_needed_capped)})"
               if c.seeds_needed is not None else "")
            for c in lb.comparisons if (c.task, c.budget, c.options) == (task, budget, opts)]


def _rollouts(rows: Sequence[Row]) -> str | None:
    """Markdown images of scratch's rollout and the best-ranked transfer method's, side by side.

    Seeing the baseline beside the best transfer shows what a gain looks like; the paths in
    records are relative to the results directory, where ``leaderboard.md`` lives.
    """
    transfer = sorted((r for r in rows if r.role == "transfer" and ROLLOUT in r.files),
                      key=lambda r: -r.gain if r.gain is not None else math.inf)
    scratch = [r for r in rows if r.role == "scratch" and ROLLOUT in r.files]
    shown = scratch[:1] + transfer[:1]
    return " ".join(f"![{r.method} {ROLLOUT}]({quote(r.files[ROLLOUT])})" for r in shown) or None


def _csv(lb: Leaderboard) -> str:
    """One line per row; the dict fields become one column per metric (its name) or file label."""
    fields = list(Row.__dataclass_fields__)
    metrics = list(dict.fromkeys(name for r in lb.rows for name in r.columns))
    labels = list(dict.fromkeys(label for r in lb.rows for label in r.files))

    def metric_col(name: str) -> str:
        return f"metrics.{name}" if name in fields else name

    header: list[str] = []
    for f in fields:
        header += ([metric_col(n) for n in metrics] if f == "columns"
                   else [f"files.{label}" for label in labels] if f == "files" else [f])
    buf = io.StringIO()
    w = csv.DictWriter(buf, header, restval="")
    w.writeheader()
    for r in lb.rows:
        line: dict[str, Any] = {f: getattr(r, f) for f in fields if f not in ("columns", "files")}
        line.update({metric_col(n): v for n, v in r.columns.items()})
        line.update({f"files.{label}": p for label, p in r.files.items()})
        w.writerow(line)
    return buf.getvalue()


def render(lb: Leaderboard, fmt: str = "table", plot: str | None = None, plots: Collection[str] = ()) -> str:
    """The leaderboard as text in one of :data:`FORMATS`.

    Markdown links images by paths relative to the results directory: ``plot`` is the normalized
    score plot, ``plots`` the per-task plots that exist (:func:`write_files` passes what it wrote),
    so that no link points at a plot that was skipped.
    """
    if fmt == "json":
        return json.dumps(
            {"rows": [asdict(r) for r in lb.rows], "aggregates": [asdict(a) for a in lb.aggregates],
             "comparisons": [asdict(c) for c in lb.comparisons],
             "per_target": [asdict(t) for t in lb.per_target.values()],
             "normalization": lb.normalization, "problems": lb.problems}, indent=2)
    if fmt == "csv":
        return _csv(lb)
    if fmt == "latex":
        return _latex(lb)
    if fmt not in ("table", "md"):
        raise ValueError(f"unknown format {fmt!r}; accepted: {', '.join(FORMATS)}")
    md = fmt == "md"
    table = _md_table if md else _text_table
    parts = ["# transferbench leaderboard" if md else "transferbench leaderboard"]
    if not lb.rows:
        parts.append("No records yet: run `python -m bench run` first.")
    for task, budget, opts in lb.settings():
        rows = [r for r in lb.rows if (r.task, r.budget, r.options) == (task, budget, opts)]
        title = _setting_title(lb, task, budget, opts)
        parts.append(f"## {title}" if md else f"\n{title}")
        parts.append(table(_headers(lb, task), [_cells(lb, r) for r in rows]))
        parts += [f"- {line}" if md else f"  {line}" for line in [
            _test_line(lb, task), *_comparisons(lb, task, budget, opts), *_references(lb, (task, budget, opts))]]
        parts += _per_target_parts(lb, (task, budget, opts), table)
        if md and (task, budget, opts) == next(s for s in lb.settings() if s[0] == task):
            for kind, caption, _ in _task_plots(lb, task):
                if task_plot_name(task, kind) in plots:
                    parts.append(f"![{caption}]({quote(task_plot_name(task, kind))})")
            rollouts = _rollouts(rows)
            if rollouts:
                parts.append(rollouts)
    if lb.aggregates:
        parts.append("## Across tasks" if md else "\nAcross tasks")
        parts.append(table(AGG_HEADERS, _aggregate_rows(lb)))
        parts.append(lb.normalization)
        if plot and md:
            parts.append(f"\n![normalized scores]({plot})")
    parts.append(
        ("" if md else "\n") + f"Intervals: {LEVEL} Student-t over seeds. Verdicts test the gain over scratch at "
        f"{100 * ALPHA:g}% (the test is named under each table): 'better' / 'negative transfer' (worse than "
        "scratch) where significant, else no significant difference; head-to-head lines say better / worse. A "
        f"verdict needs at least 3 seeds per method; reference rows are never ranked. '{SEEDS_HEADER}': where "
        f"the gain is not significant, the seeds per method at which a difference as large as the observed one "
        f"would be detected {100 * POWER:g}% of the time (given the observed spread; '>N' past N)."
    )
    if any(r.data_saved is not None for r in lb.rows):
        parts.append(
            f"'{DATA_SAVED_HEADER}': how many times a row's budget scratch needs to reach the row's mean score, "
            "read off scratch's scores at the budgets run (interpolated in log budget); '>' beyond scratch's best, "
            "'<' below its smallest budget's score.")
    if lb.budget_units:
        parts.append(
            "'... to scratch's final': the budget by which half the seeds' learning curves reach scratch's mean "
            "final score (median over seeds); '>N': more than half never reach it within the budget N."
        )
    if lb.problems:
        parts.append(("## Skipped files\n" if md else "\nSkipped files:\n") + "\n".join(f"- {p}" for p in lb.problems))
    return "\n\n".join(parts) + "\n" if md else "\n".join(parts) + "\n"


def _tex(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("—", "--")):
        s = s.replace(a, b)
    return s


def _latex(lb: Leaderboard) -> str:
    out = []
    cols = ["method", "mean", "95\\% CI", "gain", "gain 95\\% CI", "verdict"]
    for task, budget, opts in lb.settings():
        rows = [r for r in lb.rows if (r.task, r.budget, r.options) == (task, budget, opts)]
        out.append(f"% {task}, budget {budget}, options {opts}")
        out.append("\\begin{tabular}{lrrrrl}\n\\toprule\n" + " & ".join(cols) + " \\\\\n\\midrule")
        for r in rows:
            cells = [r.method, _f(r.mean), _ci(r.ci), _gain(r.gain), _ci(r.gain_ci), r.verdict]
            out.append(" & ".join(_tex(c) for c in cells) + " \\\\")
        out.append("\\bottomrule\n\\end{tabular}\n")
    return "\n".join(out)


def plot_normalized(lb: Leaderboard, path: Path) -> Path | None:
    """A PNG of each method's normalized IQM with its interval; None when there is nothing to plot."""
    if not lb.aggregates:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    aggs = list(reversed(lb.aggregates))
    fig, ax = plt.subplots(figsize=(6.5, 0.6 * len(aggs) + 1.4))
    y = np.arange(len(aggs))
    cis = [a.ci or (a.iqm, a.iqm) for a in aggs]
    lo = [a.iqm - ci[0] for a, ci in zip(aggs, cis, strict=True)]
    hi = [ci[1] - a.iqm for a, ci in zip(aggs, cis, strict=True)]
    colors = ["tab:green" if ci[0] > 0 else "tab:red" if ci[1] < 0 else "tab:gray" for ci in cis]
    ax.barh(y, [a.iqm for a in aggs], xerr=[lo, hi], color=colors, capsize=4, alpha=0.8)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_yticks(y, [f"{a.method} ({a.tasks} task{'s' if a.tasks > 1 else ''})" for a in aggs])
    ax.set_xlabel(f"normalized score vs scratch (IQM, {LEVEL} CI); 0 = scratch")
    ax.set_title("transferbench: gain over the from-scratch baseline")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_task(lb: Leaderboard, task: str, path: Path) -> Path | None:
    """A dot-and-whisker PNG of one task: each method's mean and 95% interval over seeds.

    One point per (method, budget, options setting). A task where some method ran at two or
    more budgets gets the data-efficiency curve instead (:func:`plot_data_efficiency`, see
    :func:`_task_plots`), so this is the chart of a task run at a single budget.
    """
    rows = sorted((r for r in lb.rows if r.task == task and r.mean is not None),
                  key=lambda r: (r.role != "scratch", r.method, r.budget, r.options))
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = sorted({r.budget for r in rows})
    variants = sorted({r.options for r in rows})
    fig, ax = plt.subplots(figsize=(6.5, 4))
    labels = []
    for i, r in enumerate(rows):
        assert r.mean is not None
        err = [[r.mean - r.ci[0]], [r.ci[1] - r.mean]] if r.ci and not math.isnan(r.ci[0]) else None
        style = _line_style(r.role)
        ax.errorbar([i], [r.mean], yerr=err, marker="o", capsize=3, color=style.get("color"),
                    linestyle="none", mfc="none" if r.role == "reference" else None)
        labels.append(r.method + (f" @{_budget(r.budget)}" if len(budgets) > 1 else "")
                      + (f" [{r.options}]" if len(variants) > 1 else "")
                      + (" (reference)" if r.role == "reference" else ""))
    ax.set_xticks(range(len(rows)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(rows) - 0.5)
    unit = lb.budget_unit_names.get(task, "target budget")
    ax.set_xlabel("method" + (f" ({unit} {_budget(budgets[0])})" if len(budgets) == 1 else ""))
    ax.set_ylabel(lb.units.get(task, "score"))
    ax.set_title(f"{task}: mean and 95% CI over seeds")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    """Lay out, write and close a figure: every plot here ends the same way."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _grid_axes(breakdown: Mapping[str, list[float]]) -> dict[str, dict[float, list[float]]]:
    """Breakdown values grouped by perturbation axis and point: {axis: {value: values over seeds}}."""
    axes: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, values in breakdown.items():
        words = key.split()
        m = GRID_POINT.match(words[-1]) if words else None
        if not m:
            continue
        try:
            value = float(m["value"])
        except ValueError:
            continue
        axes[m["axis"]][value].extend(values)
    return {axis: dict(points) for axis, points in axes.items()}


@dataclass
class Robustness:
    """A task's main metric along each perturbation axis, per method: what :func:`plot_robustness` draws."""

    task: str
    budget: int
    options: str
    axes: dict[str, dict[str, list[tuple[float, float, tuple[float, float] | None]]]]
    """axis -> method (in table order) -> [(axis value, mean over seeds, t interval or None)] by value."""


def robustness(lb: Leaderboard, task: str) -> Robustness | None:
    """The main metric along each perturbation axis, from breakdown keys shaped ``<prefix> axis=value``.

    Read from the task's default-budget setting (else its first): one budget keeps the lines
    comparable. None when the task has no such keys.
    """
    settings = [s for s in lb.settings() if s[0] == task]
    if not settings:
        return None
    setting = next((s for s in settings if s[1] == lb.default_budgets.get(task)), settings[0])
    grids = {m: _grid_axes(b) for m, b in lb.breakdowns.get(setting, {}).items()}
    methods = [r.method for r in lb.rows if (r.task, r.budget, r.options) == setting and grids.get(r.method)]
    if not methods:
        return None
    axes: dict[str, dict[str, list[tuple[float, float, tuple[float, float] | None]]]] = {}
    for axis in dict.fromkeys(a for m in methods for a in grids[m]):
        axes[axis] = {
            m: [(v, float(np.mean(vals)), mean_ci(vals)) for v, vals in sorted(grids[m][axis].items())]
            for m in methods if axis in grids[m]
        }
    return Robustness(task, setting[1], setting[2], axes)


def plot_robustness(lb: Leaderboard, task: str, path: Path) -> Path | None:
    """A PNG of the main metric across each perturbation axis of a task, one line per method.

    A single target score hides whether a method is robust or just tuned to that target; this
    shows the score as each axis of the perturbation grid moves (one subplot per axis, mean and
    95% t band over seeds). None when the task has no such breakdown (see :func:`robustness`).
    """
    rob = robustness(lb, task)
    if rob is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roles = {r.method: r.role for r in lb.rows if (r.task, r.budget, r.options) == (task, rob.budget, rob.options)}
    methods = list(dict.fromkeys(m for lines in rob.axes.values() for m in lines))
    palette = matplotlib.colormaps["tab10"]
    colors = {m: "black" if roles[m] == "scratch" else palette(i % 10) for i, m in enumerate(methods)}
    ncols = min(3, len(rob.axes))
    nrows = math.ceil(len(rob.axes) / ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 3.4 * nrows + 0.6), squeeze=False)
    for ax, (axis, lines) in zip(axs.flat, rob.axes.items(), strict=False):
        for method, points in lines.items():
            _band(ax, [v for v, _, _ in points], [(mean, ci) for _, mean, ci in points],
                  label=method + (" (reference)" if roles[method] == "reference" else ""),
                  **{**_line_style(roles[method]), "color": colors[method]})
        ax.set_xlabel(axis)
        ax.grid(alpha=0.3)
    for ax in axs.flat[len(rob.axes):]:
        ax.set_visible(False)
    for ax in axs[:, 0]:
        ax.set_ylabel(lb.units.get(task, "score"))
    axs[0, 0].legend(fontsize=8)
    fig.suptitle(f"{task} (budget {rob.budget}): mean and 95% CI over seeds across perturbations")
    return _save(fig, path)


@dataclass
class DataEfficiency:
    """A task's main metric against the target budget in one options setting: what
    :func:`plot_data_efficiency` draws."""

    task: str
    options: str
    """Short hash of the task options of this setting."""
    label: str
    """The options that set this setting apart from the task's other data-efficiency settings
    (``'transfer_units=3'``); empty when the task has only one."""
    kind: str
    """The plot's name beside the task's (:func:`task_plot_name`): ``data-efficiency``, suffixed by a
    filesystem-safe form of :attr:`label` when the task has several settings."""
    lines: dict[str, list[tuple[int, float, tuple[float, float] | None]]]
    """method -> [(budget, mean over seeds, 95% t interval or None)] by budget; scratch first."""
    roles: dict[str, str]


def _options_label(vals: Mapping[str, Any], varying: Sequence[str]) -> str:
    return ", ".join(f"{k}={json.dumps(vals.get(k)) if not isinstance(vals.get(k), str) else vals[k]}"
                     for k in varying)


def _slug(label: str) -> str:
    """A filesystem-safe, readable form of ``'a=1, b=x y'``: ``'a_1-b_x_y'``."""
    return "-".join(_safe(part.replace("=", "_")) for part in label.split(", "))


def data_efficiency(lb: Leaderboard, task: str) -> list[DataEfficiency]:
    """The task's data-efficiency curves: per options setting, each method with two or more budgets.

    Only positive budgets count (the axis is logarithmic). With several settings, each plot is
    named after the options that differ between them (or, where those would make a long or
    ambiguous file name, after the options hash), so that a name depends only on the records and
    not on the order they were read in; settings are ordered by those options' values.
    """
    by_setting: dict[str, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for r in lb.rows:
        if r.task == task and r.mean is not None and r.budget > 0:
            by_setting[r.options][r.method].append(r)
    found: dict[str, dict[str, list[Row]]] = {}
    for opts in sorted(by_setting):
        lines = {m: sorted(rs, key=lambda r: r.budget) for m, rs in by_setting[opts].items() if len(rs) > 1}
        if lines:
            found[opts] = dict(sorted(lines.items(), key=lambda kv: kv[1][0].role != "scratch"))
    values = {opts: lb.option_values.get((task, opts), {}) for opts in found}
    names = sorted({k for v in values.values() for k in v})
    varying = [k for k in names if len({json.dumps(v.get(k), sort_keys=True) for v in values.values()}) > 1]
    labels = {opts: _options_label(values[opts], varying) for opts in found} if len(found) > 1 else {}
    slugs = {opts: _slug(label) for opts, label in labels.items()}
    ambiguous = len(set(slugs.values())) < len(slugs) or any(not x or len(x) > 60 for x in slugs.values())
    out = []
    for opts in sorted(found, key=lambda o: ([_sortable(values[o].get(k)) for k in varying], o)):
        lines = found[opts]
        suffix = (opts if ambiguous else slugs[opts]) if len(found) > 1 else ""
        out.append(DataEfficiency(
            task, opts, labels.get(opts, "") or (opts if len(found) > 1 else ""),
            "data-efficiency" + (f"-{suffix}" if suffix else ""),
            {m: [(r.budget, float(r.mean), r.ci) for r in rs if r.mean is not None] for m, rs in lines.items()},
            {m: rs[0].role for m, rs in lines.items()}))
    return out


def _band(ax: Any, x: Sequence[float], points: Sequence[tuple[float, tuple[float, float] | None]], **style: Any
          ) -> None:
    """A mean line with its 95% interval as a shaded band; points without an interval (one seed) pinch it."""
    means = [m for m, _ in points]
    lo = [ci[0] if ci and not math.isnan(ci[0]) else m for m, ci in points]
    hi = [ci[1] if ci and not math.isnan(ci[1]) else m for m, ci in points]
    (line,) = ax.plot(x, means, marker="o", **style)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)


def _line_style(role: str) -> dict[str, Any]:
    """Scratch, the baseline every gain is read against, is a thick black line; references are dashed."""
    return {"linestyle": "--" if role == "reference" else "-", "linewidth": 2.5 if role == "scratch" else 1.5,
            **({"color": "black"} if role == "scratch" else {})}


def plot_data_efficiency(lb: Leaderboard, curve: DataEfficiency, path: Path) -> Path:
    """A PNG of the main metric against the target budget (log axis), one line per method.

    Mean over seeds with its 95% t band (the rows' intervals, from :mod:`bench.stats`);
    reference methods dashed, scratch black. How far a transfer line sits left of scratch's at
    the same height is the data it saves (the tables' 'scratch data to match').
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for method, points in curve.lines.items():
        role = curve.roles[method]
        _band(ax, [b for b, _, _ in points], [(m, ci) for _, m, ci in points],
              label=method + (" (reference)" if role == "reference" else ""), **_line_style(role))
    budgets = sorted({b for points in curve.lines.values() for b, _, _ in points})
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set_xlabel(f"{lb.budget_unit_names.get(curve.task, 'target budget')} (log scale)")
    ax.set_ylabel(lb.units.get(curve.task, "score"))
    ax.set_title(f"{curve.task}: data efficiency" + (f" [{curve.label}]" if curve.label else ""), fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


@dataclass
class Sweep:
    """One task option varied while everything else stayed the same: the rows at each value."""

    task: str
    option: str
    points: dict[tuple[str, str], list[tuple[Any, Row]]]
    """Per (method, rest) — ``rest`` naming the budget and any other option that differs between
    lines — the (value, row) pairs in value order."""


def _sortable(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, json.dumps(v))


def sweeps(lb: Leaderboard, task: str) -> list[Sweep]:
    """The options of ``task`` whose records take two or more values with all other options equal."""
    settings = {opts: vals for (t, opts), vals in lb.option_values.items() if t == task}
    names = sorted({k for vals in settings.values() for k in vals})
    found = []
    for name in names:
        if len({json.dumps(v.get(name), sort_keys=True) for v in settings.values()}) < 2:
            continue
        points: dict[tuple[str, str], list[tuple[Any, Row]]] = defaultdict(list)
        for r in lb.rows:
            if r.task != task or r.mean is None or r.options not in settings:
                continue
            vals = settings[r.options]
            rest = {k: v for k, v in vals.items() if k != name}
            points[(r.method, f"budget {r.budget}" + _rest_label(rest, settings, name))].append((vals.get(name), r))
        points = {k: sorted(v, key=lambda p: _sortable(p[0])) for k, v in points.items() if len(v) > 1}
        if points:
            found.append(Sweep(task, name, points))
    return found


def _rest_label(rest: Mapping[str, Any], settings: Mapping[str, Mapping[str, Any]], swept: str) -> str:
    varying = [k for k in rest if len({json.dumps(v.get(k), sort_keys=True) for v in settings.values()}) > 1]
    return "".join(f", {k}={rest[k]}" for k in varying if k != swept)


def plot_sweep(lb: Leaderboard, sweep: Sweep, path: Path) -> Path:
    """The main metric against a swept option's value: one line per method, mean and 95% t
    band over seeds, one panel per other setting (budget, other options that vary). Numeric values
    go on a linear axis (the distance between values means something, e.g. transferred units),
    others (strings, booleans) on evenly spaced categories."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = sorted({json.dumps(v) for pts in sweep.points.values() for v, _ in pts})
    numeric = all(_sortable(json.loads(v))[0] == 0 or json.loads(v) is None for v in values)  # bools: categories
    if numeric:  # None is an option's "not set" default: no place on a numeric axis
        sweep = Sweep(sweep.task, sweep.option, {k: [(v, r) for v, r in pts if v is not None]
                                                 for k, pts in sweep.points.items()})
    cats = sorted((json.loads(v) for v in values), key=_sortable)
    # One panel per other setting (budget, other varying options): lines of different budgets on
    # one axis would cross and hide the sweep's shape; panels share the y axis to stay comparable.
    panels: dict[str, dict[str, list[tuple[Any, Row]]]] = defaultdict(dict)
    for (method, rest), pts in sweep.points.items():
        shown = [(v, r) for v, r in pts if r.mean is not None]
        if shown:
            panels[rest][method] = shown
    order = sorted(panels, key=lambda rest: (min(r.budget for pts in panels[rest].values() for _, r in pts), rest))
    methods = list(dict.fromkeys(m for rest in order for m in sorted(panels[rest], key=lambda m: m != "scratch")))
    palette = matplotlib.colormaps["tab10"]
    roles = {m: r.role for rest in order for m, pts in panels[rest].items() for _, r in pts[:1]}
    colors = {m: "black" if roles[m] == "scratch" else palette(i % 10) for i, m in enumerate(methods)}
    ncols = 2 if len(order) == 4 else min(3, max(1, len(order)))
    nrows = math.ceil(max(1, len(order)) / ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(4.6 * ncols + (1.9 if ncols == 1 else 0), 3.4 * nrows + 0.7),
                            squeeze=False, sharey=True)
    for ax, rest in zip(axs.flat, order, strict=False):
        for method in methods:
            if method not in panels[rest]:
                continue
            pts = panels[rest][method]
            role = roles[method]
            _band(ax, [v if numeric else cats.index(v) for v, _ in pts], [(float(r.mean or 0.0), r.ci) for _, r in pts],
                  label=method + (" (reference)" if role == "reference" else ""),
                  **{**_line_style(role), "color": colors[method]})
        ticks = sorted({v for pts in panels[rest].values() for v, _ in pts}, key=_sortable)
        if not numeric:
            ax.set_xticks(range(len(cats)), [str(c) for c in cats])
        elif len(ticks) <= 12:
            ax.set_xticks(ticks, [_budget(t) for t in ticks])
        ax.set_xlabel(sweep.option)
        if len(order) > 1:
            ax.set_title(rest, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axs.flat[len(order):]:
        ax.set_visible(False)
    for ax in axs[:, 0]:
        ax.set_ylabel(lb.units.get(sweep.task, "score"))
    fig.suptitle(f"{sweep.task}: {lb.units.get(sweep.task, 'score').split(' (')[0]} against {sweep.option}"
                 + (f" ({order[0]})" if len(order) == 1 else "") + ", mean and 95% CI over seeds", fontsize=10)
    axs[0, 0].legend(fontsize=8)
    return _save(fig, path)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def task_plot_name(task: str, kind: str = "") -> str:
    """Path of a task's plot relative to the results directory; ``kind`` names a plot beside the main one."""
    return "plots/" + task.replace("/", "_") + (f"-{kind}" if kind else "") + ".png"


def _task_plots(lb: Leaderboard, task: str) -> list[tuple[str, str, Callable[[Path], Path | None]]]:
    """(kind, caption, plotter) of every plot a task may have, in the order the Markdown shows them.

    One list for :func:`write_files` and :func:`render`, so a plot and its link cannot disagree on a name.
    """
    curves = data_efficiency(lb, task)
    plots: list[tuple[str, str, Callable[[Path], Path | None]]] = (
        [] if curves else [("", task, lambda p: plot_task(lb, task, p))])
    for de in curves:
        plots.append((de.kind, f"{task} data efficiency" + (f" [{de.label}]" if de.label else ""),
                      functools.partial(plot_data_efficiency, lb, de)))
    plots.append(("robustness", f"{task} robustness", lambda p: plot_robustness(lb, task, p)))
    for sw in sweeps(lb, task):
        plots.append((f"sweep-{_safe(sw.option)}", f"{task} against {sw.option}",
                      functools.partial(plot_sweep, lb, sw)))
    return plots


def write_files(lb: Leaderboard, results_dir: Path) -> list[Path]:
    """Write ``leaderboard.md``, ``leaderboard.png`` and the per-task plots into the results directory.

    Per task, under ``plots/``: its data-efficiency curve (``<task>-data-efficiency.png``,
    :func:`plot_data_efficiency`) where a method ran at two or more budgets, one per options
    setting if several, else its per-method chart (``<task>.png``, :func:`plot_task`); its robustness plot
    (:func:`plot_robustness`) where its breakdown has perturbation axes; and a sweep plot
    (``<task>-sweep-<option>.png``, :func:`plot_sweep`) per option that varies while the others
    stay equal. The Markdown links only the plots written.
    """
    from bench.store import atomic_write

    results_dir = Path(results_dir)
    written = []
    png = plot_normalized(lb, results_dir / "leaderboard.png")
    if png:
        written.append(png)
    for task in dict.fromkeys(r.task for r in lb.rows):
        for kind, _, plotter in _task_plots(lb, task):
            p = plotter(results_dir / task_plot_name(task, kind))
            if p:
                written.append(p)
    plots = {p.relative_to(results_dir).as_posix() for p in written}
    md = results_dir / "leaderboard.md"
    atomic_write(md, render(lb, "md", plot=png.name if png else None, plots=plots))
    written.append(md)
    return written


def to_dict(lb: Leaderboard) -> dict[str, Any]:
    return json.loads(render(lb, "json"))
