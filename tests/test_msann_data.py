"""Tests of msann.data: synthetic vectors, IDX files, Fashion-MNIST, npz, minibatch stream."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from msann.data import (
    DATASETS,
    FASHION_MNIST_DIRECTORY,
    FASHION_MNIST_ENVIRONMENT_VARIABLE,
    Dataset,
    MinibatchStream,
    fashion_mnist,
    load_dataset,
    npz,
    one_object,
    read_idx,
    two_object,
    write_idx,
)


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every maximal run of ones in a 0/1 vector (slow reference)."""
    runs, start = [], None
    for index, value in enumerate(list(row) + [0]):
        if value == 1 and start is None:
            start = index
        elif value != 1 and start is not None:
            runs.append((start, index - start))
            start = None
    return runs


def _binomial_tolerance(p: float, trials: int) -> float:
    """Five binomial standard deviations of a frequency over ``trials`` trials."""
    return 5.0 * math.sqrt(p * (1.0 - p) / trials)


# ---------------------------------------------------------------------------
# synthetic vectors


@pytest.mark.parametrize("factory", [one_object, two_object])
def test_object_data_shapes_dtypes_values(factory):
    data = factory(length=64, n_train=50, n_val=20, seed=1)
    assert isinstance(data, Dataset)
    assert (data.n_train, data.n_val, data.dimension, data.unit_shape) == (50, 20, 64, (64,))
    for array in (data.train_inputs, data.train_targets, data.val_inputs, data.val_targets):
        assert array.dtype == np.float32 and array.flags.c_contiguous
        assert set(np.unique(array)) <= {0.0, 1.0}
    assert data.metadata["run_length"] == 8 and data.metadata["seed"] == 1
    json.dumps(data.metadata)


def test_one_object_clean_vectors_have_exactly_one_run():
    data = one_object(length=40, run_length=7, n_train=200, n_val=50, seed=2)
    for targets in (data.train_targets, data.val_targets):
        for row in targets:
            assert _runs(row) == [(_runs(row)[0][0], 7)]
    starts = np.array([_runs(row)[0][0] for row in data.train_targets])
    # uniform over the 34 placements 0..33: both ends are reachable and used
    assert starts.min() == 0 and starts.max() == 33


def test_two_object_clean_vectors_have_two_separated_runs():
    length, run_length = 20, 6  # 2 * 6 + 1 = 13 <= 20: 8 free zeros, C(10, 2) = 45 placements
    data = two_object(length=length, run_length=run_length, n_train=3000, n_val=10, seed=3)
    placements = set()
    for row in data.train_targets:
        runs = _runs(row)
        assert [size for _, size in runs] == [run_length, run_length]  # two runs, not touching
        assert runs[1][0] - (runs[0][0] + run_length) >= 1
        placements.add((runs[0][0], runs[1][0]))
    assert len(placements) == math.comb(length - 2 * run_length - 1 + 2, 2)


def test_two_object_impossible_sizes_are_rejected():
    with pytest.raises(ValueError, match=r"2 \* run_length \+ 1 <= length.*length = 12, run_length = 6"):
        two_object(length=12, run_length=6, n_train=2, n_val=2)
    with pytest.raises(ValueError, match="run_length = 9"):
        one_object(length=8, run_length=9, n_train=2, n_val=2)


def test_fire_noise_rate_and_clean_targets():
    p = 0.05
    data = one_object(length=256, noise=p, n_train=400, n_val=100, seed=4)
    x, y = data.train_inputs, data.train_targets
    zeros = y == 0
    rate = (x[zeros] == 1).mean()
    assert abs(rate - p) < _binomial_tolerance(p, zeros.sum())
    assert np.all(x[~zeros] == 1)  # firing never turns an object pixel off
    for row in y:  # targets noise-free
        assert [size for _, size in _runs(row)] == [32]


