"""The real tier's XNLI: English NLI training data, a test set in each of 15 languages (XTREME protocol).

XNLI (Conneau et al., 2018) is the MultiNLI development and test data professionally translated into
14 languages; XTREME (Hu et al., 2020) fine-tunes on English MultiNLI training data, selects the model
on English validation data, and reports accuracy on each language's test set ("zero-shot" transfer:
no labelled target-language example is seen). Its translate-train baselines train on the machine
translations of MultiNLI that XNLI ships (XNLI-MT 1.0).

Both come from pinned hub repositories (:data:`XNLI_DATASET`, :data:`MULTI_NLI_DATASET`), or from
a local directory holding the same files, read through the very same ``datasets.load_dataset`` call:

- ``facebook/xnli``: one folder per language, ``<lang>/{train,validation,test}-00000-of-00001.parquet``
  (the patterns its README configs declare), columns ``premise``, ``hypothesis``, ``label``
  (``ClassLabel`` of :data:`CLASSES`). ``test`` (5,010 pairs) and ``validation`` (2,490) are the
  human translations, 15-way parallel; ``train`` (392,702 pairs) is XNLI-MT: MultiNLI's training
  set machine-translated, row-aligned across languages. Its ``en`` train is MultiNLI's training set
  as XNLI-MT ships it (tokenized text: ``"product and geography ."``).
- ``nyu-mll/multi_nli``: ``data/{train,validation_matched,validation_mismatched}-00000-of-00001.parquet``,
  the original untokenized MultiNLI, with parse and genre columns besides the three above; the same
  392,702 training pairs and labels.

The default English training pool is XNLI's ``en`` train: it is the file XTREME's own scripts train
on (``download_data.sh`` fetches XNLI-MT 1.0 and ``utils_preprocess.py`` reads
``XNLI-MT-1.0/multinli/multinli.train.en.tsv``), and it shares XNLI's repository and revision.
``english_train="multi_nli"`` reads the original MultiNLI instead (same pairs, untokenized).

Only the files a call needs are read (``data_files`` per split, never a whole configuration), so a
zero-shot run downloads each target language's test file (under 1 MB), not its translated training
set (tens of MB).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import fmean
from typing import Any

import numpy as np

from tasks.crosslingual.data import CrossLingualData, Examples
from tasks.hub import is_commit

__all__ = ["CLASSES", "DEFAULT_MODEL", "ENGLISH_TRAIN", "FULL_TRAIN", "MODELS", "MULTI_NLI_DATASET", "MULTI_NLI_TRAIN",
           "PUBLISHED", "PUBLISHED_AVERAGES", "PUBLISHED_CITATIONS", "PUBLISHED_DIFFERS", "PUBLISHED_OPTIONS",
           "TextDataset", "XNLI_DATASET", "XNLI_LANGUAGES", "load_xnli", "model_revision", "published_average"]

XNLI_LANGUAGES = ("en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur")
"""XNLI's 15 languages in the column order of Conneau et al. (2020), Table 1."""

CLASSES = ("entailment", "neutral", "contradiction")
"""The label ``ClassLabel`` of both ``facebook/xnli`` and ``nyu-mll/multi_nli``: 0, 1, 2 in this order."""

ENGLISH_TRAIN = ("xnli", "multi_nli")
"""Accepted ``english_train`` values of :func:`load_xnli`."""


@dataclass(frozen=True)
class TextDataset:
    """A pinned hub dataset repository and where its local copy sits inside ``data_dir``."""

    repo: str
    """Hub id."""
    revision: str
    """The commit loaded; ``main`` only where none could be pinned yet."""
    local: str
    """Folder of ``data_dir`` holding a copy of the repository's files ("" for ``data_dir`` itself)."""
    citation: str = ""
    """BibTeX of the dataset's paper."""

    @property
    def pinned(self) -> bool:
        """Whether ``revision`` is a full commit hash (an immutable snapshot)."""
        return is_commit(self.revision)


