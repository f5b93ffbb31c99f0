"""Show one record, readable: a path to its JSON file, or the start of its config hash."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import session
from bench.cli._common import add_results_dir
from bench.environment import requirements
from bench.errors import UsageError
from bench.record import Record, RecordError, parse_record
from bench.store import ResultStore

HELP = "show one record"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("record", help="a record file, or the first characters of a config hash")
    p.add_argument("--requirements", action="store_true",
                   help="print the exact package versions the run was made with, for pip install -r")
    add_results_dir(p)


def find(ref: str, results: Path) -> tuple[Path, Record]:
    path = Path(ref)
    if path.is_file():
        try:
            return path, parse_record(path.read_text())
        except RecordError as exc:
            raise UsageError(f"{ref}: {exc}") from None
    records = session.load(results).records if results.is_dir() else []
    matches = [r for r in records if r.config_hash.startswith(ref.lower())]
    if not matches:
        raise UsageError(f"no record file or config hash {ref!r} in {results}/ ({len(records)} records)")
    if len(matches) > 1:
        raise UsageError(f"config hash prefix {ref!r} matches {len(matches)} records; give more characters")
    r = matches[0]
    return ResultStore(results).path_for(r.task, r.method, r.seed, r.config_hash), r


def format_record(r: Record) -> str:
    t, c, p = r.timings, r.cost, r.provenance
    lines = [
        f"{r.task}  {r.method} ({r.role})  seed {r.seed}  budget {r.budget}  status {r.status.upper()}",
        f"config hash {r.config_hash}",
        f"config      {r.config}",
    ]
    if r.error:
        lines += ["error:", *("  " + e for e in r.error.rstrip().splitlines())]
    if r.metrics:
        lines.append("metrics     " + ", ".join(f"{k}={v:.4g}" for k, v in r.metrics.items())
                     + f"   (main: {r.metric}, {'higher' if r.higher_is_better else 'lower'} is better)")
    for name, per in r.breakdowns.items():
        lines.append(f"breakdown   {name}: " + ", ".join(f"{k}={v:.3g}" for k, v in per.items()))
    for name, pts in r.curves.items():
        lines.append(f"curve       {name}: " + ", ".join(f"({x:g}, {y:.3g})" for x, y in pts))
    lines.append(
        f"timings     total {t.total_s:.2f}s = set-up {t.setup_s:.2f} + data {t.data_s:.2f} "
        f"+ source {t.source_train_s:.2f} + target {t.target_train_s:.2f} + eval {t.eval_s:.2f} "
        f"+ harness {t.overhead_s:.2f}"
    )
    lines.append(
        f"cost        peak RSS {c.peak_rss_mb or 0:.0f} MB"
        + (f", peak GPU {c.peak_gpu_mb:.0f} MB" if c.peak_gpu_mb else "")
        + f", trainable {c.trainable_params} of {c.total_params} params, {c.train_samples} target samples"
        + (f" ({c.throughput:.0f}/s)" if c.throughput else "")
    )
    for a in r.artifacts:
        lines.append(f"artifact    {a['name']} {a['key_hash']} ({'reused' if a['hit'] else 'built'}, "
                     f"build {a['build_s']:.1f}s)")
    hw = p.hardware
    lines.append(f"hardware    {hw.get('cpu')} x{hw.get('cpu_cores')}, {hw.get('ram_gb')} GB RAM"
                 + (f", {hw['gpu']}" if hw.get("gpu") else "") + (f", torch {hw['torch']}" if hw.get("torch") else ""))
    dirty = " (dirty)" if p.git_dirty else ""
    lines.append(f"provenance  transferbench {p.harness_version}, git {p.git_revision or '—'}{dirty}, "
                 f"python {p.python}, {len(p.packages)} packages recorded")
    lines.append(f"time        {r.started_at} → {r.finished_at}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    path, record = find(args.record, args.results_dir or Path("results"))
    if args.requirements:
        print(requirements(record), end="")
    else:
        print(f"{path}\n{format_record(record)}")
    return 0
