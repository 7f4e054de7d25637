"""Coarse levels on coarse data: every layer of units coarsened, the data's included (SPEC §3, §5).

A *width-and-data* level is a genuinely smaller network: the input and output
layers, whose units are the data's (a path for 1D signals, a grid for
images), are coarsened with the hidden layers, and the level trains on
restricted inputs and targets.  Two kinds of operator serve it:

Parameters, in *value coordinates*.  A graph map ``P`` (``n x n_c``,
orthonormal columns) has non-zero column sums ``s = P^T 1`` (``sqrt 2`` per
halving).  The unit operators are ``Q = P diag(s)`` (prolongation) and
``pi = diag(1/s) P^T`` (restriction), ``pi Q = I`` (:func:`value_unit`): a
coarse unit holds the *value* of the fine units it covers, not a coefficient
of the orthonormal basis.  For the piecewise-constant map, ``Q`` is the 0/1
copy and ``pi`` the pairwise average, so the fine network with parameters
``P_p x_c`` computes, on data that is constant on the coarse aggregates,
exactly the prolonged output of the coarse network with ``x_c`` (a copied
unit stays a copy under any elementwise activation).  For smoother maps it
is the same construction, and the identity holds approximately for smooth
data.

Data, by averaging.  The restriction of inputs and targets is the mean over
the fine units each coarse unit covers (:class:`BlockMean`): the halvings of
the lineage (pairs along the halved axis) composed, a convex combination, so
data in ``[0, 1]`` stays in ``[0, 1]`` (``P^T`` would scale it by ``2^(l/2)``,
and a smooth map's negative lobes would overshoot).  It costs one reshape
and one mean per minibatch.

The ``"graph-data"`` coarsener (:func:`graph_data_transfer`, registered in
:data:`msann.coarsening.network.COARSENERS`) builds such a level for FAS and
MG/Opt from the data's unit shape (:func:`data_shapes`: a path for one axis,
a grid on the last two axes, channels kept); :func:`data_restrictions` gives
every level's :class:`DataRestriction`, and :func:`draw` a level's minibatch.
MsANN's coarse-data levels (:class:`msann.methods.msann.CoarseDataMsANN`) use
the same operators, data restrictions and :func:`draw`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from graphprolong.kronecker import KroneckerMap
from graphprolong.lineages import lineage_kind

from ..core.factored import KroneckerOperator, as_matrix, use_factored
from ..core.layers import scan
from ..core.transfer import Transfer, UnitTransfer, assemble_transfer, transfer_from_prolongation
from ..data.stream import MinibatchStream
from .graph import one_dimensional_map, shape_map

__all__ = ["BlockMean", "DataRestriction", "data_restrictions", "data_shapes", "draw", "graph_data_from_state",
           "graph_data_transfer", "mlp_value_transfer", "value_unit"]


def _linear_slots(model: nn.Sequential) -> list:
    slots = scan(model)
    if not all(isinstance(slot.module, nn.Linear) for slot in slots):
        kinds = sorted({type(slot.module).__name__ for slot in slots})
        raise TypeError(f"coarsening the data's units needs a fully connected network (nn.Linear layers); got layers {kinds}")
    return slots


def value_unit(P: np.ndarray | torch.Tensor | KroneckerMap | KroneckerOperator, *, dtype: torch.dtype | None = None,
               device: torch.device | str | None = None, factored: bool | None = None) -> UnitTransfer:
    """The value-coordinate operators ``Q = P diag(s)``, ``pi = diag(1/s) P^T`` of a map with orthonormal columns.

    ``s = P^T 1`` are the column sums.  The sign of a column of an orthonormal
    map is free (an eigenvector's is arbitrary), and ``Q``, ``pi`` do not
    depend on it; a column whose sum vanishes has no value to carry.  A
    Kronecker map ``P = F_1 ⊗ ... ⊗ F_d`` kept factored
    (:func:`msann.core.factored.use_factored`: when it is large, ``factored``
    None) has ``s = s_1 ⊗ ... ⊗ s_d`` (``s_a = F_a^T 1``), so ``Q`` and ``pi``
    are the Kronecker products of the factors' own value operators.

    Raises
    ------
    ValueError
        When a column sum is zero (below ``sqrt(eps)`` of the column's
        1-norm): the map does not average neighbouring units, e.g. a random
        orthogonal map.
    """
    if not use_factored(P, factored=factored):
        P = torch.as_tensor(as_matrix(P), dtype=dtype, device=device)
        Q, pi = _value_pair(P)
        return transfer_from_prolongation(Q, pi=pi)
    pairs = [_value_pair(factor, f"factor {axis} of the ") for axis, factor in
             enumerate(KroneckerOperator.from_map(P, dtype=dtype, device=device).factors)]
    return transfer_from_prolongation(KroneckerOperator(tuple(Q for Q, _ in pairs)),
                                      pi=KroneckerOperator(tuple(pi for _, pi in pairs)), factored=True)


def _value_pair(P: torch.Tensor, where: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """``(P diag(s), diag(1/s) P^T)`` with ``s = P^T 1``, after the check of :func:`value_unit`."""
    sums, norms = P.sum(dim=0), P.abs().sum(dim=0)
    small = sums.abs() <= math.sqrt(torch.finfo(P.dtype).eps) * norms
    if bool(small.any()):
        column = int(torch.nonzero(small)[0])
        raise ValueError(f"a coarse-data map needs columns with non-zero sums (a map that averages neighbouring units); "
                         f"column {column} of {where or 'the '}{tuple(P.shape)} map sums to {float(sums[column]):.3g}")
    return P * sums, (P / sums).T


def mlp_value_transfer(model: nn.Sequential, maps: Sequence[np.ndarray | torch.Tensor]) -> Transfer:
    """The transfer of an MLP whose every layer of units (input and output included) is coarsened.

    Parameters
    ----------
    model : torch.nn.Sequential
        ``nn.Linear`` layers with elementwise activations between them.
    maps : sequence of matrices or Kronecker maps
        ``P_i`` (``n_i x n_i^c``, orthonormal columns) of every unit layer ``i``,
        input first: one more than the network's ``nn.Linear`` layers.  A large
        Kronecker map (e.g. an image's, :func:`~msann.coarsening.graph.shape_map`
        with ``factored``) gives factored operators (:func:`value_unit`).
    """
    slots = _linear_slots(model)
    if len(maps) != len(slots) + 1:
        raise ValueError(f"need one map per layer of units, input and output included ({len(slots) + 1}); got {len(maps)}")
    weight = slots[0].module.weight
    units = [value_unit(P, dtype=weight.dtype, device=weight.device) for P in maps]
    widths = [slots[0].module.in_features] + [slot.module.out_features for slot in slots]
    for index, (unit, width) in enumerate(zip(units, widths)):
        if unit.n_fine != width:
            raise ValueError(f"map {index} must have {width} rows (the units of layer {index}); got shape {(unit.n_fine, unit.n_coarse)}")
    return assemble_transfer(slots, units[1:-1], ends=(units[0], units[-1]))


@dataclass(frozen=True)
class BlockMean:
    """Restriction of data by the mean over blocks: ``fine_shape`` -> ``coarse_shape`` (row-major flattening).

    Every side of ``coarse_shape`` divides the same side of ``fine_shape``; a
    coarse unit is the mean of the ``prod(fine / coarse)`` fine units of its
    block, which is what the lineage's halvings (pairs along an axis)
    compose to.

    Examples
    --------
    >>> restrict = BlockMean((4,), (2,))
    >>> restrict(torch.tensor([[0.0, 1.0, 1.0, 1.0]]))
    tensor([[0.5000, 1.0000]])
    """

    fine_shape: tuple[int, ...]
    coarse_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        fine, coarse = tuple(self.fine_shape), tuple(self.coarse_shape)
        if len(fine) != len(coarse) or any(c < 1 or f % c for f, c in zip(fine, coarse)):
            raise ValueError(f"every side of the coarse shape must divide the fine shape's; got {fine} -> {coarse}")

    @property
    def factor(self) -> int:
        """Fine units per coarse unit."""
        return math.prod(self.fine_shape) // math.prod(self.coarse_shape)

    def __call__(self, data: torch.Tensor) -> torch.Tensor:
        """``data`` (``batch x prod(fine_shape)``) restricted to ``batch x prod(coarse_shape)``."""
        if self.factor == 1:
            return data
        blocks = [size for c, f in zip(self.coarse_shape, self.fine_shape) for size in (c, f // c)]
        axes = tuple(range(2, 2 * len(self.fine_shape) + 1, 2))
        return data.reshape(data.shape[0], *blocks).mean(dim=axes).reshape(data.shape[0], -1)

    def matrix(self) -> np.ndarray:
        """The restriction as a dense ``prod(coarse) x prod(fine)`` matrix (for tests and small layers)."""
        return self(torch.eye(math.prod(self.fine_shape), dtype=torch.float64)).T.numpy()


@dataclass(frozen=True)
class DataRestriction:
    """A level's inputs and targets, restricted from the finest data by block means.

    Attributes
    ----------
    inputs : BlockMean
        Of the input units.
    targets : BlockMean or None
        Of the target units (None: as the inputs, e.g. an autoencoder's).
    """

    inputs: BlockMean
    targets: BlockMean | None = None

    @property
    def key(self) -> tuple:
        """What identifies the restriction (for :meth:`msann.data.MinibatchStream.derived`)."""
        ends = (self.inputs,) if self.targets is None else (self.inputs, self.targets)
        return ("block mean",) + tuple((end.fine_shape, end.coarse_shape) for end in ends)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs(inputs), (self.targets or self.inputs)(targets)

    def step_from(self, finer: DataRestriction | None) -> DataRestriction:
        """The restriction from ``finer``'s data (a finer level's; None: the finest data) to this one's."""
        if finer is None:
            return self
        targets = None if self.targets is None else BlockMean(finer.targets.coarse_shape, self.targets.coarse_shape)
        return DataRestriction(BlockMean(finer.inputs.coarse_shape, self.inputs.coarse_shape), targets)


def data_shapes(shape: Sequence[int], *, levels: int) -> list[tuple[int, ...]]:
    """The data's unit shape at levels ``0 .. levels``: halvings of a path (one axis) or of a grid (the last two axes).

    Leading axes of a shape with three or more (channels) are kept.  Every
    level keeps at least 2 units.

    Raises
    ------
    ValueError
        When a side to halve is odd, or a level would keep fewer than 2 units.

    Examples
    --------
    >>> data_shapes((4, 32, 32), levels=2)
    [(4, 32, 32), (4, 32, 16), (4, 16, 16)]
    """
    shape = tuple(int(side) for side in shape)
    lead, space = (shape[:-2], shape[-2:]) if len(shape) >= 2 else ((), shape)
    try:
        spaces = lineage_kind("path" if len(space) == 1 else "grid").coarsen(space, levels=levels)
    except ValueError as error:
        raise ValueError(f"the data's units {shape} cannot be coarsened {levels} times: {error}") from None
    if math.prod(spaces[-1]) < 2:
        raise ValueError(f"the data's units {shape} cannot be coarsened {levels} times: level {levels} would keep "
                         f"{math.prod(spaces[-1])} unit of their graph (shape {lead + spaces[-1]}); every level must keep at least 2")
    return [lead + space for space in spaces]


def data_restrictions(data_shape: Sequence[int], target_shape: Sequence[int] | None = None, *,
                      levels: int) -> list[DataRestriction | None]:
    """Every level's :class:`DataRestriction` from the finest data (None at level 0).

    ``target_shape`` None: the targets are the inputs' units (autoencoders).
    """
    inputs = data_shapes(data_shape, levels=levels)
    targets = None if target_shape is None else data_shapes(target_shape, levels=levels)
    return [None] + [DataRestriction(BlockMean(inputs[0], inputs[level]),
                                     None if targets is None else BlockMean(targets[0], targets[level]))
                     for level in range(1, levels + 1)]


def draw(stream: Iterator[tuple[torch.Tensor, torch.Tensor]],
         restriction: DataRestriction | None, *, batches: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The stream's next minibatch at a level's data (``restriction`` None: as drawn).

    From a :class:`~msann.data.MinibatchStream` the data set is restricted
    once per level and the minibatch gathered from it (the same numbers,
    without averaging every fine minibatch again).  ``batches`` > 1 joins the
    stream's next ``batches`` minibatches into one, in stream order.
    """
    if restriction is not None and isinstance(stream, MinibatchStream):
        inputs, targets = stream.derived(restriction.key, restriction.inputs, restriction.targets)
        index = stream.next_index() if batches == 1 else torch.cat([stream.next_index() for _ in range(batches)])
        return inputs.index_select(0, index), targets.index_select(0, index)
    if batches == 1:
        batch = next(stream)
    else:
        parts = [next(stream) for _ in range(batches)]
        batch = torch.cat([inputs for inputs, _ in parts]), torch.cat([targets for _, targets in parts])
    return batch if restriction is None else restriction(*batch)


def _shape_at(shape: Sequence[int], width: int, role: str) -> tuple[int, ...]:
    """The shape among the halvings of ``shape`` with ``width`` units (a coarse level's data units)."""
    levels = max(0, round(math.log2(max(1, math.prod(shape) // width))))
    shapes = data_shapes(shape, levels=levels)
    if math.prod(shapes[-1]) != width:
        raise ValueError(f"the network's {role} layer has {width} units; the halvings of the data's units {tuple(shape)} "
                         f"have {[math.prod(s) for s in shapes]}")
    return shapes[-1]


def graph_data_transfer(model: nn.Sequential, *, options, rng: np.random.Generator | None = None) -> Transfer:
    """The ``"graph-data"`` coarsener: every layer of units halved by graph maps, the data's included.

    The input and output units follow the data's graph (``options.data_shape``
    and ``options.target_shape``, the finest data's; a coarse network's are
    found among their halvings), the hidden ones a path
    (:func:`~msann.coarsening.graph.one_dimensional_map` of ``options.graph_method``),
    all in value coordinates (:func:`value_unit`; a large data map stays factored).
    """
    if options.data_shape is None:
        raise ValueError("the 'graph-data' coarsener halves the data's units too: it needs their shape "
                         "(CoarseningOptions.data_shape); got none")
    slots = _linear_slots(model)
    first, last = slots[0].module, slots[-1].module
    ends = [_shape_at(shape, width, role) for shape, width, role in
            ((options.data_shape, first.in_features, "input"),
             (options.target_shape or options.data_shape, last.out_features, "output"))]
    hidden = []
    for slot in slots[:-1]:
        width = slot.module.out_features
        if width % 2:
            raise ValueError(f"the 'graph-data' coarsener halves a path of hidden units; layer {slot.index} ('{slot.name}') "
                             f"has {width} (odd)")
        hidden.append(np.array(one_dimensional_map(width // 2, method=options.graph_method)))
    maps = [shape_map(shape, data_shapes(shape, levels=1)[1], method=options.graph_method, factored=True) for shape in ends]
    return mlp_value_transfer(model, [maps[0], *hidden, maps[1]])


def graph_data_from_state(model: nn.Sequential, units: Sequence[tuple], *, device: torch.device) -> Transfer:
    """The ``"graph-data"`` transfer of ``model`` from :func:`msann.coarsening.network.transfer_state` (input and output units included)."""
    operators = [UnitTransfer(P.to(device), pi.to(device)) for P, pi, _, _ in units]
    return assemble_transfer(scan(model), operators[1:-1], ends=(operators[0], operators[-1]))