_XNLI_BIB = """@inproceedings{conneau2018xnli,
  title={{XNLI}: Evaluating Cross-lingual Sentence Representations},
  author={Conneau, Alexis and Rinott, Ruty and Lample, Guillaume and Williams, Adina and Bowman, Samuel R.
          and Schwenk, Holger and Stoyanov, Veselin},
  booktitle={Proceedings of the 2018 Conference on Empirical Methods in Natural Language Processing},
  pages={2475--2485},
  year={2018}
}"""
_MNLI_BIB = """@inproceedings{williams2018broad,
  title={A Broad-Coverage Challenge Corpus for Sentence Understanding through Inference},
  author={Williams, Adina and Nangia, Nikita and Bowman, Samuel},
  booktitle={Proceedings of the 2018 Conference of the North American Chapter of the Association for
             Computational Linguistics: Human Language Technologies},
  pages={1112--1122},
  year={2018}
}"""

XNLI_DATASET = TextDataset("facebook/xnli", "b8dd5d7af51114dbda02c0e3f6133f332186418e", "", _XNLI_BIB)
"""``facebook/xnli`` at a commit of its main branch that holds the parquet conversion: per-language
parquet folders plus ``all_languages``, no loading script. The conversion was made on a pull-request
branch (refs/pr/10, last commit d0b69a6f, "Delete legacy dataset_infos.json") and merged; a commit
of a ``refs/pr`` branch is reachable only for as long as the hub keeps that branch, a commit of main
for good. This one is what ``facebook/xnli``'s main resolved to when other pinned code observed it
(MTEB's XNLI task and several evaluation harnesses pin it; they read ``<lang>/test-00000-of-00001.parquet``
and ``all_languages/test-00000-of-00001.parquet`` at it)."""

MULTI_NLI_DATASET = TextDataset("nyu-mll/multi_nli", "da70db2af9d09693783c3320c4249840212ee221", "multi_nli",
                                _MNLI_BIB)
"""``nyu-mll/multi_nli`` at its parquet conversion ("Convert dataset to Parquet (#5)"), the commit
other pinned code loads. Its local copy is ``data_dir/multi_nli``."""

MULTI_NLI_TRAIN = "data/train-*"
"""The file pattern of MultiNLI's training split in its repository (and in ``data_dir/multi_nli``)."""

FULL_TRAIN = 392_702
"""English training pairs in MultiNLI (and XNLI's English train): the full budget, at which every
published number was obtained."""


# --- models -----------------------------------------------------------------------------------------
DEFAULT_MODEL = "FacebookAI/xlm-roberta-base"

MODELS: dict[str, str | None] = {
    "FacebookAI/xlm-roberta-base": "e73636d4f797dec63c3081bb6ed5c7b0bb3f2089",
    "FacebookAI/xlm-roberta-large": "c23d21b0620b635a76227c604d44e43a9f0ee389",
    "google-bert/bert-base-multilingual-cased": "3f076fdb1ab68d5b2880cb87a0886f315b8146f8",
    "microsoft/mdeberta-v3-base": "faf660b811036d7b6dfc53aacfe5281447d4e2c6",
}
"""The supported encoders, hub id -> pinned commit (None: not pinned), loaded where the ``revision``
option is empty (:func:`model_revision`); every pinned commit holds ``model.safetensors``. XLM-R
and mBERT: the main-branch snapshots other pinned code loads (``models--<org>--<name>/snapshots/<commit>``
paths, ``revision=`` pins). mDeBERTa's main branch (a0484667, "Add generator") has pickle weights
only; the pin is the commit of its safetensors conversion pull request (refs/pr/5, "Adding
`safetensors` variant of this model"), made on that main commit, the only commit with its weights
in safetensors. Its tokenizer is ``spm.model`` alone (no ``tokenizer.json``), which transformers
reads with the ``sentencepiece`` and ``protobuf`` packages."""


