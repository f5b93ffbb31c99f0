"""Statistics for few-seed benchmarks: intervals, tests and verdicts that hold at 2-10 seeds.

Users run three to ten seeds per (task, method). At those counts the percentile bootstrap of a
mean ignores the uncertainty of the standard deviation itself and under-covers (70% for a nominal
95% at three seeds), so one "significant" finding in five is noise (Colas, Sigaud & Oudeyer 2018,
"How Many Random Seeds?"; Colas et al. 2019, "A Hitchhiker's Guide to Statistical Comparisons of
Reinforcement Learning Algorithms"). Here instead:

- the interval of a mean is Student's t interval;
- a difference between two methods is tested with the paired t-test over the seeds both ran
  where the task says its seeds pair (every method of a seed sees the same target data and
  evaluation episodes, so the shared noise cancels), else with Welch's t-test;
- a verdict needs at least three seeds (three pairs) per method: two give a point estimate and
  a wide interval, one no interval;
- a table of many verdicts (one per method and target) controls its false discovery rate with
  the Benjamini-Hochberg procedure;
- where a difference is not significant, :func:`seeds_for_power` says how many seeds per method
  would detect the observed effect with 80% power (if it were the true one).

Across tasks (Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the Statistical
Precipice"): the interquartile mean of gains relative to scratch, and the probability that a
method's run beats scratch's, each with a stratified bootstrap interval that resamples scratch's
runs too. Resampling uses a fixed generator, so the same records always give the same numbers.
``tests/bench/test_stats.py`` checks every one of these claims by simulation with known truth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = [
    "ALPHA",
    "BETTER",
    "DEFAULT_RESAMPLES",
    "MIN_SEEDS_FOR_VERDICT",
    "NS",
    "POWER",
    "SEEDS_CAP",
    "TOO_FEW",
    "WORSE",
    "Difference",
    "TaskRuns",
    "across_tasks",
    "benjamini_hochberg",
    "compare",
    "iqm",
    "mean_ci",
    "normalized_iqm_ci",
    "paired_t",
    "probability_of_improvement",
    "seeds_for_power",
    "t_interval",
    "welch_t",
]

ALPHA = 0.05
"""The level of every test; intervals are at 1 - ALPHA."""
POWER = 0.8
MIN_SEEDS_FOR_VERDICT = 3
SEEDS_CAP = 50
""":func:`seeds_for_power` answers '>SEEDS_CAP' beyond this: no benchmark reruns more."""
DEFAULT_RESAMPLES = 5000
BETTER, WORSE, NS, TOO_FEW = "better", "worse", "n.s.", "too few seeds"
Interval = tuple[float, float]


def t_interval(x: np.ndarray, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of Student's t interval along the last axis (at least two values)."""
    n = x.shape[-1]
    half = _t_quantile(1 - alpha / 2, n - 1) * x.std(axis=-1, ddof=1) / np.sqrt(n)
    return x.mean(axis=-1), half


def mean_ci(values: Sequence[float], alpha: float = ALPHA) -> Interval | None:
    """Student's t interval of the mean at level 1 - alpha; None for fewer than two values."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return None
    m, half = t_interval(x, alpha)
    return float(m - half), float(m + half)


def paired_t(d: np.ndarray, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean difference, half-width of its interval, two-sided p) of per-seed differences along the last axis."""
    n = d.shape[-1]
    est, sd = d.mean(axis=-1), d.std(axis=-1, ddof=1)
    return _t_test(est, sd / np.sqrt(n), np.full_like(est, n - 1.0), alpha)


def welch_t(x: np.ndarray, y: np.ndarray, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean(x) - mean(y), half-width of its interval, two-sided p) with Welch's t-test along the last axis."""
    nx, ny = x.shape[-1], y.shape[-1]
    vx, vy = x.var(axis=-1, ddof=1) / nx, y.var(axis=-1, ddof=1) / ny
    se = np.sqrt(vx + vy)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(se > 0, (vx + vy) ** 2 / (vx**2 / (nx - 1) + vy**2 / (ny - 1)), nx + ny - 2.0)
    return _t_test(x.mean(axis=-1) - y.mean(axis=-1), se, df, alpha)


