"""Step cost of the perturbation layer against the bare env, side by side in one run.

Kept out of the default test run. Run with:

    python -m pytest tests/benchmarks -m benchmark --benchmark-group-by=param:env_id

and compare each env's ``bare`` and ``perturbed`` rows (the issue's bound: under 5% with fixed
dynamics). Random actions from a seeded action space; every round steps the same env 1,000 times.
"""

from __future__ import annotations

import numpy as np
import pytest

from tasks.sim2real.dynamics import Dynamics, make_env

pytestmark = pytest.mark.benchmark

FIXED = Dynamics(mass_scale=1.3, friction_scale=0.7, gravity=-9.0, motor_strength=0.8)
FULL = Dynamics(mass_scale=1.3, friction_scale=0.7, joint_damping=0.5, latency_steps=1, action_noise=0.05,
                observation_noise=0.01)


@pytest.mark.parametrize("env_id", ["InvertedPendulumBulletEnv-v0", "InvertedDoublePendulumBulletEnv-v0",
                                    "HalfCheetahBulletEnv-v0", "HopperBulletEnv-v0", "Walker2DBulletEnv-v0",
                                    "AntBulletEnv-v0"])
@pytest.mark.parametrize("setting", ["bare", "perturbed", "per-step-features"])
def test_step_rate(benchmark, env_id: str, setting: str) -> None:
    dynamics = {"bare": None, "perturbed": FIXED, "per-step-features": FULL}[setting]
    env = make_env(env_id, dynamics, seed=0)
    env.reset(seed=0)
    actions = [env.action_space.sample() for _ in range(1000)]

    def thousand_steps() -> None:
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()

    benchmark.pedantic(thousand_steps, rounds=5, warmup_rounds=1)
    assert np.isfinite(benchmark.stats.stats.mean)
