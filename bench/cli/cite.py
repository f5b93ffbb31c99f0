"""BibTeX for transferbench and for the tasks and methods behind the results, with provenance.

Cites what the results directory holds (or every installed task and method when it holds no
successful record): each task's data and papers (its citation and the BibTeX of its published
references) and each method's paper, plugins' exactly as the built-in ones. Every key appears
once; a key two sources give with different content keeps the first, with a warning naming both,
and a citation that is not valid BibTeX is skipped with a warning naming its task or method. The
output is classic BibTeX (transferbench itself as @misc; --biblatex: @software), and ends with
comment lines stating the versions, git revisions and hardware those results came from.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.bibtex import Bibliography, BibTeXError, Entry, parse_entries
from bench.cli._common import add_results_dir, registry
from bench.store import ResultStore

HELP = "BibTeX for transferbench, tasks and methods, plus the results' provenance"

TITLE = "transferbench: a benchmark suite for transfer learning"
NOTE = "Tasks, methods and from-scratch baselines with bootstrap intervals"


def transferbench_bibtex(version: str, biblatex: bool = False) -> str:
    """transferbench's own entry: @misc with the version in its note, or biblatex's @software."""
    if biblatex:
        return (f"@software{{transferbench,\n  title = {{{TITLE}}},\n  author = {{{{transferbench contributors}}}},\n"
                f"  year = {{2026}},\n  version = {{{version}}},\n  note = {{{NOTE}}}\n}}")
    return (f"@misc{{transferbench,\n  title = {{{TITLE}}},\n  author = {{{{transferbench contributors}}}},\n"
            f"  year = {{2026}},\n  note = {{Version {version}. {NOTE}}}\n}}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_results_dir(p)
    p.add_argument("--biblatex", action="store_true",
                   help="cite transferbench as biblatex's @software (default: @misc, which classic BibTeX accepts)")


def _warn(line: str) -> None:
    print(f"bench: warning: {line}", file=sys.stderr)


def _comment(text: str) -> str:
    """A ``%`` line that no BibTeX reader takes for an entry (an ``@`` would start one)."""
    return "% " + " ".join(text.replace("@", "(at)").split())


class _Citer:
    """Prints each source's entries whose key is new, under a comment naming the source and its keys."""

    def __init__(self) -> None:
        self.bib = Bibliography()

    def entries(self, who: str, citation: object) -> list[Entry]:
        """The entries of one citation; a malformed one is a warning naming ``who``, and nothing."""
        if not isinstance(citation, str):
            _warn(f"{who}: its citation is not a string ({type(citation).__name__}); not cited")
            return []
        try:
            return parse_entries(citation)
        except BibTeXError as exc:
            _warn(f"{who}: its citation is not valid BibTeX ({exc}); not cited")
            return []

    def cite(self, label: str, citations: Sequence[tuple[str, object]]) -> None:
        """Cite ``label`` (``task ID``, ``method NAME``) by its (who, citation) pairs."""
        keys: list[str] = []
        new: list[Entry] = []
        skipped = False
        for who, citation in citations:
            entries = self.entries(who, citation)
            skipped = skipped or not entries
            done = len(self.bib.conflicts)
            new += self.bib.add(entries, who)
            for c in self.bib.conflicts[done:]:
                _warn(f"BibTeX key {c.key!r} is given by {c.first} and, with other content, by {c.source}; "
                      "the first is kept")
            keys += [self.bib.entries[e.key.lower()].key for e in entries]
        listed = ", ".join(dict.fromkeys(keys)) or ("(none: its citation is not valid BibTeX)" if skipped
                                                    else "(no BibTeX citation)")
        print("\n" + _comment(f"{label}: {listed}"))
        for e in new:
            print(e.text)


def main(args: argparse.Namespace) -> int:
    from bench.hardware import harness_version

    reg = registry()
    loaded = ResultStore(args.results_dir or Path("results")).load()
    records = [r for r in loaded.records if r.status == "ok"]
    task_ids = sorted({r.task for r in records}) or list(reg.tasks)
    methods = sorted({r.method for r in records}) or list(reg.methods)
    citer = _Citer()
    own = transferbench_bibtex(harness_version(), biblatex=args.biblatex)
    citer.bib.add(parse_entries(own), "transferbench")
    print(own)
    for tid in task_ids:
        spec = reg.tasks.get(tid)
        if spec is None:
            print("\n" + _comment(f"task {tid}: not installed, so its citation is unknown"))
            continue
        cites: list[tuple[str, object]] = [(f"task {tid}", spec.citation)] if spec.citation else []
        for ref in spec.references:
            if isinstance(ref.citation, str) and ref.citation.lstrip().startswith("@"):  # else a plain-text source
                cites.append((f"task {tid} (published {ref.method} {ref.value:g})", ref.citation))
        citer.cite(f"task {tid}", cites)
    for name in methods:
        m = reg.methods.get(name)
        if m is None:
            print("\n" + _comment(f"method {name}: not installed, so its citation is unknown"))
        elif m.citation:
            citer.cite(f"method {name}", [(f"method {name}", m.citation)])
    print("\n" + _comment("Provenance of the results cited"))
    if not records:
        print(_comment("(no successful records in the results directory)"))
        return 0

    def distinct(values: list[str]) -> str:
        return ", ".join(sorted(set(values)))

    lines = [f"records: {len(records)} runs, tasks: {', '.join(task_ids)}",
             f"transferbench: {distinct([r.provenance.harness_version for r in records])}"]
    revs = [f"{r.provenance.git_revision or 'unknown'}{' (dirty)' if r.provenance.git_dirty else ''}" for r in records]
    lines.append(f"git revision: {distinct(revs)}")
    for pkg in ("torch", "numpy", "scikit-learn", "transformers", "stable-baselines3"):
        vs = [r.provenance.packages[pkg] for r in records if pkg in r.provenance.packages]
        if vs:
            lines.append(f"{pkg}: {distinct(vs)}")
    hws = [f"{r.provenance.hardware.get('cpu')} x{r.provenance.hardware.get('cpu_cores')}"
           + (f", {r.provenance.hardware['gpu']}" if r.provenance.hardware.get("gpu") else "") for r in records]
    lines.append(f"hardware: {distinct(hws)}")
    lines.append(f"python: {distinct([r.provenance.python for r in records])}")
    lines.append(f"runs between {min(r.started_at for r in records)} and {max(r.finished_at for r in records)}")
    for line in lines:
        print(_comment(line))
    return 0
