"""Closed-form prolongation recipes for path, cycle and grid lineages (SPEC §2, seed 002 §3.3.3).

A *recipe* generates ``P`` for any size of a lineage ``n -> 2n`` (grids
``(n_1, ..., n_d) -> (2 n_1, ..., 2 n_d)``) without optimisation.  The recipes
here are exact global minimisers of the objective at ``s = 0`` or ``s = 1``.

Why closed forms exist at ``s = 0`` and ``s = 1``.  With one term only,
``E(P) = || P X1 / sqrt(c) - sqrt(c) X2 P ||^2``, and with ``X_i = U_i Θ_i U_i^T``
and ``Q = U2^T P U1``::

    E(P) = sum_ij Q_ij^2 (θ1_j / sqrt(c) - sqrt(c) θ2_i)^2.

``W = Q ∘ Q`` has unit column sums and row sums <= 1, so it lies in the polytope
whose vertices are the partial permutation matrices: for fixed ``c`` the
minimum over the Stiefel manifold is the minimal matching cost of ``θ1 / c`` to
``θ2`` (the seed's eq. 3.2 with the scale inside), attained by ``U2 M U1^T``.
(The seed calls it an upper bound; it is also the lower bound.)  Minimising
over ``c`` too gives the optimum with an optimised scale factor.  The minimiser
is far from unique: eigenvector signs, rotations inside repeated eigenvalues
and inside the large null spaces of grid and even-cycle distance matrices all
leave ``E`` unchanged, and most members look non-local.  The ``interpolation``
recipes take the member nearest (Frobenius) to the piecewise-constant map
``P[2i, i] = P[2i+1, i] = 1/sqrt 2`` (orthogonal Procrustes per eigenvalue
class; on the cycles' null modes, the band-limited member).  Away from the ends
they are the ideal half-band (sinc) interpolator, to 3 digits at n >= 64::

    P[x, j] = sin(pi m / 2) / (sqrt 2 pi m / 2),   m = x - 2j - 1/2,

i.e. 2/pi = 0.637 on ``P[2j, j]``, ``P[2j+1, j]``, then 2/(3 pi), -2/(5 pi),
-2/(7 pi), ...: the interpolation-like, fully local maps of the seed's Fig. 3.

Recipes, by lineage (``N = 2n``):

* ``*-fold`` / ``*-cover`` (``s = 0``): ``P[x, min(x, N-1-x)] = 1/sqrt 2``
  folds the path ``P_N`` in half onto ``P_n``; ``P[x, x mod n] = 1/sqrt 2``
  is the double cover ``C_N -> C_n``.  Both satisfy ``P L1 = L2 P``, so
  ``E = 0`` (alpha = 1); grids are Kronecker products of them
  (:func:`~graphprolong.compose.compose_box`, exact for Kronecker sums).  These
  are the seed's non-local global minima of the diffusion term.
* ``*-spectral`` (``s = 0``): :func:`~graphprolong.spectral.spectral_prolongation`,
  ``U2 M U1^T`` with LAPACK's eigenvectors; also ``E = 0``.
* ``path-interpolation`` (``s = 1``, beta optimised): ``sum_j σ_j v2_{m(j)} v1_j^T``
  with ``v`` eigenvectors of the distance matrices, ``m`` the minimal matching
  of ``θ1 / beta`` to ``θ2`` at the self-consistent ``beta`` (it pairs the
  ``n - 1`` most negative eigenvalues in order and the Perron ones) and
  ``σ_j = sign(v2^T R v1)``, ``R`` piecewise constant.
* ``cycle-interpolation`` (``s = 1``, beta optimised): shift-equivariant,
  ``P[x, j] = p(x - 2j mod N)``, built by FFT: coarse Fourier mode ``k`` goes to
  the fine mode ``k`` or ``k + n`` whose distance-matrix eigenvalue matches
  better (the low one, in practice; the low one, too, where the two tie, as on
  the null modes of even cycles), with the phase of ``R``: the periodic sinc
  (Dirichlet kernel) interpolator.
* ``grid-periodic-interpolation`` (``s = 1``, beta fixed): the Kronecker product
  of 1-D cycle maps, exact because every periodic-grid distance eigenvector is a
  product of Fourier modes.
* ``grid-interpolation`` (``s = 1``, beta fixed): the Kronecker product of 1-D
  path maps, moved to the nearest exact minimiser (it is not one itself:
  path distance matrices do not commute with the all-ones matrix).

Scale factors.  Optimised beta is degenerate on grids (``P`` hides in the null
space of ``T2``), so grid recipes fix ``beta = n_small / (2 n_large)``: for
``n -> 2n`` lineages the 1-D optimum is ``beta* -> 1/4`` (measured 0.244 at
n = 4, 0.2486 at 8), and a ``d``-dimensional grid maps an on-axis mode of
eigenvalue ``n^(d-1) θ`` to one of ``(2n)^(d-1) θ'``, so the same 1-D matching
needs ``beta = 2^-(d-1) / 4 = n_small / (2 n_large)``.  (The seed's
``beta = n1/n2`` equals this if fine distances are counted in coarse edge
lengths, ``T2 / 2``.)
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from .checks import check_choice, check_positive_int, check_unit_interval, orthonormality_error
from .compose import compose_box
from .graphs import cycle_graph, grid_graph, path_graph
from .matching import _lexicographic_first, matching_cost_matrix
from .matrices import GraphMatrices, graph_matrices
from .operators import StructuredMatrices, structured_matrices
from .problem import ProlongationProblem, stiefel_project
from .solver import solve
from .spectral import spectral_prolongation

__all__ = [
    "LINEAGES",
    "RECIPES",
    "RECIPE_VERSION",
    "SECOND_ORDER_TOLERANCES",
    "VERIFY_COLUMNS",
    "Recipe",
    "get_recipe",
    "objective_lower_bound",
    "piecewise_constant",
    "recipe_prolongation",
    "verification_passed",
    "verification_table",
    "verify_recipe",
]

logger = logging.getLogger(__name__)

#: Version of every recipe formula; part of a cache key.  Bump it when a recipe's P changes.
RECIPE_VERSION = "1"

#: Lineages a recipe can target.
LINEAGES = ("path", "cycle", "grid", "grid:periodic")

# Eigenvalues within this fraction of the largest one are one class (or zero).
_CLASS_TOLERANCE = 1e-9

# Grid recipes fix beta = _GRID_BETA_RATIO * n_small / n_large (see the module notes).
_GRID_BETA_RATIO = 0.5


# ---------------------------------------------------------------------------
# 1-D building blocks (n -> N = 2n)


def _distances_1d(n: int, periodic: bool) -> np.ndarray:
    """Distance matrix of the path (or cycle) on ``n`` vertices, closed form."""
    gap = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    return (np.minimum(gap, n - gap) if periodic else gap).astype(float)


def _piecewise_constant_1d(n: int, N: int) -> np.ndarray:
    P = np.zeros((N, n))
    P[np.arange(N), np.arange(N) // 2] = 1.0 / math.sqrt(2.0)
    return P


def _fold_1d(n: int, N: int) -> np.ndarray:
    rows = np.arange(N)
    P = np.zeros((N, n))
    P[rows, np.minimum(rows, N - 1 - rows)] = 1.0 / math.sqrt(2.0)
    return P


def _cover_1d(n: int, N: int) -> np.ndarray:
    rows = np.arange(N)
    P = np.zeros((N, n))
    P[rows, rows % n] = 1.0 / math.sqrt(2.0)
    return P


def _polar(matrix: np.ndarray) -> np.ndarray:
    """The orthonormal factor ``U V^T`` of ``matrix = U S V^T``: the nearest matrix with orthonormal columns."""
    left, _, right = np.linalg.svd(matrix, full_matrices=False)
    return left @ right


def _matching(theta_small: np.ndarray, theta_large: np.ndarray, beta: float) -> tuple[np.ndarray, float]:
    """Rows matched to ``theta_small`` and the least cost ``sum (θ1/sqrt b - sqrt b θ2)^2`` (ascending spectra).

    The cost is a Monge array, so the optimum is an increasing matching, found
    exactly by the dynamic programme of :mod:`graphprolong.matching` with no
    tie slack (:func:`eigenvalue_matching`'s slack is relative to the largest
    eigenvalue squared, which for distance matrices, ~n^4, exceeds the whole
    optimal cost) and without its assignment-solver certificate, which is ~100x
    slower at n = 1024 and would dominate the scale search.
    """
    cost = matching_cost_matrix(theta_small / beta, theta_large)
    rows, _ = _lexicographic_first(cost, 0.0)
    return rows, beta * float(cost[rows, np.arange(theta_small.size)].sum())


def _settle_scale(u: float, matched: Callable[[float], np.ndarray], beta: float, *, iterations: int = 100) -> float:
    """Alternate ``matched(beta)`` (the large eigenvalues the optimal matching uses at beta) and
    ``beta = sqrt(u / sum matched^2)`` until they agree.

    At the fixed point ``U2 M U1^T`` is the exact minimiser for its beta and
    beta is optimal for it, so it is a critical point of the reduced objective.
    """
    seen = []
    for _ in range(iterations):
        updated = math.sqrt(u / float(np.sum(matched(beta) ** 2)))
        if abs(updated - beta) <= 1e-14 * beta or updated in seen:
            return updated
        seen.append(beta)
        beta = updated
    raise RuntimeError(f"the scale factor iteration did not settle in {iterations} steps (last beta = {beta:.17g})")


def _self_consistent_scale(theta_small: np.ndarray, theta_large: np.ndarray, beta: float, *, iterations: int = 100) -> float:
    """:func:`_settle_scale` for the matching of two ascending spectra."""
    return _settle_scale(
        float(np.sum(theta_small**2)), lambda b: theta_large[_matching(theta_small, theta_large, b)[0]], beta, iterations=iterations
    )


@dataclass(frozen=True)
class _Spectrum:
    """A symmetric matrix as ``vectors @ diag(values) @ vectors.T``; the other ``n - len(values)`` eigenvalues are 0."""

    values: np.ndarray
    vectors: np.ndarray
    n: int

    def full(self) -> tuple[np.ndarray, np.ndarray]:
        """All ``n`` eigenvalues ascending, and for each its column in ``vectors`` (-1: null space)."""
        values = np.concatenate([self.values, np.zeros(self.n - self.values.size)])
        labels = np.concatenate([np.arange(self.values.size), np.full(self.n - self.values.size, -1)])
        order = np.argsort(values, kind="stable")
        return values[order], labels[order]


def _dense_spectrum(matrix: np.ndarray) -> _Spectrum:
    values, vectors = np.linalg.eigh(matrix)
    keep = np.abs(values) > _CLASS_TOLERANCE * np.max(np.abs(values))
    return _Spectrum(values[keep], vectors[:, keep], matrix.shape[0])


def _classes(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Class index of each sorted eigenvalue: the null space is class -1, equal nonzero values share one."""
    tolerance = _CLASS_TOLERANCE * max(float(np.max(np.abs(values))), 1.0)
    classes = np.cumsum(np.concatenate([[0], np.diff(values) > tolerance]))
    return np.where(labels < 0, -1, classes)


