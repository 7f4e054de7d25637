"""A user ``.npz`` file as an autoencoder data set (:func:`npz`).

The archive holds ``X`` (``N x d``, values in [0, 1]) and optionally
``X_val``; without ``X_val`` a random part of ``X`` is held out.

The module is not named ``npz`` so that the package attribute
``msann.data.npz`` stays the function.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from graphprolong.checks import check_positive_int, check_unit_interval
from graphprolong.io import array_checksum

from .dataset import Dataset, _describe

__all__ = ["npz"]


def _check_npz_array(path: Path, key: str, array: np.ndarray) -> np.ndarray:
    if array.ndim != 2:
        raise ValueError(
            f"{path}: array {key} must be 2-D (N examples x d units; flatten images and pass shape=); "
            f"got ndim = {array.ndim}, shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{path}: array {key} must have N >= 1 rows and d >= 1 columns; got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: array {key} must be numeric (bool, int or float); got dtype {array.dtype}")
    values = np.ascontiguousarray(array, dtype=np.float32)
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            nan = int(np.isnan(array).sum())
            infinite = int(array.size - finite.sum() - nan)
            raise ValueError(
                f"{path}: array {key} must be finite; found {nan} NaN and {infinite} infinite entries"
            )
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{path}: array {key} must have values in [0, 1]; got min = {low:g}, max = {high:g}")
    return values


def _unit_shape(shape: Sequence[int] | None, dimension: int) -> tuple[int, ...]:
    if shape is None:
        return (dimension,)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise TypeError(f"shape must be a sequence of ints such as (28, 28); got {shape!r}")
    sizes = tuple(check_positive_int("shape entry", size) for size in shape)
    if not sizes or math.prod(sizes) != dimension:
        raise ValueError(f"shape must have product equal to d = {dimension}; got shape = {tuple(shape)}")
    return sizes


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Return ``X`` and, if present, ``X_val`` of the archive at ``path``."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .npz archive (numpy.savez) ({error})") from None
    if not isinstance(archive, Mapping):
        raise ValueError(
            f"{path}: must be an .npz archive (numpy.savez) holding X; got a single {_describe(archive)}"
        )
    with archive:
        if "X" not in archive:
            present = ", ".join(sorted(archive)) or "none"
            raise ValueError(f"{path}: must hold an array named X (N x d); found arrays: {present}")
        return {key: np.asarray(archive[key]) for key in ("X", "X_val") if key in archive}


def npz(
    *,
    path: str | os.PathLike,
    shape: Sequence[int] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Dataset:
    """A user ``.npz`` file for an autoencoder (inputs = targets, no noise).

    Parameters
    ----------
    path : path-like
        ``.npz`` file (``numpy.savez``) holding ``X``, an ``N x d`` array of
        finite values in [0, 1] (bool, int or float; converted to float32),
        and optionally ``X_val`` (``N_val x d``, same rules) as the validation
        set.
    shape : sequence of int or None
        Layout of the ``d`` units (e.g. ``(28, 28)`` for row-major flattened
        images; its product must be ``d``); default ``(d,)``.
    val_fraction : float
        Without ``X_val``: the fraction of ``X`` held out for validation,
        ``round(val_fraction * N)`` examples chosen with ``seed``; both parts
        must be non-empty.  Ignored when ``X_val`` is present.
    seed : int
        Seed of the split.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an ``.npz`` archive, lacks ``X``, an array is not
        2-D, not finite or outside [0, 1], ``X_val`` has another ``d``,
        ``shape`` does not match ``d``, or the split leaves a part empty.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz data file not found: {path}")
    seed = check_positive_int("seed", seed, minimum=0)
    val_fraction = check_unit_interval("val_fraction", val_fraction)
    raw = _read_npz(path)
    X = _check_npz_array(path, "X", raw["X"])
    unit_shape = _unit_shape(shape, X.shape[1])
    if "X_val" in raw:
        train, val = X, _check_npz_array(path, "X_val", raw["X_val"])
        if val.shape[1] != train.shape[1]:
            raise ValueError(
                f"{path}: X_val must have the same d as X; "
                f"got d = {val.shape[1]} for X_val and {train.shape[1]} for X"
            )
        split = "X_val"
    else:
        count = int(round(val_fraction * X.shape[0]))
        if not 1 <= count < X.shape[0]:
            raise ValueError(
                f"val_fraction must leave >= 1 validation and >= 1 training example of N = {X.shape[0]}; "
                f"got val_fraction = {val_fraction} ({count} validation examples)"
            )
        order = np.random.default_rng(seed).permutation(X.shape[0])
        val_rows, train_rows = np.sort(order[:count]), np.sort(order[count:])
        train, val = np.ascontiguousarray(X[train_rows]), np.ascontiguousarray(X[val_rows])
        split = f"random {val_fraction} of X"
    metadata = {
        "name": "npz",
        "path": str(path),
        "shape": list(unit_shape),
        "val_fraction": val_fraction,
        "validation_split": split,
        "n_train": int(train.shape[0]),
        "n_val": int(val.shape[0]),
        "seed": seed,
        "checksum": array_checksum(X),
        "noise": 0.0,
    }
    return Dataset("npz", train, train, val, val, unit_shape, metadata)
