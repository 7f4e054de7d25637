"""Coarse networks: transfers of a whole ``nn.Sequential`` and the coarse network they define (seed 000 §5, §7).

A coarse network has the same layers as the fine one with fewer hidden units
(``nn.Linear`` output features, ``nn.Conv2d`` output channels); the
network's input and output sizes are never coarsened.  A *coarsener* maps a
fine network to the :class:`~msann.core.transfer.Transfer` towards its coarse
version; :data:`COARSENERS` holds them (:class:`Coarsener`: the transfer
``transfer(model, *, options, rng) -> Transfer``, the coarse network it
defines, and the transfer rebuilt from a checkpoint):

``"matching"``
    A matching of every hidden layer (``CoarseningOptions.matching``:
    greedy heavy-edge, seed 000 Algorithm 1, or mutual-best,
    :mod:`msann.coarsening.mutual_best`), with the operators of
    ``CoarseningOptions.projection`` (0/1 copy and average, scaled, or
    norm-weighted; :data:`msann.coarsening.matching.PROJECTIONS`).
``"graph"``
    A graph-designed orthonormal path map ``n -> n/2``
    (:func:`msann.coarsening.graph.one_dimensional_map`) on every hidden
    ``nn.Linear``; convolution channels, which have no graph, are matched.
``"explicit"``
    Given matrices (``CoarseningOptions.explicit``), e.g. eigenvectors of a
    quadratic's matrix (seed 004 App. B.2).
``"depth"``
    Half the residual blocks of a :class:`~msann.models.resnet.ResNet` at
    twice the step (:mod:`msann.coarsening.depth`).
``"graph-data"``
    Width *and data*: every layer of units of an MLP halved by graph maps,
    the input and output units along the data's graph
    (``CoarseningOptions.data_shape``), so the coarse level is a smaller
    network that trains on block means of the data
    (:mod:`msann.coarsening.data`).

Only ``"matching"`` (and ``"graph"`` on convolution channels) depends on the
weights; the others give the same transfer every time, so a method
re-coarsens only with an adaptive coarsener (:attr:`Coarsener.adaptive`).

Exactness.  With the 0/1 operators the fine network with parameters
``P x_c`` computes exactly what the coarse network with ``x_c`` computes, for
any elementwise activation: a copied unit stays a copy.  With the scaled
and the norm-weighted operators this holds for positively homogeneous
activations (ReLU, LeakyReLU, Identity), since ``phi(D z) = D phi(z)`` for
``D >= 0``.
Consequently ``grad g_c(x_c) = R grad g(P x_c)`` (chain rule).
"""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from graphprolong.checks import check_choice, check_positive_int

from ..core.layers import Slot, scan
from ..core.transfer import Transfer, UnitTransfer, assemble_transfer, transfer_from_prolongation
from .data import graph_data_from_state, graph_data_transfer
from .depth import INTERPOLATIONS, depth_coarse_model, depth_from_state, depth_transfer
from .graph import METHODS as GRAPH_METHODS
from .graph import one_dimensional_map
from .matching import PROJECTIONS, VISIT_ORDERS, Matching, check_threshold
from .mutual_best import MATCHINGS

__all__ = [
    "COARSENERS",
    "Coarsener",
    "CoarseningOptions",
    "CoarseningWarning",
    "assemble_transfer",
    "build_coarse_model",
    "coarsen",
    "coarsen_network",
    "plan_coarsening",
    "plan_from_prolongations",
    "transfer_from_state",
    "transfer_state",
]


class CoarseningWarning(UserWarning):
    """A layer could not be coarsened (no pair of units reached the threshold)."""


