"""The real tier, offline: tiny transformers models and image sets with a hub set's schema, saved
locally and loaded through the same code a user with internet runs (no mocks of either library)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hub_fixtures import (
    BEANS_CLASSES,
    KINDS,
    make_tiny_backbone_dir,
    make_tiny_dataset_dir,
    make_tiny_image_folder,
)

from tasks.vision.hub import HUB_DATASETS, HubBackbone, image_folder, load_backbone, load_hub_dataset

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny saved model per supported architecture, shared by this module's tests (read-only)."""
    root = tmp_path_factory.mktemp("models")
    return {kind: make_tiny_backbone_dir(root / kind, kind) for kind in KINDS}


@pytest.fixture
def beans_dir(tmp_path: Path) -> Path:
    """A local copy of the beans repository's parquet layout and schema."""
    return make_tiny_dataset_dir(tmp_path / "beans")


def _smooth_images(n: int = 3, height: int = 40, width: int = 48) -> np.ndarray:
    """Natural-image-like (smooth) uint8 RGB images: resampling filters agree on them to a level or two."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([np.stack([np.sin(xx / (3 + k)) * 100 + 120, np.cos(yy / (4 + k)) * 100 + 120, (xx + yy) * 2.5],
                              axis=-1) for k in range(n)]).astype(np.uint8)


# --- backbones ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_units_and_pool_reproduce_the_models_own_feature(kind, model_dirs):
    from transformers import AutoModel

    backbone = load_backbone(str(model_dirs[kind])).eval()
    model = AutoModel.from_pretrained(model_dirs[kind]).eval()
    x = backbone.prepare(_smooth_images())
    with torch.no_grad():
        ours = backbone(x)
        out = model(pixel_values=x)
    # ViT's pooler (absent here) is not the feature: the CLS token after the final norm is.
    theirs = out.last_hidden_state[:, 0] if kind == "vit" else out.pooler_output.flatten(1)
    assert isinstance(backbone, HubBackbone) and backbone.model_type == kind
    assert ours.shape == (3, backbone.feature_dim)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    n_layers = {"vit": 2 + 2, "dinov2": 2 + 2, "resnet": 1 + 2, "convnext": 1 + 2 + 1}[kind]
    assert len(backbone.units) == n_layers
    # a prefix run then the rest is the same function (what cached frozen prefixes rely on)
    with torch.no_grad():
        torch.testing.assert_close(backbone(backbone.run(x, 0, 2), start=2), ours, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_probe_features_of_several_units_end_with_the_pooled_feature(kind, model_dirs):
    backbone = load_backbone(str(model_dirs[kind])).eval()
    x = backbone.prepare(_smooth_images(2))
    with torch.no_grad():
        every = backbone.features(x, len(backbone.units))
        last = backbone(x)
    assert every.ndim == 2 and every.shape[1] > backbone.feature_dim
    assert torch.equal(every[:, -backbone.feature_dim:], last)


@pytest.mark.parametrize("kind", KINDS)
def test_prepare_follows_the_checkpoints_image_processor(kind, model_dirs):
    from transformers import AutoImageProcessor

    backbone = load_backbone(str(model_dirs[kind]))
    images = _smooth_images()
    processor = AutoImageProcessor.from_pretrained(model_dirs[kind])
    theirs = processor(list(images), return_tensors="pt")["pixel_values"]
    ours = backbone.prepare(images)
    assert backbone.resolution == 32 and ours.shape == theirs.shape == (3, 3, 32, 32)
    # PIL resizes 8-bit images, torch floats: a level or two of 255 apart, in normalized units
    assert (ours - theirs).abs().max() < 0.03
    gray = images[..., 0]
    torch.testing.assert_close(backbone.prepare(gray), backbone.prepare(np.repeat(gray[..., None], 3, axis=-1)))


def test_scratch_has_the_same_shapes_and_other_weights(model_dirs):
    pre, rand = load_backbone(str(model_dirs["vit"])), load_backbone(str(model_dirs["vit"]), pretrained=False)
    a, b = pre.state_dict(), rand.state_dict()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    assert not torch.equal(a["units.1.layer.attention.q_proj.weight"], b["units.1.layer.attention.q_proj.weight"])
    assert rand.resolution == pre.resolution and rand.preprocessing == pre.preprocessing


def test_the_name_is_the_path_and_a_hash_that_follows_the_weights(tmp_path):
    folder = make_tiny_backbone_dir(tmp_path / "m", seed=0)
    first = load_backbone(str(folder)).name
    path, digest = first.split("#")
    assert path == str(folder.resolve()) and len(digest) == 12
    assert load_backbone(str(folder)).name == first
    make_tiny_backbone_dir(folder, seed=1)  # new weights, same directory
    new_path, new_digest = load_backbone(str(folder)).name.split("#")
    assert new_path == path and new_digest != digest


@pytest.mark.parametrize("kind", KINDS)
def test_lora_targets_adapt_the_projections_and_only_the_adapters_train(kind, model_dirs):
    from peft import LoraConfig, inject_adapter_in_model

    backbone = load_backbone(str(model_dirs[kind])).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = backbone(x)
    inject_adapter_in_model(LoraConfig(r=2, lora_alpha=4, target_modules=list(backbone.lora_targets)), backbone)
    adapted = [n for n, m in backbone.named_modules() if hasattr(m, "lora_A")]
    assert len(adapted) == 4  # two per transformer layer or stage: q/v, 1x1 reduce/expand, the two pointwise
    trainable = {n: p for n, p in backbone.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert sum(p.numel() for p in trainable.values()) > 0
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), before)  # B starts at zero: the same function
    # A fixed random projection of the output, not its sum: the backbone ends in a LayerNorm, and the
    # sum of a normalized vector is constant, so its gradient would be zero whatever the adapters do.
    out = backbone(x)
    projection = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    (out * projection).sum().backward()
    assert all(p.grad is None for n, p in backbone.named_parameters() if n not in trainable)
    # B starts at zero, so A's gradient is zero at step 0; every B must receive a gradient.
    lora_b = {n: p for n, p in trainable.items() if "lora_B" in n}
    assert len(lora_b) == len(adapted)
    assert all(p.grad is not None and p.grad.abs().sum() > 1e-6 for p in lora_b.values()), \
        {n: None if p.grad is None else float(p.grad.abs().sum()) for n, p in lora_b.items()}


@pytest.mark.parametrize("kind", ["vit", "resnet"])
def test_reinitialize_redraws_every_weight_of_the_units_above_and_none_below(kind, model_dirs):
    backbone = load_backbone(str(model_dirs[kind]))
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    torch.manual_seed(0)
    backbone.reinitialize(first=1)
    after = backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("units.0."))
    moved = [k for k in before if not k.startswith("units.0.") and not torch.equal(before[k], after[k])]
    assert moved
    backbone.reinitialize(first=0)
    if kind == "vit":  # parameters no layer owns are redrawn too
        assert not torch.equal(before["units.0.cls_token"], backbone.state_dict()["units.0.cls_token"])
        assert not torch.equal(before["units.0.position_embeddings"],
                               backbone.state_dict()["units.0.position_embeddings"])


def test_unsupported_architectures_get_a_clear_error(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                         vocab_size=50)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="model type 'bert' is not supported; supported model types: vit, dinov2, "
                                         "resnet, convnext"):
        load_backbone(str(tmp_path))


def _pickle_only(folder: Path) -> Path:
    """``folder``'s weights as pytorch_model.bin only (torch.save of the state dict), beside its two configs."""
    from safetensors.torch import load_file

    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def test_a_checkpoint_with_pickle_weights_only_is_refused_in_one_line_saying_what_to_do(tmp_path):
    folder = _pickle_only(make_tiny_backbone_dir(tmp_path / "m"))
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "preprocessor_config.json", "pytorch_model.bin"]
    with pytest.raises(ValueError) as err:
        load_backbone(str(folder))
    assert str(err.value) == (
        f"{folder}: no model.safetensors, and weights are never loaded from pickle (pytorch_model.bin can run code "
        "when loaded): convert it once with AutoModel.from_pretrained(dir).save_pretrained(dir) in an environment you "
        "trust")
    assert load_backbone(str(folder), pretrained=False).model_type == "vit"  # scratch needs the config only


