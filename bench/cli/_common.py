"""What several sub-commands share: the registry with its warnings, the results directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.registry import Registry

RESULTS_HELP = "directory of run records (default: ./results)"


def registry() -> Registry:
    """Discover tasks and methods; each plugin problem is one warning line, never fatal."""
    reg = Registry.discover()
    for line in reg.problems:
        print(f"bench: warning: {line}", file=sys.stderr)
    return reg


def add_results_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results-dir", type=Path, default=None, metavar="DIR", help=RESULTS_HELP)


def csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]
