"""The one transfer operator between a fine and a coarse parameter set (SPEC §3-5).

Operators of one layer of units (:class:`UnitTransfer`): a prolongation
``P`` (``n x n_c``) and a restriction ``pi`` (``n_c x n``) with ``pi P = I``.
Graph-designed maps are orthonormal (``pi = P^T``); matchings give a 0/1
copy and a pairwise average, their scaled variant (seed 000 eq. 34) or
LLNL/MTNN's norm-weighted one (:data:`msann.coarsening.matching.PROJECTIONS`).

Transfers of a network (:class:`Transfer`), for every weight ``W_k``
(``out x in``, PyTorch layout, mapping layer ``k``'s units to layer ``k+1``'s)::

    restrict (R_p, Pi):        W_c = pi_{k+1} W P_k,          b_c = pi_{k+1} b
    prolong (P_p):             W   = P_{k+1} W_c pi_k,        b   = P_{k+1} b_c
    restrict_gradient (R_g):   G_c = P_{k+1}^T G pi_k^T,      g_c = P_{k+1}^T g

``R_g = P_p^T`` for the Frobenius inner product:
``<G, P_{k+1} W_c pi_k> = <P_{k+1}^T G pi_k^T, W_c>`` and
``<g, P_{k+1} b_c> = <P_{k+1}^T g, b_c>`` (seed 000 eq. 28 writes ``P_k^T``
for the bias: a typo, SPEC §4).  ``R_p P_p = I`` follows from ``pi P = I`` on
every layer (seed 000 Lemma 5.2).  A layer whose units are not coarsened has
no operator on that side (the identity).  How each operator reaches a
layer's tensor is the layer's rule (:mod:`msann.core.layers`).

The same operator serves every method: FAS's and MG/Opt's coarse networks
(a transfer from the fine network to the coarse one) and MsANN's summed
parameters ``Theta = sum_l Pro_{l->0} theta^(l)`` (one transfer per level,
built on the composite maps ``Pro_{l->0}``, :mod:`msann.coarsening.embedded`).

A unit layer whose units form a large grid holds its operators in factored
form (:class:`msann.core.factored.KroneckerOperator`, ``P = F_1 ⊗ ... ⊗ F_d``):
every rule applies them factor by factor, never forming the ``N x n`` map.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from graphprolong.checks import check_choice, check_real
from graphprolong.kronecker import KroneckerMap

from .factored import KroneckerOperator, as_matrix, use_factored
from .layers import LayerRule, Slot

#: A map of at least this many entries, at most this fraction non-zero, is applied as a sparse CSR matrix.
_SPARSE_MIN_ENTRIES, _SPARSE_DENSITY = 4096, 0.125

__all__ = ["DIRECTIONS", "LayerTransfer", "Transfer", "UnitTransfer", "assemble_transfer", "load_parameters", "parameters_of",
           "transfer_from_prolongation"]


@dataclass(frozen=True, eq=False)
class UnitTransfer:
    """Operators between ``n`` fine and ``n_c`` coarse units of one layer.

    Attributes
    ----------
    P : torch.Tensor or KroneckerOperator
        Prolongation, ``n x n_c`` (factored for a large grid, :mod:`msann.core.factored`).
    pi : torch.Tensor or KroneckerOperator
        Restriction, ``n_c x n``, with ``pi P = I`` (factored when ``P`` is).
    matching : object or None
        The matching ``P`` was built from (None for a given map).
    scale : torch.Tensor or None
        The diagonal ``d`` of ``D`` of the scaled or norm-weighted variant (None otherwise).
    """

    P: torch.Tensor | KroneckerOperator
    pi: torch.Tensor | KroneckerOperator
    matching: object | None = None
    scale: torch.Tensor | None = None
    _operators: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def factored(self) -> bool:
        """Whether the operators are Kronecker products kept as their factors (:mod:`msann.core.factored`)."""
        return isinstance(self.P, KroneckerOperator)

    def operator(self, name: str, *, sparse: bool = False) -> torch.Tensor | KroneckerOperator:
        """``P``, ``pi``, ``P^T`` or ``pi^T``, as applied to parameter tensors.

        With ``sparse``, a map with at most 1/8 of its entries non-zero (the
        0/1 copies of matched units, Kronecker products with identities such
        as a grid map along one axis) comes as a sparse CSR copy, made once:
        the same numbers, applied in a fraction of the dense product's time.
        Sparse tensors serve values without gradients (transfers of
        parameters, momentum and gradients between levels).  Factored
        operators come as they are, with or without ``sparse``.
        """
        matrix = {"P": self.P, "pi": self.pi, "P^T": self.P.T, "pi^T": self.pi.T}[check_choice("operator", name, ("P", "pi", "P^T", "pi^T"))]
        if not sparse or self.factored or matrix.requires_grad or matrix.numel() < _SPARSE_MIN_ENTRIES:
            return matrix
        if name not in self._operators:
            dense = float((matrix != 0).sum()) > matrix.numel() * _SPARSE_DENSITY
            with warnings.catch_warnings():  # torch calls its sparse CSR support beta; the products used here are plain
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                self._operators[name] = matrix if dense else matrix.contiguous().to_sparse_csr()
        return self._operators[name]

    @classmethod
    def orthonormal(cls, P: torch.Tensor) -> UnitTransfer:
        """The operators of a map with orthonormal columns: ``pi = P^T`` (a view, no copy)."""
        return cls(P, P.T)

    n_fine = property(lambda self: int(self.P.shape[0]), doc="Number of fine units ``n``.")
    n_coarse = property(lambda self: int(self.P.shape[1]), doc="Number of coarse units ``n_c``.")

    def kron(self, block: int) -> UnitTransfer:
        """The operators ``P ⊗ I_block``, ``pi ⊗ I_block`` on ``block`` features per unit (dense, or factored as ``P`` is)."""
        if self.factored:
            return UnitTransfer(self.P.with_identity(block), self.pi.with_identity(block), self.matching, self.scale)
        identity = torch.eye(block, dtype=self.P.dtype, device=self.P.device)
        scale = None if self.scale is None else self.scale.repeat_interleave(block)
        # torch.kron fails on some non-contiguous operands (torch 2.13), hence .contiguous()
        P, pi = (torch.kron(matrix.contiguous(), identity) for matrix in (self.P, self.pi))
        return UnitTransfer(P, pi, self.matching, scale)

    def __repr__(self) -> str:
        if self.matching is None:
            kind = "kronecker" if self.factored else "given"
        elif self.scale is None:
            kind = "piecewise-constant"
        else:  # norm-weighted restricts by 0/1 sums; scaled by 1 / (sum of norms)
            kind = "norm-weighted" if bool(((self.pi == 0) | (self.pi == 1)).all()) and not bool(((self.P == 0) | (self.P == 1)).all()) else "scaled"
        return f"UnitTransfer({self.n_fine} -> {self.n_coarse}, {kind})"


def transfer_from_prolongation(
    P: torch.Tensor | np.ndarray | KroneckerMap | KroneckerOperator,
    *,
    pi: torch.Tensor | np.ndarray | KroneckerMap | KroneckerOperator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    factored: bool | None = None,
) -> UnitTransfer:
    """Operators from a given prolongation ``P`` (``n x n_c``), e.g. a graph-designed map.

    ``pi`` defaults to the left inverse ``(P^T P)^{-1} P^T`` (``P^T`` for the
    orthonormal maps of :mod:`graphprolong`).  ``pi P = I`` is checked to
    ``sqrt(eps)`` of the dtype.  A Kronecker map ``P`` (a
    :class:`graphprolong.kronecker.KroneckerMap` or a
    :class:`~msann.core.factored.KroneckerOperator`) is kept factored as
    :func:`~msann.core.factored.use_factored` says (``factored`` None: when
    it is large); then ``pi``, if given, is a Kronecker map with as many
    factors, and the checks hold factor by factor (``pi_a F_a = I``).
    """
    if not use_factored(P, factored=factored):
        return UnitTransfer(*_checked_pair(as_matrix(P), as_matrix(pi), dtype, device))
    P = KroneckerOperator.from_map(P, dtype=dtype, device=device)
    if pi is not None:
        pi = KroneckerOperator.from_map(pi, dtype=P.dtype, device=P.device)
        if len(pi.factors) != len(P.factors):
            raise ValueError(f"a factored pi must have P's {len(P.factors)} factors; got {len(pi.factors)}")
    pairs = [_checked_pair(factor, None if pi is None else pi.factors[axis], P.dtype, P.device, axis)
             for axis, factor in enumerate(P.factors)]
    return UnitTransfer(P, KroneckerOperator(tuple(inverse for _, inverse in pairs)))


def _checked_pair(P, pi, dtype, device, axis: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(P, pi)`` as tensors, ``pi`` defaulting to the left inverse, after the checks of :func:`transfer_from_prolongation`
    (of factor ``axis`` of factored operators)."""
    what = "" if axis is None else f" (factor {axis})"
    P = torch.as_tensor(P, dtype=dtype, device=device)
    if P.ndim != 2 or not 1 <= P.shape[1] <= P.shape[0]:
        raise ValueError(f"P{what} must have shape (n_fine, n_coarse) with 1 <= n_coarse <= n_fine; got shape {tuple(P.shape)}")
    if not P.is_floating_point() or not bool(torch.isfinite(P).all()):
        raise ValueError(f"P{what} must be a finite floating-point matrix; got dtype {P.dtype}")
    if pi is None:
        pi = torch.linalg.solve(P.T @ P, P.T)
    pi = torch.as_tensor(pi, dtype=P.dtype, device=P.device)
    if tuple(pi.shape) != (P.shape[1], P.shape[0]):
        raise ValueError(f"pi{what} must have shape (n_coarse, n_fine) = {(P.shape[1], P.shape[0])}; got {tuple(pi.shape)}")
    tolerance = math.sqrt(torch.finfo(P.dtype).eps)
    error = float((pi @ P - torch.eye(P.shape[1], dtype=P.dtype, device=P.device)).abs().max())
    if not error <= tolerance:
        raise ValueError(f"pi P must equal I{what} (max |pi P - I| <= {tolerance:.1e}); got max |pi P - I| = {error:.3g}")
    return P, pi


