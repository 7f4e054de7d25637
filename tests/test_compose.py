"""Kronecker composition of prolongations and the Theorem 5.1 bound."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphprolong import ProlongationProblem, box_product, cycle_graph, path_graph, spectral_prolongation
from graphprolong.compose import box_product_bound, compose_box, diffusion_distance

from .strategies import random_stiefel


@settings(max_examples=25, deadline=None)
@given(
    a_c=st.integers(2, 4), a_extra=st.integers(0, 3), b_c=st.integers(2, 4), b_extra=st.integers(0, 3),
    alpha=st.floats(0.3, 3.0), seed=st.integers(0, 1000),
)
def test_kronecker_map_obeys_theorem_5_1(a_c, a_extra, b_c, b_extra, alpha, seed):
    rng = np.random.default_rng(seed)
    A_c, A_f = path_graph(a_c), path_graph(a_c + a_extra)
    B_c, B_f = cycle_graph(b_c), cycle_graph(b_c + b_extra)
    P_A, P_B = random_stiefel(a_c + a_extra, a_c, rng), random_stiefel(b_c + b_extra, b_c, rng)
    P = compose_box(P_A, P_B)
    np.testing.assert_allclose(P.T @ P, np.eye(a_c * b_c), atol=1e-12)
    D = diffusion_distance(P, box_product(A_c, B_c), box_product(A_f, B_f), alpha=alpha)
    D_A = diffusion_distance(P_A, A_c, A_f, alpha=alpha)
    D_B = diffusion_distance(P_B, B_c, B_f, alpha=alpha)
    assert D <= box_product_bound(D_A, D_B, n_small_A=a_c, n_small_B=b_c) * (1 + 1e-12) + 1e-12


def test_exact_factor_maps_compose_to_an_exact_map():
    """Zero-diffusion factors (paths/cycles n -> 2n) give a zero-diffusion grid map (the bound is 0)."""
    P_A = spectral_prolongation(ProlongationProblem(path_graph(4), path_graph(8), s=0))
    P_B = spectral_prolongation(ProlongationProblem(cycle_graph(3), cycle_graph(6), s=0))
    P = compose_box(P_A, P_B)
    D = diffusion_distance(P, box_product(path_graph(4), cycle_graph(3)), box_product(path_graph(8), cycle_graph(6)))
    assert D < 1e-12


def test_distance_matches_the_problem_term():
    rng = np.random.default_rng(0)
    P = random_stiefel(9, 4, rng)
    problem = ProlongationProblem(path_graph(4), cycle_graph(9), s=0.0, alpha=1.7)
    assert diffusion_distance(P, path_graph(4), cycle_graph(9), alpha=1.7) ** 2 == pytest.approx(problem.terms(P).diffusion, rel=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"P_A must have orthonormal columns"):
        compose_box(np.ones((4, 2)), np.eye(2))
    with pytest.raises(ValueError, match=r"P_B must be an n_large x n_small matrix"):
        compose_box(np.eye(4, 2), np.eye(2, 3))
    with pytest.raises(ValueError, match="distance_A must be >= 0"):
        box_product_bound(-1.0, 0.0, n_small_A=2, n_small_B=2)
