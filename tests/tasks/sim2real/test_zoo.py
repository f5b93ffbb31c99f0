"""Tests of the rl-baselines3-zoo hyper-parameters (tasks/sim2real/zoo.py).

The vendored copy is what every machine without rl_zoo3 trains with, so its values are pinned
here; the installed-rl_zoo3 path is exercised on YAML files written in the zoo's own syntax
(anchors, ``<<:`` merges, ``!!float``, ``lin_`` schedules), and compared with the vendored copy
when the same rl_zoo3 release is installed. One PPO model is built on a real Hopper and trained
for a single short rollout, to show the arguments are ones stable-baselines3 accepts and means.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tasks.sim2real import zoo
from tasks.sim2real.zoo import (
    ALGOS,
    ENV_IDS,
    ZOO_VERSION,
    LinearSchedule,
    ZooHyper,
    parse_policy_kwargs,
    sb3_kwargs,
    vendored_hyperparams,
    zoo_hyperparams,
)

PPO_POLICY_KWARGS = (
    "dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256, 256], vf=[256, 256]) )"
)
SAC_POLICY_KWARGS = "dict(log_std_init=-3, net_arch=[400, 300], use_expln=True)"

ZOO_STYLE_YAML = """\
# Tuned
HalfCheetahBulletEnv-v0: &pybullet-defaults
  normalize: true
  n_envs: 16
  n_timesteps: !!float 2e6
  policy: 'MlpPolicy'
  batch_size: 128
  n_steps: 512
  gamma: 0.99
  learning_rate: !!float 3e-5
  use_sde: True
  clip_range: 0.4
  policy_kwargs: "dict(log_std_init=-2,
                       ortho_init=False,
                       activation_fn=nn.ReLU,
                       net_arch=dict(pi=[256, 256], vf=[256, 256])
                       )"

HopperBulletEnv-v0:
  <<: *pybullet-defaults
  n_timesteps: !!float 3e5
  clip_range: lin_0.3
  learning_rate: lin_1e-4
  normalize: "{'norm_obs': True, 'norm_reward': False}"
  policy_kwargs: "dict(log_std_init=-1, activation_fn=th.nn.Tanh, net_arch=[64, 64])"

AntBulletEnv-v0:
  <<: *pybullet-defaults
  env_wrapper:
    - rl_zoo3.wrappers.HistoryWrapper:
        horizon: 2
