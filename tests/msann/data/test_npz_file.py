"""Tests of msann.data.npz_file: user .npz files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msann.data import npz


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
    with pytest.raises(ValueError, match="Y must have one row per row of X; got 3 rows for Y and 4 for X"):
        npz(path=save("rows.npz", X=good, Y=good[:3]))
    with pytest.raises(ValueError, match="give both Y and Y_val or neither; found Y but not Y_val"):
        npz(path=save("pairs.npz", X=good, Y=good, X_val=good))
    with pytest.raises(ValueError, match="Y_val needs X_val"):
        npz(path=save("lonely.npz", X=good, Y_val=good))
    with pytest.raises(ValueError, match="unknown scaling .max.; valid scalings are: min-max, none, standard"):
        npz(path=save("scaling.npz", X=good), scaling="max")
    with pytest.raises(ValueError, match="noise must be a probability in \\[0, 1\\] for noise_kind 'fire'; got 2"):
        npz(path=save("noise.npz", X=good), noise=2)
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


def test_targets_scaling_and_noise(tmp_path):
    rng = np.random.default_rng(3)
    X, Y = rng.normal(5.0, 2.0, (30, 4)), rng.uniform(-3.0, 9.0, (30, 2))
    np.savez(tmp_path / "xy.npz", X=X, Y=Y, X_val=X[:5] * 10, Y_val=Y[:5])
    data = npz(path=tmp_path / "xy.npz", scaling="min-max")
    assert (data.dimension, data.target_shape, data.n_train, data.n_val) == (4, (2,), 30, 5)
    # Fitted on the training split only: the training data span exactly [0, 1], the validation data need not.
    for train, val, raw_train, raw_val in ((data.train_inputs, data.val_inputs, X, X[:5] * 10),
                                           (data.train_targets, data.val_targets, Y, Y[:5])):
        assert train.min() == 0.0 and train.max() == pytest.approx(1.0, abs=1e-6)
        shift, scale = raw_train.min(), raw_train.max() - raw_train.min()
        np.testing.assert_allclose(val, (raw_val - shift) / scale, rtol=1e-5, atol=1e-5)
    standard = npz(path=tmp_path / "xy.npz", scaling="standard")
    assert float(standard.train_inputs.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(standard.train_inputs.std()) == pytest.approx(1.0, abs=1e-5)


def test_input_noise_is_on_the_inputs_only_and_reproducible(tmp_path):
    clean = (np.random.default_rng(4).random((50, 16)) < 0.3).astype(np.uint8) * 255
    np.savez(tmp_path / "bytes.npz", X=clean)
    plain = npz(path=tmp_path / "bytes.npz", scaling="min-max", seed=2)
    for kind in ("fire", "flip", "gaussian"):
        noisy = npz(path=tmp_path / "bytes.npz", scaling="min-max", noise=0.2, noise_kind=kind, seed=2)
        again = npz(path=tmp_path / "bytes.npz", scaling="min-max", noise=0.2, noise_kind=kind, seed=2)
        np.testing.assert_array_equal(noisy.train_inputs, again.train_inputs)
        np.testing.assert_array_equal(noisy.train_targets, plain.train_targets)  # the targets stay clean
        np.testing.assert_array_equal(noisy.val_targets, plain.val_targets)
        changed = noisy.train_inputs != plain.train_inputs
        if kind == "gaussian":
            assert changed.mean() > 0.99
        else:
            assert 0.05 < changed.mean() < 0.25  # about noise = 0.2 of the entries (fire: the zeros among them)
            assert set(np.unique(noisy.train_inputs)) <= {0.0, 1.0}
        if kind == "fire":
            assert np.all(noisy.train_inputs >= plain.train_inputs)
    # Without noise and scaling the data are read as before: the targets are the inputs themselves.
    unscaled = npz(path=tmp_path / "bytes.npz", seed=2)
    assert unscaled.train_targets is unscaled.train_inputs and unscaled.train_inputs.max() == 255.0


@pytest.mark.parametrize("content, message", [
    (b"", "does not start with the zip signature"),
    (bytes(range(200)), "does not start with the zip signature"),
    ("truncated", "truncated or corrupt"),
    ("objects", "array X holds Python objects"),
])
def test_a_damaged_archive_is_one_clear_error_without_unsafe_advice(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    if content == "truncated":
        np.savez(path, X=np.zeros((50, 8)))
        path.write_bytes(path.read_bytes()[:300])
    elif content == "objects":
        np.savez(path, X=np.array([{"a": 1}, None], dtype=object))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as raised:
        npz(path=path)
    assert "allow_pickle" not in str(raised.value) and str(path) in str(raised.value)
