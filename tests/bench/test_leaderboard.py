"""The leaderboard from records: verdicts, direction, references, formats, plots, task columns and links."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import replace

import numpy as np
import pytest
from record_factory import make_record

from bench.api import Reference, TaskSpec
from bench.leaderboard import (
    BETTER,
    NEGATIVE,
    NS,
    WORSE,
    budget_to_reach,
    build,
    data_efficiency,
    data_saved,
    render,
    robustness,
    sweeps,
    write_files,
)
from bench.record import Timings
from bench.stats import mean_ci


def recs(method, scores, role="transfer", task="t/T-v0", higher=True, **kw):
    return [make_record(task=task, method=method, role=role, seed=i, score=s, higher_is_better=higher, **kw)
            for i, s in enumerate(scores)]


def rows(lb):
    return {r.method: r for r in lb.rows}


def test_verdicts_better_negative_and_no_significant_difference():
    lb = build(recs("scratch", [0.80, 0.81, 0.79], role="scratch") + recs("fine-tune", [0.90, 0.91, 0.92])
               + recs("zero-shot", [0.50, 0.55, 0.52]) + recs("linear-probe", [0.78, 0.83, 0.80]))
    r = rows(lb)
    assert r["fine-tune"].verdict == BETTER and r["fine-tune"].gain == pytest.approx(0.11)
    assert r["zero-shot"].verdict == NEGATIVE and r["zero-shot"].gain < 0
    assert r["linear-probe"].verdict == NS
    assert r["scratch"].gain is None and r["scratch"].verdict == ""
    assert [a.method for a in lb.aggregates] == ["fine-tune", "linear-probe", "zero-shot"]


def test_lower_is_better_flips_the_sign():
    lb = build(recs("scratch", [1.0, 1.1, 0.9], role="scratch", higher=False)
               + recs("fine-tune", [0.5, 0.4, 0.6], higher=False))
    assert rows(lb)["fine-tune"].gain == pytest.approx(0.5) and rows(lb)["fine-tune"].verdict == BETTER


def test_reference_rows_are_shown_but_not_ranked():
    lb = build(recs("scratch", [0.8, 0.8, 0.81], role="scratch") + recs("oracle", [0.99, 0.98, 0.99], role="reference")
               + recs("fine-tune", [0.9, 0.9, 0.91]))
    assert "oracle" in rows(lb) and "oracle" not in [a.method for a in lb.aggregates]
    assert rows(lb)["oracle"].gain == pytest.approx(0.1833, abs=1e-3) and rows(lb)["oracle"].verdict == ""
    assert "reference (not ranked)" in render(lb, "table")


def test_the_aggregate_uses_one_normalization_whatever_ceiling_a_task_names():
    spec = TaskSpec(id="t/T-v0", entry_point="m:X", summary="", source="", target="", metric="score",
                    budgets=(5,), default_budget=5, methods=("scratch", "fine-tune", "oracle"),
                    reference_method="oracle",
                    references=(Reference("fine-tune", 0.95, "doe2020", protocol="ResNet-50"),))
    lb = build(recs("scratch", [0.5, 0.5, 0.5], role="scratch") + recs("oracle", [0.9, 0.9, 0.9], role="reference")
               + recs("fine-tune", [0.75, 0.75, 0.75]), {"t/T-v0": spec})
    assert lb.aggregates[0].iqm == pytest.approx(0.5)  # (0.75 - 0.5) / 0.5, not (0.75 - 0.5) / (0.9 - 0.5)
    assert lb.aggregates[0].p_improve == 1.0
    assert "(method - scratch's mean) / |scratch's mean|" in lb.normalization
    text = render(lb, "table")
    assert ("published fine-tune: 0.95 (doe2020), ours 0.750 (ours − published -0.200 [-0.200, -0.200]); "
            "protocol: ResNet-50") in text


def test_a_reference_shows_only_beside_the_setting_it_was_published_in():
    ref = Reference("fine-tune", 0.95, "doe2020", options={"model": "big"}, budget=5)
    spec_ = TaskSpec(id="t/T-v0", entry_point="m:X", summary="", source="", target="", metric="score",
                     budgets=(1, 5), default_budget=5, methods=("scratch", "fine-tune"), references=(ref,))
    records = [make_record(method=m, role="scratch" if m == "scratch" else "transfer", seed=s, score=0.5 + s / 100,
                           budget=b, options={"model": model})
               for m in ("scratch", "fine-tune") for s in range(3) for b in (1, 5) for model in ("big", "small")]
    text = render(build(records, {"t/T-v0": spec_}), "table")
    shown = [x for x in text.splitlines() if x.strip().startswith("published fine-tune")]
    assert len(shown) == 1 and "ours 0.510" in shown[0]  # budget 5 with model=big, and nowhere else
    assert text.count("published results of other settings not shown here: model=big, budget 5") == 3


def test_failed_runs_are_counted_not_averaged():
    r = recs("scratch", [0.8, 0.82], role="scratch") + [make_record(method="scratch", role="scratch", seed=9,
                                                                     score=None)]
    row = rows(build(r))["scratch"]
    assert row.seeds == 2 and row.failed == 1 and row.mean == pytest.approx(0.81)


def test_settings_with_other_budgets_are_separate_tables():
    lb = build(recs("scratch", [0.8, 0.8], role="scratch", budget=5) + recs("scratch", [0.9, 0.9], role="scratch",
                                                                            budget=10))
    assert [(t, b) for t, b, _ in lb.settings()] == [("t/T-v0", 5), ("t/T-v0", 10)]


@pytest.mark.parametrize("fmt", ["table", "md", "csv", "latex", "json"])
def test_every_format_renders(fmt):
    lb = build(recs("scratch", [0.8, 0.81, 0.79], role="scratch") + recs("fine-tune", [0.9, 0.91, 0.92]))
    out = render(lb, fmt)
    assert "fine-tune" in out
    if fmt == "json":
        assert json.loads(out)["rows"][1]["verdict"] == BETTER
    if fmt == "latex":
        assert "\\begin{tabular}" in out


def test_markdown_and_plot_files(tmp_path):
    lb = build(recs("scratch", [0.8, 0.81, 0.79], role="scratch") + recs("fine-tune", [0.9, 0.91, 0.92]))
    written = write_files(lb, tmp_path)
    assert {p.name for p in written} == {"leaderboard.md", "leaderboard.png", "t_T-v0.png"}
    assert (tmp_path / "leaderboard.png").read_bytes()[:4] == b"\x89PNG"
    assert "![normalized scores](leaderboard.png)" in (tmp_path / "leaderboard.md").read_text()


# --- task-specific columns, budget to scratch's final, robustness plot, Markdown links ---------------------------


def spec(task="t/T-v0", **kw):
    return TaskSpec(id=task, entry_point="m:X", summary="", source="", target="", metric="score",
                    budgets=(5, 100), default_budget=100, methods=("scratch", "fine-tune"), budget_unit="steps", **kw)


def curve_recs(method, curves, role="transfer", higher=True, budget=100):
    return [make_record(method=method, role=role, seed=i, score=c[-1][1], higher_is_better=higher, budget=budget,
                        curves={"target": c}) for i, c in enumerate(curves)]


def table_header(text, task):
    """The column names of a task's text table (columns are separated by two spaces or more)."""
    lines = text.splitlines()
    return re.split(r" {2,}", lines[next(i for i, line in enumerate(lines) if line.startswith(task)) + 1].strip())


