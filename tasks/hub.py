"""What the real tiers know about a hub repository before downloading it: its commit, files and card.

Both families pin their hub models and datasets to commits, and a pin is only as good as the
files behind it: a model whose pinned commit has pickle weights only, a dataset whose card no
longer declares the column a loader reads, break a user's first run after minutes of downloads.
``bench check-real`` asks each real-tier task (``TaskSpec.hub_check``) to look at that metadata
first, in seconds: :class:`LiveHub` reads it from the hub (``HfApi.model_info`` /
``dataset_info``, never a weight file), :class:`SavedHub` from JSON files written by
:meth:`SavedHub.save` (how the offline tests check the same logic against the real layout).

Set ``TRANSFERBENCH_HUB_METADATA`` to such a directory to run the check against saved metadata
(:func:`default_hub`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

__all__ = ["PICKLE_WEIGHTS", "SAFETENSORS_WEIGHTS", "SHA", "Check", "HubIndex", "LiveHub", "RepoInfo", "SavedHub",
           "default_hub", "is_commit", "look_up_model", "weights_problem"]

SHA = re.compile(r"^[0-9a-f]{40}$")
"""A full git commit hash: the only revision that names an immutable snapshot."""

Kind = Literal["model", "dataset"]


def is_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full commit hash rather than a branch or tag that moves."""
    return bool(revision and SHA.match(revision))


@dataclass(frozen=True)
class RepoInfo:
    """One repository at one revision: the commit it resolves to, its file names, its card's metadata."""

    kind: Kind
    repo: str
    revision: str
    """The revision asked for (a commit, branch or tag)."""
    sha: str
    """The commit it resolved to."""
    files: tuple[str, ...]
    card: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """The card's YAML header (``card_data``): a dataset's ``dataset_info`` (features, splits) and ``configs``."""

    def has(self, pattern: str) -> bool:
        """Whether a file matches ``pattern`` (a glob over the repository's paths, ``*`` within a folder)."""
        from fnmatch import fnmatchcase

        return any(fnmatchcase(f, pattern) for f in self.files)

    def _dataset_info(self, config: str | None) -> Mapping[str, Any]:
        info = self.card.get("dataset_info") or {}
        if isinstance(info, list):
            wanted = config or "default"
            matches = [c for c in info if c.get("config_name", "default") == wanted]
            return matches[0] if matches else (info[0] if len(info) == 1 and config is None else {})
        return info

    def features(self, config: str | None = None) -> dict[str, Any]:
        """Column name -> its feature as the card declares it (``{"dtype": ...}`` or ``{"class_label": ...}``)."""
        out: dict[str, Any] = {}
        for f in self._dataset_info(config).get("features") or []:
            out[str(f.get("name"))] = {k: v for k, v in f.items() if k != "name"}
        return out

    def class_names(self, column: str, config: str | None = None) -> tuple[str, ...] | None:
        """The ``ClassLabel`` names of ``column`` in index order, None where the card declares none."""
        dtype = self.features(config).get(column, {}).get("dtype")
        names = dtype.get("class_label", {}).get("names") if isinstance(dtype, dict) else None
        if isinstance(names, dict):
            return tuple(str(names[k]) for k in sorted(names, key=lambda k: int(k)))
        return tuple(map(str, names)) if names else None

    def splits(self, config: str | None = None) -> dict[str, int]:
        """Split name -> number of examples, as the card declares them."""
        return {str(s["name"]): int(s.get("num_examples", 0)) for s in self._dataset_info(config).get("splits") or []}

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "repo": self.repo, "revision": self.revision, "sha": self.sha,
                "files": list(self.files), "card": dict(self.card)}


class Check(NamedTuple):
    """One thing a real-tier run would load, and what would break (None: nothing): the pair
    ``TaskSpec.hub_check`` functions return."""

    what: str
    problem: str | None = None


class HubIndex(Protocol):
    """Where :class:`RepoInfo` comes from; raises LookupError (one line) for an unknown repo or revision."""

    def info(self, kind: Kind, repo: str, revision: str) -> RepoInfo: ...


