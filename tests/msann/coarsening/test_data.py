"""Tests of coarse-data levels (msann.coarsening.data): value-coordinate operators and data averaging.

The mathematics asserted: ``pi Q = I``; the data restriction is a convex
combination (rows of non-negative weights summing to 1, so data in [0, 1]
stays in [0, 1]) that composes level by level; with the piecewise-constant
maps, the fine network at ``Theta = P_p theta`` computes on data that is
constant on the coarse aggregates exactly the prolonged output of the
coarse network at ``theta``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from msann.coarsening.data import BlockMean, mlp_value_transfer, value_unit
from msann.coarsening.graph import METHODS, layer_maps, unit_shapes
from msann.coarsening.network import build_coarse_model
from msann.core.transfer import load_parameters, parameters_of
from msann.models.mlp import plain_autoencoder

F64 = torch.float64

#: (widths, data shape, layout): an autoencoder whose data layer is a path or a grid.
NETWORKS = {"path": ([16, 8, 4, 8, 16], (16,)), "grid": ([32, 16, 8, 16, 32], (4, 8))}


def _maps(layout, method, levels=1):
    widths, shape = NETWORKS[layout]
    ends = (0, len(widths) - 1)
    return [layer_maps(width, levels=levels, strategy=layout, method=method, input_shape=shape if i in ends else None)
            for i, width in enumerate(widths)]


@pytest.mark.parametrize("method", ["recipe", "spectral", "piecewise-constant"])
@pytest.mark.parametrize("layout", sorted(NETWORKS))
def test_value_operators_are_left_inverse_and_the_copy_for_piecewise_constant_maps(layout, method):
    for chain in _maps(layout, method):
        unit = value_unit(chain[0], dtype=F64)
        torch.testing.assert_close(unit.pi @ unit.P, torch.eye(unit.n_coarse, dtype=F64), rtol=0, atol=1e-12)
        if method == "piecewise-constant":  # Q is the 0/1 copy, pi the average of each aggregate
            torch.testing.assert_close(unit.P, unit.P.round(), rtol=0, atol=1e-12)
            assert set(unit.P.round().unique().tolist()) == {0.0, 1.0}
            torch.testing.assert_close(unit.pi.sum(dim=1), torch.ones(unit.n_coarse, dtype=F64))


def test_a_map_with_a_column_summing_to_zero_is_refused_with_the_column_and_its_sum():
    P = torch.tensor([[1.0, 0.0], [0.0, 2**-0.5], [0.0, -(2**-0.5)]], dtype=F64)
    with pytest.raises(ValueError, match=r"non-zero sums.*column 1 of the \(3, 2\) map sums to 0"):
        value_unit(P)


def test_the_sign_of_a_column_does_not_change_the_value_operators():
    P = torch.as_tensor(_maps("path", "recipe")[0][0], dtype=F64)
    flipped = P * torch.tensor([(-1.0) ** j for j in range(P.shape[1])], dtype=F64)
    for mine, theirs in zip((value_unit(P).P, value_unit(P).pi), (value_unit(flipped).P, value_unit(flipped).pi)):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(layout=st.sampled_from(sorted(NETWORKS)), levels=st.integers(1, 2), seed=st.integers(0, 2**31 - 1))
def test_data_restriction_is_a_convex_combination_and_keeps_data_in_the_unit_interval(layout, levels, seed):
    widths, shape = NETWORKS[layout]
    shapes = unit_shapes(widths[0], levels=levels, layout=layout, input_shape=shape)
    restrict = BlockMean(shapes[0], shapes[-1])
    matrix = restrict.matrix()
    assert matrix.shape == (np.prod(shapes[-1]), widths[0])
    assert (matrix >= 0).all()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)
    data = torch.rand(5, widths[0], generator=torch.Generator().manual_seed(seed), dtype=F64)
    data[0] = 0.0
    data[1] = 1.0
    coarse = restrict(data)
    assert float(coarse.min()) >= 0.0 and float(coarse.max()) <= 1.0
    torch.testing.assert_close(coarse[1], torch.ones_like(coarse[1]))
    # level by level is the same average as at once
    step = data
    for fine, coarser in zip(shapes, shapes[1:]):
        step = BlockMean(fine, coarser)(step)
    torch.testing.assert_close(step, coarse, rtol=0, atol=1e-12)


def test_block_mean_refuses_shapes_that_do_not_divide():
    with pytest.raises(ValueError, match=r"must divide.*\(6,\) -> \(4,\)"):
        BlockMean((6,), (4,))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("layout", sorted(NETWORKS))
def test_on_data_constant_on_the_aggregates_the_fine_network_is_the_prolonged_coarse_network(layout, activation):
    widths, shape = NETWORKS[layout]
    maps = [chain[0] for chain in _maps(layout, "piecewise-constant")]
    fine = plain_autoencoder(widths, activation=activation, seed=0, dtype=F64)
    transfer = mlp_value_transfer(fine, maps)
    coarse = build_coarse_model(fine, transfer)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a coarse network unrelated to the fine initialisation
        for parameter in coarse.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=F64))
    load_parameters(fine, transfer.prolong(parameters_of(coarse)))
    copy = transfer.units[0].P  # the data layer's 0/1 copy
    coarse_data = torch.rand(7, copy.shape[1], generator=generator, dtype=F64)
    data = coarse_data @ copy.T  # constant on every aggregate
    torch.testing.assert_close(fine(data), coarse(coarse_data) @ transfer.units[-1].P.T, rtol=0, atol=1e-12)
    # the data restriction of the level is the average over the same aggregates
    coarse_shape = unit_shapes(widths[0], levels=1, layout=layout, input_shape=shape)[1]
    torch.testing.assert_close(BlockMean(shape if layout == "grid" else (widths[0],), coarse_shape)(data), coarse_data,
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", sorted(METHODS.keys() - {"optimize"}))
def test_restriction_after_prolongation_is_the_identity_on_every_parameter(method):
    widths, _ = NETWORKS["path"]
    fine = plain_autoencoder(widths, seed=0, dtype=F64)
    transfer = mlp_value_transfer(fine, [chain[0] for chain in _maps("path", method)])
    coarse = parameters_of(build_coarse_model(fine, transfer))
    generator = torch.Generator().manual_seed(2)
    values = {name: torch.randn(value.shape, generator=generator, dtype=F64) for name, value in coarse.items()}
    back = transfer.restrict(transfer.prolong(values))
    for name in values:
        torch.testing.assert_close(back[name], values[name], rtol=0, atol=1e-10)


def test_a_map_per_layer_of_units_is_required():
    fine = plain_autoencoder(NETWORKS["path"][0], seed=0)
    maps = [chain[0] for chain in _maps("path", "recipe")]
    with pytest.raises(ValueError, match=r"one map per layer of units.*\(5\); got 4"):
        mlp_value_transfer(fine, maps[:-1])
    with pytest.raises(ValueError, match=r"map 1 must have 8 rows"):
        mlp_value_transfer(fine, [maps[0], maps[2], *maps[2:]])
