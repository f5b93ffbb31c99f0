"""A :class:`~bench.leaderboard.model.Leaderboard` as text: a terminal table, Markdown, CSV,
LaTeX or JSON. Nothing here computes a statistic; every number comes from the leaderboard."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from bench.api import Reference
from bench.leaderboard.figures import task_plot_name, task_plots
from bench.leaderboard.latex import latex
from bench.leaderboard.model import (
    BETTER,
    LEVEL,
    NEGATIVE,
    NS,
    ROLLOUT,
    WORSE,
    Leaderboard,
    Row,
    TargetCell,
    budget_text,
)
from bench.stats import ALPHA, POWER, TOO_FEW

FORMATS = ("table", "md", "csv", "latex", "json")


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


def _to_scratch(r: Row) -> str:
    if r.budget_to_scratch is None:
        return "—"
    return (">" if r.budget_to_scratch_censored else "") + budget_text(r.budget_to_scratch)


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
    label = lb.label((task, budget, opts))
    if not label and len([s for s in lb.settings() if s[:2] == (task, budget)]) < 2:
        return f"{task} — budget {budget} — {lb.units.get(task, '')}"
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
    order = [r.method for r in lb.rows_of(setting) if r.method in pt.cells]
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
    ours = {r.method: r for r in lb.rows_of(setting)}
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
            for c in lb.comparisons if (c.task, c.budget, c.options_hash) == (task, budget, opts)]


def _hardware_lines(rows: Sequence[Row]) -> list[str]:
    """Where a table's runs come from several machines, say so: its cost columns would otherwise
    compare one machine's seconds with another's."""
    machines = {m for r in rows for m in r.hardware}
    if len(machines) < 2:
        return []
    lines = [f"cost columns: runs on {len(machines)} machines; each row shows the machine with most of its runs"]
    for r in rows:
        if r.hardware_cost:
            parts = [f"{m} ({r.hardware[m]} runs): {_f(c['wall_s'], 1)} s/run" for m, c in r.hardware_cost.items()]
            lines.append(f"cost of {r.method} per machine: " + "; ".join(parts))
        elif r.hardware:
            lines.append(f"{r.method} ran on {next(iter(r.hardware))}")
    return lines


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


_INTERVALS = ("ci", "gain_ci")
_NESTED = ("columns", "column_cis", "files", "hardware", "hardware_cost", *_INTERVALS)


def flat_rows(lb: Leaderboard) -> tuple[list[str], list[dict[str, Any]]]:
    """The rows as flat records, every value in a column of its own (the CSV format and
    ``Results.leaderboard_frame()``): the setting by name (``setting``: the options that set it
    apart; ``options_hash`` its id), each interval as two numbers (``ci_low``, ``ci_high``), each
    secondary metric with its interval, each file label (``files.<label>``), and each task option's
    value. A metric or option whose name a row field already has gets a ``metrics.`` or
    ``options.`` prefix. Returns (columns in order, rows)."""
    fields = [f for f in Row.__dataclass_fields__ if f not in _NESTED]
    fixed = [*fields[:3], "setting", *fields[3:], *(f"{i}_{end}" for i in _INTERVALS for end in ("low", "high"))]
    taken = set(fixed) | set(Row.__dataclass_fields__)
    metrics = {n: f"metrics.{n}" if n in taken else n for r in lb.rows for n in r.columns}
    options = {k: f"options.{k}" if k in taken or k in metrics.values() else k
               for r in lb.rows for k in lb.option_values.get((r.task, r.options_hash), {})}
    labels = list(dict.fromkeys(label for r in lb.rows for label in r.files))
    header = fixed + [c for col in metrics.values() for c in (col, f"{col}_ci_low", f"{col}_ci_high")]
    header += sorted(options.values()) + [f"files.{label}" for label in labels]
    rows = []
    for r in lb.rows:
        line: dict[str, Any] = {f: getattr(r, f) for f in fields}
        line["setting"] = lb.label(r.setting)
        for i in _INTERVALS:
            line[f"{i}_low"], line[f"{i}_high"] = getattr(r, i) or (None, None)
        for n, v in r.columns.items():
            line[metrics[n]] = v
            line[f"{metrics[n]}_ci_low"], line[f"{metrics[n]}_ci_high"] = r.column_cis.get(n) or (None, None)
        for k, v in lb.option_values.get((r.task, r.options_hash), {}).items():
            line[options[k]] = v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v)
        line.update({f"files.{label}": p for label, p in r.files.items()})
        rows.append(line)
    return header, rows


def _csv(lb: Leaderboard) -> str:
    """One line per row of :func:`flat_rows`, for a spreadsheet."""
    header, rows = flat_rows(lb)
    buf = io.StringIO()
    w = csv.DictWriter(buf, header, restval="")
    w.writeheader()
    for line in rows:
        w.writerow({k: "" if v is None else v for k, v in line.items()})
    return buf.getvalue()


def _json(lb: Leaderboard) -> str:
    """Every row with its setting by name and its options' values beside the hash."""
    rows = [{**asdict(r), "setting": lb.label(r.setting), "options": lb.option_values.get((r.task, r.options_hash), {})}
            for r in lb.rows]
    return json.dumps(
        {"rows": rows, "aggregates": [asdict(a) for a in lb.aggregates],
         "comparisons": [asdict(c) for c in lb.comparisons],
         "per_target": [asdict(t) for t in lb.per_target.values()],
         "normalization": lb.normalization, "problems": lb.problems}, indent=2)


def render(lb: Leaderboard, fmt: str = "table", plot: str | None = None, plots: Collection[str] = (),
           latex_tables: Collection[str] = ("main", "across")) -> str:
    """The leaderboard as text in one of :data:`FORMATS`.

    Markdown links images by paths relative to the results directory: ``plot`` is the normalized
    score plot, ``plots`` the per-task plots that exist (:func:`write_files` passes what it wrote),
    so that no link points at a plot that was skipped. ``latex_tables`` picks the LaTeX tables
    (:data:`bench.leaderboard.latex.TABLES`).
    """
    if fmt == "json":
        return _json(lb)
    if fmt == "csv":
        return _csv(lb)
    if fmt == "latex":
        return latex(lb, latex_tables)
    if fmt not in ("table", "md"):
        raise ValueError(f"unknown format {fmt!r}; accepted: {', '.join(FORMATS)}")
    md = fmt == "md"
    table = _md_table if md else _text_table
    parts = ["# transferbench leaderboard" if md else "transferbench leaderboard"]
    if not lb.rows:
        parts.append("No records yet: run `python -m bench run` first.")
    for task, budget, opts in lb.settings():
        rows = lb.rows_of((task, budget, opts))
        title = _setting_title(lb, task, budget, opts)
        parts.append(f"## {title}" if md else f"\n{title}")
        parts.append(table(_headers(lb, task), [_cells(lb, r) for r in rows]))
        parts += [f"- {line}" if md else f"  {line}" for line in [
            _test_line(lb, task), *_comparisons(lb, task, budget, opts), *_references(lb, (task, budget, opts)),
            *_hardware_lines(rows)]]
        parts += _per_target_parts(lb, (task, budget, opts), table)
        if md and (task, budget, opts) == next(s for s in lb.settings() if s[0] == task):
            for kind, caption, _ in task_plots(lb, task):
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


def to_dict(lb: Leaderboard) -> dict[str, Any]:
    return json.loads(render(lb, "json"))
