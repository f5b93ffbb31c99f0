"""The perturbation layer: one setting of a PyBullet simulator's dynamics, applied to any env at reset.

A sim2real task trains a policy under one setting of the dynamics (the "simulator") and scores it
under another (the "real system"), or under a distribution of settings (domain randomization).
:class:`PerturbedEnv` does this for ANY PyBullet-based gymnasium env, pybullet_envs_gymnasium's
or a plugin's, by talking to the env's own pybullet client and body ids; it knows no robot class.

What acts how, and why (each mechanism was chosen because it was measured to act on the
pybullet_envs_gymnasium robots; ``tests/tasks/sim2real/test_dynamics.py`` checks every one by
behaviour):

- **Masses** (``mass_scale`` x ``link_mass_scale[name]``): ``changeDynamics(mass=m0*s,
  localInertiaDiagonal=I0*s)`` on every link with a nominal mass > 0, i.e. the density is scaled
  and the inertia with it. Massless links are static (the floor, a fixed base, the joint frames
  pybullet's MJCF loader inserts) and are never touched. Bodies are not re-created on reset
  (pybullet_envs restore a saved state), so values persist across episodes: every value is set
  ABSOLUTE from the nominal values read once, after the first reset, never compounded.
- **Lateral friction** (``friction_scale``): ``changeDynamics(lateralFriction=f0*s)`` on the same
  links, those with mass. Static ones (the floor) are left alone: Bullet multiplies the two
  frictions of a contact, so scaling only the robot's side scales the robot-floor friction by
  exactly ``s`` (a contact between two moving links, by ``s**2``). The pendula disable contacts
  in their model file, so friction changes nothing there.
- **Gravity**: ``setGravity(gx0, gy0, g)`` after every inner reset (the pybullet_envs reset
  gravity on every reset). The default (-9.81) means *the env's own gravity* (pybullet_envs: -9.8,
  Reacher: 0), so that ``Dynamics()`` changes nothing at all; any other value is applied as is.
- **Joint damping and joint friction** act through ONE zero-velocity motor per joint,
  ``setJointMotorControl2(VELOCITY_CONTROL, targetVelocity=0, force=F)``, with
  ``F = joint_friction + joint_damping * |v|`` (``v`` the joint velocity at the start of the
  step, refreshed every step when damping is on). A velocity motor is a constraint that the
  solver clamps to ``F``: it resists motion with at most ``F`` and never reverses it, which gives
  Coulomb friction (stiction included) and linear damping that is unconditionally stable.
  pybullet's own ``changeDynamics(jointDamping=c)`` was rejected: it adds ``-c*v`` explicitly
  once per ``stepSimulation``, which diverges as soon as ``c*dt/I`` exceeds 2 (measured: the
  HalfCheetah's joints speed UP at c=20 and the pendulum's hinge blows up at c=100), and
  ``getJointInfo`` does not report it. The motor applies to every revolute and prismatic joint
  of a dynamic body except the planar root joints of the 2-D walkers (named ``ignore*`` by
  pybullet's MJCF loader: they stand in for a free base, they are not joints); choose others with
  ``skip_joint``. It occupies the joint's motor, so it suits envs that drive joints with
  ``TORQUE_CONTROL`` (all of pybullet_envs), not ones that drive them with position or velocity
  motors. The envs' model-file damping is not imported by pybullet, so nominal damping is 0.
- **Motor strength**: the pybullet_envs hard-code their torque gains and clip the action to
  [-1, 1] themselves, so scaling the action saturates for ``motor_strength > 1``. With
  ``motor="torque"`` (the default whenever the env's client is a Python object, e.g. a
  ``BulletClient``) the wrapper scales the ``force`` of every ``TORQUE_CONTROL`` command the env
  sends through its client, which acts for any strength; with ``motor="action"`` (the default for
  a client given as an integer id) it multiplies the clipped action instead.
- **Latency, action noise, observation noise** act in :meth:`PerturbedEnv.step`: the action is
  clipped to the action space, delayed by ``latency_steps`` (zeros before), Gaussian noise is
  added and the result clipped again (the actuator saturates), then the env steps; noise is
  added to every observation, the reset one included.

A field at its default restores the env's nominal value, so ``Dynamics()`` leaves the env exactly
as it was: its trajectories are bit-identical to the bare env's under the same seed.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import sys
import types
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np

from tasks.sim2real.native import native_output_silenced, pybullet

__all__ = [
    "CLIENT_ATTRIBUTES",
    "DEFAULT_GRAVITY",
    "LIMITS",
    "NOMINAL_ATTRIBUTE",
    "Dynamics",
    "DynamicsRange",
    "FrozenMap",
    "PerturbedEnv",
    "find_client",
    "is_planar_root_joint",
    "make_env",
    "perturb",
]

DEFAULT_GRAVITY = -9.81
"""``Dynamics.gravity``'s default, which means "the env's own gravity" (see :class:`Dynamics`)."""

