"""XNLI's real tier, offline: local copies with the hub repositories' layouts and schemas, loaded
through the same ``datasets.load_dataset`` call a user with internet runs, tiny encoders loaded
through the Auto classes, and the published numbers' table."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import KINDS, NEGATION, SENTENCES, make_tiny_encoder_dir, make_tiny_xnli_dir

from tasks.crosslingual.data import CrossLingualData
from tasks.crosslingual.xnli import (
    CLASSES,
    DEFAULT_MODEL,
    FULL_TRAIN,
    MODELS,
    MULTI_NLI_DATASET,
    PUBLISHED,
    PUBLISHED_AVERAGES,
    PUBLISHED_CITATIONS,
    PUBLISHED_DIFFERS,
    XNLI_DATASET,
    XNLI_LANGUAGES,
    load_xnli,
    model_revision,
    published_average,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def xnli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Local copies of facebook/xnli (en, fr, de; 12 pairs per split) and nyu-mll/multi_nli, shared read-only."""
    return make_tiny_xnli_dir(tmp_path_factory.mktemp("data") / "xnli")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("hf-cache"))


# --- loading ------------------------------------------------------------------------------------
def test_a_local_copy_loads_as_the_xtreme_protocol(xnli_dir, cache):
    data = load_xnli(("en", "fr", "de"), data_dir=str(xnli_dir), cache_dir=cache)
    assert isinstance(data, CrossLingualData)
    assert data.classes == CLASSES == ("entailment", "neutral", "contradiction")
    assert data.source == "en" and data.languages == ("en", "fr", "de") and data.targets == ("fr", "de")
    assert len(data.train) == len(data.validation) == 12 and data.target_train == {}
    for lang, examples in data.test.items():
        assert len(examples) == 12 and examples.text_b is not None
        assert examples.labels.dtype == np.int64 and set(examples.labels.tolist()) == {0, 1, 2}
        assert all(p.split(" ")[0] in " ".join(SENTENCES[lang]) for p in examples.text_a)
    # the fixture's pairs follow their labels: entailment restates, contradiction negates the premise
    test = data.test["fr"]
    for premise, hypothesis, label in zip(test.text_a, test.text_b, test.labels, strict=True):
        if label == CLASSES.index("entailment"):
            assert premise.startswith(hypothesis)
        elif label == CLASSES.index("contradiction"):
            assert hypothesis.startswith(NEGATION["fr"] + " ") and premise.startswith(hypothesis[len("pas "):])
    # test sets are parallel: the same labels in every language, other text
    assert np.array_equal(data.test["fr"].labels, data.test["en"].labels)
    assert data.test["fr"].text_a != data.test["en"].text_a
    # the source is always tested, first, even when not asked for
    only_de = load_xnli(("de",), data_dir=str(xnli_dir), cache_dir=cache)
    assert only_de.languages == ("en", "de")


def test_translate_train_gives_row_aligned_translated_pools(xnli_dir, cache):
    data = load_xnli(("fr", "de"), data_dir=str(xnli_dir), cache_dir=cache, translate_train=True)
    assert set(data.target_train) == {"fr", "de"}
    for lang, pool in data.target_train.items():
        assert len(pool) == len(data.train) == 12
        assert np.array_equal(pool.labels, data.train.labels)  # translations of the same English pairs
        assert pool.text_a != data.train.text_a and pool.text_a[0].split(".")[0] + "." in SENTENCES[lang]


def test_max_train_keeps_the_first_rows_of_every_training_pool(xnli_dir, cache):
    full = load_xnli(("fr",), data_dir=str(xnli_dir), cache_dir=cache, translate_train=True)
    capped = load_xnli(("fr",), data_dir=str(xnli_dir), cache_dir=cache, translate_train=True, max_train=5)
    assert len(capped.train) == len(capped.target_train["fr"]) == 5
    assert capped.train.text_a == full.train.text_a[:5]
    assert np.array_equal(capped.target_train["fr"].labels, full.target_train["fr"].labels[:5])
    assert len(capped.validation) == 12 and len(capped.test["fr"]) == 12  # evaluation data is never capped


def test_english_training_data_from_multi_nli(xnli_dir, cache):
    xnli = load_xnli(("fr",), data_dir=str(xnli_dir), cache_dir=cache)
    mnli = load_xnli(("fr",), data_dir=str(xnli_dir), cache_dir=cache, english_train="multi_nli")
    assert mnli.train.text_a == xnli.train.text_a and np.array_equal(mnli.train.labels, xnli.train.labels)
    assert mnli.validation is not None and mnli.validation.text_a == xnli.validation.text_a  # XNLI's en validation
    with pytest.raises(ValueError, match="english_train='multi_nli' is English"):
        load_xnli(("en",), data_dir=str(xnli_dir), cache_dir=cache, source="fr", english_train="multi_nli")
    with pytest.raises(ValueError, match="english_train='snli'; accepted: xnli, multi_nli"):
        load_xnli(data_dir=str(xnli_dir), cache_dir=cache, english_train="snli")


