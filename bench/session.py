"""The Python API: run a grid and read results, with the settings and checks of ``bench run``.

:func:`run` takes the settings ``python -m bench run`` takes (as keyword arguments, resolved as
defaults < ``config`` file < arguments < ``sets``, checked the same way: a bad name or value is a
:class:`bench.errors.UsageError` with the CLI's one-line message) and returns :class:`Results`.
:func:`load` returns the same :class:`Results` for a results directory. Records come as typed
:class:`bench.record.Record` objects and as a pandas DataFrame (:meth:`Results.records_frame`),
the leaderboard as :class:`bench.leaderboard.Leaderboard` and as a DataFrame
(:meth:`Results.leaderboard_frame`), task options as real columns in both.

The ``bench run``, ``bench leaderboard`` and ``bench show`` commands are callers of this module.
What they print besides their output (a suite's tasks left out, plugin problems, the ``seeds
auto`` decision, a leaderboard file that could not be written) is printed here, to stderr, as
one ``bench: ...`` line each, in a notebook as in a terminal.
"""

from __future__ import annotations

import ast
import json
import math
import numbers
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import autoseeds
from bench import leaderboard as lbmod
from bench.api import TaskSpec
from bench.cli._common import csv_list, registry, writable_results_dir
from bench.config import RunConfig, build_config, parse_seeds, parse_seeds_auto, parse_sweep
from bench.errors import UsageError, unknown
from bench.hardware import resolve_device
from bench.record import Record
from bench.registry import Registry
from bench.runner import (
    Executor,
    Job,
    RunSummary,
    make_executor,
    pending_jobs,
    plan,
    run_grid,
    select_tasks,
    task_selection,
)
from bench.store import ResultStore

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = ["Grid", "Results", "load", "prepare", "run"]

DEFAULT_RESULTS = Path("results")


def _say(line: str) -> None:
    print(line, file=sys.stderr)


# --- results --------------------------------------------------------------------------------


