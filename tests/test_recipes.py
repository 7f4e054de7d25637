"""Closed-form recipes: exact minimisers at s = 0 and s = 1, the registry and its size rules."""

import json
import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphprolong import ProlongationProblem, compose_box, cycle_graph, grid_graph, path_graph
from graphprolong.lineages import LINEAGE_KINDS
from graphprolong.recipes import grid_spectrum, verify
from graphprolong.recipes import (
    RECIPE_VERSION,
    RECIPES,
    Recipe,
    get_recipe,
    objective_lower_bound,
    piecewise_constant,
    recipe_prolongation,
    spectra,
    verification_passed,
    verification_table,
    verify_recipe,
)

from .strategies import random_connected_graph, random_stiefel

#: Small sizes per lineage: odd and even, rectangles and a 3-D grid.
SMALL_SIZES = {
    "path": [2, 5, 8],
    "cycle": [3, 6, 7],
    "grid": [(2, 3), (4, 4), (2, 2, 3)],
    "grid:periodic": [(3, 4), (4, 4)],
}

CASES = [
    (name, size)
    for name, recipe in RECIPES.items()
    for size in SMALL_SIZES[recipe.lineage]
    if min(np.atleast_1d(size)) >= recipe.min_size
]


def _tolerance(value: float) -> float:
    return 1e-9 * max(1.0, abs(value))


@pytest.mark.parametrize(("name", "size"), CASES, ids=[f"{name}-{size}" for name, size in CASES])
def test_recipe_is_an_exact_global_minimiser(name, size):
    """Orthonormal, gradient ~ 0, no negative curvature, and E equals the spectral lower bound."""
    report = verify_recipe(name, size, compare_optimisation=False, probes=2, lanczos_steps=15)
    assert report["orthonormality_error"] < 1e-12
    assert report["relative_gradient"] < 1e-10  # the brief's target is 1e-6
    assert report["second_order_ok"], report
    assert abs(report["gap"]) <= _tolerance(report["objective"]), report


@pytest.mark.parametrize(
    ("name", "size"),
    [("path-interpolation", 8), ("cycle-interpolation", 8), ("grid-interpolation", 4),
     ("grid-periodic-interpolation", 4), ("path-fold", 8), ("cycle-cover", 8)],
)
def test_recipe_is_no_worse_than_a_fresh_optimisation(name, size):
    report = verify_recipe(name, size, lanczos_steps=0, probes=1)
    assert report["fresh_skipped"] is None
    assert report["objective"] <= report["fresh_objective"] + _tolerance(report["fresh_objective"])
    assert report["fresh_objective"] >= report["lower_bound"] - _tolerance(report["lower_bound"])


def test_fresh_optimisation_is_skipped_beyond_the_size_limit():
    report = verify_recipe("cycle-interpolation", 40, lanczos_steps=0, probes=1, max_optimisation_size=64)
    assert report["fresh_objective"] is None
    assert report["fresh_skipped"] == "n_large = 80 > max_optimisation_size = 64"


@settings(max_examples=30, deadline=None)
@given(
    n_small=st.integers(1, 5), extra=st.integers(0, 4), seed=st.integers(0, 10_000),
    s=st.sampled_from([0.0, 0.4, 1.0]), fixed=st.booleans(),
)
def test_lower_bound_holds_for_every_orthonormal_map(n_small, extra, seed, s, fixed):
    """min over the Stiefel manifold of each term = a minimal eigenvalue matching cost (module notes)."""
    rng = np.random.default_rng(seed)
    small = random_connected_graph(n_small, seed)
    large = random_connected_graph(n_small + extra, seed + 1, weighted=True)
    scales = dict(alpha=0.7, beta=0.3) if fixed else {}
    if n_small == 1:
        scales = dict(alpha=1.0, beta=1.0)  # the problem fixes them anyway (with a warning)
    problem = ProlongationProblem(small, large, s=s, **scales)
    bound = objective_lower_bound(problem)
    P = random_stiefel(n_small + extra, n_small, rng)
    assert problem.objective(P) >= bound - 1e-10 * max(1.0, bound)


def test_bound_is_attained_by_the_recipe():
    problem = get_recipe("path-interpolation").problem(6)
    bound = objective_lower_bound(problem)
    P = get_recipe("path-interpolation").prolongation(6)
    assert problem.objective(P) == pytest.approx(bound, rel=1e-12)