def test_flip_noise_rate():
    p = 0.1
    data = two_object(length=128, noise=p, noise_kind="flip", n_train=300, n_val=10, seed=5)
    flipped = data.train_inputs != data.train_targets
    assert abs(flipped.mean() - p) < _binomial_tolerance(p, flipped.size)
    ones = data.train_targets == 1
    assert abs(flipped[ones].mean() - p) < _binomial_tolerance(p, ones.sum())  # ones are flipped too


def test_zero_noise_gives_inputs_equal_targets():
    data = one_object(length=32, noise=0.0, n_train=10, n_val=5)
    np.testing.assert_array_equal(data.train_inputs, data.train_targets)


def test_object_data_determinism_and_seed_dependence():
    first = two_object(length=64, n_train=30, n_val=10, seed=7)
    again = two_object(length=64, n_train=30, n_val=10, seed=7)
    other = two_object(length=64, n_train=30, n_val=10, seed=8)
    for name in ("train_inputs", "train_targets", "val_inputs", "val_targets"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
        assert not np.array_equal(getattr(first, name), getattr(other, name))
    # validation is an independent stream: not a copy of training, and not dependent on n_train
    assert not np.array_equal(first.val_targets, first.train_targets[:10])
    bigger = two_object(length=64, n_train=60, n_val=10, seed=7)
    np.testing.assert_array_equal(bigger.val_inputs, first.val_inputs)


def test_object_data_option_errors():
    with pytest.raises(ValueError, match=r"noise must lie in \[0, 1\]; got noise = 1.5"):
        one_object(noise=1.5, n_train=2, n_val=2)
    with pytest.raises(ValueError, match="valid noise_kinds are: fire, flip"):
        one_object(noise_kind="salt", n_train=2, n_val=2)
    with pytest.raises(ValueError, match="n_train must be >= 1; got n_train = 0"):
        one_object(n_train=0)


# ---------------------------------------------------------------------------
# Dataset record and registry


def test_dataset_validates_arrays():
    good = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="float32"):
        Dataset("x", good.astype(np.float64), good, good, good, (4,))
    with pytest.raises(ValueError, match=r"product is d = 4; got unit_shape = \(3, 2\)"):
        Dataset("x", good, good, good, good, (3, 2))
    with pytest.raises(ValueError, match="same number N >= 1 of rows; got 3 and 2"):
        Dataset("x", good, good[:2], good, good, (4,))
    assert Dataset("x", good, good, good, good, [2, 2]).unit_shape == (2, 2)


def test_load_dataset_registry_and_errors():
    assert set(DATASETS) == {"one_object", "two_object", "fashion_mnist", "npz", "poisson"}
    data = load_dataset("one_object", seed=9, length=16, n_train=4, n_val=2)
    direct = one_object(length=16, n_train=4, n_val=2, seed=9)
    np.testing.assert_array_equal(data.train_inputs, direct.train_inputs)
    with pytest.raises(ValueError, match="valid datasets are: fashion_mnist, npz, one_object, poisson, two_object"):
        load_dataset("mnist")
    with pytest.raises(TypeError, match="unknown option.* lenght .*valid options are: length, n_train"):
        load_dataset("one_object", lenght=16)
    with pytest.raises(TypeError, match="needs option.* path"):
        load_dataset("npz")


