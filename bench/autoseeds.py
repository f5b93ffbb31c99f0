"""``bench run --seeds auto``: an internal pilot decides how many seeds each method needs.

"How many seeds do I need?" depends on how noisy a task is, which is unknown before it runs. The
answer here is the internal pilot of Wittes & Brittain (1990, "The role of internal pilot studies
in increasing the efficiency of clinical trials", Statistics in Medicine 9, 65-72): run a few
seeds, estimate the spread from them alone, size the comparison for a fixed minimum effect of
interest, top the runs up to that size, and test once at the end with every seed, the pilot's
included. Two rules keep the final test honest:

- the size is decided from the pilot's spread, never from its observed difference or p-value
  (sizing for the effect one happens to see, or stopping when the pilot looks significant,
  picks the runs that favour a verdict);
- the effect to detect is fixed before looking: ``min_gain`` times |scratch's pilot mean|, the
  relative gain that the leaderboard's normalized score counts in.

The pilot is seeds 0, 1, 2, the same runs (and config hashes) as ``--seeds 3``; a method's final
seeds are 0..n-1, the same runs as ``--seeds n``. Everything here but the small file helpers at
the end is a pure function over records, so the decision can be tested on records of known
scores.

A pilot this small (two degrees of freedom) would make the final t-test liberal where the spread
is comparable to the minimum gain: a pilot that happens to look quiet both stops the runs early
and shrinks the final test's standard error (Wittes et al. 1999, "Internal pilot studies I: type
I error rate of the naive t-test", Statistics in Medicine 18, 3481-3491); measured, 8% paired and
6.5% Welch at the worst spread for a nominal 5%. So a comparison with any spread at all gets at
least :data:`MIN_FINAL_SEEDS` seeds: the pilot's three then never decide alone, and the
measured rate stays at or under 5.7% (``tests/bench/test_autoseeds.py``). A MAX below it caps it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.api import TaskSpec
from bench.config import AUTO_MAX, AUTO_MIN_GAIN, AUTO_PILOT
from bench.hashing import config_hash
from bench.record import Record, RecordError, parse_record
from bench.runner import Job
from bench.stats import MIN_SEEDS_FOR_VERDICT, POWER, seeds_for_power
from bench.store import ResultStore, atomic_write

__all__ = [
    "DEFAULT_MAX",
    "DEFAULT_MIN_GAIN",
    "PILOT_SEEDS",
    "Decision",
    "Requirement",
    "comparison",
    "decide",
    "decision_path",
    "describe",
    "fingerprint",
    "grid_config",
    "load",
    "pairs",
    "pilot_records",
    "save",
    "top_up",
]

PILOT_SEEDS: Final = tuple(AUTO_PILOT)
"""The pilot: the runs ``--seeds 3`` makes, so records of an earlier three-seed grid are reused."""
DEFAULT_MAX: Final = AUTO_MAX
DEFAULT_MIN_GAIN: Final = AUTO_MIN_GAIN
MIN_OK: Final = 2
"""Ok pilot seeds a method needs for a spread; with fewer it stays at the pilot's seeds."""
MIN_FINAL_SEEDS: Final = 6
"""The fewest final seeds for a comparison with a non-zero pilot spread (see the module's docstring)."""
SCRATCH: Final = "scratch"
"""The baseline every transfer method is compared with, named as the leaderboard names it."""
SCHEMA: Final = 1

Setting = tuple[str, int, str]
"""(task, budget, hash of the task options): what the leaderboard compares methods within."""


@dataclass(frozen=True)
class Requirement:
    """What one comparison the leaderboard makes needs: seeds per method for :data:`POWER` at 5%."""

    a: str
    b: str
    test: str
    """'paired t' or 'Welch t', as the leaderboard will test it."""
    spreads: tuple[float, ...]
    """Pilot standard deviation of the per-seed differences (paired), or of each method (Welch)."""
    effect: float
    """The minimum gain of interest: ``min_gain`` times |scratch's pilot mean|."""
    scratch_mean: float
    needed: int | None
    """:func:`bench.stats.seeds_for_power`'s answer; None where the spread is zero or it is capped."""
    capped: bool
    """Even the most seeds allowed fall short of the power: more than that many are needed."""
    seeds: int
    """``needed``, raised to :data:`MIN_FINAL_SEEDS` where the spread is not zero, capped at the most allowed."""

    def other(self, method: str) -> str:
        return self.b if method == self.a else self.a