"""


def _write_zoo_file(folder: Path, algo: str = "ppo", text: str = ZOO_STYLE_YAML) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{algo}.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


# --- the vendored copy -------------------------------------------------------------------------


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vendored_entries_are_sensible_and_json_able(env_id: str, algo: str) -> None:
    h = vendored_hyperparams(env_id, algo)
    assert (h.algo, h.env_id, h.policy) == (algo, env_id, "MlpPolicy")
    assert ZOO_VERSION in h.source and "vendored" in h.source and f"{algo}.yml" in h.source
    kw = h.algo_kwargs
    assert 0 < kw["learning_rate"] < 1e-2
    assert 0.9 <= kw["gamma"] < 1
    assert kw["use_sde"] is True
    if algo == "ppo":
        assert (h.n_timesteps, h.n_envs, h.normalize, h.normalize_kwargs) == (2_000_000, 16, True, {"gamma": 0.99})
        assert (kw["n_steps"], kw["batch_size"], kw["n_epochs"], kw["gae_lambda"]) == (512, 128, 20, 0.9)
        assert (kw["clip_range"], kw["ent_coef"], kw["sde_sample_freq"]) == (0.4, 0.0, 4)
        assert (kw["n_steps"] * h.n_envs) % kw["batch_size"] == 0
        assert h.policy_kwargs["activation_fn"] == "relu" and h.policy_kwargs["ortho_init"] is False
        assert h.policy_kwargs["net_arch"] == {"pi": [256, 256], "vf": [256, 256]}
        assert h.learning_rate_schedule == "constant"
    else:
        assert (h.n_timesteps, h.n_envs, h.normalize, h.normalize_kwargs) == (1_000_000, 1, False, {})
        assert (kw["buffer_size"], kw["batch_size"], kw["learning_starts"]) == (300_000, 256, 10_000)
        assert (kw["ent_coef"], kw["tau"], kw["train_freq"], kw["gradient_steps"]) == ("auto", 0.02, 8, 8)
        assert kw["learning_rate"] == 7.3e-4
        assert h.policy_kwargs == {"log_std_init": -3, "net_arch": [400, 300], "use_expln": True}
        assert h.clip_range_schedule == "constant"
    assert isinstance(h.n_timesteps, int) and isinstance(h.n_envs, int)
    assert json.loads(json.dumps(h.to_dict())) == h.to_dict()


def test_vendored_per_env_differences_match_the_zoo() -> None:
    """The overrides of each entry on its ``pybullet-defaults`` anchor, one by one."""
    ppo = {env: vendored_hyperparams(env, "ppo") for env in ENV_IDS}
    assert {env: h.clip_range_schedule for env, h in ppo.items()} == {
        "HalfCheetahBulletEnv-v0": "constant",
        "HopperBulletEnv-v0": "linear",
        "Walker2DBulletEnv-v0": "linear",
        "AntBulletEnv-v0": "constant",
    }
    assert {env: h.policy_kwargs["log_std_init"] for env, h in ppo.items()} == {
        "HalfCheetahBulletEnv-v0": -2,
        "HopperBulletEnv-v0": -2,
        "Walker2DBulletEnv-v0": -2,
        "AntBulletEnv-v0": -1,
    }
    sac = {env: vendored_hyperparams(env, "sac") for env in ENV_IDS}
    assert {env: h.learning_rate_schedule for env, h in sac.items()} == {
        "HalfCheetahBulletEnv-v0": "constant",
        "HopperBulletEnv-v0": "linear",
        "Walker2DBulletEnv-v0": "linear",
        "AntBulletEnv-v0": "constant",
    }


def test_each_call_returns_an_independent_copy() -> None:
    h = vendored_hyperparams("HopperBulletEnv-v0", "ppo")
    h.algo_kwargs["n_steps"] = 1
    h.policy_kwargs["net_arch"]["pi"].append(7)
    fresh = vendored_hyperparams("HopperBulletEnv-v0", "ppo")
    assert fresh.algo_kwargs["n_steps"] == 512
    assert fresh.policy_kwargs["net_arch"]["pi"] == [256, 256]


def test_without_rl_zoo3_the_vendored_copy_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zoo, "installed_hyperparams_dir", lambda: None)
    h = zoo_hyperparams("Walker2DBulletEnv-v0", "sac")
    assert h == vendored_hyperparams("Walker2DBulletEnv-v0", "sac")


@pytest.mark.parametrize(
    ("env_id", "algo", "bad"),
    [
        ("HumanoidBulletEnv-v0", "ppo", "HumanoidBulletEnv-v0"),
        ("HopperBulletEnv-v0", "td3", "td3"),
        ("hopper", "PPO", "PPO"),
    ],
)
def test_unknown_env_or_algo_names_the_value_and_the_choices(env_id: str, algo: str, bad: str) -> None:
    with pytest.raises(ValueError, match=bad) as info:
        zoo_hyperparams(env_id, algo)
    message = str(info.value)
    choices = ENV_IDS if bad == env_id else ALGOS
    assert all(choice in message for choice in choices)
    with pytest.raises(ValueError, match=bad):
        vendored_hyperparams(env_id, algo)


# --- the policy_kwargs parser ------------------------------------------------------------------


def test_parser_reads_the_zoo_strings() -> None:
    assert parse_policy_kwargs(PPO_POLICY_KWARGS) == {
        "log_std_init": -2,
        "ortho_init": False,
        "activation_fn": "relu",
        "net_arch": {"pi": [256, 256], "vf": [256, 256]},
    }
    assert parse_policy_kwargs(SAC_POLICY_KWARGS) == {"log_std_init": -3, "net_arch": [400, 300], "use_expln": True}
    assert parse_policy_kwargs("{'norm_obs': True, 'norm_reward': False}") == {"norm_obs": True, "norm_reward": False}
    assert parse_policy_kwargs("dict(norm_obs=False, norm_reward=True)") == {"norm_obs": False, "norm_reward": True}
    assert parse_policy_kwargs(
        "dict(activation_fn=th.nn.Tanh, net_arch=dict(pi=(64,), qf=[]), eps=1e-5, n_critics=+2, name=None)"
    ) == {"activation_fn": "tanh", "net_arch": {"pi": [64], "qf": []}, "eps": 1e-5, "n_critics": 2, "name": None}
    assert parse_policy_kwargs("\n  dict(activation_fn=torch.nn.GELU)\n") == {"activation_fn": "gelu"}
    assert parse_policy_kwargs("dict(activation_fn='relu')") == {"activation_fn": "relu"}


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "__import__('os').system('true')",
        "dict(log_std_init=__import__('os').getpid())",
        "dict(x=os.system('true'))",
        "dict(net_arch=[64, nn.ReLU])",
        "dict(activation_fn=nn.Sigmoid)",
        "dict(activation_fn=os.path)",
        "dict(activation_fn=ReLU)",
        "dict(activation_fn='nn.ReLU')",
        "dict(optimizer_class=th.optim.Adam)",
        "dict(**other)",
        "dict([('a', 1)])",
        "{1: 2}",
        "{**other}",
        "dict(a=1 + 2)",
        "dict(a=-True)",
        "dict(a=lambda: 0)",
        "dict(a={1, 2})",
        "dict(a=1, a=2)",
        "[1, 2]",
        "dict(a=1",
        "",
    ],
)
def test_parser_rejects_anything_but_literals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_policy_kwargs(text)


# --- reading zoo files: a given directory, an installed rl_zoo3 ----------------------------------


def test_reader_follows_the_zoo_yaml_syntax(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    folder = _write_zoo_file(tmp_path / "hyperparams")
    cheetah = zoo_hyperparams("HalfCheetahBulletEnv-v0", "ppo", hyperparams_dir=folder)
    assert cheetah.source == f"{folder / 'ppo.yml'} (given directory)"
    assert (cheetah.n_timesteps, cheetah.n_envs, cheetah.normalize_kwargs) == (2_000_000, 16, {"gamma": 0.99})
    assert cheetah.algo_kwargs["learning_rate"] == 3e-5 and cheetah.learning_rate_schedule == "constant"
    assert cheetah.policy_kwargs == parse_policy_kwargs(PPO_POLICY_KWARGS)

    hopper = zoo_hyperparams("HopperBulletEnv-v0", "ppo", hyperparams_dir=str(folder))
    assert hopper.n_timesteps == 300_000 and hopper.n_envs == 16
    assert (hopper.algo_kwargs["batch_size"], hopper.algo_kwargs["use_sde"]) == (128, True)
    assert (hopper.algo_kwargs["clip_range"], hopper.clip_range_schedule) == (0.3, "linear")
    assert (hopper.algo_kwargs["learning_rate"], hopper.learning_rate_schedule) == (1e-4, "linear")
    assert hopper.normalize is True
    assert hopper.normalize_kwargs == {"norm_obs": True, "norm_reward": False, "gamma": 0.99}
    assert hopper.policy_kwargs == {"log_std_init": -1, "activation_fn": "tanh", "net_arch": [64, 64]}


def test_reader_refuses_what_it_cannot_honour(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    folder = _write_zoo_file(tmp_path / "hyperparams")
    with pytest.raises(ValueError, match="env_wrapper"):
        zoo_hyperparams("AntBulletEnv-v0", "ppo", hyperparams_dir=folder)
    with pytest.raises(ValueError, match="no entry for Walker2DBulletEnv-v0"):
        zoo_hyperparams("Walker2DBulletEnv-v0", "ppo", hyperparams_dir=folder)
    with pytest.raises(FileNotFoundError):
        zoo_hyperparams("HopperBulletEnv-v0", "sac", hyperparams_dir=folder)
    bad = _write_zoo_file(
        tmp_path / "bad",
        "sac",
        "HopperBulletEnv-v0:\n  n_timesteps: 1000\n  policy_kwargs: \"dict(net_arch=__import__('os'))\"\n",
    )
    with pytest.raises(ValueError, match="__import__"):
        zoo_hyperparams("HopperBulletEnv-v0", "sac", hyperparams_dir=bad)
    bad = _write_zoo_file(tmp_path / "bad", "ppo", "HopperBulletEnv-v0:\n  n_timesteps: 1000\n  gamma: lin_0.9\n")
    with pytest.raises(ValueError, match="gamma"):
        zoo_hyperparams("HopperBulletEnv-v0", "ppo", hyperparams_dir=bad)


def test_an_installed_rl_zoo3_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yaml")
    folder = _write_zoo_file(tmp_path / "rl_zoo3" / "hyperparams")
    monkeypatch.setattr(zoo, "installed_hyperparams_dir", lambda: folder)
    h = zoo_hyperparams("HopperBulletEnv-v0", "ppo")
    assert h.source.startswith("rl_zoo3 ") and h.source.endswith("hyperparams/ppo.yml (installed)")
    assert h.n_timesteps == 300_000
    with pytest.warns(UserWarning, match="no ppo entry for Walker2DBulletEnv-v0"):
        fallback = zoo_hyperparams("Walker2DBulletEnv-v0", "ppo")
    assert fallback == vendored_hyperparams("Walker2DBulletEnv-v0", "ppo")


def _installed_release() -> tuple[Path, str] | None:
    import importlib.metadata

    folder = zoo.installed_hyperparams_dir()
    if folder is None:
        return None
    return folder, importlib.metadata.version("rl_zoo3")


@pytest.mark.skipif(_installed_release() is None, reason="rl_zoo3 is not installed (it is not a dependency)")
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vendored_copy_equals_the_installed_release(env_id: str, algo: str) -> None:
    """Holds for the release the copy was taken from; another release may legitimately differ."""
    folder, version = _installed_release()  # type: ignore[misc]
    if version != ZOO_VERSION:
        pytest.skip(f"rl_zoo3 {version} is installed, the copy is of {ZOO_VERSION}")
    assert zoo._read_entry(folder, env_id, algo) == zoo._VENDORED[algo][env_id]
    installed = zoo_hyperparams(env_id, algo)
    assert installed.source == f"rl_zoo3 {ZOO_VERSION} hyperparams/{algo}.yml (installed)"
    vendored = vendored_hyperparams(env_id, algo)
    assert {**installed.to_dict(), "source": None} == {**vendored.to_dict(), "source": None}


def test_installed_dir_is_none_or_a_hyperparams_folder() -> None:
    folder = zoo.installed_hyperparams_dir()
    assert folder is None or (folder.name == "hyperparams" and (folder / "ppo.yml").is_file())


# --- stable-baselines3 arguments -------------------------------------------------------------------


def test_module_import_does_not_import_torch() -> None:
    code = "import sys, tasks.sim2real.zoo; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[3]).returncode == 0


def test_sb3_kwargs_maps_schedules_tuples_and_activations() -> None:
    import torch.nn as nn

    h = vendored_hyperparams("HopperBulletEnv-v0", "ppo")
    kw = sb3_kwargs(h)
    assert kw["policy"] == "MlpPolicy"
    assert kw["learning_rate"] == 3e-5
    assert kw["clip_range"] == LinearSchedule(0.4) and kw["clip_range"](0.5) == pytest.approx(0.2)
    assert kw["policy_kwargs"]["activation_fn"] is nn.ReLU
    assert h.policy_kwargs["activation_fn"] == "relu"
    assert "n_envs" not in kw and "normalize" not in kw and "n_timesteps" not in kw

    sac = sb3_kwargs(vendored_hyperparams("Walker2DBulletEnv-v0", "sac"))
    assert sac["learning_rate"](1.0) == pytest.approx(7.3e-4) and sac["learning_rate"](0.0) == 0.0
    assert pickle.loads(pickle.dumps(sac["learning_rate"])) == LinearSchedule(7.3e-4)

    h = ZooHyper(**{**h.to_dict(), "algo_kwargs": {"train_freq": [1, "episode"]}, "policy_kwargs": {}})
    assert sb3_kwargs(h) == {"policy": "MlpPolicy", "train_freq": (1, "episode")}


def test_sb3_builds_and_trains_ppo_on_a_real_hopper() -> None:
    """The zoo's Hopper settings on one env instead of 16; PPO trains for one 512-step rollout.

    The update runs one epoch instead of the zoo's 20 (set after construction): 20 would only cost time.
    """
    pytest.importorskip("pybullet_envs_gymnasium")
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    from torch import nn

    from tasks.sim2real.dynamics import make_env

    h = vendored_hyperparams("HopperBulletEnv-v0", "ppo")
    venv = VecNormalize(DummyVecEnv([lambda: make_env("HopperBulletEnv-v0", None, seed=0)]), **h.normalize_kwargs)
    try:
        model = PPO(env=venv, seed=0, device="cpu", **sb3_kwargs(h))
        assert (model.n_steps, model.batch_size, model.n_epochs, model.gamma) == (512, 128, 20, 0.99)
        assert model.use_sde and model.sde_sample_freq == 4
        assert model.lr_schedule(1.0) == pytest.approx(3e-5) and model.lr_schedule(0.1) == pytest.approx(3e-5)
        assert model.clip_range(1.0) == pytest.approx(0.4) and model.clip_range(0.25) == pytest.approx(0.1)
        assert model.policy.activation_fn is nn.ReLU and model.policy.ortho_init is False
        assert float(model.policy.log_std.detach().mean()) == pytest.approx(-2.0)
        assert venv.gamma == 0.99
        model.n_epochs = 1
        model.learn(total_timesteps=h.algo_kwargs["n_steps"])
        assert model.num_timesteps == 512

        s = vendored_hyperparams("HopperBulletEnv-v0", "sac")
        sac = SAC(env=venv, seed=0, device="cpu", **sb3_kwargs(s))
        assert (sac.batch_size, sac.tau, sac.gamma, sac.gradient_steps) == (256, 0.02, 0.98, 8)
        assert sac.train_freq.frequency == 8 and sac.learning_starts == 10_000
        assert sac.lr_schedule(0.5) == pytest.approx(7.3e-4 / 2)
        assert sac.policy.actor.use_sde and sac.policy.net_arch == [400, 300]
    finally:
        venv.close()
