"""Network transfers and coarse networks (SPEC §4, seed 000 §5 and §7).

Identities checked: R_p P_p = I on parameters, <x, P_p x_c> = <x_c, R_g x>,
DNN(P x_c) = DNN_c(x_c) (0/1 P with any elementwise activation, scaled and norm-weighted P with
positively homogeneous ones), grad g_c(x_c) = R_g grad g(P x_c), the zero
coarse change, and the errors on bad networks and dictionaries.
"""

from __future__ import annotations

import copy
import itertools
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

from msann.coarsening.mutual_best import MATCHINGS
from msann.coarsening.matching import PROJECTIONS, SIMILARITY_TOLERANCE, VISIT_ORDERS, Matching, cosine_similarity, heavy_edge_matching, piecewise_constant_transfer, scaled_transfer
from msann.coarsening.network import CoarseningOptions, CoarseningWarning, build_coarse_model, coarsen_network, plan_coarsening, plan_from_prolongations
from msann.core.layers import LAYER_RULES
from msann.core.smoothing import load_sgd_momentum_buffers, sgd_momentum_buffers
from msann.core.transfer import LayerTransfer, transfer_from_prolongation

from ..nets import *  # noqa: F403  (the small networks and helpers shared by the coarsening tests)


# --------------------------------------------------------------------------- parameter transfers


def _check_transfer_identities(model: nn.Sequential, plan) -> None:
    fine = params(model)
    coarse = plan.restrict(fine)
    assert {k: tuple(v.shape) for k, v in coarse.items()} == {k: s[1] for k, s in plan.parameter_shapes.items()}
    x_c = random_like(coarse, 1)
    assert_close(plan.restrict(plan.prolong(x_c)), x_c)  # Pi P = I
    x = random_like(fine, 2)
    lhs, rhs = inner(x, plan.prolong(x_c)), inner(x_c, plan.restrict_gradient(x))
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs))  # <x, P x_c> = <x_c, R x>
    projected = plan.prolong(plan.restrict(x))
    assert_close(plan.prolong(plan.restrict(projected)), projected)  # Q^2 = Q


@SETTINGS
@given(widths=fc_widths, threshold=st.floats(-1.0, 1.0), projection=st.sampled_from(sorted(PROJECTIONS)),
       matching=st.sampled_from(sorted(MATCHINGS)), bias=st.booleans(), seed=st.integers(0, 999))
def test_parameter_identities_fully_connected(widths, threshold, projection, matching, bias, seed):
    model = fc_net(widths, seed=seed, bias=bias)
    _, plan = plan_quietly(model, threshold=threshold, projection=projection, matching=matching)
    _check_transfer_identities(model, plan)


@pytest.mark.parametrize("projection", sorted(PROJECTIONS))
@pytest.mark.parametrize("pool", [False, True])
def test_parameter_identities_convolutional(projection, pool):
    model = conv_net(pool=pool)
    _, plan = coarsen_network(model, threshold=-1.0, projection=projection)
    assert plan.coarse_widths == (3, 3, 4) and plan.layers[2].block == (4 if pool else 9)
    _check_transfer_identities(model, plan)


