"""MsANN (Scott & Mjolsness, seed 002 §3.4; SPEC §3): smoothing steps on one level's parameters.

The levels live inside one network, :class:`msann.models.multiscale.MsANNAutoencoder`,
whose parameters are ``Theta = sum_l Pro_{l->0} theta^(l)``.  Level ``l``'s
objective is the fine loss, differentiated with respect to ``theta^(l)``
only; ``down`` and ``up`` have nothing to transfer.  Its ``simultaneous``
variant is the seed's "all levels trained simultaneously" baseline: one
level holding every parameter, one optimiser, no schedule.

Coarse data (:class:`CoarseDataMsANN`, ``[hierarchy] coarse_data = true``).
The paper's levels run the network at its fine widths on fine data, so a
coarse step is cheap only in the cost count.  Here level ``l >= 1`` is a
standalone network with every width coarsened, the data's included
(:mod:`msann.coarsening.data`), trained on restricted inputs and targets
through the same graph maps: ``down(l)`` restricts the parameters,
``theta_{l+1} = R_p theta_l``, and ``up(l)`` adds the visit's change,
``theta_l += P_p (theta_{l+1} - R_p theta_l)``, so a coarse step's change
reaches the fine parameters through ``Pro`` as in the paper.  Each level
keeps its own optimiser state across visits, as MsANN's ``theta^(l)`` do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from torch import nn

from graphprolong.checks import check_choice, check_positive_int

from ..coarsening.data import BlockMean, DataRestriction, draw, mlp_value_transfer
from ..coarsening.graph import FACTORED_STRATEGIES, STRATEGIES, layer_maps, unit_shapes
from ..coarsening.network import build_coarse_model
from ..core.checkpoint import to_device
from ..core.coarse import correct_level, restrict_level
from ..core.level import Hierarchy, Level
from ..core.method import Descent, MultilevelMethod
from ..core.smoothing import make_smoother, smoothing_step
from ..models.mlp import plain_autoencoder
from ..models.multiscale import MsANNAutoencoder
from .registry import MethodSpec, register_method

__all__ = ["COARSE_DATA_STRATEGIES", "SCHEDULES", "CoarseDataMsANN", "MsANN", "build_msann", "build_msann_method",
           "check_model_sizes"]

#: Schedules of :class:`MsANN`.
SCHEDULES = ("cycle", "simultaneous")

#: Strategies whose maps follow the units' graph, so that data can be averaged consistently with them.
COARSE_DATA_STRATEGIES = ("path", "grid")


def build_msann(widths: Sequence[int], maps: Sequence[Sequence[np.ndarray]], **options) -> MsANNAutoencoder:
    """Construct an :class:`~msann.models.multiscale.MsANNAutoencoder` (``maps[i][l]``: ``P^(l)`` of unit layer ``i``)."""
    return MsANNAutoencoder(widths, maps, **options)


def _rates(lr, count: int) -> list[float]:
    rates = list(lr) if isinstance(lr, Sequence) else [lr] * count
    if len(rates) != count:
        raise ValueError(f"lr needs one value per level ({count}); got {rates}")
    return rates


class MsANN(MultilevelMethod):
    """The MsANN method: smoothing steps on one level's parameters; ``down``/``up`` do nothing.

    Parameters
    ----------
    model : MsANNAutoencoder
    smoother : str
        A key of :data:`msann.core.smoothing.SMOOTHERS`; one optimiser per level.
    lr : float or sequence of float
        Per level when a sequence.
    momentum : float
    schedule : {"cycle", "simultaneous"}
        ``simultaneous``: one level holding every parameter, one optimiser, cost
        per example ``sum_l |M_l| / |M_0|`` (it updates every level's parameters).
    """

    def __init__(self, model: MsANNAutoencoder, *, smoother: str = "adam", lr=5e-4, momentum: float = 0.0,
                 schedule: str = "cycle") -> None:
        check_choice("schedule", schedule, SCHEDULES)
        self.model, self.schedule = model, schedule
        sizes = [model.level_size(level) for level in range(model.depth + 1)]
        if schedule == "simultaneous":
            parameters = [p for level in range(model.depth + 1) for p in model.level_parameters(level)]
            rate = lr[0] if isinstance(lr, Sequence) else lr
            levels = [Level(0, model, parameters, make_smoother(smoother, parameters, lr=rate, momentum=momentum),
                            sum(sizes) / sizes[0], sum(sizes))]
        else:
            rates = _rates(lr, len(sizes))
            levels = [
                Level(l, model, model.level_parameters(l),
                      make_smoother(smoother, model.level_parameters(l), lr=rates[l], momentum=momentum),
                      sizes[l] / sizes[0], sizes[l])
                for l in range(len(sizes))
            ]
        self.hierarchy = Hierarchy(levels)

    def smooth_step(self, level: int, inputs, targets) -> torch.Tensor:
        """One minibatch step of level ``level``'s parameters on the fine loss; returns the loss (detached)."""
        self.model.focus(None if self.schedule == "simultaneous" else level)

        def objective():
            loss = torch.nn.functional.mse_loss(self.model(inputs), targets)
            return loss, loss

        return smoothing_step(self.hierarchy[level].smoother, objective)

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """The finest model (the exact sum over levels) on ``inputs``."""
        self.model.focus(None)
        return self.model(inputs)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "hierarchy": self.hierarchy.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.hierarchy.load_state_dict(state["hierarchy"])


class CoarseDataMsANN(MultilevelMethod):
    """MsANN whose coarse levels are smaller networks on coarse data (module docstring).

    Parameters
    ----------
    model : torch.nn.Sequential
        The finest MLP (``nn.Linear`` and elementwise activations); trained in place.
    maps : sequence of sequences of matrices or Kronecker maps
        ``maps[i][l]``: ``P^(l)`` of unit layer ``i`` (input and output included),
        as for :class:`~msann.models.multiscale.MsANNAutoencoder`; a large
        Kronecker map (:func:`~msann.coarsening.graph.layer_maps` with
        ``factored``) keeps that level's operators factored.
    data_shapes : sequence of tuple of int
        The data's unit shape at every level ``0 .. L`` (the halvings of the maps).
    smoother, lr, momentum
        As for :class:`MsANN` (``lr`` per level when a sequence).
    batch_factor : int
        A step at level ``l`` takes ``batch_factor^l`` minibatches of the
        stream as one (and is charged for them): a coarse step's time is
        mostly fixed overhead, so a larger batch there costs little time.
    """

    def __init__(self, model: nn.Sequential, maps, data_shapes, *, smoother: str = "adam", lr=5e-4,
                 momentum: float = 0.0, batch_factor: int = 1) -> None:
        depths = {len(chain) for chain in maps}
        if len(depths) != 1:
            raise ValueError(f"every unit layer needs the same number of levels; got chains of lengths {sorted(depths)}")
        depth = depths.pop()
        if len(data_shapes) != depth + 1:
            raise ValueError(f"need the data's shape at each of the {depth + 1} levels; got {len(data_shapes)}")
        self._transfers_momentum = smoother == "sgd" and bool(momentum)  # SGD momentum moves with the parameters, as in FAS
        rates = _rates(lr, depth + 1)
        batch_factor = check_positive_int("batch_factor", batch_factor)
        models, transfers = [model], []
        for level in range(depth):
            transfers.append(mlp_value_transfer(models[level], [chain[level] for chain in maps]))
            models.append(build_coarse_model(models[level], transfers[level]))
        sizes = [sum(p.numel() for p in network.parameters()) for network in models]
        self.hierarchy = Hierarchy([
            Level(level, network, list(network.parameters()),
                  make_smoother(smoother, network.parameters(), lr=rates[level], momentum=momentum),
                  sizes[level] / sizes[0], sizes[level], transfers[level] if level < depth else None,
                  data_transfer=DataRestriction(BlockMean(tuple(data_shapes[0]), tuple(data_shapes[level]))) if level else None,
                  batches=batch_factor**level, state={"restricted": None, "restricted_momentum": None})
            for level, network in enumerate(models)
        ])

    def batch(self, level: int, stream):
        """The stream's next minibatch, its inputs and targets averaged to level ``level``'s data (:func:`~msann.coarsening.data.draw`)."""
        return draw(stream, self.hierarchy[level].data_transfer, batches=self.hierarchy[level].batches)

    def smooth_step(self, level: int, inputs, targets) -> torch.Tensor:
        """One step of level ``level``'s optimiser on its network's mean squared error."""
        model = self.hierarchy[level].model

        def objective():
            loss = torch.nn.functional.mse_loss(model(inputs), targets)
            return loss, loss

        return smoothing_step(self.hierarchy[level].smoother, objective)

    def down(self, level: int, stream) -> Descent:
        """``theta_{l+1} = R_p theta_l`` (and SGD momentum likewise)."""
        self.descend(level)
        return Descent()

    def up(self, level: int, stream) -> float:
        """``theta_l += P_p (theta_{l+1} - R_p theta_l)`` (and SGD momentum likewise)."""
        return self.ascend(level)

    def descend(self, level: int) -> float:
        """``theta_{l+1} = R_p theta_l``: the visit's (or a nested stage's) starting point."""
        restrict_level(self.hierarchy[level], self.hierarchy[level + 1], momentum=self._transfers_momentum)
        return 0.0

    def ascend(self, level: int) -> float:
        """``theta_l += P_p (theta_{l+1} - R_p theta_l)``: the coarse change, prolonged."""
        correct_level(self.hierarchy[level], self.hierarchy[level + 1], alpha=1.0, alpha_momentum=1.0 if self._transfers_momentum else None)
        return 0.0

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.hierarchy[0].model(inputs)

    def state_dict(self) -> dict:
        return {"models": [level.model.state_dict() for level in self.hierarchy], "hierarchy": self.hierarchy.state_dict(),
                "levels": [level.state for level in self.hierarchy]}

    def load_state_dict(self, state: dict) -> None:
        device = next(self.hierarchy[0].model.parameters()).device
        for level, model_state, level_state in zip(self.hierarchy, state["models"], state["levels"], strict=True):
            level.model.load_state_dict(model_state)
            level.state = to_device(dict(level_state), device)
        self.hierarchy.load_state_dict(state["hierarchy"])


def check_model_sizes(run, *, dimension: int, unit_shape: tuple[int, ...], target_shape: tuple[int, ...] | None = None) -> None:
    """``[model] widths`` against the data, and the depth against every width (the unit graphs of ``[hierarchy] strategy``).

    With ``[hierarchy] coarse_data``, the maps must follow the units' graph
    (:data:`COARSE_DATA_STRATEGIES`) and every level must keep at least 2 data units.
    """
    hierarchy, widths = run.hierarchy, run.model.widths
    levels, strategy = hierarchy.levels, hierarchy.strategy
    if widths[0] != dimension or widths[-1] != dimension:
        raise ValueError(f"[model] widths must start and end with the dimension {dimension} of the data "
                         f"[data] name {run.data['name']!r}; got widths[0] = {widths[0]}, widths[-1] = {widths[-1]}")
    if hierarchy.coarse_data and levels and strategy not in COARSE_DATA_STRATEGIES:
        raise ValueError(f"[hierarchy] coarse_data = true needs maps that follow the units' graph: [hierarchy] strategy must be "
                         f"one of {', '.join(map(repr, COARSE_DATA_STRATEGIES))}; got strategy = {strategy!r}")
    for index, width in enumerate(widths if levels > 0 else ()):
        input_shape = unit_shape if index in (0, len(widths) - 1) else None
        try:
            shapes = unit_shapes(width, levels=levels, layout=STRATEGIES[strategy], input_shape=input_shape)
        except ValueError as error:
            raise ValueError(f"[hierarchy] levels = {levels} is too deep for [model] widths[{index}] = {width} "
                             f"with [hierarchy] strategy {strategy!r}: {error}") from None
        if hierarchy.coarse_data and input_shape is not None and math.prod(shapes[-1]) < 2:
            raise ValueError(f"[hierarchy] levels = {levels} is too coarse for the data with [hierarchy] coarse_data = true: "
                             f"level {levels} would keep {math.prod(shapes[-1])} data unit (shape {shapes[-1]}); "
                             f"every level must keep at least 2")


def _data_maps(run, dataset) -> tuple[list, list[tuple[int, ...]]]:
    """The maps of every unit layer (``maps[i][l]``) and the data's shape at every level.

    Strategies whose maps are Kronecker products (:data:`FACTORED_STRATEGIES`)
    give them as Kronecker maps: the coarse-data transfers and the paper's
    MsANN network keep the large ones factored and multiply the rest out.
    """
    hierarchy, widths = run.hierarchy, list(run.model.widths)
    factored = bool(hierarchy.levels) and hierarchy.strategy in FACTORED_STRATEGIES
    maps = []
    for position, width in enumerate(widths):
        shape = dataset.unit_shape if position in (0, len(widths) - 1) else None
        maps.append(layer_maps(width, levels=hierarchy.levels, strategy=hierarchy.strategy, method=hierarchy.p_method,
                               input_shape=shape, rng=run.train.seed + position, factored=factored))
    shapes = unit_shapes(widths[0], levels=hierarchy.levels, layout=STRATEGIES[hierarchy.strategy], input_shape=dataset.unit_shape)
    return maps, shapes


def build_msann_method(run, dataset, device: torch.device) -> MsANN | CoarseDataMsANN:
    """The MsANN model and method of a recipe run (P from :mod:`msann.coarsening.graph`)."""
    hierarchy, model = run.hierarchy, run.model
    maps, shapes = _data_maps(run, dataset)
    options = {"activation": model.activation, "output_activation": model.output_activation, "bias": model.bias,
               "seed": run.train.seed, "dtype": torch.float32}
    rate = run.train.lr if hierarchy.lr_factor == 1.0 else [run.train.lr * hierarchy.lr_factor**level
                                                              for level in range(hierarchy.levels + 1)]
    smoothing = {"smoother": run.train.optimizer, "lr": rate, "momentum": run.train.momentum}
    if hierarchy.coarse_data and hierarchy.levels:
        return CoarseDataMsANN(plain_autoencoder(model.widths, **options).to(device), maps, shapes, **smoothing,
                               batch_factor=hierarchy.batch_factor)
    network = build_msann(list(model.widths), maps, **options).to(device)
    return MsANN(network, schedule=hierarchy.schedule, **smoothing)


register_method("msann", MethodSpec(build=build_msann_method, check_data=check_model_sizes), replace=True)
