"""The one transfer operator: its invariants for every registered kind (msann.core.transfer, msann.core.layers).

For every coarsener of :data:`msann.coarsening.network.COARSENERS` (with the
0/1 and the scaled operators), on networks that use every layer rule with
weights of :data:`msann.core.layers.LAYER_RULES`, and for MsANN's embedded
transfers: ``R_p P_p = I`` and ``<x, P_p y> = <R_g x, y>`` (``R_g = P_p^T``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from msann.coarsening.graph import layer_maps
from msann.coarsening.network import COARSENERS, CoarseningOptions, coarsen
from msann.core.layers import LAYER_RULES, along, rule_of
from msann.core.transfer import Transfer, UnitTransfer
from msann.methods.msann import build_msann

from ..nets import fc_net

F64 = torch.float64

def _conv_net() -> nn.Sequential:
    """2 x 6 x 6 images -> conv 6 ch -> max-pool -> conv 4 ch -> flatten -> linear 8 -> linear 3 (even hidden widths)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1, dtype=F64), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 4, 3, padding=1, dtype=F64), nn.Tanh(), nn.Flatten(),
                         nn.Linear(36, 8, dtype=F64), nn.ReLU(), nn.Linear(8, 3, dtype=F64))


#: Networks covering every layer rule with weights (Linear alone; Conv2d, pooling, Flatten, Linear).
NETWORKS = {"linear": lambda: fc_net([5, 8, 6, 3]), "conv2d": _conv_net}
#: Every coarsener of hidden unit layers, with the plain and the scaled operators where they differ (depth, graph-data: below).
KINDS = [(name, scaled) for name in sorted(COARSENERS) if name not in ("depth", "graph-data") for scaled in (False, True)]


