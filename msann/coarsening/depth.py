"""The depth hierarchy: a coarse ResNet with half the residual blocks and twice the step (seed 004 §3.4, Ex. 3.34-3.36).

Blocks are the "units" of this coarsening.  The prolongation ``P`` maps the
``n_c = n / 2`` coarse blocks to the ``n`` fine ones, per parameter:

``"constant"``
    ``theta_{2j} = theta_{2j+1} = thetab_j`` (each coarse block copied to its two fine blocks);
``"linear"``
    ``theta_{2j} = thetab_j``, ``theta_{2j+1} = (thetab_j + thetab_{j+1}) / 2`` (the last copies ``thetab_{n_c-1}``).

The parameter restriction is the left inverse ``R_p = (P^T P)^{-1} P^T``
(``P^T / 2`` for constant interpolation, so ``R_p P_p = I``), the gradient
restriction ``R_g = P^T``.  The opening and closing layers are shared by
all levels (the identity).  A fine ResNet whose blocks are pairwise copies
at step ``h`` computes the coarse ResNet at step ``2h`` up to ``O(h^2)``
(two Euler steps against one of twice the size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..core.layers import along
from ..core.transfer import Transfer, UnitTransfer, transfer_from_prolongation
from ..models.resnet import ResNet

__all__ = ["INTERPOLATIONS", "DepthTransfer", "depth_coarse_model", "depth_from_state", "depth_transfer", "interpolation_matrix"]

#: Interpolations of the depth prolongation.
INTERPOLATIONS = ("constant", "linear")


def interpolation_matrix(n_coarse: int, kind: str, *, dtype=torch.float64) -> torch.Tensor:
    """``P`` (``2 n_coarse x n_coarse``) of ``"constant"`` or ``"linear"`` interpolation (module docstring)."""
    P = torch.zeros(2 * n_coarse, n_coarse, dtype=dtype)
    for j in range(n_coarse):
        P[2 * j, j] = 1.0
        if kind == "constant" or j == n_coarse - 1:
            P[2 * j + 1, j] = 1.0
        else:
            P[2 * j + 1, j] = P[2 * j + 1, j + 1] = 0.5
    return P


class DepthTransfer(Transfer):
    """The transfers between a ResNet of ``n`` blocks and one of ``n / 2`` (the block axis is the unit axis)."""

    def _blocks(self, tensors: Mapping[str, torch.Tensor], count: int, role: str) -> torch.Tensor:
        return torch.stack([tensors[f"blocks.{j}.{role}"] for j in range(count)])

    def _map(self, tensors, matrix: torch.Tensor, side: int) -> dict[str, torch.Tensor]:
        values = dict(tensors.items() if isinstance(tensors, Mapping) else tensors)
        counts = (self.units[0].n_fine, self.units[0].n_coarse)
        expected = {f"blocks.{j}.{role}" for j in range(counts[side]) for role in ("weight", "bias")} | set(self.parameter_shapes)
        if set(values) != expected:
            raise KeyError(f"parameter names must be {sorted(expected)}; got {sorted(values)}")
        result = {name: values[name] for name in self.parameter_shapes}
        for role in ("weight", "bias"):
            mapped = along(matrix, self._blocks(values, counts[side], role), 0)
            result.update({f"blocks.{j}.{role}": block for j, block in enumerate(mapped)})
        return result

    def restrict(self, fine) -> dict[str, torch.Tensor]:
        """``R_p``: coarse block ``j`` = ``sum_i pi[j, i]`` fine block ``i``; opening and closing kept."""
        return self._map(fine, self.units[0].pi, 0)

    def prolong(self, coarse) -> dict[str, torch.Tensor]:
        """``P_p``: fine block ``i`` = ``sum_j P[i, j]`` coarse block ``j``."""
        return self._map(coarse, self.units[0].P, 1)

    def restrict_gradient(self, fine) -> dict[str, torch.Tensor]:
        """``R_g = P_p^T``."""
        return self._map(fine, self.units[0].P.T, 0)


def _shared_shapes(model: ResNet) -> dict:
    return {name: (tuple(p.shape), tuple(p.shape)) for name, p in model.named_parameters() if not name.startswith("blocks.")}


def depth_transfer(model: ResNet, *, options, rng=None) -> DepthTransfer:
    """The depth coarsener: ``options.interpolation`` over the blocks of ``model`` (an even number of them)."""
    if not isinstance(model, ResNet):
        raise TypeError(f"the depth coarsener needs a msann.models.resnet.ResNet; got {type(model).__name__}")
    blocks = len(model.blocks)
    if blocks < 2 or blocks % 2:
        raise ValueError(f"a depth hierarchy pairs residual blocks: the network needs an even number >= 2 of them; got {blocks}")
    weight = model.opening.weight
    P = interpolation_matrix(blocks // 2, options.interpolation, dtype=weight.dtype).to(weight.device)
    return DepthTransfer((), (transfer_from_prolongation(P),), _shared_shapes(model))


def depth_coarse_model(model: ResNet, transfer: DepthTransfer) -> ResNet:
    """The coarse ResNet (half the blocks, step ``2h``) with parameters ``R_p`` of ``model``'s."""
    coarse = model.with_blocks(transfer.units[0].n_coarse, 2 * model.step)
    restricted = transfer.restrict({name: p.detach() for name, p in model.named_parameters()})
    with torch.no_grad():
        for name, parameter in coarse.named_parameters():
            parameter.copy_(restricted[name])
    return coarse.train(model.training)


def depth_from_state(model: ResNet, units: Sequence[tuple], *, device: torch.device) -> DepthTransfer:
    """The depth transfer of ``model`` from its saved operators."""
    (P, pi, _, _), = units
    return DepthTransfer((), (UnitTransfer(P.to(device), pi.to(device)),), _shared_shapes(model))
