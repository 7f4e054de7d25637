"""FAS multilevel-in-width training (Ponce, Mao, Li, Vassilevski; seed 000; SPEC §4).

The hierarchy is built by :func:`msann.coarsening.coarsen_network`: level
``l + 1`` is the network of level ``l`` with about half the hidden units (or
channels), its parameters ``Pi x_l``.  :class:`FAS` is a
:class:`~msann.multilevel.MultilevelMethod`, so :func:`msann.training.train`
drives it with its gamma-cycles (``gamma = 1``: the V-cycle of seed 000 §6)::

    smooth(l)   k SGD+momentum steps on level l's objective (lr / eta^l)
    down(l)     x_{l+1} = Pi x_l,  m_{l+1} = Pi m_l  (parameters and momentum);
                re-match the units every ``rematch_every`` cycles
    cycle(l+1)  (its first batch request draws the tau batch, below)
    up(l)       x_l <- x_l + alpha_p P (x_{l+1} - Pi x_l)
                m_l <- m_l + alpha_m P (m_{l+1} - Pi m_l)
    smooth(l)

Objectives.  Level 0 minimises ``g(x)``, the minibatch mean squared error.
Level ``c >= 1`` minimises the tau-corrected coarse objective (seed 000 eq. 3)::

    g^_c(x_c) = g_c(x_c) - gamma_tau <x_c, tau_c>,
    tau_c     = mean_i grad g_c(Pi x_f; B_i) - R mean_i grad g^_f(x_f; B_i),

with ``f = c - 1``, ``R = P^T`` (:func:`~msann.coarsening.restrict_gradients`)
and ``B_1 .. B_m`` the *tau batch*: ``m`` minibatches drawn from the training
stream, then reused, cyclically, for every smoothing step of level ``c``
during that visit (seed 000 §6.1.1).  Means over minibatches (SPEC §4, the
seed's ``N/m`` factor dropped) make the correction consistent: at
``gamma_tau = 1``, ``grad g^_c(Pi x_f) = R grad g^_f(x_f)`` on the tau batch
exactly.  On deeper levels the finer objective ``g^_f`` includes its own tau
term, as in multigrid FAS.  The tau batch is drawn when the driver first asks
for a level-``c`` batch (:meth:`FAS.batch`), right after ``down(f)``; nothing
changes ``x_f`` in between, so this is the same computation as drawing it in
``down`` (which has no access to the stream).

Work units (seed 000 §8; SPEC §4).  The driver charges ``relative_cost_l x b``
per smoothing step on a minibatch of ``b`` examples, and ``down(l)`` returns
the tau work, ``m b (relative_cost_l + relative_cost_{l+1})`` (one fine and
one coarse forward+backward per tau minibatch).  So ``C(t) / b`` is in work
units: 1 WU = one forward+backward of one minibatch on the finest network.
:data:`COST_MODELS`: ``"quarter"`` is the seed's rule of thumb, a level costs
1/4 of the next finer one (its Fig. 3/Table 1 accounting; the seed's example,
2 levels with 2 pre-, 2 coarse and 2 post-smoothing steps and m = 2, costs 7
WU); ``"macs"`` uses the ratio of multiply-adds per example of the actual
networks (for the 2 x 400 FC Poisson net a coarse level costs ~0.48, not
0.25, because the input and output layers keep their widths).  The relative
costs are fixed when the hierarchy is built; re-matching may change a coarse
width by a few units without changing them.

Errors.  The validation error of the finest network is reported as in the
seed's Table 1: ``val_l2`` is the "L2 loss", the mean squared error over all
validation samples and grid nodes (the training loss; the reference
implementation LLNL/MTNN reports ``MSELoss`` as "L2"); ``val_linf`` the
largest absolute error over all samples and nodes; ``val_rel_l2`` (extra) the
mean over samples of ``||u_pred - u||_2 / ||u||_2``.

Recipe table ``[fas]`` (:data:`FAS_FIELDS`) with ``method = "fas"``: the
network (``architecture``, widths), the coarsening (``threshold``, ``scaled``,
``order``, ``transfer``, ``rematch_every``) and the FAS parameters
(``tau_batches``, ``gamma_tau``, ``alpha_p``, ``alpha_m``, ``eta``,
``cost_model``).  The depth is ``[hierarchy] levels`` (the number of coarse
levels; 0 is plain SGD with momentum), the cycle index ``[hierarchy] gamma``
and the smoothing steps per visit ``[hierarchy] k``; ``[train] optimizer``
must be ``"sgd"`` (lr and momentum from ``[train]``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from graphprolong.checks import check_choice, check_positive, check_positive_int, check_real

from .coarsening import (
    VISIT_ORDERS,
    CoarseningPlan,
    Matching,
    UnitTransfer,
    build_coarse_model,
    coarse_correction,
    heavy_edge_matching,
    load_sgd_momentum_buffers,
    piecewise_constant_transfer,
    plan_coarsening,
    plan_from_prolongations,
    restrict_gradients,
    restrict_parameters,
    scaled_transfer,
    sgd_momentum_buffers,
    transfer_from_prolongation,
)
from .config import Field, register_method, register_table
from .multilevel import Hierarchy, Level, make_smoother
from .prolongations import METHODS as GRAPH_METHODS
from .prolongations import one_dimensional_map

__all__ = [
    "ARCHITECTURES",
    "COST_MODELS",
    "FAS",
    "FAS_FIELDS",
    "TRANSFERS",
    "build_fas_method",
    "build_network",
    "forward_macs",
    "poisson_cnn",
    "poisson_fc",
]

#: Network families of ``[fas] architecture``.
ARCHITECTURES = ("fc", "cnn")

#: Transfer operators: ``"matching"`` (heavy-edge matching on every hidden
#: layer) or ``"graph"`` (a graph-designed orthonormal path map
#: ``n -> n/2`` from :func:`msann.prolongations.one_dimensional_map` on every
#: hidden ``nn.Linear``; convolution channels, which have no graph, keep the
#: matching).
TRANSFERS = ("matching", "graph")


def _quarter_costs(models: Sequence[nn.Module], input_shape: tuple[int, ...] | None) -> list[float]:
    return [0.25**level for level in range(len(models))]


def _macs_costs(models: Sequence[nn.Module], input_shape: tuple[int, ...] | None) -> list[float]:
    if input_shape is None:
        first = next(module for module in models[0].modules() if isinstance(module, (nn.Linear, nn.Conv2d)))
        if isinstance(first, nn.Conv2d):
            raise ValueError("cost_model 'macs' of a network that starts with a Conv2d needs input_shape = (channels, height, width)")
        input_shape = (first.in_features,)
    macs = [forward_macs(model, input_shape) for model in models]
    return [value / macs[0] for value in macs]


#: Relative cost of a level (see the module docstring):
#: name -> ``f(models, input_shape or None) -> [cost_l]``, finest first.
COST_MODELS = {"quarter": _quarter_costs, "macs": _macs_costs}


# --------------------------------------------------------------------------- networks


def _seeded(seed: int, build):
    """``build()`` with torch's default initialisation drawn from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(check_positive_int("seed", seed, minimum=0))
        return build()


