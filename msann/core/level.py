"""Levels and the hierarchy: what every multilevel method trains on (STYLE.md practice 2).

A :class:`Hierarchy` is a list of :class:`Level` records, finest first, in
the manner of PyAMG's ``MultilevelSolver``.  A level owns what a visit to it
needs: the model a forward pass at that level runs (its own coarse network,
or the shared network of MsANN), the parameters its smoother updates, the
smoother itself (an ordinary ``torch.optim`` optimiser with its own state),
the transfer to the next coarser level, an optional data transfer (inputs
and targets restricted for a level that trains on coarse data), its cost per
example relative to the finest model, and the method's per-level state
(FAS: ``tau`` and its minibatches; MG/Opt: the gate's and the line search's).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

__all__ = ["Hierarchy", "Level"]


@dataclasses.dataclass
class Level:
    """One level of a hierarchy.

    Attributes
    ----------
    index : int
        0 is the finest.
    model : torch.nn.Module or None
        What a forward pass at this level runs.
    parameters : list of torch.nn.Parameter
        What a smoothing step at this level updates.
    smoother : torch.optim.Optimizer or None
        Its optimiser, with per-level state.
    relative_cost : float
        Cost of one example at this level relative to the finest model
        (MsANN: ``|M_l| / |M_0|``; FAS: its work-unit share).
    size : int
        Number of trainable parameters of the level's standalone model.
    transfer : msann.core.transfer.Transfer or None
        Operators to the next coarser level (None at the coarsest, and where
        the method keeps its levels inside one network).
    data_transfer : object or None
        Restriction of inputs and targets to this level's data (None: the
        level trains on the fine data).
    batches : int
        Minibatches of the stream one smoothing step at this level takes
        (charged ``batches`` times a step's cost); 1 but for MsANN's
        ``[hierarchy] batch_factor``.
    state : dict
        Method-specific state of this level, saved with the method.
    """

    index: int
    model: nn.Module | None
    parameters: list
    smoother: Any
    relative_cost: float
    size: int
    transfer: Any = None
    data_transfer: Any = None
    batches: int = 1
    state: dict = dataclasses.field(default_factory=dict)

    def install(self, model: nn.Module, smoother: Any) -> None:
        """Make ``model`` (all of its parameters) this level's model, with ``smoother`` over them."""
        self.model, self.parameters, self.smoother = model, list(model.parameters()), smoother
        self.size = sum(p.numel() for p in self.parameters)


@dataclasses.dataclass
class Hierarchy:
    """Levels, finest first."""

    levels: list[Level]

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("a hierarchy needs at least one level")
        for position, level in enumerate(self.levels):
            if level.index != position:
                raise ValueError(f"level {position} has index {level.index}; levels must be listed finest first")

    @property
    def depth(self) -> int:
        """``L``: the index of the coarsest level."""
        return len(self.levels) - 1

    def __len__(self) -> int:
        return len(self.levels)

    def __getitem__(self, index: int) -> Level:
        return self.levels[index]

    def __iter__(self):
        return iter(self.levels)

    def __repr__(self) -> str:
        lines = [f"Hierarchy of {len(self.levels)} level(s)", "  level   parameters   relative cost   smoother"]
        for level in self.levels:
            smoother = type(level.smoother).__name__ if level.smoother is not None else "-"
            lines.append(f"  {level.index:5d}   {level.size:10d}   {level.relative_cost:13.4g}   {smoother}")
        return "\n".join(lines)

    def state_dict(self) -> dict:
        """The smoothers' states, per level (the parameters belong to the method's models)."""
        return {"smoothers": [level.smoother.state_dict() if level.smoother is not None else None for level in self.levels]}

    def load_state_dict(self, state: dict) -> None:
        smoothers = state["smoothers"]
        if len(smoothers) != len(self.levels):
            raise ValueError(f"the state has {len(smoothers)} level(s); this hierarchy has {len(self.levels)}")
        for level, smoother in zip(self.levels, smoothers):
            if smoother is not None:
                level.smoother.load_state_dict(smoother)
