"""`bench compare A B`: two results directories side by side, per method B minus A with a verdict.

Real record files in two temporary results directories, read back through the command as a user
runs it (in process, through the console script's ``main``).
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from record_factory import make_record

from bench.cli import main
from bench.leaderboard.compare import B_BETTER, B_WORSE, NO_DIFFERENCE, TOO_FEW_SEEDS, compare_results
from bench.record import Record
from bench.stats import benjamini_hochberg
from bench.store import ResultStore

TOY = "toy/Linear-v0"  # installed by the with_site fixture: its spec says its seeds pair, and mse is lower-better


def on(record: Record, cpu: str | None = "AMD EPYC 7B13", cores: int = 2, rev: str | None = "1a2b3c4d5e6f",
       wall: float = 1.0) -> Record:
    """The record as if run at git revision ``rev`` on that hardware, taking ``wall`` seconds."""
    hardware = {"cpu": cpu, "cpu_cores": cores} if cpu else {}
    prov = record.provenance.model_copy(update={"hardware": hardware, "git_revision": rev, "git_dirty": False})
    return record.model_copy(update={"provenance": prov,
                                     "timings": record.timings.model_copy(update={"total_s": wall})})


def runs(method: str, scores, role: str = "transfer", seeds=None, *, cpu: str | None = "AMD EPYC 7B13",
         cores: int = 2, rev: str | None = "1a2b3c4d5e6f", wall: float = 1.0, **record) -> list[Record]:
    """One record per score (seeds 0, 1, ... unless given); ``record``: make_record's task, budget, options..."""
    seeds = range(len(scores)) if seeds is None else seeds
    return [on(make_record(method=method, role=role, seed=s, score=float(x), **record), cpu, cores, rev, wall)
            for s, x in zip(seeds, scores, strict=True)]


def write(root, records) -> str:
    store = ResultStore(root)
    for r in records:
        store.write(r)
    return str(root)


def compare(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(["compare", *args])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys, a: str, b: str, *more: str) -> dict:
    code, out, err = compare(capsys, a, b, "--format", "json", *more)
    assert code == 0, err
    return json.loads(out)


def methods(data: dict) -> dict[tuple[int, str], dict]:
    return {(t["budget"], m["method"]): m for t in data["settings"] for m in t["methods"]}


RNG = np.random.default_rng(7)
SEEDS = 6


def noisy(mean: float, sd: float = 0.01, n: int = SEEDS) -> np.ndarray:
    return mean + RNG.normal(0, sd, n)


@pytest.fixture
def two_sides(tmp_path):
    """A: scratch, fine-tune and zero-shot at 6 seeds; B: fine-tune 0.1 better, scratch unchanged (fresh noise),
    no zero-shot, and a budget A never ran."""
    a = write(tmp_path / "results-main", runs("scratch", noisy(0.70), role="scratch")
              + runs("fine-tune", noisy(0.80)) + runs("zero-shot", noisy(0.50)))
    b = write(tmp_path / "results-new", runs("scratch", noisy(0.70), role="scratch") + runs("fine-tune", noisy(0.90))
              + runs("scratch", noisy(0.75), role="scratch", budget=20))
    return a, b


def test_a_shifted_method_gets_a_verdict_and_an_interval_around_the_shift(two_sides, capsys):
    a, b = two_sides
    data = as_json(capsys, a, b)
    shifted, same = methods(data)[(5, "fine-tune")], methods(data)[(5, "scratch")]
    assert shifted["verdict"] == B_BETTER and shifted["test"] == "Welch t"  # t/T-v0 is not installed: no pairing
    lo, hi = shifted["ci"]
    assert 0 < lo < 0.1 < hi and shifted["difference"] == pytest.approx(0.1, abs=0.02)
    assert same["verdict"] == NO_DIFFERENCE and same["ci"][0] < 0 < same["ci"][1]
    assert same["a"]["seeds"] == same["b"]["seeds"] == SEEDS and same["a"]["mean"] == pytest.approx(0.70, abs=0.02)

    code, out, err = compare(capsys, a, b)
    assert code == 0 and err == ""
    assert out.startswith("transferbench comparison: B against A\n")
    assert f"A = {a} (rev 1a2b3c4; AMD EPYC 7B13 x2), 18 records" in out
    assert f"B = {b} (rev 1a2b3c4; AMD EPYC 7B13 x2), 18 records" in out
    assert "t/T-v0 — budget 5 — score (higher is better)" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("fine-tune"))
    assert "▲ B better" in line and "Welch t" in line and f"{shifted['difference']:+.3f}" in line
    assert "no significant difference" in next(ln for ln in out.splitlines() if ln.startswith("scratch"))
    assert "Welch's t-test (this task does not declare that its seeds pair)" in out
    assert "Verdicts hold the false discovery rate over this comparison's 2 tests at 5% (Benjamini-Hochberg)" in out


