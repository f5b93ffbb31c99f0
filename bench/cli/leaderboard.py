"""Rebuild the leaderboard from the records in the results directory, and nothing else.

Corrupt or foreign JSON files are reported and skipped. Also writes leaderboard.md and
leaderboard.png (normalized scores with intervals) into the results directory.
"""

from __future__ import annotations

import argparse
import sys

from bench import leaderboard as lbmod
from bench import session
from bench.cli._common import add_results_dir, csv_list

HELP = "rebuild the leaderboard from the records"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_results_dir(p)
    p.add_argument("--format", choices=lbmod.FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--task", type=csv_list, action="append", metavar="ID", help="only these tasks")
    p.add_argument("--no-write", action="store_true", help="do not write leaderboard.md and .png")


def main(args: argparse.Namespace) -> int:
    results = session.load(args.results_dir)
    shown = results.select([t for group in args.task for t in group]) if args.task else results
    board = shown.leaderboard  # discovers the installed tasks: a plugin problem is a warning line
    for line in results.problems:
        print(f"bench: warning: {line}", file=sys.stderr)
    print(lbmod.render(board, args.format), end="")
    if not args.no_write and results.records:
        try:
            lbmod.write_files(results.leaderboard, results.results_dir)
        except OSError as exc:
            print(f"bench: warning: could not write the leaderboard files: {exc}", file=sys.stderr)
    return 0
