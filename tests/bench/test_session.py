"""The Python API (bench.run, bench.load, Results): the CLI's settings and checks, typed records and DataFrames."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bench
from bench import session
from bench.errors import UsageError

TOY = "toy/Linear-v0"
README = Path(__file__).parents[2] / "README.md"


def _toy_grid(results: Path, **kw):
    kw = {"methods": ["fine-tune"], "seeds": 3, "budgets": [4, 8], "sweep": {"shift": [0.2, 0.5]}, "workers": 1,
          "device": "cpu", "progress": False, **kw}
    return bench.run(TOY, results_dir=results, **kw)


@pytest.fixture(scope="module")
def toy_results(toy_site: Path, tmp_path_factory: pytest.TempPathFactory):
    """One toy grid run from Python, shared: 2 methods (scratch always runs) x 3 seeds x 2 budgets x 2 shifts."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(toy_site))
        yield _toy_grid(tmp_path_factory.mktemp("grid") / "res")


def test_a_grid_from_python_gives_typed_records_and_dataframes_with_options_as_columns(toy_results):
    res = toy_results
    assert len(res.summary.ran) == 24 and not res.summary.failed and not res.summary.skipped
    assert len(res.records) == 24 and {type(r).__name__ for r in res.records} == {"Record"}
    assert res.config.sweep == {"shift": [0.2, 0.5]} and res.config.seeds == [0, 1, 2]
    assert (res.results_dir / "leaderboard.md").is_file()  # as bench run writes it
    assert "24 records; this run: 24 made, 0 failed, 0 skipped" in repr(res)

    runs = res.records_frame()
    assert len(runs) == 24
    for column in ("task", "method", "role", "seed", "budget", "status", "config_hash", "score", "mse", "total_s",
                   "target_train_s", "peak_rss_mb", "cpu", "cpu_cores", "device", "shift", "steps"):
        assert column in runs.columns, column
    assert sorted(runs["shift"].unique()) == [0.2, 0.5] and set(runs["steps"]) == {30}
    by_hash = {r.config_hash: r for r in res.records}
    for line in runs.itertuples():
        r = by_hash[line.config_hash]
        assert (line.task, line.method, line.seed, line.budget) == (r.task, r.method, r.seed, r.budget)
        assert line.mse == r.metrics["mse"] == line.score and line.shift == r.config["options"]["shift"]
    assert runs["score"].dtype.kind == "f" and runs["total_s"].dtype.kind == "f"
    assert list(runs["method"][:4]) == ["scratch"] * 3 + ["fine-tune"]  # a setting's runs together, scratch first
    assert list(runs["seed"][:3]) == [0, 1, 2]

    board = res.leaderboard_frame()
    assert len(board) == len(res.leaderboard.rows) == 8  # 2 methods x 2 budgets x 2 shifts
    for column in ("task", "budget", "method", "role", "seeds", "mean", "ci_low", "ci_high", "gain", "gain_ci_low",
                   "gain_ci_high", "verdict", "p", "wall_s", "setting", "options_hash", "shift", "steps"):
        assert column in board.columns, column
    assert board["ci_low"].dtype.kind == "f" and board["ci_high"].dtype.kind == "f"
    assert (board["ci_low"] < board["mean"]).all() and (board["mean"] < board["ci_high"]).all()
    assert board["options_hash"].str.fullmatch(r"[0-9a-f]{8}").all()
    assert set(board["setting"]) == {"shift=0.2", "shift=0.5"}  # named by the option that sets it apart
    # each row's option values are its records' options, and its mean their mean
    for line in board.itertuples():
        mine = runs[(runs.method == line.method) & (runs.budget == line.budget) & (runs["shift"] == line.shift)]
        assert len(mine) == line.seeds == 3
        assert math.isclose(mine["mse"].mean(), line.mean)
    fine = board[board.method == "fine-tune"]
    assert fine["gain"].notna().all() and fine["verdict"].isin(["better", "negative transfer", "n.s."]).all()
    assert board[board.method == "scratch"]["gain"].isna().all()


def test_load_reads_the_same_results_and_the_same_call_resumes(toy_results, with_site):
    loaded = bench.load(toy_results.results_dir)
    assert loaded.summary is None and not loaded.problems
    assert loaded.records_frame().equals(toy_results.records_frame())
    assert loaded.leaderboard_frame().equals(toy_results.leaderboard_frame())
    assert len(bench.load(str(toy_results.results_dir), tasks=TOY).records) == 24
    with pytest.raises(UsageError, match="unknown task 'toy/Linaer-v0'; did you mean 'toy/Linear-v0'"):
        bench.load(toy_results.results_dir, tasks="toy/Linaer-v0")

    again = _toy_grid(toy_results.results_dir)
    assert not again.summary.ran and len(again.summary.skipped) == 24
    assert again.records_frame()["config_hash"].tolist() == toy_results.records_frame()["config_hash"].tolist()


def test_failed_runs_are_rows_without_a_score(with_site, tmp_path):
    res = bench.run(TOY, "fine-tune", seeds=2, options={"fail": "fine-tune"}, results_dir=tmp_path, workers=1,
                    device="cpu", progress=False)
    assert len(res.summary.failed) == 2
    runs = res.records_frame()
    failed = runs[runs.status == "failed"]
    assert len(failed) == 2 and failed["score"].isna().all() and failed["mse"].isna().all()
    assert failed["error"].str.contains("asked to fail in fine-tune").all()
    board = res.leaderboard_frame()
    assert board.set_index("method").loc["fine-tune", "failed"] == 2


