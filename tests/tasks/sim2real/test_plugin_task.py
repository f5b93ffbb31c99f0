"""A plugin's own PyBullet env becomes a sim-to-real task through the public API alone.

Nothing in tasks/sim2real knows this env: it is registered with gymnasium here, described by a
setting (conditions, grid, ranges) and a TaskSpec here, and run through the harness's execute.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from test_dynamics import BoxOnPlane

from bench.api import TaskSpec
from bench.runner import execute
from bench.testing import check_task, smoke_job
from tasks.sim2real.task import SimToRealTask

ENV_ID = "TransferbenchTestBoxReach-v0"


class BoxReach(BoxOnPlane):
    """Push the box to x = 0.3 and keep it there."""

    def __init__(self) -> None:
        super().__init__("physics_client")

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, _, term, trunc, info = super().step(action)
        return obs, -abs(float(obs[0]) - 0.3), term, trunc, info


if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=BoxReach, max_episode_steps=40)

SETTING: dict[str, Any] = {
    "env_id": ENV_ID,
    "target": "heavy-sticky",
    "conditions": {"heavy-sticky": {"mass_scale": 2.0, "friction_scale": 1.5}, "light": {"mass_scale": 0.5}},
    "grid": {"mass_scale": [0.5, 1.0, 2.0]},
    "ranges": {"wide": {"mass_scale": [0.5, 2.5], "friction_scale": [0.5, 2.0]},
               "narrow": {"mass_scale": [0.9, 1.1]}},
}


def factory(spec: TaskSpec, options: dict[str, Any]) -> SimToRealTask:
    return SimToRealTask(spec, options, SETTING)


SPEC = TaskSpec(
    id="plugin/BoxReach-v0", entry_point=f"{__name__}:factory", summary="A test plugin's box on a plane.",
    source="nominal box", target="heavier, stickier box", metric="return", budgets=(256,), default_budget=256,
    methods=("scratch", "zero-shot", "fine-tune", "domain-randomization"), suites=("plugin",),
    options={"source_steps": 256, "n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1,
             "learning_rate": 3e-4, "gamma": 0.99, "gae_lambda": 0.95, "clip_range": 0.2, "ent_coef": 0.0,
             "net_width": 16, "eval_episodes": 2, "grid_episodes": 1, "eval_points": 2},
)


def test_plugin_env_becomes_a_sim_to_real_task(tmp_path):
    records = check_task(SPEC, tmp_path)
    ft = records["fine-tune"]
    assert ft.metrics["return"] <= 0 and "grid mass_scale=2" in ft.breakdowns["return"]
    assert ft.extra["target_dynamics"]["mass_scale"] == 2.0


def test_plugin_task_source_policy_is_an_artifact(tmp_path):
    first = execute(smoke_job(SPEC, "zero-shot", tmp_path))
    again = execute(smoke_job(SPEC, "fine-tune", tmp_path))
    assert first.artifacts[0]["hit"] is False and again.artifacts[0]["hit"] is True
