"""The errors of a task: what an evaluation measures, whatever the method (SPEC §3, §4).

A metric is ``metric(predict, inputs, targets) -> {"val_<name>": value}``
over a whole data set, evaluated in chunks; ``predict`` is the method's
finest model.  :data:`METRICS` holds them by task:

``"mse"``
    ``val_mse``: the mean squared error over all examples and units (the
    autoencoders of seed 002).
``"field"``
    Regression onto a field of grid nodes, as seed 000's Table 1:
    ``val_l2``, the mean squared error over all samples and nodes (the
    per-node MSE, what ``torch.nn.MSELoss`` computes); ``val_linf``, the
    largest absolute error over all samples and nodes; ``val_rel_l2``, the
    mean over samples of ``||u_pred - u||_2 / ||u||_2``.
``"classification"``
    A classifier's logits against one-hot targets (``Dataset.classes``):
    ``val_error``, the misclassification rate in [0, 1] (the predicted
    class is the largest logit, the first on a tie), and
    ``val_cross_entropy``, the mean over examples of
    ``-log softmax(logits)[label]``.

The first error a metric returns is a run's logged error (its history and
the tables' "final" column: :func:`msann.core.driver.train`); every one is
lower-is-better.  :data:`LOSSES` holds each task's training loss
``loss(outputs, targets)``, the one every level of FAS and MG/Opt and their
smoothing steps minimise: the mean squared error, or for classification the
cross-entropy of the logits (:func:`task_loss`).

Comparing with LLNL/MTNN.  MTNN's validation "L2 loss"
(``RealValidationCallback`` in ``MTNN/utils/validation_callbacks.py``) sums
the squared error over a sample's outputs and averages over samples,
``mean_s sum_j (u_pred - u)_sj^2``: it is *not* the MSE but ``n_outputs``
times ``val_l2`` (1024x on the 32 x 32 grid).  FAS's summary reports it as
``best_val_l2_summed`` (:meth:`msann.methods.fas.FAS.summary_fields`).  Its
"Linf loss" is the largest absolute error, as ``val_linf``.  Which of the two
seed 000's Table 1 "L2" is, the paper does not say; compare both.

A standardised data set (``[data] standardize``) is measured in its original
units (:func:`msann.data.standardize.original_units`), so these figures
compare across runs with and without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch

from graphprolong.checks import check_choice

__all__ = ["LOSSES", "METRICS", "best_errors", "classification_errors", "cross_entropy", "field_errors", "metric", "mse_errors",
           "task_loss", "task_metric"]


def mse_errors(predict: Callable, inputs: torch.Tensor, targets: torch.Tensor, *, batch_size: int = 4096) -> dict:
    """``{"val_mse"}``: the mean squared error over every example and unit."""
    total = 0.0
    with torch.no_grad():
        for start in range(0, inputs.shape[0], batch_size):
            outputs = predict(inputs[start : start + batch_size])
            total += float(torch.sum((outputs - targets[start : start + batch_size]) ** 2))
    return {"val_mse": total / targets.numel()}


def field_errors(predict: Callable, inputs: torch.Tensor, targets: torch.Tensor, *, batch_size: int = 1000) -> dict:
    """``{"val_l2", "val_linf", "val_rel_l2"}`` of a regression onto grid nodes (module docstring)."""
    squared, largest, relative = 0.0, 0.0, 0.0
    with torch.no_grad():
        for start in range(0, inputs.shape[0], batch_size):
            truth = targets[start : start + batch_size]
            error = predict(inputs[start : start + batch_size]) - truth
            squared += float((error**2).sum())
            largest = max(largest, float(error.abs().max()))
            norms = torch.linalg.vector_norm(truth, dim=1).clamp_min(torch.finfo(truth.dtype).tiny)
            relative += float((torch.linalg.vector_norm(error, dim=1) / norms).sum())
    return {"val_l2": squared / targets.numel(), "val_linf": largest, "val_rel_l2": relative / targets.shape[0]}


def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean over the rows of ``-sum_j targets_j log softmax(outputs)_j``: the cross-entropy of logits and one-hot rows."""
    return torch.nn.functional.cross_entropy(outputs, targets)


def classification_errors(predict: Callable, inputs: torch.Tensor, targets: torch.Tensor, *,
                          batch_size: int = 4096) -> dict:
    """``{"val_error", "val_cross_entropy"}`` of a classifier's logits against one-hot targets (module docstring)."""
    wrong, entropy = 0, 0.0
    with torch.no_grad():
        for start in range(0, inputs.shape[0], batch_size):
            logits, truth = predict(inputs[start : start + batch_size]), targets[start : start + batch_size]
            wrong += int((logits.argmax(dim=1) != truth.argmax(dim=1)).sum())
            entropy += float(torch.nn.functional.cross_entropy(logits, truth, reduction="sum"))
    return {"val_error": wrong / targets.shape[0], "val_cross_entropy": entropy / targets.shape[0]}


#: Metrics by task name.
METRICS: dict[str, Callable[..., dict]] = {"mse": mse_errors, "field": field_errors, "classification": classification_errors}
#: The training loss ``loss(outputs, targets)`` of each task of :data:`METRICS`.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": torch.nn.functional.mse_loss, "field": torch.nn.functional.mse_loss, "classification": cross_entropy}


def metric(name: str) -> Callable[..., dict]:
    """The metric of task ``name`` (a key of :data:`METRICS`)."""
    return METRICS[check_choice("metric", name, METRICS)]


def task_metric(dataset) -> str:
    """The task of a data set: ``"classification"`` for labels (``classes``), ``"field"`` for regression onto other
    units (``target_shape``), else ``"mse"``."""
    if dataset.classes is not None:
        return "classification"
    return "field" if dataset.target_shape is not None else "mse"


def task_loss(dataset) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training loss of a data set's task (:data:`LOSSES`): the cross-entropy of logits for classification, else the MSE."""
    return LOSSES[task_metric(dataset)]


def best_errors(evaluations: Sequence[dict], keys: Iterable[str]) -> dict[str, float | None]:
    """``{"best_<key>": smallest finite value}`` over the evaluations (None where a key never has one)."""
    best = {}
    for key in keys:
        values = [evaluation[key] for evaluation in evaluations if key in evaluation and math.isfinite(evaluation[key])]
        best[f"best_{key}"] = min(values) if values else None
    return best
