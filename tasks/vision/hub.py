"""The real tier: ``transformers`` backbones and ``datasets`` image sets, from the hub or a local copy.

Users with internet name a hub id (``google/vit-base-patch16-224-in21k``, ``microsoft/resnet-50``,
``facebook/convnext-tiny-224``, ``facebook/dinov2-small``) or a directory written by
``save_pretrained``; weights load through safetensors and never with ``trust_remote_code``. The
model is cut into the same units as the offline backbone (:class:`~tasks.vision.backbone.Backbone`)
so every strategy works unchanged: embeddings, then each transformer layer or convolutional
stage, then the final norm; features are the CLS token (ViT, DINOv2) or the global average
(ResNet, ConvNeXt), as each model's own pooled output is.

Image sets come from the hub with the repository, configuration, splits and columns named in
:data:`HUB_DATASETS`, or from a local directory holding the same files (``data_dir``), and
ImageFolder trees of the user's own. Images are resized (shorter side) and centre-cropped to a
fixed square once, at loading.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tasks.vision.backbone import Backbone
from tasks.vision.datasets import ImageSet

__all__ = ["HUB_DATASETS", "SUPPORTED_MODEL_TYPES", "HubBackbone", "HubDataset", "image_folder", "load_backbone",
           "load_hub_dataset"]

SUPPORTED_MODEL_TYPES = ("vit", "dinov2", "resnet", "convnext")
_LAYER_PATHS = ("layers", "encoder.layer", "encoder.layers", "encoder.stages", "stages")
_LORA_TARGETS = {
    "vit": ("q_proj", "v_proj", "query", "value"),
    "dinov2": ("q_proj", "v_proj", "query", "value"),
    "resnet": ("convolution",),
    "convnext": ("pwconv1", "pwconv2"),
}


class _Layer(nn.Module):
    """A transformer layer that returns its hidden states whatever the library version returns."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.layer(h)
        return out[0] if isinstance(out, tuple) else out


class _PooledNorm(nn.Module):
    """ConvNeXt's head: global average, then its final layer norm (its own ``pooler_output``)."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(h.mean(dim=(-2, -1)))


def _attr(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _find_layers(model: nn.Module) -> nn.ModuleList:
    for path in _LAYER_PATHS:
        try:
            return _attr(model, path)
        except AttributeError:
            continue
    raise ValueError(f"{type(model).__name__}: no layers under any of {', '.join(_LAYER_PATHS)}")


def _fingerprint(folder: Path) -> str:
    """A short hash of a local model's config and weights: the artifact key changes with the weights."""
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.json")) + sorted(folder.glob("*.safetensors")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


class HubBackbone(Backbone):
    """A ``transformers`` vision model as a :class:`Backbone` (see the module docstring for the cut)."""

    def __init__(self, model: nn.Module, model_type: str, mean: tuple[float, ...], std: tuple[float, ...],
                 resolution: int, name: str) -> None:
        super().__init__()
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"model type {model_type!r} is not supported; supported: "
                             f"{', '.join(SUPPORTED_MODEL_TYPES)}")
        embed = getattr(model, "embeddings", None) or model.embedder
        layers = _find_layers(model)
        units: list[nn.Module] = [embed]
        if model_type in ("vit", "dinov2"):
            units += [_Layer(layer) for layer in layers] + [model.layernorm]
        elif model_type == "convnext":
            units += list(layers) + [_PooledNorm(model.layernorm)]
        else:
            units += list(layers)
        self.model_type = model_type
        self.units = nn.ModuleList(units)
        config = model.config
        self.feature_dim = int(getattr(config, "hidden_size", None) or config.hidden_sizes[-1])
        self.resolution = resolution
        self.name = name
        self.lora_targets = tuple(t for t in _LORA_TARGETS[model_type]
                                  if any(n.endswith(t) for n, _ in self.units.named_modules()))
        self.register_buffer("_mean", torch.tensor(mean, dtype=torch.float32)[:, None, None], persistent=False)
        self.register_buffer("_std", torch.tensor(std, dtype=torch.float32)[:, None, None], persistent=False)

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        import torch.nn.functional as F

        x = torch.as_tensor(np.asarray(images), dtype=torch.float32) / 255.0
        x = x[:, None].expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        if x.shape[-2:] != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False,
                              antialias=True)
        return (x - self._mean.cpu()) / self._std.cpu()

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.model_type in ("vit", "dinov2"):
            return hidden[:, 0]
        if self.model_type == "resnet":
            return hidden.mean(dim=(-2, -1))
        return hidden


