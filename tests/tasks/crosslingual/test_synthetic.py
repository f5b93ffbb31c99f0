"""Tests of the synthetic cross-lingual NLI task: the world, the balanced draws, the semantics, and the
pretrained encoder's save format.

What is checked is the guarantees the task makes (a fixed vocabulary per generator version,
disjoint languages, balanced labels, parallel test sets, translations for translate-train, no
shallow cue) and that a checkpoint loads with the Auto classes offline; the transfer numbers
themselves come from the validation script described in the module's report, not from here.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tasks.crosslingual import synthetic as S
from tasks.crosslingual.data import CrossLingualData, Examples
from tasks.crosslingual.synthetic import Event, NounPhrase, Property

VOCABULARY_DIGEST = "be14faf29ba9a90e"
"""First 16 hex digits of the SHA-256 of the tokenizer's word list. A change here changes every
checkpoint's vocabulary: bump ``GENERATOR_VERSION`` and update the digest together."""
W = S.world()


def _inverse(lang: str) -> dict[str, str]:
    return {form: word for word, form in W.lexicon[lang].items()}


def _to_english(text: str, lang: str) -> list[str]:
    inv = _inverse(lang)
    return [inv[t] for t in text.split()]


@pytest.fixture(scope="module")
def data() -> CrossLingualData:
    return S.synthetic_data(120, 90, seed=5, n_target_train=30)


# --- the world -----------------------------------------------------------------------------------

def test_vocabulary_is_fixed_by_the_generator_version() -> None:
    words = W.vocabulary()
    assert hashlib.sha256("\n".join(words).encode()).hexdigest()[:16] == VOCABULARY_DIGEST
    S.world.cache_clear()
    assert S.world().vocabulary() == words


def test_languages_share_no_word_and_keep_their_scripts() -> None:
    forms = {lang: set(W.lexicon[lang].values()) for lang in S.LANGUAGES}
    for i, a in enumerate(S.LANGUAGES):
        assert len(forms[a]) == len(W.english_words)
        for b in S.LANGUAGES[i + 1:]:
            assert not forms[a] & forms[b], (a, b)
    assert all(re.fullmatch(r"[a-z]+", f) for lang in ("en", "relex", "relex-order") for f in forms[lang])
    assert all(re.fullmatch(r"[\u0370-\u03ff]+", f) for f in forms["relex-script"])


def test_citations_are_bibtex() -> None:
    for citation in (S.K2020_CITATION, S.DUFTER2020_CITATION):
        assert citation.startswith("@inproceedings{") and citation.rstrip().endswith("}")
        assert "title" in citation and "year" in citation


# --- draws ---------------------------------------------------------------------------------------

def _same(a: Examples | None, b: Examples | None) -> bool:
    assert a is not None and b is not None
    return a.text_a == b.text_a and a.text_b == b.text_b and np.array_equal(a.labels, b.labels)


def test_same_seed_same_data_other_seed_other_data(data: CrossLingualData) -> None:
    again = S.synthetic_data(120, 90, seed=5, n_target_train=30)
    assert _same(again.train, data.train) and _same(again.validation, data.validation)
    assert all(_same(again.test[lang], data.test[lang]) for lang in S.LANGUAGES)
    assert all(_same(again.target_train[lang], data.target_train[lang]) for lang in S.LANGUAGES[1:])
    other = S.synthetic_data(120, 90, seed=6)
    assert other.train.text_a != data.train.text_a


def test_shape_of_the_data(data: CrossLingualData) -> None:
    assert data.source == "en" and data.classes == S.CLASSES
    assert data.languages == S.LANGUAGES
    assert len(data.train) == 120 and len(data.validation) == S.VALIDATION_SIZE
    assert all(len(data.test[lang]) == 90 for lang in S.LANGUAGES)
    assert set(data.target_train) == set(S.LANGUAGES[1:]) and all(len(e) == 30 for e in data.target_train.values())
    subset = S.synthetic_data(6, 6, languages=("relex",))
    assert subset.languages == ("en", "relex") and not subset.target_train
    with pytest.raises(ValueError, match="unknown"):
        S.synthetic_data(3, 3, languages=("klingon",))


def test_labels_are_balanced_within_every_surface_cell() -> None:
    pairs = S.draw_pairs(900, 0, "train")
    assert Counter(p.label for p in pairs) == {0: 300, 1: 300, 2: 300}
    per_cell: dict[tuple[int, ...], Counter[int]] = {}
    per_length_difference: dict[int, Counter[int]] = {}
    for p in pairs:
        cell = S._cell(W, p)
        per_cell.setdefault(cell, Counter())[p.label] += 1
        per_length_difference.setdefault(cell[1] - cell[0], Counter())[p.label] += 1
    for counts in (*per_cell.values(), *per_length_difference.values()):
        assert len(set(counts.values())) == 1 and len(counts) == 3, counts


