"""Two result sets side by side: did this change (a commit, a machine, a cluster) move the numbers?

Each side (A, then B) is a results directory's records, built into its own
:class:`~bench.leaderboard.model.Leaderboard`. For every setting (task, budget, options) and
method that both sides ran, B's mean minus A's, signed so that positive means B is better in
the task's metric direction, is tested over seeds: with the paired t-test where the task says
its seeds pair (``TaskSpec.paired_seeds``) and both sides ran exactly the same seeds (seed k of
A and seed k of B then saw the same target data and evaluation, so the seed's shared luck
cancels), else with Welch's t-test. One comparison issues one test per setting and method, so
its verdicts hold the false discovery rate over all of them at 5% (Benjamini-Hochberg).

Provenance is part of the answer: each side is named by its path, its git revision(s) and its
hardware, a side whose records mix several of either says so (their runs are pooled in every
mean), and wall time is compared only where both sides ran a cell on the same hardware.

:func:`compare_results` computes (typed dataclasses, nothing printed); :func:`render_comparison`
turns the result into a terminal table, Markdown, JSON or CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.api import TaskSpec
from bench.leaderboard.build import build
from bench.leaderboard.model import (
    BETTER,
    LEVEL,
    NEGATIVE,
    Leaderboard,
    Row,
    Setting,
    options_label,
    varying_options,
)
from bench.record import Record
from bench.stats import ALPHA, MIN_SEEDS_FOR_VERDICT, POWER, TOO_FEW, Difference, benjamini_hochberg
from bench.stats import BETTER as _BETTER
from bench.stats import NS as _NS
from bench.stats import compare as _test

__all__ = ["B_BETTER", "B_WORSE", "FORMATS", "NO_DIFFERENCE", "TOO_FEW_SEEDS", "Cell", "MethodDiff", "OnlyOneSide",
           "ResultsComparison", "SettingDiff", "Side", "compare_results", "render_comparison"]

FORMATS = ("table", "md", "json", "csv")

B_BETTER, B_WORSE, NO_DIFFERENCE, TOO_FEW_SEEDS = "B better", "B worse", "no significant difference", "too few seeds"
"""Verdicts of B against A, in the task's metric direction."""

_VERDICT = {_BETTER: B_BETTER, "worse": B_WORSE, _NS: NO_DIFFERENCE, TOO_FEW: TOO_FEW_SEEDS}

UNKNOWN_HARDWARE = "unknown hardware"


# --- the types ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One result set: a results directory's records and where they were made."""

    name: str
    """'A' or 'B'."""
    path: str
    """The directory as given."""
    records: int
    revisions: dict[str, int]
    """Git revision (7 characters, '(dirty)' where the tree had changes; 'unknown') -> runs, most first."""
    hardware: dict[str, int]
    """Hardware ('CPU model xCORES', with the GPU where one was used) -> runs, most first."""
    problems: list[str] = field(default_factory=list)
    """Files of the directory that were skipped (corrupt, foreign, edited, copies)."""

    def describe(self) -> str:
        """``'A = results-main (rev 1a2b3c4, AMD EPYC x2), 120 records'``."""
        revs = (f"rev {next(iter(self.revisions))}" if len(self.revisions) == 1
                else f"{len(self.revisions)} revisions: {', '.join(self.revisions)}")
        hws = (next(iter(self.hardware)) if len(self.hardware) == 1
               else f"{len(self.hardware)} kinds of hardware: {', '.join(self.hardware)}")
        return f"{self.name} = {self.path} ({revs}; {hws}), {self.records} records"

    def mixtures(self) -> list[str]:
        """One line per provenance this side mixes (several revisions, several hardware), else none."""
        out = []
        for what, counts in (("git revisions", self.revisions), ("kinds of hardware", self.hardware)):
            if len(counts) > 1:
                parts = ", ".join(f"{k}: {n} run{'s' if n != 1 else ''}" for k, n in counts.items())
                out.append(f"{self.name}'s records mix {len(counts)} {what} ({parts}): each mean pools them")
        return out


@dataclass
class Cell:
    """One method in one setting on one side, as that side's leaderboard row has it."""

    seeds: int
    failed: int
    mean: float | None
    ci: tuple[float, float] | None
    gain: float | None
    """Mean minus this side's scratch mean, signed so that positive is better."""
    verdict: str
    """Against this side's scratch: better, negative transfer, n.s., too few seeds, or '' (scratch, references)."""
    wall_s: float | None
    hardware: list[str]
    """The hardware its ok runs ran on."""
    seed_ids: list[int]
    """The seeds of its ok runs, sorted."""


