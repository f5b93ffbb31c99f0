"""The PyBullet envs the sim2real family uses: valid gymnasium envs, bare and perturbed.

gymnasium's own checker runs on each env as installed and under a perturbation that touches
every field; frames render headless; a seed fixes an episode (with randomized dynamics and
noise too). A few dozen steps per env, so the whole file takes seconds.
"""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tasks.sim2real.dynamics import Dynamics, DynamicsRange, PerturbedEnv, make_env

ENV_IDS = (
    "InvertedPendulumBulletEnv-v0",
    "InvertedDoublePendulumBulletEnv-v0",
    "HalfCheetahBulletEnv-v0",
    "HopperBulletEnv-v0",
    "Walker2DBulletEnv-v0",
    "AntBulletEnv-v0",
)

EVERYTHING = Dynamics(mass_scale=1.3, friction_scale=0.7, joint_damping=0.5, joint_friction=0.3,
                      motor_strength=0.8, gravity=-9.0, latency_steps=1, action_noise=0.05, observation_noise=0.01)
"""Every field away from nominal (per-step work included: damping, latency, noise)."""

RANDOMIZED = DynamicsRange(mass_scale=(0.7, 1.5), friction_scale=(0.5, 1.5), joint_damping=(0.0, 1.0),
                           motor_strength=(0.6, 1.2), gravity=(-11.0, -8.0), latency_steps=(0, 2),
                           action_noise=(0.0, 0.1), observation_noise=(0.0, 0.02))


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    # pybullet_envs define seed(), and gymnasium's checker warns about unbounded Box spaces and wrappers.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def rollout(env: gym.Env, seed: int, steps: int = 50) -> tuple[np.ndarray, list[float]]:
    """Observations and rewards of ``steps`` random actions, the actions drawn from ``seed`` too."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out, rewards = [obs], []
    for _ in range(steps):
        obs, reward, _, _, _ = env.step(env.action_space.sample())
        out.append(obs)
        rewards.append(float(reward))
    return np.array(out), rewards


@pytest.mark.parametrize("perturbed", [False, True], ids=["bare", "perturbed"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_passes_gymnasium_check_env(env_id: str, perturbed: bool) -> None:
    env = make_env(env_id, EVERYTHING if perturbed else None)
    check_env(env if perturbed else env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    if perturbed:
        assert info["dynamics"] == EVERYTHING and env.current == EVERYTHING
    for _ in range(5):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and np.isfinite(reward)
        assert isinstance(terminated, bool) and isinstance(truncated, bool)
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_renders_headless_rgb_frames(env_id: str) -> None:
    env = make_env(env_id, EVERYTHING, seed=0, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.shape[0] > 0 and frame.shape[1] > 0
    assert frame.std() > 0, "a real picture, not a blank canvas"
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_episode(env_id: str) -> None:
    bare_a, rewards_a = rollout(make_env(env_id), seed=3)
    bare_b, rewards_b = rollout(make_env(env_id), seed=3)
    assert np.array_equal(bare_a, bare_b) and rewards_a == rewards_b
    assert not np.array_equal(bare_a, rollout(make_env(env_id), seed=4)[0])

    # Randomized dynamics and noise: the same seed samples the same dynamics and the same noise.
    envs = [make_env(env_id, RANDOMIZED) for _ in range(3)]
    a, b, c = rollout(envs[0], seed=3)[0], rollout(envs[1], seed=3)[0], rollout(envs[2], seed=4)[0]
    assert envs[0].current == envs[1].current != envs[2].current
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # The constructor's seed is the first reset's seed.
    seeded = make_env(env_id, RANDOMIZED, seed=3)
    obs, _ = seeded.reset()
    assert np.array_equal(obs, a[0]) and seeded.current == envs[0].current


def test_make_env_wraps_only_when_given_dynamics() -> None:
    env = make_env("InvertedPendulumBulletEnv-v0")
    assert not isinstance(env, PerturbedEnv)
    assert isinstance(make_env("InvertedPendulumBulletEnv-v0", Dynamics()), PerturbedEnv)
    a = make_env("InvertedPendulumBulletEnv-v0", seed=1).action_space.sample()
    assert np.array_equal(a, make_env("InvertedPendulumBulletEnv-v0", seed=1).action_space.sample())