@dataclass(frozen=True)
class Decision:
    """The seeds one (setting, method) gets, and why, with the inputs that decided it."""

    task: str
    budget: int
    options_hash: str
    options: dict[str, Any]
    method: str
    role: str
    seeds: int
    reason: str
    pilot_records: tuple[str, ...]
    """Config hashes of the method's pilot records in this setting."""
    requirements: tuple[Requirement, ...] = ()
    """The decided comparisons the method is in."""

    @property
    def setting(self) -> Setting:
        return self.task, self.budget, self.options_hash


# --- the decision ---------------------------------------------------------------------------


def pairs(roles: Mapping[str, str], spec: TaskSpec | None) -> list[tuple[str, str]]:
    """The comparisons the leaderboard makes with a verdict, among the methods present.

    Each transfer method against scratch, and each of the task's ``comparisons`` pairs. Reference
    methods are never ranked, so a pair with one is not powered (more seeds of its partner alone
    would not make the comparison's smaller group larger). A pair named twice is powered once.
    """
    out: list[tuple[str, str]] = []
    if SCRATCH in roles:
        out += [(m, SCRATCH) for m, role in roles.items() if role == "transfer"]
    for a, b in spec.comparisons if spec else ():
        if a in roles and b in roles and "reference" not in (roles[a], roles[b]):
            out.append((a, b))
    seen: set[frozenset[str]] = set()
    unique = []
    for a, b in out:
        if a != b and frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            unique.append((a, b))
    return unique


ROUNDING: Final = 1e-9
"""A spread below this fraction of the scores' size is float rounding of equal scores: zero."""


def _sd(values: Iterable[float], scale: float) -> float:
    """Sample standard deviation; equal scores (or differences) whose floats differ in the last bits give 0."""
    sd = float(np.std(np.asarray(list(values), dtype=float), ddof=1))
    return 0.0 if sd <= ROUNDING * scale else sd


def _ok_seeds(name: str, scores: Mapping[int, float]) -> str | None:
    n = len(scores)
    return None if n >= MIN_OK else f"{name} has {n} ok pilot seed{'' if n == 1 else 's'}"


def comparison(a: str, b: str, scores: Mapping[str, Mapping[int, float]], *, paired: bool,
               scratch_mean: float | None, min_gain: float, max_seeds: int) -> Requirement | str:
    """The seeds comparison (a, b) needs, from the pilot's spread alone; or why it cannot be said.

    The observed difference is deliberately not an input: only the spread and the fixed minimum
    gain are, so the size does not depend on how the pilot happened to come out.
    """
    sa, sb = scores.get(a, {}), scores.get(b, {})
    why = _ok_seeds(a, sa) or _ok_seeds(b, sb)
    if why:
        return why
    if scratch_mean is None:
        return "scratch has no ok pilot seed to scale the minimum gain by"
    if scratch_mean == 0:
        return "scratch's pilot mean is 0, so a relative gain has no size"
    scale = max(abs(x) for x in [*sa.values(), *sb.values()])
    if paired:
        common = sorted(set(sa) & set(sb))
        if len(common) < MIN_OK:
            return f"{a} and {b} have fewer than {MIN_OK} ok pilot seeds in common"
        spreads: tuple[float, ...] = (_sd((sa[s] - sb[s] for s in common), scale),)
    else:
        spreads = (_sd(sa.values(), scale), _sd(sb.values(), scale))
    effect = min_gain * abs(scratch_mean)
    needed, capped = seeds_for_power(effect, spreads, cap=max_seeds)
    floor = MIN_FINAL_SEEDS if any(x > 0 for x in spreads) else MIN_SEEDS_FOR_VERDICT
    seeds = max_seeds if capped else min(max(floor, needed or 0), max_seeds)
    return Requirement(a, b, "paired t" if paired else "Welch t", spreads, effect, scratch_mean,
                       None if capped else needed, capped, seeds)