def test_what_only_one_side_ran_is_named_in_one_line_each(two_sides, capsys):
    a, b = two_sides
    out = compare(capsys, a, b)[1]
    assert "  only in A: method zero-shot (6 ok seeds)" in out.splitlines()
    assert "only in B: t/T-v0 — budget 20 (scratch; 6 ok runs)" in out.splitlines()
    assert not any(ln.startswith("zero-shot") for ln in out.splitlines())
    data = as_json(capsys, a, b)
    assert [(o["side"], o["budget"], o["methods"]) for o in data["only"]] == [("B", 20, ["scratch"])]
    assert [(o["side"], o["method"]) for o in data["settings"][0]["only"]] == [("A", "zero-shot")]


def test_better_follows_the_metric_direction(tmp_path, capsys):
    """Lower-is-better: B's lower loss is 'B better', its difference positive (signed as the leaderboard's gains)."""
    a = write(tmp_path / "a", runs("scratch", noisy(1.0), role="scratch", higher_is_better=False)
              + runs("fine-tune", noisy(0.8), higher_is_better=False))
    b = write(tmp_path / "b", runs("scratch", noisy(1.2), role="scratch", higher_is_better=False)
              + runs("fine-tune", noisy(0.6), higher_is_better=False))
    m = methods(as_json(capsys, a, b))
    lo, hi = m[(5, "fine-tune")]["ci"]
    assert m[(5, "fine-tune")]["verdict"] == B_BETTER and 0 < lo < 0.2 < hi
    assert m[(5, "scratch")]["verdict"] == B_WORSE and m[(5, "scratch")]["difference"] == pytest.approx(-0.2, abs=0.02)
    assert "A's mean minus B's (score is lower-better: + where B's is lower)" in compare(capsys, a, b)[1]


def test_a_task_whose_seeds_pair_is_compared_seed_by_seed(with_site, tmp_path, capsys):
    """Each seed's luck (sd 0.1) is shared by A and B; B is 0.03 lower (better) with 0.005 noise of its own.
    Paired, the shift is found; Welch's test, where B ran other seeds, cannot see it through the luck."""
    luck = RNG.normal(0, 0.1, SEEDS)
    a_scores = 1.0 + luck
    b_scores = a_scores - 0.03 + RNG.normal(0, 0.005, SEEDS)
    kw = {"task": TOY, "higher_is_better": False}
    a = write(tmp_path / "a", runs("scratch", a_scores, role="scratch", **kw) + runs("fine-tune", a_scores, **kw))
    b = write(tmp_path / "b", runs("scratch", b_scores, role="scratch", **kw)
              + runs("fine-tune", b_scores[:4], seeds=[0, 1, 2, 6], **kw))
    data = as_json(capsys, a, b)
    paired, unpaired = methods(data)[(5, "scratch")], methods(data)[(5, "fine-tune")]
    assert paired["test"] == "paired t" and paired["verdict"] == B_BETTER
    assert paired["ci"][0] < 0.03 < paired["ci"][1] and paired["ci"][0] > 0
    assert unpaired["test"] == "Welch t" and unpaired["verdict"] == NO_DIFFERENCE
    assert unpaired["not_paired_because"] == "A ran seeds 0-5, B 0-2, 6"
    out = compare(capsys, a, b)[1]
    assert ("paired t-test over seeds where both sides ran the same ones (this task's seeds pair), else Welch's: "
            "fine-tune (A ran seeds 0-5, B 0-2, 6)") in out


def test_two_seeds_on_a_side_give_an_interval_and_no_verdict(tmp_path, capsys):
    a = write(tmp_path / "a", runs("scratch", noisy(0.5), role="scratch"))
    b = write(tmp_path / "b", runs("scratch", noisy(0.9, n=2), role="scratch"))
    m = methods(as_json(capsys, a, b))[(5, "scratch")]
    assert m["verdict"] == TOO_FEW_SEEDS and m["ci"] is not None and m["p"] is not None
    out = compare(capsys, a, b)[1]
    assert "too few seeds" in out and "false discovery rate" not in out  # one test: nothing to correct


