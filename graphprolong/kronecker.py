"""Prolongation maps in factored (Kronecker) form: ``P = F_1 ⊗ F_2 ⊗ ... ⊗ F_d``.

A map between two grids that is a Kronecker product of per-axis maps -- the
grid recipes ``grid-fold``, ``grid-periodic-cover``,
``grid-periodic-interpolation``, :func:`~graphprolong.compose.compose_box`,
the box matching -- is kept as its factors: ``F_a`` is ``N_a x n_a`` and ``P``
is ``(N_1 ... N_d) x (n_1 ... n_d)`` in the Kronecker (C) vertex order of
:mod:`graphprolong.graphs`.  A 128²->256² map is two 256 x 128 factors
(0.5 MB) instead of a 65536 x 16384 array (8.6 GB in float64).

``P @ X`` applies ``F_a`` along axis ``a`` of ``X`` viewed as
``(n_1, ..., n_d, k)``: ``O(k Σ_a N_1..N_a n_a..n_d)`` operations, never an
``N x n`` array; ``P.T @ Y`` likewise with the transposed factors.  Only
``reshape`` and ``@`` are used, so after :meth:`KroneckerMap.map_factors`
(e.g. to torch tensors) the same code runs on a GPU.  :meth:`KroneckerMap.dense`
materialises ``P`` (with ``numpy.kron``, so bit for bit what ``np.kron`` of the
factors gives) only when asked.  ``grid-interpolation`` is such a map plus a
correction: :class:`KroneckerStructuredLowRankMap` (``R + K_L G K_R^T``,
stacks of Kronecker maps around a small core; version 2 cache entries:
:class:`KroneckerLowRankMap`, ``R + X Y^T``).  The arrays that store each of
these maps are :func:`graphprolong.map_forms.map_parts`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import reduce

import numpy as np

from .checks import check_finite_array

__all__ = [
    "FACTORED_MAPS", "KroneckerLowRankMap", "KroneckerMap", "KroneckerStructuredLowRankMap", "kronecker_factors",
    "stack_gram", "stack_product",
]


class KroneckerMap:
    """``F_1 ⊗ ... ⊗ F_d`` as an operator: ``P @ X``, ``X @ P``, ``P.T``, :meth:`dense`.

    Parameters
    ----------
    factors : sequence of array_like
        The per-axis matrices ``F_a`` (``N_a x n_a``), in Kronecker order.

    Examples
    --------
    >>> P = KroneckerMap([np.ones((2, 1)) / np.sqrt(2), np.eye(3)])
    >>> P.shape, bool(np.allclose(P @ np.eye(3), P.dense()))
    ((6, 3), True)
    """

    # Makes ``ndarray @ P`` defer to ``P.__rmatmul__`` instead of numpy coercing ``P``.
    __array_ufunc__ = None

    def __init__(self, factors: Sequence) -> None:
        if isinstance(factors, np.ndarray) or not isinstance(factors, Sequence) or len(factors) == 0:
            raise TypeError(f"factors must be a non-empty sequence of matrices (one per axis); got {type(factors).__name__}")
        checked = []
        for axis, factor in enumerate(factors):
            factor = check_finite_array(f"factor {axis}", factor)
            if factor.ndim != 2 or 0 in factor.shape:
                raise ValueError(f"factor {axis} must be a non-empty matrix; got shape {factor.shape}")
            checked.append(factor)
        self.factors = tuple(checked)

    @classmethod
    def _from_trusted(cls, factors: Sequence) -> KroneckerMap:
        operator = cls.__new__(cls)
        operator.factors = tuple(factors)
        return operator

    def map_factors(self, convert: Callable) -> KroneckerMap:
        """The same map with ``convert(factor)`` as factors (e.g. torch tensors on a device); no validation."""
        return self._from_trusted([convert(factor) for factor in self.factors])

    @property
    def rows(self) -> tuple[int, ...]:
        """``(N_1, ..., N_d)``: the large grid's shape."""
        return tuple(int(factor.shape[0]) for factor in self.factors)

    @property
    def columns(self) -> tuple[int, ...]:
        """``(n_1, ..., n_d)``: the small grid's shape."""
        return tuple(int(factor.shape[1]) for factor in self.factors)

    @property
    def shape(self) -> tuple[int, int]:
        """``(N_1 ... N_d, n_1 ... n_d)``."""
        return math.prod(self.rows), math.prod(self.columns)

    @property
    def T(self) -> KroneckerMap:
        """The transpose ``F_1^T ⊗ ... ⊗ F_d^T`` (the restriction of an orthonormal ``P``)."""
        return self._from_trusted([factor.T for factor in self.factors])

    @property
    def nbytes(self) -> int:
        """Memory of the factors, in bytes."""
        return sum(int(factor.nbytes) for factor in self.factors)

    def __repr__(self) -> str:
        return f"KroneckerMap(rows={self.rows}, columns={self.columns})"

    def matmul(self, X):
        """``P @ X`` for ``X`` of shape ``(n, k)`` (or ``(n,)``)."""
        vector = X.ndim == 1
        X = X.reshape(-1, 1) if vector else X
        if X.ndim != 2 or X.shape[0] != self.shape[1]:
            raise ValueError(f"P @ X needs X of shape (n, k) with n = {self.shape[1]}; got shape {tuple(X.shape)}")
        k = X.shape[1]
        sizes = list(self.columns)
        for axis, factor in enumerate(self.factors):
            before, after = math.prod(sizes[:axis]), math.prod(sizes[axis + 1 :]) * k
            X = factor @ X.reshape(before, sizes[axis], after)  # (before, N_a, after)
            sizes[axis] = int(factor.shape[0])
        result = X.reshape(self.shape[0], k)
        return result.reshape(-1) if vector else result

    def rmatmul(self, Y):
        """``Y @ P`` for ``Y`` of shape ``(m, N)``: ``(P^T Y^T)^T``."""
        if Y.ndim != 2 or Y.shape[1] != self.shape[0]:
            raise ValueError(f"Y @ P needs Y of shape (m, N) with N = {self.shape[0]}; got shape {tuple(Y.shape)}")
        return self.T.matmul(Y.T).T

    def __matmul__(self, X):
        if isinstance(X, KroneckerMap):
            return _compose(self, X)
        return self.matmul(X)

    def __rmatmul__(self, Y):
        return self.rmatmul(Y)

    def dense(self) -> np.ndarray:
        """``P`` as a dense array (``numpy.kron`` of the factors, left to right)."""
        return reduce(np.kron, self.factors)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        dense = self.dense()
        return dense if dtype is None else dense.astype(dtype)

    def orthonormality_error(self) -> float:
        """``||P^T P - I||_F`` from the factors (no ``n x n`` array), without cancellation.

        With ``F_a^T F_a = I + E_a``, ``⊗(I + E_a) - I = Σ_S ⊗_{a in S} E_a ⊗_{a not in S} I``
        over the non-empty axis sets ``S``, and ``<⊗X_a, ⊗Y_a> = Π <X_a, Y_a>``
        with ``<E, E> = ||E||^2``, ``<E, I> = tr E``, ``<I, I> = n_a``.
        """
        deviations = [np.asarray(factor.T @ factor) - np.eye(factor.shape[1]) for factor in self.factors]
        squares = [float(np.sum(E**2)) for E in deviations]
        traces = [float(np.trace(E)) for E in deviations]
        sizes = self.columns
        subsets = list(itertools.product((False, True), repeat=len(sizes)))[1:]
        total = 0.0
        for first in subsets:
            for second in subsets:
                total += math.prod(
                    squares[a] if first[a] and second[a] else traces[a] if first[a] or second[a] else float(sizes[a])
                    for a in range(len(sizes))
                )
        return math.sqrt(max(total, 0.0))


