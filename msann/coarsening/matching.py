"""Heavy-edge matching of a layer's units, and the operators of a matching (seed 000 §5, §7; SPEC §4).

Matching
    :func:`heavy_edge_matching` pairs the units of one layer greedily by the
    cosine similarity ``S_ij`` of their incoming weight rows (seed 000,
    Algorithm 1): units are visited in turn, and an unmatched unit ``i`` is
    paired with the unmatched ``j != i`` of largest ``S_ij``, provided
    ``S_ij >= theta``; otherwise ``i`` stays a singleton.  The result is an
    involution ``mate`` (``mate[mate[i]] = i``; ``mate[i] = i`` for a
    singleton) and the aggregates (pairs and singletons).

Operators of one layer of ``n`` units and ``n_c`` aggregates
    ``P`` (``n x n_c``): ``P[i, a] = 1`` if unit ``i`` lies in aggregate ``a``
    (piecewise-constant copy); ``pi`` (``n_c x n``): ``pi[a, i] = 1 / |a|``
    (pairwise average).  ``pi P = I``.

    Scaled variant (seed 000 eq. 34): with ``D = diag(d)``, ``d_i`` the norm
    of unit ``i``'s incoming weight row, ``P~ = D P`` and
    ``pi~ = (P^T D P)^{-1} P^T``, i.e. ``P~[i, a] = d_i`` and
    ``pi~[a, i] = 1 / sum_{l in a} d_l``.  It is right as written,
    ``pi~ P~ = (P^T D P)^{-1} (P^T D P) = I``, because ``P^T D P =
    diag(sum_{l in a} d_l)`` is diagonal and invertible.  Two positively
    parallel rows ``w_j = c w_i`` are reproduced exactly by ``P~ pi~`` (the
    coarse row is the common direction ``w_i / |w_i|``).  A row of norm 0
    gets ``d_i = 1`` so that every aggregate has a positive scale.

    Norm-weighted variant (LLNL/MTNN, ``PairwiseOpsBuilder(weighted_projection=True)``
    in ``MTNN/components/transfer_ops_builder.py``): ``d_i`` is the norm of
    unit ``i``'s incoming weights *and bias* ``[w_i, b_i]``, ``pi`` sums an
    aggregate (``pi[a, i] = 1``, MTNN's ``R``) and ``P`` splits a coarse unit
    by the norms, ``P[i, a] = d_i / sum_{l in a} d_l`` (MTNN's
    ``P = D R^T (R D R^T)^{-1}``).  So ``pi P = (P_0^T D P_0) (P_0^T D P_0)^{-1}
    = I`` with ``P_0`` the 0/1 copy.  It is the scaled variant with every coarse
    unit rescaled by ``s_a = sum_{l in a} d_l`` (``pi = diag(s) pi~``,
    ``P = P~ diag(s)^{-1}``): the same coarse *function*, other coarse
    *coordinates* -- and SGD on the coarse level is not invariant to that.
    In ``Pi`` (``W_c = pi W P``) a coarse row is the sum of its units' rows
    and a coarse column the norm-weighted average of their columns.

:data:`PROJECTIONS` holds the three by name, one signature
``projection(matching, weights, bias) -> UnitTransfer``.

Matching runs on the CPU in float64 (``O(n^2)``); the operators are dense
tensors in the dtype and on the device of the layer's weights (the networks
of seed 000 have at most a few hundred units per layer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from graphprolong.checks import check_choice, check_real

from ..core.transfer import UnitTransfer

__all__ = [
    "PROJECTIONS",
    "SIMILARITY_TOLERANCE",
    "VISIT_ORDERS",
    "Matching",
    "check_threshold",
    "cosine_similarity",
    "heavy_edge_matching",
    "norm_weighted_transfer",
    "piecewise_constant_transfer",
    "scaled_transfer",
]

#: Slack below ``theta`` still accepted, so that exactly parallel rows (cosine 1
#: up to rounding) are paired at ``theta = 1``.
SIMILARITY_TOLERANCE = 1e-12

def _visit_natural(similarity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.arange(similarity.shape[0])


def _visit_random(similarity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(similarity.shape[0])


def _visit_heaviest(similarity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = similarity.shape[0]
    if n < 2:
        return np.arange(n)
    off_diagonal = similarity.copy()
    np.fill_diagonal(off_diagonal, -np.inf)
    return np.argsort(-off_diagonal.max(axis=1), kind="stable")


#: Orders in which :func:`heavy_edge_matching` visits the units:
#: ``(similarity, rng) -> permutation``.
#:
#: ``"natural"``  0, 1, ..., n-1: seed 000 Algorithm 1 as printed.
#: ``"random"``   a permutation drawn from ``rng``.
#: ``"heaviest"`` by decreasing strongest similarity ``max_{j != i} S_ij``
#:                (ties by index).  The default: the unit with the heaviest
#:                edge is matched first, so a pair of units that are each
#:                other's unique best partner (e.g. duplicated rows) is
#:                always matched together; the other orders can let an
#:                earlier unit take one of them.
VISIT_ORDERS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "heaviest": _visit_heaviest,
    "natural": _visit_natural,
    "random": _visit_random,
}


@dataclass(frozen=True, eq=False)
class Matching:
    """A pairing of a layer's units.

    Attributes
    ----------
    mate : torch.Tensor
        int64, shape ``(n,)``, on the CPU: an involution, ``mate[i]`` is the
        unit paired with ``i`` (``i`` itself for a singleton).
    aggregates : tuple of tuple of int
        The coarse units, ordered by their smallest member; a pair is
        ``(i, mate[i])`` with ``i < mate[i]``, a singleton ``(i,)``.
    """

    mate: torch.Tensor
    aggregates: tuple[tuple[int, ...], ...]

    @classmethod
    def from_mate(cls, mate: Sequence[int] | np.ndarray | torch.Tensor) -> Matching:
        """The matching of an involution ``mate`` (validated)."""
        values = torch.as_tensor(mate).detach().cpu()
        if values.ndim != 1 or values.numel() == 0 or values.is_floating_point() or values.is_complex():
            raise ValueError(f"mate must be a non-empty 1-D integer array; got dtype {values.dtype}, shape {tuple(values.shape)}")
        values = values.to(torch.int64)
        n = values.numel()
        if int(values.min()) < 0 or int(values.max()) >= n:
            raise ValueError(f"mate entries must lie in [0, {n - 1}]; got range [{int(values.min())}, {int(values.max())}]")
        broken = torch.nonzero(values[values] != torch.arange(n)).flatten()
        if broken.numel():
            i = int(broken[0])
            raise ValueError(f"mate must be an involution (mate[mate[i]] = i); fails at i = {i}: mate[{i}] = {int(values[i])}, mate[{int(values[i])}] = {int(values[values[i]])}")
        aggregates = tuple((i,) if int(values[i]) == i else (i, int(values[i])) for i in range(n) if int(values[i]) >= i)
        return cls(mate=values, aggregates=aggregates)

    @property
    def n_fine(self) -> int:
        """Number of units ``n``."""
        return int(self.mate.numel())

    @property
    def n_coarse(self) -> int:
        """Number of aggregates ``n_c`` (``n`` minus the number of pairs)."""
        return len(self.aggregates)

    @property
    def pairs(self) -> tuple[tuple[int, int], ...]:
        """The aggregates of two units."""
        return tuple(a for a in self.aggregates if len(a) == 2)

    @property
    def aggregate_of(self) -> torch.Tensor:
        """int64 ``(n,)``: the aggregate of every unit (``zeta`` of Algorithm 1)."""
        index = torch.empty(self.n_fine, dtype=torch.int64)
        for a, members in enumerate(self.aggregates):
            index[list(members)] = a
        return index

    def __repr__(self) -> str:
        return f"Matching(n_fine={self.n_fine}, n_coarse={self.n_coarse}, pairs={len(self.pairs)})"


def _unit_rows(weights: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``weights`` as a finite ``(n, fan_in)`` tensor (trailing axes flattened)."""
    values = torch.as_tensor(weights).detach()
    if values.ndim < 2 or values.shape[0] < 1 or math.prod(values.shape[1:]) < 1:
        raise ValueError(
            "weights must have shape (n_units, fan_in) or (out_channels, in_channels, kh, kw) with n_units >= 1 "
            f"and fan_in >= 1; got shape {tuple(values.shape)}"
        )
    if not values.is_floating_point():
        raise TypeError(f"weights must be a floating-point tensor; got dtype {values.dtype}")
    rows = values.reshape(values.shape[0], -1)
    if not bool(torch.isfinite(rows).all()):
        bad = int((~torch.isfinite(rows)).sum())
        raise ValueError(f"weights must have finite entries; found {bad} non-finite of {rows.numel()}")
    return rows


