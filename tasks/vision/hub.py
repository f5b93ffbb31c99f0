"""The real tier: ``transformers`` backbones and ``datasets`` image sets, from the hub or a local copy.

Users with internet name a hub id (those of :data:`~tasks.vision.hubdata.KNOWN_BACKBONES`:
``google/vit-base-patch16-224-in21k``, ``microsoft/resnet-50``, ``facebook/dinov2-small``, and
``facebook/convnext-tiny-224``, whose safetensors weights live on a pull-request revision) or a
directory written by ``save_pretrained``; weights load only from safetensors, never from a pickle
(``pytorch_model.bin`` can run code when loaded), and never with ``trust_remote_code``. The
model is cut into the same units as the offline backbone (:class:`~tasks.vision.backbone.Backbone`)
so that every strategy works unchanged, and running the units then :meth:`HubBackbone.pool`
gives exactly the model's own image feature:

- ViT, DINOv2: the embeddings (patches, CLS token, positions), each transformer layer, the final
  layer norm; the feature is the CLS token after that norm. It is what both libraries' image
  classifiers read (``ViTForImageClassification`` uses no pooler; DINOv2's ``pooler_output`` is this
  token), and it needs no pooler weights that an ImageNet-21k checkpoint may lack or that
  ``AutoModel`` would initialize at random.
- ResNet: the stem (``embedder``), each stage; the feature is the global average
  (``pooler_output``).
- ConvNeXt: the stem, each stage, then a last unit holding the final layer norm applied to the
  global average (``pooler_output``). The norm is a unit rather than part of :meth:`pool` so that
  every weight belongs to a unit that the strategies freeze, train or re-initialize.

Inputs are resized and normalized with torch ops that follow the checkpoint's image processor
(its mean and std, its resize, centre crop and resampling filter), once per batch rather than
through the processor image by image.

Image sets come from the hub with the repository, pinned revision, splits and columns named in
:data:`HUB_DATASETS`, or from a local directory holding the same files (parquet shards as in the
hub repository, or an ImageFolder tree), and from ImageFolder trees of the user's own
(:func:`image_folder`). Images are resized (shorter side) and centre-cropped to a fixed square once,
at loading, so a set of mixed sizes becomes one uint8 array.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from tasks.hub import is_commit
from tasks.vision.backbone import Backbone
from tasks.vision.datasets import ImageSet
from tasks.vision.hubdata import HUB_DATASETS, SUPPORTED_MODEL_TYPES, HubDataset, default_revision

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["HUB_DATASETS", "SUPPORTED_MODEL_TYPES", "HubBackbone", "HubDataset", "Preprocessing", "image_folder",
           "load_backbone", "load_hub_dataset", "pickle_only", "preprocessing"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def _unsupported(what: str, model_type: str) -> ValueError:
    return ValueError(f"{what}: model type {model_type!r} is not supported; supported model types: "
                      f"{', '.join(SUPPORTED_MODEL_TYPES)}")


# --- preprocessing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preprocessing:
    """What a checkpoint's image processor does to an image, as numbers :meth:`HubBackbone.prepare` applies.

    The image is resized (``warp``: to ``resize`` x ``resize``; otherwise its shorter side to
    ``resize``, keeping the aspect ratio), centre-cropped to ``crop`` x ``crop`` (the backbone's
    resolution), then normalized with ``mean`` and ``std`` per RGB channel.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int
    crop: int
    warp: bool = False
    mode: str = "bilinear"
    """``torch.nn.functional.interpolate`` mode matching the processor's resampling filter."""


_MODES: dict[int | str, str] = {0: "nearest", 2: "bilinear", 3: "bicubic",  # PIL's resampling codes
                                 "nearest": "nearest", "bilinear": "bilinear", "bicubic": "bicubic"}


def _field(size: Any, key: str) -> int | None:
    """One entry of a processor's size: a ``SizeDict`` (transformers 5), a plain dict or an int."""
    if isinstance(size, int):
        return size if key in ("height", "width", "shortest_edge") else None
    value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
    return int(value) if value else None


