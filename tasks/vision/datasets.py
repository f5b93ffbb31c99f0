"""Offline image sets for the vision family's quick tier: data a package ships, nothing downloaded.

Fashion-MNIST (Xiao et al., 2017) comes from Debian's ``dataset-fashion-mnist`` package, which
installs the original IDX files under ``/usr/share/datasets/fashion-mnist``; a user without
Debian points ``TRANSFERBENCH_FASHION_MNIST`` (or the ``root`` argument) at a folder holding the
same four files from the dataset's own site.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["FASHION_MNIST_CLASSES", "ImageSet", "fashion_mnist", "read_idx"]

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
           0x0E: np.dtype(">f8")}


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


def fashion_mnist(root: str | Path | None = None) -> ImageSet:
    """Fashion-MNIST's 60,000 training and 10,000 test images, from Debian's package or ``root``."""
    folder = Path(root or os.environ.get("TRANSFERBENCH_FASHION_MNIST") or DEBIAN_FASHION_MNIST)
    try:
        parts = [read_idx(_find(folder, f"{split}-{kind}-idx{dim}-ubyte"))
                 for split in ("train", "t10k") for kind, dim in (("images", 3), ("labels", 1))]
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"Fashion-MNIST file {exc.args[0]!r} not found in {folder}: install Debian's dataset-fashion-mnist "
            "(apt-get install dataset-fashion-mnist) or set TRANSFERBENCH_FASHION_MNIST to a folder with the four "
            "IDX files") from None
    train_x, train_y, test_x, test_y = parts
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError(f"{folder}: images and labels differ in number")
    return ImageSet(train_x, train_y.astype(np.int64), test_x, test_y.astype(np.int64), FASHION_MNIST_CLASSES)