def _nearest_exact_minimiser(small: _Spectrum, large: _Spectrum, beta: float, reference: np.ndarray) -> np.ndarray:
    """The minimiser of ``|| P T1 / sqrt b - sqrt b T2 P ||^2`` (fixed ``b``) nearest to ``reference``.

    For each class of equal eigenvalues of ``T2`` reached by the matching, the
    columns matched into it get the Procrustes factor of ``reference`` there.
    """
    theta_small, label_small = small.full()
    theta_large, label_large = large.full()
    rows, _ = _matching(theta_small, theta_large, beta)
    classes = _classes(theta_large, label_large)
    P = np.zeros((large.n, small.n))
    for value_class in np.unique(classes[rows]):
        columns = label_small[classes[rows] == value_class]
        if value_class >= 0:
            if np.any(columns < 0):
                raise RuntimeError("a null-space vector of T_small was matched to a nonzero eigenvalue of T_large")
            V2 = large.vectors[:, label_large[classes == value_class]]
            V1 = small.vectors[:, columns]
            P += V2 @ _polar(V2.T @ reference @ V1) @ V1.T
            continue
        # Null space of T_large: project reference onto (null T_large) x span(columns), take its polar factor.
        chosen = small.vectors[:, columns[columns >= 0]]
        projected = reference - (reference @ small.vectors) @ small.vectors.T + (reference @ chosen) @ chosen.T
        projected -= large.vectors @ (large.vectors.T @ projected)
        left, singular, right = np.linalg.svd(projected, full_matrices=False)
        if singular[columns.size - 1] <= 1e-10 * singular[0]:
            raise RuntimeError(
                f"the reference is rank-deficient on the null spaces ({columns.size} directions needed); "
                "the nearest minimiser is not unique"
            )
        P += left[:, : columns.size] @ right[: columns.size]
    return P


