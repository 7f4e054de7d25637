"""Heavy-edge matching and its per-layer operators (SPEC §4, seed 000 §5 and §7).

Identities checked: pi P = I (0/1, scaled and norm-weighted), the heavy-edge matching
invariants, exact reproduction of positively parallel rows by the scaled
projector, and the Kronecker form of the operators after a Flatten.
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

from msann.coarsening.matching import (
    PROJECTIONS,
    SIMILARITY_TOLERANCE,
    VISIT_ORDERS,
    Matching,
    cosine_similarity,
    heavy_edge_matching,
    norm_weighted_transfer,
    piecewise_constant_transfer,
    scaled_transfer,
)
from msann.coarsening.network import CoarseningWarning, build_coarse_model, coarsen_network, plan_coarsening, plan_from_prolongations
from msann.core.layers import LAYER_RULES
from msann.core.smoothing import load_sgd_momentum_buffers, sgd_momentum_buffers
from msann.core.transfer import LayerTransfer, transfer_from_prolongation

from ..nets import *  # noqa: F403  (the small networks and helpers shared by the coarsening tests)


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


def _parallel_rows(matching: Matching, seed: int, columns: int) -> torch.Tensor:
    """Random rows, the second unit of every pair a positive multiple of the first."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((matching.n_fine, columns))
    for i, j in matching.pairs:
        rows[j] = rng.uniform(0.2, 5.0) * rows[i]
    return torch.as_tensor(rows)


@SETTINGS
@given(mate=involutions(), seed=st.integers(0, 2**16))
def test_scaled_projector_reproduces_positively_parallel_rows(mate, seed):
    """Seed 000 eq. 34: rows of an aggregate that are positive multiples of each other are kept by P~ pi~."""
    matching = Matching.from_mate(mate)
    weights = _parallel_rows(matching, seed, 4)
    scaled = scaled_transfer(matching, weights)
    torch.testing.assert_close(scaled.P @ (scaled.pi @ weights), weights)
    plain = piecewise_constant_transfer(matching, dtype=F64)
    if any(not torch.allclose(weights[i], weights[j]) for i, j in matching.pairs):
        assert not torch.allclose(plain.P @ (plain.pi @ weights), weights)  # the 0/1 projector does not


def test_flatten_block_operators_equal_the_kronecker_products():
    matching = Matching.from_mate([3, 1, 4, 0, 2])
    unit = scaled_transfer(matching, torch.randn(5, 6, dtype=F64))
    layer = LayerTransfer("head", LAYER_RULES[nn.Linear], None, unit, block=4)
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




# --------------------------------------------------------------------------- norm-weighted operators (LLNL/MTNN)


@SETTINGS
@given(mate=involutions(), zero_rows=st.booleans(), bias=st.booleans(), dtype=st.sampled_from([torch.float32, F64]),
       seed=st.integers(0, 2**16))
def test_norm_weighted_pi_sums_and_P_splits_by_norms_with_pi_P_exactly_I(mate, zero_rows, bias, dtype, seed):
    matching = Matching.from_mate(mate)
    n = matching.n_fine
    generator = torch.Generator().manual_seed(seed)
    weights, biases = torch.randn(n, 3, dtype=dtype, generator=generator), torch.randn(n, dtype=dtype, generator=generator)
    if zero_rows:
        weights[::2], biases[::2] = 0.0, 0.0
    unit = norm_weighted_transfer(matching, weights, biases if bias else None)
    plain = piecewise_constant_transfer(matching, dtype=dtype)
    assert torch.equal(unit.pi, plain.P.T)  # pi sums an aggregate (MTNN's R)
    assert torch.equal(unit.pi @ unit.P, torch.eye(matching.n_coarse, dtype=dtype))  # bit for bit
    rows = torch.cat([weights, biases[:, None]], dim=1) if bias else weights
    d = torch.linalg.vector_norm(rows, dim=1)
    d = torch.where(d > 0, d, 1.0)
    torch.testing.assert_close(unit.scale, d)
    # MTNN's formula, literally: P = D R^T (R D R^T)^{-1} with R = pi
    D = torch.diag(d)
    torch.testing.assert_close(unit.P, D @ unit.pi.T @ torch.linalg.inv(unit.pi @ D @ unit.pi.T))


@SETTINGS
@given(mate=involutions(), seed=st.integers(0, 2**16))
def test_norm_weighted_projector_reproduces_positively_parallel_rows_with_their_bias(mate, seed):
    """P pi keeps the rows [w_i, b_i] of an aggregate that are positive multiples of each other (as MTNN's docstring says)."""
    matching = Matching.from_mate(mate)
    rows = _parallel_rows(matching, seed, 5)
    unit = norm_weighted_transfer(matching, rows[:, :4], rows[:, 4])
    torch.testing.assert_close(unit.P @ (unit.pi @ rows), rows)


def test_norm_weighted_is_the_scaled_variant_in_rescaled_coarse_coordinates():
    """pi = diag(s) pi~ and P = P~ diag(s)^-1 with s the aggregates' summed norms (here without bias, as scaled)."""
    matching = Matching.from_mate([3, 1, 4, 0, 2])
    weights = torch.randn(5, 6, dtype=F64, generator=torch.Generator().manual_seed(1))
    weighted, scaled = norm_weighted_transfer(matching, weights), scaled_transfer(matching, weights)
    s = scaled.P.sum(dim=0)
    torch.testing.assert_close(weighted.pi, s[:, None] * scaled.pi)
    torch.testing.assert_close(weighted.P, scaled.P / s[None, :])


def test_projections_registry_names_every_variant():
    assert sorted(PROJECTIONS) == ["average", "norm-weighted", "scaled"]
    weights = torch.randn(4, 3, dtype=F64)
    matching = Matching.from_mate([1, 0, 2, 3])
    assert torch.equal(PROJECTIONS["average"](matching, weights, None).P, piecewise_constant_transfer(matching, dtype=F64).P)
    assert torch.equal(PROJECTIONS["scaled"](matching, weights, torch.ones(4, dtype=F64)).P, scaled_transfer(matching, weights).P)
