"""rl-baselines3-zoo's tuned PPO and SAC hyper-parameters for the PyBullet locomotion envs.

The full-tier locomotion tasks train with the settings that rl-baselines3-zoo (Raffin, "RL
Baselines3 Zoo", 2020; the ``rl_zoo3`` package, repository DLR-RM/rl-baselines3-zoo) tuned for
``HalfCheetahBulletEnv-v0``, ``HopperBulletEnv-v0``, ``Walker2DBulletEnv-v0`` and
``AntBulletEnv-v0``, so that a source policy is as good as the literature's and the training budget
a task states (``n_timesteps``) is the zoo's, not one we picked.

Where ``rl_zoo3`` is installed its own files (``rl_zoo3/hyperparams/ppo.yml``, ``sac.yml``) are read,
so that the values follow the installed release; elsewhere (the default: ``rl_zoo3`` is not a
dependency, it pulls optuna and the Hugging Face hub) the vendored copy below is used, transcribed
entry by entry from rl_zoo3 :data:`ZOO_VERSION`. Either way the entry goes through the same
conversion, which mirrors what rl_zoo3's ``ExperimentManager`` does with it: ``lin_X`` strings
become linear schedules, the ``normalize`` flag gets the algorithm's ``gamma`` as VecNormalize's,
``n_envs`` defaults to 1, and the ``policy_kwargs`` string is read with :mod:`ast` (the zoo
``eval``\\ s it; here only literals, ``dict(...)`` and torch activation classes are accepted).

Values are kept JSON-able (:class:`ZooHyper`) so that a run records them as they are;
:func:`sb3_kwargs` turns them into stable-baselines3 constructor arguments. torch is imported only
there, so importing this module stays cheap.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib.metadata
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

__all__ = [
    "ACTIVATIONS",
    "ALGOS",
    "ENV_IDS",
    "ZOO_FILES",
    "ZOO_VERSION",
    "LinearSchedule",
    "ZooHyper",
    "installed_hyperparams_dir",
    "parse_policy_kwargs",
    "sb3_kwargs",
    "vendored_hyperparams",
    "zoo_hyperparams",
]

ALGOS: tuple[str, ...] = ("ppo", "sac")
ENV_IDS: tuple[str, ...] = (
    "HalfCheetahBulletEnv-v0",
    "HopperBulletEnv-v0",
    "Walker2DBulletEnv-v0",
    "AntBulletEnv-v0",
)

ZOO_VERSION = "2.9.2"
"""The rl_zoo3 release the vendored entries were transcribed from (its wheel, ``rl_zoo3==2.9.2``)."""

ZOO_FILES: dict[str, str] = {
    "ppo": "rl_zoo3/hyperparams/ppo.yml (lines 141-195: HalfCheetah, Ant, Walker2D, Hopper)",
    "sac": "rl_zoo3/hyperparams/sac.yml (lines 79-112: HalfCheetah, Ant, Hopper, Walker2D)",
}
"""Where in rl_zoo3 :data:`ZOO_VERSION` each algorithm's vendored entries come from."""

ACTIVATIONS: dict[str, str] = {
    "ReLU": "relu",
    "Tanh": "tanh",
    "ELU": "elu",
    "LeakyReLU": "leaky_relu",
    "GELU": "gelu",
    "SiLU": "silu",
}
"""torch.nn activation classes a ``policy_kwargs`` string may name, and the JSON-able name each is kept as."""

_ACTIVATION_CLASSES = {name: cls for cls, name in ACTIVATIONS.items()}
_MODULE_PREFIXES = (("nn",), ("th", "nn"), ("torch", "nn"))

# The zoo's ``&pybullet-defaults`` anchors, written out so that each entry below reads like its YAML:
# ``{**defaults, override: value}`` is ``<<: *pybullet-defaults`` followed by the overrides.
_PPO_PYBULLET_DEFAULTS: dict[str, Any] = {
    "normalize": True,
    "n_envs": 16,
    "n_timesteps": 2e6,
    "policy": "MlpPolicy",
    "batch_size": 128,
    "n_steps": 512,
    "gamma": 0.99,
    "gae_lambda": 0.9,
    "n_epochs": 20,
    "ent_coef": 0.0,
    "sde_sample_freq": 4,
    "max_grad_norm": 0.5,
    "vf_coef": 0.5,
    "learning_rate": 3e-5,
    "use_sde": True,
    "clip_range": 0.4,
    "policy_kwargs": (
        "dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256, 256], vf=[256, 256]) )"
    ),
}

