"""Rebuild the leaderboard from the records in the results directory, and nothing else.

Corrupt or foreign JSON files are reported and skipped. Also writes leaderboard.md and
leaderboard.png (normalized scores with intervals) into the results directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import leaderboard as lbmod
from bench.cli._common import add_results_dir, csv_list, registry
from bench.errors import UsageError, unknown
from bench.store import ResultStore

HELP = "rebuild the leaderboard from the records"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_results_dir(p)
    p.add_argument("--format", choices=lbmod.FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--task", type=csv_list, action="append", metavar="ID", help="only these tasks")
    p.add_argument("--no-write", action="store_true", help="do not write leaderboard.md and .png")


def main(args: argparse.Namespace) -> int:
    results = args.results_dir or Path("results")
    if args.results_dir is not None and not results.is_dir():
        raise UsageError(f"--results-dir {str(results)!r} is not a directory"
                         + ("" if results.exists() else " (it does not exist)"))
    reg = registry()
    loaded = ResultStore(results).load()
    for line in loaded.problems:
        print(f"bench: warning: {line}", file=sys.stderr)
    records = loaded.records
    if args.task:
        wanted = {t for group in args.task for t in group}
        recorded = {r.task for r in records}
        for t in sorted(wanted - recorded - set(reg.tasks)):
            raise unknown("task", t, set(reg.tasks) | recorded)
        records = [r for r in records if r.task in wanted]
    board = lbmod.build(records, reg.tasks, loaded.problems)
    print(lbmod.render(board, args.format), end="")
    if not args.no_write and loaded.records:
        try:
            lbmod.write_files(lbmod.build(loaded.records, reg.tasks, loaded.problems), results)
        except OSError as exc:
            print(f"bench: warning: could not write the leaderboard files: {exc}", file=sys.stderr)
    return 0
