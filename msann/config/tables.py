"""The core recipe tables: ``[model]``, ``[hierarchy]``, ``[train]`` (``[data]`` is the loader's options).

Each table is a frozen dataclass of :mod:`msann.options`; every choice is
read from the registry that defines it (smoothers, activations, strategies,
1D map methods, schedules), so a list of names is written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..coarsening.graph import METHODS as GRAPH_METHODS
from ..coarsening.graph import STRATEGIES
from ..core.cycle import STAGES, STARTS
from ..core.smoothing import SMOOTHERS
from ..methods.msann import SCHEDULES
from ..models.mlp import ACTIVATIONS
from ..options import Rule, at_least, in_interval, one_of, option, positive

__all__ = ["CORE_TABLES", "DEFAULT_CHECKPOINT_SECONDS", "HierarchyTable", "ModelTable", "TABLES", "TrainTable"]

#: Seconds between checkpoints when ``[train] checkpoint_every = 0``.
DEFAULT_CHECKPOINT_SECONDS = 30.0

_WIDTHS = Rule("a list of at least 2 integers >= 1", lambda value: len(value) >= 2 and all(width >= 1 for width in value))
_DEVICE = Rule("'auto', 'cpu', 'cuda' or 'cuda:N'", lambda value: re.fullmatch(r"auto|cpu|cuda(:\d+)?", value) is not None)


@dataclass(frozen=True)
class ModelTable:
    """``[model]``: the MLP autoencoder of the MsANN experiments."""

    widths: tuple[int, ...] = option((1024, 256, 128, 256, 1024), _WIDTHS, "layer widths of the MLP autoencoder; first and last = data dimension")
    activation: str = option("sigmoid", one_of(ACTIVATIONS), "hidden-layer activation")
    output_activation: str = option("sigmoid", one_of(ACTIVATIONS), "output-layer activation")
    bias: bool = option(True, "true or false", "a bias on every layer")


@dataclass(frozen=True)
class HierarchyTable:
    """``[hierarchy]``: the levels and the cycle."""

    levels: int = option(4, at_least(0, integer=True), "coarse levels L (0 = plain training)")
    gamma: int = option(3, at_least(1, integer=True), "cycle index (1 = V-cycle, 2 = W-cycle)")
    k: int = option(4, at_least(1, integer=True), "smoothing batches per level visit")
    strategy: str = option("path", one_of(STRATEGIES), "unit graphs and their P")
    p_method: str = option("recipe", one_of(GRAPH_METHODS), "how the 1D maps are designed (msann.coarsening.graph.METHODS)")
    schedule: str = option("cycle", one_of(SCHEDULES), "gamma-cycles, or all levels trained simultaneously (baseline)")
    coarse_data: bool = option(False, "true or false", "coarse levels train smaller networks on averaged data: every width halved, the data's too (msann with strategy path or grid; fas and mgopt with [fas] transfer = 'graph')")
    start: str = option("finest", one_of(STARTS), "'coarsest': nested iteration, the coarsest level trained first")
    stage_cycles: int = option(20, at_least(1, integer=True), "with start = 'coarsest': cycles from each coarser level")
    stage: str = option("cycles", one_of(STAGES), "with start = 'coarsest': 'top' trains each stage's top level only, "
                                                  "then plain training of the finest")
    stage_growth: float = option(1.0, positive(), "with start = 'coarsest': the stage at level l runs "
                                                  "stage_cycles x stage_growth^(l-1) cycles")
    lr_factor: float = option(1.0, positive(), "msann: level l's learning rate is [train] lr x lr_factor^l")
    batch_factor: int = option(1, at_least(1, integer=True), "msann with coarse_data: a step at level l takes "
                                                            "batch_factor^l minibatches as one (and is charged for them)",
                               added=True)

    def check(self) -> None:
        """The simultaneous schedule has no levels to visit: no coarse data, no nested start."""
        if self.schedule == "simultaneous" and self.levels and (self.coarse_data or self.start != "finest"):
            key, value = ("coarse_data", "true") if self.coarse_data else ("start", repr(self.start))
            raise ValueError(f"[hierarchy] {key} = {value} needs schedule = 'cycle' (levels visited in turn); got schedule = 'simultaneous'")
        if self.batch_factor != 1 and self.levels and not self.coarse_data:
            raise ValueError(f"[hierarchy] batch_factor enlarges the minibatches of coarse-data levels: it needs coarse_data = true; "
                             f"got batch_factor = {self.batch_factor} with coarse_data = false")
        if self.stage != "cycles" and self.start != "coarsest":
            raise ValueError(f"[hierarchy] stage = {self.stage!r} describes the stages of a nested start: it needs start = 'coarsest'; "
                             f"got start = {self.start!r}")


@dataclass(frozen=True)
class TrainTable:
    """``[train]``: the smoothers, the budget, the seed and the device."""

    optimizer: str = option("adam", one_of(SMOOTHERS), "torch optimiser per level")
    lr: float = option(5e-4, positive(), "learning rate of every level's optimiser")
    momentum: float = option(0.0, in_interval(0.0, 1.0), "sgd/rmsprop momentum")
    batch_size: int = option(32, at_least(1, integer=True), "minibatch size")
    cost_budget: float = option(30000.0, positive(), "stop once the cost C(t) reaches this (SPEC §3)")
    eval_points: int = option(60, at_least(2, integer=True), "points of the log-spaced cost grid for E(t)")
    checkpoint_every: float = option(DEFAULT_CHECKPOINT_SECONDS, at_least(0.0),
                                     f"wall-clock seconds between checkpoints; 0 = {DEFAULT_CHECKPOINT_SECONDS:g}")
    seed: int = option(0, at_least(0, integer=True), "seed of data, initialisation and batch order")
    device: str = option("auto", _DEVICE, "torch device; auto = cuda when available")

    def __post_init__(self) -> None:
        if self.checkpoint_every == 0.0:
            object.__setattr__(self, "checkpoint_every", DEFAULT_CHECKPOINT_SECONDS)

    def check(self) -> None:
        """Adam takes no momentum."""
        if self.optimizer == "adam" and self.momentum != 0.0:
            raise ValueError(f"momentum must be 0 with optimizer 'adam' (it applies to 'sgd' and 'rmsprop'); got {self.momentum!r}")


#: The core tables every run has, by name (``[data]`` is validated against the data set's loader).
TABLES: dict[str, type] = {"model": ModelTable, "hierarchy": HierarchyTable, "train": TrainTable}
#: Names of the tables every run has.
CORE_TABLES = ("data", *TABLES)
