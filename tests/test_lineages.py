"""Graph lineages (SPEC §1): G_0 = one vertex with a self-loop, |G_l| = factor**l
per side by default, or explicit sizes; products of lineages level by level."""

from __future__ import annotations


import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphprolong.graphs import box_product, cycle_graph, grid_graph, path_graph
from graphprolong.operators import structured_matrices
from graphprolong.lineages import (
    LINEAGE_KINDS,
    lineage_kind,
    parse_lineage_spec,
    Lineage,
    box_lineage,
    cross_lineage,
    cycle_lineage,
    grid_lineage,
    lineage_from_callable,
    path_lineage,
)


def is_G0(graph: nx.Graph) -> bool:
    return graph.number_of_nodes() == 1 and graph.number_of_edges() == 1 and nx.number_of_selfloops(graph) == 1


def same_graph(first: nx.Graph, second: nx.Graph) -> bool:
    edges = lambda g: {frozenset((u, v)) for u, v in g.edges}  # noqa: E731
    return sorted(first.nodes) == sorted(second.nodes) and edges(first) == edges(second)


# --------------------------------------------------------------------------- default sizes


@pytest.mark.parametrize("factor", [2, 3])
@pytest.mark.parametrize("make, graph_of", [(path_lineage, path_graph), (cycle_lineage, cycle_graph)], ids=["path", "cycle"])
def test_1d_lineage_level_l_has_factor_to_the_l_vertices(make, graph_of, factor):
    lineage = make(factor=factor)
    assert lineage.depth is None
    assert is_G0(lineage.graph(0))
    for level in range(1, 6 if factor == 2 else 4):
        graph = lineage.graph(level)
        assert lineage.size(level) == factor**level
        assert same_graph(graph, graph_of(factor**level))


@pytest.mark.parametrize("dimensions", [1, 2, 3])
@pytest.mark.parametrize("periodic", [False, True])
def test_grid_lineage_level_l_has_factor_to_the_l_per_side(dimensions, periodic, dense_laplacian, kronecker_sum):
    lineage = grid_lineage(dimensions=dimensions, periodic=periodic)
    G0 = lineage.graph(0)
    assert is_G0(G0) and list(G0.nodes) == [(0,) * dimensions]
    assert np.array_equal(dense_laplacian(G0), [[0.0]])
    factor_graph = cycle_graph if periodic else path_graph
    for level in range(1, 4):
        side = 2**level
        graph = lineage[level]
        assert lineage.size(level) == side**dimensions
        assert same_graph(graph, grid_graph([side] * dimensions, periodic=periodic))
        factors = [dense_laplacian(factor_graph(side))] * dimensions
        assert np.array_equal(dense_laplacian(graph), kronecker_sum(*factors))


def test_grid_lineage_factor_3():
    lineage = grid_lineage(dimensions=2, factor=3)
    assert [lineage.size(level) for level in range(4)] == [1, 9, 81, 729]


def test_lineage_sizes_grow_geometrically():
    lineage = path_lineage()
    sizes = [lineage.size(level) for level in range(8)]
    assert all(b == 2 * a for a, b in zip(sizes, sizes[1:]))


# --------------------------------------------------------------------------- explicit sizes


def test_explicit_path_sizes_start_at_level_0_and_have_finite_depth():
    lineage = path_lineage(sizes=[7, 14, 28])
    assert lineage.depth == 3
    assert [lineage.size(level) for level in range(3)] == [7, 14, 28]
    for level, n in enumerate([7, 14, 28]):
        assert same_graph(lineage.graph(level), path_graph(n))
    with pytest.raises(ValueError, match=r"level must be < the lineage depth 3 of 'path'; got level = 3"):
        lineage.graph(3)


def test_explicit_cycle_sizes_need_not_be_powers_of_two():
    lineage = cycle_lineage(sizes=[20, 40])
    assert [lineage.size(level) for level in range(2)] == [20, 40]
    assert same_graph(lineage.graph(1), cycle_graph(40))
    with pytest.raises(ValueError, match=r"depth 2 .*got level = 2"):
        lineage.size(2)


@pytest.mark.parametrize("periodic", [False, True])
def test_explicit_grid_shapes(periodic, dense_laplacian, kronecker_sum):
    shapes = [(7, 7), (14, 14), (28, 28)]
    lineage = grid_lineage(shapes=shapes, periodic=periodic)
    assert lineage.depth == 3
    assert [lineage.size(level) for level in range(3)] == [49, 196, 784]
    factor = cycle_graph if periodic else path_graph
    L7 = dense_laplacian(factor(7))
    assert np.array_equal(dense_laplacian(lineage.graph(0)), kronecker_sum(L7, L7))
    with pytest.raises(ValueError, match=r"level must be < the lineage depth 3 .*got level = 3"):
        lineage.graph(3)


