"""The one training loop of the vision family, and the evaluation every method shares.

Every method and every source model trains through :func:`train`, so a difference between
methods is a difference in initialization, in which weights move and at what learning rate,
never in the code path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["accuracy", "count_params", "predict", "train"]


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """Predicted classes for ``x``, in batches, with the model in eval mode."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])
    model.train(was_training)
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` classified as ``y`` (an exact count ratio, identical wherever computed)."""
    return int((predict(model, x) == y).sum()) / len(y)


def train(
    model: nn.Module,
    params: Sequence[nn.Parameter] | Sequence[dict[str, Any]],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    rng: np.random.Generator,
    weight_decay: float = 0.0,
    on_step: Callable[[int], None] | None = None,
    eval_at: Sequence[int] = (),
    evaluate: Callable[[], float] | None = None,
    before_step: Callable[[int], None] | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    optimizer: str = "adam",
    warmup_cosine: int | None = None,
) -> tuple[list[tuple[float, float]], int]:
    """Adam on cross-entropy, at a constant learning rate: the loop every method and source model uses.

    ``params`` are parameters or torch parameter groups (dicts with their own ``lr``, for
    discriminative learning rates). Mini-batches walk through seeded permutations of the data
    (each example once per epoch); a batch larger than the data is the whole data.
    ``before_step(step)`` may change which parameters require gradients (gradual unfreezing:
    the optimizer skips a parameter whose gradient is None); ``augment`` transforms each batch.
    ``evaluate`` is called before the steps listed in ``eval_at`` (``steps`` itself meaning
    after the last one), giving the learning curve. Returns the curve and the number of
    examples processed.

    A published protocol's optimizer instead (VTAB-1k as VPT runs it, :mod:`tasks.vision.vtab`):
    ``optimizer`` ``"adamw"`` (decoupled weight decay) or ``"sgd"`` (momentum 0.9, L2 weight
    decay); ``warmup_cosine=w`` scales every group's rate linearly up over the first ``w`` steps,
    then down to zero along a half cosine by the last.
    """
    if optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=False)
    elif optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=False)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, foreach=False)
    else:
        raise ValueError(f"optimizer={optimizer!r}; accepted: adam, adamw, sgd")
    base_lrs = [float(g["lr"]) for g in opt.param_groups]
    loss_fn = nn.CrossEntropyLoss()
    n = len(x)
    batch = min(batch_size, n)
    order = np.empty(0, dtype=np.int64)
    curve: list[tuple[float, float]] = []
    seen = 0
    wanted = set(eval_at)
    model.train()
    for step in range(steps + 1):
        if evaluate is not None and step in wanted:
            curve.append((float(step), evaluate()))
        if step == steps:
            break
        if before_step is not None:
            before_step(step)
        if order.size < batch:
            order = np.concatenate([order, rng.permutation(n)])
        idx, order = torch.from_numpy(order[:batch]).to(x.device), order[batch:]
        inputs = x[idx] if augment is None else augment(x[idx])
        if warmup_cosine is not None:
            scale = _warmup_cosine(step, steps, warmup_cosine)
            for group, base in zip(opt.param_groups, base_lrs, strict=True):
                group["lr"] = base * scale
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), y[idx])
        loss.backward()
        opt.step()
        seen += batch
        if on_step is not None:
            on_step(1)
    return curve, seen


def _warmup_cosine(step: int, steps: int, warmup: int) -> float:
    """Learning-rate factor at ``step`` of ``steps``: linear warm-up over ``warmup`` steps, then a half cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def count_params(params: Iterable[nn.Parameter]) -> int:
    """Number of scalars in ``params``."""
    return int(sum(p.numel() for p in params))