@dataclass(eq=False)
class Results:
    """Records of a results directory, its leaderboard, and (from :func:`run`) what the run did.

    From :func:`run`: the records of the grid's tasks that the results directory holds after the
    run (the ones made now, those it skipped as already recorded, and any other settings of those
    tasks recorded before), which are also what its leaderboard is built from, as ``bench run``
    prints it. From :func:`load`: every record of the directory, or of the tasks asked for.
    """

    results_dir: Path
    records: list[Record]
    """Valid records, each run once (see :meth:`bench.store.ResultStore.load`)."""
    problems: list[str] = field(default_factory=list)
    """One line per file that was skipped: corrupt, foreign, edited by hand, or a copy of a run."""
    summary: RunSummary | None = None
    """From :func:`run`: the runs made now (``summary.ran``, ``summary.failed``), skipped as already
    recorded (``summary.skipped``) or left to another driver (``summary.held``), and the wall time."""
    config: RunConfig | None = None
    """From :func:`run`: the resolved settings the grid ran with."""
    _specs: Mapping[str, TaskSpec] | None = field(default=None, repr=False)
    _leaderboard: lbmod.Leaderboard | None = field(default=None, init=False, repr=False)

    def __repr__(self) -> str:
        made = ""
        if self.summary is not None:
            s = self.summary
            made = (f"; this run: {len(s.ran)} made, {len(s.failed)} failed, {len(s.skipped)} skipped"
                    + (f", {len(s.held)} left to another driver" if s.held else ""))
        return f"<Results {str(self.results_dir)!r}: {len(self.records)} records{made}>"

    @property
    def specs(self) -> Mapping[str, TaskSpec]:
        """The installed tasks' specs (discovered on first use; a plugin problem is a warning line)."""
        if self._specs is None:
            self._specs = registry().tasks
        return self._specs

    @property
    def leaderboard(self) -> lbmod.Leaderboard:
        """The leaderboard of :attr:`records` (built on first use), as ``bench leaderboard`` renders it."""
        if self._leaderboard is None:
            self._leaderboard = lbmod.build(self.records, self.specs, self.problems)
        return self._leaderboard

    def select(self, tasks: str | Iterable[str]) -> Results:
        """The records of these tasks only (a name neither recorded nor installed is a :class:`UsageError`)."""
        wanted = set(_names(tasks) or [])
        recorded = {r.task for r in self.records}
        for t in sorted(wanted - recorded - set(self.specs)):
            raise unknown("task", t, set(self.specs) | recorded)
        return replace(self, records=[r for r in self.records if r.task in wanted])

    def records_frame(self) -> pd.DataFrame:
        """One row per record: who ran (task, method, role, seed, budget), how it went (status,
        the main ``metric``'s name and ``score``, one column per metric, ``error``), what it cost
        (the phases' seconds, memory, parameters, samples and throughput), where (device, CPU,
        cores, RAM, GPU, torch, host, git revision), when, its ``config_hash``, and one column per
        task option from the record's config, so that swept values are columns (``target_steps``).

        A metric or option whose name is taken by an earlier column is prefixed (``metrics.``,
        ``options.``). Failed runs are rows too, with no score (filter on ``status == "ok"``).
        """
        import pandas as pd

        records = sorted(self.records, key=_record_order)
        metric_names = _names_in(r.metrics for r in records)
        option_names = _names_in(_options(r) for r in records)
        rows = [_record_row(r) for r in records]
        fixed = list(rows[0]) if rows else list(_record_row_columns())
        metric_cols = _unclash(metric_names, set(fixed), "metrics.")
        option_cols = _unclash(option_names, set(fixed) | set(metric_cols.values()), "options.")
        for r, row in zip(records, rows, strict=True):
            row.update({metric_cols[k]: v for k, v in r.metrics.items()})
            row.update({option_cols[k]: v for k, v in _options(r).items()})
        columns = [*fixed, *metric_cols.values(), *option_cols.values()]
        return pd.DataFrame(rows, columns=columns)

    def leaderboard_frame(self) -> pd.DataFrame:
        """One row per leaderboard row (a method in one setting: task, budget and task options),
        the CSV format's columns (:func:`bench.leaderboard.render.flat_rows`): ``setting`` names
        the setting by the options that set it apart (``options_hash`` is its id), ``mean`` with
        ``ci_low`` / ``ci_high``, ``gain`` over scratch with ``gain_ci_low`` / ``gain_ci_high``,
        ``verdict``, ``p``, the cost columns, each secondary metric (and its interval),
        ``files.<label>``, and the option values of the setting as one column each.
        """
        import pandas as pd

        from bench.leaderboard.render import flat_rows

        columns, rows = flat_rows(self.leaderboard)
        return pd.DataFrame(rows, columns=columns)


def _options(r: Record) -> dict[str, Any]:
    opts = r.config.get("options", {})
    return dict(opts) if isinstance(opts, Mapping) else {}


_ROLES = {"scratch": 0, "transfer": 1, "reference": 2}


def _sortable(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, json.dumps(value))


def _record_order(r: Record) -> tuple[Any, ...]:
    """Task, budget, options by their values, then scratch first, method and seed: a setting's runs together."""
    opts = _options(r)
    return (r.task, r.budget, [(k, _sortable(opts[k])) for k in sorted(opts)], _ROLES.get(r.role, 3), r.method,
            r.seed)


def _names_in(dicts: Iterable[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for d in dicts for k in d))


def _unclash(names: Sequence[str], taken: set[str], prefix: str) -> dict[str, str]:
    """Each name's column: the name itself, or ``prefix + name`` where an earlier column has it."""
    return {n: prefix + n if n in taken else n for n in names}


def _record_row(r: Record) -> dict[str, Any]:
    t, c, p = r.timings, r.cost, r.provenance
    hw = p.hardware
    return {
        "task": r.task, "task_version": r.task_version, "method": r.method, "role": r.role, "seed": r.seed,
        "budget": r.budget, "status": r.status, "metric": r.metric, "higher_is_better": r.higher_is_better,
        "score": r.score,
        "total_s": t.total_s, "setup_s": t.setup_s, "data_s": t.data_s, "source_train_s": t.source_train_s,
        "target_train_s": t.target_train_s, "eval_s": t.eval_s, "overhead_s": t.overhead_s,
        "peak_rss_mb": c.peak_rss_mb, "peak_gpu_mb": c.peak_gpu_mb, "trainable_params": c.trainable_params,
        "total_params": c.total_params, "train_samples": c.train_samples, "throughput": c.throughput,
        "device": r.config.get("device"), "cpu": hw.get("cpu"), "cpu_cores": hw.get("cpu_cores"),
        "ram_gb": hw.get("ram_gb"), "gpu": hw.get("gpu"), "torch": hw.get("torch"), "hostname": p.hostname,
        "harness_version": p.harness_version, "git_revision": p.git_revision, "git_dirty": p.git_dirty,
        "started_at": r.started_at, "finished_at": r.finished_at, "config_hash": r.config_hash, "error": r.error,
    }


