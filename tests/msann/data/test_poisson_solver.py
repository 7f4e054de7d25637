"""The Poisson problem (msann.data.poisson_solver): finite-difference solver and coefficient family."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from msann.data import poisson_solver
from msann.data.poisson_solver import (FACE_MEANS, coefficient, node_coordinates, poisson_matrix, sample_parameters, solve_poisson,
                                        source_term)


# --------------------------------------------------------------------------- manufactured solution
# u* = sin(pi x) sin(pi y) (zero on the boundary), kappa = 2 + sin(x + 2y) + x y^2 (smooth, > 0),
# f = -div(kappa grad u*) = -(kappa_x u_x + kappa_y u_y) - kappa (u_xx + u_yy).


def _exact_u(X, Y):
    return np.sin(np.pi * X) * np.sin(np.pi * Y)


def _kappa(X, Y):
    return 2.0 + np.sin(X + 2 * Y) + X * Y**2


def _forcing(X, Y):
    kappa_x = np.cos(X + 2 * Y) + Y**2
    kappa_y = 2 * np.cos(X + 2 * Y) + 2 * X * Y
    u_x = np.pi * np.cos(np.pi * X) * np.sin(np.pi * Y)
    u_y = np.pi * np.sin(np.pi * X) * np.cos(np.pi * Y)
    laplacian = -2 * np.pi**2 * _exact_u(X, Y)
    return -(kappa_x * u_x + kappa_y * u_y) - _kappa(X, Y) * laplacian


def _manufactured(M):
    X, Y = node_coordinates(M)
    return _kappa(X, Y), _forcing(X, Y), _exact_u(X, Y)


@pytest.mark.parametrize("face_mean", sorted(FACE_MEANS))
def test_discrete_residual_of_manufactured_solution_is_second_order(face_mean):
    errors = []
    for M in (9, 17, 33):
        kappa, f, u = _manufactured(M)
        residual = poisson_matrix(kappa, face_mean=face_mean) @ u[1:-1, 1:-1].ravel() - f[1:-1, 1:-1].ravel()
        errors.append(np.abs(residual).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert errors[-1] < 0.05 * np.abs(_manufactured(33)[1]).max()
    assert np.all((ratios > 3.5) & (ratios < 4.5)), (errors, ratios)


@pytest.mark.parametrize("face_mean", sorted(FACE_MEANS))
def test_solve_error_decreases_fourfold_when_h_halves(face_mean):
    errors = []
    for M in (9, 17, 33):
        kappa, f, u = _manufactured(M)
        u_h = solve_poisson(kappa, f, face_mean=face_mean)
        assert np.all(u_h[[0, -1], :] == 0) and np.all(u_h[:, [0, -1]] == 0)
        errors.append(np.abs(u_h - u).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert errors[-1] < 2e-3
    assert np.all((ratios > 3.5) & (ratios < 4.5)), (errors, ratios)


def test_solution_satisfies_the_discrete_equations():
    kappa = coefficient(sample_parameters(1, rng=3)[0], 12)
    f = source_term(12)
    u = solve_poisson(kappa, f)
    residual = poisson_matrix(kappa) @ u[1:-1, 1:-1].ravel() - f[1:-1, 1:-1].ravel()
    assert np.abs(residual).max() < 1e-10 * np.abs(f).max()


def test_constant_coefficient_is_the_five_point_laplacian():
    M = 7
    n, h = M - 2, 1.0 / (M - 1)
    second_difference = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).toarray()
    laplacian = (np.kron(second_difference, np.eye(n)) + np.kron(np.eye(n), second_difference)) / h**2
    for face_mean in FACE_MEANS:
        np.testing.assert_allclose(poisson_matrix(np.ones((M, M)), face_mean=face_mean).toarray(), laplacian, rtol=1e-13)
    np.testing.assert_allclose(poisson_matrix(np.full((M, M), 3.0)).toarray(), 3 * laplacian, rtol=1e-13)


def test_matrix_is_symmetric_positive_definite_and_an_m_matrix():
    kappa = coefficient(sample_parameters(1, rng=7)[0], 10)
    A = poisson_matrix(kappa).toarray()
    assert A.shape == (64, 64)
    np.testing.assert_array_equal(A, A.T)
    assert np.linalg.eigvalsh(A).min() > 0
    off_diagonal = A - np.diag(np.diag(A))
    assert np.all(off_diagonal <= 0)
    assert np.all(A.sum(axis=1) >= -1e-9 * np.abs(A).max())  # weakly diagonally dominant rows


def test_matrix_couples_only_grid_neighbours_with_face_coefficients():
    rng = np.random.default_rng(0)
    M = 6
    kappa = rng.uniform(0.5, 2.0, (M, M))
    A = poisson_matrix(kappa, face_mean="harmonic").toarray() / (M - 1) ** 2
    n = M - 2
    index = lambda i, j: (i - 1) * n + (j - 1)  # noqa: E731
    harmonic = lambda a, b: 2 * a * b / (a + b)  # noqa: E731
    i, j = 2, 3
    assert A[index(i, j), index(i + 1, j)] == pytest.approx(-harmonic(kappa[i, j], kappa[i + 1, j]))
    assert A[index(i, j), index(i, j - 1)] == pytest.approx(-harmonic(kappa[i, j], kappa[i, j - 1]))
    faces = [kappa[i + 1, j], kappa[i - 1, j], kappa[i, j + 1], kappa[i, j - 1]]
    assert A[index(i, j), index(i, j)] == pytest.approx(sum(harmonic(kappa[i, j], k) for k in faces))
    assert np.count_nonzero(A[index(i, j)]) == 5


def test_three_node_grid_solves_the_single_interior_equation():
    u = solve_poisson(np.full((3, 3), 2.0), np.full((3, 3), 4.0))
    assert u[1, 1] == pytest.approx(4.0 / (4 * 2.0 * 4))  # 4 kappa u / h^2 = f with h = 1/2
    assert np.count_nonzero(u) == 1


def test_discrete_maximum_principle_positive_source_gives_positive_solution():
    params = sample_parameters(5, rng=11)
    f = source_term(10)
    for kappa in coefficient(params, 10):
        u = solve_poisson(kappa, f)
        assert np.all(u[1:-1, 1:-1] > 0)


# --------------------------------------------------------------------------- coefficient family


def test_coefficient_without_rotation_is_the_separable_product():
    X, Y = node_coordinates(9)
    kx, ky, ax, ay = 1.7, 3.1, 0.2, 0.4
    expected = 1.1 + np.cos(kx * np.pi * (X + ax)) * np.cos(ky * np.pi * (Y + ay))
    np.testing.assert_allclose(coefficient(np.array([kx, ky, ax, ay, 0.0]), 9), expected, atol=1e-14)


def test_quarter_turn_rotates_about_the_centre():
    X, Y = node_coordinates(9)
    kx, ky, ax, ay = 1.7, 3.1, 0.2, 0.4
    # alpha = pi/2: x' = 1 - y, y' = x.
    expected = 1.1 + np.cos(kx * np.pi * (1 - Y + ax)) * np.cos(ky * np.pi * (X + ay))
    np.testing.assert_allclose(coefficient(np.array([kx, ky, ax, ay, np.pi / 2]), 9), expected, atol=1e-12)
    # the centre of the square is fixed by every rotation
    params = sample_parameters(20, rng=1)
    centre = coefficient(params, (np.array([0.5]), np.array([0.5])))[:, 0]
    expected_centre = 1.1 + np.cos(params[:, 0] * np.pi * (0.5 + params[:, 2])) * np.cos(params[:, 1] * np.pi * (0.5 + params[:, 3]))
    np.testing.assert_allclose(centre, expected_centre, atol=1e-14)


def test_coefficient_range_and_parameter_ranges():
    params = sample_parameters(2000, rng=5)
    for column, name in enumerate(poisson_solver.PARAMETER_NAMES):
        low, high = poisson_solver.PARAMETER_RANGES[name]
        assert np.all((params[:, column] >= low) & (params[:, column] <= high))
        assert params[:, column].min() < low + 0.05 * (high - low) and params[:, column].max() > high - 0.05 * (high - low)
    kappa = coefficient(params, 16)
    assert kappa.shape == (2000, 16, 16)
    assert kappa.min() > 0.1 - 1e-12 and kappa.max() < 2.1 + 1e-12
    assert kappa.min() < 0.2 and kappa.max() > 2.0  # the family reaches both ends


def test_batch_coefficient_matches_single_evaluations():
    params = sample_parameters(4, rng=2)
    batch = coefficient(params, 8)
    for row, kappa in zip(params, batch):
        np.testing.assert_array_equal(coefficient(row, 8), kappa)


def test_source_term():
    X, Y = node_coordinates(5)
    f = source_term(5)
    assert f[1, 1] == pytest.approx(32.0)  # (0.25, 0.25)
    np.testing.assert_allclose(f, 32 * np.exp(-4 * ((X - 0.25) ** 2 + (Y - 0.25) ** 2)))