def _t_test(est: np.ndarray, se: np.ndarray, df: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray]:
    from scipy import special  # here, not at import: the CLI starts without scipy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(se > 0, np.abs(est) / se, np.where(est == 0, 0.0, np.inf))
    return est, _t_quantile(1 - alpha / 2, df) * se, 2 * special.stdtr(df, -t)


def _t_quantile(p: float, df: Any) -> Any:
    """Student's t quantile, through scipy.special's ufunc (what ``scipy.stats.t.ppf`` computes,
    without its per-call argument checking, which dominated a large leaderboard's build)."""
    from scipy import special  # here, not at import: the CLI starts without scipy

    return special.stdtrit(df, p)


@dataclass(frozen=True)
class Difference:
    """``a`` minus ``b``, signed so that positive means ``a`` is better, with its test."""

    estimate: float
    ci: Interval | None
    p: float | None
    test: str
    """'paired t' or 'Welch t'."""
    n: int
    """Seeds per method the test used (pairs for the paired test, the smaller group for Welch)."""
    verdict: str
    """:data:`BETTER`, :data:`WORSE`, :data:`NS` or :data:`TOO_FEW`."""
    spreads: tuple[float, ...] = ()
    """The standard deviation(s) behind the test: of the per-seed differences (paired), or of each group."""
    alpha: float = ALPHA

    @property
    def seeds_needed(self) -> tuple[int | None, bool] | None:
        """Where not significant: seeds per method that would detect the observed effect with
        :data:`POWER` at this test's level (see :func:`seeds_for_power`); None elsewhere."""
        if self.verdict != NS or not self.spreads:
            return None
        return seeds_for_power(self.estimate, self.spreads, alpha=self.alpha)

    def with_verdict(self, significant: bool) -> Difference:
        """The same difference under another decision (a multiple-comparison procedure's)."""
        if self.verdict == TOO_FEW:
            return self
        return replace(self, verdict=(BETTER if self.estimate > 0 else WORSE) if significant else NS)


def compare(a: Mapping[int, float], b: Mapping[int, float], *, paired: bool, higher_is_better: bool = True,
            alpha: float = ALPHA) -> Difference:
    """Test mean(a) - mean(b) over seeds (seed -> score), paired by seed or with Welch's t-test.

    Paired uses the seeds both ran (a seed only one method ran adds nothing to a paired
    difference); its interval is that of the mean per-seed difference.
    """
    sign = 1.0 if higher_is_better else -1.0
    test = "paired t" if paired else "Welch t"
    if paired:
        common = sorted(set(a) & set(b))
        d = sign * np.array([a[s] - b[s] for s in common], dtype=float)
        n = len(d)
        if n < 2:
            return Difference(float(d.mean()) if n else float("nan"), None, None, test, n, TOO_FEW)
        est, half, p = paired_t(d, alpha)
        spreads: tuple[float, ...] = (float(d.std(ddof=1)),)
    else:
        x, y = (sign * np.asarray(list(v.values()), dtype=float) for v in (a, b))
        n = min(len(x), len(y))
        if n < 2:
            return Difference(float(x.mean() - y.mean()) if n else float("nan"), None, None, test, n, TOO_FEW)
        est, half, p = welch_t(x, y, alpha)
        spreads = (float(x.std(ddof=1)), float(y.std(ddof=1)))
    e, h = float(est), float(half)
    verdict = TOO_FEW if n < MIN_SEEDS_FOR_VERDICT else (BETTER if e > 0 else WORSE) if p < alpha else NS
    return Difference(e, (e - h, e + h), float(p), test, n, verdict, spreads, alpha)