@dataclass(frozen=True)
class CoarseningOptions:
    """Options of the coarseners (each uses the ones it needs).

    Attributes
    ----------
    threshold : float
        ``theta`` in ``[-1, 1]`` of the matching.
    scaled : bool
        Scaled operators ``P~ = D P`` (seed 000 eq. 34) for matched layers:
        the former spelling of ``projection = "scaled"``, kept for existing
        code and recipes (with it, ``projection`` must be None or ``"scaled"``).
    order : str
        Visit order of the greedy matching (:data:`msann.coarsening.matching.VISIT_ORDERS`).
    projection : str or None
        The operators of a matched layer (:data:`msann.coarsening.matching.PROJECTIONS`:
        ``"average"``, ``"scaled"``, ``"norm-weighted"``); None: ``"scaled"``
        if ``scaled`` else ``"average"``.  Resolved at construction, and
        ``scaled`` is then ``projection == "scaled"``.
    matching : str
        How units are paired (:data:`msann.coarsening.mutual_best.MATCHINGS`:
        ``"greedy"``, ``"mutual-best"``).
    graph_method : str
        The 1D map of the ``"graph"`` coarsener (:data:`msann.coarsening.graph.METHODS`).
    explicit : tuple of matrices
        The maps ``P`` (``n x n_c``) of the ``"explicit"`` coarsener, one for each
        width ``n`` of a hidden layer (e.g. eigenvectors of a quadratic's matrix).
    interpolation : str
        The block prolongation of the ``"depth"`` coarsener (:data:`msann.coarsening.depth.INTERPOLATIONS`).
    data_shape, target_shape : tuple of int or None
        The finest data's input and target unit shapes, for the ``"graph-data"``
        coarsener (``target_shape`` None: the inputs', as for an autoencoder).
    """

    threshold: float = 0.0
    scaled: bool = False
    order: str = "heaviest"
    graph_method: str = "recipe"
    explicit: tuple = ()
    interpolation: str = "constant"
    projection: str | None = None
    matching: str = "greedy"
    data_shape: tuple[int, ...] | None = None
    target_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check_threshold(self.threshold)
        for key in ("data_shape", "target_shape"):
            shape = getattr(self, key)
            if shape is not None:
                object.__setattr__(self, key, tuple(check_positive_int(f"{key} entry", side) for side in shape))
        if not isinstance(self.scaled, bool):
            raise TypeError(f"scaled must be a bool; got {type(self.scaled).__name__} {self.scaled!r}")
        if self.projection is None:
            object.__setattr__(self, "projection", "scaled" if self.scaled else "average")
        check_choice("projection", self.projection, PROJECTIONS)
        if self.scaled and self.projection != "scaled":
            raise ValueError(f"scaled = True means projection = 'scaled'; drop one of them: got projection = {self.projection!r}")
        object.__setattr__(self, "scaled", self.projection == "scaled")
        check_choice("matching", self.matching, MATCHINGS)
        check_choice("order", self.order, VISIT_ORDERS)
        check_choice("graph_method", self.graph_method, GRAPH_METHODS)
        check_choice("interpolation", self.interpolation, INTERPOLATIONS)


def _matched_unit(slot: Slot, options: CoarseningOptions, rng: np.random.Generator) -> UnitTransfer:
    weight = slot.module.weight.detach()
    if weight.shape[0] < 2:
        raise ValueError(f"layer {slot.index} ('{slot.name}', {type(slot.module).__name__}) has {weight.shape[0]} unit(s); coarsening needs at least 2")
    matching = MATCHINGS[options.matching](weight, threshold=options.threshold, order=options.order, rng=rng)
    if matching.n_coarse == matching.n_fine:
        warnings.warn(
            f"layer {slot.index} ('{slot.name}', {type(slot.module).__name__}) has no pair of units with cosine "
            f"similarity {'>=' if options.matching == 'greedy' else '>'} threshold = {options.threshold} "
            f"({options.matching} matching); it keeps its {matching.n_fine} units",
            CoarseningWarning,
            stacklevel=3,
        )
    bias = getattr(slot.module, "bias", None)
    bias = None if bias is None else bias.detach()
    return PROJECTIONS[options.projection](matching, weight, bias)


