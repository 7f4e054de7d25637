"""Storage forms of a prolongation map: the arrays that store ``P`` and the map rebuilt from them.

A map is stored as a form name (one of :data:`FORMS`) and a list of arrays:
``"dense"`` is ``[P]``; the factored forms of :mod:`graphprolong.kronecker`
keep their factors (and correction) instead of an ``N x n`` array.
:mod:`graphprolong.io` and :mod:`graphprolong.export` write and read these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .kronecker import KroneckerLowRankMap, KroneckerMap, KroneckerStructuredLowRankMap

__all__ = ["FORMS", "map_from_parts", "map_parts"]

#: Storage forms of a map: name -> how its arrays (see :func:`map_parts`) are assembled.
FORMS = ("dense", "kronecker", "kronecker+low-rank", "kronecker+structured-low-rank")


def map_parts(P) -> tuple[str, list[np.ndarray]]:
    """``(form, arrays)`` that store ``P``: ``[P]``; the factors; the factors then ``left``, ``right``; or for a
    :class:`KroneckerStructuredLowRankMap` a layout ``[[d, p, q]]`` (axes, left and right Kronecker maps), the
    factors of the base, of each left map and each right map, then the core."""
    if isinstance(P, KroneckerStructuredLowRankMap):
        layout = np.array([[len(P.base.factors), len(P.left), len(P.right)]], dtype=float)
        factors = [np.asarray(factor, dtype=float) for M in (P.base, *P.left, *P.right) for factor in M.factors]
        return "kronecker+structured-low-rank", [layout, *factors, P.core]
    if isinstance(P, KroneckerLowRankMap):
        return "kronecker+low-rank", [*map_parts(P.base)[1], P.left, P.right]
    if isinstance(P, KroneckerMap):
        return "kronecker", [np.asarray(factor, dtype=float) for factor in P.factors]
    return "dense", [np.asarray(P, dtype=float)]


def map_from_parts(form: str, arrays: Sequence[np.ndarray]):
    """The inverse of :func:`map_parts`."""
    if form == "kronecker+structured-low-rank":
        return _structured_from_parts(arrays)
    if form == "kronecker+low-rank":
        return KroneckerLowRankMap(KroneckerMap(arrays[:-2]), arrays[-2], arrays[-1])
    if form == "kronecker":
        return KroneckerMap(arrays)
    if form == "dense" and len(arrays) == 1:
        return np.asarray(arrays[0])
    raise ValueError(f"unknown map form {form!r} with {len(arrays)} arrays; valid forms are: {', '.join(FORMS)}")


def _structured_from_parts(arrays: Sequence[np.ndarray]) -> KroneckerStructuredLowRankMap:
    layout = np.asarray(arrays[0]).ravel() if arrays else np.zeros(0)
    counts = [int(value) for value in layout] if layout.size == 3 and np.all(layout == np.round(layout)) else [0, 0, 0]
    axes, maps = counts[0], 1 + counts[1] + counts[2]
    if min(counts) < 1 or len(arrays) != 2 + axes * maps:
        raise ValueError(
            "a kronecker+structured-low-rank map is a layout [[d, p, q]] (d, p, q >= 1), the d factors of each of its "
            f"1 + p + q Kronecker maps and the core; got layout {layout.tolist()} and {len(arrays)} arrays"
        )
    kron = [KroneckerMap(arrays[1 + axes * index : 1 + axes * (index + 1)]) for index in range(maps)]
    return KroneckerStructuredLowRankMap(kron[0], kron[1 : 1 + counts[1]], arrays[-1], kron[1 + counts[1] :])
