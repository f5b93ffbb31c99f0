"""Cross-lingual NLI on synthetic languages: what transfers when only the surface changes?

Following K et al. (2020) and Dufter & Schütze (2020), an English-like language is derived into
languages of growing distance so that one factor changes at a time:

* ``relex``: a new word form for every word (no word shared with English), the same grammar;
* ``relex-order``: its own new word forms and a changed word order (verb-final, adjective and
  article after the noun, negation after the verb);
* ``relex-script``: its own new word forms written in Greek letters, English order. With the
  word-level tokenizer used here it is as far from English as ``relex``; it differs for a method
  that brings a character- or subword-level tokenizer.

The task is three-way NLI. A premise is one event ("the big dog never chases the old cat"); a
hypothesis is either the premise with one edit (a noun generalized to its class, "some big animal";
a sibling noun; an antonym; an adjective of another dimension; another verb; swapped roles; a
negation) or a property claim about one of its nouns ("the dog is not small"). Labels come from a
small referential semantics (:func:`entailment_label`), never from the edit's name: each claim of the
hypothesis is true, false or unknown given the premise; a false claim makes a contradiction, all
true an entailment, otherwise neutral.

No shallow cue gives the label away: pairs are balanced over the classes within each cell of
(premise length, hypothesis length, hypothesis words absent from the premise, negations in each
sentence), so length, length difference, word overlap and the mere presence of a negation carry no
signal at all (logistic regression on each: 0.333). What a bag of words still finds is lexical: a
class word in the hypothesis leans to entailment, as hypernyms do in SNLI (0.56 on held-out pairs
against about 0.64 for the fine-tuned tiny encoder). Every noun phrase has exactly one adjective,
so a premise and its hypothesis line up word by word.

Why the world has structure: a prototype with words drawn uniformly at random barely transferred,
because a masked language model can align two languages without shared words only through each
word's distribution, and uniform words have none. Here nouns come in classes, verbs and
adjectives prefer certain classes and nouns, and every word has its own frequency and preferences.
The world (lexicon, word forms, preferences) depends on :data:`GENERATOR_VERSION` only, never on a
seed, so an encoder pretrained once matches all data drawn later; its vocabulary travels with the
checkpoint in the tokenizer files.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import numpy as np

from tasks.crosslingual.data import CrossLingualData, Examples

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = [
    "CLASSES",
    "DUFTER2020_CITATION",
    "GENERATOR_VERSION",
    "K2020_CITATION",
    "LANGUAGES",
    "PRETRAIN_KEY",
    "Event",
    "NounPhrase",
    "Pair",
    "Property",
    "World",
    "build_tokenizer",
    "draw_pairs",
    "entailment_label",
    "pretrain_encoder",
    "render",
    "synthetic_data",
    "world",
]

K2020_CITATION = """@inproceedings{K2020Cross-Lingual,
  title = {Cross-Lingual Ability of Multilingual {BERT}: An Empirical Study},
  author = {K, Karthikeyan and Wang, Zihan and Mayhew, Stephen and Roth, Dan},
  booktitle = {International Conference on Learning Representations},
  year = {2020},
  url = {https://openreview.net/forum?id=HJeT3yrtDr}
}"""

DUFTER2020_CITATION = """@inproceedings{dufter-schutze-2020-identifying,
  title = {Identifying Elements Essential for {BERT}'s Multilinguality},
  author = {Dufter, Philipp and Sch{\\"u}tze, Hinrich},
  booktitle = {Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing (EMNLP)},
  year = {2020},
  pages = {4423--4437},
  publisher = {Association for Computational Linguistics},
  doi = {10.18653/v1/2020.emnlp-main.358},
  url = {https://aclanthology.org/2020.emnlp-main.358}
}"""

GENERATOR_VERSION = 1
"""Bump whenever the world, the pairs drawn for a seed, their rendering or the pretraining changes."""
LANGUAGES: tuple[str, ...] = ("en", "relex", "relex-order", "relex-script")
CLASSES: tuple[str, ...] = ("entailment", "neutral", "contradiction")
SOURCE = "en"
VALIDATION_SIZE = 300
"""English pairs for model selection; fixed, so that a few-shot training pool still has some."""

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
"""XLM-R's ids: <s>=0, <pad>=1, </s>=2, <unk>=3, then the words, then <mask>."""
MAX_TOKENS = 24
"""Longest pair: two clauses of at most 7 words and XLM-R's four pair tokens, with room to spare."""

_WORLD_SEED = 20200426
_STREAMS = {"train": 1, "validation": 2, "test": 3, "pretrain": 4}

# --- the English world ---------------------------------------------------------------------------

_NOUN_CLASSES: tuple[tuple[str, bool, tuple[str, ...]], ...] = (
    # class word, can be an agent, nouns
    ("animal", True, ("dog", "cat", "horse", "bird", "mouse")),
    ("person", True, ("man", "woman", "boy", "girl")),
    ("food", False, ("apple", "bread", "cake", "soup")),
    ("tool", False, ("hammer", "knife", "rope", "key")),
    ("vehicle", False, ("car", "boat", "truck", "bike")),
)
_ADJECTIVES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # antonym pair and the classes it applies to
    ("big", "small", ("animal", "person", "food", "tool", "vehicle")),
    ("old", "young", ("animal", "person")),
    ("happy", "sad", ("animal", "person")),
    ("hot", "cold", ("food",)),
    ("sharp", "dull", ("tool",)),
    ("clean", "dirty", ("animal", "person", "tool", "vehicle")),
    ("fast", "slow", ("animal", "vehicle")),
)
_VERBS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    # verb, subject classes, object classes
    ("sees", ("animal", "person"), ("animal", "person", "food", "tool", "vehicle")),
    ("likes", ("animal", "person"), ("animal", "person", "food", "vehicle")),
    ("eats", ("animal", "person"), ("food",)),
    ("carries", ("animal", "person"), ("food", "tool")),
    ("drives", ("person",), ("vehicle",)),
    ("chases", ("animal", "person"), ("animal", "person", "vehicle")),
    ("holds", ("person",), ("food", "tool", "animal")),
    ("sells", ("person",), ("food", "tool", "vehicle", "animal")),
    ("pulls", ("animal", "person"), ("vehicle", "tool")),
    ("follows", ("animal", "person"), ("animal", "person", "vehicle")),
)
_FUNCTION_WORDS = ("the", "some", "is", "not", "never")
_NEGATION = frozenset({"not", "never"})

CLASS_WORD_RATE = 0.15
"""How often a premise's noun phrase names only the class ("some animal")."""
PREMISE_NEGATION = 0.5
"""Half the premises are negated, so that negation is common in every class and cell."""
PROPERTY_SHARE = 0.15
"""Share of property hypotheses ("the dog is not small") among the drawn candidates."""
NUISANCE_GENERALIZE = 0.5
"""Chance that the noun phrase an edit left alone is also generalized: it keeps the label and spreads
class words over all labels instead of tying them to entailment."""
EDIT_WEIGHTS = {"generalize": 1.0, "specialize": 1.0, "sibling": 1.0, "flip_adj": 1.0, "other_adj": 1.0,
                "verb": 1.0, "swap": 0.5, "negate": 1.0}

_LATIN = ("ptkbdgmnlrsvzfh", "aeiou")
_GREEK = ("πτκβδγμνλρσζθφχξ", "αεηιουω")


@dataclass(frozen=True)
class NounPhrase:
    """A referring expression: a noun of class ``cls`` (``noun`` None: the class word) and its adjective."""

    cls: int
    noun: str | None
    adj: str | None = None


@dataclass(frozen=True)
class Event:
    """A clause "subject (never) verb object"."""

    subj: NounPhrase
    verb: str
    obj: NounPhrase
    neg: bool = False


@dataclass(frozen=True)
class Property:
    """A clause "the noun is (not) adjective"."""

    np: NounPhrase
    adj: str
    neg: bool = False


@dataclass(frozen=True)
class Pair:
    """One NLI item in abstract form, rendered into each language by :func:`render`."""

    premise: Event
    hypothesis: Event | Property
    label: int
    edits: tuple[str, ...] = ()
    """How the hypothesis was made (for analysis by construction; the label never reads it)."""


@dataclass(frozen=True)
class World:
    """Everything fixed by :data:`GENERATOR_VERSION`: English lexicon, preferences, word forms."""

    class_words: tuple[str, ...]
    agent: tuple[bool, ...]
    nouns: tuple[tuple[str, ...], ...]
    noun_weight: dict[str, float]
    antonym: dict[str, str]
    adj_dim: dict[str, int]
    dim_classes: tuple[frozenset[int], ...]
    dim_pref: dict[str, np.ndarray]
    """Per noun (and class word): how likely each adjective dimension is mentioned."""
    polarity: dict[str, np.ndarray]
    """Per noun: probability of the first adjective of each dimension."""
    verbs: tuple[str, ...]
    verb_subj: dict[str, frozenset[int]]
    verb_obj: dict[str, frozenset[int]]
    verb_pref: dict[str, np.ndarray]
    """Per subject noun (and class word): a weight per verb."""
    obj_pref: dict[str, dict[str, float]]
    """Per verb: a weight per object noun."""
    lexicon: dict[str, dict[str, str]]
    """Per language: English word -> its form."""

    @cached_property
    def english_words(self) -> tuple[str, ...]:
        return tuple(self.lexicon[SOURCE])

    @cached_property
    def class_of(self) -> dict[str, int]:
        return {n: c for c, group in enumerate(self.nouns) for n in group}

    def vocabulary(self, languages: Sequence[str] = LANGUAGES) -> list[str]:
        """Every word form of these languages, language by language (the tokenizer's id order)."""
        return [self.lexicon[lang][w] for lang in languages for w in self.english_words]


def _pseudo_words(rng: np.random.Generator, n: int, alphabet: tuple[str, str], taken: set[str]) -> list[str]:
    consonants, vowels = alphabet
    out: list[str] = []
    while len(out) < n:
        word = "".join(consonants[rng.integers(len(consonants))] + vowels[rng.integers(len(vowels))]
                       for _ in range(int(rng.integers(1, 4))))
        if rng.random() < 0.3:
            word += consonants[rng.integers(len(consonants))]
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


@lru_cache(maxsize=1)
def world() -> World:
    """The world of this generator version (cached; it takes milliseconds)."""
    rng = np.random.default_rng([_WORLD_SEED, GENERATOR_VERSION])
    class_words = tuple(c[0] for c in _NOUN_CLASSES)
    cls_index = {name: i for i, name in enumerate(class_words)}
    nouns = tuple(c[2] for c in _NOUN_CLASSES)

    noun_weight: dict[str, float] = {}
    for group in nouns:
        zipf = 1.0 / np.arange(1, len(group) + 1) ** 0.8
        for noun, weight in zip(group, rng.permutation(zipf), strict=True):
            noun_weight[noun] = float(weight)

    antonym: dict[str, str] = {}
    adj_dim: dict[str, int] = {}
    dim_classes = []
    for d, (a, b, classes) in enumerate(_ADJECTIVES):
        antonym[a], antonym[b] = b, a
        adj_dim[a] = adj_dim[b] = d
        dim_classes.append(frozenset(cls_index[c] for c in classes))
    dim_pref: dict[str, np.ndarray] = {}
    polarity: dict[str, np.ndarray] = {}
    for c, group in enumerate(nouns):
        allowed = np.array([c in dc for dc in dim_classes], dtype=float)
        for noun in (*group, class_words[c]):
            dim_pref[noun] = allowed * rng.gamma(1.0, 1.0, len(dim_classes))
            polarity[noun] = rng.beta(0.7, 0.7, len(dim_classes)).clip(0.05, 0.95)

    verbs = tuple(v[0] for v in _VERBS)
    verb_subj = {v: frozenset(cls_index[c] for c in s) for v, s, _ in _VERBS}
    verb_obj = {v: frozenset(cls_index[c] for c in o) for v, _, o in _VERBS}
    verb_base = rng.permutation(1.0 / np.arange(1, len(verbs) + 1) ** 0.7)
    verb_pref: dict[str, np.ndarray] = {}
    for c, group in enumerate(nouns):
        allowed = np.array([c in verb_subj[v] for v in verbs], dtype=float)
        for noun in (*group, class_words[c]):
            verb_pref[noun] = allowed * verb_base * rng.gamma(1.0, 1.0, len(verbs))
    obj_pref: dict[str, dict[str, float]] = {}
    for v in verbs:
        obj_pref[v] = {noun: noun_weight[noun] * float(rng.gamma(1.0, 1.0))
                       for c in sorted(verb_obj[v]) for noun in nouns[c]}

    english = [*_FUNCTION_WORDS, *class_words, *(n for g in nouns for n in g),
               *(w for a, b, _ in _ADJECTIVES for w in (a, b)), *verbs]
    if len(set(english)) != len(english):
        raise AssertionError("an English word is listed twice")
    taken = set(english) | set(SPECIAL_TOKENS)
    lexicon = {SOURCE: {w: w for w in english}}
    for lang, alphabet in (("relex", _LATIN), ("relex-order", _LATIN), ("relex-script", _GREEK)):
        lexicon[lang] = dict(zip(english, _pseudo_words(rng, len(english), alphabet, taken), strict=True))

    return World(class_words, tuple(c[1] for c in _NOUN_CLASSES), nouns, noun_weight, antonym, adj_dim,
                 tuple(dim_classes), dim_pref, polarity, verbs, verb_subj, verb_obj, verb_pref, obj_pref, lexicon)


# --- sampling premises and hypotheses ------------------------------------------------------------

_T = TypeVar("_T")


def _choice(rng: np.random.Generator, items: Sequence[_T], weights: Sequence[float] | np.ndarray) -> _T:
    cum = np.cumsum(weights)
    return items[min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(items) - 1)]


def _head(w: World, np_: NounPhrase) -> str:
    return w.class_words[np_.cls] if np_.noun is None else np_.noun


def _adjective(w: World, rng: np.random.Generator, head: str, exclude: int | None = None) -> str | None:
    """An adjective for ``head`` by its preferences, from any dimension but ``exclude``."""
    pref = w.dim_pref[head].copy()
    if exclude is not None:
        pref[exclude] = 0.0
    if pref.sum() <= 0:
        return None
    d = int(_choice(rng, range(len(pref)), pref))
    first, second = _ADJECTIVES[d][:2]
    return first if rng.random() < w.polarity[head][d] else second


def _noun_phrase(w: World, rng: np.random.Generator, noun: str) -> NounPhrase:
    cls = w.class_of[noun]
    np_ = NounPhrase(cls, None if rng.random() < CLASS_WORD_RATE else noun)
    return replace(np_, adj=_adjective(w, rng, _head(w, np_)))


def sample_premise(w: World, rng: np.random.Generator) -> Event:
    """An event drawn by the world's preferences: subject noun, then verb, then object noun."""
    subjects = [n for c, group in enumerate(w.nouns) if w.agent[c] for n in group]
    subj_noun = _choice(rng, subjects, [w.noun_weight[n] for n in subjects])
    subj_cls = w.class_of[subj_noun]
    verb = _choice(rng, w.verbs, w.verb_pref[subj_noun])
    objects = [n for n in w.obj_pref[verb] if w.class_of[n] != subj_cls]
    obj_noun = _choice(rng, objects, [w.obj_pref[verb][n] for n in objects])
    return Event(_noun_phrase(w, rng, subj_noun), verb, _noun_phrase(w, rng, obj_noun),
                 bool(rng.random() < PREMISE_NEGATION))


def _edit_np(w: World, rng: np.random.Generator, np_: NounPhrase, edit: str) -> NounPhrase | None:
    if edit == "generalize" and np_.noun is not None:
        return replace(np_, noun=None)
    if edit == "specialize" and np_.noun is None:
        group = w.nouns[np_.cls]
        return replace(np_, noun=_choice(rng, group, [w.noun_weight[n] for n in group]))
    if edit == "sibling" and np_.noun is not None:
        others = [n for n in w.nouns[np_.cls] if n != np_.noun]
        return replace(np_, noun=_choice(rng, others, [w.noun_weight[n] for n in others]))
    if edit == "flip_adj" and np_.adj is not None:
        return replace(np_, adj=w.antonym[np_.adj])
    if edit == "other_adj" and np_.adj is not None:
        adj = _adjective(w, rng, _head(w, np_), exclude=w.adj_dim[np_.adj])
        return None if adj is None else replace(np_, adj=adj)
    return None


_NP_EDITS = frozenset({"generalize", "specialize", "sibling", "flip_adj", "other_adj"})


def _edit_event(w: World, rng: np.random.Generator, ev: Event, edit: str, side: str) -> Event | None:
    if edit in _NP_EDITS:
        new = _edit_np(w, rng, getattr(ev, side), edit)
        changes: dict[str, Any] = {side: new}
        return None if new is None else replace(ev, **changes)
    if edit == "negate":
        return replace(ev, neg=not ev.neg)
    if edit == "verb":
        pref = w.verb_pref[_head(w, ev.subj)]
        options = [i for i, v in enumerate(w.verbs)
                   if v != ev.verb and ev.subj.cls in w.verb_subj[v] and ev.obj.cls in w.verb_obj[v] and pref[i] > 0]
        return replace(ev, verb=_choice(rng, [w.verbs[i] for i in options], pref[options])) if options else None
    if edit == "swap":
        if ev.obj.cls in w.verb_subj[ev.verb] and ev.subj.cls in w.verb_obj[ev.verb]:
            return replace(ev, subj=ev.obj, obj=ev.subj)
        return None
    raise ValueError(edit)


def _property_hypothesis(w: World, rng: np.random.Generator, premise: Event) -> tuple[Property, tuple[str, ...]]:
    ref = premise.subj if rng.random() < 0.5 else premise.obj
    head = NounPhrase(ref.cls, ref.noun)
    edits = ["property"]
    r = rng.random()
    if r < NUISANCE_GENERALIZE and head.noun is not None:
        head = replace(head, noun=None)
        edits.append("generalize")
    elif r > 0.9:
        edit = "sibling" if head.noun is not None else "specialize"
        head = _edit_np(w, rng, head, edit) or head
        edits.append(edit)
    r = rng.random()
    adj = ref.adj
    if adj is not None and r < 0.33:
        edits.append("stated_adj")
    elif adj is not None and r < 0.67:
        adj = w.antonym[adj]
        edits.append("antonym_adj")
    else:
        adj = _adjective(w, rng, _head(w, ref), exclude=None if ref.adj is None else w.adj_dim[ref.adj])
        edits.append("other_adj")
    neg = bool(rng.random() < 0.5)
    if neg:
        edits.append("negate")
    return Property(head, adj or _ADJECTIVES[0][0], neg), tuple(edits)


def sample_hypothesis(w: World, rng: np.random.Generator, premise: Event) -> tuple[Event | Property, tuple[str, ...]]:
    """A hypothesis for ``premise`` and the edits that made it.

    Either a property claim about one of the premise's nouns, or the premise with one main edit and,
    independently of it, the other noun phrase generalized (:data:`NUISANCE_GENERALIZE`).
    """
    if rng.random() < PROPERTY_SHARE:
        return _property_hypothesis(w, rng, premise)
    names = tuple(EDIT_WEIGHTS)
    weights = [EDIT_WEIGHTS[e] for e in names]
    for _attempt in range(100):
        edit = _choice(rng, names, weights)
        side = "subj" if rng.random() < 0.5 else "obj"
        hyp = _edit_event(w, rng, premise, edit, side)
        if hyp is not None and hyp != premise:
            break
    else:
        raise AssertionError("no edit applies to the premise")
    edits = [edit]
    other = side if edit == "swap" else "obj" if side == "subj" else "subj"
    if rng.random() < NUISANCE_GENERALIZE:
        generalized = _edit_event(w, rng, hyp, "generalize", other)
        if generalized is not None:
            hyp = generalized
            edits.append("generalize")
    return hyp, tuple(edits)


# --- semantics -----------------------------------------------------------------------------------

_TRUE, _FALSE, _UNKNOWN = 1, -1, 0


def _np_claims(w: World, np_: NounPhrase, ref: NounPhrase) -> list[int]:
    """What a hypothesis noun phrase claims about the premise's referent of the same class."""
    if np_.noun is None or np_.noun == ref.noun:
        claims = [_TRUE]
    else:
        claims = [_UNKNOWN if ref.noun is None else _FALSE]
    if np_.adj is not None:
        if ref.adj is None or w.adj_dim[ref.adj] != w.adj_dim[np_.adj]:
            claims.append(_UNKNOWN)
        else:
            claims.append(_TRUE if ref.adj == np_.adj else _FALSE)
    return claims


def entailment_label(w: World, premise: Event, hypothesis: Event | Property) -> int:
    """The class index of (premise, hypothesis) under a referential reading.

    A noun phrase refers to the premise's referent of its class (a premise never has two nouns of
    one class): "some animal" is the premise's dog, "the cat" is the same referent wrongly named
    (false), and after "some animal" in the premise, "the dog" is unknown. A noun phrase's adjective
    is a claim about its referent: the two adjectives of a pair exclude each other, another
    dimension is unknown. The event is true with the premise's verb, roles and polarity, false with
    the polarity flipped, and unknown with another verb or the roles swapped.
    """
    refs = {premise.subj.cls: premise.subj, premise.obj.cls: premise.obj}
    if isinstance(hypothesis, Property):
        ref = refs[hypothesis.np.cls]
        claims = _np_claims(w, hypothesis.np, ref)
        adj_claim = _np_claims(w, NounPhrase(ref.cls, None, hypothesis.adj), ref)[1]
        claims.append(-adj_claim if hypothesis.neg else adj_claim)
    else:
        claims = _np_claims(w, hypothesis.subj, refs[hypothesis.subj.cls])
        claims += _np_claims(w, hypothesis.obj, refs[hypothesis.obj.cls])
        same_event = hypothesis.verb == premise.verb and hypothesis.subj.cls == premise.subj.cls
        claims.append((_TRUE if hypothesis.neg == premise.neg else _FALSE) if same_event else _UNKNOWN)
    if _FALSE in claims:
        return CLASSES.index("contradiction")
    if all(c == _TRUE for c in claims):
        return CLASSES.index("entailment")
    return CLASSES.index("neutral")


# --- rendering -----------------------------------------------------------------------------------

def _determiner(np_: NounPhrase) -> str:
    """A class word takes "some": the determiner marks it as less specific than a noun and gives class
    words a context of their own, by which pretraining aligns them across languages."""
    return "some" if np_.noun is None else "the"


def _words(w: World, clause: Event | Property, lang: str) -> list[str]:
    """The clause in the word order of ``lang``, as English words."""
    verb_final = lang == "relex-order"

    def np_words(x: NounPhrase) -> list[str]:
        adj = [] if x.adj is None else [x.adj]
        if verb_final:
            return [_head(w, x), *adj, _determiner(x)]
        return [_determiner(x), *adj, _head(w, x)]

    if isinstance(clause, Property):
        neg = ["not"] if clause.neg else []
        if verb_final:
            return [*np_words(clause.np), clause.adj, *neg, "is"]
        return [*np_words(clause.np), "is", *neg, clause.adj]
    neg = ["never"] if clause.neg else []
    if verb_final:
        return [*np_words(clause.subj), *np_words(clause.obj), clause.verb, *neg]
    return [*np_words(clause.subj), *neg, clause.verb, *np_words(clause.obj)]


def render(clause: Event | Property, lang: str) -> str:
    """The clause as text of ``lang``: its word order, then its word forms."""
    w = world()
    if lang not in w.lexicon:
        raise ValueError(f"unknown language {lang!r}; known: {', '.join(LANGUAGES)}")
    lex = w.lexicon[lang]
    return " ".join(lex[t] for t in _words(w, clause, lang))


# --- balanced draws ------------------------------------------------------------------------------

def _cell(w: World, pair: Pair) -> tuple[int, ...]:
    """The surface signature within which the classes are balanced (see the module docstring).

    Class words are deliberately left out: balancing them too would leave almost only property
    hypotheses, since generalizing is the one edit whose new words are all class words.
    """
    p = _words(w, pair.premise, SOURCE)
    h = _words(w, pair.hypothesis, SOURCE)
    seen = set(p)
    return (len(p), len(h), sum(t not in seen for t in h), sum(t in _NEGATION for t in p),
            sum(t in _NEGATION for t in h))


def _balanced_triples(seed: int, stream: str) -> Iterator[tuple[Pair, Pair, Pair]]:
    """Endless triples, one pair per class, each triple from one surface cell (:func:`_cell`).

    Emitted in a fixed order for a seed and stream, so a longer draw extends a shorter one.
    """
    w = world()
    rng = np.random.default_rng([seed, GENERATOR_VERSION, _STREAMS[stream]])
    queues: dict[tuple[int, ...], list[list[Pair]]] = defaultdict(lambda: [[], [], []])
    while True:
        premise = sample_premise(w, rng)
        hyp, edits = sample_hypothesis(w, rng, premise)
        pair = Pair(premise, hyp, entailment_label(w, premise, hyp), edits)
        q = queues[_cell(w, pair)]
        q[pair.label].append(pair)
        if all(q):
            yield q[0].pop(0), q[1].pop(0), q[2].pop(0)


def draw_pairs(n: int, seed: int, stream: str) -> list[Pair]:
    """``n`` class-balanced pairs of a stream, shuffled; for any ``n`` the pairs of the first ⌈n/3⌉ triples."""
    return list(_draw_pairs(n, seed, stream))


@lru_cache(maxsize=16)
def _draw_pairs(n: int, seed: int, stream: str) -> tuple[Pair, ...]:
    """Drawn once per process: every run of a worker reads the same pools (about 1 ms a pair)."""
    if n <= 0:
        return ()
    triples = _balanced_triples(seed, stream)
    pairs = [p for _, t in zip(range(math.ceil(n / 3)), triples, strict=False) for p in t][:n]
    order = np.random.default_rng([seed, GENERATOR_VERSION, _STREAMS[stream], n]).permutation(n)
    return tuple(pairs[i] for i in order)


def _examples(pairs: Sequence[Pair], lang: str) -> Examples:
    return Examples(tuple(render(p.premise, lang) for p in pairs),
                    np.array([p.label for p in pairs], dtype=np.int64),
                    tuple(render(p.hypothesis, lang) for p in pairs))


def synthetic_data(n_train: int, n_test: int, seed: int = 0, languages: Sequence[str] = LANGUAGES,
                   n_target_train: int = 0) -> CrossLingualData:
    """English training pool, English validation, parallel test sets and translated target pools.

    The test set is one set of meanings rendered in every language, so per-language accuracies are
    paired comparisons. A target-language pool renders the first ``n_target_train`` English training
    pairs of the unshuffled draw (a larger pool than ``n_train`` extends it), which is what
    translate-train assumes: translations of the source data, not new data.
    """
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise ValueError(f"unknown languages {unknown}; known: {', '.join(LANGUAGES)}")
    langs = (SOURCE, *(lang for lang in languages if lang != SOURCE))
    test = draw_pairs(n_test, seed, "test")
    targets = draw_pairs(n_target_train, seed, "train")
    return CrossLingualData(
        source=SOURCE,
        classes=CLASSES,
        train=_examples(draw_pairs(n_train, seed, "train"), SOURCE),
        validation=_examples(draw_pairs(VALIDATION_SIZE, seed, "validation"), SOURCE),
        test={lang: _examples(test, lang) for lang in langs},
        target_train={lang: _examples(targets, lang) for lang in langs[1:]} if n_target_train > 0 else {},
    )


# --- tokenizer and pretraining -------------------------------------------------------------------

class _Architecture(TypedDict):
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int


ARCHITECTURE: _Architecture = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                               "intermediate_size": 512}
PRETRAINING: dict[str, float | int] = {"steps": 1200, "batch": 128, "lr": 2e-3, "mask_prob": 0.15,
                                       "sentences_per_language": 12_000}
PRETRAIN_KEY: dict[str, object] = {"task": "crosslingual-synthetic-nli", "generator_version": GENERATOR_VERSION,
                                   "languages": list(LANGUAGES), **ARCHITECTURE, **PRETRAINING, "seed": 0}
"""What identifies the default pretrained encoder (``pretrain_encoder(out)``) for an artifact cache."""


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level fast tokenizer over every language's words, with XLM-R's special tokens and pair template.

    Word level because the vocabulary is closed and known; ids are fixed by :data:`GENERATOR_VERSION`.
    """
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate((*SPECIAL_TOKENS[:4], *world().vocabulary(), SPECIAL_TOKENS[4]))}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = WhitespaceSplit()
    tok.post_processor = TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])])
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>", model_max_length=MAX_TOKENS)


def _pretraining_text(seed: int, n: int) -> dict[str, list[str]]:
    """Unlabelled sentences per language, premises and hypotheses alike, each language from its own
    stream: the languages share no sentence (no parallel text)."""
    w = world()
    out = {}
    for i, lang in enumerate(LANGUAGES):
        rng = np.random.default_rng([seed, GENERATOR_VERSION, _STREAMS["pretrain"], i])
        sentences = []
        for _ in range(n // 2):
            premise = sample_premise(w, rng)
            sentences += [render(premise, lang), render(sample_hypothesis(w, rng, premise)[0], lang)]
        out[lang] = sentences
    return out


def pretrain_encoder(out: Path, seed: int = 0, steps: int | None = None,
                     progress: Callable[[int], None] | None = None) -> Path:
    """MLM-pretrain the tiny XLM-R encoder on non-parallel text of every language; save it to ``out``.

    Each batch mixes all languages. A masked word is predicted among its own language's words (the
    language of every training sentence is known), and its random replacement comes from the same
    language: with a softmax over all languages the model must also say which language it reads,
    which pushes the languages apart (in this tiny setting the embeddings' word-translation accuracy
    fell from 0.60 to 0.24). Shared position embeddings and special tokens are the only other common ground
    (Dufter & Schütze). One torch thread, so the same seed gives the same checkpoint on any machine.
    """
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    from tasks.common import one_torch_thread
    from tasks.crosslingual.encoder import quiet_transformers

    steps = int(PRETRAINING["steps"]) if steps is None else int(steps)
    batch, mask_prob = int(PRETRAINING["batch"]), float(PRETRAINING["mask_prob"])
    out = Path(out)
    tokenizer = build_tokenizer()
    per_language = int(min(PRETRAINING["sentences_per_language"], max(64, steps * batch // len(LANGUAGES))))
    text = _pretraining_text(seed, per_language)
    enc = tokenizer([s for lang in LANGUAGES for s in text[lang]], padding="max_length", max_length=MAX_TOKENS,
                    truncation=True, return_tensors="pt")
    ids, attn = enc["input_ids"], enc["attention_mask"]
    if (ids == tokenizer.unk_token_id).any():
        raise AssertionError("a pretraining word is missing from the vocabulary")
    lang_of = torch.cat([torch.full((len(text[lang]),), i) for i, lang in enumerate(LANGUAGES)])
    n_special, per_lang = 4, len(world().english_words)
    first_word = n_special + per_lang * lang_of
    special = ids < n_special
    own_vocab = torch.full((len(LANGUAGES), len(tokenizer)), float("-inf"))
    for i in range(len(LANGUAGES)):
        own_vocab[i, n_special + i * per_lang:n_special + (i + 1) * per_lang] = 0.0

    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), max_position_embeddings=MAX_TOKENS + 2, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        **ARCHITECTURE)
    g = torch.Generator().manual_seed(seed)
    with one_torch_thread():
        torch.manual_seed(seed)
        model = XLMRobertaForMaskedLM(config)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=float(PRETRAINING["lr"]), weight_decay=0.01)
        warm = max(1, steps // 20)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
        started = time.perf_counter()
        loss = torch.tensor(float("nan"))
        for step in range(steps):
            idx = torch.randint(len(ids), (batch,), generator=g)
            length = int(attn[idx].sum(1).max())
            x, a, sp = ids[idx, :length].clone(), attn[idx, :length], special[idx, :length]
            chosen = (torch.rand(x.shape, generator=g) < mask_prob) & ~sp
            labels = torch.where(chosen, x, torch.full_like(x, -100))
            r = torch.rand(x.shape, generator=g)
            random_words = first_word[idx][:, None] + torch.randint(per_lang, x.shape, generator=g)
            x = torch.where(chosen & (r < 0.8), torch.full_like(x, tokenizer.mask_token_id), x)
            x = torch.where(chosen & (r >= 0.8) & (r < 0.9), random_words, x)
            logits = model(input_ids=x, attention_mask=a).logits + own_vocab[lang_of[idx]][:, None, :]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if progress is not None:
                progress(step + 1)
        seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    (out / "pretraining.json").write_text(json.dumps(
        {**PRETRAIN_KEY, "steps": steps, "seed": seed, "final_loss": round(float(loss.detach()), 4),
         "train_seconds": round(seconds, 1)}, indent=1) + "\n")
    return out