def test_verdicts_hold_the_false_discovery_rate_over_all_cells(tmp_path, capsys):
    """Twelve methods over two settings, three really shifted: the verdicts are Benjamini-Hochberg's decisions."""
    a_recs, b_recs = [], []
    for budget in (5, 20):
        for i in range(6):
            shift = 0.05 if i < 2 and budget == 5 or i == 0 and budget == 20 else 0.0
            a_recs += runs(f"m{i}", noisy(0.5, 0.03), budget=budget)
            b_recs += runs(f"m{i}", noisy(0.5 + shift, 0.03), budget=budget)
    data = as_json(capsys, write(tmp_path / "a", a_recs), write(tmp_path / "b", b_recs))
    cells = [m for t in data["settings"] for m in t["methods"]]
    assert data["tests"] == 12 == len(cells)
    rejected = benjamini_hochberg([m["p"] for m in cells])
    assert [m["verdict"] in (B_BETTER, B_WORSE) for m in cells] == rejected
    assert all(m["significant_uncorrected"] == (m["p"] < 0.05) for m in cells)


def test_several_settings_at_one_budget_are_named_by_the_options_that_differ(tmp_path, capsys):
    a = write(tmp_path / "a", runs("scratch", noisy(0.5), role="scratch", options={"lr": 0.1, "steps": 10})
              + runs("scratch", noisy(0.6), role="scratch", options={"lr": 0.01, "steps": 10}))
    b = write(tmp_path / "b", runs("scratch", noisy(0.5), role="scratch", options={"lr": 0.1, "steps": 10})
              + runs("scratch", noisy(0.6), role="scratch", options={"lr": 0.001, "steps": 10}))
    out = compare(capsys, a, b)[1]
    titles = [ln for ln in out.splitlines() if ln.startswith("t/T-v0 — budget 5, lr=")]
    assert len(titles) == 1 and titles[0].startswith("t/T-v0 — budget 5, lr=0.1 (options ")
    assert "steps" not in titles[0]
    assert any(ln.startswith("only in A: t/T-v0 — budget 5, lr=0.01 (options ") for ln in out.splitlines())
    assert any(ln.startswith("only in B: t/T-v0 — budget 5, lr=0.001 (options ") for ln in out.splitlines())


def test_provenance_names_each_side_and_wall_time_is_compared_on_the_same_hardware_only(tmp_path, capsys):
    a = write(tmp_path / "a", runs("scratch", noisy(0.5), role="scratch", wall=2.0)
              + runs("fine-tune", noisy(0.6), wall=4.0))
    mixed = (runs("scratch", noisy(0.5), role="scratch", wall=1.0, rev="5d6e7f8a9b")
             + runs("fine-tune", noisy(0.6)[:3], wall=3.0, cpu="Intel Xeon 8480", cores=64)
             + runs("fine-tune", noisy(0.6)[:3], seeds=[3, 4, 5], wall=3.0))
    b = write(tmp_path / "b", mixed)
    out = compare(capsys, a, b)[1]
    assert f"A = {a} (rev 1a2b3c4; AMD EPYC 7B13 x2), 12 records" in out
    assert f"B = {b} (2 revisions: 1a2b3c4, 5d6e7f8; 2 kinds of hardware: AMD EPYC 7B13 x2, Intel Xeon 8480 x64)" in out
    assert "B's records mix 2 git revisions (1a2b3c4: 6 runs, 5d6e7f8: 6 runs): each mean pools them" in out
    assert "B's records mix 2 kinds of hardware (AMD EPYC 7B13 x2: 9 runs, Intel Xeon 8480 x64: 3 runs)" in out
    assert "A's records mix" not in out
    data = methods(as_json(capsys, a, b))
    assert data[(5, "scratch")]["wall_compared"] and data[(5, "scratch")]["wall_ratio"] == pytest.approx(0.5)
    assert not data[(5, "fine-tune")]["wall_compared"] and data[(5, "fine-tune")]["wall_ratio"] is None
    assert data[(5, "fine-tune")]["b"]["wall_s"] == pytest.approx(3.0)
    assert "0.50x" in next(ln for ln in out.splitlines() if ln.startswith("scratch"))
    assert ("wall time not compared for fine-tune: not one and the same known hardware on both sides "
            "(A: AMD EPYC 7B13 x2; B: AMD EPYC 7B13 x2; Intel Xeon 8480 x64)") in out