def test_another_source_language_trains_on_its_translation(xnli_dir, cache):
    data = load_xnli(("en", "de"), data_dir=str(xnli_dir), cache_dir=cache, source="fr")
    assert data.source == "fr" and data.languages == ("fr", "en", "de")
    assert data.train.text_a[0].split(".")[0] + "." in SENTENCES["fr"]
    assert data.validation is not None and data.validation.text_a[0].split(".")[0] + "." in SENTENCES["fr"]


def test_unknown_languages_are_named_with_the_accepted_ones(xnli_dir, cache):
    accepted = ", ".join(XNLI_LANGUAGES)
    with pytest.raises(ValueError, match=f"language 'ja' is not an XNLI language; accepted: {accepted}"):
        load_xnli(("fr", "ja"), data_dir=str(xnli_dir), cache_dir=cache)
    with pytest.raises(ValueError, match="source language 'xx' is not an XNLI language"):
        load_xnli(("fr",), data_dir=str(xnli_dir), cache_dir=cache, source="xx")


def test_a_language_missing_from_the_local_copy_is_a_clear_error(xnli_dir, cache):
    with pytest.raises(FileNotFoundError, match=r"no files for es/test-\*"):
        load_xnli(("es",), data_dir=str(xnli_dir), cache_dir=cache)


def test_results_are_shared_within_a_process(xnli_dir, cache):
    a = load_xnli(("en", "fr"), data_dir=str(xnli_dir), cache_dir=cache)
    assert load_xnli(["en", "fr"], data_dir=str(xnli_dir), cache_dir=cache) is a


def test_the_local_copies_have_the_hub_layouts(xnli_dir, cache):
    """The per-language configs of facebook/xnli's README and nyu-mll/multi_nli's default config load directly."""
    from datasets import ClassLabel, load_dataset

    fr = load_dataset(str(xnli_dir), "fr", cache_dir=cache)
    assert set(fr) == {"train", "validation", "test"} and fr["test"].column_names == ["premise", "hypothesis", "label"]
    assert fr["test"].features["label"] == ClassLabel(names=list(CLASSES))
    assert sorted(p.name for p in (xnli_dir / "fr").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]
    mnli = load_dataset(str(xnli_dir / MULTI_NLI_DATASET.local), cache_dir=cache)
    assert set(mnli) == {"train", "validation_matched", "validation_mismatched"}
    assert mnli["train"].column_names == ["promptID", "pairID", "premise", "premise_binary_parse", "premise_parse",
                                          "hypothesis", "hypothesis_binary_parse", "hypothesis_parse", "genre",
                                          "label"]
    assert mnli["train"].features["label"].names == list(CLASSES)


