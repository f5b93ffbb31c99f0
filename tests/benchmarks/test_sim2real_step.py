"""Step cost of the perturbation layer against the bare env, side by side in one run.

Kept out of the default test run. Run with:

    python -m pytest tests/benchmarks/test_sim2real_step.py -m benchmark -s

For each robot it prints the raw step rate and the rate through the perturbation layer with
fixed dynamics (the issue's bound: under 5% slower) and with per-step features (latency, action
and observation noise, joint damping). The three settings are stepped in interleaved rounds of
2,000 seeded random actions, so that machine noise hits them alike; medians over rounds.
"""

from __future__ import annotations

import statistics
import time

import pytest

from tasks.sim2real.dynamics import Dynamics, make_env

pytestmark = pytest.mark.benchmark

FIXED = Dynamics(mass_scale=1.3, friction_scale=0.7, gravity=-9.0, motor_strength=0.8)
FULL = Dynamics(mass_scale=1.3, friction_scale=0.7, joint_damping=0.5, latency_steps=1, action_noise=0.05,
                observation_noise=0.01)
SETTINGS = {"bare": None, "perturbed": FIXED, "per-step-features": FULL}
ROUNDS, STEPS = 9, 2000


@pytest.mark.parametrize("env_id", ["InvertedPendulumBulletEnv-v0", "InvertedDoublePendulumBulletEnv-v0",
                                    "HalfCheetahBulletEnv-v0", "HopperBulletEnv-v0", "Walker2DBulletEnv-v0",
                                    "AntBulletEnv-v0"])
def test_step_rate(benchmark, capsys, env_id: str) -> None:
    envs = {name: make_env(env_id, d, seed=0) for name, d in SETTINGS.items()}
    actions = [envs["bare"].action_space.sample() for _ in range(STEPS)]
    for env in envs.values():
        env.reset(seed=0)

    def run(env) -> float:
        start = time.perf_counter()
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(ROUNDS):
        for name, env in envs.items():
            times[name].append(run(env))
    med = {name: statistics.median(t) for name, t in times.items()}
    rate = {name: STEPS / s for name, s in med.items()}
    overhead = {name: med[name] / med["bare"] - 1 for name in ("perturbed", "per-step-features")}
    benchmark.extra_info.update({"steps_per_s": rate, "overhead": overhead})
    benchmark.pedantic(lambda: None, rounds=1)  # the fixture must be used; the timings are the side-by-side ones
    with capsys.disabled():
        print(f"\n{env_id}: bare {rate['bare']:.0f} steps/s; perturbed {rate['perturbed']:.0f} "
              f"({100 * overhead['perturbed']:+.1f}%); per-step features {rate['per-step-features']:.0f} "
              f"({100 * overhead['per-step-features']:+.1f}%)")
    for env in envs.values():
        env.close()