def poisson_fc(in_features: int, out_features: int, *, hidden: int = 400, layers: int = 2, seed: int = 0,
               dtype: torch.dtype | None = None) -> nn.Sequential:
    """The fully connected network of seed 000 §8.1: ``layers`` hidden ReLU layers of ``hidden`` units.

    ``Linear(in, hidden), ReLU, (Linear(hidden, hidden), ReLU) x (layers - 1), Linear(hidden, out)``,
    torch's default initialisation drawn from ``seed``.

    Examples
    --------
    >>> poisson_fc(3 * 32 * 32, 32 * 32)[0]
    Linear(in_features=3072, out_features=400, bias=True)
    """
    sizes = [check_positive_int("in_features", in_features)]
    sizes += [check_positive_int("hidden", hidden)] * check_positive_int("layers", layers)
    sizes.append(check_positive_int("out_features", out_features))

    def build() -> nn.Sequential:
        modules: list[nn.Module] = []
        for position, (a, b) in enumerate(zip(sizes, sizes[1:])):
            modules.append(nn.Linear(a, b, dtype=dtype))
            if position < len(sizes) - 2:
                modules.append(nn.ReLU())
        return nn.Sequential(*modules)

    return _seeded(seed, build)


def _conv_side(side: int, *, kernel: int, stride: int, layers: int) -> int:
    for _ in range(layers):
        side = (side - kernel) // stride + 1
        if side < 1:
            break
    return side