@dataclass
class MethodDiff:
    """B against A for one method in one setting."""

    method: str
    role: str
    a: Cell
    b: Cell
    difference: float | None
    """B's mean minus A's, signed so that positive means B is better; None where a side has no score."""
    ci: tuple[float, float] | None
    p: float | None
    test: str
    """'paired t' or 'Welch t'; '' where no test could be made."""
    verdict: str
    """:data:`B_BETTER`, :data:`B_WORSE`, :data:`NO_DIFFERENCE` or :data:`TOO_FEW_SEEDS`, after the FDR control."""
    significant_uncorrected: bool = False
    """Whether p < alpha before the false discovery rate control."""
    seeds_needed: int | None = None
    """Where not significant: seeds per side that would detect the observed difference with 80% power."""
    seeds_needed_capped: bool = False
    not_paired_because: str = ""
    """Where the task's seeds pair but the test is Welch's: why (the sides ran other seeds)."""
    wall_ratio: float | None = None
    """B's wall seconds per run over A's, only where both ran on one and the same hardware."""
    wall_compared: bool = False


@dataclass
class OnlyOneSide:
    """A method (or, with ``method`` empty, a whole setting) that only one side ran."""

    side: str
    task: str
    budget: int
    options_hash: str
    label: str
    method: str = ""
    methods: list[str] = field(default_factory=list)
    """Its methods (for a whole setting) or [method]."""
    seeds: int = 0
    """Ok runs (of all its methods, for a whole setting)."""
    several: bool = False
    """Whether the task has several settings at this budget (on either side): then it is named by its options."""


@dataclass
class SettingDiff:
    """One table: a setting both sides ran, method by method."""

    task: str
    budget: int
    options_hash: str
    label: str
    """The options that set this setting apart from the task's other settings at its budget (on either side)."""
    several: bool
    """Whether the task has several settings at this budget (then the title names the options and the hash)."""
    unit: str
    higher_is_better: bool
    paired_seeds: bool
    """Whether the task's spec says its seeds pair."""
    methods: list[MethodDiff] = field(default_factory=list)
    only: list[OnlyOneSide] = field(default_factory=list)
    """Methods only one side ran in this setting."""

    @property
    def setting(self) -> Setting:
        return Setting(self.task, self.budget, self.options_hash)


@dataclass
class ResultsComparison:
    """Result set B against result set A."""

    a: Side
    b: Side
    settings: list[SettingDiff]
    only: list[OnlyOneSide]
    """Settings only one side ran."""
    tests: int
    """The tests the comparison made, over which the false discovery rate is controlled."""
    alpha: float = ALPHA


# --- computing ------------------------------------------------------------------------------


def _revision(r: Record) -> str:
    p = r.provenance
    rev = p.git_revision[:7] if p.git_revision else "unknown"
    return rev + (" (dirty)" if p.git_dirty else "")


def _hardware(r: Record) -> str:
    hw = r.provenance.hardware
    if not hw.get("cpu"):
        return UNKNOWN_HARDWARE
    cores = f" x{hw['cpu_cores']}" if hw.get("cpu_cores") else ""
    gpu = f", {hw['gpu']}" if hw.get("gpu") and str(r.config.get("device", "cuda")) != "cpu" else ""
    return f"{hw['cpu']}{cores}{gpu}"


def _counts(values: Iterable[str]) -> dict[str, int]:
    """Each value's count, most first, then alphabetically."""
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def _side(name: str, path: str, records: Sequence[Record], problems: Sequence[str]) -> Side:
    return Side(name, path, len(records), _counts(map(_revision, records)) or {"unknown": 0},
                _counts(map(_hardware, records)) or {UNKNOWN_HARDWARE: 0}, list(problems))


def _canon(options: Any) -> str:
    return json.dumps(options if isinstance(options, Mapping) else {}, sort_keys=True, default=str)


def _ok_runs(records: Sequence[Record], lb: Leaderboard) -> dict[tuple[Setting, str], list[Record]]:
    """The ok runs with a score of each (setting, method), keyed as the leaderboard keys its rows."""
    hashes = {(task, _canon(values)): h for (task, h), values in lb.option_values.items()}
    out: dict[tuple[Setting, str], list[Record]] = defaultdict(list)
    for r in records:
        opts = hashes.get((r.task, _canon(r.config.get("options", {}))))
        if r.status == "ok" and r.score is not None and opts is not None:
            out[(Setting(r.task, r.budget, opts), r.method)].append(r)
    return out


