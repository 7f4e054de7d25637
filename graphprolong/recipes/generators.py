"""Recipe generators ``(shape_small, shape_large) -> P``: the 1-D maps and their Kronecker products.

A generator whose map is a Kronecker product of per-axis maps returns it as a
:class:`~graphprolong.kronecker.KroneckerMap` (materialised, where asked, with
``numpy.kron``: the same bits as before the factored form); ``grid-interpolation``
returns a :class:`~graphprolong.kronecker.KroneckerStructuredLowRankMap` (its
Kronecker reference plus the low-rank move to the nearest exact minimiser, in
compact form, :mod:`~graphprolong.recipes.compact`); the others return arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..kronecker import KroneckerMap
from ..lineages import lineage_kind
from ..problem import ProlongationProblem
from ..spectral import spectral_prolongation
from .compact import _compact_nearest_minimiser
from .grid_spectrum import _grid_distance_spectrum
from .spectra import (
    _cover_1d,
    _cycle_interpolation_1d,
    _fold_1d,
    _path_interpolation_1d,
    _piecewise_constant_1d,
)

__all__ = ["GRID_BETA_RATIO", "piecewise_constant"]

#: Grid recipes fix ``beta = GRID_BETA_RATIO * n_small / n_large`` (see :mod:`graphprolong.recipes`).
GRID_BETA_RATIO = 0.5


def _kronecker(maps: Iterable[np.ndarray]) -> KroneckerMap:
    return KroneckerMap(list(maps))


def _beta_from_ratio(shape_small: Sequence[int], shape_large: Sequence[int], ratio: float) -> float:
    """``beta = ratio * n_small / n_large`` (vertex counts)."""
    return ratio * math.prod(shape_small) / math.prod(shape_large)


def _factor_beta(beta: float, shape_small: Sequence[int], shape_large: Sequence[int], axis: int) -> float:
    """The 1-D beta whose matching is the grid's along ``axis``: on-axis eigenvalues carry the other axes' sizes."""
    others = [a for a in range(len(shape_small)) if a != axis]
    return beta * math.prod(shape_large[a] for a in others) / math.prod(shape_small[a] for a in others)




def piecewise_constant(shape_small: Sequence[int], shape_large: Sequence[int], *, factored: bool = False) -> np.ndarray | KroneckerMap:
    """The piecewise-constant map ``P[2i, i] = P[2i+1, i] = 1/sqrt 2`` (Kronecker product over the axes).

    The reference the ``interpolation`` recipes are aligned to.  At ``s = 1``
    it is not a critical point with beta optimised (relative gradient ~4e-2 at
    path 8 -> 16); it is one at the fixed ``beta = n_small / n_large`` (SPEC
    §2's quick check), but a saddle there (path 8 -> 16: E = 1376, minimum 1027).

    Examples
    --------
    >>> piecewise_constant((2,), (4,)).round(3).tolist()
    [[0.707, 0.0], [0.707, 0.0], [0.0, 0.707], [0.0, 0.707]]
    >>> piecewise_constant((64, 64), (128, 128), factored=True)
    KroneckerMap(rows=(128, 128), columns=(64, 64))
    """
    P = _kronecker(_piecewise_constant_1d(n, N) for n, N in zip(shape_small, shape_large))
    return P if factored else P.dense()


def _fold(shape_small, shape_large):
    return _kronecker(_fold_1d(n, N) for n, N in zip(shape_small, shape_large))


def _cover(shape_small, shape_large):
    return _kronecker(_cover_1d(n, N) for n, N in zip(shape_small, shape_large))


def _path_interpolation(shape_small, shape_large):
    return _path_interpolation_1d(shape_small[0], shape_large[0], None)


def _cycle_interpolation(shape_small, shape_large):
    return _cycle_interpolation_1d(shape_small[0], shape_large[0], None)


def _grid_periodic_interpolation(shape_small, shape_large):
    beta = _beta_from_ratio(shape_small, shape_large, GRID_BETA_RATIO)
    return _kronecker(
        _cycle_interpolation_1d(n, N, _factor_beta(beta, shape_small, shape_large, axis))
        for axis, (n, N) in enumerate(zip(shape_small, shape_large))
    )


def _grid_interpolation(shape_small, shape_large):
    beta = _beta_from_ratio(shape_small, shape_large, GRID_BETA_RATIO)
    reference = _kronecker(
        _path_interpolation_1d(n, N, _factor_beta(beta, shape_small, shape_large, axis))
        for axis, (n, N) in enumerate(zip(shape_small, shape_large))
    )
    small = _grid_distance_spectrum(tuple(shape_small), False)
    large = _grid_distance_spectrum(tuple(shape_large), False)
    return _compact_nearest_minimiser(small, large, beta, reference)


def _spectral(lineage: str) -> Callable:
    def generator(shape_small, shape_large):
        G_small, G_large = (lineage_kind(lineage).graph(shape) for shape in (shape_small, shape_large))
        return spectral_prolongation(ProlongationProblem(G_small, G_large, s=0.0))

    return generator