#: Per direction: (operator on the output units, operator on the input units), by :meth:`UnitTransfer.operator` name.
DIRECTIONS = {
    "restrict": ("pi", "P^T"),  # W_c = pi_out W P_in
    "prolong": ("P", "pi^T"),  # W = P_out W_c pi_in
    "restrict_gradient": ("P^T", "pi"),  # G_c = P_out^T G pi_in^T
}


@dataclass(frozen=True, eq=False)
class LayerTransfer:
    """The transfers of one layer with weights.

    Attributes
    ----------
    name : str
        The layer's name (parameter keys are ``f"{name}.weight"`` and ``f"{name}.bias"``).
    rule : LayerRule
        How the operators reach its tensors (:data:`msann.core.layers.LAYER_RULES`).
    output, input : UnitTransfer or None
        Operators of the output and of the input units (None: not coarsened).
    block : int
        Input features per input unit (``H W`` for an ``nn.Linear`` after ``nn.Flatten``), else 1.
    """

    name: str
    rule: LayerRule
    output: UnitTransfer | None
    input: UnitTransfer | None
    block: int = 1

    @property
    def kind(self) -> str:
        """The layer kind (``"Linear"``, ``"Conv2d"``)."""
        return self.rule.kind

    def apply(self, direction: str, role: str, tensor: torch.Tensor) -> torch.Tensor:
        """Transfer one parameter-shaped tensor; ``direction`` in :data:`DIRECTIONS`, ``role`` weight or bias."""
        on_output, on_input = DIRECTIONS[check_choice("direction", direction, DIRECTIONS)]
        check_choice("role", role, ("weight", "bias"))
        sparse = not tensor.requires_grad  # MsANN's summed parameters are differentiated through the maps: dense
        output = None if self.output is None else self.output.operator(on_output, sparse=sparse)
        input = None if self.input is None else self.input.operator(on_input, sparse=sparse)
        return self.rule.transfer(output, input, role, tensor, self.block)