def seeds_for_power(effect: float, spreads: Sequence[float], *, alpha: float = ALPHA, power: float = POWER,
                    cap: int = SEEDS_CAP) -> tuple[int | None, bool]:
    """Seeds per method at which a two-sided t-test at ``alpha`` detects ``effect`` with ``power``.

    ``spreads`` is one standard deviation (of the per-seed differences: the paired test) or two
    (of each method's scores: Welch's test with as many seeds for both). The power of each n is
    exact under normal scores, from the noncentral t distribution (Colas et al. 2018 do the same
    with a normal approximation). Returns (n, False), or (cap, True) when even ``cap`` seeds fall
    short, and (None, False) when the spread is zero (nothing to estimate).
    """
    n = np.arange(MIN_SEEDS_FOR_VERDICT, cap + 1, dtype=float)
    if len(spreads) == 1:
        sd = spreads[0]
        if not sd > 0:
            return None, False
        df, se = n - 1, sd / np.sqrt(n)
    else:
        va, vb = (s**2 for s in spreads)
        if not va + vb > 0:
            return None, False
        se = np.sqrt((va + vb) / n)
        df = (va + vb) ** 2 / ((va**2 + vb**2) / (n - 1))
    delta = abs(effect) / se
    crit = _t_quantile(1 - alpha / 2, df)
    # P(T > crit) + P(T < -crit); the lower tail as sf(crit, df, -delta), since cdf(-crit, df, delta) is NaN
    # for a large delta.
    reached = _nct_sf(crit, df, delta) + _nct_sf(crit, df, -delta) >= power
    if not reached.any():
        return cap, True
    return int(n[np.argmax(reached)]), False


def _nct_sf(x: Any, df: Any, nc: Any) -> np.ndarray:
    """P(T > x) for noncentral t with ``df`` degrees of freedom and noncentrality ``nc``.

    scipy.special's series (a fast ufunc) where it converges; scipy.stats' implementation, whose
    import alone took longer than the rest of a 10,000-record leaderboard, only where it does not
    (NaN for a large ``nc``).
    """
    from scipy import special  # here, not at import: the CLI starts without scipy

    x, df, nc = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, df, nc)))
    sf = np.atleast_1d(1.0 - special.nctdtr(df, nc, x))
    bad = np.isnan(sf)
    if bad.any():
        from scipy import stats as sps

        sf[bad] = sps.nct.sf(np.atleast_1d(x)[bad], np.atleast_1d(df)[bad], np.atleast_1d(nc)[bad])
    return sf.reshape(x.shape)


def benjamini_hochberg(pvalues: Sequence[float | None], alpha: float = ALPHA) -> list[bool]:
    """Which hypotheses to reject so that the expected share of false rejections is at most ``alpha``.

    Benjamini & Hochberg (1995): the adjusted p of the i-th smallest of m is the least of
    ``m / j * p_(j)`` over j >= i (what scipy's ``false_discovery_control(method="bh")`` returns). Where no hypothesis
    is false (a table with no real difference) this is the chance of any rejection at all, also at
    most ``alpha``; where many are (transfer helps in most languages) it keeps the power that a
    family-wise correction such as Holm's gives up at three seeds. None (a test that could not be
    made) is never rejected and does not count in the family.
    """
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    reject = [False] * len(pvalues)
    if idx:
        p = np.asarray([pvalues[i] for i in idx], dtype=float)
        order = np.argsort(p)
        scaled = p[order] * len(p) / np.arange(1, len(p) + 1)
        adjusted = np.empty_like(p)
        adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        for i, q in zip(idx, adjusted, strict=True):
            reject[i] = bool(q <= alpha)
    return reject


def _trimmed_mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean after cutting int(n / 4) values from each end (as ``scipy.stats.trim_mean(x, 0.25)``)."""
    n = x.shape[axis]
    cut = int(0.25 * n)
    if cut == 0:
        return x.mean(axis=axis)
    # Partitioning at both cut points puts exactly the middle order statistics between them, in
    # linear time: a full sort of every bootstrap resample dominated the across-task intervals.
    return np.partition(x, (cut, n - cut - 1), axis=axis).take(range(cut, n - cut), axis=axis).mean(axis=axis)


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50%, robust to an outlier seed or task."""
    return float(_trimmed_mean(np.asarray(values, dtype=float)))