@pytest.mark.slow
def test_a_hub_id_with_pickle_weights_only_is_refused_in_one_line(tmp_path):
    """The same refusal for a hub id, whose files only transformers sees (here: a hub cache, offline)."""
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    repo = tmp_path / "hub" / "models--tinyorg--pickled"
    _pickle_only(make_tiny_backbone_dir(repo / "snapshots" / commit))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    script = textwrap.dedent("""
        import tasks.vision.hub as hub
        try:
            hub.load_backbone("tinyorg/pickled")
        except ValueError as exc:
            print(exc)
    """)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [
        f"tinyorg/pickled@{commit}: no model.safetensors, and weights are never loaded from pickle (pytorch_model.bin "
        "can run code when loaded): pick a revision that has model.safetensors (--set options.revision=...), or "
        "convert it once with AutoModel.from_pretrained(...).save_pretrained(dir) in an environment you trust and "
        "pass that directory as --model"]


@pytest.mark.slow
def test_convnext_tiny_loads_the_safetensors_of_its_pull_request_not_the_pickle_of_main(tmp_path):
    """facebook/convnext-tiny-224 as the hub holds it: main with pickle weights only, refs/pr/4 with
    model.safetensors; without a revision the backbone comes from refs/pr/4 (a hub cache, offline)."""
    main, pr = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
    repo = tmp_path / "hub" / "models--facebook--convnext-tiny-224"
    _pickle_only(make_tiny_backbone_dir(repo / "snapshots" / main, "convnext"))
    make_tiny_backbone_dir(repo / "snapshots" / pr, "convnext", seed=1)
    (repo / "refs" / "refs" / "pr").mkdir(parents=True)
    (repo / "refs" / "main").write_text(main)
    (repo / "refs" / "refs" / "pr" / "4").write_text(pr)
    script = "import tasks.vision.hub as hub; print(hub.load_backbone('facebook/convnext-tiny-224').name)"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [f"facebook/convnext-tiny-224@{pr}"]


