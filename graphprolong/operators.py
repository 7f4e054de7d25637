"""Structured linear operators for the matrices of grids (box products of paths or cycles).

A grid of shape ``(n_1, ..., n_d)`` has ``n = n_1 ... n_d`` vertices in
Kronecker (C) order (SPEC §1), so its matrices have factor structure:

* the Laplacian is a Kronecker sum ``L = L_1 ⊕ ... ⊕ L_d``, i.e. ``L_i``
  applied along axis ``i`` of a vertex-indexed tensor, summed over the axes
  (:class:`KroneckerSum`);
* the distance matrix is ``T = Σ_i J ⊗ ... ⊗ T_i ⊗ ... ⊗ J`` (``J`` all-ones),
  i.e. for each axis: sum over the other axes, apply ``T_i``, broadcast back
  (:class:`BoxDistance`).

Neither ever forms an ``n x n`` matrix: ``L @ X`` costs ``O(n k Σ n_i)`` and
``T @ X`` costs ``O(n k d + k Σ n_i^2)`` for ``X`` of shape ``(n, k)``, where a
dense product costs ``O(n^2 k)``.

The products are written with nothing but ``reshape``, ``@``, ``sum`` and
broadcasting, so the same code runs on numpy arrays and, once the factors are
converted with :meth:`StructuredOperator.map_factors`, on torch tensors
(:mod:`graphprolong.torch_backend`); this module never imports torch.

:class:`StructuredMatrices` is a :class:`~graphprolong.matrices.GraphMatrices`
whose Laplacian and distance matrix are these operators, for grids too large
to build as networkx graphs or dense matrices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np
import scipy.sparse as sp

from .checks import check_finite_array
from .lineages import lineage_kind
from .matrices import GraphMatrices, adjacency_matrix, distance_matrix, laplacian

__all__ = [
    "BoxDistance",
    "KroneckerSum",
    "StructuredMatrices",
    "StructuredOperator",
    "frobenius_norm_squared",
    "structured_matrices",
]

def _check_factor(index: int, factor) -> np.ndarray:
    factor = check_finite_array(f"factor {index}", factor)
    if factor.ndim != 2 or factor.shape[0] != factor.shape[1] or factor.shape[0] == 0:
        raise ValueError(f"factor {index} must be a non-empty square matrix; got shape {factor.shape}")
    asymmetry = float(np.max(np.abs(factor - factor.T)))
    if asymmetry > 0.0:
        raise ValueError(f"factor {index} must be symmetric; got max |M - M^T| = {asymmetry:.3g}")
    return factor


def _apply_middle(matrix, X, pre: int, size: int, post: int):
    """Apply the symmetric ``matrix`` along the middle axis of ``X`` viewed as ``(pre, size, post)``."""
    if post == 1:
        return X.reshape(pre, size) @ matrix  # = (matrix @ X^T)^T as matrix is symmetric
    return matrix @ X.reshape(pre, size, post)


class StructuredOperator:
    """A symmetric ``n x n`` operator with one factor per grid axis.

    Subclasses define :meth:`_apply`, which applies the operator along ``d``
    consecutive axes of a tensor viewed as ``(lead, n_1, ..., n_d, trail)``.
    ``op @ X`` and ``X @ op`` work for numpy arrays (and, after
    :meth:`map_factors`, for torch tensors).

    Parameters
    ----------
    factors : sequence of array_like
        Symmetric ``n_i x n_i`` matrices, one per axis, in Kronecker order.
    """

    # Makes ``ndarray @ op`` defer to ``op.__rmatmul__`` instead of numpy coercing ``op``.
    __array_ufunc__ = None

    def __init__(self, factors: Sequence) -> None:
        if isinstance(factors, np.ndarray) or not isinstance(factors, Sequence) or len(factors) == 0:
            raise TypeError(
                f"factors must be a non-empty sequence of square matrices (one per axis); got {type(factors).__name__}"
            )
        self.factors = tuple(_check_factor(index, factor) for index, factor in enumerate(factors))

    @classmethod
    def _from_trusted(cls, factors: Sequence):
        operator = cls.__new__(cls)
        operator.factors = tuple(factors)
        return operator

    def map_factors(self, convert: Callable):
        """Return the same operator with ``convert(factor)`` as factors (e.g. torch tensors); no validation."""
        return self._from_trusted([convert(factor) for factor in self.factors])

    @property
    def sizes(self) -> tuple[int, ...]:
        """Axis lengths ``(n_1, ..., n_d)``."""
        return tuple(int(factor.shape[0]) for factor in self.factors)

    @property
    def n(self) -> int:
        """Number of rows (and columns), ``n_1 ... n_d``."""
        return math.prod(self.sizes)

    @property
    def shape(self) -> tuple[int, int]:
        return self.n, self.n

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sizes={self.sizes})"

    def _check_operand(self, X, axis: int) -> None:
        if X.ndim != 2 or X.shape[axis] != self.n:
            side = "op @ X needs X of shape (n, k)" if axis == 0 else "X @ op needs X of shape (m, n)"
            raise ValueError(f"{side} with n = {self.n}; got shape {tuple(X.shape)}")

    def matmul(self, X):
        """Return ``op @ X`` for ``X`` of shape ``(n, k)``."""
        self._check_operand(X, 0)
        return self._apply(X, 1, X.shape[1]).reshape(self.n, X.shape[1])

    def rmatmul(self, X):
        """Return ``X @ op`` for ``X`` of shape ``(m, n)`` (equal to ``(op @ X^T)^T``)."""
        self._check_operand(X, 1)
        return self._apply(X, X.shape[0], 1).reshape(X.shape[0], self.n)

    def __matmul__(self, X):
        return self.matmul(X)

    def __rmatmul__(self, X):
        return self.rmatmul(X)

    def _apply(self, X, lead: int, trail: int):
        raise NotImplementedError

    def dense(self) -> np.ndarray:
        """Return the operator as a dense ``n x n`` numpy array (for tests and small graphs)."""
        raise NotImplementedError

    def frobenius_norm_squared(self) -> float:
        """Return ``||op||_F^2`` in closed form from the factors."""
        raise NotImplementedError


class KroneckerSum(StructuredOperator):
    """``M_1 ⊕ M_2 ⊕ ... = Σ_i I ⊗ ... ⊗ M_i ⊗ ... ⊗ I``: the Laplacian of a box product.

    Examples
    --------
    >>> L = KroneckerSum([np.diag([1.0, 2.0]), np.diag([10.0, 20.0, 30.0])])
    >>> np.diag(L.dense())
    array([11., 21., 31., 12., 22., 32.])
    """

    def _apply(self, X, lead: int, trail: int):
        sizes = self.sizes
        result = None
        for axis, factor in enumerate(self.factors):
            pre = lead * math.prod(sizes[:axis])
            post = math.prod(sizes[axis + 1 :]) * trail
            term = _apply_middle(factor, X, pre, sizes[axis], post).reshape(pre, sizes[axis], post)
            result = term if result is None else result + term.reshape(result.shape)
        return result

    def dense(self) -> np.ndarray:
        sizes = self.sizes
        return sum(
            reduce(np.kron, [factor if i == axis else np.eye(size) for i, size in enumerate(sizes)])
            for axis, factor in enumerate(self.factors)
        )

    def frobenius_norm_squared(self) -> float:
        # Σ_i ||M_i||^2 Π_{j≠i} n_j  +  Σ_{i≠j} tr(M_i) tr(M_j) Π_{l≠i,j} n_l
        sizes, n = self.sizes, self.n
        squares = [float(np.sum(np.asarray(f) ** 2)) for f in self.factors]
        traces = [float(np.trace(np.asarray(f))) for f in self.factors]
        total = sum(squares[i] * n / sizes[i] for i in range(len(sizes)))
        for i in range(len(sizes)):
            for j in range(len(sizes)):
                if i != j:
                    total += traces[i] * traces[j] * n / (sizes[i] * sizes[j])
        return float(total)


class BoxDistance(StructuredOperator):
    """``Σ_i J ⊗ ... ⊗ T_i ⊗ ... ⊗ J`` (``J`` all-ones): the distance matrix of a box product.

    ``d((x_1..x_d), (y_1..y_d)) = Σ_i T_i[x_i, y_i]``.  Applying it to ``X`` sums
    ``X`` over all axes but ``i``, applies ``T_i`` and broadcasts the result
    back along the other axes.

    Examples
    --------
    >>> T = BoxDistance([np.array([[0.0, 1.0], [1.0, 0.0]])] * 2)
    >>> T.dense()
    array([[0., 1., 1., 2.],
           [1., 0., 2., 1.],
           [1., 2., 0., 1.],
           [2., 1., 1., 0.]])
    """

    def _apply(self, X, lead: int, trail: int):
        sizes = self.sizes
        full = (lead, *sizes, trail)
        result = None
        for axis, factor in enumerate(self.factors):
            before, after = math.prod(sizes[:axis]), math.prod(sizes[axis + 1 :])
            marginal = X.reshape(lead, before, sizes[axis], after, trail).sum(3).sum(1)  # (lead, n_i, trail)
            term = _apply_middle(factor, marginal, lead, sizes[axis], trail)
            term = term.reshape(lead, *(size if i == axis else 1 for i, size in enumerate(sizes)), trail)
            result = term if result is None else result + term
        if tuple(result.shape) != full:  # one axis: nothing was broadcast
            result = result.reshape(full)
        return result

    def dense(self) -> np.ndarray:
        sizes = self.sizes
        return sum(
            reduce(np.kron, [factor if i == axis else np.ones((size, size)) for i, size in enumerate(sizes)])
            for axis, factor in enumerate(self.factors)
        )

    def frobenius_norm_squared(self) -> float:
        # Σ_i ||T_i||^2 Π_{j≠i} n_j^2  +  Σ_{i≠j} sum(T_i) sum(T_j) Π_{l≠i,j} n_l^2
        sizes, n = self.sizes, self.n
        squares = [float(np.sum(np.asarray(f) ** 2)) for f in self.factors]
        sums = [float(np.sum(np.asarray(f))) for f in self.factors]
        total = sum(squares[i] * (n / sizes[i]) ** 2 for i in range(len(sizes)))
        for i in range(len(sizes)):
            for j in range(len(sizes)):
                if i != j:
                    total += sums[i] * sums[j] * (n / (sizes[i] * sizes[j])) ** 2
        return float(total)


def frobenius_norm_squared(matrix) -> float:
    """Return ``||matrix||_F^2`` for a dense array, a scipy sparse matrix or a :class:`StructuredOperator`."""
    if isinstance(matrix, StructuredOperator):
        return matrix.frobenius_norm_squared()
    values = sp.csr_array(matrix).data if sp.issparse(matrix) else np.asarray(matrix)
    return float(np.sum(values**2))


@dataclass(frozen=True, eq=False)
class StructuredMatrices(GraphMatrices):
    """The matrices of a path, cycle or grid as structured operators.

    A :class:`~graphprolong.matrices.GraphMatrices` (so it can be handed to
    :class:`~graphprolong.problem.ProlongationProblem`) whose ``laplacian`` is
    a :class:`KroneckerSum` and ``distances`` a :class:`BoxDistance`; both
    agree entry by entry with the matrices of ``grid_graph(shape, periodic=...)``.
    ``graph`` is None (the networkx graph is never built; build it with
    :func:`~graphprolong.graphs.grid_graph` when needed).  The spectrum comes
    from the factors: eigenvalues of ``L`` are the sums ``λ_{i_1} + ... + λ_{i_d}``.

    Build it with :func:`structured_matrices`.
    """

    sizes: tuple[int, ...] = ()
    periodic: bool = False

    def _factor_graphs(self) -> list:
        kind = lineage_kind("grid:periodic" if self.periodic else "grid")
        return [kind.factor_graph(size) for size in self.sizes]

    @property
    def adjacency(self) -> sp.csr_array:
        """``A = A_1 ⊕ ... ⊕ A_d``, sparse: equal to the adjacency of ``grid_graph(sizes, periodic=...)``.

        Axes of length 1 are ``G_0`` (one self-loop); as in the networkx box
        product, the loops of several such axes merge into one of weight 1
        (the Laplacian is unaffected: a loop adds as much to ``A`` as to ``D``).
        """

        def compute():
            factors = [adjacency_matrix(g) for g in self._factor_graphs()]
            identities = [sp.identity(size, format="csr") for size in self.sizes]
            terms = (
                reduce(lambda a, b: sp.kron(a, b, format="csr"), [factor if i == axis else identities[i] for i in range(len(factors))])
                for axis, factor in enumerate(factors)
            )
            adjacency = sp.csr_array(sum(terms), dtype=float)
            loops = adjacency.diagonal()
            adjacency = sp.csr_array(adjacency - sp.diags_array(loops - np.minimum(loops, 1.0)))
            adjacency.eliminate_zeros()
            adjacency.sort_indices()
            return adjacency

        return self._get("A", compute)

    @property
    def laplacian(self) -> KroneckerSum:
        """``L = L_1 ⊕ ... ⊕ L_d`` (sign convention ``A - D``)."""
        return self._get("L", lambda: KroneckerSum([laplacian(g).toarray() for g in self._factor_graphs()]))

    @property
    def laplacian_dense(self) -> np.ndarray:
        """``L`` as a dense array (``n x n`` memory: small graphs only)."""
        return self._get("L_dense", lambda: self.laplacian.dense())

    @property
    def distances(self) -> BoxDistance:
        """Distance matrix ``T`` as a :class:`BoxDistance` (use ``.dense()`` for the array)."""
        return self._get("T", lambda: BoxDistance([distance_matrix(g) for g in self._factor_graphs()]))

    @property
    def distances_dense(self) -> np.ndarray:
        """``T`` as a dense array (``n x n`` memory: small graphs only)."""
        return self._get("T_dense", lambda: self.distances.dense())

    @property
    def factor_eigenvalues(self) -> tuple[np.ndarray, ...]:
        """Ascending Laplacian spectrum of each axis's factor (path or cycle), in Kronecker order."""
        return tuple(values for values, _ in self._factor_eigh)

    @property
    def _factor_eigh(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return self._get("factor_eigh", lambda: [np.linalg.eigh(f) for f in self.laplacian.factors])

    @property
    def _spectrum_order(self) -> tuple[np.ndarray, np.ndarray]:
        def compute():
            values = reduce(lambda a, b: np.add.outer(a, b).ravel(), [w for w, _ in self._factor_eigh])
            order = np.argsort(values, kind="stable")
            return values[order], order

        return self._get("spectrum_order", compute)

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of ``L`` in ascending order (sums of factor eigenvalues; ``O(n log n)``)."""
        return self._spectrum_order[0]

    @property
    def eigenvectors(self) -> np.ndarray:
        """Orthonormal eigenvectors of ``L`` (Kronecker products of factor eigenvectors; dense ``n x n``)."""
        return self._get(
            "eigenvectors",
            lambda: reduce(np.kron, [U for _, U in self._factor_eigh])[:, self._spectrum_order[1]],
        )


def structured_matrices(kind: str, shape: int | Sequence[int]) -> StructuredMatrices:
    """Return the structured matrices of a path, cycle or grid.

    Parameters
    ----------
    kind : {"path", "cycle", "grid", "grid:periodic"} or LineageKind
        The lineage family (a key of :data:`graphprolong.lineages.LINEAGE_KINDS`).  ``"grid"`` is the box product of paths,
        ``"grid:periodic"`` of cycles (as :func:`~graphprolong.graphs.grid_graph`).
    shape : int or sequence of int
        Number of vertices (path, cycle) or the grid shape ``(n_1, ..., n_d)``.

    Examples
    --------
    >>> matrices = structured_matrices("grid", (64, 64))
    >>> matrices.n, matrices.name
    (4096, 'grid:64x64')
    >>> matrices.laplacian, matrices.distances
    (KroneckerSum(sizes=(64, 64)), BoxDistance(sizes=(64, 64)))
    """
    kind = lineage_kind(kind)
    sizes = kind.shape(shape)
    return StructuredMatrices(graph=None, name=kind.spec(sizes), n=math.prod(sizes), sizes=sizes, periodic=kind.periodic)
