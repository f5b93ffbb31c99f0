"""Data-efficiency arithmetic: the budget by which a method reaches a score, and the factor of
target data transfer saves, read off learning curves and scratch's scores at several budgets."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from bench.leaderboard.model import Row, mean_or_none
from bench.record import Record


def final_mean(records: Sequence[Record], curve: str) -> float | None:
    """Mean over ok seeds of the last point (largest x) of a learning curve: scratch's full-budget level."""
    finals = [max(r.curves[curve], key=lambda p: p[0])[1] for r in records if r.status == "ok" and r.curves.get(curve)]
    return mean_or_none(finals)


def first_reach(curve: Sequence[tuple[float, float]], target: float, sign: float) -> float | None:
    """The smallest x whose y is at least as good as ``target``; None if no point is.

    The tolerance keeps a seed whose final score equals a mean of identical finals from missing it
    by float rounding.
    """
    tol = 1e-9 * max(1.0, abs(target))
    return next((x for x, y in sorted(curve, key=lambda p: p[0]) if sign * (y - target) >= -tol), None)


def budget_to_reach(crossings: Sequence[float | None], budget: float) -> tuple[float, bool] | None:
    """Median over seeds of the budget at which each seed first reaches a score; None for no seeds.

    Seeds that never reach it (None) are censored at the budget, so an ordinary median would
    invent a number; this is the Kaplan-Meier median for that censoring: the smallest budget by
    which at least half the seeds have reached the score (the lower median when none is censored,
    which is also a budget some seed was actually evaluated at). Returns ``(value, censored)``;
    censored, with value ``budget``, means more than half the seeds never reach it within it.
    """
    if not crossings:
        return None
    reached = sorted(x for x in crossings if x is not None)
    need = math.ceil(len(crossings) / 2)
    if len(reached) < need:
        return float(budget), True
    return float(reached[need - 1]), False


def data_saved(scratch: Sequence[tuple[float, float]], score: float, budget: float,
               sign: float = 1.0) -> tuple[float, str] | None:
    """The factor of target data transfer saves: scratch's budget to reach ``score``, over ``budget``.

    ``scratch`` holds (budget, mean score) pairs at two or more budgets. Scratch's curve is made
    monotone by its running best (more data never counts as hurting: a dip is seed noise, and an
    inverse would not exist without it), and the budget at which it reaches ``score`` is
    interpolated linearly in log budget, because scores grow roughly with the log of the data and
    budgets are spaced geometrically. Beyond scratch's best the factor is a lower bound (``'>'``:
    largest budget / ``budget``); below its score at the smallest budget it is an upper bound
    (``'<'``). ``sign`` is -1 where lower scores are better. Budgets of zero have no place on a log
    scale and are left out. Returns ``(factor, bound)``; None with fewer than two positive budgets
    or a non-positive ``budget``. For example, scratch at (1, 0.5), (10, 0.7), (100, 0.8) and a
    score of 0.75 at budget 1 give ``(10 ** 1.5, '')``: 31.6x, halfway between 10 and 100 in log budget.
    """
    pts = sorted((float(b), sign * float(m)) for b, m in scratch if b > 0)
    if len(pts) < 2 or budget <= 0:
        return None
    best, env = -math.inf, []
    for b, m in pts:
        best = max(best, m)
        env.append((b, best))
    s = sign * score
    if s > env[-1][1]:
        return env[-1][0] / budget, ">"
    if s < env[0][1]:
        return env[0][0] / budget, "<"
    for (b0, m0), (b1, m1) in zip(env, env[1:], strict=False):
        if m1 >= s:
            if s <= m0:
                return b0 / budget, ""
            t = (s - m0) / (m1 - m0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0))) / budget, ""
    return env[0][0] / budget, ""


def fill_data_saved(rows: Sequence[Row], signs: Mapping[str, float]) -> None:
    """Set :attr:`Row.data_saved` on every non-scratch row whose task and options have scratch at
    two or more budgets."""
    curves: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if r.method == "scratch" and r.mean is not None:
            curves[(r.task, r.options_hash)].append((r.budget, r.mean))
    for r in rows:
        curve = curves.get((r.task, r.options_hash), [])
        if r.method == "scratch" or r.mean is None or len(curve) < 2:
            continue
        found = data_saved(curve, r.mean, r.budget, signs.get(r.task, 1.0))
        if found:
            r.data_saved, r.data_saved_bound = found