LIMITS: Mapping[str, tuple[float, float, bool]] = types.MappingProxyType({
    "mass_scale": (0.0, 10.0, True),
    "link_mass_scale": (0.0, 10.0, True),
    "friction_scale": (0.0, 10.0, False),
    "joint_damping": (0.0, 100.0, False),
    "joint_friction": (0.0, 1000.0, False),
    "motor_strength": (0.0, 5.0, False),
    "gravity": (-30.0, 0.0, False),
    "latency_steps": (0, 10, False),
    "action_noise": (0.0, 5.0, False),
    "observation_noise": (0.0, 5.0, False),
})
"""Accepted values per field: (low, high, low end excluded). Beyond them a setting is a typo or
a simulation that diverges, not a harder task."""

CLIENT_ATTRIBUTES = ("_p", "physics_client", "client", "bullet_client", "pybullet_client",
                     "physicsClientId", "physics_client_id")
"""Attributes of ``env.unwrapped`` searched, in order, for the env's pybullet client: an object
with pybullet's functions as methods (``pybullet_utils.bullet_client.BulletClient``) or an int
client id (``-1``, "not connected yet", is skipped)."""

_FIXED_JOINT_TYPES = frozenset({pybullet.JOINT_FIXED, pybullet.JOINT_SPHERICAL, pybullet.JOINT_PLANAR,
                                pybullet.JOINT_POINT2POINT, pybullet.JOINT_GEAR})
"""Joint types that get no friction/damping motor: only revolute and prismatic joints do."""

_MOTOR_COMMANDS = {"setJointMotorControl2": "force", "setJointMotorControlArray": "forces",
                   "setJointMotorControlMultiDof": "force"}
"""The client functions whose ``TORQUE_CONTROL`` torques ``motor="torque"`` scales, and the name of
their torque argument (the 6th positional one in all three)."""


# --- settings ---------------------------------------------------------------------------------------


class FrozenMap(Mapping[str, Any]):
    """A read-only dict that hashes and pickles, so frozen settings can hold per-link values."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._data,))


def _range_text(name: str) -> str:
    low, high, open_low = LIMITS[name]
    kind = " (an integer)" if name == "latency_steps" else ""
    return f"{'(' if open_low else '['}{low:g}, {high:g}]{kind}"


def _checked(owner: str, name: str, value: Any, label: str | None = None) -> float | int:
    """``value`` as a float (an int for latency), or a ValueError naming the field, value and range."""
    label = label or name
    low, high, open_low = LIMITS[name]
    if name == "latency_steps":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{owner}.{label} = {value!r} must be an integer in {_range_text(name)}")
        number: float | int = int(value)
    else:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{owner}.{label} = {value!r} must be a number in {_range_text(name)}")
        number = float(value)
    if not math.isfinite(number) or number > high or number < low or (open_low and number == low):
        raise ValueError(f"{owner}.{label} = {value!r} is out of range; accepted: {_range_text(name)}")
    return number


def _link_name(owner: str, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"{owner}.link_mass_scale: link names must be non-empty strings, not {key!r}")
    return key


def _normalize_fields(obj: Any, per_link: str, check: Callable[[str, Any, str], Any]) -> dict[str, Any]:
    """Every field of a :class:`Dynamics` or :class:`DynamicsRange` checked by ``check(name, value, label)``."""
    owner = type(obj).__name__
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name == "link_mass_scale":
            if not isinstance(value, Mapping):
                raise ValueError(f"{owner}.link_mass_scale must map link names to {per_link}, not {value!r}")
            out[f.name] = FrozenMap({
                _link_name(owner, k): check("link_mass_scale", v, f"link_mass_scale[{k!r}]") for k, v in value.items()
            })
        else:
            out[f.name] = check(f.name, value, f.name)
    return out


def _unknown_keys(cls: type, d: Mapping[str, Any]) -> None:
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; accepted: {', '.join(names)}")


@dataclass(frozen=True)
class Dynamics:
    """One setting of the simulator's dynamics; the defaults are nominal (no change).

    Scales multiply the env's nominal values (read once, so they never compound); the other
    fields are absolute. A field at its default restores the env's own value: gravity -9.81
    keeps the env's gravity (-9.8 in pybullet_envs), damping and friction 0 leave the joints
    free. Out-of-range values raise ValueError (ranges in :data:`LIMITS`).
    """

    mass_scale: float = 1.0
    """Multiplies every link's nominal mass (and inertia)."""
    link_mass_scale: Mapping[str, float] = field(default_factory=FrozenMap)
    """Per link name, multiplies on top of ``mass_scale`` (e.g. ``{"pole": 3.0}``); a name the env
    does not have is an error at reset."""
    friction_scale: float = 1.0
    """Multiplies the nominal lateral friction of every link with mass (static ones are left alone)."""
    joint_damping: float = 0.0
    """Linear damping (N*m*s/rad or N*s/m) on every revolute and prismatic joint."""
    joint_friction: float = 0.0
    """Coulomb friction (N*m or N) on every revolute and prismatic joint."""
    motor_strength: float = 1.0
    """Multiplies the torque the env commands (or the clipped action, ``motor="action"``)."""
    gravity: float = DEFAULT_GRAVITY
    """Z gravity in m/s^2; the default means the env's own."""
    latency_steps: int = 0
    """The action applied at step t is the one chosen at t - latency_steps (zeros before)."""
    action_noise: float = 0.0
    """Std of Gaussian noise added to the clipped action (before motor strength)."""
    observation_noise: float = 0.0
    """Std of Gaussian noise added to every observation."""

    def __post_init__(self) -> None:
        for name, value in self._normalized().items():
            object.__setattr__(self, name, value)

    def _normalized(self) -> dict[str, Any]:
        return _normalize_fields(self, "a scale", lambda name, v, label: _checked("Dynamics", name, v, label))

    def validate(self) -> None:
        """Raise ValueError naming the field, the value and the accepted range if one is out of range."""
        self._normalized()

    @property
    def is_nominal(self) -> bool:
        """Whether this setting changes nothing (every field at its default)."""
        return self == Dynamics()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: plain floats, an int and a dict, in field order."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["link_mass_scale"] = dict(sorted(self.link_mass_scale.items()))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Dynamics:
        """The inverse of :meth:`to_dict`; missing fields take their defaults, unknown ones are an error."""
        _unknown_keys(cls, d)
        return cls(**dict(d))


