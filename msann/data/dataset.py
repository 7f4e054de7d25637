"""The :class:`Dataset` record every data set of :mod:`msann.data` returns.

A :class:`Dataset` holds training and validation inputs and targets as
``N x d`` float32 arrays, the layout of the ``d`` input units (``unit_shape``)
and a JSON-serialisable ``metadata`` record of every option used; it checks
all of them when made.  A classification data set (``classes``) stores its
labels as one-hot target rows, so that every task shares the one ``N x d``
float32 layout (minibatches, checkpoints, coarse data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Dataset"]


@dataclass(frozen=True)
class Dataset:
    """Training and validation data of one experiment.

    Parameters
    ----------
    name : str
        Registry name of the data set (``"one_object"``, ...).
    train_inputs, train_targets : numpy.ndarray
        ``n_train x d`` float32, C-contiguous.  For an autoencoder without
        noise the targets are the *same array* as the inputs (not a copy).
    val_inputs, val_targets : numpy.ndarray
        ``n_val x d`` float32, C-contiguous.  Inputs and targets share ``d``
        unless ``target_shape`` is given (regression, e.g. the Poisson data).
    unit_shape : tuple of int
        Layout of the ``d`` input units, ``prod(unit_shape) == d``: ``(d,)``
        for vectors (path/cycle graphs), ``(rows, columns)`` for images (grid
        graphs, row-major flattening).
    metadata : dict
        Plain JSON-serialisable description, including every option used.
    target_shape : tuple of int, optional
        Layout of the target units when they differ from the inputs'
        (``prod(target_shape)`` = the targets' width); None for autoencoders.
    classes : int, optional
        Number of classes of a classification data set: its targets are
        one-hot rows (one 1, the rest 0) of width ``classes``, and
        ``target_shape == (classes,)``.  None for regression and
        autoencoders.  One-hot rather than a column of class indices: the
        network's ``classes`` outputs then match the targets' width as for
        every other task, and the targets stay float32 rows that the
        minibatch stream and the checkpoints handle unchanged.

    Raises
    ------
    ValueError
        If an array is not a 2-D C-contiguous float32 array, the sizes
        disagree, ``prod(unit_shape) != d``, or ``classes`` is given with
        targets that are not one-hot rows of that width.
    """

    name: str
    train_inputs: np.ndarray
    train_targets: np.ndarray
    val_inputs: np.ndarray
    val_targets: np.ndarray
    unit_shape: tuple[int, ...]
    metadata: dict = field(default_factory=dict)
    target_shape: tuple[int, ...] | None = None
    classes: int | None = None

    def __post_init__(self) -> None:
        arrays = {
            "train_inputs": self.train_inputs,
            "train_targets": self.train_targets,
            "val_inputs": self.val_inputs,
            "val_targets": self.val_targets,
        }
        for label, array in arrays.items():
            if not isinstance(array, np.ndarray) or array.ndim != 2:
                raise ValueError(f"{label} must be a 2-D numpy array (N x d); got {_describe(array)}")
            if array.dtype != np.float32 or not array.flags.c_contiguous:
                raise ValueError(
                    f"{label} must be C-contiguous float32; got dtype {array.dtype}, "
                    f"C-contiguous = {array.flags.c_contiguous}"
                )
        widths = {label: array.shape[1] for label, array in arrays.items()}
        if self.target_shape is None and len(set(widths.values())) != 1:
            raise ValueError(f"all arrays must have the same number of columns d (or give target_shape); got {widths}")
        for role in ("inputs", "targets"):
            if widths[f"train_{role}"] != widths[f"val_{role}"]:
                raise ValueError(f"train_{role} and val_{role} must have the same number of columns; got {widths}")
        if self.target_shape is not None:
            width = widths["train_targets"]
            target = _checked_sizes("target_shape", self.target_shape, width, f"the targets' width {width}")
            object.__setattr__(self, "target_shape", target)
        for split in ("train", "val"):
            rows = (arrays[f"{split}_inputs"].shape[0], arrays[f"{split}_targets"].shape[0])
            if rows[0] != rows[1] or rows[0] == 0:
                raise ValueError(
                    f"{split}_inputs and {split}_targets must have the same number N >= 1 of rows; "
                    f"got {rows[0]} and {rows[1]}"
                )
        width = widths["train_inputs"]
        object.__setattr__(self, "unit_shape", _checked_sizes("unit_shape", self.unit_shape, width, f"d = {width}"))
        if self.classes is not None:
            _check_one_hot(self.classes, self.target_shape, {label: arrays[label] for label in ("train_targets", "val_targets")})

    @property
    def dimension(self) -> int:
        """Number ``d`` of input (and output) units."""
        return int(self.train_inputs.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training examples."""
        return int(self.train_inputs.shape[0])

    @property
    def n_val(self) -> int:
        """Number of validation examples."""
        return int(self.val_inputs.shape[0])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_val={self.n_val}, "
            f"dimension={self.dimension}, unit_shape={self.unit_shape})"
        )


def _checked_sizes(label: str, sizes: Any, width: int, product: str) -> tuple[int, ...]:
    """``sizes`` as a tuple of ints, or a ValueError unless they are positive with product ``width``."""
    checked = tuple(int(size) for size in sizes)
    if not checked or any(size < 1 for size in checked) or math.prod(checked) != width:
        raise ValueError(f"{label} must be positive sizes whose product is {product}; got {label} = {sizes}")
    return checked


def _check_one_hot(classes: Any, target_shape: tuple[int, ...] | None, targets: dict[str, np.ndarray]) -> None:
    """A ValueError unless ``classes >= 2``, ``target_shape == (classes,)`` and every target row is one-hot."""
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 2:
        raise ValueError(f"classes must be an integer >= 2; got classes = {classes!r}")
    if target_shape != (classes,):
        raise ValueError(f"target_shape must be (classes,) = ({classes},) for a classification data set; "
                         f"got target_shape = {target_shape}")
    for label, array in targets.items():
        binary = (array == 0.0) | (array == 1.0)
        bad = np.flatnonzero(~binary.all(axis=1) | (np.count_nonzero(array, axis=1) != 1))
        if bad.size:
            raise ValueError(f"{label} must be one-hot rows (one 1, the rest 0) for a classification data set; "
                             f"row {bad[0]} is {array[bad[0]].tolist()}")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__
