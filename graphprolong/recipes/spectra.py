"""Spectral building blocks of the recipes: 1-D maps, distance spectra, matchings and the nearest exact minimiser.

See :mod:`graphprolong.recipes` for the mathematics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ..kronecker import KroneckerMap, stack_gram, stack_product
from ..matching import _lexicographic_first, matching_cost_matrix

# Eigenvalues within this fraction of the largest one are one class (or zero).
_CLASS_TOLERANCE = 1e-9


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
    """The orthonormal polar factor ``U V^T`` of ``matrix = U S V^T``: the nearest matrix with orthonormal columns."""
    return scipy.linalg.polar(matrix)[0]


def _matching(theta_small: np.ndarray, theta_large: np.ndarray, beta: float) -> tuple[np.ndarray, float]:
    """Rows matched to ``theta_small`` and the least cost ``sum (θ1/sqrt b - sqrt b θ2)^2`` (ascending spectra).

    The cost is a Monge array, so the optimum is an increasing matching, found
    exactly by the dynamic programme of :mod:`graphprolong.matching` with no
    tie slack (:func:`eigenvalue_matching`'s slack is relative to the largest
    eigenvalue squared, which for distance matrices, ~n^4, exceeds the whole
    optimal cost) and without its assignment-solver certificate, which is ~100x
    slower at n = 1024 and would dominate the scale search.
    """
    scaled = theta_small / beta
    rows = _zero_block_matching(scaled, theta_large)
    if rows is None:
        rows, _ = _lexicographic_first(matching_cost_matrix(scaled, theta_large), 0.0)
    return rows, beta * float(((theta_large[rows] - scaled) ** 2).sum())


def _zero_block(values: np.ndarray) -> tuple[int, int]:
    """``(start, count)`` of the exact zeros of an ascending array (contiguous)."""
    zeros = np.flatnonzero(values == 0.0)
    return (int(zeros[0]), zeros.size) if zeros.size else (0, 0)


def _zero_block_matching(small: np.ndarray, large: np.ndarray) -> np.ndarray | None:
    """The lexicographically first minimal increasing matching when both spectra have large null spaces.

    Grid distance matrices have ``n - O(sum n_a)`` exact zero eigenvalues.  The
    ``k`` zeros of ``small`` go to ``k`` consecutive zeros of ``large`` at no
    cost, so they are one item of the dynamic programme and ``k - 1`` of the
    ``m`` zeros of ``large`` are dropped: an ``(n2 - k + 1) x (n1 - k + 1)``
    problem instead of ``n2 x n1`` (8.6 GB at 128² -> 256²).  Matched rows after
    the zero item move back by ``k - 1``.  None when there is nothing to gain
    or the zero item does not land on a zero of ``large`` (then the full
    programme runs).
    """
    start_small, k = _zero_block(small)
    start_large, m = _zero_block(large)
    if k <= 1 or m < k:
        return None
    reduced_small = np.concatenate([small[:start_small], [0.0], small[start_small + k :]])
    reduced_large = np.concatenate([large[:start_large], np.zeros(m - k + 1), large[start_large + m :]])
    rows, _ = _lexicographic_first(matching_cost_matrix(reduced_small, reduced_large), 0.0)
    block = int(rows[start_small])
    if not start_large <= block <= start_large + m - k:
        return None
    rows = np.where(rows > block, rows + k - 1, rows)
    return np.concatenate([rows[:start_small], block + np.arange(k), rows[start_small + 1 :]])


class DegenerateScaleError(ValueError):
    """The self-consistent scale is undefined: the matching pairs every small eigenvalue with a zero of the large spectrum."""


def _settle_scale(u: float, matched: Callable[[float], np.ndarray], beta: float, *, iterations: int = 100) -> float:
    """Alternate ``matched(beta)`` (the large eigenvalues the optimal matching uses at beta) and
    ``beta = sqrt(u / sum matched^2)`` until they agree.

    At the fixed point ``U2 M U1^T`` is the exact minimiser for its beta and
    beta is optimal for it, so it is a critical point of the reduced objective.
    :class:`DegenerateScaleError` when ``matched(beta)`` is all zeros at some step.
    """
    seen = []
    for _ in range(iterations):
        matched_squares = float(np.sum(matched(beta) ** 2))
        if matched_squares == 0.0:
            raise DegenerateScaleError(
                "the self-consistent scale beta = sqrt(sum small^2 / sum matched^2) needs at least one matched nonzero "
                "eigenvalue of the large spectrum; every eigenvalue of the small spectrum (sum small^2 = "
                f"{u:.6g}) is matched to 0 at beta = {beta:.17g}"
            )
        updated = math.sqrt(u / matched_squares)
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
    """A symmetric matrix as ``vectors @ diag(values) @ vectors.T``; the other ``n - len(values)`` eigenvalues are 0.

    With ``basis`` (Kronecker maps whose stacked columns are orthonormal, see
    :func:`~graphprolong.kronecker.stack_product`) ``vectors`` are the eigenvectors'
    coordinates in it.
    """

    values: np.ndarray
    vectors: np.ndarray
    n: int
    basis: tuple[KroneckerMap, ...] = ()

    def full(self) -> tuple[np.ndarray, np.ndarray]:
        """All ``n`` eigenvalues ascending, and for each its column in ``vectors`` (-1: null space)."""
        values = np.concatenate([self.values, np.zeros(self.n - self.values.size)])
        labels = np.concatenate([np.arange(self.values.size), np.full(self.n - self.values.size, -1)])
        order = np.argsort(values, kind="stable")
        return values[order], labels[order]

    def dense_vectors(self) -> np.ndarray:
        """The eigenvectors, ``n x len(values)``."""
        return stack_product(self.basis, self.vectors) if self.basis else self.vectors

    def in_basis(self, basis: Sequence[KroneckerMap]) -> _Spectrum:
        """The same spectrum in the coordinates of another orthonormal Kronecker basis whose span holds this one's."""
        return _Spectrum(self.values, stack_gram(basis, self.basis) @ self.vectors, self.n, tuple(basis))


