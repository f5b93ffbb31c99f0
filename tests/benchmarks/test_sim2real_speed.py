"""Sim-to-real speed, side by side in one run: PPO time to solve, training frames, grid evaluation.

Kept out of the default test run (minutes). Run with:

    python -m pytest tests/benchmarks/test_sim2real_speed.py -m benchmark -s

It prints, and stores in the benchmark's ``extra_info`` (``--benchmark-json FILE``):

- wall-clock training time for PPO to solve the nominal pendulum (mean deterministic return of
  8 episodes >= ``THRESHOLD``, checked every ``CHUNK`` steps; evaluation time not counted), with
  the quick task's settings and with stable-baselines3's defaults, per seed, and the ratio of
  the medians;
- PPO training frames per second against the raw step rate of the same env;
- evaluation of the domain-randomized policy over the quick task's whole evaluation (target,
  source, named conditions, grid) with 1 and with 2 worker processes (a warm pool), as a run
  makes it, and the ratio of the medians of 5 interleaved rounds.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np
import pytest

from bench.api import RunContext
from bench.artifacts import ArtifactCache
from tasks.common import one_torch_thread
from tasks.sim2real.dynamics import Dynamics, make_env
from tasks.sim2real.evaluate import Case, evaluate
from tasks.sim2real.native import native_output_silenced
from tasks.sim2real.specs import SETTINGS, TASKS
from tasks.sim2real.task import SimToRealTask

pytestmark = pytest.mark.benchmark

SPEC = TASKS[0]
ENV = SETTINGS[SPEC.id]["env_id"]
THRESHOLD = 950.0
CHUNK = 4096
CAP = 400_000
SEEDS = (0, 1, 2)


def _task() -> SimToRealTask:
    return SimToRealTask(SPEC, {}, SETTINGS[SPEC.id])


def _model(settings: str, seed: int) -> Any:
    if settings == "ours":
        task = _task()
        return task._new_model(task.nominal, seed, "cpu")
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([lambda: Monitor(make_env(ENV, Dynamics(), seed=1000 * seed))])
    env.seed(1000 * seed)
    return PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0)


def _solve(settings: str, seed: int) -> dict[str, Any]:
    """Train in chunks until the nominal return reaches THRESHOLD; only training time is counted."""
    task = _task()
    with one_torch_thread():
        model = _model(settings, seed)
        train_s, steps, score = 0.0, 0, 0.0
        while steps < CAP:
            start = time.perf_counter()
            model.learn(CHUNK, reset_num_timesteps=False)
            train_s += time.perf_counter() - start
            steps += CHUNK
            case = Case("nominal", Dynamics(), 8, 123 + seed)
            score = float(np.mean(evaluate(ENV, task.policy(model), [case])["nominal"]))
            if score >= THRESHOLD:
                break
    return {"train_s": train_s, "steps": steps, "solved": score >= THRESHOLD, "fps": steps / train_s,
            "model": model}


def _raw_steps_per_second(n: int = 20_000) -> float:
    env = make_env(ENV, None, seed=0)
    with native_output_silenced(sys.stdout):  # the bare env's first reset connects, and pybullet says so in C
        env.reset(seed=0)
    actions = [env.action_space.sample() for _ in range(n)]
    start = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return n / (time.perf_counter() - start)


@pytest.fixture(scope="module")
def solved() -> dict[str, list[dict[str, Any]]]:
    return {s: [_solve(s, seed) for seed in SEEDS] for s in ("ours", "sb3-defaults")}


def test_ppo_time_to_solve_the_nominal_pendulum(benchmark, solved, capsys) -> None:
    raw = _raw_steps_per_second()
    summary: dict[str, Any] = {"threshold": THRESHOLD, "raw_steps_per_s": raw}
    for settings, runs in solved.items():
        times = [r["train_s"] if r["solved"] else float("inf") for r in runs]
        summary[settings] = {"train_s": times, "steps": [r["steps"] for r in runs],
                             "median_s": statistics.median(times),
                             "fps": statistics.median(r["fps"] for r in runs)}
    summary["speedup"] = summary["sb3-defaults"]["median_s"] / summary["ours"]["median_s"]
    summary["ours_fps_over_raw"] = summary["ours"]["fps"] / raw
    benchmark.extra_info.update(summary)
    benchmark.pedantic(lambda: None, rounds=1)  # the fixture must be used; the timings are the side-by-side ones
    with capsys.disabled():
        print(f"\nPPO to return >= {THRESHOLD:g} on the nominal pendulum (training seconds per seed {SEEDS}):")
        for settings in ("ours", "sb3-defaults"):
            s = summary[settings]
            print(f"  {settings:13s} {[round(t, 1) for t in s['train_s']]} s, steps {s['steps']}, "
                  f"median {s['median_s']:.1f} s, {s['fps']:.0f} frames/s")
        print(f"  ours is {summary['speedup']:.2f}x faster than SB3's defaults (median time to threshold)")
        print(f"  raw env {raw:.0f} steps/s; PPO training {summary['ours']['fps']:.0f} frames/s "
              f"= {summary['ours_fps_over_raw']:.2f} of raw")
    assert all(r["solved"] for r in solved["ours"])


@pytest.fixture(scope="module")
def randomized() -> Any:
    """The quick task's domain-randomized source policy (seed 0): it balances on most of the grid,
    so its evaluation is the longest one a run makes."""
    task = _task()
    with one_torch_thread():
        model = task._new_model(task.ranges["wide"], 0, "cpu")
        model.learn(task.options["source_steps"])
    return task.policy(model)


def test_grid_evaluation_with_1_and_2_workers(benchmark, randomized, capsys, tmp_path) -> None:
    task = _task()
    policy = randomized

    def ctx(workers: int) -> RunContext:
        return RunContext(task=SPEC, method="oracle", seed=0, budget=SPEC.default_budget, device="cpu",
                          options=task.options, artifacts=ArtifactCache(tmp_path), workers=workers)

    wanted = task.evaluation()
    task.scores(policy, wanted, ctx(2))  # start the pool's workers once, as a long run would
    times: dict[int, list[float]] = {1: [], 2: []}
    results = {}
    for _ in range(5):
        for w in (1, 2):
            start = time.perf_counter()
            results[w] = task.scores(policy, wanted, ctx(w))
            times[w].append(time.perf_counter() - start)
    assert results[1] == results[2], "the split must not change a single return"
    med = {w: statistics.median(t) for w, t in times.items()}
    episodes = sum(n for _, n in wanted.values())
    benchmark.extra_info.update({"seconds_1_worker": times[1], "seconds_2_workers": times[2],
                                 "speedup": med[1] / med[2], "episodes": episodes})
    benchmark.pedantic(lambda: None, rounds=1)  # the fixture must be used; the timings are the side-by-side ones
    with capsys.disabled():
        print(f"\nGrid evaluation ({len(wanted)} settings, {episodes} episodes): 1 worker {med[1]:.2f} s, "
              f"2 workers {med[2]:.2f} s, speedup {med[1] / med[2]:.2f}x")