def _path_interpolation_1d(n: int, N: int, beta: float | None) -> np.ndarray:
    small, large = _dense_spectrum(_distances_1d(n, False)), _dense_spectrum(_distances_1d(N, False))
    if beta is None:
        beta = _self_consistent_scale(small.full()[0], large.full()[0], 0.25)
    return _nearest_exact_minimiser(small, large, beta, _piecewise_constant_1d(n, N))


def _cycle_symbol(n: int) -> np.ndarray:
    """Eigenvalue of the cycle distance matrix on Fourier mode ``k = 0 .. n-1`` (real, ``t(k) = t(n-k)``)."""
    gap = np.arange(n)
    return np.real(np.fft.fft(np.minimum(gap, n - gap).astype(float)))


def _cycle_selection(t_small: np.ndarray, t_large: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Per coarse Fourier mode ``k``: its fine candidates ``(k, k+n)`` and which of them ``P`` uses.

    The better-matched one; where their eigenvalues are equal (null modes of
    even cycles, the Nyquist pair) the objective does not care, and the lower
    frequency is taken, or both for the Nyquist pair (the reference mixes them).
    """
    n = t_small.size
    candidates = np.stack([np.arange(n), np.arange(n) + n], axis=1)
    cost = (t_small[:, None] / math.sqrt(beta) - math.sqrt(beta) * t_large[candidates]) ** 2
    tie = np.abs(t_large[candidates[:, 0]] - t_large[candidates[:, 1]]) <= _CLASS_TOLERANCE * np.max(np.abs(t_large))
    # Lower frequency on ties: the band-limited choice.  The member nearest to piecewise
    # constant would mix in the high one and leave an antipodal echo of size ~0.1.
    frequency = np.minimum(candidates, 2 * n - candidates)
    best = np.where(tie, np.argmin(frequency, axis=1), np.argmin(cost, axis=1))
    chosen = np.zeros((n, 2), dtype=bool)
    chosen[np.arange(n), best] = True
    chosen[tie & (frequency[:, 0] == frequency[:, 1])] = True
    return candidates, chosen


def _cycle_scale(t_small: np.ndarray, t_large: np.ndarray) -> float:
    """:func:`_settle_scale` for the cycle's mode selection."""

    def matched(beta: float) -> np.ndarray:
        candidates, chosen = _cycle_selection(t_small, t_large, beta)
        return t_large[np.where(chosen[:, 0], candidates[:, 0], candidates[:, 1])]

    return _settle_scale(float(np.sum(t_small**2)), matched, 0.25)


def _cycle_interpolation_1d(n: int, N: int, beta: float | None) -> np.ndarray:
    t_small, t_large = _cycle_symbol(n), _cycle_symbol(N)
    if beta is None:
        beta = _cycle_scale(t_small, t_large)
    candidates, chosen = _cycle_selection(t_small, t_large, beta)
    # The reference R (piecewise constant) is shift-equivariant, R[x, j] = r(x - 2j); it
    # sends coarse mode k to fine modes m in (k, k+n) with weight proportional to fft(r)[m].
    # Procrustes per mode: unit weights w with the phases (and, on ties, the mix) of R.
    rho = np.fft.fft(_piecewise_constant_1d(n, N)[:, 0])[candidates] * chosen
    norms = np.linalg.norm(rho, axis=1, keepdims=True)
    fallback = chosen / np.sqrt(chosen.sum(axis=1, keepdims=True))
    weights = np.where(norms > 1e-12, rho / np.maximum(norms, 1e-300), fallback)
    # P[x, j] = p(x - 2j) with p(y) = sum_m w_m exp(2 pi i m y / N) / sqrt(N n).
    coefficients = np.zeros(N, dtype=complex)
    np.add.at(coefficients, candidates.ravel(), weights.ravel())
    column = np.fft.ifft(coefficients) * N / math.sqrt(N * n)
    if np.max(np.abs(column.imag)) > 1e-9:
        raise RuntimeError(f"cycle recipe {n} -> {N}: the map is not real (imaginary part {np.max(np.abs(column.imag)):.3g})")
    return np.stack([np.roll(column.real, 2 * j) for j in range(n)], axis=1)


# ---------------------------------------------------------------------------
# Grids: Kronecker products of the 1-D maps


def _grid_distance_spectrum(shape: tuple[int, ...], periodic: bool) -> _Spectrum:
    """Nonzero eigenpairs of the grid distance matrix ``T = sum_a J ⊗ .. ⊗ T_a ⊗ .. ⊗ J``.

    Its range lies in the span of the axis-marginal indicator vectors
    (dimension ``sum (n_a - 1) + 1``), so a small eigenproblem there gives all
    nonzero eigenpairs; ``T`` itself is never formed.
    """
    factors = [_distances_1d(size, periodic) for size in shape]
    coordinates = np.indices(shape).reshape(len(shape), -1)
    indicators = np.hstack(
        [(coordinates[axis][:, None] == np.arange(size)[None, :]).astype(float) for axis, size in enumerate(shape)]
    )
    left, singular, _ = np.linalg.svd(indicators, full_matrices=False)
    basis = left[:, singular > 1e-10 * singular[0]]
    columns = basis.reshape(shape + (basis.shape[1],))
    image = np.zeros_like(columns)
    for axis, T in enumerate(factors):
        others = tuple(a for a in range(len(shape)) if a != axis)
        marginal = columns.sum(axis=others)  # (n_axis, r)
        image += np.expand_dims(T @ marginal, axis=others)
    small = basis.T @ image.reshape(basis.shape)
    values, vectors = np.linalg.eigh(0.5 * (small + small.T))
    keep = np.abs(values) > _CLASS_TOLERANCE * np.max(np.abs(values))
    return _Spectrum(values[keep], basis @ vectors[:, keep], basis.shape[0])


def _kronecker(maps: Iterable[np.ndarray]) -> np.ndarray:
    maps = list(maps)
    P = maps[0]
    for factor in maps[1:]:
        P = compose_box(P, factor)
    return P


def _beta_from_ratio(shape_small: Sequence[int], shape_large: Sequence[int], ratio: float) -> float:
    """``beta = ratio * n_small / n_large`` (vertex counts)."""
    return ratio * math.prod(shape_small) / math.prod(shape_large)


def _factor_beta(beta: float, shape_small: Sequence[int], shape_large: Sequence[int], axis: int) -> float:
    """The 1-D beta whose matching is the grid's along ``axis``: on-axis eigenvalues carry the other axes' sizes."""
    others = [a for a in range(len(shape_small)) if a != axis]
    return beta * math.prod(shape_large[a] for a in others) / math.prod(shape_small[a] for a in others)


# ---------------------------------------------------------------------------
# Generators: (shape_small, shape_large) -> P


def piecewise_constant(shape_small: Sequence[int], shape_large: Sequence[int]) -> np.ndarray:
    """The piecewise-constant map ``P[2i, i] = P[2i+1, i] = 1/sqrt 2`` (Kronecker product over the axes).

    The reference the ``interpolation`` recipes are aligned to.  At ``s = 1``
    it is not a critical point with beta optimised (relative gradient ~4e-2 at
    path 8 -> 16); it is one at the fixed ``beta = n_small / n_large`` (SPEC
    §2's quick check), but a saddle there (path 8 -> 16: E = 1376, minimum 1027).

    Examples
    --------
    >>> piecewise_constant((2,), (4,)).round(3).tolist()
    [[0.707, 0.0], [0.707, 0.0], [0.0, 0.707], [0.0, 0.707]]
    """
    return _kronecker(_piecewise_constant_1d(n, N) for n, N in zip(shape_small, shape_large))


def _fold(shape_small, shape_large):
    return _kronecker(_fold_1d(n, N) for n, N in zip(shape_small, shape_large))


def _cover(shape_small, shape_large):
    return _kronecker(_cover_1d(n, N) for n, N in zip(shape_small, shape_large))


def _path_interpolation(shape_small, shape_large):
    return _path_interpolation_1d(shape_small[0], shape_large[0], None)


def _cycle_interpolation(shape_small, shape_large):
    return _cycle_interpolation_1d(shape_small[0], shape_large[0], None)


def _grid_periodic_interpolation(shape_small, shape_large):
    beta = _beta_from_ratio(shape_small, shape_large, _GRID_BETA_RATIO)
    return _kronecker(
        _cycle_interpolation_1d(n, N, _factor_beta(beta, shape_small, shape_large, axis))
        for axis, (n, N) in enumerate(zip(shape_small, shape_large))
    )


def _grid_interpolation(shape_small, shape_large):
    beta = _beta_from_ratio(shape_small, shape_large, _GRID_BETA_RATIO)
    reference = _kronecker(
        _path_interpolation_1d(n, N, _factor_beta(beta, shape_small, shape_large, axis))
        for axis, (n, N) in enumerate(zip(shape_small, shape_large))
    )
    small = _grid_distance_spectrum(tuple(shape_small), False)
    large = _grid_distance_spectrum(tuple(shape_large), False)
    return _nearest_exact_minimiser(small, large, beta, reference)


def _spectral(lineage: str) -> Callable:
    def generator(shape_small, shape_large):
        G_small, G_large = (_lineage_graph(lineage, shape) for shape in (shape_small, shape_large))
        return spectral_prolongation(ProlongationProblem(G_small, G_large, s=0.0))

    return generator


# ---------------------------------------------------------------------------
# The registry


def _lineage_graph(lineage: str, shape: Sequence[int]) -> nx.Graph:
    if lineage == "path":
        return path_graph(shape[0])
    if lineage == "cycle":
        return cycle_graph(shape[0])
    return grid_graph(shape, periodic=lineage == "grid:periodic")


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

    def __post_init__(self) -> None:
        check_choice("lineage", self.lineage, LINEAGES)
        check_unit_interval("s", self.s)

    @property
    def one_dimensional(self) -> bool:
        return self.lineage in ("path", "cycle")

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
        return _lineage_graph(self.lineage, shape), _lineage_graph(self.lineage, self.large_shape(shape))

    def problem(self, size: int | Sequence[int], *, s: float | None = None) -> ProlongationProblem:
        """The :class:`ProlongationProblem` the recipe targets (``s`` overrides the recipe's)."""
        shape = self.shape(size)
        alpha, beta = self.scales(shape, self.large_shape(shape))
        G_small, G_large = self.graphs(shape)
        return ProlongationProblem(G_small, G_large, s=self.s if s is None else s, alpha=alpha, beta=beta)

    def prolongation(self, size: int | Sequence[int]) -> np.ndarray:
        """``P`` for the small size ``size`` (the large one follows the size rule)."""
        shape = self.shape(size)
        return self.generator(shape, self.large_shape(shape))

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
               "Kronecker product of path folds; commutes with the Kronecker-sum Laplacians, so E = 0."),
        Recipe("grid-periodic-cover", _cover, "grid:periodic", _GRID_RULE, 0.0, RECIPE_VERSION,
               "Kronecker product of cycle covers; E = 0.", min_size=3),
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
        Recipe("grid-interpolation", _grid_interpolation, "grid", _GRID_RULE, 1.0, RECIPE_VERSION,
               "Global minimiser at s = 1, beta = n_small / (2 n_large), nearest to the Kronecker product of "
               "path-interpolation maps.", beta_ratio=_GRID_BETA_RATIO, min_size=2),
        Recipe("grid-periodic-interpolation", _grid_periodic_interpolation, "grid:periodic", _GRID_RULE, 1.0,
               RECIPE_VERSION,
               "Kronecker product of cycle-interpolation maps (1-D beta = 1/4): a global minimiser at s = 1, "
               "beta = n_small / (2 n_large).", beta_ratio=_GRID_BETA_RATIO, min_size=3),
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