def parameters_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s parameters by name, detached (the form a :class:`Transfer` takes)."""
    return {name: parameter.detach() for name, parameter in model.named_parameters()}


def load_parameters(model: torch.nn.Module, values: Mapping[str, torch.Tensor]) -> None:
    """Copy ``values[name]`` into each parameter of ``model``."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.copy_(values[name])


def _as_dict(tensors: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return dict(tensors.items() if isinstance(tensors, Mapping) else tensors)


@dataclass(frozen=True, eq=False)
class Transfer:
    """The transfers between a fine network and its coarse version.

    Attributes
    ----------
    layers : tuple of LayerTransfer
        One per layer with weights, in network order.
    units : tuple of UnitTransfer
        One per coarsened layer of units, in network order.
    parameter_shapes : dict
        ``name -> (fine shape, coarse shape)`` for every parameter, in the
        order of ``model.named_parameters()``.
    """

    layers: tuple[LayerTransfer, ...]
    units: tuple[UnitTransfer, ...]
    parameter_shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]]

    @property
    def fine_widths(self) -> tuple[int, ...]:
        """Widths of the coarsened layers of units on the fine side."""
        return tuple(u.n_fine for u in self.units)

    @property
    def coarse_widths(self) -> tuple[int, ...]:
        """Widths of the coarsened layers of units on the coarse side."""
        return tuple(u.n_coarse for u in self.units)

    def _apply(self, tensors, direction: str, side: int) -> dict[str, torch.Tensor]:
        values = _as_dict(tensors)
        expected = list(self.parameter_shapes)
        if set(values) != set(expected):
            missing = sorted(set(expected) - set(values))
            unexpected = sorted(set(values) - set(expected))
            raise KeyError(f"parameter names must be {expected}; missing {missing}, unexpected {unexpected}")
        result = {}
        for layer in self.layers:
            for role in ("weight", "bias"):
                key = f"{layer.name}.{role}"
                if key not in values:
                    continue
                shape = self.parameter_shapes[key][side]
                if tuple(values[key].shape) != shape:
                    level = "fine" if side == 0 else "coarse"
                    raise ValueError(f"{key} must have the {level} shape {shape}; got {tuple(values[key].shape)}")
                result[key] = layer.apply(direction, role, values[key])
        return {key: result[key] for key in expected}

    def restrict(self, fine) -> dict[str, torch.Tensor]:
        """``R_p x = Pi x``: ``W_c = pi_{k+1} W P_k``, ``b_c = pi_{k+1} b`` (also for momentum, seed 000 §6.1.2).

        ``fine`` maps the fine parameter names to tensors of the fine shapes;
        the result has the same keys and the coarse shapes.
        """
        return self._apply(fine, "restrict", 0)

    def prolong(self, coarse) -> dict[str, torch.Tensor]:
        """``P_p x_c``: ``W = P_{k+1} W_c pi_k``, ``b = P_{k+1} b_c``."""
        return self._apply(coarse, "prolong", 1)

    def restrict_gradient(self, fine) -> dict[str, torch.Tensor]:
        """``R_g g = P_p^T g``: ``G_c = P_{k+1}^T G pi_k^T``, ``g_c = P_{k+1}^T g``."""
        return self._apply(fine, "restrict_gradient", 0)

    def correct(self, fine: Mapping[str, torch.Tensor], coarse: Mapping[str, torch.Tensor],
                restricted: Mapping[str, torch.Tensor], *, alpha: float = 1.0) -> dict[str, torch.Tensor]:
        """``x + alpha P_p (x_c - R_p x)`` (seed 000 eq. 4; eq. 36 for momentum with ``alpha = alpha_m``).

        ``restricted`` is ``R_p x`` as it was when the coarse level started
        (``x_c`` before its smoothing).  Returns new tensors; nothing is modified.
        """
        alpha = check_real("alpha", alpha)
        coarse, restricted = _as_dict(coarse), _as_dict(restricted)
        if set(coarse) != set(restricted):
            raise KeyError(f"coarse and restricted must have the same keys; got {sorted(coarse)} and {sorted(restricted)}")
        change = self.prolong({key: coarse[key] - restricted[key] for key in coarse})
        fine = _as_dict(fine)
        return {key: fine[key] + alpha * change[key] for key in change}

    def __repr__(self) -> str:
        lines = ["Transfer", "  layer   kind      units (fine -> coarse)   operators"]
        for layer in self.layers:
            unit = layer.output
            widths = "output (kept)" if unit is None else f"{unit.n_fine} -> {unit.n_coarse}"
            kind = "" if unit is None else repr(unit).split(", ")[-1].rstrip(")")
            lines.append(f"  {layer.name:<7} {layer.kind:<9} {widths:<24} {kind}")
        return "\n".join(lines)


