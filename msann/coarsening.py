"""Coarsening in width and parameter transfers for FAS training (SPEC §4; seed 000 §5, §7).

A coarse network has the same layers as the fine one with about half the
hidden units (``nn.Linear`` output features, ``nn.Conv2d`` output channels);
the network's input and output sizes are never coarsened.

Matching
    :func:`heavy_edge_matching` pairs the units of one layer greedily by the
    cosine similarity ``S_ij`` of their incoming weight rows (seed 000,
    Algorithm 1): units are visited in turn, and an unmatched unit ``i`` is
    paired with the unmatched ``j != i`` of largest ``S_ij``, provided
    ``S_ij >= theta``; otherwise ``i`` stays a singleton.  The result is an
    involution ``mate`` (``mate[mate[i]] = i``; ``mate[i] = i`` for a
    singleton) and the aggregates (pairs and singletons).

Operators of one layer of ``n`` units and ``n_c`` aggregates (:class:`UnitTransfer`)
    ``P`` (``n x n_c``): ``P[i, a] = 1`` if unit ``i`` lies in aggregate ``a``
    (piecewise-constant copy); ``pi`` (``n_c x n``): ``pi[a, i] = 1 / |a|``
    (pairwise average).  ``pi P = I``.

    Scaled variant (seed 000 eq. 34): with ``D = diag(d)``, ``d_i`` the norm
    of unit ``i``'s incoming weight row, ``P~ = D P`` and
    ``pi~ = (P^T D P)^{-1} P^T``, i.e. ``P~[i, a] = d_i`` and
    ``pi~[a, i] = 1 / sum_{l in a} d_l``.  SPEC asked to verify this formula:
    it is right as written, ``pi~ P~ = (P^T D P)^{-1} (P^T D P) = I``, because
    ``P^T D P = diag(sum_{l in a} d_l)`` is diagonal and invertible.  Two
    positively parallel rows ``w_j = c w_i`` are reproduced exactly by
    ``P~ pi~`` (the coarse row is the common direction ``w_i / |w_i|``).  A
    row of norm 0 gets ``d_i = 1`` so that every aggregate has a positive
    scale (a zero row has no direction to keep).

Parameter transfers of a layer ``W_k`` (``out x in``, PyTorch layout, mapping layer ``k``'s units to layer ``k+1``'s)
    ::

        restriction     Pi:  W_c = pi_{k+1} W P_k,          b_c = pi_{k+1} b
        prolongation    P :  W   = P_{k+1} W_c pi_k,        b   = P_{k+1} b_c
        gradient        R :  G_c = P_{k+1}^T G pi_k^T,      g_c = P_{k+1}^T g

    (the scaled variant puts ``P~``, ``pi~`` everywhere).  ``R = P^T`` exactly
    for the Frobenius inner product on the flattened parameter vector:
    ``<G, P_{k+1} W_c pi_k> = tr(G^T P_{k+1} W_c pi_k) = <P_{k+1}^T G pi_k^T, W_c>``
    and ``<g, P_{k+1} b_c> = <P_{k+1}^T g, b_c>`` (seed 000 eq. 28 writes
    ``P_k^T`` for the bias: a typo, SPEC §4).  ``Pi P = I`` follows from
    ``pi P = I`` on every layer (seed 000 Lemma 5.2).  The input layer
    (``k = 0``) and the output layer use ``P = pi = I``.

    Convolution weights (``out x in x kh x kw``) are transferred along their
    two channel axes (seed 000 §7: a channel plays the role of a unit).  An
    ``nn.Linear`` after ``nn.Flatten`` of ``C`` channels of ``H x W`` pixels
    sees each channel as a block of ``S = H W`` consecutive features, so its
    input operators are ``P ⊗ I_S`` and ``pi ⊗ I_S``; they are applied
    matrix-free, by reshaping the feature axis to ``(C, S)``
    (:meth:`UnitTransfer.kron` forms them densely, for reference).

Momentum
    Seed 000 §6.1.2 transfers SGD momentum with the *parameter* operators:
    ``m_c = Pi m`` on the way down and ``m <- m + alpha_m P (m_c - Pi m)`` on
    the way up.  So momentum dictionaries go through
    :func:`restrict_parameters` and :func:`coarse_correction`;
    :func:`sgd_momentum_buffers` and :func:`load_sgd_momentum_buffers` move
    them in and out of a ``torch.optim.SGD``.

Exactness
    With the 0/1 operators the fine network with parameters ``P x_c`` computes
    exactly what the coarse network with ``x_c`` computes, for any elementwise
    activation: a copied unit stays a copy.  With the scaled operators this
    holds for positively homogeneous activations (ReLU, LeakyReLU, Identity),
    since ``phi(D z) = D phi(z)`` for ``D >= 0``.  Consequently
    ``grad g_c(x_c) = R grad g(P x_c)`` (chain rule), which the tests check.

Operators are dense tensors in the dtype and on the device of the layer's
weights: the networks of seed 000 have at most a few hundred units per layer
(``P`` for 400 units is 400 x 200), where dense products cost less than
sparse ones.  Matching runs on the CPU in float64 (``O(n^2)``).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from graphprolong.checks import check_choice, check_real

__all__ = [
    "ACTIVATIONS",
    "CHANNELWISE",
    "PARAMETRIC",
    "SIMILARITY_TOLERANCE",
    "SUPPORTED_LAYERS",
    "VISIT_ORDERS",
    "CoarseningPlan",
    "CoarseningWarning",
    "LayerTransfer",
    "Matching",
    "UnitTransfer",
    "build_coarse_model",
    "coarse_correction",
    "coarsen_network",
    "cosine_similarity",
    "heavy_edge_matching",
    "load_sgd_momentum_buffers",
    "piecewise_constant_transfer",
    "plan_coarsening",
    "plan_from_prolongations",
    "prolong_parameters",
    "restrict_gradients",
    "restrict_parameters",
    "scaled_transfer",
    "sgd_momentum_buffers",
    "transfer_from_prolongation",
]

#: Slack below ``theta`` still accepted, so that exactly parallel rows (cosine 1
#: up to rounding) are paired at ``theta = 1``.
SIMILARITY_TOLERANCE = 1e-12

#: Layers with weights whose output units are coarsened.
PARAMETRIC: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d)
#: Elementwise activations (commute with copying units).
ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity)
#: Per-channel spatial layers of the convolutional part (commute with copying
#: and with positive scaling of channels).
CHANNELWISE: tuple[type[nn.Module], ...] = (nn.MaxPool2d, nn.AvgPool2d)
#: Names of every supported layer class, for error messages.
SUPPORTED_LAYERS: tuple[str, ...] = tuple(
    cls.__name__ for cls in (*PARAMETRIC, *ACTIVATIONS, *CHANNELWISE, nn.Flatten)
)


class CoarseningWarning(UserWarning):
    """A layer could not be coarsened (no pair of units reached the threshold)."""


# --------------------------------------------------------------------------- matching


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


def _check_threshold(threshold: float) -> float:
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
    theta = _check_threshold(threshold)
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


# --------------------------------------------------------------------------- operators


@dataclass(frozen=True, eq=False)
class UnitTransfer:
    """Operators between ``n`` fine and ``n_c`` coarse units of one layer.

    Attributes
    ----------
    P : torch.Tensor
        Prolongation, ``n x n_c``.
    pi : torch.Tensor
        Restriction, ``n_c x n``, with ``pi P = I``.
    matching : Matching or None
        The matching ``P`` was built from (None for a given map).
    scale : torch.Tensor or None
        The diagonal ``d`` of ``D`` of the scaled variant (None otherwise).
    """

    P: torch.Tensor
    pi: torch.Tensor
    matching: Matching | None = None
    scale: torch.Tensor | None = None

    @property
    def n_fine(self) -> int:
        """Number of fine units ``n``."""
        return int(self.P.shape[0])

    @property
    def n_coarse(self) -> int:
        """Number of coarse units ``n_c``."""
        return int(self.P.shape[1])

    def kron(self, block: int) -> UnitTransfer:
        """The operators ``P ⊗ I_block``, ``pi ⊗ I_block`` on ``block`` features per unit (dense)."""
        identity = torch.eye(block, dtype=self.P.dtype, device=self.P.device)
        scale = None if self.scale is None else self.scale.repeat_interleave(block)
        # torch.kron fails on some non-contiguous operands (torch 2.13), hence .contiguous()
        P, pi = (torch.kron(matrix.contiguous(), identity) for matrix in (self.P, self.pi))
        return UnitTransfer(P, pi, self.matching, scale)

    def __repr__(self) -> str:
        kind = "given" if self.matching is None else ("scaled" if self.scale is not None else "piecewise-constant")
        return f"UnitTransfer({self.n_fine} -> {self.n_coarse}, {kind})"


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
    if rows.shape[0] != matching.n_fine:
        raise ValueError(f"weights must have one row per matched unit: {matching.n_fine} rows; got {rows.shape[0]}")
    d = torch.linalg.vector_norm(rows, dim=1)
    d = torch.where(d > 0, d, torch.ones_like(d))
    P = _membership(matching, dtype=rows.dtype, device=rows.device)
    P_scaled = d[:, None] * P
    pi_scaled = (P.T / (P.T @ d)[:, None]).contiguous()  # (P^T D P)^{-1} P^T, P^T D P = diag(P^T d)
    return UnitTransfer(P_scaled, pi_scaled, matching, d)


def transfer_from_prolongation(
    P: torch.Tensor | np.ndarray,
    *,
    pi: torch.Tensor | np.ndarray | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> UnitTransfer:
    """Operators from a given prolongation ``P`` (``n x n_c``), e.g. a graph-designed map.

    ``pi`` defaults to the left inverse ``(P^T P)^{-1} P^T`` (``P^T`` for the
    orthonormal maps of :mod:`graphprolong`).  ``pi P = I`` is checked to
    ``sqrt(eps)`` of the dtype.
    """
    P = torch.as_tensor(P, dtype=dtype, device=device)
    if P.ndim != 2 or not 1 <= P.shape[1] <= P.shape[0]:
        raise ValueError(f"P must have shape (n_fine, n_coarse) with 1 <= n_coarse <= n_fine; got shape {tuple(P.shape)}")
    if not P.is_floating_point() or not bool(torch.isfinite(P).all()):
        raise ValueError(f"P must be a finite floating-point matrix; got dtype {P.dtype}")
    if pi is None:
        pi = torch.linalg.solve(P.T @ P, P.T)
    pi = torch.as_tensor(pi, dtype=P.dtype, device=P.device)
    if tuple(pi.shape) != (P.shape[1], P.shape[0]):
        raise ValueError(f"pi must have shape (n_coarse, n_fine) = {(P.shape[1], P.shape[0])}; got {tuple(pi.shape)}")
    tolerance = math.sqrt(torch.finfo(P.dtype).eps)
    error = float((pi @ P - torch.eye(P.shape[1], dtype=P.dtype, device=P.device)).abs().max())
    if not error <= tolerance:
        raise ValueError(f"pi P must equal I (max |pi P - I| <= {tolerance:.1e}); got max |pi P - I| = {error:.3g}")
    return UnitTransfer(P, pi)


# --------------------------------------------------------------------------- network plans


def _along(matrix: torch.Tensor, tensor: torch.Tensor, axis: int, block: int = 1) -> torch.Tensor:
    """Apply ``matrix`` (``m x c``) to ``axis`` of ``tensor``, read as ``c`` blocks of ``block`` entries.

    ``result[.., a', ..] = sum_a matrix[a', a] tensor[.., a, ..]``, i.e. the
    product with ``matrix ⊗ I_block`` along that axis.
    """
    matrix = matrix.to(dtype=tensor.dtype, device=tensor.device)
    moved = tensor.movedim(axis, 0)
    rest = moved.shape[1:]
    grouped = moved.reshape(matrix.shape[1], -1)
    return (matrix @ grouped).reshape(matrix.shape[0] * block, *rest).movedim(0, axis)


#: Per direction: (operator on the output axis, operator on the input axis).
_DIRECTIONS: dict[str, tuple[Callable[[UnitTransfer], torch.Tensor], Callable[[UnitTransfer], torch.Tensor]]] = {
    "restrict": (lambda u: u.pi, lambda u: u.P.T),  # W_c = pi_out W P_in
    "prolong": (lambda u: u.P, lambda u: u.pi.T),  # W = P_out W_c pi_in
    "restrict_gradient": (lambda u: u.P.T, lambda u: u.pi),  # G_c = P_out^T G pi_in^T
}


@dataclass(frozen=True, eq=False)
class LayerTransfer:
    """The transfers of one ``nn.Linear`` or ``nn.Conv2d`` of a network.

    Attributes
    ----------
    name : str
        The module's name in the ``nn.Sequential`` (parameter keys are
        ``f"{name}.weight"`` and ``f"{name}.bias"``).
    kind : str
        ``"Linear"`` or ``"Conv2d"``.
    output, input : UnitTransfer or None
        Operators of the output units (None for the network's output layer)
        and of the input units (None for the network's input layer).
    block : int
        Input features per input unit: ``H W`` for an ``nn.Linear`` after
        ``nn.Flatten`` of a convolution's channels, else 1.
    """

    name: str
    kind: str
    output: UnitTransfer | None
    input: UnitTransfer | None
    block: int = 1

    def apply(self, direction: str, role: str, tensor: torch.Tensor) -> torch.Tensor:
        """Transfer one parameter-shaped tensor; ``direction`` in ``restrict``, ``prolong``, ``restrict_gradient``."""
        on_output, on_input = _DIRECTIONS[check_choice("direction", direction, _DIRECTIONS)]
        check_choice("role", role, ("weight", "bias"))
        result = tensor
        if self.output is not None:
            result = _along(on_output(self.output), result, 0)
        if role == "weight" and self.input is not None:
            result = _along(on_input(self.input), result, 1, self.block)
        return result


@dataclass(frozen=True, eq=False)
class CoarseningPlan:
    """The transfers of a whole network to its coarse version.

    Attributes
    ----------
    layers : tuple of LayerTransfer
        One per ``nn.Linear`` / ``nn.Conv2d``, in network order.
    units : tuple of UnitTransfer
        One per hidden layer of units (outputs of every parametric layer but
        the last), in network order.
    parameter_shapes : dict
        ``name -> (fine shape, coarse shape)`` for every parameter, in the
        order of ``model.named_parameters()``.
    """

    layers: tuple[LayerTransfer, ...]
    units: tuple[UnitTransfer, ...]
    parameter_shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]]

    @property
    def fine_widths(self) -> tuple[int, ...]:
        """Widths of the hidden layers of the fine network."""
        return tuple(u.n_fine for u in self.units)

    @property
    def coarse_widths(self) -> tuple[int, ...]:
        """Widths of the hidden layers of the coarse network."""
        return tuple(u.n_coarse for u in self.units)

    def __repr__(self) -> str:
        lines = ["CoarseningPlan", "  layer   kind      units (fine -> coarse)   operators"]
        for layer in self.layers:
            transfer = layer.output
            widths = "output (kept)" if transfer is None else f"{transfer.n_fine} -> {transfer.n_coarse}"
            kind = "" if transfer is None else repr(transfer).split(", ")[-1].rstrip(")")
            lines.append(f"  {layer.name:<7} {layer.kind:<9} {widths:<24} {kind}")
        return "\n".join(lines)


def _unsupported(index: int, name: str, module: nn.Module, why: str = "") -> TypeError:
    detail = f" ({why})" if why else ""
    return TypeError(
        f"layer {index} ('{name}', {type(module).__name__}) is not supported by the coarsener{detail}; "
        f"supported layers are: {', '.join(SUPPORTED_LAYERS)}"
    )


@dataclass(frozen=True)
class _Slot:
    """A parametric layer found by :func:`_scan`."""

    index: int
    name: str
    module: nn.Module
    block: int


def _scan(model: nn.Module) -> list[_Slot]:
    """Validate ``model`` and return its parametric layers with their input block sizes."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential of supported layers ({', '.join(SUPPORTED_LAYERS)}); got {type(model).__name__}")
    slots: list[_Slot] = []
    state, channels, width = "input", 0, 0  # state of the data: input | channels | flattened | features
    for index, (name, module) in enumerate(model.named_children()):
        if isinstance(module, nn.Conv2d):
            if state not in ("input", "channels"):
                raise ValueError(f"layer {index} ('{name}', Conv2d) follows a Flatten or Linear layer; convolutions must come first")
            if module.groups != 1:
                raise ValueError(f"layer {index} ('{name}', Conv2d) has groups = {module.groups}; channel coarsening needs groups = 1")
            if state == "channels" and module.in_channels != channels:
                raise ValueError(f"layer {index} ('{name}', Conv2d) must have in_channels = {channels} (the previous convolution's out_channels); got {module.in_channels}")
            slots.append(_Slot(index, name, module, 1))
            state, channels = "channels", module.out_channels
        elif isinstance(module, nn.Linear):
            if state == "channels":
                raise ValueError(f"layer {index} ('{name}', Linear) follows a Conv2d without an nn.Flatten between them")
            block = 1
            if state == "flattened":
                if module.in_features % channels:
                    raise ValueError(
                        f"layer {index} ('{name}', Linear) after Flatten of {channels} channels must have in_features "
                        f"divisible by {channels}; got in_features = {module.in_features}"
                    )
                block = module.in_features // channels
            elif slots and module.in_features != width:
                raise ValueError(f"layer {index} ('{name}', Linear) must have in_features = {width} (the previous layer's out_features); got {module.in_features}")
            slots.append(_Slot(index, name, module, block))
            state, width = "features", module.out_features
        elif isinstance(module, nn.Flatten):
            if (module.start_dim, module.end_dim) != (1, -1):
                raise _unsupported(index, name, module, f"Flatten must use start_dim=1, end_dim=-1; got {module.start_dim}, {module.end_dim}")
            state = "flattened" if state == "channels" else ("features" if state == "input" else state)
        elif isinstance(module, CHANNELWISE):
            if state not in ("input", "channels"):
                raise _unsupported(index, name, module, "pooling is supported only between convolutions")
        elif not isinstance(module, ACTIVATIONS):
            raise _unsupported(index, name, module)
        elif any(True for _ in module.parameters()):
            raise _unsupported(index, name, module, "it has parameters")
    if len(slots) < 2:
        raise ValueError(f"model must have at least 2 Linear/Conv2d layers (a hidden layer to coarsen); got {len(slots)}")
    return slots


def _incoming(slot: _Slot) -> torch.Tensor:
    return slot.module.weight.detach()


def _assemble(slots: list[_Slot], units: list[UnitTransfer]) -> CoarseningPlan:
    layers, shapes = [], {}
    for position, slot in enumerate(slots):
        output = units[position] if position < len(units) else None
        inputs = units[position - 1] if position > 0 else None
        layer = LayerTransfer(slot.name, type(slot.module).__name__, output, inputs, slot.block)
        layers.append(layer)
        for role, parameter in slot.module.named_parameters(recurse=False):
            coarse_shape = list(parameter.shape)
            if output is not None:
                coarse_shape[0] = output.n_coarse
            if role == "weight" and inputs is not None:
                coarse_shape[1] = inputs.n_coarse * slot.block
            shapes[f"{slot.name}.{role}"] = (tuple(parameter.shape), tuple(coarse_shape))
    return CoarseningPlan(tuple(layers), tuple(units), shapes)


def plan_coarsening(
    model: nn.Sequential,
    *,
    threshold: float,
    scaled: bool = False,
    order: str = "heaviest",
    rng: np.random.Generator | int | None = None,
) -> CoarseningPlan:
    """Match every hidden layer of ``model`` and build its transfers.

    Parameters
    ----------
    model : torch.nn.Sequential
        ``nn.Linear`` / ``nn.Conv2d`` layers with activations in
        :data:`ACTIVATIONS`, pooling in :data:`CHANNELWISE` between
        convolutions, and ``nn.Flatten`` between the convolutional and the
        fully connected part.  At least two parametric layers.
    threshold : float
        ``theta`` of :func:`heavy_edge_matching`, in ``[-1, 1]``.
    scaled : bool
        Use the scaled operators ``P~``, ``pi~`` (row norms of each layer's
        current incoming weights) instead of the 0/1 ones.
    order, rng
        See :func:`heavy_edge_matching`.

    Raises
    ------
    TypeError
        For a layer that is not supported (named, with the supported list).
    ValueError
        For a hidden layer with fewer than 2 units, ``threshold`` outside
        ``[-1, 1]``, or an inconsistent network.

    Warns
    -----
    CoarseningWarning
        For a layer with no pair of units above ``threshold`` (it keeps its width).
    """
    _check_threshold(threshold)
    if not isinstance(scaled, bool):
        raise TypeError(f"scaled must be a bool; got {type(scaled).__name__} {scaled!r}")
    check_choice("order", order, VISIT_ORDERS)
    slots = _scan(model)
    rng = np.random.default_rng(rng)
    units = []
    for slot in slots[:-1]:
        weight = _incoming(slot)
        if weight.shape[0] < 2:
            raise ValueError(f"layer {slot.index} ('{slot.name}', {type(slot.module).__name__}) has {weight.shape[0]} unit(s); coarsening needs at least 2")
        matching = heavy_edge_matching(weight, threshold=threshold, order=order, rng=rng)
        if matching.n_coarse == matching.n_fine:
            warnings.warn(
                f"layer {slot.index} ('{slot.name}', {type(slot.module).__name__}) has no pair of units with cosine "
                f"similarity >= threshold = {threshold}; it keeps its {matching.n_fine} units",
                CoarseningWarning,
                stacklevel=2,
            )
        if scaled:
            units.append(scaled_transfer(matching, weight))
        else:
            units.append(piecewise_constant_transfer(matching, dtype=weight.dtype, device=weight.device))
    return _assemble(slots, units)


def plan_from_prolongations(
    model: nn.Sequential, prolongations: Sequence[torch.Tensor | np.ndarray | UnitTransfer]
) -> CoarseningPlan:
    """Transfers from given maps, one per hidden layer (e.g. graph-designed maps of :mod:`msann.prolongations`).

    Each entry is a ``UnitTransfer`` or a prolongation ``P`` (``n x n_c``,
    ``n`` the layer's width), made into one by
    :func:`transfer_from_prolongation` in the layer's dtype and device.
    """
    slots = _scan(model)
    if len(prolongations) != len(slots) - 1:
        raise ValueError(f"need one prolongation per hidden layer: {len(slots) - 1}; got {len(prolongations)}")
    units = []
    for slot, given in zip(slots[:-1], prolongations):
        weight = _incoming(slot)
        unit = given if isinstance(given, UnitTransfer) else transfer_from_prolongation(given, dtype=weight.dtype, device=weight.device)
        if unit.n_fine != weight.shape[0]:
            raise ValueError(
                f"prolongation of layer {slot.index} ('{slot.name}') must have {weight.shape[0]} rows (the layer's units); "
                f"got shape {(unit.n_fine, unit.n_coarse)}"
            )
        units.append(unit)
    return _assemble(slots, units)


# --------------------------------------------------------------------------- parameter transfers


def _as_dict(tensors: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return dict(tensors.items() if isinstance(tensors, Mapping) else tensors)


def _transfer(plan: CoarseningPlan, tensors, direction: str, side: int) -> dict[str, torch.Tensor]:
    values = _as_dict(tensors)
    expected = list(plan.parameter_shapes)
    if set(values) != set(expected):
        missing = sorted(set(expected) - set(values))
        unexpected = sorted(set(values) - set(expected))
        raise KeyError(f"parameter names must be {expected}; missing {missing}, unexpected {unexpected}")
    result = {}
    for layer in plan.layers:
        for role in ("weight", "bias"):
            key = f"{layer.name}.{role}"
            if key not in values:
                continue
            shape = plan.parameter_shapes[key][side]
            if tuple(values[key].shape) != shape:
                level = "fine" if side == 0 else "coarse"
                raise ValueError(f"{key} must have the {level} shape {shape}; got {tuple(values[key].shape)}")
            result[key] = layer.apply(direction, role, values[key])
    return {key: result[key] for key in expected}


def restrict_parameters(plan: CoarseningPlan, fine: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``Pi x``: ``W_c = pi_{k+1} W P_k``, ``b_c = pi_{k+1} b`` (also for momentum, seed 000 §6.1.2).

    ``fine`` maps the fine model's parameter names (as in
    ``model.named_parameters()``) to tensors of the fine shapes; the result
    has the same keys and the coarse shapes.
    """
    return _transfer(plan, fine, "restrict", 0)


def prolong_parameters(plan: CoarseningPlan, coarse: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``P x_c``: ``W = P_{k+1} W_c pi_k``, ``b = P_{k+1} b_c``."""
    return _transfer(plan, coarse, "prolong", 1)


def restrict_gradients(plan: CoarseningPlan, fine: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``R g = P^T g``: ``G_c = P_{k+1}^T G pi_k^T``, ``g_c = P_{k+1}^T g`` (bias typo of seed 000 fixed)."""
    return _transfer(plan, fine, "restrict_gradient", 0)


def coarse_correction(
    plan: CoarseningPlan,
    fine: Mapping[str, torch.Tensor],
    coarse: Mapping[str, torch.Tensor],
    restricted: Mapping[str, torch.Tensor],
    *,
    alpha: float = 1.0,
) -> dict[str, torch.Tensor]:
    """``x + alpha P (x_c - Pi x)`` (seed 000 eq. 4; eq. 36 for momentum with ``alpha = alpha_m``).

    ``restricted`` is ``Pi x`` as it was when the coarse level started
    (``x_c`` before its smoothing).  Returns new tensors; nothing is modified.
    """
    alpha = check_real("alpha", alpha)
    coarse, restricted = _as_dict(coarse), _as_dict(restricted)
    if set(coarse) != set(restricted):
        raise KeyError(f"coarse and restricted must have the same keys; got {sorted(coarse)} and {sorted(restricted)}")
    change = prolong_parameters(plan, {key: coarse[key] - restricted[key] for key in coarse})
    fine = _as_dict(fine)
    return {key: fine[key] + alpha * change[key] for key in change}


# --------------------------------------------------------------------------- coarse models and momentum


def _coarse_module(module: nn.Module, in_units: int, out_units: int) -> nn.Module:
    weight = module.weight
    options = {"bias": module.bias is not None, "dtype": weight.dtype, "device": weight.device}
    if isinstance(module, nn.Linear):
        return nn.Linear(in_units, out_units, **options)
    return nn.Conv2d(
        in_units,
        out_units,
        module.kernel_size,
        stride=module.stride,
        padding=module.padding,
        dilation=module.dilation,
        padding_mode=module.padding_mode,
        **options,
    )


def build_coarse_model(model: nn.Sequential, plan: CoarseningPlan) -> nn.Sequential:
    """The coarse network of ``plan`` with parameters ``Pi x`` of ``model``'s (a new module; ``model`` is untouched)."""
    slots = {slot.name: slot for slot in _scan(model)}
    by_name = {layer.name: layer for layer in plan.layers}
    if set(slots) != set(by_name):
        raise ValueError(f"plan does not belong to this model: layers {sorted(by_name)} vs {sorted(slots)}")
    modules = OrderedDict()
    for name, module in model.named_children():
        if name in by_name:
            shape = plan.parameter_shapes[f"{name}.weight"][1]
            modules[name] = _coarse_module(module, shape[1], shape[0])
        else:
            modules[name] = copy.deepcopy(module)
    coarse = nn.Sequential(modules)
    restricted = restrict_parameters(plan, {key: value.detach() for key, value in model.named_parameters()})
    with torch.no_grad():
        for key, parameter in coarse.named_parameters():
            parameter.copy_(restricted[key])
    return coarse.train(model.training)


def coarsen_network(
    model: nn.Sequential,
    *,
    threshold: float,
    scaled: bool = False,
    order: str = "heaviest",
    rng: np.random.Generator | int | None = None,
) -> tuple[nn.Sequential, CoarseningPlan]:
    """Match ``model``'s hidden layers and build the coarse network with parameters ``Pi x``.

    :func:`plan_coarsening` followed by :func:`build_coarse_model`; call it
    again on the coarse network for one more level, and again on ``model``
    to re-match.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> fine = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> coarse, plan = coarsen_network(fine, threshold=-1.0)
    >>> plan.fine_widths, plan.coarse_widths
    ((8,), (4,))
    >>> coarse[0].weight.shape
    torch.Size([4, 3])
    """
    plan = plan_coarsening(model, threshold=threshold, scaled=scaled, order=order, rng=rng)
    return build_coarse_model(model, plan), plan


def sgd_momentum_buffers(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, torch.Tensor]:
    """The ``momentum_buffer`` of every parameter of ``model`` in ``optimizer``'s state (zeros where absent)."""
    buffers = {}
    for key, parameter in model.named_parameters():
        buffer = optimizer.state.get(parameter, {}).get("momentum_buffer")
        buffers[key] = torch.zeros_like(parameter.detach()) if buffer is None else buffer.detach().clone()
    return buffers


def load_sgd_momentum_buffers(optimizer: torch.optim.Optimizer, model: nn.Module, buffers: Mapping[str, torch.Tensor]) -> None:
    """Set ``optimizer``'s ``momentum_buffer`` of each parameter of ``model`` to a copy of ``buffers[name]``."""
    parameters = dict(model.named_parameters())
    if set(buffers) != set(parameters):
        raise KeyError(f"buffers must have the keys {sorted(parameters)}; got {sorted(buffers)}")
    managed = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for key, parameter in parameters.items():
        if id(parameter) not in managed:
            raise ValueError(f"parameter {key} is not managed by this optimizer")
        if buffers[key].shape != parameter.shape:
            raise ValueError(f"momentum buffer {key} must have shape {tuple(parameter.shape)}; got {tuple(buffers[key].shape)}")
        optimizer.state[parameter]["momentum_buffer"] = buffers[key].detach().clone().to(parameter)
