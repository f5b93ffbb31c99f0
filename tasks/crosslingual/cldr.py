"""CLDR names: which kind of thing does a name denote? Learned in English, tested in seven other languages.

The offline quick tier of the cross-lingual family needs labelled text in several real languages that
ships with a package and whose translations can be trusted. The Unicode Common Locale Data Repository
(CLDR), bundled with Babel, is that: professional translators and national-language contributors name
the same concepts (territories, languages, currencies, units, time-zone cities) in hundreds of locales,
so one concept is one parallel "sentence" across languages, with no download at run time and no
machine translation.

The task is **entity-kind classification**: given a name, say whether it names a territory, a language,
a currency, a unit of measurement or a city (a time zone's exemplar city). The label belongs to the
concept, not to the language, so an English-trained classifier can be tested unchanged on German or
Hindi names of held-out concepts. Why this task rather than another CLDR property:

- It has enough data. Territory containment ("which continent is this territory in?") has ~250
  concepts in all, far too few for a balanced test of several hundred items once training concepts are
  set aside; the five kinds give 178 (currency) to 528 (language) usable concepts each.
- It is neither trivial nor impossible. English surface cues help ("-ese", "dollar", "per", "meters")
  but do not settle it: "French" (language) vs "France" (territory) vs "French Franc" (currency),
  or "Santo Domingo" (city) vs "Dominica" (territory), need knowledge of the world, and in another
  script none of the English cues survive. So a character n-gram model trained on English works in
  English and partly in German/Spanish, and falls to near chance in Russian, Chinese, Arabic, Hindi and
  Japanese, whereas a multilingual encoder (multilingual-e5, XLM-R vocabulary) carries much of its
  English accuracy over: the gap is the transfer the task measures. Measured with Babel 2.19.0 (logistic
  regression, English training pool, chance 20%): character 1-4-grams score 60% in English, 43-52% in
  German/Spanish and 20-21% elsewhere; multilingual-e5-small embeddings score 82% in English and 48-71%
  in the targets (mean 61%), and 64-84% when trained on the parallel target-language pool instead.
- Scripts were left out: only 120 of CLDR's 215 script names exist in all eight locales, fewer still once
  the ones that are also language names ("Arabic", "Armenian"...) go, and nearly half of the rest are
  spelled as in English in German or Spanish, too few to test.

Honesty rules, applied once to the built-in languages so that the splits never depend on the caller:

- Splits are by concept. Test and validation concepts are disjoint from training concepts, and every
  language's test set holds the same test concepts, so per-language differences come from language.
- A test concept is only drawn from concepts whose name in *every* target language differs from *every*
  English name of the dataset (compared case-, accent- and punctuation-insensitively: "Bogotá" and
  "Bogota" count as equal). A German test item "Nepal" would measure nothing cross-lingual. The
  concepts that fail this (mostly cities and territories whose German or Spanish name is the English
  one) stay usable for training. So test concepts lean towards names that differ across languages
  (exonyms such as Wien/Vienna), the same for English as for the targets.
- A name shared by two concepts in any language (e.g. "Arabic" the language and the script, "Jamaica"
  the territory and the time-zone city) keeps only the first concept in the order of ``CLASSES``, so a
  string never has two labels and never appears on both sides of a split.
- Inheritance artefacts are excluded: dated currency variants ("Turkish Lira (1922–2005)", whose digits
  would transfer across scripts and which near-duplicate the current currency), units that CLDR leaves
  untranslated outside Japanese ("ken [JP]"), unit fragments ("of mercury"), pseudo-locales, regions
  and units of account.

Classes are balanced: the test set has ``TEST_PER_CLASS`` concepts per class, the English validation set
``VALIDATION_PER_CLASS``, the training pool the same number per class (the smallest class's remainder).
CLDR content changes between Babel releases, so sizes and splits are those of the pinned Babel version.
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import numpy as np

from tasks.crosslingual.data import CrossLingualData, Examples

__all__ = ["BABEL_VERSION", "CLASSES", "CLDR_CITATION", "LANGUAGES", "TEST_PER_CLASS", "VALIDATION_PER_CLASS",
           "cldr_data", "describe"]

LANGUAGES: tuple[str, ...] = ("en", "de", "es", "ru", "zh", "ar", "hi", "ja")
"""English (the source) first, then seven targets in six scripts: Latin, Cyrillic, Han, Arabic,
Devanagari and Japanese kana/kanji, all well covered by multilingual-e5."""

CLASSES: tuple[str, ...] = ("territory", "language", "currency", "unit", "city")

TEST_PER_CLASS = 60
VALIDATION_PER_CLASS = 16
BABEL_VERSION = "2.19.0"
"""The Babel release (CLDR 49) the split and the sizes in the docstrings were made with."""

_SPLIT_SEED = 20_250_611
_EXCLUDED_TERRITORIES = frozenset({"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"})
_EXCLUDED_LANGUAGES = frozenset({"mis", "mul", "und", "zxx"})
_NON_CURRENCIES = frozenset({"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XRE", "XSU", "XTS", "XUA",
                             "XXX"})

CLDR_CITATION = """@misc{unicode_cldr,
  author       = {{Unicode Consortium}},
  title        = {Unicode Common Locale Data Repository ({CLDR})},
  howpublished = {\\url{https://cldr.unicode.org/}},
  note         = {Version 49, read through the Python package Babel 2.19.0 (https://babel.pocoo.org/);
                  the split and the sizes depend on the Babel/CLDR version}
}"""


def _babel() -> Any:
    try:
        import babel
    except ImportError as err:
        raise ImportError("the CLDR cross-lingual task reads Unicode CLDR names through Babel: "
                          f"pip install babel=={BABEL_VERSION}") from err
    return babel


def _key(name: str) -> str:
    """Identity of a name within one language: case, spacing and punctuation do not make two names."""
    return "".join(c for c in unicodedata.normalize("NFKC", name.casefold()) if unicodedata.category(c)[0] in "LMN")


def _bare_key(name: str) -> str:
    """Identity across languages: accents also do not count, so "Bogotá" equals the English "Bogota"."""
    return "".join(c for c in unicodedata.normalize("NFKD", name.casefold()) if unicodedata.category(c)[0] in "LN")


def _city(locale: Any, zone: str) -> str:
    """The zone's exemplar city as Babel's ``get_timezone_location(return_city=True)`` names it (without
    needing the system's tz database): the locale's name, else the metazone's, else the zone ID's last part."""
    from babel.core import get_global

    city = locale.time_zones.get(zone, {}).get("city") or locale.meta_zones.get(
        get_global("meta_zones").get(zone), {}).get("city")
    return city or zone.rpartition("/")[2].replace("_", " ")


def _concepts(en: Any) -> dict[str, tuple[list[str], Callable[[Any, str], str | None]]]:
    """Per class: the CLDR keys of its concepts, and how to read a concept's name in a locale (None: unnamed)."""
    from babel.core import get_global

    units = en._data["unit_display_names"]
    zones = get_global("zone_territories")
    return {
        "territory": (sorted(k for k in en.territories
                             if len(k) == 2 and k.isalpha() and k not in _EXCLUDED_TERRITORIES),
                      lambda loc, k: loc.territories.get(k)),
        "language": (sorted(k for k in en.languages if "_" not in k and k not in _EXCLUDED_LANGUAGES),
                     lambda loc, k: loc.languages.get(k)),
        "currency": (sorted(k for k in en.currencies
                            if k not in _NON_CURRENCIES and not any(c.isdigit() for c in en.currencies[k])),
                     lambda loc, k: loc.currencies.get(k)),
        "unit": (sorted(k for k in units if (name := units[k].get("long")) and "[" not in name
                        and not name.startswith("of ") and name != "light"),
                 lambda loc, k: loc._data["unit_display_names"].get(k, {}).get("long")),
        "city": (sorted(z for z in zones if "/" in z and not z.startswith("Etc/") and zones[z] != "001"), _city),
    }


@dataclass(frozen=True)
class _Table:
    """Every usable concept's names (in ``LANGUAGES``) and class, split once and for all."""

    keys: tuple[tuple[str, str], ...]
    labels: np.ndarray
    names: dict[str, tuple[str, ...]]
    test: np.ndarray
    validation: np.ndarray
    train: np.ndarray
    english_keys: frozenset[str]


@lru_cache(maxsize=1)
def _table() -> _Table:
    babel = _babel()
    if babel.__version__ != BABEL_VERSION:
        warnings.warn(f"CLDR task: Babel {babel.__version__} is installed, the split was made with {BABEL_VERSION}; "
                      "its CLDR names and hence the concepts and sizes may differ", stacklevel=3)
    locales = {lang: babel.Locale.parse(lang) for lang in LANGUAGES}
    keys: list[tuple[str, str]] = []
    labels: list[int] = []
    names: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
    seen: dict[str, set[str]] = {lang: set() for lang in LANGUAGES}
    concepts = _concepts(locales["en"])
    for label, cls in enumerate(CLASSES):
        concept_keys, name_of = concepts[cls]
        for k in concept_keys:
            found = {lang: name_of(loc, k) for lang, loc in locales.items()}
            if not all(found.values()):
                continue
            row = cast(dict[str, str], found)
            if any(_key(row[lang]) in seen[lang] for lang in LANGUAGES):
                continue
            for lang in LANGUAGES:
                seen[lang].add(_key(row[lang]))
                names[lang].append(row[lang])
            keys.append((cls, k))
            labels.append(label)
    y = np.asarray(labels, dtype=np.int64)
    english = frozenset(_bare_key(n) for n in names["en"])
    testable = np.array([all(_bare_key(names[lang][i]) not in english for lang in LANGUAGES[1:])
                         for i in range(len(keys))])
    rng = np.random.default_rng(_SPLIT_SEED)
    test, validation, rest = [], [], []
    for c in range(len(CLASSES)):
        eligible = rng.permutation(np.flatnonzero((y == c) & testable))
        if len(eligible) < TEST_PER_CLASS:
            raise RuntimeError(f"CLDR task: only {len(eligible)} testable {CLASSES[c]} concepts (Babel "
                               f"{babel.__version__}), {TEST_PER_CLASS} needed")
        others = rng.permutation(np.setdiff1d(np.flatnonzero(y == c), eligible[:TEST_PER_CLASS]))
        test.append(np.sort(eligible[:TEST_PER_CLASS]))
        validation.append(others[:VALIDATION_PER_CLASS])
        rest.append(others[VALIDATION_PER_CLASS:])
    per_class = min(len(r) for r in rest)
    train = np.stack([r[:per_class] for r in rest], axis=1).reshape(-1)
    return _Table(keys=tuple(keys), labels=y, names={lang: tuple(v) for lang, v in names.items()},
                  test=np.concatenate(test), validation=np.sort(np.concatenate(validation)), train=train,
                  english_keys=english)


def _examples(texts: Sequence[str], labels: np.ndarray) -> Examples:
    return Examples(tuple(texts), np.asarray(labels, dtype=np.int64))


def _other_language(lang: str, table: _Table, index: np.ndarray, *, test: bool) -> Examples:
    """Names in a locale outside ``LANGUAGES``: concepts it leaves unnamed, and (for its test set) names equal
    to an English name, are dropped, so its test set may be smaller and not quite balanced."""
    babel = _babel()
    try:
        loc = babel.Locale.parse(lang)
    except (ValueError, babel.UnknownLocaleError) as err:
        raise ValueError(f"CLDR task: Babel has no locale {lang!r}") from err
    readers = {cls: name_of for cls, (_, name_of) in _concepts(babel.Locale.parse("en")).items()}
    texts, labels = [], []
    for i in index:
        cls, k = table.keys[i]
        name = readers[cls](loc, k)
        if name and not (test and _bare_key(name) in table.english_keys):
            texts.append(name)
            labels.append(table.labels[i])
    return _examples(texts, np.asarray(labels, dtype=np.int64))


def cldr_data(languages: Sequence[str] = LANGUAGES, max_train_per_class: int | None = None) -> CrossLingualData:
    """The CLDR entity-kind task: English training pool and validation set, a test set per language.

    ``languages`` must contain ``"en"`` (the source). Languages in ``LANGUAGES`` share the exact same
    balanced test concepts (``TEST_PER_CLASS`` per class); any other Babel locale is accepted, with its
    unnamed and English-identical names dropped. ``target_train`` holds, for each target, the names of the
    training concepts in that language, in the English pool's order (a parallel, translated training set).
    ``max_train_per_class`` keeps the first concepts of each class in that fixed order. Nothing is random
    at call time: the split is seeded by a constant.
    """
    if "en" not in languages:
        raise ValueError(f"the CLDR task's source is English; languages {tuple(languages)} lack 'en'")
    if len(set(languages)) != len(languages):
        raise ValueError(f"repeated languages in {tuple(languages)}")
    if max_train_per_class is not None and max_train_per_class < 1:
        raise ValueError(f"max_train_per_class must be at least 1, got {max_train_per_class}")
    table = _table()
    train = table.train
    if max_train_per_class is not None:
        train = train[: max_train_per_class * len(CLASSES)]

    def split(lang: str, index: np.ndarray, *, test: bool) -> Examples:
        if lang in table.names:
            return _examples([table.names[lang][i] for i in index], table.labels[index])
        return _other_language(lang, table, index, test=test)

    ordered = ["en", *(lang for lang in languages if lang != "en")]
    return CrossLingualData(
        source="en",
        classes=CLASSES,
        train=split("en", train, test=False),
        test={lang: split(lang, table.test, test=True) for lang in ordered},
        validation=split("en", table.validation, test=False),
        target_train={lang: split(lang, train, test=False) for lang in ordered[1:]},
    )


def describe() -> str:
    """One paragraph for the task listing: what is classified, how much data, from which Babel/CLDR."""
    head = ("Entity-kind classification of Unicode CLDR names: is a name a territory, a language, a currency, "
            "a unit of measurement or a city (time-zone exemplar city)? Trained on English names, tested zero-shot "
            f"on the names of the same held-out concepts in {', '.join(LANGUAGES[1:])}; training, validation and "
            "test concepts are disjoint, and no test name equals (ignoring case and accents) any English name.")
    try:
        table = _table()
        from babel.core import get_global

        version = f"Babel {_babel().__version__}, CLDR {get_global('cldr')['version']}"
    except ImportError:
        return f"{head} Needs Babel (pip install babel=={BABEL_VERSION}), which is not installed."
    per_class = len(table.train) // len(CLASSES)
    return (f"{head} {len(CLASSES)} balanced classes: {per_class} English training concepts per class "
            f"({len(table.train)} in all, with parallel names in each target language), {len(table.validation)} "
            f"English validation names, {len(table.test)} test names per language ({TEST_PER_CLASS} per class). "
            f"Data: {version}, no download.")
