"""Structured grid operators (Kronecker sums, box-product distances) against the dense matrices."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphprolong import ProlongationProblem, adjacency_matrix, cycle_graph, distance_matrix, grid_graph, laplacian, path_graph, spectrum
from graphprolong.operators import BoxDistance, KroneckerSum, StructuredMatrices, frobenius_norm_squared, structured_matrices

from .strategies import random_stiefel

grids = st.tuples(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), st.booleans())


def _structured(shape, periodic):
    return structured_matrices("grid:periodic" if periodic else "grid", shape)


@settings(max_examples=40, deadline=None)
@given(grids)
def test_dense_matrices_equal_those_of_the_grid_graph(grid):
    shape, periodic = grid
    matrices, graph = _structured(shape, periodic), grid_graph(shape, periodic=periodic)
    np.testing.assert_array_equal(matrices.laplacian.dense(), laplacian(graph).toarray())
    np.testing.assert_array_equal(matrices.distances.dense(), distance_matrix(graph))
    assert matrices.n == graph.number_of_nodes()


@settings(max_examples=60, deadline=None)
@given(grids, st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_products_equal_dense_products(grid, k, seed):
    shape, periodic = grid
    rng = np.random.default_rng(seed)
    matrices = _structured(shape, periodic)
    for operator in (matrices.laplacian, matrices.distances):
        dense = operator.dense()
        X, Y = rng.standard_normal((operator.n, k)), rng.standard_normal((k, operator.n))
        scale = max(1.0, float(np.abs(dense).max())) * operator.n
        np.testing.assert_allclose(operator.matmul(X), dense @ X, rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(operator @ X, dense @ X, rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(operator.rmatmul(Y), Y @ dense, rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(Y @ operator, Y @ dense, rtol=0, atol=1e-13 * scale)


@settings(max_examples=40, deadline=None)
@given(grids)
def test_frobenius_norm_closed_form(grid):
    matrices = _structured(*grid)
    for operator in (matrices.laplacian, matrices.distances):
        expected = float(np.sum(operator.dense() ** 2))
        assert frobenius_norm_squared(operator) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert frobenius_norm_squared(laplacian(path_graph(5))) == pytest.approx(np.sum(laplacian(path_graph(5)).toarray() ** 2))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.integers(0, 2**32 - 1),
)
def test_general_symmetric_factors(sizes, seed):
    rng = np.random.default_rng(seed)
    factors = []
    for size in sizes:
        M = rng.standard_normal((size, size))
        factors.append(M + M.T)
    X = rng.standard_normal((int(np.prod(sizes)), 3))
    for operator in (KroneckerSum(factors), BoxDistance(factors)):
        np.testing.assert_allclose(operator @ X, operator.dense() @ X, atol=1e-12)
        assert operator.frobenius_norm_squared() == pytest.approx(np.sum(operator.dense() ** 2), rel=1e-12)


def test_two_by_two_kronecker_sum_by_hand():
    L1, L2 = np.array([[1.0, 2.0], [2.0, 3.0]]), np.array([[5.0, 7.0], [7.0, 11.0]])
    expected = np.kron(L1, np.eye(2)) + np.kron(np.eye(2), L2)
    np.testing.assert_array_equal(KroneckerSum([L1, L2]).dense(), expected)
    np.testing.assert_array_equal(BoxDistance([L1, L2]).dense(), np.kron(L1, np.ones((2, 2))) + np.kron(np.ones((2, 2)), L2))


@pytest.mark.parametrize("kind, shape, graph", [("path", 6, path_graph(6)), ("cycle", 7, cycle_graph(7)), ("cycle", (1,), cycle_graph(1))])
def test_one_dimensional_kinds(kind, shape, graph):
    matrices = structured_matrices(kind, shape)
    np.testing.assert_array_equal(matrices.laplacian.dense(), laplacian(graph).toarray())
    np.testing.assert_array_equal(matrices.distances.dense(), distance_matrix(graph))


@settings(max_examples=30, deadline=None)
@given(grids)
def test_spectrum_from_factors(grid):
    matrices = _structured(*grid)
    dense = matrices.laplacian.dense()
    values, vectors = matrices.eigenvalues, matrices.eigenvectors
    assert np.all(np.diff(values) >= 0)
    np.testing.assert_allclose(values, np.linalg.eigvalsh(dense), atol=1e-10)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(matrices.n), atol=1e-10)
    np.testing.assert_allclose(dense @ vectors, vectors * values, atol=1e-10)


@pytest.mark.parametrize("s, alpha, beta", [(0.0, None, None), (0.4, None, 0.25), (1.0, 1.0, None)])
def test_problem_with_structured_matrices_matches_graph_problem(s, alpha, beta):
    rng = np.random.default_rng(3)
    structured = ProlongationProblem(structured_matrices("grid", (3, 4)), structured_matrices("grid", (6, 8)), s=s, alpha=alpha, beta=beta)
    graphs = ProlongationProblem(grid_graph((3, 4)), grid_graph((6, 8)), s=s, alpha=alpha, beta=beta)
    P, V = random_stiefel(48, 12, rng), rng.standard_normal((48, 12))
    assert structured.objective(P) == pytest.approx(graphs.objective(P), rel=1e-12)
    np.testing.assert_allclose(structured.euclidean_gradient(P), graphs.euclidean_gradient(P), atol=1e-10)
    np.testing.assert_allclose(structured.euclidean_hessian(P, V), graphs.euclidean_hessian(P, V), atol=1e-9)


def test_structured_matrices_is_graph_matrices():
    matrices = structured_matrices("grid:periodic", [4, 2])
    assert isinstance(matrices, StructuredMatrices)
    assert (matrices.name, matrices.n, matrices.sizes, matrices.periodic, matrices.graph) == ("grid:4x2:periodic", 8, (4, 2), True, None)
    assert repr(matrices.laplacian) == "KroneckerSum(sizes=(4, 2))"
    np.testing.assert_array_equal(matrices.laplacian_dense, matrices.laplacian.dense())


def test_validation_messages():
    with pytest.raises(ValueError, match="valid lineages are: cycle, grid, grid:periodic, path"):
        structured_matrices("torus", (3, 3))
    with pytest.raises(ValueError, match="a path has one dimension; got shape \\(3, 3\\)"):
        structured_matrices("path", (3, 3))
    with pytest.raises(ValueError, match="at least one dimension"):
        structured_matrices("grid", ())
    with pytest.raises(ValueError, match="size along axis 1 must be >= 1; got size along axis 1 = 0"):
        structured_matrices("grid", (3, 0))
    with pytest.raises(ValueError, match="factor 1 must be symmetric"):
        KroneckerSum([np.eye(2), np.array([[0.0, 1.0], [2.0, 0.0]])])
    with pytest.raises(ValueError, match="factor 0 must be a non-empty square matrix; got shape \\(2, 3\\)"):
        BoxDistance([np.ones((2, 3))])
    with pytest.raises(TypeError, match="non-empty sequence"):
        KroneckerSum(np.eye(3))
    operator = KroneckerSum([np.eye(2), np.eye(3)])
    with pytest.raises(ValueError, match="op @ X needs X of shape \\(n, k\\) with n = 6; got shape \\(5, 2\\)"):
        operator @ np.ones((5, 2))
    with pytest.raises(ValueError, match="X @ op needs X of shape \\(m, n\\) with n = 6; got shape \\(2, 5\\)"):
        np.ones((2, 5)) @ operator


def test_importing_the_operators_and_the_torch_backend_does_not_import_torch():
    code = (
        "import sys, graphprolong, graphprolong.operators, graphprolong.torch_backend; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_graphprolong_imports_and_runs_without_torch():
    # With torch unimportable the package, the operators and the torch backend module still
    # import, and the backend fails only when used, naming what to install.
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, graphprolong, graphprolong.torch_backend as tb\n"
        "from graphprolong.operators import structured_matrices\n"
        "L = structured_matrices('grid', (3, 3)).laplacian\n"
        "assert np.allclose(L @ np.eye(9), L.dense())\n"
        "try:\n"
        "    tb.resolve_device('cpu')\n"
        "except ImportError as error:\n"
        "    assert 'pip install torch' in str(error), error\n"
        "else:\n"
        "    raise AssertionError('no ImportError without torch')\n"
        "problem = graphprolong.ProlongationProblem(graphprolong.path_graph(4), graphprolong.path_graph(8), s=0.5)\n"
        "analytic = graphprolong.solve(problem)\n"
        "autograd = graphprolong.solve(problem, backend='autograd')\n"
        "assert abs(analytic.objective - autograd.objective) <= 1e-10 * analytic.objective\n"
        "try:\n"
        "    graphprolong.solve(problem, backend='torch', device='cpu')\n"
        "except ImportError as error:\n"
        "    assert \"graphprolong[torch]\" in str(error), error\n"
        "else:\n"
        "    raise AssertionError('no ImportError without torch')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@settings(max_examples=40, deadline=None)
@given(grids)
def test_adjacency_equals_that_of_the_grid_graph(grid):
    shape, periodic = grid
    expected = adjacency_matrix(grid_graph(shape, periodic=periodic))
    actual = _structured(shape, periodic).adjacency
    assert actual.shape == expected.shape and actual.dtype == np.float64
    assert (actual != expected).nnz == 0
    # and it is the adjacency of the Laplacian: L = A - diag(A 1)
    dense = actual.toarray()
    np.testing.assert_array_equal(_structured(shape, periodic).laplacian.dense(), dense - np.diag(dense.sum(axis=1)))


@pytest.mark.parametrize("kind, graph", [("path", path_graph), ("cycle", cycle_graph)])
def test_factor_eigenvalues_are_the_factor_spectra(kind, graph):
    matrices = structured_matrices("grid:periodic" if kind == "cycle" else "grid", (3, 5))
    for values, size in zip(matrices.factor_eigenvalues, (3, 5)):
        np.testing.assert_allclose(values, spectrum(graph(size))[0], atol=1e-12)
        assert np.all(np.diff(values) >= 0)
