"""Linear probe: cached frozen features against recomputing the frozen backbone every epoch.

Kept out of the default test run. Run with:

    python -m pytest tests/benchmarks/test_vision_probe.py -m benchmark -s

Both variants train the same linear head with the same loop, batches and seed for 10 epochs on
vision/Digits-v0's 10 labels per class: one on features computed once (what the linear-probe
method reads from its artifact), one with EfficientNet-Lite0 (frozen, eval mode) recomputing
them for every batch. It asserts identical test accuracy and a speed-up of at least 10x, and
prints both times (``extra_info`` keeps them with ``--benchmark-json FILE``).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from tasks.common import one_torch_thread
from tasks.vision.backbone import EfficientNetBackbone
from tasks.vision.datasets import per_class_sample, quick_set
from tasks.vision.training import accuracy, train
from tasks.vision.transfer import Classifier

pytestmark = pytest.mark.benchmark

EPOCHS = 10
BATCH = 16


def _probe(features: bool, backbone: EfficientNetBackbone, x: torch.Tensor, y: torch.Tensor,
           test_x: torch.Tensor, test_y: torch.Tensor) -> tuple[float, float]:
    """Seconds to train the head for EPOCHS epochs (the inputs' features included) and test accuracy."""
    torch.manual_seed(0)
    n = len(backbone.units)
    model = Classifier(backbone, 10, start=n if features else 0, frozen_stats=set(range(n)))
    for p in backbone.parameters():
        p.requires_grad_(False)
    start = time.perf_counter()
    if features:
        with torch.no_grad():
            x = backbone.eval()(x)
    train(model, list(model.head.parameters()), x, y, steps=EPOCHS * math.ceil(len(x) / BATCH), lr=1e-3,
          batch_size=BATCH, rng=np.random.default_rng(0))
    seconds = time.perf_counter() - start
    if features:
        with torch.no_grad():
            test_x = backbone.eval()(test_x)
    return seconds, accuracy(model, test_x, test_y)


def test_cached_features_are_10x_faster_at_identical_accuracy(benchmark):
    data = quick_set("digits")
    chosen = per_class_sample(data.train_y, 10, [0, 200])
    backbone = EfficientNetBackbone(48)
    x, y = backbone.prepare(data.train_x[chosen]), torch.from_numpy(data.train_y[chosen])
    test_x, test_y = backbone.prepare(data.test_x), torch.from_numpy(data.test_y)
    with one_torch_thread():
        recomputed_s, recomputed_acc = _probe(False, backbone, x, y, test_x, test_y)
        cached = benchmark.pedantic(_probe, args=(True, backbone, x, y, test_x, test_y), rounds=3, iterations=1)
    cached_s, cached_acc = cached
    speedup = recomputed_s / cached_s
    benchmark.extra_info.update(recomputed_s=recomputed_s, cached_s=cached_s, speedup=speedup,
                                accuracy=cached_acc)
    print(f"\nlinear probe, {EPOCHS} epochs of {len(chosen)} images: recomputing features {recomputed_s:.2f} s, "
          f"cached features {cached_s:.3f} s (computing them once included): {speedup:.1f}x; "
          f"test accuracy {recomputed_acc:.4f} vs {cached_acc:.4f}")
    assert cached_acc == recomputed_acc
    assert speedup >= 10
