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
INITIALISATIONS = ("matching", "box-matching", "exact-locality", "random", "identity")


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
    for the full assignment problem); ``"exact-locality"``: the exact minimiser
    of the locality term ``||P T1/sqrt(b) - sqrt(b) T2 P||^2`` nearest to the
    matching start (box matching for two structured grids), at the problem's
    ``beta`` or, when ``beta`` is optimised, at the self-consistent scale of
    the matched spectra (:func:`_exact_locality_start`): the global minimiser
    when ``s = 1``; ``"random"``: Q factor of a Gaussian
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
    if init == "exact-locality":
        return _exact_locality_start(problem, matcher)
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


def _exact_locality_start(problem: ProlongationProblem, matcher: str) -> np.ndarray:
    """The minimiser of the locality term at a fixed scale nearest to the matching start.

    For symmetric ``T1``, ``T2`` the minimisers of ``||P T1/sqrt(b) - sqrt(b) T2 P||^2``
    on the Stiefel manifold are ``V2 M V1^T`` up to rotations within classes of
    equal eigenvalues, ``M`` the optimal increasing matching of the spectra
    (seed 002 §5.1 for ``L``; the recipes' ``*-interpolation`` use the same
    construction for ``T``).  The class freedom is fixed by the Procrustes
    factor nearest to the matching start.  Two grids given as
    :class:`~graphprolong.operators.StructuredMatrices` use the Kronecker
    construction of the ``grid-interpolation`` recipe (no ``n x n`` matrix,
    the start made dense at the end); other graphs a dense eigendecomposition
    of ``T``.
    """
    # graphprolong.recipes imports the solver, which imports this module: import the construction here.
    from .recipes import grid_spectrum, spectra
    from .recipes.compact import _compact_nearest_minimiser

    small, large = problem.small, problem.large
    structured = (isinstance(small, StructuredMatrices) and isinstance(large, StructuredMatrices)
                  and len(small.sizes) == len(large.sizes) and small.periodic == large.periodic)
    if structured:
        spectrum_small, spectrum_large = (grid_spectrum._grid_distance_spectrum(tuple(m.sizes), m.periodic) for m in (small, large))
        reference = box_matching(small.factor_eigenvalues, large.factor_eigenvalues, method=matcher, factored=True)
    else:
        spectrum_small, spectrum_large = (spectra._dense_spectrum(np.asarray(m.distances_dense, dtype=float)) for m in (small, large))
        reference = initial_point(problem, "matching", rng=np.random.default_rng(0), matcher=matcher)
    beta = problem.beta
    if beta is None:
        try:
            beta = spectra._self_consistent_scale(spectrum_small.full()[0], spectrum_large.full()[0], 0.25)
        except spectra.DegenerateScaleError as error:
            raise ValueError(
                "init='exact-locality' with an optimised beta needs a scale at which the matching keeps a nonzero "
                f"eigenvalue of T_large; for {small.name} -> {large.name} it matches every eigenvalue of T_small to a zero "
                "(grids: the optimised beta is degenerate), so give a fixed beta, e.g. beta = n_small / n_large = "
                f"{small.n / large.n:.6g}"
            ) from error
    if structured:
        return _compact_nearest_minimiser(spectrum_small, spectrum_large, beta, reference).dense()
    return spectra._nearest_exact_minimiser(spectrum_small, spectrum_large, beta, reference)