def test_explicit_rectangular_grid_shapes():
    lineage = grid_lineage(shapes=[(7, 4), (14, 8)])
    assert same_graph(lineage.graph(1), grid_graph([14, 8]))
    assert lineage.size(0) == 28


def test_pairs_are_consecutive_levels():
    lineage = path_lineage(sizes=[3, 6, 12])
    pairs = lineage.pairs([0, 1, 2])
    assert [(small.number_of_nodes(), large.number_of_nodes()) for small, large in pairs] == [(3, 6), (6, 12)]


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda: path_lineage().graph(-1), ValueError, r"level must be >= 0; got level = -1"),
        (lambda: path_lineage().graph(1.0), TypeError, r"level must be an integer; got float"),
        (lambda: path_lineage(factor=1), ValueError, r"factor must be >= 2; got factor = 1"),
        (lambda: grid_lineage(factor=1), ValueError, r"factor must be >= 2; got factor = 1"),
        (lambda: grid_lineage(dimensions=0), ValueError, r"dimensions must be >= 1; got dimensions = 0"),
        (lambda: path_lineage(sizes=[]), ValueError, r"sizes must name at least one level; got sizes = \[\]"),
        (lambda: path_lineage(sizes=[7, 0]), ValueError, r"path size must be >= 1; got path size = 0"),
        (lambda: cycle_lineage(sizes=[7.5]), TypeError, r"cycle size must be an integer; got float 7.5"),
        (lambda: grid_lineage(shapes=[]), ValueError, r"shapes must be a non-empty list of equal-length tuples"),
        (lambda: grid_lineage(shapes=[(2, 2), (4, 4, 4)]), ValueError, r"equal-length tuples; got \[\(2, 2\), \(4, 4, 4\)\]"),
    ],
)
def test_bad_lineage_arguments_are_rejected(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# --------------------------------------------------------------------------- products of lineages


def test_box_lineage_is_levelwise_box_product(dense_laplacian, kronecker_sum):
    first, second = path_lineage(sizes=[2, 4, 8]), cycle_lineage(sizes=[3, 6])
    lineage = box_lineage(first, second)
    assert lineage.depth == 2
    for level in range(2):
        G1, G2 = first.graph(level), second.graph(level)
        graph = lineage.graph(level)
        assert same_graph(graph, box_product(G1, G2))
        assert lineage.size(level) == first.size(level) * second.size(level)
        assert np.array_equal(dense_laplacian(graph), kronecker_sum(dense_laplacian(G1), dense_laplacian(G2)))
    with pytest.raises(ValueError, match=r"depth 2 .*got level = 2"):
        lineage.graph(2)


def test_box_lineage_of_infinite_lineages(dense_laplacian, kronecker_sum):
    lineage = box_lineage(path_lineage(), cycle_lineage(factor=3))
    assert lineage.depth is None
    assert is_G0(lineage.graph(0))
    for level in range(1, 4):
        assert lineage.size(level) == 2**level * 3**level
        L = kronecker_sum(dense_laplacian(path_graph(2**level)), dense_laplacian(cycle_graph(3**level)))
        assert np.array_equal(dense_laplacian(lineage.graph(level)), L)


def test_box_lineage_of_paths_is_the_grid_lineage():
    lineage = box_lineage(path_lineage(), path_lineage())
    grids = grid_lineage(dimensions=2)
    for level in range(4):
        assert same_graph(lineage.graph(level), grids.graph(level))


def test_cross_lineage_is_levelwise_cross_product(dense_adjacency):
    first, second = cycle_lineage(sizes=[3, 5, 7]), path_lineage()
    lineage = cross_lineage(first, second)
    assert lineage.depth == 3
    for level in range(3):
        A = dense_adjacency(lineage.graph(level))
        assert np.array_equal(A, np.kron(dense_adjacency(first.graph(level)), dense_adjacency(second.graph(level))))
        assert lineage.size(level) == first.size(level) * 2**level
    with pytest.raises(ValueError, match=r"depth 3"):
        lineage.graph(3)


# --------------------------------------------------------------------------- custom lineages


def test_lineage_from_callable_wraps_a_builder():
    lineage = lineage_from_callable(lambda level: nx.star_graph(level + 1), name="stars", depth=4)
    assert isinstance(lineage, Lineage)
    assert lineage.name == "stars" and lineage.depth == 4
    assert [lineage.size(level) for level in range(4)] == [2, 3, 4, 5]
    with pytest.raises(ValueError, match=r"depth 4 of 'stars'; got level = 4"):
        lineage.graph(4)


def test_lineage_from_callable_with_non_graph_return_is_a_type_error():
    lineage = lineage_from_callable(lambda level: np.eye(level + 1), name="matrices")
    with pytest.raises(TypeError, match=r"lineage 'matrices' must build networkx graphs; level 2 gave ndarray"):
        lineage.graph(2)


def test_lineage_from_non_callable_is_a_type_error():
    with pytest.raises(TypeError, match=r"build must be callable .*; got int"):
        lineage_from_callable(5)


def test_product_lineage_propagates_a_bad_factor_level():
    bad = lineage_from_callable(lambda level: "path:4", name="strings")
    with pytest.raises(TypeError, match=r"lineage 'strings' must build networkx graphs; level 1 gave str"):
        box_lineage(path_lineage(), bad).graph(1)


# --------------------------------------------------------------------------- the lineage registry


SPECS = ["path:1", "path:8", "cycle:3", "cycle:20", "grid:1x1", "grid:16x16", "grid:3x4x5", "grid:7", "grid:3x4:periodic", "grid:8x8x2:periodic"]


@pytest.mark.parametrize("spec", SPECS)
def test_registry_round_trips_every_spec_string(spec):
    kind, shape = parse_lineage_spec(spec)
    assert kind is LINEAGE_KINDS[kind.name] and kind.spec(shape) == spec
    assert parse_lineage_spec(kind.spec(shape)) == (kind, shape)
    # The graph, its name and the structured matrices agree with the spec.
    graph = kind.graph(shape)
    assert graph.graph["name"] == spec or graph.number_of_nodes() == 1
    assert structured_matrices(kind.name, shape).name == spec
    expected = structured_matrices(kind.name, shape).adjacency.toarray()
    np.testing.assert_array_equal(nx.to_numpy_array(graph, nodelist=sorted(graph.nodes)), expected)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(LINEAGE_KINDS)), sides=st.lists(st.integers(1, 40), min_size=1, max_size=4))
