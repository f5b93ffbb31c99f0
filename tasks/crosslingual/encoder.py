"""A text classifier on any transformers encoder, and the one loop every method trains it with.

Every cross-lingual method (scratch, zero-shot, translate-train, few-shot-target, linear-probe,
LoRA) goes through :func:`train` and :func:`evaluate`, so a difference between methods is a
difference in initialization, in the data and in which weights move, never in the code path.

Batches are padded dynamically to their longest member, and examples of similar length are
grouped into the same batch (randomly within mega-batches when training, sorted when
evaluating): with sentence lengths as skewed as NLI's, padding every batch to the longest
example would spend most of the compute on padding. Tokenization happens once per (tokenizer,
texts) in a process; on a GPU that supports it, training and evaluation run under bf16 autocast.
Attention is transformers' default for the architecture: PyTorch's scaled-dot-product kernels
where it has them (BERT, XLM-R), its own implementation where not (DeBERTa-v2); records name it.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from tasks.crosslingual.data import Examples

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["Encoded", "TextClassifier", "TrainStats", "Vocabulary", "batches", "commit_of", "count_params", "encode",
           "evaluate", "fingerprint", "load_encoder", "peak_flops", "pooled_features", "quiet_transformers",
           "resolve_revision", "train"]


@dataclass(frozen=True)
class Encoded:
    """Token ids of a set of examples, unpadded: one array per example, and the labels."""

    ids: tuple[np.ndarray, ...]
    labels: np.ndarray
    type_ids: tuple[np.ndarray, ...] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))

    def take(self, index: Sequence[int] | np.ndarray) -> Encoded:
        idx = np.asarray(index, dtype=np.int64)
        return Encoded(tuple(self.ids[i] for i in idx), self.labels[idx],
                       None if self.type_ids is None else tuple(self.type_ids[i] for i in idx))

    @staticmethod
    def concat(parts: Sequence[Encoded]) -> Encoded:
        types = None if any(p.type_ids is None for p in parts) else tuple(t for p in parts for t in p.type_ids or ())
        return Encoded(tuple(x for p in parts for x in p.ids), np.concatenate([p.labels for p in parts]), types)


_ENCODED: dict[tuple[str, str], Encoded] = {}


def fingerprint(examples: Examples) -> str:
    """A content hash of ``examples`` (texts and labels): the key of what is computed from them."""
    h = hashlib.sha256()
    for i, a in enumerate(examples.text_a):
        h.update(a.encode())
        h.update(b"\x1f" + (examples.text_b[i].encode() if examples.text_b is not None else b"") + b"\x1e")
    h.update(np.ascontiguousarray(examples.labels).tobytes())
    return h.hexdigest()


def encode(tokenizer: Any, examples: Examples, max_length: int, name: str) -> Encoded:
    """Token ids of ``examples`` (pairs joined by the tokenizer's own template), truncated to
    ``max_length``; computed once per (tokenizer ``name``, texts, length) in a process."""
    key = (f"{name}|{max_length}", fingerprint(examples))
    if key not in _ENCODED:
        out = tokenizer(list(examples.text_a), None if examples.text_b is None else list(examples.text_b),
                        truncation=True, max_length=max_length, padding=False)
        types = out.get("token_type_ids")
        _ENCODED[key] = Encoded(tuple(np.asarray(x, dtype=np.int64) for x in out["input_ids"]),
                                np.asarray(examples.labels, dtype=np.int64),
                                tuple(np.asarray(x, dtype=np.int64) for x in types) if types is not None else None)
    return _ENCODED[key]


def batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None = None,
            group: int = 50) -> list[np.ndarray]:
    """Index batches of examples of similar length.

    With ``rng`` (training): a random permutation cut into mega-batches of ``group`` batches, each
    sorted by length and cut into batches, the batches then shuffled, so that every epoch sees
    each example once in a new order while padding stays small. Without (evaluation): all
    examples sorted by length, longest first (a memory error shows at the first batch).
    """
    n = len(lengths)
    if rng is None:
        order = np.argsort(-lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    perm = rng.permutation(n)
    out: list[np.ndarray] = []
    mega = batch_size * group
    for i in range(0, n, mega):
        chunk = perm[i : i + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        out += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    return [out[i] for i in rng.permutation(len(out))]


def collate(data: Encoded, index: np.ndarray, pad_id: int, device: str, pad_to: int | None = None
            ) -> dict[str, torch.Tensor]:
    """The model inputs of ``data[index]``, padded to the batch's longest (or to ``pad_to``)."""
    rows = [data.ids[i] for i in index]
    width = pad_to or max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = r
        mask[k, : len(r)] = 1
    out = {"input_ids": torch.from_numpy(ids).to(device), "attention_mask": torch.from_numpy(mask).to(device)}
    if data.type_ids is not None:
        types = np.zeros((len(rows), width), dtype=np.int64)
        for k, i in enumerate(index):
            types[k, : len(data.type_ids[i])] = data.type_ids[i]
        out["token_type_ids"] = torch.from_numpy(types).to(device)
    return out


class TextClassifier(nn.Module):
    """An encoder, a pooling of its last hidden states, and a linear head.

    ``pooling``: ``cls`` (the first token, as XLM-R and BERT are fine-tuned) or ``mean`` (over the
    attention mask, as the E5 family is trained to embed). A separate head rather than the
    library's ``...ForSequenceClassification`` keeps one definition of "the features" that the
    linear probe caches and every other method trains through.
    """

    def __init__(self, encoder: PreTrainedModel, num_classes: int, pooling: str = "cls") -> None:
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling={pooling!r}; accepted: cls, mean")
        self.encoder = encoder
        self.pooling = pooling
        hidden = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(float(getattr(encoder.config, "hidden_dropout_prob", 0.1) or 0.0))
        self.head = nn.Linear(hidden, num_classes)

    def features(self, **inputs: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(**inputs).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(**inputs)))


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off for the block: the harness shows its own
    progress, and a per-run "loading weights" bar in every worker would bury it."""
    from transformers.utils import logging as hf_logging

    before, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


def load_encoder(model: str, pretrained: bool = True, revision: str | None = None, num_layers: int = 0
                 ) -> tuple[PreTrainedModel, Any]:
    """The encoder and its tokenizer from a hub id or a local ``save_pretrained`` directory.

    ``pretrained=False`` builds the same architecture from its config with random weights (the
    from-scratch baseline): same tokenizer, same size, nothing learned. Remote code is never run,
    and weights from the hub load through safetensors only (a pickle can carry code; pin a
    commit with ``model.safetensors``, see :mod:`tasks.crosslingual.hubcheck`); a local directory
    may hold either. ``num_layers`` keeps the first n transformer layers (0: all): a cheaper
    encoder whose middle layers are, for cross-lingual transfer, the most language-neutral ones
    (Pires et al., 2019; Libovický et al., 2020); the layers above are never built, and their
    weights are never read. Pass a ``revision`` from :func:`resolve_revision` so that the config,
    the weights and the tokenizer come from one commit even while a branch moves.
    """
    from transformers import AutoConfig, AutoModel

    local = Path(model).expanduser().is_dir()
    kw: dict[str, Any] = {"revision": revision or None, "trust_remote_code": False}
    tokenizer = _tokenizer(model, revision or None)
    config = AutoConfig.from_pretrained(model, **kw)
    if num_layers:
        if not 1 <= num_layers <= config.num_hidden_layers:
            raise ValueError(f"num_layers={num_layers}; accepted: 1 to {config.num_hidden_layers} (0: all)")
        config.num_hidden_layers = num_layers
    if not pretrained:
        encoder = AutoModel.from_config(config)
    else:
        with quiet_transformers():  # an MLM checkpoint's unused LM head is expected, not news
            encoder, info = AutoModel.from_pretrained(model, config=config, output_loading_info=True,
                                                      use_safetensors=None if local else True, **kw)
        missing = [k for k in info.get("missing_keys", []) if not k.startswith("pooler.")]
        if missing:
            raise ValueError(f"{model}: the checkpoint lacks encoder weights {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''}: it is not a {config.model_type} encoder")
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None  # unused: the classifier pools itself; an untrained pooler would only cost time
    return encoder, tokenizer


def resolve_revision(model: str, revision: str | None) -> str | None:
    """``revision`` of hub ``model`` as transformers resolves it for one load: a ``str`` equal to
    it whose ``resolved`` attribute (where the hub or the local cache could tell) is the commit a
    branch or tag points to now; unchanged for a local directory or a commit."""
    from tasks.hub import is_commit

    if revision is None or is_commit(revision) or Path(model).expanduser().is_dir():
        return revision
    from transformers.utils.hub import resolve_revision as resolve

    return resolve(model, revision)


def commit_of(revision: str | None) -> str | None:
    """The commit a :func:`resolve_revision` result names (the revision itself where it was not resolved)."""
    return None if revision is None else str(getattr(revision, "resolved", None) or revision)


@lru_cache(maxsize=4)
def _tokenizer(model: str, revision: str | None) -> Any:
    """A tokenizer, loaded once per process: a worker's runs share it (XLM-R's takes about a second).

    A checkpoint whose tokenizer is a SentencePiece model alone (mDeBERTa's ``spm.model``, no
    ``tokenizer.json``) needs the sentencepiece and protobuf packages; without them transformers
    falls back to tiktoken and fails with a message naming neither, so this one names them."""
    from transformers import AutoTokenizer

    from tasks.crosslingual.hubcheck import missing_sentencepiece_packages

    try:
        tokenizer = AutoTokenizer.from_pretrained(model, revision=revision, trust_remote_code=False)
    except (ValueError, OSError, ImportError) as exc:
        missing = missing_sentencepiece_packages()
        if missing and ("tiktoken" in str(exc) or "sentencepiece" in str(exc).lower()):
            raise ImportError(f"{model}: its tokenizer is a SentencePiece model without tokenizer.json, which "
                              f"transformers reads with {' and '.join(missing)}: pip install {' '.join(missing)}"
                              ) from exc
        raise
    _sentencepiece_normalization(tokenizer, model, revision)
    return tokenizer


def _sentencepiece_normalization(tokenizer: Any, model: str, revision: str | None) -> None:
    """Give a DeBERTa-v2 tokenizer the normalization of the SentencePiece model it was built from.

    transformers 5's ``DebertaV2Tokenizer`` normalizes with NFC and drops the model's precompiled
    character map (NFKC for DeBERTa-v3), which its converter in transformers 4 kept. Text then
    reaches the vocabulary in a form pretraining never saw: a character NFKC decomposes, such as
    Thai SARA AM (U+0E33, in most Thai words), is missing from a vocabulary learned on decomposed
    text and becomes ``[UNK]``. The normalizer here is transformers 4's (``DebertaV2Converter``):
    the character map between stripping and collapsing spaces, read from the checkpoint's
    ``spm.model``; without one, the tokenizer stays as transformers built it.
    """
    if type(tokenizer).__name__ != "DebertaV2Tokenizer":
        return
    from tokenizers import Regex, normalizers
    from transformers.utils import cached_file

    path = cached_file(model, "spm.model", revision=revision, _raise_exceptions_for_missing_entries=False,
                       _raise_exceptions_for_connection_errors=False)
    if path is None:
        return
    from importlib import import_module

    proto = import_module("sentencepiece.sentencepiece_model_pb2").ModelProto()  # the package ships no types
    proto.ParseFromString(Path(path).read_bytes())
    charsmap = proto.normalizer_spec.precompiled_charsmap
    if charsmap:
        steps = [normalizers.Lowercase()] if getattr(tokenizer, "do_lower_case", False) else []
        tokenizer.backend_tokenizer.normalizer = normalizers.Sequence(
            [*steps, normalizers.Strip(), normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")])


class Vocabulary:
    """The encoder's vocabulary cut to the tokens a run's texts use, and the id mapping into it.

    Exact: every text of the run is encoded with the same vectors as before, and rows no text
    uses are never read. It matters because XLM-R's 250k-row embedding matrix is most of a
    small encoder's weights: a from-scratch baseline would spend most of every optimizer step
    on rows no example touches. Records say how many rows were kept (``vocab_kept``).
    """

    def __init__(self, kept: np.ndarray, full: int) -> None:
        self.kept = np.asarray(kept, dtype=np.int64)
        self.full = full
        self.index = np.full(full, -1, dtype=np.int64)
        self.index[self.kept] = np.arange(len(self.kept))

    @classmethod
    def of(cls, tokenizer: Any, sets: Sequence[Encoded], full: int) -> Vocabulary:
        special = [i for i in (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id,
                               tokenizer.mask_token_id) if i is not None]
        if tokenizer.pad_token_id is not None:  # the pad keeps its id: RoBERTa's position ids count from it
            special += range(int(tokenizer.pad_token_id) + 1)
        used = np.unique(np.concatenate([np.asarray(special, dtype=np.int64),
                                         *(np.concatenate(s.ids) for s in sets if len(s))]))
        return cls(used, full)

    def map(self, data: Encoded) -> Encoded:
        out = tuple(self.index[x] for x in data.ids)
        if any((x < 0).any() for x in out):
            raise ValueError("a text uses a token outside the kept vocabulary")
        return Encoded(out, data.labels, data.type_ids)

    def apply(self, model: TextClassifier) -> None:
        """Replace the encoder's word embeddings by the kept rows (the same tensors' values)."""
        old = cast(nn.Embedding, model.encoder.get_input_embeddings())
        pad = model.encoder.config.pad_token_id
        new = nn.Embedding(len(self.kept), old.embedding_dim,
                           padding_idx=int(self.index[pad]) if pad is not None and self.index[pad] >= 0 else None)
        with torch.no_grad():
            new.weight.copy_(old.weight[torch.from_numpy(self.kept).to(old.weight.device)])
        new.weight.requires_grad_(old.weight.requires_grad)
        model.encoder.set_input_embeddings(new.to(old.weight.device))
        model.encoder.config.vocab_size = len(self.kept)

    def pad_id(self, tokenizer: Any) -> int:
        return int(self.index[tokenizer.pad_token_id])


def _autocast(device: str) -> Any:
    """bf16 autocast on a GPU that supports it; a no-op context elsewhere (CPU bf16 is slower here)."""
    enabled = device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return torch.autocast("cuda" if enabled else "cpu", dtype=torch.bfloat16, enabled=enabled)


@dataclass
class TrainStats:
    """What a training run processed, for the record's throughput and model-FLOPs figures, and
    the model selection's evaluations where it selected (see :func:`train`)."""

    steps: int = 0
    examples: int = 0
    tokens: int = 0
    seconds: float = 0.0
    """Training time, without the selection's evaluations."""
    curve: list[tuple[float, float]] = field(default_factory=list)
    """(step, validation score) at each evaluation of the selection."""
    selected_step: int | None = None
    """The step whose weights the model ends with (None: no selection, the last step's)."""
    selected_score: float | None = None


