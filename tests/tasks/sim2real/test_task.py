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
    assert [x for x, _ in r.curves["target_return"]][0] == 0 and r.cost.train_samples == SPEC.smoke_budget


def test_ranges_must_cover_and_miss_the_target():
    setting = {**SETTINGS[SPEC.id], "ranges": {**SETTINGS[SPEC.id]["ranges"],
                                                "wide": SETTINGS[SPEC.id]["ranges"]["narrow"]}}
    with pytest.raises(ValueError, match="must cover the target"):
        SimToRealTask(SPEC, {}, setting)


def test_each_run_records_a_rollout_gif_of_its_policy_on_the_target(records):
    r = records["fine-tune"]
    assert set(r.files) == {"rollout"} and r.files["rollout"].endswith("rollout.gif")
    assert not r.files["rollout"].startswith("/"), "paths are relative to the results directory"


def _spec(task_id: str):
    return next(s for s in TASKS if s.id == task_id)


def test_hyperparameters_come_from_the_options_or_from_rl_zoo_with_overrides():
    own = SimToRealTask(SPEC, {}, SETTINGS[SPEC.id]).hyperparameters()
    assert own.algo == "ppo" and own.n_envs == SPEC.options["n_envs"] and own.algo_kwargs["n_epochs"] == 10
    hopper = _spec("sim2real/HopperCombined-v0")
    zoo = SimToRealTask(hopper, {}, SETTINGS[hopper.id]).hyperparameters()
    assert zoo.normalize and zoo.n_envs == 16 and "rl_zoo3" in zoo.source
    assert hopper.options["source_steps"] == zoo.n_timesteps == 2_000_000
    small = SimToRealTask(hopper, {"n_envs": 2, "n_epochs": 1}, SETTINGS[hopper.id]).hyperparameters()
    assert small.n_envs == 2 and small.algo_kwargs["n_epochs"] == 1 and "from the task options" in small.source
    with pytest.raises(ValueError, match="needs hyper='rl-zoo'"):
        SimToRealTask(SPEC, {"algo": "sac"}, SETTINGS[SPEC.id]).hyperparameters()


def test_sac_from_rl_zoo_fine_tunes_a_stored_source_on_a_locomotion_robot(tmp_path):
    hopper = _spec("sim2real/HopperCombined-v0")
    options = {**hopper.options, **hopper.smoke_options, "algo": "sac", "n_envs": 1, "learning_starts": 32,
               "buffer_size": 500, "gradient_steps": 1}
    with pytest.raises(ValueError, match="n_epochs, n_steps do not apply to sac"):
        SimToRealTask(hopper, options, SETTINGS[hopper.id]).hyperparameters()
    options.update(n_steps=0, n_epochs=0)
    job = smoke_job(hopper, "fine-tune", tmp_path)
    rec = execute(type(job)(**{**job.__dict__, "options": options}))
    assert rec.status == "ok", rec.error
    assert rec.extra["hyperparameters"]["algo"] == "sac" and rec.cost.train_samples == hopper.smoke_budget
    assert [a["name"] for a in rec.artifacts] == ["sim2real-source-policy"]
