"""The objective E(P), its analytic derivatives and scale factors (SPEC §2)."""

import autograd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphprolong import ProlongationProblem, cycle_graph, grid_graph, path_graph
from graphprolong.problem import stiefel_project
from graphprolong.pymanopt_backend import _autograd_cost

from .strategies import random_connected_graph, random_stiefel

problems = st.builds(
    lambda n1, extra, seed, s, fixed, weighted: ProlongationProblem(
        random_connected_graph(n1, seed, weighted=weighted),
        random_connected_graph(n1 + extra, seed + 1, weighted=weighted),
        s=s,
        alpha=1.3 if fixed else None,
        beta=0.7 if fixed else None,
    ),
    n1=st.integers(2, 7),
    extra=st.integers(0, 6),
    seed=st.integers(0, 10_000),
    s=st.sampled_from([0.0, 0.3, 1.0]),
    fixed=st.booleans(),
    weighted=st.booleans(),
)


def _direct_objective(problem, P, alpha, beta):
    """E(P) written out from the definition, with explicit scale factors."""
    L1, L2 = problem.small.laplacian_dense, problem.large.laplacian_dense
    T1, T2 = problem.small.distances, problem.large.distances
    diffusion = np.linalg.norm(P @ L1 / np.sqrt(alpha) - np.sqrt(alpha) * L2 @ P) ** 2
    locality = np.linalg.norm(P @ T1 / np.sqrt(beta) - np.sqrt(beta) * T2 @ P) ** 2
    return (1 - problem.s) * diffusion + problem.s * locality


@settings(max_examples=40, deadline=None)
@given(problem=problems, seed=st.integers(0, 1000))
def test_analytic_gradient_matches_autograd(problem, seed):
    rng = np.random.default_rng(seed)
    P = random_stiefel(*problem.shape, rng)
    expected = autograd.grad(_autograd_cost(problem))(P)
    np.testing.assert_allclose(problem.euclidean_gradient(P), expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())


@settings(max_examples=30, deadline=None)
@given(problem=problems, seed=st.integers(0, 1000))
def test_gradient_passes_taylor_test(problem, seed):
    """f(P + tV) - f(P) - t <g, V> is O(t^2): halving t divides it by about 4."""
    rng = np.random.default_rng(seed)
    P = random_stiefel(*problem.shape, rng)
    V = rng.standard_normal(P.shape)
    f0, slope = problem.objective(P), np.vdot(problem.euclidean_gradient(P), V)
    steps = [1e-2 / 2**k for k in range(4)]
    errors = [abs(problem.objective(P + t * V) - f0 - t * slope) for t in steps]
    if max(errors) < 1e-11 * max(1.0, abs(f0)):  # the objective is locally affine in V
        return
    orders = np.diff(np.log(errors)) / np.diff(np.log(steps))
    assert np.median(orders) == pytest.approx(2.0, abs=0.2)


@settings(max_examples=30, deadline=None)
@given(problem=problems, seed=st.integers(0, 1000))
def test_hessian_matches_gradient_differences(problem, seed):
    rng = np.random.default_rng(seed)
    P = random_stiefel(*problem.shape, rng)
    V = rng.standard_normal(P.shape)
    h = 1e-6
    differences = (problem.euclidean_gradient(P + h * V) - problem.euclidean_gradient(P - h * V)) / (2 * h)
    hessian = problem.euclidean_hessian(P, V)
    assert np.linalg.norm(hessian - differences) <= 1e-6 * max(1.0, np.linalg.norm(hessian))


def test_riemannian_gradient_is_tangent_and_matches_projection():
    rng = np.random.default_rng(1)
    problem = ProlongationProblem(path_graph(5), cycle_graph(9), s=0.4)
    P = random_stiefel(9, 5, rng)
    gradient = problem.riemannian_gradient(P)
    # Tangent vectors at P satisfy P^T X + X^T P = 0.
    np.testing.assert_allclose(P.T @ gradient + gradient.T @ P, 0, atol=1e-10)
    np.testing.assert_allclose(gradient, stiefel_project(P, problem.euclidean_gradient(P)))


@settings(max_examples=25, deadline=None)
@given(problem=problems, seed=st.integers(0, 1000))
def test_closed_form_scales_minimise_each_term(problem, seed):
    """alpha* = sqrt(u/v) minimises the diffusion term: E(alpha*) <= E(alpha* (1 +- 1e-2))."""
    P = random_stiefel(*problem.shape, np.random.default_rng(seed))
    alpha, beta = problem.optimal_scales(P)
    free = ProlongationProblem(problem.small, problem.large, s=problem.s)
    best = _direct_objective(free, P, alpha, beta)
    assert free.objective(P) == pytest.approx(best, rel=1e-9, abs=1e-9)
    for factor in (0.99, 1.01):
        assert best <= _direct_objective(free, P, alpha * factor, beta) + 1e-12
        assert best <= _direct_objective(free, P, alpha, beta * factor) + 1e-12


def test_fixed_scales_use_the_definition():
    rng = np.random.default_rng(3)
    problem = ProlongationProblem(grid_graph([2, 3]), grid_graph([4, 3]), s=0.25, alpha=2.0, beta=0.5)
    P = random_stiefel(12, 6, rng)
    terms = problem.terms(P)
    assert terms.objective == pytest.approx(_direct_objective(problem, P, 2.0, 0.5), rel=1e-12)
    assert (terms.alpha, terms.beta) == (2.0, 0.5)
    assert terms.objective == pytest.approx(0.75 * terms.diffusion + 0.25 * terms.locality, rel=1e-12)


def test_inactive_term_is_not_computed():
    problem = ProlongationProblem(path_graph(3), path_graph(6), s=0.0)
    terms = problem.terms(random_stiefel(6, 3, np.random.default_rng(0)))
    assert np.isnan(terms.locality) and np.isnan(terms.beta)
    assert "T" not in problem.large._cache  # the distance matrix was never built


def test_single_vertex_small_graph_fixes_the_scales_with_a_warning():
    with pytest.warns(UserWarning, match="one vertex"):
        problem = ProlongationProblem(path_graph(1), path_graph(4), s=0.5)
    assert (problem.alpha, problem.beta) == (1.0, 1.0)
    constant = np.full((4, 1), 0.5)
    assert problem.terms(constant).diffusion == pytest.approx(0.0, abs=1e-24)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"s": 1.5}, r"s must lie in \[0, 1\]; got s = 1.5"),
        ({"s": -0.1}, r"s must lie in \[0, 1\]"),
        ({"s": float("nan")}, "s must be finite"),
        ({"s": "0.5"}, "s must be a real number"),
        ({"s": 0.5, "alpha": 0.0}, "alpha must be > 0; got alpha = 0.0"),
        ({"s": 0.5, "beta": float("inf")}, "beta must be finite"),
    ],
)
def test_bad_parameters_are_rejected(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ProlongationProblem(path_graph(3), path_graph(6), **kwargs)


def test_large_graph_must_not_be_smaller():
    with pytest.raises(ValueError, match=r"n_large >= n_small.*n_small = 6, n_large = 3"):
        ProlongationProblem(path_graph(6), path_graph(3), s=0.5)


def test_point_of_wrong_shape_or_non_finite_is_rejected():
    problem = ProlongationProblem(path_graph(3), path_graph(6), s=0.5)
    with pytest.raises(ValueError, match=r"shape \(n_large, n_small\) = \(6, 3\); got shape \(3, 6\)"):
        problem.terms(np.zeros((3, 6)))
    bad = np.eye(6, 3)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        problem.terms(bad)
