"""Tests of the perturbation layer (tasks/sim2real/dynamics.py).

Every perturbed parameter is read back from pybullet after a reset and again after another one
(absolute values, never compounded), and every one is shown to ACT, by behaviour, on the envs
whose tasks use it: the pendula for all of them, the HalfCheetah for ground friction, and a
plugin env defined here for the promise that any PyBullet env works unchanged. Envs run a few
dozen steps at most, so the file takes seconds.
"""

from __future__ import annotations

import json
import math
import pickle
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet
import pytest
from pybullet_utils import bullet_client

from tasks.sim2real.dynamics import (
    LIMITS,
    Dynamics,
    DynamicsRange,
    PerturbedEnv,
    find_client,
    make_env,
    perturb,
)

PENDULUM = "InvertedPendulumBulletEnv-v0"
DOUBLE = "InvertedDoublePendulumBulletEnv-v0"
CHEETAH = "HalfCheetahBulletEnv-v0"
HOPPER = "HopperBulletEnv-v0"
WALKER = "Walker2DBulletEnv-v0"
ANT = "AntBulletEnv-v0"
PENDULA = (PENDULUM, DOUBLE)
POLE = {PENDULUM: "pole", DOUBLE: "pole2", CHEETAH: "bthigh", HOPPER: "foot", WALKER: "foot_left",
        ANT: "front_left_leg"}
"""A link per env whose mass a task would change on its own."""
GAIN = {PENDULUM: 100.0, DOUBLE: 200.0}
"""Force on the cart per unit action, hard-coded in pybullet_envs' pendula."""


# --- helpers ---------------------------------------------------------------------------------------


def rollout(env: gym.Env, actions: Any, seed: int | None = 0) -> np.ndarray:
    """Observations: the reset one, then one per action (termination is ignored: the sim goes on)."""
    obs, _ = env.reset(seed=seed)
    out = [np.array(obs, dtype=np.float64)]
    for a in actions:
        out.append(np.array(env.step(np.asarray(a, dtype=np.float32))[0], dtype=np.float64))
    return np.array(out)


def constant(env_id: str, value: float, n: int) -> list[np.ndarray]:
    dim = 6 if env_id == CHEETAH else 1
    return [np.full(dim, value, dtype=np.float32)] * n


def joint(env: gym.Env, name: str) -> tuple[int, int]:
    """(body, joint index) of the joint called ``name``, looked up through pybullet."""
    p = find_client(env)
    for i in range(p.getNumBodies()):
        body = p.getBodyUniqueId(i)
        for j in range(p.getNumJoints(body)):
            if p.getJointInfo(body, j)[1].decode() == name:
                return body, j
    raise KeyError(name)


def joint_state(env: gym.Env, name: str) -> tuple[float, float, float]:
    """(position, velocity, applied motor torque) of a joint, as pybullet reports them."""
    p = find_client(env)
    pos, vel, _, torque = p.getJointState(*joint(env, name))
    return pos, vel, torque


def nominal_links(env_id: str) -> dict[str, tuple[float, float, tuple[float, ...]]]:
    """{link: (mass, lateral friction, inertia)} of every link with mass in a bare env, read from pybullet."""
    env = make_env(env_id)
    env.reset(seed=0)
    p = env.unwrapped._p
    out = {}
    for i in range(p.getNumBodies()):
        body = p.getBodyUniqueId(i)
        n = p.getNumJoints(body)
        names = [p.getBodyInfo(body)[0].decode()] + [p.getJointInfo(body, j)[12].decode() for j in range(n)]
        infos = [p.getDynamicsInfo(body, link) for link in range(-1, n)]
        out.update({name: (info[0], info[1], tuple(info[2]))
                    for name, info in zip(names, infos, strict=True) if info[0] > 0})
    env.close()
    return out


