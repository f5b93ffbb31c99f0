"""Check, before a real-tier run downloads anything, that every pinned model and dataset it loads is there.

For each task that loads from a hub (it declares ``hub_check``), resolves every pinned model and
dataset revision and checks the files, columns and labels its loaders expect, from repository
metadata only: seconds, no weights downloaded. Run it first with network access; the exit status
is 1 where anything would break. Options as for ``run`` (--model, --set options.NAME=VALUE)
check the setting you are about to run.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.cli._common import csv_list, registry
from bench.config import build_config, resolve_options
from bench.errors import UsageError
from bench.registry import hub_checks

HELP = "check the real tier's pinned hub models and datasets (metadata only) before running it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", help="check the tasks of this suite (default: every task that loads from a hub)")
    p.add_argument("--task", action="append", type=csv_list, metavar="ID", help="task id (repeat or comma-separate)")
    p.add_argument("--model", metavar="DIR|HUB_ID", help="check this backbone too (sugar for --set options.model=...)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="a task option of the setting to check, e.g. --set options.revision=main")


def main(args: argparse.Namespace) -> int:
    reg = registry()
    tasks = [t for group in args.task or [] for t in group]
    flags = {"options": {"model": args.model} if args.model is not None else None}
    config = build_config(None, flags, args.sets)
    if tasks:
        specs = [reg.task(t) for t in tasks]
    else:
        specs = [reg.task(t) for t in (reg.suite(args.suite) if args.suite else reg.tasks)]
        specs = [s for s in specs if s.hub_check]
    unchecked = [s.id for s in specs if not s.hub_check]
    if unchecked:
        raise UsageError(f"task {unchecked[0]} loads nothing from a hub; tasks with a check: "
                         + ", ".join(sorted(t for t, s in reg.tasks.items() if s.hub_check)))
    if not specs:
        raise UsageError(f"no task of suite {args.suite!r} loads from a hub")
    start, broken, seen = time.perf_counter(), 0, set()
    for spec in specs:
        options = resolve_options(spec, {k: v for k, v in config.options.items() if k in spec.options})
        print(spec.id)
        try:
            checks = hub_checks(spec, options)
        except ConnectionError as exc:  # no task can be checked: say so once
            print(f"  BROKEN  {exc}")
            broken += 1
            break
        except Exception as exc:  # a plugin's bug, an unexpected answer: one line, and the next task
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            checks = [("the hub", f"could not check: {type(exc).__name__}: {first}")]
        repeated = [c for c in checks if c in seen]
        for what, problem in checks:
            if (what, problem) in seen:
                continue
            seen.add((what, problem))
            broken += problem is not None
            print(f"  {'ok' if problem is None else 'BROKEN':7} {what}" + (f": {problem}" if problem else ""))
        if repeated:
            print(f"  {'':7} ({len(repeated)} more, checked above)")
    print(f"\n{broken} problem(s) in {len(specs)} task(s), {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 1 if broken else 0
