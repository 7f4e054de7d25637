"""Stiefel optimisation and the spectral closed form (SPEC §2; issue acceptance)."""

import numpy as np
import pytest

from graphprolong import (
    ProlongationProblem,
    cycle_graph,
    eigenvalue_matching,
    grid_graph,
    initial_point,
    path_graph,
    solve,
    spectral_prolongation,
    spectrum,
    structured_matrices,
)
from graphprolong.checks import orthonormality_error

from .strategies import random_connected_graph, random_stiefel


def _relative_diffusion(problem, P):
    return problem.terms(P).diffusion / np.sum(problem.large.laplacian_dense ** 2)


@pytest.mark.parametrize("graph", [path_graph, cycle_graph])
def test_spectral_form_has_zero_diffusion_for_n_to_2n(graph):
    for n in range(4, 65):
        problem = ProlongationProblem(graph(n), graph(2 * n), s=0.0)
        P = spectral_prolongation(problem)
        assert orthonormality_error(P) < 1e-10, n
        assert _relative_diffusion(problem, P) < 1e-20, n


@pytest.mark.parametrize("graph", [path_graph, cycle_graph])
@pytest.mark.parametrize("n", [4, 5, 6, 7, 12, 16, 32])
def test_optimiser_from_matching_reaches_zero_diffusion(graph, n):
    problem = ProlongationProblem(graph(n), graph(2 * n), s=0.0)
    result = solve(problem)
    assert orthonormality_error(result.P) < 1e-10
    assert _relative_diffusion(problem, result.P) < 1e-12
    assert result.iterations < 200
    assert result.objective <= result.initial_objective


@pytest.mark.parametrize(
    ("small", "large", "s", "kwargs"),
    [
        (path_graph(5), path_graph(9), 0.5, {}),
        (cycle_graph(6), grid_graph([3, 4]), 1.0, {"optimizer": "conjugate-gradient"}),
        (grid_graph([2, 3]), grid_graph([4, 6]), 0.3, {"beta": 0.25}),
        (random_connected_graph(5, 7), random_connected_graph(11, 8, weighted=True), 0.7, {}),
    ],
)
def test_results_are_orthonormal_and_never_worse_than_their_start(small, large, s, kwargs):
    options = {key: value for key, value in kwargs.items() if key == "optimizer"}
    problem = ProlongationProblem(small, large, s=s, beta=kwargs.get("beta"))
    for init in ("matching", "identity", "random"):
        result = solve(problem, init=init, rng=1, max_iterations=60, **options)
        assert orthonormality_error(result.P) < 1e-10
        assert result.objective <= result.initial_objective + 1e-12 * abs(result.initial_objective)
        assert result.objective == pytest.approx(problem.objective(result.P), rel=1e-12)
        assert len(result.log["objective"]) >= 1


def test_restarts_keep_the_best_run():
    problem = ProlongationProblem(path_graph(5), path_graph(10), s=0.8)
    result = solve(problem, restarts=4, rng=3, max_iterations=50)
    assert len(result.log["restart_objectives"]) == 4
    assert result.objective == pytest.approx(min(result.log["restart_objectives"]), rel=1e-12)


def test_seeded_runs_are_reproducible():
    problem = ProlongationProblem(path_graph(4), cycle_graph(9), s=0.5)
    first = solve(problem, init="random", rng=11, max_iterations=40)
    second = solve(problem, init="random", rng=11, max_iterations=40)
    np.testing.assert_array_equal(first.P, second.P)


def test_autograd_backend_agrees_with_analytic_backend():
    problem = ProlongationProblem(path_graph(4), path_graph(8), s=0.5)
    start = random_stiefel(8, 4, np.random.default_rng(0))
    # A few steps: longer runs let rounding differences grow through the line search.
    analytic = solve(problem, init=start, optimizer="steepest-descent", backend="analytic", max_iterations=3)
    automatic = solve(problem, init=start, optimizer="steepest-descent", backend="autograd", max_iterations=3)
    np.testing.assert_allclose(analytic.P, automatic.P, atol=1e-9)
    assert analytic.objective < analytic.initial_objective