def _cell(row: Row, runs: Sequence[Record]) -> Cell:
    return Cell(row.seeds, row.failed, row.mean, row.ci, row.gain, row.verdict, row.wall_s,
                sorted({_hardware(r) for r in runs}), sorted({r.seed for r in runs}))


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _seeds_text(seeds: Sequence[int]) -> str:
    """``[0, 1, 2, 3, 7]`` -> ``'0-3, 7'``."""
    parts: list[str] = []
    ordered = sorted(set(seeds))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ", ".join(parts) or "none"


def _difference(a: Sequence[Record], b: Sequence[Record], paired_seeds: bool, higher: bool,
                alpha: float) -> tuple[Difference | None, str]:
    """B minus A over the sides' ok runs, and why a pairing task was not paired ('' where it was or is not one)."""
    if not a or not b:
        return None, ""
    sa, sb = [r.seed for r in a], [r.seed for r in b]
    same = len(set(sa)) == len(sa) and len(set(sb)) == len(sb) and set(sa) == set(sb)
    if paired_seeds and same:
        return _test({r.seed: r.score for r in b if r.score is not None},
                     {r.seed: r.score for r in a if r.score is not None},
                     paired=True, higher_is_better=higher, alpha=alpha), ""
    why = ""
    if paired_seeds:
        why = (f"A ran seeds {_seeds_text(sa)}, B {_seeds_text(sb)}" if set(sa) != set(sb)
               else "a side ran a seed twice (other configs of the same options)")
    d = _test({i: r.score for i, r in enumerate(b) if r.score is not None},
              {i: r.score for i, r in enumerate(a) if r.score is not None},
              paired=False, higher_is_better=higher, alpha=alpha)
    return d, why


def _labels(settings: Iterable[Setting], values: Mapping[tuple[str, str], Mapping[str, Any]]
            ) -> dict[Setting, tuple[str, bool]]:
    """Per setting: the options that set it apart from the task's other settings at its budget
    (over both sides), and whether there are such others."""
    groups: dict[tuple[str, int], list[Setting]] = defaultdict(list)
    for s in settings:
        groups[(s.task, s.budget)].append(s)
    out: dict[Setting, tuple[str, bool]] = {}
    for group in groups.values():
        vals = {s: values.get((s.task, s.options_hash), {}) for s in group}
        varying = varying_options(vals.values()) if len(group) > 1 else []
        for s in group:
            out[s] = (options_label(vals[s], varying), len(group) > 1)
    return out


