"""Tiny real-tier inputs built offline: a ``save_pretrained`` model directory and hub-shaped image sets.

Plain functions, so that any test (the vision tests here, an end-to-end ``python -m bench run
--task vision/Beans-v0 --model <dir> --set options.data_dir=<dir>``) can build them in its own
temporary directory. Nothing is downloaded and nothing is mocked: these are real ``transformers``
models and real parquet shards, read back through the code a user with internet runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["BEANS_CLASSES", "KINDS", "make_tiny_backbone_dir", "make_tiny_dataset_dir", "make_tiny_image_folder"]

KINDS = ("vit", "dinov2", "resnet", "convnext")
"""The architectures :func:`make_tiny_backbone_dir` builds (every type the real tier supports)."""

BEANS_CLASSES = ("angular_leaf_spot", "bean_rust", "healthy")


def make_tiny_backbone_dir(path: Path, kind: str = "vit", seed: int = 0) -> Path:
    """A tiny randomly initialized ``kind`` model and its image processor, ``save_pretrained`` into ``path``.

    32 px input, two layers or stages of width 16-32. Each gets the processor its real
    checkpoints ship, so loading exercises each resize rule: ViT a fixed 32x32 resize; DINOv2
    BiT's shorter side to 36 and a 32 px centre crop; ResNet and ConvNeXt ConvNeXt's ``crop_pct``
    (shorter side to 32 / 0.875 = 36, crop 32). ``seed`` draws the weights.
    """
    import torch
    import transformers as tf

    def processor(name: str, **kw: object) -> object:
        cls = getattr(tf, f"{name}Pil", None) or getattr(tf, name)  # the PIL backend: no torchvision needed
        return cls(**kw)

    torch.manual_seed(seed)
    if kind == "vit":
        model = tf.ViTModel(tf.ViTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=32, image_size=32, patch_size=8), add_pooling_layer=False)
        proc = processor("ViTImageProcessor", size={"height": 32, "width": 32})
    elif kind == "dinov2":
        model = tf.Dinov2Model(tf.Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                                               image_size=32, patch_size=8))
        proc = processor("BitImageProcessor", size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32},
                         do_center_crop=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    elif kind == "resnet":
        model = tf.ResNetModel(tf.ResNetConfig(embedding_size=8, hidden_sizes=[16, 32], depths=[1, 1],
                                               layer_type="bottleneck"))
        proc = processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=0.875,
                         image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    elif kind == "convnext":
        model = tf.ConvNextModel(tf.ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2))
        proc = processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=0.875)
    else:
        raise ValueError(f"kind={kind!r}; accepted: {', '.join(KINDS)}")
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    proc.save_pretrained(path)  # type: ignore[attr-defined]
    return path


def _leaf(rng: np.random.Generator, c: int, height: int, width: int) -> np.ndarray:
    """Noise whose class shows in its colour: channel ``c`` is bright."""
    pixels = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
    pixels[..., c] += 150
    return pixels


def make_tiny_dataset_dir(path: Path, per_class: int = 4, seed: int = 0,
                          shapes: tuple[tuple[int, int], ...] = ((40, 48), (52, 44))) -> Path:
    """A tiny copy of the beans repository's layout and schema: ``data/{train,validation,test}-00000-of-00001.parquet``.

    Columns as on the hub: ``image_file_path`` (string), ``image`` (an ``Image`` feature, stored as
    PNG bytes in the parquet), ``labels`` (``ClassLabel`` of :data:`BEANS_CLASSES`). ``per_class``
    images per class in train and test, 2 in validation; image sizes (height, width) cycle through
    ``shapes`` (by default mixed, so that loading has to resize and crop); the class shows in the
    colour (channel c bright).
    """
    from datasets import ClassLabel, Dataset, Features, Image, Value
    from PIL import Image as PILImage

    features = Features({"image_file_path": Value("string"), "image": Image(),
                         "labels": ClassLabel(names=list(BEANS_CLASSES))})
    rng = np.random.default_rng(seed)
    (path / "data").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", per_class), ("validation", 2), ("test", per_class)):
        rows: dict[str, list] = {"image_file_path": [], "image": [], "labels": []}
        for c, name in enumerate(BEANS_CLASSES):
            for i in range(n):
                shape = shapes[i % len(shapes)]
                rows["image_file_path"].append(f"{split}/{name}/{i}.png")
                rows["image"].append(PILImage.fromarray(_leaf(rng, c, *shape)))
                rows["labels"].append(c)
        Dataset.from_dict(rows, features=features).to_parquet(str(path / "data" / f"{split}-00000-of-00001.parquet"))
    return path


def make_tiny_image_folder(path: Path, classes: tuple[str, ...] = BEANS_CLASSES, per_class: int = 2,
                           seed: int = 0) -> Path:
    """An ImageFolder tree, ``path/{train,test}/<class>/<i>.png``, with the class in the colour (as above)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for c, name in enumerate(classes):
            (path / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.fromarray(_leaf(rng, c % 3, 20, 30)).save(path / split / name / f"{i}.png")
    return path