def _record_row_columns() -> list[str]:
    """The fixed columns of a records frame, for a frame with no rows."""
    from bench.record import Provenance, Timings

    blank = Record(task="x/Y-v0", task_version=0, method="", role="scratch", seed=0, budget=0, config={},
                   config_hash="0" * 64, status="ok", metric="", higher_is_better=True, timings=Timings(total_s=0.0),
                   provenance=Provenance(harness_version="", python="", packages={}, hardware={}),
                   started_at="", finished_at="")
    return list(_record_row(blank))


# --- load -----------------------------------------------------------------------------------


def _read(results_dir: Path, specs: Mapping[str, TaskSpec] | None = None) -> Results:
    loaded = ResultStore(results_dir).load()
    return Results(results_dir, loaded.records, loaded.problems, _specs=specs)


def load(results_dir: str | Path | None = None, tasks: str | Iterable[str] | None = None) -> Results:
    """The records of a results directory (default ``./results``, which may not exist yet: then none).

    A directory that is named and is not one is a :class:`UsageError`; ``tasks`` (ids, or one
    comma-separated string) keeps those tasks' records (:meth:`Results.select`). Corrupt or
    foreign files are skipped and listed in :attr:`Results.problems`.
    """
    if results_dir is not None:
        path = Path(results_dir)
        if not path.is_dir():
            raise UsageError(f"--results-dir {str(path)!r} is not a directory"
                             + ("" if path.exists() else " (it does not exist)"))
    results = _read(Path(results_dir) if results_dir is not None else DEFAULT_RESULTS)
    return results.select(tasks) if tasks is not None else results


# --- run ------------------------------------------------------------------------------------


def _names(value: str | Iterable[str] | None) -> list[str] | None:
    """Ids or names as a list: one string may be comma-separated, like ``--task A,B``."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    return [n for item in items for n in csv_list(str(item))] or None


def _integers(value: Iterable[Any]) -> list[int] | None:
    items = list(value)
    if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
        return [int(v) for v in items]
    return None


def parse_budgets(value: int | str | Iterable[int] | None) -> list[int] | None:
    """``5``, ``[1, 5]`` or ``"1,5"`` -> ``[1, 5]``; anything else is ``--budget``'s error."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return [int(value)]
    if isinstance(value, str):
        try:
            return [int(b) for b in csv_list(value)]
        except ValueError:
            pass
    elif isinstance(value, Iterable) and (budgets := _integers(value)) is not None:
        return budgets
    raise UsageError(f"--budget {value!r} is not an integer or a comma-separated list")


def parse_seeds_value(value: int | str | Iterable[int] | None) -> list[int] | str | None:
    """``3`` (seeds 0, 1, 2), ``[0, 5]``, ``"0,5"`` or ``"auto[:MAX]"`` (checked here, resolved by the config)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() if parse_seeds_auto(value) is not None else parse_seeds(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return parse_seeds(str(int(value)))
    seeds = _integers(value) if isinstance(value, Iterable) else None
    if seeds is None:
        raise UsageError(f"--seeds {value!r} is not a number of seeds (e.g. 3), a comma-separated list (e.g. 0,1,2) "
                         "or auto[:MAX]")
    if len(seeds) > 1:
        return parse_seeds(",".join(map(str, seeds)))
    if len(seeds) == 1 and seeds[0] >= 0:
        return seeds  # one seed by its number, which parse_seeds("5") would read as five seeds
    raise UsageError(f"--seeds {value!r}: seeds must be distinct non-negative integers")


def parse_min_gain(value: float | str | None) -> float | None:
    """The smallest gain worth detecting: a number above 0, else ``--min-gain``'s error."""
    if value is None:
        return None
    text = str(value)
    try:
        gain = float(text)
    except ValueError:
        gain = math.nan
    if isinstance(value, bool) or not (math.isfinite(gain) and gain > 0):
        raise UsageError(f"--min-gain {text!r} is not a number above 0 (e.g. 0.05, a 5% gain)")
    return gain


