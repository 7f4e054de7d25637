"""Graph-designed prolongations between the layer widths of a hierarchy (with :mod:`graphprolong`).

Every layer's units get a graph of one kind (SPEC §3): a path for 1D data
(layout ``"path"``) or a grid for images (layout ``"grid"``), and each coarser
level halves every width.  A 2D layer of ``w`` units is the grid ``r x r``
when ``w = r^2`` and ``2r x r`` when ``w = 2 r^2`` (so 256 is 16x16 and 128 is
16x8); a coarser level halves the longer side, the last one when the sides are
equal (32x32 -> 32x16 -> 16x16 -> 16x8 ...).  The input layer may be given its
data's own shape instead (e.g. 28x28).

A map between two grids that differ along one axis is the Kronecker product
of identities and the 1D map along that axis (Theorem 5.1 of seed 002,
:func:`graphprolong.compose_box`); the 1D maps come from graphprolong's
recipes or optimiser.  Flattening is row-major, which is the Kronecker order.

Strategies (:data:`STRATEGIES`):

``path``
    1D maps on every layer.
``grid``
    2D maps (Kronecker products of 1D maps).
``grid-shuffled``
    The grid maps with their rows permuted (a fixed, seeded permutation of
    the fine units): orthonormal, but blind to the layer's geometry (seed 002
    Fig. 7, "shuffled along its first index").
``random-orthogonal``
    Random matrices with orthonormal columns of the path shapes (Haar).

1D map methods (:data:`METHODS`): ``recipe`` (the fully local ``path-interpolation``
recipe, an exact optimum at ``s = 1``), ``spectral`` (``path-spectral``, the exact
optimum at ``s = 0``), ``optimize`` (graphprolong's solver at ``s = 1``, cached
on disk; slow beyond a few hundred units), ``piecewise-constant``
(``P[2i, i] = P[2i+1, i] = 1/sqrt 2``, the simple baseline).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from graphprolong import get_prolongation, path_graph
from graphprolong.geometry import qr_orthonormal
from graphprolong.lineages import lineage_kind
from graphprolong.checks import check_choice, check_positive_int
from graphprolong.compose import compose_box
from graphprolong.kronecker import KroneckerMap
from graphprolong.recipes import get_recipe, piecewise_constant

__all__ = [
    "FACTORED_STRATEGIES",
    "LAYOUTS",
    "METHODS",
    "STRATEGIES",
    "grid_shape",
    "layer_maps",
    "one_dimensional_map",
    "shape_map",
    "unit_shapes",
]

#: Unit layouts of a layer.
LAYOUTS = ("path", "grid")

#: 1D map methods: name -> description.
METHODS = {
    "recipe": "path-interpolation recipe (exact optimum at s = 1, fully local)",
    "spectral": "path-spectral recipe (exact optimum at s = 0)",
    "optimize": "graphprolong.get_prolongation(method='optimize', s=1), cached on disk",
    "piecewise-constant": "P[2i, i] = P[2i+1, i] = 1/sqrt 2",
}

#: Strategy -> the layout of its unit graphs.
STRATEGIES = {"path": "path", "grid": "grid", "grid-shuffled": "grid", "random-orthogonal": "path"}

#: Strategies whose maps are Kronecker products of per-axis maps (:func:`layer_maps` with ``factored``).
FACTORED_STRATEGIES = ("path", "grid")



def grid_shape(width: int) -> tuple[int, int]:
    """The grid of a 2D layer of ``width`` units: ``r x r`` if ``width = r^2``, ``2r x r`` if ``width = 2 r^2``.

    graphprolong's lineage registry decides (:func:`graphprolong.lineages.lineage_kind`).

    Examples
    --------
    >>> grid_shape(256), grid_shape(128)
    ((16, 16), (16, 8))
    """
    return lineage_kind("grid").unit_shape(width)


def unit_shapes(width: int, *, levels: int, layout: str, input_shape: Sequence[int] | None = None) -> list[tuple[int, ...]]:
    """The unit shapes of a layer of ``width`` units at levels ``0 .. levels``.

    Parameters
    ----------
    width : int
    levels : int
        Depth ``L`` of the hierarchy (``L + 1`` shapes are returned).
    layout : {"path", "grid"}
    input_shape : sequence of int, optional
        The layer's own shape (the data's, for the input and output layers);
        its product must be ``width``.  Default: ``(width,)`` or :func:`grid_shape`.

    Raises
    ------
    ValueError
        When the width cannot be halved ``levels`` times (an odd side cannot be halved).

    Examples
    --------
    >>> unit_shapes(1024, levels=3, layout="grid")
    [(32, 32), (32, 16), (16, 16), (16, 8)]
    >>> unit_shapes(28 * 28, levels=2, layout="grid", input_shape=(28, 28))
    [(28, 28), (28, 14), (14, 14)]
    """
    width = check_positive_int("width", width)
    levels = check_positive_int("levels", levels, minimum=0)
    check_choice("layout", layout, LAYOUTS)
    if input_shape is not None:
        shape = tuple(int(side) for side in input_shape)
        if math.prod(shape) != width:
            raise ValueError(f"input_shape {shape} has {math.prod(shape)} units, not the layer's width {width}")
        if layout == "path":
            shape = (width,)
    else:
        shape = (width,) if layout == "path" else grid_shape(width)
    shapes = [shape]
    for level in range(levels):
        try:
            shapes.append(lineage_kind(layout).halve(shapes[-1]))
        except ValueError as error:
            raise ValueError(
                f"a layer of width {width} ({layout} layout, shape {shapes[0]}) cannot be coarsened {levels} times: "
                f"at level {level + 1}, {error}"
            ) from None
    return shapes


@functools.lru_cache(maxsize=256)
def _one_dimensional_map(n_small: int, method: str) -> np.ndarray:
    if n_small == 1:
        return np.full((2, 1), 1.0 / math.sqrt(2.0))
    if method == "recipe":
        return get_recipe("path-interpolation").prolongation(n_small)
    if method == "spectral":
        return get_recipe("path-spectral").prolongation(n_small)
    if method == "piecewise-constant":
        return piecewise_constant((n_small,), (2 * n_small,))
    return get_prolongation(path_graph(n_small), path_graph(2 * n_small), s=1.0, method="optimize")


def one_dimensional_map(n_small: int, *, method: str = "recipe") -> np.ndarray:
    """The ``2n x n`` path prolongation of ``method`` (see :data:`METHODS`); a read-only array."""
    check_choice("method", method, METHODS)
    P = _one_dimensional_map(check_positive_int("n_small", n_small), method)
    P.flags.writeable = False
    return P


def shape_map(fine: Sequence[int], coarse: Sequence[int], *, method: str = "recipe",
              factored: bool = False) -> np.ndarray | KroneckerMap:
    """The map between two unit shapes: the Kronecker product over the axes of identities where a side is kept and
    the 1D map of ``method`` where it is halved.

    With ``factored``, the product is kept as its factors, a
    :class:`graphprolong.kronecker.KroneckerMap` in the same order (its
    :meth:`~graphprolong.kronecker.KroneckerMap.dense` is the dense map bit for
    bit): a 256x256 -> 256x128 map is then 128 KB, not 64 GB of float64.

    Examples
    --------
    >>> shape_map((4, 4), (4, 2), factored=True)
    KroneckerMap(rows=(4, 4), columns=(4, 2))
    """
    if len(fine) != len(coarse):
        raise ValueError(f"the fine and coarse unit shapes must have as many axes; got {tuple(fine)} and {tuple(coarse)}")
    factors = [np.eye(side_fine) if side_fine == side_coarse else one_dimensional_map(side_coarse, method=method)
               for side_fine, side_coarse in zip(fine, coarse)]
    return KroneckerMap(factors) if factored else functools.reduce(compose_box, factors, np.ones((1, 1)))


def layer_maps(
    width: int,
    *,
    levels: int,
    strategy: str = "path",
    method: str = "recipe",
    input_shape: Sequence[int] | None = None,
    rng: np.random.Generator | int | None = 0,
    factored: bool = False,
) -> list[np.ndarray | KroneckerMap]:
    """The prolongations ``P^(0), ..., P^(L-1)`` of one layer (``P^(l)`` is ``w_l x w_{l+1}``, orthonormal columns).

    Parameters
    ----------
    width, levels, input_shape
        See :func:`unit_shapes`.
    strategy : str
        A key of :data:`STRATEGIES`.
    method : str
        A key of :data:`METHODS` (unused by ``random-orthogonal``).
    rng : numpy.random.Generator, int or None
        Randomness of ``grid-shuffled`` and ``random-orthogonal``.
    factored : bool
        Return the maps as :class:`graphprolong.kronecker.KroneckerMap` s of
        their per-axis factors (:func:`shape_map`), for the strategies whose
        maps are such products (:data:`FACTORED_STRATEGIES`).

    Raises
    ------
    ValueError
        When ``factored`` is asked of a strategy whose maps are not Kronecker products.
    """
    check_choice("strategy", strategy, STRATEGIES)
    check_choice("method", method, METHODS)
    if factored and strategy not in FACTORED_STRATEGIES:
        raise ValueError(f"factored maps need a strategy whose maps are Kronecker products of per-axis maps "
                         f"({', '.join(FACTORED_STRATEGIES)}); got strategy = {strategy!r}")
    rng = np.random.default_rng(rng)
    shapes = unit_shapes(width, levels=levels, layout=STRATEGIES[strategy], input_shape=input_shape)
    maps = []
    for fine, coarse in zip(shapes, shapes[1:]):
        if strategy == "random-orthogonal":
            P = qr_orthonormal(rng.standard_normal((math.prod(fine), math.prod(coarse))))  # Haar-distributed
        else:
            P = shape_map(fine, coarse, method=method, factored=factored)
            if strategy == "grid-shuffled":
                P = P[rng.permutation(P.shape[0])]
        maps.append(P if factored else np.ascontiguousarray(P))
    return maps