# --- tiny encoders ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_tiny_encoders_load_through_the_auto_classes(kind, tmp_path, xnli_dir, cache):
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    folder = make_tiny_encoder_dir(tmp_path / kind, kind)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    expected = {"xlm-roberta": "XLMRobertaTokenizer", "bert": "BertTokenizer", "deberta-v2": "DebertaV2Tokenizer"}
    assert tokenizer.is_fast and type(tokenizer).__name__.removesuffix("Fast") == expected[kind]
    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report lists the classifier head, new by design
    try:
        classifier = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3).eval()
        encoder = AutoModel.from_pretrained(folder).eval()
    finally:
        hf_logging.set_verbosity(before)
    assert classifier.config.model_type == encoder.config.model_type == kind
    test = load_xnli(("de",), data_dir=str(xnli_dir), cache_dir=cache).test["de"]
    batch = tokenizer(list(test.text_a[:4]), list(test.text_b[:4]), padding=True, truncation=True, return_tensors="pt")
    assert not (batch["input_ids"] == tokenizer.unk_token_id).any()  # the vocabulary covers the fixture's text
    with torch.no_grad():
        logits = classifier(**batch).logits
        hidden = encoder(**batch).last_hidden_state
    assert logits.shape == (4, 3) and hidden.shape[:2] == batch["input_ids"].shape and hidden.shape[2] == 32
    for lang in XNLI_LANGUAGES:  # every XNLI language tokenizes without unknown pieces
        assert tokenizer.unk_token_id not in tokenizer(" ".join(SENTENCES[lang]))["input_ids"], lang
    same = make_tiny_encoder_dir(tmp_path / "again", kind, seed=0)
    assert (same / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()


# --- pinned sources and published numbers -------------------------------------------------------
def test_the_datasets_and_models_are_pinned():
    assert XNLI_DATASET.repo == "facebook/xnli" and XNLI_DATASET.pinned and XNLI_DATASET.local == ""
    assert MULTI_NLI_DATASET.repo == "nyu-mll/multi_nli" and MULTI_NLI_DATASET.pinned
    assert XNLI_DATASET.citation.startswith("@") and MULTI_NLI_DATASET.citation.startswith("@")
    assert DEFAULT_MODEL == "FacebookAI/xlm-roberta-base" and set(MODELS) == {
        "FacebookAI/xlm-roberta-base", "FacebookAI/xlm-roberta-large", "google-bert/bert-base-multilingual-cased",
        "microsoft/mdeberta-v3-base"}
    assert all(rev is None or (len(rev) == 40 and int(rev, 16) >= 0) for rev in MODELS.values())


def test_the_published_table_is_complete_and_matches_the_reported_averages():
    assert set(PUBLISHED) <= set(MODELS) and set(PUBLISHED_AVERAGES) <= set(MODELS)
    assert set(PUBLISHED_CITATIONS) == set(PUBLISHED) | set(PUBLISHED_AVERAGES)
    for model, methods in PUBLISHED.items():
        for method, row in methods.items():
            assert tuple(row) == XNLI_LANGUAGES, (model, method)
            assert all(0.3 < acc < 1.0 for acc in row.values())
            # the papers print averages to one decimal in percent
            assert abs(published_average(model, method) - PUBLISHED_AVERAGES[model][method]) <= 0.0005 + 1e-9
            assert row["en"] == max(row.values())  # English, the training language, is the best
    assert PUBLISHED["FacebookAI/xlm-roberta-large"]["zero-shot"]["sw"] == 0.739
    assert PUBLISHED_AVERAGES["FacebookAI/xlm-roberta-large"]["zero-shot"] == 0.809
    for model, methods in PUBLISHED.items():
        if "translate-train-all" in methods:  # training on the translations helps on average
            assert published_average(model, "translate-train-all") > published_average(model, "zero-shot")


def test_importing_the_module_loads_neither_library():
    script = textwrap.dedent("""
        import sys
        import tasks.crosslingual.xnli
        assert "datasets" not in sys.modules and "transformers" not in sys.modules, "imported at module import"
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


# --- the protocol: pins, recipe, which references apply ----------------------------------------
def test_an_empty_revision_loads_the_pin_and_an_unpinned_hub_id_needs_one(tmp_path):
    assert model_revision("FacebookAI/xlm-roberta-large", "") == MODELS["FacebookAI/xlm-roberta-large"]
    assert model_revision("FacebookAI/xlm-roberta-large", "main") == "main"
    assert model_revision("org/other", "0" * 40) == "0" * 40
    assert model_revision(str(tmp_path), "") is None and model_revision(str(tmp_path), "main") is None
    with pytest.raises(ValueError, match=r"^model 'org/other' is neither a local directory nor a pinned hub model "
                                         r"\(FacebookAI/xlm-roberta-base, .*\): name its commit with --set "
                                         r"options.revision=<commit> \(revision=main floats\)$"):
        model_revision("org/other", "")


def test_xnli_trains_with_xtremes_recipe_and_the_offline_tasks_as_before():
    from tasks.crosslingual.specs import CLDR_NAMES, SYNTH_NLI, XNLI

    assert {k: XNLI.options[k] for k in ("lr", "epochs", "batch_size", "max_length", "weight_decay", "warmup",
                                        "select_every")} == {
        "lr": 2e-5, "epochs": 5, "batch_size": 32, "max_length": 128, "weight_decay": 0.0, "warmup": 0.0,
        "select_every": 100}
    for spec in (CLDR_NAMES, SYNTH_NLI):  # their published numbers were obtained with these
        assert (spec.options["weight_decay"], spec.options["warmup"], spec.options["select_every"]) == (0.01, 0.1, 0)


def _settings(*sets: str) -> dict:
    from bench.config import build_config, resolve_options
    from tasks.crosslingual.specs import XNLI

    return dict(resolve_options(XNLI, build_config(None, {}, list(sets)).options))


def test_xlmr_large_references_apply_only_at_xtremes_rate_for_it():
    from tasks.crosslingual.specs import XNLI

    large = [r for r in XNLI.references if r.options.get("model") == "FacebookAI/xlm-roberta-large"]
    assert large and all(dict(r.options) == {"model": "FacebookAI/xlm-roberta-large", "lr": 3e-5} for r in large)
    default_rate = _settings("options.model=FacebookAI/xlm-roberta-large")
    xtreme_rate = _settings("options.model=FacebookAI/xlm-roberta-large", "options.lr=3e-5")
    assert not any(r.applies(FULL_TRAIN, default_rate) for r in large)
    assert all(r.applies(FULL_TRAIN, xtreme_rate) for r in large)
    base = [r for r in XNLI.references if r.options.get("model") == DEFAULT_MODEL]
    assert base and all(r.applies(FULL_TRAIN, _settings()) for r in base)
    assert not any(r.applies(FULL_TRAIN, xtreme_rate) for r in base)


def test_mdeberta_references_are_shown_as_dev_set_numbers():
    from tasks.crosslingual.specs import XNLI

    for r in XNLI.references:
        if r.options.get("model") == "microsoft/mdeberta-v3-base":
            assert r.differs == PUBLISHED_DIFFERS["microsoft/mdeberta-v3-base"] and "dev" in r.differs
            assert "XNLI dev sets" in r.protocol
        else:
            assert r.differs == "" and "XNLI test sets" in r.protocol