def poisson_cnn(channels_in: int, grid: int | Sequence[int], *, out_features: int | None = None, channels: int = 200,
                conv_layers: int = 2, kernel: int = 7, stride: int = 2, hidden: int = 400, hidden_layers: int = 2,
                seed: int = 0, dtype: torch.dtype | None = None) -> nn.Sequential:
    """The convolutional network of seed 000 §8.1: 2 convolutions (200 channels, kernel 7, stride 2) + 2 FC x 400.

    ``conv_layers`` ``Conv2d(., channels, kernel, stride)`` without padding (as
    in the reference implementation LLNL/MTNN), each followed by ReLU; then
    ``Flatten``, ``hidden_layers`` ReLU layers of ``hidden`` units and a linear
    output layer of ``out_features`` (default: the number of grid nodes).  On
    a 32 x 32 grid the feature maps are 13 x 13 and 4 x 4.

    Parameters
    ----------
    channels_in : int
        Input channels (4 for the Poisson inputs ``kappa, f, x, y``).
    grid : int or (int, int)
        Height and width of the input images.

    Raises
    ------
    ValueError
        If the images are too small for the convolutions (a feature map would be empty).

    Examples
    --------
    >>> net = poisson_cnn(4, 32)
    >>> net(torch.zeros(1, 4, 32, 32)).shape, net[5].in_features
    (torch.Size([1, 1024]), 3200)
    """
    height, width = (grid, grid) if isinstance(grid, int) else tuple(grid)
    height, width = check_positive_int("grid height", height), check_positive_int("grid width", width)
    channels_in = check_positive_int("channels_in", channels_in)
    channels = check_positive_int("channels", channels)
    kernel, stride = check_positive_int("kernel", kernel), check_positive_int("stride", stride)
    conv_layers = check_positive_int("conv_layers", conv_layers)
    out_features = height * width if out_features is None else check_positive_int("out_features", out_features)
    sides = [_conv_side(side, kernel=kernel, stride=stride, layers=conv_layers) for side in (height, width)]
    if min(sides) < 1:
        raise ValueError(
            f"a {height} x {width} image is too small for {conv_layers} convolution(s) of kernel {kernel} and "
            f"stride {stride} without padding: a feature map would be empty"
        )
    sizes = [channels * sides[0] * sides[1]] + [check_positive_int("hidden", hidden)] * check_positive_int(
        "hidden_layers", hidden_layers) + [out_features]

    def build() -> nn.Sequential:
        modules: list[nn.Module] = []
        for position in range(conv_layers):
            modules += [nn.Conv2d(channels_in if position == 0 else channels, channels, kernel, stride=stride, dtype=dtype),
                        nn.ReLU()]
        modules.append(nn.Flatten())
        for position, (a, b) in enumerate(zip(sizes, sizes[1:])):
            modules.append(nn.Linear(a, b, dtype=dtype))
            if position < len(sizes) - 2:
                modules.append(nn.ReLU())
        return nn.Sequential(*modules)

    return _seeded(seed, build)


