"""The sim-to-real specs' published references: rl-zoo's returns, beside runs of rl-zoo's own setting only."""

from __future__ import annotations

import pytest

from bench.config import resolve_options
from bench.leaderboard import build, render
from tasks.sim2real.specs import RL_ZOO_EVAL_EPISODES, RL_ZOO_RESULTS, TASKS
from tests.bench.record_factory import make_record

SPECS = {s.id: s for s in TASKS}


@pytest.mark.parametrize("robot", sorted(RL_ZOO_RESULTS))
def test_rl_zoo_numbers_apply_to_the_zoo_setting_evaluated_as_the_zoo_does(robot):
    spec = SPECS[f"sim2real/{robot}Combined-v0"]
    ppo, sac = (next(r for r in spec.references if r.options["algo"] == a) for a in ("ppo", "sac"))
    assert (ppo.value, ppo.metric, ppo.method) == (RL_ZOO_RESULTS[robot]["ppo"][0], "source_return", "zero-shot")
    defaults = resolve_options(spec, {})
    assert not ppo.applies(spec.default_budget, defaults)  # 5 evaluation episodes: not the zoo's protocol
    zoo = resolve_options(spec, {"eval_episodes": RL_ZOO_EVAL_EPISODES})
    assert ppo.applies(spec.default_budget, zoo) and not sac.applies(spec.default_budget, zoo)
    assert sac.applies(spec.default_budget, {**zoo, "algo": "sac", "source_steps": 1_000_000})


def test_the_leaderboard_prints_the_zoo_return_beside_the_source_policys():
    spec = SPECS["sim2real/HalfCheetahCombined-v0"]
    options = resolve_options(spec, {"eval_episodes": RL_ZOO_EVAL_EPISODES})
    records = [make_record(task=spec.id, method=m, role="scratch" if m == "scratch" else "transfer", seed=i,
                           score=1000.0 + i, budget=spec.default_budget, options=options,
                           metrics={"source_return": 2800.0 + 50 * i})
               for m in ("scratch", "zero-shot") for i in range(3)]
    text = render(build(records, {spec.id: spec}))
    line = next(x.strip() for x in text.splitlines() if "published zero-shot (source_return)" in x)
    assert line.startswith("published zero-shot (source_return): 2924.72 (rl-baselines3-zoo benchmark.md (PPO)), "
                           "ours 2850.000 (ours − published -74.721 [")
    assert "its ±64.465 is their std, not a spread over seeds" in line