def train(model: nn.Module, groups: list[dict[str, Any]], data: Encoded, *, steps: int, batch_size: int,
          lr: float, pad_id: int, device: str, rng: np.random.Generator, weight_decay: float = 0.01,
          warmup: float = 0.1, forward: Callable[..., torch.Tensor] | None = None,
          make_batch: Callable[[np.ndarray], dict[str, torch.Tensor]] | None = None,
          on_step: Callable[[int], None] | None = None, select_every: int = 0,
          score: Callable[[], float] | None = None) -> TrainStats:
    """AdamW on cross-entropy with linear warm-up and decay and gradient clipping at 1.

    ``groups`` are torch parameter groups (own ``lr`` allowed). ``forward(**batch)`` defaults to
    the model and ``make_batch(index)`` to the padded token ids of ``data``; the linear probe
    passes its cached features instead (see :func:`pooled_features`). ``warmup``: the fraction of
    steps the rate rises over; at 0 it decays linearly from the first step, as XTREME's schedule
    with no warm-up steps does (to within one step).

    Model selection, XTREME's (``run_classify.py --save_steps 100 --save_only_best_checkpoint
    --eval_all_checkpoints``): with ``select_every`` n > 0, ``score()`` (the source-language
    validation accuracy) is taken after every n-th step and after the last one, and the model ends
    with the weights of the best-scoring step, the earliest on a tie. The best weights are kept as
    a CPU copy of the parameters that train (the others never change), so selection costs host
    memory, never accelerator memory.
    """
    if select_every < 0 or (select_every and score is None):
        raise ValueError(f"select_every={select_every} needs a score function and must be 0 (off) or positive")
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    warm = max(1, int(warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    loss_fn = nn.CrossEntropyLoss()
    params = [p for g in groups for p in g["params"]]
    forward = forward or model
    stats = TrainStats()
    queue: list[np.ndarray] = []
    lengths = data.lengths
    best: list[torch.Tensor] = []
    selecting = 0.0
    start = time.perf_counter()
    model.train()
    for step in range(steps):
        if not queue:
            queue = batches(lengths, min(batch_size, len(data)), rng)
        idx = queue.pop()
        inputs = make_batch(idx) if make_batch is not None else collate(data, idx, pad_id, device)
        labels = torch.from_numpy(data.labels[idx]).to(device)
        with _autocast(device):
            logits = forward(**inputs)
        loss = loss_fn(logits.float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        stats.steps += 1
        stats.examples += len(idx)
        stats.tokens += int(inputs["attention_mask"].sum()) if "attention_mask" in inputs else len(idx)
        if on_step is not None:
            on_step(1)
        if select_every and score is not None and ((step + 1) % select_every == 0 or step + 1 == steps):
            began = time.perf_counter()
            value = float(score())
            stats.curve.append((float(step + 1), value))
            if stats.selected_score is None or value > stats.selected_score:
                stats.selected_step, stats.selected_score = step + 1, value
                with torch.no_grad():
                    if not best:
                        best = [torch.empty_like(p, device="cpu") for p in params]
                    for b, p in zip(best, params, strict=True):
                        b.copy_(p.detach())
            model.train()
            selecting += time.perf_counter() - began
    if best and stats.selected_step != stats.steps:
        with torch.no_grad():
            for b, p in zip(best, params, strict=True):
                p.copy_(b)
    stats.seconds = time.perf_counter() - start - selecting
    return stats


@torch.no_grad()
def evaluate(model: nn.Module, data: Encoded, *, batch_size: int, pad_id: int, device: str,
             pad_to: int | None = None) -> tuple[np.ndarray, float]:
    """Predicted classes of ``data`` (in its order) and the seconds it took.

    Batches are length-sorted and padded to their longest; ``pad_to`` pads every batch to a
    fixed width instead (the naive way, kept for the benchmark that measures the difference).
    """
    model.eval()
    pred = np.empty(len(data), dtype=np.int64)
    start = time.perf_counter()
    for idx in batches(data.lengths, batch_size):
        with _autocast(device):
            logits = model(**collate(data, idx, pad_id, device, pad_to))
        pred[idx] = logits.argmax(-1).cpu().numpy()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return pred, time.perf_counter() - start


@torch.no_grad()
def pooled_features(model: TextClassifier, data: Encoded, *, batch_size: int, pad_id: int, device: str
                    ) -> torch.Tensor:
    """The frozen encoder's pooled features of ``data``, in its order, as float32 on the CPU."""
    model.eval()
    out: torch.Tensor | None = None
    for idx in batches(data.lengths, batch_size):
        with _autocast(device):
            f = model.features(**collate(data, idx, pad_id, device)).float().cpu()
        if out is None:
            out = torch.empty(len(data), f.shape[1])
        out[torch.from_numpy(idx)] = f
    return out if out is not None else torch.empty(0, 0)


def count_params(params: Any) -> int:
    return int(sum(p.numel() for p in params))


PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 70.0, "L4": 121.0,
                    "RTX 4090": 165.0, "A6000": 155.0, "V100": 125.0, "T4": 65.0}
"""Dense bf16 (fp16 for V100/T4) tensor-core peaks from the vendors' data sheets, for model-FLOPs utilization."""


def peak_flops(device: str) -> float | None:
    """The GPU's peak dense bf16 FLOP/s by its name, or None (CPU, or a GPU not in the table)."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    hit = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    return None if hit is None else hit * 1e12


def model_flops_utilization(params: int, tokens: int, seconds: float, device: str, backward: bool) -> float | None:
    """Achieved over peak FLOP/s, counting 2 (forward) or 6 (forward and backward) FLOPs per
    parameter per token (Kaplan et al., 2020), the convention MFU figures are quoted in."""
    peak = peak_flops(device)
    if peak is None or not 0 < seconds < math.inf:
        return None
    return (6 if backward else 2) * params * tokens / seconds / peak