def test_load_of_nothing_gives_empty_frames_with_their_columns(with_site, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./results yet: nothing recorded, not an error
    res = bench.load()
    assert res.records == [] and len(res.records_frame()) == 0 and len(res.leaderboard_frame()) == 0
    assert {"task", "method", "seed", "status", "score"} <= set(res.records_frame().columns)
    assert {"task", "method", "mean", "ci_low", "ci_high", "setting"} <= set(res.leaderboard_frame().columns)
    with pytest.raises(UsageError, match=r"--results-dir '.*typo' is not a directory \(it does not exist\)"):
        bench.load(tmp_path / "typo")


@pytest.mark.parametrize(("kwargs", "flags"), [
    ({"seeds": 0}, ["--seeds", "0"]),
    ({"seeds": "auto:2"}, ["--seeds", "auto:2"]),
    ({"budgets": 5}, ["--budget", "5"]),
    ({"budgets": "4,x"}, ["--budget", "4,x"]),
    ({"methods": "finetune"}, ["--method", "finetune"]),
    ({"options": {"stepz": 3}}, ["--set", "options.stepz=3"]),
    ({"sweep": {"steps": [10, "many"]}}, ["--sweep", "steps=10,many"]),
    ({"sweep": {"steps": "10,many"}}, ["--sweep", "steps=10,many"]),
    ({"workers": 0}, ["--workers", "0"]),
    ({"min_gain": -1}, ["--min-gain", "-1"]),
    ({"model": "some/model"}, ["--model", "some/model"]),
    ({"sets": ["stepz=3"]}, ["--set", "stepz=3"]),
])
def test_bad_values_raise_the_one_line_the_cli_prints(kwargs, flags, with_site, tmp_path, capsys):
    from bench.cli import main

    with pytest.raises(UsageError) as raised:
        bench.run(TOY, results_dir=tmp_path, **kwargs)
    capsys.readouterr()
    try:
        code = main(["run", "--task", TOY, "--results-dir", str(tmp_path), *flags])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and str(raised.value) in err, (str(raised.value), err)
    assert not list(tmp_path.rglob("*.json"))  # nothing ran


def test_a_config_file_and_sets_resolve_as_on_the_command_line(with_site, tmp_path):
    config = tmp_path / "grid.toml"
    config.write_text('seeds = 2\nbudgets = [8]\n\n[options]\nsteps = 5\n')
    grid = session.prepare(TOY, "fine-tune", config=config, seeds=[0, 4], sets=["options.steps=7"],
                                 device="cpu", results_dir=tmp_path)
    assert grid.config.seeds == [0, 4] and grid.config.budgets == [8]  # arguments over the file
    assert {j.options["steps"] for j in grid.jobs} == {7}  # sets over both
    assert len(grid.jobs) == len(grid.todo) == 4 and not list(tmp_path.rglob("*.json"))
    one = session.prepare(TOY, seeds=[5], device="cpu", results_dir=tmp_path)
    assert {j.seed for j in one.jobs} == {5}  # one seed by its number, not five seeds


def _script(path: Path, text: str, site: Path) -> subprocess.CompletedProcess[str]:
    path.write_text(text)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(path)], cwd=path.parent, env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_script_calling_run_outside_its_main_guard_is_refused_before_anything_runs(toy_site, tmp_path):
    """Spawned workers import the main script again: a top-level bench.run() would start the grid in each."""
    grid = f"bench.run({TOY!r}, 'fine-tune', seeds=1, workers=2, device='cpu', results_dir='res', progress=False)"
    proc = _script(tmp_path / "bare.py", f"import bench\n\nres = {grid}\n", toy_site)
    assert proc.returncode == 1 and not (tmp_path / "res").exists(), proc.stderr
    assert (f"UsageError: bench.run() from line 3 of {tmp_path / 'bare.py'}, which is not under "
            '`if __name__ == "__main__":`') in proc.stderr


def test_a_worker_importing_a_script_that_calls_run_says_why_it_fails(toy_site, tmp_path):
    text = ("import multiprocessing as mp\nimport bench\n\n"
            f"if __name__ == '__mp_main__':  # a spawned process importing this script\n    bench.run({TOY!r})\n"
            "if __name__ == '__main__':\n"
            "    p = mp.get_context('spawn').Process(target=print)\n"
            "    p.start(); p.join(); print('exit', p.exitcode)\n")
    proc = _script(tmp_path / "child.py", text, toy_site)
    assert "exit 1" in proc.stdout, proc.stderr
    assert ('bench.run() was called by a worker process importing your script: in a script, call it under '
            '`if __name__ == "__main__":`') in proc.stderr


@pytest.mark.slow  # worker processes
def test_a_script_calling_run_under_its_main_guard_runs_with_workers(toy_site, tmp_path):
    text = ("import bench\n\ndef main():\n"
            f"    return bench.run({TOY!r}, 'fine-tune', seeds=2, workers=2, results_dir='res', progress=False)\n\n"
            "if __name__ == '__main__':\n    print(main())\n")
    proc = _script(tmp_path / "guarded.py", text, toy_site)
    assert proc.returncode == 0 and "4 made, 0 failed" in proc.stdout, proc.stderr


def _readme_python_example() -> str:
    text = README.read_text()
    section = text[text.index("\n### From Python\n"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # the section's first Python block


@pytest.mark.slow  # a real grid on a real task: 108 CPU seconds, about a minute on two free cores
def test_the_readme_example_runs_a_grid_and_shows_the_dataframes(tmp_path):
    code = _readme_python_example()
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "target_steps" in out and "accuracy" in out and "ci_low" in out and "verdict" in out
    loaded = bench.load(tmp_path / "results")
    runs = loaded.records_frame()
    assert len(runs) == len(loaded.records) > 0 and (runs["status"] == "ok").all()
    assert runs["target_steps"].nunique() == 2
    board = loaded.leaderboard_frame()
    for value in board["mean"]:
        assert f"{value:.6f}"[:5] in out  # the printed frame is the loaded one
