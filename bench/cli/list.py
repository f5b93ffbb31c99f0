"""List the installed tasks (with family, suites and network need), methods and suites.

Only the cheap spec modules of each plugin are imported, so this is instant.
"""

from __future__ import annotations

import argparse

from bench.cli._common import registry

HELP = "list tasks, methods and suites"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", nargs="?", choices=["tasks", "methods", "suites", "all"], default="all",
                   help="what to list (default: all)")


def main(args: argparse.Namespace) -> int:
    reg = registry()
    if args.what in ("tasks", "all"):
        print("Tasks")
        for spec in reg.tasks.values():
            net = "needs network" if spec.needs_network else "offline"
            print(f"  {spec.id:34} family={spec.family:10} suites={','.join(spec.suites):14} {net}")
            print(f"  {'':34} {spec.summary}")
            print(f"  {'':34} source: {spec.source}")
            print(f"  {'':34} target: {spec.target}")
            print(f"  {'':34} metric: {spec.metric} ({'higher' if spec.higher_is_better else 'lower'} is better); "
                  f"budgets ({spec.budget_unit}): {', '.join(map(str, spec.budgets))} "
                  f"[default {spec.default_budget}]")
            print(f"  {'':34} methods: {', '.join(spec.methods)}")
            if spec.options:
                opts = ", ".join(f"{k}={v!r}" for k, v in spec.options.items())
                print(f"  {'':34} options: {opts}")
    if args.what in ("methods", "all"):
        print("Methods")
        for m in reg.methods.values():
            print(f"  {m.name:22} {m.role:10} {m.summary}")
    if args.what in ("suites", "all"):
        print("Suites")
        for name, ids in reg.suites().items():
            print(f"  {name:22} {len(ids)} task(s): {', '.join(ids)}")
    return 0
