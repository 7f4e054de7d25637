"""What the driver drives: the base class of every multilevel method.

A method gives the meaning of the cycle's three events (:mod:`msann.core.cycle`)
on a :class:`~msann.core.level.Hierarchy`; methods differ only in their
coarse objective and their correction.  Every hook a method may supply is
declared here with its default, so the driver never asks whether a hook
exists:

``smooth_step(level, inputs, targets)``  (required)
    One smoothing step at ``level`` through
    :func:`msann.core.smoothing.smoothing_step`, with the level's objective.
``batch(level, stream)``
    The minibatch of the next smoothing step at ``level``; default: the
    stream's next one (FAS reuses its tau batch on coarse levels).
``down(level, stream) -> Descent``
    Before the visits of level ``level + 1``: restrict, and decide whether to
    visit at all.  It may draw the minibatches it needs from ``stream``; the
    returned :class:`Descent` carries the cost of that work and ``skip``
    (MG/Opt's gate): a skipped visit runs none of its events up to the
    matching ``up`` and costs nothing.
``up(level, stream) -> float``
    After the visits: correct level ``level`` from ``level + 1``; returns the
    cost of any work besides the transfer itself (MG/Opt's line search).
``descend(level) -> float`` / ``ascend(level) -> float``
    The transitions of a nested start (:func:`msann.core.cycle.nested_events`):
    make level ``level + 1`` the start of the next stage (restrict, with no
    first-order term and no gate), and prolong its change back to ``level``
    when the stage ends; each returns the cost of its work.  Default: nothing
    to do (MsANN's levels share one network).
``predict(inputs)``  (required)
    The finest model's outputs, for the task's metrics (:mod:`msann.core.metrics`).
``state_dict()`` / ``load_state_dict(state)``  (required)
    Everything to resume exactly.
``summary_fields(result)``
    Extra keys for ``summary.json``; default none.

Costs are in examples of fine-model equivalents, the unit of ``C(t)``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch

from .level import Hierarchy

__all__ = ["Descent", "MultilevelMethod"]


@dataclass(frozen=True)
class Descent:
    """The outcome of a ``down`` event: the cost of its work, and whether the coarse visit is skipped."""

    cost: float = 0.0
    skip: bool = False


class MultilevelMethod(abc.ABC):
    """Base class of the training methods (see the module docstring for the hooks)."""

    hierarchy: Hierarchy

    @abc.abstractmethod
    def smooth_step(self, level: int, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """One smoothing step at ``level``; returns the step's data loss (a detached tensor)."""

    def batch(self, level: int, stream) -> tuple[torch.Tensor, torch.Tensor]:
        """The minibatch of the next smoothing step at ``level``."""
        return next(stream)

    def down(self, level: int, stream) -> Descent:
        """Restrict from ``level`` to ``level + 1``; nothing to do by default."""
        return Descent()

    def up(self, level: int, stream) -> float:
        """Correct ``level`` from ``level + 1``; nothing to do by default."""
        return 0.0

    def descend(self, level: int) -> float:
        """Nested start: restrict from ``level`` to ``level + 1``, which then trains on its own objective."""
        return 0.0

    def ascend(self, level: int) -> float:
        """Nested start: prolong level ``level + 1``'s change to ``level``, which then trains."""
        return 0.0

    @abc.abstractmethod
    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """The finest model's outputs for ``inputs`` (no gradient needed)."""

    @abc.abstractmethod
    def state_dict(self) -> dict:
        """Everything to resume exactly."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""

    def summary_fields(self, result) -> dict:
        """Method-specific keys for ``summary.json``."""
        return {}
