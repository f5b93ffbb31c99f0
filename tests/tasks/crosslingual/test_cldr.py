"""The CLDR entity-kind task keeps its promises: concept-disjoint, balanced, parallel, honest, fixed."""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np
import pytest

pytest.importorskip("babel")

from tasks.crosslingual import cldr  # noqa: E402
from tasks.crosslingual.cldr import CLASSES, LANGUAGES, TEST_PER_CLASS, VALIDATION_PER_CLASS, cldr_data  # noqa: E402

MIN_TEST = 300
MIN_TRAIN_PER_CLASS = 100


@pytest.fixture(scope="module")
def data():
    return cldr_data()


def _english_strings(data) -> set[str]:
    return {cldr._bare_key(t) for split in (data.train, data.validation, data.test["en"]) for t in split.text_a}


def test_languages_classes_and_sizes(data):
    assert data.languages == LANGUAGES and data.source == "en" and data.classes == CLASSES
    assert len(LANGUAGES) >= 5 and 4 <= len(CLASSES) <= 8
    assert set(data.target_train) == set(LANGUAGES[1:])
    assert len(data.validation) == VALIDATION_PER_CLASS * len(CLASSES)
    for lang in LANGUAGES:
        assert len(data.test[lang]) == TEST_PER_CLASS * len(CLASSES) >= MIN_TEST
        assert data.test[lang].text_b is None
    assert len(data.train) >= MIN_TRAIN_PER_CLASS * len(CLASSES)


def test_classes_balanced(data):
    splits = [data.train, data.validation, *data.test.values(), *data.target_train.values()]
    for split in splits:
        counts = np.bincount(split.labels, minlength=len(CLASSES))
        assert counts.min() == counts.max() > 0


def test_splits_are_concept_disjoint():
    table = cldr._table()
    train, val, test = (set(table.keys[i] for i in s) for s in (table.train, table.validation, table.test))
    assert not (train & val) and not (train & test) and not (val & test)


def test_english_strings_disjoint_across_splits(data):
    train, val, test = (set(map(cldr._key, s.text_a)) for s in (data.train, data.validation, data.test["en"]))
    assert not (train & val) and not (train & test) and not (val & test)


def test_same_test_concepts_in_every_language(data):
    """Item i of every language's test set is the CLDR name of one concept, read back from Babel."""
    import babel

    table = cldr._table()
    readers = {cls: name_of for cls, (_, name_of) in cldr._concepts(babel.Locale.parse("en")).items()}
    for lang in LANGUAGES:
        np.testing.assert_array_equal(data.test[lang].labels, data.test["en"].labels)
        locale = babel.Locale.parse(lang)
        for name, i in zip(data.test[lang].text_a, table.test, strict=True):
            cls, key = table.keys[i]
            assert name == readers[cls](locale, key)
            assert CLASSES[table.labels[i]] == cls


def test_target_train_is_the_parallel_training_set(data):
    for lang, examples in data.target_train.items():
        assert len(examples) == len(data.train)
        np.testing.assert_array_equal(examples.labels, data.train.labels)
        assert examples.text_a != data.train.text_a, lang


def test_no_target_test_item_equals_an_english_string(data):
    english = _english_strings(data)
    for lang in LANGUAGES[1:]:
        assert not english & {cldr._bare_key(t) for t in data.test[lang].text_a}, lang


def test_a_string_has_one_label_per_language(data):
    for lang in LANGUAGES:
        labels = defaultdict(set)
        split_sets = [data.test[lang], data.train if lang == "en" else data.target_train[lang]]
        if lang == "en":
            split_sets.append(data.validation)
        for split in split_sets:
            for text, y in zip(split.text_a, split.labels, strict=True):
                labels[cldr._key(text)].add(int(y))
        assert all(len(v) == 1 for v in labels.values()), lang
        assert sum(len(s) for s in split_sets) == len(labels), f"{lang}: a name occurs twice"


def test_deterministic(data):
    cldr._table.cache_clear()
    again = cldr_data()
    for a, b in [(data.train, again.train), (data.validation, again.validation),
                 *((data.test[lang], again.test[lang]) for lang in LANGUAGES),
                 *((data.target_train[lang], again.target_train[lang]) for lang in LANGUAGES[1:])]:
        assert a.text_a == b.text_a
        np.testing.assert_array_equal(a.labels, b.labels)


def test_max_train_per_class_takes_a_balanced_prefix(data):
    small = cldr_data(max_train_per_class=3)
    assert np.bincount(small.train.labels).tolist() == [3] * len(CLASSES)
    assert small.train.text_a == data.train.text_a[: 3 * len(CLASSES)]
    assert small.target_train["ja"].text_a == data.target_train["ja"].text_a[: 3 * len(CLASSES)]
    assert small.test["hi"].text_a == data.test["hi"].text_a
    with pytest.raises(ValueError):
        cldr_data(max_train_per_class=0)


def test_language_subsets_and_other_locales(data):
    subset = cldr_data(("ru", "en"))
    assert subset.languages == ("en", "ru") and subset.test["ru"].text_a == data.test["ru"].text_a
    with pytest.raises(ValueError, match="en"):
        cldr_data(("de", "ru"))
    with pytest.raises(ValueError):
        cldr_data(("en", "xx-nonexistent"))
    french = cldr_data(("en", "fr"))
    english = _english_strings(data)
    assert MIN_TEST // 2 < len(french.test["fr"]) <= len(data.test["en"])
    assert not english & {cldr._bare_key(t) for t in french.test["fr"].text_a}


def test_missing_babel_names_the_install(monkeypatch):
    cldr._table.cache_clear()
    monkeypatch.setitem(sys.modules, "babel", None)
    try:
        with pytest.raises(ImportError, match="pip install babel"):
            cldr_data()
        assert "pip install babel" in cldr.describe()
    finally:
        monkeypatch.undo()
        cldr._table.cache_clear()


def test_describe_and_citation():
    text = cldr.describe()
    assert str(TEST_PER_CLASS * len(CLASSES)) in text and "CLDR" in text and "Babel" in text
    assert cldr.CLDR_CITATION.startswith("@misc{") and "Babel" in cldr.CLDR_CITATION