_SAC_PYBULLET_DEFAULTS: dict[str, Any] = {
    "n_timesteps": 1e6,
    "policy": "MlpPolicy",
    "learning_rate": 7.3e-4,
    "buffer_size": 300000,
    "batch_size": 256,
    "ent_coef": "auto",
    "gamma": 0.98,
    "tau": 0.02,
    "train_freq": 8,
    "gradient_steps": 8,
    "learning_starts": 10000,
    "use_sde": True,
    "policy_kwargs": "dict(log_std_init=-3, net_arch=[400, 300], use_expln=True)",
}

_VENDORED: dict[str, dict[str, dict[str, Any]]] = {
    "ppo": {
        "HalfCheetahBulletEnv-v0": _PPO_PYBULLET_DEFAULTS,
        "AntBulletEnv-v0": {
            **_PPO_PYBULLET_DEFAULTS,
            "learning_rate": 3e-5,
            "policy_kwargs": (
                "dict(log_std_init=-1, ortho_init=False, activation_fn=nn.ReLU, "
                "net_arch=dict(pi=[256, 256], vf=[256, 256]) )"
            ),
        },
        "Walker2DBulletEnv-v0": {
            **_PPO_PYBULLET_DEFAULTS,
            "learning_rate": 3e-5,
            "clip_range": "lin_0.4",
            "policy_kwargs": (
                "dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, "
                "net_arch=dict(pi=[256, 256], vf=[256, 256]) )"
            ),
        },
        "HopperBulletEnv-v0": {
            **_PPO_PYBULLET_DEFAULTS,
            "learning_rate": 3e-5,
            "clip_range": "lin_0.4",
            "policy_kwargs": (
                "dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, "
                "net_arch=dict(pi=[256, 256], vf=[256, 256]) )"
            ),
        },
    },
    "sac": {
        "HalfCheetahBulletEnv-v0": _SAC_PYBULLET_DEFAULTS,
        "AntBulletEnv-v0": {**_SAC_PYBULLET_DEFAULTS},
        "HopperBulletEnv-v0": {**_SAC_PYBULLET_DEFAULTS, "learning_rate": "lin_7.3e-4"},
        "Walker2DBulletEnv-v0": {**_SAC_PYBULLET_DEFAULTS, "learning_rate": "lin_7.3e-4"},
    },
}

# Keys that rl_zoo3 consumes itself (wrappers, callbacks, action noise, ...) rather than passing to the
# algorithm: honouring them would need the zoo's machinery, and dropping them silently would train
# something other than what the zoo tuned, so an entry that uses one is refused.
_UNSUPPORTED_KEYS = frozenset(
    {
        "env_wrapper",
        "vec_env_wrapper",
        "frame_stack",
        "callback",
        "env_kwargs",
        "monitor_kwargs",
        "replay_buffer_class",
        "replay_buffer_kwargs",
        "noise_type",
        "noise_std",
    }
)
_SCHEDULED_KEYS = ("learning_rate", "clip_range")

Schedule = Literal["constant", "linear"]