def cosine_similarity(weights: torch.Tensor | np.ndarray) -> torch.Tensor:
    """The cosine similarities ``S_ij`` of the rows of ``weights`` (float64, CPU, ``n x n``).

    Rows are the units' incoming weights; a convolution weight
    ``(out, in, kh, kw)`` is read as ``out x (in kh kw)``.  Values are clipped to
    ``[-1, 1]``.  Two zero rows have similarity 1 (they are equal), a zero and
    a non-zero row similarity 0.
    """
    rows = _unit_rows(weights).to(device="cpu", dtype=torch.float64)
    norms = torch.linalg.vector_norm(rows, dim=1)
    zero = norms == 0
    unit = rows / torch.where(zero, torch.ones_like(norms), norms)[:, None]
    similarity = (unit @ unit.T).clamp_(-1.0, 1.0)
    similarity[zero[:, None] & zero[None, :]] = 1.0
    return similarity


def check_threshold(threshold: float) -> float:
    value = check_real("threshold", threshold)
    if not -1.0 <= value <= 1.0:
        raise ValueError(f"threshold must lie in [-1, 1] (it bounds a cosine similarity); got threshold = {threshold!r}")
    return value


def heavy_edge_matching(
    weights: torch.Tensor | np.ndarray,
    *,
    threshold: float,
    order: str = "heaviest",
    rng: np.random.Generator | int | None = None,
) -> Matching:
    """Greedy heavy-edge matching of units by cosine similarity of incoming weights (seed 000, Alg. 1).

    Units are visited in ``order``; an unmatched unit ``i`` is paired with the
    unmatched unit ``j != i`` of largest similarity ``S_ij`` (smallest ``j`` on
    ties) if ``S_ij >= threshold`` (up to :data:`SIMILARITY_TOLERANCE`),
    else it stays a singleton (Algorithm 1 prints a strict ``>``; the inclusive
    test lets ``threshold = 1`` pair exact duplicates).  The result is a maximal matching of the graph
    of edges ``S_ij >= threshold``: no two singletons could have been paired.

    Parameters
    ----------
    weights : torch.Tensor or numpy.ndarray
        ``(n_units, fan_in)`` (an ``nn.Linear`` weight) or
        ``(out_channels, in_channels, kh, kw)`` (an ``nn.Conv2d`` weight).
    threshold : float
        ``theta`` in ``[-1, 1]``; only pairs with ``S_ij >= theta`` are matched.
    order : str
        A key of :data:`VISIT_ORDERS` (default ``"heaviest"``).
    rng : numpy.random.Generator, int or None
        Randomness of ``order="random"``.

    Returns
    -------
    Matching

    Examples
    --------
    >>> import torch
    >>> W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.1], [0.1, 3.0]])
    >>> heavy_edge_matching(W, threshold=0.9).aggregates
    ((0, 2), (1, 3))
    """
    theta = check_threshold(threshold)
    check_choice("order", order, VISIT_ORDERS)
    similarity = cosine_similarity(weights).numpy()
    n = similarity.shape[0]
    eligible = similarity >= theta - SIMILARITY_TOLERANCE
    np.fill_diagonal(eligible, False)
    mate = np.full(n, -1, dtype=np.int64)
    for i in VISIT_ORDERS[order](similarity, np.random.default_rng(rng)):
        if mate[i] >= 0:
            continue
        candidates = np.flatnonzero(eligible[i] & (mate < 0))
        if candidates.size:
            j = candidates[int(np.argmax(similarity[i, candidates]))]
            mate[i], mate[j] = j, i
        else:
            mate[i] = i
    return Matching.from_mate(mate)


