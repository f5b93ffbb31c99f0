"""The sim-to-real task at smoke scale: methods, shared source policies, breakdowns, consistency."""

from __future__ import annotations

import pytest

from bench.registry import Registry
from bench.runner import execute
from bench.testing import smoke_job
from tasks.sim2real.specs import SETTINGS, TASKS
from tasks.sim2real.task import SimToRealTask, grid_points

SPEC = TASKS[0]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    d = tmp_path_factory.mktemp("s2r")
    return {m: execute(smoke_job(SPEC, m, d)) for m in ("zero-shot", "fine-tune", "scratch")}


def test_registered_as_a_plugin_would_be():
    reg = Registry.discover()
    assert reg.task(SPEC.id).family == "sim2real"
    assert reg.method("domain-randomization").role == "transfer" and reg.method("oracle").role == "reference"


def test_source_policy_is_shared_and_jumpstart_is_the_zero_shot_return(records):
    zs, ft = records["zero-shot"], records["fine-tune"]
    assert zs.status == ft.status == "ok"
    assert [a["hit"] for a in zs.artifacts] == [False] and [a["hit"] for a in ft.artifacts] == [True]
    assert ft.metrics["jumpstart"] == zs.metrics["return"]
    assert zs.cost.trainable_params == 0 and ft.cost.trainable_params == ft.cost.total_params > 0


def test_every_condition_and_grid_point_is_scored(records):
    r = records["scratch"]
    setting = SETTINGS[SPEC.id]
    keys = set(r.breakdowns["return"])
    assert {f"condition {c}" for c in setting["conditions"]} <= keys
    assert {f"grid {name}" for name, _ in grid_points(setting["grid"])} <= keys
    assert r.metrics["reality_gap"] == pytest.approx(r.metrics["source_return"] - r.metrics["return"])
    assert r.metrics["grid_worst"] <= r.metrics["grid_cvar10"] <= r.metrics["grid_mean"]
    assert [x for x, _ in r.curves["target_return"]][0] == 0 and r.cost.train_samples == min(SPEC.budgets)


def test_ranges_must_cover_and_miss_the_target():
    setting = {**SETTINGS[SPEC.id], "ranges": {**SETTINGS[SPEC.id]["ranges"],
                                                "wide": SETTINGS[SPEC.id]["ranges"]["narrow"]}}
    with pytest.raises(ValueError, match="must cover the target"):
        SimToRealTask(SPEC, {}, setting)
