"""Tests of the Dataset record (msann.data.dataset) and the DATASETS registry (msann.data)."""

from __future__ import annotations

import numpy as np
import pytest

from msann.data import DATASETS, Dataset, load_dataset, one_object


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
    assert set(DATASETS) == {"one_object", "two_object", "fashion_mnist", "npz", "poisson", "signals"}
    data = load_dataset("one_object", seed=9, length=16, n_train=4, n_val=2)
    direct = one_object(length=16, n_train=4, n_val=2, seed=9)
    np.testing.assert_array_equal(data.train_inputs, direct.train_inputs)
    with pytest.raises(ValueError, match="valid datasets are: fashion_mnist, npz, one_object, poisson, signals, two_object"):
        load_dataset("mnist")
    with pytest.raises(TypeError, match="unknown option.* lenght .*valid options are: length, n_train"):
        load_dataset("one_object", lenght=16)
    with pytest.raises(TypeError, match="needs option.* path"):
        load_dataset("npz")


def test_a_classification_dataset_holds_one_hot_targets_of_width_classes():
    inputs = np.zeros((3, 4), dtype=np.float32)
    targets = np.eye(3, dtype=np.float32)[[0, 2, 1]]
    data = Dataset("x", inputs, targets, inputs, targets, (4,), target_shape=(3,), classes=3)
    assert (data.classes, data.target_shape) == (3, (3,))
    square = np.zeros((3, 3), dtype=np.float32)  # inputs as wide as the targets: target_shape may be left out, but not here
    with pytest.raises(ValueError, match=r"target_shape must be \(classes,\) = \(3,\) for a classification data set; got "
                                         r"target_shape = None"):
        Dataset("x", square, targets, square, targets, (3,), classes=3)
    with pytest.raises(ValueError, match=r"classes must be an integer >= 2; got classes = 1"):
        Dataset("x", inputs, targets[:, :1].copy(), inputs, targets[:, :1].copy(), (4,), target_shape=(1,), classes=1)
    for row, bad in ((1, [0.0, 0.5, 0.5]), (2, [0.0, 0.0, 0.0]), (0, [1.0, 1.0, 0.0])):
        wrong = targets.copy()
        wrong[row] = bad
        with pytest.raises(ValueError, match=rf"val_targets must be one-hot rows \(one 1, the rest 0\) for a classification "
                                             rf"data set; row {row} is \[{', '.join(map(str, bad))}\]"):
            Dataset("x", inputs, targets, inputs, wrong, (4,), target_shape=(3,), classes=3)
