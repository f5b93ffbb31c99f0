"""A content-addressed cache of intermediate results shared between runs.

A source model trained once per (config, seed) serves every method that starts from it; cached
features serve every head trained on them. An artifact is a directory named by the hash of the
key that produced it, built in a temporary directory and renamed into place, so a killed build
leaves nothing that looks finished. A file lock makes parallel workers that ask for the same key
wait for one build instead of repeating it. A build leaves the global random streams (Python's,
NumPy's, torch's) as it found them, so a run gives the same numbers whether it built an artifact
or found it cached.
"""

from __future__ import annotations

import fcntl
import json
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


@dataclass(frozen=True)
class ArtifactUse:
    """One artifact a run used, kept in its record: was it built here, and what did it cost?"""

    name: str
    key_hash: str
    hit: bool
    build_s: float
    """Seconds its build took, whether in this run or an earlier one."""


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
        hit = (final / META).exists()
        if not hit:
            final.parent.mkdir(parents=True, exist_ok=True)
            with open(final.parent / f".{final.name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    hit = (final / META).exists()
                    if not hit:
                        self._build(final, name, key, build)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        meta = json.loads((final / META).read_text())
        self.used.append(ArtifactUse(name, final.name, hit, float(meta["build_s"])))
        return final

    @staticmethod
    def _build(final: Path, name: str, key: Mapping[str, Any], build: Callable[[Path], object]) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            start = time.perf_counter()
            with random_streams_kept():
                build(tmp)
            meta = {"name": name, "key": dict(key), "build_s": time.perf_counter() - start}
            (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
            if final.exists():  # a directory without META is a leftover of a killed build
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
