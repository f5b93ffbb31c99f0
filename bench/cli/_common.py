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


def writable_results_dir(path: Path) -> None:
    """Create the results directory, or raise :class:`UsageError` naming why records cannot be written there.

    Checked before the first run: a grid that runs for hours and then cannot save its first
    record has lost those hours.
    """
    import os
    import tempfile

    from bench.errors import UsageError

    if path.exists() and not path.is_dir():
        raise UsageError(f"--results-dir {str(path)!r} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise UsageError(f"--results-dir {str(path)!r}: records cannot be written there ({why}); "
                         "give a directory you can write to") from None
    if not os.access(path, os.W_OK):  # pragma: no cover - root bypasses permissions; the write above catches the rest
        raise UsageError(f"--results-dir {str(path)!r}: not writable")
