"""The real tier's checks before anything runs: at plan time (budgets, protocol) and against hub metadata.

Both read only :mod:`tasks.vision.hubdata` and :mod:`tasks.hub` (no torch, transformers or
datasets), so ``bench run`` refuses an impossible grid in milliseconds and ``bench check-real``
answers in seconds, before a download that would end in an error minutes later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.hub import Check, HubIndex, RepoInfo, default_hub, is_commit, look_up_model, weights_problem
from tasks.vision.hubdata import HUB_DATASETS, KNOWN_BACKBONES, HubDataset, default_revision
from tasks.vision.specs import IMAGENET_OPTIONS, REAL_BUDGETS, REAL_DEFAULT_BUDGET

__all__ = ["PROTOCOLS", "plan_check", "verify"]

PROTOCOLS = ("per-class", "vtab-1k", "full")
"""Values of the real tier's ``protocol`` option."""
OFFLINE_BACKBONE = str(IMAGENET_OPTIONS["model"])
_WHOLE = {"vtab-1k": "1,000 images", "full": "the whole training split"}


def _local(path: str) -> bool:
    return bool(path) and Path(path).expanduser().is_dir()


def plan_check(options: Mapping[str, Any], budgets: Sequence[int]) -> str | None:
    """None where every budget can run with these options, else one line naming the bad value and the accepted ones.

    ``TaskSpec.plan_check`` of the real tier. An unknown ``protocol`` is refused. Under
    ``vtab-1k`` and ``full`` the budget is not used, so a budget other than the default would
    only repeat the same run under another label. Under ``per-class``, a budget above the
    smallest class of the pinned training split (:attr:`HubDataset.smallest_class`, where known)
    is refused; with a local copy (``data_dir``) the pinned fact need not hold, and the run
    checks its own data.
    """
    protocol = str(options.get("protocol") or "per-class")
    if protocol not in PROTOCOLS:
        return f"protocol={protocol!r}; accepted: {', '.join(PROTOCOLS)}"
    if protocol in _WHOLE:
        other = [b for b in budgets if b != REAL_DEFAULT_BUDGET]
        if other:
            return (f"protocol={protocol} trains on {_WHOLE[protocol]} whatever the budget, so budget {other[0]} "
                    f"would only repeat the run of budget {REAL_DEFAULT_BUDGET}: leave --budget out")
        return None
    spec = HUB_DATASETS.get(str(options.get("dataset")))
    if spec is None or spec.smallest_class is None or str(options.get("data_dir") or "") or _local(spec.repo):
        return None
    small = spec.smallest_class
    big = [b for b in budgets if b > small]
    if not big:
        return None
    accepted = ", ".join(str(b) for b in REAL_BUDGETS if b <= small)
    return (f"budget {big[0]} is more than the {small} images of the smallest class in the training split of "
            f"{spec.key} ({spec.repo}@{spec.revision[:7]}); accepted budgets: {accepted}")


def verify(options: Mapping[str, Any], hub: HubIndex | None = None) -> list[Check]:
    """What ``bench check-real`` reports for one real-tier task, from repository metadata only.

    ``TaskSpec.hub_check`` of the real tier: the backbone the options name (a hub id at
    ``revision``, or a local ``save_pretrained`` directory), every backbone of
    :data:`~tasks.vision.hubdata.KNOWN_BACKBONES` at the revision it loads, and the task's image
    set at its pinned revision. ``hub``: where metadata comes from (default
    :func:`tasks.hub.default_hub`).

    A backbone needs ``config.json``, ``preprocessor_config.json`` and safetensors weights (pickle
    weights alone are reported with what to do). Its ``model_type`` is not in the metadata (only
    in ``config.json``), so an unsupported architecture shows only when a run reads the config,
    before any weights. A model on a branch is fine (every run records the commit it resolved);
    a dataset on a branch is a problem, since its runs could not be traced to data.
    """
    hub = hub or default_hub()
    model = str(options.get("model") or "")
    revision = str(options.get("revision") or "") or None
    checks: list[Check] = []
    if _local(model):
        checks.append(_local_model(Path(model).expanduser()))
    elif model and model != OFFLINE_BACKBONE:
        checks.append(_model(hub, model, revision or default_revision(model)))
    checks += [_model(hub, repo, rev) for repo, rev in KNOWN_BACKBONES.items() if repo != model]
    spec = HUB_DATASETS.get(str(options.get("dataset")))
    if spec is not None and not str(options.get("data_dir") or "") and not _local(spec.repo):
        checks.append(_dataset(hub, spec))
    return checks


