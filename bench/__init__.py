"""transferbench: a benchmark harness for transfer learning.

Does transfer help on this problem, by how much, at what cost, and when does it hurt? The
harness registers transfer tasks, runs transfer methods against a from-scratch baseline trained
on the same target budget, and turns runs into citable records and a leaderboard with intervals.

The public API for task authors is :mod:`bench.api`.
"""

from bench.api import MethodSpec, Reference, Resources, RunContext, RunResult, Task, TaskSpec

__all__ = ["MethodSpec", "Reference", "Resources", "RunContext", "RunResult", "Task", "TaskSpec"]
