"""Tests of the smoothers (msann.core.smoothing)."""

from __future__ import annotations

import pytest
import torch

from msann.core.smoothing import SMOOTHERS, make_smoother, smoothing_step

# ---------------------------------------------------------------------------
# Smoothers


def _parameters():
    return [torch.nn.Parameter(torch.ones(3))]


@pytest.mark.parametrize(("name", "cls"), [("adam", torch.optim.Adam), ("sgd", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop)])
def test_make_smoother_builds_the_torch_optimiser(name, cls):
    parameters = _parameters()
    smoother = make_smoother(name, parameters, lr=0.25)
    assert type(smoother) is cls
    assert smoother.param_groups[0]["lr"] == 0.25
    assert smoother.param_groups[0]["params"][0] is parameters[0]


def test_sgd_smoother_takes_the_step_it_is_given():
    parameter = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    smoother = make_smoother("sgd", [parameter], lr=0.5, momentum=0.9)
    assert smoother.param_groups[0]["momentum"] == 0.9
    (parameter**2).sum().backward()  # gradient 2 x
    smoother.step()
    assert torch.equal(parameter.detach(), torch.tensor([0.0, 0.0], dtype=torch.float64))


def test_make_smoother_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown smoother 'lbfgs'") as raised:
        make_smoother("lbfgs", _parameters(), lr=1e-3)
    for name in SMOOTHERS:
        assert name in str(raised.value)


def test_make_smoother_refuses_momentum_for_adam():
    with pytest.raises(ValueError, match=r"smoother 'adam' takes no momentum.*got 0.9") as raised:
        make_smoother("adam", _parameters(), lr=1e-3, momentum=0.9)
    assert "sgd" in str(raised.value) and "rmsprop" in str(raised.value)


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 2.0])
def test_make_smoother_rejects_momentum_outside_the_unit_interval(momentum):
    with pytest.raises(ValueError, match=rf"momentum must be in \[0, 1\); got {momentum}"):
        make_smoother("sgd", _parameters(), lr=1e-3, momentum=momentum)


@pytest.mark.parametrize("lr", [0.0, -1e-3])
def test_make_smoother_rejects_a_non_positive_learning_rate(lr):
    with pytest.raises(ValueError, match="lr"):
        make_smoother("sgd", _parameters(), lr=lr)


def test_smoothing_step_minimises_the_objective_and_returns_the_data_loss_detached():
    parameter = torch.nn.Parameter(torch.tensor([3.0]))
    smoother = make_smoother("sgd", [parameter], lr=0.25)
    logged = smoothing_step(smoother, lambda: ((parameter**2).sum(), (parameter**2).sum() + 1.0))
    assert float(logged) == 10.0 and not logged.requires_grad  # the data loss, before the step
    assert float(parameter.detach()) == pytest.approx(3.0 - 0.25 * 6.0)  # one gradient step on the objective