@dataclass(frozen=True)
class ZooHyper:
    """One rl-baselines3-zoo entry (an algorithm on an env), as plain JSON-able values.

    ``n_timesteps`` is the zoo's training budget, the one a task states as the literature's.
    ``n_envs`` parallel envs are stepped (PPO's ``n_steps`` is per env); with ``normalize`` the
    vectorised env is wrapped in ``VecNormalize(**normalize_kwargs)``, as the zoo does.
    ``algo_kwargs`` hold the numbers the zoo passes to the algorithm; a ``learning_rate`` or
    ``clip_range`` the zoo gives as ``lin_X`` is kept there as ``X``, with its ``*_schedule`` field
    saying ``"linear"`` (decayed from X to 0 over training). ``activation_fn`` in ``policy_kwargs``
    is a name from :data:`ACTIVATIONS`' values. :func:`sb3_kwargs` turns all this into
    stable-baselines3 arguments.
    """

    algo: Literal["ppo", "sac"]
    env_id: str
    n_timesteps: int
    n_envs: int
    normalize: bool
    normalize_kwargs: dict[str, Any]
    policy: str
    algo_kwargs: dict[str, Any]
    learning_rate_schedule: Schedule
    clip_range_schedule: Schedule
    policy_kwargs: dict[str, Any]
    source: str

    def to_dict(self) -> dict[str, Any]:
        """A deep JSON-able copy, for recording the settings a run used."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LinearSchedule:
    """rl_zoo3's ``lin_X``: ``X`` times SB3's remaining progress (1 at the start, 0 at the end).

    A class rather than a lambda so that a model holding it pickles with the standard library too.
    """

    initial: float

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.initial


def _check_choice(env_id: str, algo: str) -> None:
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}: rl-baselines3-zoo settings are provided for {list(ALGOS)}")
    if env_id not in ENV_IDS:
        raise ValueError(f"unknown env_id {env_id!r}: rl-baselines3-zoo settings are provided for {list(ENV_IDS)}")


def installed_hyperparams_dir() -> Path | None:
    """The ``hyperparams`` folder of an installed ``rl_zoo3``, or None if there is none.

    The package is located without being imported: importing it pulls optuna, the Hugging Face hub
    and sb3_contrib, none of which reading two YAML files needs.
    """
    try:
        spec = importlib.util.find_spec("rl_zoo3")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "hyperparams"
        if folder.is_dir():
            return folder
    return None


def _installed_version() -> str:
    try:
        return importlib.metadata.version("rl_zoo3")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


def _read_entry(folder: Path, env_id: str, algo: str) -> dict[str, Any] | None:
    """The raw entry for ``env_id`` in ``folder/<algo>.yml``; None if the file has none.

    ``yaml.safe_load`` resolves the anchors and ``<<:`` merge keys the zoo uses, and ``!!float``.
    """
    import yaml

    path = folder / f"{algo}.yml"
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of env ids to settings, got {type(data).__name__}")
    entry = data.get(env_id)
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: the entry for {env_id} is a {type(entry).__name__}, not a mapping")
    return entry


def zoo_hyperparams(env_id: str, algo: str, *, hyperparams_dir: str | Path | None = None) -> ZooHyper:
    """The zoo's tuned settings for ``algo`` on ``env_id``: installed rl_zoo3 first, vendored otherwise.

    ``hyperparams_dir`` reads ``<algo>.yml`` from that folder instead (a checkout of the zoo, or a
    test's file); there a missing entry is an error. An installed rl_zoo3 whose file lacks the entry
    (a release that dropped it) falls back to the vendored copy with a warning, so that the
    benchmark does not depend on which zoo release happens to be installed.
    """
    _check_choice(env_id, algo)
    if hyperparams_dir is not None:
        folder = Path(hyperparams_dir)
        entry = _read_entry(folder, env_id, algo)
        if entry is None:
            raise ValueError(f"{folder / f'{algo}.yml'} has no entry for {env_id}")
        return _convert(env_id, algo, entry, f"{folder / f'{algo}.yml'} (given directory)")
    installed = installed_hyperparams_dir()
    if installed is not None:
        version = _installed_version()
        entry = _read_entry(installed, env_id, algo)
        if entry is not None:
            return _convert(env_id, algo, entry, f"rl_zoo3 {version} hyperparams/{algo}.yml (installed)")
        warnings.warn(
            f"the installed rl_zoo3 {version} has no {algo} entry for {env_id}; "
            f"using the one vendored from rl_zoo3 {ZOO_VERSION}",
            stacklevel=2,
        )
    return vendored_hyperparams(env_id, algo)


def vendored_hyperparams(env_id: str, algo: str) -> ZooHyper:
    """The settings vendored from rl_zoo3 :data:`ZOO_VERSION`, whether or not rl_zoo3 is installed."""
    _check_choice(env_id, algo)
    source = f"rl_zoo3 {ZOO_VERSION} hyperparams/{algo}.yml (vendored in tasks/sim2real/zoo.py)"
    return _convert(env_id, algo, copy.deepcopy(_VENDORED[algo][env_id]), source)


def _integer(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{where}: expected a whole number, got {value!r}")
    return int(value)


def _scheduled(where: str, value: Any) -> tuple[float, Schedule]:
    """A zoo schedule value: a number (constant) or ``lin_X`` (linear from X), as ``(X, kind)``."""
    if isinstance(value, str):
        kind, _, number = value.partition("_")
        if kind != "lin" or not number:
            raise ValueError(f"{where}: expected a number or 'lin_<number>', got {value!r}")
        try:
            return float(number), "linear"
        except ValueError:
            raise ValueError(f"{where}: expected a number or 'lin_<number>', got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number or 'lin_<number>', got {value!r}")
    return float(value), "constant"


def _json_value(where: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(where, v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_value(f"{where}.{k}", v) for k, v in value.items()}
    raise ValueError(f"{where}: {value!r} is not a plain JSON-able value")


def _convert(env_id: str, algo: str, entry: dict[str, Any], source: str) -> ZooHyper:
    """A raw zoo entry (as its YAML loads) as a :class:`ZooHyper`, the way rl_zoo3 pre-processes it."""
    where = f"{source}: {env_id}"
    raw = dict(entry)
    unsupported = sorted(_UNSUPPORTED_KEYS & raw.keys())
    if unsupported:
        raise ValueError(f"{where} uses {unsupported}, which only rl_zoo3's own training script can honour")
    if "n_timesteps" not in raw:
        raise ValueError(f"{where} has no n_timesteps")
    n_timesteps = _integer(f"{where} n_timesteps", raw.pop("n_timesteps"))
    n_envs = _integer(f"{where} n_envs", raw.pop("n_envs", 1))
    policy = raw.pop("policy", "MlpPolicy")
    if not isinstance(policy, str) or "." in policy:
        raise ValueError(f"{where}: policy {policy!r} is not one of SB3's policy names")

    normalize = raw.pop("normalize", False)
    normalize_kwargs: dict[str, Any] = {}
    if isinstance(normalize, str):
        normalize_kwargs = parse_policy_kwargs(normalize)
        normalize = True
    elif isinstance(normalize, dict):
        normalize_kwargs = _json_value(f"{where} normalize", normalize)
        normalize = True
    elif not isinstance(normalize, bool):
        raise ValueError(f"{where}: normalize must be a bool, a mapping or a dict string, got {normalize!r}")
    if normalize and "gamma" in raw:
        normalize_kwargs["gamma"] = raw["gamma"]

    policy_kwargs_raw = raw.pop("policy_kwargs", {})
    if isinstance(policy_kwargs_raw, str):
        policy_kwargs = parse_policy_kwargs(policy_kwargs_raw)
    elif isinstance(policy_kwargs_raw, dict):
        policy_kwargs = _json_value(f"{where} policy_kwargs", policy_kwargs_raw)
        activation = policy_kwargs.get("activation_fn")
        if activation is not None and activation not in _ACTIVATION_CLASSES:
            raise ValueError(f"{where}: activation_fn {activation!r} is not one of {sorted(_ACTIVATION_CLASSES)}")
    else:
        raise ValueError(f"{where}: policy_kwargs must be a string or a mapping, got {policy_kwargs_raw!r}")

    schedules: dict[str, Schedule] = {}
    for key in _SCHEDULED_KEYS:
        schedules[key] = "constant"
        if key in raw:
            raw[key], schedules[key] = _scheduled(f"{where} {key}", raw[key])
    for key, value in raw.items():
        if isinstance(value, str) and value.startswith("lin_"):
            raise ValueError(f"{where}: a linear schedule for {key} is not supported (only {list(_SCHEDULED_KEYS)})")
    algo_kwargs = {key: _json_value(f"{where} {key}", value) for key, value in raw.items()}

    return ZooHyper(
        algo=cast(Literal["ppo", "sac"], algo),
        env_id=env_id,
        n_timesteps=n_timesteps,
        n_envs=n_envs,
        normalize=normalize,
        normalize_kwargs=normalize_kwargs,
        policy=policy,
        algo_kwargs=algo_kwargs,
        learning_rate_schedule=schedules["learning_rate"],
        clip_range_schedule=schedules["clip_range"],
        policy_kwargs=policy_kwargs,
        source=source,
    )


def parse_policy_kwargs(text: str) -> dict[str, Any]:
    """A zoo keyword string such as ``"dict(log_std_init=-2, activation_fn=nn.ReLU, net_arch=[64])"``.

    rl_zoo3 ``eval``\\ s these strings; here :mod:`ast` reads them and accepts only ``dict(...)`` with
    keyword arguments, ``{...}`` with string keys, lists, tuples (kept as lists), numbers (signed),
    strings, booleans and None, plus a torch activation class (``nn.ReLU``, ``th.nn.Tanh``, ...) as
    the value of ``activation_fn``, kept as its name in :data:`ACTIVATIONS`. Anything else (a call
    to another function, a name, an operator) is a ValueError, so that a hyper-parameter file can
    never run code.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"cannot parse keyword string {text!r}: {e.msg}") from None
    value = _literal(tree.body, text, key=None)
    if not isinstance(value, dict):
        raise ValueError(f"keyword string {text!r} is not a dict(...) or {{...}}")
    return value