def _pair(name: str, value: Any, label: str) -> tuple[float, float] | tuple[int, int]:
    owner = "DynamicsRange"
    if isinstance(value, str | bytes) or not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{owner}.{label} = {value!r} must be a (low, high) pair within {_range_text(name)}")
    low = _checked(owner, name, value[0], f"{label} low")
    high = _checked(owner, name, value[1], f"{label} high")
    if low > high:
        raise ValueError(f"{owner}.{label} = {tuple(value)!r}: low {low} is above high {high}")
    return (low, high)


@dataclass(frozen=True)
class DynamicsRange:
    """Domain randomization: each field's (low, high) range, sampled uniformly per episode.

    Ranges are closed; ``latency_steps`` is an inclusive integer range. Both ends must be valid
    :class:`Dynamics` values. A degenerate range (low == high) samples exactly that value, so the
    defaults sample ``Dynamics()``.
    """

    mass_scale: tuple[float, float] = (1.0, 1.0)
    link_mass_scale: Mapping[str, tuple[float, float]] = field(default_factory=FrozenMap)
    friction_scale: tuple[float, float] = (1.0, 1.0)
    joint_damping: tuple[float, float] = (0.0, 0.0)
    joint_friction: tuple[float, float] = (0.0, 0.0)
    motor_strength: tuple[float, float] = (1.0, 1.0)
    gravity: tuple[float, float] = (DEFAULT_GRAVITY, DEFAULT_GRAVITY)
    latency_steps: tuple[int, int] = (0, 0)
    action_noise: tuple[float, float] = (0.0, 0.0)
    observation_noise: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        for name, value in self._normalized().items():
            object.__setattr__(self, name, value)

    def _normalized(self) -> dict[str, Any]:
        return _normalize_fields(self, "(low, high)", _pair)

    def validate(self) -> None:
        """Raise ValueError if a range is malformed, inverted or reaches outside :data:`LIMITS`."""
        self._normalized()

    @classmethod
    def fixed(cls, d: Dynamics) -> DynamicsRange:
        """The degenerate range that always samples ``d``."""
        kw: dict[str, Any] = {f.name: (getattr(d, f.name),) * 2 for f in fields(d) if f.name != "link_mass_scale"}
        kw["link_mass_scale"] = {k: (v, v) for k, v in d.link_mass_scale.items()}
        return cls(**kw)

    def sample(self, rng: np.random.Generator) -> Dynamics:
        """One setting, every field drawn uniformly from its range in a fixed order (deterministic per rng state)."""
        kw: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "link_mass_scale":
                kw[f.name] = {k: float(rng.uniform(*self.link_mass_scale[k])) for k in sorted(self.link_mass_scale)}
            elif f.name == "latency_steps":
                low, high = self.latency_steps
                kw[f.name] = int(rng.integers(low, high + 1))
            else:
                low, high = getattr(self, f.name)
                # uniform(a, a) is exactly a, but uniform(a, b) is half-open: clamp for covers().
                kw[f.name] = min(float(rng.uniform(low, high)), high)
        return Dynamics(**kw)

    def covers(self, d: Dynamics) -> bool:
        """Whether every field of ``d`` lies in its range (a link either side does not name counts as 1.0)."""
        for f in fields(self):
            if f.name == "link_mass_scale":
                for link in set(d.link_mass_scale) | set(self.link_mass_scale):
                    low, high = self.link_mass_scale.get(link, (1.0, 1.0))
                    if not low <= d.link_mass_scale.get(link, 1.0) <= high:
                        return False
            else:
                low, high = getattr(self, f.name)
                if not low <= getattr(d, f.name) <= high:
                    return False
        return True

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: each range as a [low, high] list."""
        d: dict[str, Any] = {f.name: list(getattr(self, f.name)) for f in fields(self) if f.name != "link_mass_scale"}
        d["link_mass_scale"] = {k: list(v) for k, v in sorted(self.link_mass_scale.items())}
        return {f.name: d[f.name] for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DynamicsRange:
        """The inverse of :meth:`to_dict`; missing fields take their defaults, unknown ones are an error."""
        _unknown_keys(cls, d)
        kw: dict[str, Any] = {k: (dict(v) if k == "link_mass_scale" and isinstance(v, Mapping) else v)
                              for k, v in d.items()}
        return cls(**kw)


# --- the env's pybullet client ------------------------------------------------------------------------


class _ClientById:
    """pybullet's functions bound to one client id: the env's client when it exposes only an int."""

    def __init__(self, client_id: int) -> None:
        self._client = client_id

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(pybullet, name)
        if inspect.isbuiltin(attribute):
            attribute = functools.partial(attribute, physicsClientId=self._client)
        setattr(self, name, attribute)
        return attribute


def _as_client(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        client_id = int(value)
        return _ClientById(client_id) if client_id >= 0 else None
    if value is pybullet:
        return _ClientById(0)
    if isinstance(value, types.ModuleType):
        return None
    return value if callable(getattr(value, "getNumBodies", None)) else None


def find_client(env: gym.Env, client: Any = None) -> Any:
    """The pybullet client ``env`` simulates with, as an object with pybullet's functions as methods.

    ``client`` overrides the search: a client object, an int id, or a callable taking the
    unwrapped env and returning either. Otherwise :data:`CLIENT_ATTRIBUTES` of ``env.unwrapped``
    are tried in order. Call it after the env's first reset: pybullet_envs connect lazily.
    """
    return _locate(env.unwrapped, client)[2]


def _locate(unwrapped: gym.Env, client: Any = None) -> tuple[str | None, Any, Any]:
    """(attribute searched or None, its raw value, the client) for :func:`find_client`."""
    if client is not None:
        is_factory = callable(client) and not callable(getattr(client, "getNumBodies", None))
        value = client(unwrapped) if is_factory else client
        found = _as_client(value)
        if found is None:
            raise LookupError(f"client={client!r} gave {value!r}, which is neither a pybullet client nor a client id")
        return None, value, found
    for name in CLIENT_ATTRIBUTES:
        value = getattr(unwrapped, name, None)
        found = _as_client(value)
        if found is not None:
            return name, value, found
    raise LookupError(
        f"{type(unwrapped).__name__} exposes no pybullet client: give it one of the attributes "
        f"{', '.join(CLIENT_ATTRIBUTES)} (a BulletClient or an int client id), or pass client= to PerturbedEnv"
    )


def is_planar_root_joint(name: str) -> bool:
    """pybullet's MJCF loader names the root joints of 2-D walkers ``ignore*``: a free base, not a joint."""
    return name.startswith("ignore")


