"""Factored (Kronecker) maps: the operator against its dense form, and the recipes, compose_box,
box matching, cache and export that produce and keep them (issue 16, point 5)."""

import json
from functools import reduce

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphprolong import compose_box, get_prolongation, grid_graph, path_graph, structured_matrices
from graphprolong.export import export_chain, load_prolongations, prolongation_chain
from graphprolong.io import load_prolongation, save_prolongation
from graphprolong.kronecker import KroneckerLowRankMap, KroneckerMap, KroneckerStructuredLowRankMap, stack_product
from graphprolong.map_forms import map_parts
from graphprolong.matching import box_matching
from graphprolong.recipes import RECIPES, get_recipe, piecewise_constant, recipe_prolongation

from .strategies import random_stiefel
from .torch_available import needs_torch

factor_shapes = st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(shapes=factor_shapes, k=st.integers(1, 3), seed=st.integers(0, 1000))
def test_products_equal_the_dense_map(shapes, k, seed):
    rng = np.random.default_rng(seed)
    P = KroneckerMap([rng.standard_normal(shape) for shape in shapes])
    dense = P.dense()
    assert dense.shape == P.shape
    X, Y = rng.standard_normal((P.shape[1], k)), rng.standard_normal((k, P.shape[0]))
    np.testing.assert_allclose(P @ X, dense @ X, atol=1e-12)
    np.testing.assert_allclose(Y @ P, Y @ dense, atol=1e-12)
    np.testing.assert_allclose(P.T @ Y.T, dense.T @ Y.T, atol=1e-12)
    np.testing.assert_allclose(P @ X[:, 0], dense @ X[:, 0], atol=1e-12)
    # Adjointness <y, P x> = <P^T y, x>.
    assert np.vdot(Y.T, P @ X) == pytest.approx(np.vdot(P.T @ Y.T, X), rel=1e-10, abs=1e-10)
    np.testing.assert_array_equal(np.asarray(P), dense)


@settings(max_examples=30, deadline=None)
@given(shapes=factor_shapes, seed=st.integers(0, 1000), scale=st.sampled_from([1.0, 1.0 + 1e-7, 0.5]))
def test_orthonormality_error_from_the_factors_equals_the_dense_one(shapes, seed, scale):
    rng = np.random.default_rng(seed)
    factors = [random_stiefel(max(rows, columns), columns, rng) * scale for rows, columns in shapes]
    P, dense = KroneckerMap(factors), reduce(np.kron, factors)
    expected = np.linalg.norm(dense.T @ dense - np.eye(dense.shape[1]))
    assert P.orthonormality_error() == pytest.approx(expected, rel=1e-6, abs=1e-13)


def test_restriction_after_prolongation_is_the_identity_and_maps_chain():
    rng = np.random.default_rng(1)
    P = KroneckerMap([random_stiefel(6, 3, rng), random_stiefel(4, 2, rng)])
    X = rng.standard_normal((6, 2))
    np.testing.assert_allclose(P.T @ (P @ X), X, atol=1e-12)
    Q = KroneckerMap([random_stiefel(3, 2, rng), random_stiefel(2, 1, rng)])
    np.testing.assert_allclose((P @ Q).dense(), P.dense() @ Q.dense(), atol=1e-12)
    with pytest.raises(ValueError, match=r"maps do not chain: columns \(2, 1\) of the first, rows \(6, 4\) of the second"):
        Q @ P


def test_bad_factors_and_operands_are_rejected():
    with pytest.raises(TypeError, match="non-empty sequence of matrices"):
        KroneckerMap(np.eye(2))
    with pytest.raises(ValueError, match=r"factor 1 must be a non-empty matrix; got shape \(3,\)"):
        KroneckerMap([np.eye(2), np.ones(3)])
    with pytest.raises(ValueError, match=r"P @ X needs X of shape \(n, k\) with n = 4; got shape \(5, 1\)"):
        KroneckerMap([np.eye(2), np.eye(2)]) @ np.ones((5, 1))


