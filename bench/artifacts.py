"""A content-addressed cache of intermediate results shared between runs.

A source model trained once per (config, seed) serves every method that starts from it; cached
features serve every head trained on them. An artifact is a directory named by the hash of the
key that produced it, built in a temporary directory and renamed into place, so a killed build
leaves nothing that looks finished (and the next build of that key removes what it left). A file
lock makes parallel workers that ask for the same key wait for one build instead of repeating it.
Each artifact's ``artifact.json`` lists its files with their sizes and SHA-256; an artifact is
checked against that list the first time a process opens it, and a damaged one (a truncated
weight file) is rebuilt once, with a warning naming it, instead of failing every later run. A
build leaves the global random streams (Python's, NumPy's, torch's) as it found them, so a run
gives the same numbers whether it built an artifact or found it cached.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.hashing import config_hash

__all__ = ["ArtifactCache", "ArtifactUse", "random_streams_kept"]

META = "artifact.json"

log = logging.getLogger("transferbench")


def _manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """Every file under ``folder`` but the metadata: relative path -> size and SHA-256."""
    out: dict[str, dict[str, Any]] = {}
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != META):
        h = hashlib.sha256()
        with f.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 24), b""):
                h.update(chunk)
        out[f.relative_to(folder).as_posix()] = {"size": f.stat().st_size, "sha256": h.hexdigest()}
    return out


def _damage(folder: Path, meta: Mapping[str, Any]) -> str | None:
    """None where the artifact's files are those its manifest lists, else the first difference.
    Artifacts built before manifests existed have none and are taken as they are."""
    files = meta.get("files")
    if files is None:
        return None
    for rel, want in files.items():
        f = folder / rel
        if not f.is_file():
            return f"{rel} is missing"
        if f.stat().st_size != want["size"]:
            return f"{rel} is {f.stat().st_size:,} bytes, {want['size']:,} when built"
    found = _manifest(folder)
    for rel, want in files.items():
        if found[rel]["sha256"] != want["sha256"]:
            return f"{rel} does not match its checksum"
    return None


@dataclass(frozen=True)
class ArtifactUse:
    """One artifact a run used, kept in its record: was it built here, and what did it cost?"""

    name: str
    key_hash: str
    hit: bool
    build_s: float
    """Seconds its build took, whether in this run or an earlier one."""


_VERIFIED: set[Path] = set()
"""Artifacts this process has checked against their manifest (or built): each is hashed once."""


class ArtifactCache:
    """Artifacts under ``root/<name>/<hash>/``, each with an ``artifact.json`` holding its key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.used: list[ArtifactUse] = []

    def path(self, name: str, key: Mapping[str, Any]) -> Path:
        return self.root / name / config_hash(key)[:16]

    def get_or_build(
        self, name: str, key: Mapping[str, Any], build: Callable[[Path], object]
    ) -> Path:
        """Return the directory of artifact ``name`` for ``key``, calling ``build(tmpdir)`` if absent.

        ``key`` must hold everything that determines the artifact's content (the task version,
        the seed, every option used). ``build`` writes files into the directory it is given.
        """
        final = self.path(name, key)
        hit = (final / META).exists() and self._intact(final, warn=False)
        if not hit:
            final.parent.mkdir(parents=True, exist_ok=True)
            with open(final.parent / f".{final.name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    hit = (final / META).exists() and self._intact(final)
                    if not hit:
                        for left in final.parent.glob(f".{final.name}.*"):  # killed builds of this key
                            if left.is_dir():
                                shutil.rmtree(left, ignore_errors=True)
                        self._build(final, name, key, build)
                        _VERIFIED.add(final)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        meta = json.loads((final / META).read_text())
        self.used.append(ArtifactUse(name, final.name, hit, float(meta["build_s"])))
        return final

    @staticmethod
    def _intact(final: Path, warn: bool = True) -> bool:
        """Whether a finished artifact's files are as built; a damaged one is left to be rebuilt
        (and logged with ``warn``: the check under the build lock is the one that decides)."""
        if final in _VERIFIED:
            return True
        try:
            why = _damage(final, json.loads((final / META).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            why = f"its {META} is unreadable ({type(exc).__name__})"
        if why is None:
            _VERIFIED.add(final)
            return True
        if warn:
            log.warning("artifact %s is damaged (%s): rebuilding it", final, why)
        return False

    @staticmethod
    def _build(final: Path, name: str, key: Mapping[str, Any], build: Callable[[Path], object]) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            start = time.perf_counter()
            with random_streams_kept():
                build(tmp)
            meta = {"name": name, "key": dict(key), "build_s": time.perf_counter() - start, "files": _manifest(tmp)}
            (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
            if final.exists():  # a leftover of a killed build, or a damaged artifact
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def uses(self) -> list[dict[str, Any]]:
        return [asdict(u) for u in self.used]


@contextmanager
def random_streams_kept() -> Iterator[None]:
    """Restore Python's, NumPy's and (where imported) torch's global random state on exit.

    Without it, the run that happens to build a shared artifact would continue from a random
    state its build moved (dropout masks, initializations), and the runs that find the artifact
    cached from another; the same config and seed would give different numbers by cache luck.
    """
    import numpy as np

    torch = sys.modules.get("torch")
    states: list[tuple[Callable[[Any], Any], Any]] = [(random.setstate, random.getstate()),
                                                      (np.random.set_state, np.random.get_state())]
    if torch is not None:
        states.append((torch.set_rng_state, torch.get_rng_state()))
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            states.append((torch.cuda.set_rng_state_all, torch.cuda.get_rng_state_all()))
    try:
        yield
    finally:
        for restore, state in states:
            restore(state)
