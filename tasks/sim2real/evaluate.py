"""Evaluating a policy on many dynamics at once, without torch.

Evaluation dominates a sim-to-real run: one policy is scored on the target, the source, every
named condition and every grid point. Two things make that cheap. The policy's deterministic
action is a few small matrix products, done here in numpy on a batch of observations from all
dynamics stepped in lockstep (one forward call per step, not one per env). And the work splits
into independent pieces (:func:`evaluate_piece`) that import only numpy, gymnasium and pybullet,
so the harness's :meth:`bench.api.RunContext.map` can spread them over processes that start
in a fraction of a second. Every (dynamics, episode) pair has its own seed, so the returns do
not depend on how the work is split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["Case", "Policy", "evaluate", "evaluate_piece", "save_rollout_gif"]


@dataclass(frozen=True)
class Policy:
    """The deterministic actor of a stable-baselines3 policy, as numpy arrays.

    ``kind="gaussian"`` (PPO, A2C): the action is the Gaussian's mean, clipped to the action
    bounds, as ``model.predict(obs, deterministic=True)`` does. ``kind="squashed"`` (SAC,
    TD3-style): tanh of the mean, rescaled from [-1, 1] to the bounds. ``obs_mean``/``obs_var``
    reproduce ``VecNormalize``'s observation normalization where the policy was trained with it.
    """

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    head: tuple[np.ndarray, np.ndarray]
    low: np.ndarray
    high: np.ndarray
    activation: Literal["tanh", "relu"] = "tanh"
    kind: Literal["gaussian", "squashed"] = "gaussian"
    obs_mean: np.ndarray | None = None
    obs_var: np.ndarray | None = None
    clip_obs: float = 10.0
    epsilon: float = 1e-8
    clip_mean: float | None = None

    @classmethod
    def from_state_dict(
        cls,
        state: Mapping[str, Any],
        low: Any,
        high: Any,
        *,
        activation: Literal["tanh", "relu"] = "tanh",
        obs_rms: tuple[Any, Any] | None = None,
        clip_obs: float = 10.0,
        clip_mean: float | None = None,
    ) -> Policy:
        """From an SB3 policy's ``state_dict()`` (PPO ``MlpPolicy`` or SAC ``MlpPolicy`` keys).

        ``clip_mean``: SAC's bound on the mean before tanh when it uses gSDE (SB3's default, 2.0,
        unless given: the state dict does not hold it).
        """
        sd = {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
              for k, v in state.items()}
        if "action_net.weight" in sd:
            prefix, head, kind = "mlp_extractor.policy_net.", "action_net", "gaussian"
        elif "actor.mu.weight" in sd:
            prefix, head, kind = "actor.latent_pi.", "actor.mu", "squashed"
        elif "actor.mu.0.weight" in sd:  # SAC with gSDE: mu is followed by Hardtanh(-clip_mean, clip_mean)
            prefix, head, kind = "actor.latent_pi.", "actor.mu.0", "squashed"
            clip_mean = clip_mean if clip_mean is not None else 2.0
        else:
            raise ValueError("not an SB3 PPO or SAC MlpPolicy state dict: no action_net or actor.mu weights")
        idx = sorted({int(k[len(prefix):].split(".")[0]) for k in sd if k.startswith(prefix)})
        layers = tuple((sd[f"{prefix}{i}.weight"], sd[f"{prefix}{i}.bias"]) for i in idx)
        mean, var = (None, None) if obs_rms is None else (np.asarray(obs_rms[0], np.float64),
                                                          np.asarray(obs_rms[1], np.float64))
        return cls(layers, (sd[f"{head}.weight"], sd[f"{head}.bias"]), np.asarray(low, np.float64),
                   np.asarray(high, np.float64), activation, kind, mean, var, clip_obs,  # type: ignore[arg-type]
                   clip_mean=clip_mean)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions for a batch of observations (shape ``(n, obs_dim)``)."""
        x = np.asarray(obs, dtype=np.float64)
        if self.obs_mean is not None and self.obs_var is not None:
            x = np.clip((x - self.obs_mean) / np.sqrt(self.obs_var + self.epsilon), -self.clip_obs, self.clip_obs)
        for w, b in self.layers:
            x = x @ w.T + b
            x = np.tanh(x) if self.activation == "tanh" else np.maximum(x, 0.0)
        a = x @ self.head[0].T + self.head[1]
        if self.clip_mean is not None:
            a = np.clip(a, -self.clip_mean, self.clip_mean)
        if self.kind == "squashed":
            return self.low + 0.5 * (np.tanh(a) + 1.0) * (self.high - self.low)
        return np.clip(a, self.low, self.high)


