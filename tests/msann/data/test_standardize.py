"""Per-feature standardisation ([data] standardize; msann.data.standardize) on the Poisson benchmark.

Asserted: the training split has mean 0 and std 1 per non-constant feature,
constant features (boundary nodes, the f/x/y channels) are centred with scale
1, validation uses the training statistics, the map is undone up to float32
rounding, and errors measured through :func:`original_units` are the errors in
the data's original units.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from msann.core.metrics import field_errors
from msann.data import load_dataset
from msann.data.poisson import generate_poisson_data, to_dataset
from msann.data.standardize import CONSTANT_FEATURE_TOLERANCE, original_units, restore, statistics

EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def pair():
    data = generate_poisson_data(24, grid_size=6, seed=2, cache=False)
    return to_dataset(data, n_val=6, seed=2), to_dataset(data, n_val=6, seed=2, standardize=True)


def _arrays(dataset):
    return {"inputs": (dataset.train_inputs, dataset.val_inputs), "targets": (dataset.train_targets, dataset.val_targets)}


def test_training_split_has_mean_0_and_std_1_per_non_constant_feature(pair):
    plain, scaled = pair
    for kind, (train, _) in _arrays(plain).items():
        std = train.astype(np.float64).std(axis=0)
        varying = std > CONSTANT_FEATURE_TOLERANCE * std.max()
        assert 0 < varying.sum() < train.shape[1]  # both kinds occur: kappa and interior u vary, f, x, y and the boundary do not
        result = _arrays(scaled)[kind][0].astype(np.float64)
        np.testing.assert_allclose(result.mean(axis=0), 0.0, atol=1e-6)
        np.testing.assert_allclose(result.std(axis=0)[varying], 1.0, rtol=1e-5)
        assert np.all(result[:, ~varying] == 0.0)  # constant: centred, scale 1
        assert np.all(np.array(scaled.metadata["standardize"][f"{kind[:-1]}_scale"])[~varying] == 1.0)


def test_validation_uses_the_training_statistics_recorded_in_the_metadata(pair):
    plain, scaled = pair
    record = scaled.metadata["standardize"]
    assert json.loads(json.dumps(scaled.metadata)) == scaled.metadata  # JSON-ready
    mean, scale = statistics(plain.train_targets)
    np.testing.assert_array_equal(record["target_mean"], mean)
    np.testing.assert_array_equal(record["target_scale"], scale)
    expected = ((plain.val_targets.astype(np.float64) - mean) / scale).astype(np.float32)
    np.testing.assert_array_equal(scaled.val_targets, expected)
    assert {key: value for key, value in scaled.metadata.items() if key != "standardize"} == plain.metadata


def test_the_map_is_undone_up_to_float32_rounding(pair):
    plain, scaled = pair
    record = scaled.metadata["standardize"]
    for kind, arrays in _arrays(plain).items():
        mean, scale = np.array(record[f"{kind[:-1]}_mean"]), np.array(record[f"{kind[:-1]}_scale"])
        for original, standardized in zip(arrays, _arrays(scaled)[kind]):
            restored = restore(standardized, mean, scale)
            bound = EPS32 * (np.abs(original - mean) + np.abs(original))  # one rounding each way
            assert np.all(np.abs(restored.astype(np.float64) - original) <= bound)


def test_errors_through_original_units_are_the_errors_in_original_units(pair):
    plain, scaled = pair
    record = scaled.metadata["standardize"]
    weights = torch.randn(plain.dimension, plain.val_targets.shape[1], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mean, scale = (torch.as_tensor(record[key], dtype=torch.float64) for key in ("target_mean", "target_scale"))
    in_original_units = lambda x: 1e-3 * x.double() @ weights  # noqa: E731  (some predictor of u)
    in_standard_units = lambda x: (in_original_units(x) - mean) / scale  # noqa: E731  (the same one, on standardised data)
    inputs, targets = (torch.as_tensor(a, dtype=torch.float64) for a in (plain.val_inputs, plain.val_targets))
    expected = field_errors(in_original_units, inputs, targets)
    measured = original_units(field_errors, scaled)(in_standard_units, inputs, torch.as_tensor(scaled.val_targets, dtype=torch.float64))
    assert measured.keys() == expected.keys()
    for key in expected:
        assert measured[key] == pytest.approx(expected[key], rel=1e-5)
    assert original_units(field_errors, plain) is field_errors


def test_the_data_set_option_and_its_type(tmp_path):
    dataset = load_dataset("poisson", n_samples=8, grid_size=6, standardize=True, seed=1, cache_dir=tmp_path)
    assert set(dataset.metadata["standardize"]) == {"rule", "input_mean", "input_scale", "target_mean", "target_scale"}
    with pytest.raises(TypeError, match=r"standardize must be a bool; got int 1"):
        to_dataset(generate_poisson_data(4, grid_size=6, seed=0, cache=False), n_val=1, standardize=1)


def test_a_constant_array_is_centred_and_keeps_scale_1():
    mean, scale = statistics(np.full((5, 3), 2.5, dtype=np.float32))
    np.testing.assert_array_equal(mean, 2.5)
    np.testing.assert_array_equal(scale, 1.0)
    np.testing.assert_array_equal(restore(np.zeros((1, 2)), [1.0, 2.0], [3.0, 4.0]), [[1.0, 2.0]])
