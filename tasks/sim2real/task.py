"""Sim-to-real tasks: PPO policies moved from simulated source dynamics to held-out target dynamics.

One training routine (:func:`train`) serves every method; what differs is where the policy
starts (random, a nominal source policy, a randomized source policy) and on which dynamics and
for how many steps it trains. Source policies are content-addressed artifacts: trained once per
(environment, dynamics or range, hyper-parameters, seed) and reused by every method and task
that starts from them. Policies are stored as safetensors state dicts, never pickles.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bench.api import RunContext, RunResult, TaskSpec
from tasks.common import TorchTask
from tasks.sim2real.evaluate import Case, Policy, evaluate, save_rollout_gif
from tasks.sim2real.metrics import area_under_curve, grid_summary
from tasks.sim2real.specs import DEFAULT_OPTIONS, SETTINGS

__all__ = ["SimToRealTask", "from_spec"]

SOURCE_VERSION = 0
"""Bump when the way source policies are trained changes, so old artifacts are not reused."""

OWN_HYPER = ("n_envs", "n_steps", "batch_size", "n_epochs", "learning_rate", "gamma", "gae_lambda", "clip_range",
             "ent_coef", "net_width")
"""Options that are the PPO settings of a task with ``hyper="own"``."""

ZOO_OVERRIDES = {"ppo": ("n_envs", "n_steps", "batch_size", "n_epochs"),
                 "sac": ("n_envs", "batch_size", "learning_starts", "buffer_size", "gradient_steps")}
"""Options that, when non-zero, override rl-zoo's value for a task with ``hyper="rl-zoo"`` (for smoke runs)."""


def _dynamics(d: Mapping[str, Any]) -> Any:
    from tasks.sim2real.dynamics import Dynamics

    return Dynamics.from_dict(dict(d))


def _range(d: Mapping[str, Any]) -> Any:
    from tasks.sim2real.dynamics import DynamicsRange

    return DynamicsRange.from_dict(dict(d))


def _key(dynamics: Any) -> str:
    """Canonical text of a setting of the dynamics: equal settings, equal keys."""
    return json.dumps(dynamics.to_dict() if dynamics is not None else {}, sort_keys=True)


def grid_points(grid: Mapping[str, list[float]]) -> list[tuple[str, dict[str, Any]]]:
    """``{"motor_strength": [1, .5]}`` -> ``[("motor_strength=1", {...}), ...]``; dotted keys reach links."""
    points = []
    for axis, values in grid.items():
        field, _, link = axis.partition(".")
        for v in values:
            points.append((f"{axis}={v:g}", {field: {link: v}} if link else {field: v}))
    return points


