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

import warnings
from dataclasses import dataclass

import networkx as nx
import numpy as np

from .checks import check_finite_array, check_positive, check_unit_interval
from .matrices import GraphMatrices, graph_matrices
from .operators import StructuredOperator, frobenius_norm_squared

__all__ = ["ObjectiveTerms", "ProlongationProblem", "stiefel_project"]


def _sym(matrix: np.ndarray) -> np.ndarray:
    return 0.5 * (matrix + matrix.T)


def stiefel_project(P: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Project ``G`` onto the tangent space of the Stiefel manifold at ``P``: ``G - P sym(P^T G)``."""
    return G - P @ _sym(P.T @ G)


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
class _Term:
    """One term ``|| P X1 / sqrt(c) - sqrt(c) X2 P ||^2`` with fixed or optimal ``c``."""

    small: object  # X1, symmetric n1 x n1: dense ndarray or StructuredOperator
    large: object  # X2, symmetric n2 x n2: dense ndarray, scipy sparse or StructuredOperator
    scale: float | None

    def products(self, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return P @ self.small, np.asarray(self.large @ P)

    def scale_at(self, A: np.ndarray, B: np.ndarray) -> float:
        if self.scale is not None:
            return self.scale
        u, v = np.vdot(A, A), np.vdot(B, B)
        return float(np.sqrt(u / v))

    def value(self, P: np.ndarray) -> tuple[float, float]:
        A, B = self.products(P)
        c = self.scale_at(A, B)
        # The residual form keeps full relative accuracy near zero, where
        # u/c - 2k + cv (equal in exact arithmetic) would cancel.
        residual = A / np.sqrt(c) - np.sqrt(c) * B
        return float(np.vdot(residual, residual)), c

    def _gradient(self, A: np.ndarray, B: np.ndarray, c: float) -> np.ndarray:
        # d/dP of u/c - 2k + c v for symmetric X1, X2.
        return 2.0 * (A @ self.small / c - B @ self.small - np.asarray(self.large @ A) + c * np.asarray(self.large @ B))

    def gradient(self, P: np.ndarray) -> np.ndarray:
        A, B = self.products(P)
        return self._gradient(A, B, self.scale_at(A, B))

    def hessian(self, P: np.ndarray, V: np.ndarray) -> np.ndarray:
        A, B = self.products(P)
        c = self.scale_at(A, B)
        dA, dB = self.products(V)
        result = self._gradient(dA, dB, c)
        if self.scale is None:
            # c* = sqrt(u / v) moves with P: add (d grad / dc) * dc.
            u, v = np.vdot(A, A), np.vdot(B, B)
            du, dv = 2.0 * np.vdot(A, dA), 2.0 * np.vdot(B, dB)
            dc = (du - c * c * dv) / (2.0 * c * v)
            result = result + 2.0 * (np.asarray(self.large @ B) - A @ self.small / c**2) * dc
        return result


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
        self._terms: dict[str, _Term] = {}

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

    def _term(self, name: str) -> _Term:
        if name not in self._terms:
            if name == "diffusion":
                self._terms[name] = _Term(self._small_laplacian(), self.large.laplacian, self.alpha)
            else:
                self._terms[name] = _Term(self.small.distances, self.large.distances, self.beta)
        return self._terms[name]

    def _active(self):
        for name, weight in zip(("diffusion", "locality"), self.weights):
            if weight > 0.0:
                yield name, weight, self._term(name)

    def _check_point(self, P: np.ndarray) -> np.ndarray:
        P = check_finite_array("P", P)
        if P.shape != self.shape:
            raise ValueError(f"P must have shape (n_large, n_small) = {self.shape}; got shape {P.shape}")
        return P

    def terms(self, P: np.ndarray) -> ObjectiveTerms:
        """Return the objective, both unweighted terms and the scale factors at ``P``."""
        P = self._check_point(P)
        values = {"diffusion": (np.nan, np.nan), "locality": (np.nan, np.nan)}
        for name, _, term in self._active():
            values[name] = term.value(P)
        objective = sum(weight * values[name][0] for name, weight, _ in self._active())
        return ObjectiveTerms(
            objective=float(objective),
            diffusion=values["diffusion"][0],
            locality=values["locality"][0],
            alpha=values["diffusion"][1],
            beta=values["locality"][1],
        )

    def objective(self, P: np.ndarray) -> float:
        """Return ``E(P)`` (scale factors eliminated where not fixed)."""
        return sum(weight * term.value(P)[0] for _, weight, term in self._active())

    def euclidean_gradient(self, P: np.ndarray) -> np.ndarray:
        """Return the Euclidean gradient of ``E`` at ``P`` (analytic)."""
        gradient = np.zeros(self.shape)
        for _, weight, term in self._active():
            gradient += weight * term.gradient(P)
        return gradient

    def riemannian_gradient(self, P: np.ndarray) -> np.ndarray:
        """Return the Riemannian gradient on ``St(n_large, n_small)`` (embedded metric)."""
        return stiefel_project(P, self.euclidean_gradient(P))

    def euclidean_hessian(self, P: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Return the Euclidean Hessian of ``E`` at ``P`` applied to the direction ``V``."""
        result = np.zeros(self.shape)
        for _, weight, term in self._active():
            result += weight * term.hessian(P, V)
        return result

    def optimal_scales(self, P: np.ndarray) -> tuple[float, float]:
        """Return the closed-form optimal ``(alpha, beta) = (sqrt(u/v), ...)`` at ``P``.

        Both are computed whatever ``s`` is and whether or not the problem fixes them.
        """
        P = self._check_point(P)
        scales = []
        for small, large in (
            (self._small_laplacian(), self.large.laplacian),
            (self.small.distances, self.large.distances),
        ):
            A, B = _Term(small, large, None).products(P)
            v = np.vdot(B, B)
            scales.append(float(np.sqrt(np.vdot(A, A) / v)) if v > 0 else float("nan"))
        return scales[0], scales[1]
