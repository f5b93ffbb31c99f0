"""The leaderboard from records: verdicts, direction, references, formats, plot."""

from __future__ import annotations

import json

import pytest
from record_factory import make_record

from bench.api import Reference, TaskSpec
from bench.leaderboard import BETTER, NS, WORSE, build, render, write_files


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
    assert r["zero-shot"].verdict == WORSE and r["zero-shot"].gain < 0
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
    assert "reference (not ranked)" in render(lb, "table")


def test_ceiling_method_normalizes_the_aggregate():
    spec = TaskSpec(id="t/T-v0", entry_point="m:X", summary="", source="", target="", metric="score",
                    budgets=(5,), default_budget=5, methods=("scratch", "fine-tune", "oracle"),
                    reference_method="oracle",
                    references=(Reference("fine-tune", 0.95, "doe2020", protocol="ResNet-50"),))
    lb = build(recs("scratch", [0.5, 0.5, 0.5], role="scratch") + recs("oracle", [1.0, 1.0, 1.0], role="reference")
               + recs("fine-tune", [0.75, 0.75, 0.75]), {"t/T-v0": spec})
    assert lb.aggregates[0].iqm == pytest.approx(0.5)
    text = render(lb, "table")
    assert "published fine-tune: 0.95 (doe2020), ours 0.750 (-0.200); protocol: ResNet-50" in text


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