def preprocessing(processor: Any, config: Any) -> Preprocessing:
    """The resize, crop, filter and normalization of ``processor`` (an ``AutoImageProcessor``).

    Follows the processors of the supported families: a fixed ``height`` x ``width`` resize (ViT);
    a shorter-side resize then a centre crop to ``crop_size`` (DINOv2's BiT processor); ConvNeXt's
    ``crop_pct`` rule, also used by ResNet checkpoints (below 384 px, shorter side to
    ``shortest_edge / crop_pct`` then a centre crop of ``shortest_edge``; from 384 px a plain
    square resize). A ViT is always fed its config's ``image_size``: its position embeddings are
    fixed to it.
    """
    mean = tuple(float(v) for v in (getattr(processor, "image_mean", None) or (0.5, 0.5, 0.5)))
    std = tuple(float(v) for v in (getattr(processor, "image_std", None) or (0.5, 0.5, 0.5)))
    if len(mean) == 1:
        mean, std = mean * 3, std * 3
    resample = getattr(processor, "resample", 2)
    mode = _MODES.get(getattr(resample, "value", resample), "bicubic")  # PIL's enum, or torchvision's
    size = getattr(processor, "size", None) or {"height": 224, "width": 224}
    short, height = _field(size, "shortest_edge"), _field(size, "height") or _field(size, "width")
    crop_size = getattr(processor, "crop_size", None)
    crop = _field(crop_size, "height") if crop_size and getattr(processor, "do_center_crop", False) else None
    crop_pct = getattr(processor, "crop_pct", None)
    if short and crop_pct:  # ConvNextImageProcessor
        geometry = (int(short / crop_pct), short, False) if short < 384 else (short, short, True)
    elif short:
        geometry = (short, crop or short, False)
    else:
        side = height or 224
        geometry = (side, crop or side, True)
    if config.model_type == "vit" and geometry[1] != int(config.image_size):
        geometry = (int(config.image_size), int(config.image_size), True)
    resize, side, warp = geometry
    return Preprocessing(mean=mean, std=std, resize=resize, crop=side, warp=warp, mode=mode)


# --- backbones ------------------------------------------------------------------------------------
class _Layer(nn.Module):
    """A transformer layer called with the hidden states alone, returning them as a tensor.

    transformers 5 layers return a tensor; earlier versions a tuple whose first item it is. No
    attention mask is passed: every image has all of its patches.
    """

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


def _attr(obj: Any, paths: Iterable[str]) -> Any:
    """The first of ``paths`` (dotted) that ``obj`` has: module names moved between library versions."""
    for path in paths:
        found = obj
        try:
            for part in path.split("."):
                found = getattr(found, part)
        except AttributeError:
            continue
        return found
    raise ValueError(f"{type(obj).__name__} has none of {', '.join(paths)}")


def _cut(model: Any, model_type: str) -> tuple[list[nn.Module], int, tuple[str, ...]]:
    """Units, feature width and LoRA target candidates of a supported ``transformers`` model."""
    config = model.config
    if model_type in ("vit", "dinov2"):
        layers = _attr(model, ("layers", "encoder.layer", "encoder.layers"))
        units = [model.embeddings, *(_Layer(layer) for layer in layers), model.layernorm]
        # transformers 5 names the projections q_proj/v_proj; earlier versions query/value.
        return units, int(config.hidden_size), ("q_proj", "v_proj", "query", "value")
    if model_type == "resnet":
        units = [model.embedder, *model.encoder.stages]
        # The 1x1 reduce and expand convolutions of bottleneck blocks; basic blocks (ResNet-18/34)
        # have no 1x1 convolution in their residual branch, so both 3x3 ones.
        second = "layer.2.convolution" if config.layer_type == "bottleneck" else "layer.1.convolution"
        return units, int(config.hidden_sizes[-1]), ("layer.0.convolution", second)
    if model_type == "convnext":
        units = [model.embeddings, *model.encoder.stages, _PooledNorm(model.layernorm)]
        return units, int(config.hidden_sizes[-1]), ("pwconv1", "pwconv2")  # the pointwise (1x1) linears
    raise _unsupported(type(model).__name__, model_type)


