"""The leaderboard's files in a results directory: ``leaderboard.md`` and its figures."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from bench.leaderboard.figures import plot_normalized, task_plot_name, task_plots
from bench.leaderboard.model import Leaderboard
from bench.leaderboard.render import render


def write_files(lb: Leaderboard, results_dir: Path, changed: Collection[str] | None = None) -> list[Path]:
    """Write ``leaderboard.md``, ``leaderboard.png`` and the per-task plots into the results directory.

    Per task, under ``plots/``: its data-efficiency curve (``<task>-data-efficiency.png``,
    :func:`plot_data_efficiency`) where a method ran at two or more budgets, one per options
    setting if several, else its per-method chart (``<task>.png``, :func:`plot_task`); its robustness plot
    (:func:`plot_robustness`) where its breakdown has perturbation axes; and a sweep plot
    (``<task>-sweep-<option>.png``, :func:`plot_sweep`) per option that varies while the others
    stay equal. The Markdown links only the plots there are.

    ``changed`` names the tasks whose records changed since the files were last written (None:
    all): the other tasks' plots are kept as they are where they exist, since drawing them again
    would give the same pictures, and most of a large study's time here was spent doing so.
    """
    from bench.store import atomic_write

    results_dir = Path(results_dir)
    written = []
    png = plot_normalized(lb, results_dir / "leaderboard.png")
    if png:
        written.append(png)
    kept = []
    for task in dict.fromkeys(r.task for r in lb.rows):
        for kind, _, plotter in task_plots(lb, task):
            path = results_dir / task_plot_name(task, kind)
            if changed is not None and task not in changed and path.exists():
                kept.append(path)
                continue
            p = plotter(path)
            if p:
                written.append(p)
    plots = {p.relative_to(results_dir).as_posix() for p in [*written, *kept]}
    md = results_dir / "leaderboard.md"
    atomic_write(md, render(lb, "md", plot=png.name if png else None, plots=plots))
    written.append(md)
    return written
