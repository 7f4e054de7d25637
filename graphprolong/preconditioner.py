"""A spectral preconditioner for the truncated CG of the torch trust regions.

Each term of the objective has the residual map ``L(V) = V X1 / sqrt(c) -
sqrt(c) X2 V`` (``X1`` of the small graph, ``X2`` of the large one, both
symmetric) and, with ``c`` frozen, the Euclidean Hessian
``H V = 2 L*(L V) = 2 (V X1^2 / c - 2 X2 V X1 + c X2^2 V)``.  In orthonormal
bases ``W1`` (small side) and ``W2`` (large side), with ``V = W2 Ṽ W1^T``,
the diagonal of ``H`` at entry ``(i, j)`` is::

    2 ( (W1^T X1^2 W1)_jj / c  -  2 (W2^T X2 W2)_ii (W1^T X1 W1)_jj  +  c (W2^T X2^2 W2)_ii )

When ``W1`` and ``W2`` are eigenbases of ``X1`` (eigenvalues ``θ_j``) and
``X2`` (``μ_i``), ``H`` *is* diagonal there, with entries
``2 (θ_j / sqrt(c) - sqrt(c) μ_i)^2``, and ``M^{-1} V = W2 ((W2^T V W1) / D) W1^T``
inverts it exactly.  The objective's terms have different matrices (Laplacians
and distance matrices, whose eigenbases differ; the distance matrix of a grid is
not even diagonal in any Kronecker basis), so:

* the bases are eigenbases of the *dominant* term's matrices (the one with the
  largest Hessian trace ``Σ_ij D_ij``, a basis-free quantity), per grid axis for
  structured grids (:mod:`graphprolong.operators`): ``W = W_1 ⊗ ... ⊗ W_d``,
  applied one small dense product per axis, never an ``n x n`` matrix;
* ``D`` is the sum over the terms (with their weights) of each term's diagonal
  in those bases -- the Jacobi preconditioner of ``H`` in a rotated basis,
  exact for the dominant term when its matrices are Kronecker sums;
* floored at :data:`FLOOR` times its largest entry, so ``M`` stays symmetric
  positive definite, and divided by that largest entry: a positive scale of
  ``M^{-1}`` leaves the truncated-CG iterates unchanged and only fixes the size
  of the trust region measured in the ``M``-norm (then never smaller than the
  Euclidean one).

The floor matters: grid distance matrices are low-rank, so most of ``D`` is
(near) zero and the curvature there comes from the Riemannian Hessian's
``-V sym(P^T G)`` part, which ``D`` does not see.  Measured (grid 8x8 ->
16x16, s = 1, beta = 1/4, to relative gradient 1e-10): floor 1e-2: 46 outer /
1843 inner iterations; 1e-3: 37 / 728; 1e-4: 194 / 7413; 1e-6: 580 outer, no
convergence (plain tCG: 47 / 4514).  Subtracting ``diag(W1^T sym(P^T G) W1)``
from ``D`` (the Jacobi part of ``-V S``) changed nothing measurable (37 / 728
against 39 / 750; grid 16x16 -> 32x32: the same gradient after 150 s), so it
is left out.

The diagonals ``(W^T X W)_ii`` and ``(W^T X^2 W)_ii`` do not depend on ``c``,
so ``D`` is rebuilt at every outer iteration for ``O(n_large n_small)``.
The result is made tangent by the Stiefel projection at ``P`` (as in
Riemannian preconditioned tCG); since that projection is self-adjoint, the
preconditioner is symmetric positive definite on the tangent space.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import reduce

import numpy as np
import scipy.sparse as sp

from .geometry import stiefel_project
from .operators import BoxDistance, KroneckerSum, StructuredOperator

__all__ = ["DENSE_EIGH_LIMIT", "FLOOR", "SpectralPreconditioner"]

#: Smallest entry of ``D``, as a fraction of its largest (keeps ``M`` positive definite; measured, module docstring).
FLOOR = 1e-3

#: Largest unstructured graph whose matrix gets a dense eigendecomposition.
DENSE_EIGH_LIMIT = 4096


def _kronecker_terms(matrix) -> list[list[np.ndarray]]:
    """``matrix`` as a sum of Kronecker products, one dense factor per axis (one axis when unstructured)."""
    if isinstance(matrix, KroneckerSum | BoxDistance):
        other = np.eye if isinstance(matrix, KroneckerSum) else (lambda size: np.ones((size, size)))
        sizes, factors = matrix.sizes, [np.asarray(f, dtype=float) for f in matrix.factors]
        return [[factor if i == axis else other(size) for i, size in enumerate(sizes)] for axis, factor in enumerate(factors)]
    if isinstance(matrix, StructuredOperator):
        raise TypeError(f"no Kronecker form for {type(matrix).__name__}; the spectral preconditioner knows KroneckerSum and BoxDistance")
    n = matrix.shape[0]
    if n > DENSE_EIGH_LIMIT:
        raise ValueError(
            f"the spectral preconditioner needs a dense eigendecomposition of graphs with n <= {DENSE_EIGH_LIMIT} "
            f"vertices unless they are structured grids (graphprolong.operators.structured_matrices); got n = {n}"
        )
    return [[matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix, dtype=float)]]


def _square(terms: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """The Kronecker terms of ``X^2``: ``(⊗ A_l)(⊗ B_l) = ⊗ A_l B_l`` for every pair of terms."""
    return [[a @ b for a, b in zip(left, right)] for left in terms for right in terms]


def _basis_diagonal(terms: list[list[np.ndarray]], bases: list[np.ndarray]) -> np.ndarray:
    """``diag(W^T X W)`` for ``X = Σ ⊗_l F_l`` and ``W = ⊗_l W_l``, in Kronecker order."""
    parts = [reduce(lambda a, b: np.multiply.outer(a, b).ravel(), [np.sum(W * (F @ W), axis=0) for F, W in zip(term, bases)]) for term in terms]
    return sum(parts[1:], parts[0])


def _apply_axes(factors, X):
    """``(⊗_l F_l) @ X`` for ``X`` of shape ``(Π n_l, k)``, one product per axis (numpy or torch)."""
    sizes = [int(F.shape[0]) for F in factors]
    n, k = X.shape
    for axis, F in enumerate(factors):
        pre, post = math.prod(sizes[:axis]), math.prod(sizes[axis + 1 :]) * k
        X = (F @ X.reshape(pre, sizes[axis], post)).reshape(n, k)
    return X


class SpectralPreconditioner:
    """``M^{-1}``: the inverse of the objective's Hessian diagonal in the spectral bases (module docstring).

    Parameters
    ----------
    objective : TorchObjective
        Its problem's matrices (numpy, dense, sparse or structured) give the bases.
    evaluation
        An evaluation of ``objective`` (its scale factors choose the dominant term).

    Examples
    --------
    >>> from graphprolong import ProlongationProblem, path_graph
    >>> from graphprolong.torch_backend import TorchObjective
    >>> objective = TorchObjective(ProlongationProblem(path_graph(4), path_graph(8), s=0.0, alpha=1.0), device="cpu")
    >>> P = objective.tensor(np.eye(8, 4))
    >>> precondition = SpectralPreconditioner(objective, objective.evaluate(P)).at(objective.evaluate(P))
    >>> tuple(precondition(objective.tensor(np.ones((8, 4)))).shape)
    (8, 4)
    """

    def __init__(self, objective, evaluation) -> None:
        problem = objective.problem
        terms = [(weight, [_kronecker_terms(m) for m in problem._matrices(name)]) for name, weight, _ in problem.active_terms()]
        self._diagonals, traces = [], []
        for (weight, (small, large)), c in zip(terms, evaluation.scales):
            self._diagonals.append((weight, small, large))
            traces.append(self._term_trace(weight, *self._plain_diagonals(small, large), c))
        _, small, large = self._diagonals[int(np.argmax(traces))]
        small_bases = [np.linalg.eigh(F)[1] for F in self._axis_factors(small)]
        large_bases = [np.linalg.eigh(F)[1] for F in self._axis_factors(large)]
        self._diagonals = [(w, *map(objective.tensor, self._basis_diagonals(s, l, small_bases, large_bases))) for w, s, l in self._diagonals]
        self._bases = {key: [objective.tensor(W.T.copy() if transpose else W) for W in bases]
                       for key, bases, transpose in (("small", small_bases, False), ("small_t", small_bases, True),
                                                     ("large", large_bases, False), ("large_t", large_bases, True))}

    @staticmethod
    def _axis_factors(terms: list[list[np.ndarray]]) -> list[np.ndarray]:
        # Term ``axis`` carries the graph's own factor on that axis (I or J elsewhere); one term: the whole matrix.
        return [term[axis] for axis, term in enumerate(terms)]

    @staticmethod
    def _plain_diagonals(small, large) -> tuple:
        """The vertex-basis diagonals (for the dominance test, which is basis-free)."""
        identity = lambda terms: [np.eye(F.shape[0]) for F in terms[0]]  # noqa: E731
        return SpectralPreconditioner._basis_diagonals(small, large, identity(small), identity(large))

    @staticmethod
    def _basis_diagonals(small, large, small_bases, large_bases) -> tuple:
        """``(diag X1, diag X1^2, diag X2, diag X2^2)`` in the bases."""
        return (_basis_diagonal(small, small_bases), _basis_diagonal(_square(small), small_bases),
                _basis_diagonal(large, large_bases), _basis_diagonal(_square(large), large_bases))

    @staticmethod
    def _term_diagonal(weight, x1, x1_squared, x2, x2_squared, c):
        """``2 w (x1²_j / c - 2 x2_i x1_j + c x2²_i)`` as an ``n_large x n_small`` array."""
        return 2.0 * weight * (x1_squared[None, :] / c - 2.0 * x2[:, None] * x1[None, :] + c * x2_squared[:, None])

    @staticmethod
    def _term_trace(weight, x1, x1_squared, x2, x2_squared, c) -> float:
        """``Σ_ij`` of :meth:`_term_diagonal`: the trace of the term's Hessian, the same in every basis."""
        n_large, n_small = len(x2), len(x1)
        return 2.0 * weight * float(n_large * x1_squared.sum() / c - 2.0 * x2.sum() * x1.sum() + c * n_small * x2_squared.sum())

    @staticmethod
    def _two_sided(left, right, V):
        # V @ R = (R^T @ V^T)^T, and (⊗ F_l)^T = ⊗ F_l^T.
        return _apply_axes([F.T for F in right], _apply_axes(left, V).T.contiguous()).T

    def spectral(self, V):
        """``W2^T V W1``: ``V`` (``n_large x n_small``) in the spectral bases."""
        return self._two_sided(self._bases["large_t"], self._bases["small"], V)

    def vertex(self, V):
        """``W2 V W1^T``: the inverse of :meth:`spectral`."""
        return self._two_sided(self._bases["large"], self._bases["small_t"], V)

    def diagonal(self, scales, *, floor: float | None = FLOOR):
        """``D`` (a tensor, ``n_large x n_small``) at the scale factors ``scales`` (one per active term).

        Floored at ``floor`` times its largest entry and divided by that entry;
        ``floor=None``: the raw sum of the terms' weighted diagonals.
        """
        D = sum(self._term_diagonal(weight, *parts, c) for (weight, *parts), c in zip(self._diagonals, scales))
        if floor is None:
            return D
        top = float(D.max())
        if not top > 0:
            raise ValueError(f"the Hessian diagonal must have a positive entry to build a preconditioner; got max D = {top!r}")
        return D.clamp(min=floor * top) / top

    def at(self, evaluation) -> Callable:
        """``V -> Proj_P(M^{-1} V)`` at ``evaluation`` (its ``P`` and scale factors)."""
        inverse_diagonal = 1.0 / self.diagonal(evaluation.scales)
        P = evaluation.P
        return lambda V: stiefel_project(P, self.vertex(self.spectral(V) * inverse_diagonal))