def _resolution(processor: Any, config: Any) -> int:
    """The input side: ViT's fixed position embeddings need its config's image size; otherwise
    the processor's crop (when it crops) or resize target."""
    if config.model_type == "vit":
        return int(config.image_size)
    attrs = ("crop_size", "size") if getattr(processor, "do_center_crop", False) else ("size", "crop_size")
    for attr in attrs:
        size = getattr(processor, attr, None)
        if isinstance(size, dict):
            for key in ("height", "shortest_edge", "width"):
                if size.get(key):
                    return int(size[key])
        elif isinstance(size, int):
            return size
    return 224


def load_backbone(model: str, revision: str | None = None, pretrained: bool = True) -> HubBackbone:
    """A hub id or a ``save_pretrained`` directory as a :class:`HubBackbone`.

    ``pretrained=False`` builds the same architecture from its config with random weights (the
    from-scratch baseline). Never runs code from the repository (``trust_remote_code=False``).
    """
    from transformers import AutoConfig, AutoImageProcessor, AutoModel

    local = Path(model).expanduser()
    kw: dict[str, Any] = {"revision": revision or None, "trust_remote_code": False}
    config = AutoConfig.from_pretrained(model, **kw)
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(f"{model}: model type {config.model_type!r} is not supported; supported: "
                         f"{', '.join(SUPPORTED_MODEL_TYPES)}")
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report lists the unused pooler of every ViT checkpoint
    try:
        net = (AutoModel.from_pretrained(model, use_safetensors=True, **kw) if pretrained
               else AutoModel.from_config(config))
    finally:
        hf_logging.set_verbosity(before)
    processor = AutoImageProcessor.from_pretrained(model, **kw)
    mean = tuple(float(v) for v in getattr(processor, "image_mean", None) or (0.5, 0.5, 0.5))
    std = tuple(float(v) for v in getattr(processor, "image_std", None) or (0.5, 0.5, 0.5))
    if local.is_dir():
        name = f"{local.resolve()}#{_fingerprint(local)}"
    else:
        name = f"{model}@{getattr(config, '_commit_hash', None) or revision or 'main'}"
    return HubBackbone(net, config.model_type, mean, std, _resolution(processor, config), name)


# --- image sets ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubDataset:
    """Where a real-tier image set lives on the hub and how its columns are named."""

    key: str
    repo: str
    revision: str
    """A commit or tag; ``main`` where no commit could be pinned from here (the record keeps it)."""
    train_split: str
    test_split: str
    image_column: str = "image"
    label_column: str = "label"
    config: str | None = None
    citation: str = ""


def _bib(key: str, title: str, authors: str, venue: str, year: int) -> str:
    return f"@inproceedings{{{key},\n  title={{{title}}},\n  author={{{authors}}},\n  booktitle={{{venue}}},\n" \
           f"  year={{{year}}}\n}}"


