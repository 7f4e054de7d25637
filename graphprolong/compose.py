"""Box-product composition of prolongation maps (SPEC §2, seed 002 §5.2, Theorem 5.1).

If ``P_A`` (``a_f x a_c``) and ``P_B`` (``b_f x b_c``) are orthonormal
prolongations for two factor lineages, ``P_A ⊗ P_B`` is an orthonormal
prolongation between the box products ``A_c □ B_c -> A_f □ B_f`` (in the
Kronecker vertex order of :mod:`graphprolong.graphs`), and its diffusion
distance ``D(P) = ||P L_c / sqrt(a) - sqrt(a) L_f P||_F`` (not squared) obeys

    D(P_A ⊗ P_B) <= sqrt(b_c) D(P_A) + sqrt(a_c) D(P_B)      (the same a for all three).
"""

from __future__ import annotations

import math
from functools import reduce

import networkx as nx
import numpy as np

from .checks import ORTHONORMAL_TOLERANCE, check_finite_array, check_positive, orthonormality_error
from .kronecker import KroneckerMap, kronecker_factors
from .matrices import GraphMatrices, graph_matrices
from .problem import ObjectiveTerm

__all__ = ["box_product_bound", "compose_box", "diffusion_distance"]


def _check_map(name: str, P) -> np.ndarray:
    P = check_finite_array(name, P)
    if P.ndim != 2 or P.shape[0] < P.shape[1]:
        raise ValueError(f"{name} must be an n_large x n_small matrix with n_large >= n_small; got shape {P.shape}")
    error = orthonormality_error(P)
    if not error <= ORTHONORMAL_TOLERANCE:  # NaN fails too
        raise ValueError(f"{name} must have orthonormal columns; got ||P^T P - I||_F = {error:.3g}")
    return P


def compose_box(P_A: np.ndarray | KroneckerMap, P_B: np.ndarray | KroneckerMap, *, factored: bool | None = None) -> np.ndarray | KroneckerMap:
    """Return ``P_A ⊗ P_B``, the prolongation between the box products of the factors.

    Parameters
    ----------
    P_A, P_B : ndarray or KroneckerMap
        Orthonormal maps (``n_large >= n_small``) of the two factor lineages
        (every factor of a :class:`~graphprolong.kronecker.KroneckerMap` is checked).
    factored : bool, optional
        Return a :class:`~graphprolong.kronecker.KroneckerMap` (the factors of
        both, never an ``N x n`` array) or a dense array (``numpy.kron``).
        Default: factored when either input is.

    Examples
    --------
    >>> compose_box(np.eye(4, 2), np.eye(3, 3)).shape
    (12, 6)
    >>> compose_box(np.eye(4, 2), np.eye(3, 3), factored=True)
    KroneckerMap(rows=(4, 3), columns=(2, 3))
    """
    if factored is None:
        factored = isinstance(P_A, KroneckerMap) or isinstance(P_B, KroneckerMap)
    checked = []
    for name, P in (("P_A", P_A), ("P_B", P_B)):
        parts = kronecker_factors(P)
        checked.append([_check_map(name if len(parts) == 1 else f"{name} factor {axis}", part) for axis, part in enumerate(parts)])
    if factored:
        return KroneckerMap(checked[0] + checked[1])
    return np.kron(*(reduce(np.kron, parts) for parts in checked))


def diffusion_distance(
    P: np.ndarray | KroneckerMap,
    G_small: nx.Graph | GraphMatrices,
    G_large: nx.Graph | GraphMatrices,
    *,
    alpha: float = 1.0,
) -> float:
    """Return ``D(P) = ||P L_small / sqrt(alpha) - sqrt(alpha) L_large P||_F`` (seed eq. 5.1).

    The graphs may be :class:`~graphprolong.operators.StructuredMatrices`; a
    :class:`~graphprolong.kronecker.KroneckerMap` is materialised (small grids).
    """
    small, large = graph_matrices(G_small), graph_matrices(G_large)
    P = check_finite_array("P", P)
    if P.shape != (large.n, small.n):
        raise ValueError(f"P must have shape (n_large, n_small) = {(large.n, small.n)}; got shape {P.shape}")
    term = ObjectiveTerm(small.laplacian, large.laplacian, check_positive("alpha", alpha))
    return math.sqrt(term.value(P)[0])


def box_product_bound(distance_A: float, distance_B: float, *, n_small_A: int, n_small_B: int) -> float:
    """Theorem 5.1: the bound ``sqrt(n_small_B) D(P_A) + sqrt(n_small_A) D(P_B)`` on ``D(P_A ⊗ P_B)``.

    ``||P||_F = sqrt(n_small)`` for an orthonormal ``P``, which is where the
    factors come from.
    """
    for name, value in (("distance_A", distance_A), ("distance_B", distance_B)):
        if check_finite_array(name, value) < 0:
            raise ValueError(f"{name} must be >= 0; got {name} = {value!r}")
    return float(np.sqrt(n_small_B) * distance_A + np.sqrt(n_small_A) * distance_B)
