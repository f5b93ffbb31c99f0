"""Run a grid of tasks x methods x seeds, skip what is already finished, print the leaderboard.

Select tasks by --suite (default: quick, the offline suite) or --task. Every method is scored
against the from-scratch baseline, which is always run. A run that fails is recorded as failed
and the grid goes on; the exit status is then 1. Interrupt at any time: finished runs are saved
and the same command resumes.

--sweep NAME=V1,V2 multiplies the grid over the values of a task option (repeat it for the
cartesian product of several); each run's record carries its value and the leaderboard plots the
main metric against it. --model X is --set options.model=X for tasks with a backbone option.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import leaderboard as lbmod
from bench.cli._common import add_results_dir, csv_list, registry
from bench.config import RunConfig, build_config, parse_seeds, parse_sweep
from bench.errors import UsageError
from bench.hardware import resolve_device
from bench.registry import Registry
from bench.runner import Job, make_executor, pending_jobs, plan, run_grid, select_tasks, task_selection
from bench.store import ResultStore

HELP = "run tasks x methods x seeds and print the leaderboard"


def _budgets(text: str) -> list[int]:
    try:
        return [int(b) for b in csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--budget {text!r} is not an integer or a comma-separated list") from None


def _seeds(text: str) -> list[int]:
    try:
        return parse_seeds(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", help="run every task of this suite (default: quick, when no --task is given)")
    p.add_argument("--task", action="append", type=csv_list, metavar="ID",
                   help="task id, e.g. vision/SynthDigits-v0 (repeat or comma-separate for several)")
    p.add_argument("--method", action="append", type=csv_list, metavar="NAME",
                   help="method to run (repeat or comma-separate; default: all a task implements; scratch always runs)")
    p.add_argument("--seeds", type=_seeds, metavar="N|LIST",
                   help="number of seeds (default 3, i.e. 0,1,2) or a comma-separated list of seeds")
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


def _check_model(model: str, config: RunConfig, reg: Registry) -> None:
    """``--model`` is sugar for ``--set options.model=...``; said in its own words when no task takes it.

    The generic "unknown task option 'model'" would be right but would not say which tasks do.
    """
    specs = select_tasks(config, reg)
    if specs and not any("model" in s.options for s in specs):
        having = sorted(t for t, s in reg.tasks.items() if "model" in s.options)
        raise UsageError(
            f"--model {model!r}: no selected task has a 'model' option; "
            + (f"tasks with one: {', '.join(having)}" if having else "no installed task has one")
        )


def main(args: argparse.Namespace) -> int:
    flags = {
        "suite": args.suite, "tasks": _flatten(args.task), "methods": _flatten(args.method),
        "seeds": args.seeds, "budgets": args.budget, "device": args.device, "workers": args.workers,
        "results_dir": args.results_dir, "force": True if args.force else None, "executor": args.executor,
        "ray": {"address": args.ray_address} if args.ray_address else None,
        "sweep": parse_sweep(args.sweep) or None,
        "options": {"model": args.model} if args.model is not None else None,
    }
    config = build_config(args.config, flags, args.sets)
    reg = registry()
    if args.model is not None:
        _check_model(args.model, config, reg)
    jobs = plan(config, reg, "cpu")  # names and values are checked before torch is imported
    for task, why in task_selection(config, reg)[1]:
        print(f"bench: {task} left out: {why}", file=sys.stderr)
    device = resolve_device(config.device)
    if device != "cpu":
        jobs = plan(config, reg, device)
    progress = not args.no_progress and sys.stderr.isatty()
    pending = len(pending_jobs(jobs, config.force)[0])
    workers = max(1, min(config.processes, pending))
    if workers == 1 and progress and config.executor == "local":
        jobs = [Job(**{**j.__dict__, "show_progress": True}) for j in jobs]
    if args.dry_run:
        todo, _ = pending_jobs(jobs, config.force)
        _print_plan(jobs, todo, workers, list(config.sweep))
        return 0
    if config.executor == "local":
        executor = make_executor(config.processes, pending)
    else:
        from bench.cluster import cluster_executor

        executor = cluster_executor(config)
    summary = run_grid(jobs, executor, force=config.force, progress=not args.no_progress)
    store = ResultStore(config.results_dir)
    loaded = store.load()
    tasks = {j.spec.id for j in jobs}
    board = lbmod.build([r for r in loaded.records if r.task in tasks], reg.tasks, loaded.problems)
    print(lbmod.render(board, args.format), end="")
    try:
        lbmod.write_files(lbmod.build(loaded.records, reg.tasks, loaded.problems), config.results_dir)
    except OSError as exc:
        print(f"bench: warning: could not write the leaderboard files: {exc}", file=sys.stderr)
    over = summary.overhead_fraction
    print(
        f"\n{len(summary.ran)} run(s) made, {len(summary.failed)} failed, {len(summary.skipped)} skipped "
        f"(already recorded) in {summary.wall_s:.1f} s"
        + (f"; task set-up (imports, data) {summary.setup_s:.1f} s; harness overhead {100 * over:.1f}% of wall time"
           if over is not None else "")
        + f". Records and leaderboard.md in {config.results_dir}/",
        file=sys.stderr,
    )
    for r in summary.failed:
        first = (r.error or "").splitlines()[0]
        print(f"bench: run failed: {r.task} {r.method} seed {r.seed}: {first}", file=sys.stderr)
    return 1 if summary.failed else 0