def test_parameter_identities_with_graph_designed_maps():
    model = fc_net([3, 8, 6, 2])
    maps = [torch.linalg.qr(torch.randn(n, n // 2, dtype=F64))[0] for n in (8, 6)]
    plan = plan_from_prolongations(model, maps)
    assert plan.coarse_widths == (4, 3)
    _check_transfer_identities(model, plan)


def test_coarse_model_holds_the_restricted_parameters():
    model = fc_net([4, 9, 7, 2], seed=3)
    coarse, plan = coarsen_network(model, threshold=-1.0)
    assert plan.coarse_widths == (5, 4) and coarse[0].out_features == 5 and coarse[2].in_features == 5
    assert_close(params(coarse), plan.restrict(params(model)), atol=0)
    assert params(model).keys() == params(coarse).keys()
    coarser, _ = coarsen_network(coarse, threshold=-1.0)  # one more level
    assert coarser[0].out_features == 3 and coarser[2].out_features == 2


# --------------------------------------------------------------------------- exactness of the coarse network


def _assert_network_identity(model, plan, coarse, inputs, *, atol=1e-12) -> None:
    x_c = random_like(params(coarse), 7)
    fine_output = functional_call(model, plan.prolong(x_c), (inputs,))
    coarse_output = functional_call(coarse, x_c, (inputs,))
    torch.testing.assert_close(fine_output, coarse_output, atol=atol, rtol=0)


@pytest.mark.parametrize("activation", [nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity])
def test_fine_network_at_P_x_c_computes_the_coarse_network(activation):
    model = fc_net([3, 8, 7, 2], activation, seed=1)
    inputs = torch.randn(5, 3, dtype=F64)
    coarse, plan = coarsen_network(model, threshold=-0.5)
    _assert_network_identity(model, plan, coarse, inputs)
    model = conv_net(activation, pool=activation is nn.ReLU)
    coarse, plan = coarsen_network(model, threshold=-1.0)
    _assert_network_identity(model, plan, coarse, conv_input(pool=activation is nn.ReLU))


@pytest.mark.parametrize("projection", ["scaled", "norm-weighted"])
@pytest.mark.parametrize("activation", [nn.ReLU, nn.LeakyReLU, nn.Identity])
def test_scaled_prolongation_is_exact_for_positively_homogeneous_activations(activation, projection):
    model = fc_net([3, 8, 7, 2], activation, seed=2)
    coarse, plan = coarsen_network(model, threshold=-1.0, projection=projection)
    _assert_network_identity(model, plan, coarse, torch.randn(5, 3, dtype=F64))
    model = conv_net(activation)
    coarse, plan = coarsen_network(model, threshold=-1.0, projection=projection)
    _assert_network_identity(model, plan, coarse, conv_input())


def test_scaled_prolongation_is_not_exact_for_tanh():
    """The identity check above can fail: tanh(d z) != d tanh(z)."""
    model = fc_net([3, 8, 2], nn.Tanh, seed=2)
    coarse, plan = coarsen_network(model, threshold=-1.0, scaled=True)
    with pytest.raises(AssertionError):
        _assert_network_identity(model, plan, coarse, torch.randn(5, 3, dtype=F64))


@pytest.mark.parametrize(
    ("make", "inputs", "projection", "matching"),
    [
        (lambda: fc_net([3, 8, 7, 2], nn.Tanh), lambda: torch.randn(6, 3, dtype=F64), "average", "greedy"),
        (lambda: fc_net([3, 8, 7, 2], nn.ReLU), lambda: torch.randn(6, 3, dtype=F64), "scaled", "greedy"),
        (lambda: fc_net([3, 8, 7, 2], nn.ReLU), lambda: torch.randn(6, 3, dtype=F64), "norm-weighted", "mutual-best"),
        (lambda: fc_net([3, 8, 7, 2], nn.Tanh), lambda: torch.randn(6, 3, dtype=F64), "average", "mutual-best"),
        (lambda: conv_net(nn.ReLU), conv_input, "scaled", "greedy"),
        (lambda: conv_net(nn.ReLU), conv_input, "norm-weighted", "greedy"),
        (lambda: conv_net(nn.Sigmoid, pool=False), lambda: conv_input(pool=False), "average", "greedy"),
    ],
)
def test_coarse_gradient_is_the_restricted_fine_gradient(make, inputs, projection, matching):
    """g_c(x_c) = g(P x_c) for all x_c, so grad g_c(x_c) = R grad g(P x_c) (FAS consistency, tau = 0)."""
    model, data = make(), inputs()
    coarse, plan = coarsen_network(model, threshold=-1.0, projection=projection, matching=matching)
    target = torch.randn(data.shape[0], 2 if data.ndim == 2 else 3, dtype=F64)
    x_c = {key: value.requires_grad_() for key, value in random_like(params(coarse), 3).items()}
    x = {key: value.detach().requires_grad_() for key, value in plan.prolong(x_c).items()}
    fine_loss = ((functional_call(model, x, (data,)) - target) ** 2).mean()
    coarse_loss = ((functional_call(coarse, x_c, (data,)) - target) ** 2).mean()
    fine_gradient = dict(zip(x, torch.autograd.grad(fine_loss, list(x.values()))))
    coarse_gradient = dict(zip(x_c, torch.autograd.grad(coarse_loss, list(x_c.values()))))
    assert_close(plan.restrict_gradient(fine_gradient), coarse_gradient, atol=1e-12, rtol=1e-12)


def test_float32_and_float64_agree():
    model64 = fc_net([4, 10, 6, 2], seed=5)
    model32 = copy.deepcopy(model64).float()
    coarse64, plan64 = coarsen_network(model64, threshold=-1.0, scaled=True)
    coarse32, plan32 = coarsen_network(model32, threshold=-1.0, scaled=True)
    for u32, u64 in zip(plan32.units, plan64.units):
        assert torch.equal(u32.matching.mate, u64.matching.mate) and u32.P.dtype == torch.float32
    for (key, value32), value64 in zip(coarse32.named_parameters(), coarse64.parameters()):
        torch.testing.assert_close(value32.double(), value64.detach(), atol=1e-6, rtol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_transfers_match_cpu():
    model = conv_net(dtype=torch.float32)
    coarse, plan = coarsen_network(model, threshold=-1.0, scaled=True)
    gpu_coarse, gpu_plan = coarsen_network(conv_net(dtype=torch.float32).cuda(), threshold=-1.0, scaled=True)
    assert gpu_plan.units[0].P.device.type == "cuda"
    for (key, value), gpu_value in zip(coarse.named_parameters(), gpu_coarse.parameters()):
        torch.testing.assert_close(gpu_value.cpu(), value, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- corrections and momentum


@pytest.mark.parametrize("projection", sorted(PROJECTIONS))
def test_zero_coarse_change_leaves_parameters_and_momentum_unchanged(projection):
    model = conv_net()
    _, plan = coarsen_network(model, threshold=-1.0, projection=projection)
    for fine in (params(model), random_like(params(model), 4)):  # parameters, a momentum vector
        restricted = plan.restrict(fine)
        corrected = plan.correct(fine, restricted, restricted, alpha=0.7)
        assert all(torch.equal(corrected[key], fine[key]) for key in fine)


def test_correction_makes_the_restriction_equal_the_coarse_iterate():
    """Pi (x + P (x_c - Pi x)) = x_c, because Pi P = I."""
    model = fc_net([3, 8, 6, 2])
    _, plan = coarsen_network(model, threshold=-1.0, scaled=True)
    x = params(model)
    restricted = plan.restrict(x)
    x_c = random_like(restricted, 9)
    assert_close(plan.restrict(plan.correct(x, x_c, restricted)), x_c)
    half = plan.correct(x, x_c, restricted, alpha=0.5)
    assert_close(plan.restrict(half), {k: (restricted[k] + x_c[k]) / 2 for k in x_c})


def test_sgd_momentum_buffers_round_trip_through_the_coarse_optimizer():
    model = fc_net([3, 6, 2])
    coarse, plan = coarsen_network(model, threshold=-1.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    assert all(torch.equal(b, torch.zeros_like(b)) for b in sgd_momentum_buffers(optimizer, model).values())
    model(torch.randn(4, 3, dtype=F64)).square().sum().backward()
    optimizer.step()
    buffers = sgd_momentum_buffers(optimizer, model)
    assert_close(buffers, {key: p.grad for key, p in model.named_parameters()}, atol=0)  # first step: m = g
    coarse_optimizer = torch.optim.SGD(coarse.parameters(), lr=0.1, momentum=0.9)
    load_sgd_momentum_buffers(coarse_optimizer, coarse, plan.restrict(buffers))
    before = params(coarse)
    gradient = random_like(before, 5)
    for key, parameter in coarse.named_parameters():
        parameter.grad = gradient[key].clone()
    coarse_optimizer.step()
    restricted = plan.restrict(buffers)
    expected = {key: before[key] - 0.1 * (0.9 * restricted[key] + gradient[key]) for key in before}
    assert_close(params(coarse), expected)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("threshold", [1.5, -1.01, float("nan")])
def test_threshold_outside_the_cosine_range_is_rejected(threshold):
    with pytest.raises(ValueError, match=r"threshold"):
        heavy_edge_matching(torch.randn(4, 3), threshold=threshold)
    with pytest.raises(ValueError, match=r"threshold"):
        coarsen_network(fc_net([2, 4, 1]), threshold=threshold)
    if threshold == 1.5:
        with pytest.raises(ValueError, match=r"\[-1, 1\].*1\.5"):
            heavy_edge_matching(torch.randn(4, 3), threshold=threshold)


def test_bad_matching_inputs_are_rejected():
    with pytest.raises(ValueError, match=r"valid orders are: heaviest, natural, random"):
        heavy_edge_matching(torch.randn(4, 3), threshold=0.0, order="sorted")
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        heavy_edge_matching(torch.randn(4), threshold=0.0)
    with pytest.raises(ValueError, match=r"finite.*1 non-finite"):
        heavy_edge_matching(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), threshold=0.0)
    with pytest.raises(TypeError, match=r"threshold must be a real number"):
        heavy_edge_matching(torch.randn(4, 3), threshold="0.5")


@pytest.mark.parametrize("layer", [nn.BatchNorm1d(5), nn.LSTM(5, 5), nn.PReLU(), nn.Dropout()])
def test_unsupported_layers_are_named_with_the_supported_list(layer):
    model = nn.Sequential(nn.Linear(3, 5), layer, nn.Linear(5, 2))
    name = type(layer).__name__
    with pytest.raises(TypeError, match=rf"layer 1 \('1', {name}\).*supported layers are: Linear, Conv2d, ReLU"):
        coarsen_network(model, threshold=0.0)


def test_inconsistent_networks_are_rejected():
    with pytest.raises(TypeError, match=r"torch.nn.Sequential"):
        coarsen_network(nn.Linear(3, 2), threshold=0.0)
    with pytest.raises(ValueError, match=r"at least 2 Linear/Conv2d layers"):
        coarsen_network(nn.Sequential(nn.Linear(3, 2), nn.ReLU()), threshold=0.0)
    with pytest.raises(ValueError, match=r"layer 2 \('2', Linear\) follows a Conv2d without an nn.Flatten"):
        coarsen_network(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Linear(4, 2)), threshold=0.0)
    with pytest.raises(ValueError, match=r"groups = 2"):
        coarsen_network(nn.Sequential(nn.Conv2d(2, 4, 3, groups=2), nn.Flatten(), nn.Linear(4, 2)), threshold=0.0)
    with pytest.raises(ValueError, match=r"divisible by 4; got in_features = 10"):
        coarsen_network(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(10, 2)), threshold=0.0)
    with pytest.raises(ValueError, match=r"in_features = 5 .*got 6"):
        coarsen_network(nn.Sequential(nn.Linear(3, 5), nn.Linear(6, 2)), threshold=0.0)
    with pytest.raises(TypeError, match=r"start_dim=1, end_dim=-1"):
        coarsen_network(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(0), nn.Linear(4, 2)), threshold=0.0)


def test_layers_too_narrow_to_coarsen():
    with pytest.raises(ValueError, match=r"layer 0 \('0', Linear\) has 1 unit\(s\); coarsening needs at least 2"):
        coarsen_network(fc_net([3, 1, 2]), threshold=0.0)
    model = fc_net([3, 4, 5, 2])
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0]]))  # all S_ij <= 0
    with pytest.warns(CoarseningWarning, match=r"layer 0 .* keeps its 4 units"):
        coarse, plan = coarsen_network(model, threshold=0.5)
    assert plan.fine_widths[0] == plan.coarse_widths[0] == 4 and coarse[0].out_features == 4


