"""Offline image sets: the IDX reader on files written here, and Debian's Fashion-MNIST where installed."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tasks.vision.datasets import DEBIAN_FASHION_MNIST, fashion_mnist, read_idx


def write_idx(path: Path, array: np.ndarray) -> Path:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.tobytes()
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def test_idx_round_trip_plain_and_gzipped(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a-idx3-ubyte", images)), images)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a-idx3-ubyte.gz", images)), images)
    big = np.array([1, -2, 70000], dtype=">i4")
    assert read_idx(write_idx(tmp_path / "b-idx1-ubyte", big)).tolist() == [1, -2, 70000]


def test_idx_rejects_what_is_not_idx(tmp_path):
    (tmp_path / "x").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "x")
    truncated = write_idx(tmp_path / "t", np.zeros((4, 2, 2), np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:-3])
    with pytest.raises(ValueError, match="header says"):
        read_idx(truncated)


def test_fashion_mnist_from_a_folder_and_a_clear_error_without_one(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("t10k", 4)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    data = fashion_mnist(tmp_path)
    assert data.train_x.shape == (6, 28, 28) and data.test_y.shape == (4,) and len(data.classes) == 10
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        fashion_mnist(tmp_path / "nowhere")


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_is_the_real_set():
    data = fashion_mnist()
    assert data.train_x.shape == (60_000, 28, 28) and data.test_x.shape == (10_000, 28, 28)
    assert np.bincount(data.test_y).tolist() == [1000] * 10


def test_fashion_mnist_is_checked_where_it_is_looked_for(tmp_path, monkeypatch):
    from bench.registry import missing_data
    from tasks.vision.datasets import fashion_mnist_missing
    from tasks.vision.specs import FASHION_MNIST

    monkeypatch.setenv("TRANSFERBENCH_FASHION_MNIST", str(tmp_path))
    assert "not found in " + str(tmp_path) in missing_data(FASHION_MNIST)
    assert "apt-get install dataset-fashion-mnist" in fashion_mnist_missing()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (tmp_path / f"{stem}.gz").write_bytes(b"")
    assert "t10k-labels-idx1-ubyte" in missing_data(FASHION_MNIST)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"")
    assert missing_data(FASHION_MNIST) is None