def static_links(env: gym.Env, reset: bool = False) -> dict[tuple[int, int], tuple[float, float]]:
    """{(body, link): (mass, lateral friction)} of every massless link, read from pybullet."""
    if reset:
        env.reset(seed=0)
    p = find_client(env)
    out = {}
    for i in range(p.getNumBodies()):
        body = p.getBodyUniqueId(i)
        for link in range(-1, p.getNumJoints(body)):
            mass, friction = p.getDynamicsInfo(body, link)[:2]
            if mass == 0:
                out[body, link] = (mass, friction)
    return out


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*seed.*", category=DeprecationWarning)
        yield


# --- settings: validation, sampling, serialization --------------------------------------------------


def test_defaults_are_nominal_and_json_round_trip() -> None:
    d = Dynamics()
    assert d.is_nominal and d.link_mass_scale == {}
    p = Dynamics(mass_scale=2, link_mass_scale={"pole": 3}, latency_steps=2, gravity=-5, observation_noise=0.1)
    assert not p.is_nominal
    text = json.dumps(p.to_dict())
    back = Dynamics.from_dict(json.loads(text))
    assert back == p and hash(back) == hash(p)
    assert back.link_mass_scale == {"pole": 3.0} and isinstance(back.mass_scale, float)
    r = DynamicsRange(mass_scale=(0.5, 2), link_mass_scale={"pole": (1, 3)}, latency_steps=(0, 2))
    assert DynamicsRange.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert r.to_dict()["link_mass_scale"] == {"pole": [1.0, 3.0]}


def test_settings_are_picklable_hashable_and_frozen() -> None:
    d = Dynamics(link_mass_scale={"pole": 2.0, "cart": 0.5}, motor_strength=0.5)
    r = DynamicsRange(link_mass_scale={"pole": (1.0, 2.0)}, gravity=(-12.0, -8.0))
    for x in (d, r):
        assert pickle.loads(pickle.dumps(x)) == x
        assert hash(pickle.loads(pickle.dumps(x))) == hash(x)
    assert {d: 1}[Dynamics(link_mass_scale={"cart": 0.5, "pole": 2}, motor_strength=0.5)] == 1
    with pytest.raises(AttributeError):
        d.mass_scale = 2.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        d.link_mass_scale["pole"] = 3.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "field", "accepted"),
    [
        ({"mass_scale": 0.0}, "mass_scale", "(0, 10]"),
        ({"mass_scale": 10.5}, "mass_scale", "(0, 10]"),
        ({"link_mass_scale": {"pole": 0}}, "link_mass_scale['pole']", "(0, 10]"),
        ({"link_mass_scale": {"pole": 11}}, "link_mass_scale['pole']", "(0, 10]"),
        ({"friction_scale": -0.1}, "friction_scale", "[0, 10]"),
        ({"joint_damping": 101.0}, "joint_damping", "[0, 100]"),
        ({"joint_friction": -1.0}, "joint_friction", "[0, 1000]"),
        ({"motor_strength": 5.5}, "motor_strength", "[0, 5]"),
        ({"gravity": 1.0}, "gravity", "[-30, 0]"),
        ({"gravity": -31.0}, "gravity", "[-30, 0]"),
        ({"gravity": math.nan}, "gravity", "[-30, 0]"),
        ({"latency_steps": 11}, "latency_steps", "[0, 10]"),
        ({"latency_steps": 1.5}, "latency_steps", "integer"),
        ({"latency_steps": True}, "latency_steps", "integer"),
        ({"action_noise": 6.0}, "action_noise", "[0, 5]"),
        ({"observation_noise": -0.5}, "observation_noise", "[0, 5]"),
        ({"mass_scale": "2"}, "mass_scale", "(0, 10]"),
    ],
)
def test_out_of_range_values_name_field_value_and_range(kwargs: dict[str, Any], field: str, accepted: str) -> None:
    with pytest.raises(ValueError) as err:
        Dynamics(**kwargs)
    message = str(err.value)
    value = next(iter(kwargs.values()))
    value = next(iter(value.values())) if isinstance(value, dict) else value
    assert field in message and accepted in message and repr(value) in message


