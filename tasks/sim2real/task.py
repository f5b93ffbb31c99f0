"""Sim-to-real tasks: PPO policies moved from simulated source dynamics to held-out target dynamics.

One training routine (:func:`train`) serves every method; what differs is where the policy
starts (random, a nominal source policy, a randomized source policy) and on which dynamics and
for how many steps it trains. Source policies are content-addressed artifacts: trained once per
(environment, dynamics or range, hyper-parameters, seed) and reused by every method and task
that starts from them. Policies are stored as safetensors state dicts, never pickles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bench.api import RunContext, RunResult, TaskSpec
from bench.config import resolve_options
from tasks.common import one_torch_thread
from tasks.sim2real.metrics import area_under_curve, grid_summary
from tasks.sim2real.specs import SETTINGS

__all__ = ["SimToRealTask", "from_spec"]

SOURCE_VERSION = 0
"""Bump when the way source policies are trained changes, so old artifacts are not reused."""

HYPER = ("n_envs", "n_steps", "batch_size", "n_epochs", "learning_rate", "gamma", "gae_lambda", "clip_range",
         "ent_coef", "net_width")


def _dynamics(d: Mapping[str, Any]) -> Any:
    from tasks.sim2real.dynamics import Dynamics

    return Dynamics.from_dict(dict(d))


def _range(d: Mapping[str, Any]) -> Any:
    from tasks.sim2real.dynamics import DynamicsRange

    return DynamicsRange.from_dict(dict(d))


def grid_points(grid: Mapping[str, list[float]]) -> list[tuple[str, dict[str, Any]]]:
    """``{"motor_strength": [1, .5]}`` -> ``[("motor_strength=1", {...}), ...]``; dotted keys reach links."""
    points = []
    for axis, values in grid.items():
        field, _, link = axis.partition(".")
        for v in values:
            points.append((f"{axis}={v:g}", {field: {link: v}} if link else {field: v}))
    return points


class SimToRealTask:
    """A robot, its nominal source dynamics, a named target condition, a grid and two DR ranges."""

    def __init__(self, spec: TaskSpec, options: Mapping[str, Any], setting: Mapping[str, Any]) -> None:
        self.spec = spec
        self.options = resolve_options(spec, options)
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
    def _vec_env(self, dynamics: Any, n: int, seed: int) -> Any:
        from stable_baselines3.common.monitor import Monitor
        from stable_baselines3.common.vec_env import DummyVecEnv

        from tasks.sim2real.dynamics import make_env

        def factory(i: int) -> Any:
            return lambda: Monitor(make_env(self.env_id, dynamics, seed=seed + i))

        venv = DummyVecEnv([factory(i) for i in range(n)])
        venv.seed(seed)
        return venv

    def _new_model(self, dynamics: Any, seed: int, device: str) -> Any:
        from stable_baselines3 import PPO

        o = self.options
        env = self._vec_env(dynamics, o["n_envs"], seed=1000 * seed)
        return PPO(
            "MlpPolicy", env, n_steps=o["n_steps"], batch_size=o["batch_size"], n_epochs=o["n_epochs"],
            learning_rate=o["learning_rate"], gamma=o["gamma"], gae_lambda=o["gae_lambda"],
            clip_range=o["clip_range"], ent_coef=o["ent_coef"], seed=seed, device=device, verbose=0,
            policy_kwargs={"net_arch": [o["net_width"], o["net_width"]]},
        )

    def evaluate(self, model: Any, dynamics: Any, episodes: int, seed: int) -> list[float]:
        """Returns of ``episodes`` deterministic episodes on ``dynamics`` (its own seeded envs)."""
        from stable_baselines3.common.evaluation import evaluate_policy

        env = self._vec_env(dynamics, min(episodes, 4), seed=10_000 + seed)
        try:
            returns, _ = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=True,
                                         return_episode_rewards=True)
        finally:
            env.close()
        return [float(r) for r in returns]

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
                curve.append((float(done), self._mean_return(model, curve_on, ctx)))
            n = min(chunk, steps - done)
            model.learn(n, reset_num_timesteps=False)
            done += n
            bar.update(n)
        bar.close()
        return curve

    def _mean_return(self, model: Any, dynamics: Any, ctx: RunContext, episodes: int | None = None) -> float:
        n = episodes or self.options["eval_episodes"]
        return float(np.mean(self.evaluate(model, dynamics, n, ctx.seed)))

    def source_policy(self, ctx: RunContext, randomization: str | None) -> Any:
        """A PPO model holding the source policy for this seed (trained once, then an artifact)."""
        from safetensors.torch import load_file, save_file

        o = self.options
        dynamics = self.ranges[randomization] if randomization else self.nominal
        key = {"version": SOURCE_VERSION, "env_id": self.env_id, "dynamics": dynamics.to_dict(),
               "randomized": randomization is not None, "steps": o["source_steps"], "seed": ctx.seed,
               "hyper": {k: o[k] for k in HYPER}}

        def build(d: Path) -> None:
            model = self._new_model(dynamics, ctx.seed, ctx.device)
            self.train(model, o["source_steps"], ctx)
            save_file({k: v.contiguous() for k, v in model.policy.state_dict().items()}, d / "policy.safetensors")
            (d / "source.json").write_text(json.dumps({"source_return_nominal": self._mean_return(
                model, self.nominal, ctx)}))

        path = ctx.artifacts.get_or_build("sim2real-source-policy", key, build)
        model = self._new_model(self.target, ctx.seed, ctx.device)
        model.policy.load_state_dict(load_file(path / "policy.safetensors"))
        return model

    # --- the methods -------------------------------------------------------------------------
    def run(self, method: str, ctx: RunContext) -> RunResult:
        if method not in self.spec.methods:
            accepted = ", ".join(self.spec.methods)
            raise ValueError(f"{self.spec.id} does not implement {method!r}; it implements {accepted}")
        with one_torch_thread():
            return self._run(method, ctx)

    def _run(self, method: str, ctx: RunContext) -> RunResult:
        import torch

        o = self.options
        torch.manual_seed(ctx.seed)
        curve: list[tuple[float, float]] = []
        train_steps = 0
        with ctx.phase("source_train"):
            if method in ("zero-shot", "fine-tune"):
                model = self.source_policy(ctx, None)
            elif method == "domain-randomization":
                model = self.source_policy(ctx, "wide")
            elif method == "domain-randomization-narrow":
                model = self.source_policy(ctx, "narrow")
            else:
                model = None
        with ctx.phase("target_train"):
            if method in ("scratch", "oracle"):
                model = self._new_model(self.target, ctx.seed, ctx.device)
            if method in ("scratch", "fine-tune"):
                train_steps = ctx.budget
                curve = self.train(model, ctx.budget, ctx, curve_on=self.target)
            elif method == "oracle":
                train_steps = o["source_steps"]
                self.train(model, o["source_steps"], ctx)
        with ctx.phase("eval"):
            target_returns = self.evaluate(model, self.target, o["eval_episodes"], ctx.seed)
            target_return = float(np.mean(target_returns))
            if curve:
                curve.append((float(train_steps), target_return))
            source_return = self._mean_return(model, self.nominal, ctx)
            conditions = {name: self._mean_return(model, _dynamics(d), ctx, o["grid_episodes"])
                          for name, d in self.setting["conditions"].items()}
            grid = {name: self._mean_return(model, _dynamics(d), ctx, o["grid_episodes"])
                    for name, d in grid_points(self.setting["grid"])}
        if not curve:
            curve = [(0.0, target_return)]
        metrics = {
            "return": target_return,
            "source_return": source_return,
            "reality_gap": source_return - target_return,
            "jumpstart": curve[0][1],
            "auc": area_under_curve(curve),
            **grid_summary(list(grid.values())),
        }
        n_params = sum(p.numel() for p in model.policy.parameters())
        return RunResult(
            metrics=metrics,
            breakdowns={"return": {**{f"condition {k}": v for k, v in conditions.items()},
                                   **{f"grid {k}": v for k, v in grid.items()}}},
            curves={"target_return": curve},
            trainable_params=n_params if train_steps else 0,
            total_params=n_params,
            train_samples=train_steps,
            extra={"env_id": self.env_id, "target": self.target_name, "target_dynamics": self.target.to_dict(),
                   "target_returns": target_returns},
        )


def from_spec(spec: TaskSpec, options: Mapping[str, Any]) -> SimToRealTask:
    """The entry point of first-party sim-to-real tasks: their setting lives in :data:`SETTINGS`."""
    return SimToRealTask(spec, options, SETTINGS[spec.id])
