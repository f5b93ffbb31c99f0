"""Records to a :class:`~bench.leaderboard.model.Leaderboard`: every number the tables show.

Per setting, each method's mean over seeds with a Student-t interval, its gain over scratch with
an interval and verdict (paired by seed where the task says its seeds pair, else Welch's; see
:mod:`bench.stats`), cost columns, head-to-head comparisons and per-target tables; across tasks,
the IQM of each method's gain relative to scratch and its probability of improving on scratch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bench.api import TaskSpec
from bench.hashing import config_hash
from bench.leaderboard.efficiency import budget_to_reach, fill_data_saved, final_mean, first_reach
from bench.leaderboard.model import (
    GRID_POINT,
    LEVEL,
    NEGATIVE,
    Aggregate,
    Comparison,
    Leaderboard,
    PerTarget,
    Row,
    TargetCell,
    mean_or_none,
)
from bench.record import Record
from bench.stats import (
    TOO_FEW,
    Difference,
    TaskRuns,
    across_tasks,
    benjamini_hochberg,
    compare,
    mean_ci,
)
from bench.stats import WORSE as _WORSE


def _sign(records: Sequence[Record]) -> float:
    return 1.0 if records[0].higher_is_better else -1.0


def hardware_label(record: Record) -> str:
    """The machine a run's cost was measured on, as its record says: CPU model and cores, GPU."""
    hw = record.provenance.hardware
    cpu = f"{hw.get('cpu') or 'unknown CPU'}" + (f" x{hw['cpu_cores']}" if hw.get("cpu_cores") else "")
    return cpu + (f", {hw['gpu']}" if hw.get("gpu") else "")


def _cost(records: Sequence[Record]) -> dict[str, float | None]:
    """The cost columns of :class:`Row`, means over ``records`` (runs on one machine)."""
    return {
        "wall_s": mean_or_none([r.timings.total_s for r in records]),
        "source_s": mean_or_none([sum(a.get("build_s", 0.0) for a in r.artifacts) for r in records])
        if any(r.artifacts for r in records) else None,
        "peak_mb": mean_or_none([r.cost.peak_rss_mb for r in records if r.cost.peak_rss_mb is not None]),
        "throughput": mean_or_none([r.cost.throughput for r in records if r.cost.throughput]),
    }


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
        scratch_final = final_mean(by_method.get("scratch", []), curve) if curve else None
        breakdowns[(task, budget, opts)] = {}
        table_rows = []
        for method, recs in by_method.items():
            ok = [r for r in recs if r.status == "ok"]
            scores = [r.score for r in ok if r.score is not None]
            machines: dict[str, list[Record]] = defaultdict(list)
            for r in ok:
                machines[hardware_label(r)].append(r)
            main_machine = max(machines, key=lambda m: len(machines[m])) if machines else ""
            cost = _cost(machines.get(main_machine, []))
            row = Row(
                task=task, budget=budget, options_hash=opts, method=method, role=recs[0].role,
                seeds=len(scores), failed=len(recs) - len(ok), mean=mean_or_none(scores),
                ci=mean_ci(scores),
                wall_s=cost["wall_s"], source_s=cost["source_s"], peak_mb=cost["peak_mb"],
                throughput=cost["throughput"],
                hardware={m: len(rs) for m, rs in machines.items()},
                hardware_cost={m: _cost(rs) for m, rs in machines.items()} if len(machines) > 1 else {},
                trainable_params=ok[0].cost.trainable_params if ok else None,
                total_params=ok[0].cost.total_params if ok else None,
                columns={name: mean_or_none([r.metrics[name] for r in ok if name in r.metrics]) for name in shown},
                column_cis={name: mean_ci([r.metrics[name] for r in ok if name in r.metrics]) for name in shown},
                files=_first_files(ok),
            )
            if curve and scratch_final is not None:
                crossed = budget_to_reach(
                    [first_reach(r.curves[curve], scratch_final, sign) for r in ok if r.curves.get(curve)], budget)
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
    fill_data_saved(rows, {task: _sign([next(iter(g.values()))[0]]) for (task, _, _), g in groups.items()})
    aggregates = []
    for method, runs in runs_of.items():
        (point, ci), (improve, improve_ci) = across_tasks(runs)
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
