"""Provenance read from the machine and the checkout, with real git repositories in tmp dirs."""

from __future__ import annotations

import os
import subprocess
import time

from bench.hardware import git_state


def _git(repo, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                            GIT_COMMITTER_EMAIL="t@t"))


def test_git_state_reads_revision_and_dirty_flag_without_rewriting_the_index(tmp_path):
    """A plain ``git status`` refreshes a stale index under ``.git/index.lock``; a driver killed
    then would leave the repository locked, so the harness must never write it."""
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-qm", "first")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    future = time.time() + 100
    os.utime(tmp_path / "a.txt", (future, future))  # same content, new stat: the index is stale
    index = tmp_path / ".git" / "index"
    before = index.read_bytes()
    assert git_state(tmp_path) == (head, False)
    assert index.read_bytes() == before
    (tmp_path / "a.txt").write_text("two\n")
    git_state.cache_clear()
    assert git_state(tmp_path) == (head, True)
    assert index.read_bytes() == before


def test_git_state_outside_a_checkout_is_unknown(tmp_path):
    assert git_state(tmp_path) == (None, None)