class HubBackbone(Backbone):
    """A ``transformers`` ViT, DINOv2, ResNet or ConvNeXt as a :class:`Backbone`.

    Built by :func:`load_backbone`; see the module docstring for how each family is cut into units
    and which feature :meth:`pool` returns.
    """

    def __init__(self, model: PreTrainedModel, prep: Preprocessing, name: str) -> None:
        super().__init__()
        model_type = str(model.config.model_type)
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise _unsupported(type(model).__name__, model_type)
        units, self.feature_dim, candidates = _cut(model, model_type)
        self.units = nn.ModuleList(units)
        self.model_type = model_type
        self.preprocessing = prep
        self.resolution = prep.crop
        self.name = name
        adaptable = [n for n, m in self.units.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        self.lora_targets = tuple(t for t in candidates if any(n.endswith("." + t) for n in adaptable))
        # The model's own initializer, for reinitialize(); a plain attribute, not a submodule.
        self._model_init: Callable[[nn.Module], None] | None = getattr(model, "_init_weights", None)

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W) grayscale (repeated to RGB) or (N, H, W, 3) images to normalized (N, 3, R, R)."""
        import torch.nn.functional as F

        p = self.preprocessing
        x = torch.as_tensor(np.asarray(images)).float().div_(255.0)
        x = x[:, None].expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        h, w = x.shape[-2:]
        if p.warp:
            size = (p.resize, p.resize)
        elif h <= w:
            size = (p.resize, int(p.resize * w / h))
        else:
            size = (int(p.resize * h / w), p.resize)
        if size != (h, w):
            kw: dict[str, Any] = {} if p.mode == "nearest" else {"align_corners": False, "antialias": True}
            x = F.interpolate(x.contiguous(), size=size, mode=p.mode, **kw)
            if p.mode == "bicubic":
                x = x.clamp_(0.0, 1.0)  # as the processor, which resizes 8-bit images
        top, left = (size[0] - p.crop) // 2, (size[1] - p.crop) // 2
        x = x[..., top: top + p.crop, left: left + p.crop]
        mean = torch.tensor(p.mean, dtype=x.dtype)[:, None, None]
        std = torch.tensor(p.std, dtype=x.dtype)[:, None, None]
        return ((x - mean) / std).contiguous()

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """The CLS token (ViT, DINOv2), the global average (ResNet); ConvNeXt's last unit pools itself."""
        if self.model_type in ("vit", "dinov2"):
            return hidden[:, 0]
        if self.model_type == "resnet":
            return hidden.mean(dim=(-2, -1))
        return hidden

    def reinitialize(self, first: int = 0) -> None:
        """Random weights for ``units[first:]`` with the model's own initializer, as ``pretrained=False`` draws them.

        Unlike torch's per-layer defaults, this also redraws the parameters no layer owns (ViT and
        DINOv2's CLS token and position embeddings, DINOv2 and ConvNeXt's layer scales), so a
        re-initialized unit keeps nothing of the pretrained weights. Uses torch's global generator.
        """
        if self._model_init is None:
            super().reinitialize(first)
            return
        for unit in self.units[first:]:
            for module in unit.modules():
                flagged: list[Any] = [*module.parameters(recurse=False), *module.buffers(recurse=False), module]
                for t in flagged:
                    if getattr(t, "_is_hf_initialized", False):
                        t._is_hf_initialized = False  # loaded weights are flagged; the initializer skips them
            unit.apply(self._model_init)


def _fingerprint(folder: Path) -> str:
    """A short hash of a local model's configs and weights: an artifact key changes with the weights."""
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.json")) + sorted(folder.glob("*.safetensors")):
        h.update(f.name.encode())
        with f.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 24), b""):
                h.update(chunk)
    return h.hexdigest()[:12]


def _resolve_revision(model: str, revision: str | None) -> str | None:
    """The commit ``revision`` (default: the main branch) of hub repository ``model`` points to, or
    ``revision`` itself when it cannot be resolved (unknown repo, offline without a cached ref)."""
    if is_commit(revision):
        return revision
    try:
        from transformers.utils.hub import resolve_revision
    except ImportError:  # pragma: no cover - older transformers: load the named revision
        return revision
    resolved = resolve_revision(model, revision)
    return getattr(resolved, "resolved", None) or revision


_PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_NO_FILE = ("does not appear to have a file named", "no file named")
"""How transformers says a checkpoint has no file of the asked-for format (a hub 404, a local folder)."""


def pickle_only(where: str, local: bool = False) -> str:
    """The one line that refuses a checkpoint whose weights are not in safetensors, and says what to do."""
    fix = ("convert it once with AutoModel.from_pretrained(dir).save_pretrained(dir) in an environment you trust"
           if local else "pick a revision that has model.safetensors (--set options.revision=...), or convert it once "
           "with AutoModel.from_pretrained(...).save_pretrained(dir) in an environment you trust and pass that "
           "directory as --model")
    return (f"{where}: no model.safetensors, and weights are never loaded from pickle (pytorch_model.bin can run "
            f"code when loaded): {fix}")


def _has_safetensors(folder: Path) -> bool:
    from tasks.hub import SAFETENSORS_WEIGHTS

    return any((folder / name).is_file() for name in SAFETENSORS_WEIGHTS)