#: Maps of the "explicit" coarsener for every hidden width of the networks: random orthonormal n x n/2.
EXPLICIT = tuple(torch.linalg.qr(torch.randn(n, n // 2, generator=torch.Generator().manual_seed(n), dtype=F64))[0]
                 for n in (4, 6, 8))


def _transfer(kind, network) -> Transfer:
    name, scaled = kind
    return coarsen(name, NETWORKS[network](), options=CoarseningOptions(threshold=-1.0, scaled=scaled, explicit=EXPLICIT),
                   rng=np.random.default_rng(0))


def _random(shapes: dict, side: int, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape[side], generator=generator, dtype=F64) for key, shape in shapes.items()}


def _inner(left: dict, right: dict) -> float:
    return float(sum((left[key] * right[key]).sum() for key in left))


def _check_invariants(transfer: Transfer, seed: int) -> None:
    coarse, fine = _random(transfer.parameter_shapes, 1, seed), _random(transfer.parameter_shapes, 0, seed + 1)
    back = transfer.restrict(transfer.prolong(coarse))
    for key in coarse:
        torch.testing.assert_close(back[key], coarse[key], rtol=0, atol=1e-12)  # R_p P_p = I
    left, right = _inner(fine, transfer.prolong(coarse)), _inner(transfer.restrict_gradient(fine), coarse)
    assert abs(left - right) <= 1e-12 * max(1.0, abs(left))  # <x, P_p y> = <R_g x, y>


def test_the_networks_exercise_every_layer_rule_with_weights():
    weighted = {rule.kind for rule in LAYER_RULES.values() if rule.transfer is not None}
    used = {rule_of(module).kind for build in NETWORKS.values() for module in build().children()}
    assert weighted <= used


@settings(max_examples=10, deadline=None)
@given(kind=st.sampled_from(KINDS), network=st.sampled_from(sorted(NETWORKS)), seed=st.integers(0, 2**16))
def test_every_coarsener_gives_a_left_inverse_restriction_and_the_adjoint_gradient_restriction(kind, network, seed):
    _check_invariants(_transfer(kind, network), seed)


@pytest.mark.parametrize("strategy", ["path", "grid", "random-orthogonal"])
@pytest.mark.parametrize("level", [1, 2])
def test_embedded_msann_transfers_have_the_same_invariants(strategy, level):
    widths = [64, 32, 16, 32, 64]
    maps = [layer_maps(width, levels=2, strategy=strategy, rng=i) for i, width in enumerate(widths)]
    _check_invariants(build_msann(widths, maps, dtype=F64).transfer(level), seed=level)


@pytest.mark.parametrize("interpolation", ["constant", "linear"])
def test_the_depth_coarsener_has_the_same_invariants(interpolation):
    from msann.models.resnet import ResNet

    assert "depth" in COARSENERS  # the only coarsener not covered by the unit-layer test above
    model = ResNet(5, 3, width=4, blocks=6, step=0.5, dtype=F64)
    transfer = coarsen("depth", model, options=CoarseningOptions(interpolation=interpolation), rng=None)
    coarse = COARSENERS["depth"].coarse_model(model, transfer)
    shapes = {name: (tuple(p.shape), None) for name, p in model.named_parameters()}
    fine = _random(shapes, 0, 1)
    small = {name: torch.randn(p.shape, dtype=F64, generator=torch.Generator().manual_seed(2)) for name, p in coarse.named_parameters()}
    back = transfer.restrict(transfer.prolong(small))
    for key in small:
        torch.testing.assert_close(back[key], small[key], rtol=0, atol=1e-12)  # R_p P_p = I
    left, right = _inner(fine, transfer.prolong(small)), _inner(transfer.restrict_gradient(fine), small)
    assert abs(left - right) <= 1e-12 * max(1.0, abs(left))


@pytest.mark.parametrize("method", ["recipe", "piecewise-constant"])
def test_the_graph_data_coarsener_has_the_same_invariants_with_the_data_units_coarsened(method):
    options = CoarseningOptions(data_shape=(4, 4), target_shape=(6,), graph_method=method)
    transfer = coarsen("graph-data", fc_net([16, 8, 4, 6]), options=options, rng=None)
    assert transfer.fine_widths == (16, 8, 4, 6) and transfer.coarse_widths == (8, 4, 2, 3)  # input and output halved too
    _check_invariants(transfer, seed=3)
    coarse = COARSENERS["graph-data"].coarse_model(fc_net([16, 8, 4, 6]), transfer)
    assert [tuple(p.shape) for p in coarse.parameters()] == [(4, 8), (4,), (2, 4), (2,), (3, 2), (3,)]


def test_orthonormal_unit_transfer_restricts_with_the_transpose_itself():
    P = torch.linalg.qr(torch.randn(6, 3, dtype=F64))[0]
    unit = UnitTransfer.orthonormal(P)
    assert unit.pi.data_ptr() == P.data_ptr() and torch.equal(unit.pi, P.T)


def test_along_applies_the_kronecker_product_with_the_identity():
    generator = torch.Generator().manual_seed(0)
    matrix, tensor = torch.randn(2, 3, generator=generator, dtype=F64), torch.randn(5, 12, generator=generator, dtype=F64)
    expected = tensor @ torch.kron(matrix, torch.eye(4, dtype=F64)).T
    torch.testing.assert_close(along(matrix, tensor, 1, block=4), expected, rtol=0, atol=1e-13)


def test_an_unknown_direction_or_role_lists_the_valid_ones():
    layer = _transfer(("matching", False), "linear").layers[0]
    with pytest.raises(ValueError, match=r"valid directions are: prolong, restrict, restrict_gradient"):
        layer.apply("sideways", "weight", torch.zeros(8, 5))
    with pytest.raises(ValueError, match=r"valid roles are: bias, weight"):
        layer.apply("prolong", "gain", torch.zeros(4, 5))


def test_the_explicit_coarsener_names_a_width_it_has_no_map_for():
    with pytest.raises(ValueError, match=r"no map for layer 0 \('0'\) of 5 units; its maps have shapes \[\(4, 2\), \(6, 3\), \(8, 4\)\]"):
        coarsen("explicit", fc_net([3, 5, 2]), options=CoarseningOptions(explicit=EXPLICIT), rng=np.random.default_rng(0))


def test_frozen_layers_stay_frozen_on_the_coarse_level_and_have_zero_gradient():
    from msann.coarsening.network import build_coarse_model
    from msann.core.coarse import mean_gradient

    model = fc_net([5, 8, 6, 3])
    model[2].weight.requires_grad_(False)
    transfer = _transfer(("explicit", False), "linear")
    coarse = build_coarse_model(model, transfer)
    assert [p.requires_grad for p in coarse.parameters()] == [p.requires_grad for p in model.parameters()]
    batch = (torch.randn(4, 5, dtype=F64), torch.randn(4, 3, dtype=F64))
    gradient = mean_gradient(coarse, lambda x, y: torch.nn.functional.mse_loss(coarse(x), y), [batch])
    assert not gradient["2.weight"].any() and gradient["0.weight"].any()


def test_a_layer_kind_without_a_rule_is_refused_by_name():
    with pytest.raises(TypeError, match=r"'1', GRU\) is not supported by the coarsener; supported layers are: Linear, Conv2d"):
        coarsen("matching", nn.Sequential(nn.Linear(3, 4), nn.GRU(4, 4)), options=CoarseningOptions(), rng=np.random.default_rng(0))
