"""The MsANN network: an MLP whose parameters are sums of prolonged coarse parameters (seed 002 §3.4; SPEC §3).

Each weight and bias of :class:`MsANNAutoencoder` is a sum over levels (eq. 3.6-3.8)::

    Theta_j = theta_j^(0) + Pro_{1->0} theta_j^(1) + ... + Pro_{L->0} theta_j^(L),

with ``Pro W = C_out W C_in^T`` for torch's ``out x in`` weights and
``Pro b = C_out b``: the project's one transfer operator on the composite
maps (:func:`msann.coarsening.embedded.embedded_transfer`), computed once.
The coarse parameters start at zero, so the network starts as the plain
network's initialisation, and ``L = 0`` is plain training.  A smoothing step
at level ``l`` updates ``theta^(l)`` only; its gradient is ``Res_{0->l}`` of
the gradient with respect to ``Theta`` (eq. 3.13), which autograd gives.

The running total and the open visit.  Buffers ``total_w{j}``/``total_b{j}``
hold ``Theta`` (so checkpoints keep it bit for bit).  While level ``l`` is
smoothed, a snapshot of ``theta^(l)`` is taken and the forward pass uses
``Theta_j = total_j + Pro (theta^(l) - snapshot)``, the second term applied
to the batch in factored form ``((x C_in) delta^T) C_out^T``: a step costs
``O(batch x widths)``, not the dense ``O(width^3)`` of forming ``Pro theta``.
Leaving the level folds the change into the total (one dense ``Pro`` per
visit); :meth:`MsANNAutoencoder.synchronise` recomputes the total exactly.

Large image layers.  A unit layer whose maps are Kronecker maps of at least
:data:`msann.core.factored.FACTORED_MIN_ENTRIES` entries (the first map; or
every Kronecker chain with ``factored=True``) keeps its composite maps as
their per-axis factors (``C = ⊗_a (P_a^(0) ... P_a^(l-1))``, buffers
``composite_{i}_{l}_f{a}``) and applies them as
:class:`msann.core.factored.KroneckerOperator` s, so a 256x256-pixel layer
never forms its 65536 x 16384 composite.  The parameters ``Theta`` stay
dense: they are the network's own weights.  Smaller maps are dense, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from graphprolong.kronecker import KroneckerMap

from ..coarsening.embedded import composite_maps, embedded_transfer, mlp_parameter_names
from ..core.factored import KroneckerOperator, use_factored
from ..core.layers import along
from ..core.transfer import Transfer
from .mlp import activation as activation_function
from .mlp import check_widths, initial_linears

__all__ = ["MsANNAutoencoder"]


class MsANNAutoencoder(torch.nn.Module):
    """An MLP whose parameters are sums of prolonged coarse parameters (eq. 3.6).

    Parameters
    ----------
    widths : sequence of int
        Unit counts of the finest model's layers, input first.
    maps : sequence of sequences of numpy arrays or KroneckerMaps
        ``maps[i][l]``: ``P^(l)`` of unit layer ``i`` (``w_{i,l} x w_{i,l+1}``);
        every layer needs the same number ``L`` of maps.  A layer's chain of
        :class:`graphprolong.kronecker.KroneckerMap` s may be kept factored
        (module docstring).
    activation, output_activation : str
        Keys of :data:`msann.models.mlp.ACTIVATIONS` (hidden layers; last layer).
    bias : bool
    seed : int
        Initialisation of ``theta^(0)`` (torch's ``nn.Linear`` default); coarse levels start at zero.
    dtype : torch.dtype, optional
    factored : bool, optional
        Keep chains of Kronecker maps factored: None (default) by the size rule
        of :func:`msann.core.factored.use_factored` on a chain's first map;
        True every such chain; False none (every map multiplied out).
    """

    def __init__(self, widths, maps, *, activation="sigmoid", output_activation="sigmoid", bias=True, seed=0, dtype=None,
                 factored: bool | None = None):
        super().__init__()
        widths = check_widths(widths)
        if len(maps) != len(widths):
            raise ValueError(f"need one map chain per unit layer ({len(widths)}); got {len(maps)}")
        depths = {len(chain) for chain in maps}
        if len(depths) != 1:
            raise ValueError(f"every unit layer needs the same number of levels; got chains of lengths {sorted(depths)}")
        self.depth = depths.pop()
        self.widths, self.bias = widths, bias
        self.activation_names = (activation, output_activation)
        self._activation, self._output_activation = activation_function(activation), activation_function(output_activation)
        dtype = dtype or torch.get_default_dtype()
        self.level_widths = [[width] for width in widths]  # level_widths[i][l]
        self._factor_counts = {}  # unit layer -> number of Kronecker factors of its composites (factored layers only)
        for i, chain in enumerate(maps):
            self._register_composites(i, list(chain), dtype, factored)
        self.thetas = torch.nn.ParameterDict()
        for j, linear in enumerate(initial_linears(widths, bias=bias, seed=seed, dtype=dtype)):
            self.thetas[f"w{j}_0"] = torch.nn.Parameter(linear.weight.detach().clone())
            if bias:
                self.thetas[f"b{j}_0"] = torch.nn.Parameter(linear.bias.detach().clone())
            for l in range(1, self.depth + 1):
                out_width, in_width = self.level_widths[j + 1][l], self.level_widths[j][l]
                self.thetas[f"w{j}_{l}"] = torch.nn.Parameter(torch.zeros(out_width, in_width, dtype=dtype))
                if bias:
                    self.thetas[f"b{j}_{l}"] = torch.nn.Parameter(torch.zeros(out_width, dtype=dtype))
        for j in range(self.n_layers):
            self.register_buffer(f"total_w{j}", self.thetas[f"w{j}_0"].detach().clone())
            if bias:
                self.register_buffer(f"total_b{j}", self.thetas[f"b{j}_0"].detach().clone())
        self._focus, self._snapshot = None, None

    def _register_composites(self, unit_layer: int, chain: list, dtype, factored: bool | None) -> None:
        if not chain:
            return
        kronecker = all(isinstance(P, KroneckerMap) for P in chain)
        if not (kronecker and use_factored(chain[0], factored=factored)):
            chain = [np.asarray(P, dtype=float) for P in chain]
        for l, P in enumerate(chain):
            previous = self.widths[unit_layer] if l == 0 else chain[l - 1].shape[1]
            if P.shape[0] != previous:
                raise ValueError(f"unit layer {unit_layer}: map {l} has shape {P.shape}; it must start from {previous} units")
            self.level_widths[unit_layer].append(P.shape[1])
        if isinstance(chain[0], KroneckerMap):
            composite = chain[0]
            for l, P in enumerate(chain, start=1):
                composite = composite if l == 1 else composite @ P  # the Kronecker maps' product, factor by factor
                for axis, factor in enumerate(composite.factors):
                    self.register_buffer(f"composite_{unit_layer}_{l}_f{axis}", torch.as_tensor(np.array(factor, dtype=float), dtype=dtype))
            self._factor_counts[unit_layer] = len(chain[0].factors)
            return
        for l, composite in enumerate(composite_maps(chain)[1:], start=1):
            self.register_buffer(f"composite_{unit_layer}_{l}", torch.as_tensor(composite, dtype=dtype))

    # -- structure -------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1

    def composite(self, unit_layer: int, level: int) -> torch.Tensor | KroneckerOperator | None:
        """``Pro_{level -> 0}`` of a unit layer: a tensor, or its factors' operator (None for level 0: the identity)."""
        if level == 0:
            return None
        if unit_layer in self._factor_counts:
            prefix = f"composite_{unit_layer}_{level}_f"
            return KroneckerOperator(tuple(self.get_buffer(f"{prefix}{axis}") for axis in range(self._factor_counts[unit_layer])))
        return self.get_buffer(f"composite_{unit_layer}_{level}")

    def transfer(self, level: int) -> Transfer | None:
        """The transfer between ``theta^(level)`` and the finest shapes (None for level 0: the identity)."""
        if level == 0:
            return None
        return embedded_transfer([self.composite(i, level) for i in range(len(self.widths))], bias=self.bias)

    def level_parameters(self, level: int) -> list:
        """``theta^(level)``: weights and biases of every layer, in layer order."""
        return [self.thetas[name] for name in self._names(level)]

    def _names(self, level: int) -> list[str]:
        roles = ("w", "b") if self.bias else ("w",)
        return [f"{role}{j}_{level}" for j in range(self.n_layers) for role in roles]

    def level_size(self, level: int) -> int:
        """``|M_l|``: trainable parameters of level ``level``'s standalone model."""
        return sum(p.numel() for p in self.level_parameters(level))

    # -- Pro ---------------------------------------------------------------
    def prolong(self, level: int, tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``Pro_{level->0}`` of level-shaped tensors given in :meth:`level_parameters` order."""
        transfer = self.transfer(level)
        if transfer is None:
            return list(tensors)
        names = mlp_parameter_names(self.n_layers, bias=self.bias)
        return list(transfer.prolong(dict(zip(names, tensors, strict=True))).values())

    def _pairs(self, flat: list) -> list[tuple]:
        """``[(weight, bias or None)]`` per layer from a flat list in parameter order."""
        if self.bias:
            return [(flat[2 * j], flat[2 * j + 1]) for j in range(self.n_layers)]
        return [(weight, None) for weight in flat]

    def effective_parameters(self, *, exclude: int | None = None):
        """``[(Theta_W, Theta_b)]`` per layer: the sum over levels (``exclude``: leave one level out)."""
        total = None
        for level in range(self.depth + 1):
            if level == exclude:
                continue
            share = self._pairs(self.prolong(level, self.level_parameters(level)))
            total = share if total is None else [
                (w0 + w1, None if b0 is None else b0 + b1) for (w0, b0), (w1, b1) in zip(total, share)
            ]
        return total

    # -- the running total and the open visit (module docstring) ------------
    def focus(self, level: int | None) -> None:
        """Differentiate ``theta^(level)`` only in forward passes (None: every level, the exact sum)."""
        if level == self._focus:
            return
        self._close()
        if level is None:
            self.synchronise()
        elif self.depth > 0:
            self._snapshot = [p.detach().clone() for p in self.level_parameters(level)]
        self._focus = level

    def _close(self) -> None:
        """Fold the open visit's change into the running total."""
        if self._focus is None or self._snapshot is None:
            self._snapshot = None
            return
        with torch.no_grad():
            changes = self.prolong(self._focus, self._changes())
            for name, change in zip(self._total_names(), changes):
                self.get_buffer(name).add_(change)
        self._snapshot = None

    def _total_names(self) -> list[str]:
        roles = ("w", "b") if self.bias else ("w",)
        return [f"total_{role}{j}" for j in range(self.n_layers) for role in roles]

    def _changes(self) -> list[torch.Tensor]:
        """``theta^(focus) - snapshot`` per parameter of the open visit (differentiable)."""
        return [p - s for p, s in zip(self.level_parameters(self._focus), self._snapshot)]

    def synchronise(self) -> None:
        """Recompute the running total exactly as ``sum_l Pro theta^(l)``."""
        self._close()
        with torch.no_grad():
            for j, (weight, bias) in enumerate(self.effective_parameters()):
                self.get_buffer(f"total_w{j}").copy_(weight)
                if bias is not None:
                    self.get_buffer(f"total_b{j}").copy_(bias)

    def _layer(self, j: int, x, delta_w, delta_b, transfer: Transfer | None):
        """Layer ``j``'s affine map of ``x`` in the open visit of the focused level."""
        total_w = self.get_buffer(f"total_w{j}")
        total_b = self.get_buffer(f"total_b{j}") if self.bias else None
        if transfer is None:
            return torch.nn.functional.linear(x, total_w + delta_w, None if total_b is None else total_b + delta_b)
        layer = transfer.layers[j]
        y = torch.nn.functional.linear(x, total_w, total_b)
        y = y + ((x @ layer.input.pi.T) @ delta_w.T) @ layer.output.P.T  # tensor @ KroneckerOperator: its __rmatmul__
        if delta_b is None:
            return y
        return y + (along(layer.output.P, delta_b, 0) if layer.output.factored else layer.output.P @ delta_b)

    def forward(self, x):
        if self.depth == 0:
            parameters = self._pairs(self.level_parameters(0))
        elif self._focus is None:
            parameters = self.effective_parameters()
        else:
            parameters, deltas, transfer = None, self._pairs(self._changes()), self.transfer(self._focus)
        for j in range(self.n_layers):
            x = self._layer(j, x, *deltas[j], transfer) if parameters is None else torch.nn.functional.linear(x, *parameters[j])
            x = self._output_activation(x) if j == self.n_layers - 1 else self._activation(x)
        return x

    def get_extra_state(self) -> dict:
        return {"focus": self._focus, "snapshot": self._snapshot}

    def set_extra_state(self, state: dict) -> None:
        device = self.thetas["w0_0"].device
        snapshot = state["snapshot"]
        self._focus = state["focus"]
        self._snapshot = None if snapshot is None else [tensor.to(device) for tensor in snapshot]