@dataclass(frozen=True)
class TaskRuns:
    """One task's scores of a method and of scratch in one setting, and which direction is better."""

    method: Sequence[float]
    scratch: Sequence[float]
    higher_is_better: bool = True


def _expanded(x: np.ndarray) -> np.ndarray:
    """The values (along the last axis) spread about their mean by sqrt(n / (n - 1)), to resample from.

    A bootstrap of n values under-states their variance by (n - 1) / n; at three seeds per task
    the plain stratified percentile interval covers about 90% for a nominal 95%, the expanded one
    95% (Hesterberg 2015, "What Teachers Should Know About the Bootstrap"; checked in the tests).
    """
    n = x.shape[-1]
    if n < 2:
        return x
    mean = x.mean(axis=-1, keepdims=True)
    return mean + np.sqrt(n / (n - 1)) * (x - mean)


Groups = list[np.ndarray]
"""Runs of tasks with as many runs each, stacked: one (resamples, tasks, runs) array per run count."""


def _grouped(values: Sequence[np.ndarray]) -> tuple[dict[int, list[int]], Groups]:
    """Tasks' run values grouped by their number of runs, as (1, tasks, runs) arrays."""
    by_n: dict[int, list[int]] = defaultdict(list)
    for i, v in enumerate(values):
        by_n[len(v)].append(i)
    return by_n, [np.stack([values[i] for i in idx])[None] for idx in by_n.values()]


def _resampled(groups: Groups, resamples: int, rng: np.random.Generator) -> Groups:
    """Each task's runs, expanded (see :func:`_expanded`), resampled with replacement within the task."""
    out = []
    for g in groups:
        x = _expanded(g[0])
        tasks, n = x.shape
        offsets = (np.arange(tasks) * n)[None, :, None]
        out.append(x.ravel()[offsets + rng.integers(0, n, (resamples, tasks, n))])
    return out


Statistic = Callable[[Groups, Groups, np.ndarray], np.ndarray]
BLOCK = 250
"""Resamples drawn and reduced at a time: memory stays at a few tens of MB whatever the number of
runs (50,000 records at once would take gigabytes), and the arrays stay near the processor's cache."""


def _stratified(tasks: Sequence[TaskRuns], statistics: Sequence[Statistic], alpha: float, resamples: int,
                seed: int) -> list[tuple[float, Interval | None]]:
    """Each ``statistic(methods, scratches, pairs)`` on the data, with the percentile interval of
    its value on the same stratified resamples (within each task) of the method's runs and of
    scratch's, both expanded. Tasks are grouped by run counts so that resampling and the
    statistics are a few array operations however many tasks (settings) there are; ``pairs[k]``
    holds, for the k-th task of the method's groups, its (group, position) in the scratch groups."""
    used = [t for t in tasks if len(t.method) and len(t.scratch)]
    if not used:
        return [(float("nan"), None) for _ in statistics]
    signs = [1.0 if t.higher_is_better else -1.0 for t in used]
    by_m, ms = _grouped([s * np.asarray(t.method, dtype=float) for s, t in zip(signs, used, strict=True)])
    by_s, ss = _grouped([s * np.asarray(t.scratch, dtype=float) for s, t in zip(signs, used, strict=True)])
    where = {task: (g, j) for g, idx in enumerate(by_s.values()) for j, task in enumerate(idx)}
    pairs = np.array([where[task] for idx in by_m.values() for task in idx], dtype=int)
    points = [float(statistic(ms, ss, pairs)[0]) for statistic in statistics]
    if sum(len(t.method) for t in used) < 2:
        return [(point, None) for point in points]
    rng = np.random.default_rng(seed)
    boots: list[list[np.ndarray]] = [[] for _ in statistics]
    for start in range(0, resamples, BLOCK):
        n = min(BLOCK, resamples - start)
        rm, rs = _resampled(ms, n, rng), _resampled(ss, n, rng)
        for boot, statistic in zip(boots, statistics, strict=True):
            boot.append(statistic(rm, rs, pairs))
    out: list[tuple[float, Interval | None]] = []
    for point, boot in zip(points, boots, strict=True):
        lo, hi = np.quantile(np.concatenate(boot), [alpha / 2, 1 - alpha / 2])
        out.append((point, (float(lo), float(hi))))
    return out


