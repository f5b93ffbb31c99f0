"""The statistics, proven by simulation with known truth at the seed counts users run.

Every claim the leaderboard's legend makes is checked here on normal scores of known mean: the
interval of a mean covers the truth 93-97% of the time, a test of a zero gain calls a verdict at
most 6% of the time (5% test), a null per-target table calls one at most 7% of the time and a
mixed one keeps its false discovery rate at 5% (Benjamini-Hochberg), "seeds for 80%" gives 80%
power, and the cross-task intervals cover their truth. ``python -m pytest tests/bench/test_stats.py -s``
prints each measured figure.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from bench.stats import (
    ALPHA,
    BETTER,
    NS,
    TOO_FEW,
    WORSE,
    TaskRuns,
    benjamini_hochberg,
    compare,
    iqm,
    mean_ci,
    normalized_iqm_ci,
    paired_t,
    probability_of_improvement,
    seeds_for_power,
    t_interval,
    welch_t,
)

SIMS = 4000
SEEDS = (3, 5, 10)


def report(what: str, value: float) -> None:
    print(f"\n  {what}: {value:.3f}", end="")


# --- exactness against scipy ----------------------------------------------------------------------


def test_the_tests_are_scipys():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=4), rng.normal(0.5, 2.0, size=6)
    d = compare(dict(enumerate(x)), dict(enumerate(y)), paired=False)
    assert d.test == "Welch t" and d.p == pytest.approx(sps.ttest_ind(x, y, equal_var=False).pvalue)
    d = compare(dict(enumerate(x)), dict(enumerate(y[:4])), paired=True)
    assert d.test == "paired t" and d.p == pytest.approx(sps.ttest_rel(x, y[:4]).pvalue)
    lo, hi = mean_ci(x)
    assert (lo, hi) == pytest.approx(sps.t.interval(0.95, 3, loc=x.mean(), scale=sps.sem(x)))


def test_paired_uses_the_seeds_both_ran_and_the_sign_follows_the_direction():
    a, b = {0: 1.0, 1: 2.0, 2: 3.0, 7: 100.0}, {0: 0.5, 1: 1.4, 2: 2.6, 9: -50.0}
    d = compare(a, b, paired=True)
    assert d.n == 3 and d.estimate == pytest.approx(0.5)
    assert compare(a, b, paired=True, higher_is_better=False).estimate == pytest.approx(-0.5)


def test_two_seeds_give_an_interval_but_no_verdict_and_one_seed_no_interval():
    two = compare({0: 0.9, 1: 0.91}, {0: 0.1, 1: 0.12}, paired=True)
    assert two.verdict == TOO_FEW and two.ci is not None and two.ci[0] < two.estimate < two.ci[1]
    one = compare({0: 0.9}, {0: 0.1}, paired=True)
    assert one.verdict == TOO_FEW and one.ci is None and one.estimate == pytest.approx(0.8)
    assert mean_ci([0.5]) is None


# --- calibration by simulation ----------------------------------------------------------------------


@pytest.mark.parametrize("n", SEEDS)
def test_the_interval_of_a_mean_covers_the_truth_93_to_97_percent(n):
    x = np.random.default_rng(n).normal(0.7, 0.05, size=(SIMS, n))
    mean, half = t_interval(x)
    covered = float(np.mean(np.abs(mean - 0.7) <= half))
    report(f"t interval of the mean, {n} seeds, covers the truth", covered)
    assert 0.93 <= covered <= 0.97


@pytest.mark.parametrize("n", SEEDS)
def test_a_zero_gain_gets_a_verdict_at_most_6_percent_of_the_time(n):
    """Welch's test on independent seeds; the paired test where the seed's luck is shared."""
    rng = np.random.default_rng(100 + n)
    x, y = rng.normal(0.7, 0.05, size=(2, SIMS, n))
    welch = float(np.mean(welch_t(x, y)[2] < ALPHA))
    shared = rng.normal(0, 0.1, size=(SIMS, n))  # one seed's data and episodes, the same for both methods
    paired = float(np.mean(paired_t((x + shared) - (y + shared))[2] < ALPHA))
    report(f"false verdicts at {n} seeds, Welch", welch)
    report(f"false verdicts at {n} seeds, paired", paired)
    assert welch <= 0.06 and paired <= 0.06


def test_pairing_detects_a_gain_that_the_seeds_shared_luck_hides_from_welch():
    rng = np.random.default_rng(7)
    n, gain = 5, 0.03
    shared = rng.normal(0, 0.1, size=(SIMS, n))
    a = 0.7 + gain + shared + rng.normal(0, 0.01, size=(SIMS, n))
    b = 0.7 + shared + rng.normal(0, 0.01, size=(SIMS, n))
    paired_power = float(np.mean(paired_t(a - b)[2] < ALPHA))
    welch_power = float(np.mean(welch_t(a, b)[2] < ALPHA))
    report("power on a shared-luck task at 5 seeds, paired", paired_power)
    report("power on a shared-luck task at 5 seeds, Welch", welch_power)
    assert paired_power > 0.9 and welch_power < 0.15


def _table_pvalues(rng: np.random.Generator, sims: int, tests: int, effects: np.ndarray) -> np.ndarray:
    """p-values of paired tests at 3 seeds for ``sims`` tables of ``tests`` cells with these true gains."""
    scratch = rng.normal(0.5, 0.05, size=(sims, tests, 3))
    shared = rng.normal(0, 0.05, size=(sims, 1, 3))
    method = rng.normal(0.5, 0.05, size=(sims, tests, 3)) + effects[None, :, None]
    return paired_t((method + shared) - (scratch + shared))[2]


@pytest.mark.parametrize(("targets", "methods"), [(6, 5), (15, 3)])
def test_a_null_per_target_table_gets_any_verdict_at_most_7_percent_of_the_time(targets, methods):
    """CLDRNames-like (6 targets x 5 methods) and XNLI-like (15 languages x 3 methods) tables of 3 seeds."""
    p = _table_pvalues(np.random.default_rng(targets), 2000, targets * methods, np.zeros(targets * methods))
    uncorrected = float(np.mean((p < ALPHA).any(axis=1)))
    corrected = float(np.mean([any(benjamini_hochberg(list(row))) for row in p]))
    report(f"null {targets}x{methods} table with any verdict, uncorrected", uncorrected)
    report(f"null {targets}x{methods} table with any verdict, Benjamini-Hochberg", corrected)
    assert uncorrected > 0.5 and corrected <= 0.07


def test_a_mixed_per_target_table_keeps_its_false_discovery_rate_at_5_percent():
    """Half the cells with a real gain (transfer helps in some languages): few ▲ are false, most real ones found."""
    effects = np.r_[np.full(15, 0.3), np.zeros(15)]
    p = _table_pvalues(np.random.default_rng(30), 2000, 30, effects)
    rejected = np.array([benjamini_hochberg(list(row)) for row in p])
    false = rejected[:, 15:].sum(axis=1)
    fdr = float(np.mean(false / np.maximum(rejected.sum(axis=1), 1)))
    found = float(rejected[:, :15].mean())
    report("mixed 30-cell table at 3 seeds: false discovery rate", fdr)
    report("mixed 30-cell table at 3 seeds: real gains found", found)
    assert fdr <= 0.06 and found > 0.5


def test_benjamini_hochberg_steps_up_and_skips_tests_that_could_not_be_made():
    assert benjamini_hochberg([0.01, 0.04, 0.03, None]) == [True, True, True, False]  # 0.04 <= .05 * 3/3
    assert benjamini_hochberg([0.01, 0.04, 0.06]) == [True, False, False]  # 0.04 > .05 * 2/3
    assert benjamini_hochberg([None]) == [False] and benjamini_hochberg([]) == []


@pytest.mark.parametrize(("effect", "spreads"), [(0.03, (0.04,)), (0.05, (0.04, 0.06)), (0.02, (0.03,))])
def test_seeds_for_80_percent_give_80_percent_power(effect, spreads):
    n, capped = seeds_for_power(effect, spreads)
    assert not capped
    rng = np.random.default_rng(n)

    def power(k: int) -> float:
        if len(spreads) == 1:
            return float(np.mean(paired_t(rng.normal(effect, spreads[0], size=(SIMS, k)))[2] < ALPHA))
        a = rng.normal(effect, spreads[0], size=(SIMS, k))
        b = rng.normal(0.0, spreads[1], size=(SIMS, k))
        return float(np.mean(welch_t(a, b)[2] < ALPHA))

    at_n, below = power(n), power(n - 1)
    report(f"power at the {n} seeds it asks for (effect {effect}, sd {spreads})", at_n)
    assert at_n >= 0.78 and (n == 3 or below < 0.82)


def test_seeds_needed_is_reported_only_where_not_significant_and_capped_where_hopeless():
    clear = compare({0: 0.9, 1: 0.91, 2: 0.92}, {0: 0.5, 1: 0.52, 2: 0.49}, paired=True)
    assert clear.verdict == BETTER and clear.seeds_needed is None
    noisy = compare({0: 0.6, 1: 0.5, 2: 0.7}, {0: 0.55, 1: 0.52, 2: 0.6}, paired=True)
    assert noisy.verdict == NS and noisy.seeds_needed is not None and noisy.seeds_needed[0] > 3
    tiny = compare({0: 0.501, 1: 0.6, 2: 0.4}, {0: 0.5, 1: 0.5, 2: 0.5}, paired=True)
    assert tiny.seeds_needed == (50, True)
    assert noisy.with_verdict(True).verdict == BETTER and clear.with_verdict(False).verdict == NS
    assert compare({0: 0.1, 1: 0.2, 2: 0.1}, {0: 0.5, 1: 0.6, 2: 0.55}, paired=True).verdict == WORSE


@pytest.mark.parametrize(("n", "tasks"), [(3, 5), pytest.param(3, 10, marks=pytest.mark.slow),
                                          pytest.param(5, 5, marks=pytest.mark.slow),
                                          pytest.param(10, 5, marks=pytest.mark.slow)])
def test_cross_task_intervals_cover_their_truth(n, tasks):
    """All tasks alike, so that the truth is known: relative gain 0.05 and P(improve) = Phi(gain / (sd sqrt 2))."""
    rng = np.random.default_rng(1000 * n + tasks)
    sims, mu, sd = 300, 0.6, 0.06
    gain = 0.05
    truth_pi = float(sps.norm.cdf(gain * mu / (sd * np.sqrt(2))))
    iqm_hits = pi_hits = 0
    for i in range(sims):
        runs = [TaskRuns(rng.normal(mu * (1 + gain), sd, n), rng.normal(mu, sd, n)) for _ in range(tasks)]
        _, ci = normalized_iqm_ci(runs, resamples=1000, seed=i)
        _, pci = probability_of_improvement(runs, resamples=1000, seed=i)
        assert ci is not None and pci is not None
        iqm_hits += ci[0] <= gain <= ci[1]
        pi_hits += pci[0] <= truth_pi <= pci[1]
    report(f"normalized IQM interval, {n} seeds x {tasks} tasks, covers the truth", iqm_hits / sims)
    report(f"P(improve) interval, {n} seeds x {tasks} tasks, covers the truth", pi_hits / sims)
    assert 0.91 <= iqm_hits / sims <= 0.99 and 0.91 <= pi_hits / sims <= 0.99


def test_the_aggregate_carries_scratchs_uncertainty():
    """A noisy scratch widens the method's normalized interval, however tight the method's own runs."""
    tight = np.array([0.40, 0.401, 0.399])
    calm = normalized_iqm_ci([TaskRuns(tight, [0.50, 0.501, 0.499])])[1]
    noisy = normalized_iqm_ci([TaskRuns(tight, [0.30, 0.70, 0.50])])[1]
    assert calm is not None and noisy is not None
    assert (noisy[1] - noisy[0]) > 20 * (calm[1] - calm[0])


def test_lower_is_better_flips_gains_and_improvement():
    runs = [TaskRuns([1.0, 1.1, 0.9], [2.0, 2.1, 1.9], higher_is_better=False)]
    assert normalized_iqm_ci(runs)[0] == pytest.approx(0.5)
    assert probability_of_improvement(runs)[0] == 1.0


def test_iqm_ignores_outliers_and_matches_scipy():
    x = np.array([0.1, 0.2, 0.3, 0.4, 100.0, -100.0, 0.25, 0.35])
    assert iqm(x) == pytest.approx(sps.trim_mean(x, 0.25))
    assert abs(iqm(x)) < 1
