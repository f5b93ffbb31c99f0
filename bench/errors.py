"""Errors the CLI turns into one line and exit status 2, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["FaultError", "UsageError", "unknown"]


class UsageError(Exception):
    """Bad input from the user: the message names the bad value and the accepted ones."""


class FaultError(Exception):
    """A fault outside the harness that stops the grid (the disk is full): one line, exit status 1.
    Finished runs keep their records; the same command resumes once the fault is fixed."""


def unknown(kind: str, value: str, accepted: Iterable[str]) -> UsageError:
    """A :class:`UsageError` for an unknown name, with close matches or the accepted names."""
    accepted = sorted(set(accepted))
    close = difflib.get_close_matches(value, accepted, n=3, cutoff=0.5)
    lowered = [a for a in accepted if value.lower() in a.lower() and a not in close]
    close += lowered[: 3 - len(close)]
    if close:
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
    elif len(accepted) <= 12:
        hint = "accepted: " + ", ".join(accepted) if accepted else "none are registered"
    else:
        hint = f"see 'python -m bench list' for the {len(accepted)} accepted names"
    return UsageError(f"unknown {kind} {value!r}; {hint}")
