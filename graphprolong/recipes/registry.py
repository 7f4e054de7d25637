"""The recipe registry: :class:`Recipe`, :data:`RECIPES`, :func:`get_recipe`, :func:`recipe_prolongation`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ..checks import check_choice, check_positive_int, check_unit_interval
from ..lineages import LINEAGE_KINDS, lineage_kind
from ..kronecker import FACTORED_MAPS, KroneckerMap
from ..matrices import GraphMatrices, graph_matrices
from ..operators import StructuredMatrices, structured_matrices
from ..problem import ProlongationProblem
from .generators import (
    GRID_BETA_RATIO,
    _beta_from_ratio,
    _cover,
    _cycle_interpolation,
    _fold,
    _grid_interpolation,
    _grid_periodic_interpolation,
    _path_interpolation,
    _spectral,
)

__all__ = ["RECIPES", "RECIPE_VERSION", "Recipe", "get_recipe", "recipe_prolongation", "recipe_shapes"]

#: Version of the recipe formulas; part of a cache key.  A recipe whose P changes gets its own
#: bumped :attr:`Recipe.version` (grid-interpolation: "4", see :data:`RECIPES`).
RECIPE_VERSION = "1"


@dataclass(frozen=True)
class Recipe:
    """A closed-form prolongation for one lineage and size rule.

    Attributes
    ----------
    name : str
        Registry key.
    generator : callable
        ``generator(shape_small, shape_large) -> P``; shapes are tuples of side
        lengths (one entry for paths and cycles).
    lineage : {"path", "cycle", "grid", "grid:periodic"}
        A key of the lineage registry :data:`graphprolong.lineages.LINEAGE_KINDS`.
    size_rule : str
        Human-readable rule, e.g. ``"n -> 2n"``; every axis is multiplied by ``factor``.
    s : float
        The objective weight at which ``P`` is an optimum.
    version : str
        :data:`RECIPE_VERSION` when the recipe was defined; part of a cache key.
    description : str
    alpha : float or None
        Fixed alpha of the target problem, None for the optimised one.
    beta_ratio : float or None
        Fixed ``beta = beta_ratio * n_small / n_large`` of the target problem, None for the optimised one.
    factor : int
        Size rule factor per axis.
    min_size : int
        Smallest side length of the small graph.
    factored_form : bool
        Whether the generator returns ``P`` factored -- a Kronecker product of
        per-axis maps, or one plus a low-rank correction -- so that
        :meth:`prolongation` can return it so (1-D recipes are, trivially).
    """

    name: str
    generator: Callable[[tuple[int, ...], tuple[int, ...]], np.ndarray] = field(repr=False, compare=False)
    lineage: str
    size_rule: str
    s: float
    version: str
    description: str
    alpha: float | None = None
    beta_ratio: float | None = None
    factor: int = 2
    min_size: int = 1
    factored_form: bool = False

    def __post_init__(self) -> None:
        check_choice("lineage", self.lineage, LINEAGE_KINDS)
        check_unit_interval("s", self.s)

    @property
    def one_dimensional(self) -> bool:
        """Whether the lineage has one axis (paths and cycles)."""
        return lineage_kind(self.lineage).one_dimensional

    def shape(self, size: int | Sequence[int]) -> tuple[int, ...]:
        """Normalise a size: an int is ``(n,)`` for paths and cycles, the square ``(n, n)`` for grids."""
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
            shape = (int(size),) if self.one_dimensional else (int(size), int(size))
        elif isinstance(size, Sequence):
            shape = tuple(check_positive_int("side length", side) for side in size)
        else:
            raise TypeError(f"a size must be an int or a sequence of ints; got {type(size).__name__} {size!r}")
        if not shape or (self.one_dimensional and len(shape) != 1):
            raise ValueError(f"recipe {self.name!r} ({self.lineage}) needs {'one side length' if self.one_dimensional else 'at least one side length'}; got {size!r}")
        for side in shape:
            if isinstance(side, bool) or side < self.min_size:
                raise ValueError(f"recipe {self.name!r} needs side lengths >= {self.min_size}; got {shape}")
        return shape

    def large_shape(self, shape_small: int | Sequence[int]) -> tuple[int, ...]:
        """The large shape the size rule assigns to ``shape_small``."""
        return tuple(self.factor * side for side in self.shape(shape_small))

    def scales(self, shape_small: Sequence[int], shape_large: Sequence[int]) -> tuple[float | None, float | None]:
        """``(alpha, beta)`` of the target problem (None: optimised)."""
        beta = None if self.beta_ratio is None else _beta_from_ratio(shape_small, shape_large, self.beta_ratio)
        return self.alpha, beta

    def graphs(self, size: int | Sequence[int]) -> tuple[nx.Graph, nx.Graph]:
        """``(G_small, G_large)`` of the lineage for a small size."""
        shape = self.shape(size)
        kind = lineage_kind(self.lineage)
        return kind.graph(shape), kind.graph(self.large_shape(shape))

    def problem(self, size: int | Sequence[int], *, s: float | None = None) -> ProlongationProblem:
        """The :class:`ProlongationProblem` the recipe targets (``s`` overrides the recipe's)."""
        shape = self.shape(size)
        alpha, beta = self.scales(shape, self.large_shape(shape))
        G_small, G_large = self.graphs(shape)
        return ProlongationProblem(G_small, G_large, s=self.s if s is None else s, alpha=alpha, beta=beta)

    def prolongation(self, size: int | Sequence[int], *, factored: bool = False) -> np.ndarray | KroneckerMap:
        """``P`` for the small size ``size`` (the large one follows the size rule).

        ``factored=True`` returns a :class:`~graphprolong.kronecker.KroneckerMap`
        or :class:`~graphprolong.kronecker.KroneckerStructuredLowRankMap` (never an ``N x n``
        array); only for recipes with :attr:`factored_form`.
        """
        shape = self.shape(size)
        return self.make(shape, self.large_shape(shape), factored=factored)

    def make(self, shape_small: tuple[int, ...], shape_large: tuple[int, ...], *, factored: bool = False) -> np.ndarray | KroneckerMap:
        """Run the generator for checked shapes: a dense array, or with ``factored`` a :class:`KroneckerMap`."""
        if factored and not (self.factored_form or self.one_dimensional):
            names = ", ".join(name for name, recipe in RECIPES.items() if recipe.factored_form and not recipe.one_dimensional)
            raise ValueError(
                f"recipe {self.name!r} is not a Kronecker product of per-axis maps (nor one plus a low-rank correction), "
                f"so it has no factored form; grid recipes with one: {names}"
            )
        P = self.generator(tuple(shape_small), tuple(shape_large))
        factored_map = isinstance(P, FACTORED_MAPS)
        if factored:
            return P if factored_map else KroneckerMap([P])
        return P.dense() if factored_map else P

    def to_dict(self) -> dict:
        """The recipe as plain data (everything but the generator), e.g. for a cache key or metadata."""
        return {
            "name": self.name, "lineage": self.lineage, "size_rule": self.size_rule, "s": self.s,
            "version": self.version, "alpha": self.alpha, "beta_ratio": self.beta_ratio, "factor": self.factor,
        }


_ONE_D_RULE = "n -> 2n"
_GRID_RULE = "(n_1, ..., n_d) -> (2 n_1, ..., 2 n_d)"


def _registry(recipes: Iterable[Recipe]) -> dict[str, Recipe]:
    return {recipe.name: recipe for recipe in recipes}


#: Recipes by name.
RECIPES: dict[str, Recipe] = _registry(
    [
        Recipe("path-fold", _fold, "path", _ONE_D_RULE, 0.0, RECIPE_VERSION,
               "P[x, min(x, N-1-x)] = 1/sqrt 2: P_2n folded in half onto P_n; P L1 = L2 P, so E = 0 (global "
               "minimum of the diffusion term, alpha = 1); non-local."),
        Recipe("cycle-cover", _cover, "cycle", _ONE_D_RULE, 0.0, RECIPE_VERSION,
               "P[x, x mod n] = 1/sqrt 2: the double cover C_2n -> C_n; P L1 = L2 P, so E = 0; non-local.",
               min_size=3),
        Recipe("grid-fold", _fold, "grid", _GRID_RULE, 0.0, RECIPE_VERSION,
               "Kronecker product of path folds; commutes with the Kronecker-sum Laplacians, so E = 0.", factored_form=True),
        Recipe("grid-periodic-cover", _cover, "grid:periodic", _GRID_RULE, 0.0, RECIPE_VERSION,
               "Kronecker product of cycle covers; E = 0.", min_size=3, factored_form=True),
        Recipe("path-spectral", _spectral("path"), "path", _ONE_D_RULE, 0.0, RECIPE_VERSION,
               "spectral_prolongation: U2 M U1^T with LAPACK's eigenvectors; E = 0, arbitrary eigenvector signs."),
        Recipe("cycle-spectral", _spectral("cycle"), "cycle", _ONE_D_RULE, 0.0, RECIPE_VERSION,
               "spectral_prolongation: U2 M U1^T; E = 0.", min_size=3),
        Recipe("grid-spectral", _spectral("grid"), "grid", _GRID_RULE, 0.0, RECIPE_VERSION,
               "spectral_prolongation: U2 M U1^T (dense eigh of both Laplacians); E = 0."),
        Recipe("grid-periodic-spectral", _spectral("grid:periodic"), "grid:periodic", _GRID_RULE, 0.0, RECIPE_VERSION,
               "spectral_prolongation: U2 M U1^T; E = 0.", min_size=3),
        Recipe("path-interpolation", _path_interpolation, "path", _ONE_D_RULE, 1.0, RECIPE_VERSION,
               "Global minimiser at s = 1 (beta optimised, -> 1/4) nearest to the piecewise-constant map: "
               "sum_j sign(v2^T R v1) v2_m(j) v1_j^T over matched eigenvectors of the distance matrices; "
               "in the interior the half-band sinc interpolator (2/pi on P[2i, i], P[2i+1, i]).", min_size=2),
        Recipe("cycle-interpolation", _cycle_interpolation, "cycle", _ONE_D_RULE, 1.0, RECIPE_VERSION,
               "Global minimiser at s = 1 (beta optimised), shift-equivariant P[x, j] = p(x - 2j), by FFT: "
               "coarse Fourier mode k -> the better-matched fine mode (k or k+n; the lower one on ties) with "
               "the phase of the piecewise-constant map; the periodic sinc interpolator.", min_size=3),
        # Version 2: built as the Kronecker reference plus a low-rank correction (no dense SVD);
        # equal to version 1 to ~1e-15 (max abs entry), but not bit for bit.  Version 3: the same
        # correction computed and kept in orthonormal Kronecker bases (R + U_L G U_R^T: 8 MB and 1 s at
        # 128² -> 256², against 837 MB and 23 s), and the grid distance spectra from a Kronecker basis of
        # the indicator span; equal to version 2 to ~1e-15 up to 16² -> 32² but ~1e-10 beyond, and stored
        # in another form.  Version 4: those spectra's eigenvectors refined on the exact integer pencil
        # (recipes.grid_spectrum): version 3 mixed eigenvalues 1.4e-8 apart by 2e-10; version 4 equals version 1
        # (dense eigh of T) to 2e-14 at 32² -> 64², its spectra a 40-digit reference to 2e-15 up to 64x64.
        Recipe("grid-interpolation", _grid_interpolation, "grid", _GRID_RULE, 1.0, "4",
               "Global minimiser at s = 1, beta = n_small / (2 n_large), nearest to the Kronecker product of "
               "path-interpolation maps.", beta_ratio=GRID_BETA_RATIO, min_size=2, factored_form=True),
        Recipe("grid-periodic-interpolation", _grid_periodic_interpolation, "grid:periodic", _GRID_RULE, 1.0,
               RECIPE_VERSION,
               "Kronecker product of cycle-interpolation maps (1-D beta = 1/4): a global minimiser at s = 1, "
               "beta = n_small / (2 n_large).", beta_ratio=GRID_BETA_RATIO, min_size=3, factored_form=True),
    ]
)


def get_recipe(name: str) -> Recipe:
    """Return the registered recipe ``name``; an unknown name raises ``ValueError`` listing the valid ones.

    Examples
    --------
    >>> get_recipe("path-fold").s
    0.0
    """
    return RECIPES[check_choice("recipe", name, RECIPES)]


def _graph_shape(role: str, graph: nx.Graph | GraphMatrices, recipe: Recipe) -> tuple[int, ...]:
    """The side lengths of ``graph`` if it is a graph of the recipe's lineage in canonical vertex order.

    A :class:`~graphprolong.operators.StructuredMatrices` states its shape; a
    networkx graph's is read from its vertex labels.  Either way the adjacency
    must equal the lineage's at that shape (built from the factors, never as a
    networkx graph).
    """
    matrices = graph_matrices(graph)
    shape = None
    if recipe.one_dimensional:
        shape = (matrices.n,)
    elif isinstance(matrices, StructuredMatrices):
        shape = matrices.sizes
    else:
        nodes = list(matrices.graph.nodes)
        if nodes and all(isinstance(node, tuple) and node and all(isinstance(c, (int, np.integer)) and c >= 0 for c in node) for node in nodes):
            if len({len(node) for node in nodes}) == 1:
                shape = tuple(int(max(node[axis] for node in nodes)) + 1 for axis in range(len(nodes[0])))
    if shape is not None and math.prod(shape) == matrices.n:
        expected = structured_matrices(recipe.lineage, shape).adjacency
        actual = matrices.adjacency
        if expected.shape == actual.shape and (expected != actual).nnz == 0:
            return shape
    raise ValueError(
        f"recipe {recipe.name!r} needs {role} to be a {recipe.lineage} graph in canonical vertex order "
        f"(as graphprolong.{'grid_graph' if not recipe.one_dimensional else recipe.lineage + '_graph'} or "
        f"graphprolong.structured_matrices({recipe.lineage!r}, shape) builds it); got {matrices.name} with {matrices.n} vertices"
    )


def recipe_shapes(recipe: Recipe, G_small: nx.Graph | GraphMatrices, G_large: nx.Graph | GraphMatrices) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The recipe's ``(shape_small, shape_large)`` for two graphs.

    ``ValueError`` when a graph is not of the recipe's lineage (adjacency, not
    only sizes) or the sizes break its size rule.
    """
    shape_small = _graph_shape("G_small", G_small, recipe)
    shape_large = _graph_shape("G_large", G_large, recipe)
    try:
        expected = recipe.large_shape(shape_small)
    except ValueError as error:
        raise ValueError(f"{error} (G_small has shape {shape_small})") from None
    if shape_large != expected:
        raise ValueError(
            f"recipe {recipe.name!r} follows the size rule {recipe.size_rule}: for G_small of shape {shape_small} "
            f"G_large must have shape {expected}; got {shape_large}"
        )
    return shape_small, shape_large


def recipe_prolongation(
    name: str, G_small: nx.Graph | GraphMatrices, G_large: nx.Graph | GraphMatrices, *, factored: bool = False
) -> np.ndarray | KroneckerMap:
    """Return the recipe's ``P`` (``n_large x n_small``) for two graphs of its lineage.

    Raises ``ValueError`` when a graph is not of the recipe's lineage or the
    sizes break its size rule.  ``factored``: see :meth:`Recipe.prolongation`.

    Examples
    --------
    >>> from graphprolong import cycle_graph
    >>> recipe_prolongation("cycle-cover", cycle_graph(4), cycle_graph(8)).shape
    (8, 4)
    """
    recipe = get_recipe(name)
    return recipe.make(*recipe_shapes(recipe, G_small, G_large), factored=factored)