def model_revision(model: str, revision: str) -> str | None:
    """The revision to load ``model`` at: None for a local directory (it is what it is), else
    ``revision`` where the user names one (``main`` floats on purpose), else the pinned commit in
    :data:`MODELS`.

    A hub id with neither is refused rather than loaded at whatever its main branch holds that
    day: a run's numbers would then depend on the day it ran, and its record could not say on
    what. Raises ValueError, one line saying how to name a revision.
    """
    if Path(model).expanduser().is_dir():
        return None
    if revision:
        return revision
    pinned = MODELS.get(model)
    if pinned:
        return pinned
    raise ValueError(f"model {model!r} is neither a local directory nor a pinned hub model ({', '.join(MODELS)}): "
                     "name its commit with --set options.revision=<commit> (revision=main floats)")


# --- published numbers -----------------------------------------------------------------------------
def _row(percentages: str) -> dict[str, float]:
    """Per-language accuracies written as in the papers (percent, in :data:`XNLI_LANGUAGES` order) as fractions."""
    values = [float(v) for v in percentages.split()]
    if len(values) != len(XNLI_LANGUAGES):
        raise ValueError(f"{len(values)} values for {len(XNLI_LANGUAGES)} languages")
    return {lang: round(v / 100, 4) for lang, v in zip(XNLI_LANGUAGES, values, strict=True)}


PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "FacebookAI/xlm-roberta-base": {
        "zero-shot": _row("85.8 79.7 80.7 78.7 77.5 79.6 78.1 74.2 73.8 76.5 74.6 76.7 72.4 66.5 68.3"),
        "translate-train-all": _row("85.4 81.4 82.2 80.3 80.4 81.3 79.7 78.6 77.3 79.7 77.9 80.2 76.1 73.1 73.0"),
    },
    "FacebookAI/xlm-roberta-large": {
        "zero-shot": _row("89.1 84.1 85.1 83.9 82.9 84.0 81.2 79.6 79.8 80.8 78.1 80.2 76.9 73.9 73.8"),
        "translate-train-all": _row("89.1 85.1 86.6 85.7 85.3 85.9 83.5 83.2 83.1 83.7 81.5 83.7 81.6 78.0 78.1"),
    },
    "microsoft/mdeberta-v3-base": {
        "zero-shot": _row("88.2 82.6 84.4 82.7 82.3 82.4 80.8 79.5 78.5 78.1 76.4 79.5 75.9 73.9 72.4"),
    },
}
"""Published XNLI test accuracy (fraction) per language: {model: {method: {language: accuracy}}}
(mDeBERTa's are dev-set accuracies, see :data:`PUBLISHED_DIFFERS`).

``zero-shot``: fine-tuned on English MultiNLI, tested in each language. ``translate-train-all``:
fine-tuned on the English training set and its machine translations into all 14 other languages.
Sources in :data:`PUBLISHED_CITATIONS`. mBERT's per-language XTREME numbers are not here (not
verified from a stored source); its average is in :data:`PUBLISHED_AVERAGES`."""

PUBLISHED_AVERAGES: dict[str, dict[str, float]] = {
    "FacebookAI/xlm-roberta-base": {"zero-shot": 0.762, "translate-train-all": 0.791},
    "FacebookAI/xlm-roberta-large": {"zero-shot": 0.809, "translate-train-all": 0.836, "zero-shot-xtreme": 0.792},
    "microsoft/mdeberta-v3-base": {"zero-shot": 0.798},
    "google-bert/bert-base-multilingual-cased": {"zero-shot-xtreme": 0.654},
}
"""The 15-language averages as the sources print them (fraction). ``zero-shot-xtreme``: XTREME's
own zero-shot runs (Hu et al., 2020), lower for XLM-R large than Conneau et al.'s."""