def assemble_transfer(slots: Sequence[Slot], units: Sequence[UnitTransfer],
                      ends: tuple[UnitTransfer | None, UnitTransfer | None] = (None, None)) -> Transfer:
    """The transfer of a scanned network from the operators of its hidden layers of units (``units``, in order).

    ``ends`` are the operators of the input and of the output units (None:
    not coarsened, the network's usual case; coarse-data levels,
    :mod:`msann.coarsening.data`, coarsen them too).
    """
    first, last = ends
    layers, shapes = [], {}
    for position, slot in enumerate(slots):
        output = units[position] if position < len(units) else last
        inputs = units[position - 1] if position > 0 else first
        layers.append(LayerTransfer(slot.name, slot.rule, output, inputs, slot.block))
        for role, parameter in slot.module.named_parameters(recurse=False):
            coarse_shape = list(parameter.shape)
            if output is not None:
                coarse_shape[0] = output.n_coarse
            if role == "weight" and inputs is not None:
                coarse_shape[1] = inputs.n_coarse * slot.block
            shapes[f"{slot.name}.{role}"] = (tuple(parameter.shape), tuple(coarse_shape))
    coarsened = tuple(unit for unit in (first, *units, last) if unit is not None)
    return Transfer(tuple(layers), coarsened, shapes)