@needs_torch
def test_the_same_products_on_torch_tensors():
    import torch

    rng = np.random.default_rng(2)
    P = KroneckerMap([random_stiefel(6, 3, rng), random_stiefel(4, 4, rng)])
    on_torch = P.map_factors(torch.from_numpy)
    X = rng.standard_normal((12, 3))
    np.testing.assert_allclose((on_torch @ torch.from_numpy(X)).numpy(), P @ X, atol=1e-12)
    np.testing.assert_allclose((torch.from_numpy(X.T) @ on_torch.T).numpy(), X.T @ P.T.dense(), atol=1e-12)


# --------------------------------------------------------------------------- producers of factored maps


def test_compose_box_factored_is_the_dense_kronecker_product():
    rng = np.random.default_rng(3)
    A, B, C = random_stiefel(4, 2, rng), random_stiefel(3, 3, rng), random_stiefel(5, 2, rng)
    factored = compose_box(compose_box(A, B, factored=True), C)
    assert isinstance(factored, KroneckerMap) and factored.columns == (2, 3, 2)
    np.testing.assert_array_equal(factored.dense(), compose_box(compose_box(A, B), C))
    np.testing.assert_array_equal(compose_box(A, B), np.kron(A, B))
    with pytest.raises(ValueError, match="P_A factor 1 must have orthonormal columns"):
        compose_box(KroneckerMap([A, np.ones((3, 2))]), C)


def test_box_matching_factored_is_the_dense_matching():
    spectra = ([np.array([-2.0, 0.0]), np.array([-3.0, -1.0, 0.0])], [np.linspace(-4, 0, 4), np.linspace(-4, 0, 6)])
    factored = box_matching(*spectra, factored=True)
    np.testing.assert_array_equal(factored.dense(), box_matching(*spectra))
    assert factored.orthonormality_error() == 0.0


KRONECKER_RECIPES = [name for name, recipe in RECIPES.items() if recipe.factored_form and name != "grid-interpolation"]


@pytest.mark.parametrize("name", KRONECKER_RECIPES)
@pytest.mark.parametrize("shape", [(3, 3), (4, 5), (3, 4, 3)])
def test_factored_recipe_materialises_to_the_same_bits(name, shape):
    recipe = get_recipe(name)
    factored = recipe.prolongation(shape, factored=True)
    dense = recipe.prolongation(shape)
    assert isinstance(factored, KroneckerMap) and factored.columns == shape
    np.testing.assert_array_equal(factored.dense(), dense)
    # Each factor is the recipe's 1-D map along that axis (the construction of a1ccddb: numpy.kron of them).
    assert factored.orthonormality_error() < 1e-12


def test_factored_recipe_for_large_grids_stays_small():
    """128² -> 256²: two 256 x 128 factors (0.5 MB) where the dense map is 8.6 GB."""
    P = get_recipe("grid-periodic-interpolation").prolongation((128, 128), factored=True)
    assert P.shape == (65536, 16384) and P.nbytes == 2 * 256 * 128 * 8
    X = np.random.default_rng(4).standard_normal((16384, 2))
    np.testing.assert_allclose(P.T @ (P @ X), X, atol=1e-10)


def test_recipes_without_a_kronecker_form_say_so():
    with pytest.raises(ValueError, match="'grid-spectral' is not a Kronecker product of per-axis maps.*grid-fold"):
        get_recipe("grid-spectral").prolongation(3, factored=True)
    P = recipe_prolongation("path-interpolation", path_graph(4), path_graph(8), factored=True)
    np.testing.assert_array_equal(P.dense(), get_recipe("path-interpolation").prolongation(4))
    np.testing.assert_array_equal(piecewise_constant((2, 3), (4, 6), factored=True).dense(), piecewise_constant((2, 3), (4, 6)))


# --------------------------------------------------------------------------- cache and export