def _compose(first: KroneckerMap, second: KroneckerMap) -> KroneckerMap:
    """``(A_1 ⊗ ... ⊗ A_d)(B_1 ⊗ ... ⊗ B_d) = A_1 B_1 ⊗ ... ⊗ A_d B_d`` (the chain of two maps)."""
    if first.columns != second.rows:
        raise ValueError(f"maps do not chain: columns {first.columns} of the first, rows {second.rows} of the second")
    return KroneckerMap._from_trusted([a @ b for a, b in zip(first.factors, second.factors)])


def stack_product(maps: Sequence[KroneckerMap], coefficients):
    """``[M_1, ..., M_m] @ C`` for Kronecker maps ``M_i`` with equal rows: ``Σ_i M_i @ C_i`` over the row blocks ``C_i`` of ``C``."""
    offsets = np.cumsum([0, *(M.shape[1] for M in maps)])
    return sum(M @ coefficients[start:stop] for M, start, stop in zip(maps, offsets[:-1], offsets[1:]))


def stack_gram(first: Sequence[KroneckerMap], second: Sequence[KroneckerMap]) -> np.ndarray:
    """``[A_1, ...]^T [B_1, ...]`` as a dense matrix, each block the Kronecker product of per-axis products ``A_ia^T B_ja``."""
    return np.block([[(A.T @ B).dense() for B in second] for A in first])