PUBLISHED_CITATIONS: dict[str, str] = {
    "FacebookAI/xlm-roberta-base": (
        "Conneau et al. 2020, Unsupervised Cross-lingual Representation Learning at Scale (ACL), Table 1, "
        "XLM-R Base rows (cross-lingual transfer; translate-train-all); rows as quoted in PaddlePaddle/ERNIE "
        "ernie-m/README.md and, zero-shot, in the microsoft/mdeberta-v3-base model card."),
    "FacebookAI/xlm-roberta-large": (
        "Conneau et al. 2020 (ACL), Table 1, XLM-R rows (cross-lingual transfer; translate-train-all), as quoted in "
        "PaddlePaddle/ERNIE ernie-m/README.md; translate-train-all also in facebookresearch/fairseq "
        "examples/xlmr/README.md. zero-shot-xtreme average: Hu et al. 2020, XTREME (ICML), as quoted in "
        "google-research/multilingual-t5 README.md."),
    "microsoft/mdeberta-v3-base": (
        "He et al. 2021, DeBERTaV3 (arXiv:2111.09543); numbers from the microsoft/mdeberta-v3-base model card "
        "(README at commit c998f9d4c9063694fe660e4082c93b57cdf04adc), which calls them dev results of zero-shot "
        "cross-lingual transfer, average 79.8 +/- 0.2."),
    "google-bert/bert-base-multilingual-cased": (
        "Hu et al. 2020, XTREME (ICML), zero-shot XNLI average 65.4, as quoted in google-research/multilingual-t5 "
        "README.md; per-language numbers not verified."),
}
"""Where each model's numbers come from."""


PUBLISHED_OPTIONS: dict[str, dict[str, Any]] = {"FacebookAI/xlm-roberta-large": {"lr": 3e-5}}
"""Task options besides the model that a model's published numbers were obtained with, where our
defaults differ: XTREME fine-tunes XLM-R large at 3e-5 (``scripts/train_xnli.sh``), every other
encoder at our default 2e-5. Its references are shown only beside runs at that rate."""

PUBLISHED_DIFFERS: dict[str, str] = {
    "microsoft/mdeberta-v3-base": "XNLI dev-set accuracy (the model card's); ours are test-set"}
"""Models whose published numbers cannot be compared with ours as a reproduction, and why (see
``Reference.differs``): the mDeBERTa card reports the XNLI development sets, we the test sets."""


def published_average(model: str, method: str) -> float:
    """The mean over XNLI's 15 languages of ``PUBLISHED[model][method]`` (fraction, unrounded)."""
    return fmean(PUBLISHED[model][method][lang] for lang in XNLI_LANGUAGES)


# --- loading ----------------------------------------------------------------------------------------
def _check_language(lang: str, what: str) -> None:
    if lang not in XNLI_LANGUAGES:
        raise ValueError(f"{what} {lang!r} is not an XNLI language; accepted: {', '.join(XNLI_LANGUAGES)}")


def _load(spec: TextDataset, data_dir: str | None, files: Mapping[str, str], cache_dir: str | None) -> Any:
    """The splits ``files`` (split -> file pattern) of ``spec``, from the hub at its revision or from ``data_dir``."""
    from datasets import load_dataset

    if data_dir is not None:
        source, kw = str(Path(data_dir).expanduser() / spec.local), {}
    else:
        source, kw = spec.repo, {"revision": spec.revision}
    try:
        return load_dataset(source, data_files=dict(files), cache_dir=cache_dir, **kw)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{source}: no files for {', '.join(files.values())} ({exc})") from exc


def _examples(split: Any, limit: int | None, source: str) -> Examples:
    """A ``datasets`` split as :class:`Examples` (premise, hypothesis), its first ``limit`` rows.

    Checks the label ``ClassLabel`` against :data:`CLASSES` (a copy with another label order would
    silently swap classes) and drops pairs without a gold label (MultiNLI marks them -1).
    """
    names = getattr(split.features.get("label"), "names", None)
    if names is not None and tuple(names) != CLASSES:
        raise ValueError(f"{source}: label names {tuple(names)}, expected {CLASSES}")
    rows = split[: len(split) if limit is None else min(limit, len(split))]
    labels = np.asarray(rows["label"], dtype=np.int64)
    keep = (labels >= 0) & (labels < len(CLASSES))
    idx = np.flatnonzero(keep)
    return Examples(tuple(rows["premise"][i] for i in idx), labels[idx], tuple(rows["hypothesis"][i] for i in idx))


