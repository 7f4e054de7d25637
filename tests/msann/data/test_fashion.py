"""Tests of msann.data.fashion: Fashion-MNIST on a tiny fake folder and, where installed, the real one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from msann.data import FASHION_MNIST_DIRECTORY, FASHION_MNIST_ENVIRONMENT_VARIABLE, fashion_mnist, write_idx


def _fake_fashion_mnist(folder: Path, *, compressed: bool, n_train: int = 5, n_val: int = 3) -> dict:
    rng = np.random.default_rng(0)
    suffix = ".gz" if compressed else ""
    images = {
        "train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "val": rng.integers(0, 256, size=(n_val, 28, 28), dtype=np.uint8),
    }
    images["train"][0] = 255  # one all-white image: scaled to exactly 1
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", images["train"])
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", images["val"])
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_train, dtype=np.uint8))
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_val, dtype=np.uint8))
    return images


@pytest.mark.parametrize("compressed", [True, False])
def test_fashion_mnist_fake_folder(tmp_path, compressed):
    images = _fake_fashion_mnist(tmp_path, compressed=compressed)
    data = fashion_mnist(directory=tmp_path)
    assert (data.n_train, data.n_val, data.dimension, data.unit_shape) == (5, 3, 784, (28, 28))
    assert data.train_targets is data.train_inputs and data.val_targets is data.val_inputs
    assert data.train_inputs.dtype == np.float32
    np.testing.assert_allclose(data.train_inputs, images["train"].reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(data.val_inputs, images["val"].reshape(3, -1) / 255.0, rtol=1e-6)
    assert data.train_inputs[0].min() == 1.0 and 0.0 <= data.train_inputs.min()
    assert data.metadata["validation_split"].startswith("t10k")
    json.dumps(data.metadata)


def test_fashion_mnist_pad_to_32(tmp_path):
    images = _fake_fashion_mnist(tmp_path, compressed=True)
    data = fashion_mnist(directory=tmp_path, pad_to=32)
    assert data.unit_shape == (32, 32) and data.dimension == 1024
    grid = data.train_inputs.reshape(5, 32, 32)
    np.testing.assert_allclose(grid[:, 2:30, 2:30], images["train"] / 255.0, rtol=1e-6)
    border = np.ones((32, 32), dtype=bool)
    border[2:30, 2:30] = False
    assert np.all(grid[:, border] == 0.0)
    with pytest.raises(ValueError, match=r"pad_to must be >= the image size \(28, 28\); got pad_to = 27"):
        fashion_mnist(directory=tmp_path, pad_to=27)


def test_fashion_mnist_subsampling(tmp_path):
    images = _fake_fashion_mnist(tmp_path, compressed=False, n_train=9, n_val=6)
    first = fashion_mnist(directory=tmp_path, n_train=4, n_val=2, seed=1)
    again = fashion_mnist(directory=tmp_path, n_train=4, n_val=2, seed=1)
    assert (first.n_train, first.n_val) == (4, 2)
    np.testing.assert_array_equal(first.train_inputs, again.train_inputs)
    # every chosen row is a distinct image of the file
    flat = images["train"].reshape(9, -1) / 255.0
    chosen = [int(np.argmin(np.abs(flat - row).sum(axis=1))) for row in first.train_inputs]
    assert len(set(chosen)) == 4
    others = [fashion_mnist(directory=tmp_path, n_train=4, n_val=2, seed=seed) for seed in range(2, 6)]
    assert any(not np.array_equal(other.train_inputs, first.train_inputs) for other in others)
    with pytest.raises(ValueError, match="n_val must be <= the 6 images available; got n_val = 7"):
        fashion_mnist(directory=tmp_path, n_val=7)


def test_fashion_mnist_missing_files_message(tmp_path, monkeypatch):
    monkeypatch.delenv(FASHION_MNIST_ENVIRONMENT_VARIABLE, raising=False)
    with pytest.raises(FileNotFoundError) as error:
        fashion_mnist(directory=tmp_path)
    message = str(error.value)
    for part in (str(tmp_path), "train-images-idx3-ubyte[.gz]", "t10k-images-idx3-ubyte[.gz]",
                 "apt-get install dataset-fashion-mnist", "directory="):
        assert part in message
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), dtype=np.uint8))
    with pytest.raises(FileNotFoundError, match=r"looked for t10k-images-idx3-ubyte\[\.gz\] in"):
        fashion_mnist(directory=tmp_path)


def test_fashion_mnist_environment_variable(tmp_path, monkeypatch):
    _fake_fashion_mnist(tmp_path, compressed=True)
    monkeypatch.setenv(FASHION_MNIST_ENVIRONMENT_VARIABLE, str(tmp_path))
    assert fashion_mnist().metadata["directory"] == str(tmp_path)


def test_fashion_mnist_rejects_wrong_content(tmp_path):
    _fake_fashion_mnist(tmp_path, compressed=False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 20, 20), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"same size; got \(28, 28\).*\(20, 20\)"):
        fashion_mnist(directory=tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 784), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: expected .*uint8 images.*shape \(3, 784\)"):
        fashion_mnist(directory=tmp_path)


@pytest.mark.skipif(not FASHION_MNIST_DIRECTORY.is_dir(), reason=f"{FASHION_MNIST_DIRECTORY} is not installed")
def test_real_fashion_mnist_subset():
    data = fashion_mnist(directory=FASHION_MNIST_DIRECTORY, n_train=100, n_val=50, pad_to=32)
    assert (data.n_train, data.n_val, data.unit_shape) == (100, 50, (32, 32))
    assert data.metadata["available"] == {"train": 60000, "val": 10000}
    assert 0.0 <= data.train_inputs.min() and data.train_inputs.max() <= 1.0
    assert data.train_inputs.max() > 0.5
