"""Sim-to-real scores computed exactly on hand-made curves and grids."""

from __future__ import annotations

import math

import pytest

from tasks.sim2real.metrics import area_under_curve, cvar, grid_summary, steps_to_reach
from tasks.sim2real.task import grid_points


def test_area_under_curve_is_the_mean_return_over_the_range():
    assert area_under_curve([(0, 0.0), (10, 100.0)]) == pytest.approx(50.0)
    assert area_under_curve([(0, 0.0), (5, 100.0), (10, 100.0)]) == pytest.approx(75.0)
    assert area_under_curve([(0, 42.0)]) == 42.0
    assert math.isnan(area_under_curve([]))


def test_early_learning_scores_a_larger_area_at_the_same_final_return():
    early = [(0, 0.0), (2, 100.0), (10, 100.0)]
    late = [(0, 0.0), (8, 0.0), (10, 100.0)]
    assert area_under_curve(early) > area_under_curve(late)


def test_steps_to_reach():
    curve = [(0, 1.0), (100, 5.0), (200, 9.0)]
    assert steps_to_reach(curve, 5.0) == 100 and steps_to_reach(curve, 0.5) == 0
    assert steps_to_reach(curve, 10.0) is None


def test_cvar_and_grid_summary():
    values = list(range(1, 21))  # 1..20
    assert cvar(values, 0.1) == pytest.approx(1.5)
    assert cvar([5.0], 0.1) == 5.0
    s = grid_summary([10.0, 2.0, 6.0])
    assert s == {"grid_mean": pytest.approx(6.0), "grid_worst": 2.0, "grid_cvar10": 2.0}


def test_grid_points_reach_links():
    pts = dict(grid_points({"motor_strength": [1.0, 0.5], "link_mass_scale.pole": [2.0]}))
    assert pts == {"motor_strength=1": {"motor_strength": 1.0}, "motor_strength=0.5": {"motor_strength": 0.5},
                   "link_mass_scale.pole=2": {"link_mass_scale": {"pole": 2.0}}}
