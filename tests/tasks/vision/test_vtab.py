"""VTAB-1k as published: a grid searched on 800 training / 200 validation images, the winner retrained on 1,000.

End to end on a real-tier task (beans) with a tiny saved ViT and a tiny copy of the beans
repository, loaded through the same code a run with internet uses.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hub_fixtures import make_tiny_backbone_dir, make_tiny_dataset_dir

from bench.runner import execute
from bench.testing import smoke_job
from tasks.vision import vtab
from tasks.vision.specs import REAL_TASKS
from tasks.vision.training import _warmup_cosine, train
from tasks.vision.transfer import training_pool

BEANS = next(s for s in REAL_TASKS if s.id == "vision/Beans-v0")


def test_the_800_and_200_are_disjoint_and_together_the_1000_of_the_vtab_protocol():
    labels = np.arange(5000) % 10
    rng = np.random.default_rng([3, 200])
    train_idx, val_idx = vtab.split(len(labels), rng)
    assert (len(train_idx), len(val_idx)) == (vtab.TRAIN, vtab.VAL)
    assert not set(train_idx) & set(val_idx) and list(train_idx) == sorted(train_idx)
    pool = training_pool({"protocol": "vtab-1k"}, labels, 10, seed=3)
    assert np.array_equal(np.sort(np.concatenate([train_idx, val_idx])), pool)
    assert not np.array_equal(pool, training_pool({"protocol": "vtab-1k"}, labels, 10, seed=4))
    small_train, small_val = vtab.split(30, np.random.default_rng(0))
    assert (len(small_train), len(small_val)) == (24, 6)


def test_the_grids_are_vpts_scaled_to_the_batch_size():
    points = vtab.END_TO_END.points(batch_size=32)
    assert len(points) == 16 and len(vtab.LINEAR.points(32)) == 40
    assert points[0] == {"base_lr": 0.005, "lr": 0.005 * 32 / 256, "weight_decay": 0.01}
    assert {p["weight_decay"] for p in points} == {0.01, 0.001, 0.0001, 0.0}
    assert vtab.grid_for("linear-probe") is vtab.LINEAR and vtab.grid_for("lora") is vtab.END_TO_END
    assert vtab.grid_for("pixel-logreg") is None


def test_selection_takes_the_best_validation_score_and_breaks_ties_toward_the_smaller_rate():
    def point(lr: float, wd: float, acc: float) -> dict[str, float]:
        return {"base_lr": lr, "lr": lr / 8, "weight_decay": wd, "val_accuracy": acc}

    best = point(0.001, 0.0, 0.9)
    assert vtab.select([point(0.005, 0.01, 0.5), best, point(0.0001, 0.01, 0.8)]) == best
    tied = [point(0.005, 0.0, 0.9), point(0.0005, 0.0, 0.9), point(0.0005, 0.01, 0.9), point(0.001, 0.0, 0.9)]
    assert vtab.select(tied) == point(0.0005, 0.01, 0.9)
    with pytest.raises(ValueError):
        vtab.select([])


def test_the_published_optimizers_and_schedule_train():
    assert _warmup_cosine(0, 100, 10) == pytest.approx(0.1) and _warmup_cosine(10, 100, 10) == 1.0
    assert _warmup_cosine(55, 100, 10) == pytest.approx(0.5) and _warmup_cosine(99, 100, 10) < 0.01
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 5, generator=gen), torch.randint(0, 3, (64,), generator=gen)
    losses = {}
    for optimizer, lr in (("adamw", 0.05), ("sgd", 0.5)):
        torch.manual_seed(0)
        model = torch.nn.Linear(5, 3)
        before = torch.nn.functional.cross_entropy(model(x), y).item()
        train(model, list(model.parameters()), x, y, steps=40, lr=lr, batch_size=16, weight_decay=0.01,
              rng=np.random.default_rng(0), optimizer=optimizer, warmup_cosine=4)
        losses[optimizer] = (before, torch.nn.functional.cross_entropy(model(x), y).item())
    assert all(after < before for before, after in losses.values()), losses
    with pytest.raises(ValueError, match="optimizer='lbfgs'; accepted: adam, adamw, sgd"):
        train(torch.nn.Linear(5, 3), [], x, y, steps=1, lr=0.1, batch_size=4, rng=np.random.default_rng(0),
              optimizer="lbfgs")


@pytest.fixture(scope="module")
def beans_vtab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Options of a Beans-v0 run under protocol=vtab-1k on a tiny saved ViT and a 30-image copy of beans."""
    root = tmp_path_factory.mktemp("vtab")
    model = make_tiny_backbone_dir(root / "model")
    data = make_tiny_dataset_dir(root / "beans", per_class=10, shapes=((32, 32),))
    return {"model": str(model), "data_dir": str(data), "image_size": 32, "protocol": "vtab-1k"}


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")