def _reject(node: ast.AST, text: str) -> ValueError:
    segment = ast.get_source_segment(text.strip(), node) or ast.dump(node)
    return ValueError(f"unsupported construct {segment!r} in keyword string {text!r}")


def _activation(node: ast.expr, text: str) -> str:
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name) or not parts:
        raise _reject(node, text)
    parts.append(current.id)
    *prefix, name = reversed(parts)
    if tuple(prefix) not in _MODULE_PREFIXES or name not in ACTIVATIONS:
        raise ValueError(
            f"activation_fn {'.'.join([*prefix, name])!r} in {text!r} is not one of "
            f"{['nn.' + cls for cls in ACTIVATIONS]}"
        )
    return ACTIVATIONS[name]


def _mapping(pairs: list[tuple[str, ast.expr]], text: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} given twice in keyword string {text!r}")
        result[key] = _literal(value, text, key=key)
    return result


def _literal(node: ast.expr, text: str, key: str | None) -> Any:
    if key == "activation_fn":
        if isinstance(node, ast.Constant) and node.value in _ACTIVATION_CLASSES:
            return node.value
        return _activation(node, text)
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool | int | float | str)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = node.operand
        if (
            isinstance(operand, ast.Constant)
            and isinstance(operand.value, int | float)
            and not isinstance(operand.value, bool)
        ):
            return -operand.value if isinstance(node.op, ast.USub) else operand.value
        raise _reject(node, text)
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(element, text, key=None) for element in node.elts]
    if isinstance(node, ast.Dict):
        pairs: list[tuple[str, ast.expr]] = []
        for k, v in zip(node.keys, node.values, strict=True):
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                raise _reject(node if k is None else k, text)
            pairs.append((k.value, v))
        return _mapping(pairs, text)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        pairs = []
        for keyword in node.keywords:
            if keyword.arg is None:
                raise _reject(node, text)
            pairs.append((keyword.arg, keyword.value))
        return _mapping(pairs, text)
    raise _reject(node, text)


