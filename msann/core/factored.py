"""Unit operators in factored form: ``P = F_1 ⊗ ... ⊗ F_d`` on torch tensors, never an ``N x n`` matrix.

The maps of a layer whose units form a grid (an image's pixels, the data
layers of the coarse-data hierarchies, :func:`msann.coarsening.graph.shape_map`)
are Kronecker products of per-axis 1D maps and identities, in the Kronecker
(C, row-major) order of :mod:`graphprolong`.  A 256x256 -> 256x128 map is a
256 x 128 factor and an identity (128 KB) instead of a 65536 x 32768 matrix
(8.6 GB in float32).  :class:`KroneckerOperator` holds the factors as torch
tensors on the parameters' device and dtype and applies the product factor
by factor (``P @ X`` for ``X`` of shape ``n x k``, as
:func:`msann.core.layers.along` does), skipping identity factors; it costs
``O(k sum_a N_1..N_a n_a..n_d)`` operations.  The operations are plain torch
products, so gradients flow through them to the tensor they are applied to
(the factors themselves are constants).

A :class:`~msann.core.transfer.UnitTransfer` holds one as ``P`` and ``pi``
(:func:`~msann.core.transfer.transfer_from_prolongation` builds and checks
the pair, ``pi_a F_a = I`` per factor); :func:`use_factored` is the one rule
for when a Kronecker map is kept factored: it has at least two factors and
:data:`FACTORED_MIN_ENTRIES` entries.  Below that, maps stay dense, so the
transfers of every smaller layer are bit for bit what they were.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from graphprolong.kronecker import KroneckerMap

__all__ = ["FACTORED_MIN_ENTRIES", "KroneckerOperator", "as_matrix", "use_factored"]

#: A Kronecker map of at least this many entries ``N n`` (16 MB in float32) is kept factored.  Smaller ones are
#: applied dense, as before: the largest data map of a recipe (Poisson 2x32x32 -> 2x32x16, 2^21 entries) is below it.
FACTORED_MIN_ENTRIES = 2**22


def _is_identity(factor: torch.Tensor) -> bool:
    rows, columns = factor.shape
    return rows == columns and bool(torch.equal(factor, torch.eye(rows, dtype=factor.dtype, device=factor.device)))


class KroneckerOperator(KroneckerMap):
    """``F_1 ⊗ ... ⊗ F_d`` with torch factors ``F_a`` (``N_a x n_a``): ``P @ X``, ``P.T``, ``.to``, :meth:`dense`.

    A :class:`graphprolong.kronecker.KroneckerMap` (``rows``, ``columns``,
    ``shape``, ``X @ P``) whose factors are checked torch tensors, applied
    without its identity factors (:attr:`identity`).

    Parameters
    ----------
    factors : sequence of torch.Tensor
        Floating-point matrices of one dtype and device, in Kronecker order.

    Raises
    ------
    TypeError, ValueError
        When ``factors`` is not a non-empty sequence of 2D floating-point
        tensors of one dtype and device.

    Examples
    --------
    >>> P = KroneckerOperator((torch.eye(2, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64)))
    >>> P.shape, P.identity, bool(torch.equal(P @ torch.eye(2, dtype=torch.float64), P.dense()))
    ((4, 2), (True, False), True)
    """

    def __init__(self, factors) -> None:
        if isinstance(factors, torch.Tensor) or not isinstance(factors, (tuple, list)) or not factors:
            raise TypeError(f"factors must be a non-empty sequence of matrices (one per axis); got {type(factors).__name__}")
        for axis, factor in enumerate(factors):
            if not isinstance(factor, torch.Tensor) or factor.ndim != 2 or not factor.is_floating_point() or 0 in factor.shape:
                described = f"{type(factor).__name__} of shape {tuple(getattr(factor, 'shape', ()))}"
                raise ValueError(f"factor {axis} must be a non-empty 2D floating-point torch.Tensor; got {described}")
            if (factor.dtype, factor.device) != (factors[0].dtype, factors[0].device):
                raise ValueError(f"every factor must have factor 0's dtype and device ({factors[0].dtype}, {factors[0].device}); "
                                 f"factor {axis} has ({factor.dtype}, {factor.device})")
        self.factors = tuple(factors)
        #: Per factor, whether it is an identity (skipped when applied).
        self.identity = tuple(_is_identity(factor) for factor in self.factors)

    @classmethod
    def _from_trusted(cls, factors) -> KroneckerOperator:  # what KroneckerMap.map_factors builds: checked here too
        return cls(tuple(factors))

    @classmethod
    def from_map(cls, P: KroneckerMap, *, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> KroneckerOperator:
        """The operator of a :class:`graphprolong.kronecker.KroneckerMap` (or of another operator) in ``dtype`` on ``device``."""
        if isinstance(P, KroneckerOperator):
            return P.to(dtype=dtype, device=device)
        if not isinstance(P, KroneckerMap):
            raise TypeError(f"P must be a graphprolong KroneckerMap or a KroneckerOperator; got {type(P).__name__}")
        return cls(tuple(torch.as_tensor(np.array(factor), dtype=dtype, device=device) for factor in P.factors))

    dtype = property(lambda self: self.factors[0].dtype, doc="The factors' dtype.")
    device = property(lambda self: self.factors[0].device, doc="The factors' device.")

    @functools.cached_property
    def T(self) -> KroneckerOperator:
        """``F_1^T ⊗ ... ⊗ F_d^T`` (made once)."""
        return KroneckerOperator(tuple(factor.T for factor in self.factors))

    def to(self, *args, **kwargs) -> KroneckerOperator:
        """The operator with its factors moved as ``torch.Tensor.to(*args, **kwargs)`` moves them (itself when they stay)."""
        moved = tuple(factor.to(*args, **kwargs) for factor in self.factors)
        return self if all(new is old for new, old in zip(moved, self.factors)) else KroneckerOperator(moved)

    def with_identity(self, block: int) -> KroneckerOperator:
        """``P ⊗ I_block``: ``block`` consecutive features per unit."""
        return KroneckerOperator((*self.factors, torch.eye(block, dtype=self.dtype, device=self.device)))

    def dense(self) -> torch.Tensor:
        """The ``N x n`` product (``torch.kron`` left to right); for tests and small maps only."""
        return functools.reduce(torch.kron, (factor.contiguous() for factor in self.factors))

    def matmul(self, X: torch.Tensor) -> torch.Tensor:
        """``P @ X`` for ``X`` of shape ``(n, k)``: each non-identity factor along its axis of ``X`` seen as ``(n_1, ..., n_d, k)``."""
        if X.ndim != 2 or X.shape[0] != self.shape[1]:
            raise ValueError(f"P @ X needs X of shape (n, k) with n = {self.shape[1]}; got shape {tuple(X.shape)}")
        grid = X.reshape(*self.columns, X.shape[1])
        for axis, (factor, identity) in enumerate(zip(self.factors, self.identity)):
            if not identity:
                grid = torch.tensordot(factor, grid, dims=([1], [axis])).movedim(0, axis)
        return grid.reshape(self.shape[0], X.shape[1])

    def __repr__(self) -> str:
        return f"KroneckerOperator(rows={self.rows}, columns={self.columns}, {self.dtype})"


def as_matrix(P):
    """``P`` as a dense matrix: a Kronecker map multiplied out (a new array or tensor), anything else as it is."""
    if isinstance(P, KroneckerOperator):
        return P.dense()
    return np.array(P.dense()) if isinstance(P, KroneckerMap) else P  # a one-factor map's dense() is its factor itself


def use_factored(P: object, *, factored: bool | None = None) -> bool:
    """Whether ``P`` is kept as a :class:`KroneckerOperator` (``factored`` None: the size rule of the module docstring).

    Only a Kronecker map (a :class:`graphprolong.kronecker.KroneckerMap` or a
    :class:`KroneckerOperator`) can be; ``factored=True`` asks for it
    whatever its size, ``False`` for the dense matrix.

    Raises
    ------
    TypeError
        When ``factored`` is True and ``P`` is not a Kronecker map.
    """
    kronecker = isinstance(P, KroneckerMap)  # a KroneckerOperator is one
    if factored and not kronecker:
        raise TypeError(f"factored = True needs a Kronecker map (a graphprolong KroneckerMap or a KroneckerOperator); "
                        f"got {type(P).__name__}")
    if factored is not None:
        return bool(factored)
    return kronecker and len(P.factors) > 1 and math.prod(P.shape) >= FACTORED_MIN_ENTRIES
