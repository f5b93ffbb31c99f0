"""Synthetic-to-real digits: does pretraining on digits rendered from fonts help on handwriting?

The source is an unlimited supply of digits rendered with PIL from the TrueType fonts that
matplotlib ships, distorted and then reduced exactly as the UCI optdigits data were (a 32x32
binary bitmap, on-pixels counted in 4x4 blocks, giving 8x8 values in 0..16). The target is
scikit-learn's bundled copy of optdigits (1,797 real handwritten digits). Because the two
domains share the input format and label set, the gap between them is the gap between printed
and handwritten shapes, which is what the methods are asked to bridge.

Every method trains the same small CNN with the same loop (:func:`train`), so a difference
between methods is a difference in initialization or in which weights move, never in the code
path. Everything is seeded from ``ctx.seed`` so a run repeats exactly.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from safetensors.torch import load_file, save_file
from torch import nn

from bench.api import RunContext, RunResult, TaskSpec
from bench.config import resolve_options
from tasks.common import one_torch_thread
from tasks.vision.datasets import per_class_sample
from tasks.vision.training import accuracy, count_params, predict, train

__all__ = [
    "DigitsCNN",
    "Distortion",
    "SynthDigitsTask",
    "TargetSplit",
    "digit_fonts",
    "downsample_optdigits",
    "render_bitmaps",
    "render_digits",
    "sample_budget",
    "target_split",
    "train",
]

METHODS = ("scratch", "zero-shot", "fine-tune", "linear-probe")
N_CLASSES = 10
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

POOL_PER_CLASS = 80
"""Labelled examples per class kept for budget sampling; every other image is test data."""
SPLIT_SEED = 20240601
"""Fixes the target split for every run and version of this task: never derive it from a seed."""

CANVAS = 64
"""Side of the canvas glyphs are drawn and distorted on before size normalization."""
BITMAP = 32
"""Side of the binary bitmap, as in optdigits."""
BLOCK = 4
"""optdigits counts on-pixels in non-overlapping 4x4 blocks of the 32x32 bitmap."""
RENDER_CHUNK = 1000
"""Images distorted together; part of what the renderer draws, so fixed for a task version."""

# Options that change the source model; everything else is target-side only.
SOURCE_OPTIONS = (
    "source_images",
    "source_test_images",
    "source_epochs",
    "source_batch_size",
    "source_lr",
    "width",
    "max_rotation",
    "max_shear",
    "elastic_alpha",
    "elastic_sigma",
    "noise",
)
DISTORTION_OPTIONS = ("max_rotation", "max_shear", "elastic_alpha", "elastic_sigma", "noise")
# Independent random streams derived from the run seed: default_rng([seed, STREAM_...]).
STREAM_BUDGET = 100
STREAM_TARGET_BATCHES = 101
STREAM_SOURCE_RENDER = 102
STREAM_SOURCE_HOLDOUT = 103
STREAM_SOURCE_BATCHES = 104

ARTIFACT_FORMAT = 1
"""Bump when the layout of the source-model artifact changes, so old caches are not reused."""


# --- source: digits rendered from fonts --------------------------------------------------------
@lru_cache(maxsize=1)
def digit_fonts() -> tuple[str, ...]:
    """File names of matplotlib's TrueType fonts whose glyphs for '0'..'9' really are digits.

    Checked by glyph name rather than by rendering, because symbol fonts (cmsy10, cmex10) map
    the digit code points to other symbols and some fonts (STIX size variants, the Display
    fonts, LastResort) have no digits at all or a single placeholder glyph.
    """
    from matplotlib import get_data_path
    from matplotlib.ft2font import FT2Font

    root = Path(get_data_path()) / "fonts" / "ttf"
    usable = []
    for path in sorted(root.glob("*.ttf")):
        try:
            font = FT2Font(str(path))
            names = [font.get_glyph_name(font.get_char_index(ord(str(d)))) for d in range(10)]
        except Exception:  # an unreadable font is simply not a source of digits
            continue
        if all(n.lower().startswith(want) for n, want in zip(names, DIGIT_NAMES, strict=True)):
            usable.append(path.name)
    if not usable:
        raise RuntimeError(f"no font under {root} renders the digits 0-9")
    return tuple(usable)


@lru_cache(maxsize=256)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    from matplotlib import get_data_path

    return ImageFont.truetype(os.path.join(get_data_path(), "fonts", "ttf", name), size)


@lru_cache(maxsize=4096)
def _glyph(name: str, digit: int, stroke: int) -> Image.Image:
    """The undistorted glyph, centred on the canvas; cached, as FreeType dominates otherwise.

    Its size does not matter much: every digit is scaled to the bitmap's height later.
    """
    img = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(img).text(
        (CANVAS / 2, CANVAS / 2),
        str(digit),
        font=_font(name, CANVAS // 2),
        fill=255,
        anchor="mm",
        stroke_width=stroke,
        stroke_fill=255,
    )
    return img


def downsample_optdigits(bitmaps: np.ndarray) -> np.ndarray:
    """Count the on-pixels of each non-overlapping 4x4 block: (n, 32, 32) binary -> (n, 8, 8) 0..16.

    This is the reduction the optdigits authors applied to their NIST bitmaps, so rendered and
    real digits end up in exactly the same representation.
    """
    b = np.asarray(bitmaps).astype(bool)
    if b.shape[-2:] != (BITMAP, BITMAP):
        raise ValueError(f"expected {BITMAP}x{BITMAP} bitmaps, got shape {b.shape}")
    k = BITMAP // BLOCK
    counts = b.reshape(*b.shape[:-2], k, BLOCK, k, BLOCK).sum(axis=(-3, -1))
    return counts.astype(np.uint8)


@dataclass(frozen=True)
class Distortion:
    """How far rendered digits are pushed from clean type towards handwriting.

    The first five fields are task options of the same name (and so part of the source model's
    key); pen width and threshold range are fixed by the task version.
    """

    max_rotation: float = 12.0
    """Degrees, uniform in +-max_rotation."""
    max_shear: float = 0.3
    """Horizontal shear factor, uniform in +-max_shear (slanted handwriting)."""
    elastic_alpha: float = 34.0
    """Scale of the elastic displacement field in 32x32 pixels (Simard et al., 2003)."""
    elastic_sigma: float = 4.0
    """Smoothness of the elastic field (Gaussian sigma, pixels); 0 turns it off."""
    noise: float = 0.1
    """Largest probability of flipping a pixel on the glyph's boundary (ragged pen strokes)."""
    max_stroke: int = 1
    """Largest extra pen width (pixels on the 64x64 canvas) added around the glyph outline."""
    threshold: tuple[float, float] = (0.3, 0.6)
    """Range of the per-image binarization threshold of the grey glyph (lower: bolder)."""


