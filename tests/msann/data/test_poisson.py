"""The Poisson benchmark data (msann.data.poisson, msann.data.poisson_cache): generation, cache, split, conversion."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from msann.data import poisson, poisson_cache
from msann.data.poisson import INPUT_CHANNELS, generate_poisson_data, split, to_dataset
from msann.data.poisson_solver import (coefficient, node_coordinates, poisson_matrix, sample_parameters, solve_poisson,
                                        source_term)


# --------------------------------------------------------------------------- data generation and cache


def test_generated_data_shapes_channels_and_solutions(tmp_path):
    data = generate_poisson_data(6, grid_size=8, seed=1, cache_dir=tmp_path)
    M = 8
    assert data.inputs.shape == (6, 4 * M * M) and data.inputs.dtype == np.float32
    assert data.outputs.shape == (6, M * M) and data.outputs.dtype == np.float32
    assert data.parameters.shape == (6, 5) and data.input_shape == (4, M, M)
    images = data.inputs.reshape(6, 4, M, M)
    X, Y = node_coordinates(M)
    np.testing.assert_allclose(images[:, 0], coefficient(data.parameters, M), rtol=1e-6)
    np.testing.assert_allclose(images[:, 1], np.broadcast_to(source_term(M), (6, M, M)), rtol=1e-6)
    np.testing.assert_allclose(images[:, 2], np.broadcast_to(X, (6, M, M)), atol=1e-7)
    np.testing.assert_allclose(images[:, 3], np.broadcast_to(Y, (6, M, M)), atol=1e-7)
    for k in range(6):
        u = solve_poisson(coefficient(data.parameters[k], M), source_term(M))
        np.testing.assert_allclose(data.outputs[k], u.ravel(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(data.kappa, images[:, 0])


@pytest.mark.parametrize("kind", sorted(INPUT_CHANNELS))
def test_input_choices_share_the_cache_and_differ_only_in_channels(tmp_path, kind):
    full = generate_poisson_data(3, grid_size=6, seed=0, cache_dir=tmp_path)
    data = generate_poisson_data(3, grid_size=6, seed=0, inputs=kind, cache_dir=tmp_path)
    channels = len(INPUT_CHANNELS[kind])
    assert data.inputs.shape == (3, channels * 36)
    np.testing.assert_array_equal(data.inputs, full.inputs[:, : channels * 36])
    np.testing.assert_array_equal(data.outputs, full.outputs)
    assert len(list(tmp_path.glob("*.npz"))) == 1


def test_same_seed_same_data_different_seed_different_data(tmp_path):
    first = generate_poisson_data(4, grid_size=6, seed=3, cache=False)
    second = generate_poisson_data(4, grid_size=6, seed=3, cache=False)
    other = generate_poisson_data(4, grid_size=6, seed=4, cache=False)
    np.testing.assert_array_equal(first.inputs, second.inputs)
    np.testing.assert_array_equal(first.outputs, second.outputs)
    assert not np.allclose(first.parameters, other.parameters)
    # a prefix of a larger draw is the smaller draw (one rng stream)
    np.testing.assert_array_equal(generate_poisson_data(6, grid_size=6, seed=3, cache=False).parameters[:4], first.parameters)


class _CountingSolver:
    def __init__(self, monkeypatch):
        self.calls = 0
        original = poisson._solve_all

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(poisson, "_solve_all", counted)


def test_cache_hit_returns_identical_arrays_without_solving(tmp_path, monkeypatch):
    solver = _CountingSolver(monkeypatch)
    first = generate_poisson_data(5, grid_size=6, seed=2, cache_dir=tmp_path)
    assert solver.calls == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = generate_poisson_data(5, grid_size=6, seed=2, cache_dir=tmp_path)
    assert solver.calls == 1
    for name in ("parameters", "inputs", "outputs"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    generate_poisson_data(5, grid_size=6, seed=9, cache_dir=tmp_path)  # another key
    generate_poisson_data(5, grid_size=6, seed=2, face_mean="harmonic", cache_dir=tmp_path)
    assert solver.calls == 3
    assert len(list(tmp_path.glob("poisson-*.npz"))) == 3


def test_cache_directory_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(poisson_cache.CACHE_ENVIRONMENT_VARIABLE, str(tmp_path / "env"))
    generate_poisson_data(2, grid_size=5, seed=0)
    assert len(list((tmp_path / "env").glob("poisson-*.npz"))) == 1
    assert poisson_cache.cache_directory(tmp_path / "arg") == tmp_path / "arg"


def _flip_bytes(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 16] = bytes(b ^ 0xFF for b in raw[middle : middle + 16])
    path.write_bytes(bytes(raw))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _garbage(path: Path) -> None:
    path.write_bytes(b"not an npz file")


def _tamper(path: Path) -> None:
    """A well-formed file whose solutions were changed after the checksum was taken."""
    with np.load(path) as archive:
        contents = {name: np.array(archive[name]) for name in archive.files}
    contents["solutions"][0, 0] += 1.0
    np.savez(path, **contents)


@pytest.mark.parametrize("damage", [_flip_bytes, _truncate, _garbage, _tamper], ids=lambda f: f.__name__.strip("_"))
def test_damaged_cache_file_warns_and_is_regenerated(tmp_path, monkeypatch, damage):
    reference = generate_poisson_data(5, grid_size=6, seed=2, cache_dir=tmp_path)
    (path,) = tmp_path.glob("poisson-*.npz")
    damage(path)
    solver = _CountingSolver(monkeypatch)
    with pytest.warns(UserWarning, match=rf"{path.name}.*unusable"):
        regenerated = generate_poisson_data(5, grid_size=6, seed=2, cache_dir=tmp_path)
    assert solver.calls == 1
    np.testing.assert_array_equal(regenerated.outputs, reference.outputs)
    np.testing.assert_array_equal(regenerated.inputs, reference.inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generate_poisson_data(5, grid_size=6, seed=2, cache_dir=tmp_path)  # the overwritten file is good
    assert solver.calls == 1


def test_progress_bar_only_when_asked_or_on_a_terminal(tmp_path, capsys, monkeypatch):
    generate_poisson_data(3, grid_size=5, seed=0, cache=False)
    assert "Poisson samples" not in capsys.readouterr().err  # stderr is not a terminal under pytest
    generate_poisson_data(3, grid_size=5, seed=0, cache=False, progress=True)
    assert "Poisson samples" in capsys.readouterr().err


# --------------------------------------------------------------------------- split and conversion


def test_split_is_a_seeded_partition():
    data = generate_poisson_data(20, grid_size=5, seed=0, cache=False)
    train, validation = split(data, val_fraction=0.25, seed=1)
    assert (train.n_samples, validation.n_samples) == (15, 5)
    rows = np.concatenate([train.parameters, validation.parameters])
    assert sorted(map(tuple, rows)) == sorted(map(tuple, data.parameters))
    again_train, again_validation = split(data, val_fraction=0.25, seed=1)
    np.testing.assert_array_equal(validation.outputs, again_validation.outputs)
    _, other = split(data, val_fraction=0.25, seed=2)
    assert not np.array_equal(other.parameters, validation.parameters)
    assert split(data, n_val=3)[1].n_samples == 3


def test_to_dataset(tmp_path):
    pytest.importorskip("msann.data")
    data = generate_poisson_data(10, grid_size=5, seed=0, inputs="kappa", cache=False)
    dataset = to_dataset(data, n_val=2, seed=0)
    assert dataset.train_inputs.shape == (8, 25) and dataset.val_inputs.shape == (2, 25)
    assert dataset.train_targets.shape == (8, 25) and dataset.val_targets.dtype == np.float32
    assert tuple(dataset.unit_shape) == (1, 5, 5)
    assert dataset.metadata["target_shape"] == [5, 5] and dataset.metadata["channels"] == ["kappa"]
    json.dumps(dataset.metadata)
    assert dataset.target_shape == (5, 5)
    full = to_dataset(generate_poisson_data(10, grid_size=5, seed=0, cache=False), n_val=2, seed=0)
    assert full.train_inputs.shape == (8, 4 * 25) and full.train_targets.shape == (8, 25)  # kappa, f, x, y -> u
    assert full.unit_shape == (4, 5, 5) and full.target_shape == (5, 5)
    train, validation = split(data, n_val=2, seed=0)
    np.testing.assert_array_equal(dataset.val_targets, validation.outputs)
    np.testing.assert_array_equal(dataset.train_inputs, train.inputs)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: generate_poisson_data(0, cache=False), ValueError, "n_samples must be >= 1; got n_samples = 0"),
        (lambda: generate_poisson_data(2, grid_size=2, cache=False), ValueError, "grid_size must be >= 3; got grid_size = 2"),
        (lambda: generate_poisson_data(2, grid_size=4.0, cache=False), TypeError, "grid_size must be an integer"),
        (lambda: generate_poisson_data(2, inputs="kappa_u", cache=False), ValueError, "valid input choices are: kappa, kappa_f, kappa_f_coords"),
        (lambda: generate_poisson_data(2, face_mean="geometric", cache=False), ValueError, "valid face means are: arithmetic, harmonic"),
        (lambda: generate_poisson_data(2, seed=-1, cache=False), ValueError, "seed must be >= 0"),
        (lambda: solve_poisson(np.ones((2, 2)), np.ones((2, 2))), ValueError, "grid_size must be >= 3"),
        (lambda: solve_poisson(np.ones((4, 5)), np.ones((4, 5))), ValueError, r"square M x M .* got shape \(4, 5\)"),
        (lambda: solve_poisson(np.ones((4, 4)), np.ones((5, 5))), ValueError, r"f must have the shape of kappa \(4, 4\); got \(5, 5\)"),
        (lambda: poisson_matrix(np.pad(np.ones((3, 3)), 1, constant_values=-0.5)), ValueError, "kappa must be > 0 at every node.*min kappa = -0.5"),
        (lambda: poisson_matrix(np.zeros((4, 4))), ValueError, "kappa must be > 0"),
        (lambda: poisson_matrix(np.full((4, 4), np.nan)), ValueError, "kappa must have finite entries"),
        (lambda: coefficient(np.ones(4), 5), ValueError, r"shape \(5,\) or \(n, 5\).*got shape \(4,\)"),
        (lambda: sample_parameters(0), ValueError, "n must be >= 1"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_bad_split_arguments():
    data = generate_poisson_data(4, grid_size=4, seed=0, cache=False)
    with pytest.raises(ValueError, match=r"val_fraction must lie in \(0, 1\); got val_fraction = 1.5"):
        split(data, val_fraction=1.5)
    with pytest.raises(ValueError, match="n_val must be < n_samples"):
        split(data, n_val=4)
    with pytest.raises(ValueError, match="at least 2 samples"):
        split(data.subset([0]))


def test_poisson_dataset_is_generate_then_split(tmp_path):
    pytest.importorskip("msann.data")
    dataset = poisson.poisson_dataset(n_samples=6, grid_size=4, inputs="kappa", n_val=2, cache_dir=tmp_path, seed=5)
    expected = to_dataset(generate_poisson_data(6, grid_size=4, seed=5, inputs="kappa", cache_dir=tmp_path), n_val=2, seed=5)
    for name in ("train_inputs", "train_targets", "val_inputs", "val_targets"):
        np.testing.assert_array_equal(getattr(dataset, name), getattr(expected, name))
    assert dataset.metadata == expected.metadata


def test_unwritable_cache_warns_and_still_returns_the_data(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="could not write the Poisson data cache file"):
        data = generate_poisson_data(3, grid_size=5, seed=0, cache_dir=blocker / "cache")
    np.testing.assert_array_equal(data.outputs, generate_poisson_data(3, grid_size=5, seed=0, cache=False).outputs)