@dataclass
class _Link:
    body: int
    index: int
    name: str
    key: str
    """``name``, made unique across bodies for :meth:`PerturbedEnv.read_back`."""
    mass: float
    friction: float
    inertia: tuple[float, float, float]


@dataclass
class _JointGroup:
    body: int
    indices: list[int]
    names: list[str]
    """Unique across bodies, like ``_Link.key``."""
    zeros: list[float]


def _unique(name: str, body: int, taken: set[str]) -> str:
    key = name if name not in taken else f"{name}#{body}"
    taken.add(key)
    return key


def _same_client(a: Any, b: Any) -> bool:
    if isinstance(a, _ClientById) and isinstance(b, _ClientById):
        return a._client == b._client
    return a is b


class _Model:
    """The nominal dynamics of every body in one client, read once per body id.

    Kept on the unwrapped env (``NOMINAL_ATTRIBUTE``), so that a later wrapper around the same env
    starts from the true nominal values, not from what an earlier wrapper left behind.
    """

    def __init__(self, p: Any) -> None:
        self.p = p
        self.body_ids: tuple[int, ...] = ()
        self.links: list[_Link] = []
        self.joints: list[tuple[int, int, str]] = []
        """(body, joint index, joint name) of every revolute and prismatic joint of a dynamic body."""
        self.motors_on = False
        """Whether friction/damping motors were installed (so a nominal episode must switch them off)."""
        self.gravity = tuple(float(p.getPhysicsEngineParameters()[f"gravityAcceleration{a}"]) for a in "XYZ")
        self._num_bodies, self._body_id = p.getNumBodies, p.getBodyUniqueId  # bound once: refresh() runs per reset
        self.refresh()

    def refresh(self) -> bool:
        """Read the nominal values of bodies not seen before (and forget removed ones); whether anything changed."""
        body_id = self._body_id
        ids = tuple(body_id(i) for i in range(self._num_bodies()))
        if ids == self.body_ids:
            return False
        known = set(self.body_ids)
        links = [link for link in self.links if link.body in ids]
        joints = [joint for joint in self.joints if joint[0] in ids]
        taken = {link.key for link in links}
        for body in ids:
            if body not in known:
                new_links, new_joints = self._read_body(body, taken)
                links += new_links
                joints += new_joints
        self.body_ids, self.links, self.joints = ids, links, joints
        return True

    def _read_body(self, body: int, taken: set[str]) -> tuple[list[_Link], list[tuple[int, int, str]]]:
        p = self.p
        n = p.getNumJoints(body)
        infos = [p.getJointInfo(body, j) for j in range(n)]
        dyn = [p.getDynamicsInfo(body, link) for link in range(-1, n)]
        if not any(d[0] > 0 for d in dyn):
            return [], []  # static: the floor, a rail
        names = [p.getBodyInfo(body)[0].decode("utf8") or f"body{body}"]
        names += [info[12].decode("utf8") or f"link{j}" for j, info in enumerate(infos)]
        links = [
            _Link(body, link, name, _unique(name, body, taken), float(d[0]), float(d[1]),
                  tuple(float(x) for x in d[2]))  # type: ignore[arg-type]
            for link, name, d in zip(range(-1, n), names, dyn, strict=True)
            if d[0] > 0  # massless: a fixed base, or one of the MJCF loader's joint frames
        ]
        joints = [(body, j, info[1].decode("utf8")) for j, info in enumerate(infos)
                  if info[2] not in _FIXED_JOINT_TYPES]
        return links, joints

    def groups(self, skip_joint: Callable[[str], bool]) -> list[_JointGroup]:
        """The joints that get a friction/damping motor, one group per body (one pybullet call each)."""
        by_body: dict[int, _JointGroup] = {}
        taken: set[str] = set()
        for body, index, name in self.joints:
            if skip_joint(name):
                continue
            group = by_body.setdefault(body, _JointGroup(body, [], [], []))
            group.indices.append(index)
            group.names.append(_unique(name, body, taken))
            group.zeros.append(0.0)
        return list(by_body.values())

    @property
    def link_names(self) -> set[str]:
        return {link.name for link in self.links}