def _render_gray(
    digit: int, rng: np.random.Generator, fonts: Sequence[str], dist: Distortion
) -> np.ndarray:
    """One digit as a 32x32 grey image in [0, 1]: random font, pen width and affine distortion.

    The glyph is cropped to its ink and scaled to fill the bitmap's height, like the size
    normalization of the NIST preprocessing that optdigits went through, so position and scale
    vary only by a pixel or two, as they do in the real data.
    """
    name = fonts[int(rng.integers(len(fonts)))]
    img = _glyph(name, digit, int(rng.integers(0, dist.max_stroke + 1)))
    # Affine distortion about the centre: rotation, horizontal shear, anisotropic scale.
    angle = math.radians(rng.uniform(-dist.max_rotation, dist.max_rotation))
    shear = rng.uniform(-dist.max_shear, dist.max_shear)
    sx, sy = np.exp(rng.normal(0.0, 0.12, size=2))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    fwd = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])
    inv = np.linalg.inv(fwd)  # PIL maps output coordinates back to input ones
    c = CANVAS / 2
    off = np.array([c, c]) - inv @ np.array([c, c])
    img = img.transform(
        (CANVAS, CANVAS),
        Image.Transform.AFFINE,
        (inv[0, 0], inv[0, 1], off[0], inv[1, 0], inv[1, 1], off[1]),
        resample=Image.Resampling.BILINEAR,
    )
    gray = np.zeros((BITMAP, BITMAP), dtype=np.float32)
    ink = np.asarray(img) > 127
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:  # cannot happen with the vetted fonts; keep an empty image if it does
        return gray
    crop = img.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    h = int(rng.integers(BITMAP - 3, BITMAP + 1))
    aspect = crop.width / crop.height * math.exp(rng.normal(0.0, 0.1))
    w = int(min(BITMAP, max(3, round(h * aspect))))
    top = min(max((BITMAP - h) // 2 + int(rng.integers(-1, 2)), 0), BITMAP - h)
    left = min(max((BITMAP - w) // 2 + int(rng.integers(-2, 3)), 0), BITMAP - w)
    resized = crop.resize((w, h), Image.Resampling.BILINEAR)
    gray[top : top + h, left : left + w] = np.asarray(resized, dtype=np.float32) / 255
    return gray


def _elastic(gray: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    """Warp a stack of images (n, H, W) by smooth random displacement fields (Simard et al. 2003).

    Vectorized over the stack (bilinear sampling, zero outside) because per-image calls would
    dominate the source build.
    """
    from scipy.ndimage import gaussian_filter

    n, hgt, wid = gray.shape
    field = rng.uniform(-1.0, 1.0, size=(2, n, hgt, wid)).astype(np.float32)
    field = gaussian_filter(field, sigma=(0, 0, sigma, sigma), mode="constant") * alpha
    # Sample positions, shifted by one for the zero border and kept inside it.
    yy = np.clip(np.arange(hgt, dtype=np.float32)[None, :, None] + field[0] + 1, 0, hgt + 0.999)
    xx = np.clip(np.arange(wid, dtype=np.float32)[None, None, :] + field[1] + 1, 0, wid + 0.999)
    iy, ix = yy.astype(np.int64), xx.astype(np.int64)  # floor, as the positions are >= 0
    fy, fx = yy - iy, xx - ix
    flat = np.pad(gray, ((0, 0), (1, 1), (1, 1))).reshape(n, -1)  # zero border
    stride = wid + 2
    base = iy * stride + ix
    k = np.arange(n)[:, None, None]

    def at(offset: int) -> np.ndarray:
        return flat[k, base + offset]

    top = at(0) * (1 - fx) + at(1) * fx
    bottom = at(stride) * (1 - fx) + at(stride + 1) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def render_bitmaps(
    n: int,
    seed: int | Sequence[int],
    dist: Distortion | None = None,
    *,
    fonts: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` class-balanced 32x32 binary digit bitmaps and their labels, determined by ``seed``.

    Per image: font, pen width and affine distortion (PIL); then, for the whole stack, an
    elastic warp, a binarization threshold drawn per image (thinner or bolder strokes) and
    ragged edges: pixels on the stroke boundary flipped at random.
    """
    from scipy.ndimage import binary_dilation

    fonts = tuple(fonts) if fonts is not None else digit_fonts()
    dist = dist or Distortion()
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % N_CLASSES).astype(np.int64)
    out = np.zeros((n, BITMAP, BITMAP), dtype=bool)
    plane = np.zeros((3, 3, 3), dtype=bool)
    plane[1] = True  # dilate within each image, never across the stack
    for start in range(0, n, RENDER_CHUNK):  # chunks bound the memory of the vectorized steps
        chunk = labels[start : start + RENDER_CHUNK]
        gray = np.stack([_render_gray(int(d), rng, fonts, dist) for d in chunk])
        if dist.elastic_sigma > 0 and dist.elastic_alpha > 0:
            gray = _elastic(gray, rng, dist.elastic_alpha, dist.elastic_sigma)
        lo, hi = dist.threshold
        bits = gray > rng.uniform(lo, hi, size=(len(chunk), 1, 1))
        if dist.noise > 0:
            edge = binary_dilation(bits, plane) & binary_dilation(~bits, plane)
            flip = rng.random(bits.shape) < rng.uniform(0.0, dist.noise, size=(len(chunk), 1, 1))
            bits ^= edge & flip
        out[start : start + len(chunk)] = bits
    return out, labels


def render_digits(
    n: int,
    seed: int | Sequence[int],
    dist: Distortion | None = None,
    *,
    fonts: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rendered digits in optdigits form ((n, 8, 8) uint8 in 0..16) and their labels."""
    bitmaps, labels = render_bitmaps(n, seed, dist, fonts=fonts)
    return downsample_optdigits(bitmaps), labels


# --- target: scikit-learn's optdigits ----------------------------------------------------------
@dataclass(frozen=True)
class TargetSplit:
    """The fixed split of the real digits: a labelled pool to draw budgets from, and a test set."""

    pool_x: np.ndarray
    pool_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    pool_index: np.ndarray
    """Row numbers in ``load_digits()`` of the pool images (for checking disjointness)."""
    test_index: np.ndarray


@lru_cache(maxsize=1)
def target_split() -> TargetSplit:
    """80 images per class in the pool, the other 997 in the test set, the same for every run.

    The split uses its own fixed RNG and numpy only, so neither the run seed nor the version of
    scikit-learn's splitting code can move an image between pool and test.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.images.astype(np.uint8)
    target = data.target.astype(np.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    pool, test = [], []
    for cls in range(N_CLASSES):
        idx = rng.permutation(np.flatnonzero(target == cls))
        pool.append(idx[:POOL_PER_CLASS])
        test.append(idx[POOL_PER_CLASS:])
    pool_idx = np.sort(np.concatenate(pool))
    test_idx = np.sort(np.concatenate(test))
    return TargetSplit(
        images[pool_idx], target[pool_idx], images[test_idx], target[test_idx], pool_idx, test_idx
    )


def sample_budget(pool_y: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """Indices into the pool of ``budget`` examples per class, drawn with ``seed``.

    Depends on the seed only (not the method), so all methods of one seed see the same labels
    and their scores can be compared pairwise; nested across budgets (see :func:`per_class_sample`).
    """
    return per_class_sample(pool_y, budget, [seed, STREAM_BUDGET])


# --- model and the one training loop -----------------------------------------------------------
class DigitsCNN(nn.Module):
    """A small CNN for 8x8 inputs: a convolutional feature extractor and a linear head.

    Kept separate so that linear-probe can freeze ``features`` and swap ``head``.
    """

    def __init__(self, width: int = 32, feature_dim: int = 128) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
            nn.Flatten(),
            nn.Linear(2 * width * 4, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_tensor(images: np.ndarray, device: str) -> torch.Tensor:
    """(n, 8, 8) counts in 0..16 -> (n, 1, 8, 8) float in [0, 1]."""
    return torch.from_numpy(np.asarray(images, dtype=np.float32) / 16.0).unsqueeze(1).to(device)


# --- the task ----------------------------------------------------------------------------------
class SynthDigitsTask:
    """``vision/SynthDigits-v0``: digits rendered from fonts as source, real optdigits as target."""

    def __init__(self, spec: TaskSpec, options: Mapping[str, Any]) -> None:
        self.spec = spec
        self.options = resolve_options(spec, options)
        # The first torch.optim optimizer of a process imports torch._dynamo (over a second):
        # pay it here, in the task's set-up, not in whichever method happens to train first.
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])

    # The public entry point ------------------------------------------------------------------
    def run(self, method: str, ctx: RunContext) -> RunResult:
        """Run one method on one seed and budget and score it on the fixed real test set."""
        if method not in METHODS:
            raise ValueError(
                f"{self.spec.id} does not implement method {method!r}; "
                f"it implements {', '.join(METHODS)}"
            )
        with one_torch_thread():
            return self._run(method, ctx)

    def _run(self, method: str, ctx: RunContext) -> RunResult:
        opts = resolve_options(self.spec, {**self.options, **ctx.options})
        device = ctx.device

        with ctx.phase("data"):
            split = target_split()
            chosen = sample_budget(split.pool_y, ctx.budget, ctx.seed)
            train_x = to_tensor(split.pool_x[chosen], device)
            train_y = torch.from_numpy(split.pool_y[chosen]).to(device)
            test_x = to_tensor(split.test_x, device)
            test_y = torch.from_numpy(split.test_y).to(device)

        source_info: dict[str, Any] = {}
        if method != "scratch":
            with ctx.phase("source_train"):
                model, source_info = self._source_model(ctx, opts)

        with ctx.phase("target_train"):
            if method == "scratch":
                torch.manual_seed(ctx.seed)
                model = DigitsCNN(int(opts["width"])).to(device)
                params = list(model.parameters())
            elif method == "linear-probe":
                for p in model.features.parameters():
                    p.requires_grad_(False)
                torch.manual_seed(ctx.seed)
                model.head = nn.Linear(model.head.in_features, N_CLASSES).to(device)
                params = list(model.head.parameters())
            elif method == "zero-shot":
                params = []
            else:
                params = list(model.parameters())
            curve, seen = self._train_target(
                model, params, train_x, train_y, test_x, test_y, ctx, opts
            )

        with ctx.phase("eval"):
            pred = predict(model, test_x).cpu().numpy()
            truth = split.test_y
            acc = int((pred == truth).sum()) / len(truth)
            per_class = {
                f"digit {c}": int((pred[truth == c] == c).sum()) / int((truth == c).sum())
                for c in range(N_CLASSES)
            }
            if not curve:  # zero-shot: one point, before (and without) target training
                curve = [(0.0, acc)]

        metrics = {"accuracy": acc}
        if source_info.get("source_accuracy") is not None:
            metrics["source_accuracy"] = float(source_info["source_accuracy"])
        return RunResult(
            metrics=metrics,
            breakdowns={"accuracy": per_class},
            curves={"target_test_accuracy": curve},
            trainable_params=count_params(params),
            total_params=count_params(model.parameters()),
            train_samples=seen,
            extra={
                "n_test": int(len(truth)),
                "n_train": int(len(chosen)),
                "n_source": int(opts["source_images"]) if method != "scratch" else 0,
                "target_steps": int(opts["target_steps"]) if params else 0,
                **{k: v for k, v in source_info.items() if k != "source_accuracy"},
            },
        )

    # Pieces ------------------------------------------------------------------------------------
    def _train_target(
        self,
        model: nn.Module,
        params: list[nn.Parameter],
        train_x: torch.Tensor,
        train_y: torch.Tensor,
        test_x: torch.Tensor,
        test_y: torch.Tensor,
        ctx: RunContext,
        opts: Mapping[str, Any],
    ) -> tuple[list[tuple[float, float]], int]:
        """Train ``params`` on the target budget with the shared loop; zero-shot trains nothing."""
        if not params:
            return [], 0
        steps = int(opts["target_steps"])
        points = max(2, int(opts["eval_points"]))
        eval_at = sorted({round(i * steps / (points - 1)) for i in range(points)})
        with ctx.progress(steps, f"{ctx.method} seed {ctx.seed}") as bar:
            return train(
                model,
                params,
                train_x,
                train_y,
                steps=steps,
                lr=float(opts["lr"]),
                batch_size=int(opts["batch_size"]),
                weight_decay=float(opts["weight_decay"]),
                rng=np.random.default_rng([ctx.seed, STREAM_TARGET_BATCHES]),
                on_step=bar.update,
                eval_at=eval_at,
                evaluate=lambda: accuracy(model, test_x, test_y),
            )

    def _source_model(
        self, ctx: RunContext, opts: Mapping[str, Any]
    ) -> tuple[DigitsCNN, dict[str, Any]]:
        """The source model for this seed and these options, built once and then loaded."""
        import matplotlib
        import PIL

        fonts = digit_fonts()
        # The rendered source depends on the font files matplotlib ships and on Pillow's
        # FreeType rasterization, so their versions are part of what the artifact is.
        key = {
            "task": self.spec.id,
            "artifact": "source-model",
            "format": ARTIFACT_FORMAT,
            "seed": ctx.seed,
            "fonts": list(fonts),
            "matplotlib": matplotlib.__version__,
            "pillow": PIL.__version__,
            **{k: opts[k] for k in SOURCE_OPTIONS},
        }
        path = ctx.artifacts.get_or_build(
            "source-model", key, lambda out: self._build_source(out, ctx, opts, fonts)
        )
        model = DigitsCNN(int(opts["width"]))
        model.load_state_dict(load_file(str(path / "model.safetensors")))
        info = json.loads((path / "source.json").read_text())
        return model.to(ctx.device), info

    @staticmethod
    def _build_source(
        out: Path, ctx: RunContext, opts: Mapping[str, Any], fonts: Sequence[str]
    ) -> None:
        """Render the source digits, train the CNN on them, save weights and held-out accuracy.

        Trained on the CPU whatever the run's device, so the artifact is the same everywhere.
        """
        seed = ctx.seed
        fields: dict[str, Any] = {k: float(opts[k]) for k in DISTORTION_OPTIONS}
        dist = Distortion(**fields)
        n_train, n_test = int(opts["source_images"]), int(opts["source_test_images"])
        x, y = render_digits(n_train, [seed, STREAM_SOURCE_RENDER], dist, fonts=fonts)
        hx, hy = render_digits(n_test, [seed, STREAM_SOURCE_HOLDOUT], dist, fonts=fonts)
        xt, yt = to_tensor(x, "cpu"), torch.from_numpy(y)
        torch.manual_seed(seed)
        model = DigitsCNN(int(opts["width"]))
        batch = int(opts["source_batch_size"])
        steps = int(opts["source_epochs"]) * math.ceil(n_train / batch)
        with ctx.progress(steps, f"source model seed {seed}") as bar:
            train(
                model,
                list(model.parameters()),
                xt,
                yt,
                steps=steps,
                lr=float(opts["source_lr"]),
                batch_size=batch,
                rng=np.random.default_rng([seed, STREAM_SOURCE_BATCHES]),
                on_step=bar.update,
            )
        # Held-out rendered digits: how well the source task itself was learned.
        acc = accuracy(model, to_tensor(hx, "cpu"), torch.from_numpy(hy)) if n_test else None
        save_file(
            {k: v.contiguous() for k, v in model.state_dict().items()},
            str(out / "model.safetensors"),
        )
        info = {"source_accuracy": acc, "source_steps": steps, "n_fonts": len(fonts)}
        (out / "source.json").write_text(json.dumps(info, indent=2))
