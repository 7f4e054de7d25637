"""Tests of the task metrics and losses of msann.core.metrics, classification against hand-computed values.

Three examples, three classes, logits ``[0, 0, 0]`` (label 0: a tie, won by the first class), ``[2, 0, 0]``
(label 1: misclassified) and ``[0, 0, log 2]`` (label 2): the error rate is 1/3 and the cross-entropies are
``log 3``, ``log(e^2 + 2)`` and ``log 2``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from msann.core.metrics import LOSSES, METRICS, classification_errors, cross_entropy, metric, task_loss, task_metric
from msann.data import Dataset

LOGITS = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, math.log(2.0)]], dtype=torch.float64)
LABELS = [0, 1, 2]
ONE_HOT = torch.eye(3, dtype=torch.float64)[LABELS]
ENTROPIES = [math.log(3.0), math.log(math.e**2 + 2.0), math.log(2.0)]


@pytest.mark.parametrize("batch_size", [1, 2, 4096])
def test_classification_errors_by_hand(batch_size):
    errors = classification_errors(lambda inputs: inputs, LOGITS, ONE_HOT, batch_size=batch_size)
    assert list(errors) == ["val_error", "val_cross_entropy"]  # the first is the logged error
    assert errors["val_error"] == pytest.approx(1 / 3, abs=1e-15)
    assert errors["val_cross_entropy"] == pytest.approx(sum(ENTROPIES) / 3, rel=1e-14)


def test_the_error_rate_counts_the_largest_logit_against_the_label():
    perfect = classification_errors(lambda inputs: 5.0 * ONE_HOT, LOGITS, ONE_HOT)
    wrong = classification_errors(lambda inputs: 5.0 * ONE_HOT.roll(1, dims=1), LOGITS, ONE_HOT)
    assert (perfect["val_error"], wrong["val_error"]) == (0.0, 1.0)
    assert perfect["val_cross_entropy"] == pytest.approx(math.log(1 + 2 * math.exp(-5.0)), rel=1e-13)


def test_the_cross_entropy_loss_and_its_gradient_by_hand():
    logits = LOGITS.clone().requires_grad_(True)
    loss = cross_entropy(logits, ONE_HOT)
    assert float(loss.detach()) == pytest.approx(sum(ENTROPIES) / 3, rel=1e-14)
    loss.backward()
    expected = (torch.softmax(LOGITS, dim=1) - ONE_HOT) / 3  # d/dz mean_i -log softmax(z_i)[y_i]
    torch.testing.assert_close(logits.grad, expected, rtol=1e-14, atol=1e-16)
    torch.testing.assert_close(logits.grad.sum(dim=1), torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-16)


def _dataset(**options) -> Dataset:
    inputs = np.zeros((3, 4), dtype=np.float32)
    return Dataset("x", inputs, options.pop("targets", inputs), inputs, options.pop("targets_val", inputs), (4,), **options)


def test_the_task_picks_the_metrics_and_the_loss():
    one_hot = np.eye(3, dtype=np.float32)[LABELS]
    cases = {"classification": _dataset(targets=one_hot, targets_val=one_hot, target_shape=(3,), classes=3),
             "field": _dataset(targets=one_hot, targets_val=one_hot, target_shape=(3,)), "mse": _dataset()}
    for task, dataset in cases.items():
        assert task_metric(dataset) == task and metric(task) is METRICS[task]
        assert task_loss(dataset) is LOSSES[task]
    assert task_loss(cases["classification"]) is cross_entropy
    assert task_loss(cases["mse"]) is task_loss(cases["field"]) is torch.nn.functional.mse_loss
    with pytest.raises(ValueError, match="unknown metric 'accuracy'; valid metrics are: classification, field, mse"):
        metric("accuracy")
