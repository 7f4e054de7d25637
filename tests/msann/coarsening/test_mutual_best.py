"""Mutual-best matching (LLNL/MTNN; msann.coarsening.mutual_best, SPEC §4).

Asserted: one round pairs exactly the mutual best units above the threshold
(strictly); repeated rounds leave no mutual best pair among the singletons
and, with distinct similarities, equal the greedy matching that takes the
edges by decreasing weight (a slow reference); the result is an involution
and its operators keep pi P = I.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from msann.coarsening.matching import PROJECTIONS, Matching, cosine_similarity
from msann.coarsening.mutual_best import MATCHINGS, mutual_best_matching

from ..nets import F64, SETTINGS


def _weights(n: int, fan_in: int, seed: int) -> torch.Tensor:
    return torch.randn(n, fan_in, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _best_partners(S: torch.Tensor, units: list[int]) -> dict[int, int]:
    """The most similar other unit among ``units`` (smallest index on ties), for each of ``units``."""
    return {i: max((j for j in units if j != i), key=lambda j: (float(S[i, j]), -j)) for i in units if len(units) > 1}


def _assert_involution(matching: Matching, n: int) -> None:
    assert torch.equal(matching.mate[matching.mate], torch.arange(n))
    assert sorted(itertools.chain(*matching.aggregates)) == list(range(n))


@SETTINGS
@given(n=st.integers(1, 12), fan_in=st.integers(1, 5), threshold=st.floats(-1.0, 1.0), seed=st.integers(0, 2**16))
def test_one_round_pairs_exactly_the_mutual_best_units_above_the_threshold(n, fan_in, threshold, seed):
    weights = _weights(n, fan_in, seed)
    matching = mutual_best_matching(weights, threshold=threshold, rounds=1)
    _assert_involution(matching, n)
    S = cosine_similarity(weights)
    best = _best_partners(S, list(range(n)))
    expected = {(i, j) for i, j in best.items() if i < j and best[j] == i and float(S[i, j]) > threshold}
    assert set(matching.pairs) == expected


@SETTINGS
@given(n=st.integers(1, 12), fan_in=st.integers(1, 5), threshold=st.floats(-1.0, 1.0), seed=st.integers(0, 2**16))
def test_rounds_leave_no_mutual_best_pair_among_the_singletons(n, fan_in, threshold, seed):
    weights = _weights(n, fan_in, seed)
    matching = mutual_best_matching(weights, threshold=threshold)
    _assert_involution(matching, n)
    S = cosine_similarity(weights)
    assert all(float(S[i, j]) > threshold for i, j in matching.pairs)
    first = set(mutual_best_matching(weights, threshold=threshold, rounds=1).pairs)
    assert first <= set(matching.pairs)
    singletons = [a[0] for a in matching.aggregates if len(a) == 1]
    best = _best_partners(S, singletons)
    assert not any(best[best[i]] == i and float(S[i, best[i]]) > threshold for i in best)


def _greedy_by_decreasing_edges(S: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    """Slow reference: take the edges S_ij > threshold by decreasing weight, skipping matched units."""
    n, matched, pairs = S.shape[0], set(), set()
    for weight, i, j in sorted(((S[i, j], i, j) for i in range(n) for j in range(i + 1, n)), reverse=True):
        if weight > threshold and i not in matched and j not in matched:
            pairs.add((i, j))
            matched |= {i, j}
    return pairs


@SETTINGS
@given(n=st.integers(2, 14), fan_in=st.integers(2, 6), threshold=st.floats(-1.0, 0.9), seed=st.integers(0, 2**16))
def test_rounds_to_the_end_equal_the_greedy_matching_by_decreasing_edges(n, fan_in, threshold, seed):
    """With distinct similarities (almost surely for Gaussian rows), mutual best rounds give the locally dominant matching."""
    weights = _weights(n, fan_in, seed)
    matching = mutual_best_matching(weights, threshold=threshold)
    assert set(matching.pairs) == _greedy_by_decreasing_edges(cosine_similarity(weights).numpy(), threshold)


def test_the_threshold_is_strict_and_parallel_rows_pair_below_one():
    weights = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]], dtype=F64)
    assert mutual_best_matching(weights, threshold=0.999).aggregates == ((0, 1), (2, 3))
    assert mutual_best_matching(weights, threshold=1.0).n_coarse == 4  # S_ij > 1 never holds
    orthogonal = torch.eye(3, dtype=F64)
    assert mutual_best_matching(orthogonal, threshold=0.0).n_coarse == 3  # S_ij = 0 is not > 0


@SETTINGS
@given(n=st.integers(2, 12), seed=st.integers(0, 2**16), projection=st.sampled_from(sorted(PROJECTIONS)))
def test_operators_of_a_mutual_best_matching_keep_pi_P_identity(n, seed, projection):
    weights = _weights(n, 4, seed)
    matching = mutual_best_matching(weights, threshold=-1.0)
    unit = PROJECTIONS[projection](matching, weights, _weights(n, 1, seed + 1)[:, 0])
    torch.testing.assert_close(unit.pi @ unit.P, torch.eye(matching.n_coarse, dtype=F64), atol=1e-14, rtol=0)


def test_registry_and_errors():
    assert sorted(MATCHINGS) == ["greedy", "mutual-best"]
    with pytest.raises(ValueError, match=r"rounds"):
        mutual_best_matching(torch.eye(3), threshold=0.0, rounds=0)
    with pytest.raises(ValueError, match=r"threshold must lie in \[-1, 1\].*threshold = 2"):
        mutual_best_matching(torch.eye(3), threshold=2)