class LiveHub:
    """The hub itself, through ``huggingface_hub``: metadata calls only, no file is downloaded."""

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout

    def info(self, kind: Kind, repo: str, revision: str) -> RepoInfo:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        api = HfApi()
        get = api.model_info if kind == "model" else api.dataset_info
        try:
            meta = get(repo, revision=revision or None, timeout=self.timeout)
        except RevisionNotFoundError:
            raise LookupError(f"{kind} {repo}: no revision {revision!r} on the hub") from None
        except RepositoryNotFoundError:
            raise LookupError(f"{kind} {repo}: no such repository on the hub (or it is private or gated)") from None
        except Exception as exc:  # httpx's or requests' connection errors, a proxy's refusal, a timeout
            first = (str(exc).splitlines() or [""])[0]
            raise ConnectionError(f"could not reach the hub ({type(exc).__name__}: {first}); check-real needs network "
                                  "access, or TRANSFERBENCH_HUB_METADATA=DIR to read saved metadata") from None
        card_data = getattr(meta, "card_data", None)
        card = card_data.to_dict() if card_data is not None else {}
        files = tuple(s.rfilename for s in (meta.siblings or []))
        return RepoInfo(kind, repo, revision, str(meta.sha), files, card)


class SavedHub:
    """Metadata saved as JSON files, one per (kind, repo, revision): the offline stand-in for the hub."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, kind: Kind, repo: str, revision: str) -> Path:
        return self.directory / f"{kind}s" / f"{repo.replace('/', '--')}@{revision or 'main'}.json"

    def info(self, kind: Kind, repo: str, revision: str) -> RepoInfo:
        path = self._path(kind, repo, revision)
        if not path.is_file():
            known = sorted(p.stem for p in (self.directory / f"{kind}s").glob(f"{repo.replace('/', '--')}@*.json"))
            raise LookupError(f"{kind} {repo}: no revision {revision!r} in the saved metadata {self.directory}"
                              + (f" (saved: {', '.join(k.split('@', 1)[1] for k in known)})" if known else ""))
        data = json.loads(path.read_text())
        return RepoInfo(kind, data["repo"], revision, data["sha"], tuple(data["files"]), data.get("card") or {})

    def save(self, info: RepoInfo, aliases: Sequence[str] = ()) -> Path:
        """Write ``info`` (and the same file under each revision name in ``aliases``, e.g. ``main``)."""
        path = self._path(info.kind, info.repo, info.revision)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(info.to_json(), indent=1, sort_keys=True)
        for p in [path, *(self._path(info.kind, info.repo, a) for a in aliases)]:
            p.write_text(text)
        return path


def default_hub() -> HubIndex:
    """:class:`SavedHub` of ``$TRANSFERBENCH_HUB_METADATA`` where it is set, else :class:`LiveHub`."""
    saved = os.environ.get("TRANSFERBENCH_HUB_METADATA")
    return SavedHub(saved) if saved else LiveHub()


SAFETENSORS_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
"""The weight files the real tiers load from a hub (one file, or a sharded index)."""
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
"""Pickle weights: never loaded, since unpickling runs whatever code the file holds."""


def weights_problem(has: Callable[[str], bool], where: str = "at this revision") -> str | None:
    """None where safetensors weights are there (``has(name)``: whether the file is), else what to do.

    A repository whose main branch has pickle weights only often has a bot's safetensors
    conversion as a pull request (``refs/pr/N``): pinning that commit is the fix that needs no
    conversion on the user's side.
    """
    if any(has(name) for name in SAFETENSORS_WEIGHTS):
        return None
    if any(has(name) for name in PICKLE_WEIGHTS):
        return ("only pickle weights (pytorch_model.bin), which are never loaded: pin a revision with "
                "model.safetensors (often its safetensors conversion pull request, refs/pr/N), or convert it once "
                "with save_pretrained in an environment you trust")
    return f"no model.safetensors {where}"


def look_up_model(hub: HubIndex, repo: str, revision: str, note: str = "") -> tuple[str, RepoInfo | None, str | None]:
    """``(what, info, problem)`` for a model repository at a revision: the line's label, its metadata
    (None where the lookup failed) and the lookup's problem. The label names the commit a branch
    resolved to, since that is what a run loads and records."""
    what = f"model {repo}@{revision[:7] if is_commit(revision) else revision}"
    try:
        info = hub.info("model", repo, revision)
    except LookupError as exc:
        return what, None, str(exc)
    notes = [n for n in ("" if is_commit(revision) else info.sha[:7], note) if n]
    return what + (f" ({'; '.join(notes)})" if notes else ""), info, None
