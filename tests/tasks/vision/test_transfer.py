"""The ImageNet-backbone tasks: what each strategy trains, cached prefixes, BN handling, data splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.runner import execute
from bench.testing import smoke_job
from tasks.vision.backbone import EfficientNetBackbone
from tasks.vision.datasets import per_class_sample, quick_set
from tasks.vision.specs import DIGITS
from tasks.vision.transfer import Classifier, SmallCNN, _inject_lora, _merge_lora, _unfreezer, recalibrate_batch_norm


@pytest.mark.parametrize("name", ["digits", pytest.param("mnist", marks=pytest.mark.slow)])
def test_quick_sets_have_a_fixed_test_set_of_1000_disjoint_from_the_pool(name):
    s = quick_set(name)
    assert len(s.test_x) >= 1000 and s.test_x.dtype == np.uint8
    assert np.bincount(s.test_y).min() == 100
    pool = {x.tobytes() for x in s.train_x}
    overlap = sum(x.tobytes() in pool for x in s.test_x)
    assert overlap <= 5  # duplicates of identical low-resolution images, not shared rows
    assert quick_set.__wrapped__(name).train_y.tolist() == s.train_y.tolist()  # fixed, not seeded


def test_budget_samples_are_balanced_nested_and_seeded():
    y = quick_set("digits").train_y
    a5, a10 = per_class_sample(y, 5, [0, 200]), per_class_sample(y, 10, [0, 200])
    assert set(a5) <= set(a10) and np.bincount(y[a10]).tolist() == [10] * 10
    assert not np.array_equal(a10, per_class_sample(y, 10, [1, 200]))
    with pytest.raises(ValueError, match="exceeds"):
        per_class_sample(y, 51, 0)


def test_lora_trains_only_adapters_and_merging_keeps_the_function():
    torch.manual_seed(0)
    bb = EfficientNetBackbone(48)
    total = sum(p.numel() for p in bb.parameters())
    lora = _inject_lora(bb, rank=4, alpha=8.0)
    trainable = [p for p in bb.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == {id(p) for p in lora}
    assert 0 < sum(p.numel() for p in lora) < 0.1 * total
    with torch.no_grad():
        for p in lora:
            p.add_(0.05 * torch.randn_like(p))  # B starts at zero: move it so the adapter matters
    model = Classifier(bb, 10, frozen_stats=set(range(len(bb.units)))).eval()
    x = bb.prepare((np.random.default_rng(0).random((4, 28, 28)) * 255).astype(np.uint8))
    with torch.no_grad():
        before = model(x)
        _merge_lora(model)
        after = model(x)
    assert torch.allclose(before, after, atol=1e-4)


def test_gradual_unfreezing_thaws_units_top_to_bottom():
    bb = SmallCNN(28)
    step = _unfreezer(bb, steps_per_unit=2)
    thawed = []
    for s in range(0, 8, 2):
        step(s)
        thawed.append([all(p.requires_grad for p in u.parameters()) for u in bb.units])
    n = len(bb.units)
    assert thawed[0] == [False] * n
    assert thawed[1] == [False] * (n - 1) + [True]
    assert thawed[-1] == [True] * n


def test_precise_bn_sets_statistics_to_the_training_data_and_spares_frozen_units():
    torch.manual_seed(0)
    bb = SmallCNN(28)
    model = Classifier(bb, 10, frozen_stats={0})
    frozen_bn = next(m for m in bb.units[0].modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = frozen_bn.running_mean.clone()
    x = torch.randn(64, 1, 28, 28) * 3 + 1
    recalibrate_batch_norm(model, x, batch=16)
    assert torch.equal(frozen_bn.running_mean, before)
    first_bn = next(m for m in bb.units[1].modules() if isinstance(m, torch.nn.BatchNorm2d))
    with torch.no_grad():
        h = bb.units[0](x)
        conv = bb.units[1][0](h)
    assert torch.allclose(first_bn.running_mean, conv.mean(dim=(0, 2, 3)), atol=1e-4)
    assert not model.training


def _run(method, tmp_path, **options):
    job = smoke_job(DIGITS, method, tmp_path)
    job = type(job)(**{**job.__dict__, "options": {**job.options, **options}})
    record = execute(job)
    assert record.status == "ok", record.error
    return record


def test_linear_probe_reads_cached_features_built_once(tmp_path):
    first = _run("linear-probe", tmp_path)
    again = _run("linear-probe", tmp_path)
    assert [a["hit"] for a in first.artifacts] == [False]
    assert [a["hit"] for a in again.artifacts] == [True]
    assert first.metrics == again.metrics
    assert first.cost.trainable_params == 1280 * 10 + 10


@pytest.mark.slow
def test_probe_units_concatenates_the_top_units_pooled_features(tmp_path):
    bb = EfficientNetBackbone(48).eval()
    x = bb.prepare((np.random.default_rng(0).random((2, 28, 28)) * 255).astype(np.uint8))
    with torch.no_grad():
        assert torch.equal(bb.features(x, 1), bb(x))  # one unit: the usual last-layer feature
        three = bb.features(x, 3)
        below = bb.run(x, 0, len(bb.units) - 1)
    widths = [bb.pool_intermediate(bb.run(x, 0, len(bb.units) - k)).shape[1] for k in (2, 1)]
    assert three.shape[1] == sum(widths) + 1280
    assert torch.equal(three[:, widths[0]:widths[0] + widths[1]], bb.pool_intermediate(below))
    r = _run("linear-probe", tmp_path, probe_units=3)
    assert r.cost.trainable_params == (sum(widths) + 1280) * 10 + 10 and r.extra["probe_units"] == 3
    assert r.artifacts[0]["hit"] is False  # its own features, not the one-unit artifact


@pytest.mark.slow
def test_partial_fine_tune_freezes_the_prefix_and_counts_parameters(tmp_path):
    r = _run("partial-fine-tune", tmp_path, trainable_units=2)
    assert r.extra["frozen_units"] == 7
    assert 0 < r.cost.trainable_params < r.cost.total_params


def test_layer_transfer_reinitializes_units_above_n():
    pre = EfficientNetBackbone(48)
    torch.manual_seed(0)
    cut = EfficientNetBackbone(48)
    cut.reinitialize(4)
    for i, (a, b) in enumerate(zip(pre.units, cut.units, strict=True)):
        same = all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
        assert same == (i < 4), f"unit {i}"


def test_transfer_units_is_refused_by_methods_it_does_not_apply_to(tmp_path):
    job = smoke_job(DIGITS, "lora", tmp_path)
    job = type(job)(**{**job.__dict__, "options": {**job.options, "transfer_units": 3}})
    record = execute(job)
    assert record.status == "failed" and "transfer_units applies to" in record.error
    job = type(job)(**{**job.__dict__, "options": {**job.options, "transfer_units": None, "probe_units": 2}})
    record = execute(job)
    assert record.status == "failed" and "probe_units applies to linear-probe, not lora" in record.error


def test_reference_row_is_logistic_regression_on_pixels(tmp_path):
    r = _run("pixel-logreg", tmp_path)
    assert r.cost.trainable_params == 64 * 10 + 10
    assert 0.3 < r.metrics["accuracy"] <= 1.0  # one label per class, 8x8 digits
