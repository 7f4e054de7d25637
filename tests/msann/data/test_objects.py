"""Tests of msann.data.objects: synthetic 1-object and 2-object vectors and their noise."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from msann.data import Dataset, one_object, two_object


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
