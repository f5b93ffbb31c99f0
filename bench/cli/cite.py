"""BibTeX for transferbench and for the tasks and methods behind the results, with provenance.

Cites what the results directory holds (or every installed task and method when it is empty),
and states the versions, git revisions and hardware those results came from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli._common import add_results_dir, registry
from bench.store import ResultStore

HELP = "BibTeX for transferbench, tasks and methods, plus the results' provenance"

TRANSFERBENCH_BIBTEX = """@software{transferbench,
  title = {transferbench: a benchmark suite for transfer learning},
  author = {{transferbench contributors}},
  year = {2026},
  version = {%s},
  note = {Tasks, methods and from-scratch baselines with bootstrap intervals}
}"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_results_dir(p)


def main(args: argparse.Namespace) -> int:
    from bench.hardware import harness_version

    reg = registry()
    loaded = ResultStore(args.results_dir or Path("results")).load()
    records = [r for r in loaded.records if r.status == "ok"]
    task_ids = sorted({r.task for r in records}) or list(reg.tasks)
    methods = sorted({r.method for r in records}) or list(reg.methods)
    print(TRANSFERBENCH_BIBTEX % harness_version())
    seen: set[str] = set()
    for tid in task_ids:
        spec = reg.tasks.get(tid)
        cites = [spec.citation] if spec and spec.citation else []
        cites += [ref.citation for ref in spec.references if ref.citation.lstrip().startswith("@")] if spec else []
        for c in cites:
            if c not in seen:
                seen.add(c)
                print(f"\n% task {tid}\n{c}")
    for name in methods:
        m = reg.methods.get(name)
        if m and m.citation and m.citation not in seen:
            seen.add(m.citation)
            print(f"\n% method {name}\n{m.citation}")
    print("\n% Provenance of the results cited")
    if not records:
        print("% (no successful records in the results directory)")
        return 0
    def distinct(values: list[str]) -> str:
        return ", ".join(sorted(set(values)))

    print(f"% records: {len(records)} runs, tasks: {', '.join(task_ids)}")
    print(f"% transferbench: {distinct([r.provenance.harness_version for r in records])}")
    revs = [f"{r.provenance.git_revision or 'unknown'}{' (dirty)' if r.provenance.git_dirty else ''}" for r in records]
    print(f"% git revision: {distinct(revs)}")
    for pkg in ("torch", "numpy", "scikit-learn", "transformers", "stable-baselines3"):
        vs = [r.provenance.packages[pkg] for r in records if pkg in r.provenance.packages]
        if vs:
            print(f"% {pkg}: {distinct(vs)}")
    hws = [f"{r.provenance.hardware.get('cpu')} x{r.provenance.hardware.get('cpu_cores')}"
           + (f", {r.provenance.hardware['gpu']}" if r.provenance.hardware.get("gpu") else "") for r in records]
    print(f"% hardware: {distinct(hws)}")
    print(f"% python: {distinct([r.provenance.python for r in records])}")
    print(f"% runs between {min(r.started_at for r in records)} and {max(r.finished_at for r in records)}")
    return 0
