"""What the figures draw, computed from a leaderboard: data-efficiency curves, sweeps over one
option, and the main metric along each perturbation axis."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.leaderboard.model import GRID_POINT, Leaderboard, Row, options_label, sort_key, varying_options
from bench.stats import mean_ci


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
    options_hash: str
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
    methods = [r.method for r in lb.rows_of(setting) if grids.get(r.method)]
    if not methods:
        return None
    axes: dict[str, dict[str, list[tuple[float, float, tuple[float, float] | None]]]] = {}
    for axis in dict.fromkeys(a for m in methods for a in grids[m]):
        axes[axis] = {
            m: [(v, float(np.mean(vals)), mean_ci(vals)) for v, vals in sorted(grids[m][axis].items())]
            for m in methods if axis in grids[m]
        }
    return Robustness(task, setting[1], setting[2], axes)


@dataclass
class DataEfficiency:
    """A task's main metric against the target budget in one options setting: what
    :func:`plot_data_efficiency` draws."""

    task: str
    options_hash: str
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


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _slug(label: str) -> str:
    """A filesystem-safe, readable form of ``'a=1, b=x y'``: ``'a_1-b_x_y'``."""
    return "-".join(safe_name(part.replace("=", "_")) for part in label.split(", "))


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
            by_setting[r.options_hash][r.method].append(r)
    found: dict[str, dict[str, list[Row]]] = {}
    for opts in sorted(by_setting):
        lines = {m: sorted(rs, key=lambda r: r.budget) for m, rs in by_setting[opts].items() if len(rs) > 1}
        if lines:
            found[opts] = dict(sorted(lines.items(), key=lambda kv: kv[1][0].role != "scratch"))
    values = {opts: lb.option_values.get((task, opts), {}) for opts in found}
    varying = varying_options(values.values())
    labels = {opts: options_label(values[opts], varying) for opts in found} if len(found) > 1 else {}
    slugs = {opts: _slug(label) for opts, label in labels.items()}
    ambiguous = len(set(slugs.values())) < len(slugs) or any(not x or len(x) > 60 for x in slugs.values())
    out = []
    for opts in sorted(found, key=lambda o: ([sort_key(values[o].get(k)) for k in varying], o)):
        lines = found[opts]
        suffix = (opts if ambiguous else slugs[opts]) if len(found) > 1 else ""
        out.append(DataEfficiency(
            task, opts, labels.get(opts, "") or (opts if len(found) > 1 else ""),
            "data-efficiency" + (f"-{suffix}" if suffix else ""),
            {m: [(r.budget, float(r.mean), r.ci) for r in rs if r.mean is not None] for m, rs in lines.items()},
            {m: rs[0].role for m, rs in lines.items()}))
    return out


@dataclass
class Sweep:
    """One task option varied while everything else stayed the same: the rows at each value."""

    task: str
    option: str
    points: dict[tuple[str, str], list[tuple[Any, Row]]]
    """Per (method, rest) — ``rest`` naming the budget and any other option that differs between
    lines — the (value, row) pairs in value order."""


def sweeps(lb: Leaderboard, task: str) -> list[Sweep]:
    """The options of ``task`` whose records take two or more values with all other options equal."""
    settings = {opts: vals for (t, opts), vals in lb.option_values.items() if t == task}
    varying = varying_options(settings.values())
    found = []
    for name in varying:
        others = [k for k in varying if k != name]
        points: dict[tuple[str, str], list[tuple[Any, Row]]] = defaultdict(list)
        for r in lb.rows:
            if r.task != task or r.mean is None or r.options_hash not in settings:
                continue
            vals = settings[r.options_hash]
            rest = "".join(f", {k}={vals.get(k)}" for k in others if k in vals)
            points[(r.method, f"budget {r.budget}{rest}")].append((vals.get(name), r))
        points = {k: sorted(v, key=lambda p: sort_key(p[0])) for k, v in points.items() if len(v) > 1}
        if points:
            found.append(Sweep(task, name, points))
    return found
