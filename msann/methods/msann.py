"""MsANN (Scott & Mjolsness, seed 002 §3.4; SPEC §3): smoothing steps on one level's parameters.

The levels live inside one network, :class:`msann.models.multiscale.MsANNAutoencoder`,
whose parameters are ``Theta = sum_l Pro_{l->0} theta^(l)``.  Level ``l``'s
objective is the fine loss, differentiated with respect to ``theta^(l)``
only; ``down`` and ``up`` have nothing to transfer.  Its ``simultaneous``
variant is the seed's "all levels trained simultaneously" baseline: one
level holding every parameter, one optimiser, no schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from graphprolong.checks import check_choice

from ..coarsening.graph import STRATEGIES, layer_maps, unit_shapes
from ..core.level import Hierarchy, Level
from ..core.method import MultilevelMethod
from ..core.smoothing import make_smoother, smoothing_step
from ..models.multiscale import MsANNAutoencoder
from .registry import MethodSpec, register_method

__all__ = ["SCHEDULES", "MsANN", "build_msann", "build_msann_method", "check_model_sizes"]

#: Schedules of :class:`MsANN`.
SCHEDULES = ("cycle", "simultaneous")


def build_msann(widths: Sequence[int], maps: Sequence[Sequence[np.ndarray]], **options) -> MsANNAutoencoder:
    """Construct an :class:`~msann.models.multiscale.MsANNAutoencoder` (``maps[i][l]``: ``P^(l)`` of unit layer ``i``)."""
    return MsANNAutoencoder(widths, maps, **options)


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
            rates = lr if isinstance(lr, Sequence) else [lr] * len(sizes)
            if len(rates) != len(sizes):
                raise ValueError(f"lr needs one value per level ({len(sizes)}); got {list(rates)}")
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


def check_model_sizes(run, *, dimension: int, unit_shape: tuple[int, ...]) -> None:
    """``[model] widths`` against the data, and the depth against every width (the unit graphs of ``[hierarchy] strategy``)."""
    widths, levels, strategy = run.model.widths, run.hierarchy.levels, run.hierarchy.strategy
    if widths[0] != dimension or widths[-1] != dimension:
        raise ValueError(f"[model] widths must start and end with the dimension {dimension} of the data "
                         f"[data] name {run.data['name']!r}; got widths[0] = {widths[0]}, widths[-1] = {widths[-1]}")
    for index, width in enumerate(widths if levels > 0 else ()):
        input_shape = unit_shape if index in (0, len(widths) - 1) else None
        try:
            unit_shapes(width, levels=levels, layout=STRATEGIES[strategy], input_shape=input_shape)
        except ValueError as error:
            raise ValueError(f"[hierarchy] levels = {levels} is too deep for [model] widths[{index}] = {width} "
                             f"with [hierarchy] strategy {strategy!r}: {error}") from None


def build_msann_method(run, dataset, device: torch.device) -> MsANN:
    """The MsANN model and method of a recipe run (P from :mod:`msann.coarsening.graph`)."""
    hierarchy, model = run.hierarchy, run.model
    widths = list(model.widths)
    maps = []
    for position, width in enumerate(widths):
        shape = dataset.unit_shape if position in (0, len(widths) - 1) else None
        maps.append(layer_maps(width, levels=hierarchy.levels, strategy=hierarchy.strategy, method=hierarchy.p_method,
                               input_shape=shape, rng=run.train.seed + position))
    network = build_msann(widths, maps, activation=model.activation, output_activation=model.output_activation,
                          bias=model.bias, seed=run.train.seed, dtype=torch.float32).to(device)
    return MsANN(network, smoother=run.train.optimizer, lr=run.train.lr, momentum=run.train.momentum,
                 schedule=hierarchy.schedule)


register_method("msann", MethodSpec(build=build_msann_method, check_data=check_model_sizes), replace=True)
