"""Statistics for few-seed benchmarks: bootstrap intervals and the interquartile mean.

With three to ten seeds per (task, method), a mean alone ranks noise. Every number the
leaderboard shows comes with a percentile-bootstrap interval, and a difference is called
significant only when its interval excludes zero. Across tasks, scores are aggregated with the
interquartile mean (IQM) and stratified bootstrap intervals, following Agarwal et al. (2021),
"Deep Reinforcement Learning at the Edge of the Statistical Precipice". The resampling uses a
fixed generator, so the same records always give the same leaderboard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["DEFAULT_RESAMPLES", "bootstrap_ci", "difference_ci", "iqm", "stratified_iqm_ci"]

DEFAULT_RESAMPLES = 5000
Interval = tuple[float, float]


def _percentiles(stats: np.ndarray, confidence: float) -> Interval:
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_ci(
    values: Sequence[float], confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> Interval:
    """Percentile-bootstrap interval of the mean; (nan, nan) for fewer than two values."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), (resamples, len(x)))].mean(axis=1)
    return _percentiles(means, confidence)


def difference_ci(
    a: Sequence[float],
    b: Sequence[float],
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Interval of mean(a) - mean(b), resampling each group on its own (runs are not paired)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    mx = x[rng.integers(0, len(x), (resamples, len(x)))].mean(axis=1)
    my = y[rng.integers(0, len(y), (resamples, len(y)))].mean(axis=1)
    return _percentiles(mx - my, confidence)


def _trimmed_mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean after cutting int(n / 4) values from each end (as ``scipy.stats.trim_mean(x, 0.25)``)."""
    n = x.shape[axis]
    cut = int(0.25 * n)
    return np.sort(x, axis=axis).take(range(cut, n - cut), axis=axis).mean(axis=axis)


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50%, robust to an outlier seed or task."""
    return float(_trimmed_mean(np.asarray(values, dtype=float)))


def stratified_iqm_ci(
    per_task: Sequence[Sequence[float]],
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    statistic: Callable[[np.ndarray], float] = iqm,
) -> tuple[float, Interval]:
    """IQM over all runs of all tasks, with runs resampled within each task (stratified)."""
    groups = [np.asarray(g, dtype=float) for g in per_task if len(g)]
    pooled = np.concatenate(groups)
    point = statistic(pooled)
    if len(pooled) < 2:
        return point, (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    samples = np.concatenate(
        [g[rng.integers(0, len(g), (resamples, len(g)))] for g in groups], axis=1
    )
    stats = _trimmed_mean(samples, axis=1) if statistic is iqm else np.apply_along_axis(statistic, 1, samples)
    return point, _percentiles(np.asarray(stats), confidence)
