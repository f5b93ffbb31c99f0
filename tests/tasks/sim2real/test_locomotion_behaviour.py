"""Latency, motor strength, floor friction and mass act, by behaviour, on the four locomotion robots.

The full tier's named targets and randomization ranges on HalfCheetah, Hopper, Walker2D and Ant
use exactly these four parameters, so each is shown to change what the robot does, judged by the
observations and by body states read from pybullet (never by reading the parameters back, which
``test_dynamics.py`` does):

- latency k: the run equals the bare env's run with the actions shifted by k, bit for bit;
- motor strength: 0 is "no action", 0.5 is "half the action" bit for bit (the env's TORQUE_CONTROL
  commands are scaled), and it changes the run;
- floor friction: on a slope steeper than the slippery floor's friction coefficient and gentler
  than the nominal one, the limp robot slides down by what Coulomb friction predicts, and holds
  on the nominal floor; the same actions also drive it differently;
- mass: twice the mass and twice the torque is the nominal run bit for bit (scaling by 2 is exact
  in floating point), while twice the mass alone swings the joints more slowly under the same
  torques.

Every run is seeded and a few hundred steps long at most, so the file takes a few seconds.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet
import pytest

from tasks.sim2real.dynamics import Dynamics, find_client, is_planar_root_joint, make_env

ROBOTS = ("HalfCheetahBulletEnv-v0", "HopperBulletEnv-v0", "Walker2DBulletEnv-v0", "AntBulletEnv-v0")


# --- helpers ---------------------------------------------------------------------------------------


def rollout(env: gym.Env, actions: Sequence[np.ndarray], seed: int | None = 0) -> np.ndarray:
    """Observations: the reset one, then one per action (termination is ignored: the sim goes on)."""
    obs, _ = env.reset(seed=seed)
    out = [np.array(obs, dtype=np.float64)]
    for a in actions:
        out.append(np.array(env.step(np.asarray(a, dtype=np.float32))[0], dtype=np.float64))
    return np.array(out)


@functools.cache
def action_shape(env_id: str) -> tuple[int, ...]:
    return tuple(make_env(env_id).action_space.shape)


def random_actions(env_id: str, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` actions drawn uniformly from [-1, 1] (the robots' action space), from ``seed``."""
    return list(np.random.default_rng(seed).uniform(-1.0, 1.0, (n, *action_shape(env_id))).astype(np.float32))


def zeros(env_id: str, n: int) -> list[np.ndarray]:
    return [np.zeros(action_shape(env_id), dtype=np.float32)] * n


def robot_body(env: gym.Env) -> tuple[Any, int, int]:
    """(client, body, link) of the robot's torso: the Ant's base, a link of the planar walkers."""
    p = find_client(env)
    for i in range(p.getNumBodies()):
        body = p.getBodyUniqueId(i)
        if p.getBodyInfo(body)[0] == b"torso":
            return p, body, -1
        for j in range(p.getNumJoints(body)):
            if p.getJointInfo(body, j)[12] == b"torso":
                return p, body, j
    raise LookupError("no torso")


def torso(env: gym.Env) -> tuple[np.ndarray, np.ndarray]:
    """World position and linear velocity of the torso's centre of mass, from pybullet."""
    p, body, link = robot_body(env)
    if link < 0:
        return np.array(p.getBasePositionAndOrientation(body)[0]), np.array(p.getBaseVelocity(body)[0])
    state = p.getLinkState(body, link, computeLinkVelocity=1)
    return np.array(state[0]), np.array(state[6])


def joint_speeds(env: gym.Env) -> np.ndarray:
    """|velocity| of every actuated joint (revolute, not one of the walkers' planar root joints)."""
    p, body, _ = robot_body(env)
    joints = [j for j in range(p.getNumJoints(body))
              if p.getJointInfo(body, j)[2] == pybullet.JOINT_REVOLUTE
              and not is_planar_root_joint(p.getJointInfo(body, j)[1].decode())]
    return np.abs([state[1] for state in p.getJointStates(body, joints)])


def floor_friction(env: gym.Env) -> float:
    """The robot-floor friction coefficient: Bullet multiplies the lateral frictions of the two bodies."""
    p, body, link = robot_body(env)
    floor = next(p.getBodyUniqueId(i) for i in range(p.getNumBodies())
                 if p.getBodyInfo(p.getBodyUniqueId(i))[0] == b"floor")
    return p.getDynamicsInfo(floor, -1)[1] * p.getDynamicsInfo(body, link)[1]


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*seed.*", category=DeprecationWarning)
        yield


# --- latency -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ROBOTS)
@pytest.mark.parametrize("k", [1, 2])
def test_latency_delays_actions_by_exactly_k_steps(env_id: str, k: int) -> None:
    actions = random_actions(env_id, 10)
    delayed = rollout(make_env(env_id, Dynamics(latency_steps=k)), actions)
    shifted = zeros(env_id, k) + actions[:-k]
    assert np.array_equal(delayed, rollout(make_env(env_id), shifted)), "the bare env with the actions k steps late"
    undelayed = rollout(make_env(env_id), actions)
    idle = rollout(make_env(env_id), zeros(env_id, 10))
    assert np.array_equal(delayed[: k + 1], idle[: k + 1]), "nothing acts for the first k steps"
    assert not np.allclose(delayed[k + 1], idle[k + 1]), "the first action acts at step k + 1"
    assert np.abs(delayed - undelayed).max() > 0.1, "the delayed run is not the undelayed one"