@pytest.mark.slow  # a real grid of runs on a tiny ViT, each method a few seconds
@pytest.mark.parametrize("method, grid", [("fine-tune", vtab.END_TO_END), ("linear-probe", vtab.LINEAR)])
def test_a_vtab_run_selects_on_the_200_and_retrains_the_winner_on_all_1000(beans_vtab, tmp_path, datasets_cache,
                                                                          method, grid):
    job = smoke_job(BEANS, method, tmp_path)
    job = type(job)(**{**job.__dict__, "options": {**job.options, **beans_vtab}, "budget": 10})
    record = execute(job)
    assert record.status == "ok", record.error
    search = record.extra["vtab"]
    assert (search["train"], search["val"]) == (24, 6) and record.extra["n_train"] == 30  # retrained on all of them
    assert search["grid"] == grid.name and search["optimizer"] == grid.optimizer
    points = search["points"]
    batch = int(job.options["batch_size"])
    assert [(p["lr"], p["weight_decay"]) for p in points] == [(p["lr"], p["weight_decay"]) for p in grid.points(batch)]
    assert all(p["val_accuracy"] * 6 == round(p["val_accuracy"] * 6) for p in points)  # counts out of 6 images
    best = search["selected"]
    assert best == vtab.select(points)
    assert record.metrics["selected_lr"] == best["lr"] and record.metrics["val_accuracy"] == best["val_accuracy"]
    assert record.metrics["selected_weight_decay"] == best["weight_decay"]
    assert 0.0 <= record.metrics["accuracy"] <= 1.0 and math.isfinite(record.metrics["accuracy"])
    again = execute(job)
    assert again.metrics == record.metrics and again.extra["vtab"] == search  # every grid point reseeded alike


@pytest.mark.slow
def test_pixel_logreg_has_nothing_to_select_and_trains_once_on_all_1000(beans_vtab, tmp_path, datasets_cache):
    job = smoke_job(BEANS, "pixel-logreg", tmp_path)
    record = execute(type(job)(**{**job.__dict__, "options": {**job.options, **beans_vtab}, "budget": 10}))
    assert record.status == "ok", record.error
    assert record.extra["n_train"] == 30 and record.extra["vtab"]["points"] == []
    assert record.extra["vtab"]["grid"] is None


def test_published_numbers_of_copies_without_vtabs_split_are_shown_without_a_difference():
    refs = {s.options["dataset"]: s.references for s in REAL_TASKS if s.references}
    assert set(refs) == {"flowers102", "pets", "dtd", "eurosat"}
    for key, published in refs.items():
        vpt = {"protocol": "vtab-1k", "model": REAL_TASKS[0].options["model"], "backbone_lr_ratio": 1.0,
               "augment_shift": 0}
        assert all(r.applies(10, vpt) for r in published)
        assert not any(r.applies(10, {**vpt, "protocol": "per-class"}) for r in published)
        assert not any(r.applies(10, {**vpt, "augment_shift": 16}) for r in published)  # our default: another recipe
        withheld = {r.differs.split(":")[0] for r in published}
        assert withheld == ({"other split"} if key in ("flowers102", "eurosat") else {""}), key
