"""The real tier's checks before a run: impossible budgets refused at plan time, hub metadata checked by check-real.

The metadata is the saved copy in ``hub_metadata/`` (see its README): the same repositories, files
and cards a live ``bench check-real`` reads, so the checks' logic is tested on the real layout.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hub_fixtures import make_tiny_backbone_dir

from bench.config import RunConfig
from bench.errors import UsageError
from bench.registry import Registry
from bench.runner import plan
from tasks.hub import RepoInfo, SavedHub
from tasks.vision.checks import verify
from tasks.vision.hubdata import HUB_DATASETS, KNOWN_BACKBONES
from tasks.vision.specs import REAL_TASKS
from tasks.vision.transfer import training_pool

HERE = Path(__file__).resolve().parent
SAVED = HERE / "hub_metadata"
FLOWERS = "vision/Flowers102-v0"
PICKLE_ONLY = "0d1c8dedaa107d4ae537c5b10e5cd0a8c865e84e"  # a commit of facebook/convnext-tiny-224's main branch


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


def _plan(registry: Registry, tmp_path: Path, task: str = FLOWERS, budgets: list[int] | None = None,
          **options: object) -> int:
    return len(plan(RunConfig(tasks=[task], budgets=budgets or [], methods=["linear-probe"], seeds=[0],
                              options=options, results_dir=tmp_path), registry, "cpu"))


# --- plan time --------------------------------------------------------------------------------------
def test_a_budget_above_the_smallest_pinned_class_is_refused_naming_what_is_accepted(registry, tmp_path):
    assert _plan(registry, tmp_path, budgets=[10, 20]) == 4  # scratch and linear-probe at two budgets
    with pytest.raises(UsageError) as err:
        _plan(registry, tmp_path, budgets=[10, 50])
    assert str(err.value) == ("task vision/Flowers102-v0: budget 50 is more than the 40 images of the smallest class "
                              "in the training split of flowers102 (nelorth/oxford-flowers@a37b189); accepted budgets: "
                              "1, 2, 5, 10, 20")
    # a local copy need not be the pinned one: the run checks its own data
    assert _plan(registry, tmp_path, budgets=[50], data_dir=str(tmp_path)) == 2
    # CIFAR-10's 5,000 per class take every budget
    assert _plan(registry, tmp_path, task="vision/CIFAR10-v0", budgets=[50]) == 2


@pytest.mark.parametrize("protocol, images", [("vtab-1k", "1,000 images"), ("full", "the whole training split")])
def test_protocols_that_ignore_the_budget_take_only_the_default_one(registry, tmp_path, protocol, images):
    assert _plan(registry, tmp_path, protocol=protocol) == 2
    assert _plan(registry, tmp_path, budgets=[10], protocol=protocol) == 2
    with pytest.raises(UsageError, match=rf"^task vision/Flowers102-v0: protocol={protocol} trains on {images} "
                                         r"whatever the budget, so budget 1 would only repeat the run of budget 10: "
                                         r"leave --budget out$"):
        _plan(registry, tmp_path, budgets=[1, 10], protocol=protocol)


def test_an_unknown_protocol_is_refused_at_plan_time(registry, tmp_path):
    with pytest.raises(UsageError, match=r"protocol='vtab1k'; accepted: per-class, vtab-1k, full$"):
        _plan(registry, tmp_path, protocol="vtab1k")


def test_a_budget_above_a_local_copys_smallest_class_fails_the_run_in_one_line():
    labels = np.array([0] * 5 + [1] * 3 + [2] * 6)
    opts = {"protocol": "per-class", "dataset": "beans"}
    assert len(training_pool(opts, labels, 3, seed=0, classes=("a", "b", "c"))) == 9
    with pytest.raises(ValueError) as err:
        training_pool(opts, labels, 4, seed=0, classes=("a", "b", "c"))
    assert str(err.value) == ("budget 4 labels per class is more than the 3 training images of class 'b' in dataset "
                              "'beans'; accepted budgets: up to 3")


# --- hub metadata ------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", REAL_TASKS, ids=lambda s: s.id)
def test_every_pinned_repository_of_the_saved_metadata_passes(spec):
    checks = verify(spec.options, SavedHub(SAVED))
    assert [c.problem for c in checks] == [None] * len(checks), checks
    names = [c.what.split()[1].split("@")[0] for c in checks]
    dataset = HUB_DATASETS[spec.options["dataset"]]
    assert names == [*KNOWN_BACKBONES, dataset.repo]
    assert checks[-1].what.startswith(f"dataset {dataset.repo}@{dataset.revision[:7]}")


def test_pickle_only_weights_are_reported_with_what_to_do(tmp_path):
    options = {**REAL_TASKS[0].options, "model": "facebook/convnext-tiny-224", "revision": PICKLE_ONLY}
    first = verify(options, SavedHub(SAVED))[0]
    assert first.what == "model facebook/convnext-tiny-224@0d1c8de"
    assert first.problem == ("only pickle weights (pytorch_model.bin), which are never loaded: pin a revision with "
                             "model.safetensors (often its safetensors conversion pull request, refs/pr/N), or "
                             "convert it once with save_pretrained in an environment you trust")
    # without a revision, the known checkpoint loads the one that has safetensors
    options["revision"] = ""
    assert verify(options, SavedHub(SAVED))[0].problem is None


def test_a_local_model_directory_is_checked_for_safetensors_weights(tmp_path):
    folder = make_tiny_backbone_dir(tmp_path / "m")
    options = {**REAL_TASKS[0].options, "model": str(folder)}
    assert verify(options, SavedHub(SAVED))[0] == (f"model directory {folder}", None)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    assert "only pickle weights" in str(verify(options, SavedHub(SAVED))[0].problem)


def test_a_card_without_the_label_column_is_reported(tmp_path):
    saved = SavedHub(shutil.copytree(SAVED, tmp_path / "meta"))
    spec = HUB_DATASETS["beans"]
    info = saved.info("dataset", spec.repo, spec.revision)
    card = json.loads(json.dumps(dict(info.card)))
    card["dataset_info"]["features"] = [f for f in card["dataset_info"]["features"] if f["name"] != "labels"]
    saved.save(RepoInfo("dataset", spec.repo, spec.revision, info.sha, info.files, card))
    beans = next(s for s in REAL_TASKS if s.id == "vision/Beans-v0")
    problem = verify(beans.options, saved)[-1].problem
    assert problem == "the card declares no label column 'labels' (columns: image_file_path, image)"


def test_a_dataset_that_changed_under_its_pin_or_lost_its_split_is_reported(tmp_path):
    saved = SavedHub(shutil.copytree(SAVED, tmp_path / "meta"))
    spec = HUB_DATASETS["flowers102"]
    info = saved.info("dataset", spec.repo, spec.revision)
    card = json.loads(json.dumps(dict(info.card)))
    card["dataset_info"]["splits"] = [{"name": "train", "num_examples": 8189}]
    saved.save(RepoInfo("dataset", spec.repo, spec.revision, info.sha, info.files, card))
    problem = verify(REAL_TASKS[0].options, saved)[-1].problem
    assert problem == "no split 'test' on the card (splits: train)"
    card["dataset_info"]["splits"].append({"name": "test", "num_examples": 1020})
    card["dataset_info"]["features"][1]["dtype"]["class_label"]["names"] = {"0": "a", "1": "b"}
    saved.save(RepoInfo("dataset", spec.repo, spec.revision, info.sha, info.files, card))
    problem = verify(REAL_TASKS[0].options, saved)[-1].problem
    assert problem == ("the card's 'label' has 2 classes, the task was built on 102; the card declares 8,189 / 1,020 "
                       "train / test images, the task was built on 7,169 / 1,020")


def test_check_real_reads_the_saved_metadata_for_the_vision_tasks(monkeypatch, capsys):
    from bench.cli import main

    monkeypatch.setenv("TRANSFERBENCH_HUB_METADATA", str(SAVED))
    assert main(["check-real", "--task", FLOWERS]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == FLOWERS and len(out) == 6 and all(line.startswith("  ok ") for line in out[1:])
    assert main(["check-real", "--task", FLOWERS, "--model", "facebook/convnext-tiny-224",
                 "--set", f"options.revision={PICKLE_ONLY}"]) == 1
    assert "  BROKEN  model facebook/convnext-tiny-224@0d1c8de: only pickle weights" in capsys.readouterr().out
