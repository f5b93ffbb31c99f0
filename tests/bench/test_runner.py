"""The grid: records, skips, failures, parallel workers, determinism, artifacts, overhead."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import toytask

from bench.config import RunConfig
from bench.errors import UsageError
from bench.methods import METHODS
from bench.registry import Registry
from bench.runner import ProcessExecutor, SerialExecutor, execute, make_executor, plan, run_grid
from bench.store import ResultStore


@pytest.fixture
def registry() -> Registry:
    return Registry.from_specs(toytask.TASKS, [*METHODS, *toytask.METHODS])


def config(tmp_path, **kw) -> RunConfig:
    return RunConfig(tasks=["toy/Linear-v0"], results_dir=tmp_path, **kw)


def test_plan_expands_the_grid_and_always_includes_scratch(registry, tmp_path):
    jobs = plan(config(tmp_path, methods=["fine-tune"], seeds=[0, 1], budgets=[4, 8]), registry, "cpu")
    assert sorted({(j.method, j.budget, j.seed) for j in jobs}) == [
        (m, b, s) for m in ("fine-tune", "scratch") for b in (4, 8) for s in (0, 1)
    ]
    assert len({j.config_hash for j in jobs}) == len(jobs)


def test_a_sweep_multiplies_the_grid_and_each_run_carries_its_value(registry, tmp_path):
    jobs = plan(config(tmp_path, methods=["fine-tune"], seeds=[0], sweep={"steps": [10, 20, 30]}), registry, "cpu")
    assert sorted((j.method, j.options["steps"]) for j in jobs) == [
        (m, v) for m in ("fine-tune", "scratch") for v in (10, 20, 30)]
    assert len({j.config_hash for j in jobs}) == 6
    assert all(j.config["options"]["steps"] == j.options["steps"] for j in jobs)


def test_a_swept_grid_records_each_value_and_resumes(registry, tmp_path):
    cfg = config(tmp_path, methods=["fine-tune"], seeds=[0, 1], sweep={"steps": [5, 30], "shift": [0.2, 0.5]})
    jobs = plan(cfg, registry, "cpu")
    assert len(jobs) == 2 * 2 * 2 * 2  # methods x steps x shift x seeds
    first = run_grid(jobs, SerialExecutor(), progress=False)
    assert len(first.ran) == 16 and not first.failed
    stored = ResultStore(tmp_path).load().records
    assert sorted({(r.config["options"]["steps"], r.config["options"]["shift"]) for r in stored}) == [
        (5, 0.2), (5, 0.5), (30, 0.2), (30, 0.5)]
    assert all(r.config_hash == next(j.config_hash for j in jobs if j.config == r.config) for r in stored)
    # the same sweep again skips everything, and a swept value is the same run as that value set alone
    assert len(run_grid(jobs, SerialExecutor(), progress=False).skipped) == 16
    plain = plan(config(tmp_path, methods=["fine-tune"], seeds=[0, 1], options={"shift": 0.5}), registry, "cpu")
    assert not run_grid(plain, SerialExecutor(), progress=False).ran


def test_sweep_values_that_resolve_alike_are_one_run(registry, tmp_path):
    jobs = plan(config(tmp_path, methods=["fine-tune"], seeds=[0], sweep={"shift": [1, 1.0, 2]}), registry, "cpu")
    assert sorted(j.options["shift"] for j in jobs if j.method == "scratch") == [1.0, 2.0]


def test_a_sweep_overrides_a_set_option(registry, tmp_path):
    jobs = plan(config(tmp_path, seeds=[0], options={"steps": 7}, sweep={"steps": [1, 2]}), registry, "cpu")
    assert {j.options["steps"] for j in jobs} == {1, 2}


def test_a_sweep_value_must_not_repeat(tmp_path):
    with pytest.raises(ValueError, match="repeats a value"):
        RunConfig(tasks=["toy/Linear-v0"], results_dir=tmp_path, sweep={"steps": [1, 1]})


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"tasks": ["toy/Linaer-v0"]}, "did you mean 'toy/Linear-v0'"),
        ({"methods": ["fine-tnue"]}, "did you mean 'fine-tune'"),
        ({"methods": ["linear-probe"]}, "no selected task implements method 'linear-probe'"),
        ({"budgets": [5]}, "budget 5 is not offered.*accepted \\(examples\\): 4, 8"),
        ({"options": {"stepz": 3}}, "unknown task option 'stepz'; did you mean 'steps'"),
        ({"options": {"steps": "many"}}, "option steps='many'.*expected int"),
        ({"suite": "quik", "tasks": []}, "unknown suite 'quik'"),
        ({"sweep": {"stepz": [1, 2]}}, "unknown task option 'stepz'; did you mean 'steps'"),
        ({"sweep": {"steps": [1, "many"]}}, "option steps='many'.*expected int like the default 30"),
        ({"sweep": {"chatter": [True, "yes"]}}, "option chatter='yes'.*expected bool"),
        ({"options": {"model": "x"}}, "unknown task option 'model'"),
    ],
)
def test_plan_rejects_bad_input_with_one_clear_message(registry, tmp_path, kw, match):
    base = {"tasks": ["toy/Linear-v0"], "results_dir": tmp_path} | kw
    with pytest.raises(UsageError, match=match):
        plan(RunConfig(**base), registry, "cpu")


def test_records_hold_everything_and_finished_runs_are_skipped(registry, tmp_path):
    jobs = plan(config(tmp_path, seeds=[0, 1]), registry, "cpu")
    first = run_grid(jobs, SerialExecutor(), progress=False)
    assert len(first.ran) == 8 and not first.failed and not first.skipped
    r = first.ran[0]
    assert r.status == "ok" and r.config["task_version"] == 0 and len(r.config_hash) == 64
    assert r.provenance.packages["numpy"] and r.provenance.hardware["cpu_cores"] >= 1
    assert r.timings.total_s >= r.timings.target_train_s > 0
    assert r.breakdowns["mse"].keys() == {"first half", "second half"}
    again = run_grid(jobs, SerialExecutor(), progress=False)
    assert not again.ran and len(again.skipped) == 8
    forced = run_grid(jobs[:2], SerialExecutor(), force=True, progress=False)
    assert len(forced.ran) == 2
    assert len(ResultStore(tmp_path).load().records) == 8


def test_a_changed_option_is_a_new_run_not_a_skip(registry, tmp_path):
    run_grid(plan(config(tmp_path, seeds=[0]), registry, "cpu"), SerialExecutor(), progress=False)
    changed = run_grid(plan(config(tmp_path, seeds=[0], options={"steps": 31}), registry, "cpu"),
                       SerialExecutor(), progress=False)
    assert len(changed.ran) == 4 and not changed.skipped


def test_a_failing_run_is_recorded_and_the_grid_goes_on(registry, tmp_path):
    jobs = plan(config(tmp_path, seeds=[0], options={"fail": "fine-tune"}), registry, "cpu")
    summary = run_grid(jobs, SerialExecutor(), progress=False)
    assert [r.method for r in summary.failed] == ["fine-tune"]
    failed = summary.failed[0]
    assert failed.metrics == {} and "RuntimeError: asked to fail in fine-tune" in failed.error
    assert sum(r.status == "ok" for r in summary.ran) == 3
    # a failed run is redone on the next run, and its record replaced
    retry = run_grid(jobs, SerialExecutor(), progress=False)
    assert [r.method for r in retry.ran] == ["fine-tune"]
    assert len(ResultStore(tmp_path).files()) == 4


def test_same_config_and_seed_give_identical_metrics(registry, tmp_path):
    job = plan(config(tmp_path, seeds=[3], methods=["fine-tune"]), registry, "cpu")[0]
    a, b = execute(job), execute(job)
    assert a.metrics == b.metrics and a.breakdowns == b.breakdowns and a.config_hash == b.config_hash


def test_source_artifact_is_built_once_and_shared(registry, tmp_path):
    jobs = [j for j in plan(config(tmp_path, seeds=[0]), registry, "cpu") if j.method in ("fine-tune", "zero-shot")]
    records = [execute(j) for j in jobs]
    hits = [r.artifacts[0]["hit"] for r in records]
    assert hits == [False, True]
    assert records[0].artifacts[0]["key_hash"] == records[1].artifacts[0]["key_hash"]
    meta = json.loads(next((tmp_path / ".cache" / "artifacts" / "toy-source").glob("*/artifact.json")).read_text())
    assert meta["key"] == {"seed": 0, "v": 0}


def test_process_workers_give_the_same_numbers_as_in_process(registry, tmp_path):
    jobs = plan(config(tmp_path / "a", seeds=[0, 1]), registry, "cpu")
    serial = {r.config_hash: r.metrics for r in run_grid(jobs, SerialExecutor(), progress=False).ran}
    jobs_b = plan(config(tmp_path / "b", seeds=[0, 1]), registry, "cpu")
    parallel = run_grid(jobs_b, ProcessExecutor(2), progress=False)
    assert {r.config_hash: r.metrics for r in parallel.ran} == serial


def test_a_crashing_worker_is_retried_then_recorded_failed(registry, tmp_path):
    jobs = plan(config(tmp_path, seeds=[0], options={"crash": "zero-shot"}), registry, "cpu")
    summary = run_grid(jobs, ProcessExecutor(2), progress=False)
    by_method = {r.method: r for r in summary.ran}
    assert len(summary.ran) == 4
    assert by_method["zero-shot"].status == "failed" and "worker process" in by_method["zero-shot"].error
    assert {m for m, r in by_method.items() if r.status == "ok"} >= {"scratch", "ridge-oracle"}


def test_overhead_is_measured_per_run_and_for_the_grid(registry, tmp_path):
    summary = run_grid(plan(config(tmp_path, seeds=[0, 1]), registry, "cpu"), SerialExecutor(), progress=False)
    for r in summary.ran:
        t = r.timings
        phases = t.setup_s + t.data_s + t.source_train_s + t.target_train_s + t.eval_s
        assert t.overhead_s == pytest.approx(t.total_s - phases, abs=1e-9)
    assert 0.0 <= summary.overhead_fraction <= 1.0


def _no_data() -> str:
    return "toy data not found in /nowhere: set TOY_DATA to a folder with it"


def test_a_suite_leaves_out_a_task_whose_data_is_missing_and_a_named_one_is_an_error(tmp_path):
    from dataclasses import replace

    from bench.runner import task_selection

    present = toytask.TASKS[0]
    missing = replace(present, id="toy/NeedsData-v0", data_check=f"{__name__}:_no_data")
    reg = Registry.from_specs([present, missing], [*METHODS, *toytask.METHODS])
    specs, left_out = task_selection(RunConfig(suite="toy", results_dir=tmp_path), reg)
    assert [s.id for s in specs] == ["toy/Linear-v0"]
    assert left_out == [("toy/NeedsData-v0", _no_data())]
    assert {j.spec.id for j in plan(RunConfig(suite="toy", results_dir=tmp_path), reg, "cpu")} == {"toy/Linear-v0"}
    with pytest.raises(UsageError, match="task toy/NeedsData-v0: toy data not found in /nowhere: set TOY_DATA"):
        plan(RunConfig(tasks=["toy/NeedsData-v0"], results_dir=tmp_path), reg, "cpu")



def _budget_check(options, budgets):
    big = [b for b in budgets if b > options["pool"]]
    pool = options["pool"]
    return f"budget {big[0]} is more than the pool's {pool} examples; accepted: 1-{pool}" if big else None


def test_a_plan_check_refuses_an_impossible_budget_before_anything_runs(tmp_path):
    from dataclasses import replace

    spec = replace(toytask.TASKS[0], options={**toytask.TASKS[0].options, "pool": 10},
                   plan_check=f"{__name__}:_budget_check")
    reg = Registry.from_specs([spec], [*METHODS, *toytask.METHODS])
    small = min(spec.budgets)
    assert plan(RunConfig(tasks=[spec.id], budgets=[small], results_dir=tmp_path), reg, "cpu")
    with pytest.raises(UsageError, match=rf"task {spec.id}: budget 8 is more than the pool's 7 examples"):
        plan(RunConfig(tasks=[spec.id], budgets=[4, 8], options={"pool": 7}, results_dir=tmp_path), reg, "cpu")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_drivers_claims_folder_is_removed_by_the_next_driver_and_a_live_ones_kept(registry, tmp_path,
                                                                                          workers):
    """By any next driver, one with a single worker too."""
    import signal
    import subprocess
    import sys

    code = ("import os, tempfile, time; print(tempfile.mkdtemp(prefix=f'transferbench-claims-{os.getpid()}-'), "
            "flush=True); time.sleep(120)")
    dead, live = (subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2))
    try:
        folders = [Path(p.stdout.readline().strip()) for p in (dead, live)]
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        assert all(f.is_dir() for f in folders)
        run_grid(plan(config(tmp_path, seeds=[0]), registry, "cpu"), make_executor(workers, 4), progress=False)
        assert not folders[0].exists() and folders[1].is_dir()
    finally:
        live.kill()
        live.wait()
        shutil.rmtree(folders[1], ignore_errors=True)


def test_workers_that_die_on_start_stop_the_grid_in_one_line_instead_of_retrying_forever(registry, tmp_path,
                                                                                        monkeypatch):
    """As when each worker fails to import what it needs, or imports a script that starts a grid."""
    import os

    from bench.errors import FaultError

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\nif os.environ.get('DIE_IN_WORKERS') and '--multiprocessing-fork' in sys.argv:\n"
        "    os._exit(3)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("DIE_IN_WORKERS", "1")
    jobs = plan(config(tmp_path, seeds=[0, 1]), registry, "cpu")
    with pytest.raises(FaultError, match=r"the worker processes died before starting any run, 3 pools in a row; "
                                         rf"{len(jobs)} run\(s\) not started \(try --workers 1"):
        list(ProcessExecutor(2).map(jobs))
