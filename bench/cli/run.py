"""Run a grid of tasks x methods x seeds, skip what is already finished, print the leaderboard.

Select tasks by --suite (default: quick, the offline suite) or --task. Every method is scored
against the from-scratch baseline, which is always run. A run that fails is recorded as failed
and the grid goes on; the exit status is then 1. Interrupt at any time: finished runs are saved
and the same command resumes.

--sweep NAME=V1,V2 multiplies the grid over the values of a task option (repeat it for the
cartesian product of several); each run's record carries its value and the leaderboard plots the
main metric against it. --model X is --set options.model=X for tasks with a backbone option.

--seeds auto[:MAX] runs seeds 0, 1, 2 first (the runs --seeds 3 makes), then gives each method
the seeds, at most MAX (default 10), that its comparisons need to detect a gain of --min-gain
(default 0.05) times scratch's mean with 80% power, judged from the pilot's spread alone, and
runs those. The decision is saved in the results directory, so the same command resumes it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import autoseeds, session
from bench import leaderboard as lbmod
from bench.cli._common import add_results_dir, csv_list
from bench.config import parse_sweep
from bench.errors import UsageError
from bench.runner import Job, pending_jobs
from bench.stats import POWER

HELP = "run tasks x methods x seeds and print the leaderboard"


def _checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from one of the API's parsers: the same check, the same one-line message."""
    def check(text: str) -> Any:
        try:
            return parse(text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return check


_budgets = _checked(session.parse_budgets)
_seeds = _checked(session.parse_seeds_value)
"""A list of seeds, or ``auto[:MAX]`` checked here and resolved by the config."""
_min_gain = _checked(session.parse_min_gain)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", help="run every task of this suite (default: quick, when no --task is given)")
    p.add_argument("--task", action="append", type=csv_list, metavar="ID",
                   help="task id, e.g. vision/SynthDigits-v0 (repeat or comma-separate for several)")
    p.add_argument("--method", action="append", type=csv_list, metavar="NAME",
                   help="method to run (repeat or comma-separate; default: all a task implements; scratch always runs)")
    p.add_argument("--seeds", type=_seeds, metavar="N|LIST|auto[:MAX]",
                   help="number of seeds (default 3, i.e. 0,1,2), a comma-separated list of seeds, or auto[:MAX]: "
                   "seeds 0,1,2 first, then as many per method (at most MAX, default 10) as its comparisons need "
                   "to detect --min-gain with 80%% power, judged from those three seeds' spread")
    p.add_argument("--min-gain", type=_min_gain, metavar="G",
                   help="with --seeds auto: the smallest gain worth detecting, as a fraction of scratch's mean "
                   "(default 0.05)")
    p.add_argument("--budget", type=_budgets, metavar="B[,B...]",
                   help="target budget(s) in the task's unit, e.g. labels per class (default: the task's)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where models train (default: auto)")
    p.add_argument("--workers", metavar="N", help="runs in parallel worker processes: a number or 'auto' "
                   "(default: one per CPU core)")
    p.add_argument("--executor", choices=["local", "ray", "slurm"],
                   help="where runs execute: local worker processes (default), tasks on a Ray cluster, or "
                   "Slurm job arrays through submitit (settings: --set slurm.partition=... or a [slurm] table)")
    p.add_argument("--ray-address", metavar="HOST:PORT",
                   help="the Ray cluster to use with --executor ray (default: start a local one for the run)")
    add_results_dir(p)
    p.add_argument("--config", type=Path, metavar="FILE", help="a TOML file with any of these settings")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="override a setting, e.g. --set options.target_steps=300 or --set workers=2")
    p.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="multiply the grid over values of a task option, e.g. --sweep transfer_units=0,3,6,9 "
                   "(repeat for several: every combination)")
    p.add_argument("--model", metavar="DIR|HUB_ID",
                   help="the backbone for tasks with a 'model' option: a local directory or a hub id "
                   "(sugar for --set options.model=...)")
    p.add_argument("--dry-run", action="store_true", help="print the grid and its estimated cost; run nothing")
    p.add_argument("--force", action="store_true", help="run again and overwrite runs that already have a record")
    p.add_argument("--format", choices=lbmod.FORMATS, default="table", help="leaderboard format (default: table)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _flatten(values: list[list[str]] | None) -> list[str] | None:
    return [v for group in values for v in group] if values else None


def _print_plan(jobs: list[Job], todo: list[Job], workers: int, swept: Sequence[str] = ()) -> None:
    todo_ids = {j.config_hash for j in todo}
    rows: dict[tuple[str, str, int, str], list[Job]] = {}
    for j in jobs:
        variant = " ".join(f"{k}={j.options[k]}" for k in swept if k in j.options)
        rows.setdefault((j.spec.id, j.method, j.budget, variant), []).append(j)
    print(f"{'task':32} {'method':16} {'budget':>6} {'seeds':>6} {'to run':>6} {'est. s':>8}"
          + ("  sweep" if swept else ""))
    total, unknown = 0.0, 0
    for (task, method, budget, variant), js in rows.items():
        n = sum(j.config_hash in todo_ids for j in js)
        est = js[0].spec.seconds_per_run.get(method)
        if est is None:
            unknown += n
        else:
            total += est * n
        print(f"{task:32} {method:16} {budget:>6} {len(js):>6} {n:>6} {'?' if est is None else f'{est * n:.0f}':>8}"
              + (f"  {variant}" if variant else ""))
    line = f"{len(jobs)} runs, {len(todo)} to run, {len(jobs) - len(todo)} already finished; "
    line += f"estimated {total / max(1, workers):.0f} s with {workers} worker(s) on this machine's CPU"
    if unknown:
        line += f" (+{unknown} runs with no estimate)"
    print(line)


def _auto_dry_run(grid: session.Grid) -> None:
    """Say that the top-up is decided after the pilot, or show the saved decision made on these records.

    A pilot with runs still to make (or ``--force``) changes its records, so a saved decision would
    be made again after it.
    """
    config, jobs, pilot_todo, workers = grid.config, grid.jobs, len(grid.todo), grid.config.processes
    _, path = grid.decision()
    decisions = None
    if not pilot_todo:
        decisions = autoseeds.load(path, autoseeds.fingerprint(jobs, autoseeds.pilot_records(jobs)))
    if decisions is None:
        why = (" (--force runs it again)" if config.force else "" if pilot_todo or not path.exists() else
               f" ({path} was decided on other pilot records)")
        print(f"seeds auto: the runs above are the pilot{why}; after it, each method gets the seeds (at most "
              f"{config.seeds_auto}) that detect a gain of {100 * config.min_gain:.3g}% of scratch's mean with "
              f"{POWER:.0%} power, judged from the pilot's spread")
        return
    print(f"\nseeds auto: decided on these pilot records ({path}):")
    for d in decisions:
        print(autoseeds.describe(d, list(config.sweep)).removeprefix("bench: seeds auto: "))
    extra = autoseeds.top_up(jobs, decisions)
    todo = pending_jobs(extra, config.force)[0]
    if extra:
        print()
        _print_plan(extra, todo, max(1, min(workers, len(todo))), list(config.sweep))


def main(args: argparse.Namespace) -> int:
    grid = session.prepare(
        _flatten(args.task), _flatten(args.method), suite=args.suite, seeds=args.seeds, min_gain=args.min_gain,
        budgets=args.budget, device=args.device, workers=args.workers, results_dir=args.results_dir,
        force=True if args.force else None, executor=args.executor, ray_address=args.ray_address,
        sweep=parse_sweep(args.sweep) or None, model=args.model, config=args.config, sets=args.sets,
        progress=not args.no_progress,
    )
    config = grid.config
    if args.dry_run:
        _print_plan(grid.jobs, grid.todo, grid.workers, list(config.sweep))
        if config.seeds_auto is not None:
            _auto_dry_run(grid)
        return 0
    results = grid.run()
    print(lbmod.render(results.leaderboard, args.format), end="")
    summary = results.summary
    assert summary is not None
    over = summary.overhead_fraction
    print(
        f"\n{len(summary.ran)} run(s) made, {len(summary.failed)} failed, {len(summary.skipped)} skipped "
        f"(already recorded)"
        + (f", {len(summary.held)} left to another driver running them" if summary.held else "")
        + f" in {summary.wall_s:.1f} s"
        + (f"; task set-up (imports, data) {summary.setup_s:.1f} s; harness overhead {100 * over:.1f}% of wall time"
           if over is not None else "")
        + f". Records and leaderboard.md in {config.results_dir}/",
        file=sys.stderr,
    )
    for r in summary.failed:
        first = (r.error or "").splitlines()[0]
        print(f"bench: run failed: {r.task} {r.method} seed {r.seed}: {first}", file=sys.stderr)
    return 1 if summary.failed else 0