def kronecker_factors(P) -> list:
    """The factors of ``P``: its own for a :class:`KroneckerMap`, else ``[P]`` (one factor)."""
    return list(P.factors) if isinstance(P, KroneckerMap) else [P]


class _CorrectedKroneckerMap:
    """What the maps ``P = R + (correction)`` share: ``shape``, ``numpy.asarray`` and the orthonormality check."""

    # Makes ``ndarray @ P`` defer to ``P.__rmatmul__`` instead of numpy coercing ``P``.
    __array_ufunc__ = None
    base: KroneckerMap

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, n)``."""
        return self.base.shape

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        dense = self.dense()
        return dense if dtype is None else dense.astype(dtype)

    def orthonormality_error(self, *, probes: int = 16) -> float:
        """``||P^T P - I||_F``: exact (an ``n x n`` product) up to ``n = 4096``, else a Hutchinson estimate.

        Beyond ``n = 4096`` it is ``sqrt(mean ||(P^T P - I) g||^2)`` over ``probes``
        Gaussian vectors ``g`` (seeded; unbiased for the squared norm, relative
        spread about ``1/sqrt(probes)``), so no ``n x n`` array is formed.
        """
        n = self.shape[1]
        if n <= 4096:
            return float(np.linalg.norm(self.T @ self.dense() - np.eye(n)))
        probe = np.random.default_rng(0).standard_normal((n, probes))
        residual = self.T @ (self @ probe) - probe
        return float(np.sqrt(np.sum(residual**2) / probes))


class KroneckerLowRankMap(_CorrectedKroneckerMap):
    """``P = R + X Y^T``: a :class:`KroneckerMap` ``R`` plus a low-rank correction (``X``: ``N x k``, ``Y``: ``n x k``).

    The factored form of the ``grid-interpolation`` recipe up to its version 2
    (cache entries of form ``"kronecker+low-rank"``; version 3 is a
    :class:`KroneckerStructuredLowRankMap`), rank ``k <= rank T_small + 2 rank T_large``.
    ``P @ X``, ``X @ P``, ``P.T`` and :meth:`dense` as for :class:`KroneckerMap`.

    Examples
    --------
    >>> base = KroneckerMap([np.eye(2), np.eye(2)])
    >>> P = KroneckerLowRankMap(base, np.zeros((4, 1)), np.zeros((4, 1)))
    >>> bool(np.array_equal(P.dense(), np.eye(4)))
    True
    """

    def __init__(self, base: KroneckerMap, left, right) -> None:
        if not isinstance(base, KroneckerMap):
            raise TypeError(f"base must be a KroneckerMap; got {type(base).__name__}")
        left, right = check_finite_array("left", left), check_finite_array("right", right)
        if left.ndim != 2 or right.ndim != 2 or left.shape[1] != right.shape[1] or (left.shape[0], right.shape[0]) != base.shape:
            raise ValueError(
                f"left and right must be N x k and n x k with (N, n) = {base.shape}; got shapes {left.shape} and {right.shape}"
            )
        self.base, self.left, self.right = base, left, right

    @property
    def rank(self) -> int:
        """``k``, the rank bound of the correction."""
        return int(self.left.shape[1])

    @property
    def nbytes(self) -> int:
        """Memory of the factors and the correction, in bytes."""
        return self.base.nbytes + int(self.left.nbytes) + int(self.right.nbytes)

    @property
    def T(self) -> KroneckerLowRankMap:
        """``R^T + Y X^T``."""
        transposed = KroneckerLowRankMap.__new__(KroneckerLowRankMap)
        transposed.base, transposed.left, transposed.right = self.base.T, self.right, self.left
        return transposed

    def __repr__(self) -> str:
        return f"KroneckerLowRankMap(rows={self.base.rows}, columns={self.base.columns}, rank={self.rank})"

    def __matmul__(self, X):
        return self.base @ X + self.left @ (self.right.T @ X)

    def __rmatmul__(self, Y):
        return Y @ self.base + (Y @ self.left) @ self.right.T

    def dense(self) -> np.ndarray:
        """``P`` as a dense array."""
        return self.base.dense() + self.left @ self.right.T


def _checked_stack(name: str, maps, rows: tuple[int, ...]) -> tuple[KroneckerMap, ...]:
    if isinstance(maps, KroneckerMap) or not isinstance(maps, Sequence) or len(maps) == 0:
        raise TypeError(f"{name} must be a non-empty sequence of KroneckerMaps; got {type(maps).__name__}")
    for index, M in enumerate(maps):
        if not isinstance(M, KroneckerMap):
            raise TypeError(f"{name}[{index}] must be a KroneckerMap; got {type(M).__name__}")
        if M.rows != rows:
            raise ValueError(f"{name}[{index}] must have rows {rows} (those of the base); got rows {M.rows}")
    return tuple(maps)


class KroneckerStructuredLowRankMap(_CorrectedKroneckerMap):
    """``P = R + K_L G K_R^T``: a :class:`KroneckerMap` ``R`` plus a correction whose outer factors are
    horizontal stacks of Kronecker maps, ``K_L = [L_1, ..., L_p]`` (``N`` rows, the rows of ``R``) and
    ``K_R = [M_1, ..., M_q]`` (``n`` rows, the columns of ``R``), around a small dense core ``G``.

    The compact form of the ``grid-interpolation`` recipe (versions 3 and 4): the
    correction lives in subspaces spanned by Kronecker products of per-axis
    matrices and a few per-axis vectors (the axis-marginal indicators and their
    images under ``R``, ``R^T``, ``R R^T``), so at 128² -> 256² it is about 8 MB
    where ``X Y^T`` (:class:`KroneckerLowRankMap`) takes 837 MB.  ``P @ X``,
    ``X @ P``, ``P.T`` and :meth:`dense` as for :class:`KroneckerMap`; nothing
    with ``N`` rows and ``rank`` columns is formed.

    Parameters
    ----------
    base : KroneckerMap
        ``R``, ``N x n``.
    left, right : sequence of KroneckerMap
        ``L_i`` with ``rows == base.rows``; ``M_j`` with ``rows == base.columns``.
    core : array_like
        ``G``: (columns of all ``L_i``) x (columns of all ``M_j``), finite.

    Examples
    --------
    >>> base = KroneckerMap([np.eye(2), np.eye(2)])
    >>> ones = KroneckerMap([np.ones((2, 1)), np.ones((2, 1))])
    >>> P = KroneckerStructuredLowRankMap(base, [ones], np.zeros((1, 1)), [ones])
    >>> bool(np.array_equal(P.dense(), np.eye(4))), P.rank
    (True, 1)
    """

    def __init__(self, base: KroneckerMap, left: Sequence[KroneckerMap], core, right: Sequence[KroneckerMap]) -> None:
        if not isinstance(base, KroneckerMap):
            raise TypeError(f"base must be a KroneckerMap; got {type(base).__name__}")
        left, right = _checked_stack("left", left, base.rows), _checked_stack("right", right, base.columns)
        core = check_finite_array("core", core)
        expected = (sum(M.shape[1] for M in left), sum(M.shape[1] for M in right))
        if core.shape != expected:
            raise ValueError(
                f"core must be (columns of left) x (columns of right) = {expected[0]} x {expected[1]}; got shape {core.shape}"
            )
        self.base, self.left, self.core, self.right = base, left, core, right

    @property
    def rank(self) -> int:
        """``min(G.shape)``, a bound on the rank of the correction."""
        return int(min(self.core.shape))

    @property
    def nbytes(self) -> int:
        """Memory of all the factors and the core, in bytes."""
        return sum(M.nbytes for M in (self.base, *self.left, *self.right)) + int(self.core.nbytes)

    @property
    def T(self) -> KroneckerStructuredLowRankMap:
        """``R^T + K_R G^T K_L^T``."""
        transposed = KroneckerStructuredLowRankMap.__new__(KroneckerStructuredLowRankMap)
        transposed.base, transposed.left, transposed.core, transposed.right = self.base.T, self.right, self.core.T, self.left
        return transposed

    def __repr__(self) -> str:
        return f"KroneckerStructuredLowRankMap(rows={self.base.rows}, columns={self.base.columns}, core={self.core.shape})"

    def __matmul__(self, X):
        return self.base @ X + stack_product(self.left, self.core @ np.concatenate([M.T @ X for M in self.right]))

    def __rmatmul__(self, Y):
        return (self.T @ Y.T).T

    def dense(self) -> np.ndarray:
        """``P`` as a dense array."""
        right = np.hstack([M.dense() for M in self.right])
        return self.base.dense() + stack_product(self.left, self.core @ right.T)


#: The map classes kept as factors (every storage form of :data:`~graphprolong.map_forms.FORMS` but ``"dense"``).
FACTORED_MAPS = (KroneckerMap, KroneckerLowRankMap, KroneckerStructuredLowRankMap)
