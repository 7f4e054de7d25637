"""The ``grid-interpolation`` map in compact form (versions 3 and 4): ``P = R + U_L G U_R^T``.

``R`` is the Kronecker product of 1-D path-interpolation maps; the move to the
nearest exact minimiser (:func:`~graphprolong.recipes.spectra._low_rank_nearest_minimiser`)
is computed in orthonormal Kronecker bases ``U_L``, ``U_R`` of subspaces that
hold it, so at 128² -> 256² nothing larger than a per-axis matrix times a few
thousand columns is formed, and the map is a few MB.
"""

from __future__ import annotations

import numpy as np

from ..kronecker import KroneckerMap, KroneckerStructuredLowRankMap, stack_gram
from .grid_spectrum import _kronecker_subspace_basis
from .spectra import _low_rank_nearest_minimiser, _Spectrum


def _compact_nearest_minimiser(small: _Spectrum, large: _Spectrum, beta: float, reference: KroneckerMap) -> KroneckerStructuredLowRankMap:
    """:func:`_low_rank_nearest_minimiser` in coordinates: ``P = R + U_L G U_R^T``.

    ``X`` lies in ``span{indicators, R indicators, R R^T indicators}`` (large grid),
    ``Y`` in ``span{indicators, R^T indicators}`` (small grid); an indicator is a
    unit vector on one axis and all-ones on the others, and ``R`` acts per axis,
    so these are in ``U_L = Σ_a R^{N_a} ⊗ ⊗_{b≠a} span{1, R_b 1, R_b R_b^T 1}``
    and ``U_R = Σ_a R^{n_a} ⊗ ⊗_{b≠a} span{1, R_b^T 1}``
    (:func:`_kronecker_subspace_basis`), with ``R U_R ⊂ U_L`` and ``R^T U_L ⊂ U_R``
    (as ``R_b^T R_b = I``).  The construction runs on ``rho = U_L^T R U_R`` and the
    eigenvectors' coordinates, all small.
    """
    ones_small, ones_large = ([np.ones((size, 1)) for size in sizes] for sizes in (reference.columns, reference.rows))
    left = _kronecker_subspace_basis(
        [np.hstack([o, F @ s, F @ (F.T @ o)]) for F, s, o in zip(reference.factors, ones_small, ones_large)]
    )
    right = _kronecker_subspace_basis([np.hstack([s, F.T @ o]) for F, s, o in zip(reference.factors, ones_small, ones_large)])
    rho = stack_gram(left, [reference @ member for member in right])
    X, Y = _low_rank_nearest_minimiser(small.in_basis(right), large.in_basis(left), beta, rho)
    return KroneckerStructuredLowRankMap(reference, left, X @ Y.T, right)
