"""Closed-form optimum of the diffusion term under the matching constraint (SPEC §2, seed 002 §5.1).

With ``L_i = U_i Λ_i U_i^T`` and ``P~ = U2^T P U1`` the diffusion term equals
``|| P~ Λ1 / sqrt(a) - sqrt(a) Λ2 P~ ||^2``; for ``P~ = M`` (the minimal
eigenvalue matching) and ``a = 1`` it is the matching cost.  So
``P = U2 M U1^T`` is orthonormal, optimal among matching-constrained maps, and
has diffusion cost exactly 0 when the spectrum of ``G1`` is contained in that of
``G2`` (paths and cycles ``n -> 2n``).
"""

from __future__ import annotations

import numpy as np

from .matching import eigenvalue_matching
from .problem import ProlongationProblem

__all__ = ["spectral_prolongation"]


def spectral_prolongation(problem: ProlongationProblem, *, matcher: str = "scipy") -> np.ndarray:
    """Return ``P = U2 M U1^T`` for the graphs of ``problem``.

    Parameters
    ----------
    problem : ProlongationProblem
        Only its graphs are used: the result ignores ``s`` (it targets ``s = 0``).
    matcher : {"scipy", "munkres"}
        Assignment solver of the eigenvalue matching.

    Examples
    --------
    >>> from graphprolong import ProlongationProblem, path_graph
    >>> problem = ProlongationProblem(path_graph(8), path_graph(16), s=0)
    >>> P = spectral_prolongation(problem)
    >>> bool(problem.terms(P).diffusion < 1e-20)
    True
    """
    small, large = problem.small, problem.large
    matching = eigenvalue_matching(small.eigenvalues, large.eigenvalues, method=matcher)
    return large.eigenvectors[:, matching.rows] @ small.eigenvectors.T