def test_registry_entries_are_consistent_plain_data():
    for name, recipe in RECIPES.items():
        assert recipe.name == name
        assert recipe.lineage in LINEAGE_KINDS
        assert recipe.version == ("4" if name == "grid-interpolation" else RECIPE_VERSION)
        assert recipe.s in (0.0, 1.0)
        assert json.loads(json.dumps(recipe.to_dict()))["name"] == name


def test_unknown_recipe_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown recipe 'nope'; valid recipes are: cycle-cover, .*path-fold"):
        get_recipe("nope")
    with pytest.raises(ValueError, match="valid recipes are"):
        recipe_prolongation("nope", path_graph(2), path_graph(4))


def test_recipe_definition_is_validated():
    with pytest.raises(ValueError, match=r"unknown lineage 'tree'; valid lineages are: cycle, grid"):
        Recipe("x", piecewise_constant, "tree", "n -> 2n", 1.0, "0", "")
    with pytest.raises(ValueError, match=r"s must lie in \[0, 1\]"):
        Recipe("x", piecewise_constant, "path", "n -> 2n", 1.5, "0", "")


@pytest.mark.parametrize(
    ("name", "shape"),
    [("path-interpolation", 5), ("cycle-interpolation", 5), ("grid-interpolation", (2, 3)), ("grid-periodic-cover", (3, 3))],
)
def test_prolongation_from_graphs_matches_the_generator(name, shape):
    recipe = get_recipe(name)
    G_small, G_large = recipe.graphs(shape)
    P = recipe_prolongation(name, G_small, G_large)
    assert P.shape == (G_large.number_of_nodes(), G_small.number_of_nodes())
    np.testing.assert_array_equal(P, recipe.prolongation(shape))


@pytest.mark.parametrize(
    ("name", "G_small", "G_large", "message"),
    [
        ("path-fold", path_graph(4), path_graph(9),
         r"recipe 'path-fold' follows the size rule n -> 2n: for G_small of shape \(4,\) G_large must have shape \(8,\); got \(9,\)"),
        ("grid-fold", grid_graph([2, 3]), grid_graph([4, 4]),
         r"size rule \(n_1, \.\.\., n_d\) -> \(2 n_1, \.\.\., 2 n_d\): for G_small of shape \(2, 3\) G_large must have shape \(4, 6\); got \(4, 4\)"),
        ("path-fold", cycle_graph(4), cycle_graph(8), r"needs G_small to be a path graph in canonical vertex order .* got cycle:4 with 4 vertices"),
        ("grid-fold", grid_graph([3, 3], periodic=True), grid_graph([6, 6], periodic=True), r"needs G_small to be a grid graph"),
        ("grid-periodic-cover", grid_graph([3, 3]), grid_graph([6, 6]), r"needs G_small to be a grid:periodic graph"),
        ("cycle-interpolation", cycle_graph(5), path_graph(10), r"needs G_large to be a cycle graph"),
        ("path-fold", nx.relabel_nodes(path_graph(4), {0: 2, 2: 0}), path_graph(8), r"needs G_small to be a path graph"),
        ("cycle-cover", cycle_graph(2), cycle_graph(4), r"needs side lengths >= 3; got \(2,\) \(G_small has shape \(2,\)\)"),
    ],
)
def test_graphs_off_the_lineage_or_the_size_rule_are_rejected(name, G_small, G_large, message):
    with pytest.raises(ValueError, match=message):
        recipe_prolongation(name, G_small, G_large)


def test_sizes_are_validated():
    with pytest.raises(ValueError, match=r"recipe 'path-fold' \(path\) needs one side length; got \(3, 3\)"):
        verify_recipe("path-fold", (3, 3))
    with pytest.raises(ValueError, match=r"recipe 'path-interpolation' needs side lengths >= 2; got \(1,\)"):
        get_recipe("path-interpolation").prolongation(1)
    assert get_recipe("grid-fold").shape(5) == (5, 5)
    assert get_recipe("grid-fold").large_shape((2, 3, 4)) == (4, 6, 8)


def test_piecewise_constant_is_critical_only_at_beta_half_and_a_saddle_there():
    """SPEC §2's quick check, made precise with a Recipe built on the spot."""
    for beta_ratio, critical in ((None, False), (1.0, True)):
        recipe = Recipe("piecewise-constant", piecewise_constant, "path", "n -> 2n", 1.0, "test", "", beta_ratio=beta_ratio)
        report = verify_recipe(recipe, 8, compare_optimisation=False, lanczos_steps=30)
        assert (report["relative_gradient"] < 1e-12) == critical
        assert report["gap"] > 1.0  # far above the minimum either way
    assert not report["second_order_ok"]  # at beta = 1/2: negative curvature found
    assert not verification_passed(report)


