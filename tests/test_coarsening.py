"""Coarsening in width and FAS parameter transfers (SPEC §4, seed 000 §5 and §7).

Identities checked: pi P = I (0/1 and scaled), Pi P = I on parameters,
<x, P x_c> = <x_c, R x>, DNN(P x_c) = DNN_c(x_c) (0/1 P with any elementwise
activation, scaled P with positively homogeneous ones), grad g_c(x_c) =
R grad g(P x_c), the heavy-edge matching invariants, and the zero coarse change.
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

from msann.coarsening import (
    SIMILARITY_TOLERANCE,
    VISIT_ORDERS,
    CoarseningWarning,
    LayerTransfer,
    Matching,
    build_coarse_model,
    coarse_correction,
    coarsen_network,
    cosine_similarity,
    heavy_edge_matching,
    load_sgd_momentum_buffers,
    piecewise_constant_transfer,
    plan_coarsening,
    plan_from_prolongations,
    prolong_parameters,
    restrict_gradients,
    restrict_parameters,
    scaled_transfer,
    sgd_momentum_buffers,
    transfer_from_prolongation,
)

SETTINGS = settings(max_examples=25, deadline=None)
F64 = torch.float64


# --------------------------------------------------------------------------- helpers


def fc_net(widths: list[int], activation: type[nn.Module] = nn.ReLU, *, seed: int = 0, dtype=F64, bias: bool = True) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for position, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(n_in, n_out, bias=bias, dtype=dtype))
        if position < len(widths) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def conv_net(activation: type[nn.Module] = nn.ReLU, *, seed: int = 0, dtype=F64, pool: bool = True) -> nn.Sequential:
    """2 x (7x7) image -> conv 6 ch -> [maxpool] -> conv 5 ch -> flatten -> linear 7 -> linear 3."""
    torch.manual_seed(seed)
    spatial = 2 if pool else 3
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1, dtype=dtype),
        activation(),
        nn.MaxPool2d(2) if pool else nn.Identity(),
        nn.Conv2d(6, 5, 3, stride=1 if pool else 2, padding=0 if pool else 0, dtype=dtype),
        activation(),
        nn.Flatten(),
        nn.Linear(5 * spatial * spatial, 7, dtype=dtype),
        activation(),
        nn.Linear(7, 3, dtype=dtype),
    )


def conv_input(batch: int = 4, *, dtype=F64, pool: bool = True) -> torch.Tensor:
    size = 8 if pool else 7
    return torch.randn(batch, 2, size, size, dtype=dtype, generator=torch.Generator().manual_seed(1))


def plan_quietly(model: nn.Sequential, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseningWarning)
        return coarsen_network(model, **options)


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.named_parameters()}


def random_like(tensors: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(value.shape, dtype=value.dtype, generator=generator) for key, value in tensors.items()}


def inner(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> float:
    return float(sum((left[key] * right[key]).sum() for key in left))


def assert_close(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor], *, atol: float = 1e-12, rtol: float = 0.0) -> None:
    assert left.keys() == right.keys()
    for key in left:
        torch.testing.assert_close(left[key], right[key], atol=atol, rtol=rtol)


@st.composite
def involutions(draw, max_n: int = 12) -> np.ndarray:
    n = draw(st.integers(min_value=1, max_value=max_n))
    order = draw(st.permutations(range(n)))
    pairs = draw(st.integers(min_value=0, max_value=n // 2))
    mate = np.arange(n)
    for a, b in zip(order[: 2 * pairs : 2], order[1 : 2 * pairs : 2]):
        mate[a], mate[b] = b, a
    return mate


fc_widths = st.lists(st.integers(min_value=2, max_value=6), min_size=1, max_size=3).flatmap(
    lambda hidden: st.tuples(st.integers(1, 4), st.just(hidden), st.integers(1, 3)).map(lambda t: [t[0], *t[1], t[2]])
)


# --------------------------------------------------------------------------- heavy-edge matching


def test_matching_from_mate_builds_aggregates_and_rejects_non_involutions():
    matching = Matching.from_mate([2, 1, 0, 4, 3])
    assert matching.aggregates == ((0, 2), (1,), (3, 4))
    assert matching.n_coarse == 3 and matching.pairs == ((0, 2), (3, 4))
    assert matching.aggregate_of.tolist() == [0, 1, 0, 2, 2]
    with pytest.raises(ValueError, match=r"involution.*i = 0"):
        Matching.from_mate([1, 2, 0])
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        Matching.from_mate([0, 1, 3])


@SETTINGS
@given(
    n=st.integers(1, 12),
    fan_in=st.integers(1, 5),
    threshold=st.floats(-1.0, 1.0),
    order=st.sampled_from(sorted(VISIT_ORDERS)),
    seed=st.integers(0, 2**16),
)
def test_heavy_edge_matching_invariants(n, fan_in, threshold, order, seed):
    weights = torch.randn(n, fan_in, dtype=F64, generator=torch.Generator().manual_seed(seed))
    matching = heavy_edge_matching(weights, threshold=threshold, order=order, rng=seed)
    mate = matching.mate
    S = cosine_similarity(weights)
    assert torch.equal(mate[mate], torch.arange(n))  # involution
    assert sorted(itertools.chain(*matching.aggregates)) == list(range(n))  # a partition
    assert matching.n_coarse == n - len(matching.pairs)
    for i, j in matching.pairs:
        assert S[i, j] >= threshold - SIMILARITY_TOLERANCE
    singletons = [i for i in range(n) if int(mate[i]) == i]
    for i, j in itertools.combinations(singletons, 2):  # maximal: no two singletons could pair
        assert S[i, j] < threshold - SIMILARITY_TOLERANCE


@SETTINGS
@given(
    base=st.integers(2, 9),
    duplicated=st.sets(st.integers(0, 8), max_size=5),
    threshold=st.floats(-1.0, 1.0),
    scale_copies=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_duplicated_rows_are_always_paired(base, duplicated, threshold, scale_copies, seed):
    """Heaviest-first visiting pairs every row with its (positively scaled) copy, for any theta <= 1."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((base, 4))
    copies = sorted(d for d in duplicated if d < base)
    factors = rng.uniform(0.5, 2.0, len(copies)) if scale_copies else np.ones(len(copies))
    weights = np.vstack([rows, rows[copies] * factors[:, None]])
    shuffle = rng.permutation(weights.shape[0])  # unit shuffle[k] is original row k's position
    position = np.argsort(shuffle)
    weights = weights[shuffle]
    matching = heavy_edge_matching(torch.as_tensor(weights), threshold=threshold)
    for copy_index, original in enumerate(copies):
        i, j = position[original], position[base + copy_index]
        assert int(matching.mate[i]) == j


