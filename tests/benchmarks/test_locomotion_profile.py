"""Where a locomotion run's time goes: env stepping, policy forward, PPO update, evaluation.

Kept out of the default test run (a few minutes). Run on a quiet machine with:

    python -m pytest tests/benchmarks/test_locomotion_profile.py -m benchmark -s

For each robot of ``ROBOTS`` it trains the full tier's nominal source model (rl-zoo's tuned PPO,
exactly as a run builds it) for ``ITERATIONS`` rollout-and-update iterations and prints, per
frame of training: the raw step rate of the same vectorized env under random actions (no
policy), the rollout's time (env stepping plus the policy's forward pass and the buffer), the
PPO update's time, and the training rate as a fraction of the raw step rate; then one
deterministic evaluation episode through the task's own evaluator. The figures go into the
benchmark's ``extra_info`` (``--benchmark-json FILE``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from tasks.common import one_torch_thread
from tasks.sim2real.dynamics import Dynamics
from tasks.sim2real.evaluate import Case, evaluate
from tasks.sim2real.specs import SETTINGS, TASKS
from tasks.sim2real.task import SimToRealTask

pytestmark = pytest.mark.benchmark

ROBOTS = ("HalfCheetah", "Hopper")
ITERATIONS = 3


def _task(robot: str) -> SimToRealTask:
    spec = next(s for s in TASKS if s.id == f"sim2real/{robot}Combined-v0")
    return SimToRealTask(spec, {}, SETTINGS[spec.id])


class _Clock:
    """SB3 callback hooks that split ``learn`` into rollouts and the updates between them."""

    def __init__(self) -> None:
        self.rollout_s = 0.0
        self.frames = 0
        self._began = 0.0

    def callback(self) -> Any:
        from stable_baselines3.common.callbacks import BaseCallback

        clock = self

        class Hooks(BaseCallback):
            def _on_rollout_start(self) -> None:
                clock._began = time.perf_counter()

            def _on_rollout_end(self) -> None:
                clock.rollout_s += time.perf_counter() - clock._began

            def _on_step(self) -> bool:
                clock.frames += self.training_env.num_envs
                return True

        return Hooks()


def _raw_rate(model: Any, frames: int) -> float:
    """Frames per second of the model's own vectorized env (normalization included) under random actions."""
    env = model.get_env()
    env.reset()
    n = env.num_envs
    actions = [np.stack([env.action_space.sample() for _ in range(n)]) for _ in range(max(1, frames // n))]
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return len(actions) * n / (time.perf_counter() - start)


def _profile(robot: str) -> dict[str, Any]:
    task = _task(robot)
    with one_torch_thread():
        model = task._new_model(task.nominal, 0, "cpu")
        per_iteration = model.n_steps * model.n_envs
        clock = _Clock()
        start = time.perf_counter()
        model.learn(ITERATIONS * per_iteration, callback=clock.callback())
        learn_s = time.perf_counter() - start
        raw = _raw_rate(model, per_iteration)
        policy = task.policy(model)
        began = time.perf_counter()
        returns = evaluate(task.env_id, policy, [Case("nominal", Dynamics(), 1, 123)])["nominal"]
        eval_s = time.perf_counter() - began
    update_s = learn_s - clock.rollout_s
    env_s = clock.frames / raw
    return {"robot": robot, "frames": clock.frames, "n_envs": model.n_envs, "n_steps": model.n_steps,
            "n_epochs": model.n_epochs, "batch_size": model.batch_size, "learn_s": learn_s,
            "rollout_s": clock.rollout_s, "env_s": env_s, "policy_and_buffer_s": clock.rollout_s - env_s,
            "update_s": update_s, "raw_fps": raw, "train_fps": clock.frames / learn_s,
            "fraction_of_raw": clock.frames / learn_s / raw, "eval_episode_s": eval_s,
            "eval_return": float(returns[0])}


@pytest.mark.parametrize("robot", ROBOTS)
def test_where_a_locomotion_source_run_spends_its_time(benchmark, robot, capsys) -> None:
    p = _profile(robot)
    benchmark.extra_info.update(p)
    benchmark.pedantic(lambda: None, rounds=1)  # the figures are the profile's own timings
    share = {k: p[k] / p["learn_s"] for k in ("env_s", "policy_and_buffer_s", "update_s")}
    with capsys.disabled():
        print(f"\n{robot}: rl-zoo PPO ({p['n_envs']} envs x {p['n_steps']} steps, {p['n_epochs']} epochs of batches "
              f"of {p['batch_size']}), {p['frames']:,} frames in {p['learn_s']:.1f} s = {p['train_fps']:.0f} frames/s, "
              f"{p['fraction_of_raw']:.2f} of the raw {p['raw_fps']:.0f} frames/s")
        print(f"  env stepping {100 * share['env_s']:.0f}%, policy forward and buffer "
              f"{100 * share['policy_and_buffer_s']:.0f}%, PPO update {100 * share['update_s']:.0f}%; "
              f"one evaluation episode {p['eval_episode_s']:.2f} s; 2M steps at this rate: "
              f"{2e6 / p['train_fps'] / 60:.0f} min")
    assert p["frames"] == ITERATIONS * p["n_envs"] * p["n_steps"]