def test_records_without_hardware_are_never_compared_on_cost(tmp_path, capsys):
    a = write(tmp_path / "a", runs("scratch", noisy(0.5), role="scratch", cpu=None, rev=None))
    b = write(tmp_path / "b", runs("scratch", noisy(0.5), role="scratch", cpu=None, rev=None))
    out = compare(capsys, a, b)[1]
    assert f"A = {a} (rev unknown; unknown hardware), 6 records" in out
    assert "wall time not compared for all methods" in out


@pytest.mark.parametrize("fmt", ["md", "csv", "json", "table"])
def test_every_format_renders_and_results_dir_may_be_repeated(two_sides, fmt, capsys):
    a, b = two_sides
    code, out, err = compare(capsys, "--results-dir", a, "--results-dir", b, "--format", fmt)
    assert code == 0, err
    if fmt == "md":
        assert out.startswith("# transferbench comparison: B against A") and "| fine-tune | transfer |" in out
        assert "- only in A: method zero-shot (6 ok seeds)" in out
    elif fmt == "csv":
        lines = list(csv.DictReader(io.StringIO(out)))
        both = {ln["method"]: ln for ln in lines if ln["in"] == "both"}
        assert both["fine-tune"]["verdict"] == B_BETTER and float(both["fine-tune"]["ci_low"]) > 0
        assert {(ln["method"], ln["in"], ln["budget"]) for ln in lines if ln["in"] != "both"} == {
            ("zero-shot", "A", "5"), ("scratch", "B", "20")}
    elif fmt == "json":
        assert json.loads(out)["a"]["path"] == a
    else:
        assert "fine-tune" in out


def test_task_selects_and_an_unknown_task_is_one_line(two_sides, tmp_path, capsys):
    a, b = two_sides
    other = runs("scratch", noisy(0.5), role="scratch", task="u/U-v0")
    write(tmp_path / "results-main", other)
    write(tmp_path / "results-new", other)
    assert "u/U-v0" in compare(capsys, a, b)[1]
    code, out, err = compare(capsys, a, b, "--task", "u/U-v0")
    assert code == 0 and "u/U-v0" in out and "t/T-v0" not in out
    code, out, err = compare(capsys, a, b, "--task", "u/V-v0")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("bench: error: unknown task 'u/V-v0'; did you mean 'u/U-v0'")


@pytest.mark.parametrize(("case", "expected"), [
    ("missing", "results directory B '{tmp}/typo' does not exist; give two results directories: bench compare"),
    ("file", "results directory B '{tmp}/file.txt' is a file, not a directory"),
    ("empty", "results directory B '{tmp}/empty' holds no records; give a directory that `bench run"),
    ("junk", "results directory B '{tmp}/junk' holds no records (1 file(s) skipped as not valid records)"),
    ("same", "A and B are the same directory"),
    ("one", "1 results directory given; give two results directories"),
    ("three", "3 results directories given; give two results directories"),
])
def test_bad_input_is_one_line_exit_2(two_sides, tmp_path, capsys, case, expected):
    a, b = two_sides
    (tmp_path / "file.txt").write_text("not a directory")
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.json").write_text("{}")
    args = {"missing": [a, str(tmp_path / "typo")], "file": [a, str(tmp_path / "file.txt")],
            "empty": [a, str(tmp_path / "empty")], "junk": [a, str(tmp_path / "junk")],
            "same": [a, f"{a}/./"], "one": [a], "three": [a, b, a]}[case]
    code, out, err = compare(capsys, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bench: error: ") and expected.format(tmp=tmp_path) in lines[0]


def test_skipped_files_are_warnings_and_listed(two_sides, tmp_path, capsys):
    a, b = two_sides
    (tmp_path / "results-new" / "broken.json").write_text("{not json")
    code, out, err = compare(capsys, a, b)
    assert code == 0 and err.startswith("bench: warning: B: skipped ") and "Skipped files:\n- B: skipped " in out


def test_the_computation_is_a_function_of_records(two_sides):
    a, b = (ResultStore(d).load().records for d in two_sides)
    c = compare_results(a, b, a_path="x", b_path="y")
    assert (c.a.path, c.b.path, c.tests) == ("x", "y", 2)
    assert [m.method for m in c.settings[0].methods] == ["scratch", "fine-tune"]
    same = compare_results(a, a)
    assert {m.verdict for t in same.settings for m in t.methods} == {NO_DIFFERENCE}