def _sweep(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{"lr": [0.1, 0.3]}`` as the config takes it; a string of values is parsed like ``--sweep lr=0.1,0.3``."""
    if not value:
        return None
    out: dict[str, Any] = {}
    for name, values in value.items():
        name = str(name).removeprefix("options.")
        if isinstance(values, str):
            out.update(parse_sweep([f"{name}={values}"]))
        elif isinstance(values, (list, tuple, range)):
            out[name] = list(values)
        else:
            out[name] = values  # the config says what it takes
    return out


def _executors(config: RunConfig) -> Callable[[int], Executor]:
    """An executor for a grid of so many pending runs: local processes sized to it, or the one cluster engine."""
    if config.executor == "local":
        return lambda pending: make_executor(config.processes, pending)
    from bench.cluster import cluster_executor

    engine = cluster_executor(config)
    return lambda pending: engine


def _check_model(model: str, config: RunConfig, reg: Registry) -> None:
    """``model`` is sugar for ``options.model``; said in its own words when no task takes it.

    The generic "unknown task option 'model'" would be right but would not say which tasks do.
    """
    specs = select_tasks(config, reg)
    if specs and not any("model" in s.options for s in specs):
        having = sorted(t for t, s in reg.tasks.items() if "model" in s.options)
        raise UsageError(
            f"--model {model!r}: no selected task has a 'model' option; "
            + (f"tasks with one: {', '.join(having)}" if having else "no installed task has one")
        )


def _with_progress(jobs: list[Job], config: RunConfig, progress: bool, pending: int) -> list[Job]:
    """A run shows its own progress where it runs alone in this process (one worker, locally)."""
    if min(config.processes, pending) <= 1 and progress and config.executor == "local":
        return [replace(j, show_progress=True) for j in jobs]
    return jobs


def _merged(a: RunSummary, b: RunSummary) -> RunSummary:
    """The pilot's and the top-up's runs as one grid's (workers: the larger, so overhead is not under-stated)."""
    return RunSummary(ran=a.ran + b.ran, skipped=a.skipped + b.skipped, held=a.held + b.held,
                      wall_s=a.wall_s + b.wall_s, workers=max(a.workers, b.workers))


@dataclass
class Grid:
    """A grid planned and checked, nothing run yet (:func:`prepare`); :meth:`run` runs it."""

    config: RunConfig
    registry: Registry
    jobs: list[Job]
    """Every run of the grid (with ``seeds auto``: the pilot's)."""
    todo: list[Job]
    """The jobs with no finished record (all of them with ``force``)."""
    left_out: list[tuple[str, str]]
    """A suite's tasks left out because their data is missing: (task id, how to get it)."""
    progress: bool = True

    @property
    def workers(self) -> int:
        """Processes the pending runs go to at once, locally."""
        return max(1, min(self.config.processes, len(self.todo)))

    def decision(self) -> tuple[dict[str, Any], Path]:
        """With ``seeds auto``: the grid's config, and the file its decision on the pilot is kept in."""
        config = self.config
        assert config.seeds_auto is not None
        grid = autoseeds.grid_config(self.jobs, config.options, config.sweep, config.seeds_auto, config.min_gain)
        return grid, autoseeds.decision_path(config.results_dir, grid)

    def _auto_decision(self) -> tuple[list[autoseeds.Decision], Path, bool]:
        """The decision on the pilot's records: the saved one if made on these records, else a new one, saved."""
        assert self.config.seeds_auto is not None
        grid, path = self.decision()
        records = autoseeds.pilot_records(self.jobs)
        pilot = autoseeds.fingerprint(self.jobs, records)
        decisions = autoseeds.load(path, pilot)
        if decisions is not None:
            return decisions, path, True
        decisions = autoseeds.decide(records, self.registry.tasks, self.config.seeds_auto, self.config.min_gain)
        autoseeds.save(path, grid, pilot, decisions)
        return decisions, path, False

    def _top_up(self, executor: Callable[[int], Executor]) -> RunSummary:
        """Decide on the pilot, say what and why, and run the extra seeds like any grid."""
        config = self.config
        decisions, path, reused = self._auto_decision()
        for d in decisions:
            _say(autoseeds.describe(d, list(config.sweep)))
        extra = autoseeds.top_up(self.jobs, decisions)
        todo = pending_jobs(extra, config.force)[0]
        extra = _with_progress(extra, config, self.progress and sys.stderr.isatty(), len(todo))
        _say(f"bench: seeds auto: {len(extra)} run(s) beyond the pilot, {len(todo)} to run; decision "
             f"{'reused from' if reused else 'saved in'} {path}")
        return run_grid(extra, executor(len(todo)), force=config.force, progress=self.progress)

    def run(self) -> Results:
        """Run what has no record yet, write ``leaderboard.md`` and its plots (of every record in the
        results directory), and return the records of the grid's tasks with their leaderboard."""
        config = self.config
        unguarded = _unguarded_main_line() if config.executor == "local" and config.processes > 1 else None
        if unguarded is not None:
            raise UsageError(f"bench.run() from line {unguarded[1]} of {unguarded[0]}, which is not under "
                             "`if __name__ == \"__main__\":`: the grid's worker processes import the script "
                             "again and would run it too; put the call under that line (or pass workers=1)")
        writable_results_dir(config.results_dir)
        executor = _executors(config)
        summary = run_grid(self.jobs, executor(len(self.todo)), force=config.force, progress=self.progress)
        if config.seeds_auto is not None:
            summary = _merged(summary, self._top_up(executor))
        everything = _read(config.results_dir, self.registry.tasks)
        try:
            # Only the tasks this grid added records to get their plots drawn again.
            lbmod.write_files(everything.leaderboard, config.results_dir, changed={r.task for r in summary.ran})
        except OSError as exc:
            _say(f"bench: warning: could not write the leaderboard files: {exc}")
        tasks = {j.spec.id for j in self.jobs}
        return replace(everything, records=[r for r in everything.records if r.task in tasks], summary=summary,
                       config=config)


def _not_in_a_worker_importing_main() -> None:
    """Refuse to start a grid from a worker process that is importing the script that started it.

    Worker processes are spawned, and a spawned process imports the main script again: a script
    calling :func:`run` at its top level would start the grid once more in every worker. The check
    is the one :mod:`multiprocessing` makes before it starts a process in that situation.
    """
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise UsageError("bench.run() was called by a worker process importing your script: in a script, call it "
                         "under `if __name__ == \"__main__\":` (worker processes import the script that started them)")


def _unguarded_main_line() -> tuple[str, int] | None:
    """The main script's line that led here, where it is not under ``if __name__ == "__main__":``.

    Spawned worker processes import the main script again (not an interactive session's, nor
    ``python -m`` of a ``__main__`` module, e.g. ``python -m bench``): a grid started from such a
    line would be started again in every worker, whose start would then fail, again and again.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str) or not Path(path).is_file():
        return None
    spec = getattr(main, "__spec__", None)
    if spec is not None and (spec.name == "__main__" or spec.name.endswith(".__main__")):
        return None
    frame = sys._getframe()
    while frame.f_globals is not vars(main) or frame.f_code.co_name != "<module>":
        if frame.f_back is None:
            return None
        frame = frame.f_back
    line = frame.f_lineno
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.If) and ast.unparse(node.test).replace("'", '"') in _MAIN_TESTS
                and node.body[0].lineno <= line <= (node.body[-1].end_lineno or line)):
            return None
    return path, line


_MAIN_TESTS = ('__name__ == "__main__"', '"__main__" == __name__')


def prepare(
    tasks: str | Iterable[str] | None = None,
    methods: str | Iterable[str] | None = None,
    *,
    suite: str | None = None,
    seeds: int | str | Iterable[int] | None = None,
    budgets: int | str | Iterable[int] | None = None,
    options: Mapping[str, Any] | None = None,
    sweep: Mapping[str, Any] | None = None,
    model: str | None = None,
    min_gain: float | None = None,
    results_dir: str | Path | None = None,
    workers: int | str | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
    device: str | None = None,
    force: bool | None = None,
    config: str | Path | None = None,
    sets: Iterable[str] = (),
    progress: bool = True,
) -> Grid:
    """The grid :func:`run` runs, planned and checked (the ``--dry-run`` of ``bench run``); nothing runs."""
    _not_in_a_worker_importing_main()
    opts = dict(options or {})
    if model is not None:
        opts["model"] = model
    flags = {
        "suite": suite, "tasks": _names(tasks), "methods": _names(methods),
        "seeds": parse_seeds_value(seeds), "min_gain": parse_min_gain(min_gain), "budgets": parse_budgets(budgets),
        "device": device, "workers": workers, "results_dir": results_dir, "force": force, "executor": executor,
        "ray": {"address": ray_address} if ray_address else None,
        "sweep": _sweep(sweep), "options": opts or None,
    }
    cfg = build_config(Path(config) if config is not None else None, flags, list(sets))
    reg = registry()
    if model is not None:
        _check_model(model, cfg, reg)
    if min_gain is not None and cfg.seeds_auto is None:
        _say("bench: warning: --min-gain is used only with --seeds auto")
    jobs = plan(cfg, reg, "cpu")  # names and values are checked before torch is imported
    left_out = task_selection(cfg, reg)[1]
    for task, why in left_out:
        _say(f"bench: {task} left out: {why}")
    device_now = resolve_device(cfg.device)
    if device_now != "cpu":
        jobs = plan(cfg, reg, device_now)
    pending = {j.config_hash for j in pending_jobs(jobs, cfg.force)[0]}
    jobs = _with_progress(jobs, cfg, progress and sys.stderr.isatty(), len(pending))
    return Grid(cfg, reg, jobs, [j for j in jobs if j.config_hash in pending], left_out, progress)


def run(
    tasks: str | Iterable[str] | None = None,
    methods: str | Iterable[str] | None = None,
    *,
    suite: str | None = None,
    seeds: int | str | Iterable[int] | None = None,
    budgets: int | str | Iterable[int] | None = None,
    options: Mapping[str, Any] | None = None,
    sweep: Mapping[str, Any] | None = None,
    model: str | None = None,
    min_gain: float | None = None,
    results_dir: str | Path | None = None,
    workers: int | str | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
    device: str | None = None,
    force: bool | None = None,
    config: str | Path | None = None,
    sets: Iterable[str] = (),
    progress: bool = True,
) -> Results:
    """Run a grid as ``python -m bench run`` does and return its :class:`Results`.

    Every argument is the flag of the same name (``budgets`` is ``--budget``, ``methods``
    ``--method``, ``sets`` the ``--set KEY=VALUE`` strings); None leaves the setting to the
    ``config`` file, else to its default: the ``quick`` suite, 3 seeds, each task's default
    budget, every method (scratch always runs), ``./results``, one worker process per CPU core.

    - ``tasks``, ``methods``: ids and names (a list, or one comma-separated string).
    - ``seeds``: a number (``3`` is seeds 0, 1, 2), a list of seeds, or ``"auto"`` / ``"auto:MAX"``
      with ``min_gain`` (see ``--seeds auto`` in the README).
    - ``budgets``: one target budget or a list, in the task's unit.
    - ``options``: task options, e.g. ``{"target_steps": 300}``; ``model`` is ``options["model"]``.
    - ``sweep``: option -> values, e.g. ``{"target_steps": [50, 200]}``: one setting per value
      (every combination of several options).
    - ``force``: run again runs that have a record, and overwrite it.
    - ``progress``: progress bars on stderr.

    A bad name or value raises :class:`bench.errors.UsageError` before anything runs. A run that
    fails is recorded as failed and the grid goes on (``results.summary.failed``); interrupted,
    the same call resumes: runs with a record are skipped.
    """
    return prepare(tasks, methods, suite=suite, seeds=seeds, budgets=budgets, options=options, sweep=sweep,
                   model=model, min_gain=min_gain, results_dir=results_dir, workers=workers, executor=executor,
                   ray_address=ray_address, device=device, force=force, config=config, sets=sets,
                   progress=progress).run()
