"""Which driver is running which run: two ``bench run`` on one grid and one results directory split it.

Without this, two drivers started on the same grid (two terminals, two cluster jobs sharing a
filesystem) both do every run: nothing is corrupted, since records are atomic, but the compute
is spent twice. Each driver keeps one file under ``<results>/.holds/`` listing the config hashes
of the runs it is doing; under a file lock, a driver takes the pending runs no live driver
holds, and leaves the others to their holders. A holder refreshes its file every
:data:`HEARTBEAT_S` seconds; a file whose driver is gone (no refresh for :data:`EXPIRE_S`
seconds; on the same host, as soon as its process has exited) holds nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["EXPIRE_S", "HEARTBEAT_S", "Holds"]

HEARTBEAT_S = 30.0
EXPIRE_S = 120.0


class Holds:
    """This driver's holds in one results directory; a context manager, so they are released
    however the grid ends."""

    def __init__(self, results_dir: str | Path) -> None:
        self.folder = Path(results_dir) / ".holds"
        self.mine = self.folder / f"{socket.gethostname()}-{os.getpid()}.json"
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="transferbench-holds", daemon=True)

    def __enter__(self) -> Holds:
        self._beat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.mine.unlink(missing_ok=True)

    def take(self, config_hashes: Sequence[str]) -> set[str]:
        """Hold every run of ``config_hashes`` that no other live driver holds; return those held here.

        Where the folder cannot be written (a full or read-only disk) every run is taken unheld:
        the record's own write then reports the fault.
        """
        try:
            with self._locked():
                others: set[str] = set()
                for path in self.folder.glob("*.json"):
                    if path != self.mine and not _stale(path):
                        others |= _hashes(path)
                with self._lock:
                    self._held |= {h for h in config_hashes if h not in others}
                    self._write()
                    return set(self._held)
        except OSError:
            return set(config_hashes)

    def release(self, config_hash: str) -> None:
        with self._lock:
            self._held.discard(config_hash)
            try:
                self._write()
            except OSError:
                pass

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self) -> None:
        tmp = self.mine.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "runs": sorted(self._held)}))
            os.replace(tmp, self.mine)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.mine)
            except OSError:
                pass


def _hashes(path: Path) -> set[str]:
    try:
        return set(json.loads(path.read_text()).get("runs", []))
    except (OSError, ValueError, AttributeError):
        return set()


def _stale(path: Path) -> bool:
    """Whether the driver of a hold file is gone: no refresh for :data:`EXPIRE_S` seconds, or, on
    this host, its process has exited (found at once, without waiting for the expiry)."""
    try:
        age = time.time() - path.stat().st_mtime
        holder = json.loads(path.read_text())
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return True
    if age > EXPIRE_S:
        return True
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):  # another user's process, or a foreign file
        return False
    return False
