"""Software environments as pins: a record's, for recreating a cited number, and this one's, as the lock.

Every record stores the version of every installed distribution (:func:`bench.hardware.packages`).
A reader of a paper who wants to recreate the environment behind a cited number needs those
versions as something ``pip install -r`` reads, plus the two things pins cannot say: the Python
it ran on and the git revision of transferbench itself. The project's own lock,
``constraints.txt``, is the same pins taken from the environment the tests just passed in
(``python -m bench.environment constraints.txt``, run by ``tox -e lock``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.record import Record

__all__ = ["lock", "pins", "requirements"]

# Not pinned: transferbench is installed from its own revision, and pip is the installer itself.
_UNPINNED = frozenset({"transferbench", "pip"})

PYTORCH_INDEX = "https://download.pytorch.org/whl"


def pins(packages: Mapping[str, str], *, local_labels: bool = True) -> list[str]:
    """``name==version`` for every package but transferbench and pip, sorted by name.

    ``local_labels=False`` drops a build's local label (``2.13.0+cpu`` -> ``2.13.0``), which any
    build of that release satisfies: a lock must admit the CUDA build on a GPU machine.
    """
    out = []
    for name, version in sorted(packages.items()):
        if name.lower() not in _UNPINNED:
            out.append(f"{name}=={version if local_labels else version.split('+', 1)[0]}")
    return out


def requirements(record: Record) -> str:
    """A requirements file with the exact version of every package the record's run had installed.

    Builds with a local version label (``torch==2.13.0+cpu``) are pinned as recorded, since the
    label names the build that ran (CPU or a CUDA version); a comment says which index has them.
    """
    p = record.provenance
    platform = p.hardware.get("platform", "a platform not recorded")
    head = [
        f"# The environment of record {record.config_hash[:12]} ({record.task} {record.method} seed {record.seed}),",
        f"# finished {record.finished_at} with Python {p.python} on {platform}.",
        "# In a fresh virtual environment of that Python:",
        "#   pip install -r THIS_FILE",
    ]
    local = {name: version for name, version in p.packages.items() if "+" in version and name not in _UNPINNED}
    if local:
        labels = sorted({version.split("+", 1)[1] for version in local.values()})
        head.append("# " + ", ".join(f"{n} {v}" for n, v in sorted(local.items()))
                    + ": builds from PyTorch's index; where pip cannot find them, add "
                    + " ".join(f"--extra-index-url {PYTORCH_INDEX}/{label}" for label in labels))
    if p.git_revision:
        dirty = " (the run had uncommitted changes, which no revision holds)" if p.git_dirty else ""
        head += [f"# then transferbench {p.harness_version} at git revision {p.git_revision}{dirty}:",
                 f"#   git checkout {p.git_revision} && pip install --no-deps -e ."]
    else:
        head.append(f"# then transferbench {p.harness_version} (the run recorded no git revision): "
                    f"pip install --no-deps transferbench=={p.harness_version}")
    return "\n".join([*head, *pins(p.packages)]) + "\n"


def lock(packages: Mapping[str, str]) -> str:
    """The lock file's text: every package of an environment the tests passed in, local labels dropped."""
    head = [
        "# The exact releases transferbench's tests passed with; the README's install and CI use it.",
        "# Refresh: tox -e lock (installs the newest releases pyproject.toml allows, runs the fast and",
        "# slow tests, then writes this file with python -m bench.environment constraints.txt).",
    ]
    return "\n".join([*head, *pins(packages, local_labels=False)]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from bench.hardware import packages
    from bench.store import atomic_write

    parser = argparse.ArgumentParser(prog="python -m bench.environment",
                                     description="write this environment's packages as the project's lock")
    parser.add_argument("out", type=Path, help="the constraints file to write (constraints.txt)")
    args = parser.parse_args(argv)
    atomic_write(args.out, lock(packages()))
    print(f"wrote {len(pins(packages()))} pins to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