def load_xnli(languages: Sequence[str] = XNLI_LANGUAGES, *, data_dir: str | None = None, source: str = "en",
              max_train: int | None = None, translate_train: bool = False, cache_dir: str | None = None,
              english_train: str = "xnli") -> CrossLingualData:
    """XNLI as :class:`~tasks.crosslingual.data.CrossLingualData` (premise as ``text_a``, hypothesis as ``text_b``).

    - ``train``: the ``source`` language's training pool: for English, XNLI's ``en`` train (XTREME's
      file; the default) or, with ``english_train="multi_nli"``, the original MultiNLI train; for
      another source, its XNLI-MT translation.
    - ``validation``: the source language's XNLI validation set, for model selection only.
    - ``test``: the XNLI test set of ``source`` and of every language in ``languages``, source first.
    - ``target_train`` (``translate_train=True``; else empty): each tested language's XNLI-MT pool,
      the machine translation of the same English examples, row-aligned with them.

    ``max_train`` keeps the first ``max_train`` rows of every training pool (the file order; the
    translated pools then hold translations of the same examples). ``data_dir``: a local copy of
    ``facebook/xnli``'s files, with ``nyu-mll/multi_nli``'s in ``data_dir/multi_nli`` (needed only
    for ``english_train="multi_nli"``); revisions apply to the hub only. ``cache_dir``: the
    ``datasets`` cache. Calls with the same arguments in one process share one result.

    Raises ValueError naming an unknown language (and the accepted ones) before anything is read.
    """
    langs = tuple(languages)
    for lang in langs:
        _check_language(lang, "language")
    _check_language(source, "source language")
    if english_train not in ENGLISH_TRAIN:
        raise ValueError(f"english_train={english_train!r}; accepted: {', '.join(ENGLISH_TRAIN)}")
    if english_train == "multi_nli" and source != "en":
        raise ValueError(f"english_train='multi_nli' is English training data; the source is {source!r}")
    if max_train is not None and max_train < 0:
        raise ValueError(f"max_train={max_train} is negative")
    return _load_xnli(langs, data_dir, source, max_train, translate_train, cache_dir, english_train)


@lru_cache(maxsize=1)
def _load_xnli(languages: tuple[str, ...], data_dir: str | None, source: str, max_train: int | None,
               translate_train: bool, cache_dir: str | None, english_train: str) -> CrossLingualData:
    tested = (source, *dict.fromkeys(lang for lang in languages if lang != source))
    test: dict[str, Examples] = {}
    validation: Examples | None = None
    train: Examples | None = None
    target_train: dict[str, Examples] = {}
    for lang in tested:
        splits = ["test"]
        if lang == source:
            splits.append("validation")
            if english_train == "xnli":
                splits.append("train")
        elif translate_train:
            splits.append("train")
        ds = _load(XNLI_DATASET, data_dir, {s: f"{lang}/{s}-*" for s in splits}, cache_dir)
        name = f"{XNLI_DATASET.repo}:{lang}"
        test[lang] = _examples(ds["test"], None, name)
        if lang == source:
            validation = _examples(ds["validation"], None, name)
            if "train" in ds:
                train = _examples(ds["train"], max_train, name)
        elif "train" in ds:
            target_train[lang] = _examples(ds["train"], max_train, name)
    if train is None:
        ds = _load(MULTI_NLI_DATASET, data_dir, {"train": MULTI_NLI_TRAIN}, cache_dir)
        train = _examples(ds["train"], max_train, MULTI_NLI_DATASET.repo)
    return CrossLingualData(source=source, classes=CLASSES, train=train, test=test, validation=validation,
                            target_train=target_train)
