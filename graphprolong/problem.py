"""The prolongation objective of Scott & Mjolsness (SPEC §2, seed 002 eq. 3.3).

For a small graph ``G1`` (``n1`` vertices) and a large graph ``G2`` (``n2``)
and ``P`` on the Stiefel manifold ``St(n2, n1)`` (``P^T P = I``)::

    E(P) = (1 - s) || P L1 / sqrt(a) - sqrt(a) L2 P ||_F^2      diffusion term
         +    s    || P T1 / sqrt(b) - sqrt(b) T2 P ||_F^2      locality term

Each term has the form ``f(P, c) = u/c - 2 k + c v`` with ``u = ||P X1||^2``,
``v = ||X2 P||^2`` and ``k = <P X1, X2 P>`` (``X`` symmetric).  For fixed ``P``
it is minimised by ``c* = sqrt(u / v)``, where it equals ``2 (sqrt(u v) - k)``
(evaluated as the residual norm, which keeps its accuracy near zero).
A scale factor passed as ``None`` is eliminated this way; by the envelope
theorem the gradient of the reduced term is the fixed-scale gradient at ``c*``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import networkx as nx
import numpy as np

from .checks import check_finite_array, check_positive, check_unit_interval
from .geometry import inner, stiefel_project
from .matrices import GraphMatrices, graph_matrices
from .operators import StructuredOperator, frobenius_norm_squared

__all__ = ["ObjectiveTerm", "ObjectiveTerms", "ProlongationProblem", "stiefel_project"]


@dataclass(frozen=True)
class ObjectiveTerms:
    """The value of ``E(P)`` and its parts at one ``P``.

    ``diffusion`` and ``locality`` are the unweighted squared norms; the
    objective is ``(1 - s) * diffusion + s * locality``.  A term whose weight is
    zero is not computed and reported as ``nan`` (with its scale factor).
    """

    objective: float
    diffusion: float
    locality: float
    alpha: float
    beta: float


@dataclass(frozen=True)
class ObjectiveTerm:
    """One term ``|| P X1 / sqrt(c) - sqrt(c) X2 P ||^2`` with a fixed ``c`` or the optimal ``c* = sqrt(u / v)``.

    The one definition of the objective's terms: :class:`ProlongationProblem`
    evaluates it on numpy arrays, :mod:`graphprolong.torch_backend` on torch
    tensors (with ``small`` and ``large`` moved to the device).  Only ``@``,
    ``*``, ``/`` and :func:`~graphprolong.geometry.inner` are used.

    Attributes
    ----------
    small : matrix-like
        ``X1`` (symmetric ``n1 x n1``), applied from the right: ``P @ small``.
    large : matrix-like
        ``X2`` (symmetric ``n2 x n2``), applied from the left: ``large @ P``.
    scale : float or None
        The fixed ``c``, or None for the optimal one at every ``P``.
    """

    small: object
    large: object
    scale: float | None

    def scale_at(self, P) -> float:
        """``c`` at ``P``: the fixed one, or ``sqrt(||P X1||^2 / ||X2 P||^2)``."""
        if self.scale is not None:
            return self.scale
        A, B = P @ self.small, self.large @ P
        return math.sqrt(inner(A, A) / inner(B, B))

    def image(self, V, c: float):
        """The residual map ``V -> V X1 / sqrt(c) - sqrt(c) X2 V``."""
        root = math.sqrt(c)
        return V @ self.small / root - root * (self.large @ V)

    def adjoint(self, R, c: float, factor: float = 2.0):
        """``factor * (R X1 / sqrt(c) - sqrt(c) X2 R)``: the adjoint of :meth:`image` (symmetric ``X``), scaled."""
        root = math.sqrt(c)
        return (factor / root) * (R @ self.small) - (factor * root) * (self.large @ R)

    def residual(self, P) -> tuple[object, float]:
        """``(R, c)``: ``c`` at ``P`` and the residual ``R = P X1 / sqrt(c) - sqrt(c) X2 P``.

        The residual form keeps full relative accuracy near zero, where
        ``u/c - 2k + cv`` (equal in exact arithmetic) would cancel.
        """
        c = self.scale_at(P)
        return self.image(P, c), c

    def value(self, P) -> tuple[float, float]:
        """``(||R||^2, c)`` at ``P``."""
        R, c = self.residual(P)
        return inner(R, R), c

    def gradient(self, P):
        """Euclidean gradient ``2 (R X1 / sqrt(c) - sqrt(c) X2 R)`` (also the reduced term's, by the envelope theorem)."""
        R, c = self.residual(P)
        return self.adjoint(R, c)

    def hessian(self, P, c: float):
        """``V -> `` the Euclidean Hessian at ``P`` (with its ``c``) applied to ``V``.

        ``2 L*(L V)`` with ``L`` the residual map, plus, for an optimised
        ``c* = sqrt(u/v)``, the change of ``c*`` with ``P``:
        ``2 (X2 B - A X1 / c^2) dc`` with ``A = P X1``, ``B = X2 P``,
        ``dc = (du - c^2 dv) / (2 c v)``, ``du = 2 <A X1, V>``, ``dv = 2 <X2 B, V>``.
        """
        if self.scale is not None:
            return lambda V: self.adjoint(self.image(V, c), c)
        B = self.large @ P
        AX1, X2B, v = (P @ self.small) @ self.small, self.large @ B, inner(B, B)
        del B

        def apply(V):
            dc = (2.0 * inner(AX1, V) - c * c * 2.0 * inner(X2B, V)) / (2.0 * c * v)
            return self.adjoint(self.image(V, c), c) + (2.0 * dc) * (X2B - AX1 / (c * c))

        return apply


class ProlongationProblem:
    """Minimise ``E(P)`` over orthonormal ``P`` (``n_large x n_small``).

    Parameters
    ----------
    G_small, G_large : networkx.Graph or GraphMatrices
        Connected undirected graphs with ``n_small <= n_large`` vertices; for
        large grids, :func:`~graphprolong.operators.structured_matrices`
        (Kronecker operators instead of dense or sparse matrices).
    s : float
        Weight in [0, 1] of the locality term (0: pure diffusion, 1: pure locality).
    alpha, beta : float or None
        Positive scale factors of the diffusion and locality terms, or None to
        optimise them in closed form for every ``P`` (the default).

    Notes
    -----
    When ``G_small`` has a single vertex its Laplacian and distance matrix are
    zero and an optimised scale factor degenerates to 0; it is then fixed to 1,
    with a warning.

    Examples
    --------
    >>> from graphprolong import ProlongationProblem, path_graph
    >>> problem = ProlongationProblem(path_graph(4), path_graph(8), s=0.5)
    >>> problem.shape
    (8, 4)
    """

    def __init__(
        self,
        G_small: nx.Graph | GraphMatrices,
        G_large: nx.Graph | GraphMatrices,
        *,
        s: float,
        alpha: float | None = None,
        beta: float | None = None,
    ) -> None:
        self.small = graph_matrices(G_small)
        self.large = graph_matrices(G_large)
        if self.large.n < self.small.n:
            raise ValueError(
                "the large graph must have at least as many vertices as the small one (n_large >= n_small); "
                f"got n_small = {self.small.n}, n_large = {self.large.n}"
            )
        self.s = check_unit_interval("s", s)
        self.alpha = None if alpha is None else check_positive("alpha", alpha)
        self.beta = None if beta is None else check_positive("beta", beta)
        if self.small.n == 1:
            for name in ("alpha", "beta"):
                if getattr(self, name) is None:
                    warnings.warn(
                        f"the small graph has one vertex, so the optimal {name} degenerates to 0; using {name} = 1",
                        stacklevel=2,
                    )
                    setattr(self, name, 1.0)
        self._terms: dict[str, ObjectiveTerm] = {}

    def __repr__(self) -> str:
        return (
            f"ProlongationProblem({self.small.name!r} -> {self.large.name!r}, s={self.s:g}, "
            f"alpha={'optimal' if self.alpha is None else self.alpha}, beta={'optimal' if self.beta is None else self.beta})"
        )

    @property
    def shape(self) -> tuple[int, int]:
        """Shape ``(n_large, n_small)`` of ``P``."""
        return self.large.n, self.small.n

    @property
    def weights(self) -> tuple[float, float]:
        """Weights ``(1 - s, s)`` of the diffusion and locality terms."""
        return 1.0 - self.s, self.s

    @property
    def reference_scales(self) -> tuple[float, float]:
        """The seed's empirical best scale factors for paths and grids: ``(1, n_small / n_large)``."""
        return 1.0, self.small.n / self.large.n

    @property
    def gradient_scale(self) -> float:
        """Natural size of ``E`` and its gradient: ``(1-s) ||L2||_F^2 + s (n1/n2) ||T2||_F^2``.

        The solver's ``tolerance`` is relative to it, so that stopping does not
        depend on how the graphs are scaled or on the starting point.
        """
        diffusion_weight, locality_weight = self.weights
        scale = 0.0
        if diffusion_weight > 0:
            scale += diffusion_weight * frobenius_norm_squared(self.large.laplacian)
        if locality_weight > 0:
            scale += locality_weight * self.reference_scales[1] * frobenius_norm_squared(self.large.distances)
        return scale

    def _small_laplacian(self):
        # A structured (Kronecker) Laplacian is applied as is; a sparse one is made dense (small graph).
        laplacian = self.small.laplacian
        return laplacian if isinstance(laplacian, StructuredOperator) else self.small.laplacian_dense

    def _matrices(self, name: str) -> tuple[object, object]:
        if name == "diffusion":
            return self._small_laplacian(), self.large.laplacian
        return self.small.distances, self.large.distances

    def active_terms(self, convert: Callable | None = None) -> Iterator[tuple[str, float, ObjectiveTerm]]:
        """``(name, weight, term)`` for every term with a positive weight, diffusion first.

        ``convert`` maps each matrix (dense, scipy sparse or structured) to the
        form a backend applies (e.g. torch tensors on a device); by default the
        numpy terms are returned, built once and kept.
        """
        scales = {"diffusion": self.alpha, "locality": self.beta}
        for name, weight in zip(("diffusion", "locality"), self.weights):
            if weight <= 0.0:
                continue
            if convert is not None:
                small, large = self._matrices(name)
                yield name, weight, ObjectiveTerm(convert(small), convert(large), scales[name])
                continue
            if name not in self._terms:
                self._terms[name] = ObjectiveTerm(*self._matrices(name), scales[name])
            yield name, weight, self._terms[name]

    def _check_point(self, P: np.ndarray) -> np.ndarray:
        P = check_finite_array("P", P)
        if P.shape != self.shape:
            raise ValueError(f"P must have shape (n_large, n_small) = {self.shape}; got shape {P.shape}")
        return P

    def terms(self, P: np.ndarray) -> ObjectiveTerms:
        """Return the objective, both unweighted terms and the scale factors at ``P``."""
        P = self._check_point(P)
        values = {"diffusion": (np.nan, np.nan), "locality": (np.nan, np.nan)}
        for name, _, term in self.active_terms():
            values[name] = term.value(P)
        objective = sum(weight * values[name][0] for name, weight, _ in self.active_terms())
        return ObjectiveTerms(
            objective=float(objective),
            diffusion=values["diffusion"][0],
            locality=values["locality"][0],
            alpha=values["diffusion"][1],
            beta=values["locality"][1],
        )

    def objective(self, P: np.ndarray) -> float:
        """Return ``E(P)`` (scale factors eliminated where not fixed)."""
        return sum(weight * term.value(P)[0] for _, weight, term in self.active_terms())

    def euclidean_gradient(self, P: np.ndarray) -> np.ndarray:
        """Return the Euclidean gradient of ``E`` at ``P`` (analytic)."""
        gradient = np.zeros(self.shape)
        for _, weight, term in self.active_terms():
            gradient += weight * term.gradient(P)
        return gradient

    def riemannian_gradient(self, P: np.ndarray) -> np.ndarray:
        """Return the Riemannian gradient on ``St(n_large, n_small)`` (embedded metric)."""
        return stiefel_project(P, self.euclidean_gradient(P))

    def euclidean_hessian(self, P: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Return the Euclidean Hessian of ``E`` at ``P`` applied to the direction ``V``."""
        result = np.zeros(self.shape)
        for _, weight, term in self.active_terms():
            result += weight * term.hessian(P, term.scale_at(P))(V)
        return result

    def optimal_scales(self, P: np.ndarray) -> tuple[float, float]:
        """Return the closed-form optimal ``(alpha, beta) = (sqrt(u/v), ...)`` at ``P``.

        Both are computed whatever ``s`` is and whether or not the problem fixes them.
        """
        P = self._check_point(P)
        scales = []
        for name in ("diffusion", "locality"):
            small, large = self._matrices(name)
            A, B = P @ small, large @ P
            v = inner(B, B)
            scales.append(math.sqrt(inner(A, A) / v) if v > 0 else float("nan"))
        return scales[0], scales[1]
