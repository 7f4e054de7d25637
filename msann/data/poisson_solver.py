"""The Poisson problem of Ponce et al. (seed 000, §8.1; SPEC §4): coefficient, source and solver.

Each sample solves ``-div(kappa grad u) = f`` on ``[0, 1]^2`` with ``u = 0`` on
the boundary, for a coefficient from the family::

    kappa(x, y) = 1.1 + cos(kx pi (x' + ax)) cos(ky pi (y' + ay)),
    x' = cos(alpha) (x - 1/2) - sin(alpha) (y - 1/2) + 1/2,
    y' = sin(alpha) (x - 1/2) + cos(alpha) (y - 1/2) + 1/2,

(coordinates rotated by ``alpha`` about the centre of the square), with
``kx, ky ~ U(0.5, 4)``, ``ax, ay ~ U(0, 0.5)``, ``alpha ~ U(0, pi/2)``, and the
fixed source ``f = 32 exp(-4 ((x - 1/4)^2 + (y - 1/4)^2))``.  ``kappa`` lies in
``[0.1, 2.1]``.  A network learns ``u`` from ``kappa`` (and, as in the seed, from
``f`` and the node coordinates).

Grid.  The seed's "32x32 mesh" with a "3 x 32 x 32" input and a "32 x 32"
output is read as 32 x 32 *nodes including the boundary* (FEniCS'
``UnitSquareMesh(31, 31)`` has these vertices): ``x_i = i h``, ``h = 1/(M-1)``,
``i = 0..M-1``.  The boundary values of ``u`` are zero and are part of the
output; the unknowns are the ``(M-2)^2`` interior nodes.  Arrays on the grid
are indexed ``[i, j] <-> (x_i, y_j)`` (``numpy.meshgrid(..., indexing="ij")``).

Discretisation.  Conservative 5-point finite differences: the flux between
neighbouring nodes uses ``kappa`` at the cell face, the mean of its values at
the two nodes (:data:`FACE_MEANS`: ``"arithmetic"`` by default, or
``"harmonic"``; both are second order for smooth ``kappa``)::

    (A u)_ij = [k_{i+1/2,j} (u_ij - u_{i+1,j}) + k_{i-1/2,j} (u_ij - u_{i-1,j})
              + k_{i,j+1/2} (u_ij - u_{i,j+1}) + k_{i,j-1/2} (u_ij - u_{i,j-1})] / h^2,

and ``A u = f`` at the interior nodes.  ``A`` is a symmetric, irreducibly
diagonally dominant M-matrix (positive definite) for ``kappa > 0``; it is
factorised with SuperLU (:func:`scipy.sparse.linalg.splu`).  The seed used
FEniCS P1 elements instead; on a uniform grid with constant ``kappa`` the two
stiffness matrices coincide up to the ``h^2`` scaling, otherwise they differ by
O(h^2).

The data set built on it (inputs, cache, split) is :mod:`msann.data.poisson`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from graphprolong.checks import check_choice, check_finite_array, check_positive_int

__all__ = [
    "FACE_MEANS",
    "PARAMETER_NAMES",
    "PARAMETER_RANGES",
    "coefficient",
    "node_coordinates",
    "poisson_matrix",
    "sample_parameters",
    "solve_poisson",
    "source_term",
]

#: Columns of a parameter array, in order.
PARAMETER_NAMES = ("kx", "ky", "ax", "ay", "alpha")

#: Sampling ranges (uniform) of the parameters, seed 000 §8.1.
PARAMETER_RANGES = {
    "kx": (0.5, 4.0),
    "ky": (0.5, 4.0),
    "ax": (0.0, 0.5),
    "ay": (0.0, 0.5),
    "alpha": (0.0, np.pi / 2),
}

#: Mean of ``kappa`` at the two nodes of a cell face.
FACE_MEANS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "arithmetic": lambda left, right: 0.5 * (left + right),
    "harmonic": lambda left, right: 2.0 * left * right / (left + right),
}
Grid = int | tuple[np.ndarray, np.ndarray]


# --------------------------------------------------------------------------- grid and coefficients


def _check_grid_size(grid_size: Any) -> int:
    return check_positive_int("grid_size", grid_size, minimum=3)


def node_coordinates(grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, Y)``, the ``M x M`` node coordinates ``X[i, j] = x_i``, ``Y[i, j] = y_j``.

    The nodes include the boundary: ``x_i = i / (M - 1)``.
    """
    grid_size = _check_grid_size(grid_size)
    line = np.linspace(0.0, 1.0, grid_size)
    return np.meshgrid(line, line, indexing="ij")