class SimToRealTask(TorchTask):
    """A robot, its nominal source dynamics, a named target condition, a grid and two DR ranges.

    Options the spec does not declare take :data:`tasks.sim2real.specs.DEFAULT_OPTIONS`' values,
    so a plugin's spec lists only what it changes.
    """

    def __init__(self, spec: TaskSpec, options: Mapping[str, Any], setting: Mapping[str, Any]) -> None:
        super().__init__(spec, options)
        self.options = {**DEFAULT_OPTIONS, **self.options}
        self.setting = dict(setting)
        self.env_id: str = setting["env_id"]
        self.target_name: str = setting["target"]
        if self.target_name not in setting["conditions"]:
            raise ValueError(f"{spec.id}: target {self.target_name!r} is not one of {sorted(setting['conditions'])}")
        self.target = _dynamics(setting["conditions"][self.target_name])
        self.nominal = _dynamics({})
        self.ranges = {name: _range(r) for name, r in setting["ranges"].items()}
        if not self.ranges["wide"].covers(self.target):
            raise ValueError(f"{spec.id}: the 'wide' randomization range must cover the target")
        if self.ranges["narrow"].covers(self.target):
            raise ValueError(f"{spec.id}: the 'narrow' randomization range must not cover the target")

    # --- building blocks -----------------------------------------------------------------------
    @property
    def env_kwargs(self) -> dict[str, Any]:
        steps = self.options.get("episode_steps", 0)
        return {"max_episode_steps": steps} if steps else {}

    @functools.cached_property
    def hyper(self) -> Any:
        """:meth:`hyperparameters`, resolved once per task object (it may read rl_zoo3's files)."""
        return self.hyperparameters()

    def hyperparameters(self) -> Any:
        """The algorithm and its settings, as a :class:`tasks.sim2real.zoo.ZooHyper`.

        ``hyper="rl-zoo"``: rl-baselines3-zoo's tuned entry for this env and ``algo`` (the installed
        rl_zoo3's file, else our vendored copy; ``source`` says which), with any non-zero
        :data:`ZOO_OVERRIDES` option on top. ``hyper="own"``: PPO with this task's options (the
        zoo has no entry for the pendula; ours are measured in ``tests/benchmarks``).
        """
        from tasks.sim2real.zoo import ZooHyper, zoo_hyperparams

        o = self.options
        if o["hyper"] == "own":
            if o["algo"] != "ppo":
                raise ValueError(f"{self.spec.id}: hyper='own' sets PPO's options only; algo={o['algo']!r} "
                                 "needs hyper='rl-zoo'")
            kwargs = {k: o[k] for k in OWN_HYPER if k not in ("n_envs", "net_width")}
            return ZooHyper("ppo", self.env_id, o["source_steps"], o["n_envs"], False, {}, "MlpPolicy", kwargs,
                            "constant", "constant", {"net_arch": [o["net_width"], o["net_width"]]},
                            f"{self.spec.id} options")
        if o["hyper"] != "rl-zoo":
            raise ValueError(f"{self.spec.id}: hyper={o['hyper']!r}; accepted: 'own', 'rl-zoo'")
        h = zoo_hyperparams(self.env_id, o["algo"])
        known = ZOO_OVERRIDES[h.algo]
        stray = sorted(k for v in ZOO_OVERRIDES.values() for k in v if o.get(k) and k not in known)
        if stray:
            raise ValueError(f"{self.spec.id}: option(s) {', '.join(stray)} do not apply to {h.algo}; "
                             f"{h.algo} takes {', '.join(known)} (0 keeps rl-zoo's value)")
        changed = {k: o[k] for k in known if o.get(k)}
        if not changed:
            return h
        names = ", ".join(sorted(changed))
        n_envs = changed.pop("n_envs", h.n_envs)
        return dataclasses.replace(h, n_envs=n_envs, algo_kwargs={**h.algo_kwargs, **changed},
                                   source=f"{h.source}; {names} from the task options")

    def _vec_env(self, dynamics: Any, n: int, seed: int) -> Any:
        from stable_baselines3.common.monitor import Monitor
        from stable_baselines3.common.vec_env import DummyVecEnv

        from tasks.sim2real.dynamics import make_env

        def factory(i: int) -> Any:
            return lambda: Monitor(make_env(self.env_id, dynamics, seed=seed + i, **self.env_kwargs))

        venv = DummyVecEnv([factory(i) for i in range(n)])
        venv.seed(seed)
        return venv

    def _new_model(self, dynamics: Any, seed: int, device: str, source: Path | None = None) -> Any:
        """A fresh model training on ``dynamics``; with ``source``, starting from that stored policy."""
        from stable_baselines3 import PPO, SAC
        from stable_baselines3.common.vec_env import VecNormalize

        from tasks.sim2real.zoo import sb3_kwargs

        h = self.hyper
        env = self._vec_env(dynamics, h.n_envs, seed=1000 * seed)
        if h.normalize:
            env = VecNormalize(env, **h.normalize_kwargs)
        model = {"ppo": PPO, "sac": SAC}[h.algo](env=env, seed=seed, device=device, verbose=0, **sb3_kwargs(h))
        if source is not None:
            from safetensors.torch import load_file

            model.policy.load_state_dict(load_file(source / "policy.safetensors"))
            if h.normalize:
                _set_normalization(model.get_vec_normalize_env(), load_file(source / "normalization.safetensors"))
        return model

    @functools.cached_property
    def _activation(self) -> str:
        h = self.hyper
        return h.policy_kwargs.get("activation_fn", "tanh" if h.algo == "ppo" else "relu")

    # --- evaluation ----------------------------------------------------------------------------
    def policy(self, model: Any) -> Policy:
        """The deterministic actor of an SB3 model (and its observation normalization)."""
        space = model.action_space
        norm = model.get_vec_normalize_env()
        rms = None if norm is None else (norm.obs_rms.mean, norm.obs_rms.var)
        return Policy.from_state_dict(model.policy.state_dict(), space.low, space.high,
                                      activation=self._activation, obs_rms=rms,  # type: ignore[arg-type]
                                      clip_obs=norm.clip_obs if norm is not None else 10.0)

    @functools.cached_property
    def _env_facts(self) -> tuple[Any, bool]:
        """The env's action space and whether it renders ``rgb_array`` frames (one env, made once)."""
        from tasks.sim2real.dynamics import make_env

        env = make_env(self.env_id, None)
        try:
            return env.action_space, "rgb_array" in env.metadata.get("render_modes", [])
        finally:
            env.close()

    def _stored_policy(self, path: Path) -> Policy:
        """A stored source policy, read without torch or stable-baselines3."""
        from safetensors.numpy import load_file

        space = self._env_facts[0]
        rms, clip_obs = None, 10.0
        if (path / "normalization.safetensors").exists():
            n = load_file(path / "normalization.safetensors")
            rms, clip_obs = (n["obs_mean"], n["obs_var"]), float(n["clip_obs"])
        return Policy.from_state_dict(load_file(path / "policy.safetensors"), space.low, space.high,
                                      activation=self._activation, obs_rms=rms,  # type: ignore[arg-type]
                                      clip_obs=clip_obs)

    def case(self, label: str, dynamics: Any, episodes: int, seed: int) -> Case:
        """Episodes on ``dynamics``, seeded from the run seed and the dynamics themselves.

        The same dynamics get the same episode seeds in every method's run of a seed, so methods
        are compared on the same initial states, and a condition that coincides with a grid point
        is one case, not two.
        """
        salt = int(hashlib.sha256(_key(dynamics).encode()).hexdigest()[:6], 16)
        return Case(label, dynamics, episodes, seed=10_007 * seed + salt)

    def evaluation(self) -> dict[str, tuple[Any, int]]:
        """What every run is scored on: ``{name: (dynamics, episodes)}`` for the target, the source
        (nominal) dynamics, each named condition and each grid point."""
        o = self.options
        ge = o["grid_episodes"]
        return {"target": (self.target, o["eval_episodes"]), "source": (self.nominal, o["eval_episodes"]),
                **{f"condition {k}": (_dynamics(d), ge) for k, d in self.setting["conditions"].items()},
                **{f"grid {k}": (_dynamics(d), ge) for k, d in grid_points(self.setting["grid"])}}

    def scores(self, policy: Policy, wanted: Mapping[str, tuple[Any, int]], ctx: RunContext) -> dict[str, float]:
        """Mean return per name of ``{name: (dynamics, episodes)}``, spread over the run's workers."""
        by_key: dict[str, Case] = {}
        names: dict[str, str] = {}
        for name, (dynamics, episodes) in wanted.items():
            key = _key(dynamics)
            prev = by_key.get(key)
            if prev is None or prev.episodes < episodes:
                by_key[key] = self.case(prev.label if prev else name, dynamics, episodes, ctx.seed)
            names[name] = key
        # Several pieces per worker: episodes differ in length, and the pool hands out pieces as
        # workers free up, which evens out what one even split would not.
        pieces = 4 * ctx.workers if ctx.workers > 1 else 1
        returns = evaluate(self.env_id, policy, list(by_key.values()), ctx.map, pieces, self.env_kwargs)
        return {name: float(np.mean(returns[by_key[k].label][: wanted[name][1]])) for name, k in names.items()}

    def train(self, model: Any, steps: int, ctx: RunContext, curve_on: Any = None) -> list[tuple[float, float]]:
        """Train ``model`` for ``steps`` env steps; with ``curve_on`` (dynamics), return the learning curve.

        The curve's points are taken before each chunk of training; the caller adds the final point
        from its own evaluation of the trained model, so that it is not evaluated twice.
        """
        points = max(1, self.options["eval_points"] - 1)
        chunk = max(1, steps // points) if curve_on is not None else steps
        curve: list[tuple[float, float]] = []
        done = 0
        bar = ctx.progress(total=steps, desc=f"{ctx.method} seed {ctx.seed}")
        while done < steps:
            if curve_on is not None:
                wanted = {"target": (curve_on, self.options["eval_episodes"])}
                curve.append((float(done), self.scores(self.policy(model), wanted, ctx)["target"]))
            n = min(chunk, steps - done)
            model.learn(n, reset_num_timesteps=False)
            done += n
            bar.update(n)
        bar.close()
        return curve

    def source_policy(self, ctx: RunContext, dynamics: Any, randomized: bool) -> Path:
        """The directory of the source policy trained on ``dynamics`` for this seed (trained once).

        The oracle is a source policy too, trained on the target: the same artifact whichever
        task or method asks for it.
        """
        from safetensors.torch import save_file

        o = self.options
        hyper = {k: v for k, v in self.hyper.to_dict().items() if k != "source"}
        key = {"version": SOURCE_VERSION, "env_id": self.env_id, "dynamics": dynamics.to_dict(),
               "randomized": randomized, "steps": o["source_steps"], "seed": ctx.seed, "hyper": hyper,
               "env_kwargs": self.env_kwargs}

        def build(d: Path) -> None:
            model = self._new_model(dynamics, ctx.seed, ctx.device)
            self.train(model, o["source_steps"], ctx)
            save_file({k: v.contiguous() for k, v in model.policy.state_dict().items()}, d / "policy.safetensors")
            norm = model.get_vec_normalize_env()
            if norm is not None:
                save_file(_normalization(norm), d / "normalization.safetensors")

        return ctx.artifacts.get_or_build("sim2real-source-policy", key, build)

    # --- the methods -------------------------------------------------------------------------
    def _run(self, method: str, ctx: RunContext) -> RunResult:
        import torch

        o = self.options
        torch.manual_seed(ctx.seed)
        curve: list[tuple[float, float]] = []
        train_steps = 0
        sources = {"zero-shot": (self.nominal, False), "fine-tune": (self.nominal, False),
                   "domain-randomization": (self.ranges["wide"], True),
                   "domain-randomization-narrow": (self.ranges["narrow"], True), "oracle": (self.target, False)}
        model = None
        with ctx.phase("source_train"):
            source = self.source_policy(ctx, *sources[method]) if method in sources else None
        with ctx.phase("target_train"):
            if method in ("scratch", "fine-tune"):
                model = self._new_model(self.target, ctx.seed, ctx.device, source)
                train_steps = ctx.budget
                curve = self.train(model, ctx.budget, ctx, curve_on=self.target)
        with ctx.phase("eval"):
            policy = self.policy(model) if model is not None else self._stored_policy(source)  # type: ignore[arg-type]
            scores = self.scores(policy, self.evaluation(), ctx)
            files = {}
            if o["gif_frames"] and ctx.output_dir is not None and self._env_facts[1]:
                gif = save_rollout_gif(self.env_id, policy, self.target, ctx.output_dir / "rollout.gif",
                                       seed=ctx.seed, frames=o["gif_frames"], env_kwargs=self.env_kwargs)
                files["rollout"] = str(gif)
        target_return = scores["target"]
        if curve:
            curve.append((float(train_steps), target_return))
        else:
            curve = [(0.0, target_return)]
        grid_scores = [v for k, v in scores.items() if k.startswith("grid ")]
        metrics = {
            "return": target_return,
            "source_return": scores["source"],
            "reality_gap": scores["source"] - target_return,
            "jumpstart": curve[0][1],
            "auc": area_under_curve(curve),
            **grid_summary(grid_scores),
        }
        if model is not None:
            n_params = sum(p.numel() for p in model.policy.parameters())
        else:
            n_params = sum(w.size + b.size for w, b in (*policy.layers, policy.head))
        return RunResult(
            metrics=metrics,
            breakdowns={"return": {k: v for k, v in scores.items() if k.startswith(("condition ", "grid "))}},
            curves={"target_return": curve},
            trainable_params=n_params if train_steps else 0,
            total_params=n_params,
            train_samples=train_steps,
            extra={"env_id": self.env_id, "target": self.target_name, "target_dynamics": self.target.to_dict(),
                   "hyperparameters": self.hyper.to_dict()},
            files=files,
        )


def _normalization(norm: Any) -> dict[str, Any]:
    import torch

    t = {"obs_mean": norm.obs_rms.mean, "obs_var": norm.obs_rms.var, "obs_count": np.array(norm.obs_rms.count),
         "ret_mean": norm.ret_rms.mean, "ret_var": norm.ret_rms.var, "ret_count": np.array(norm.ret_rms.count),
         "clip_obs": np.array(norm.clip_obs)}
    return {k: torch.as_tensor(np.asarray(v, dtype=np.float64)).reshape(np.shape(v)) for k, v in t.items()}


def _set_normalization(norm: Any, stored: Mapping[str, Any]) -> None:
    """Continue from a source policy's running observation and return statistics."""
    for rms, prefix in ((norm.obs_rms, "obs"), (norm.ret_rms, "ret")):
        rms.mean = stored[f"{prefix}_mean"].numpy()
        rms.var = stored[f"{prefix}_var"].numpy()
        rms.count = float(stored[f"{prefix}_count"])


def from_spec(spec: TaskSpec, options: Mapping[str, Any]) -> SimToRealTask:
    """The entry point of first-party sim-to-real tasks: their setting lives in :data:`SETTINGS`."""
    return SimToRealTask(spec, options, SETTINGS[spec.id])