@dataclass(frozen=True)
class Case:
    """``episodes`` evaluation episodes on one setting of the dynamics; episode ``j`` is seeded ``seed + j``."""

    label: str
    dynamics: Any
    """A :class:`tasks.sim2real.dynamics.Dynamics` (None: the bare env)."""
    episodes: int
    seed: int


BLOCK = 3
"""Episodes of one case that run in turn on one env (see :func:`evaluate`)."""


def evaluate_piece(piece: tuple[str, Policy, Sequence[Case], Mapping[str, Any]]) -> dict[str, list[float]]:
    """Returns per case label: one env per case, all cases stepped in lockstep, episodes in turn.

    A module-level function of picklable arguments, for :meth:`bench.api.RunContext.map`.
    """
    from tasks.sim2real.dynamics import make_env

    env_id, policy, cases, env_kwargs = piece
    envs = [make_env(env_id, c.dynamics, seed=c.seed, **env_kwargs) for c in cases]
    returns: dict[str, list[float]] = {c.label: [] for c in cases}
    try:
        obs = [env.reset(seed=c.seed)[0] for env, c in zip(envs, cases, strict=True)]
        running = [0.0] * len(cases)
        active = [i for i, c in enumerate(cases) if c.episodes > 0]
        while active:
            actions = policy.act(np.stack([obs[i] for i in active]))
            still = []
            for i, a in zip(active, actions, strict=True):
                env, c = envs[i], cases[i]
                obs[i], r, term, trunc, _ = env.step(a.astype(env.action_space.dtype))
                running[i] += float(r)
                if term or trunc:
                    returns[c.label].append(running[i])
                    running[i] = 0.0
                    done = len(returns[c.label])
                    if done == c.episodes:
                        continue
                    obs[i] = env.reset(seed=c.seed + done)[0]
                still.append(i)
            active = still
    finally:
        for env in envs:
            env.close()
    return returns


def evaluate(env_id: str, policy: Policy, cases: Sequence[Case], map_fn: Any = None, pieces: int = 1,
             env_kwargs: Mapping[str, Any] | None = None) -> dict[str, list[float]]:
    """Returns per case label, the cases split into ``pieces`` run through ``map_fn`` (default: in turn).

    ``env_kwargs`` go to ``gym.make`` (e.g. ``max_episode_steps``).
    """
    labels = [c.label for c in cases]
    if len(set(labels)) != len(labels):
        raise ValueError(f"case labels must be unique: {labels}")
    # An env may carry state from one episode to the next (the locomotion robots keep their first
    # episode's initial height), so returns are the same however the work is split only if the
    # episodes that share an env never depend on the split: each case runs in fixed blocks of
    # BLOCK episodes, one env per block. Blocks are dealt to pieces like cards, costliest first;
    # more pieces than workers let the pool even out blocks of different lengths.
    blocks = [Case(f"{c.label}#{first}", c.dynamics, min(BLOCK, c.episodes - first), c.seed + first)
              for c in cases for first in range(0, c.episodes, BLOCK)]
    n = max(1, min(pieces, len(blocks)))
    order = sorted(blocks, key=lambda b: -b.episodes)
    work = [(env_id, policy, order[i::n], dict(env_kwargs or {})) for i in range(n)]
    merged: dict[str, list[float]] = {}
    for part in (map_fn or (lambda f, xs: [f(x) for x in xs]))(evaluate_piece, work):
        merged.update(part)
    return {c.label: [r for first in range(0, c.episodes, BLOCK) for r in merged[f"{c.label}#{first}"]]
            for c in cases}


def save_rollout_gif(env_id: str, policy: Policy, dynamics: Any, path: Path, *, seed: int = 0, frames: int = 60,
                     every: int = 4, width: int = 240, height: int = 180,
                     env_kwargs: Mapping[str, Any] | None = None) -> Path:
    """A short GIF of one deterministic episode (every ``every``-th step, at most ``frames`` frames)."""
    from PIL import Image

    from tasks.sim2real.dynamics import make_env

    env = make_env(env_id, dynamics, seed=seed, render_mode="rgb_array", **dict(env_kwargs or {}))
    images: list[Image.Image] = []
    try:
        inner = env.unwrapped
        for attr, value in (("_render_width", width), ("_render_height", height)):
            if hasattr(inner, attr):
                setattr(inner, attr, value)
        obs, _ = env.reset(seed=seed)
        step = 0
        while len(images) < frames:
            if step % every == 0:
                images.append(Image.fromarray(np.asarray(env.render(), dtype=np.uint8)))
            obs, _, term, trunc, _ = env.step(policy.act(obs[None])[0].astype(env.action_space.dtype))
            step += 1
            if term or trunc:
                images.append(Image.fromarray(np.asarray(env.render(), dtype=np.uint8)))
                break
    finally:
        env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=every * 1000 // 60, loop=0)
    tmp.replace(path)
    return path