def _graph_unit(slot: Slot, options: CoarseningOptions, rng: np.random.Generator) -> UnitTransfer:
    if isinstance(slot.module, nn.Conv2d):  # channels have no graph: heavy-edge matching
        return _matched_unit(slot, options, rng)
    weight = slot.module.weight.detach()
    width = weight.shape[0]
    if width % 2:
        raise ValueError(f"graph transfer halves a path of units; a layer of {width} units (odd) cannot be halved")
    P = np.array(one_dimensional_map(width // 2, method=options.graph_method))  # a writable copy for torch
    return transfer_from_prolongation(P, dtype=weight.dtype, device=weight.device)


def _explicit_unit(slot: Slot, options: CoarseningOptions, rng: np.random.Generator) -> UnitTransfer:
    weight = slot.module.weight.detach()
    width = weight.shape[0]
    maps = [P for P in options.explicit if P.shape[0] == width]
    if not maps:
        raise ValueError(f"the explicit coarsener has no map for layer {slot.index} ('{slot.name}') of {width} units; "
                         f"its maps have shapes {[tuple(P.shape) for P in options.explicit]}")
    return transfer_from_prolongation(maps[0], dtype=weight.dtype, device=weight.device)


def _per_hidden_layer(unit: Callable[[Slot, CoarseningOptions, np.random.Generator], UnitTransfer]):
    def coarsener(model: nn.Sequential, *, options: CoarseningOptions, rng: np.random.Generator) -> Transfer:
        slots = scan(model)
        return assemble_transfer(slots, [unit(slot, options, rng) for slot in slots[:-1]])

    coarsener.__doc__ = f"The transfer of every hidden layer of ``model`` by ``{unit.__name__}``."
    return coarsener


def plan_coarsening(model: nn.Sequential, *, threshold: float, scaled: bool = False, order: str = "heaviest",
                    rng: np.random.Generator | int | None = None, projection: str | None = None,
                    matching: str = "greedy") -> Transfer:
    """Match every hidden layer of ``model`` and build its transfer (the ``"matching"`` coarsener).

    The options are those of :class:`CoarseningOptions`.

    Raises
    ------
    TypeError
        For a layer that is not supported (named, with the supported list).
    ValueError
        For a hidden layer with fewer than 2 units, ``threshold`` outside
        ``[-1, 1]``, or an inconsistent network.

    Warns
    -----
    CoarseningWarning
        For a layer with no pair of units above ``threshold`` (it keeps its width).
    """
    options = CoarseningOptions(threshold=threshold, scaled=scaled, order=order, projection=projection, matching=matching)
    return coarsen("matching", model, options=options, rng=np.random.default_rng(rng))


def plan_from_prolongations(model: nn.Sequential, prolongations: Sequence[torch.Tensor | np.ndarray | UnitTransfer]) -> Transfer:
    """Transfers from given maps, one per hidden layer (e.g. graph-designed maps of :mod:`msann.coarsening.graph`).

    Each entry is a ``UnitTransfer`` or a prolongation ``P`` (``n x n_c``,
    ``n`` the layer's width), made into one by
    :func:`~msann.core.transfer.transfer_from_prolongation` in the layer's dtype and device.
    """
    slots = scan(model)
    if len(prolongations) != len(slots) - 1:
        raise ValueError(f"need one prolongation per hidden layer: {len(slots) - 1}; got {len(prolongations)}")
    units = []
    for slot, given in zip(slots[:-1], prolongations):
        weight = slot.module.weight.detach()
        unit = given if isinstance(given, UnitTransfer) else transfer_from_prolongation(given, dtype=weight.dtype, device=weight.device)
        if unit.n_fine != weight.shape[0]:
            raise ValueError(
                f"prolongation of layer {slot.index} ('{slot.name}') must have {weight.shape[0]} rows (the layer's units); "
                f"got shape {(unit.n_fine, unit.n_coarse)}"
            )
        units.append(unit)
    return assemble_transfer(slots, units)


def build_coarse_model(model: nn.Sequential, transfer: Transfer) -> nn.Sequential:
    """The coarse network of ``transfer`` with parameters ``R_p x`` of ``model``'s (a new module; ``model`` is untouched)."""
    slots = {slot.name: slot for slot in scan(model)}
    by_name = {layer.name: layer for layer in transfer.layers}
    if set(slots) != set(by_name):
        raise ValueError(f"transfer does not belong to this model: layers {sorted(by_name)} vs {sorted(slots)}")
    modules = OrderedDict()
    for name, module in model.named_children():
        if name in by_name:
            shape = transfer.parameter_shapes[f"{name}.weight"][1]
            modules[name] = slots[name].rule.coarse(module, shape[1], shape[0])
        else:
            modules[name] = copy.deepcopy(module)
    coarse = nn.Sequential(modules)
    restricted = transfer.restrict({key: value.detach() for key, value in model.named_parameters()})
    frozen = {key for key, parameter in model.named_parameters() if not parameter.requires_grad}
    with torch.no_grad():
        for key, parameter in coarse.named_parameters():
            parameter.copy_(restricted[key])
            parameter.requires_grad_(key not in frozen)  # a frozen layer stays frozen on coarser levels
    return coarse.train(model.training)


def coarsen_network(model: nn.Sequential, *, threshold: float, scaled: bool = False, order: str = "heaviest",
                    rng: np.random.Generator | int | None = None, projection: str | None = None,
                    matching: str = "greedy") -> tuple[nn.Sequential, Transfer]:
    """Match ``model``'s hidden layers and build the coarse network with parameters ``R_p x``.

    :func:`plan_coarsening` followed by :func:`build_coarse_model`; call it
    again on the coarse network for one more level, and again on ``model``
    to re-match.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> fine = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> coarse, transfer = coarsen_network(fine, threshold=-1.0)
    >>> transfer.fine_widths, transfer.coarse_widths
    ((8,), (4,))
    >>> coarse[0].weight.shape
    torch.Size([4, 3])
    """
    transfer = plan_coarsening(model, threshold=threshold, scaled=scaled, order=order, rng=rng, projection=projection,
                               matching=matching)
    return build_coarse_model(model, transfer), transfer


def transfer_state(transfer: Transfer) -> list[tuple]:
    """The operators of ``transfer``'s units ``(P, pi, mate or None, scale or None)``, for a checkpoint.

    ``P`` and ``pi`` are tensors, or :class:`~msann.core.factored.KroneckerOperator` s
    of tensors for factored units (both move with ``.to(device)``).
    """
    return [(u.P, u.pi, None if u.matching is None else u.matching.mate, u.scale) for u in transfer.units]


def transfer_from_state(model: nn.Sequential, units: Sequence[tuple], *, device: torch.device) -> Transfer:
    """The transfer of ``model`` from :func:`transfer_state` (operators moved to ``device``)."""
    return plan_from_prolongations(model, [
        UnitTransfer(P.to(device), pi.to(device), None if mate is None else Matching.from_mate(mate),
                     None if scale is None else scale.to(device))
        for P, pi, mate, scale in units
    ])


@dataclass(frozen=True)
class Coarsener:
    """A way to coarsen a network: its transfer, the coarse network it defines, and the transfer rebuilt from a checkpoint.

    Attributes
    ----------
    transfer : callable
        ``transfer(model, *, options, rng) -> Transfer``.
    coarse_model : callable
        ``coarse_model(model, transfer) -> nn.Module`` with parameters ``R_p`` of ``model``'s.
    from_state : callable
        ``from_state(model, units, *, device) -> Transfer`` from :func:`transfer_state`.
    adaptive : callable
        ``adaptive(model) -> bool``: whether the transfer of ``model`` depends
        on its weights, so that re-coarsening can change it.
    """

    transfer: Callable[..., Transfer]
    coarse_model: Callable[[nn.Module, Transfer], nn.Module] = build_coarse_model
    from_state: Callable[..., Transfer] = transfer_from_state
    adaptive: Callable[[nn.Module], bool] = lambda model: True


def _fixed(model: nn.Module) -> bool:
    return False


def _has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(module, nn.Conv2d) for module in model.modules())


#: Coarseners by name (module docstring).
COARSENERS: dict[str, Coarsener] = {
    "matching": Coarsener(_per_hidden_layer(_matched_unit)),
    "graph": Coarsener(_per_hidden_layer(_graph_unit), adaptive=_has_convolutions),
    "explicit": Coarsener(_per_hidden_layer(_explicit_unit), adaptive=_fixed),
    "depth": Coarsener(depth_transfer, depth_coarse_model, depth_from_state, adaptive=_fixed),
    "graph-data": Coarsener(graph_data_transfer, from_state=graph_data_from_state, adaptive=_fixed),
}


def coarsen(name: str, model: nn.Module, *, options: CoarseningOptions, rng: np.random.Generator) -> Transfer:
    """The transfer of ``model`` by the coarsener ``name`` (a key of :data:`COARSENERS`)."""
    return COARSENERS[check_choice("coarsener", name, COARSENERS)].transfer(model, options=options, rng=rng)