def test_grid_recipe_is_the_kronecker_map_moved_to_the_nearest_minimiser():
    shape = (4, 4)
    path = get_recipe("path-interpolation").prolongation(4)  # its matching is the same at beta = 1/4
    kronecker = compose_box(path, path)
    problem = get_recipe("grid-interpolation").problem(shape)
    P = get_recipe("grid-interpolation").prolongation(shape)
    relative_gradient = np.linalg.norm(problem.riemannian_gradient(kronecker)) / problem.gradient_scale
    assert relative_gradient > 1e-3  # path distance matrices do not commute with J
    assert np.linalg.norm(P - kronecker) < 0.2 * np.linalg.norm(kronecker)
    cycle = get_recipe("cycle-interpolation").prolongation(4)
    np.testing.assert_allclose(get_recipe("grid-periodic-interpolation").prolongation(shape), compose_box(cycle, cycle), atol=1e-14)


def test_a_scale_with_every_eigenvalue_matched_to_zero_is_a_clear_error():
    """beta = sqrt(sum small^2 / sum matched^2) is undefined when the matching uses only zeros: a ValueError naming it."""
    # At beta = 1/4 the small 0.1 scales to 0.4, nearest the zeros of the large spectrum, not -1 or 5.
    with pytest.raises(spectra.DegenerateScaleError, match=r"needs at least one matched nonzero eigenvalue .* matched to 0 at beta = 0\.25$"):
        spectra._self_consistent_scale(np.array([0.1]), np.array([-1.0, 0.0, 0.0, 5.0]), 0.25)
    with pytest.raises(ValueError, match=r"\(sum small\^2 = 2\) is matched to 0 at beta = 1$"):
        spectra._settle_scale(2.0, lambda beta: np.zeros(3), 1.0)
    # Grids (the exact-locality start's case): the iteration itself moves beta to where every match is a zero.
    small, large = (grid_spectrum._grid_distance_spectrum(shape, False).full()[0] for shape in ((3, 4), (6, 8)))
    with pytest.raises(spectra.DegenerateScaleError, match=r"matched to 0 at beta = 9\.46"):
        spectra._self_consistent_scale(small, large, 0.25)
    # ... where the locality term's infimum over the scale is 0 (the all-zeros matching costs sum small^2 / c).
    assert verify._term_bound(np.array([0.1]), np.array([-1.0, 0.0, 0.0, 5.0]), None) == 0.0
    assert verify._term_bound(np.array([0.1]), np.array([-1.0, 0.0, 0.0, 5.0]), 1e6) == pytest.approx(0.1**2 / 1e6)


def _local_mass(P: np.ndarray, width: float) -> float:
    """Fraction of the squared mass of P within ``width`` coarse cells of its cell-centred diagonal."""
    offset = np.abs((np.arange(P.shape[0])[:, None] - 0.5) / 2 - np.arange(P.shape[1])[None, :])
    return float((P**2)[offset <= width].sum() / P.shape[1])


def test_interpolation_recipes_are_local_sinc_interpolators_and_the_folds_are_not():
    n = 64
    sinc = [math.sin(math.pi * m / 2) / (math.sqrt(2) * math.pi * m / 2) for m in (0.5, 1.5, 2.5, 3.5)]
    for name in ("path-interpolation", "cycle-interpolation"):
        P = get_recipe(name).prolongation(n)
        column = P[n - 3 : n + 5, n // 2]  # rows 2j-3 .. 2j+4 of column j = n/2: m = -3.5 .. 3.5
        np.testing.assert_allclose(column[4:], sinc, atol=5e-3)
        np.testing.assert_allclose(column[:4], sinc[::-1], atol=5e-3)
        assert _local_mass(P, 3.5) > 0.97
    for name in ("path-fold", "cycle-cover"):
        assert _local_mass(get_recipe(name).prolongation(n), 3.5) < 0.2


def test_verification_table_has_a_row_per_report():
    reports = [verify_recipe(name, 4, compare_optimisation=False, lanczos_steps=0, probes=1) for name in ("path-fold", "grid-fold")]
    lines = verification_table(reports).splitlines()
    assert len(lines) == 4
    assert lines[0].split()[:4] == ["recipe", "shape", "n_small", "n_large"]
    assert lines[3].split()[:4] == ["grid-fold", "4x4", "16", "64"]
    assert lines[2].split()[-1] == lines[3].split()[-1] == "True"