def recipe_prolongation(name: str, G_small: nx.Graph | GraphMatrices, G_large: nx.Graph | GraphMatrices) -> np.ndarray:
    """Return the recipe's ``P`` (``n_large x n_small``) for two graphs of its lineage.

    Raises ``ValueError`` when a graph is not of the recipe's lineage or the
    sizes break its size rule.

    Examples
    --------
    >>> from graphprolong import cycle_graph
    >>> recipe_prolongation("cycle-cover", cycle_graph(4), cycle_graph(8)).shape
    (8, 4)
    """
    recipe = get_recipe(name)
    shape_small = _graph_shape("G_small", G_small, recipe)
    shape_large = _graph_shape("G_large", G_large, recipe)
    try:
        expected = recipe.large_shape(shape_small)
    except ValueError as error:
        raise ValueError(f"{error} (G_small has shape {shape_small})") from None
    if shape_large != expected:
        raise ValueError(
            f"recipe {name!r} follows the size rule {recipe.size_rule}: for G_small of shape {shape_small} "
            f"G_large must have shape {expected}; got {shape_large}"
        )
    return recipe.generator(shape_small, shape_large)


# ---------------------------------------------------------------------------
# Verification


def _sorted_laplacian_spectrum(lineage: str, shape: Sequence[int]) -> np.ndarray:
    """Eigenvalues of ``L = A - D`` in closed form (a box product's are the sums of its factors')."""
    periodic = lineage in ("cycle", "grid:periodic")
    total = np.zeros(1)
    for n in shape:
        k = np.arange(n)
        factor = -(2.0 - 2.0 * np.cos((2.0 if periodic else 1.0) * np.pi * k / n)) if n > 1 else np.zeros(1)
        if periodic and n == 2:  # cycle_graph(2) is one edge
            factor = np.array([0.0, -2.0])
        total = np.add.outer(total, factor).ravel()
    return np.sort(total)


