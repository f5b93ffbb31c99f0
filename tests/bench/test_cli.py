"""The command line as a user meets it: real subprocesses, a real plugin distribution."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import bench_cli, make_plugin_site

TOY = "toy/Linear-v0"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--task", "toy/Linaer-v0"], "unknown task 'toy/Linaer-v0'; did you mean 'toy/Linear-v0'?"),
        (["run", "--task", TOY, "--method", "finetune"], "unknown method 'finetune'; did you mean 'fine-tune'"),
        (["run", "--suite", "quik"], "unknown suite 'quik'; did you mean 'quick'?"),
        (["run", "--task", TOY, "--set", "options.steps"], "--set 'options.steps' is not key=value"),
        (["run", "--task", TOY, "--sweep", "stepz=1,2"], "unknown task option 'stepz'; did you mean 'steps'"),
        (["run", "--task", TOY, "--sweep", "steps"], "--sweep 'steps' is not NAME=V1,V2,..."),
        (["run", "--task", TOY, "--sweep", "steps=10,many"], "option steps='many' for task toy/Linear-v0: expected"),
        (["run", "--task", TOY, "--set", "sweep.stepz=1,2"], "unknown task option 'stepz'; did you mean 'steps'"),
        (["run", "--task", TOY, "--sweep", "steps=1", "--sweep", "steps=2"], "'steps' is swept twice"),
        (["run", "--task", TOY, "--model", "some/model"],
         "--model 'some/model': no selected task has a 'model' option; tasks with one: crosslingual/"),
        (["run", "--task", TOY, "--set", "stepz=3"], "unknown config key 'stepz'"),
        (["run", "--task", TOY, "--set", "options.stepz=3"], "unknown task option 'stepz'; did you mean 'steps'"),
        (["run", "--task", TOY, "--seeds", "abc"], "--seeds 'abc' is not a number of seeds"),
        (["run", "--task", TOY, "--seeds", "0"], "the number of seeds must be at least 1"),
        (["run", "--task", TOY, "--budget", "5"], "budget 5 is not offered by task toy/Linear-v0; accepted"),
        (["run", "--task", TOY, "--workers", "0"], "config workers=0"),
        (["show", "deadbeef"], "no record file or config hash 'deadbeef'"),
        (["run", "--task", TOY, "--seeds", "99999999999", "--dry-run"], "at most 1000 seeds per grid"),
        (["leaderboard", "--task", "vision/Nope-v0"], "unknown task 'vision/Nope-v0'; did you mean"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(args, expected, with_site, tmp_path, capsys):
    """In process, through the same ``main`` the console script calls (an exception would fail the test)."""
    from bench.cli import main

    try:
        code = main([*args, "--results-dir", str(tmp_path)])
    except SystemExit as exc:  # argparse's own errors exit, as they do in the console script
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert expected in lines[0]


@pytest.mark.parametrize("args", [["run", "--task", "toy/Linaer-v0"], ["run", "--task", TOY, "--set", "options.steps"],
                                  ["show", "deadbeef"]])
def test_bad_input_in_a_real_process_is_one_line_exit_2(args, toy_site, tmp_path):
    proc = bench_cli(*args, "--results-dir", str(tmp_path), cwd=tmp_path, sites=(toy_site,))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr


def test_malformed_config_file_is_one_line(toy_site, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("seeds = [1, \n")
    proc = bench_cli("run", "--config", str(bad), cwd=tmp_path, sites=(toy_site,))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "is not valid TOML" in proc.stderr


def test_a_config_files_bad_value_names_the_file_and_key(with_site, tmp_path, capsys):
    from bench.cli import main

    config = tmp_path / "grid.toml"
    config.write_text('seeds = "a,b"\n')
    assert main(["run", "--task", TOY, "--config", str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"bench: error: --config {str(config)!r}: seeds 'a,b' is not a number of seeds (e.g. 3), a "
                   "comma-separated list (e.g. 0,1,2) or auto[:MAX]"]


def test_a_results_dir_that_cannot_hold_records_is_refused_before_any_run(with_site, tmp_path, capsys):
    from bench.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for target, why in ((blocker, "is a file, not a directory"), (blocker / "sub", "records cannot be written there")):
        assert main(["run", "--task", TOY, "--seeds", "1", "--results-dir", str(target)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and why in err[0] and str(target) in err[0], err
    assert blocker.read_text() == "not a directory"


def test_the_leaderboard_of_a_missing_results_dir_says_so(with_site, tmp_path, capsys):
    from bench.cli import main

    assert main(["leaderboard", "--results-dir", str(tmp_path / "typo")]) == 2
    assert capsys.readouterr().err.strip() == (f"bench: error: --results-dir {str(tmp_path / 'typo')!r} is not a "
                                               "directory (it does not exist)")


def test_list_is_lazy_and_shows_plugins(toy_site, tmp_path):
    code = (
        "import sys; from bench.cli import main; main(['list']);"
        "heavy = [m for m in ('torch', 'pybullet', 'transformers', 'sklearn') if m in sys.modules];"
        "print('HEAVY', heavy)"
    )
    env = dict(os.environ, PYTHONPATH=str(toy_site))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert "HEAVY []" in out
    assert "vision/SynthDigits-v0" in out and TOY in out and "ridge-oracle" in out
    assert "quick" in out and "toy" in out


def test_a_plugin_that_fails_to_import_is_one_line_and_the_rest_work(toy_site, tmp_path):
    broken = make_plugin_site(tmp_path / "broken", "broken_plugin",
                              {"transferbench.tasks": {"broken": "brokenmod:TASKS"}},
                              {"brokenmod": "import does_not_exist\n"})
    proc = bench_cli("list", "tasks", cwd=tmp_path, sites=(toy_site, broken))
    assert proc.returncode == 0
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "broken_plugin" in warnings[0] and "does_not_exist" in warnings[0]
    assert TOY in proc.stdout and "vision/SynthDigits-v0" in proc.stdout


def test_a_plugin_that_exits_on_import_is_one_line_and_the_rest_work(toy_site, tmp_path):
    exiting = make_plugin_site(tmp_path / "exiting", "exiting_plugin",
                               {"transferbench.tasks": {"exiting": "exitmod:TASKS"}},
                               {"exitmod": "raise SystemExit(3)\n"})
    proc = bench_cli("list", "tasks", cwd=tmp_path, sites=(toy_site, exiting))
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "exiting_plugin" in warnings[0] and "SystemExit" in warnings[0]
    assert TOY in proc.stdout


def test_a_duplicate_task_id_names_both_sources(toy_site, tmp_path):
    twin = make_plugin_site(tmp_path / "twin", "twin_plugin",
                            {"transferbench.tasks": {"twin": "toytask:TASKS"}}, {})
    proc = bench_cli("run", "--task", TOY, "--results-dir", str(tmp_path), cwd=tmp_path, sites=(toy_site, twin))
    assert proc.returncode == 2
    assert "registered twice" in proc.stderr and "toy_plugin" in proc.stderr and "twin_plugin" in proc.stderr


def test_run_prints_leaderboard_writes_files_and_exit_status_reports_failures(with_site, tmp_path, capsys):
    """In process, through the console script's ``main`` (the real-process paths are the bad-input tests')."""
    from bench.cli import main

    res = str(tmp_path / "res")
    code = main(["run", "--task", TOY, "--results-dir", res, "--set", "options.fail=zero-shot", "--seeds", "6",
                 "--workers", "1"])  # scratch's error varies too much for a verdict at 3 seeds
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "toy/Linear-v0 — budget 4 — mse (lower is better)" in out
    assert "(+6 failed)" in out and "run failed: toy/Linear-v0 zero-shot seed 0" in err
    assert (tmp_path / "res" / "leaderboard.md").exists() and (tmp_path / "res" / "leaderboard.png").exists()
    assert main(["leaderboard", "--results-dir", res, "--format", "json"]) == 0
    lb = json.loads(capsys.readouterr().out)
    rows = {r["method"]: r for r in lb["rows"]}
    assert rows["fine-tune"]["verdict"] == "better" and rows["ridge-oracle"]["role"] == "reference"


@pytest.mark.slow
def test_dry_run_prints_grid_and_estimate_and_runs_nothing(toy_site, tmp_path):
    proc = bench_cli("run", "--task", TOY, "--dry-run", "--results-dir", "res", cwd=tmp_path,
                     sites=(toy_site,), check=True)
    assert "12 runs, 12 to run, 0 already finished" in proc.stdout and "estimated" in proc.stdout
    assert not (tmp_path / "res").exists()


@pytest.mark.slow
def test_a_sweep_runs_every_value_and_the_dry_run_shows_it(toy_site, tmp_path):
    args = ("run", "--task", TOY, "--method", "fine-tune", "--seeds", "1", "--results-dir", "res",
            "--sweep", "steps=5,30", "--budget", "4,8")
    dry = bench_cli(*args, "--dry-run", cwd=tmp_path, sites=(toy_site,), check=True).stdout
    assert "8 runs, 8 to run" in dry and "sweep" in dry.splitlines()[0]
    assert sum("steps=5" in line for line in dry.splitlines()) == 4
    bench_cli(*args, cwd=tmp_path, sites=(toy_site,), check=True)
    records = [json.loads(p.read_text()) for p in (tmp_path / "res").rglob("seed-*.json")]
    steps = sorted(r["config"]["options"]["steps"] for r in records)
    assert steps == [5] * 4 + [30] * 4
    plots = tmp_path / "res" / "plots"
    assert (plots / "toy_Linear-v0-sweep-steps.png").is_file()
    assert (plots / "toy_Linear-v0-data-efficiency-steps_5.png").is_file()
    md = (tmp_path / "res" / "leaderboard.md").read_text()
    assert "(plots/toy_Linear-v0-sweep-steps.png)" in md and "scratch data to match" in md
    again = bench_cli(*args, "--dry-run", cwd=tmp_path, sites=(toy_site,), check=True).stdout
    assert "8 runs, 0 to run, 8 already finished" in again


def test_corrupt_and_foreign_files_are_reported_and_skipped(with_site, tmp_path, capsys):
    from record_factory import make_record

    from bench.store import ResultStore

    store = ResultStore(tmp_path / "res")
    for method, seed in (("scratch", 0), ("scratch", 1), ("fine-tune", 0)):
        r = make_record(task=TOY, method=method, role="scratch" if method == "scratch" else "transfer", seed=seed)
        path = store.path_for(r.task, r.method, r.seed, r.config_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(r.to_json())
    records = sorted((tmp_path / "res").rglob("seed-*.json"))
    records[0].write_text(records[0].read_text()[:100])
    (tmp_path / "res" / "notes.json").write_text('{"hello": "world"}')
    from bench.cli import main

    assert main(["leaderboard", "--results-dir", str(tmp_path / "res")]) == 0
    out, err = capsys.readouterr()
    assert err.count("skipped") == 2 and "not JSON" in err
    assert "not a transferbench record" in err
    assert "toy/Linear-v0" in out


def test_show_and_cite(with_site, tmp_path, capsys):
    from bench.cli import main

    assert main(["run", "--task", TOY, "--seeds", "1", "--workers", "1", "--results-dir", str(tmp_path / "res")]) == 0
    rec = json.loads(next((tmp_path / "res").rglob("fine-tune/seed-0-*.json")).read_text())
    capsys.readouterr()
    assert main(["show", rec["config_hash"][:10], "--results-dir", str(tmp_path / "res")]) == 0
    show = capsys.readouterr().out
    assert "fine-tune (transfer)  seed 0" in show and "mse=" in show and "harness" in show
    assert main(["cite", "--results-dir", str(tmp_path / "res")]) == 0
    cite = capsys.readouterr().out
    assert "@misc{transferbench" in cite and "@inproceedings{yosinski2014transferable" in cite
    assert "% git revision:" in cite and "% hardware:" in cite


@pytest.mark.slow
def test_killed_run_resumes_with_exactly_one_record_per_run(toy_site, tmp_path):
    """SIGKILL mid-grid, then the same command: every run recorded once, nothing half-written."""
    env = dict(os.environ, PYTHONPATH=str(toy_site))
    args = [sys.executable, "-m", "bench", "run", "--task", TOY, "--seeds", "4", "--workers", "2",
            "--results-dir", "res", "--set", "options.sleep=0.4", "--no-progress"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 60
    res = tmp_path / "res"
    while time.time() < deadline and len(list(res.rglob("seed-*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(res.rglob("seed-*.json")))
    assert 3 <= done_before < 16
    again = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    files = list(res.rglob("seed-*.json"))
    assert len(files) == 16
    keys = [(p.parent.name, p.name.split("-")[1]) for p in files]
    assert len(set(keys)) == 16
    assert f"{16 - done_before} run(s) made" in again.stderr
    assert not [p for p in res.rglob("*.tmp") if not p.name.startswith(".")]


def _records(res: Path) -> dict[tuple[str, str], list[Path]]:
    found: dict[tuple[str, str], list[Path]] = {}
    for p in res.rglob("seed-*.json"):
        found.setdefault((p.parent.name, p.name.split("-")[1]), []).append(p)
    return found


def _leftovers(res: Path, tmp: Path) -> list[Path]:
    """Temporary files a killed driver can leave: half-written records, unfinished artifact builds,
    claims folders in the temporary directory."""
    return [*(p for p in res.rglob("*.tmp")), *(p for p in (res / ".cache").rglob(".*") if p.is_dir()),
            *tmp.glob("transferbench-claims-*")]


@pytest.mark.slow
def test_a_grid_killed_at_ten_random_points_loses_and_doubles_nothing(toy_site, tmp_path):
    """SIGKILL of the driver's whole process group at 10 random moments (mid-run, mid-artifact-build,
    mid-write; every other trial with 2 workers), resuming each time: no finished record is lost or
    changed, no run is recorded twice, and the finished grid's metrics equal an uninterrupted run's."""
    import random

    tmp, pids = tmp_path / "tmp", tmp_path / "pids"
    tmp.mkdir()
    pids.mkdir()
    env = dict(os.environ, PYTHONPATH=str(toy_site), TMPDIR=str(tmp))
    grid = ["--task", TOY, "--seeds", "6", "--no-progress", "--set", "options.sleep=0.15",
            "--set", "options.build_sleep=0.4", "--set", f"options.pid_dir={pids}"]

    def command(results: str, workers: int) -> list[str]:
        return [sys.executable, "-m", "bench", "run", *grid, "--results-dir", results, "--workers", str(workers)]

    clean = subprocess.run(command("clean", 1), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    expected = {k: json.loads(v[0].read_text())["metrics"] for k, v in _records(tmp_path / "clean").items()}
    assert len(expected) == 24

    res = tmp_path / "res"
    rng = random.Random(20261201)
    kept: dict[Path, bytes] = {}
    left_behind = 0
    for trial in range(10):
        started = len(list(pids.iterdir()))
        proc = subprocess.Popen(command("res", 1 + trial % 2), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120
        while len(list(pids.iterdir())) == started and time.time() < deadline:  # imports take a while
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.8))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        found = _records(res)
        assert all(len(v) == 1 for v in found.values()), f"trial {trial}: a run recorded twice"
        for path, data in kept.items():
            assert path.read_bytes() == data, f"trial {trial}: {path} changed or lost"
        kept = {p: p.read_bytes() for v in found.values() for p in v}
        for data in kept.values():
            json.loads(data)  # whole, never half-written
        left_behind += len(_leftovers(res, tmp))
    assert left_behind, "no kill left anything behind: the trials tested no clean-up"
    assert 0 < len(kept) < 24, "the trials ended after the grid finished: nothing was interrupted at the end"

    final = subprocess.run(command("res", 2), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    found = _records(res)
    assert sorted(found) == sorted(expected)
    assert all(len(v) == 1 for v in found.values())
    assert {k: json.loads(v[0].read_text())["metrics"] for k, v in found.items()} == expected
    assert all(p.read_bytes() == data for p, data in kept.items())
    assert _leftovers(res, tmp) == []


@pytest.mark.slow
def test_readme_plugin_example_installs_with_pip_and_runs(tmp_path):
    """The README's 'add your own task' files, copied into a package, pip-installed for real."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    import re

    files = dict(re.findall(r"```\w+ file=(\S+)\n(.*?)```", readme, re.S))
    assert set(files) == {"pyproject.toml", "noisyline.py"}
    pkg = tmp_path / "noisyline"
    pkg.mkdir()
    for name, text in files.items():
        (pkg / name).write_text(text)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(pkg)], check=True, capture_output=True)
    listed = bench_cli("list", "tasks", cwd=tmp_path, sites=(site,), check=True)
    assert "toy/NoisyLine-v0" in listed.stdout
    ran = bench_cli("run", "--task", "toy/NoisyLine-v0", "--seeds", "10", "--results-dir", "res", cwd=tmp_path,
                    sites=(site,), check=True)
    assert "toy/NoisyLine-v0 — budget 5 — mse (lower is better)" in ran.stdout
    assert "fine-tune" in ran.stdout and "▲ better" in ran.stdout


