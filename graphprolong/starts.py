"""Starting points of the optimisation on ``St(n_large, n_small)``."""

from __future__ import annotations

import numpy as np

from .checks import check_choice, check_orthonormal
from .geometry import qr_orthonormal
from .matching import box_matching, eigenvalue_matching
from .operators import StructuredMatrices
from .problem import ProlongationProblem

__all__ = ["INITIALISATIONS", "initial_point"]

#: Named initialisations; an array is accepted as well.  ``"box-matching"``
#: needs both graphs as :class:`~graphprolong.operators.StructuredMatrices`.
INITIALISATIONS = ("matching", "box-matching", "random", "identity")


def initial_point(
    problem: ProlongationProblem,
    init: str | np.ndarray,
    *,
    rng: np.random.Generator,
    matcher: str = "scipy",
) -> np.ndarray:
    """Return a starting point on ``St(n_large, n_small)``.

    ``"matching"``: the 0/1 minimal eigenvalue matching ``M`` used directly as a
    vertex map (seed 002); ``"box-matching"``: for two grids given as
    :class:`~graphprolong.operators.StructuredMatrices` with the same number
    of axes, the Kronecker product of the factors' matchings
    (:func:`~graphprolong.matching.box_matching`; the start for grids too large
    for the full assignment problem); ``"random"``: Q factor of a Gaussian
    matrix; ``"identity"``: ``[I; 0]``; an array: validated (shape,
    orthonormality).
    """
    n_large, n_small = problem.shape
    if not isinstance(init, str):
        return check_orthonormal("initial P", init, problem.shape).copy()
    check_choice("initialisation", init, INITIALISATIONS)
    if init == "matching":
        return eigenvalue_matching(problem.small.eigenvalues, problem.large.eigenvalues, method=matcher).matrix
    if init == "box-matching":
        return _box_matching_start(problem, matcher)
    if init == "identity":
        return np.eye(n_large, n_small)
    return qr_orthonormal(rng.standard_normal((n_large, n_small)))


def _box_matching_start(problem: ProlongationProblem, matcher: str) -> np.ndarray:
    sides = {"G_small": problem.small, "G_large": problem.large}
    for role, matrices in sides.items():
        if not isinstance(matrices, StructuredMatrices):
            raise ValueError(
                "init='box-matching' composes the matchings of the grid factors, so both graphs must be "
                f"StructuredMatrices (graphprolong.structured_matrices); {role} = {matrices.name} is a {type(matrices).__name__}"
            )
    if len(problem.small.sizes) != len(problem.large.sizes):
        raise ValueError(
            "init='box-matching' needs grids with the same number of axes; "
            f"got G_small of shape {problem.small.sizes} and G_large of shape {problem.large.sizes}"
        )
    return box_matching(problem.small.factor_eigenvalues, problem.large.factor_eigenvalues, method=matcher)
