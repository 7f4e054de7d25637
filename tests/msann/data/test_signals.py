"""Tests of msann.data.signals: audio-like 1-D denoising signals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msann.config import ConfigError, parse_config
from msann.data import DATASETS, Dataset, load_dataset, signals

ARRAYS = ("train_inputs", "train_targets", "val_inputs", "val_targets")


def _lag_one_autocorrelation(rows: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of every row (mean removed per row)."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    return (centred[:, 1:] * centred[:, :-1]).sum(axis=1) / (centred * centred).sum(axis=1)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return signals(length=512, n_train=400, n_val=100, seed=3)


def test_shapes_dtypes_values_and_metadata(data):
    assert DATASETS["signals"] is signals
    assert (data.name, data.n_train, data.n_val, data.dimension, data.unit_shape) == ("signals", 400, 100, 512, (512,))
    for name in ARRAYS:
        array = getattr(data, name)
        assert array.dtype == np.float32 and array.flags.c_contiguous
        assert array.min() >= 0.0 and array.max() <= 1.0
    metadata = data.metadata
    expected = {"length": 512, "notes": [1, 4], "periods": [4.0, 256.0], "decays": [32.0, 512.0],
                "amplitudes": [0.1, 0.4], "baseline": 0.03, "noise": 0.05, "n_train": 400, "n_val": 100, "seed": 3}
    assert {key: metadata[key] for key in expected} == expected
    assert metadata["noise_on"] == "inputs" and metadata["noise_kind"] == "gaussian"
    assert 0.0 <= metadata["clipped_fraction"]["train"] < 1e-3  # the fixed scale rarely clips
    json.dumps(metadata)


def test_same_seed_same_data_other_seed_other_data(data):
    again = signals(length=512, n_train=400, n_val=100, seed=3)
    other = signals(length=512, n_train=400, n_val=100, seed=4)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(data, name), getattr(again, name))
        assert not np.array_equal(getattr(data, name), getattr(other, name))


def test_train_and_validation_are_independent_streams(data):
    assert not np.array_equal(data.val_targets, data.train_targets[:100])
    bigger = signals(length=512, n_train=800, n_val=100, seed=3)  # validation does not depend on n_train
    np.testing.assert_array_equal(bigger.val_inputs, data.val_inputs)
    np.testing.assert_array_equal(bigger.val_targets, data.val_targets)


@pytest.mark.parametrize("noise", [0.02, 0.1])
def test_noise_is_on_the_inputs_only_with_the_requested_std(noise):
    noisy = signals(length=256, noise=noise, n_train=300, n_val=10, seed=5)
    clean = signals(length=256, noise=0.0, n_train=300, n_val=10, seed=5)
    np.testing.assert_array_equal(noisy.train_targets, clean.train_targets)  # the targets are the clean signals
    np.testing.assert_array_equal(clean.train_inputs, clean.train_targets)  # noise 0: inputs = targets
    difference = (noisy.train_inputs - noisy.train_targets).astype(np.float64)
    assert abs(difference.mean()) < 5 * noise / np.sqrt(difference.size)
    assert difference.std() == pytest.approx(noise, rel=0.02)  # clipping at 0 and 1 is rare


def test_signals_are_spatially_correlated(data):
    """Neighbouring samples are strongly correlated: what path-graph prolongations rely on."""
    targets = data.train_targets.astype(np.float64)
    correlation = _lag_one_autocorrelation(targets)
    shuffled = _lag_one_autocorrelation(np.random.default_rng(0).permuted(targets, axis=1))
    assert correlation.mean() > 0.8 and np.median(correlation) > 0.9
    assert abs(shuffled.mean()) < 0.05
    assert correlation.mean() - shuffled.mean() > 0.75


def test_examples_differ_in_loudness():
    """One fixed affine map for every example (no per-example min-max), so amplitudes survive."""
    quiet = signals(length=256, amplitudes=(0.02, 0.02), baseline=0.0, noise=0.0, n_train=50, n_val=2, seed=1)
    loud = signals(length=256, amplitudes=(0.1, 0.1), baseline=0.0, noise=0.0, n_train=50, n_val=2, seed=1)
    np.testing.assert_allclose(loud.train_targets - 0.5, 5 * (quiet.train_targets - 0.5), atol=1e-5)
    assert np.abs(quiet.train_targets - 0.5).max() <= 4 * 0.02 + 1e-6  # at most 4 notes of peak <= 0.02


def test_note_counts_and_a_single_int():
    silent = signals(length=128, amplitudes=(0.0, 0.0), baseline=0.0, noise=0.0, n_train=4, n_val=2)
    np.testing.assert_allclose(silent.train_targets, 0.5)
    exact = signals(length=128, notes=2, n_train=4, n_val=2)
    assert exact.metadata["notes"] == [2, 2]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"length": 1}, ValueError, "length must be >= 2; got length = 1"),
        ({"notes": (3, 2)}, ValueError, r"notes must be an int or a pair \(min, max\) of ints with 1 <= min <= max; "
                                        r"got notes = \(3, 2\)"),
        ({"notes": 0}, ValueError, "notes must be >= 1; got notes = 0"),
        ({"notes": (1, 2, 3)}, ValueError, r"got notes = \(1, 2, 3\)"),
        ({"notes": 1.5}, ValueError, "got notes = 1.5"),
        ({"periods": (1, 8)}, ValueError, r"periods must be a pair \(min, max\) of numbers with 2 <= min <= max; "
                                          r"got periods = \(1, 8\)"),
        ({"decays": (0, 8)}, ValueError, r"decays must be .* with 0 < min <= max; got decays = \(0, 8\)"),
        ({"amplitudes": (0.3, 0.1)}, ValueError, r"0 <= min <= max; got amplitudes = \(0.3, 0.1\)"),
        ({"amplitudes": "big"}, ValueError, "got amplitudes = 'big'"),
        ({"periods": (4, float("nan"))}, ValueError, "periods must be finite"),
        ({"baseline": -0.1}, ValueError, "baseline must be >= 0; got baseline = -0.1"),
        ({"noise": -0.05}, ValueError, "noise must be >= 0; got noise = -0.05"),
        ({"noise": "0.05"}, TypeError, "noise must be a real number; got str '0.05'"),
        ({"n_train": 0}, ValueError, "n_train must be >= 1; got n_train = 0"),
        ({"seed": -1}, ValueError, "seed must be >= 0; got seed = -1"),
    ],
)
def test_bad_options_are_refused_with_the_rule_and_value(options, error, message):
    with pytest.raises(error, match=message):
        signals(**{"length": 64, "n_train": 2, "n_val": 2, **options})


def test_load_dataset_by_name():
    direct = signals(length=64, n_train=3, n_val=2, seed=2)
    by_name = load_dataset("signals", seed=2, length=64, n_train=3, n_val=2)
    np.testing.assert_array_equal(by_name.train_inputs, direct.train_inputs)


def test_recipe_data_table():
    run = parse_config({"data": {"name": "signals", "length": 64, "notes": [2, 3], "periods": [4, 32], "noise": 0}},
                       source_name="r.toml").runs[0]
    assert run.data["noise"] == 0.0 and tuple(run.data["notes"]) == (2, 3) and run.data["amplitudes"] == (0.1, 0.4)
    assert set(run.data_options) == {"length", "notes", "periods", "decays", "amplitudes", "baseline", "noise",
                                     "n_train", "n_val"}
    loaded = load_dataset("signals", seed=0, **{**run.data_options, "n_train": 3, "n_val": 2})
    assert loaded.metadata["notes"] == [2, 3] and loaded.metadata["periods"] == [4.0, 32.0]
    assert parse_config({"data": {"name": "signals", "notes": 3}}).runs[0].data["notes"] == 3  # one int
    with pytest.raises(ConfigError, match=r"unknown key \[data\] nosie for dataset 'signals' \(valid keys: name, "
                                          r"amplitudes, baseline, decays, length, n_train, n_val, noise, notes, "
                                          r"periods\)"):
        parse_config({"data": {"name": "signals", "nosie": 0.1}}, source_name="r.toml")
    with pytest.raises(ConfigError, match=r"\[data\] notes must be of type int \| tuple\[int, int\] .*got str '3'"):
        parse_config({"data": {"name": "signals", "notes": "3"}}, source_name="r.toml")
