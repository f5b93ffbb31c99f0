"""Sim-to-real scores derived from returns: reality gap, jumpstart, learning-curve area, tails.

Pure numpy, so that they are tested exactly and reused by any family with returns and curves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["area_under_curve", "cvar", "grid_summary", "steps_to_reach"]


def area_under_curve(curve: Sequence[tuple[float, float]]) -> float:
    """Mean return over the curve's step range (trapezoids), i.e. the area divided by the range.

    Dividing by the range keeps it in return units: a method that is good early scores higher
    than one that gets there at the end, at the same final return.
    """
    if not curve:
        return float("nan")
    x = np.array([p[0] for p in curve], dtype=float)
    y = np.array([p[1] for p in curve], dtype=float)
    if len(x) == 1 or x[-1] == x[0]:
        return float(y.mean())
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def steps_to_reach(curve: Sequence[tuple[float, float]], threshold: float) -> float | None:
    """The first step at which the curve reaches ``threshold``; None if it never does."""
    for x, y in curve:
        if y >= threshold:
            return float(x)
    return None


def cvar(values: Sequence[float] | np.ndarray, alpha: float = 0.1) -> float:
    """Lower-tail mean: the mean of the worst ``alpha`` share of values (at least one value)."""
    v = np.sort(np.asarray(values, dtype=float))
    k = max(1, int(np.ceil(alpha * len(v))))
    return float(v[:k].mean())


def grid_summary(returns: Sequence[float], alpha: float = 0.1) -> dict[str, float]:
    """Mean, worst case and CVaR over the returns of a perturbation grid."""
    r = np.asarray(returns, dtype=float)
    return {"grid_mean": float(r.mean()), "grid_worst": float(r.min()), f"grid_cvar{int(alpha * 100)}": cvar(r, alpha)}