def _why(req: Requirement, method: str, min_gain: float, max_seeds: int) -> str:
    if len(req.spreads) == 1:
        spread = f"pilot sd {req.spreads[0]:.3g}"
    else:
        spread = f"pilot sds {req.spreads[0]:.3g} ({req.a}) and {req.spreads[1]:.3g} ({req.b})"
    if req.needed is None and not req.capped:
        same = "every pilot difference is the same" if len(req.spreads) == 1 else "all pilot scores are equal"
        return f"vs {req.other(method)}: {spread}: {same}, no more seeds needed"
    gain = f"a gain of {req.effect:.3g} ({100 * min_gain:.3g}% of scratch's {req.scratch_mean:.3g})"
    needs = f">{max_seeds}" if req.capped else str(req.needed)
    capped = f"; capped at {max_seeds}" if req.capped else ""
    if not req.capped and req.needed is not None and req.seeds > req.needed:
        capped = f"; at least {req.seeds}, so that a three-seed pilot never decides alone"
    return f"vs {req.other(method)}: {spread}, {gain} needs {needs} for {POWER:.0%} power{capped}"


def _method_decision(method: str, role: str, outcomes: Sequence[Requirement | str], own: str | None,
                     min_gain: float, max_seeds: int) -> tuple[int, str, tuple[Requirement, ...]]:
    """(seeds, reason, decided requirements): the most any of its comparisons needs."""
    pilot = len(PILOT_SEEDS)
    if role == "reference":
        return pilot, "a reference method, never ranked", ()
    if own:
        return pilot, f"{own}; cannot be decided", ()
    reqs = tuple(o for o in outcomes if isinstance(o, Requirement))
    if not reqs:
        undecided = [o for o in outcomes if isinstance(o, str)]
        return pilot, (undecided[0] + "; cannot be decided") if undecided else "in no comparison with a verdict", ()
    binding = max(reqs, key=lambda r: r.seeds)
    return binding.seeds, _why(binding, method, min_gain, max_seeds), reqs


def _decide_setting(setting: Setting, records: Sequence[Record], spec: TaskSpec | None, max_seeds: int,
                    min_gain: float) -> list[Decision]:
    by_method: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_method[r.method].append(r)
    roles = {m: rs[0].role for m, rs in by_method.items()}
    scores = {m: {r.seed: float(r.score) for r in rs if r.status == "ok" and r.score is not None}
              for m, rs in by_method.items()}
    scratch = scores.get(SCRATCH, {})
    scratch_mean = float(np.mean(list(scratch.values()))) if scratch else None
    paired = bool(spec and spec.paired_seeds)
    outcomes = {(a, b): comparison(a, b, scores, paired=paired, scratch_mean=scratch_mean, min_gain=min_gain,
                                   max_seeds=max_seeds) for a, b in pairs(roles, spec)}
    decisions = []
    for method, recs in by_method.items():
        mine = [o for (a, b), o in outcomes.items() if method in (a, b)]
        ok = len(scores[method])
        own = None if ok >= MIN_OK else f"only {ok} of {len(recs)} pilot seeds ran ok"
        seeds, reason, reqs = _method_decision(method, roles[method], mine, own, min_gain, max_seeds)
        decisions.append(Decision(setting[0], setting[1], setting[2], dict(recs[0].config.get("options", {})),
                                  method, roles[method], seeds, reason,
                                  tuple(sorted(r.config_hash for r in recs)), reqs))
    return decisions


def decide(records: Iterable[Record], specs: Mapping[str, TaskSpec], max_seeds: int = DEFAULT_MAX,
           min_gain: float = DEFAULT_MIN_GAIN) -> list[Decision]:
    """Seeds per (setting, method) from the pilot's records (seeds other than the pilot's are ignored).

    A method gets the most that any comparison it is in needs (scratch: over all of them), kept
    within [3, ``max_seeds``]; a reference method, a method with fewer than two ok pilot seeds
    and one whose comparisons cannot be sized stay at the pilot's three, each with its reason.
    """
    groups: dict[Setting, list[Record]] = defaultdict(list)
    for r in records:
        if r.seed in PILOT_SEEDS:
            groups[(r.task, r.budget, config_hash(r.config.get("options", {})))].append(r)
    out: list[Decision] = []
    for setting, recs in sorted(groups.items()):
        out += _decide_setting(setting, recs, specs.get(setting[0]), max_seeds, min_gain)
    return out


