"""Specs of the sim-to-real family, registered through the ``transferbench.tasks`` entry point.

Metadata only (no gymnasium, pybullet or torch): the named target conditions, the robustness
grid and the randomization ranges are plain data here, part of each task's versioned spec, and
turned into :class:`tasks.sim2real.dynamics.Dynamics` by the implementation.
"""

from __future__ import annotations

from typing import Any

from bench.api import MethodSpec, Reference, TaskSpec

__all__ = ["DEFAULT_OPTIONS", "METHODS", "SETTINGS", "TASKS"]

PYBULLET_CITATION = """@misc{coumans2021pybullet,
  title={PyBullet, a Python module for physics simulation for games, robotics and machine learning},
  author={Coumans, Erwin and Bai, Yunfei},
  howpublished={\\url{http://pybullet.org}},
  year={2016--2021}
}"""

RL_ZOO_CITATION = """@misc{rl-zoo3,
  author={Raffin, Antonin},
  title={RL Baselines3 Zoo},
  year={2020},
  publisher={GitHub},
  howpublished={\\url{https://github.com/DLR-RM/rl-baselines3-zoo}}
}"""

RL_ZOO_EVAL_EPISODES = 150
"""rl-zoo's benchmark evaluates each trained agent for 150,000 steps, deterministically: 150
episodes of the locomotion robots' 1,000-step limit (fewer where the robot falls)."""
RL_ZOO_RESULTS: dict[str, dict[str, tuple[float, float, int]]] = {
    "HalfCheetah": {"ppo": (2924.721, 64.465, 2_000_000), "sac": (2792.170, 12.088, 1_000_000)},
    "Hopper": {"ppo": (2575.054, 223.301, 2_000_000), "sac": (2603.494, 164.322, 1_000_000)},
}
"""rl-baselines3-zoo ``benchmark.md``, "Performance of trained agents": algorithm -> (mean return,
its std over the evaluation episodes, training steps) of the zoo's tuned agent on the nominal
``<Robot>BulletEnv-v0``."""


def _rl_zoo_references(robot: str) -> tuple[Reference, ...]:
    """rl-zoo's published return of each algorithm's tuned agent, beside our nominal source policy's
    return on the nominal dynamics (zero-shot's ``source_return``) in the same setting: the zoo's
    hyper-parameters and training steps, evaluated over as many deterministic episodes."""
    out = []
    for algo, (mean, std, steps) in RL_ZOO_RESULTS.get(robot, {}).items():
        protocol = (f"rl-zoo: one agent ({algo.upper()}, the zoo's tuned hyper-parameters, {steps:,} steps) on the "
                    f"old pybullet_envs {robot}BulletEnv-v0, {RL_ZOO_EVAL_EPISODES} deterministic evaluation episodes "
                    f"(its ±{std:g} is their std, not a spread over seeds); ours: the same hyper-parameters through "
                    "stable-baselines3 on pybullet_envs_gymnasium's port, the mean over seeds of as many episodes")
        out.append(Reference("zero-shot", mean, f"rl-baselines3-zoo benchmark.md ({algo.upper()})",
                             metric="source_return", protocol=protocol,
                             options={"algo": algo, "hyper": "rl-zoo", "source_steps": steps,
                                      "eval_episodes": RL_ZOO_EVAL_EPISODES}))
    return tuple(out)


METHODS = (
    MethodSpec(
        "domain-randomization",
        "transfer",
        "Source policy trained on dynamics sampled per episode from a range that covers the target.",
        citation="""@inproceedings{tobin2017domain,
  title={Domain randomization for transferring deep neural networks from simulation to the real world},
  author={Tobin, Josh and Fong, Rachel and Ray, Alex and Schneider, Jonas and Zaremba, Wojciech and Abbeel, Pieter},
  booktitle={IEEE/RSJ International Conference on Intelligent Robots and Systems (IROS)},
  pages={23--30},
  year={2017}
}""",
    ),
    MethodSpec(
        "domain-randomization-narrow",
        "transfer",
        "Domain randomization over a range that does NOT cover the target: what randomizing the wrong thing buys.",
        citation="""@inproceedings{peng2018sim,
  title={Sim-to-real transfer of robotic control with dynamics randomization},
  author={Peng, Xue Bin and Andrychowicz, Marcin and Zaremba, Wojciech and Abbeel, Pieter},
  booktitle={IEEE International Conference on Robotics and Automation (ICRA)},
  pages={3803--3810},
  year={2018}
}""",
    ),
)