def md_column(md, column):
    """{method: cell} of the first Markdown table with this column."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| ") and column in line[2:-2].split(" | "))
    at = lines[start][2:-2].split(" | ").index(column)
    out = {}
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        cells = line[2:-2].split(" | ")
        out[cells[0]] = cells[at]
    return out


def test_secondary_columns_are_means_over_ok_seeds_after_the_verdict():
    records = (
        [make_record(method="scratch", seed=i, score=0.8, metrics=m)
         for i, m in enumerate([{"gap": 0.2, "worst": 0.1}, {"gap": 0.4, "worst": 0.3}, {"worst": 0.5}])]
        + [make_record(method="scratch", seed=9, score=None)]
        + [make_record(method="fine-tune", role="transfer", seed=i, score=0.9, metrics={"gap": g, "worst": 0.6})
           for i, g in enumerate([0.1, 0.1, 0.4])]
        + recs("scratch", [0.5, 0.6], role="scratch", task="u/U-v0")
    )
    lb = build(records, {"t/T-v0": spec(columns=("gap", "worst")), "u/U-v0": spec("u/U-v0")})
    r = {row.method: row for row in lb.rows if row.task == "t/T-v0"}
    assert r["scratch"].columns == {"gap": pytest.approx(0.3), "worst": pytest.approx(0.3)}
    assert r["fine-tune"].columns == {"gap": pytest.approx(0.2), "worst": pytest.approx(0.6)}
    assert next(row for row in lb.rows if row.task == "u/U-v0").columns == {}

    text = render(lb, "table")
    assert table_header(text, "t/T-v0")[7:12] == ["verdict", "seeds for 80%", "gap", "worst", "wall s/run"]
    assert "gap" not in table_header(text, "u/U-v0")
    md = render(lb, "md")
    assert "| verdict | seeds for 80% | gap | worst | wall s/run |" in md
    assert md_column(md, "gap") == {"scratch": "0.300", "fine-tune": "0.200"}
    assert md_column(md, "worst") == {"scratch": "0.300", "fine-tune": "0.600"}

    by_method = {(d["task"], d["method"]): d for d in csv.DictReader(io.StringIO(render(lb, "csv")))}
    assert float(by_method[("t/T-v0", "fine-tune")]["gap"]) == pytest.approx(0.2)
    assert by_method[("u/U-v0", "scratch")]["gap"] == ""
    assert "columns" not in by_method[("u/U-v0", "scratch")]
    data = json.loads(render(lb, "json"))
    assert [row["columns"] for row in data["rows"] if row["method"] == "fine-tune"] == [
        {"gap": pytest.approx(0.2), "worst": pytest.approx(0.6)}]


def test_a_metric_named_like_a_row_field_gets_its_own_csv_column():
    lb = build([make_record(metrics={"mean": 7.0})], {"t/T-v0": spec(columns=("mean",))})
    line = next(csv.DictReader(io.StringIO(render(lb, "csv"))))
    assert float(line["metrics.mean"]) == 7.0 and float(line["mean"]) == 0.5


def test_budget_to_scratch_final_is_the_median_first_crossing_with_censoring():
    scratch = [[(0, 0.1), (50, 0.5), (100, 0.8)], [(0, 0.1), (50, 0.7), (100, 0.9)], [(0, 0.1), (50, 0.6), (100, 0.7)]]
    records = (
        curve_recs("scratch", scratch, role="scratch")  # final mean 0.8000000000000002: seed 0's 0.8 must count
        + curve_recs("fine-tune", [[(0, 0.5), (25, 0.85), (50, 0.9), (100, 0.95)], [(100, 0.9), (0, 0.5), (50, 0.8)],
                                   [(0, 0.5), (75, 0.82), (100, 0.79)]])
        + curve_recs("slow", [[(0, 0.1), (100, 0.81)], [(0, 0.1), (100, 0.79)], [(0, 0.1), (100, 0.2)]])
        + curve_recs("zero-shot", [[(0, 0.85)], [(0, 0.9)], [(0, 0.5)]])
        + curve_recs("zero-shot-bad", [[(0, 0.2)], [(0, 0.3)], [(0, 0.1)]])
        + recs("no-curve", [0.9, 0.9, 0.9], budget=100)
    )
    lb = build(records, {"t/T-v0": spec(learning_curve="target")})
    r = rows(lb)
    got = {m: (row.budget_to_scratch, row.budget_to_scratch_censored) for m, row in r.items()}
    assert got == {"scratch": (100, False), "fine-tune": (50, False), "slow": (100, True), "zero-shot": (0, False),
                   "zero-shot-bad": (100, True), "no-curve": (None, False)}

    assert table_header(render(lb, "table"), "t/T-v0")[7:11] == [
        "verdict", "seeds for 80%", "steps to scratch's final", "wall s/run"]
    md = render(lb, "md")
    assert "| steps to scratch's final |" in md
    cells = md_column(md, "steps to scratch's final")
    assert cells["fine-tune"] == "50" and cells["slow"] == ">100" and cells["zero-shot"] == "0"
    assert cells["zero-shot-bad"] == ">100" and cells["no-curve"] == "—"
    assert "more than half never reach it within the budget N" in md

    line = {d["method"]: d for d in csv.DictReader(io.StringIO(render(lb, "csv")))}["slow"]
    assert (line["budget_to_scratch"], line["budget_to_scratch_censored"]) == ("100.0", "True")
    data = {d["method"]: d for d in json.loads(render(lb, "json"))["rows"]}
    assert (data["fine-tune"]["budget_to_scratch"], data["fine-tune"]["budget_to_scratch_censored"]) == (50, False)


def test_budget_to_scratch_respects_lower_is_better_and_needs_a_spec_curve():
    records = (curve_recs("scratch", [[(0, 5.0), (10, 1.0)], [(0, 4.0), (10, 1.0)]], role="scratch", higher=False)
               + curve_recs("fine-tune", [[(0, 3.0), (5, 0.9), (10, 0.5)], [(0, 3.0), (5, 1.5), (10, 0.9)]],
                            higher=False))
    r = rows(build(records, {"t/T-v0": spec(learning_curve="target")}))
    assert (r["fine-tune"].budget_to_scratch, r["scratch"].budget_to_scratch) == (5, 10)
    assert rows(build(records, {"t/T-v0": spec()}))["fine-tune"].budget_to_scratch is None
    assert "to scratch's final" not in render(build(records), "table")


@pytest.mark.parametrize(("crossings", "expected"), [
    ([], None),
    ([30.0, 10.0, 20.0], (20.0, False)),
    ([10.0, 20.0, 30.0, 40.0], (20.0, False)),
    ([10.0, 20.0, None, None], (20.0, False)),
    ([10.0, None, None], (100.0, True)),
    ([None], (100.0, True)),
])
def test_budget_to_reach_is_the_censored_median(crossings, expected):
    assert budget_to_reach(crossings, 100) == expected


def grid_breakdown(mass, strength):
    return {"score": {"condition heavy": 0.1, "grid mass=0.5": mass[0], "grid mass=1": mass[1],
                      "grid mass=2": mass[2], "grid strength=0.7": strength[0], "sweep strength=1.3e0": strength[1],
                      "grid odd=1.2.3": 9.0, "grid": 9.0}}


def grid_recs(method, role, grids, budget=100, files=None):
    return [make_record(method=method, role=role, seed=i, score=0.5, budget=budget, breakdowns=grid_breakdown(*g),
                        files=(files or {}).get(i)) for i, g in enumerate(grids)]


def test_robustness_reads_axes_from_breakdown_keys_at_the_default_budget():
    records = (grid_recs("scratch", "scratch", [((0.2, 0.4, 0.6), (0.3, 0.5)), ((0.4, 0.6, 0.8), (0.5, 0.7))])
               + grid_recs("fine-tune", "transfer", [((0.9, 0.9, 0.9), (0.9, 0.9))] * 3)
               + grid_recs("scratch", "scratch", [((0.0, 0.0, 0.0), (0.0, 0.0))] * 2, budget=5))
    rob = robustness(build(records, {"t/T-v0": spec()}), "t/T-v0")
    assert rob is not None and rob.budget == 100
    assert list(rob.axes) == ["mass", "strength"]
    mass = rob.axes["mass"]["scratch"]
    assert [(x, m) for x, m, _ in mass] == [(0.5, pytest.approx(0.3)), (1.0, pytest.approx(0.5)),
                                            (2.0, pytest.approx(0.7))]
    assert all(lo <= m <= hi and lo < hi for _, m, (lo, hi) in mass)
    assert [x for x, _, _ in rob.axes["strength"]["fine-tune"]] == [0.7, 1.3]
    assert list(rob.axes["mass"]) == ["scratch", "fine-tune"]
    assert robustness(build(records), "t/T-v0").budget == 5  # no spec: the first setting
    assert robustness(build(recs("scratch", [0.5, 0.6], role="scratch")), "t/T-v0") is None


def test_robustness_plot_and_markdown_links(tmp_path):
    def rollout(method, seed):
        path = f"t/T-v0/{method}/seed-{seed}-abcdef012345/rollout.gif"
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"GIF89a")
        return {seed: {"rollout": path, "video": f"{method}.mp4"}}

    grid = ((0.4, 0.5, 0.6), (0.4, 0.5))
    records = grid_recs("scratch", "scratch", [grid] * 2, files={**rollout("scratch", 0), **rollout("scratch", 1)})
    records += grid_recs("scratch", "scratch", [grid] * 2, budget=200, files=rollout("scratch", 0))
    # The best-ranked transfer method with a rollout is fine-tune; it has one from seed 2 only.
    for method, scores, files in (("fine-tune", (0.9, 0.91, 0.92), rollout("fine-tune", 2)),
                                  ("best-no-gif", (0.99, 0.99, 0.99), {}),
                                  ("zero-shot", (0.1, 0.11, 0.12), rollout("zero-shot", 0))):
        records += [make_record(method=method, role="transfer", seed=i, score=s, budget=100,
                                breakdowns=grid_breakdown(*grid), files=files.get(i)) for i, s in enumerate(scores)]
    lb = build(records, {"t/T-v0": spec()})
    written = write_files(lb, tmp_path)
    png = tmp_path / "plots" / "t_T-v0-robustness.png"
    assert png in written and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "leaderboard.md").read_text()
    assert "![t/T-v0 robustness](plots/t_T-v0-robustness.png)" in md
    # Scratch ran at two budgets: the data-efficiency curve stands in for the per-method chart.
    assert "![t/T-v0 data efficiency](plots/t_T-v0-data-efficiency.png)" in md and "plots/t_T-v0.png" not in md
    line = next(line for line in md.splitlines() if "rollout](" in line)
    assert line == ("![scratch rollout](t/T-v0/scratch/seed-0-abcdef012345/rollout.gif) "
                    "![fine-tune rollout](t/T-v0/fine-tune/seed-2-abcdef012345/rollout.gif)")
    assert md.count("rollout](") == 2  # only under the task's first setting
    assert md.index("## t/T-v0 — budget 100") < md.index(line) < md.index("## t/T-v0 — budget 200")
    targets = re.findall(r"!\[[^]]*\]\(([^)]+)\)", md)
    assert targets and all((tmp_path / t).is_file() for t in targets)


def test_markdown_links_only_plots_that_were_written(tmp_path):
    lb = build(recs("scratch", [0.8, 0.81, 0.79], role="scratch") + recs("fine-tune", [0.9, 0.91, 0.92]))
    write_files(lb, tmp_path)
    md = (tmp_path / "leaderboard.md").read_text()
    assert "robustness" not in md and not (tmp_path / "plots" / "t_T-v0-robustness.png").exists()
    assert "![t/T-v0]" not in render(lb, "md", plot="leaderboard.png")


def test_named_comparisons_are_head_to_head_with_an_interval():
    spec = TaskSpec(id="t/T-v0", entry_point="m:X", summary="", source="", target="", metric="score",
                    budgets=(5,), default_budget=5, methods=("scratch", "a", "b", "c"),
                    comparisons=(("a", "b"), ("c", "b"), ("a", "missing")))
    recs = [make_record(method=m, role="scratch" if m == "scratch" else "transfer", seed=s, score=v)
            for m, base in (("scratch", 0.2), ("a", 0.9), ("b", 0.5), ("c", 0.5)) for s, v in
            enumerate(base + d for d in (0.0, 0.01, -0.01))]
    lb = build(recs, {"t/T-v0": spec})
    by_pair = {(c.a, c.b): c for c in lb.comparisons}
    assert set(by_pair) == {("a", "b"), ("c", "b")}, "a pair with a method that has no runs is left out"
    ab = by_pair[("a", "b")]
    assert ab.difference == pytest.approx(0.4) and ab.ci[0] > 0 and ab.verdict == BETTER
    assert by_pair[("c", "b")].verdict == NS
    assert by_pair[("c", "b")].seeds_needed is not None
    lost = {(c.a, c.b): c for c in build(recs, {"t/T-v0": spec_with(spec, comparisons=(("b", "a"),))}).comparisons}
    assert lost[("b", "a")].verdict == WORSE  # a loss to another transfer method is not negative transfer
    text = render(lb, "table")
    assert "a vs b: +0.400" in text and "▲ better" in text.split("a vs b:")[1].splitlines()[0]
    assert json.loads(render(lb, "json"))["comparisons"][0]["a"] == "a"


# --- data efficiency and sweeps ------------------------------------------------------------------
SCRATCH_CURVE = [(1, 0.5), (10, 0.7), (100, 0.8)]


@pytest.mark.parametrize(
    ("score", "budget", "expected"),
    [
        (0.7, 1, (10.0, "")),  # scratch needs 10 labels for what this gets with 1
        (0.75, 1, (10 ** 1.5, "")),  # halfway in log budget between 10 and 100
        (0.9, 10, (10.0, ">")),  # beyond scratch's best: at least 100 / 10
        (0.4, 10, (0.1, "<")),  # below scratch's smallest budget: at most 1 / 10
    ],
)
def test_data_saved_reads_scratchs_budget_curve_in_log_budget(score, budget, expected):
    factor, bound = data_saved(SCRATCH_CURVE, score, budget)
    assert (factor, bound) == (pytest.approx(expected[0]), expected[1])


def test_data_saved_uses_scratchs_running_best_and_respects_lower_is_better():
    dip = [(1, 0.5), (10, 0.7), (30, 0.6), (100, 0.8)]  # the dip at 30 does not count as data hurting
    assert data_saved(dip, 0.7, 1) == (pytest.approx(10.0), "")
    errors = [(b, -m) for b, m in SCRATCH_CURVE]  # an error: lower is better
    assert data_saved(errors, -0.7, 1, sign=-1.0) == (pytest.approx(10.0), "")
    assert data_saved(SCRATCH_CURVE[:1], 0.7, 1) is None


def test_data_saved_column_appears_with_scratch_at_two_budgets(tmp_path):
    records = []
    for budget, (s, t) in {1: (0.5, 0.7), 10: (0.7, 0.9)}.items():
        records += recs("scratch", [s - 0.01, s, s + 0.01], role="scratch", budget=budget)
        records += recs("fine-tune", [t - 0.01, t, t + 0.01], budget=budget)
    lb = build(records)
    by = {(r.method, r.budget): r for r in lb.rows}
    assert by[("fine-tune", 1)].data_saved == pytest.approx(10.0)
    assert by[("fine-tune", 10)].data_saved_bound == ">"
    assert by[("scratch", 10)].data_saved is None
    text = render(lb)
    assert "scratch data to match" in text and "10.0x" in text and ">1.0x" in text
    assert "scratch data to match" not in render(build(recs("scratch", [0.5, 0.6], role="scratch")))


def test_tables_of_a_sweep_are_headed_by_the_swept_value_in_its_order():
    records = []
    for n in (12, 3, 0):  # read in no particular order
        records += recs("scratch", [0.5, 0.51], role="scratch", options={"transfer_units": n, "lr": 0.1})
    text = render(build(records))
    heads = [line for line in text.splitlines() if line.startswith("t/T-v0 — budget 5")]
    assert [h.split(", ")[1].split(" (")[0] for h in heads] == ["transfer_units=0", "transfer_units=3",
                                                                "transfer_units=12"]
    assert "lr=" not in text


def test_a_swept_option_gets_a_plot_linked_from_the_markdown(tmp_path):
    records = []
    for n, (s, t) in {0: (0.5, 0.5), 3: (0.5, 0.7), 9: (0.5, 0.8)}.items():
        opts = {"transfer_units": n, "lr": 0.1}
        records += recs("scratch", [s, s + 0.01], role="scratch", options=opts)
        records += recs("fine-tune", [t, t + 0.02], options=opts)
    lb = build(records)
    (sw,) = sweeps(lb, "t/T-v0")
    assert sw.option == "transfer_units"
    assert [v for v, _ in sw.points[("fine-tune", "budget 5")]] == [0, 3, 9]
    written = {p.relative_to(tmp_path).as_posix() for p in write_files(lb, tmp_path)}
    assert "plots/t_T-v0-sweep-transfer_units.png" in written
    assert "(plots/t_T-v0-sweep-transfer_units.png)" in (tmp_path / "leaderboard.md").read_text()
    assert sweeps(build(recs("scratch", [0.5, 0.6], role="scratch", options={"lr": 0.1})), "t/T-v0") == []


def test_data_saved_ignores_zero_budgets_which_have_no_log():
    assert data_saved([(0, 0.1), (1, 0.5), (10, 0.7)], 0.6, 1) == (pytest.approx(10 ** 0.5), "")
    assert data_saved([(0, 0.1), (10, 0.7)], 0.6, 1) is None
    assert data_saved(SCRATCH_CURVE, 0.6, 0) is None


def three(mean):
    return [mean - 0.01, mean, mean + 0.01]


def test_data_saved_hand_computed_with_lower_is_better_both_bounds_and_formats():
    """An error (lower is better). Scratch: 0.8 at 2, 0.4 at 8, 0.2 at 32, 0.3 at 64 (a dip: its
    running best stays 0.2, reached at 32, while 64 is its largest budget)."""
    records = []
    for budget, mean in {2: 0.8, 8: 0.4, 32: 0.2, 64: 0.3}.items():
        records += recs("scratch", three(mean), role="scratch", budget=budget, higher=False)
    expected = {  # (method, budget, mean): cell
        ("fine-tune", 2, 0.4): "4.0x",  # scratch reaches 0.4 at 8: 8 / 2
        ("fine-tune", 8, 0.3): "2.0x",  # halfway from 0.4 to 0.2 in log budget: sqrt(8 * 32) = 16; 16 / 8
        ("fine-tune", 32, 0.1): ">2.0x",  # better than scratch ever is: at least 64 / 32
        ("bad", 4, 0.9): "<0.5x",  # worse than scratch at its smallest budget: at most 2 / 4
    }
    for method, budget, mean in expected:
        records += recs(method, three(mean), budget=budget, higher=False)
    records += recs("scratch", three(0.5), role="scratch", higher=False, options={"lr": 1.0})  # one budget: none
    records += recs("fine-tune", three(0.4), higher=False, options={"lr": 1.0})
    records += recs("scratch", three(0.5), role="scratch", task="u/U-v0")
    lb = build(records)
    by = {(r.task, r.method, r.budget, r.options_hash): r for r in lb.rows}
    first = lb.rows[0].options_hash
    rows_t = {(r.method, r.budget): r for r in lb.rows if r.task == "t/T-v0" and r.options_hash == first}
    assert rows_t[("fine-tune", 2)].data_saved == pytest.approx(4.0)
    assert rows_t[("fine-tune", 8)].data_saved == pytest.approx(2.0)
    assert (rows_t[("fine-tune", 32)].data_saved, rows_t[("fine-tune", 32)].data_saved_bound) == (
        pytest.approx(2.0), ">")
    assert (rows_t[("bad", 4)].data_saved, rows_t[("bad", 4)].data_saved_bound) == (pytest.approx(0.5), "<")
    assert rows_t[("bad", 4)].data_saved_censored and not rows_t[("fine-tune", 8)].data_saved_censored
    assert all(r.data_saved is None for r in lb.rows if r.method == "scratch" or r.task == "u/U-v0")
    assert [r.data_saved for (_, m, _, o), r in by.items() if o != lb.rows[0].options_hash] == [None, None]

    md = render(lb, "md")
    cells = {}
    for budget in (2, 4, 8, 32):
        table = md[md.index(f"## t/T-v0 — budget {budget} —"):]
        cells.update({(m, budget): c for m, c in md_column(table, "scratch data to match").items()})
    assert {k: v for k, v in cells.items() if k[0] != "scratch"} == {(m, b): c for (m, b, _), c in expected.items()}
    assert cells[("scratch", 2)] == "—"
    assert "scratch data to match" not in table_header(render(lb, "table"), "u/U-v0")
    csv_rows = list(csv.DictReader(io.StringIO(render(lb, "csv"))))
    got = {(d["method"], d["budget"]): (d["data_saved"], d["data_saved_bound"]) for d in csv_rows
           if d["task"] == "t/T-v0" and d["options_hash"] == lb.rows[0].options_hash}
    assert float(got[("fine-tune", "8")][0]) == pytest.approx(2.0) and got[("bad", "4")][1] == "<"
    assert got[("scratch", "2")] == ("", "")
    data = json.loads(render(lb, "json"))["rows"]
    assert {(d["method"], d["budget"]): d["data_saved_bound"] for d in data
            if d["task"] == "t/T-v0" and d["data_saved"] is not None} == {
        ("fine-tune", 2): "", ("fine-tune", 8): "", ("fine-tune", 32): ">", ("bad", 4): "<"}


def budget_grid(budgets, options=None, task="t/T-v0"):
    """Scratch, fine-tune and a reference at every budget; a one-budget method at the first."""
    records = []
    for b in budgets:
        records += recs("scratch", three(0.3 + 0.1 * b / max(budgets)), role="scratch", budget=b, options=options,
                        task=task)
        records += recs("fine-tune", three(0.5 + 0.1 * b / max(budgets)), budget=b, options=options, task=task)
        records += recs("oracle", three(0.9), role="reference", budget=b, options=options, task=task)
    records += recs("zero-shot", three(0.2), budget=budgets[0], options=options, task=task)
    return records


def test_data_efficiency_plot_is_written_and_linked(tmp_path):
    unit = TaskSpec(id="t/T-v0", entry_point="m:X", summary="", source="", target="", metric="score",
                    budgets=(0, 1, 5, 20), default_budget=5, methods=("scratch",), budget_unit="labels per class")
    lb = build(budget_grid([0, 1, 5, 20]) + recs("scratch", three(0.5), role="scratch", task="u/U-v0"),
               {"t/T-v0": unit})
    (curve,) = data_efficiency(lb, "t/T-v0")
    assert curve.kind == "data-efficiency" and curve.label == ""
    assert list(curve.lines) == ["scratch", "fine-tune", "oracle"]  # zero-shot ran at one budget only
    assert [b for b, _, _ in curve.lines["fine-tune"]] == [1, 5, 20]  # budget 0 has no place on a log axis
    assert all(lo <= m <= hi for _, m, (lo, hi) in curve.lines["fine-tune"])
    assert curve.roles["oracle"] == "reference" and lb.budget_unit_names["t/T-v0"] == "labels per class"
    assert data_efficiency(lb, "u/U-v0") == []
    written = {p.relative_to(tmp_path).as_posix() for p in write_files(lb, tmp_path)}
    assert "plots/t_T-v0-data-efficiency.png" in written and "plots/u_U-v0-data-efficiency.png" not in written
    assert (tmp_path / "plots/t_T-v0-data-efficiency.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "leaderboard.md").read_text()
    assert "![t/T-v0 data efficiency](plots/t_T-v0-data-efficiency.png)" in md
    assert "data-efficiency" not in md.split("## u/U-v0")[1]
    targets = re.findall(r"!\[[^]]*\]\(([^)]+)\)", md)
    assert all((tmp_path / t).is_file() for t in targets)


def test_one_data_efficiency_plot_per_options_setting_with_stable_safe_names(tmp_path):
    records = (budget_grid([1, 5], {"units": 3, "lr": 0.1}) + budget_grid([1, 5], {"units": 12, "lr": 0.1})
               + budget_grid([1, 5], {"units": "all/of them", "lr": 0.1}))
    curves = data_efficiency(build(records), "t/T-v0")
    assert [(c.kind, c.label) for c in curves] == [
        ("data-efficiency-units_3", "units=3"), ("data-efficiency-units_12", "units=12"),
        ("data-efficiency-units_all_of_them", "units=all/of them")]
    assert [c.kind for c in data_efficiency(build(list(reversed(records))), "t/T-v0")] == [c.kind for c in curves]
    written = {p.name for p in write_files(build(records), tmp_path)}
    assert {f"t_T-v0-{c.kind}.png" for c in curves} <= written
    long = budget_grid([1, 5], {"units": "x" * 80}) + budget_grid([1, 5], {"units": "y" * 80})
    assert all(re.fullmatch(r"data-efficiency-[0-9a-f]{8}", c.kind) for c in data_efficiency(build(long), "t/T-v0"))


def test_a_sweep_plot_only_where_one_option_varies_with_the_others_equal(tmp_path):
    together = []  # a and b change together: no value of one is compared with the other held
    for a, b in ((1, 10), (2, 20)):
        together += recs("scratch", three(0.5), role="scratch", options={"a": a, "b": b})
    assert sweeps(build(together), "t/T-v0") == []
    lb = build(together + recs("scratch", three(0.6), role="scratch", options={"a": 1, "b": 20}))
    assert sorted(sw.option for sw in sweeps(lb, "t/T-v0")) == ["a", "b"]

    flags = []  # a boolean option across two budgets: categories, one panel per budget
    for frozen in (False, True):
        for budget in (1, 5):
            flags += recs("scratch", three(0.5), role="scratch", budget=budget, options={"frozen": frozen})
            flags += recs("fine-tune", three(0.7 if frozen else 0.6), budget=budget, options={"frozen": frozen})
    lb = build(flags)
    (sw,) = sweeps(lb, "t/T-v0")
    assert sorted(sw.points) == [("fine-tune", "budget 1"), ("fine-tune", "budget 5"), ("scratch", "budget 1"),
                                 ("scratch", "budget 5")]
    written = {p.relative_to(tmp_path).as_posix() for p in write_files(lb, tmp_path)}
    assert "plots/t_T-v0-sweep-frozen.png" in written
    assert "(plots/t_T-v0-sweep-frozen.png)" in (tmp_path / "leaderboard.md").read_text()
    assert not any("sweep" in p for p in {q.name for q in write_files(build(budget_grid([1, 5])), tmp_path / "b")})


def _lang_recs(method, role, per_seed):
    return [make_record(method=method, role=role, seed=i, score=sum(b.values()) / len(b), budget=100,
                        breakdowns={"score": b}) for i, b in enumerate(per_seed)]


def test_per_target_table_with_verdicts_references_and_the_transfer_gap():
    records = _lang_recs("scratch", "scratch", [{"en": 0.80, "fr": 0.34, "zh": 0.33},
                                                {"en": 0.82, "fr": 0.35, "zh": 0.34},
                                                {"en": 0.81, "fr": 0.33, "zh": 0.35}])
    records += _lang_recs("fine-tune", "transfer", [{"en": 0.85, "fr": 0.75, "zh": 0.33},
                                                    {"en": 0.86, "fr": 0.77, "zh": 0.36},
                                                    {"en": 0.84, "fr": 0.76, "zh": 0.34}])
    refs = (Reference("fine-tune", 0.80, "Paper 2020", breakdown="fr"), Reference("fine-tune", 0.70, "Paper 2020"))
    lb = build(records, {"t/T-v0": spec(target_breakdown=True, source_breakdown="en", references=refs)})
    pt = lb.per_target[("t/T-v0", 100, next(iter(lb.per_target))[2])]
    assert pt.targets == ["en", "fr", "zh"]
    assert pt.cells["fine-tune"]["fr"].verdict == "better" and pt.cells["fine-tune"]["zh"].verdict == "n.s."
    assert pt.cells["scratch"]["en"].verdict == ""
    # The gap is source minus target within each seed: 0.10, 0.09, 0.08 for French.
    assert pt.gaps["fine-tune"]["fr"].mean == pytest.approx(0.09)
    assert pt.gaps["fine-tune"]["mean"].mean == pytest.approx(np.mean([(0.10 + 0.52) / 2, (0.09 + 0.50) / 2,
                                                                      (0.08 + 0.50) / 2]))
    text = render(lb)
    assert "Per target: score" in text and "Transfer gap: en minus each target" in text
    line = next(x for x in text.splitlines() if x.startswith("fine-tune") and "0.760±" in x)
    assert "▲" in line.split("0.760")[1].split()[0] + line.split("0.760")[1].split()[1]
    assert next(x for x in text.splitlines() if x.startswith("fine-tune − published")).split()[4] == "-0.040"
    assert "published fine-tune: 0.7 (Paper 2020)" in text  # the main-metric reference stays a line
    assert "published fine-tune [fr]" not in text  # the per-target one is in the table instead
    md = render(lb, "md")
    assert "| method | en | fr | zh |" in md and "| method | fr | zh | mean |" in md
    assert json.loads(render(lb, "json"))["per_target"][0]["gaps"]["fine-tune"]["fr"]["mean"] == pytest.approx(0.09)


def test_per_target_table_is_opt_in_and_never_for_grids():
    records = _lang_recs("scratch", "scratch", [{"en": 0.8, "fr": 0.3}, {"en": 0.8, "fr": 0.4}])
    assert build(records, {"t/T-v0": spec()}).per_target == {}
    grid = _lang_recs("scratch", "scratch", [{"mass=0.5": 0.8, "mass=2.0": 0.3}, {"mass=0.5": 0.7, "mass=2.0": 0.4}])
    assert build(grid, {"t/T-v0": spec(target_breakdown=True)}).per_target == {}


def spec_with(spec: TaskSpec, **changes) -> TaskSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def _spec(**kw) -> TaskSpec:
    return TaskSpec(id="t/T-v0", entry_point="m:X", summary="", source="", target="", metric="score",
                    budgets=(5,), default_budget=5, methods=("scratch", "fine-tune"), **kw)


def test_the_paired_test_is_used_exactly_where_the_task_says_its_seeds_pair():
    """Each seed's luck (+-0.1) is shared by both methods; fine-tune is 0.02 better in every seed."""
    luck = [0.1, -0.1, 0.05, -0.05, 0.0]
    records = (recs("scratch", [0.5 + x for x in luck], role="scratch")
               + recs("fine-tune", [0.52 + x + (0.001 if i % 2 else -0.001) for i, x in enumerate(luck)]))
    paired = rows(build(records, {"t/T-v0": _spec(paired_seeds=True)}))["fine-tune"]
    unpaired = rows(build(records, {"t/T-v0": _spec()}))["fine-tune"]
    foreign = rows(build(records))["fine-tune"]  # no spec installed: nothing says the seeds pair
    assert (paired.test, unpaired.test, foreign.test) == ("paired t", "Welch t", "Welch t")
    assert paired.verdict == BETTER and unpaired.verdict == NS and unpaired.seeds_needed is not None
    assert "paired t-test over seeds" in render(build(records, {"t/T-v0": _spec(paired_seeds=True)}), "table")


