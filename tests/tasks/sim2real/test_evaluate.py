"""The numpy evaluator acts exactly like stable-baselines3's deterministic predict, and splits freely."""

from __future__ import annotations

import numpy as np
import pytest

from bench.parallel import parallel_map
from tasks.sim2real.dynamics import Dynamics, make_env
from tasks.sim2real.evaluate import Case, Policy, evaluate, save_rollout_gif

ENV = "InvertedPendulumBulletEnv-v0"


@pytest.fixture(scope="module")
def ppo():
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", make_env(ENV, None, seed=0), n_steps=64, batch_size=32, n_epochs=1, seed=0,
               device="cpu", policy_kwargs={"log_std_init": 0.5})


def _obs(n: int = 200) -> np.ndarray:
    return np.random.default_rng(0).normal(scale=2.0, size=(n, 5)).astype(np.float32)


def test_ppo_policy_matches_predict_including_clipping(ppo):
    import torch

    with torch.no_grad():  # large weights so that some actions fall outside the bounds and are clipped
        ppo.policy.action_net.weight.normal_(0.0, 5.0)
    pol = Policy.from_state_dict(ppo.policy.state_dict(), ppo.action_space.low, ppo.action_space.high)
    expected, _ = ppo.predict(_obs(), deterministic=True)
    assert np.abs(expected).max() == pytest.approx(1.0)
    np.testing.assert_allclose(pol.act(_obs()), expected, atol=1e-5)


def test_sac_policy_matches_predict_with_obs_normalization():
    from stable_baselines3 import SAC

    sac = SAC("MlpPolicy", make_env(ENV, None, seed=0), learning_starts=0, buffer_size=100, seed=0, device="cpu",
              policy_kwargs={"net_arch": [32, 16]})
    mean, var = np.linspace(-1, 1, 5), np.linspace(0.5, 2, 5)
    pol = Policy.from_state_dict(sac.policy.state_dict(), sac.action_space.low, sac.action_space.high,
                                 activation="relu", obs_rms=(mean, var))
    raw = _obs()
    normalized = np.clip((raw - mean) / np.sqrt(var + 1e-8), -10, 10).astype(np.float32)
    expected, _ = sac.predict(normalized, deterministic=True)
    np.testing.assert_allclose(pol.act(raw), expected, atol=1e-5)


def test_rejects_a_state_dict_without_an_actor():
    with pytest.raises(ValueError, match="not an SB3 PPO or SAC"):
        Policy.from_state_dict({"value_net.weight": np.zeros((1, 4))}, [-1], [1])


def test_returns_do_not_depend_on_how_the_cases_are_split(ppo):
    pol = Policy.from_state_dict(ppo.policy.state_dict(), ppo.action_space.low, ppo.action_space.high)
    cases = [Case("nominal", None, 3, 11), Case("weak", Dynamics(motor_strength=0.5), 2, 12),
             Case("heavy", Dynamics(link_mass_scale={"pole": 3.0}), 2, 13)]
    whole = evaluate(ENV, pol, cases)
    split = evaluate(ENV, pol, cases, lambda f, xs: parallel_map(f, xs, 2), pieces=2)
    assert whole == split and [len(v) for v in whole.values()] == [3, 2, 2]
    assert evaluate(ENV, pol, cases) == whole
    with pytest.raises(ValueError, match="unique"):
        evaluate(ENV, pol, [cases[0], cases[0]])


def test_rollout_gif_has_frames(ppo, tmp_path):
    from PIL import Image

    pol = Policy.from_state_dict(ppo.policy.state_dict(), ppo.action_space.low, ppo.action_space.high)
    path = save_rollout_gif(ENV, pol, Dynamics(motor_strength=0.4), tmp_path / "r.gif", frames=5, every=1)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames >= 2 and im.size == (240, 180)
        assert np.asarray(im.convert("RGB")).std() > 0


def test_sac_with_gsde_clips_the_mean_before_tanh_like_predict():
    import torch
    from stable_baselines3 import SAC

    sac = SAC("MlpPolicy", make_env(ENV, None, seed=0), learning_starts=0, buffer_size=100, seed=0, device="cpu",
              use_sde=True, policy_kwargs={"net_arch": [16]})
    with torch.no_grad():  # means beyond the +-2 clip, so that the clip matters
        sac.policy.actor.mu[0].weight.normal_(0.0, 5.0)
    pol = Policy.from_state_dict(sac.policy.state_dict(), sac.action_space.low, sac.action_space.high,
                                 activation="relu")
    expected, _ = sac.predict(_obs(), deterministic=True)
    np.testing.assert_allclose(pol.act(_obs()), expected, atol=1e-5)


def test_a_robot_that_carries_state_between_episodes_gives_the_same_returns_however_split():
    """The locomotion robots keep their first episode's initial height: cases must stay whole."""
    from stable_baselines3 import PPO

    hopper = "HopperBulletEnv-v0"
    model = PPO("MlpPolicy", make_env(hopper, None, seed=0), n_steps=64, batch_size=32, seed=0, device="cpu")
    pol = Policy.from_state_dict(model.policy.state_dict(), model.action_space.low, model.action_space.high)
    cases = [Case(f"m{m}", Dynamics(mass_scale=m), 3, 40 + i) for i, m in enumerate((0.8, 1.0, 1.3, 1.6))]
    kwargs = {"max_episode_steps": 60}
    whole = evaluate(hopper, pol, cases, env_kwargs=kwargs)
    assert evaluate(hopper, pol, cases, lambda f, xs: parallel_map(f, xs, 2), pieces=3, env_kwargs=kwargs) == whole
