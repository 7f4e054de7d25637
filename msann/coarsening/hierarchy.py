"""Hierarchies of coarse networks: built by a coarsener, saved and restored whole (FAS, MG/Opt).

Level ``l + 1`` is the network a :class:`~msann.coarsening.network.Coarsener`
makes of level ``l``'s, with parameters ``R_p x_l``; each level has its own
smoother and the relative cost of :data:`msann.core.cost.COST_MODELS`.  A
checkpoint holds every network, every transfer's operators, the smoothers
and the levels' method state, so a resumed hierarchy is the same one even
after re-matching.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..core.checkpoint import to_device
from ..core.cost import COST_MODELS
from ..core.level import Hierarchy, Level
from ..core.transfer import Transfer
from .network import Coarsener, transfer_state

__all__ = ["build_network_hierarchy", "load_network_hierarchy", "network_hierarchy_state"]


def build_network_hierarchy(model: nn.Module, *, depth: int, coarsen: Callable[[int, nn.Module], Transfer],
                            coarsener: Coarsener, smoother: Callable[[int, nn.Module], torch.optim.Optimizer],
                            cost_model: str, input_shape: Sequence[int] | None, state: Callable[[], dict]) -> Hierarchy:
    """Levels ``0 .. depth`` from ``model``: ``coarsen(level, network)`` gives each transfer, ``coarsener`` the coarse network."""
    models, transfers = [model], []
    for level in range(depth):
        transfers.append(coarsen(level, models[level]))
        models.append(coarsener.coarse_model(models[level], transfers[level]))
    costs = COST_MODELS[cost_model](models, input_shape)
    return Hierarchy([
        Level(level, network, list(network.parameters()), smoother(level, network), costs[level],
              sum(p.numel() for p in network.parameters()), transfers[level] if level < depth else None, state=state())
        for level, network in enumerate(models)
    ])


def network_hierarchy_state(hierarchy: Hierarchy) -> dict:
    """Networks, transfers' operators, smoothers and per-level state, for a checkpoint."""
    levels = hierarchy.levels
    return {"models": [level.model.state_dict() for level in levels],
            "units": [transfer_state(level.transfer) for level in levels[:-1]],
            "hierarchy": hierarchy.state_dict(), "levels": [dict(level.state) for level in levels]}


def load_network_hierarchy(hierarchy: Hierarchy, state: dict, *, coarsener: Coarsener,
                           install: Callable[[int, Transfer, nn.Module], None], device: torch.device) -> None:
    """Restore :func:`network_hierarchy_state`; ``install(level, transfer, coarse)`` puts each coarse network in place."""
    if len(state["models"]) != len(hierarchy):
        raise ValueError(f"the state has {len(state['models'])} level(s); this hierarchy has {len(hierarchy)}")
    hierarchy[0].model.load_state_dict(state["models"][0])
    for level, units in enumerate(state["units"]):
        fine = hierarchy[level].model
        transfer = coarsener.from_state(fine, units, device=device)
        coarse = coarsener.coarse_model(fine, transfer)
        coarse.load_state_dict(state["models"][level + 1])
        install(level, transfer, coarse)
    hierarchy.load_state_dict(state["hierarchy"])
    for level, saved in zip(hierarchy.levels, state["levels"]):
        level.state = to_device(dict(saved), device)