def _model(hub: HubIndex, repo: str, revision: str) -> Check:
    note = "" if is_commit(revision) else f"{revision} can move: every run records the commit it loads"
    what, info, problem = look_up_model(hub, repo, revision, note)
    if info is None:
        return Check(what, problem)
    problems = [f"no {name}" for name in ("config.json", "preprocessor_config.json") if not info.has(name)]
    weights = weights_problem(info.has)
    return Check(what, "; ".join([*([weights] if weights else []), *problems]) or None)


def _local_model(folder: Path) -> Check:
    problems = [f"no {name}" for name in ("config.json", "preprocessor_config.json") if not (folder / name).is_file()]
    weights = weights_problem(lambda name: (folder / name).is_file(), "in the directory")
    return Check(f"model directory {folder}", "; ".join([*([weights] if weights else []), *problems]) or None)


def _dataset(hub: HubIndex, spec: HubDataset) -> Check:
    what = f"dataset {spec.repo}@{spec.revision[:7] if spec.pinned else spec.revision}"
    try:
        info = hub.info("dataset", spec.repo, spec.revision)
    except LookupError as exc:
        return Check(what, str(exc))
    problems: list[str] = []
    if not spec.pinned:
        problems.append(f"revision {spec.revision!r} is a branch, not a commit: the data can change under the same "
                        "task version and runs name no snapshot; pin a commit")
    if not info.has("*.parquet"):
        script = " (only a loading script, which the datasets library no longer runs)" if info.has("*.py") else ""
        problems.append(f"no parquet data files{script}")
    problems += _columns(info, spec)
    splits = info.splits(spec.config)
    wanted = (spec.train_split, spec.test_split)
    if splits:
        problems += [f"no split {s!r} on the card (splits: {', '.join(splits)})" for s in wanted if s not in splits]
        sizes = tuple(splits.get(s, 0) for s in wanted)
        if spec.split_sizes is not None and all(sizes) and sizes != spec.split_sizes:
            problems.append(f"the card declares {sizes[0]:,} / {sizes[1]:,} train / test images, the task was built "
                            f"on {spec.split_sizes[0]:,} / {spec.split_sizes[1]:,}")
        if all(sizes):
            what += f": {spec.train_split} {sizes[0]:,} / {spec.test_split} {sizes[1]:,} images"
    else:
        problems += [f"no data files for split {s!r}" for s in wanted if not info.has(f"*{s}*.parquet")]
    return Check(what, "; ".join(problems) or None)


def _columns(info: RepoInfo, spec: HubDataset) -> list[str]:
    """Problems with the image and label columns, as far as the card declares features (not at all: none)."""
    features = info.features(spec.config)
    if not features:
        return []
    problems = []
    columns = ", ".join(features)
    for role, column in (("image", spec.image_column), ("label", spec.label_column)):
        if column not in features:
            problems.append(f"the card declares no {role} column {column!r} (columns: {columns})")
    image = features.get(spec.image_column, {}).get("dtype")
    if spec.image_column in features and image != "image":
        problems.append(f"column {spec.image_column!r} is {image!r}, not an image")
    names = info.class_names(spec.label_column, spec.config)
    if names is not None and spec.num_classes is not None and len(names) != spec.num_classes:
        problems.append(f"the card's {spec.label_column!r} has {len(names)} classes, the task was built on "
                        f"{spec.num_classes}")
    return problems