def test_two_seeds_show_an_interval_and_no_verdict():
    r = rows(build(recs("scratch", [0.5, 0.51], role="scratch") + recs("fine-tune", [0.9, 0.91])))["fine-tune"]
    assert r.gain_ci is not None and r.verdict == "too few seeds"
    assert "too few seeds for a verdict" in render(build(recs("scratch", [0.5, 0.51], role="scratch")
                                                         + recs("fine-tune", [0.9, 0.91])), "table")


@pytest.mark.parametrize("paired_seeds", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_the_leaderboard_calls_a_zero_gain_a_verdict_about_5_percent_of_the_time(paired_seeds):
    """Records of known truth, as a user's results directory holds them: 400 tasks, 3 seeds, no true gain."""
    rng = np.random.default_rng(int(paired_seeds))
    records, specs = [], {}
    for k in range(400):
        task = f"t/T{k}-v0"
        specs[task] = TaskSpec(id=task, entry_point="m:X", summary="", source="", target="", metric="score",
                               budgets=(5,), default_budget=5, methods=("scratch", "fine-tune"),
                               paired_seeds=paired_seeds)
        luck = rng.normal(0, 0.05, 3) if paired_seeds else np.zeros(3)
        for method in ("scratch", "fine-tune"):
            scores = 0.7 + luck + rng.normal(0, 0.05, 3)
            records += recs(method, list(scores), role="scratch" if method == "scratch" else "transfer", task=task)
    lb = build(records, specs)
    transfer = [r for r in lb.rows if r.method == "fine-tune"]
    false = np.mean([r.verdict in (BETTER, NEGATIVE) for r in transfer])
    print(f"\n  leaderboard, 400 null tasks at 3 seeds, paired={paired_seeds}: false verdicts {false:.3f}", end="")
    assert false <= 0.07
    if not paired_seeds:
        covered = np.mean([r.ci[0] <= 0.7 <= r.ci[1] for r in lb.rows if r.method == "scratch"])
        print(f", scratch's interval covers its mean {covered:.3f}", end="")
        assert 0.93 <= covered <= 0.97


def test_a_per_target_table_corrects_for_its_many_tests():
    """One cell that alone would be significant (p ~ 0.02) is not, among 11 null ones (Benjamini-Hochberg)."""
    spec = _spec(target_breakdown=True, paired_seeds=True)
    targets = [f"x{i}" for i in range(6)]

    def with_targets(method, role, per_target):
        return [make_record(method=method, role=role, seed=s, score=0.5,
                            breakdowns={"score": {t: per_target(t, s) for t in targets}}) for s in range(3)]

    lucky = {0: 0.05, 1: 0.03, 2: 0.07}
    records = (with_targets("scratch", "scratch", lambda t, s: 0.5 + 0.01 * s)
               + with_targets("fine-tune", "transfer",
                              lambda t, s: 0.5 + 0.01 * s + (lucky[s] if t == "x0" else 0.002 * (s - 1)))
               + with_targets("zero-shot", "transfer", lambda t, s: 0.5 + 0.01 * s + 0.003 * (1 - s)))
    from bench.stats import compare

    alone = compare({s: 0.5 + 0.01 * s + lucky[s] for s in range(3)}, {s: 0.5 + 0.01 * s for s in range(3)},
                    paired=True)
    assert alone.verdict == "better" and alone.p > 0.05 / 12
    table = build(records, {"t/T-v0": spec}).per_target[("t/T-v0", 5, next(iter(build(records).settings()))[2])]
    assert table.cells["fine-tune"]["x0"].verdict == NS
    assert "(Benjamini-Hochberg)" in render(build(records, {"t/T-v0": spec}), "table")


def test_a_published_number_of_another_protocol_is_shown_without_a_difference():
    """A dev-set number beside our test-set runs (or another split) is context, not a reproduction gap."""
    records = _lang_recs("scratch", "scratch", [{"en": 0.80, "fr": 0.34}, {"en": 0.82, "fr": 0.35},
                                                {"en": 0.81, "fr": 0.33}])
    records += _lang_recs("fine-tune", "transfer", [{"en": 0.85, "fr": 0.75}, {"en": 0.86, "fr": 0.77},
                                                    {"en": 0.84, "fr": 0.76}])
    why = "published on the dev sets, ours on the test sets"
    refs = (Reference("fine-tune", 0.80, "Card 2021", breakdown="fr", differs=why),
            Reference("fine-tune", 0.70, "Card 2021", differs=why))
    text = render(build(records, {"t/T-v0": spec(target_breakdown=True, source_breakdown="en", references=refs)}))
    assert "fine-tune − published" not in text
    assert f"No difference to published fine-tune: not comparable ({why})." in text
    line = next(x for x in text.splitlines() if x.strip().startswith("published fine-tune: 0.7"))
    assert f"(no difference shown: not comparable, {why})" in line and "ours − published" not in line
    comparable = render(build(records, {"t/T-v0": spec(target_breakdown=True, source_breakdown="en",
                                                       references=tuple(replace(r, differs="") for r in refs))}))
    assert "fine-tune − published" in comparable and "ours − published" in comparable


def test_a_published_number_of_a_secondary_metric_is_compared_to_that_metric_with_its_interval():
    """rl-zoo publishes a source policy's return on its own dynamics: compared to our source_return."""
    sources = [2800.0, 2900.0, 3000.0]
    records = [make_record(method="scratch", role="scratch", seed=i, score=100.0 + i, budget=100,
                           metrics={"source_return": 50.0}) for i in range(3)]
    records += [make_record(method="zero-shot", role="transfer", seed=i, score=900.0 + i, budget=100,
                            metrics={"source_return": s}) for i, s in enumerate(sources)]
    ref = Reference("zero-shot", 2924.721, "rl-zoo benchmark.md", metric="source_return")
    lb = build(records, {"t/T-v0": spec(columns=("source_return",), references=(ref,))})
    lo, hi = rows(lb)["zero-shot"].column_cis["source_return"]
    assert (lo, hi) == pytest.approx(mean_ci(sources))
    line = next(x.strip() for x in render(lb).splitlines() if x.strip().startswith("published zero-shot"))
    assert line == (f"published zero-shot (source_return): 2924.72 (rl-zoo benchmark.md), ours 2900.000 "
                    f"(ours − published {2900.0 - 2924.721:+.3f} [{lo - 2924.721:.3f}, {hi - 2924.721:.3f}])")


def test_csv_and_json_name_settings_by_option_values_and_split_intervals():
    """A sweep's value is a column of its own, and each interval two numbers, for pandas or a spreadsheet."""
    records = []
    for l2 in (0.5, 2.0):
        records += recs("scratch", [0.5, 0.52, 0.51], role="scratch", options={"l2": l2, "arch": "small"})
        records += recs("fine-tune", [0.6, 0.61, 0.63], options={"l2": l2, "arch": "small"})
    lb = build(records)
    lines = list(csv.DictReader(io.StringIO(render(lb, "csv"))))
    assert {(d["method"], d["setting"], d["l2"], d["arch"]) for d in lines} == {
        (m, f"l2={v}", v, "small") for m in ("scratch", "fine-tune") for v in ("0.5", "2.0")}
    ft = next(d for d in lines if d["method"] == "fine-tune" and d["l2"] == "2.0")
    lo, hi = mean_ci([0.6, 0.61, 0.63])
    assert float(ft["ci_low"]) == pytest.approx(lo) and float(ft["ci_high"]) == pytest.approx(hi)
    assert float(ft["gain_ci_low"]) < float(ft["gain"]) < float(ft["gain_ci_high"])
    assert "ci" not in ft and len(ft["options_hash"]) == 8
    rows_json = json.loads(render(lb, "json"))["rows"]
    assert {(r["setting"], r["options"]["l2"]) for r in rows_json} == {("l2=0.5", 0.5), ("l2=2.0", 2.0)}
    assert "l2=2.0 (options " in render(lb, "table")


def test_cost_columns_are_per_machine_and_a_table_mixing_machines_says_so():
    def on(record, cpu, wall):
        provenance = record.provenance.model_copy(update={"hardware": {"cpu": cpu, "cpu_cores": 2}})
        return record.model_copy(update={"provenance": provenance, "timings": Timings(total_s=wall)})

    records = [on(r, "AMD EPYC", 10.0) for r in recs("scratch", [0.5, 0.52, 0.51], role="scratch")]
    ft = recs("fine-tune", [0.6, 0.61, 0.63, 0.62, 0.6])
    records += [on(r, "AMD EPYC", 20.0) for r in ft[:3]] + [on(r, "Apple M3", 2.0) for r in ft[3:]]
    lb = build(records)
    row = rows(lb)["fine-tune"]
    assert row.hardware == {"AMD EPYC x2": 3, "Apple M3 x2": 2}
    assert row.wall_s == pytest.approx(20.0)  # the machine with most runs, not a mean over machines
    assert row.hardware_cost["Apple M3 x2"]["wall_s"] == pytest.approx(2.0)
    assert rows(lb)["scratch"].hardware_cost == {}
    text = render(lb, "table")
    assert "cost columns: runs on 2 machines; each row shows the machine with most of its runs" in text
    assert "cost of fine-tune per machine: AMD EPYC x2 (3 runs): 20.0 s/run; Apple M3 x2 (2 runs): 2.0 s/run" in text
    assert "scratch ran on AMD EPYC x2" in text
    one = build([on(r, "AMD EPYC", 1.0) for r in recs("scratch", [0.5, 0.6], role="scratch")])
    assert "machines" not in render(one, "table")


def test_write_files_redraws_only_the_plots_of_tasks_whose_records_changed(tmp_path):
    records = recs("scratch", [0.5, 0.52, 0.51], role="scratch") + recs("fine-tune", [0.6, 0.61, 0.63])
    records += recs("scratch", [0.3, 0.32, 0.31], role="scratch", task="u/U-v0")
    lb = build(records)
    write_files(lb, tmp_path)
    t_plot, u_plot = tmp_path / "plots" / "t_T-v0.png", tmp_path / "plots" / "u_U-v0.png"
    before = {p: p.stat().st_mtime_ns for p in (t_plot, u_plot)}
    time.sleep(0.01)
    written = write_files(lb, tmp_path, changed={"u/U-v0"})
    assert t_plot not in written and t_plot.stat().st_mtime_ns == before[t_plot]
    assert u_plot in written and u_plot.stat().st_mtime_ns > before[u_plot]
    md = (tmp_path / "leaderboard.md").read_text()
    assert "plots/t_T-v0.png" in md and "plots/u_U-v0.png" in md  # a kept plot is still linked
    t_plot.unlink()
    assert t_plot in write_files(lb, tmp_path, changed=set())  # a missing one is drawn whatever changed