# Named target conditions, the robustness grid and the randomization ranges, per environment.
# Values are Dynamics fields (see tasks/sim2real/dynamics.py); link names are the model file's.
PENDULUM: dict[str, Any] = {
    "env_id": "InvertedPendulumBulletEnv-v0",
    "conditions": {
        "heavy-pole": {"link_mass_scale": {"pole": 3.0}},
        "weak-motor": {"motor_strength": 0.4},
        "damped": {"joint_damping": 0.5},
        "delayed": {"latency_steps": 2},
        "combined": {"link_mass_scale": {"pole": 4.0}, "motor_strength": 0.3, "latency_steps": 2},
    },
    "grid": {
        "motor_strength": [1.0, 0.7, 0.5, 0.35, 0.25],
        "link_mass_scale.pole": [1.0, 2.0, 3.0, 4.0, 6.0],
        "latency_steps": [0, 1, 2, 3],
    },
    "ranges": {
        "wide": {"link_mass_scale": {"pole": [0.8, 4.0]}, "motor_strength": [0.3, 1.1], "latency_steps": [0, 2]},
        "narrow": {"link_mass_scale": {"pole": [0.9, 1.2]}, "motor_strength": [0.9, 1.1], "latency_steps": [0, 0]},
    },
}

LOCOMOTION: dict[str, Any] = {
    "conditions": {
        "heavy": {"mass_scale": 1.5},
        "slippery": {"friction_scale": 0.3},
        "weak-motors": {"motor_strength": 0.6},
        "delayed": {"latency_steps": 1},
        "combined": {"mass_scale": 1.25, "friction_scale": 0.5, "motor_strength": 0.7, "latency_steps": 1},
    },
    "grid": {
        "motor_strength": [1.0, 0.8, 0.6, 0.4],
        "friction_scale": [1.0, 0.6, 0.3, 0.15],
        "mass_scale": [1.0, 1.25, 1.5, 2.0],
    },
    "ranges": {
        "wide": {"mass_scale": [0.8, 1.5], "friction_scale": [0.3, 1.2], "motor_strength": [0.6, 1.1],
                 "latency_steps": [0, 1]},
        "narrow": {"mass_scale": [0.9, 1.1], "friction_scale": [0.9, 1.1], "motor_strength": [0.9, 1.1],
                   "latency_steps": [0, 0]},
    },
}
"""The same conditions for every legged robot: whole-body fields, so no link names are needed."""

ROBOTS = {
    "HalfCheetah": "HalfCheetahBulletEnv-v0",
    "Hopper": "HopperBulletEnv-v0",
    "Walker2D": "Walker2DBulletEnv-v0",
    "Ant": "AntBulletEnv-v0",
}

SETTINGS: dict[str, dict[str, Any]] = {
    "sim2real/PendulumCombined-v1": {**PENDULUM, "target": "combined"},
    **{f"sim2real/{robot}Combined-v0": {**LOCOMOTION, "env_id": env_id, "target": "combined"}
       for robot, env_id in ROBOTS.items()},
}

COLUMNS = ("source_return", "reality_gap", "jumpstart", "auc", "grid_mean", "grid_worst", "grid_cvar10")
"""Shown beside the target return: what survives the move, and how robust it is over the grid."""

COMPARISONS = (("domain-randomization", "zero-shot"), ("domain-randomization", "domain-randomization-narrow"),
               ("fine-tune", "zero-shot"))
"""Head to head: does randomizing (the right range) beat the nominal policy, does target training help it?"""

DEFAULT_OPTIONS: dict[str, Any] = {  # the pendulum's; a plugin task's spec overrides what it changes
    "algo": "ppo",
    "hyper": "own",
    "source_steps": 50_000,
    "n_envs": 8,
    "n_steps": 256,
    "batch_size": 128,
    "n_epochs": 10,
    "learning_rate": 1e-3,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_range": 0.2,
    "ent_coef": 0.0,
    "net_width": 64,
    "eval_episodes": 6,
    "grid_episodes": 3,
    "eval_points": 5,
    "gif_frames": 60,
    "episode_steps": 0,
}

TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        id="sim2real/PendulumCombined-v1",
        paired_seeds=True,  # all methods of a seed are evaluated on the same episode seeds
        entry_point="tasks.sim2real.task:from_spec",
        summary=(
            "Balance a cart-pole trained in nominal simulation on held-out 'real' dynamics: a heavier "
            "pole, a weaker motor and two steps of actuation latency at once."
        ),
        source="InvertedPendulumBulletEnv-v0 (pybullet_envs_gymnasium) with nominal dynamics",
        target="the same robot with pole mass x4, motor strength x0.3 and 2 steps of actuation latency",
        metric="return",
        higher_is_better=True,
        budgets=(5_000, 10_000, 20_000),
        default_budget=10_000,
        budget_unit="target env steps",
        methods=(
            "scratch", "zero-shot", "domain-randomization", "domain-randomization-narrow", "fine-tune", "oracle",
        ),
        suites=("quick", "sim2real"),
        options=DEFAULT_OPTIONS,
        columns=COLUMNS,
        comparisons=COMPARISONS,
        learning_curve="target_return",
        smoke_options={"source_steps": 1024, "n_envs": 2, "n_steps": 256, "batch_size": 64, "n_epochs": 1,
                       "eval_episodes": 2, "grid_episodes": 1, "eval_points": 2, "gif_frames": 3},
        smoke_budget=1024,
        reference_method="oracle",
        citation=PYBULLET_CITATION,
        seconds_per_run={"scratch": 10, "zero-shot": 20, "domain-randomization": 20,
                         "domain-randomization-narrow": 20, "fine-tune": 8, "oracle": 20},
    ),
)


def _locomotion(robot: str, env_id: str) -> TaskSpec:
    from tasks.sim2real.zoo import vendored_hyperparams

    zoo = vendored_hyperparams(env_id, "ppo")
    steps = zoo.n_timesteps
    return TaskSpec(
        id=f"sim2real/{robot}Combined-v0",
        paired_seeds=True,  # all methods of a seed are evaluated on the same episode seeds
        entry_point="tasks.sim2real.task:from_spec",
        summary=(
            f"Move a {robot} locomotion policy trained in nominal simulation to held-out dynamics: 25% more "
            "mass, half the floor friction, 70% motor strength and one step of actuation latency at once."
        ),
        source=f"{env_id} (pybullet_envs_gymnasium), nominal dynamics, {steps:,} steps (rl-baselines3-zoo's budget)",
        target="the same robot with mass x1.25, floor friction x0.5, motor strength x0.7, 1 step of latency",
        metric="return",
        higher_is_better=True,
        budgets=(steps // 20, steps // 10, steps // 4),
        default_budget=steps // 10,
        budget_unit="target env steps",
        methods=(
            "scratch", "zero-shot", "domain-randomization", "domain-randomization-narrow", "fine-tune", "oracle",
        ),
        suites=("full", "sim2real-full"),
        options={
            "algo": "ppo",
            "hyper": "rl-zoo",
            "source_steps": steps,
            **dict.fromkeys(("n_envs", "n_steps", "batch_size", "n_epochs", "learning_starts", "buffer_size",
                             "gradient_steps"), 0),
            "eval_episodes": 5,
            "grid_episodes": 2,
            "eval_points": 5,
            "gif_frames": 60,
            "episode_steps": 0,
        },
        columns=COLUMNS,
        comparisons=COMPARISONS,
        learning_curve="target_return",
        smoke_options={"source_steps": 128, "n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1,
                       "eval_episodes": 1, "grid_episodes": 1, "eval_points": 2, "gif_frames": 2,
                       "episode_steps": 40},
        smoke_budget=128,
        reference_method="oracle",
        citation=PYBULLET_CITATION + "\n\n" + RL_ZOO_CITATION,
        references=_rl_zoo_references(robot),
        seconds_per_run={"scratch": 2_000, "zero-shot": 20_000, "domain-randomization": 20_000,
                         "domain-randomization-narrow": 20_000, "fine-tune": 2_000, "oracle": 20_000},
    )


TASKS = (*TASKS, *(_locomotion(robot, env_id) for robot, env_id in ROBOTS.items()))