def test_matching_initialisation_is_the_zero_one_matching():
    problem = ProlongationProblem(path_graph(4), path_graph(8), s=0.0)
    P0 = initial_point(problem, "matching", rng=np.random.default_rng(0))
    assert set(np.unique(P0)) == {0.0, 1.0}
    np.testing.assert_array_equal(P0.sum(axis=0), 1)
    assert P0.sum(axis=1).max() == 1


def test_degenerate_beta_on_grids_is_reported():
    # T of the 8x8 grid has rank <= 16, so P can hide in its null space (beta -> inf).
    problem = ProlongationProblem(grid_graph([4, 4]), grid_graph([8, 8]), s=1.0)
    with pytest.warns(UserWarning, match="beta .* is degenerate"):
        solve(problem, max_iterations=300)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"init": np.eye(8, 3)}, ValueError, r"shape \(n_large, n_small\) = \(8, 4\); got shape \(8, 3\)"),
        ({"init": np.ones((8, 4))}, ValueError, r"orthonormal columns .* got \|\|P\^T P - I\|\|_F = "),
        ({"init": "zeros"}, ValueError, "unknown initialisation 'zeros'; valid initialisations are: box-matching, exact-locality, identity, matching, random"),
        ({"optimizer": "adam"}, ValueError, "valid optimizers are: conjugate-gradient, steepest-descent, trust-regions"),
        ({"backend": "jax"}, ValueError, "valid backends are: analytic, autograd"),
        ({"matcher": "greedy"}, ValueError, "valid matchers are: munkres, scipy"),
        ({"restarts": 0}, ValueError, "restarts must be >= 1; got restarts = 0"),
        ({"tolerance": -1.0}, ValueError, "tolerance must be > 0"),
        ({"scale_start": "both"}, ValueError, "valid scale_starts are: alpha-one, auto, direct"),
    ],
)
def test_bad_solver_options_are_rejected(kwargs, error, message):
    problem = ProlongationProblem(path_graph(4), path_graph(8), s=0.5)
    with pytest.raises(error, match=message):
        solve(problem, **kwargs)


def test_box_matching_initialisation_composes_the_factor_matchings():
    problem = ProlongationProblem(structured_matrices("grid", (3, 4)), structured_matrices("grid:periodic", (6, 8)), s=1.0)
    P0 = initial_point(problem, "box-matching", rng=np.random.default_rng(0))
    rows = eigenvalue_matching(spectrum(path_graph(3))[0], spectrum(cycle_graph(6))[0]).matrix
    columns = eigenvalue_matching(spectrum(path_graph(4))[0], spectrum(cycle_graph(8))[0]).matrix
    np.testing.assert_array_equal(P0, np.kron(rows, columns))
    assert orthonormality_error(P0) == 0.0


@pytest.mark.parametrize(
    ("small", "large", "message"),
    [
        (grid_graph((2, 2)), structured_matrices("grid", (4, 4)), r"both graphs must be StructuredMatrices .*G_small = grid:2x2 is a GraphMatrices"),
        (structured_matrices("grid", (2, 2)), grid_graph((4, 4)), r"G_large = grid:4x4 is a GraphMatrices"),
        (structured_matrices("grid", (2, 2)), structured_matrices("grid", (4, 2, 2)), r"same number of axes; got G_small of shape \(2, 2\) and G_large of shape \(4, 2, 2\)"),
        (structured_matrices("grid", (2, 4)), structured_matrices("grid", (8, 2)), r"axis 1: need 1 <= n_small <= n_large eigenvalues; got n_small = 4, n_large = 2"),
    ],
)
def test_box_matching_initialisation_rejects_other_graphs(small, large, message):
    problem = ProlongationProblem(small, large, s=1.0)
    with pytest.raises(ValueError, match=message):
        initial_point(problem, "box-matching", rng=np.random.default_rng(0))