def describe(d: Decision, swept: Sequence[str] = ()) -> str:
    """One line for the user: what changed (or did not) and why."""
    variant = "".join(f" {k}={d.options[k]}" for k in swept if k in d.options)
    where = f"{d.task} budget {d.budget}{variant} {d.method}"
    pilot = len(PILOT_SEEDS)
    change = f"{pilot} -> {d.seeds} seeds" if d.seeds != pilot else f"stays at {pilot} seeds"
    return f"bench: seeds auto: {where}: {change} ({d.reason})"


def top_up(jobs: Iterable[Job], decisions: Iterable[Decision]) -> list[Job]:
    """The extra runs, seeds 3..n-1 of each decided (setting, method): the runs ``--seeds n`` adds."""
    first: dict[tuple[str, int, str, str], Job] = {}
    for j in jobs:
        first.setdefault((j.spec.id, j.budget, config_hash(j.options), j.method), j)
    out = []
    for d in decisions:
        job = first.get((d.task, d.budget, d.options_hash, d.method))
        if job is not None:
            out += [replace(job, seed=s, show_progress=False) for s in range(len(PILOT_SEEDS), d.seeds)]
    return out


# --- the decision file ----------------------------------------------------------------------


def grid_config(jobs: Sequence[Job], options: Mapping[str, Any], sweep: Mapping[str, Sequence[Any]],
                max_seeds: int, min_gain: float) -> dict[str, Any]:
    """What names one ``--seeds auto`` grid: the same command finds the same decision file.

    Each task's test (paired or not) and head-to-head pairs are in it too: they change the
    decision without changing any pilot record.
    """
    return {
        "tasks": sorted({j.spec.id for j in jobs}),
        "tests": {j.spec.id: [j.spec.paired_seeds, [list(p) for p in j.spec.comparisons]] for j in jobs},
        "methods": sorted({j.method for j in jobs}),
        "budgets": sorted({(j.spec.id, j.budget) for j in jobs}),
        "device": sorted({j.device for j in jobs}),
        "options": dict(options),
        "sweep": {k: list(v) for k, v in sweep.items()},
        "max_seeds": max_seeds,
        "min_gain": min_gain,
    }


def decision_path(results_dir: Path | str, grid: Mapping[str, Any]) -> Path:
    return Path(results_dir) / ".seeds-auto" / f"{config_hash(grid)}.json"


def pilot_records(jobs: Iterable[Job]) -> list[Record]:
    """The records the pilot's jobs left, ok or failed (a job with none is left out)."""
    out = []
    for j in jobs:
        path = ResultStore(j.results_dir).path_for(j.spec.id, j.method, j.seed, j.config_hash)
        try:
            record = parse_record(path.read_text())
        except (OSError, RecordError):
            continue
        if record.config_hash == j.config_hash:
            out.append(record)
    return out


def fingerprint(jobs: Iterable[Job], records: Iterable[Record]) -> str:
    """Which pilot records a decision was made on: their configs, outcomes and finishing times.

    A run made again (``--force``, a failed run retried) finishes at another time, so a decision
    made on the old records is not reused for the new ones.
    """
    found = {r.config_hash: [r.status, r.score, r.finished_at] for r in records}
    return config_hash({j.config_hash: found.get(j.config_hash) for j in jobs})


def save(path: Path, grid: Mapping[str, Any], pilot: str, decisions: Sequence[Decision]) -> None:
    """Write the decision atomically, so an interrupted top-up resumes with the same seeds."""
    doc = {"schema": SCHEMA, "grid": dict(grid), "pilot": pilot, "decisions": [asdict(d) for d in decisions]}
    atomic_write(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _decision(d: dict[str, Any]) -> Decision:
    reqs = tuple(Requirement(**{**r, "spreads": tuple(r["spreads"])}) for r in d["requirements"])
    return Decision(**{**d, "pilot_records": tuple(d["pilot_records"]), "requirements": reqs})


def load(path: Path, pilot: str) -> list[Decision] | None:
    """The decision in ``path`` if it was made on these pilot records; None if absent, stale or unreadable."""
    try:
        doc = json.loads(path.read_text())
        if doc.get("schema") != SCHEMA or doc.get("pilot") != pilot:
            return None
        return [_decision(d) for d in doc["decisions"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