def compare_results(a_records: Sequence[Record], b_records: Sequence[Record],
                    specs: Mapping[str, TaskSpec] | None = None, *, a_path: str = "A", b_path: str = "B",
                    a_problems: Sequence[str] = (), b_problems: Sequence[str] = (),
                    alpha: float = ALPHA) -> ResultsComparison:
    """Result set B against result set A: every setting and method both ran, tested over seeds.

    Each side's means, intervals, gains over its own scratch and wall times are those of its own
    leaderboard (:func:`~bench.leaderboard.build.build` with ``specs``); the differences are tested
    as the module says, their verdicts under the Benjamini-Hochberg procedure over all of them.
    """
    specs = specs or {}
    boards = build(a_records, specs, a_problems), build(b_records, specs, b_problems)
    runs = _ok_runs(a_records, boards[0]), _ok_runs(b_records, boards[1])
    rows: tuple[dict[Setting, dict[str, Row]], ...] = ({}, {})
    for lb, by_setting in zip(boards, rows, strict=True):
        for row in lb.rows:
            by_setting.setdefault(row.setting, {})[row.method] = row
    order = list(dict.fromkeys([*boards[0].settings(), *boards[1].settings()]))
    values = {**boards[1].option_values, **boards[0].option_values}
    labels = _labels(order, values)
    higher_of = {r.task: r.higher_is_better for r in [*b_records, *a_records]}  # as the records say; A's wins
    settings: list[SettingDiff] = []
    only: list[OnlyOneSide] = []
    diffs: list[tuple[MethodDiff, Difference]] = []
    for s in order:
        label, several = labels[s]
        in_a, in_b = rows[0].get(s), rows[1].get(s)
        if in_a is None or in_b is None:
            name, present, side_runs = ("A", in_a, runs[0]) if in_a is not None else ("B", in_b, runs[1])
            assert present is not None
            only.append(OnlyOneSide(name, *s, label, methods=list(present),
                                    seeds=sum(len(side_runs.get((s, m), [])) for m in present), several=several))
            continue
        spec = specs.get(s.task)
        higher = higher_of.get(s.task, True)
        unit = boards[0].units.get(s.task) or boards[1].units.get(s.task, "")
        table = SettingDiff(*s, label, several, unit, higher, bool(spec and spec.paired_seeds))
        for method in dict.fromkeys([*in_a, *in_b]):
            ra, rb = in_a.get(method), in_b.get(method)
            if ra is None or rb is None:
                name, one, side_runs = ("A", ra, runs[0]) if ra is not None else ("B", rb, runs[1])
                assert one is not None
                table.only.append(OnlyOneSide(name, *s, label, method, [method], len(side_runs.get((s, method), [])),
                                              several))
                continue
            ka, kb = runs[0].get((s, method), []), runs[1].get((s, method), [])
            ca, cb = _cell(ra, ka), _cell(rb, kb)
            d, why = _difference(ka, kb, table.paired_seeds, higher, alpha)
            same_hw = len(ca.hardware) == 1 and ca.hardware == cb.hardware and ca.hardware[0] != UNKNOWN_HARDWARE
            ratio = cb.wall_s / ca.wall_s if same_hw and ca.wall_s and cb.wall_s is not None else None
            md = MethodDiff(method, ra.role, ca, cb, None, None, None, "", TOO_FEW_SEEDS, not_paired_because=why,
                            wall_ratio=_finite(ratio), wall_compared=same_hw)
            if d is not None:
                md.difference, md.test = _finite(d.estimate), d.test
                md.ci = d.ci if d.ci is not None and all(map(math.isfinite, d.ci)) else None
                md.p = _finite(d.p)
                md.significant_uncorrected = d.verdict not in (TOO_FEW, _NS)
                diffs.append((md, d))
            table.methods.append(md)
        settings.append(table)
    rejected = benjamini_hochberg([d.p if d.verdict != TOO_FEW else None for _, d in diffs], alpha)
    for (md, d), reject in zip(diffs, rejected, strict=True):
        decided = d.with_verdict(reject)
        md.verdict = _VERDICT[decided.verdict]
        md.seeds_needed, md.seeds_needed_capped = decided.seeds_needed or (None, False)
    sides = (_side("A", a_path, a_records, a_problems), _side("B", b_path, b_records, b_problems))
    return ResultsComparison(*sides, settings, only, sum(1 for _, d in diffs if d.verdict != TOO_FEW), alpha)


# --- rendering ------------------------------------------------------------------------------