def test_a_longer_draw_extends_a_shorter_one() -> None:
    short, long = S.draw_pairs(30, 1, "test"), S.draw_pairs(60, 1, "test")
    assert set(short) <= set(long)


def test_test_sets_are_the_same_meanings_in_every_language(data: CrossLingualData) -> None:
    en = data.test["en"]
    for lang in S.LANGUAGES[1:]:
        ex = data.test[lang]
        assert np.array_equal(ex.labels, en.labels)
        for texts, en_texts in ((ex.text_a, en.text_a), (ex.text_b, en.text_b)):
            for text, en_text in zip(texts, en_texts, strict=True):
                words = _to_english(text, lang)
                if lang == "relex-order":
                    assert Counter(words) == Counter(en_text.split())
                else:
                    assert words == en_text.split()


def test_relex_order_changes_the_order() -> None:
    ev = Event(NounPhrase(0, "dog", "big"), "chases", NounPhrase(1, "man", "old"), neg=True)
    assert S.render(ev, "en") == "the big dog never chases the old man"
    assert _to_english(S.render(ev, "relex-order"), "relex-order") == [
        "dog", "big", "the", "man", "old", "the", "chases", "never"]
    prop = Property(NounPhrase(0, None), "small", neg=True)
    assert S.render(prop, "en") == "some animal is not small"
    assert _to_english(S.render(prop, "relex-order"), "relex-order") == ["animal", "some", "small", "not", "is"]


def test_target_pools_translate_english_training_pairs(data: CrossLingualData) -> None:
    def key(words_a: list[str], words_b: list[str], lang: str) -> tuple[str, ...]:
        if lang == "relex-order":
            return (*sorted(words_a), "|", *sorted(words_b))
        return (*words_a, "|", *words_b)

    for lang, ex in data.target_train.items():
        english = {key(a.split(), b.split(), lang): y
                   for a, b, y in zip(data.train.text_a, data.train.text_b, data.train.labels, strict=True)}
        for a, b, y in zip(ex.text_a, ex.text_b, ex.labels, strict=True):
            assert english[key(_to_english(a, lang), _to_english(b, lang), lang)] == y
    bigger = S.synthetic_data(30, 3, seed=5, n_target_train=60)
    translated = {" ".join(_to_english(a, "relex")) for a in bigger.target_train["relex"].text_a}
    assert set(bigger.train.text_a) <= translated


# --- semantics -----------------------------------------------------------------------------------

PREMISE = Event(NounPhrase(0, "dog", "big"), "chases", NounPhrase(1, "man", "old"))


@pytest.mark.parametrize(("hypothesis", "label"), [
    (Event(NounPhrase(0, None, "big"), "chases", NounPhrase(1, "man", "old")), "entailment"),
    (Event(NounPhrase(0, "dog", "big"), "chases", NounPhrase(1, None, "old")), "entailment"),
    (Event(NounPhrase(0, "dog", "small"), "chases", NounPhrase(1, "man", "old")), "contradiction"),
    (Event(NounPhrase(0, "cat", "big"), "chases", NounPhrase(1, "man", "old")), "contradiction"),
    (Event(NounPhrase(0, "dog", "big"), "chases", NounPhrase(1, "man", "old"), neg=True), "contradiction"),
    (Event(NounPhrase(0, "dog", "big"), "chases", NounPhrase(1, "man", "happy")), "neutral"),
    (Event(NounPhrase(0, "dog", "big"), "follows", NounPhrase(1, "man", "old")), "neutral"),
    (Event(NounPhrase(1, "man", "old"), "chases", NounPhrase(0, "dog", "big")), "neutral"),
    (Property(NounPhrase(0, "dog"), "small", neg=True), "entailment"),
    (Property(NounPhrase(1, None), "old"), "entailment"),
    (Property(NounPhrase(1, "man"), "young"), "contradiction"),
    (Property(NounPhrase(1, "man"), "old", neg=True), "contradiction"),
    (Property(NounPhrase(0, "dog"), "fast", neg=True), "neutral"),
])
def test_entailment_label(hypothesis: Event | Property, label: str) -> None:
    assert S.CLASSES[S.entailment_label(W, PREMISE, hypothesis)] == label


def test_a_class_word_in_the_premise_leaves_the_noun_open() -> None:
    premise = Event(NounPhrase(1, None, "old"), "chases", NounPhrase(0, "dog", "big"))
    hyp = Event(NounPhrase(1, "man", "old"), "chases", NounPhrase(0, "dog", "big"))
    assert S.CLASSES[S.entailment_label(W, premise, hyp)] == "neutral"