def load_backbone(model: str, revision: str | None = None, pretrained: bool = True) -> HubBackbone:
    """A hub id or a ``save_pretrained`` directory as a :class:`HubBackbone`.

    ``revision`` (hub ids): a branch, tag or commit; it is resolved to a commit once, so the config,
    weights and image processor come from the same one, and the backbone's ``name`` is
    ``<hub id>@<commit>``. A local directory's name is its absolute path and a hash of its JSON
    files and safetensors weights (``<path>#<hash12>``), so an artifact cache keyed on it notices
    new weights. ``pretrained=False`` builds the same architecture from its config with the
    model's own random initialization (the from-scratch baseline; seed torch first). Without a
    ``revision``, a hub id of :data:`~tasks.vision.hubdata.KNOWN_BACKBONES` loads the revision named
    there (the one with safetensors weights), any other its main branch. Weights load only from
    safetensors; code from the repository never runs (``trust_remote_code=False``). Raises
    ValueError naming the supported model types for any other architecture, before any weights are
    downloaded, and ValueError with :func:`pickle_only`'s line for a checkpoint without
    safetensors weights (a local one before anything is read; transformers' conversion of pickle
    weights on the hub is not used: it needs the literal revision ``main`` and loads the pickle).
    """
    from transformers import AutoConfig, AutoImageProcessor, AutoModel
    from transformers.utils import logging as hf_logging

    local = Path(model).expanduser()
    is_local = local.is_dir()
    source = str(local) if is_local else model
    if is_local and pretrained and not _has_safetensors(local):
        if any((local / name).is_file() for name in _PICKLE_WEIGHTS):
            raise ValueError(pickle_only(str(local), local=True))
        raise FileNotFoundError(f"{local}: no model.safetensors; write the model there with save_pretrained")
    rev = None if is_local else _resolve_revision(model, revision or default_revision(model))
    kw: dict[str, Any] = {"revision": rev, "trust_remote_code": False}
    config = AutoConfig.from_pretrained(source, **kw)
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise _unsupported(model, config.model_type)
    before, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    # Quiet: the load report lists the pooler that ViT checkpoints lack and the units never use,
    # processors without torchvision announce their PIL fallback, and every load draws a bar.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        try:
            net = (AutoModel.from_pretrained(source, use_safetensors=True, **kw) if pretrained
                   else AutoModel.from_config(config))
        except OSError as exc:
            if "safetensors" not in str(exc) or not any(m in str(exc) for m in _NO_FILE):
                raise
            raise ValueError(pickle_only(f"{model}@{rev or 'main'}")) from None
        try:
            processor = AutoImageProcessor.from_pretrained(source, **kw)
        except OSError as exc:
            raise FileNotFoundError(f"{model}: no image processor (preprocessor_config.json) to take the input size "
                                    "and normalization from; save one beside the model with save_pretrained") from exc
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()
    name = f"{local.resolve()}#{_fingerprint(local)}" if is_local else f"{model}@{rev or 'main'}"
    return HubBackbone(net.eval(), preprocessing(processor, config), name)


# --- image sets ----------------------------------------------------------------------------------
def _square(img: Any, size: int) -> np.ndarray:
    """A PIL image to (size, size, 3) uint8: RGB, shorter side resized to ``size`` (bicubic), centre crop."""
    from PIL import Image

    img = img.convert("RGB")
    if img.size != (size, size):
        scale = size / min(img.size)
        w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
        img = img.resize((w, h), Image.Resampling.BICUBIC)
        left, top = (w - size) // 2, (h - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return np.asarray(img, dtype=np.uint8)


def _images(split: Any, column: str, size: int | None) -> np.ndarray:
    """Every image of a ``datasets`` split as (N, size, size, 3) uint8, decoded a batch at a time.

    ``size=None`` keeps the images' own size, which must be one square size for all of them
    (CIFAR-10's 32 px, EuroSAT's 64 px: resizing those at loading would only cost memory).
    """
    native = size is None
    out: np.ndarray | None = None
    i = 0
    for batch in split.select_columns([column]).iter(batch_size=128):
        for img in batch[column]:
            if size is None:
                size = img.width
            if native and img.size != (size, size):
                raise ValueError(f"image {i} is {img.width}x{img.height}, not {size}x{size} as the first: "
                                 "give an image_size")
            if out is None:
                out = np.empty((len(split), size, size, 3), np.uint8)
            out[i] = _square(img, size)
            i += 1
    return out if out is not None else np.zeros((0, size or 224, size or 224, 3), np.uint8)


def _column(split: Any, wanted: str, generic: str, what: str) -> str:
    """``wanted``, or the generic name an ImageFolder copy of the repository gives the column."""
    names = split.column_names
    if wanted in names:
        return wanted
    if generic in names:
        return generic
    raise ValueError(f"no {what} column {wanted!r}; the columns are {', '.join(names)}")