HUB_DATASETS: dict[str, HubDataset] = {d.key: d for d in (
    HubDataset("flowers102", "nelorth/oxford-flowers", "main", "train", "test",
               citation=_bib("nilsback2008automated", "Automated Flower Classification over a Large Number of Classes",
                             "Nilsback, Maria-Elena and Zisserman, Andrew", "ICVGIP", 2008)),
    HubDataset("pets", "timm/oxford-iiit-pet", "main", "train", "test",
               citation=_bib("parkhi2012cats", "Cats and Dogs", "Parkhi, Omkar M. and Vedaldi, Andrea and Zisserman, "
                             "Andrew and Jawahar, C. V.", "CVPR", 2012)),
    HubDataset("dtd", "tanganke/dtd", "main", "train", "test",
               citation=_bib("cimpoi2014describing", "Describing Textures in the Wild", "Cimpoi, Mircea and Maji, "
                             "Subhransu and Kokkinos, Iasonas and Mohamed, Sammy and Vedaldi, Andrea", "CVPR", 2014)),
    HubDataset("eurosat", "tanganke/eurosat", "main", "train", "test",
               citation=_bib("helber2019eurosat", "EuroSAT: A Novel Dataset and Deep Learning Benchmark for Land Use "
                             "and Land Cover Classification", "Helber, Patrick and Bischke, Benjamin and Dengel, "
                             "Andreas and Borth, Damian", "IEEE JSTARS", 2019)),
    HubDataset("cifar10", "uoft-cs/cifar10", "main", "train", "test", image_column="img",
               citation=_bib("krizhevsky2009learning", "Learning Multiple Layers of Features from Tiny Images",
                             "Krizhevsky, Alex", "Technical report, University of Toronto", 2009)),
    HubDataset("beans", "AI-Lab-Makerere/beans", "main", "train", "test", label_column="labels",
               citation=_bib("makerere2020beans", "Bean disease dataset", "{Makerere AI Lab}",
                             "AIR Lab, Makerere University", 2020)),
)}


def _square(img: Any, size: int) -> np.ndarray:
    """A PIL image to (size, size, 3) uint8: RGB, shorter side resized to ``size``, centre crop."""
    from PIL import Image

    img = img.convert("RGB")
    scale = size / min(img.size)
    w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
    img = img.resize((w, h), Image.Resampling.BICUBIC)
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def _to_arrays(split: Any, image_column: str, label_column: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    images = np.stack([_square(img, size) for img in split[image_column]]) if len(split) else np.zeros(
        (0, size, size, 3), np.uint8)
    return images, np.asarray(split[label_column], dtype=np.int64)


def load_hub_dataset(spec: HubDataset, data_dir: str | None = None, image_size: int = 224,
                     cache_dir: str | None = None) -> ImageSet:
    """The training split (the pool budgets are drawn from) and test split of ``spec``.

    ``data_dir``: a local copy with the hub repository's files (parquet shards or an ImageFolder
    tree) loaded instead of the hub, through the same code.
    """
    from datasets import load_dataset

    source = data_dir or spec.repo
    kw: dict[str, Any] = {"cache_dir": cache_dir}
    if not data_dir:
        kw["revision"] = spec.revision
    if spec.config:
        kw["name"] = spec.config
    ds = load_dataset(source, **kw)
    missing = [s for s in (spec.train_split, spec.test_split) if s not in ds]
    if missing:
        raise ValueError(f"{source}: no split {missing[0]!r}; it has {', '.join(ds)}")
    train, test = ds[spec.train_split], ds[spec.test_split]
    feature = train.features[spec.label_column]
    classes = tuple(getattr(feature, "names", None) or map(str, sorted(set(train[spec.label_column]))))
    tx, ty = _to_arrays(train, spec.image_column, spec.label_column, image_size)
    vx, vy = _to_arrays(test, spec.image_column, spec.label_column, image_size)
    return ImageSet(tx, ty, vx, vy, classes)


def image_folder(root: str | Path, image_size: int = 224) -> ImageSet:
    """A user's own images: ``root/train/<class>/*`` and ``root/test/<class>/*``, classes sorted by name."""
    from PIL import Image

    root = Path(root)
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise FileNotFoundError(f"{root}: expected train/<class>/ and test/<class>/ folders of images")
    classes = tuple(sorted(p.name for p in (root / "train").iterdir() if p.is_dir()))
    parts = []
    for split in ("train", "test"):
        xs, ys = [], []
        for c, name in enumerate(classes):
            for f in sorted((root / split / name).glob("*")):
                if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp"):
                    with Image.open(f) as img:
                        xs.append(_square(img, image_size))
                    ys.append(c)
        parts += [np.stack(xs) if xs else np.zeros((0, image_size, image_size, 3), np.uint8), np.asarray(ys, np.int64)]
    return ImageSet(parts[0], parts[1], parts[2], parts[3], classes)
