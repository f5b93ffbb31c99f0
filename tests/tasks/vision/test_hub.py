"""The real tier, offline: tiny transformers models and a dataset with the hub set's schema, saved
locally and loaded through the same code a user with internet runs (no mocks of either library)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tasks.vision.hub import HUB_DATASETS, image_folder, load_backbone, load_hub_dataset

ROOT = Path(__file__).resolve().parents[3]


def tiny_model_dir(path: Path, kind: str = "vit", seed: int = 0) -> Path:
    """A tiny randomly initialized model of ``kind`` and its image processor, ``save_pretrained`` into ``path``."""
    from transformers import (
        ConvNextConfig,
        ConvNextImageProcessor,
        ConvNextModel,
        Dinov2Config,
        Dinov2Model,
        ResNetConfig,
        ResNetModel,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    torch.manual_seed(seed)
    if kind == "vit":
        model = ViTModel(ViTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                                   image_size=32, patch_size=8), add_pooling_layer=False)
    elif kind == "dinov2":
        model = Dinov2Model(Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=32, image_size=32, patch_size=8))
    elif kind == "resnet":
        model = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"))
    else:
        model = ConvNextModel(ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2))
    model.save_pretrained(path)
    processor = (ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=1.0) if kind == "convnext"
                 else ViTImageProcessor(size={"height": 32, "width": 32}))
    processor.save_pretrained(path)
    return path


def tiny_beans_dir(path: Path, per_class: int = 4, seed: int = 0) -> Path:
    """A dataset with beans' schema (image_file_path, image, labels as a ClassLabel), written as the
    hub repository's parquet shards, with images whose class shows in their colour."""
    from datasets import ClassLabel, Dataset, Features, Image, Value
    from PIL import Image as PILImage

    names = ["angular_leaf_spot", "bean_rust", "healthy"]
    features = Features({"image_file_path": Value("string"), "image": Image(), "labels": ClassLabel(names=names)})
    rng = np.random.default_rng(seed)
    (path / "data").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", per_class), ("validation", 2), ("test", per_class)):
        rows = {"image_file_path": [], "image": [], "labels": []}
        for c in range(3):
            for i in range(n):
                pixels = rng.integers(0, 60, size=(40, 48, 3), dtype=np.uint8)
                pixels[..., c] += 150
                rows["image_file_path"].append(f"{split}/{names[c]}/{i}.jpg")
                rows["image"].append(PILImage.fromarray(pixels))
                rows["labels"].append(c)
        Dataset.from_dict(rows, features=features).to_parquet(str(path / "data" / f"{split}-00000-of-00001.parquet"))
    return path


@pytest.mark.parametrize("kind", ["vit", "dinov2", "resnet", "convnext"])
def test_units_and_pool_reproduce_the_models_own_features(kind, tmp_path):
    from transformers import AutoModel

    folder = tiny_model_dir(tmp_path / kind, kind)
    backbone = load_backbone(str(folder)).eval()
    model = AutoModel.from_pretrained(folder).eval()
    images = np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    x = backbone.prepare(images)
    with torch.no_grad():
        ours = backbone(x)
        out = model(pixel_values=x)
        theirs = out.last_hidden_state[:, 0] if kind == "vit" else out.pooler_output.flatten(1)
    assert ours.shape == (3, backbone.feature_dim)
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert len(backbone.units) >= 3 and backbone.lora_targets


def test_scratch_has_the_same_shapes_and_other_weights_and_the_name_follows_the_weights(tmp_path):
    a = tiny_model_dir(tmp_path / "a", seed=0)
    b = tiny_model_dir(tmp_path / "b", seed=1)
    pre, rand = load_backbone(str(a)), load_backbone(str(a), pretrained=False)
    pairs = list(zip(pre.state_dict().values(), rand.state_dict().values(), strict=True))
    assert all(p.shape == q.shape for p, q in pairs)
    assert not all(torch.equal(p, q) for p, q in pairs)
    assert load_backbone(str(a)).name == pre.name
    assert load_backbone(str(b)).name.split("#")[1] != pre.name.split("#")[1]


def test_unsupported_architectures_get_a_clear_error(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                         vocab_size=50)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="model type 'bert' is not supported; supported: vit, dinov2"):
        load_backbone(str(tmp_path))


def test_a_local_copy_of_a_hub_dataset_loads_through_the_same_loader(tmp_path):
    data = load_hub_dataset(HUB_DATASETS["beans"], str(tiny_beans_dir(tmp_path)), image_size=24)
    assert data.classes == ("angular_leaf_spot", "bean_rust", "healthy")
    assert data.train_x.shape == (12, 24, 24, 3) and data.train_x.dtype == np.uint8
    assert data.test_y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert data.train_x[data.train_y == 1][..., 1].mean() > data.train_x[data.train_y == 1][..., 0].mean() + 100


def test_image_folder(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for c, name in enumerate(("cat", "dog")):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((20, 30, 3), 100 * c, np.uint8)).save(tmp_path / split / name / f"{i}.png")
    data = image_folder(tmp_path, image_size=16)
    assert data.classes == ("cat", "dog") and data.train_x.shape == (4, 16, 16, 3)
    assert data.train_y.tolist() == [0, 0, 1, 1]


def test_bench_run_a_real_task_with_a_local_model_and_dataset_end_to_end(tmp_path):
    model = tiny_model_dir(tmp_path / "model")
    data = tiny_beans_dir(tmp_path / "beans")
    results = tmp_path / "results"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
               PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "bench", "run", "--task", "vision/Beans-v0", "--model", str(model),
           "--set", f"options.data_dir={data}", "--set", "options.image_size=32", "--set", "options.epochs=1",
           "--set", "options.min_steps=3", "--set", "options.probe_steps=5", "--set", "options.batch_size=4",
           "--method", "linear-probe,fine-tune,lora", "--seeds", "2", "--budget", "2", "--workers", "1",
           "--results-dir", str(results), "--no-progress", "--format", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    board = json.loads(proc.stdout)
    methods = {r["method"]: r for r in board["rows"]}
    assert set(methods) == {"scratch", "linear-probe", "fine-tune", "lora"}
    assert all(r["seeds"] == 2 and r["failed"] == 0 for r in methods.values())
    assert methods["lora"]["trainable_params"] < methods["fine-tune"]["trainable_params"]
    assert "LOAD REPORT" not in proc.stderr