@pytest.mark.slow
def test_stdout_carries_only_the_leaderboard_when_tasks_print(toy_site, tmp_path):
    proc = bench_cli("run", "--task", TOY, "--seeds", "2", "--results-dir", "res", "--format", "json",
                     "--set", "options.chatter=true", cwd=tmp_path, sites=(toy_site,), check=True)
    assert json.loads(proc.stdout)["rows"]
    assert "argv[0]=" in proc.stderr and "a stray print" in proc.stderr


def test_check_real_reports_each_pinned_repository_from_hub_metadata(with_site, tmp_path, capsys, monkeypatch):
    """Against saved metadata (the offline stand-in for the hub): ok, broken (exit 1), unreachable (one line)."""
    from bench.cli import main
    from tasks.hub import RepoInfo, SavedHub

    sha = "0123456789abcdef0123456789abcdef01234567"
    saved = SavedHub(tmp_path / "meta")
    saved.save(RepoInfo("model", "toy/linear-source", sha, sha, ("config.json", "model.safetensors")), aliases=["main"])
    monkeypatch.setenv("TRANSFERBENCH_HUB_METADATA", str(tmp_path / "meta"))
    assert main(["check-real", "--task", TOY]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [TOY, "  ok      model toy/linear-source@0123456"]
    assert "0 problem(s) in 1 task(s)" in err

    saved.save(RepoInfo("model", "toy/linear-source", sha, sha, ("config.json", "pytorch_model.bin")), aliases=["main"])
    assert main(["check-real", "--task", TOY]) == 1
    assert "  BROKEN  model toy/linear-source@0123456: no safetensors weights" in capsys.readouterr().out

    monkeypatch.setenv("TRANSFERBENCH_HUB_METADATA", str(tmp_path / "elsewhere"))
    assert main(["check-real", "--task", TOY]) == 1
    line = capsys.readouterr().out.splitlines()[1]
    assert line.startswith("  BROKEN  the hub: could not check: LookupError: model toy/linear-source: no revision")


def test_check_real_refuses_a_task_that_loads_nothing_from_a_hub(with_site, capsys):
    from bench.cli import main

    assert main(["check-real", "--task", "vision/SynthDigits-v0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "task vision/SynthDigits-v0 loads nothing from a hub; tasks with a check:" in err[0]


@pytest.fixture(params=["tmpfs", "injected"])
def full_disk(request, tmp_path, monkeypatch):
    """A results directory that fills up mid-grid: a 160 KiB tmpfs where this machine may mount one,
    else ENOSPC injected at the record write after 12 records."""
    root = tmp_path / "results"
    root.mkdir()
    if request.param == "tmpfs":
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(root)],
                          capture_output=True).returncode != 0:
            pytest.skip("cannot mount a tmpfs here; the injected case covers the same path")
        request.addfinalizer(lambda: subprocess.run(["umount", str(root)], capture_output=True))
    else:
        import errno

        import bench.store

        real, written = bench.store.atomic_write, []

        def filling(path, text):
            if path.suffix == ".json" and len(written) >= 12:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            written.append(path)
            real(path, text)

        monkeypatch.setattr(bench.store, "atomic_write", filling)
    return root


def test_a_full_disk_stops_the_grid_in_one_line_and_keeps_what_is_finished(with_site, full_disk, capsys):
    from bench.cli import main

    grid = ["run", "--task", TOY, "--seeds", "60", "--workers", "1", "--no-progress", "--results-dir", str(full_disk)]
    assert main(grid) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith(f"bench: error: no space left in {full_disk} to save the record of {TOY}")
    assert "bytes needed" in err[0] and "finished runs keep their records" in err[0]
    kept = list(full_disk.rglob("seed-*.json"))
    assert kept and all(json.loads(p.read_text())["status"] == "ok" for p in kept)
    assert not list(full_disk.rglob("*.tmp"))  # no half-written file left behind


@pytest.mark.slow  # two real drivers on a grid of runs that sleep
def test_two_drivers_on_one_grid_do_each_run_once(toy_site, tmp_path):
    """Started together on one results directory: every run made by exactly one of them, none twice."""
    import re

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(toy_site), os.environ.get("PYTHONPATH", "")]))
    grid = [sys.executable, "-m", "bench", "run", "--task", TOY, "--seeds", "4", "--workers", "1", "--no-progress",
            "--set", "options.sleep=0.3", "--results-dir", str(tmp_path / "results")]
    drivers = [subprocess.Popen(grid, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outs = [d.communicate(timeout=300) for d in drivers]
    assert all(d.returncode == 0 for d in drivers), outs
    made = [int(re.search(r"(\d+) run\(s\) made", err).group(1)) for _, err in outs]
    assert sum(made) == 16, outs
    records = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("seed-*.json")]
    assert len(records) == 16 and len({r["config_hash"] for r in records}) == 16
    assert [p.name for p in (tmp_path / "results" / ".holds").iterdir()] == [".lock"]  # nothing left held
    waiting = [err for (_, err), n in zip(outs, made, strict=True) if n < 16]
    assert any(re.search(r"\d+ left to another driver running them", err) for err in waiting), outs