def test_parameter_dictionaries_must_match_the_plan():
    model = fc_net([3, 4, 2])
    _, plan = coarsen_network(model, threshold=-1.0)
    fine = params(model)
    with pytest.raises(KeyError, match=r"missing \['2.bias'\]"):
        plan.restrict({k: v for k, v in fine.items() if k != "2.bias"})
    with pytest.raises(ValueError, match=r"0.weight must have the fine shape \(4, 3\); got \(2, 3\)"):
        plan.restrict({**fine, "0.weight": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match=r"one prolongation per hidden layer: 1; got 2"):
        plan_from_prolongations(model, [torch.eye(4)[:, :2]] * 2)
    with pytest.raises(ValueError, match=r"must have 4 rows"):
        plan_from_prolongations(model, [torch.eye(5)[:, :2]])
    with pytest.raises(ValueError, match=r"transfer does not belong"):
        build_coarse_model(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.Linear(4, 2)), plan)
    assert "0       Linear    4 -> 2" in repr(plan)
    assert plan_coarsening(model, threshold=-1.0).coarse_widths == (2,)


def test_scaled_is_the_former_spelling_of_projection_scaled():
    assert CoarseningOptions(scaled=True).projection == "scaled" and CoarseningOptions(projection="scaled").scaled
    assert CoarseningOptions().projection == "average" and not CoarseningOptions(projection="norm-weighted").scaled
    model = fc_net([3, 8, 6, 2], seed=4)
    old, new = plan_coarsening(model, threshold=-1.0, scaled=True), plan_coarsening(model, threshold=-1.0, projection="scaled")
    assert all(torch.equal(a.P, b.P) and torch.equal(a.pi, b.pi) for a, b in zip(old.units, new.units))
    with pytest.raises(ValueError, match=r"^scaled = True means projection = 'scaled'; .*got projection = 'norm-weighted'$"):
        CoarseningOptions(scaled=True, projection="norm-weighted")
    with pytest.raises(ValueError, match=r"projection.*average, norm-weighted, scaled"):
        CoarseningOptions(projection="mean")
    with pytest.raises(ValueError, match=r"matching.*greedy, mutual-best"):
        CoarseningOptions(matching="best")
