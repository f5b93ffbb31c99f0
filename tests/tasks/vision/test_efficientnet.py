"""The family's own EfficientNet-Lite0 carries the shipped ImageNet weights exactly and recognizes a photo."""

from __future__ import annotations

import matplotlib.cbook
import numpy as np
import pytest
import torch
from PIL import Image

from tasks.vision.efficientnet import MEAN, STAGES, STD, EfficientNetLite0, pretrained, weights_path

MILITARY_UNIFORM, SUIT, WINDSOR_TIE, BOW_TIE = 652, 834, 906, 457
"""ImageNet class indices."""


def _photo(size: int = 224) -> torch.Tensor:
    """Grace Hopper in uniform, the photo matplotlib ships: centre crop, resized, normalized."""
    img = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)).resize((size, size), Image.BILINEAR)
    x = torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1)[None] / 255
    return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def test_the_shipped_weights_fit_the_architecture_exactly():
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    assert set(state) == set(model.state_dict())
    assert all(state[k].shape == v.shape for k, v in model.state_dict().items())
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.65e6, rel=0.01)
    assert len(model.stage_ends) == len(STAGES) and model.stage_ends[-1] == len(model._blocks) - 1


def test_imagenet_head_recognizes_a_real_photo():
    model = pretrained()
    with torch.no_grad():
        probs = model(_photo()).softmax(-1)[0]
        untrained = EfficientNetLite0().eval()(_photo()).softmax(-1)[0]
    top5 = probs.topk(5).indices.tolist()
    assert top5[0] == MILITARY_UNIFORM and probs[MILITARY_UNIFORM] > 0.15
    assert {SUIT, WINDSOR_TIE, BOW_TIE} & set(top5[1:]), "the runners-up are clothes with ties, too"
    assert untrained[MILITARY_UNIFORM] < 0.01, "random weights know nothing of the photo"


def test_features_are_the_pooled_head_embedding():
    model = pretrained()
    with torch.no_grad():
        f = model.features(_photo(96))
        logits = model(_photo(96))
    assert f.shape == (1, 1280) and torch.allclose(model._fc(f), logits, atol=1e-5)


@pytest.mark.slow
def test_imagenet_features_carry_over_to_digits_better_than_random_ones():
    """A linear probe on ImageNet features of 8x8 digits (10 per class) beats one on random-init features."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    from tasks.vision.efficientnet import embed

    digits = load_digits()
    images = (digits.images * (255 / 16)).astype(np.uint8)
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.choice(np.flatnonzero(digits.target == c), 10, replace=False) for c in range(10)])
    test = np.setdiff1d(np.arange(len(images)), train)[:300]
    torch.manual_seed(0)
    scores = {}
    for name, model in (("imagenet", pretrained()), ("random", EfficientNetLite0())):
        f_train, f_test = embed(model, images[train], 64), embed(model, images[test], 64)
        probe = LogisticRegression(max_iter=2000).fit(f_train, digits.target[train])
        scores[name] = probe.score(f_test, digits.target[test])
    assert scores["imagenet"] > scores["random"] + 0.2 and scores["imagenet"] > 0.7, scores


def test_preprocess_accepts_gray_and_rgb_and_names_a_bad_shape():
    from tasks.vision.efficientnet import preprocess

    gray = np.full((2, 8, 8), 255, np.uint8)
    x = preprocess(gray, 32)
    assert x.shape == (2, 3, 32, 32) and torch.allclose(x, torch.full_like(x, (1 - 0.498) / 0.502))
    assert preprocess(np.zeros((1, 8, 8, 3), np.uint8), 16).shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        preprocess(np.zeros((8, 8), np.uint8), 16)
