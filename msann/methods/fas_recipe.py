"""FAS in recipes: the ``[fas]`` table, its checks, and the builder of a run's method.

``method = "fas"`` with a ``[fas]`` table (:class:`FasTable`): the network
(``architecture``, widths), the coarsening (``threshold``, ``matching``,
``order``, ``projection``, ``scaled``, ``transfer``, ``rematch_every``) and the FAS parameters
(``tau_batches``, ``gamma_tau``, ``alpha_p``, ``alpha_m``, ``eta``,
``cost_model``).  The depth is ``[hierarchy] levels`` (0 is plain SGD with
momentum), the cycle index ``[hierarchy] gamma`` and the smoothing steps per
visit ``[hierarchy] k``; ``[train] optimizer`` must be ``"sgd"`` (lr and
momentum from ``[train]``).  FAS builds its own network, so its recipes have
no ``[model]`` table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..coarsening.data import data_shapes
from ..coarsening.matching import PROJECTIONS, VISIT_ORDERS
from ..coarsening.mutual_best import MATCHINGS
from ..coarsening.network import COARSENERS, CoarseningOptions
from ..core.cost import COST_MODELS
from ..core.metrics import task_loss
from ..models.poisson_nets import conv_side, poisson_cnn, poisson_fc
from ..models.resnet import ResNet
from ..options import at_least, in_interval, one_of, option, positive
from .fas import FAS
from .registry import MethodSpec, register_method

__all__ = ["ARCHITECTURES", "FasTable", "build_fas_method", "build_network", "check_fas_data", "check_fas_run", "coarsener_of",
           "coarsening_options"]

#: Network families of ``[fas] architecture``.
ARCHITECTURES = ("fc", "cnn", "resnet")

_INTEGER = at_least(1, integer=True)


@dataclass(frozen=True)
class FasTable:
    """The ``[fas]`` recipe table."""

    architecture: str = option("fc", one_of(ARCHITECTURES), "network: 'fc' (hidden_layers x hidden, ReLU), 'cnn' (conv_layers convolutions, then the FC part) or 'resnet' (hidden_layers residual blocks of hidden units, step 1 / hidden_layers, tanh)")
    hidden: int = option(400, _INTEGER, "units of each hidden fully connected layer")
    hidden_layers: int = option(2, _INTEGER, "hidden fully connected layers")
    channels: int = option(200, _INTEGER, "channels of each convolution (cnn)")
    conv_layers: int = option(2, _INTEGER, "convolutions (cnn)")
    kernel: int = option(7, _INTEGER, "convolution kernel size (cnn)")
    stride: int = option(2, _INTEGER, "convolution stride (cnn)")
    threshold: float = option(0.0, in_interval(-1.0, 1.0, closed=True), "matching threshold theta on the cosine similarity of incoming weight rows (greedy: >= theta, mutual-best: > theta)")
    scaled: bool = option(False, "true or false", "scaled operators P~ = D P (seed 000 eq. 34); the former spelling of projection = 'scaled'")
    projection: str | None = option(None, one_of(PROJECTIONS, optional=True), "operators of matched units: 'average' (0/1 copy, pairwise average), 'scaled' (seed 000 eq. 34: D = incoming weight norms) or 'norm-weighted' (LLNL/MTNN: pi sums a pair, P splits it by the norms of [w_i, b_i]); default 'scaled' if scaled = true else 'average'", added=True)
    matching: str = option("greedy", one_of(MATCHINGS), "'greedy' (heavy-edge, seed 000 Algorithm 1, visited in order) or 'mutual-best' (LLNL/MTNN: pairs units that are each other's most similar, in rounds among the unpaired)", added=True)
    order: str = option("heaviest", one_of(VISIT_ORDERS), "visit order of the greedy matching (mutual-best has none)")
    transfer: str = option("matching", one_of(COARSENERS), "'matching' (heavy-edge), 'graph' (path maps from [hierarchy] p_method on FC layers; with [hierarchy] coarse_data = true, 'graph-data': the data's units too, coarse levels on averaged data), 'explicit' or 'depth' (resnet)")
    rematch_every: int = option(50, _INTEGER, "re-match the units every this many cycles")
    tau_batches: int = option(4, _INTEGER, "m: minibatches of a tau batch, reused for the coarse smoothing")
    gamma_tau: float = option(1.0, at_least(0.0), "weight of the tau correction (1: classical FAS)")
    alpha_p: float = option(1.0, positive(), "damping of the parameter correction")
    alpha_m: float = option(1.0, at_least(0.0), "damping of the momentum correction")
    eta: float = option(1.0, positive(), "level l smooths with lr / eta^l")
    cost_model: str = option("quarter", one_of(COST_MODELS), "relative cost of a level: 'quarter' (seed 000) or 'macs' (measured multiply-adds)")

    def check(self) -> None:
        """``scaled = true`` is the former spelling of ``projection = 'scaled'``: no other projection with it."""
        if self.scaled and self.projection not in (None, "scaled"):
            raise ValueError(f"projection must be 'scaled' or left out with scaled = true (its former spelling); "
                             f"got projection = {self.projection!r}")


def check_fas_run(run, *, method: str = "fas") -> None:
    """Checks across tables, before the data is loaded (FAS, and MG/Opt on FAS's hierarchy, which takes any smoother)."""
    fas, levels = run.extra["fas"], run.hierarchy.levels
    if method == "fas" and run.train.optimizer != "sgd":
        raise ValueError(f"[train] optimizer must be 'sgd' for method '{method}' (its smoother is SGD with momentum); got {run.train.optimizer!r}")
    if run.hierarchy.schedule != "cycle":
        raise ValueError(f"[hierarchy] schedule must be 'cycle' for method '{method}'; got {run.hierarchy.schedule!r}")
    if run.hierarchy.lr_factor != 1.0:
        raise ValueError(f"[hierarchy] lr_factor is MsANN's; method '{method}' sets its levels' rates with [fas] eta "
                         f"(lr / eta^l): got lr_factor = {run.hierarchy.lr_factor!r}")
    if run.hierarchy.batch_factor != 1:
        raise ValueError(f"[hierarchy] batch_factor is MsANN's; method '{method}' draws one minibatch per step at every level: "
                         f"got batch_factor = {run.hierarchy.batch_factor!r}")
    if run.hierarchy.coarse_data and levels and fas.transfer not in ("graph", "graph-data"):
        raise ValueError(f"[hierarchy] coarse_data = true halves the data's units along their graph: [fas] transfer must be "
                         f"'graph' with it; got transfer = {fas.transfer!r}")
    if coarsener_of(run) == "graph-data" and fas.architecture != "fc":
        raise ValueError(f"[hierarchy] coarse_data = true coarsens every layer of units of a fully connected network: "
                         f"[fas] architecture must be 'fc' with it; got architecture = {fas.architecture!r}")
    widths = {"hidden": fas.hidden, **({"channels": fas.channels} if fas.architecture == "cnn" else {})}
    for key, width in widths.items():
        if levels and width <= 2 ** (levels - 1):
            raise ValueError(
                f"[fas] {key} = {width} is too narrow for [hierarchy] levels = {levels}: a matching at most halves a "
                f"layer, and level {levels - 1} must keep 2 units to be coarsened, so it needs more than "
                f"2^(levels - 1) = {2 ** (levels - 1)} units"
            )
    if (fas.transfer == "depth") != (fas.architecture == "resnet"):
        raise ValueError(f"[fas] transfer = 'depth' goes with architecture = 'resnet' and only with it; got transfer = "
                         f"{fas.transfer!r}, architecture = {fas.architecture!r}")
    if levels and fas.transfer == "depth" and fas.hidden_layers % 2**levels:
        raise ValueError(f"[fas] hidden_layers = {fas.hidden_layers} residual blocks must be divisible by 2^levels = {2**levels} "
                         f"with [fas] transfer = 'depth' ([hierarchy] levels = {levels}): every level halves the blocks")
    if levels and fas.transfer in ("graph", "graph-data") and fas.hidden % 2**levels:
        raise ValueError(
            f"[fas] hidden = {fas.hidden} must be divisible by 2^levels = {2**levels} with [fas] transfer = {fas.transfer!r} "
            f"([hierarchy] levels = {levels}): every level halves a path of units"
        )


def coarsener_of(run) -> str:
    """The coarsener of a run: ``"graph-data"`` with ``[hierarchy] coarse_data = true`` (and coarse levels), else ``[fas] transfer``."""
    fas = run.extra["fas"]
    return "graph-data" if run.hierarchy.coarse_data and run.hierarchy.levels and fas.transfer == "graph" else fas.transfer


def check_fas_data(run, *, dimension: int, unit_shape: tuple[int, ...], target_shape: tuple[int, ...] | None = None) -> None:
    """Checks against the loaded data."""
    fas = run.extra["fas"]
    if coarsener_of(run) == "graph-data":
        _check_coarse_data(run, unit_shape, target_shape)
    if fas.architecture != "cnn":
        return
    if len(unit_shape) != 3:
        raise ValueError(
            f"[fas] architecture = 'cnn' needs image inputs (channels, height, width); [data] {run.data['name']!r} "
            f"has unit shape {unit_shape}"
        )
    sides = [conv_side(side, kernel=fas.kernel, stride=fas.stride, layers=fas.conv_layers) for side in unit_shape[1:]]
    if min(sides) < 1:
        raise ValueError(
            f"[fas] conv_layers = {fas.conv_layers}, kernel = {fas.kernel}, stride = {fas.stride} leave no "
            f"feature map of the {unit_shape[1]} x {unit_shape[2]} images of [data] {run.data['name']!r}"
        )


def _check_coarse_data(run, unit_shape: tuple[int, ...], target_shape: tuple[int, ...] | None) -> None:
    """Every level keeps a graph of at least 2 data units (inputs and targets)."""
    levels = run.hierarchy.levels
    for role, shape in (("inputs", unit_shape), ("targets", target_shape)):
        if shape is None:
            continue
        try:
            data_shapes(shape, levels=levels)
        except ValueError as error:
            raise ValueError(f"[hierarchy] levels = {levels} is too coarse for the {role} of [data] {run.data['name']!r} "
                             f"with [hierarchy] coarse_data = true: {error}") from None


def build_network(run, dataset) -> nn.Sequential:
    """The run's network (``[fas] architecture``) for the dataset's input and target sizes, seeded by ``[train] seed``."""
    fas, seed = run.extra["fas"], run.train.seed
    out_features = math.prod(dataset.target_shape) if dataset.target_shape is not None else dataset.dimension
    if fas.architecture == "fc":
        return poisson_fc(dataset.dimension, out_features, hidden=fas.hidden, layers=fas.hidden_layers, seed=seed)
    if fas.architecture == "resnet":
        return ResNet(dataset.dimension, out_features, width=fas.hidden, blocks=fas.hidden_layers, step=1.0 / fas.hidden_layers, seed=seed)
    channels, height, width = dataset.unit_shape
    return poisson_cnn(channels, (height, width), out_features=out_features, channels=fas.channels,
                       conv_layers=fas.conv_layers, kernel=fas.kernel, stride=fas.stride, hidden=fas.hidden,
                       hidden_layers=fas.hidden_layers, seed=seed)


def coarsening_options(run, dataset=None) -> CoarseningOptions:
    """The coarseners' options of a run (``[fas]``, ``[hierarchy] p_method``, and the data's unit shapes for coarse data)."""
    fas = run.extra["fas"]
    shapes = {}
    if coarsener_of(run) == "graph-data" and dataset is not None:
        shapes = {"data_shape": dataset.unit_shape, "target_shape": dataset.target_shape}
    return CoarseningOptions(threshold=fas.threshold, scaled=fas.scaled, order=fas.order, graph_method=run.hierarchy.p_method,
                             projection=fas.projection, matching=fas.matching, **shapes)


def build_fas_method(run, dataset, device: torch.device | str) -> FAS:
    """The FAS method of a recipe run."""
    fas = run.extra["fas"]
    return FAS(
        build_network(run, dataset).to(device), levels=run.hierarchy.levels, coarsening=coarsening_options(run, dataset),
        transfer=coarsener_of(run),
        rematch_every=fas.rematch_every, tau_batches=fas.tau_batches, gamma_tau=fas.gamma_tau, alpha_p=fas.alpha_p,
        alpha_m=fas.alpha_m, eta=fas.eta, lr=run.train.lr, momentum=run.train.momentum, cost_model=fas.cost_model,
        input_shape=dataset.unit_shape if fas.architecture == "cnn" else None, seed=run.train.seed, loss=task_loss(dataset),
    )


register_method("fas", MethodSpec(build=build_fas_method, tables={"fas": FasTable}, uses_model=False, check=check_fas_run,
                                  check_data=check_fas_data), replace=True)
