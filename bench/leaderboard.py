"""The leaderboard, derived from records alone.

Per task and setting (budget and options): each method's mean over seeds with a 95% bootstrap
interval, its gain over the from-scratch baseline with an interval, a verdict that says
"no significant difference" unless the interval excludes zero, and cost columns. Across tasks:
a normalized score per method, aggregated with the IQM and a stratified bootstrap interval.

Numbers come only from records; task specs, where installed, add published reference results
and the normalization ceiling.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.api import Reference, TaskSpec
from bench.hashing import config_hash
from bench.record import Record
from bench.stats import bootstrap_ci, difference_ci, stratified_iqm_ci

__all__ = ["FORMATS", "Aggregate", "Leaderboard", "Row", "build", "render", "write_files"]

FORMATS = ("table", "md", "csv", "latex", "json")
BETTER, WORSE, NS = "better", "negative transfer", "n.s."


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
    wall_s: float | None = None
    source_s: float | None = None
    """Seconds spent building the shared source artifacts this method starts from (once per seed)."""
    peak_mb: float | None = None
    trainable_params: int | None = None
    total_params: int | None = None


@dataclass
class Aggregate:
    """A method's normalized score across tasks: IQM over runs, stratified bootstrap interval."""

    method: str
    iqm: float
    ci: tuple[float, float]
    tasks: int
    runs: int