def load_hub_dataset(spec: HubDataset, data_dir: str | None = None, image_size: int | None = 224,
                     cache_dir: str | None = None) -> ImageSet:
    """The training split (the pool budgets are drawn from) and the test split of ``spec``.

    ``data_dir`` (or a local directory as ``spec.repo``): a copy of the repository's files, parquet
    shards under ``data/`` as on the hub or an ImageFolder tree (``train/<class>/``,
    ``test/<class>/``), loaded with ``datasets.load_dataset`` instead of the hub; the revision and
    configuration apply to the hub only. Class names come from the label column's ``ClassLabel``
    (else the sorted distinct labels). Images are made square ``image_size`` px (shorter side, then
    centre crop; None keeps a set's own size when all its images share one). ``cache_dir``: where
    ``datasets`` keeps its download and Arrow cache. Calls with the same arguments in one process
    share one result: treat its arrays as read-only.
    """
    return _load_hub_dataset(spec, data_dir, image_size, cache_dir)


@lru_cache(maxsize=1)
def _load_hub_dataset(spec: HubDataset, data_dir: str | None, image_size: int | None,
                      cache_dir: str | None) -> ImageSet:
    from datasets import load_dataset

    local = data_dir or (spec.repo if Path(spec.repo).expanduser().is_dir() else None)
    kw: dict[str, Any] = {"cache_dir": cache_dir}
    if local is None:
        kw["revision"] = spec.revision
        if spec.config:
            kw["name"] = spec.config
    source = str(Path(local).expanduser()) if local else spec.repo
    ds = load_dataset(source, **kw)
    missing = [s for s in (spec.train_split, spec.test_split) if s not in ds]
    if missing:
        raise ValueError(f"{source}: no split {missing[0]!r}; it has {', '.join(ds)}")
    train, test = ds[spec.train_split], ds[spec.test_split]
    image_col = _column(train, spec.image_column, "image", "image")
    label_col = _column(train, spec.label_column, "label", "label")
    names: Sequence[str] | None = getattr(train.features[label_col], "names", None)
    train_labels, test_labels = list(train[label_col]), list(test[label_col])
    if names:
        classes = tuple(names)
        ty, vy = np.asarray(train_labels, np.int64), np.asarray(test_labels, np.int64)
    else:  # plain ints or strings: their sorted distinct values, numbered
        values = sorted(set(train_labels) | set(test_labels))
        index = {v: i for i, v in enumerate(values)}
        classes = tuple(map(str, values))
        ty = np.asarray([index[v] for v in train_labels], np.int64)
        vy = np.asarray([index[v] for v in test_labels], np.int64)
    if len(vy) and (vy.min() < 0 or vy.max() >= len(classes)):
        raise ValueError(f"{source}: test labels outside the {len(classes)} classes of {spec.train_split!r}")
    tx, vx = _images(train, image_col, image_size), _images(test, image_col, image_size)
    if len(tx) and len(vx) and tx.shape[1:] != vx.shape[1:]:
        raise ValueError(f"{source}: training images are {tx.shape[1]} px, test images {vx.shape[1]} px: "
                         "give an image_size")
    return ImageSet(tx, ty, vx, vy, classes)


def image_folder(root: str | Path, image_size: int = 224) -> ImageSet:
    """A user's own images: ``root/train/<class>/*`` and ``root/test/<class>/*``, classes sorted by name.

    Read with PIL directly (no ``datasets`` cache); every image is made square ``image_size`` px
    (shorter side, then centre crop). Test classes must be among the training ones.
    """
    from PIL import Image

    root = Path(root)
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise FileNotFoundError(f"{root}: expected train/<class>/ and test/<class>/ folders of images")
    classes = tuple(sorted(p.name for p in (root / "train").iterdir() if p.is_dir()))
    unknown = sorted({p.name for p in (root / "test").iterdir() if p.is_dir()} - set(classes))
    if unknown:
        raise ValueError(f"{root}: test classes without training images: {', '.join(unknown)}")
    parts: list[np.ndarray] = []
    for split in ("train", "test"):
        xs, ys = [], []
        for c, name in enumerate(classes):
            folder = root / split / name
            for f in sorted(folder.iterdir()) if folder.is_dir() else []:
                if f.suffix.lower() in _IMAGE_SUFFIXES:
                    with Image.open(f) as img:
                        xs.append(_square(img, image_size))
                    ys.append(c)
        parts += [np.stack(xs) if xs else np.zeros((0, image_size, image_size, 3), np.uint8), np.asarray(ys, np.int64)]
    return ImageSet(parts[0], parts[1], parts[2], parts[3], classes)