def _relative_gains(methods: Groups, scratches: Groups, pairs: np.ndarray) -> np.ndarray:
    s_means = [s.mean(axis=2) for s in scratches]  # (resamples, tasks) per scratch group
    cols, k = [], 0
    for m in methods:
        t = m.shape[1]
        s0 = np.stack([s_means[g][:, j] for g, j in pairs[k:k + t]], axis=1)[:, :, None]
        k += t
        cols.append(((m - s0) / np.maximum(np.abs(s0), 1e-12)).reshape(m.shape[0], -1))
    return _trimmed_mean(np.concatenate(cols, axis=1), axis=1)


def normalized_iqm_ci(tasks: Sequence[TaskRuns], alpha: float = ALPHA, resamples: int = DEFAULT_RESAMPLES,
                      seed: int = 0) -> tuple[float, Interval | None]:
    """IQM over all runs of all tasks of the gain relative to scratch, (method - scratch) / |scratch|.

    Scratch's mean is resampled with the method's runs, so its own uncertainty widens the interval.
    """
    return _stratified(tasks, [_relative_gains], alpha, resamples, seed)[0]


CHUNK = 32
"""Tasks compared at once in :func:`_improvement`: all pairs of runs of a chunk of tasks over every
resample still fit in a processor cache, where a whole large leaderboard's would not."""


def _improvement(methods: Groups, scratches: Groups, pairs: np.ndarray) -> np.ndarray:
    """Per task the share of (method run, scratch run) pairs the method wins (ties half), averaged
    over tasks."""
    total = np.zeros(methods[0].shape[0])
    k = 0
    for m in methods:
        t = m.shape[1]
        for g in np.unique(pairs[k:k + t, 0]):
            sel = np.flatnonzero(pairs[k:k + t, 0] == g)
            for c in range(0, len(sel), CHUNK):
                part = sel[c:c + CHUNK]
                s = scratches[g][:, pairs[k + part, 1]][:, :, None, :]
                mm = m[:, part][:, :, :, None]
                wins = np.count_nonzero(mm > s, axis=(2, 3)) + 0.5 * np.count_nonzero(mm == s, axis=(2, 3))
                total += wins.sum(axis=1) / (mm.shape[2] * s.shape[3])
        k += t
    return total / k


def probability_of_improvement(tasks: Sequence[TaskRuns], alpha: float = ALPHA, resamples: int = DEFAULT_RESAMPLES,
                               seed: int = 0) -> tuple[float, Interval | None]:
    """P(a run of the method beats a run of scratch), averaged over tasks (rliable's definition).

    Per task it is the Mann-Whitney U statistic over all pairs of runs divided by their number (a
    tie counts one half); 0.5 means no better than scratch.
    """
    return _stratified(tasks, [_improvement], alpha, resamples, seed)[0]


def across_tasks(tasks: Sequence[TaskRuns], alpha: float = ALPHA, resamples: int = DEFAULT_RESAMPLES,
                 seed: int = 0) -> tuple[tuple[float, Interval | None], tuple[float, Interval | None]]:
    """:func:`normalized_iqm_ci` and :func:`probability_of_improvement` from one set of resamples
    (the same numbers as the two calls, at half the cost: resampling is most of it)."""
    iqm, improve = _stratified(tasks, [_relative_gains, _improvement], alpha, resamples, seed)
    return iqm, improve
