"""Tests of the graph-designed layer maps (msann.coarsening.graph) and MsANN's composite maps (msann.coarsening.embedded).

The layer maps have orthonormal columns, the grid maps are Kronecker products
of the 1D maps and the shuffled grid maps are row permutations of them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from msann.coarsening.embedded import composite_maps
from msann.coarsening.graph import METHODS, STRATEGIES, grid_shape, layer_maps, one_dimensional_map, unit_shapes

# ---------------------------------------------------------------------------
# Unit shapes


@pytest.mark.parametrize(
    ("width", "shape"),
    [(256, (16, 16)), (128, (16, 8)), (1024, (32, 32)), (512, (32, 16)), (16, (4, 4)), (8, (4, 2)), (1, (1, 1)), (2, (2, 1))],
)
def test_grid_shape_examples(width, shape):
    assert grid_shape(width) == shape
    assert math.prod(shape) == width


@pytest.mark.parametrize("width", [3, 12, 24, 100 + 1])
def test_grid_shape_rejects_widths_that_are_not_r2_or_2r2(width):
    with pytest.raises(ValueError, match=rf"r\^2 or 2 r\^2 units.*got width {width}"):
        grid_shape(width)


def test_grid_shape_rejects_non_positive_widths():
    with pytest.raises(ValueError, match="width must be >= 1"):
        grid_shape(0)


def test_unit_shapes_examples():
    assert unit_shapes(1024, levels=3, layout="grid") == [(32, 32), (32, 16), (16, 16), (16, 8)]
    assert unit_shapes(28 * 28, levels=2, layout="grid", input_shape=(28, 28)) == [(28, 28), (28, 14), (14, 14)]
    assert unit_shapes(16, levels=3, layout="path") == [(16,), (8,), (4,), (2,)]
    assert unit_shapes(12, levels=0, layout="path") == [(12,)]
    assert unit_shapes(12, levels=2, layout="path") == [(12,), (6,), (3,)]
    # A path layout flattens a 2D input shape.
    assert unit_shapes(64, levels=1, layout="path", input_shape=(8, 8)) == [(64,), (32,)]


def test_unit_shapes_errors_name_the_width_and_the_level():
    assert unit_shapes(16, levels=4, layout="path")[-1] == (1,)  # a side may reach 1
    with pytest.raises(ValueError, match=r"width 16 \(path layout, shape \(16,\)\) cannot be coarsened 5 times: at level 5"):
        unit_shapes(16, levels=5, layout="path")
    with pytest.raises(ValueError, match=r"cannot be coarsened 3 times: at level 3.*longest side 3 must be even"):
        unit_shapes(12, levels=3, layout="path")
    with pytest.raises(ValueError, match=r"input_shape \(4, 5\) has 20 units, not the layer's width 16"):
        unit_shapes(16, levels=1, layout="grid", input_shape=(4, 5))
    with pytest.raises(ValueError, match="unknown layout 'cycle'; valid layouts are: grid, path"):
        unit_shapes(16, levels=1, layout="cycle")


# ---------------------------------------------------------------------------
# Layer maps


ALL_STRATEGIES = sorted(STRATEGIES)
CHEAP_METHODS = [method for method in METHODS if method != "optimize"]


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
@pytest.mark.parametrize("method", CHEAP_METHODS)
def test_layer_maps_have_orthonormal_columns_and_chain(strategy, method):
    maps = layer_maps(64, levels=3, strategy=strategy, method=method, rng=3)
    assert len(maps) == 3
    widths = [64, 32, 16, 8]
    for level, P in enumerate(maps):
        assert P.shape == (widths[level], widths[level + 1])
        np.testing.assert_allclose(P.T @ P, np.eye(P.shape[1]), atol=1e-12)


def test_one_dimensional_maps_are_orthonormal_and_read_only():
    for method in CHEAP_METHODS:
        P = one_dimensional_map(8, method=method)
        assert P.shape == (16, 8)
        np.testing.assert_allclose(P.T @ P, np.eye(8), atol=1e-12)
        with pytest.raises(ValueError):
            P[0, 0] = 1.0
    P = one_dimensional_map(4, method="piecewise-constant")
    expected = np.zeros((8, 4))
    for i in range(4):
        expected[2 * i, i] = expected[2 * i + 1, i] = 1 / math.sqrt(2)
    np.testing.assert_allclose(P, expected, atol=1e-15)


@pytest.mark.parametrize("method", CHEAP_METHODS)
def test_grid_maps_are_kronecker_products_of_one_dimensional_maps(method):
    """(8, 8) -> (8, 4) -> (4, 4) -> (4, 2): row-major flattening makes P = I ⊗ P_1D or P_1D ⊗ I."""
    maps = layer_maps(64, levels=3, strategy="grid", method=method)
    one_d = {n: one_dimensional_map(n, method=method) for n in (2, 4)}
    expected = [
        np.kron(np.eye(8), one_d[4]),  # halve the columns: 8 -> 4
        np.kron(one_d[4], np.eye(4)),  # halve the rows: 8 -> 4
        np.kron(np.eye(4), one_d[2]),  # halve the columns: 4 -> 2
    ]
    for P, reference in zip(maps, expected, strict=True):
        np.testing.assert_allclose(P, reference, atol=1e-14)


def test_grid_map_acts_on_images_along_one_axis():
    """Prolonging a flattened 4x2 image with the (4, 4) <- (4, 2) map prolongs each row with the 1D map."""
    (P,) = layer_maps(16, levels=1, strategy="grid")
    rng = np.random.default_rng(0)
    image = rng.standard_normal((4, 2))
    rows = image @ one_dimensional_map(2).T
    np.testing.assert_allclose((P @ image.reshape(-1)).reshape(4, 4), rows, atol=1e-14)


@pytest.mark.parametrize("seed", [0, 1])
def test_grid_shuffled_maps_are_row_permutations_of_the_grid_maps(seed):
    grid = layer_maps(64, levels=3, strategy="grid")
    shuffled = layer_maps(64, levels=3, strategy="grid-shuffled", rng=seed)
    for P, Q in zip(grid, shuffled, strict=True):
        assert P.shape == Q.shape
        assert not np.array_equal(P, Q)
        # Q = Pi P for a permutation matrix Pi: the rows agree as multisets, and Q Q^T is P P^T permuted.
        matches = np.all(np.isclose(Q[:, None, :], P[None, :, :], atol=1e-14), axis=2)
        permutation = np.argmax(matches, axis=1)
        assert matches[np.arange(len(Q)), permutation].all()
        assert sorted(permutation.tolist()) == list(range(len(P)))
        np.testing.assert_array_equal(Q, P[permutation])
    assert all(np.array_equal(a, b) for a, b in zip(shuffled, layer_maps(64, levels=3, strategy="grid-shuffled", rng=seed)))


def test_random_orthogonal_maps_depend_on_the_seed_only():
    first = layer_maps(32, levels=2, strategy="random-orthogonal", rng=5)
    again = layer_maps(32, levels=2, strategy="random-orthogonal", rng=5)
    other = layer_maps(32, levels=2, strategy="random-orthogonal", rng=6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.allclose(first[0], other[0])
    assert first[0].shape == (32, 16) and first[1].shape == (16, 8)


def test_layer_maps_unknown_strategy_and_method_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown strategy 'cycle'; valid strategys are: grid, grid-shuffled, path, random-orthogonal"):
        layer_maps(16, levels=1, strategy="cycle")
    with pytest.raises(ValueError, match="unknown method 'magic'") as raised:
        layer_maps(16, levels=1, method="magic")
    for method in METHODS:
        assert method in str(raised.value)
    with pytest.raises(ValueError, match="cannot be coarsened 4 times"):
        layer_maps(8, levels=4, strategy="grid")  # 4x2 -> 2x2 -> 2x1 -> 1x1 -> odd


def test_composite_maps_are_the_running_products():
    maps = layer_maps(32, levels=3)
    composite = composite_maps(maps)
    assert len(composite) == 4
    np.testing.assert_array_equal(composite[0], np.eye(32))
    np.testing.assert_allclose(composite[3], maps[0] @ maps[1] @ maps[2], atol=1e-14)
    for C in composite:
        np.testing.assert_allclose(C.T @ C, np.eye(C.shape[1]), atol=1e-12)
    with pytest.raises(ValueError, match="at least one map"):
        composite_maps([])
    with pytest.raises(ValueError, match=r"maps do not chain: \(32, 16\) then \(8, 4\)"):
        composite_maps([maps[0], maps[2]])
