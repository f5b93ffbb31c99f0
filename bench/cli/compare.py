"""Compare two results directories (this commit against the last release, this machine against a
cluster run): the leaderboard's settings side by side, and per method B's mean minus A's with its
95% interval, the test (paired by seed where the task's seeds pair and both sides ran the same
seeds, else Welch's) and a verdict, the false discovery rate held over all the comparison's tests.
Each side is named by its path, git revision(s) and hardware; wall times are compared only where
both sides ran on the same hardware.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli._common import csv_list, registry
from bench.errors import UsageError, unknown
from bench.leaderboard.compare import FORMATS, compare_results, render_comparison
from bench.record import Record
from bench.store import Loaded, ResultStore

HELP = "compare two results directories method by method, with intervals and verdicts"

USAGE = "give two results directories: bench compare DIR_A DIR_B (or --results-dir DIR_A --results-dir DIR_B)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="*", type=Path, metavar="DIR",
                   help="two results directories, A (e.g. the last release's) then B (e.g. this commit's)")
    p.add_argument("--results-dir", type=Path, action="append", dest="results_dirs", metavar="DIR", default=None,
                   help="a results directory, given twice (A then B), instead of or after the positional ones")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--task", type=csv_list, action="append", metavar="ID", help="only these tasks")


def _load(path: Path, name: str) -> Loaded:
    if not path.exists():
        raise UsageError(f"results directory {name} {str(path)!r} does not exist; {USAGE}")
    if not path.is_dir():
        raise UsageError(f"results directory {name} {str(path)!r} is a file, not a directory; {USAGE}")
    loaded = ResultStore(path).load()
    if not loaded.records:
        skipped = f" ({len(loaded.problems)} file(s) skipped as not valid records)" if loaded.problems else ""
        raise UsageError(f"results directory {name} {str(path)!r} holds no records{skipped}; give a directory "
                         "that `bench run --results-dir` wrote records to")
    return loaded


def _select(records: list[Record], wanted: set[str]) -> list[Record]:
    return [r for r in records if r.task in wanted]


def main(args: argparse.Namespace) -> int:
    dirs = [*args.dirs, *(args.results_dirs or [])]
    if len(dirs) != 2:
        raise UsageError(f"{len(dirs)} results director{'y' if len(dirs) == 1 else 'ies'} given; {USAGE}")
    a_dir, b_dir = dirs
    a, b = _load(a_dir, "A"), _load(b_dir, "B")
    if a_dir.resolve() == b_dir.resolve():
        raise UsageError(f"A and B are the same directory {str(a_dir)!r}; {USAGE}, two different ones")
    reg = registry()
    a_records, b_records = a.records, b.records
    if args.task:
        wanted = {t for group in args.task for t in group}
        recorded = {r.task for r in [*a_records, *b_records]}
        for t in sorted(wanted - recorded):
            if t not in reg.tasks:
                raise unknown("task", t, set(reg.tasks) | recorded)
            raise UsageError(f"task {t!r} has no records in {str(a_dir)!r} or {str(b_dir)!r}; recorded: "
                             + ", ".join(sorted(recorded)))
        a_records, b_records = _select(a_records, wanted), _select(b_records, wanted)
    for name, loaded in (("A", a), ("B", b)):
        for line in loaded.problems:
            print(f"bench: warning: {name}: {line}", file=sys.stderr)
    result = compare_results(a_records, b_records, reg.tasks, a_path=str(a_dir), b_path=str(b_dir),
                             a_problems=a.problems, b_problems=b.problems)
    print(render_comparison(result, args.format), end="")
    return 0
