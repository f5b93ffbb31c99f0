"""The LaTeX tables: what their captions say, escaping, and that a real LaTeX engine compiles them."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from record_factory import make_record

from bench.api import TaskSpec
from bench.leaderboard import build, render
from bench.leaderboard.latex import TABLES, tex

SPEC = TaskSpec(id="t/Hard_Name-v0", entry_point="x:y", summary="s", source="s", target="t", metric="error",
                higher_is_better=False, budgets=(5, 10), default_budget=5, budget_unit="labels per class",
                methods=("scratch", "fine-tune"), columns=("aux_%",), paired_seeds=True)


def records():
    out = []
    for opts in ({"lr": 0.1, "tag": "a&b"}, {"lr": 0.01, "tag": "{x}_y"}):
        for seed in range(4):
            out.append(make_record(task=SPEC.id, method="scratch", seed=seed, score=0.5 + 0.01 * seed,
                                   higher_is_better=False, options=opts, metrics={"aux_%": 1.0 + seed}))
            out.append(make_record(task=SPEC.id, method="fine_tune&co", role="transfer", seed=seed,
                                   score=0.3 + 0.01 * seed, higher_is_better=False, options=opts,
                                   metrics={"aux_%": 2.0}))
    return out


def test_tex_escapes_every_special_character():
    assert tex(r"a_b & 50% $x$ #1 {y} ~ ^ \ — −") == (
        r"a\_b \& 50\% \$x\$ \#1 \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{} --- -")


def test_each_setting_is_a_captioned_table_naming_what_a_reader_needs():
    lb = build(records(), {SPEC.id: SPEC})
    text = render(lb, "latex")
    assert text.startswith("% transferbench leaderboard") and "booktabs" in text.splitlines()[0]
    assert text.count("\\begin{table}") == 3  # two settings and the across-task table
    captions = [line for line in text.splitlines() if line.startswith("\\caption{")]
    first = captions[0]
    assert "t/Hard\\_Name-v0" in first and "target budget 5 labels per class" in first
    assert "lr=0.01" in first or "lr=0.1" in first  # the options that set the two settings apart
    assert "score (lower is better)" in first and "over 4 seeds" in first
    assert "Student-t interval" in first and "paired t-test" in first
    assert "fine\\_tune\\&co" in text and "negative transfer" not in text and "better" in text
    assert len({line for line in text.splitlines() if line.startswith("\\label{")}) == 3


def test_optional_tables_and_unknown_ones():
    lb = build(records(), {SPEC.id: SPEC})
    text = render(lb, "latex", latex_tables=TABLES)
    assert text.count("\\begin{table}") == 2 * 3 + 1
    assert "aux\\_\\%" in text and "Wall s" in text
    with pytest.raises(ValueError, match="unknown LaTeX table 'plots'; accepted: main, secondary, cost, across"):
        render(lb, "latex", latex_tables=("plots",))


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex is not installed (Debian: texlive-latex-base texlive-latex-recommended)")
def test_the_tables_compile_with_pdflatex(tmp_path):
    lb = build(records(), {SPEC.id: SPEC})
    body = render(lb, "latex", latex_tables=TABLES)
    (tmp_path / "paper.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[margin=1cm]{geometry}\n"
        f"\\begin{{document}}\n{body}\n\\end{{document}}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "Missing $ inserted" not in log
