"""Graph constructors, specs and products (SPEC §1).

The products are checked entry by entry against the Kronecker identities of
SPEC §1, which hold only in the canonical (sorted = Kronecker) vertex order:
L(G1 □ G2) = L1 ⊕ L2, A(G1 × G2) = A1 ⊗ A2, T(G1 □ G2) = T1 ⊗ J + J ⊗ T2.
"""

from __future__ import annotations

import itertools
import math
import re

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphprolong.graphs import (
    box_product,
    cross_product,
    cycle_graph,
    grid_graph,
    path_graph,
    single_vertex_graph,
)
from graphprolong.lineages import GRAPH_SPEC_FORMS, parse_graph_spec
from graphprolong.matrices import distance_matrix, node_order

sizes = st.integers(min_value=1, max_value=9)
FACTORS = {"path": path_graph, "cycle": cycle_graph}


def edge_set(graph: nx.Graph) -> set[frozenset]:
    return {frozenset((u, v)) for u, v in graph.edges}


def self_loops(graph: nx.Graph) -> int:
    return nx.number_of_selfloops(graph)


def is_single_vertex_graph(graph: nx.Graph) -> bool:
    return graph.number_of_nodes() == 1 and graph.number_of_edges() == 1 and self_loops(graph) == 1


def grid_edges_by_definition(shape: tuple[int, ...], periodic: bool) -> set[frozenset]:
    """Vertices differ by one step (mod n_k when periodic) along exactly one axis k."""
    edges = set()
    for vertex in itertools.product(*(range(n) for n in shape)):
        for axis, n in enumerate(shape):
            step = vertex[axis] + 1
            if step >= n:
                if not periodic:
                    continue
                step %= n
            neighbour = vertex[:axis] + (step,) + vertex[axis + 1 :]
            if neighbour != vertex:
                edges.add(frozenset((vertex, neighbour)))
    return edges


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("n", [2, 3, 7, 20, 33])
def test_path_graph_has_n_vertices_n_minus_1_edges_and_end_degrees_1(n):
    graph = path_graph(n)
    degrees = dict(graph.degree)
    assert sorted(graph.nodes) == list(range(n))
    assert graph.number_of_edges() == n - 1
    assert self_loops(graph) == 0
    assert degrees[0] == degrees[n - 1] == 1
    assert all(degrees[v] == 2 for v in range(1, n - 1))
    assert nx.is_connected(graph)


@pytest.mark.parametrize("n", [3, 7, 20, 33])
def test_cycle_graph_is_2_regular_with_n_edges(n):
    graph = cycle_graph(n)
    assert sorted(graph.nodes) == list(range(n))
    assert graph.number_of_edges() == n
    assert self_loops(graph) == 0
    assert all(degree == 2 for _, degree in graph.degree)
    assert edge_set(graph) == {frozenset((i, (i + 1) % n)) for i in range(n)}


def test_cycle_of_two_vertices_is_one_edge():
    assert edge_set(cycle_graph(2)) == {frozenset((0, 1))}


@pytest.mark.parametrize(
    "build", [single_vertex_graph, lambda: path_graph(1), lambda: cycle_graph(1)], ids=["G_0", "path:1", "cycle:1"]
)
def test_one_vertex_graph_is_G0_with_one_self_loop(build):
    graph = build()
    assert is_single_vertex_graph(graph)
    assert list(graph.edges) == [(0, 0)]


@pytest.mark.parametrize("shape", [(1,), (1, 1), (1, 1, 1)])
def test_grid_of_one_vertex_is_G0(shape):
    graph = grid_graph(shape)
    assert is_single_vertex_graph(graph)
    assert list(graph.nodes) == [(0,) * len(shape)]


@pytest.mark.parametrize("shape", [(7,), (3, 4), (4, 3), (3, 5, 2), (2, 2, 2, 2), (20, 2)])
def test_aperiodic_grid_vertex_and_edge_counts(shape):
    graph = grid_graph(shape)
    n = math.prod(shape)
    expected_edges = sum((size - 1) * n // size for size in shape)
    assert graph.number_of_nodes() == n
    assert graph.number_of_edges() == expected_edges
    assert self_loops(graph) == 0
    assert sorted(graph.nodes) == list(itertools.product(*(range(size) for size in shape)))


@pytest.mark.parametrize("shape", [(3,), (3, 4), (5, 3), (3, 5, 4), (3, 3, 3, 3)])
def test_periodic_grid_is_2d_regular_for_sizes_at_least_3(shape):
    graph = grid_graph(shape, periodic=True)
    d = len(shape)
    assert graph.number_of_nodes() == math.prod(shape)
    assert graph.number_of_edges() == d * math.prod(shape)
    assert self_loops(graph) == 0
    assert all(degree == 2 * d for _, degree in graph.degree)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(min_value=2, max_value=6), min_size=1, max_size=3), periodic=st.booleans())
