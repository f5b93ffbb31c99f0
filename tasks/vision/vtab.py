"""VTAB-1k as its published numbers were obtained: hyper-parameters chosen on 800/200, then retrained on all 1,000.

VTAB (Zhai et al., 2019, "A Large-scale Study of Representation Learning with the Visual Task
Adaptation Benchmark") gives each task 1,000 labelled training images: 800 to train on and 200
to validate on while choosing hyper-parameters; the chosen setting is then retrained on all 1,000
and scored once on the test split. The real tier's reference numbers (ViT-B/16 ImageNet-21k,
full fine-tuning and linear probe) come from Visual Prompt Tuning (Jia et al., ECCV 2022) as
tabulated in V-PETL Bench, whose ``tune_vtab.py`` (github.com/KMnP/vpt) runs exactly this: a grid
over learning rate x weight decay on ``train800`` scored on ``val200`` (the top-1 accuracy after
the last epoch), ties going to the smallest learning rate, then the winner retrained on
``train800val200`` and tested. Its grids, per method (``get_lrwd_range``), with the optimizers
and schedules of its base configs:

- fine-tuning (``configs/base-finetune.yaml``): AdamW, learning rate in {0.005, 0.001, 0.0005,
  0.0001}, weight decay in {0.01, 0.001, 0.0001, 0}, cosine schedule after 5 of 100 warm-up epochs;
- linear probe (``configs/base-linear.yaml``): SGD with momentum 0.9, learning rate in {50, 25,
  10, 5, 2.5, 1, 0.5, 0.25, 0.1, 0.05}, the same weight decays, 10 of 100 warm-up epochs.

Both scale the grid's learning rate by batch size / 256. Here the linear-probe grid serves
``linear-probe`` and the fine-tuning grid every other method that trains with gradients (VPT
publishes no grid for scratch, the partial and layer-wise schedules or LoRA: the fine-tuning one
is the nearest). What stays ours: the number of steps (the ``epochs``/``min_steps`` and
``probe_steps`` options, against VPT's 100 epochs), the batch size (``batch_size``; VPT's base
configs: 384 for fine-tuning, 1,024 for the linear probe), the warm-up as the same fraction of
those steps, the input pipeline (VPT resizes to 224 x 224 and normalizes with ImageNet's mean and
std, without augmentation) and one seed per run (VPT's final runs: 5 seeds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["END_TO_END", "LINEAR", "TRAIN", "VAL", "Grid", "grid_for", "select", "split"]

TRAIN, VAL = 800, 200
"""VTAB-1k's training and validation images (``train800``, ``val200``)."""


@dataclass(frozen=True)
class Grid:
    """One method's published hyper-parameter grid and the optimizer it was searched with."""

    name: str
    optimizer: str
    """``"adamw"`` or ``"sgd"`` (see :func:`tasks.vision.training.train`)."""
    lrs: tuple[float, ...]
    """Learning rates at batch size 256; a run uses ``lr * batch_size / 256``."""
    weight_decays: tuple[float, ...]
    warmup: float
    """Fraction of the steps spent warming the learning rate up (VPT: 5 or 10 of 100 epochs)."""

    def points(self, batch_size: int) -> list[dict[str, float]]:
        """Every (learning rate, weight decay) of the grid, the rate scaled to ``batch_size``, largest first."""
        return [{"base_lr": lr, "lr": lr * batch_size / 256, "weight_decay": wd}
                for lr in sorted(self.lrs, reverse=True) for wd in sorted(self.weight_decays, reverse=True)]


_WEIGHT_DECAYS = (0.01, 0.001, 0.0001, 0.0)
END_TO_END = Grid("vpt-finetune", "adamw", (0.005, 0.001, 0.0005, 0.0001), _WEIGHT_DECAYS, warmup=0.05)
LINEAR = Grid("vpt-linear", "sgd", (50.0, 25.0, 10.0, 5.0, 2.5, 1.0, 0.5, 0.25, 0.1, 0.05), _WEIGHT_DECAYS,
              warmup=0.1)


def grid_for(method: str) -> Grid | None:
    """The grid ``method`` is tuned over; None for a method without a learning rate (``pixel-logreg``)."""
    if method == "pixel-logreg":
        return None
    return LINEAR if method == "linear-probe" else END_TO_END


def split(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of the 800 training and 200 validation images drawn with ``rng`` from a pool of ``n``.

    A uniform draw without replacement (VTAB itself takes fixed slices of the TFDS splits, which a
    hub copy in another order cannot reproduce); a pool under 1,000 images is split 4:1.
    """
    total = min(TRAIN + VAL, n)
    n_val = total * VAL // (TRAIN + VAL)
    order = rng.permutation(n)[:total]
    return np.sort(order[: total - n_val]), np.sort(order[total - n_val:])


def select(points: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The grid point with the best ``val_accuracy``; ties to the smaller learning rate (VPT's rule,
    for stability), then to the larger weight decay (the one VPT's descending loop meets first)."""
    if not points:
        raise ValueError("no grid point to select from")
    return max(points, key=lambda p: (float(p["val_accuracy"]), -float(p["base_lr"]), float(p["weight_decay"])))
