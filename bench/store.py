"""The results directory: where records are written atomically and read back.

Layout: ``<root>/<family>/<Name-vN>/<method>/seed-<k>-<hash12>.json``, where ``hash12`` is the
start of the run's config hash, so runs that differ in budget or options never collide and a
finished run is found by its config alone. Shared artifacts live under ``<root>/.cache``.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.errors import FaultError
from bench.record import Record, RecordError, parse_record

__all__ = ["ResultStore", "atomic_write"]

log = logging.getLogger("transferbench")


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide records from collaborators on a shared disk
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it; it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@dataclass
class Loaded:
    """Records read from a results directory, and one line per file that was skipped."""

    records: list[Record]
    problems: list[str]


class ResultStore:
    """Records under one root directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def cache_dir(self) -> Path:
        return self.root / ".cache"

    def path_for(self, task: str, method: str, seed: int, config_hash: str) -> Path:
        return self.root / task / method / f"seed-{seed}-{config_hash[:12]}.json"

    def files_dir(self, task: str, method: str, seed: int, config_hash: str) -> Path:
        """Where one run keeps the files it writes beside its record (a directory, made on demand)."""
        return self.path_for(task, method, seed, config_hash).with_suffix("")

    def write(self, record: Record) -> Path:
        """Write the record atomically; a full disk is a :class:`FaultError` naming the directory and the space."""
        path = self.path_for(record.task, record.method, record.seed, record.config_hash)
        text = record.to_json()
        try:
            atomic_write(path, text)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            try:
                free = f"{shutil.disk_usage(self.root).free:,} bytes free"
            except OSError:
                free = "free space unknown"
            raise FaultError(f"no space left in {self.root} to save the record of {record.task} {record.method} "
                             f"seed {record.seed} ({len(text.encode()):,} bytes needed, {free}): free some space "
                             "and run the same command again; finished runs keep their records") from None
        return path

    def finished(self, task: str, method: str, seed: int, config_hash: str) -> Record | None:
        """The successful record of exactly this config, if one exists (failed runs are redone)."""
        path = self.path_for(task, method, seed, config_hash)
        try:
            record = parse_record(path.read_text())
        except (OSError, RecordError):
            return None
        if record.config_hash != config_hash or record.status != "ok":
            return None
        return record

    def files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(
            p
            for p in self.root.rglob("*.json")
            if not any(part.startswith(".") for part in p.relative_to(self.root).parts)
        )

    def load(self) -> Loaded:
        """Every valid record once; corrupt or foreign JSON files are reported and skipped.

        A record whose stored hash is not its config's (edited by hand) is skipped, and so is a
        second file of the same run (a copied subtree): counted twice, it would double the run's
        seeds and narrow every interval it is in. The copy at the run's own path is the one kept.
        """
        from bench.hashing import config_hash

        found: dict[str, tuple[Path, Record]] = {}
        problems = []
        for path in self.files():
            try:
                record = parse_record(path.read_text())
            except (OSError, UnicodeDecodeError, RecordError) as exc:
                problems.append(f"skipped {path}: {exc}")
                continue
            if config_hash(record.config) != record.config_hash:
                problems.append(f"skipped {path}: its config_hash does not match its config (edited by hand?)")
                continue
            seen = found.get(record.config_hash)
            if seen is not None:
                own = self.path_for(record.task, record.method, record.seed, record.config_hash)
                keep, drop = (path, seen[0]) if path == own else (seen[0], path)
                if keep is path:
                    found[record.config_hash] = (path, record)
                problems.append(f"skipped {drop}: the same run (config hash {record.config_hash[:12]}) as {keep}")
                continue
            found[record.config_hash] = (path, record)
        return Loaded([r for _, r in found.values()], problems)