def test_grid_edges_are_unit_steps_along_one_axis(shape, periodic):
    graph = grid_graph(shape, periodic=periodic)
    assert edge_set(graph) == grid_edges_by_definition(tuple(shape), periodic)


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda: path_graph(0), ValueError, r"path length n must be >= 1; got path length n = 0"),
        (lambda: cycle_graph(-2), ValueError, r"cycle length n must be >= 1; got cycle length n = -2"),
        (lambda: path_graph(2.0), TypeError, r"must be an integer; got float 2\.0"),
        (lambda: path_graph(True), TypeError, r"must be an integer; got bool True"),
        (lambda: grid_graph([]), ValueError, r"at least one dimension; got shape \(\)"),
        (lambda: grid_graph([3, 0]), ValueError, r"grid size along axis 1 must be >= 1; got .* = 0"),
    ],
)
def test_bad_sizes_are_rejected_with_rule_and_value(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# --------------------------------------------------------------------------- specs


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("path:7", path_graph(7)),
        ("path:1", single_vertex_graph()),
        ("cycle:20", cycle_graph(20)),
        ("grid:3x4", grid_graph([3, 4])),
        ("grid:3x5x2", grid_graph([3, 5, 2])),
        ("grid:3x4x5:periodic", grid_graph([3, 4, 5], periodic=True)),
        ("  path:5 ", path_graph(5)),
    ],
)
def test_parse_graph_spec_builds_the_named_graph(spec, expected):
    graph = parse_graph_spec(spec)
    assert sorted(graph.nodes) == sorted(expected.nodes)
    assert edge_set(graph) == edge_set(expected)


def test_periodic_spec_differs_from_aperiodic():
    periodic, aperiodic = parse_graph_spec("grid:3x4:periodic"), parse_graph_spec("grid:3x4")
    assert periodic.number_of_edges() == 24
    assert aperiodic.number_of_edges() == 17


def test_edge_list_file_with_weights_and_comments(tmp_path):
    file = tmp_path / "triangle.edges"
    file.write_text("# a weighted triangle\n0 1 2.5\n\n1 2 0.5   # inline comment\n  # indented comment\n2 0 4\n")
    graph = parse_graph_spec(str(file))
    weights = {frozenset((u, v)): w for u, v, w in graph.edges(data="weight")}
    assert sorted(graph.nodes) == [0, 1, 2]
    assert weights == {frozenset((0, 1)): 2.5, frozenset((1, 2)): 0.5, frozenset((0, 2)): 4.0}
    # the weights reach the distance matrix: 0 -> 2 is shorter through 1 (3.0 < 4.0)
    np.testing.assert_allclose(distance_matrix(graph), [[0, 2.5, 3.0], [2.5, 0, 0.5], [3.0, 0.5, 0]])


def test_edge_list_file_without_weights(tmp_path):
    file = tmp_path / "path.txt"
    file.write_text("# path 0-1-2-3 given out of order\n2 3\n0 1\n1 2\n")
    graph = parse_graph_spec(str(file))
    assert edge_set(graph) == edge_set(path_graph(4))
    assert all(weight is None for _, _, weight in graph.edges(data="weight"))
    assert np.array_equal(distance_matrix(graph), np.abs(np.subtract.outer(np.arange(4), np.arange(4))))


def test_edge_list_file_with_string_labels(tmp_path):
    file = tmp_path / "named.txt"
    file.write_text("b a\nb c\n")
    graph = parse_graph_spec(str(file))
    assert node_order(graph) == ["a", "b", "c"]
    assert edge_set(graph) == {frozenset(("a", "b")), frozenset(("b", "c"))}


@pytest.mark.parametrize(
    "content, pattern",
    [
        ("0 1\n0 1 2 3\n", r"edge-list line 2 of .* must be 'u v' or 'u v weight'; got '0 1 2 3'"),
        ("0\n", r"edge-list line 1 of .* must be 'u v' or 'u v weight'"),
        ("0 1 heavy\n", r"edge-list line 1 of .*weight must be a number; got 'heavy'"),
        ("# nothing here\n\n", r"has no edges"),
    ],
)
def test_bad_edge_list_file_is_rejected(tmp_path, content, pattern):
    file = tmp_path / "bad.txt"
    file.write_text(content)
    with pytest.raises(ValueError, match=pattern):
        parse_graph_spec(str(file))


