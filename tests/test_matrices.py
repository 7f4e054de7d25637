"""Matrices of a graph (SPEC §1) and the input checks of ``_checks``.

L = A - D is symmetric, negative semidefinite, L @ 1 = 0; T is the
shortest-path matrix (weights honoured), checked against networkx's
Floyd–Warshall as a slow independent reference.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphprolong.checks import (
    ORTHONORMAL_TOLERANCE,
    check_choice,
    check_finite_array,
    check_orthonormal,
    check_positive,
    check_positive_int,
    check_real,
    check_unit_interval,
    orthonormality_error,
)
from graphprolong.graphs import cycle_graph, grid_graph, path_graph, single_vertex_graph
from graphprolong.matrices import (
    adjacency_matrix,
    distance_matrix,
    graph_matrices,
    laplacian,
    node_order,
    spectrum,
)


@st.composite
def connected_graphs(draw, *, max_vertices: int = 9) -> nx.Graph:
    """A random connected graph: a random tree plus extra edges, optionally weighted, optionally self-loops."""
    n = draw(st.integers(min_value=1, max_value=max_vertices))
    weighted = draw(st.booleans())
    weight = st.floats(min_value=0.125, max_value=8.0, allow_nan=False, allow_infinity=False)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    pairs = [(draw(st.integers(min_value=0, max_value=i - 1)), i) for i in range(1, n)]
    pairs += draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    if n == 1:
        pairs.append((0, 0))
    for u, v in pairs:
        if weighted:
            graph.add_edge(u, v, weight=draw(weight))
        else:
            graph.add_edge(u, v)
    return graph


def reference_distances(graph: nx.Graph) -> np.ndarray:
    return nx.floyd_warshall_numpy(graph, nodelist=sorted(graph.nodes), weight="weight")


# --------------------------------------------------------------------------- Laplacian


@settings(max_examples=60, deadline=None)
@given(graph=connected_graphs())
def test_laplacian_is_A_minus_D_symmetric_nsd_with_constant_kernel(graph):
    L = laplacian(graph).toarray()
    A = adjacency_matrix(graph).toarray()
    n = graph.number_of_nodes()
    scale = max(1.0, float(np.abs(L).max()))
    order = node_order(graph)
    for (u, v, weight) in graph.edges(data="weight", default=1.0):
        i, j = order.index(u), order.index(v)
        assert A[i, j] == A[j, i] == weight
    # same entries off the diagonal; the diagonal may differ by the order of summation
    assert np.array_equal(L - np.diag(np.diag(L)), A - np.diag(np.diag(A)))
    np.testing.assert_allclose(np.diag(L), np.diag(A) - A.sum(axis=1), rtol=0, atol=1e-14 * scale)
    assert np.array_equal(L, L.T)
    assert np.allclose(L @ np.ones(n), 0.0, atol=1e-12 * scale)
    assert np.linalg.eigvalsh(L).max() <= 1e-12 * scale


@pytest.mark.parametrize(
    "graph",
    [path_graph(7), cycle_graph(20), grid_graph([3, 5, 2]), grid_graph([4, 4], periodic=True)],
    ids=["path:7", "cycle:20", "grid:3x5x2", "grid:4x4:periodic"],
)
def test_laplacian_of_standard_graphs(graph):
    L = laplacian(graph).toarray()
    n = graph.number_of_nodes()
    assert np.array_equal(L @ np.ones(n), np.zeros(n))
    assert np.array_equal(L, L.T)
    eigenvalues = np.linalg.eigvalsh(L)
    assert eigenvalues.max() <= 1e-12
    # connected: the kernel is exactly the constants
    assert np.sum(np.abs(eigenvalues) < 1e-9) == 1
    # off-diagonal -1 on edges, diagonal = -degree
    assert np.array_equal(-np.diag(L), np.array([graph.degree[v] for v in node_order(graph)], dtype=float))


def test_path_laplacian_entries():
    expected = np.array([[-1, 1, 0, 0], [1, -2, 1, 0], [0, 1, -2, 1], [0, 0, 1, -1]], dtype=float)
    assert np.array_equal(laplacian(path_graph(4)).toarray(), expected)


def test_cycle_laplacian_spectrum_is_2cos_minus_2():
    n = 9
    eigenvalues, eigenvectors = spectrum(cycle_graph(n))
    expected = np.sort(2 * np.cos(2 * np.pi * np.arange(n) / n) - 2)
    np.testing.assert_allclose(eigenvalues, expected, atol=1e-12)
    np.testing.assert_allclose(eigenvectors.T @ eigenvectors, np.eye(n), atol=1e-12)
    L = laplacian(cycle_graph(n)).toarray()
    np.testing.assert_allclose(L @ eigenvectors, eigenvectors * eigenvalues, atol=1e-12)


def test_G0_laplacian_is_zero_and_its_loop_counts_in_A():
    graph = single_vertex_graph()
    assert np.array_equal(adjacency_matrix(graph).toarray(), [[1.0]])
    assert np.array_equal(laplacian(graph).toarray(), [[0.0]])
    assert np.array_equal(distance_matrix(graph), [[0.0]])
    matrices = graph_matrices(graph)
    assert matrices.n == 1
    assert np.array_equal(matrices.eigenvalues, [0.0])


def test_weighted_self_loop_keeps_L_times_ones_zero():
    graph = nx.Graph([(0, 1, {"weight": 2.0}), (1, 1, {"weight": 3.0})])
    A = adjacency_matrix(graph).toarray()
    assert np.array_equal(A, [[0.0, 2.0], [2.0, 3.0]])
    assert np.array_equal(laplacian(graph).toarray(), [[-2.0, 2.0], [2.0, -2.0]])


def test_matrices_use_sorted_vertex_order_whatever_the_insertion_order():
    graph = nx.Graph()
    graph.add_edge(2, 0, weight=5.0)
    graph.add_edge(0, 1, weight=7.0)
    assert node_order(graph) == [0, 1, 2]
    expected = np.array([[-12, 7, 5], [7, -7, 0], [5, 0, -5]], dtype=float)
    assert np.array_equal(laplacian(graph).toarray(), expected)
    assert np.array_equal(distance_matrix(graph), [[0, 7, 5], [7, 0, 12], [5, 12, 0]])


# --------------------------------------------------------------------------- distance matrix


@settings(max_examples=60, deadline=None)
@given(graph=connected_graphs())
def test_distance_matrix_matches_floyd_warshall(graph):
    T = distance_matrix(graph)
    np.testing.assert_allclose(T, reference_distances(graph), rtol=1e-12)
    # Dijkstra sums a path's weights from either end: symmetric up to rounding
    np.testing.assert_allclose(T, T.T, rtol=1e-14)
    assert np.all(np.diag(T) == 0)


@pytest.mark.parametrize("n", [2, 7, 20])
def test_distance_matrix_of_path_and_cycle(n):
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    assert np.array_equal(distance_matrix(path_graph(n)), np.abs(i - j).astype(float))
    if n >= 3:
        gap = np.abs(i - j)
        assert np.array_equal(distance_matrix(cycle_graph(n)), np.minimum(gap, n - gap).astype(float))


def test_distance_matrix_honours_weights_two_hops_shorter_than_direct_edge():
    graph = nx.Graph([(0, 1, {"weight": 1.0}), (1, 2, {"weight": 1.5}), (0, 2, {"weight": 5.0})])
    expected = np.array([[0, 1, 2.5], [1, 0, 1.5], [2.5, 1.5, 0]])
    assert np.array_equal(distance_matrix(graph), expected)


def test_distance_matrix_honours_uniform_non_unit_weights():
    graph = nx.Graph([(0, 1, {"weight": 2.0}), (1, 2, {"weight": 2.0})])
    assert np.array_equal(distance_matrix(graph), [[0, 2, 4], [2, 0, 2], [4, 2, 0]])


def test_distance_matrix_ignores_self_loops():
    graph = nx.Graph([(0, 1), (1, 1, {"weight": 0.5}), (1, 2)])
    assert np.array_equal(distance_matrix(graph), [[0, 1, 2], [1, 0, 1], [2, 1, 0]])


def test_graph_matrices_cache_agrees_with_functions():
    graph = grid_graph([3, 4])
    matrices = graph_matrices(graph)
    assert graph_matrices(matrices) is matrices
    assert matrices.n == 12 and matrices.name == "grid:3x4"
    assert np.array_equal(matrices.laplacian_dense, laplacian(graph).toarray())
    assert np.array_equal(matrices.distances, distance_matrix(graph))
    eigenvalues, eigenvectors = spectrum(graph)
    assert np.array_equal(matrices.eigenvalues, eigenvalues)
    assert np.all(np.diff(matrices.eigenvalues) >= 0)
    np.testing.assert_allclose(
        matrices.eigenvectors @ np.diag(matrices.eigenvalues) @ matrices.eigenvectors.T, matrices.laplacian_dense, atol=1e-12
    )


# --------------------------------------------------------------------------- validation


def _three_components() -> nx.Graph:
    graph = nx.Graph([(0, 1), (2, 3), (4, 5)], name="three pieces")
    return graph


@pytest.mark.parametrize("function", [graph_matrices, distance_matrix], ids=["graph_matrices", "distance_matrix"])
def test_disconnected_graph_is_rejected_with_component_count(function):
    with pytest.raises(ValueError, match=r"three pieces must be connected .*3 connected components"):
        function(_three_components())
    with pytest.raises(ValueError, match=r"must be connected .*2 connected components"):
        function(nx.Graph([(0, 1), (2, 2)]))


@pytest.mark.parametrize("function", [graph_matrices, distance_matrix], ids=["graph_matrices", "distance_matrix"])
def test_empty_graph_is_rejected(function):
    with pytest.raises(ValueError, match=r"at least one vertex; got an empty graph \(0 vertices\)"):
        function(nx.Graph())


@pytest.mark.parametrize("weight", [0.0, -1.0, np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("function", [graph_matrices, distance_matrix], ids=["graph_matrices", "distance_matrix"])
def test_bad_weight_is_rejected_naming_the_edge(function, weight):
    graph = nx.Graph([(0, 1, {"weight": 1.0}), (1, 2, {"weight": weight})])
    with pytest.raises(ValueError, match=r"finite and > 0; edge \(1, 2\) of .* has weight " + repr(weight).replace("-", r"\-")):
        function(graph)


def test_non_numeric_weight_is_a_type_error():
    graph = nx.Graph([(0, 1, {"weight": "heavy"})])
    with pytest.raises(TypeError, match=r"edge weights must be numbers; edge \(0, 1\) .* has 'heavy'"):
        graph_matrices(graph)


@pytest.mark.parametrize("function", [graph_matrices, distance_matrix], ids=["graph_matrices", "distance_matrix"])
def test_directed_graph_is_rejected(function):
    with pytest.raises(ValueError, match=r"must be a simple undirected graph; got DiGraph"):
        function(nx.DiGraph([(0, 1), (1, 0)]))


def test_non_graph_is_a_type_error():
    with pytest.raises(TypeError, match=r"expected a networkx.Graph; got ndarray"):
        graph_matrices(np.eye(3))


@pytest.mark.parametrize("function", [laplacian, spectrum], ids=["laplacian", "spectrum"])
@pytest.mark.parametrize(
    "graph, pattern",
    [
        (nx.DiGraph([(0, 1), (1, 2)]), r"undirected"),
        (nx.Graph([(0, 1, {"weight": -1.0}), (1, 2)]), r"edge \(0, 1\)"),
        (nx.Graph(), r"at least one vertex"),
    ],
    ids=["directed", "negative-weight", "empty"],
)
def test_laplacian_and_spectrum_validate_their_input(function, graph, pattern):
    """Their docstrings promise a symmetric negative semidefinite L; inputs that
    break that promise must be rejected at this public boundary (STYLE §7)."""
    with pytest.raises(ValueError, match=pattern):
        function(graph)


def test_unsortable_vertices_are_a_type_error():
    graph = nx.Graph([(0, "a"), ("a", 1)])
    with pytest.raises(TypeError, match=r"mutually sortable"):
        node_order(graph)
    with pytest.raises(TypeError, match=r"mutually sortable"):
        laplacian(graph)
    with pytest.raises(TypeError, match=r"mutually sortable"):
        distance_matrix(graph)


# --------------------------------------------------------------------------- _checks


def test_check_choice_lists_valid_names_sorted():
    assert check_choice("method", "b", ["b", "a"]) == "b"
    assert check_choice("method", "a", {"a": 1}) == "a"
    with pytest.raises(ValueError, match=r"unknown method 'c'; valid methods are: a, b$"):
        check_choice("method", "c", ["b", "a"])
    with pytest.raises(ValueError, match=r"unknown method 3; valid methods are: a"):
        check_choice("method", 3, ["a"])


def test_check_real_and_positive():
    assert check_real("x", np.float32(1.5)) == 1.5
    assert isinstance(check_real("x", 3), float)
    assert check_positive("x", 2) == 2.0
    with pytest.raises(TypeError, match=r"x must be a real number; got bool True"):
        check_real("x", True)
    with pytest.raises(TypeError, match=r"x must be a real number; got str '1'"):
        check_real("x", "1")
    with pytest.raises(ValueError, match=r"x must be finite; got x = nan"):
        check_real("x", float("nan"))
    with pytest.raises(ValueError, match=r"x must be > 0; got x = 0"):
        check_positive("x", 0)
    with pytest.raises(ValueError, match=r"x must be > 0; got x = -2.5"):
        check_positive("x", -2.5)


@pytest.mark.parametrize("value", [0, 0.0, 0.25, 1, 1.0])
def test_check_unit_interval_accepts_closed_interval(value):
    assert check_unit_interval("s", value) == float(value)


@pytest.mark.parametrize("value", [-1e-12, 1.0000001, 2])
def test_check_unit_interval_rejects_outside(value):
    with pytest.raises(ValueError, match=rf"s must lie in \[0, 1\]; got s = {value!r}"):
        check_unit_interval("s", value)


def test_check_positive_int():
    assert check_positive_int("n", np.int64(3)) == 3
    assert check_positive_int("level", 0, minimum=0) == 0
    with pytest.raises(ValueError, match=r"n must be >= 1; got n = 0"):
        check_positive_int("n", 0)
    with pytest.raises(ValueError, match=r"level must be >= 0; got level = -1"):
        check_positive_int("level", -1, minimum=0)
    with pytest.raises(TypeError, match=r"n must be an integer; got float 3.0"):
        check_positive_int("n", 3.0)
    with pytest.raises(TypeError, match=r"n must be an integer; got bool False"):
        check_positive_int("n", False)


def test_check_finite_array_counts_the_non_finite_entries():
    values = check_finite_array("v", [1, 2])
    assert values.dtype == np.float64 and np.array_equal(values, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"v must have finite entries; found 2 non-finite of 5"):
        check_finite_array("v", [1.0, np.nan, 3.0, np.inf, 5.0])


@settings(max_examples=40, deadline=None)
@given(n_large=st.integers(1, 8), data=st.data())
def test_check_orthonormal_accepts_qr_factors(n_large, data):
    n_small = data.draw(st.integers(1, n_large))
    seed = data.draw(st.integers(0, 2**32 - 1))
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n_large, n_small)))
    assert orthonormality_error(Q) < 1e-12
    assert np.array_equal(check_orthonormal("P", Q, (n_large, n_small)), Q)


def test_check_orthonormal_rejections():
    with pytest.raises(ValueError, match=r"P must have shape \(n_large, n_small\) = \(3, 2\); got shape \(2, 3\)"):
        check_orthonormal("P", np.eye(3)[:2], (3, 2))
    P = np.eye(3)[:, :2] * 1.001
    with pytest.raises(ValueError, match=r"orthonormal columns .*got \|\|P\^T P - I\|\|_F = 0.00283"):
        check_orthonormal("P", P, (3, 2))
    assert orthonormality_error(P) == pytest.approx(np.sqrt(2) * (1.001**2 - 1))
    assert ORTHONORMAL_TOLERANCE > 0
    with pytest.raises(ValueError, match=r"non-finite"):
        check_orthonormal("P", np.full((2, 1), np.nan), (2, 1))
