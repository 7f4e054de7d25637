"""The compact map ``R + K_L G K_R^T`` (:class:`~graphprolong.kronecker.KroneckerStructuredLowRankMap`):
products against its dense form, its storage parts, and the errors of bad input (issue 16)."""

import numpy as np
import pytest

from graphprolong.kronecker import KroneckerMap, KroneckerStructuredLowRankMap
from graphprolong.map_forms import map_from_parts, map_parts
from graphprolong.recipes import get_recipe

from .strategies import random_stiefel


def _random_map(rng) -> KroneckerStructuredLowRankMap:
    base = KroneckerMap([random_stiefel(4, 2, rng), random_stiefel(6, 3, rng)])
    left = [KroneckerMap([rng.standard_normal((4, 1)), rng.standard_normal((6, 2))]), KroneckerMap([np.eye(4), np.ones((6, 1))])]
    right = [KroneckerMap([rng.standard_normal((2, 2)), rng.standard_normal((3, 1))])]
    return KroneckerStructuredLowRankMap(base, left, rng.standard_normal((6, 2)), right)


def test_products_transpose_and_parts_equal_the_dense_map():
    rng = np.random.default_rng(0)
    P = _random_map(rng)
    dense = P.base.dense() + np.hstack([M.dense() for M in P.left]) @ P.core @ np.hstack([M.dense() for M in P.right]).T
    np.testing.assert_allclose(P.dense(), dense, atol=1e-12)
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((2, 24))
    np.testing.assert_allclose(P @ X, dense @ X, atol=1e-12)
    np.testing.assert_allclose(P @ X[:, 0], dense @ X[:, 0], atol=1e-12)
    np.testing.assert_allclose(Y @ P, Y @ dense, atol=1e-12)
    np.testing.assert_allclose(P.T.dense(), dense.T, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(P), P.dense())
    assert P.shape == (24, 6) and P.rank == 2 and repr(P).endswith("core=(6, 2))")
    assert P.nbytes == 8 * (8 + 18 + 4 + 12 + 16 + 6 + 4 + 3 + 12)
    form, arrays = map_parts(P)
    assert form == "kronecker+structured-low-rank" and arrays[0].tolist() == [[2.0, 2.0, 1.0]]
    np.testing.assert_array_equal(map_from_parts(form, arrays).dense(), P.dense())


def test_the_recipe_map_restricts_after_it_prolongs():
    P = get_recipe("grid-interpolation").prolongation((5, 4), factored=True)
    X = np.random.default_rng(1).standard_normal((20, 3))
    np.testing.assert_allclose(P.T @ (P @ X), X, atol=1e-12)
    assert P.orthonormality_error() < 1e-12


def test_bad_input_names_the_rule_and_the_value():
    rng = np.random.default_rng(2)
    P = _random_map(rng)
    with pytest.raises(TypeError, match="base must be a KroneckerMap; got ndarray"):
        KroneckerStructuredLowRankMap(P.base.dense(), P.left, P.core, P.right)
    with pytest.raises(TypeError, match="left must be a non-empty sequence of KroneckerMaps; got KroneckerMap"):
        KroneckerStructuredLowRankMap(P.base, P.left[0], P.core, P.right)
    with pytest.raises(TypeError, match=r"right\[0\] must be a KroneckerMap; got ndarray"):
        KroneckerStructuredLowRankMap(P.base, P.left, P.core, [np.eye(6)])
    with pytest.raises(ValueError, match=r"left\[1\] must have rows \(4, 6\) \(those of the base\); got rows \(2, 3\)"):
        KroneckerStructuredLowRankMap(P.base, [P.left[0], P.right[0]], P.core, P.right)
    with pytest.raises(ValueError, match=r"core must be \(columns of left\) x \(columns of right\) = 6 x 2; got shape \(2, 6\)"):
        KroneckerStructuredLowRankMap(P.base, P.left, P.core.T, P.right)
    with pytest.raises(ValueError, match="core must have finite entries; found 1 non-finite of 12"):
        KroneckerStructuredLowRankMap(P.base, P.left, np.where(np.arange(12).reshape(6, 2) == 3, np.nan, P.core), P.right)
    arrays = map_parts(P)[1]
    with pytest.raises(ValueError, match=r"layout \[\[d, p, q\]\].*got layout \[2.0, 3.0, 1.0\] and 10 arrays"):
        map_from_parts("kronecker+structured-low-rank", [np.array([[2.0, 3.0, 1.0]]), *arrays[1:]])