def test_cache_keeps_factored_entries_beside_dense_ones(tmp_path):
    small, large = grid_graph((4, 4), periodic=True), grid_graph((8, 8), periodic=True)
    dense, dense_entry = get_prolongation(small, large, s=1.0, cache_dir=tmp_path, return_metadata=True)
    factored, entry = get_prolongation(small, large, s=1.0, cache_dir=tmp_path, return_metadata=True, factored=True)
    assert entry["key"] != dense_entry["key"] and entry["form"] == "kronecker" and dense_entry["form"] == "dense"
    np.testing.assert_array_equal(factored.dense(), dense)
    assert entry["objective"] == pytest.approx(dense_entry["objective"], rel=1e-12)
    again = get_prolongation(structured_matrices("grid:periodic", (4, 4)), structured_matrices("grid:periodic", (8, 8)),
                             s=1.0, cache_dir=tmp_path, factored=True)
    assert all(np.array_equal(a, b) for a, b in zip(again.factors, factored.factors))
    assert len(list(tmp_path.glob("*.npz"))) == 2
    with pytest.raises(ValueError, match="factored=True needs a Kronecker recipe"):
        get_prolongation(small, large, s=1.0, method="spectral", cache_dir=tmp_path, factored=True)
    with pytest.raises(ValueError, match="no registered recipe with a Kronecker form"):
        get_prolongation(grid_graph((3, 3)), grid_graph((6, 6)), s=0.5, cache_dir=tmp_path, factored=True)


def test_saved_factored_map_round_trips_and_detects_tampering(tmp_path):
    P = get_recipe("grid-fold").prolongation((3, 2), factored=True)
    path = save_prolongation(tmp_path / "P.npz", P, metadata={"note": "x"})
    loaded, metadata = load_prolongation(path)
    assert isinstance(loaded, KroneckerMap) and metadata["shape_parts"] == [[6, 3], [4, 2]]
    assert all(np.array_equal(a, b) for a, b in zip(loaded.factors, P.factors))
    with np.load(path) as data:
        arrays = {name: np.array(data[name]) for name in data.files}
    arrays["P_part_1"][0, 0] += 1e-9
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="checksum"):
        load_prolongation(path)


@pytest.mark.parametrize("suffix", [".npz", ".mtx", pytest.param(".pt", marks=needs_torch)])
def test_factored_chain_round_trips_in_every_format(tmp_path, suffix):
    sizes = [(3, 3), (6, 6), (12, 12)]
    maps, metadata = prolongation_chain("grid:periodic", sizes, s=1.0, cache_dir=tmp_path / "cache", factored=True)
    assert all(isinstance(P, KroneckerMap) for P in maps)
    export_chain(tmp_path / f"chain{suffix}", maps + [np.eye(144, 144)], metadata)
    loaded, read = load_prolongations(tmp_path / f"chain{suffix}")
    assert read["forms"] == ["kronecker", "kronecker", "dense"]
    for P, Q in zip(maps, loaded):
        assert all(np.array_equal(a, b) for a, b in zip(P.factors, Q.factors))
    dense, _ = prolongation_chain("grid:periodic", sizes, s=1.0, cache_dir=tmp_path / "cache")
    for P, D in zip(maps, dense):
        np.testing.assert_array_equal(P.dense(), D)


def test_chains_written_before_factored_maps_still_load(tmp_path):
    P = get_recipe("path-fold").prolongation(3)
    from graphprolong.io import array_checksum

    metadata = {"lineage": "path", "checksums": [array_checksum(P)], "count": 1}
    np.savez(tmp_path / "old.npz", metadata=np.array(json.dumps(metadata)), P_0=P)
    (loaded,), read = load_prolongations(tmp_path / "old.npz")
    np.testing.assert_array_equal(loaded, P)


