"""The leaderboard as LaTeX tables to paste into a paper.

One floating ``table`` per setting, captioned with what a reader needs to interpret it without
the text around it: the task, the target budget and its unit, the setting's options where the task
has several, the metric and its direction, the seeds, the interval and the test behind the
verdicts. Optional tables: the task's secondary metrics, the cost of each method, and the
across-task aggregate. The rules are booktabs' (``\\usepackage{booktabs}``, said in the output's
first lines); everything else is plain LaTeX that pdflatex compiles.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from bench.leaderboard.model import LEVEL, Leaderboard, Row, Setting
from bench.stats import ALPHA

TABLES = ("main", "secondary", "cost", "across")
"""The kinds of table :func:`latex` can write; ``main`` and ``across`` by default."""

_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "—": "---", "–": "--",
            "−": "-", "±": r"$\pm$", "×": r"$\times$"}
_SPECIAL = re.compile("|".join(re.escape(k) for k in _ESCAPES))


def tex(text: str) -> str:
    """``text`` with every character LaTeX treats specially escaped, in one pass."""
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group(0)], text)


def _num(x: float | None, digits: int = 3) -> str:
    """A number with a typeset minus sign (a hyphen is shorter and reads as a dash in a table)."""
    return "--" if x is None or x != x else f"{x:.{digits}f}".replace("-", "$-$", 1)


def _signed(x: float | None) -> str:
    return "--" if x is None or x != x else f"{x:+.3f}".replace("-", "$-$", 1)


def _interval(ci: tuple[float, float] | None, digits: int = 3) -> str:
    return "--" if ci is None else f"[{_num(ci[0], digits)}, {_num(ci[1], digits)}]"


def _label(*parts: str) -> str:
    return "tab:" + re.sub(r"[^A-Za-z0-9]+", "-", "-".join(parts)).strip("-").lower()


def _tabular(columns: Sequence[str], align: str, rows: Sequence[Sequence[str]]) -> list[str]:
    out = [f"\\begin{{tabular}}{{{align}}}", "\\toprule", " & ".join(columns) + r" \\", "\\midrule"]
    out += [" & ".join(r) + r" \\" for r in rows]
    return [*out, "\\bottomrule", "\\end{tabular}"]


def _float(caption: str, label: str, body: list[str]) -> list[str]:
    return ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}", f"\\label{{{label}}}", *body,
            "\\end{table}", ""]


def _seeds(rows: Sequence[Row]) -> str:
    counts = sorted({r.seeds for r in rows})
    return f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}--{counts[-1]}"


def _setting_words(lb: Leaderboard, s: Setting) -> str:
    unit = lb.budget_unit_names.get(s.task, "")
    label = lb.label(s)
    return f"{tex(s.task)}, target budget {s.budget}{' ' + tex(unit) if unit else ''}" + (
        f", {tex(label)}" if label else "")


def _verdict(r: Row) -> str:
    return tex(r.verdict) if r.verdict else ("baseline" if r.role == "scratch" else
                                             "reference" if r.role == "reference" else "")


def _main(lb: Leaderboard, s: Setting, rows: Sequence[Row]) -> list[str]:
    metric = lb.units.get(s.task, "score")
    test = "paired t-test over seeds" if lb.paired.get(s.task) else "Welch's t-test"
    caption = (f"{_setting_words(lb, s)}: {tex(metric)}. Mean over {_seeds(rows)} seeds with its {tex(LEVEL)} "
               f"Student-t interval; gain over the from-scratch baseline with its {tex(LEVEL)} interval and a "
               f"verdict from a {test} at {100 * ALPHA:g}\\%. Reference rows are not ranked.")
    body = [[tex(r.method), str(r.seeds), _num(r.mean), _interval(r.ci), _signed(r.gain), _interval(r.gain_ci),
             _verdict(r)] for r in rows]
    columns = ["Method", "Seeds", "Mean", f"{tex(LEVEL)} CI", "Gain", f"Gain {tex(LEVEL)} CI", "Verdict"]
    return _float(caption, _label(s.task, f"b{s.budget}", s.options_hash), _tabular(columns, "lrrrrrl", body))


def _secondary(lb: Leaderboard, s: Setting, rows: Sequence[Row]) -> list[str]:
    names = lb.columns.get(s.task, [])
    if not names:
        return []
    caption = (f"{_setting_words(lb, s)}: secondary metrics, mean over {_seeds(rows)} seeds with its "
               f"{tex(LEVEL)} Student-t interval.")
    body = [[tex(r.method), *(f"{_num(r.columns.get(n))} {_interval(r.column_cis.get(n))}" for n in names)]
            for r in rows]
    return _float(caption, _label(s.task, f"b{s.budget}", s.options_hash, "secondary"),
                  _tabular(["Method", *(tex(n) for n in names)], "l" + "r" * len(names), body))


def _params(n: int | None) -> str:
    if n is None:
        return "--"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def _cost(lb: Leaderboard, s: Setting, rows: Sequence[Row]) -> list[str]:
    caption = (f"{_setting_words(lb, s)}: cost per run, mean over seeds (wall seconds, seconds building the "
               "shared source model, peak memory, parameters trained and in all, target samples per second).")
    body = [[tex(r.method), _num(r.wall_s, 1), _num(r.source_s, 1), _num(r.peak_mb, 0), _params(r.trainable_params),
             _params(r.total_params), _num(r.throughput, 0)] for r in rows]
    columns = ["Method", "Wall s", "Source s", "Peak MB", "Trained", "Params", "Samples/s"]
    return _float(caption, _label(s.task, f"b{s.budget}", s.options_hash, "cost"), _tabular(columns, "lrrrrrr", body))


def _across(lb: Leaderboard) -> list[str]:
    if not lb.aggregates:
        return []
    caption = ("Across tasks: interquartile mean of each method's gain relative to the from-scratch baseline "
               "((method $-$ scratch) / $|$scratch$|$, 0 = scratch) over all runs of all tasks, and the probability "
               f"that a run of the method beats a run of scratch, with {tex(LEVEL)} stratified bootstrap intervals.")
    body = [[tex(a.method), _num(a.iqm), _interval(a.ci), _num(a.p_improve), _interval(a.p_improve_ci), str(a.tasks),
             str(a.runs)] for a in lb.aggregates]
    columns = ["Method", "IQM", f"{tex(LEVEL)} CI", "P(improve)", f"{tex(LEVEL)} CI", "Settings", "Runs"]
    return _float(caption, "tab:across-tasks", _tabular(columns, "lrrrrrr", body))


def latex(lb: Leaderboard, tables: Collection[str] = ("main", "across")) -> str:
    """The tables named in ``tables`` (see :data:`TABLES`), per setting, then across tasks."""
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown LaTeX table {unknown[0]!r}; accepted: {', '.join(TABLES)}")
    out = ["% transferbench leaderboard: LaTeX tables. They use booktabs' rules: \\usepackage{booktabs}", ""]
    for s in lb.settings():
        rows = lb.rows_of(s)
        for kind, part in (("main", _main), ("secondary", _secondary), ("cost", _cost)):
            if kind in tables:
                out += part(lb, s, rows)
    if "across" in tables:
        out += _across(lb)
    return "\n".join(out)