def forward_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-adds of one example's forward pass through the ``nn.Linear`` and ``nn.Conv2d`` layers.

    ``in x out`` for a linear layer, ``out x in x kh x kw x H_out x W_out``
    for a convolution (groups 1); measured with forward hooks on one zero
    example of shape ``input_shape``.
    """
    total = 0

    def count(module: nn.Module, inputs, output) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
        else:
            kernel = math.prod(module.kernel_size) * module.in_channels // module.groups
            total += kernel * output[0].numel()

    handles = [module.register_forward_hook(count) for module in model.modules() if isinstance(module, (nn.Linear, nn.Conv2d))]
    try:
        parameter = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, dtype=parameter.dtype, device=parameter.device))
    finally:
        for handle in handles:
            handle.remove()
    return total


# --------------------------------------------------------------------------- the method


def _named(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: parameter.detach() for name, parameter in model.named_parameters()}


def _copy_into(model: nn.Module, values: Mapping[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.copy_(values[name])


def _to(values, device: torch.device):
    """Tensors of a nested dict/list on ``device``."""
    if isinstance(values, torch.Tensor):
        return values.to(device)
    if isinstance(values, dict):
        return {key: _to(item, device) for key, item in values.items()}
    if isinstance(values, (list, tuple)):
        return type(values)(_to(item, device) for item in values)
    return values


def _hidden_layers(model: nn.Module) -> list[nn.Module]:
    """The ``nn.Linear``/``nn.Conv2d`` layers whose outputs are hidden units (all but the last)."""
    return [module for module in model.children() if isinstance(module, (nn.Linear, nn.Conv2d))][:-1]


class FAS:
    """The FAS method of seed 000 on a ``torch.nn.Sequential`` network (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Sequential
        The finest network (``nn.Linear``/``nn.Conv2d`` stacks supported by
        :mod:`msann.coarsening`); trained in place.
    levels : int
        Number of coarse levels ``L >= 0``; 0 is plain SGD with momentum.
    threshold : float
        ``theta`` in ``[-1, 1]`` of the heavy-edge matching.
    scaled : bool
        Scaled operators ``P~ = D P`` (seed 000 eq. 34).
    order : str
        Visit order of the matching (:data:`msann.coarsening.VISIT_ORDERS`).
    rematch_every : int
        Re-match every this many cycles (cycle 0 uses the matching built here).
    tau_batches : int
        ``m``: minibatches of a tau batch, reused for the coarse smoothing.
    gamma_tau : float
        Weight ``gamma_tau >= 0`` of the tau correction (1: classical FAS).
    alpha_p, alpha_m : float
        Damping of the parameter (``> 0``) and momentum (``>= 0``) corrections.
    eta : float
        Level ``l`` smooths with learning rate ``lr / eta^l`` (``eta > 0``).
    lr, momentum : float
        SGD learning rate of level 0 and momentum (``[0, 1)``) of every level.
    transfer : str
        A key of :data:`TRANSFERS`.
    graph_method : str
        The 1D map of ``transfer = "graph"`` (:data:`msann.prolongations.METHODS`).
    cost_model : str
        A key of :data:`COST_MODELS`.
    input_shape : tuple of int, optional
        Shape of one example as the network takes it (e.g. ``(4, 32, 32)``
        for a CNN fed flat minibatches); default: the minibatch rows as given.
    seed : int
        Seed of the matching's random visit order.

    Raises
    ------
    TypeError
        For a layer the coarsener does not support (named, with the supported list).
    ValueError
        For invalid options, or a hidden layer too narrow to coarsen ``levels`` times.

    Examples
    --------
    >>> fas = FAS(poisson_fc(16, 4, hidden=8), levels=1, threshold=-1.0)
    >>> fas.plans[0].coarse_widths, [level.size for level in fas.hierarchy.levels]
    ((4, 4), [244, 108])
    >>> [level.relative_cost for level in fas.hierarchy.levels]
    [1.0, 0.25]
    """

    def __init__(self, model: nn.Sequential, *, levels: int, threshold: float = 0.0, scaled: bool = False,
                 order: str = "heaviest", rematch_every: int = 50, tau_batches: int = 4, gamma_tau: float = 1.0,
                 alpha_p: float = 1.0, alpha_m: float = 1.0, eta: float = 1.0, lr: float = 0.01, momentum: float = 0.9,
                 transfer: str = "matching", graph_method: str = "recipe", cost_model: str = "quarter",
                 input_shape: Sequence[int] | None = None, seed: int = 0) -> None:
        if not isinstance(model, nn.Module) or not any(True for _ in model.parameters()):
            raise TypeError(f"model must be a torch.nn.Module with parameters; got {type(model).__name__}")
        self.depth = check_positive_int("levels", levels, minimum=0)
        self.threshold = check_real("threshold", threshold)
        if not -1.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [-1, 1] (it bounds a cosine similarity); got threshold = {threshold!r}")
        if not isinstance(scaled, bool):
            raise TypeError(f"scaled must be a bool; got {type(scaled).__name__} {scaled!r}")
        self.scaled = scaled
        self.order = check_choice("order", order, VISIT_ORDERS)
        self.rematch_every = check_positive_int("rematch_every", rematch_every)
        self.tau_batches = check_positive_int("tau_batches", tau_batches)
        self.gamma_tau = self._non_negative("gamma_tau", gamma_tau)
        self.alpha_p = check_positive("alpha_p", alpha_p)
        self.alpha_m = self._non_negative("alpha_m", alpha_m)
        self.eta = check_positive("eta", eta)
        self.lr = check_positive("lr", lr)
        self.momentum = check_real("momentum", momentum)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum!r}")
        self.transfer = check_choice("transfer", transfer, TRANSFERS)
        self.graph_method = check_choice("graph_method", graph_method, GRAPH_METHODS)
        check_choice("cost_model", cost_model, COST_MODELS)
        self.cost_model = cost_model
        self.input_shape = None if input_shape is None else tuple(check_positive_int("input_shape", s) for s in input_shape)
        self._rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0))

        self.models: list[nn.Module] = [model]
        self.plans: list[CoarseningPlan] = []
        for level in range(self.depth):
            plan = self._plan(level)
            self.plans.append(plan)
            self.models.append(build_coarse_model(self.models[level], plan))
        costs = COST_MODELS[cost_model](self.models, self.input_shape)
        self.hierarchy = Hierarchy([
            Level(level, list(network.parameters()), self._smoother(level, network), costs[level],
                  sum(p.numel() for p in network.parameters()), self.plans[level] if level < self.depth else None)
            for level, network in enumerate(self.models)
        ])
        count = self.depth + 1
        self._restricted: list[dict | None] = [None] * count
        self._restricted_momentum: list[dict | None] = [None] * count
        self._tau: list[dict | None] = [None] * count
        self._tau_batch: list[list] = [[] for _ in range(count)]
        self._tau_pending = [False] * count
        self._next_batch = [0] * count
        self._cycle = 0
        self._rematching = False
        self._batch_size: int | None = None

    # -- construction helpers ------------------------------------------------------
    @staticmethod
    def _non_negative(name: str, value: float) -> float:
        value = check_real(name, value)
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"{name} must be a finite number >= 0; got {name} = {value!r}")
        return value

    @property
    def device(self) -> torch.device:
        return next(self.models[0].parameters()).device

    def _smoother(self, level: int, network: nn.Module):
        return make_smoother("sgd", network.parameters(), lr=self.lr / self.eta**level, momentum=self.momentum)

    def _plan(self, level: int) -> CoarseningPlan:
        """Transfers from level ``level`` to ``level + 1`` for the current weights of level ``level``."""
        model = self.models[level]
        try:
            if self.transfer == "matching":
                return plan_coarsening(model, threshold=self.threshold, scaled=self.scaled, order=self.order, rng=self._rng)
            return plan_from_prolongations(model, [self._graph_unit(layer) for layer in _hidden_layers(model)])
        except (TypeError, ValueError) as error:
            raise type(error)(f"coarsening level {level} -> {level + 1}: {error}") from None

    def _graph_unit(self, layer: nn.Module) -> UnitTransfer:
        weight = layer.weight.detach()
        if isinstance(layer, nn.Conv2d):  # channels have no graph: heavy-edge matching
            matching = heavy_edge_matching(weight, threshold=self.threshold, order=self.order, rng=self._rng)
            if self.scaled:
                return scaled_transfer(matching, weight)
            return piecewise_constant_transfer(matching, dtype=weight.dtype, device=weight.device)
        width = weight.shape[0]
        if width % 2:
            raise ValueError(f"graph transfer halves a path of units; a layer of {width} units (odd) cannot be halved")
        P = np.array(one_dimensional_map(width // 2, method=self.graph_method))  # a writable copy for torch
        return transfer_from_prolongation(P, dtype=weight.dtype, device=weight.device)

    def _replan(self, level: int) -> None:
        """Re-match level ``level``'s units: new operators, coarse network and smoother of level ``level + 1``."""
        plan = self._plan(level)
        coarse = build_coarse_model(self.models[level], plan)
        self._install(level, plan, coarse)

    def _install(self, level: int, plan: CoarseningPlan, coarse: nn.Module) -> None:
        self.plans[level] = plan
        self.models[level + 1] = coarse
        self.hierarchy.levels[level].transfers = plan
        record = self.hierarchy.levels[level + 1]
        record.parameters = list(coarse.parameters())
        record.smoother = self._smoother(level + 1, coarse)
        record.size = sum(p.numel() for p in coarse.parameters())

    # -- objectives ----------------------------------------------------------------
    def _forward(self, level: int, inputs: torch.Tensor) -> torch.Tensor:
        if self.input_shape is not None:
            inputs = inputs.reshape(inputs.shape[0], *self.input_shape)
        return self.models[level](inputs)

    def _objective(self, level: int, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g^_level, g_level)`` on a minibatch: the tau-corrected objective and the mean squared error."""
        data = torch.nn.functional.mse_loss(self._forward(level, inputs), targets)
        tau = self._tau[level]
        if tau is None or self.gamma_tau == 0.0:
            return data, data
        linear = sum((parameter * tau[name]).sum() for name, parameter in self.models[level].named_parameters())
        return data - self.gamma_tau * linear, data

    def tau(self, level: int) -> dict[str, torch.Tensor] | None:
        """A copy of ``tau`` of coarse level ``level`` (None before its tau batch is drawn)."""
        tau = self._tau[level]
        return None if tau is None else {name: value.clone() for name, value in tau.items()}

    def set_tau_batch(self, level: int, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Make ``batches`` the tau batch of coarse level ``level`` (after ``down(level - 1)``) and compute ``tau``.

        ``tau = mean_i grad g_c(x_c; B_i) - R mean_i grad g^_f(x_f; B_i)`` with
        ``x_c = Pi x_f`` as set by ``down``.  :meth:`batch` calls this with ``m``
        minibatches of the stream; tests call it directly.
        """
        if not 1 <= level <= self.depth:
            raise ValueError(f"level must be a coarse level in [1, {self.depth}]; got {level}")
        if self._restricted[level - 1] is None:
            raise RuntimeError(f"level {level} has no tau batch before down({level - 1})")
        batches = [(inputs, targets) for inputs, targets in batches]
        if not batches:
            raise ValueError("a tau batch needs at least one minibatch")
        fine, coarse = self.models[level - 1], self.models[level]
        fine_names, fine_parameters = zip(*fine.named_parameters())
        coarse_names, coarse_parameters = zip(*coarse.named_parameters())
        fine_sum = [torch.zeros_like(p) for p in fine_parameters]
        coarse_sum = [torch.zeros_like(p) for p in coarse_parameters]
        for inputs, targets in batches:
            objective, _ = self._objective(level - 1, inputs, targets)
            for total, gradient in zip(fine_sum, torch.autograd.grad(objective, fine_parameters)):
                total.add_(gradient)
            data = torch.nn.functional.mse_loss(self._forward(level, inputs), targets)
            for total, gradient in zip(coarse_sum, torch.autograd.grad(data, coarse_parameters)):
                total.add_(gradient)
        count = len(batches)
        restricted = restrict_gradients(self.plans[level - 1], {n: g / count for n, g in zip(fine_names, fine_sum)})
        self._tau[level] = {n: g / count - restricted[n] for n, g in zip(coarse_names, coarse_sum)}
        self._tau_batch[level] = batches
        self._next_batch[level] = 0
        self._tau_pending[level] = False

    # -- the MultilevelMethod protocol -------------------------------------------------
    def batch(self, level: int, stream):
        """Level 0: the stream's next minibatch.  Coarse levels: the tau batch, cyclically (drawn on first use)."""
        if level == 0:
            return next(stream)
        if self._tau_pending[level]:
            self.set_tau_batch(level, [next(stream) for _ in range(self.tau_batches)])
        batches = self._tau_batch[level]
        if not batches:
            raise RuntimeError(f"level {level} has no tau batch: batch({level}) must follow down({level - 1})")
        position = self._next_batch[level]
        self._next_batch[level] = (position + 1) % len(batches)
        return batches[position]

    def smooth_step(self, level: int, inputs, targets) -> torch.Tensor:
        """One SGD+momentum step on level ``level``'s objective; returns the minibatch MSE (detached)."""
        if self._tau_pending[level]:
            raise RuntimeError(f"level {level} needs its tau batch first: take its minibatches from batch({level}, stream)")
        self._batch_size = int(inputs.shape[0])
        smoother = self.hierarchy[level].smoother
        smoother.zero_grad(set_to_none=True)
        objective, data = self._objective(level, inputs, targets)
        objective.backward()
        smoother.step()
        return data.detach()

    def down(self, level: int) -> float:
        """``x_{l+1} = Pi x_l`` and ``m_{l+1} = Pi m_l`` (re-matching first when due); returns the tau work in examples."""
        if self._batch_size is None:
            raise RuntimeError("down() needs a smoothing step first (the tau work is counted in its minibatch size)")
        if level == 0:
            self._rematching = self._cycle > 0 and self._cycle % self.rematch_every == 0
            self._cycle += 1
        if self._rematching:
            self._replan(level)
        plan, fine, coarse = self.plans[level], self.models[level], self.models[level + 1]
        restricted = restrict_parameters(plan, _named(fine))
        _copy_into(coarse, restricted)
        self._restricted[level] = {name: value.clone() for name, value in restricted.items()}
        if self.momentum:
            momentum = restrict_parameters(plan, sgd_momentum_buffers(self.hierarchy[level].smoother, fine))
            load_sgd_momentum_buffers(self.hierarchy[level + 1].smoother, coarse, momentum)
            self._restricted_momentum[level] = momentum
        self._tau[level + 1], self._tau_batch[level + 1] = None, []
        self._tau_pending[level + 1] = True
        costs = self.hierarchy.levels
        return self.tau_batches * self._batch_size * (costs[level].relative_cost + costs[level + 1].relative_cost)

    def up(self, level: int) -> None:
        """``x_l += alpha_p P (x_{l+1} - Pi x_l)``, ``m_l += alpha_m P (m_{l+1} - Pi m_l)``."""
        if self._restricted[level] is None:
            raise RuntimeError(f"up({level}) without a matching down({level})")
        plan, fine, coarse = self.plans[level], self.models[level], self.models[level + 1]
        corrected = coarse_correction(plan, _named(fine), _named(coarse), self._restricted[level], alpha=self.alpha_p)
        _copy_into(fine, corrected)
        if self.momentum:
            fine_smoother = self.hierarchy[level].smoother
            momentum = coarse_correction(plan, sgd_momentum_buffers(fine_smoother, fine),
                                         sgd_momentum_buffers(self.hierarchy[level + 1].smoother, coarse),
                                         self._restricted_momentum[level], alpha=self.alpha_m)
            load_sgd_momentum_buffers(fine_smoother, fine, momentum)
        self._restricted[level] = self._restricted_momentum[level] = None
        self._tau[level + 1], self._tau_batch[level + 1] = None, []

    def evaluate(self, inputs, targets, *, batch_size: int = 1000) -> dict:
        """``{"val_l2", "val_linf", "val_rel_l2"}`` of the finest network (module docstring, "Errors")."""
        squared, largest, relative = 0.0, 0.0, 0.0
        with torch.no_grad():
            for start in range(0, inputs.shape[0], batch_size):
                truth = targets[start : start + batch_size]
                error = self._forward(0, inputs[start : start + batch_size]) - truth
                squared += float((error**2).sum())
                largest = max(largest, float(error.abs().max()))
                norms = torch.linalg.vector_norm(truth, dim=1).clamp_min(torch.finfo(truth.dtype).tiny)
                relative += float((torch.linalg.vector_norm(error, dim=1) / norms).sum())
        return {"val_l2": squared / targets.numel(), "val_linf": largest, "val_rel_l2": relative / targets.shape[0]}

    def summary_fields(self, result) -> dict:
        """``best_val_l2``, ``best_val_linf``, ``best_train_l2``, ``best_train_linf`` (on the training subset), ``work_units`` (``C / b``) and the hidden widths per level, for summary.json."""
        def best(key: str) -> float | None:
            values = [e[key] for e in result.evaluations if key in e and math.isfinite(e[key])]
            return min(values) if values else None

        batch = self._batch_size
        return {
            "best_val_l2": best("val_l2"),
            "best_val_linf": best("val_linf"),
            "best_train_l2": best("train_l2"),
            "best_train_linf": best("train_linf"),
            "work_units": result.total_cost / batch if batch else None,
            "level_widths": [list(plan.fine_widths) for plan in self.plans] + (
                [list(self.plans[-1].coarse_widths)] if self.plans else []),
        }

    # -- checkpoints -----------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything to resume exactly: networks, operators, smoothers, tau, tau batches, cycle count, RNG."""
        units = [
            [(u.P, u.pi, None if u.matching is None else u.matching.mate, u.scale) for u in plan.units]
            for plan in self.plans
        ]
        return {
            "models": [model.state_dict() for model in self.models],
            "units": units,
            "hierarchy": self.hierarchy.state_dict(),
            "restricted": self._restricted, "restricted_momentum": self._restricted_momentum,
            "tau": self._tau, "tau_batch": self._tau_batch, "tau_pending": list(self._tau_pending),
            "next_batch": list(self._next_batch), "cycle": self._cycle, "rematching": self._rematching,
            "batch_size": self._batch_size, "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        if len(state["models"]) != self.depth + 1:
            raise ValueError(f"the state has {len(state['models'])} level(s); this FAS has {self.depth + 1}")
        device = self.device
        self.models[0].load_state_dict(state["models"][0])
        for level, units in enumerate(state["units"]):
            transfers = [
                UnitTransfer(P.to(device), pi.to(device), None if mate is None else Matching.from_mate(mate),
                             None if scale is None else scale.to(device))
                for P, pi, mate, scale in units
            ]
            plan = plan_from_prolongations(self.models[level], transfers)
            coarse = build_coarse_model(self.models[level], plan)
            coarse.load_state_dict(state["models"][level + 1])
            self._install(level, plan, coarse)
        self.hierarchy.load_state_dict(state["hierarchy"])
        self._restricted = _to(list(state["restricted"]), device)
        self._restricted_momentum = _to(list(state["restricted_momentum"]), device)
        self._tau = _to(list(state["tau"]), device)
        self._tau_batch = [list(batches) for batches in _to(list(state["tau_batch"]), device)]
        self._tau_pending = list(state["tau_pending"])
        self._next_batch = list(state["next_batch"])
        self._cycle, self._rematching = int(state["cycle"]), bool(state["rematching"])
        self._batch_size = state["batch_size"]
        self._rng.bit_generator.state = state["rng"]

    def __repr__(self) -> str:
        return f"FAS(levels={self.depth}, transfer={self.transfer!r})\n{self.hierarchy!r}"


# --------------------------------------------------------------------------- recipes


def _in_closed(low: float, high: float):
    return lambda value: math.isfinite(value) and low <= value <= high


def _at_least(minimum: float, *, strict: bool = False):
    return lambda value: math.isfinite(value) and (value > minimum if strict else value >= minimum)


def _choices(values) -> tuple[str, Any]:
    valid = tuple(sorted(values))
    return "one of " + ", ".join(repr(v) for v in valid), lambda value: value in valid


def _int(default: int, minimum: int, help: str) -> Field:
    return Field((int,), default, f"an integer >= {minimum}", lambda value: value >= minimum, help)


def _float(default: float, rule: str, validator, help: str) -> Field:
    return Field((float,), float(default), rule, validator, help)


def _text(default: str, values, help: str) -> Field:
    rule, validator = _choices(values)
    return Field((str,), default, rule, validator, help)


#: The ``[fas]`` recipe table.
FAS_FIELDS: dict[str, Field] = {
    "architecture": _text("fc", ARCHITECTURES, "network: 'fc' (hidden_layers x hidden, ReLU) or 'cnn' (conv_layers convolutions, then the FC part)"),
    "hidden": _int(400, 1, "units of each hidden fully connected layer"),
    "hidden_layers": _int(2, 1, "hidden fully connected layers"),
    "channels": _int(200, 1, "channels of each convolution (cnn)"),
    "conv_layers": _int(2, 1, "convolutions (cnn)"),
    "kernel": _int(7, 1, "convolution kernel size (cnn)"),
    "stride": _int(2, 1, "convolution stride (cnn)"),
    "threshold": _float(0.0, "a number in [-1, 1]", _in_closed(-1.0, 1.0), "heavy-edge matching threshold theta (cosine similarity)"),
    "scaled": Field((bool,), False, "true or false", None, "scaled operators P~ = D P (seed 000 eq. 34)"),
    "order": _text("heaviest", VISIT_ORDERS, "visit order of the heavy-edge matching"),
    "transfer": _text("matching", TRANSFERS, "'matching' (heavy-edge) or 'graph' (path maps from [hierarchy] p_method on FC layers)"),
    "rematch_every": _int(50, 1, "re-match the units every this many cycles"),
    "tau_batches": _int(4, 1, "m: minibatches of a tau batch, reused for the coarse smoothing"),
    "gamma_tau": _float(1.0, "a finite number >= 0", _at_least(0.0), "weight of the tau correction (1: classical FAS)"),
    "alpha_p": _float(1.0, "a positive finite number", _at_least(0.0, strict=True), "damping of the parameter correction"),
    "alpha_m": _float(1.0, "a finite number >= 0", _at_least(0.0), "damping of the momentum correction"),
    "eta": _float(1.0, "a positive finite number", _at_least(0.0, strict=True), "level l smooths with lr / eta^l"),
    "cost_model": _text("quarter", COST_MODELS, "relative cost of a level: 'quarter' (seed 000) or 'macs' (measured multiply-adds)"),
}


def _check_run(run) -> None:
    """Checks across tables, before the data is loaded."""
    fas, levels = run.extra["fas"], run.hierarchy["levels"]
    if run.train["optimizer"] != "sgd":
        raise ValueError(f"[train] optimizer must be 'sgd' for method 'fas' (its smoother is SGD with momentum); got {run.train['optimizer']!r}")
    if run.hierarchy["schedule"] != "cycle":
        raise ValueError(f"[hierarchy] schedule must be 'cycle' for method 'fas'; got {run.hierarchy['schedule']!r}")
    widths = {"hidden": fas["hidden"]}
    if fas["architecture"] == "cnn":
        widths["channels"] = fas["channels"]
    for key, width in widths.items():
        if levels and width <= 2 ** (levels - 1):
            raise ValueError(
                f"[fas] {key} = {width} is too narrow for [hierarchy] levels = {levels}: a matching at most halves a "
                f"layer, and level {levels - 1} must keep 2 units to be coarsened, so it needs more than "
                f"2^(levels - 1) = {2 ** (levels - 1)} units"
            )
    if levels and fas["transfer"] == "graph" and fas["hidden"] % 2**levels:
        raise ValueError(
            f"[fas] hidden = {fas['hidden']} must be divisible by 2^levels = {2**levels} with [fas] transfer = 'graph' "
            f"([hierarchy] levels = {levels}): every level halves a path of units"
        )


def _check_data(run, *, dimension: int, unit_shape: tuple[int, ...]) -> None:
    """Checks against the loaded data."""
    fas = run.extra["fas"]
    if fas["architecture"] != "cnn":
        return
    if len(unit_shape) != 3:
        raise ValueError(
            f"[fas] architecture = 'cnn' needs image inputs (channels, height, width); [data] {run.data['name']!r} "
            f"has unit shape {unit_shape}"
        )
    sides = [_conv_side(side, kernel=fas["kernel"], stride=fas["stride"], layers=fas["conv_layers"]) for side in unit_shape[1:]]
    if min(sides) < 1:
        raise ValueError(
            f"[fas] conv_layers = {fas['conv_layers']}, kernel = {fas['kernel']}, stride = {fas['stride']} leave no "
            f"feature map of the {unit_shape[1]} x {unit_shape[2]} images of [data] {run.data['name']!r}"
        )


def build_network(run, dataset) -> nn.Sequential:
    """The run's network (``[fas] architecture``) for the dataset's input and target sizes, seeded by ``[train] seed``."""
    fas, seed = run.extra["fas"], run.train["seed"]
    out_features = math.prod(dataset.target_shape) if dataset.target_shape is not None else dataset.dimension
    if fas["architecture"] == "fc":
        return poisson_fc(dataset.dimension, out_features, hidden=fas["hidden"], layers=fas["hidden_layers"], seed=seed)
    channels, height, width = dataset.unit_shape
    return poisson_cnn(channels, (height, width), out_features=out_features, channels=fas["channels"],
                       conv_layers=fas["conv_layers"], kernel=fas["kernel"], stride=fas["stride"], hidden=fas["hidden"],
                       hidden_layers=fas["hidden_layers"], seed=seed)


def build_fas_method(run, dataset, device: torch.device | str) -> FAS:
    """The FAS method of a recipe run (``msann.experiment.BUILDERS["fas"]``)."""
    fas = run.extra["fas"]
    network = build_network(run, dataset).to(device)
    return FAS(
        network, levels=run.hierarchy["levels"], threshold=fas["threshold"], scaled=fas["scaled"], order=fas["order"],
        rematch_every=fas["rematch_every"], tau_batches=fas["tau_batches"], gamma_tau=fas["gamma_tau"],
        alpha_p=fas["alpha_p"], alpha_m=fas["alpha_m"], eta=fas["eta"], lr=run.train["lr"],
        momentum=run.train["momentum"], transfer=fas["transfer"], graph_method=run.hierarchy["p_method"],
        cost_model=fas["cost_model"], input_shape=dataset.unit_shape if fas["architecture"] == "cnn" else None,
        seed=run.train["seed"],
    )


register_table("fas", FAS_FIELDS, replace=True)
register_method("fas", tables=("fas",), check=_check_run, check_sizes=_check_data, uses_model=False, replace=True)