def test_algorithm_1_visit_orders_on_a_hand_worked_example():
    """Unit 0 is as close to 1 as to its duplicate 2: in natural order it takes 1 and leaves 2 alone."""
    W = torch.tensor([[1.0, 0.5, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=F64)
    assert heavy_edge_matching(W, threshold=0.5, order="natural").aggregates == ((0, 1), (2,))
    assert heavy_edge_matching(W, threshold=0.5, order="heaviest").aggregates == ((0,), (1, 2))


def test_threshold_is_inclusive_and_exact_duplicates_pass_theta_one():
    orthogonal = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert heavy_edge_matching(orthogonal, threshold=0.0).n_coarse == 1  # S = 0 >= theta = 0
    assert heavy_edge_matching(orthogonal, threshold=1e-3).n_coarse == 2
    row = torch.randn(1, 37, dtype=torch.float32, generator=torch.Generator().manual_seed(3))
    duplicates = torch.cat([row, torch.randn(1, 37), row])
    assert heavy_edge_matching(duplicates, threshold=1.0).aggregates == ((0, 2), (1,))


def test_zero_rows_pair_with_each_other_only():
    W = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    S = cosine_similarity(W)
    assert S[0, 2] == 1.0 and S[0, 1] == 0.0 and S[1, 3] == 0.0
    assert heavy_edge_matching(W, threshold=0.5).aggregates == ((0, 2), (1,), (3,))


def test_convolution_weights_are_matched_on_flattened_rows_and_random_order_is_seeded():
    weights = torch.randn(10, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    flat = heavy_edge_matching(weights.reshape(10, -1), threshold=-1.0, order="random", rng=5)
    conv = heavy_edge_matching(weights, threshold=-1.0, order="random", rng=5)
    assert torch.equal(flat.mate, conv.mate) and conv.n_coarse == 5


# --------------------------------------------------------------------------- per-layer operators


@SETTINGS
@given(mate=involutions(), zero_rows=st.booleans(), seed=st.integers(0, 2**16))
def test_pi_P_is_identity_for_plain_and_scaled_operators(mate, zero_rows, seed):
    matching = Matching.from_mate(mate)
    n = matching.n_fine
    weights = torch.randn(n, 3, dtype=F64, generator=torch.Generator().manual_seed(seed))
    if zero_rows:
        weights[::2] = 0.0
    identity = torch.eye(matching.n_coarse, dtype=F64)
    plain = piecewise_constant_transfer(matching, dtype=F64)
    assert set(plain.P.unique().tolist()) <= {0.0, 1.0} and torch.equal(plain.P.sum(dim=1), torch.ones(n, dtype=F64))
    torch.testing.assert_close(plain.pi @ plain.P, identity, atol=1e-15, rtol=0)
    scaled = scaled_transfer(matching, weights)
    d = torch.linalg.vector_norm(weights, dim=1)
    torch.testing.assert_close(scaled.P, torch.where(d > 0, d, 1.0)[:, None] * plain.P)  # P~ = D P
    torch.testing.assert_close(scaled.pi @ scaled.P, identity, atol=1e-14, rtol=0)
    # SPEC's formula, literally: pi~ = (P^T D P)^{-1} P^T
    D = torch.diag(scaled.scale)
    torch.testing.assert_close(scaled.pi, torch.linalg.solve(plain.P.T @ D @ plain.P, plain.P.T))


@SETTINGS
@given(mate=involutions(), seed=st.integers(0, 2**16))
def test_scaled_projector_reproduces_positively_parallel_rows(mate, seed):
    """Seed 000 eq. 34: rows of an aggregate that are positive multiples of each other are kept by P~ pi~."""
    matching = Matching.from_mate(mate)
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((matching.n_fine, 4))
    for i, j in matching.pairs:
        weights[j] = rng.uniform(0.2, 5.0) * weights[i]
    weights = torch.as_tensor(weights)
    scaled = scaled_transfer(matching, weights)
    torch.testing.assert_close(scaled.P @ (scaled.pi @ weights), weights)
    plain = piecewise_constant_transfer(matching, dtype=F64)
    if any(not torch.allclose(weights[i], weights[j]) for i, j in matching.pairs):
        assert not torch.allclose(plain.P @ (plain.pi @ weights), weights)  # the 0/1 projector does not


def test_flatten_block_operators_equal_the_kronecker_products():
    matching = Matching.from_mate([3, 1, 4, 0, 2])
    unit = scaled_transfer(matching, torch.randn(5, 6, dtype=F64))
    layer = LayerTransfer("head", "Linear", None, unit, block=4)
    W = torch.randn(3, 5 * 4, dtype=F64)
    dense = unit.kron(4)
    torch.testing.assert_close(layer.apply("restrict", "weight", W), W @ dense.P)
    torch.testing.assert_close(layer.apply("restrict_gradient", "weight", W), W @ dense.pi.T)
    W_c = torch.randn(3, 3 * 4, dtype=F64)
    torch.testing.assert_close(layer.apply("prolong", "weight", W_c), W_c @ dense.pi)


def test_given_prolongation_uses_its_left_inverse():
    Q, _ = torch.linalg.qr(torch.randn(8, 4, dtype=F64, generator=torch.Generator().manual_seed(0)))
    unit = transfer_from_prolongation(Q)
    torch.testing.assert_close(unit.pi, Q.T)
    with pytest.raises(ValueError, match=r"pi P must equal I"):
        transfer_from_prolongation(Q, pi=torch.zeros(4, 8, dtype=F64))
    with pytest.raises(ValueError, match=r"n_coarse <= n_fine"):
        transfer_from_prolongation(torch.zeros(3, 5))


# --------------------------------------------------------------------------- parameter transfers


def _check_transfer_identities(model: nn.Sequential, plan) -> None:
    fine = params(model)
    coarse = restrict_parameters(plan, fine)
    assert {k: tuple(v.shape) for k, v in coarse.items()} == {k: s[1] for k, s in plan.parameter_shapes.items()}
    x_c = random_like(coarse, 1)
    assert_close(restrict_parameters(plan, prolong_parameters(plan, x_c)), x_c)  # Pi P = I
    x = random_like(fine, 2)
    lhs, rhs = inner(x, prolong_parameters(plan, x_c)), inner(x_c, restrict_gradients(plan, x))
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs))  # <x, P x_c> = <x_c, R x>
    projected = prolong_parameters(plan, restrict_parameters(plan, x))
    assert_close(prolong_parameters(plan, restrict_parameters(plan, projected)), projected)  # Q^2 = Q


@SETTINGS
@given(widths=fc_widths, threshold=st.floats(-1.0, 1.0), scaled=st.booleans(), bias=st.booleans(), seed=st.integers(0, 999))
def test_parameter_identities_fully_connected(widths, threshold, scaled, bias, seed):
    model = fc_net(widths, seed=seed, bias=bias)
    _, plan = plan_quietly(model, threshold=threshold, scaled=scaled)
    _check_transfer_identities(model, plan)


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("pool", [False, True])
def test_parameter_identities_convolutional(scaled, pool):
    model = conv_net(pool=pool)
    _, plan = coarsen_network(model, threshold=-1.0, scaled=scaled)
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
    assert_close(params(coarse), restrict_parameters(plan, params(model)), atol=0)
    assert params(model).keys() == params(coarse).keys()
    coarser, _ = coarsen_network(coarse, threshold=-1.0)  # one more level
    assert coarser[0].out_features == 3 and coarser[2].out_features == 2


# --------------------------------------------------------------------------- exactness of the coarse network


def _assert_network_identity(model, plan, coarse, inputs, *, atol=1e-12) -> None:
    x_c = random_like(params(coarse), 7)
    fine_output = functional_call(model, prolong_parameters(plan, x_c), (inputs,))
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


@pytest.mark.parametrize("activation", [nn.ReLU, nn.LeakyReLU, nn.Identity])
def test_scaled_prolongation_is_exact_for_positively_homogeneous_activations(activation):
    model = fc_net([3, 8, 7, 2], activation, seed=2)
    coarse, plan = coarsen_network(model, threshold=-1.0, scaled=True)
    _assert_network_identity(model, plan, coarse, torch.randn(5, 3, dtype=F64))
    model = conv_net(activation)
    coarse, plan = coarsen_network(model, threshold=-1.0, scaled=True)
    _assert_network_identity(model, plan, coarse, conv_input())


def test_scaled_prolongation_is_not_exact_for_tanh():
    """The identity check above can fail: tanh(d z) != d tanh(z)."""
    model = fc_net([3, 8, 2], nn.Tanh, seed=2)
    coarse, plan = coarsen_network(model, threshold=-1.0, scaled=True)
    with pytest.raises(AssertionError):
        _assert_network_identity(model, plan, coarse, torch.randn(5, 3, dtype=F64))


@pytest.mark.parametrize(
    ("make", "inputs", "scaled"),
    [
        (lambda: fc_net([3, 8, 7, 2], nn.Tanh), lambda: torch.randn(6, 3, dtype=F64), False),
        (lambda: fc_net([3, 8, 7, 2], nn.ReLU), lambda: torch.randn(6, 3, dtype=F64), True),
        (lambda: conv_net(nn.ReLU), conv_input, True),
        (lambda: conv_net(nn.Sigmoid, pool=False), lambda: conv_input(pool=False), False),
    ],
)
def test_coarse_gradient_is_the_restricted_fine_gradient(make, inputs, scaled):
    """g_c(x_c) = g(P x_c) for all x_c, so grad g_c(x_c) = R grad g(P x_c) (FAS consistency, tau = 0)."""
    model, data = make(), inputs()
    coarse, plan = coarsen_network(model, threshold=-1.0, scaled=scaled)
    target = torch.randn(data.shape[0], 2 if data.ndim == 2 else 3, dtype=F64)
    x_c = {key: value.requires_grad_() for key, value in random_like(params(coarse), 3).items()}
    x = {key: value.detach().requires_grad_() for key, value in prolong_parameters(plan, x_c).items()}
    fine_loss = ((functional_call(model, x, (data,)) - target) ** 2).mean()
    coarse_loss = ((functional_call(coarse, x_c, (data,)) - target) ** 2).mean()
    fine_gradient = dict(zip(x, torch.autograd.grad(fine_loss, list(x.values()))))
    coarse_gradient = dict(zip(x_c, torch.autograd.grad(coarse_loss, list(x_c.values()))))
    assert_close(restrict_gradients(plan, fine_gradient), coarse_gradient, atol=1e-12, rtol=1e-12)


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


@pytest.mark.parametrize("scaled", [False, True])
def test_zero_coarse_change_leaves_parameters_and_momentum_unchanged(scaled):
    model = conv_net()
    _, plan = coarsen_network(model, threshold=-1.0, scaled=scaled)
    for fine in (params(model), random_like(params(model), 4)):  # parameters, a momentum vector
        restricted = restrict_parameters(plan, fine)
        corrected = coarse_correction(plan, fine, restricted, restricted, alpha=0.7)
        assert all(torch.equal(corrected[key], fine[key]) for key in fine)


def test_correction_makes_the_restriction_equal_the_coarse_iterate():
    """Pi (x + P (x_c - Pi x)) = x_c, because Pi P = I."""
    model = fc_net([3, 8, 6, 2])
    _, plan = coarsen_network(model, threshold=-1.0, scaled=True)
    x = params(model)
    restricted = restrict_parameters(plan, x)
    x_c = random_like(restricted, 9)
    assert_close(restrict_parameters(plan, coarse_correction(plan, x, x_c, restricted)), x_c)
    half = coarse_correction(plan, x, x_c, restricted, alpha=0.5)
    assert_close(restrict_parameters(plan, half), {k: (restricted[k] + x_c[k]) / 2 for k in x_c})


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
    load_sgd_momentum_buffers(coarse_optimizer, coarse, restrict_parameters(plan, buffers))
    before = params(coarse)
    gradient = random_like(before, 5)
    for key, parameter in coarse.named_parameters():
        parameter.grad = gradient[key].clone()
    coarse_optimizer.step()
    restricted = restrict_parameters(plan, buffers)
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
        restrict_parameters(plan, {k: v for k, v in fine.items() if k != "2.bias"})
    with pytest.raises(ValueError, match=r"0.weight must have the fine shape \(4, 3\); got \(2, 3\)"):
        restrict_parameters(plan, {**fine, "0.weight": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match=r"one prolongation per hidden layer: 1; got 2"):
        plan_from_prolongations(model, [torch.eye(4)[:, :2]] * 2)
    with pytest.raises(ValueError, match=r"must have 4 rows"):
        plan_from_prolongations(model, [torch.eye(5)[:, :2]])
    with pytest.raises(ValueError, match=r"plan does not belong"):
        build_coarse_model(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.Linear(4, 2)), plan)
    assert "0       Linear    4 -> 2" in repr(plan)
    assert plan_coarsening(model, threshold=-1.0).coarse_widths == (2,)
