"""Tests of msann.data.fashion: Fashion-MNIST on a tiny fake folder and, where installed, the real one.

The fake labels are a function of their image (its first pixel mod 10), so that a label that leaves its
image (a subsample drawn apart, an off-by-one) is seen.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from msann.data import FASHION_MNIST_DIRECTORY, FASHION_MNIST_ENVIRONMENT_VARIABLE, fashion_mnist, read_idx, write_idx


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
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", _label_of(images["train"]))
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", _label_of(images["val"]))
    return images


def _label_of(images: np.ndarray) -> np.ndarray:
    """The fake label of each image: its first pixel mod 10 (so the labels are 0..9 and follow their images)."""
    return (images[:, 0, 0] % 10).astype(np.uint8)


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


# --------------------------------------------------------------------------- task = "classify"


@pytest.mark.parametrize("compressed", [True, False])
def test_classify_targets_are_the_one_hot_labels_of_the_same_images(tmp_path, compressed):
    images = _fake_fashion_mnist(tmp_path, compressed=compressed)
    data = fashion_mnist(directory=tmp_path, task="classify")
    autoencoder = fashion_mnist(directory=tmp_path)
    assert (data.classes, data.target_shape, data.dimension, data.unit_shape) == (10, (10,), 784, (28, 28))
    for split in ("train", "val"):
        inputs, targets = getattr(data, f"{split}_inputs"), getattr(data, f"{split}_targets")
        np.testing.assert_array_equal(inputs, getattr(autoencoder, f"{split}_inputs"))  # the same inputs as the autoencoder's
        assert targets.dtype == np.float32 and targets.flags.c_contiguous
        np.testing.assert_array_equal(targets, np.eye(10, dtype=np.float32)[_label_of(images[split])])
    assert data.metadata["task"] == "classify" and data.metadata["label_files"]["val"].startswith("t10k-labels-idx1-ubyte")
    assert autoencoder.classes is None and autoencoder.metadata["task"] == "autoencoder"
    json.dumps(data.metadata)


def test_classify_subsampling_keeps_images_and_labels_aligned(tmp_path):
    _fake_fashion_mnist(tmp_path, compressed=True, n_train=40, n_val=30)
    data = fashion_mnist(directory=tmp_path, task="classify", n_train=17, n_val=11, seed=3, pad_to=32)
    autoencoder = fashion_mnist(directory=tmp_path, n_train=17, n_val=11, seed=3, pad_to=32)
    for split, count in (("train", 17), ("val", 11)):
        inputs, targets = getattr(data, f"{split}_inputs"), getattr(data, f"{split}_targets")
        np.testing.assert_array_equal(inputs, getattr(autoencoder, f"{split}_inputs"))  # the same subset for both tasks
        first_pixel = np.rint(inputs.reshape(count, 32, 32)[:, 2, 2] * 255).astype(np.uint8)  # padded by 2
        np.testing.assert_array_equal(targets.argmax(axis=1), first_pixel % 10)
        assert len(np.unique(inputs, axis=0)) == count


def test_the_autoencoder_reads_no_label_file(tmp_path):
    _fake_fashion_mnist(tmp_path, compressed=True)
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).unlink()
    assert fashion_mnist(directory=tmp_path).n_train == 5


@pytest.mark.parametrize("removed", [("train-labels-idx1-ubyte",), ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte")])
def test_classify_missing_label_files_message(tmp_path, removed):
    _fake_fashion_mnist(tmp_path, compressed=True)
    for stem in removed:
        (tmp_path / f"{stem}.gz").unlink()
    with pytest.raises(FileNotFoundError) as error:
        fashion_mnist(directory=tmp_path, task="classify")
    message = str(error.value)
    wanted = " and ".join(f"{stem}[.gz]" for stem in removed)
    for part in (f"looked for {wanted} in {tmp_path}", "apt-get install dataset-fashion-mnist", "directory=",
                 FASHION_MNIST_ENVIRONMENT_VARIABLE):
        assert part in message


def test_classify_refuses_labels_outside_0_to_9_wrong_dtypes_and_counts(tmp_path):
    _fake_fashion_mnist(tmp_path, compressed=False)
    labels = read_idx(tmp_path / "t10k-labels-idx1-ubyte")
    bad = labels.copy()
    bad[2] = 10
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", bad)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: labels must lie in 0\.\.9; label 2 is 10"):
        fashion_mnist(directory=tmp_path, task="classify")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels.astype(np.int32))
    with pytest.raises(ValueError, match=r"expected uint8 labels of shape \(N,\); got dtype int32 and shape \(3,\)"):
        fashion_mnist(directory=tmp_path, task="classify")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:2])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: must hold one label per image; got 2 labels for the 3 "
                                         r"images of t10k-images-idx3-ubyte"):
        fashion_mnist(directory=tmp_path, task="classify")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    assert fashion_mnist(directory=tmp_path, task="classify").n_val == 3


def test_the_task_option_at_its_default_leaves_the_run_fingerprint_as_before():
    """Checkpoints of Fashion-MNIST autoencoders written before [data] task existed still resume."""
    from msann.config import parse_config
    from msann.core.checkpoint import fingerprint

    recipe = {"data": {"name": "fashion_mnist", "n_train": 100}, "model": {"widths": [784, 32, 784]}}
    run = parse_config(recipe).runs[0]
    # the fingerprint of this recipe before the key (msann at 6cfb3ee): a checkpoint of it must still resume
    assert fingerprint(run.fingerprint_dict()) == "85cb86368315211dde405f3163ac38d3778e2c5ce6758d3ea005b3a52dcf4dad"
    assert run.to_dict()["data"]["task"] == "autoencoder"  # reports name it
    classify = parse_config({**recipe, "data": {**recipe["data"], "task": "classify"}}).runs[0]
    assert classify.fingerprint_dict()["data"]["task"] == "classify"


def test_an_unknown_task_is_refused_before_the_files_are_looked_for(tmp_path):
    with pytest.raises(ValueError, match="unknown task 'regress'; valid tasks are: autoencoder, classify"):
        fashion_mnist(directory=tmp_path, task="regress")


@pytest.mark.skipif(not FASHION_MNIST_DIRECTORY.is_dir(), reason=f"{FASHION_MNIST_DIRECTORY} is not installed")
def test_real_fashion_mnist_subset():
    data = fashion_mnist(directory=FASHION_MNIST_DIRECTORY, n_train=100, n_val=50, pad_to=32)
    assert (data.n_train, data.n_val, data.unit_shape) == (100, 50, (32, 32))
    assert data.metadata["available"] == {"train": 60000, "val": 10000}
    assert 0.0 <= data.train_inputs.min() and data.train_inputs.max() <= 1.0
    assert data.train_inputs.max() > 0.5


@pytest.mark.skipif(not FASHION_MNIST_DIRECTORY.is_dir(), reason=f"{FASHION_MNIST_DIRECTORY} is not installed")
def test_real_fashion_mnist_labels():
    data = fashion_mnist(directory=FASHION_MNIST_DIRECTORY, task="classify", n_train=2000, n_val=50)
    counts = data.train_targets.sum(axis=0)
    assert data.classes == 10 and counts.sum() == 2000 and counts.min() > 100  # ten balanced classes