def _membership(matching: Matching, *, dtype: torch.dtype, device: torch.device | str | None) -> torch.Tensor:
    """The 0/1 matrix ``P`` (``n x n_c``), ``P[i, a] = 1`` iff unit ``i`` is in aggregate ``a``."""
    P = torch.zeros(matching.n_fine, matching.n_coarse, dtype=dtype, device=device)
    P[torch.arange(matching.n_fine, device=device), matching.aggregate_of.to(device)] = 1.0
    return P


def piecewise_constant_transfer(
    matching: Matching, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> UnitTransfer:
    """``P`` = 0/1 copy, ``pi`` = average over each aggregate (seed 000 eq. 32); ``pi P = I``."""
    P = _membership(matching, dtype=dtype, device=device)
    pi = (P.T / P.sum(dim=0)[:, None]).contiguous()
    return UnitTransfer(P, pi, matching)


def scaled_transfer(matching: Matching, weights: torch.Tensor) -> UnitTransfer:
    """``P~ = D P``, ``pi~ = (P^T D P)^{-1} P^T`` (seed 000 eq. 34); ``pi~ P~ = I``.

    ``D = diag(d)``, ``d_i`` the norm of unit ``i``'s incoming weight row in
    ``weights`` (``n x fan_in`` or a convolution weight), with zero norms
    replaced by 1.  The operators take ``weights``' dtype and device.
    """
    rows = _unit_rows(weights)
    d = _norms(rows, matching)
    P = _membership(matching, dtype=rows.dtype, device=rows.device)
    P_scaled = d[:, None] * P
    pi_scaled = (P.T / (P.T @ d)[:, None]).contiguous()  # (P^T D P)^{-1} P^T, P^T D P = diag(P^T d)
    return UnitTransfer(P_scaled, pi_scaled, matching, d)


def _norms(rows: torch.Tensor, matching: Matching) -> torch.Tensor:
    """The norms ``d`` of ``rows`` (one per matched unit), with zero norms replaced by 1."""
    if rows.shape[0] != matching.n_fine:
        raise ValueError(f"weights must have one row per matched unit: {matching.n_fine} rows; got {rows.shape[0]}")
    d = torch.linalg.vector_norm(rows, dim=1)
    return torch.where(d > 0, d, torch.ones_like(d))


def norm_weighted_transfer(matching: Matching, weights: torch.Tensor, bias: torch.Tensor | None = None) -> UnitTransfer:
    """``pi`` sums an aggregate, ``P[i, a] = d_i / sum_{l in a} d_l`` (LLNL/MTNN's projection); ``pi P = I`` exactly.

    ``d_i`` is the norm of ``[w_i, b_i]``, unit ``i``'s incoming weight row
    in ``weights`` (``n x fan_in`` or a convolution weight) and its bias
    (``bias`` None: the weights alone), with zero norms replaced by 1 (MTNN
    divides by zero there).  Of a pair, the unit of larger norm gets its share
    and the other 1 minus it, so that the shares sum to 1 in floating point
    too.  The operators take ``weights``' dtype and device.

    Examples
    --------
    >>> import torch
    >>> unit = norm_weighted_transfer(Matching.from_mate([1, 0, 2]), torch.tensor([[3.0], [1.0], [2.0]]))
    >>> unit.P.T, unit.pi
    (tensor([[0.7500, 0.2500, 0.0000],
            [0.0000, 0.0000, 1.0000]]), tensor([[1., 1., 0.],
            [0., 0., 1.]]))
    """
    rows = _unit_rows(weights)
    if bias is not None:
        rows = torch.cat([rows, torch.as_tensor(bias).detach().reshape(rows.shape[0], 1).to(rows)], dim=1)
    d = _norms(rows, matching)
    P_copy = _membership(matching, dtype=rows.dtype, device=rows.device)
    mate = matching.mate.to(rows.device)
    share = d / (P_copy.T @ d)[matching.aggregate_of.to(rows.device)]  # d_i / sum_{l in a} d_l
    # The unit of larger norm keeps its share (>= 1/2), its mate takes 1 minus it (exact, Sterbenz):
    # the shares of an aggregate then sum to 1 bit for bit, so pi P = I exactly.
    units = torch.arange(matching.n_fine, device=rows.device)
    keeps = (d > d[mate]) | ((d == d[mate]) & (units <= mate))
    share = torch.where(keeps, share, 1.0 - share[mate])
    return UnitTransfer((share[:, None] * P_copy).contiguous(), P_copy.T.contiguous(), matching, d)


def _average(matching: Matching, weights: torch.Tensor, bias: torch.Tensor | None = None) -> UnitTransfer:
    return piecewise_constant_transfer(matching, dtype=weights.dtype, device=weights.device)


def _scaled(matching: Matching, weights: torch.Tensor, bias: torch.Tensor | None = None) -> UnitTransfer:
    return scaled_transfer(matching, weights)


#: The operators of a matching by name, ``projection(matching, weights, bias) -> UnitTransfer``
#: (module docstring): ``"average"`` (0/1 copy, pairwise average; seed 000 eq. 32), ``"scaled"``
#: (seed 000 eq. 34, incoming weight norms) and ``"norm-weighted"`` (LLNL/MTNN, norms with the bias).
PROJECTIONS: dict[str, Callable[..., UnitTransfer]] = {
    "average": _average,
    "scaled": _scaled,
    "norm-weighted": norm_weighted_transfer,
}