NOMINAL_ATTRIBUTE = "_sim2real_nominal"
"""Attribute of the unwrapped env that keeps its nominal dynamics (see ``_Model``)."""


# --- the wrapper ----------------------------------------------------------------------------------------


class _Gaussian:
    """Gaussian noise of one shape, dtype and std, drawn in blocks: one numpy call per ``BLOCK`` steps.

    A per-step ``rng.normal`` costs microseconds of numpy overhead on a 6-dimensional action; a row
    of a pre-drawn block costs an index. The sequence still depends only on the seed.
    """

    BLOCK = 256

    def __init__(self, rng: np.random.Generator, key: tuple[tuple[int, ...], np.dtype], std: float) -> None:
        self.rng, self.key, self.std = rng, key, std
        shape, dtype = key
        self.dtype = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
        self.block = np.empty((0, *shape), self.dtype)
        self.i = 0

    def draw(self) -> np.ndarray:
        if self.i == len(self.block):
            self.block = self.rng.standard_normal((self.BLOCK, *self.key[0]), dtype=self.dtype)
            self.block *= self.dtype.type(self.std)
            self.i = 0
        self.i += 1
        return self.block[self.i - 1]




def _times(value: Any, scale: float) -> Any:
    if isinstance(value, list | tuple | np.ndarray):
        return [float(v) * scale for v in value]
    return float(value) * scale


