"""pybullet without its C chatter, which no Python setting turns off.

Importing pybullet prints ``pybullet build time: ...`` to stderr, and a pybullet_envs robot's
first reset prints ``argv[0]=`` to stdout while it connects a headless simulation: one line per
worker process and per env, hundreds in an evaluation over a perturbation grid, mixed into the
leaderboard a user reads. Everything in this family imports pybullet from here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["native_output_silenced", "pybullet"]


@contextmanager
def native_output_silenced(*streams: TextIO) -> Iterator[None]:
    """Drop what native code writes to these streams' file descriptors (default: stdout and stderr)."""
    fds = []
    for stream in streams or (sys.stdout, sys.stderr):
        try:
            fds.append(stream.fileno())
        except (AttributeError, OSError, ValueError):  # a captured stream with no descriptor
            continue
        stream.flush()
    saved = [os.dup(fd) for fd in fds]
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in fds:
        os.dup2(devnull, fd)
    try:
        yield
    finally:
        for fd, copy in zip(fds, saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


with native_output_silenced(sys.stderr):
    import pybullet