def test_unknown_spec_kind_lists_the_valid_forms():
    with pytest.raises(ValueError, match=r"unknown graph spec 'tree:5'") as info:
        parse_graph_spec("tree:5")
    for form in GRAPH_SPEC_FORMS:
        assert form in str(info.value)
    assert {"path:N", "cycle:N"} <= set(GRAPH_SPEC_FORMS)


@pytest.mark.parametrize(
    "spec, pattern",
    [
        ("path:x", r"graph spec 'path:x': path needs a positive integer size, as in 'path:32'"),
        ("path:", r"graph spec 'path:': path needs a positive integer size"),
        ("cycle:3.5", r"graph spec 'cycle:3\.5': cycle needs a positive integer size"),
        ("cycle:-3", r"graph spec 'cycle:-3': cycle needs a positive integer size"),
        ("path:0", r"path length n must be >= 1; got path length n = 0"),
        ("grid:3y4", r"graph spec 'grid:3y4': grid must look like 'grid:16x16'"),
        ("grid:3x4:torus", r"graph spec 'grid:3x4:torus': grid must look like .*'grid:16x16:periodic'"),
        ("grid:", r"graph spec 'grid:': grid must look like"),
        ("grid:3x0", r"grid size along axis 1 must be >= 1"),
    ],
)
def test_malformed_spec_is_rejected_with_a_clear_message(spec, pattern):
    with pytest.raises(ValueError, match=pattern):
        parse_graph_spec(spec)


def test_missing_file_spec_says_it_is_not_a_file_and_lists_forms(tmp_path):
    missing = tmp_path / "no-such-graph.txt"
    with pytest.raises(ValueError, match=rf"{re.escape(repr(str(missing)))}: not an existing file.*path:N"):
        parse_graph_spec(str(missing))


def test_non_string_spec_is_a_type_error():
    with pytest.raises(TypeError, match=r"graph spec must be a string; got int"):
        parse_graph_spec(32)


# --------------------------------------------------------------------------- Kronecker order


@settings(max_examples=40, deadline=None)
@given(n1=sizes, n2=sizes, kind1=st.sampled_from(sorted(FACTORS)), kind2=st.sampled_from(sorted(FACTORS)))
def test_box_product_laplacian_is_kronecker_sum(n1, n2, kind1, kind2, dense_laplacian, kronecker_sum):
    G1, G2 = FACTORS[kind1](n1), FACTORS[kind2](n2)
    L = dense_laplacian(box_product(G1, G2))
    assert np.array_equal(L, kronecker_sum(dense_laplacian(G1), dense_laplacian(G2)))


@pytest.mark.parametrize("n1, n2", [(3, 5), (7, 6), (4, 8), (5, 12), (20, 3)])
def test_path_box_cycle_laplacian_is_kronecker_sum(n1, n2, dense_laplacian, kronecker_sum):
    L = dense_laplacian(box_product(path_graph(n1), cycle_graph(n2)))
    expected = np.kron(dense_laplacian(path_graph(n1)), np.eye(n2)) + np.kron(np.eye(n1), dense_laplacian(cycle_graph(n2)))
    assert np.array_equal(L, expected)
    # the cycle factor must not commute with the path factor: the order is Kronecker's
    assert not np.array_equal(L, kronecker_sum(dense_laplacian(cycle_graph(n2)), dense_laplacian(path_graph(n1))))


@pytest.mark.parametrize("shape", [(3, 5), (7, 7), (5, 3), (6, 10), (1, 4), (3, 1)])
@pytest.mark.parametrize("periodic", [False, True])
def test_2d_grid_laplacian_is_kronecker_sum(shape, periodic, dense_laplacian, kronecker_sum):
    factor = cycle_graph if periodic else path_graph
    factors = [dense_laplacian(factor(size)) for size in shape]
    assert np.array_equal(dense_laplacian(grid_graph(shape, periodic=periodic)), kronecker_sum(*factors))


@settings(max_examples=30, deadline=None)
@given(shape=st.tuples(sizes, sizes, sizes).filter(lambda s: math.prod(s) <= 300), periodic=st.booleans())
def test_3d_grid_laplacian_is_kronecker_sum_of_three(shape, periodic, dense_laplacian, kronecker_sum):
    factor = cycle_graph if periodic else path_graph
    factors = [dense_laplacian(factor(size)) for size in shape]
    assert np.array_equal(dense_laplacian(grid_graph(list(shape), periodic=periodic)), kronecker_sum(*factors))