def _sorted_distance_spectrum(lineage: str, shape: Sequence[int]) -> np.ndarray:
    if lineage == "path":
        return np.linalg.eigvalsh(_distances_1d(shape[0], False))
    if lineage == "cycle":
        return np.sort(_cycle_symbol(shape[0]))
    return _grid_distance_spectrum(tuple(shape), lineage == "grid:periodic").full()[0]


def _term_bound(theta_small: np.ndarray, theta_large: np.ndarray, scale: float | None) -> float:
    """``min_P || P X1 / sqrt c - sqrt c X2 P ||^2`` over the Stiefel manifold (and over ``c`` when None).

    Over ``c`` the minimum of finitely many convex functions (one per
    matching) is searched: a log-spaced scan around ``sqrt(u / v)`` and
    ``c = 1``, then the self-consistent iteration from the five best points.
    """
    if scale is not None:
        return _matching(theta_small, theta_large, scale)[1]
    if not np.any(theta_small) or not np.any(theta_large):
        return 0.0
    guess = math.sqrt(np.sum(theta_small**2) / np.sum(np.sort(theta_large**2)[-theta_small.size :]))
    scales = np.append(guess * np.exp(np.linspace(-4.0, 4.0, 81)), 1.0)
    values = np.array([_matching(theta_small, theta_large, c)[1] for c in scales])
    best = float(values.min())
    for start in scales[np.argsort(values)[:5]]:
        try:
            settled = _self_consistent_scale(theta_small, theta_large, float(start), iterations=10)
        except RuntimeError:
            continue
        best = min(best, _matching(theta_small, theta_large, settled)[1])
    return best