class PerturbedEnv(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """A PyBullet env under one setting of the dynamics, or a fresh sample of a range every episode.

    Works on any env simulated with pybullet: it finds the client on ``env.unwrapped`` (see
    :func:`find_client`; a plugin env exposes its client as ``_p``, ``physics_client`` or
    ``client`` — a ``pybullet_utils.bullet_client.BulletClient`` or any object with pybullet's
    functions as methods — or as an int id in one of those or in ``physicsClientId``; or pass
    ``client=``), then reads every body's nominal masses, inertias and frictions once, after the
    first reset, and sets absolute values after every reset. See the module docstring for the
    mechanism behind each field.

    Seeding: a :class:`DynamicsRange` is sampled at every reset with an RNG seeded from ``seed``;
    action and observation noise use two more RNGs seeded likewise; ``seed`` also seeds the inner
    env's first reset. ``reset(seed=s)`` reseeds all of them from ``s``. So the same seed gives
    identical episodes, and ``PerturbedEnv(env, d, seed=s).reset()`` equals
    ``PerturbedEnv(env, d).reset(seed=s)``.

    ``motor``: how ``motor_strength`` acts. ``"torque"`` scales every ``TORQUE_CONTROL`` command
    the env sends through its client object (instance attributes shadow three of the client's
    functions; a warning says so if a step sends none); ``"action"`` multiplies the clipped
    action, which the env may clip again (pybullet_envs do: no effect beyond 1 at full action);
    ``"auto"`` is ``"torque"`` when the client is an object and ``"action"`` for an int id.
    ``skip_joint``: joint names that get no friction/damping motor.

    Cost (measured on HalfCheetah and Hopper): when nothing acts per step (masses, friction,
    gravity, motor strength, joint friction without damping), ``step`` forwards the call
    untouched and a reset adds 20-40 us: about 1% of a step or less. Damping costs two pybullet
    calls a step, latency and noise a few numpy operations (15-25 us in all), and the joint
    friction/damping motors are constraints that Bullet's solver works on (7-10% of a step).
    """

    def __init__(
        self,
        env: gym.Env,
        dynamics: Dynamics | DynamicsRange,
        seed: int | None = None,
        *,
        motor: Literal["auto", "torque", "action"] = "auto",
        client: Any = None,
        skip_joint: Callable[[str], bool] = is_planar_root_joint,
    ) -> None:
        # Recorded so that gym.make(env.spec) rebuilds the perturbed env (gymnasium's check_env does).
        gym.utils.RecordConstructorArgs.__init__(self, dynamics=dynamics, seed=seed, motor=motor, client=client,
                                                 skip_joint=skip_joint)
        gym.Wrapper.__init__(self, env)
        if not isinstance(dynamics, Dynamics | DynamicsRange):
            raise TypeError(f"dynamics must be a Dynamics or a DynamicsRange, not {type(dynamics).__name__}")
        if motor not in ("auto", "torque", "action"):
            raise ValueError(f"motor={motor!r}; accepted: 'auto', 'torque', 'action'")
        inner: gym.Env = env
        while isinstance(inner, gym.Wrapper):
            if isinstance(inner, PerturbedEnv):
                raise ValueError("env is already a PerturbedEnv: nested perturbations would compound; use one")
            inner = inner.env
        self._dynamics = dynamics
        self._seed = seed
        self._motor_request = motor
        self._client_request = client
        self._skip_joint = skip_joint
        self._reseed(seed)
        self._current: Dynamics | None = dynamics if isinstance(dynamics, Dynamics) else None
        self._p: Any = None
        self._model: _Model | None = None
        self._client_source: tuple[str | None, Any] | None = None
        self._groups: list[_JointGroup] = []
        self._space: tuple[Any, np.dtype, np.ndarray] | None = None
        self._motor: Literal["torque", "action"] | None = None
        self._patched: dict[str, Any] = {}
        self._torque_scale = 1.0
        self._torque_commands = 0
        self._torque_seen = False
        self._warned_torque = False
        self._has_reset = False
        self._fast = True
        self._configure_step(Dynamics())

    # -- public ------------------------------------------------------------------------------------

    @property
    def dynamics(self) -> Dynamics | DynamicsRange:
        """What this wrapper was given: one setting, or the range each episode samples from."""
        return self._dynamics

    @property
    def current(self) -> Dynamics:
        """The dynamics applied in the current episode."""
        if self._current is None:
            raise RuntimeError("no episode yet: a DynamicsRange is sampled at reset(); call reset() first")
        return self._current

    @property
    def motor_mode(self) -> Literal["torque", "action"] | None:
        """How motor strength acts (resolved at the first reset; None before it)."""
        return self._motor

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the env, then apply this episode's dynamics (``info["dynamics"]``) on top of its reset."""
        if seed is not None:
            self._reseed(seed)
        elif not self._has_reset:
            seed = self._seed
        d = self._dynamics if isinstance(self._dynamics, Dynamics) else self._dynamics.sample(self._dyn_rng)
        if self._has_reset:
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            with native_output_silenced(sys.stdout):
                obs, info = self.env.reset(seed=seed, options=options)
        self._has_reset = True
        self._connect()
        self._check_links(d)
        self._current = d
        self._apply(d)
        self._configure_step(d)
        if self._obs_noise > 0:
            obs = self._noisy(obs)
        info = dict(info)
        info["dynamics"] = d
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._fast:
            return self.env.step(action)
        if self._damping > 0:
            self._update_motors()
        if self._act_pipeline:
            action = self._process(action)
        before = self._torque_commands
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._torque_scale != 1.0 and not self._torque_seen:
            self._note_torque_commands(self._torque_commands - before)
        if self._obs_noise > 0:
            obs = self._noisy(obs)
        return obs, reward, terminated, truncated, info

    def read_back(self) -> dict[str, Any]:
        """What pybullet reports now, for tests and records.

        ``mass``, ``inertia`` (diagonal) and ``lateral_friction`` of every link the wrapper
        perturbs, i.e. with a nominal mass > 0 (keyed by link name; a name repeated in another
        body gets ``#<body id>``); ``gravity`` (z) and ``gravity_vector`` from
        ``getPhysicsEngineParameters``; ``joint_motor_torque``, the torque each perturbed joint's
        motor applied in the last step (``getJointState``). pybullet has no getter for a motor's
        maximum force, so ``joint_damping`` and ``joint_friction`` are the coefficients this
        wrapper sets; ``joint_motor_torque`` is the physical evidence that they act.
        """
        if self._model is None:
            raise RuntimeError("nothing to read back before the first reset()")
        p, model, d = self._p, self._model, self.current
        mass, inertia, friction = {}, {}, {}
        for link in model.links:
            info = p.getDynamicsInfo(link.body, link.index)
            mass[link.key] = float(info[0])
            friction[link.key] = float(info[1])
            inertia[link.key] = tuple(float(x) for x in info[2])
        params = p.getPhysicsEngineParameters()
        gravity = tuple(float(params[f"gravityAcceleration{a}"]) for a in "XYZ")
        torque = {}
        for group in self._groups:
            for name, state in zip(group.names, p.getJointStates(group.body, group.indices), strict=True):
                torque[name] = float(state[3])
        names = [name for group in self._groups for name in group.names]
        return {
            "mass": mass,
            "inertia": inertia,
            "lateral_friction": friction,
            "gravity": gravity[2],
            "gravity_vector": gravity,
            "joint_motor_torque": torque,
            "joint_damping": dict.fromkeys(names, d.joint_damping),
            "joint_friction": dict.fromkeys(names, d.joint_friction),
            "motor_strength": d.motor_strength,
            "motor_mode": self._motor,
        }

    def close(self) -> None:
        self._unpatch()
        super().close()

    # -- reset-time work -----------------------------------------------------------------------------

    def _reseed(self, seed: int | None) -> None:
        """Independent generators for sampling, action noise and observation noise, all from ``seed``."""
        dyn_seq, act_seq, obs_seq = np.random.SeedSequence(seed).spawn(3)
        self._dyn_rng = np.random.default_rng(dyn_seq)
        self._act_rng = np.random.default_rng(act_seq)
        self._obs_rng = np.random.default_rng(obs_seq)
        self._act_stream: _Gaussian | None = None
        self._obs_stream: _Gaussian | None = None

    def _connect(self) -> None:
        """Find the client (it may be new: an env that was closed reconnects) and its nominal model."""
        unwrapped = self.env.unwrapped
        source = self._client_source
        if source is not None and source[0] is not None and getattr(unwrapped, source[0], None) is source[1]:
            p = self._p  # the same attribute holds the same object: the same client (the common case, cheaply)
        else:
            name, value, p = _locate(unwrapped, self._client_request)
            self._client_source = (name, value)
        if self._p is not None and _same_client(p, self._p):
            assert self._model is not None
            if self._model.refresh():
                self._groups = self._model.groups(self._skip_joint)
            return
        self._unpatch()
        model = getattr(unwrapped, NOMINAL_ATTRIBUTE, None)
        if not isinstance(model, _Model) or not _same_client(model.p, p):
            model = _Model(p)
            try:
                setattr(unwrapped, NOMINAL_ATTRIBUTE, model)
            except AttributeError:  # an env with __slots__: keep the model to ourselves
                pass
        model.refresh()
        self._p, self._model = p, model
        self._groups = model.groups(self._skip_joint)
        # Torque commands can be intercepted only on a client object whose attributes we may shadow.
        patchable = not isinstance(p, _ClientById) and hasattr(p, "__dict__")
        if self._motor_request == "torque" and not patchable:
            raise ValueError("motor='torque' needs the env's client as an object its calls go through, "
                             "not an int id; use motor='action'")
        self._motor = "torque" if self._motor_request == "torque" or (self._motor_request == "auto" and patchable) \
            else "action"
        # Bound once: BulletClient builds a new partial on every attribute access.
        self._get_joint_states = p.getJointStates
        self._motor_array = p.setJointMotorControlArray
        self._change_dynamics = p.changeDynamics
        self._set_gravity = p.setGravity

    def _check_links(self, d: Dynamics) -> None:
        assert self._model is not None
        names = set(d.link_mass_scale)
        if isinstance(self._dynamics, DynamicsRange):
            names |= set(self._dynamics.link_mass_scale)
        unknown = names - self._model.link_names
        if unknown:
            raise ValueError(f"link_mass_scale names {sorted(unknown)}, which {self.env.unwrapped} does not have; "
                             f"its links: {', '.join(sorted(self._model.link_names))}")

    def _apply(self, d: Dynamics) -> None:
        """Set every value absolute, from the nominal ones: nothing compounds across resets."""
        assert self._model is not None
        model, change = self._model, self._change_dynamics
        lms, fs = d.link_mass_scale, d.friction_scale
        for link in model.links:
            s = d.mass_scale * lms.get(link.name, 1.0) if lms else d.mass_scale
            i = link.inertia
            change(link.body, link.index, mass=link.mass * s, lateralFriction=link.friction * fs,
                   localInertiaDiagonal=(i[0] * s, i[1] * s, i[2] * s))
        gx, gy, gz = model.gravity
        self._set_gravity(gx, gy, gz if d.gravity == DEFAULT_GRAVITY else d.gravity)
        wanted = d.joint_friction > 0 or d.joint_damping > 0
        if wanted or model.motors_on:
            for group in self._groups:
                self._motor_array(group.body, group.indices, pybullet.VELOCITY_CONTROL, targetVelocities=group.zeros,
                                  forces=[d.joint_friction] * len(group.indices))
            model.motors_on = wanted
        if self._motor == "torque":
            if d.motor_strength != 1.0 and not self._patched:
                self._patch()
            self._torque_scale = d.motor_strength

    def _configure_step(self, d: Dynamics) -> None:
        """Precompute what step() has to do, so that a step with nothing to do costs one branch."""
        self._damping = d.joint_damping
        self._friction = d.joint_friction
        self._obs_noise = d.observation_noise
        self._act_noise = d.action_noise
        self._act_scale = d.motor_strength if self._motor == "action" else 1.0
        self._act_pipeline = d.latency_steps > 0 or d.action_noise > 0 or self._act_scale != 1.0
        if self._act_pipeline:
            if self._space is None:
                self._space = self._action_space_constants()
            key, float_type, zero = self._space
            if d.action_noise > 0:
                stream = self._act_stream
                if stream is None or stream.key != key or stream.std != d.action_noise:
                    self._act_stream = _Gaussian(self._act_rng, key, d.action_noise)
            self._act_scale_typed = float_type.type(self._act_scale)
            self._queue = deque(zero.copy() for _ in range(d.latency_steps))
        self._refresh_fast()

    def _action_space_constants(self) -> tuple[Any, np.dtype, np.ndarray]:
        """Bounds, dtype, noise key, float type and the "no action yet" action, computed once."""
        space = self.env.action_space
        if not isinstance(space, gym.spaces.Box):
            raise ValueError(f"latency, action noise and motor='action' need a Box action space, not {space}")
        self._low, self._high, self._dtype = space.low, space.high, space.dtype
        # Scaled in the action's float type: no float64 detour.
        float_type = space.dtype if space.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        zero = np.clip(np.zeros(space.shape, dtype=space.dtype), space.low, space.high)
        return (tuple(space.shape), space.dtype), float_type, zero

    def _refresh_fast(self) -> None:
        self._fast = not (self._act_pipeline or self._damping > 0 or self._obs_noise > 0
                          or (self._torque_scale != 1.0 and not self._torque_seen))

    # -- step-time work ------------------------------------------------------------------------------

    def _update_motors(self) -> None:
        """Damping: the motor may resist with friction + damping * |v| this step (it never reverses v)."""
        c, f, get, motor = self._damping, self._friction, self._get_joint_states, self._motor_array
        for group in self._groups:
            states = get(group.body, group.indices)
            motor(group.body, group.indices, pybullet.VELOCITY_CONTROL, targetVelocities=group.zeros,
                  forces=[f + c * abs(s[1]) for s in states])

    def _process(self, action: Any) -> np.ndarray:
        """Clip, delay, add noise and clip again, scale (``motor="action"``). np.minimum/maximum: 2x np.clip's speed."""
        low, high = self._low, self._high
        a = np.minimum(np.maximum(np.asarray(action, dtype=self._dtype), low), high)  # a new array: safe to queue
        if self._queue:
            self._queue.append(a)
            a = self._queue.popleft()
        if self._act_noise > 0:
            assert self._act_stream is not None
            noisy = a + self._act_stream.draw()  # a new array: safe to clip in place
            np.maximum(noisy, low, out=noisy)
            a = np.minimum(noisy, high, out=noisy).astype(self._dtype, copy=False)
        if self._act_scale != 1.0:
            a = (a * self._act_scale_typed).astype(self._dtype, copy=False)
        return a

    def _noisy(self, obs: Any) -> Any:
        obs = np.asarray(obs)
        stream = self._obs_stream
        if stream is None or stream.key != (obs.shape, obs.dtype) or stream.std != self._obs_noise:
            stream = self._obs_stream = _Gaussian(self._obs_rng, (obs.shape, obs.dtype), self._obs_noise)
        return (obs + stream.draw()).astype(obs.dtype, copy=False)

    def _note_torque_commands(self, count: int) -> None:
        if count > 0:
            self._torque_seen = True
            self._refresh_fast()
        elif not self._warned_torque:
            self._warned_torque = True
            warnings.warn(
                f"motor_strength={self._torque_scale} had no effect on this step: {self.env.unwrapped} sent no "
                "TORQUE_CONTROL command through its pybullet client; use PerturbedEnv(..., motor='action')",
                RuntimeWarning, stacklevel=3,
            )

    # -- torque interception -------------------------------------------------------------------------

    def _patch(self) -> None:
        p = self._p
        for name, key in _MOTOR_COMMANDS.items():
            self._patched[name] = p.__dict__.get(name)
            setattr(p, name, self._scaled(getattr(p, name), key))

    def _unpatch(self) -> None:
        for name, previous in self._patched.items():
            if previous is None:
                self._p.__dict__.pop(name, None)
            else:
                setattr(self._p, name, previous)
        self._patched = {}

    def _scaled(self, original: Callable[..., Any], key: str) -> Callable[..., Any]:
        torque_control = pybullet.TORQUE_CONTROL

        def command(*args: Any, **kwargs: Any) -> Any:
            scale = self._torque_scale
            if scale != 1.0:
                mode = kwargs["controlMode"] if "controlMode" in kwargs else (args[2] if len(args) > 2 else None)
                if mode == torque_control:
                    self._torque_commands += 1
                    value = kwargs.get(key)
                    if value is not None:
                        kwargs[key] = value * scale if value.__class__ is float else _times(value, scale)
                    elif len(args) > 5:
                        args = (*args[:5], _times(args[5], scale), *args[6:])
            return original(*args, **kwargs)

        command.__wrapped__ = original  # type: ignore[attr-defined]
        return command


def perturb(env: gym.Env, dynamics: Dynamics | DynamicsRange, seed: int | None = None) -> PerturbedEnv:
    """``env`` under ``dynamics``: a :class:`PerturbedEnv` with the default options."""
    return PerturbedEnv(env, dynamics, seed)


def make_env(
    env_id: str,
    dynamics: Dynamics | DynamicsRange | None = None,
    seed: int | None = None,
    render_mode: str | None = None,
    **kwargs: Any,
) -> gym.Env:
    """``gym.make(env_id)`` with the PyBullet envs registered, under ``dynamics`` when it is given.

    ``seed`` seeds the wrapper (see :class:`PerturbedEnv`) and the action space, so that
    ``env.action_space.sample()`` repeats too; without ``dynamics`` the env is returned bare and
    only its action space is seeded (pass the seed to the first ``reset``).
    """
    import pybullet_envs_gymnasium  # noqa: F401  (registers the Bullet envs with gymnasium)

    if render_mode is not None:  # a plugin env need not accept render_mode at all
        kwargs["render_mode"] = render_mode
    env = gym.make(env_id, **kwargs)
    if seed is not None:
        env.action_space.seed(seed)
    if dynamics is None:
        return env
    return PerturbedEnv(env, dynamics, seed)
