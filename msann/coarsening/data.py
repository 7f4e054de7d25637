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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..core.layers import scan
from ..core.transfer import Transfer, UnitTransfer, transfer_from_prolongation
from .network import assemble_transfer

__all__ = ["BlockMean", "mlp_value_transfer", "value_unit"]


def value_unit(P: np.ndarray | torch.Tensor, *, dtype: torch.dtype | None = None,
               device: torch.device | str | None = None) -> UnitTransfer:
    """The value-coordinate operators ``Q = P diag(s)``, ``pi = diag(1/s) P^T`` of a map with orthonormal columns.

    ``s = P^T 1`` are the column sums.  The sign of a column of an orthonormal
    map is free (an eigenvector's is arbitrary), and ``Q``, ``pi`` do not
    depend on it; a column whose sum vanishes has no value to carry.

    Raises
    ------
    ValueError
        When a column sum is zero (below ``sqrt(eps)`` of the column's
        1-norm): the map does not average neighbouring units, e.g. a random
        orthogonal map.
    """
    P = torch.as_tensor(P, dtype=dtype, device=device)
    sums, norms = P.sum(dim=0), P.abs().sum(dim=0)
    small = sums.abs() <= math.sqrt(torch.finfo(P.dtype).eps) * norms
    if bool(small.any()):
        column = int(torch.nonzero(small)[0])
        raise ValueError(f"a coarse-data map needs columns with non-zero sums (a map that averages neighbouring units); "
                         f"column {column} of the {tuple(P.shape)} map sums to {float(sums[column]):.3g}")
    return transfer_from_prolongation(P * sums, pi=(P / sums).T)


def mlp_value_transfer(model: nn.Sequential, maps: Sequence[np.ndarray | torch.Tensor]) -> Transfer:
    """The transfer of an MLP whose every layer of units (input and output included) is coarsened.

    Parameters
    ----------
    model : torch.nn.Sequential
        ``nn.Linear`` layers with elementwise activations between them.
    maps : sequence of matrices
        ``P_i`` (``n_i x n_i^c``, orthonormal columns) of every unit layer ``i``,
        input first: one more than the network's ``nn.Linear`` layers.
    """
    slots = scan(model)
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