def _class_tolerance(values: np.ndarray) -> float:
    """How far apart eigenvalues of one class may be: the class tolerance relative to ``max(|values|, 1)``."""
    return _CLASS_TOLERANCE * max(float(np.max(np.abs(values))), 1.0)


def _without_null_space(values: np.ndarray, vectors: np.ndarray, n: int, basis: tuple[KroneckerMap, ...] = ()) -> _Spectrum:
    """The eigenpairs but those within the class tolerance (relative to the largest ``|value|``) of 0."""
    keep = np.abs(values) > _CLASS_TOLERANCE * np.max(np.abs(values))
    return _Spectrum(values[keep], vectors[:, keep], n, basis)


def _nonzero_spectrum(matrix: np.ndarray, n: int, basis: tuple[KroneckerMap, ...] = ()) -> _Spectrum:
    """The eigenpairs of symmetric ``matrix`` (in ``basis``, if given) but those within the class tolerance of 0."""
    return _without_null_space(*np.linalg.eigh(matrix), n, basis)


def _dense_spectrum(matrix: np.ndarray) -> _Spectrum:
    return _nonzero_spectrum(matrix, matrix.shape[0])


def _classes(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Class index of each sorted eigenvalue: the null space is class -1, equal nonzero values share one."""
    classes = np.cumsum(np.concatenate([[0], np.diff(values) > _class_tolerance(values)]))
    return np.where(labels < 0, -1, classes)


def _matched_classes(small: _Spectrum, large: _Spectrum, beta: float) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """The optimal matching of the two spectra by class of equal eigenvalues of ``T_large``.

    Per nonzero class reached: (the columns of ``small.vectors`` matched into it,
    its columns of ``large.vectors``); then the labels of the eigenvalues of
    ``T_small`` matched into the null space of ``T_large`` (-1: null space of ``T_small``).
    """
    theta_small, label_small = small.full()
    theta_large, label_large = large.full()
    rows, _ = _matching(theta_small, theta_large, beta)
    classes = _classes(theta_large, label_large)
    matched = []
    for value_class in np.unique(classes[rows]):
        columns = label_small[classes[rows] == value_class]
        if value_class < 0:
            continue
        if np.any(columns < 0):
            raise RuntimeError("a null-space vector of T_small was matched to a nonzero eigenvalue of T_large")
        matched.append((columns, label_large[classes == value_class]))
    return matched, label_small[classes[rows] == -1]


def _nearest_exact_minimiser(small: _Spectrum, large: _Spectrum, beta: float, reference: np.ndarray) -> np.ndarray:
    """The minimiser of ``|| P T1 / sqrt b - sqrt b T2 P ||^2`` (fixed ``b``) nearest to ``reference``.

    For each class of equal eigenvalues of ``T2`` reached by the matching, the
    columns matched into it get the Procrustes factor of ``reference`` there.
    """
    matched, columns = _matched_classes(small, large, beta)
    V1, V2 = small.dense_vectors(), large.dense_vectors()
    P = np.zeros((large.n, small.n))
    for columns_small, columns_large in matched:
        P += V2[:, columns_large] @ _polar(V2[:, columns_large].T @ reference @ V1[:, columns_small]) @ V1[:, columns_small].T
    if columns.size == 0:
        return P
    # Null space of T_large: project reference onto (null T_large) x span(columns), take its polar factor.
    chosen = V1[:, columns[columns >= 0]]
    projected = reference - (reference @ V1) @ V1.T + (reference @ chosen) @ chosen.T
    projected -= V2 @ (V2.T @ projected)
    left, singular, right = np.linalg.svd(projected, full_matrices=False)
    if singular[columns.size - 1] <= 1e-10 * singular[0]:
        raise RuntimeError(
            f"the reference is rank-deficient on the null spaces ({columns.size} directions needed); "
            "the nearest minimiser is not unique"
        )
    return P + left[:, : columns.size] @ right[: columns.size]


def _low_rank_nearest_minimiser(small: _Spectrum, large: _Spectrum, beta: float, reference) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_nearest_exact_minimiser` for an orthonormal ``reference`` ``R`` given as an operator
    (``R @ X``, ``R.T @ Y``), as ``P = R + X @ Y.T``.

    With ``V1``, ``V2`` the nonzero eigenvectors of ``T1``, ``T2``, the matched classes give
    ``V2c polar(V2c^T R V1c) V1c^T``; the null class is the polar factor of
    ``M = (I - V2 V2^T) R Q``, ``Q = I - V1 V1^T + C C^T`` (``C``: the columns of ``V1``
    matched into the null space of ``T2``).  As ``R^T R = I``, ``M^T M = Q - Z Z^T`` with
    ``Z = Q R^T V2``, so with ``Z = W S U^T`` the polar factor is
    ``M (Q + W D W^T)``, ``D = (1 - S^2)^(-1/2) - 1``, which expands to
    ``R Q + (R W - V2 Z^T W) D W^T - V2 Z^T``.  Everything but ``R`` has rank at most
    ``rank T1 + 2 rank T2``, and nothing ``n_large x n_small`` is formed.

    Any orthonormal coordinates serve: with ``V1``, ``V2`` the coordinates
    (``small.vectors``, ``large.vectors``) in bases ``U_R``, ``U_L`` with
    ``R U_R = U_L rho`` and ``R^T U_L = U_R rho^T``, ``reference = rho`` gives ``X``, ``Y``
    in those coordinates (:func:`~graphprolong.recipes.compact._compact_nearest_minimiser`).
    """
    matched, null_columns = _matched_classes(small, large, beta)
    V1, V2 = small.vectors, large.vectors
    RV1 = reference @ V1
    X1 = np.zeros((V2.shape[0], V1.shape[1]))
    for columns, columns_large in matched:
        V2c = V2[:, columns_large]
        X1[:, columns] += V2c @ _polar(V2c.T @ RV1[:, columns])
    if null_columns.size == 0:
        return X1 - RV1, V1  # P = V2 G V1^T only: R + (V2 G - R V1) V1^T, as V1 spans everything
    chosen = null_columns[null_columns >= 0]
    X1 -= RV1
    X1[:, chosen] += RV1[:, chosen]
    Z = reference.T @ V2
    Z = Z - V1 @ (V1.T @ Z) + V1[:, chosen] @ (V1[:, chosen].T @ Z)  # Q R^T V2
    W, singular, _ = np.linalg.svd(Z, full_matrices=False)
    if singular.size and singular[0] >= 1.0 - 1e-10:
        raise RuntimeError(
            f"the reference is rank-deficient on the null spaces ({null_columns.size} directions needed); "
            "the nearest minimiser is not unique"
        )
    D = 1.0 / np.sqrt((1.0 - singular) * (1.0 + singular)) - 1.0
    X2 = (reference @ W - V2 @ (Z.T @ W)) * D
    return np.hstack([X1, X2, -V2]), np.hstack([V1, W, Z])


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