def sb3_kwargs(h: ZooHyper) -> dict[str, Any]:
    """Keyword arguments for ``stable_baselines3.PPO`` / ``SAC``: ``PPO(env=env, **sb3_kwargs(h))``.

    They include ``policy`` (the zoo's, ``"MlpPolicy"``), so the policy is not passed again. A
    linear schedule becomes a :class:`LinearSchedule`, a ``train_freq`` list the tuple SB3 expects
    (``[1, "episode"]``), and ``activation_fn`` the torch.nn class it names. The env is the
    caller's: ``h.n_envs`` copies, under ``VecNormalize(**h.normalize_kwargs)`` when
    ``h.normalize``, to train as the zoo did.
    """
    from torch import nn

    kwargs: dict[str, Any] = {"policy": h.policy, **copy.deepcopy(h.algo_kwargs)}
    if h.learning_rate_schedule == "linear":
        kwargs["learning_rate"] = LinearSchedule(float(kwargs["learning_rate"]))
    if h.clip_range_schedule == "linear" and "clip_range" in kwargs:
        kwargs["clip_range"] = LinearSchedule(float(kwargs["clip_range"]))
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    policy_kwargs = copy.deepcopy(h.policy_kwargs)
    if "activation_fn" in policy_kwargs:
        name = policy_kwargs["activation_fn"]
        if name not in _ACTIVATION_CLASSES:
            raise ValueError(f"activation_fn {name!r} is not one of {sorted(_ACTIVATION_CLASSES)}")
        policy_kwargs["activation_fn"] = getattr(nn, _ACTIVATION_CLASSES[name])
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs
