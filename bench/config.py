"""One validated run configuration, resolved as defaults < ``--config`` file < flags < ``--set``.

Every knob of a run lives here under one name, whether it came from a TOML file, a command-line
flag or ``--set key=value``; task options are ``options.<name>`` and are checked against what the
selected tasks accept. Sweeps (``--sweep NAME=V1,V2``, ``--set sweep.NAME=V1,V2`` or a TOML
``[sweep]`` table) are checked the same way, value by value, when the grid is planned.
``seeds = "auto"`` (or ``"auto:MAX"``) asks for an internal pilot that decides the seeds (see
:mod:`bench.autoseeds`): it is held as the pilot's seeds plus ``seeds_auto``, the most seeds allowed.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.errors import UsageError, unknown

__all__ = ["RayConfig", "RunConfig", "SlurmConfig", "build_config", "parse_seeds", "parse_seeds_auto", "parse_set",
           "parse_sweep", "resolve_options"]

AUTO_PILOT = [0, 1, 2]
"""The pilot of ``seeds = "auto"``: the runs ``--seeds 3`` makes, so its records are reused."""
AUTO_MAX = 10
AUTO_MIN_GAIN = 0.05


class RayConfig(BaseModel):
    """``--executor ray``: where the cluster is and how often a run whose worker died is retried."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    """A running cluster (``HOST:PORT`` of its head, or ``auto``); None starts a local one for the
    run with ``workers`` CPUs and stops it afterwards."""
    retries: int = Field(default=1, ge=0, le=10)
    """Times a run is started again after its worker or node died; then it is recorded as failed."""


class SlurmConfig(BaseModel):
    """``--executor slurm``: the parameters of the job arrays submitit submits (one array per
    kind of run, sized by the methods' :class:`bench.api.Resources`)."""

    model_config = ConfigDict(extra="forbid")

    partition: str | None = None
    time_min: int = Field(default=240, ge=1)
    """Wall-clock limit of one run, in minutes."""
    array_parallelism: int = Field(default=64, ge=1)
    """At most this many runs of an array at once."""
    additional: dict[str, Any] = Field(default_factory=dict)
    """More ``#SBATCH`` parameters, e.g. ``{account = "proj", qos = "high"}``."""
    folder: Path | None = None
    """Where submitit keeps job scripts, pickles and logs; None: ``<results_dir>/.slurm``."""
    cluster: Literal["slurm", "local"] = "slurm"
    """``local`` runs the same arrays as processes on this machine (submitit's local executor):
    for trying the path without a cluster."""
    retries: int = Field(default=1, ge=0, le=10)
    """Times a run is resubmitted after its job died (node failure, preemption, out of memory)."""


class RunConfig(BaseModel):
    """What ``bench run`` runs and how."""

    model_config = ConfigDict(extra="forbid")

    suite: str | None = None
    """Run every task of this suite (``quick`` when no task is named)."""
    tasks: list[str] = Field(default_factory=list)
    """Task ids to run, instead of a suite."""
    methods: list[str] = Field(default_factory=list)
    """Methods to run (empty: every method each task implements); scratch is always added."""
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    seeds_auto: int | None = Field(default=None, ge=3)
    """Set by ``seeds = "auto[:MAX]"``: ``seeds`` is the pilot and each method gets the seeds its
    comparisons need, at most this many (see :mod:`bench.autoseeds`); None: exactly ``seeds``."""
    min_gain: float = Field(default=AUTO_MIN_GAIN, gt=0, allow_inf_nan=False)
    """With ``seeds_auto``: the smallest gain worth detecting, as a fraction of scratch's mean."""
    budgets: list[int] = Field(default_factory=list)
    """Target budgets (empty: each task's default)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    workers: int | Literal["auto"] = "auto"
    """Runs in parallel processes; ``auto``: one per CPU core, at most one per pending run."""
    executor: Literal["local", "ray", "slurm"] = "local"
    """Where runs execute: local worker processes, tasks on a Ray cluster, or Slurm job arrays."""
    ray: RayConfig = Field(default_factory=RayConfig)
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)
    results_dir: Path = Path("results")
    force: bool = False
    """Run again even where a record of the same config exists, and overwrite it."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Task options, checked against each selected task's ``TaskSpec.options``."""
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    """Task options to sweep: the grid is multiplied by every combination of these values, and
    each run's options (so its record and config hash) carry its own; the leaderboard plots the
    main metric against a swept option (e.g. layer transferability against the number of
    transferred units). A swept value overrides the same name in ``options``: the sweep is the
    more specific request. A run whose swept value equals the default has the hash of the same run
    without a sweep, so earlier records are reused, not redone."""

    @field_validator("sweep")
    @classmethod
    def _sweep(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in v.items():
            if not values:
                raise ValueError(f"option {name!r} has no values to sweep")
            if len({json.dumps(x, sort_keys=True) for x in values}) != len(values):
                raise ValueError(f"option {name!r} repeats a value")
        return v

    @model_validator(mode="before")
    @classmethod
    def _auto(cls, data: Any) -> Any:
        """``seeds = "auto:8"`` becomes the pilot's seeds and ``seeds_auto = 8``."""
        if isinstance(data, dict) and isinstance(data.get("seeds"), str):
            most = parse_seeds_auto(data["seeds"])
            if most is not None:
                return {**data, "seeds": AUTO_PILOT, "seeds_auto": most}
        return data

    @model_validator(mode="after")
    def _auto_pilot(self) -> RunConfig:
        if self.seeds_auto is not None and self.seeds != AUTO_PILOT:
            raise UsageError(f"seeds_auto={self.seeds_auto} runs the pilot seeds 0,1,2 first, not seeds={self.seeds}; "
                             f"give seeds = \"auto:{self.seeds_auto}\" alone, or a number of seeds without seeds_auto")
        return self

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        if isinstance(v, (int, str)) and not isinstance(v, bool):
            return parse_seeds(str(v), what="seeds")
        return v

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, v: Any) -> Any:
        if v == "auto":
            return v
        n = int(v) if isinstance(v, int | str) and not isinstance(v, bool) and str(v).strip().isdigit() else 0
        if not 1 <= n <= 256:
            raise ValueError("must be 'auto' or a whole number from 1 to 256")
        return n

    @property
    def processes(self) -> int:
        """How many processes the grid may use in all: ``workers``, or one per CPU core for ``auto``."""
        return (os.cpu_count() or 1) if self.workers == "auto" else int(self.workers)

    @field_validator("seeds", "budgets")
    @classmethod
    def _unique_non_negative(cls, v: list[int]) -> list[int]:
        if any(x < 0 for x in v):
            raise ValueError("must not be negative")
        if len(set(v)) != len(v):
            raise ValueError("must not repeat a value")
        return v


def parse_seeds_auto(text: str) -> int | None:
    """``"auto"`` -> 10 and ``"auto:8"`` -> 8, the most seeds a method may get; None for anything else.

    Fewer than three would leave no room above the pilot, and three seeds are the fewest a
    verdict is given on.
    """
    head, sep, most = text.strip().lower().partition(":")
    if head != "auto":
        return None
    if not sep:
        return AUTO_MAX
    if not most.strip().isdigit() or int(most) < 3:
        raise UsageError(f"--seeds {text!r}: the most seeds of auto:MAX must be a whole number of at least 3 "
                         f"(e.g. auto, which is auto:{AUTO_MAX}, or auto:6)")
    return int(most)


MAX_SEEDS = 1000
"""The most seeds one grid may name: far past what any verdict needs (see ``--seeds auto``), and
small enough that a typo (``--seeds 99999999999``) is refused at once instead of exhausting memory."""


def parse_seeds(text: str, what: str = "--seeds") -> list[int]:
    """``"3"`` means seeds 0, 1, 2; ``"0,5,7"`` means exactly those. ``what`` names the value in errors."""
    text = text.strip()
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            n = int(text)
            if n < 1:
                raise UsageError(f"{what} {text!r}: the number of seeds must be at least 1")
            if n > MAX_SEEDS:
                raise UsageError(f"{what} {text!r}: at most {MAX_SEEDS} seeds per grid (--seeds auto picks how many "
                                 "a verdict needs)")
            seeds = list(range(n))
    except ValueError:
        raise UsageError(
            f"{what} {text!r} is not a number of seeds (e.g. 3), a comma-separated list (e.g. 0,1,2) or auto[:MAX]"
        ) from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"{what} {text!r}: seeds must be distinct non-negative integers")
    if len(seeds) > MAX_SEEDS:
        raise UsageError(f"{what}: {len(seeds)} seeds; at most {MAX_SEEDS} per grid")
    return seeds


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _sweep_values(raw: str) -> list[Any]:
    return [_value(v.strip()) for v in raw.split(",")]


def parse_sweep(items: list[str]) -> dict[str, list[Any]]:
    """``["transfer_units=0,3,9"]`` -> ``{"transfer_units": [0, 3, 9]}`` (values parsed as in ``--set``).

    Naming one option twice is an error rather than last-wins: two value lists for one option
    are more likely a typo than a wish to drop the first.
    """
    out: dict[str, list[Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip().removeprefix("options.")
        if not sep or not name or not raw.strip() or any(not v.strip() for v in raw.split(",")):
            raise UsageError(f"--sweep {item!r} is not NAME=V1,V2,... (e.g. --sweep transfer_units=0,3,6,9)")
        if name in out:
            raise UsageError(f"--sweep {item!r}: option {name!r} is swept twice; give all its values at once")
        out[name] = _sweep_values(raw)
    return out


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["options.lr=0.01", "workers=2"]`` -> ``{"options": {"lr": 0.01}, "workers": 2}``.

    ``sweep.NAME=V1,V2`` is ``--sweep NAME=V1,V2`` in the same key=value form as everything else.
    """
    out: dict[str, Any] = {}
    keys = sorted(RunConfig.model_fields)
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r} is not key=value (e.g. --set options.lr=0.01 or --set workers=2)")
        head, _, sub = key.partition(".")
        if head not in RunConfig.model_fields:
            raise unknown("config key", head, keys + ["options.<task option>", "sweep.<task option>"])
        if head == "options":
            if not sub:
                raise UsageError(f"--set {item!r}: name the option, e.g. options.epochs=3")
            out.setdefault("options", {})[sub] = _value(raw)
        elif head == "sweep":
            if not sub or not raw.strip() or any(not v.strip() for v in raw.split(",")):
                raise UsageError(f"--set {item!r}: name the option and its values, e.g. sweep.epochs=1,3,10")
            out.setdefault("sweep", {})[sub] = _sweep_values(raw)
        elif head in _SECTIONS:
            if not sub:
                example = next(iter(_SECTIONS[head].model_fields))
                raise UsageError(f"--set {item!r}: name the setting, e.g. {head}.{example}=...")
            out.setdefault(head, {})[sub] = _value(raw)
        elif sub:
            raise UsageError(f"--set {item!r}: {head!r} has no sub-keys")
        else:
            out[head] = raw.split(",") if head in ("tasks", "methods") else _value(raw)
    return out


_SECTIONS: dict[str, type[BaseModel]] = {"ray": RayConfig, "slurm": SlurmConfig}
"""Config keys that hold a table of their own settings (``--set ray.address=...``, TOML ``[slurm]``)."""


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` wins, key by key; tables are merged, and a later ``seeds`` replaces an earlier ``seeds_auto``."""
    merged = dict(base)
    if "seeds" in over and "seeds_auto" not in over:
        merged.pop("seeds_auto", None)
    for k, v in over.items():
        if k in ("options", "sweep", *_SECTIONS) and isinstance(v, dict):
            merged[k] = {**merged.get(k, {}), **v}
        else:
            merged[k] = v
    return merged


def load_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise UsageError(f"--config {str(path)!r}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--config {str(path)!r} is not valid TOML: {exc}") from None
    return data


def build_config(
    file: Path | None = None, flags: dict[str, Any] | None = None, sets: list[str] | None = None
) -> RunConfig:
    """Resolve defaults < file < flags < ``--set`` into one validated :class:`RunConfig`."""
    data: dict[str, Any] = {}
    if file is not None:
        data = _merge(data, load_file(file))
        try:  # a bad value in the file is reported as the file's, not as a flag's
            RunConfig.model_validate(data)
        except UsageError as exc:
            raise UsageError(f"--config {str(file)!r}: {exc}") from None
        except ValidationError as exc:
            raise UsageError(f"--config {str(file)!r}: {_usage_error(exc)}") from None
    data = _merge(data, {k: v for k, v in (flags or {}).items() if v is not None})
    data = _merge(data, parse_set(sets or []))
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError(_usage_error(exc)) from None


def _usage_error(exc: ValidationError) -> str:
    """The first validation error as one line naming the key, the bad value and what is accepted."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "config"
    if err["type"] == "extra_forbidden":
        section = _SECTIONS.get(str(err["loc"][0])) if len(err["loc"]) == 2 else None
        if section is not None:
            keys = [f"{err['loc'][0]}.{k}" for k in sorted(section.model_fields)]
            return str(unknown("config key", where, keys))
        return str(unknown("config key", where, sorted(RunConfig.model_fields)))
    got = err.get("input")
    shown = got if isinstance(got, str) and got.strip().lstrip("-").isdigit() else repr(got)
    msg = err["msg"].removeprefix("Value error, ")
    return f"config {where}={shown}: {msg}"


def check_option(task_id: str, name: str, value: Any, default: Any) -> Any:
    """Check a task option against the type of its default, allowing ints where floats are wanted."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif default is None:
        ok = True
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise UsageError(
            f"option {name}={value!r} for task {task_id}: "
            f"expected {type(default).__name__} like the default {default!r}"
        )
    return value


def resolve_options(spec: Any, options: dict[str, Any] | Any, strict: bool = True) -> dict[str, Any]:
    """A task's options: its spec's defaults overridden by ``options``, each checked against its default.

    ``strict`` rejects names the task does not have (a typo must not be silently ignored); the
    runner passes ``strict=False`` because one ``--set`` may address several tasks at once.
    """
    resolved = dict(spec.options)
    for name, value in dict(options).items():
        if name in spec.options:
            resolved[name] = check_option(spec.id, name, value, spec.options[name])
        elif strict:
            raise unknown(f"option of task {spec.id}", name, spec.options)
    return resolved
