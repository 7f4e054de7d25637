"""Box-product composition of prolongation maps (SPEC §2, seed 002 §5.2, Theorem 5.1).

If ``P_A`` (``a_f x a_c``) and ``P_B`` (``b_f x b_c``) are orthonormal
prolongations for two factor lineages, ``P_A ⊗ P_B`` is an orthonormal
prolongation between the box products ``A_c □ B_c -> A_f □ B_f`` (in the
Kronecker vertex order of :mod:`graphprolong.graphs`), and its diffusion
distance ``D(P) = ||P L_c / sqrt(a) - sqrt(a) L_f P||_F`` (not squared) obeys

    D(P_A ⊗ P_B) <= sqrt(b_c) D(P_A) + sqrt(a_c) D(P_B)      (the same a for all three).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from .checks import check_finite_array, check_positive, orthonormality_error, ORTHONORMAL_TOLERANCE
from .matrices import GraphMatrices, graph_matrices

__all__ = ["box_product_bound", "compose_box", "diffusion_distance"]


def _check_map(name: str, P) -> np.ndarray:
    P = check_finite_array(name, P)
    if P.ndim != 2 or P.shape[0] < P.shape[1]:
        raise ValueError(f"{name} must be an n_large x n_small matrix with n_large >= n_small; got shape {P.shape}")
    error = orthonormality_error(P)
    if error > ORTHONORMAL_TOLERANCE:
        raise ValueError(f"{name} must have orthonormal columns; got ||P^T P - I||_F = {error:.3g}")
    return P


def compose_box(P_A: np.ndarray, P_B: np.ndarray) -> np.ndarray:
    """Return ``P_A ⊗ P_B``, the prolongation between the box products of the factors.

    Examples
    --------
    >>> compose_box(np.eye(4, 2), np.eye(3, 3)).shape
    (12, 6)
    """
    return np.kron(_check_map("P_A", P_A), _check_map("P_B", P_B))


def diffusion_distance(
    P: np.ndarray,
    G_small: nx.Graph | GraphMatrices,
    G_large: nx.Graph | GraphMatrices,
    *,
    alpha: float = 1.0,
) -> float:
    """Return ``D(P) = ||P L_small / sqrt(alpha) - sqrt(alpha) L_large P||_F`` (seed eq. 5.1)."""
    small, large = graph_matrices(G_small), graph_matrices(G_large)
    P = check_finite_array("P", P)
    if P.shape != (large.n, small.n):
        raise ValueError(f"P must have shape (n_large, n_small) = {(large.n, small.n)}; got shape {P.shape}")
    alpha = check_positive("alpha", alpha)
    residual = P @ small.laplacian_dense / np.sqrt(alpha) - np.sqrt(alpha) * np.asarray(sp.csr_array(large.laplacian) @ P)
    return float(np.linalg.norm(residual))


def box_product_bound(distance_A: float, distance_B: float, *, n_small_A: int, n_small_B: int) -> float:
    """Theorem 5.1: the bound ``sqrt(n_small_B) D(P_A) + sqrt(n_small_A) D(P_B)`` on ``D(P_A ⊗ P_B)``.

    ``||P||_F = sqrt(n_small)`` for an orthonormal ``P``, which is where the
    factors come from.
    """
    for name, value in (("distance_A", distance_A), ("distance_B", distance_B)):
        if check_finite_array(name, value) < 0:
            raise ValueError(f"{name} must be >= 0; got {name} = {value!r}")
    return float(np.sqrt(n_small_B) * distance_A + np.sqrt(n_small_A) * distance_B)