# --------------------------------------------------------------------------- grid-interpolation: Kronecker plus low rank


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (4, 5), (3, 4, 3), (8, 8)])
def test_low_rank_grid_interpolation_equals_the_dense_construction(shape):
    """Version 3 (R + U_L G U_R^T, all in Kronecker coordinates) against version 1 (the polar factor by a
    dense SVD) and version 2 (R + X Y^T with N-row X), 1e-12."""
    from graphprolong.recipes import generators, grid_spectrum, spectra

    large_shape = tuple(2 * side for side in shape)
    beta = generators._beta_from_ratio(shape, large_shape, generators.GRID_BETA_RATIO)
    reference = np.asarray(reduce(np.kron, [
        spectra._path_interpolation_1d(n, N, generators._factor_beta(beta, shape, large_shape, axis))
        for axis, (n, N) in enumerate(zip(shape, large_shape))
    ]))
    small, large = (grid_spectrum._grid_distance_spectrum(s, False) for s in (shape, large_shape))
    version_1 = spectra._nearest_exact_minimiser(small, large, beta, reference)
    dense_spectra = [spectra._Spectrum(s.values, s.dense_vectors(), s.n) for s in (small, large)]
    X, Y = spectra._low_rank_nearest_minimiser(*dense_spectra, beta, reference)
    factored = get_recipe("grid-interpolation").prolongation(shape, factored=True)
    assert isinstance(factored, KroneckerStructuredLowRankMap)
    rank_small, rank_large = (sum(side - 1 for side in s) + 1 for s in (shape, large_shape))  # ranks of T1, T2
    assert factored.rank <= rank_small + 2 * rank_large
    assert np.max(np.abs(factored.dense() - version_1)) <= 1e-12
    assert np.max(np.abs(factored.dense() - (reference + X @ Y.T))) <= 1e-12
    np.testing.assert_array_equal(factored.dense(), get_recipe("grid-interpolation").prolongation(shape))
    assert factored.orthonormality_error() < 1e-12
    X = np.random.default_rng(5).standard_normal((factored.shape[1], 3))
    np.testing.assert_allclose(factored @ X, version_1 @ X, atol=1e-11)
    np.testing.assert_allclose(factored.T @ (factored @ X), X, atol=1e-11)


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (6, 4), (3, 3, 3), (8, 8)])
@pytest.mark.parametrize("beta", [0.05, 0.25, 1.0, 3.0])
def test_zero_block_matching_is_the_full_dynamic_programme(periodic, shape, beta):
    from graphprolong.matching import _lexicographic_first, matching_cost_matrix
    from graphprolong.recipes import grid_spectrum, spectra

    small = grid_spectrum._grid_distance_spectrum(shape, periodic).full()[0] / beta
    large = grid_spectrum._grid_distance_spectrum(tuple(2 * side for side in shape), periodic).full()[0]
    full, _ = _lexicographic_first(matching_cost_matrix(small, large), 0.0)
    fast = spectra._zero_block_matching(small, large)
    assert fast is not None
    np.testing.assert_array_equal(fast, full)


@pytest.mark.parametrize("suffix", [".npz", ".mtx", pytest.param(".pt", marks=needs_torch)])
def test_low_rank_map_round_trips_through_the_cache_and_export(tmp_path, suffix):
    small, large = structured_matrices("grid", (4, 4)), structured_matrices("grid", (8, 8))
    P, entry = get_prolongation(small, large, s=1.0, cache_dir=tmp_path, factored=True, return_metadata=True)
    assert entry["form"] == "kronecker+structured-low-rank" and entry["recipe"]["version"] == "4"
    again = get_prolongation(grid_graph((4, 4)), grid_graph((8, 8)), s=1.0, cache_dir=tmp_path, factored=True)
    assert isinstance(again, KroneckerStructuredLowRankMap)
    np.testing.assert_array_equal(again.dense(), P.dense())
    export_chain(tmp_path / f"chain{suffix}", [P], {"lineage": "grid"})
    (loaded,), metadata = load_prolongations(tmp_path / f"chain{suffix}")
    assert metadata["forms"] == ["kronecker+structured-low-rank"]
    np.testing.assert_array_equal(loaded.dense(), P.dense())


def test_version_2_low_rank_entries_still_load(tmp_path):
    """Cache entries and files of form "kronecker+low-rank" (grid-interpolation version 2) keep loading."""
    P = get_recipe("grid-interpolation").prolongation((3, 3), factored=True)
    old = KroneckerLowRankMap(P.base, stack_product(P.left, P.core), np.hstack([M.dense() for M in P.right]))
    loaded, _ = load_prolongation(save_prolongation(tmp_path / "old.npz", old, metadata={}))
    assert isinstance(loaded, KroneckerLowRankMap) and map_parts(loaded)[0] == "kronecker+low-rank"
    np.testing.assert_allclose(loaded.dense(), P.dense(), atol=1e-14)
