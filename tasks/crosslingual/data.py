"""What every cross-lingual task hands its methods: labelled text per language.

One shape for all tiers (the XNLI real tier, CLDR names, synthetic languages), so that a
method is written once: the encoder and the data differ between tasks, never the code path.
A pair task (NLI) has ``text_b``; a single-text task leaves it None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CrossLingualData", "Examples"]


@dataclass(frozen=True)
class Examples:
    """Labelled texts of one language and split; ``labels`` index ``CrossLingualData.classes``."""

    text_a: tuple[str, ...]
    labels: np.ndarray
    text_b: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.text_a) != len(self.labels) or (self.text_b is not None and len(self.text_b) != len(self.text_a)):
            raise ValueError(f"Examples: {len(self.text_a)} texts, {len(self.labels)} labels"
                             + (f", {len(self.text_b)} second texts" if self.text_b is not None else ""))

    def __len__(self) -> int:
        return len(self.text_a)

    def take(self, index: Sequence[int] | np.ndarray) -> Examples:
        """The examples at ``index``, in that order."""
        idx = np.asarray(index, dtype=np.int64)
        return Examples(tuple(self.text_a[i] for i in idx), self.labels[idx],
                        None if self.text_b is None else tuple(self.text_b[i] for i in idx))


@dataclass(frozen=True)
class CrossLingualData:
    """A task's data: the source language's training pool and validation set (model selection
    only: no target-language peeking), a test set per language (the source's included), and
    labelled pools in target languages for the methods that may use some (translate-train,
    few-shot-target)."""

    source: str
    """Language code of the labelled training data, e.g. 'en'."""
    classes: tuple[str, ...]
    train: Examples
    test: Mapping[str, Examples]
    validation: Examples | None = None
    target_train: Mapping[str, Examples] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in self.test:
            raise ValueError(f"no test set in the source language {self.source!r}; languages: {', '.join(self.test)}")

    @property
    def languages(self) -> tuple[str, ...]:
        """Every tested language, the source first."""
        return (self.source, *(lang for lang in self.test if lang != self.source))

    @property
    def targets(self) -> tuple[str, ...]:
        """The tested languages other than the source."""
        return self.languages[1:]