def test_range_validation() -> None:
    with pytest.raises(ValueError, match=r"mass_scale.*low 2.0 is above high 1.0"):
        DynamicsRange(mass_scale=(2.0, 1.0))
    with pytest.raises(ValueError, match=r"motor_strength high = 7.*\[0, 5\]"):
        DynamicsRange(motor_strength=(0.5, 7.0))
    with pytest.raises(ValueError, match=r"link_mass_scale\['pole'\] low = 0.*\(0, 10\]"):
        DynamicsRange(link_mass_scale={"pole": (0.0, 2.0)})
    with pytest.raises(ValueError, match=r"gravity = -9.8 must be a \(low, high\) pair"):
        DynamicsRange(gravity=-9.8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"latency_steps high = 2.5 must be an integer"):
        DynamicsRange(latency_steps=(0, 2.5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown field.*mass_scael"):
        Dynamics.from_dict({"mass_scael": 2.0})
    with pytest.raises(ValueError, match="unknown field.*bogus"):
        DynamicsRange.from_dict({"bogus": [1, 2]})
    assert set(LIMITS) == {f for f in Dynamics().to_dict()}


def test_sample_is_deterministic_per_seed_and_within_ranges() -> None:
    r = DynamicsRange(mass_scale=(0.5, 2.0), link_mass_scale={"pole": (1.0, 3.0), "cart": (0.8, 0.8)},
                      friction_scale=(0.2, 1.5), joint_damping=(0.0, 2.0), joint_friction=(0.0, 5.0),
                      motor_strength=(0.4, 1.1), gravity=(-12.0, -8.0), latency_steps=(0, 2),
                      action_noise=(0.0, 0.1), observation_noise=(0.0, 0.05))

    def draw(seed: int) -> list[Dynamics]:
        rng = np.random.default_rng(seed)
        return [r.sample(rng) for _ in range(300)]

    a, b, c = draw(7), draw(7), draw(8)
    assert a == b and a != c
    assert all(r.covers(d) for d in a)
    assert {d.latency_steps for d in a} == {0, 1, 2}, "the integer range is inclusive at both ends"
    assert all(d.link_mass_scale["cart"] == 0.8 for d in a), "a degenerate range gives exactly its value"
    masses = np.array([d.mass_scale for d in a])
    assert masses.min() < 0.6 and masses.max() > 1.9
    assert DynamicsRange().sample(np.random.default_rng(0)) == Dynamics()
    fixed = Dynamics(mass_scale=2.0, link_mass_scale={"pole": 3.0}, latency_steps=1)
    assert DynamicsRange.fixed(fixed).sample(np.random.default_rng(0)) == fixed


def test_covers() -> None:
    r = DynamicsRange(mass_scale=(0.5, 2.0), link_mass_scale={"pole": (1.0, 3.0)}, latency_steps=(0, 2))
    assert r.covers(Dynamics())
    assert r.covers(Dynamics(mass_scale=2.0, link_mass_scale={"pole": 3.0}, latency_steps=2))
    assert not r.covers(Dynamics(mass_scale=2.1))
    assert not r.covers(Dynamics(link_mass_scale={"pole": 3.5}))
    assert not r.covers(Dynamics(latency_steps=3))
    assert not r.covers(Dynamics(link_mass_scale={"cart": 1.5})), "a link the range does not name stays at 1"
    assert r.covers(Dynamics(link_mass_scale={"cart": 1.0}))
    assert not DynamicsRange(link_mass_scale={"pole": (2.0, 3.0)}).covers(Dynamics()), "unnamed means 1.0"
    assert not r.covers(Dynamics(gravity=-5.0)) and not r.covers(Dynamics(observation_noise=0.1))


# --- read back: every parameter, absolute after every reset -------------------------------------------


@pytest.mark.parametrize("env_id", [PENDULUM, DOUBLE, CHEETAH, HOPPER, WALKER, ANT])
def test_every_parameter_reads_back_absolute_after_each_reset(env_id: str) -> None:
    nominal = nominal_links(env_id)
    link = POLE[env_id]
    d = Dynamics(mass_scale=1.5, link_mass_scale={link: 2.0}, friction_scale=0.5, joint_damping=3.0,
                 joint_friction=2.0, gravity=-5.0)
    env = make_env(env_id, d, seed=0)
    for episode in range(2):
        env.reset()
        got = env.read_back()
        assert set(got["mass"]) == set(nominal) and link in nominal
        for name, (mass, friction, inertia) in nominal.items():
            scale = 1.5 * (2.0 if name == link else 1.0)
            assert got["mass"][name] == pytest.approx(mass * scale, rel=1e-9), (episode, name)
            assert list(got["inertia"][name]) == pytest.approx([x * scale for x in inertia], rel=1e-9), name
            assert got["lateral_friction"][name] == pytest.approx(friction * 0.5, rel=1e-6), (episode, name)
        assert got["gravity"] == -5.0 and got["gravity_vector"] == (0.0, 0.0, -5.0)
        assert set(got["joint_damping"].values()) == {3.0} and set(got["joint_friction"].values()) == {2.0}
        assert not any(name.startswith("ignore") for name in got["joint_damping"]), "planar root joints are skipped"
        for _ in range(3):
            env.step(env.action_space.sample())
    # Static links keep their friction (so a contact's friction scales by exactly friction_scale) and mass 0.
    static = static_links(env)
    assert static and static == static_links(make_env(env_id), reset=True)
    env.close()


def test_sampled_dynamics_are_applied_absolute_every_episode() -> None:
    nominal = nominal_links(PENDULUM)
    r = DynamicsRange(mass_scale=(0.5, 2.0), link_mass_scale={"pole": (1.0, 3.0)}, friction_scale=(0.5, 2.0),
                      gravity=(-12.0, -6.0))
    env = make_env(PENDULUM, r, seed=3)
    seen = []
    for _ in range(4):
        _, info = env.reset()
        d = env.current
        assert info["dynamics"] == d and r.covers(d)
        seen.append(d)
        got = env.read_back()
        pole = nominal["pole"][0] * d.mass_scale * d.link_mass_scale["pole"]
        assert got["mass"]["pole"] == pytest.approx(pole, rel=1e-9)
        assert got["mass"]["cart"] == pytest.approx(nominal["cart"][0] * d.mass_scale, rel=1e-9)
        assert got["lateral_friction"]["cart"] == pytest.approx(nominal["cart"][1] * d.friction_scale, rel=1e-6)
        assert got["gravity"] == pytest.approx(d.gravity)
        env.step(env.action_space.sample())
    assert len(set(seen)) == 4
    # Same seed, same sequence of settings; reset(seed=...) restarts it.
    again = make_env(PENDULUM, r, seed=3)
    assert [again.reset()[1]["dynamics"] for _ in range(4)] == seen
    assert again.reset(seed=3)[1]["dynamics"] == seen[0]


def test_default_fields_restore_the_env_s_own_values() -> None:
    """A nominal wrapper is the bare env, and a wrapper after another starts from the true nominal values."""
    actions = constant(PENDULUM, 0.3, 20)
    bare = rollout(make_env(PENDULUM), actions, seed=1)
    assert np.array_equal(rollout(make_env(PENDULUM, Dynamics()), actions, seed=1), bare)
    assert np.array_equal(rollout(make_env(PENDULUM, DynamicsRange()), actions, seed=1), bare)
    inner = make_env(PENDULUM)
    heavy = PerturbedEnv(inner, Dynamics(mass_scale=3.0, gravity=-4.0, joint_friction=10.0))
    rollout(heavy, actions)
    assert heavy.read_back()["gravity"] == -4.0
    again = PerturbedEnv(inner, Dynamics())
    assert np.array_equal(rollout(again, actions, seed=1), bare)
    got = again.read_back()
    assert got["gravity"] == pytest.approx(-9.8)
    assert got["mass"]["pole"] == pytest.approx(nominal_links(PENDULUM)["pole"][0])


def test_misuse_is_reported() -> None:
    env = make_env(PENDULUM, Dynamics(link_mass_scale={"polee": 2.0}))
    with pytest.raises(ValueError, match=r"\['polee'\].*its links: .*pole"):
        env.reset(seed=0)
    with pytest.raises(ValueError, match="nested"):
        PerturbedEnv(make_env(PENDULUM, Dynamics()), Dynamics())
    with pytest.raises(RuntimeError, match="reset"):
        _ = make_env(PENDULUM, DynamicsRange()).current
    assert make_env(PENDULUM, Dynamics(mass_scale=2.0)).current == Dynamics(mass_scale=2.0)
    with pytest.raises(TypeError):
        PerturbedEnv(make_env(PENDULUM), {"mass_scale": 2.0})  # type: ignore[arg-type]
    assert isinstance(perturb(make_env(PENDULUM), Dynamics()), PerturbedEnv)


# --- behaviour: each parameter acts -----------------------------------------------------------------


@pytest.mark.parametrize("env_id", PENDULA)
@pytest.mark.parametrize("k", [1, 3])
def test_latency_delays_actions_by_exactly_k_steps(env_id: str, k: int) -> None:
    actions = list(np.random.default_rng(0).uniform(-1, 1, (12, 1)).astype(np.float32))
    delayed = rollout(make_env(env_id, Dynamics(latency_steps=k)), actions)
    shifted = [np.zeros(1, np.float32)] * k + actions[:-k]
    assert np.array_equal(delayed, rollout(make_env(env_id), shifted))
    idle = rollout(make_env(env_id), constant(env_id, 0.0, 12))
    assert np.array_equal(delayed[: k + 1], idle[: k + 1]), "nothing acts for the first k steps"
    assert not np.allclose(delayed[k + 1], idle[k + 1]), "the first action acts at step k + 1"


@pytest.mark.parametrize("env_id", PENDULA)
def test_motor_strength(env_id: str) -> None:
    full = constant(env_id, 1.0, 3)
    nominal = rollout(make_env(env_id), full)
    off = rollout(make_env(env_id, Dynamics(motor_strength=0.0)), full)
    assert np.array_equal(off, rollout(make_env(env_id), constant(env_id, 0.0, 3))), "strength 0: actions do nothing"
    strong_env = make_env(env_id, Dynamics(motor_strength=2.0))
    strong = rollout(strong_env, full)
    assert strong_env.motor_mode == "torque"
    # Even at full action, where the env clips: twice the torque, about twice the cart speed.
    assert 1.8 < strong[1, 1] / nominal[1, 1] < 2.2
    # Below 1 the torque and action mechanisms agree.
    half = constant(env_id, 0.8, 5)
    by_torque = rollout(make_env(env_id, Dynamics(motor_strength=0.5)), half)
    by_action = rollout(PerturbedEnv(make_env(env_id), Dynamics(motor_strength=0.5), motor="action"), half)
    np.testing.assert_allclose(by_torque, by_action, rtol=1e-5, atol=1e-6)
    # ...while scaling the action saturates at the env's own clip, which is why torque is the default.
    saturated = rollout(PerturbedEnv(make_env(env_id), Dynamics(motor_strength=2.0), motor="action"), full)
    assert np.array_equal(saturated, nominal)


@pytest.mark.parametrize("env_id", PENDULA)
def test_joint_damping_slows_joints_and_stays_stable(env_id: str) -> None:
    push = constant(env_id, 0.5, 15)
    speeds = {}
    for c in (0.0, 5.0, 100.0):
        env = make_env(env_id, Dynamics(joint_damping=c))
        obs = rollout(env, push)
        assert np.isfinite(obs).all()
        speeds[c] = (abs(obs[-1, 1]), abs(joint_state(env, "hinge")[1]))
    assert speeds[100.0][0] < speeds[5.0][0] < speeds[0.0][0], "the cart slides slower"
    assert speeds[100.0][1] < speeds[5.0][1] < speeds[0.0][1], "the pole swings slower"
    # Linear damping: the motor pulls back with exactly c * |v| (v at the start of the step).
    env = make_env(env_id, Dynamics(joint_damping=0.5))
    env.reset(seed=0)
    for a in push[:5]:
        v0 = joint_state(env, "slider")[1]
        env.step(a)
        assert joint_state(env, "slider")[2] == pytest.approx(-0.5 * v0, rel=1e-6, abs=1e-9)
        assert env.read_back()["joint_motor_torque"]["slider"] == pytest.approx(-0.5 * v0, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("env_id", PENDULA)
def test_joint_friction_resists(env_id: str) -> None:
    push = constant(env_id, 0.3, 10)
    force = 0.3 * GAIN[env_id]
    stuck = make_env(env_id, Dynamics(joint_friction=1.5 * force))
    obs = rollout(stuck, push)
    # Stiction: the motor holds the cart against the whole push (the solver lets it creep < 1 mm).
    assert np.abs(obs[1:, :2] - obs[0, :2]).max() < 1e-3, "more friction than push: the cart stays put"
    assert joint_state(stuck, "slider")[2] == pytest.approx(-force, rel=1e-3), "holding against the push"
    free = rollout(make_env(env_id), push)
    some = rollout(make_env(env_id, Dynamics(joint_friction=0.5 * force)), push)
    assert free[-1, 1] > 0.3, "without friction the same push moves it"
    assert 0 < some[-1, 1] < 0.6 * free[-1, 1]


@pytest.mark.parametrize("env_id", PENDULA)
def test_heavier_pole_changes_dynamics(env_id: str) -> None:
    pole = POLE[env_id]
    push = constant(env_id, 0.5, 10)
    env = make_env(env_id, Dynamics(link_mass_scale={pole: 3.0}))
    heavy = rollout(env, push)
    nominal = rollout(make_env(env_id), push)
    assert env.read_back()["mass"][pole] == pytest.approx(3.0 * nominal_links(env_id)[pole][0])
    assert np.abs(heavy - nominal).max() > 0.1, "the poles swing differently"
    if env_id == PENDULUM:
        assert heavy[-1, 1] < 0.9 * nominal[-1, 1], "the same push moves a heavier cart-pole less"
    light = rollout(make_env(env_id, Dynamics(mass_scale=0.5)), push)
    assert light[1, 1] > 1.5 * nominal[1, 1], "everything half as heavy: the push accelerates it faster"


@pytest.mark.parametrize("env_id", PENDULA)
def test_gravity_acts(env_id: str) -> None:
    idle = constant(env_id, 0.0, 15)

    def fall_speed(g: float | None) -> float:
        env = make_env(env_id, None if g is None else Dynamics(gravity=g))
        rollout(env, idle, seed=2)
        return abs(joint_state(env, "hinge")[1])

    weak, nominal, strong = fall_speed(-2.0), fall_speed(None), fall_speed(-20.0)
    assert weak < 0.5 * nominal and strong > 1.5 * nominal, (weak, nominal, strong)


@pytest.mark.parametrize("env_id", PENDULA)
def test_observation_noise_changes_observations_reproducibly(env_id: str) -> None:
    actions = constant(env_id, 0.0, 30)
    clean = rollout(make_env(env_id), actions)
    noisy = rollout(make_env(env_id, Dynamics(observation_noise=0.1), seed=5), actions, seed=None)
    again = rollout(make_env(env_id, Dynamics(observation_noise=0.1), seed=5), actions, seed=None)
    other = rollout(make_env(env_id, Dynamics(observation_noise=0.1), seed=6), actions, seed=None)
    assert np.array_equal(noisy, again), "same seed, same noise"
    assert not np.allclose(noisy, other)
    # Same seed for the env itself: the state is untouched, what differs is pure N(0, 0.1) noise.
    same_state = rollout(make_env(env_id, Dynamics(observation_noise=0.1), seed=0), actions, seed=None)
    diff = same_state - clean
    assert 0.08 < diff.std() < 0.12 and abs(diff.mean()) < 0.02


@pytest.mark.parametrize("env_id", PENDULA)
def test_action_noise_perturbs_reproducibly(env_id: str) -> None:
    actions = constant(env_id, 0.2, 20)
    clean = rollout(make_env(env_id), actions)
    noisy = rollout(make_env(env_id, Dynamics(action_noise=0.5), seed=0), actions, seed=None)
    assert np.array_equal(noisy, rollout(make_env(env_id, Dynamics(action_noise=0.5), seed=0), actions, seed=None))
    assert np.array_equal(noisy[0], clean[0]) and not np.allclose(noisy[-1], clean[-1])


def test_ground_friction_changes_the_cheetah_s_motion() -> None:
    """Launch the settled cheetah forward at 2 m/s: without friction it slides on, with friction it stops."""

    def launch(friction_scale: float) -> tuple[float, float]:
        env = make_env(CHEETAH, Dynamics(friction_scale=friction_scale))
        rollout(env, constant(CHEETAH, 0.0, 25))
        p, root = find_client(env), joint(env, "ignorex")
        x0 = p.getJointState(*root)[0]
        p.resetJointState(*root, x0, 2.0)
        for a in constant(CHEETAH, 0.0, 30):
            env.step(a)
        x1, v1 = p.getJointState(*root)[:2]
        return x1 - x0, v1

    (slide0, v0), (slide1, v1), (slide3, v3) = launch(0.0), launch(1.0), launch(3.0)
    assert v0 > 1.0 and v0 > v1 + 0.5 and slide0 > slide1 + 0.1, (slide0, v0, slide1, v1)
    assert (slide3, v3) != pytest.approx((slide1, v1), abs=0.05)


# --- a plugin env: not pybullet_envs, not known to tasks/sim2real ---------------------------------------


class BoxOnPlane(gym.Env):
    """A 1 kg box on a plane, pushed sideways by the action (a force through applyExternalForce).

    Written the way a plugin would: its own BulletClient, gravity set once at construction (not
    per reset), and the client exposed under one of the attributes PerturbedEnv looks for.
    """

    metadata = {"render_modes": []}

    def __init__(self, expose: str = "physics_client", height: float = 0.1) -> None:
        self._sim = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
        p = self._sim
        p.setGravity(0, 0, -9.81)
        p.setTimeStep(1 / 60)
        plane = p.createMultiBody(0, p.createCollisionShape(pybullet.GEOM_PLANE))
        self.box = p.createMultiBody(1.0, p.createCollisionShape(pybullet.GEOM_BOX, halfExtents=[0.1] * 3),
                                     basePosition=[0, 0, height])
        for body in (plane, self.box):
            p.changeDynamics(body, -1, lateralFriction=1.0)
        self.height = height
        attribute, _, kind = expose.partition(":")
        setattr(self, attribute, p._client if kind == "int" else p)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)

    def _obs(self) -> np.ndarray:
        (x, _, z), _ = self._sim.getBasePositionAndOrientation(self.box)
        (vx, _, vz), _ = self._sim.getBaseVelocity(self.box)
        return np.array([x, z, vx, vz], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._sim.resetBasePositionAndOrientation(self.box, [0, 0, self.height], [0, 0, 0, 1])
        self._sim.resetBaseVelocity(self.box, [0, 0, 0], [0, 0, 0])
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        force = 8.0 * float(np.clip(action[0], -1, 1))
        pos, _ = self._sim.getBasePositionAndOrientation(self.box)
        self._sim.applyExternalForce(self.box, -1, [force, 0, 0], pos, pybullet.WORLD_FRAME)
        self._sim.stepSimulation()
        return self._obs(), 0.0, False, False, {}


EXPOSURES = ["_p", "physics_client", "client", "client:int", "physicsClientId:int"]


@pytest.mark.parametrize("expose", EXPOSURES)
def test_plugin_env_is_perturbed_without_changes(expose: str) -> None:
    # Masses read back, absolute after a second reset.
    env = PerturbedEnv(BoxOnPlane(expose), Dynamics(mass_scale=2.0, friction_scale=0.5, gravity=-2.0), seed=0)
    for _ in range(2):
        env.reset()
        got = env.read_back()
        assert got["mass"] == {"link0": 2.0} and got["lateral_friction"] == {"link0": 0.5}
        assert got["gravity"] == -2.0
        assert got["motor_mode"] == ("action" if expose.endswith(":int") else "torque")
        env.step(np.zeros(1, np.float32))

    # Gravity acts: a box dropped from 1 m falls slower.
    def drop(dynamics: Dynamics | None) -> float:
        base = BoxOnPlane(expose, height=1.0)
        env = base if dynamics is None else PerturbedEnv(base, dynamics)
        return float(rollout(env, [np.zeros(1)] * 20)[-1, 1])

    assert drop(Dynamics(gravity=-2.0)) > drop(None) + 0.2
    assert drop(Dynamics()) == drop(None)

    # Friction acts: the push (8 N) cannot beat nominal friction (1 x 1 x 9.81 N), beats none at all.
    def slide(dynamics: Dynamics | None) -> float:
        base = BoxOnPlane(expose)
        env = base if dynamics is None else PerturbedEnv(base, dynamics, motor="action")
        rollout(env, [np.zeros(1)] * 10)  # settle
        x0 = float(env.step(np.zeros(1, np.float32))[0][0])
        return float(rollout_from(env, [np.ones(1)] * 20)[-1, 0]) - x0

    assert abs(slide(None)) < 1e-3 and slide(Dynamics(friction_scale=0.0)) > 0.3
    assert 0.01 < slide(Dynamics(friction_scale=0.5)) < slide(Dynamics(friction_scale=0.0))
    assert slide(Dynamics(motor_strength=0.0, friction_scale=0.0)) == pytest.approx(0.0, abs=1e-6)


def rollout_from(env: gym.Env, actions: Any) -> np.ndarray:
    """Observations of ``actions`` from the current state, no reset."""
    return np.array([env.step(np.asarray(a, dtype=np.float32))[0] for a in actions], dtype=np.float64)


def test_plugin_env_restores_its_own_gravity_per_episode() -> None:
    """The plugin sets gravity once: a range episode's gravity must not leak into the next nominal one."""
    env = PerturbedEnv(BoxOnPlane(), DynamicsRange(gravity=(-3.0, -1.0)), seed=0)
    env.reset()
    assert -3.0 <= env.read_back()["gravity"] <= -1.0
    base = env.env
    fresh = PerturbedEnv(base, Dynamics())
    fresh.reset()
    assert fresh.read_back()["gravity"] == pytest.approx(-9.81)


def test_torque_mode_warns_when_the_env_commands_no_torque() -> None:
    env = PerturbedEnv(BoxOnPlane(), Dynamics(motor_strength=0.5))
    env.reset(seed=0)
    with pytest.warns(RuntimeWarning, match="motor='action'"):
        env.step(np.ones(1, np.float32))
    with pytest.raises(ValueError, match="int id"):
        PerturbedEnv(BoxOnPlane("client:int"), Dynamics(), motor="torque").reset()


def test_client_can_be_given_explicitly() -> None:
    base = BoxOnPlane("hidden_sim")
    with pytest.raises(LookupError, match="exposes no pybullet client"):
        PerturbedEnv(base, Dynamics()).reset()
    env = PerturbedEnv(base, Dynamics(mass_scale=3.0), client=lambda env: env.hidden_sim)
    env.reset()
    assert env.read_back()["mass"] == {"link0": 3.0}