# --- motor strength ---------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ROBOTS)
def test_motor_strength_scales_the_torques(env_id: str) -> None:
    actions = random_actions(env_id, 15, seed=1)
    off_env = make_env(env_id, Dynamics(motor_strength=0.0))
    off = rollout(off_env, actions)
    assert off_env.motor_mode == "torque", "pybullet_envs send TORQUE_CONTROL commands through their client"
    assert np.array_equal(off, rollout(make_env(env_id), zeros(env_id, 15))), "strength 0: actions do nothing"
    # Below the env's clip (|a| <= 1) half the torque is half the action. Bit for bit, not just close:
    # halving is exact in floating point, so (gain * a) * 0.5 == gain * (0.5 * a).
    half = rollout(make_env(env_id, Dynamics(motor_strength=0.5)), actions)
    assert np.array_equal(half, rollout(make_env(env_id), [0.5 * a for a in actions]))
    assert np.abs(half - rollout(make_env(env_id), actions)).max() > 0.1, "weak motors change the run"


# --- floor friction ----------------------------------------------------------------------------------


def slide_down_slope(env_id: str, friction_scale: float, tan: float, seed: int) -> tuple[float, float, float]:
    """Let the limp robot come to rest, tilt gravity to a slope of ``tan``, and wait 60 steps.

    Returns (how far the torso moved down the slope, its speed along it at the end, the distance
    a block sliding with the robot-floor friction of ``friction_scale`` x nominal would cover).
    """
    env = make_env(env_id, Dynamics(friction_scale=friction_scale))
    rollout(env, zeros(env_id, 150), seed=seed)  # no torque: the robot collapses and comes to rest
    x0, v0 = torso(env)
    assert np.abs(v0).max() < 0.01, "at rest before the tilt"
    theta, g = math.atan(tan), 9.8
    p, _, _ = robot_body(env)
    p.setGravity(g * math.sin(theta), 0.0, -g * math.cos(theta))  # an incline falling towards +x
    for a in zeros(env_id, 60):
        env.step(a)
    x1, v1 = torso(env)
    bare = make_env(env_id)
    bare.reset(seed=seed)
    mu = friction_scale * floor_friction(bare)  # the contract: robot-floor friction x friction_scale
    t = 60 * env.unwrapped.scene.dt
    coulomb = 0.5 * g * max(0.0, math.sin(theta) - mu * math.cos(theta)) * t**2
    return float(x1[0] - x0[0]), float(v1[0]), coulomb


@pytest.mark.parametrize("env_id", ROBOTS)
def test_slippery_floor_lets_the_robot_slide(env_id: str) -> None:
    bare = make_env(env_id)
    bare.reset(seed=0)
    mu0 = floor_friction(bare)  # 0.8 x 0.8 = 0.64 for the walkers, 0.8 x 1.5 = 1.2 for the Ant
    tan = mu0 / 4  # steeper than the slippery floor's friction (mu0 / 10), far gentler than the nominal one
    # Seed 1: a resting pose in which the limp Walker2D does not tip over on the slope (from seed 0 it
    # tips, 0.08 m and still 0.11 m/s at the end on the nominal floor; its slippery slide is the same).
    slid, speed, coulomb = slide_down_slope(env_id, 0.1, tan, seed=1)
    held, held_speed, _ = slide_down_slope(env_id, 1.0, tan, seed=1)
    # Measured: slid 0.445 m for the 2-D robots (Coulomb: 0.455), 0.795 m for the Ant (0.828); held < 0.03 m.
    assert slid == pytest.approx(coulomb, rel=0.1) and slid > 0.4, (slid, coulomb)
    assert speed > 0.8, "still sliding at the end"
    assert abs(held) < 0.05 and abs(held_speed) < 0.05, ("the nominal floor holds the robot", held, held_speed)
    # And the same actions drive the robot differently on a slippery floor (measured: 1.2-3.1 in 60 steps).
    actions = random_actions(env_id, 60)
    slippery = rollout(make_env(env_id, Dynamics(friction_scale=0.1)), actions)
    nominal = rollout(make_env(env_id), actions)
    assert np.abs(slippery - nominal).max() > 0.5


# --- mass ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ROBOTS)
def test_mass_acts_as_mass(env_id: str) -> None:
    actions = random_actions(env_id, 40, seed=2)
    nominal = rollout(make_env(env_id), actions)
    heavy = rollout(make_env(env_id, Dynamics(mass_scale=2.0)), actions)
    assert np.abs(heavy - nominal).max() > 0.3, "a heavier robot moves differently under the same actions"
    # Twice every mass and inertia and twice every torque: the same motion (contact and gravity forces
    # scale with the mass too), bit for bit since doubling is exact in floating point.
    both = rollout(make_env(env_id, Dynamics(mass_scale=2.0, motor_strength=2.0)), actions)
    assert np.array_equal(both, nominal)

    def mean_joint_speed(dynamics: Dynamics) -> float:
        env = make_env(env_id, dynamics)
        env.reset(seed=0)
        speeds = []
        for a in actions[:10]:
            env.step(a)
            speeds.append(joint_speeds(env).mean())
        return float(np.mean(speeds))

    # The same torques swing the heavier robot's joints more slowly. Pure inertia would give 0.5 (gravity
    # and contacts scale with the mass, only the torques' effect halves); measured: 0.74 (HalfCheetah),
    # 0.55 (Hopper), 0.57 (Walker2D), 0.50 (Ant), and at most 0.78 over six action seeds.
    assert mean_joint_speed(Dynamics(mass_scale=2.0)) < 0.8 * mean_joint_speed(Dynamics())