def objective_lower_bound(
    problem: ProlongationProblem,
    *,
    spectra: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> float:
    """A lower bound of ``E`` over the Stiefel manifold, exact (attained) at ``s = 0`` and ``s = 1``.

    Each term is bounded by its minimum alone: the minimal matching cost of the
    eigenvalues (see the module notes), minimised over the scale factor when
    the problem optimises it (numerically: a scan and a bounded search, so the
    bound then holds up to that search).  ``spectra`` may give
    ``{"diffusion": (θ_small, θ_large), "locality": (...)}`` (ascending); by
    default they are computed from the problem's matrices.
    """
    spectra = dict(spectra or {})
    bound = 0.0
    for name, weight, scale in (("diffusion", problem.weights[0], problem.alpha), ("locality", problem.weights[1], problem.beta)):
        if weight == 0.0:
            continue
        if name not in spectra:
            if name == "diffusion":
                spectra[name] = (problem.small.eigenvalues, problem.large.eigenvalues)
            else:
                spectra[name] = (np.linalg.eigvalsh(problem.small.distances), np.linalg.eigvalsh(problem.large.distances))
        bound += weight * _term_bound(*spectra[name], scale)
    return bound


def _retract(P: np.ndarray) -> np.ndarray:
    Q, R = np.linalg.qr(P)
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def _lanczos_lowest(operator: Callable, start: np.ndarray, steps: int) -> tuple[float, np.ndarray]:
    """Lowest Ritz pair of a symmetric operator after ``steps`` Lanczos steps (full reorthogonalisation).

    A Ritz value is an upper bound of the lowest eigenvalue: a negative one
    proves a descent direction of second order.
    """
    basis = [start / np.linalg.norm(start)]
    diagonal, off_diagonal = [], []
    for _ in range(steps):
        w = operator(basis[-1])
        diagonal.append(float(np.vdot(basis[-1], w)))
        for vector in basis:
            w -= np.vdot(vector, w) * vector
        norm = float(np.linalg.norm(w))
        if norm <= 1e-12 * max(abs(diagonal[-1]), 1.0) or len(basis) == steps:
            break
        off_diagonal.append(norm)
        basis.append(w / norm)
    tridiagonal = np.diag(diagonal) + np.diag(off_diagonal[: len(diagonal) - 1], 1) + np.diag(off_diagonal[: len(diagonal) - 1], -1)
    values, vectors = np.linalg.eigh(tridiagonal)
    ritz = sum(coefficient * vector for coefficient, vector in zip(vectors[:, 0], basis))
    return float(values[0]), ritz / np.linalg.norm(ritz)


def _second_order(problem: ProlongationProblem, P: np.ndarray, *, rng: np.random.Generator, probes: int, lanczos_steps: int) -> dict:
    """Curvature of ``E`` on the Stiefel manifold at ``P``: random probes, Lanczos, and ``E`` along retracted steps.

    The Riemannian Hessian (embedded metric) is
    ``Proj_P(ehess[xi] - xi sym(P^T egrad))``.
    """
    multiplier = P.T @ problem.euclidean_gradient(P)
    multiplier = 0.5 * (multiplier + multiplier.T)

    def hessian(xi: np.ndarray) -> np.ndarray:
        return stiefel_project(P, problem.euclidean_hessian(P, xi) - xi @ multiplier)

    def random_tangent() -> np.ndarray:
        xi = stiefel_project(P, rng.standard_normal(P.shape))
        return xi / np.linalg.norm(xi)

    directions = [random_tangent() for _ in range(probes)]
    curvatures = [float(np.vdot(xi, hessian(xi))) for xi in directions]
    if lanczos_steps > 0:
        ritz_value, ritz_vector = _lanczos_lowest(hessian, random_tangent(), lanczos_steps)
        curvatures.append(ritz_value)
        directions.append(ritz_vector)
    base = problem.objective(P)
    decrease = 0.0
    for xi in directions:
        for step in (1e-3, 1e-2, 1e-1):
            for sign in (1.0, -1.0):
                decrease = max(decrease, base - problem.objective(_retract(P + sign * step * xi)))
    return {"min_curvature": min(curvatures), "max_decrease": decrease}


#: Relative tolerances of :func:`verify_recipe`'s second-order verdict (see there).
SECOND_ORDER_TOLERANCES = {"curvature": 1e-9, "decrease": 1e-9}


def _problem_spectra(recipe: Recipe, problem: ProlongationProblem, shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> dict:
    """Closed-form (or structured) spectra of the problem's active terms, for :func:`objective_lower_bound`."""
    spectra = {}
    if problem.weights[0] > 0:
        spectra["diffusion"] = tuple(_sorted_laplacian_spectrum(recipe.lineage, shape) for shape in shapes)
    if problem.weights[1] > 0:
        spectra["locality"] = tuple(_sorted_distance_spectrum(recipe.lineage, shape) for shape in shapes)
    return spectra


def verify_recipe(
    name: str | Recipe,
    n_small: int | Sequence[int],
    *,
    s: float | None = None,
    compare_optimisation: bool = True,
    rng: np.random.Generator | int | None = 0,
    probes: int = 3,
    lanczos_steps: int = 40,
    max_optimisation_size: int = 64,
    max_iterations: int = 500,
    max_optimisation_seconds: float = 600.0,
) -> dict:
    """Check that a recipe's ``P`` is an orthonormal local (global, at ``s`` in {0, 1}) minimiser.

    Parameters
    ----------
    name : str or Recipe
        A key of :data:`RECIPES`, or a :class:`Recipe` (to check a new one).
    n_small : int or tuple of int
        Size of the small graph: vertices of a path or cycle; side length of a
        square grid, or a full grid shape.
    s : float, optional
        Objective weight; the recipe's own ``s`` by default.  The scale
        factors are always the recipe's (:meth:`Recipe.scales`).
    compare_optimisation : bool
        Also run :func:`~graphprolong.solver.solve` from the eigenvalue-matching
        start, when ``n_large <= max_optimisation_size`` (beyond that a
        trust-region run takes minutes to hours: every iteration costs
        ``O(n_large^2 n_small)`` and runs take hundreds of iterations).
    rng : numpy.random.Generator, int or None
        Source of the random probe directions.
    probes, lanczos_steps : int
        Random tangent directions, and Lanczos steps on the Riemannian Hessian.
    max_optimisation_size, max_iterations : int
        Size limit and iteration limit of the fresh optimisation.

    Returns
    -------
    dict
        ``orthonormality_error`` ``||P^T P - I||_F``; ``objective`` and its
        terms; ``lower_bound`` (:func:`objective_lower_bound`, attained at
        ``s`` in {0, 1}) and ``gap = objective - lower_bound``;
        ``gradient_norm`` ``||grad E(P)||_F`` (Riemannian) and
        ``relative_gradient = gradient_norm / problem.gradient_scale`` -- the
        yardstick of the solver's ``tolerance``, so ``solve`` would stop at
        ``P`` when it is below 1e-10; ``min_curvature`` (lowest of the probe
        curvatures ``<xi, Hess xi>`` and the lowest Lanczos Ritz value, unit
        ``xi``) and ``relative_min_curvature`` (over ``gradient_scale``);
        ``max_decrease``: the largest drop of ``E`` along the retracted steps
        ``P ± t xi``, ``t`` in {1e-3, 1e-2, 1e-1}, over the probe and Ritz
        directions; ``second_order_ok``: ``relative_min_curvature >= -1e-9``
        and ``max_decrease <= 1e-9 max(E, 1e-12 gradient_scale)``
        (:data:`SECOND_ORDER_TOLERANCES`); ``fresh_objective``,
        ``fresh_iterations``, ``fresh_seconds``, ``fresh_stopping_reason`` or
        ``fresh_skipped`` (the reason); ``generate_seconds``, ``check_seconds``.

    Examples
    --------
    >>> report = verify_recipe("cycle-interpolation", 8, compare_optimisation=False)
    >>> bool(report["relative_gradient"] < 1e-12 and report["gap"] < 1e-9 and report["second_order_ok"])
    True
    """
    recipe = name if isinstance(name, Recipe) else get_recipe(name)
    rng = np.random.default_rng(rng)
    shape_small = recipe.shape(n_small)
    shape_large = recipe.large_shape(shape_small)
    problem = recipe.problem(shape_small, s=s)

    started = time.perf_counter()
    P = recipe.generator(shape_small, shape_large)
    generate_seconds = time.perf_counter() - started

    started = time.perf_counter()
    terms = problem.terms(P)
    gradient_norm = float(np.linalg.norm(problem.riemannian_gradient(P)))
    lower_bound = objective_lower_bound(problem, spectra=_problem_spectra(recipe, problem, (shape_small, shape_large)))
    curvature = _second_order(problem, P, rng=rng, probes=probes, lanczos_steps=lanczos_steps)
    scale = problem.gradient_scale
    relative_curvature = curvature["min_curvature"] / scale
    report = {
        "recipe": recipe.name,
        "lineage": recipe.lineage,
        "shape_small": shape_small,
        "shape_large": shape_large,
        "n_small": problem.shape[1],
        "n_large": problem.shape[0],
        "s": problem.s,
        "alpha": terms.alpha,
        "beta": terms.beta,
        "orthonormality_error": orthonormality_error(P),
        "objective": terms.objective,
        "diffusion": terms.diffusion,
        "locality": terms.locality,
        "lower_bound": lower_bound,
        "gap": terms.objective - lower_bound,
        "gradient_norm": gradient_norm,
        "relative_gradient": gradient_norm / scale,
        "gradient_scale": scale,
        "min_curvature": curvature["min_curvature"],
        "relative_min_curvature": relative_curvature,
        "max_decrease": curvature["max_decrease"],
        "second_order_ok": bool(
            relative_curvature >= -SECOND_ORDER_TOLERANCES["curvature"]
            and curvature["max_decrease"] <= SECOND_ORDER_TOLERANCES["decrease"] * max(terms.objective, 1e-12 * scale)
        ),
        "generate_seconds": generate_seconds,
    }
    report["check_seconds"] = time.perf_counter() - started
    logger.debug("verify_recipe %s %s: %s", recipe.name, shape_small, report)

    report.update(fresh_objective=None, fresh_iterations=None, fresh_seconds=None, fresh_stopping_reason=None, fresh_skipped=None)
    if not compare_optimisation:
        report["fresh_skipped"] = "not requested"
    elif problem.shape[0] > max_optimisation_size:
        report["fresh_skipped"] = f"n_large = {problem.shape[0]} > max_optimisation_size = {max_optimisation_size}"
    else:
        result = solve(problem, init="matching", rng=rng, max_iterations=max_iterations, max_time=max_optimisation_seconds)
        report.update(
            fresh_objective=result.objective,
            fresh_iterations=result.iterations,
            fresh_seconds=result.time,
            fresh_stopping_reason=result.stopping_reason,
        )
    return report


def verification_passed(report: dict, *, gradient_tolerance: float = 1e-6) -> bool:
    """Whether a :func:`verify_recipe` report passes every check.

    ``||P^T P - I||_F <= 1e-10``, ``relative_gradient <= gradient_tolerance``,
    ``second_order_ok``, ``objective <= fresh_objective`` (when run) and, at
    ``s`` in {0, 1}, ``objective <= lower_bound``, all up to
    ``1e-9 max(1, |E|) + 1e-12 gradient_scale`` (the scale of the objective,
    :attr:`ProlongationProblem.gradient_scale`).  The second part is the
    floor of the ``*-spectral`` recipes: their eigenvalue matching accepts
    ties within ``1e-9 max θ^2`` (:func:`~graphprolong.matching.eigenvalue_matching`),
    which at n = 512 leaves E about 1e-8 against a bound of 0 -- 1e-12 of
    the objective's scale, the accuracy the s = 0 acceptance asks for.
    """
    tolerance = 1e-9 * max(1.0, abs(report["objective"])) + 1e-12 * report.get("gradient_scale", 0.0)
    checks = [
        report["orthonormality_error"] <= 1e-10,
        report["relative_gradient"] <= gradient_tolerance,
        report["second_order_ok"],
        report["fresh_objective"] is None or report["objective"] <= report["fresh_objective"] + tolerance,
        report["s"] not in (0.0, 1.0) or report["gap"] <= tolerance,
    ]
    return bool(all(checks))


#: Columns of :func:`verification_table`: (header, report key, format).
VERIFY_COLUMNS = (
    ("recipe", "recipe", "{}"),
    ("shape", "shape_small", "{}"),
    ("n_small", "n_small", "{}"),
    ("n_large", "n_large", "{}"),
    ("s", "s", "{:g}"),
    ("alpha", "alpha", "{:.4g}"),
    ("beta", "beta", "{:.4g}"),
    ("|P^T P - I|", "orthonormality_error", "{:.1e}"),
    ("rel. grad", "relative_gradient", "{:.1e}"),
    ("2nd order", "second_order_ok", "{}"),
    ("E_recipe", "objective", "{:.6g}"),
    ("E_bound", "lower_bound", "{:.6g}"),
    ("E_fresh", "fresh_objective", "{:.6g}"),
    ("t_gen [s]", "generate_seconds", "{:.2f}"),
    ("t_check [s]", "check_seconds", "{:.2f}"),
    ("ok", "passed", "{}"),
)


def verification_table(reports: Iterable[dict]) -> str:
    """Format :func:`verify_recipe` reports as a fixed-width text table.

    One row per report, the columns of :data:`VERIFY_COLUMNS` (``ok`` is
    :func:`verification_passed`); ``-`` for a missing value.
    """
    rows = [[header for header, _, _ in VERIFY_COLUMNS]]
    for report in reports:
        report = dict(report, passed=verification_passed(report))
        row = []
        for _, key, form in VERIFY_COLUMNS:
            value = report.get(key)
            if isinstance(value, tuple):
                value = "x".join(map(str, value))
            row.append("-" if value is None or (isinstance(value, float) and math.isnan(value)) else form.format(value))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(VERIFY_COLUMNS))]
    lines = ["  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
