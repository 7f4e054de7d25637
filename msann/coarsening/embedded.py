"""The embedded coarsener of MsANN: coarse levels that live inside the fine network (seed 002 eq. 3.6).

MsANN keeps one network of the finest shapes whose parameters are sums over
levels, ``Theta = sum_l Pro_{l->0} theta^(l)``.  Level ``l`` of unit layer
``i`` is reached from the finest through the composite map
``C_i^(l) = P_i^(0) P_i^(1) ... P_i^(l-1)`` (orthonormal columns, so its
restriction is ``C^T``).  :func:`embedded_transfer` makes the composite maps
of one level into the project's one transfer operator
(:class:`msann.core.transfer.Transfer`): ``Pro_{l->0}`` is its ``prolong``
(``P_out W pi_in = C_out W C_in^T``) and ``Res_{0->l}`` its
``restrict_gradient`` (``C_out^T G C_in``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..core.layers import LAYER_RULES
from ..core.transfer import LayerTransfer, Transfer, UnitTransfer

__all__ = ["composite_maps", "embedded_transfer", "mlp_parameter_names"]


def composite_maps(maps: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``[I, P^(0), P^(0) P^(1), ...]``: the composed prolongations ``Pro_{l -> 0}`` of levels ``0 .. L``."""
    if not maps:
        raise ValueError("composite_maps needs at least one map (use levels >= 1)")
    composite = [np.eye(maps[0].shape[0])]
    for P in maps:
        if P.shape[0] != composite[-1].shape[1]:
            raise ValueError(f"maps do not chain: {composite[-1].shape} then {P.shape}")
        composite.append(composite[-1] @ P)
    return composite


def mlp_parameter_names(n_layers: int, *, bias: bool) -> list[str]:
    """The parameter names of an MLP's transfer, in layer order: ``"0.weight", "0.bias", "1.weight", ...``."""
    roles = ("weight", "bias") if bias else ("weight",)
    return [f"{j}.{role}" for j in range(n_layers) for role in roles]


def embedded_transfer(composites: Sequence[torch.Tensor], *, bias: bool) -> Transfer:
    """The transfer between an MLP's level-``l`` parameters and its finest shapes.

    Parameters
    ----------
    composites : sequence of torch.Tensor
        ``C_i^(l)`` of every unit layer ``i`` of the MLP, input first
        (``w_i x w_i^(l)``, orthonormal columns).
    bias : bool
        Whether the layers have biases.
    """
    units = tuple(UnitTransfer.orthonormal(C) for C in composites)
    rule = LAYER_RULES[nn.Linear]
    layers = tuple(LayerTransfer(str(j), rule, units[j + 1], units[j]) for j in range(len(units) - 1))
    shapes = {}
    for j in range(len(layers)):
        fine, coarse = (units[j + 1].n_fine, units[j].n_fine), (units[j + 1].n_coarse, units[j].n_coarse)
        shapes[f"{j}.weight"] = (fine, coarse)
        if bias:
            shapes[f"{j}.bias"] = (fine[:1], coarse[:1])
    return Transfer(layers, units, shapes)