def test_negation_is_not_an_edit_that_fixes_the_label() -> None:
    """Negation appears in every class: a premise is negated half the time, and property claims
    are negated independently of the label."""
    pairs = S.draw_pairs(600, 2, "train")
    negated_hyp = Counter(p.label for p in pairs if p.hypothesis.neg)
    assert len(negated_hyp) == 3 and min(negated_hyp.values()) > 0.5 * max(negated_hyp.values())


# --- shallow cues --------------------------------------------------------------------------------

def _features(texts_a: tuple[str, ...], texts_b: tuple[str, ...], kind: str) -> np.ndarray:
    index = {w: i for i, w in enumerate(W.english_words)}
    n = len(index)
    rows = []
    for a, b in zip(texts_a, texts_b, strict=True):
        pa, hb = a.split(), b.split()
        if kind == "length":
            row = np.zeros(3 * 16)
            row[len(pa)] = row[16 + len(hb)] = row[32 + len(hb) - len(pa) + 8] = 1
        elif kind == "overlap":
            row = np.eye(8)[sum(t not in set(pa) for t in hb)]
        elif kind == "negation":
            row = np.array([sum(t in {"not", "never"} for t in pa), sum(t in {"not", "never"} for t in hb)], float)
        else:
            row = np.zeros(2 * n)
            for t in pa:
                row[index[t]] += 1
            for t in hb:
                row[n + index[t]] += 1
        rows.append(row)
    return np.array(rows)


@pytest.mark.slow
def test_no_shallow_cue_predicts_the_label() -> None:
    """Length, overlap and negation alone are at chance by construction; a bag of words (premise and
    hypothesis words counted separately) learns only weak lexical hints (about 0.55 on held-out
    pairs, against roughly 0.65-0.7 for the fine-tuned tiny encoder)."""
    from sklearn.linear_model import LogisticRegression

    train = S.synthetic_data(1500, 1500, seed=11)
    test = train.test["en"]
    for kind, ceiling in (("length", 0.4), ("overlap", 0.4), ("negation", 0.4), ("bow", 0.62)):
        x_train = _features(train.train.text_a, train.train.text_b, kind)
        clf = LogisticRegression(max_iter=2000).fit(x_train, train.train.labels)
        accuracy = clf.score(_features(test.text_a, test.text_b, kind), test.labels)
        assert accuracy < ceiling, (kind, accuracy)


# --- tokenizer and encoder -----------------------------------------------------------------------

def test_tokenizer_covers_every_language_with_the_pair_template(data: CrossLingualData) -> None:
    tok = S.build_tokenizer()
    assert tok.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
    for lang, ex in data.test.items():
        ids = tok(list(ex.text_a), list(ex.text_b))["input_ids"]
        assert all(tok.unk_token_id not in row for row in ids), lang
        assert all(len(row) <= S.MAX_TOKENS for row in ids)
    pair = tok("the big dog chases the old man", "the dog is big")["input_ids"]
    assert tok.convert_ids_to_tokens(pair) == [
        "<s>", "the", "big", "dog", "chases", "the", "old", "man", "</s>", "</s>", "the", "dog", "is", "big", "</s>"]


def test_pretrain_encoder_saves_a_checkpoint_the_auto_classes_load_offline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: CrossLingualData) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer, XLMRobertaModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    seen: list[int] = []
    out = S.pretrain_encoder(tmp_path / "a", seed=3, steps=3, progress=seen.append)
    assert seen == [1, 2, 3]
    model = AutoModel.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert isinstance(model, XLMRobertaModel)
    assert model.config.hidden_size == S.ARCHITECTURE["hidden_size"]
    for lang, ex in data.test.items():
        enc = tok(list(ex.text_a[:8]), list(ex.text_b[:8]), padding=True, return_tensors="pt")
        assert not (enc["input_ids"] == tok.unk_token_id).any(), lang
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state
        assert hidden.shape[-1] == S.ARCHITECTURE["hidden_size"] and torch.isfinite(hidden).all()
    again = S.pretrain_encoder(tmp_path / "b", seed=3, steps=3)
    first, second = load_file(out / "model.safetensors"), load_file(again / "model.safetensors")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_pretrain_key_names_what_makes_the_checkpoint() -> None:
    key = S.PRETRAIN_KEY
    assert key["generator_version"] == S.GENERATOR_VERSION
    assert key["steps"] == S.PRETRAINING["steps"] and key["seed"] == 0
    assert all(key[k] == v for k, v in S.ARCHITECTURE.items())
