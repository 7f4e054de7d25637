"""Per-feature standardisation of a data set, fitted on its training split (``[data] standardize``).

:func:`standardize` maps every input and every target feature ``j`` to
``(value - mean_j) / scale_j``, with the mean and standard deviation of the
*training* split (float64); the validation split uses the same statistics.

Constant features.  A feature whose training standard deviation is at most
:data:`CONSTANT_FEATURE_TOLERANCE` times the largest standard deviation of its
array (inputs or targets) is constant: it is centred (it becomes 0) and keeps
scale 1 rather than being divided by (almost) zero.  On the Poisson benchmark
these are the boundary nodes of ``u`` (always 0) and the channels ``f``,
``x`` and ``y`` (the same in every sample).

Units of the reported errors.  The network learns standardised targets, but
a run's errors (``val_l2``, ``val_rel_l2``, ...) are computed in the data's
original units: :func:`original_units` wraps a metric so that predictions and
targets are mapped back (``value * scale_j + mean_j``) before it measures
them, so a standardised run and a plain one are compared on the same scale.
The training loss itself is the MSE in standardised units.

The statistics are recorded in ``Dataset.metadata["standardize"]`` as plain
lists (JSON-ready): ``input_mean``, ``input_scale``, ``target_mean``,
``target_scale``, and the ``rule``.  :func:`restore` inverts the map up to
float32 rounding (the data are float32; the arithmetic is float64).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from .dataset import Dataset

__all__ = ["CONSTANT_FEATURE_TOLERANCE", "original_units", "restore", "standardize", "statistics"]

#: A feature with training std <= this times its array's largest std is constant (centred, scale 1).
CONSTANT_FEATURE_TOLERANCE = 1e-6

_RULE = (f"per feature, (value - mean) / std of the training split; std <= {CONSTANT_FEATURE_TOLERANCE:g} x the "
         "array's largest std: constant, scale 1")


def statistics(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` per feature (column) of ``train``, float64, with the constant-feature rule (module docstring)."""
    values = np.asarray(train, dtype=np.float64)
    mean, std = values.mean(axis=0), values.std(axis=0)
    floor = CONSTANT_FEATURE_TOLERANCE * (float(std.max()) if std.size else 0.0)
    return mean, np.where(std > floor, std, 1.0)


def _forward(values: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray((np.asarray(values, dtype=np.float64) - mean) / scale, dtype=np.float32)


def restore(values: np.ndarray, mean, scale) -> np.ndarray:
    """Standardised ``values`` back in original units, ``values * scale + mean`` (float32)."""
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64) * np.asarray(scale) + np.asarray(mean), dtype=np.float32)


def standardize(dataset: Dataset) -> Dataset:
    """``dataset`` with inputs and targets standardised per feature by the training split's statistics.

    Returns a new :class:`Dataset` (``dataset`` is untouched) whose metadata
    gain ``"standardize"`` (module docstring).

    Examples
    --------
    >>> from msann.data import Dataset
    >>> rows = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    >>> data = standardize(Dataset("d", rows, rows, rows, rows, (2,)))
    >>> data.train_inputs.tolist(), data.metadata["standardize"]["input_scale"]
    ([[-1.0, 0.0], [1.0, 0.0]], [1.0, 1.0])
    """
    input_mean, input_scale = statistics(dataset.train_inputs)
    target_mean, target_scale = statistics(dataset.train_targets)
    record = {"rule": _RULE, "input_mean": input_mean.tolist(), "input_scale": input_scale.tolist(),
              "target_mean": target_mean.tolist(), "target_scale": target_scale.tolist()}
    return dataclasses.replace(
        dataset,
        train_inputs=_forward(dataset.train_inputs, input_mean, input_scale),
        train_targets=_forward(dataset.train_targets, target_mean, target_scale),
        val_inputs=_forward(dataset.val_inputs, input_mean, input_scale),
        val_targets=_forward(dataset.val_targets, target_mean, target_scale),
        metadata={**dataset.metadata, "standardize": record},
    )


def original_units(metric: Callable[..., dict], dataset: Dataset) -> Callable[..., dict]:
    """``metric`` measured in the original units of a standardised ``dataset`` (``metric`` itself otherwise).

    The wrapped ``metric(predict, inputs, targets)`` maps the predictions and
    the (standardised) targets back with the target statistics first.
    """
    record = dataset.metadata.get("standardize")
    if record is None:
        return metric

    def measured(predict: Callable, inputs: torch.Tensor, targets: torch.Tensor, **options) -> dict:
        mean = torch.as_tensor(record["target_mean"], dtype=torch.float64, device=targets.device)
        scale = torch.as_tensor(record["target_scale"], dtype=torch.float64, device=targets.device)
        back = lambda values: (values.double() * scale + mean).to(targets.dtype)  # noqa: E731
        return metric(lambda batch: back(predict(batch)), inputs, back(targets), **options)

    return measured
