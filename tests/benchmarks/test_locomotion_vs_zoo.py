"""The full tier's source training against rl-baselines3-zoo's own settings run through
stable-baselines3 unchanged, side by side on this machine.

Kept out of the default test run (about 5 minutes). Run on a quiet machine with:

    python -m pytest tests/benchmarks/test_locomotion_vs_zoo.py -m benchmark -s

Three ways to train HalfCheetahBulletEnv-v0's PPO source policy with the zoo's hyper-parameters
(16 envs x 512 steps, 20 epochs of batches of 128, normalized observations and rewards), each for
``ITERATIONS`` rollout-and-update iterations:

- ``zoo``: what the zoo's ``train.py`` builds, with nothing of ours: ``make_vec_env`` (DummyVecEnv
  and Monitor), ``VecNormalize``, ``PPO`` with torch's default threads (one per core);
- ``ours``: the task's own source model (``SimToRealTask._new_model``, the dynamics wrapper
  included) with one torch thread, as each worker of a grid trains;
- ``ours x N``: N of those in N processes at once, as ``bench run --workers N`` trains a grid's
  seeds (N = the cores here).

Printed per way: frames per second (for ``ours x N`` all processes' frames together) and the
wall-clock time to train the three seeds of the reference rows at that rate (2M steps each; the
zoo's one run at a time, as its script runs them). The figures go into ``extra_info``.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from typing import Any

import pytest

from tasks.sim2real.specs import SETTINGS, TASKS
from tasks.sim2real.task import SimToRealTask

pytestmark = pytest.mark.benchmark

ITERATIONS = 2
SEEDS = 3
STEPS = 2_000_000


def _task() -> SimToRealTask:
    spec = next(s for s in TASKS if s.id == "sim2real/HalfCheetahCombined-v0")
    return SimToRealTask(spec, {}, SETTINGS[spec.id])


def _zoo_unchanged(seed: int) -> tuple[int, float]:
    import pybullet_envs_gymnasium  # noqa: F401  (registers the Bullet envs)
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from tasks.sim2real.zoo import sb3_kwargs

    h = _task().hyper
    env = VecNormalize(make_vec_env(h.env_id, n_envs=h.n_envs, seed=seed), **h.normalize_kwargs)
    model = PPO(env=env, seed=seed, device="cpu", verbose=0, **sb3_kwargs(h))
    frames = ITERATIONS * h.n_envs * model.n_steps
    start = time.perf_counter()
    model.learn(frames)
    return frames, time.perf_counter() - start


def _ours(seed: int) -> tuple[int, float]:
    from tasks.common import one_torch_thread

    task = _task()
    with one_torch_thread():
        model = task._new_model(task.nominal, seed, "cpu")
        frames = ITERATIONS * model.n_envs * model.n_steps
        start = time.perf_counter()
        model.learn(frames)
        return frames, time.perf_counter() - start


def _in_processes(n: int) -> tuple[int, float]:
    ctx = mp.get_context("fork")  # the children inherit this module; each builds its own envs and torch state
    start = time.perf_counter()
    with ctx.Pool(n) as pool:
        results = pool.map(_ours, range(n))
    return sum(f for f, _ in results), time.perf_counter() - start


def test_source_training_against_the_zoo_unchanged(benchmark, capsys) -> None:
    cores = os.cpu_count() or 1
    ways: dict[str, tuple[int, float]] = {"zoo (sb3 unchanged)": _zoo_unchanged(0), "ours": _ours(0)}
    if cores > 1:
        ways[f"ours x {cores}"] = _in_processes(cores)
    benchmark.pedantic(lambda: None, rounds=1)  # the figures are the runs' own timings
    report: dict[str, Any] = {}
    for name, (frames, seconds) in ways.items():
        fps = frames / seconds
        parallel = cores if name.startswith("ours x") else 1
        per_policy = STEPS / (fps / parallel)
        report[name] = {"frames": frames, "seconds": seconds, "fps": fps,
                        "seeds_wall_h": math.ceil(SEEDS / parallel) * per_policy / 3600}
    benchmark.extra_info.update(report)
    zoo = report["zoo (sb3 unchanged)"]["seeds_wall_h"]
    with capsys.disabled():
        print(f"\nHalfCheetahBulletEnv-v0, rl-zoo PPO, {ITERATIONS} iterations each, {cores} cores:")
        for name, r in report.items():
            print(f"  {name:22s} {r['fps']:7.0f} frames/s; {SEEDS} seeds x {STEPS / 1e6:g}M steps: "
                  f"{r['seeds_wall_h']:.2f} h ({zoo / r['seeds_wall_h']:.2f}x the zoo's speed)")
    assert all(f > 0 for f, _ in ways.values())
