"""Bootstrap intervals and the IQM: coverage, direction, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.stats import bootstrap_ci, difference_ci, iqm, stratified_iqm_ci


def test_bootstrap_interval_contains_the_mean_and_is_deterministic():
    x = [0.80, 0.82, 0.85, 0.79, 0.84]
    lo, hi = bootstrap_ci(x)
    assert lo < np.mean(x) < hi and hi - lo < 0.06
    assert bootstrap_ci(x) == (lo, hi)


def test_one_value_has_no_interval():
    assert all(math.isnan(v) for v in bootstrap_ci([0.5]))


def test_difference_interval_separates_clear_gains_from_noise():
    lo, hi = difference_ci([0.90, 0.91, 0.92], [0.80, 0.81, 0.79])
    assert 0.08 < lo < hi < 0.13
    lo, hi = difference_ci([0.80, 0.90, 0.70], [0.82, 0.78, 0.86])
    assert lo < 0 < hi


def test_bootstrap_coverage_is_close_to_nominal():
    """For normal data with n=10, a 95% percentile interval covers the true mean most of the time."""
    rng = np.random.default_rng(0)
    covered = sum(lo <= 0 <= hi for lo, hi in (bootstrap_ci(rng.normal(size=10), resamples=1000, seed=i)
                                               for i in range(200)))
    assert 0.85 <= covered / 200 <= 0.99


def test_iqm_ignores_outliers_and_matches_scipy():
    from scipy.stats import trim_mean

    assert iqm([1, 2, 3, 4, 100, -100, 2.5, 3.5]) == pytest.approx(2.75)
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 5, 8, 13):
        x = rng.normal(size=n)
        assert iqm(x) == pytest.approx(trim_mean(x, 0.25))


def test_stratified_iqm_resamples_within_tasks():
    point, (lo, hi) = stratified_iqm_ci([[0.1, 0.2, 0.15], [0.3, 0.25, 0.35]])
    assert lo <= point <= hi and point == pytest.approx(iqm([0.1, 0.2, 0.15, 0.3, 0.25, 0.35]))