@pytest.mark.parametrize("shape", [(3, 5, 2), (4, 3, 6), (7, 2, 3)])
def test_3d_grid_is_repeated_box_product_of_paths(shape, dense_laplacian):
    a, b, c = shape
    product = box_product(box_product(path_graph(a), path_graph(b)), path_graph(c))
    assert sorted(product.nodes) == sorted(grid_graph(shape).nodes)
    assert np.array_equal(dense_laplacian(product), dense_laplacian(grid_graph(shape)))


def test_box_product_adjacency_is_A1_kron_I_plus_I_kron_A2(dense_adjacency):
    G1, G2 = path_graph(4), cycle_graph(5)
    A1, A2 = dense_adjacency(G1), dense_adjacency(G2)
    expected = np.kron(A1, np.eye(5)) + np.kron(np.eye(4), A2)
    assert np.array_equal(dense_adjacency(box_product(G1, G2)), expected)


@pytest.mark.parametrize("n", [2, 4, 7])
def test_box_product_with_G0_keeps_the_self_loop_in_the_adjacency(n, dense_adjacency):
    """A(G_0 □ G) = [1] ⊗ I + 1 ⊗ A(G): every vertex of the copy of G carries the loop.

    (G_0 □ G_0 is left out on purpose: it is stored as G_0 again, A = [[1]], not
    [[2]]; the Laplacians agree, [[0]].)
    """
    G = path_graph(n)
    A = dense_adjacency(G)
    expected = np.kron([[1.0]], np.eye(n)) + np.kron(np.eye(1), A)
    assert np.array_equal(dense_adjacency(box_product(single_vertex_graph(), G)), expected)


@settings(max_examples=30, deadline=None)
@given(n1=sizes, n2=sizes, kind1=st.sampled_from(sorted(FACTORS)), kind2=st.sampled_from(sorted(FACTORS)))
def test_cross_product_adjacency_is_kronecker_product(n1, n2, kind1, kind2, dense_adjacency):
    G1, G2 = FACTORS[kind1](n1), FACTORS[kind2](n2)
    assert np.array_equal(dense_adjacency(cross_product(G1, G2)), np.kron(dense_adjacency(G1), dense_adjacency(G2)))


def test_weighted_cross_product_adjacency_is_kronecker_product(dense_adjacency):
    G1 = nx.Graph([(0, 1, {"weight": 2.0})])
    G2 = nx.Graph([(0, 1, {"weight": 3.0}), (1, 2, {"weight": 5.0})])
    expected = np.kron(dense_adjacency(G1), dense_adjacency(G2))
    assert np.array_equal(dense_adjacency(cross_product(G1, G2)), expected)


@settings(max_examples=30, deadline=None)
@given(n1=sizes, n2=sizes, kind1=st.sampled_from(sorted(FACTORS)), kind2=st.sampled_from(sorted(FACTORS)))
def test_box_product_distance_matrix_is_T1_kron_J_plus_J_kron_T2(n1, n2, kind1, kind2):
    G1, G2 = FACTORS[kind1](n1), FACTORS[kind2](n2)
    T1, T2 = distance_matrix(G1), distance_matrix(G2)
    expected = np.kron(T1, np.ones((n2, n2))) + np.kron(np.ones((n1, n1)), T2)
    assert np.array_equal(distance_matrix(box_product(G1, G2)), expected)


def test_weighted_box_product_distance_matrix(dense_laplacian, kronecker_sum):
    G1 = nx.Graph([(0, 1, {"weight": 0.5}), (1, 2, {"weight": 2.0}), (0, 2, {"weight": 3.0})])
    G2 = nx.Graph([(0, 1, {"weight": 1.5}), (1, 2, {"weight": 0.25})])
    product = box_product(G1, G2)
    expected = np.kron(distance_matrix(G1), np.ones((3, 3))) + np.kron(np.ones((3, 3)), distance_matrix(G2))
    np.testing.assert_allclose(distance_matrix(product), expected, rtol=1e-14)
    assert np.array_equal(dense_laplacian(product), kronecker_sum(dense_laplacian(G1), dense_laplacian(G2)))


def test_box_product_vertices_are_flat_tuples_in_kronecker_order():
    product = box_product(grid_graph([2, 3]), path_graph(4))
    order = sorted(product.nodes)
    assert order == list(itertools.product(range(2), range(3), range(4)))
    # vertex (u, v) sits at idx(u) * |G2| + idx(v)
    assert order.index((1, 2, 3)) == (1 * 3 + 2) * 4 + 3


def test_products_reject_directed_graphs():
    with pytest.raises(TypeError, match=r"box product needs undirected networkx graphs; G1 is DiGraph"):
        box_product(nx.DiGraph([(0, 1)]), path_graph(2))
    with pytest.raises(TypeError, match=r"cross product needs undirected networkx graphs; G2 is str"):
        cross_product(path_graph(2), "path:2")
