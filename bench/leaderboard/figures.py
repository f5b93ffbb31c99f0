"""The leaderboard's PNG figures (matplotlib, imported only when drawing): the across-task
normalized scores, per task its method chart or data-efficiency curves, its robustness plot and
a plot per swept option; and the one list of a task's plots that files and links share."""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.leaderboard.model import LEVEL, Leaderboard, Row, budget_text, sort_key
from bench.leaderboard.series import DataEfficiency, Sweep, data_efficiency, robustness, safe_name, sweeps


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
    :func:`task_plots`), so this is the chart of a task run at a single budget.
    """
    rows = sorted((r for r in lb.rows if r.task == task and r.mean is not None),
                  key=lambda r: (r.role != "scratch", r.method, r.budget, r.options_hash))
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = sorted({r.budget for r in rows})
    variants = sorted({r.options_hash for r in rows})
    fig, ax = plt.subplots(figsize=(6.5, 4))
    labels = []
    for i, r in enumerate(rows):
        assert r.mean is not None
        err = [[r.mean - r.ci[0]], [r.ci[1] - r.mean]] if r.ci and not math.isnan(r.ci[0]) else None
        style = _line_style(r.role)
        ax.errorbar([i], [r.mean], yerr=err, marker="o", capsize=3, color=style.get("color"),
                    linestyle="none", mfc="none" if r.role == "reference" else None)
        labels.append(r.method + (f" @{budget_text(r.budget)}" if len(budgets) > 1 else "")
                      + (f" [{lb.label(r.setting) or r.options_hash}]" if len(variants) > 1 else "")
                      + (" (reference)" if r.role == "reference" else ""))
    ax.set_xticks(range(len(rows)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(rows) - 0.5)
    unit = lb.budget_unit_names.get(task, "target budget")
    ax.set_xlabel("method" + (f" ({unit} {budget_text(budgets[0])})" if len(budgets) == 1 else ""))
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

    roles = {r.method: r.role for r in lb.rows_of((task, rob.budget, rob.options_hash))}
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


def plot_sweep(lb: Leaderboard, sweep: Sweep, path: Path) -> Path:
    """The main metric against a swept option's value: one line per method, mean and 95% t
    band over seeds, one panel per other setting (budget, other options that vary). Numeric values
    go on a linear axis (the distance between values means something, e.g. transferred units),
    others (strings, booleans) on evenly spaced categories."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = sorted({json.dumps(v) for pts in sweep.points.values() for v, _ in pts})
    numeric = all(sort_key(json.loads(v))[0] == 0 or json.loads(v) is None for v in values)  # bools: categories
    if numeric:  # None is an option's "not set" default: no place on a numeric axis
        sweep = Sweep(sweep.task, sweep.option, {k: [(v, r) for v, r in pts if v is not None]
                                                 for k, pts in sweep.points.items()})
    cats = sorted((json.loads(v) for v in values), key=sort_key)
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
        ticks = sorted({v for pts in panels[rest].values() for v, _ in pts}, key=sort_key)
        if not numeric:
            ax.set_xticks(range(len(cats)), [str(c) for c in cats])
        elif len(ticks) <= 12:
            ax.set_xticks(ticks, [budget_text(t) for t in ticks])
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


def task_plot_name(task: str, kind: str = "") -> str:
    """Path of a task's plot relative to the results directory; ``kind`` names a plot beside the main one."""
    return "plots/" + task.replace("/", "_") + (f"-{kind}" if kind else "") + ".png"


def task_plots(lb: Leaderboard, task: str) -> list[tuple[str, str, Callable[[Path], Path | None]]]:
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
        plots.append((f"sweep-{safe_name(sw.option)}", f"{task} against {sw.option}",
                      functools.partial(plot_sweep, lb, sw)))
    return plots