@dataclass
class Leaderboard:
    rows: list[Row]
    aggregates: list[Aggregate]
    references: dict[str, list[Reference]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    """Per task: the main metric's name and direction, e.g. 'accuracy (higher is better)'."""
    normalization: str = ""
    problems: list[str] = field(default_factory=list)

    def settings(self) -> list[tuple[str, int, str]]:
        seen: dict[tuple[str, int, str], None] = {}
        for r in self.rows:
            seen.setdefault((r.task, r.budget, r.options), None)
        return list(seen)


def _mean(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def _sign(records: Sequence[Record]) -> float:
    return 1.0 if records[0].higher_is_better else -1.0


def build(
    records: Sequence[Record], specs: Mapping[str, TaskSpec] | None = None, problems: Sequence[str] = ()
) -> Leaderboard:
    """Group records by (task, budget, options, method) and compute every leaderboard number."""
    specs = specs or {}
    groups: dict[tuple[str, int, str], dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        key = (r.task, r.budget, config_hash(r.config.get("options", {}))[:8])
        groups[key][r.method].append(r)
    rows: list[Row] = []
    per_method_scores: dict[str, list[list[float]]] = defaultdict(list)
    units: dict[str, str] = {}
    ceilings_used = False
    for (task, budget, opts), by_method in sorted(groups.items()):
        any_rec = next(iter(by_method.values()))[0]
        sign = _sign([any_rec])
        units[task] = f"{any_rec.metric} ({'higher' if sign > 0 else 'lower'} is better)"
        scratch = [r.score for r in by_method.get("scratch", []) if r.score is not None]
        spec = specs.get(task)
        ceiling_method = spec.reference_method if spec else None
        ceiling = [r.score for r in by_method.get(ceiling_method or "", []) if r.score is not None]
        table_rows = []
        for method, recs in by_method.items():
            ok = [r for r in recs if r.status == "ok"]
            scores = [r.score for r in ok if r.score is not None]
            row = Row(
                task=task, budget=budget, options=opts, method=method, role=recs[0].role,
                seeds=len(scores), failed=len(recs) - len(ok), mean=_mean(scores),
                ci=bootstrap_ci(scores) if len(scores) > 1 else None,
                wall_s=_mean([r.timings.total_s for r in ok]),
                source_s=_mean([sum(a.get("build_s", 0.0) for a in r.artifacts) for r in ok]) if any(
                    r.artifacts for r in ok) else None,
                peak_mb=_mean([r.cost.peak_rss_mb for r in ok if r.cost.peak_rss_mb is not None]),
                trainable_params=ok[0].cost.trainable_params if ok else None,
                total_params=ok[0].cost.total_params if ok else None,
            )
            if scores and scratch and method != "scratch":
                row.gain = sign * (float(np.mean(scores)) - float(np.mean(scratch)))
                lo, hi = difference_ci(scores, scratch)
                if not math.isnan(lo):
                    row.gain_ci = (sign * lo, sign * hi) if sign > 0 else (sign * hi, sign * lo)
                    row.verdict = BETTER if row.gain_ci[0] > 0 else WORSE if row.gain_ci[1] < 0 else NS
                else:
                    row.verdict = "too few seeds"
            if row.role == "transfer" and scores and scratch:
                s0 = float(np.mean(scratch))
                if ceiling and abs(np.mean(ceiling) - s0) > 1e-12:
                    denom = sign * (float(np.mean(ceiling)) - s0)
                    ceilings_used = True
                else:
                    denom = abs(s0) if abs(s0) > 1e-12 else 1.0
                per_method_scores[method].append([sign * (s - s0) / denom for s in scores])
            table_rows.append(row)
        order = {"scratch": 0, "transfer": 1, "reference": 2}
        table_rows.sort(key=lambda r: (order.get(r.role, 3), -(r.gain or 0.0) if r.gain is not None else 0.0))
        rows.extend(table_rows)
    aggregates = []
    for method, per_task in per_method_scores.items():
        point, ci = stratified_iqm_ci(per_task)
        aggregates.append(Aggregate(method, point, ci, len(per_task), sum(len(t) for t in per_task)))
    aggregates.sort(key=lambda a: -a.iqm)
    normalization = (
        "normalized score = (method - scratch) / (ceiling - scratch) where a task names a ceiling method, "
        "else (method - scratch) / |scratch|; 0 = scratch, positive = better. "
        if ceilings_used
        else "normalized score = (method - scratch) / |scratch| per task (0 = scratch, 0.1 = 10% better); "
    ) + "IQM over runs x tasks, 95% stratified bootstrap interval."
    references = {t: list(s.references) for t, s in specs.items() if s.references and t in units}
    return Leaderboard(rows, aggregates, references, units, normalization, list(problems))


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
    return {BETTER: "▲ better", WORSE: "▼ NEGATIVE TRANSFER", NS: "no significant difference"}.get(v, v)


HEADERS = ["method", "role", "seeds", "mean", "95% CI", "gain vs scratch", "gain 95% CI", "verdict",
           "wall s/run", "source s", "peak MB", "trainable"]


def _cells(r: Row) -> list[str]:
    seeds = f"{r.seeds}" + (f" (+{r.failed} failed)" if r.failed else "")
    role = {"reference": "reference (not ranked)", "scratch": "baseline"}.get(r.role, r.role)
    return [r.method, role, seeds, _f(r.mean), _ci(r.ci), _gain(r.gain), _ci(r.gain_ci),
            _verdict_mark(r.verdict) if r.verdict else "", _f(r.wall_s, 1), _f(r.source_s, 1),
            _f(r.peak_mb, 0), _params(r.trainable_params)]


def _setting_title(lb: Leaderboard, task: str, budget: int, opts: str) -> str:
    multi = len({o for t, b, o in lb.settings() if t == task and b == budget}) > 1
    return f"{task} — budget {budget}" + (f", options {opts}" if multi else "") + f" — {lb.units.get(task, '')}"


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
    return [[a.method, _f(a.iqm), _ci(a.ci), str(a.tasks), str(a.runs)] for a in lb.aggregates]


AGG_HEADERS = ["method", "normalized IQM", "95% CI", "tasks", "runs"]


def _references(lb: Leaderboard, task: str) -> list[str]:
    out = []
    ours = {r.method: r.mean for r in lb.rows if r.task == task}
    for ref in lb.references.get(task, []):
        mine = ours.get(ref.method)
        diff = f", ours {_f(mine)} ({mine - ref.value:+.3f})" if mine is not None and ref.breakdown is None else ""
        what = f" [{ref.breakdown}]" if ref.breakdown else ""
        proto = f"; protocol: {ref.protocol}" if ref.protocol else ""
        out.append(f"published {ref.method}{what}: {ref.value:g} ({ref.citation}){diff}{proto}")
    return out


def render(lb: Leaderboard, fmt: str = "table", plot: str | None = None) -> str:
    """The leaderboard as text in one of :data:`FORMATS`."""
    if fmt == "json":
        return json.dumps(
            {"rows": [asdict(r) for r in lb.rows], "aggregates": [asdict(a) for a in lb.aggregates],
             "normalization": lb.normalization, "problems": lb.problems}, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        fields = list(Row.__dataclass_fields__)
        w = csv.writer(buf)
        w.writerow(fields)
        for r in lb.rows:
            w.writerow(["" if getattr(r, f) is None else getattr(r, f) for f in fields])
        return buf.getvalue()
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
        parts.append(table(HEADERS, [_cells(r) for r in rows]))
        parts += [f"- {line}" if md else f"  {line}" for line in _references(lb, task)]
        if plot and md and (task, budget, opts) == next(s for s in lb.settings() if s[0] == task):
            parts.append(f"![{task}]({task_plot_name(task)})")
    if lb.aggregates:
        parts.append("## Across tasks" if md else "\nAcross tasks")
        parts.append(table(AGG_HEADERS, _aggregate_rows(lb)))
        parts.append(lb.normalization)
        if plot and md:
            parts.append(f"\n![normalized scores]({plot})")
    parts.append(
        ("" if md else "\n") + "Intervals: 95% percentile bootstrap over seeds. 'better' / 'negative transfer': "
        "the gain's interval excludes zero; otherwise no significant difference."
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
    lo = [a.iqm - a.ci[0] if not math.isnan(a.ci[0]) else 0 for a in aggs]
    hi = [a.ci[1] - a.iqm if not math.isnan(a.ci[1]) else 0 for a in aggs]
    colors = ["tab:green" if a.ci[0] > 0 else "tab:red" if a.ci[1] < 0 else "tab:gray" for a in aggs]
    ax.barh(y, [a.iqm for a in aggs], xerr=[lo, hi], color=colors, capsize=4, alpha=0.8)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_yticks(y, [f"{a.method} ({a.tasks} task{'s' if a.tasks > 1 else ''})" for a in aggs])
    ax.set_xlabel("normalized score vs scratch (IQM, 95% CI); 0 = scratch")
    ax.set_title("transferbench: gain over the from-scratch baseline")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_task(lb: Leaderboard, task: str, path: Path) -> Path | None:
    """A PNG of one task: each method's mean and 95% interval against the target budget.

    With several budgets this is the data-efficiency curve (one line per method); with one it is
    a dot-and-whisker chart. Options variants of a task are drawn as separate lines.
    """
    rows = [r for r in lb.rows if r.task == task and r.mean is not None]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = sorted({r.options for r in rows})
    budgets = sorted({r.budget for r in rows})
    fig, ax = plt.subplots(figsize=(6.5, 4))
    lines: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        lines.setdefault((r.method, r.options), []).append(r)
    ordered = sorted(lines.items(), key=lambda kv: (kv[1][0].role != "scratch", kv[0]))
    for i, ((method, opts), rs) in enumerate(ordered):
        rs.sort(key=lambda r: r.budget)
        x = [i] if len(budgets) == 1 else [r.budget for r in rs]
        y = [r.mean for r in rs]
        err = [[r.mean - r.ci[0] if r.ci else 0 for r in rs], [r.ci[1] - r.mean if r.ci else 0 for r in rs]]
        label = method + (f" [{opts}]" if len(variants) > 1 else "") + (" (reference)" if rs[0].role == "reference"
                                                                         else "")
        style = {"linestyle": "--" if rs[0].role == "reference" else "-", "linewidth": 2.5 if method == "scratch"
                 else 1.5, "color": "black" if method == "scratch" else None}
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label, **style)
    if len(budgets) > 1:
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.set_xlabel("target budget")
    else:
        ax.set_xticks(range(len(ordered)), [m for (m, _), _ in ordered], rotation=20)
        ax.set_xlim(-0.5, len(ordered) - 0.5)
        ax.set_xlabel(f"method (target budget {budgets[0]})")
    ax.set_ylabel(lb.units.get(task, "score"))
    ax.set_title(f"{task}: mean and 95% CI over seeds")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def task_plot_name(task: str) -> str:
    return "plots/" + task.replace("/", "_") + ".png"


def write_files(lb: Leaderboard, results_dir: Path) -> list[Path]:
    """Write ``leaderboard.md``, ``leaderboard.png`` and one plot per task into the results directory."""
    from bench.store import atomic_write

    results_dir = Path(results_dir)
    written = []
    png = plot_normalized(lb, results_dir / "leaderboard.png")
    if png:
        written.append(png)
    for task in dict.fromkeys(r.task for r in lb.rows):
        p = plot_task(lb, task, results_dir / task_plot_name(task))
        if p:
            written.append(p)
    md = results_dir / "leaderboard.md"
    atomic_write(md, render(lb, "md", plot=png.name if png else None))
    written.append(md)
    return written


def to_dict(lb: Leaderboard) -> dict[str, Any]:
    return json.loads(render(lb, "json"))
