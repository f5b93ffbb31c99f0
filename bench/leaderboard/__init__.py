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

One module per job: :mod:`~bench.leaderboard.model` (the types), :mod:`~bench.leaderboard.build`
(records to numbers), :mod:`~bench.leaderboard.efficiency` (data-efficiency arithmetic),
:mod:`~bench.leaderboard.render` (text formats), :mod:`~bench.leaderboard.series` and
:mod:`~bench.leaderboard.figures` (what the plots draw, and drawing it), :mod:`~bench.leaderboard.files`
(``leaderboard.md`` and the figures in a results directory).

Two figures answer the questions a single budget cannot: the data-efficiency curve (the main
metric against the target budget, :func:`plot_data_efficiency`) with the factor of data transfer
saves in the tables (:func:`data_saved`), and the score against a swept option
(:func:`plot_sweep`), e.g. layer transferability against the number of transferred units.
"""

from __future__ import annotations

from bench.leaderboard.build import build, per_target
from bench.leaderboard.efficiency import budget_to_reach, data_saved
from bench.leaderboard.figures import (
    plot_data_efficiency,
    plot_normalized,
    plot_robustness,
    plot_sweep,
    plot_task,
    task_plot_name,
)
from bench.leaderboard.files import write_files
from bench.leaderboard.model import (
    BETTER,
    NEGATIVE,
    NS,
    WORSE,
    Aggregate,
    Comparison,
    Leaderboard,
    PerTarget,
    Row,
    Setting,
    TargetCell,
)
from bench.leaderboard.render import FORMATS, render, to_dict
from bench.leaderboard.series import DataEfficiency, Robustness, Sweep, data_efficiency, robustness, sweeps

__all__ = ["BETTER", "FORMATS", "NEGATIVE", "NS", "WORSE", "Aggregate", "Comparison", "DataEfficiency", "Leaderboard",
           "PerTarget", "Robustness", "Row", "Setting", "Sweep", "TargetCell", "budget_to_reach", "build",
           "data_efficiency", "data_saved", "per_target", "plot_data_efficiency", "plot_normalized",
           "plot_robustness", "plot_sweep", "plot_task", "render", "robustness", "sweeps", "task_plot_name",
           "to_dict", "write_files"]