# ---------------------------------------------------------------------------
# IDX files


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(7, dtype=np.uint8),
        np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5),
        np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
        np.arange(-6, 6, dtype=np.int32).reshape(2, 2, 3),
    ],
)
def test_idx_round_trip(tmp_path, suffix, array):
    path = write_idx(tmp_path / f"data-idx{suffix}", array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    compressed = path.read_bytes()[:2] == b"\x1f\x8b"
    assert compressed == (suffix == ".gz")


def test_idx_header_layout(tmp_path):
    # the standard MNIST label-file header: 0x00000801, then N big-endian
    path = write_idx(tmp_path / "labels-idx1-ubyte", np.array([3, 1, 4], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])


def test_write_idx_rejects_unsupported(tmp_path):
    with pytest.raises(ValueError, match="got dtype int64"):
        write_idx(tmp_path / "x", np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        write_idx(tmp_path / "x", np.uint8(3))


def test_corrupt_idx_errors(tmp_path):
    good = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    payload = write_idx(tmp_path / "good", good).read_bytes()
    cases = {
        "magic": (b"\x01\x02" + payload[2:], "bad magic number 0x0102"),
        "code": (payload[:2] + b"\x07" + payload[3:], "unknown type code 0x07"),
        "header": (payload[:9], "truncated header"),
        "truncated": (payload[:-5], "truncated data.*needs 24 bytes.*found 19"),
        "trailing": (payload + b"\x00\x00", "size mismatch.*2 trailing bytes"),
        "gzip": (gzip.compress(payload)[:-10], "corrupt or truncated gzip"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / f"{name}-idx3-ubyte"
        path.write_bytes(content)
        with pytest.raises(ValueError, match=message) as error:
            read_idx(path)
        assert str(path) in str(error.value)


# ---------------------------------------------------------------------------
# Fashion-MNIST on a tiny fake folder


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


# ---------------------------------------------------------------------------
# npz files


def test_npz_with_and_without_validation(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((20, 6))
    np.savez(tmp_path / "split.npz", X=X)
    data = npz(path=tmp_path / "split.npz", shape=[2, 3], val_fraction=0.25, seed=1)
    assert (data.n_train, data.n_val, data.unit_shape) == (15, 5, (2, 3))
    assert data.train_targets is data.train_inputs
    together = np.concatenate([data.train_inputs, data.val_inputs])
    np.testing.assert_allclose(np.sort(together, axis=0), np.sort(X.astype(np.float32), axis=0))
    other = npz(path=tmp_path / "split.npz", val_fraction=0.25, seed=2)
    assert not np.array_equal(other.val_inputs, data.val_inputs)
    assert other.unit_shape == (6,)
    np.savez(tmp_path / "given.npz", X=X, X_val=X[:3] > 0.5)
    given = npz(path=tmp_path / "given.npz")
    assert (given.n_train, given.n_val) == (20, 3)
    np.testing.assert_array_equal(given.val_inputs, (X[:3] > 0.5).astype(np.float32))
    json.dumps(given.metadata)


def test_npz_errors(tmp_path):
    def save(name, **arrays):
        np.savez(tmp_path / name, **arrays)
        return tmp_path / name

    good = np.full((4, 3), 0.5)
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        npz(path=tmp_path / "absent.npz")
    with pytest.raises(ValueError, match="must hold an array named X.*found arrays: Y"):
        npz(path=save("noX.npz", Y=good))
    with pytest.raises(ValueError, match=r"array X must be 2-D.*ndim = 3"):
        npz(path=save("ndim.npz", X=good.reshape(4, 3, 1)))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]; got min = -0.5, max = 2"):
        npz(path=save("range.npz", X=np.array([[-0.5, 2.0], [0.1, 0.2]])))
    with pytest.raises(ValueError, match="must be finite; found 1 NaN and 0 infinite"):
        npz(path=save("nan.npz", X=np.array([[np.nan, 0.2], [0.1, 0.2]])))
    with pytest.raises(ValueError, match="X_val must have the same d as X; got d = 2 for X_val and 3 for X"):
        npz(path=save("dval.npz", X=good, X_val=good[:, :2]))
    with pytest.raises(ValueError, match=r"shape must have product equal to d = 3; got shape = \(2, 2\)"):
        npz(path=save("shape.npz", X=good), shape=(2, 2))
    with pytest.raises(ValueError, match="leave >= 1 validation and >= 1 training example of N = 4"):
        npz(path=save("fraction.npz", X=good), val_fraction=0.01)
    np.save(tmp_path / "plain.npy", good)
    with pytest.raises(ValueError, match="must be an .npz archive"):
        npz(path=tmp_path / "plain.npy")


# ---------------------------------------------------------------------------
# Minibatch stream


def _indexed_stream(n: int, batch_size: int, seed: int = 0) -> MinibatchStream:
    """A stream whose inputs hold each example's index, and targets twice it."""
    inputs = np.arange(n, dtype=np.float32)[:, None]
    return MinibatchStream(inputs, 2 * inputs, batch_size=batch_size, seed=seed)


@pytest.mark.parametrize("n, batch_size", [(12, 4), (10, 3), (7, 7), (5, 1)])
def test_stream_covers_every_example_once_per_epoch(n, batch_size):
    stream = _indexed_stream(n, batch_size)
    epochs = 3
    batches = [next(stream) for _ in range(epochs * n // batch_size)]
    served = torch.cat([x for x, _ in batches]).flatten().long().numpy()
    assert all(x.shape == (batch_size, 1) for x, _ in batches)  # every batch full size
    assert all(torch.equal(y, 2 * x) for x, y in batches)  # inputs and targets stay paired
    for epoch in range(epochs):
        assert sorted(served[epoch * n : (epoch + 1) * n]) == list(range(n))
    assert stream.examples_seen == len(served)
    orders = {tuple(served[epoch * n : (epoch + 1) * n]) for epoch in range(epochs)}
    assert n < 5 or len(orders) > 1  # reshuffled every epoch


def test_stream_resume_matches_uninterrupted():
    reference = _indexed_stream(10, 3, seed=4)
    expected = [next(reference)[0] for _ in range(20)]
    interrupted = _indexed_stream(10, 3, seed=4)
    for _ in range(7):  # stops mid-epoch, after a batch that crossed an epoch boundary
        next(interrupted)
    state = json.loads(json.dumps(interrupted.state_dict()))  # plain data
    assert (state["epoch"], state["position"]) == (2, 1)
    resumed = _indexed_stream(10, 3, seed=99)  # the seed is overridden by the state
    resumed.load_state_dict(state)
    for index in range(7, 20):
        assert torch.equal(next(resumed)[0], expected[index])


def test_stream_determinism_and_shared_targets():
    data = one_object(length=16, noise=0.0, n_train=20, n_val=2)
    first = MinibatchStream(data.train_inputs, data.train_inputs, batch_size=5, seed=1)
    again = MinibatchStream(data.train_inputs, data.train_inputs, batch_size=5, seed=1)
    other = MinibatchStream(data.train_inputs, data.train_inputs, batch_size=5, seed=2)
    a, b, c = (torch.cat([next(stream)[0] for _ in range(4)]) for stream in (first, again, other))
    assert torch.equal(a, b) and not torch.equal(a, c)
    x, y = next(first)
    assert x.dtype == torch.float32 and x.device == torch.device("cpu") and torch.equal(x, y)


def test_stream_errors():
    inputs = np.zeros((6, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="batch_size must be <= N = 6 examples; got batch_size = 7"):
        MinibatchStream(inputs, inputs, batch_size=7, seed=0)
    with pytest.raises(ValueError, match="same number N >= 1 of rows; got 6 and 5"):
        MinibatchStream(inputs, inputs[:5], batch_size=2, seed=0)
    stream = MinibatchStream(inputs, inputs, batch_size=2, seed=0)
    state = stream.state_dict()
    with pytest.raises(ValueError, match="saved with batch_size = 2; this stream has batch_size = 3"):
        MinibatchStream(inputs, inputs, batch_size=3, seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="lacks generator_state"):
        stream.load_state_dict({key: value for key, value in state.items() if key != "generator_state"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_stream_on_cuda_matches_cpu():
    data = one_object(length=32, n_train=40, n_val=2)
    cpu = MinibatchStream(data.train_inputs, data.train_targets, batch_size=16, seed=3)
    gpu = MinibatchStream(data.train_inputs, data.train_targets, batch_size=16, seed=3, device="cuda")
    for _ in range(5):
        (x_cpu, y_cpu), (x_gpu, y_gpu) = next(cpu), next(gpu)
        assert x_gpu.is_cuda and torch.equal(x_gpu.cpu(), x_cpu) and torch.equal(y_gpu.cpu(), y_cpu)
