"""Minimal eigenvalue matching (SPEC §2, eq. 3.2) against a brute-force reference.

The reference enumerates every injective map columns -> rows
(``itertools.permutations`` yields them in lexicographic order of the ``rows``
tuple), so the first one within the tie tolerance of the minimum is the
lexicographically first minimal-cost matching required by the tie rule.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphprolong.graphs import cycle_graph, grid_graph, path_graph
from graphprolong.matching import MATCHERS, assignment, box_matching, eigenvalue_matching, matching_cost_matrix
from graphprolong.matrices import spectrum

TIE_TOLERANCE = 1e-12  # eigenvalue_matching's default, relative to max(1, max mu^2)


@lru_cache(maxsize=None)
def injective_maps(n_large: int, n_small: int) -> np.ndarray:
    """All injective maps as an (n_small, count) array, columns in lexicographic order."""
    maps = np.array(list(itertools.permutations(range(n_large), n_small)), dtype=np.int8)
    return np.ascontiguousarray(maps.T)


def brute_force(small, large) -> tuple[tuple[int, ...], float]:
    """Lexicographically first ``rows`` among the matchings within tolerance of the minimum."""
    small, large = np.asarray(small, dtype=float), np.asarray(large, dtype=float)
    cost = matching_cost_matrix(small, large)
    maps = injective_maps(large.size, small.size)
    totals = np.zeros(maps.shape[1])
    for column in range(small.size):
        totals += cost[:, column][maps[column]]
    minimum = float(totals.min())
    tolerance = TIE_TOLERANCE * max(1.0, float(np.max(large**2)))
    first = int(np.flatnonzero(totals <= minimum + tolerance)[0])
    return tuple(int(row) for row in maps[:, first]), minimum


def assignment_cost(cost: np.ndarray, rows: np.ndarray) -> float:
    return float(cost[rows, np.arange(cost.shape[1])].sum())


def assert_injective(rows: np.ndarray, n_large: int) -> None:
    assert len(set(rows.tolist())) == rows.size
    assert np.all((0 <= rows) & (rows < n_large))


@st.composite
def spectra(draw, values=st.floats(min_value=-8.0, max_value=8.0, allow_nan=False, allow_infinity=False)):
    """Two ascending spectra, 1 <= n_small <= 7, n_small <= n_large <= 10."""
    n_small = draw(st.integers(min_value=1, max_value=7))
    n_large = draw(st.integers(min_value=n_small, max_value=10))
    small = sorted(draw(st.lists(values, min_size=n_small, max_size=n_small)))
    large = sorted(draw(st.lists(values, min_size=n_large, max_size=n_large)))
    return np.array(small), np.array(large)


# Values on a dyadic grid: every cost and every sum is exact, so ties are exact ties.
dyadic = st.integers(min_value=-12, max_value=12).map(lambda k: k / 4)
# Values on a decimal grid: ties only up to rounding (distinct totals differ by >= 1e-6).
decimal = st.integers(min_value=-3000, max_value=3000).map(lambda k: k / 1000)


def relative_gap(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(a), abs(b))


def assert_optimal(cost: float, minimum: float, large: np.ndarray) -> None:
    """``cost`` is the minimum up to rounding plus the tie slack: a matching that the
    tie rule prefers may cost up to ``tie_tolerance * max(1, max mu^2)`` more."""
    slack = TIE_TOLERANCE * max(1.0, float(np.max(large**2)))
    rounding = 1e-12 * max(1.0, minimum)
    assert minimum - rounding <= cost <= minimum + slack + rounding


# --------------------------------------------------------------------------- optimality


@settings(max_examples=80, deadline=None)
@given(pair=spectra())
def test_munkres_and_scipy_reach_the_same_optimal_cost(pair):
    small, large = pair
    cost = matching_cost_matrix(small, large)
    by_munkres = assignment(cost, method="munkres")
    by_scipy = assignment(cost, method="scipy")
    assert_injective(by_munkres, large.size)
    assert_injective(by_scipy, large.size)
    assert relative_gap(assignment_cost(cost, by_munkres), assignment_cost(cost, by_scipy)) <= 1e-9


@settings(max_examples=60, deadline=None)
@given(pair=spectra(), method=st.sampled_from(sorted(MATCHERS)))
def test_matching_cost_is_the_brute_force_optimum(pair, method):
    small, large = pair
    matching = eigenvalue_matching(small, large, method=method)
    _, minimum = brute_force(small, large)
    cost = matching_cost_matrix(small, large)
    assert_optimal(matching.cost, minimum, large)
    assert_optimal(matching.cost, assignment_cost(cost, assignment(cost, method="scipy")), large)
    assert matching.cost == pytest.approx(assignment_cost(cost, matching.rows), rel=1e-12, abs=1e-300)


@settings(max_examples=80, deadline=None)
@given(pair=st.one_of(spectra(dyadic), spectra(decimal), spectra()))
def test_matching_is_the_lexicographically_first_optimum(pair):
    small, large = pair
    expected_rows, minimum = brute_force(small, large)
    for method in sorted(MATCHERS):
        matching = eigenvalue_matching(small, large, method=method)
        assert tuple(matching.rows.tolist()) == expected_rows
        assert_optimal(matching.cost, minimum, large)


# --------------------------------------------------------------------------- ties


def test_tie_rule_on_repeated_eigenvalues():
    small, large = [0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0, 1.0, 2.0]
    expected_rows, minimum = brute_force(small, large)
    assert expected_rows == (0, 2, 3) and minimum == 0.0
    for method in sorted(MATCHERS):
        matching = eigenvalue_matching(small, large, method=method)
        assert tuple(matching.rows.tolist()) == expected_rows
        assert matching.cost == 0.0


def test_tie_rule_on_cycle_6_to_12_spectra():
    """C_6 -> C_12: the double eigenvalues (-3, -1 in both) differ only by rounding."""
    small, _ = spectrum(cycle_graph(6))
    large, _ = spectrum(cycle_graph(12))
    expected_rows, minimum = brute_force(small, large)
    assert expected_rows == (0, 3, 4, 7, 8, 11)
    assert minimum < 1e-24
    for method in sorted(MATCHERS):
        matching = eigenvalue_matching(small, large, method=method)
        assert tuple(matching.rows.tolist()) == expected_rows
        assert matching.cost < 1e-24


def test_tie_rule_with_equal_spectra_is_the_identity():
    small, _ = spectrum(grid_graph([3, 3], periodic=True))  # many repeated eigenvalues
    matching = eigenvalue_matching(small, small)
    assert np.array_equal(matching.rows, np.arange(9))
    assert matching.cost < 1e-24


def test_tie_rule_prefers_the_first_of_equal_neighbours():
    # 1 is equally far from 0 and 2: the first (row 0) wins; then 3 takes row 2 (the 2),
    # not row 3 (the 4), which is equally far.
    matching = eigenvalue_matching([1.0, 3.0], [0.0, 2.0, 4.0])
    assert matching.rows.tolist() == [0, 1]
    assert brute_force([1.0, 3.0], [0.0, 2.0, 4.0])[0] == (0, 1)


def test_tie_tolerance_does_not_accumulate_over_columns():
    """Two near-ties of 0.7 * tolerance each: together they are 1.4 * tolerance above the
    optimum, so the pair is not a tie.  The lexicographically first matching within
    tolerance of the minimum is (0, 3) (cost 0.7 tolerance), not (0, 2) (cost 1.4 tolerance)."""
    epsilon = np.sqrt(0.7 * TIE_TOLERANCE)  # max mu^2 = 1: the tolerance is 1e-12
    small, large = [0.0, 1.0], [-epsilon, 0.0, 1.0 - epsilon, 1.0]
    expected_rows, minimum = brute_force(small, large)
    assert expected_rows == (0, 3) and minimum == 0.0
    matching = eigenvalue_matching(small, large)
    assert tuple(matching.rows.tolist()) == expected_rows
    assert_optimal(matching.cost, minimum, np.array(large))


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13])
@pytest.mark.parametrize("graph_of", [path_graph, cycle_graph], ids=["path", "cycle"])
def test_path_and_cycle_spectra_embed_into_the_doubled_graph(graph_of, n):
    """spec(L(G_n)) is a subset of spec(L(G_2n)) for paths and cycles: cost ~ 0 (SPEC §2)."""
    small, _ = spectrum(graph_of(n))
    large, _ = spectrum(graph_of(2 * n))
    matching = eigenvalue_matching(small, large)
    assert matching.cost < 1e-24
    np.testing.assert_allclose(large[matching.rows], small, atol=1e-12)


# --------------------------------------------------------------------------- the matrix M


@settings(max_examples=40, deadline=None)
@given(pair=spectra())
def test_matching_matrix_has_one_1_per_column_and_at_most_one_per_row(pair):
    small, large = pair
    matching = eigenvalue_matching(small, large)
    M = matching.matrix
    assert M.shape == (large.size, small.size)
    assert set(np.unique(M)) <= {0.0, 1.0}
    assert np.array_equal(M.sum(axis=0), np.ones(small.size))
    assert np.all(M.sum(axis=1) <= 1)
    assert np.array_equal(M.T @ M, np.eye(small.size))
    assert np.array_equal(np.flatnonzero(M.T.ravel()) % large.size, matching.rows)
    # the objective of eq. 3.2 evaluated on M is the reported cost
    cost = matching_cost_matrix(small, large)
    assert float(np.sum(M * cost)) == pytest.approx(matching.cost, rel=1e-12, abs=1e-300)


def test_matching_cost_matrix_entries():
    cost = matching_cost_matrix(np.array([0.0, 1.0]), np.array([0.0, 2.0, 5.0]))
    assert np.array_equal(cost, [[0.0, 1.0], [4.0, 1.0], [25.0, 16.0]])


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "small, large, which",
    [([1.0, 0.0], [0.0, 1.0, 2.0], "small"), ([0.0, 1.0], [0.0, 2.0, 1.0], "large")],
)
def test_unsorted_spectrum_is_rejected(small, large, which):
    with pytest.raises(ValueError, match=rf"the {which} spectrum must be sorted in ascending order"):
        eigenvalue_matching(small, large)


def test_fewer_large_than_small_eigenvalues_is_rejected():
    with pytest.raises(ValueError, match=r"n_small <= n_large .*got n_small = 3, n_large = 2"):
        eigenvalue_matching([0.0, 1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"got n_small = 0, n_large = 2"):
        eigenvalue_matching([], [0.0, 1.0])


@pytest.mark.parametrize("call", [lambda m: eigenvalue_matching([0.0], [0.0, 1.0], method=m), lambda m: assignment(np.ones((2, 1)), method=m)])
def test_unknown_method_lists_munkres_and_scipy(call):
    with pytest.raises(ValueError, match=r"unknown matching method 'hungarian'; valid matching methods are: munkres, scipy"):
        call("hungarian")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_eigenvalue_is_rejected(bad):
    with pytest.raises(ValueError, match=r"small spectrum must have finite entries; found 1 non-finite of 2"):
        eigenvalue_matching([0.0, bad], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"large spectrum must have finite entries; found 1 non-finite of 3"):
        eigenvalue_matching([0.0, 1.0], [0.0, 1.0, bad])


@pytest.mark.parametrize(
    "cost, pattern",
    [
        (np.ones((2, 3)), r"n_large x n_small with n_large >= n_small; got shape \(2, 3\)"),
        (np.ones(3), r"got shape \(3,\)"),
        (np.array([[0.0], [np.nan]]), r"cost matrix must have finite entries; found 1 non-finite of 2"),
    ],
)
def test_bad_cost_matrix_is_rejected(cost, pattern):
    with pytest.raises(ValueError, match=pattern):
        assignment(cost)


# --------------------------------------------------------------------------- box products


@pytest.mark.parametrize("shape_small, shape_large", [((3,), (6,)), ((2, 3), (4, 6)), ((2, 2, 3), (3, 4, 5))])
def test_box_matching_is_the_kronecker_product_of_the_factor_matchings(shape_small, shape_large):
    small = [spectrum(path_graph(n))[0] for n in shape_small]
    large = [spectrum(path_graph(N))[0] for N in shape_large]
    M = box_matching(small, large)
    expected = eigenvalue_matching(small[0], large[0]).matrix
    for s_values, l_values in zip(small[1:], large[1:]):
        expected = np.kron(expected, eigenvalue_matching(s_values, l_values).matrix)
    np.testing.assert_array_equal(M, expected)
    # a partial permutation: one 1 per column, at most one per row, so orthonormal columns
    assert M.shape == (int(np.prod(shape_large)), int(np.prod(shape_small)))
    assert np.array_equal(M.sum(axis=0), np.ones(M.shape[1])) and M.sum(axis=1).max() == 1
    assert np.array_equal(M.T @ M, np.eye(M.shape[1]))


def test_box_matching_of_one_axis_is_the_eigenvalue_matching():
    small, large = spectrum(cycle_graph(5))[0], spectrum(cycle_graph(10))[0]
    np.testing.assert_array_equal(box_matching([small], [large], method="munkres"), eigenvalue_matching(small, large).matrix)


def test_box_matching_rejects_mismatched_axes():
    with pytest.raises(ValueError, match="one small and one large factor spectrum per axis .* got 2 small and 1 large"):
        box_matching([[0.0], [0.0]], [[0.0, 1.0]])
    with pytest.raises(ValueError, match="got 0 small and 0 large"):
        box_matching([], [])
    with pytest.raises(ValueError, match=r"axis 1: need 1 <= n_small <= n_large eigenvalues; got n_small = 3, n_large = 2"):
        box_matching([[0.0], [0.0, 1.0, 2.0]], [[0.0, 1.0], [0.0, 1.0]])