@pytest.mark.slow
def test_a_hub_id_loads_from_the_cache_offline_pinned_to_its_commit(model_dirs, tmp_path):
    """The hub path a user with internet takes, served from a hub cache laid out as huggingface_hub
    writes it (``models--org--name/refs/main`` -> ``snapshots/<commit>/``), with HF_HUB_OFFLINE=1.
    In a fresh process, which also shows that importing hub.py loads neither library."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tinyorg--tiny-vit"
    shutil.copytree(model_dirs["vit"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    script = textwrap.dedent(f"""
        import sys
        import tasks.vision.hub as hub
        assert "transformers" not in sys.modules and "datasets" not in sys.modules, "imported at module import"
        a = hub.load_backbone("tinyorg/tiny-vit")
        b = hub.load_backbone("tinyorg/tiny-vit", revision="{commit}")
        c = hub.load_backbone({str(model_dirs["vit"])!r})
        assert a.state_dict().keys() == c.state_dict().keys()
        assert all(a.state_dict()[k].equal(c.state_dict()[k]) for k in a.state_dict())
        print(a.name, b.name)
    """)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [f"tinyorg/tiny-vit@{commit}"] * 2


# --- image sets ----------------------------------------------------------------------------------
def test_a_local_copy_of_a_hub_dataset_loads_through_the_same_loader(beans_dir, tmp_path):
    spec = HUB_DATASETS["beans"]
    data = load_hub_dataset(spec, str(beans_dir), image_size=24, cache_dir=str(tmp_path / "cache"))
    assert data.classes == BEANS_CLASSES
    assert data.train_x.shape == (12, 24, 24, 3) and data.train_x.dtype == np.uint8
    assert data.test_x.shape == (12, 24, 24, 3)
    assert data.test_y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    for c in range(3):  # the class is the bright channel, after the resize and crop too
        assert np.argmax(data.train_x[data.train_y == c].mean(axis=(0, 1, 2))) == c
    # a local directory in place of the hub id is the same thing
    same = load_hub_dataset(dataclasses.replace(spec, repo=str(beans_dir)), image_size=24,
                            cache_dir=str(tmp_path / "cache"))
    assert np.array_equal(same.train_x, data.train_x) and np.array_equal(same.test_y, data.test_y)
    # mixed sizes cannot be kept as they are; one square size can
    with pytest.raises(ValueError, match="give an image_size"):
        load_hub_dataset(spec, str(beans_dir), image_size=None, cache_dir=str(tmp_path / "cache"))
    uniform = make_tiny_dataset_dir(tmp_path / "uniform", per_class=2, shapes=((20, 20),))
    native = load_hub_dataset(spec, str(uniform), image_size=None, cache_dir=str(tmp_path / "cache"))
    assert native.train_x.shape == native.test_x.shape == (6, 20, 20, 3)


def test_an_image_folder_copy_loads_through_the_hub_loader_with_its_generic_columns(tmp_path):
    folder = make_tiny_image_folder(tmp_path / "beans-folder")
    data = load_hub_dataset(HUB_DATASETS["beans"], str(folder), image_size=16, cache_dir=str(tmp_path / "cache"))
    assert data.classes == BEANS_CLASSES and data.train_x.shape == (6, 16, 16, 3)
    assert sorted(data.train_y.tolist()) == [0, 0, 1, 1, 2, 2]
    for c in range(3):
        assert np.argmax(data.train_x[data.train_y == c].mean(axis=(0, 1, 2))) == c


def test_image_folder(tmp_path):
    folder = make_tiny_image_folder(tmp_path / "own", classes=("cat", "dog"))
    data = image_folder(folder, image_size=16)
    assert data.classes == ("cat", "dog") and data.train_x.shape == (4, 16, 16, 3)
    assert data.train_y.tolist() == [0, 0, 1, 1] and data.test_y.tolist() == [0, 0, 1, 1]
    assert np.argmax(data.train_x[data.train_y == 1].mean(axis=(0, 1, 2))) == 1
    (folder / "test" / "bird").mkdir()
    with pytest.raises(ValueError, match="test classes without training images: bird"):
        image_folder(folder)


def test_the_hub_table_names_real_parquet_repositories_pinned_to_commits():
    assert set(HUB_DATASETS) == {"flowers102", "pets", "dtd", "eurosat", "cifar10", "beans"}
    for key, spec in HUB_DATASETS.items():
        assert spec.key == key and "/" in spec.repo and spec.citation.startswith("@")
        assert spec.pinned, key
        if spec.smallest_class is not None and spec.split_sizes is not None:
            assert spec.smallest_class * (spec.num_classes or 1) <= spec.split_sizes[0]


# --- end to end ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_bench_run_a_real_task_with_a_local_model_and_dataset_end_to_end(tmp_path):
    model = make_tiny_backbone_dir(tmp_path / "model")
    data = make_tiny_dataset_dir(tmp_path / "beans")
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