def test_registry_round_trips_generated_shapes(kind, sides):
    kind = lineage_kind(kind)
    shape = tuple(sides[:1]) if kind.one_dimensional else tuple(sides)
    assert parse_lineage_spec(kind.spec(shape)) == (kind, shape)


def test_every_family_is_registered_once_with_its_flags():
    assert sorted(LINEAGE_KINDS) == ["cycle", "grid", "grid:periodic", "path"]
    assert [LINEAGE_KINDS[name].periodic for name in ("path", "cycle", "grid", "grid:periodic")] == [False, True, False, True]
    assert lineage_kind(LINEAGE_KINDS["grid"]) is LINEAGE_KINDS["grid"]
    assert parse_lineage_spec("edges.txt") is None


@pytest.mark.parametrize(
    "kind, shape, levels, expected",
    [
        ("grid", (32, 32), 3, [(32, 32), (32, 16), (16, 16), (16, 8)]),
        ("grid", (28, 28), 2, [(28, 28), (28, 14), (14, 14)]),
        ("path", 1024, 3, [(1024,), (512,), (256,), (128,)]),
        ("grid:periodic", (8, 4, 4), 2, [(8, 4, 4), (4, 4, 4), (4, 4, 2)]),
        ("grid", (2, 2), 2, [(2, 2), (2, 1), (1, 1)]),
    ],
)
def test_halving_rule_halves_the_longest_side_the_last_on_ties(kind, shape, levels, expected):
    kind = lineage_kind(kind)
    assert kind.coarsen(shape, levels=levels) == expected
    for fine, coarse in zip(expected, expected[1:]):
        assert kind.halve(fine) == coarse and np.prod(coarse) * 2 == np.prod(fine)


def test_unit_shape_and_doubling():
    grid, path = lineage_kind("grid"), lineage_kind("path")
    assert grid.unit_shape(256) == (16, 16) and grid.unit_shape(128) == (16, 8) and grid.unit_shape(1) == (1, 1)
    assert path.unit_shape(20) == (20,)
    assert grid.double((3, 5)) == (6, 10) and path.double(7) == (14,)


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda: lineage_kind("torus"), ValueError, "unknown lineage 'torus'; valid lineages are: cycle, grid, grid:periodic, path"),
        (lambda: lineage_kind("grid").halve((4, 3, 5)), ValueError, r"cannot halve the grid shape \(4, 3, 5\): its longest side 5 must be even"),
        (lambda: lineage_kind("path").halve(1), ValueError, "longest side 1 must be even and >= 2"),
        (lambda: lineage_kind("grid").coarsen((6, 6), levels=3), ValueError, r"shape \(6, 6\) cannot be coarsened 3 times: at level 3"),
        (lambda: lineage_kind("grid").unit_shape(12), ValueError, "needs r\\^2 or 2 r\\^2 units.*got width 12"),
        (lambda: lineage_kind("path").shape((3, 4)), ValueError, r"a path has one dimension; got shape \(3, 4\)"),
        (lambda: lineage_kind("grid").shape((3, 0)), ValueError, "size along axis 1 must be >= 1; got size along axis 1 = 0"),
        (lambda: lineage_kind("grid").shape(2.5), TypeError, "a grid shape must be an int or a sequence of ints; got float 2.5"),
    ],
)
def test_registry_errors_name_the_rule_and_the_value(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