def _coordinates(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(grid, tuple):
        X, Y = (check_finite_array(name, values) for name, values in zip("XY", grid))
        if X.shape != Y.shape:
            raise ValueError(f"grid coordinates X and Y must have the same shape; got {X.shape} and {Y.shape}")
        return X, Y
    return node_coordinates(grid)


def coefficient(parameters: np.ndarray, grid: Grid) -> np.ndarray:
    """Evaluate ``kappa`` for one parameter vector or a batch of them.

    Parameters
    ----------
    parameters : array of shape (5,) or (n, 5)
        Columns ``(kx, ky, ax, ay, alpha)`` (:data:`PARAMETER_NAMES`).
    grid : int or (X, Y)
        A grid size ``M`` (the nodes of :func:`node_coordinates`) or arrays of
        coordinates of one shape.

    Returns
    -------
    numpy.ndarray
        ``kappa`` at the points, shape ``X.shape`` or ``(n, *X.shape)``.

    Examples
    --------
    >>> kappa = coefficient(np.array([1.0, 1.0, 0.0, 0.0, 0.0]), 3)
    >>> bool(np.isclose(kappa[0, 0], 2.1)), bool(np.isclose(kappa[1, 1], 1.1))
    (True, True)
    """
    values = check_finite_array("parameters", parameters)
    if values.ndim not in (1, 2) or values.shape[-1] != len(PARAMETER_NAMES):
        raise ValueError(
            f"parameters must have shape (5,) or (n, 5) with columns {PARAMETER_NAMES}; got shape {values.shape}"
        )
    X, Y = _coordinates(grid)
    batch = np.atleast_2d(values)
    kx, ky, ax, ay, alpha = (batch[:, column].reshape((-1,) + (1,) * X.ndim) for column in range(5))
    cos, sin = np.cos(alpha), np.sin(alpha)
    x_rotated = cos * (X - 0.5) - sin * (Y - 0.5) + 0.5
    y_rotated = sin * (X - 0.5) + cos * (Y - 0.5) + 0.5
    kappa = 1.1 + np.cos(kx * np.pi * (x_rotated + ax)) * np.cos(ky * np.pi * (y_rotated + ay))
    return kappa if values.ndim == 2 else kappa[0]


def source_term(grid: Grid) -> np.ndarray:
    """Return ``f = 32 exp(-4 ((x - 1/4)^2 + (y - 1/4)^2))`` on ``grid`` (as in :func:`coefficient`)."""
    X, Y = _coordinates(grid)
    return 32.0 * np.exp(-4.0 * ((X - 0.25) ** 2 + (Y - 0.25) ** 2))


def sample_parameters(n: int, *, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Draw ``n`` parameter vectors uniformly from :data:`PARAMETER_RANGES`.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 5)``, columns :data:`PARAMETER_NAMES`.
    """
    n = check_positive_int("n", n)
    rng = np.random.default_rng(rng)
    low, high = np.array([PARAMETER_RANGES[name] for name in PARAMETER_NAMES]).T
    return rng.uniform(low, high, size=(n, len(PARAMETER_NAMES)))


# --------------------------------------------------------------------------- finite differences


def _check_kappa(kappa: Any) -> np.ndarray:
    kappa = check_finite_array("kappa", kappa)
    if kappa.ndim != 2 or kappa.shape[0] != kappa.shape[1]:
        raise ValueError(f"kappa must be a square M x M array of node values; got shape {kappa.shape}")
    _check_grid_size(kappa.shape[0])
    smallest = float(kappa.min())
    if smallest <= 0.0:
        raise ValueError(
            f"kappa must be > 0 at every node (the operator is elliptic only then); got min kappa = {smallest:.6g}"
        )
    return kappa


def poisson_matrix(kappa: np.ndarray, *, face_mean: str = "arithmetic") -> sp.csr_matrix:
    """Assemble the finite-difference operator of ``-div(kappa grad u)`` with ``u = 0`` on the boundary.

    Parameters
    ----------
    kappa : array of shape (M, M)
        Node values of the coefficient, ``M >= 3``, all positive.
    face_mean : {"arithmetic", "harmonic"}
        How ``kappa`` at a cell face is formed from the two nodes (:data:`FACE_MEANS`).

    Returns
    -------
    scipy.sparse.csr_matrix
        Symmetric positive definite, ``(M-2)^2 x (M-2)^2``, on the interior
        nodes in C order (``[i, j] -> (i - 1) (M - 2) + (j - 1)``), scaled by
        ``1 / h^2`` so that ``A u`` approximates ``-div(kappa grad u)``.
    """
    kappa = _check_kappa(kappa)
    mean = FACE_MEANS[check_choice("face mean", face_mean, FACE_MEANS)]
    M = kappa.shape[0]
    n = M - 2
    scale = float(M - 1) ** 2  # 1 / h^2
    x_faces = mean(kappa[:-1, :], kappa[1:, :])  # [i, j] is the face between nodes i and i+1 in x
    y_faces = mean(kappa[:, :-1], kappa[:, 1:])  # [i, j] is the face between nodes j and j+1 in y
    diagonal = x_faces[1:, 1:-1] + x_faces[:-1, 1:-1] + y_faces[1:-1, 1:] + y_faces[1:-1, :-1]
    x_coupling = x_faces[1:-1, 1:-1].ravel()  # (i, j)-(i+1, j), i = 1..M-3: offset n
    y_coupling = np.zeros((n, n))
    y_coupling[:, :-1] = y_faces[1:-1, 1:-1]  # (i, j)-(i, j+1), j = 1..M-3: offset 1
    y_coupling = y_coupling.ravel()[:-1]
    diagonals = [diagonal.ravel(), -y_coupling, -y_coupling, -x_coupling, -x_coupling]
    offsets = [0, 1, -1, n, -n]
    kept = [(values, offset) for values, offset in zip(diagonals, offsets) if values.size]
    matrix = sp.diags([v for v, _ in kept], [o for _, o in kept], shape=(n * n, n * n), format="csr")
    return scale * matrix


def solve_poisson(kappa: np.ndarray, f: np.ndarray, *, face_mean: str = "arithmetic") -> np.ndarray:
    """Solve ``-div(kappa grad u) = f`` on ``[0, 1]^2``, ``u = 0`` on the boundary.

    Parameters
    ----------
    kappa, f : arrays of shape (M, M)
        Node values on the grid of :func:`node_coordinates` (the boundary
        values of ``f`` are not used).
    face_mean : {"arithmetic", "harmonic"}
        See :func:`poisson_matrix`.

    Returns
    -------
    numpy.ndarray
        ``u`` at all ``M x M`` nodes, zero on the boundary.

    Examples
    --------
    >>> u = solve_poisson(np.ones((3, 3)), np.full((3, 3), 4.0))
    >>> float(u[1, 1])  # 4 u / h^2 = 4 with h = 1/2
    0.25
    """
    kappa = _check_kappa(kappa)
    f = check_finite_array("f", f)
    if f.shape != kappa.shape:
        raise ValueError(f"f must have the shape of kappa {kappa.shape}; got {f.shape}")
    matrix = poisson_matrix(kappa, face_mean=face_mean)
    u = np.zeros_like(kappa)
    # SPD: a symmetric fill-reducing ordering and no pivoting are safe and faster than the defaults.
    factor = splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    u[1:-1, 1:-1] = factor.solve(f[1:-1, 1:-1].ravel()).reshape(kappa.shape[0] - 2, -1)
    return u