def _f(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _signed(x: float | None) -> str:
    return "—" if x is None else f"{x:+.3f}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "—" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _seeds(c: Cell) -> str:
    return f"{c.seeds}" + (f" (+{c.failed} failed)" if c.failed else "")


def _vs_scratch(c: Cell) -> str:
    if c.gain is None:
        return "—" if not c.verdict else c.verdict
    return f"{c.gain:+.3f}" + {BETTER: " ▲", NEGATIVE: " ▼"}.get(c.verdict, "")


def _mark(verdict: str) -> str:
    return {B_BETTER: "▲ B better", B_WORSE: "▼ B worse"}.get(verdict, verdict)


SEEDS_HEADER = f"seeds for {100 * POWER:g}%"

HEADERS = ["method", "role", "A seeds", "A mean", f"A {LEVEL} CI", "B seeds", "B mean", f"B {LEVEL} CI", "B vs A",
           f"{LEVEL} CI", "test", "verdict", SEEDS_HEADER, "A vs scratch", "B vs scratch", "A wall s/run",
           "B wall s/run", "wall B/A"]


def _cells(m: MethodDiff) -> list[str]:
    role = {"reference": "reference", "scratch": "baseline"}.get(m.role, m.role)
    needed = "—" if m.seeds_needed is None else f">{m.seeds_needed}" if m.seeds_needed_capped else str(m.seeds_needed)
    return [m.method, role, _seeds(m.a), _f(m.a.mean), _ci(m.a.ci), _seeds(m.b), _f(m.b.mean), _ci(m.b.ci),
            _signed(m.difference), _ci(m.ci), m.test or "—", _mark(m.verdict), needed, _vs_scratch(m.a),
            _vs_scratch(m.b), _f(m.a.wall_s, 1), _f(m.b.wall_s, 1),
            f"{m.wall_ratio:.2f}x" if m.wall_ratio is not None else "—"]


def _text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(out)


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def _where(task: str, budget: int, opts: str, label: str, several: bool) -> str:
    """A setting as a human reads it: the options that set it apart, and the hash, where the task has several."""
    if not several:
        return f"{task} — budget {budget}"
    return f"{task} — budget {budget}, {label + ' ' if label else ''}(options {opts})"


def _title(t: SettingDiff) -> str:
    return f"{_where(t.task, t.budget, t.options_hash, t.label, t.several)} — {t.unit}"


def _test_line(t: SettingDiff, alpha: float) -> str:
    metric = t.unit.split(" (")[0] or "the score"
    sign = (f"B's mean minus A's ({metric}: + where B's is higher)" if t.higher_is_better
            else f"A's mean minus B's ({metric} is lower-better: + where B's is lower)")
    if t.paired_seeds:
        unpaired = [f"{m.method} ({m.not_paired_because})" for m in t.methods if m.not_paired_because]
        test = ("paired t-test over seeds (this task's seeds pair, and both sides ran the same ones)" if not unpaired
                else "paired t-test over seeds where both sides ran the same ones (this task's seeds pair), else "
                     f"Welch's: {'; '.join(unpaired)}")
    else:
        test = "Welch's t-test (this task does not declare that its seeds pair)"
    return f"B vs A: {sign}, {LEVEL} interval; {test}, at {100 * alpha:g}%"


def _only_line(o: OnlyOneSide) -> str:
    runs = f"{o.seeds} ok run{'s' if o.seeds != 1 else ''}"
    if o.method:
        return f"only in {o.side}: method {o.method} ({o.seeds} ok seed{'s' if o.seeds != 1 else ''})"
    return (f"only in {o.side}: {_where(o.task, o.budget, o.options_hash, o.label, o.several)} "
            f"({', '.join(o.methods)}; {runs})")


def _wall_line(t: SettingDiff) -> str | None:
    apart = [m for m in t.methods if not m.wall_compared and (m.a.wall_s is not None or m.b.wall_s is not None)]
    if not apart:
        return None
    a = sorted({h for m in apart for h in m.a.hardware}) or [UNKNOWN_HARDWARE]
    b = sorted({h for m in apart for h in m.b.hardware}) or [UNKNOWN_HARDWARE]
    which = "all methods" if len(apart) == len(t.methods) else ", ".join(m.method for m in apart)
    return (f"wall time not compared for {which}: not one and the same known hardware on both sides "
            f"(A: {'; '.join(a)}; B: {'; '.join(b)}); each side's is shown as it ran")


def _fdr_line(c: ResultsComparison) -> str | None:
    if c.tests < 2:
        return None
    dropped = sum(1 for t in c.settings for m in t.methods
                  if m.significant_uncorrected and m.verdict not in (B_BETTER, B_WORSE))
    kept = sum(1 for t in c.settings for m in t.methods if m.verdict in (B_BETTER, B_WORSE))
    return (f"Verdicts hold the false discovery rate over this comparison's {c.tests} tests at {100 * c.alpha:g}% "
            f"(Benjamini-Hochberg): at most {100 * c.alpha:g}% of the B better / B worse verdicts (here {kept}) are "
            "expected to be false" + (f"; {dropped} more would be significant uncorrected" if dropped else "") + ".")


def _csv(c: ResultsComparison) -> str:
    header = ["task", "budget", "options_hash", "options", "method", "role", "in", "seeds_a", "failed_a", "mean_a",
              "ci_a_low", "ci_a_high", "seeds_b", "failed_b", "mean_b", "ci_b_low", "ci_b_high", "difference",
              "ci_low", "ci_high", "p", "test", "verdict", "seeds_needed", "gain_a", "verdict_a", "gain_b",
              "verdict_b", "wall_s_a", "wall_s_b", "wall_ratio", "hardware_a", "hardware_b"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, header, restval="")
    w.writeheader()

    def bounds(ci: tuple[float, float] | None) -> tuple[float | str, float | str]:
        return ci if ci is not None else ("", "")

    for t in c.settings:
        base = {"task": t.task, "budget": t.budget, "options_hash": t.options_hash, "options": t.label}
        for m in t.methods:
            line: dict[str, Any] = {**base, "method": m.method, "role": m.role, "in": "both",
                                    "difference": m.difference, "p": m.p, "test": m.test, "verdict": m.verdict,
                                    "seeds_needed": ("" if m.seeds_needed is None else
                                                     f">{m.seeds_needed}" if m.seeds_needed_capped else m.seeds_needed),
                                    "wall_ratio": m.wall_ratio}
            line["ci_low"], line["ci_high"] = bounds(m.ci)
            for side, cell in (("a", m.a), ("b", m.b)):
                line.update({f"seeds_{side}": cell.seeds, f"failed_{side}": cell.failed, f"mean_{side}": cell.mean,
                             f"gain_{side}": cell.gain, f"verdict_{side}": cell.verdict, f"wall_s_{side}": cell.wall_s,
                             f"hardware_{side}": "; ".join(cell.hardware)})
                line[f"ci_{side}_low"], line[f"ci_{side}_high"] = bounds(cell.ci)
            w.writerow({k: "" if v is None else v for k, v in line.items()})
        for o in t.only:
            w.writerow({**base, "method": o.method, "in": o.side, f"seeds_{o.side.lower()}": o.seeds})
    for o in c.only:
        for method in o.methods:
            w.writerow({"task": o.task, "budget": o.budget, "options_hash": o.options_hash, "options": o.label,
                        "method": method, "in": o.side})
    return buf.getvalue()


def render_comparison(c: ResultsComparison, fmt: str = "table") -> str:
    """The comparison as text in one of :data:`FORMATS`."""
    if fmt == "json":
        return json.dumps({"a": asdict(c.a), "b": asdict(c.b), "settings": [asdict(t) for t in c.settings],
                           "only": [asdict(o) for o in c.only], "tests": c.tests, "alpha": c.alpha,
                           "multiple_comparisons": "Benjamini-Hochberg false discovery rate over all tests"},
                          indent=2)
    if fmt == "csv":
        return _csv(c)
    if fmt not in ("table", "md"):
        raise ValueError(f"unknown format {fmt!r}; accepted: {', '.join(FORMATS)}")
    md = fmt == "md"
    table = _md_table if md else _text_table

    def bullets(lines: Iterable[str | None]) -> list[str]:
        return [f"- {line}" if md else f"  {line}" for line in lines if line]

    head = [c.a.describe(), c.b.describe(), *c.a.mixtures(), *c.b.mixtures()]
    parts = ["# transferbench comparison: B against A" if md else "transferbench comparison: B against A",
             *([f"- {line}" for line in head] if md else head)]
    if not c.settings:
        parts.append(("" if md else "\n") + "No setting (task, budget, options) was run on both sides.")
    for t in c.settings:
        parts.append(f"## {_title(t)}" if md else f"\n{_title(t)}")
        parts.append(table(HEADERS, [_cells(m) for m in t.methods]))
        parts += bullets([_test_line(t, c.alpha), _wall_line(t), *map(_only_line, t.only)])
    tail = [_fdr_line(c), *map(_only_line, c.only)]
    if any(tail):
        parts.append(("## Across the comparison\n\n" if md else "\n") + "\n".join(
            f"- {line}" if md else line for line in tail if line))
    parts.append(
        ("" if md else "\n") + f"Intervals: {LEVEL} Student-t over seeds. 'B vs A' is signed so that + means B is "
        "better in the task's metric direction; 'B better' / 'B worse' where it is significant, else no significant "
        f"difference; a verdict needs at least {MIN_SEEDS_FOR_VERDICT} seeds per side. '{SEEDS_HEADER}': where not "
        f"significant, the seeds per side at which a difference as large as the observed one would be detected "
        f"{100 * POWER:g}% of the time. 'vs scratch': each side's gain over its own scratch (▲ better, ▼ negative "
        "transfer). Wall time is compared only where both sides ran on one and the same hardware.")
    problems = [f"{s.name}: {p}" for s in (c.a, c.b) for p in s.problems]
    if problems:
        parts.append(("## Skipped files\n" if md else "\nSkipped files:\n") + "\n".join(f"- {p}" for p in problems))
    return "\n\n".join(parts) + "\n" if md else "\n".join(parts) + "\n"
