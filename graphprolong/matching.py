"""Minimal eigenvalue matching (SPEC §2, seed 002 eq. 3.2).

``m*(L1, L2)`` is the 0/1 ``n2 x n1`` matrix ``M`` with one 1 per column and at
most one per row that minimises ``sum M_ij (lambda_j(L1) - lambda_i(L2))^2``:
a rectangular assignment problem.  Two solvers are registered in
:data:`MATCHERS`: ``"munkres"`` (the ``munkres`` package, the reference used by
the seed) and ``"scipy"`` (``scipy.optimize.linear_sum_assignment``, the fast
path).

Ties.  Among minimal-cost matchings the lexicographically first is returned,
comparing the occupied row indices column by column.  For spectra sorted in
ascending order the cost ``(lambda_j - mu_i)^2`` is a Monge array
(``c(i,j) + c(i',j') <= c(i,j') + c(i',j)`` for ``i < i'``, ``j < j'``): uncrossing
two assigned pairs never raises the cost and lowers the index sequence, so the
lexicographically first optimum is increasing.  It is therefore found exactly
by a dynamic programme over increasing matchings (``O(n1 n2)``), whose optimal
cost is checked against the assignment solver's.  Costs within
``tie_tolerance`` (relative to ``max mu^2``) are ties, so eigenvalues that are
equal up to rounding (the double eigenvalues of a cycle) tie as they should.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .checks import check_choice, check_finite_array
from .kronecker import KroneckerMap

__all__ = ["MATCHERS", "Matching", "assignment", "box_matching", "eigenvalue_matching", "matching_cost_matrix"]


def _scipy_assignment(cost: np.ndarray) -> np.ndarray:
    rows, columns = linear_sum_assignment(cost)
    assigned = np.empty(cost.shape[1], dtype=int)
    assigned[columns] = rows
    return assigned


def _munkres_assignment(cost: np.ndarray) -> np.ndarray:
    from munkres import Munkres

    # Munkres assigns the rows of its matrix; ours has more rows than columns,
    # so it solves the transpose (one row per small-graph eigenvalue).
    pairs = Munkres().compute(cost.T.tolist())
    assigned = np.empty(cost.shape[1], dtype=int)
    for column, row in pairs:
        assigned[column] = row
    return assigned


#: Assignment solvers: ``cost (n2 x n1) -> row index assigned to each column``.
MATCHERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "munkres": _munkres_assignment,
    "scipy": _scipy_assignment,
}


@dataclass(frozen=True)
class Matching:
    """An eigenvalue matching: ``rows[j]`` is the eigenvalue of ``L2`` matched to ``lambda_j(L1)``."""

    rows: np.ndarray
    cost: float
    n_large: int

    @property
    def matrix(self) -> np.ndarray:
        """The 0/1 matrix ``M`` (``n_large x n_small``), ``M[rows[j], j] = 1``."""
        M = np.zeros((self.n_large, self.rows.size))
        M[self.rows, np.arange(self.rows.size)] = 1.0
        return M


def _check_spectra(small: np.ndarray, large: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    small = check_finite_array("small spectrum", small).ravel()
    large = check_finite_array("large spectrum", large).ravel()
    if small.size == 0 or large.size < small.size:
        raise ValueError(
            f"need 1 <= n_small <= n_large eigenvalues; got n_small = {small.size}, n_large = {large.size}"
        )
    for name, values in (("small", small), ("large", large)):
        descents = np.flatnonzero(np.diff(values) < 0)
        if descents.size:
            k = int(descents[0])
            raise ValueError(
                f"the {name} spectrum must be sorted in ascending order (as numpy.linalg.eigh returns it); "
                f"got {values[k]!r} before {values[k + 1]!r} at positions {k}, {k + 1}"
            )
    return small, large


def matching_cost_matrix(small: np.ndarray, large: np.ndarray) -> np.ndarray:
    """Return the cost matrix ``C[i, j] = (small[j] - large[i])^2`` (``n2 x n1``)."""
    return (np.asarray(large)[:, None] - np.asarray(small)[None, :]) ** 2


def assignment(cost: np.ndarray, *, method: str = "scipy") -> np.ndarray:
    """Solve the rectangular assignment problem with a registered solver.

    Returns the row assigned to each column (no tie rule applied).
    """
    check_choice("matching method", method, MATCHERS)
    cost = check_finite_array("cost matrix", cost)
    if cost.ndim != 2 or cost.shape[0] < cost.shape[1]:
        raise ValueError(f"the cost matrix must be n_large x n_small with n_large >= n_small; got shape {cost.shape}")
    return MATCHERS[method](cost)


def _lexicographic_first(cost: np.ndarray, tolerance: float) -> tuple[np.ndarray, float]:
    """The lexicographically first increasing matching of minimal cost (DP)."""
    n2, n1 = cost.shape
    # best[j, i]: least cost of matching columns j.. to rows i.. increasingly.
    best = np.full((n1 + 1, n2 + 1), np.inf)
    best[n1, :] = 0.0
    for j in range(n1 - 1, -1, -1):
        take = cost[:, j] + best[j + 1, 1:]
        best[j, :n2] = np.minimum.accumulate(take[::-1])[::-1]
    rows = np.empty(n1, dtype=int)
    start, slack = 0, tolerance  # one budget for the whole matching: its cost stays <= optimum + tolerance
    for j in range(n1):
        take = cost[start:, j] + best[j + 1, start + 1 :]
        choice = int(np.flatnonzero(take <= best[j, start] + slack)[0])
        slack -= max(take[choice] - best[j, start], 0.0)
        rows[j] = start + choice
        start = rows[j] + 1
    return rows, float(best[0, 0])


def eigenvalue_matching(
    small: np.ndarray,
    large: np.ndarray,
    *,
    method: str = "scipy",
    tie_tolerance: float = 1e-12,
) -> Matching:
    """Return the minimal eigenvalue matching of two ascending spectra.

    Parameters
    ----------
    small, large : array_like
        Eigenvalues of ``L1`` (``n1``) and ``L2`` (``n2 >= n1``), ascending.
    method : {"scipy", "munkres"}
        Assignment solver that certifies the optimal cost.
    tie_tolerance : float
        Costs closer than ``tie_tolerance * max(1, max mu^2)`` are ties (the
        slack is shared by the whole matching, so the result costs at most that
        much above the optimum).  The default is above the rounding of
        computed spectra (``~ n eps max mu^2``) up to n of several thousand, and
        small enough that the closed form stays at the s = 0 optimum
        (1e-9 left E about 1e-8 above it at path 512 -> 1024, where
        neighbouring top eigenvalues differ by about 4e-5).

    Examples
    --------
    >>> eigenvalue_matching([0.0, 2.0], [0.0, 1.0, 2.0, 3.0]).rows
    array([0, 2])
    """
    small, large = _check_spectra(small, large)
    cost = matching_cost_matrix(small, large)
    rows = assignment(cost, method=method)
    solver_cost = float(cost[rows, np.arange(small.size)].sum())
    tolerance = tie_tolerance * max(1.0, float(np.max(large**2)))
    canonical, canonical_cost = _lexicographic_first(cost, tolerance)
    if canonical_cost > solver_cost + tolerance:
        raise RuntimeError(
            f"the increasing matching costs {canonical_cost:.17g} > the {method} optimum {solver_cost:.17g}; "
            "the spectra are not sorted consistently"
        )
    return Matching(rows=canonical, cost=float(cost[canonical, np.arange(small.size)].sum()), n_large=large.size)


def box_matching(
    small_spectra: Sequence[np.ndarray],
    large_spectra: Sequence[np.ndarray],
    *,
    method: str = "scipy",
    factored: bool = False,
) -> np.ndarray | KroneckerMap:
    """Return ``M_1 ⊗ ... ⊗ M_d``: the eigenvalue matchings of the factors of two box products, composed.

    The start Theorem 5.1 suggests for grids: each ``M_a`` is the minimal
    matching of axis ``a``'s factor spectra (:func:`eigenvalue_matching`),
    used as a vertex map, and their Kronecker product is a 0/1 matrix with one
    1 per column and at most one per row, so it is orthonormal.  It solves
    one small ``N_a x n_a`` assignment problem per axis, where the full
    matching of the grids' spectra is one ``N x n`` problem (``N = prod N_a``),
    too slow beyond a few thousand vertices.  It is not that matching: the
    full one pairs sums of factor eigenvalues across axes.

    Parameters
    ----------
    small_spectra, large_spectra : sequence of array_like
        Ascending Laplacian spectra of the factors, one per axis, in Kronecker order.
    method : {"scipy", "munkres"}
        Assignment solver of each factor matching.
    factored : bool
        Return the :class:`~graphprolong.kronecker.KroneckerMap` of the factor
        matchings instead of the dense 0/1 matrix.

    Returns
    -------
    M : ndarray or KroneckerMap, shape (prod N_a, prod n_a)

    Examples
    --------
    >>> box_matching([[0.0, 2.0]], [[0.0, 1.0, 2.0, 3.0]]).astype(int).tolist()
    [[1, 0], [0, 0], [0, 1], [0, 0]]
    """
    small_spectra, large_spectra = list(small_spectra), list(large_spectra)
    if not small_spectra or len(small_spectra) != len(large_spectra):
        raise ValueError(
            "box_matching needs one small and one large factor spectrum per axis (the same number of axes, at least one); "
            f"got {len(small_spectra)} small and {len(large_spectra)} large spectra"
        )
    factors = []
    for axis, (small, large) in enumerate(zip(small_spectra, large_spectra)):
        try:
            factors.append(eigenvalue_matching(small, large, method=method).matrix)
        except ValueError as error:
            raise ValueError(f"axis {axis}: {error}") from None
    M = KroneckerMap(factors)
    return M if factored else M.dense()
