"""transferbench: a benchmark harness for transfer learning.

Does transfer help on this problem, by how much, at what cost, and when does it hurt? The
harness registers transfer tasks, runs transfer methods against a from-scratch baseline trained
on the same target budget, and turns runs into citable records and a leaderboard with intervals.

From Python: ``bench.run(...)`` runs a grid with the settings of ``python -m bench run`` and
``bench.load(results_dir)`` reads a results directory; both return :class:`bench.session.Results`
(records, leaderboard, and each as a pandas DataFrame). The public API for task authors is
:mod:`bench.api`.
"""

from typing import TYPE_CHECKING, Any

from bench.api import MethodSpec, Reference, Resources, RunContext, RunResult, Task, TaskSpec

if TYPE_CHECKING:
    from bench.session import Results, load, run

__all__ = ["MethodSpec", "Reference", "Resources", "Results", "RunContext", "RunResult", "Task", "TaskSpec", "load",
           "run"]

_SESSION = ("Results", "load", "run")
"""Imported on first use: a plugin importing :mod:`bench.api` must not pay for the runner and the leaderboard."""


def __getattr__(name: str) -> Any:
    if name in _SESSION:
        from bench import session

        return getattr(session, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
