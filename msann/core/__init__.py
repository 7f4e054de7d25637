"""The multilevel machinery that every training method shares.

- :mod:`~msann.core.level`: :class:`Level` and :class:`Hierarchy` (levels own
  their model, smoother, transfer, data transfer, cost and state);
- :mod:`~msann.core.layers` and :mod:`~msann.core.transfer`: the one transfer
  operator (restrict parameters, prolong corrections, restrict gradients),
  through a registry of layer rules;
- :mod:`~msann.core.cycle`: the gamma-cycle's events;
- :mod:`~msann.core.smoothing`: smoothers and the one smoothing step;
- :mod:`~msann.core.method`: the base class of the methods and its hooks;
- :mod:`~msann.core.metrics`: the errors of each task;
- :mod:`~msann.core.driver` and :mod:`~msann.core.checkpoint`: the training
  loop, its cost accounting and its checkpoints.
- :mod:`~msann.core.distributed`: data-parallel training under ``torchrun``
  (the process group, gradient averages, rank-0 writes).
"""

from .checkpoint import CHECKPOINT_NAME, CheckpointError, DivergenceError, load_checkpoint, save_checkpoint
from .cycle import EVENT_KINDS, Event, cycle_events, per_level, visit_order
from .driver import TrainResult, train
from .layers import LAYER_RULES, LayerRule
from .level import Hierarchy, Level
from .method import Descent, MultilevelMethod
from .metrics import METRICS
from .smoothing import SMOOTHERS, make_smoother, smoothing_step
from .transfer import LayerTransfer, Transfer, UnitTransfer, transfer_from_prolongation

__all__ = [
    "CHECKPOINT_NAME",
    "EVENT_KINDS",
    "LAYER_RULES",
    "METRICS",
    "SMOOTHERS",
    "CheckpointError",
    "Descent",
    "DivergenceError",
    "Event",
    "Hierarchy",
    "LayerRule",
    "LayerTransfer",
    "Level",
    "MultilevelMethod",
    "TrainResult",
    "Transfer",
    "UnitTransfer",
    "cycle_events",
    "load_checkpoint",
    "make_smoother",
    "per_level",
    "save_checkpoint",
    "smoothing_step",
    "train",
    "transfer_from_prolongation",
    "visit_order",
]
