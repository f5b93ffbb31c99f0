"""``--seeds auto``: the internal-pilot decision, its calibration by simulation, the command end to end.

The decision is checked on records of known scores; the whole procedure (a three-seed pilot, the
decision, the final test at all n seeds) is simulated with known truth, and
``python -m pytest tests/bench/test_autoseeds.py -s`` prints each measured rate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import bench_cli
from record_factory import make_record

from bench import autoseeds
from bench.api import TaskSpec
from bench.autoseeds import MIN_FINAL_SEEDS, Decision, Requirement, comparison, decide
from bench.config import build_config
from bench.stats import ALPHA, POWER, SEEDS_CAP, compare, paired_t, seeds_for_power, welch_t

TASK = "t/T-v0"
TOY = "toy/Linear-v0"


def spec(paired: bool = False, comparisons: tuple[tuple[str, str], ...] = ()) -> TaskSpec:
    return TaskSpec(id=TASK, entry_point="x:y", summary="", source="", target="", metric="score", budgets=(5,),
                    default_budget=5, methods=("scratch",), paired_seeds=paired, comparisons=comparisons)


def runs(method: str, scores: Sequence[float | None], role: str = "transfer", **kw):
    return [make_record(TASK, method, role, seed=i, score=s, **kw) for i, s in enumerate(scores)]


def scratch(scores: Sequence[float | None] = (1.0, 1.01, 0.99)):
    return runs("scratch", scores, role="scratch")


def decided(records, paired: bool = False, comparisons=(), max_seeds: int = 10,
            min_gain: float = 0.05) -> dict[str, Decision]:
    return {d.method: d for d in decide(records, {TASK: spec(paired, comparisons)}, max_seeds, min_gain)}


def report(what: str, value: float) -> None:
    print(f"\n  {what}: {value:.3f}", end="")


# --- the decision on records of known scores ------------------------------------------------------


def test_a_noisy_pair_gets_more_seeds_than_a_quiet_one():
    quiet, noisy = [1.1, 1.13, 1.07], [1.1, 1.14, 1.06]
    d = decided(scratch() + runs("quiet", quiet) + runs("noisy", noisy))
    effect = 0.05 * 1.0
    for name, scores in (("quiet", quiet), ("noisy", noisy)):
        want, capped = seeds_for_power(effect, (float(np.std(scores, ddof=1)), 0.01), cap=10)
        assert not capped and d[name].seeds == want >= MIN_FINAL_SEEDS
    assert MIN_FINAL_SEEDS <= d["quiet"].seeds < d["noisy"].seeds < 10
    assert d["quiet"].reason.startswith("vs scratch: pilot sds 0.03 (quiet) and 0.01 (scratch), a gain of 0.05 (5% of "
                                        "scratch's 1) needs ")


def test_capped_at_the_most_seeds_allowed():
    d = decided(scratch() + runs("noisy", [1.0, 1.3, 0.7]), max_seeds=6)
    assert d["noisy"].seeds == 6 and d["noisy"].requirements[0].capped
    assert d["noisy"].reason.endswith("needs >6 for 80% power; capped at 6")
    line = autoseeds.describe(d["noisy"])
    assert line == f"bench: seeds auto: {TASK} budget 5 noisy: 3 -> 6 seeds ({d['noisy'].reason})"


def test_scratch_gets_the_most_of_its_comparisons_and_references_stay_at_three():
    records = scratch() + runs("quiet", [1.1, 1.12, 1.08]) + runs("noisy", [1.1, 1.135, 1.065])
    records += runs("oracle", [2.0, 2.5, 1.5], role="reference")
    d = decided(records, comparisons=(("oracle", "quiet"),))
    assert d["scratch"].seeds == max(d["quiet"].seeds, d["noisy"].seeds) == d["noisy"].seeds
    assert d["scratch"].reason.startswith("vs noisy:")
    assert {(r.a, r.b) for r in d["scratch"].requirements} == {("quiet", "scratch"), ("noisy", "scratch")}
    assert d["oracle"].seeds == 3 and d["oracle"].reason == "a reference method, never ranked"
    assert all("oracle" not in (r.a, r.b) for r in d["quiet"].requirements)
    assert "stays at 3 seeds (a reference method" in autoseeds.describe(d["oracle"])


def test_paired_seeds_use_the_spread_of_the_differences_else_each_methods():
    """Each seed's luck is shared: the differences are steady while each method's scores swing."""
    base = [1.0, 1.2, 0.8]
    method = [b + g for b, g in zip(base, (0.06, 0.1, 0.08), strict=True)]
    records = scratch(base) + runs("m", method)
    paired, welch = decided(records, paired=True)["m"], decided(records, paired=False)["m"]
    (p,), (w,) = paired.requirements, welch.requirements
    assert p.test == "paired t" and p.spreads == pytest.approx((0.02,))
    assert w.test == "Welch t" and w.spreads == pytest.approx((np.std(method, ddof=1), 0.2))
    assert seeds_for_power(0.05, (0.02,), cap=10)[0] < MIN_FINAL_SEEDS == p.seeds < w.seeds == 10
    assert paired.reason.startswith("vs scratch: pilot sd 0.02, a gain of 0.05")


def test_the_pilots_observed_difference_does_not_move_the_decision():
    """Sizing for the effect the pilot happens to show would pick runs that favour a verdict."""
    near = decided(scratch() + runs("m", [1.0, 1.02, 0.98]))["m"]
    far = decided(scratch() + runs("m", [3.0, 3.02, 2.98]))["m"]
    assert near.seeds == far.seeds and near.requirements[0].spreads == pytest.approx(far.requirements[0].spreads)


def test_head_to_head_pairs_are_powered_and_only_pilot_seeds_count():
    records = scratch() + runs("a", [1.1, 1.12, 1.08]) + runs("b", [1.2, 1.3, 1.1])
    records.append(make_record(TASK, "a", "transfer", seed=7, score=50.0))
    d = decided(records, comparisons=(("a", "b"), ("b", "a"), ("a", "scratch")))
    assert {(r.a, r.b) for r in d["a"].requirements} == {("a", "scratch"), ("a", "b")}
    assert d["a"].seeds == d["b"].seeds == d["a"].requirements[1].seeds
    assert sorted(d["a"].pilot_records) == sorted(r.config_hash for r in records[3:6])


def test_a_spread_of_zero_needs_no_more_seeds():
    d = decided(scratch([1.0, 1.2, 0.8]) + runs("m", [1.1, 1.3, 0.9]), paired=True)["m"]
    assert d.seeds == 3 and "every pilot difference is the same, no more seeds needed" in d.reason
    d = decided(scratch([1.0, 1.0, 1.0]) + runs("m", [1.1, 1.1, 1.1]))["m"]
    assert d.seeds == 3 and "all pilot scores are equal" in d.reason


def test_a_method_with_fewer_than_two_ok_pilot_seeds_stays_at_three_and_says_why():
    records = scratch([1.0, 1.3, 0.7]) + runs("broken", [1.1, None, None])
    d = decided(records)
    assert d["broken"].seeds == 3 and d["broken"].reason == "only 1 of 3 pilot seeds ran ok; cannot be decided"
    assert d["scratch"].seeds == 3 and d["scratch"].reason == "broken has 1 ok pilot seed; cannot be decided"
    d = decided(runs("scratch", [1.0, None, None], role="scratch") + runs("m", [1.0, 1.3, 0.7]))
    assert d["m"].seeds == 3 and d["m"].reason == "scratch has 1 ok pilot seed; cannot be decided"


def test_a_very_quiet_pair_gets_the_floor_so_that_the_pilot_never_decides_alone():
    d = decided(scratch([1.0, 1.001, 0.999]) + runs("m", [1.1, 1.098, 1.102]))["m"]
    assert seeds_for_power(0.05, d.requirements[0].spreads, cap=10) == (3, False)
    assert d.seeds == MIN_FINAL_SEEDS, d.reason
    assert d.reason.endswith("needs 3 for 80% power; at least 6, so that a three-seed pilot never decides alone")


def test_the_decision_file_round_trips_and_goes_stale_with_other_pilot_records(tmp_path):
    ds = decide(scratch() + runs("m", [1.1, 1.135, 1.065]), {TASK: spec()})
    path = tmp_path / ".seeds-auto" / "x.json"
    autoseeds.save(path, {"tasks": [TASK]}, "pilot-1", ds)
    assert autoseeds.load(path, "pilot-1") == ds
    assert autoseeds.load(path, "pilot-2") is None and autoseeds.load(tmp_path / "none.json", "pilot-1") is None
    path.write_text("{not json")
    assert autoseeds.load(path, "pilot-1") is None


# --- calibration: the whole procedure, simulated with known truth -------------------------------------

MIN_GAIN = 0.05


def procedure(paired: bool, rho: float, gain: float, sims: int, max_seeds: int, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray]:
    """(verdict called, seeds used) per simulated grid: a three-seed pilot, the decision, the final test.

    Scratch's true mean is 1 and the method's 1 + ``gain``; ``rho`` is the spread in units of the
    minimum gain (of the differences where seeds pair, else of each method). The decision is the
    module's own; the final tests are the leaderboard's, vectorized over the simulations that
    ended at the same n and checked against :func:`compare` on the first of them.
    """
    rng = np.random.default_rng(seed)
    sd = rho * MIN_GAIN
    if paired:
        luck = rng.normal(0, sd, (sims, max_seeds, 1))
        a, b = np.moveaxis(1 + luck + rng.normal(0, sd / np.sqrt(2), (sims, max_seeds, 2)), -1, 0)
    else:
        a, b = np.moveaxis(1 + rng.normal(0, sd, (sims, max_seeds, 2)), -1, 0)
    a = a + gain
    ns = np.empty(sims, dtype=int)
    for i in range(sims):
        pilot = {"m": dict(enumerate(a[i, :3])), "scratch": dict(enumerate(b[i, :3]))}
        req = comparison("m", "scratch", pilot, paired=paired, scratch_mean=float(b[i, :3].mean()),
                         min_gain=MIN_GAIN, max_seeds=max_seeds)
        assert isinstance(req, Requirement)
        ns[i] = req.seeds
    called = np.zeros(sims, dtype=bool)
    for n in np.unique(ns):
        m = ns == n
        p = (paired_t(a[m, :n] - b[m, :n]) if paired else welch_t(a[m, :n], b[m, :n]))[2]
        called[m] = p < ALPHA
    for i in range(20):
        n = ns[i]
        d = compare(dict(enumerate(a[i, :n])), dict(enumerate(b[i, :n])), paired=paired)
        assert (d.verdict in ("better", "worse")) == called[i]
    return called, ns


@pytest.mark.parametrize(("paired", "rho"), [pytest.param(True, 0.2, marks=pytest.mark.slow), (True, 1.0),
                                             pytest.param(False, 0.4, marks=pytest.mark.slow), (False, 0.8)])
def test_with_no_true_gain_the_procedure_calls_a_verdict_at_most_6_percent_of_the_time(paired, rho):
    called, ns = procedure(paired, rho, 0.0, sims=2000, max_seeds=10)
    report(f"false-verdict rate, {'paired' if paired else 'Welch'}, spread {rho} x the minimum gain, "
           f"MAX 10 (mean n {ns.mean():.1f})", called.mean())
    assert called.mean() <= 0.06


@pytest.mark.slow
@pytest.mark.parametrize("paired", [True, False])
def test_with_the_minimum_gain_it_reaches_about_the_intended_power_when_not_capped(paired):
    called, ns = procedure(paired, 1.0, MIN_GAIN, sims=800, max_seeds=SEEDS_CAP, seed=1)
    report(f"power at the minimum gain, {'paired' if paired else 'Welch'}, spread = the minimum gain, "
           f"MAX {SEEDS_CAP} (mean n {ns.mean():.1f}, capped {np.mean(ns == SEEDS_CAP):.1%})", called.mean())
    assert np.mean(ns == SEEDS_CAP) < 0.05
    assert POWER - 0.12 <= called.mean() <= POWER + 0.1


# --- the command ----------------------------------------------------------------------------------


def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from bench.cli import main

    code = main(["run", "--task", TOY, "--results-dir", str(tmp_path), "--workers", "1", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out, err


def seeds_on_board(out: str) -> dict[str, int]:
    return {r["method"]: r["seeds"] for r in json.loads(out)["rows"]}


def test_seeds_auto_end_to_end_reuses_the_pilot_and_resumes(with_site, tmp_path, capsys):
    code, _, _ = cli(tmp_path, capsys, "--seeds", "3", "--format", "json")
    assert code == 0
    code, out, err = cli(tmp_path, capsys, "--seeds", "auto:6", "--format", "json")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("bench: seeds auto: toy/")]
    assert len(lines) == 4, err
    assert f"bench: seeds auto: {TOY} budget 4 fine-tune: 3 -> 6 seeds (vs scratch: pilot sd" in err
    assert "needs >6 for 80% power; capped at 6)" in err
    assert f"{TOY} budget 4 ridge-oracle: stays at 3 seeds (a reference method, never ranked)" in err
    assert "9 run(s) made, 0 failed, 12 skipped" in err  # the pilot is --seeds 3's runs
    assert seeds_on_board(out) == {"scratch": 6, "fine-tune": 6, "zero-shot": 6, "ridge-oracle": 3}
    (path,) = (tmp_path / ".seeds-auto").glob("*.json")
    doc = json.loads(path.read_text())
    assert {d["method"]: d["seeds"] for d in doc["decisions"]} == seeds_on_board(out)
    assert all(len(d["pilot_records"]) == 3 and d["reason"] for d in doc["decisions"])

    next((tmp_path / TOY / "zero-shot").glob("seed-4-*.json")).unlink()  # a top-up cut short
    code, _, err = cli(tmp_path, capsys, "--seeds", "auto:6")
    assert code == 0 and f"decision reused from {path}" in err and "1 run(s) made, 0 failed, 20 skipped" in err
    code, _, err = cli(tmp_path, capsys, "--seeds", "auto:6")
    assert code == 0 and "0 run(s) made" in err and "9 run(s) beyond the pilot, 0 to run" in err

    code, _, err = cli(tmp_path, capsys, "--seeds", "auto:6", "--force")
    assert code == 0 and f"decision saved in {path}" in err and "21 run(s) made" in err


def test_a_smaller_requirement_tops_up_less_and_the_dry_run_shows_the_decision(with_site, tmp_path, capsys):
    code, out, _ = cli(tmp_path, capsys, "--seeds", "auto:10", "--min-gain", "1", "--dry-run")
    assert code == 0 and "the runs above are the pilot; after it, each method gets the seeds (at most 10)" in out
    assert not (tmp_path / ".seeds-auto").exists() and not (tmp_path / TOY).exists()
    code, out, err = cli(tmp_path, capsys, "--seeds", "auto:10", "--min-gain", "1", "--format", "json")
    assert code == 0, err
    board = seeds_on_board(out)
    assert MIN_FINAL_SEEDS <= board["scratch"] < 10 and board["ridge-oracle"] == 3, err
    assert "needs >" not in err
    code, out, _ = cli(tmp_path, capsys, "--seeds", "auto:10", "--min-gain", "1", "--dry-run")
    assert code == 0 and "seeds auto: decided on these pilot records" in out
    assert f"{TOY} budget 4 scratch: 3 -> {board['scratch']} seeds (vs " in out


def test_seeds_auto_in_a_config_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('seeds = "auto:8"\nmin_gain = 0.1\n')
    cfg = build_config(f)
    assert cfg.seeds == [0, 1, 2] and cfg.seeds_auto == 8 and cfg.min_gain == 0.1
    assert build_config(f, {"seeds": [0, 1, 2, 3]}).seeds_auto is None  # a later --seeds N wins
    f.write_text('seeds = "auto"\n')
    assert build_config(f).seeds_auto == 10 and build_config().seeds_auto is None


@pytest.mark.parametrize(("args", "expected"), [
    (["--seeds", "auto:2"], "--seeds 'auto:2': the most seeds of auto:MAX must be a whole number of at least 3"),
    (["--seeds", "auto:x"], "--seeds 'auto:x': the most seeds of auto:MAX must be a whole number of at least 3"),
    (["--seeds", "auto", "--min-gain", "0"], "--min-gain '0' is not a number above 0"),
    (["--set", "seeds=auto:1"], "--seeds 'auto:1': the most seeds"),
])
def test_bad_auto_seeds_are_one_line_exit_2(args, expected, with_site, tmp_path, capsys):
    try:
        code, _, err = cli(tmp_path, capsys, *args)
    except SystemExit as exc:  # argparse's own errors exit, as in the console script
        code, err = exc.code, capsys.readouterr().err
    assert code == 2
    (line,) = err.strip().splitlines()
    assert expected in line and "Traceback" not in err


@pytest.mark.slow
def test_bad_auto_seeds_in_a_real_process(toy_site, tmp_path):
    proc = bench_cli("run", "--task", TOY, "--seeds", "auto:x", "--results-dir", str(tmp_path), cwd=tmp_path,
                     sites=(toy_site,))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "auto:MAX" in proc.stderr and "Traceback" not in proc.stderr
