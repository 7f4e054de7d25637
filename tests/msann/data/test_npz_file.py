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
