"""MsANN: multiscale artificial neural networks (Scott & Mjolsness, seed 002 §3.4; SPEC §3).

An :class:`MsANNAutoencoder` has the finest model's shapes; each weight and
bias is a sum over levels (eq. 3.6-3.8)::

    Theta_j = theta_j^(0) + Pro_{1->0} theta_j^(1) + ... + Pro_{L->0} theta_j^(L),

with ``Pro W = P_out W P_in^T`` for torch's ``out x in`` weights and
``Pro b = P b``; the composite maps ``Pro_{l->0}`` are computed once.  The
coarse parameters start at zero, so the network starts as the plain
network's initialisation, and ``L = 0`` is plain training.  A smoothing step
at level ``l`` updates ``theta^(l)`` only; its gradient is ``Res_{0->l}`` of
the gradient with respect to ``Theta`` (eq. 3.13), which autograd gives.

While a level is being smoothed the other levels' share of ``Theta`` is held
in a cache, so a step costs one ``Pro`` per parameter, not ``L``.

:class:`MsANN` is the method that :func:`msann.training.train` drives: its
``down``/``up`` events do nothing (the coarse parameters live inside the
fine network), and its ``simultaneous`` variant is the seed's "all levels
trained simultaneously" baseline (one optimiser over every level, no
schedule).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from graphprolong.checks import check_choice, check_positive_int

from .multilevel import Hierarchy, Level, make_smoother

__all__ = ["ACTIVATIONS", "SCHEDULES", "MsANN", "MsANNAutoencoder", "build_msann", "plain_autoencoder"]

#: Activation name -> torch.nn.functional (or torch) function name.
ACTIVATIONS = {"sigmoid": "sigmoid", "relu": "relu", "tanh": "tanh", "identity": None}

#: Schedules of :class:`MsANN`.
SCHEDULES = ("cycle", "simultaneous")


def _activation(name: str):
    check_choice("activation", name, ACTIVATIONS)
    return (lambda x: x) if ACTIVATIONS[name] is None else getattr(torch, ACTIVATIONS[name])


def _check_widths(widths: Sequence[int]) -> list[int]:
    widths = [check_positive_int("width", width) for width in widths]
    if len(widths) < 2:
        raise ValueError(f"an MLP needs at least two layer widths (input and output); got {widths}")
    return widths


def plain_autoencoder(widths: Sequence[int], *, activation: str = "sigmoid", output_activation: str = "sigmoid",
                      bias: bool = True, seed: int = 0, dtype=None):
    """The plain ``torch.nn.Sequential`` MLP with the same initialisation as :class:`MsANNAutoencoder` (``seed``)."""
    widths = _check_widths(widths)
    layers = _initial_linears(widths, bias=bias, seed=seed, dtype=dtype)
    modules = []
    for index, layer in enumerate(layers):
        modules.append(layer)
        name = output_activation if index == len(layers) - 1 else activation
        modules.append(torch.nn.Identity() if ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)] is None
                       else {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[name]())
    return torch.nn.Sequential(*modules)


def _initial_linears(widths: list[int], *, bias: bool, seed: int, dtype):
    """``nn.Linear`` layers drawn with torch's default initialisation from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [torch.nn.Linear(a, b, bias=bias, dtype=dtype) for a, b in zip(widths, widths[1:])]


class MsANNAutoencoder(torch.nn.Module):
    """An MLP whose parameters are sums of prolonged coarse parameters (eq. 3.6).

    Parameters
    ----------
    widths : sequence of int
        Unit counts of the finest model's layers, input first.
    maps : sequence of sequences of numpy arrays
        ``maps[i][l]``: ``P^(l)`` of unit layer ``i`` (``w_{i,l} x w_{i,l+1}``);
        every layer needs the same number ``L`` of maps.
    activation, output_activation : str
        Keys of :data:`ACTIVATIONS` (hidden layers; last layer).
    bias : bool
    seed : int
        Initialisation of ``theta^(0)`` (torch's ``nn.Linear`` default); coarse levels start at zero.
    dtype : torch.dtype, optional
    """

    def __init__(self, widths, maps, *, activation="sigmoid", output_activation="sigmoid", bias=True, seed=0, dtype=None):
        super().__init__()
        widths = _check_widths(widths)
        if len(maps) != len(widths):
            raise ValueError(f"need one map chain per unit layer ({len(widths)}); got {len(maps)}")
        depths = {len(chain) for chain in maps}
        if len(depths) != 1:
            raise ValueError(f"every unit layer needs the same number of levels; got chains of lengths {sorted(depths)}")
        self.depth = depths.pop()
        self.widths, self.bias = widths, bias
        self.activation_names = (activation, output_activation)
        self._activation, self._output_activation = _activation(activation), _activation(output_activation)
        dtype = dtype or torch.get_default_dtype()
        self.level_widths = [[width] for width in widths]  # level_widths[i][l]
        for i, chain in enumerate(maps):
            composite = np.eye(widths[i])
            for l, P in enumerate(chain):
                P = np.asarray(P, dtype=float)
                if P.shape[0] != composite.shape[1]:
                    raise ValueError(f"unit layer {i}: map {l} has shape {P.shape}; it must start from {composite.shape[1]} units")
                composite = composite @ P
                self.level_widths[i].append(P.shape[1])
                self.register_buffer(f"composite_{i}_{l + 1}", torch.as_tensor(composite, dtype=dtype))
        self.thetas = torch.nn.ParameterDict()
        for j, linear in enumerate(_initial_linears(widths, bias=bias, seed=seed, dtype=dtype)):
            self.thetas[f"w{j}_0"] = torch.nn.Parameter(linear.weight.detach().clone())
            if bias:
                self.thetas[f"b{j}_0"] = torch.nn.Parameter(linear.bias.detach().clone())
            for l in range(1, self.depth + 1):
                out_width, in_width = self.level_widths[j + 1][l], self.level_widths[j][l]
                self.thetas[f"w{j}_{l}"] = torch.nn.Parameter(torch.zeros(out_width, in_width, dtype=dtype))
                if bias:
                    self.thetas[f"b{j}_{l}"] = torch.nn.Parameter(torch.zeros(out_width, dtype=dtype))
        for j in range(self.n_layers):
            self.register_buffer(f"total_w{j}", self.thetas[f"w{j}_0"].detach().clone())
            if bias:
                self.register_buffer(f"total_b{j}", self.thetas[f"b{j}_0"].detach().clone())
        self._focus, self._snapshot = None, None

    # -- structure -------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1

    def composite(self, unit_layer: int, level: int):
        """``Pro_{level -> 0}`` of a unit layer (None for level 0: the identity)."""
        return None if level == 0 else getattr(self, f"composite_{unit_layer}_{level}")

    def level_parameters(self, level: int) -> list:
        """``theta^(level)``: weights and biases of every layer, in layer order."""
        names = [f"w{j}_{level}" for j in range(self.n_layers)]
        if self.bias:
            names = [name for j in range(self.n_layers) for name in (f"w{j}_{level}", f"b{j}_{level}")]
        return [self.thetas[name] for name in names]

    def level_size(self, level: int) -> int:
        """``|M_l|``: trainable parameters of level ``level``'s standalone model."""
        return sum(p.numel() for p in self.level_parameters(level))

    # -- Pro / Res -------------------------------------------------------
    def prolong_weight(self, j: int, level: int, theta):
        """``Pro_{level->0}`` of layer ``j``'s weight: ``C_out theta C_in^T``."""
        if level == 0:
            return theta
        return self.composite(j + 1, level) @ theta @ self.composite(j, level).T

    def prolong_bias(self, j: int, level: int, theta):
        return theta if level == 0 else self.composite(j + 1, level) @ theta

    def restrict_weight(self, j: int, level: int, gradient):
        """``Res_{0->level}``: ``C_out^T G C_in`` (the adjoint of :meth:`prolong_weight`)."""
        if level == 0:
            return gradient
        return self.composite(j + 1, level).T @ gradient @ self.composite(j, level)

    def restrict_bias(self, j: int, level: int, gradient):
        return gradient if level == 0 else self.composite(j + 1, level).T @ gradient

    def _level_share(self, level: int):
        """Each layer's ``(Pro theta_W^(level), Pro theta_b^(level))``."""
        shares = []
        for j in range(self.n_layers):
            weight = self.prolong_weight(j, level, self.thetas[f"w{j}_{level}"])
            bias = self.prolong_bias(j, level, self.thetas[f"b{j}_{level}"]) if self.bias else None
            shares.append((weight, bias))
        return shares

    def effective_parameters(self, *, exclude: int | None = None):
        """``[(Theta_W, Theta_b)]`` per layer: the sum over levels (``exclude``: leave one level out)."""
        total = None
        for level in range(self.depth + 1):
            if level == exclude:
                continue
            share = self._level_share(level)
            total = share if total is None else [
                (w0 + w1, None if b0 is None else b0 + b1) for (w0, b0), (w1, b1) in zip(total, share)
            ]
        return total

    # -- the running total and the open visit ---------------------------------
    #
    # ``total_w{j}``/``total_b{j}`` hold Theta = sum_l Pro theta^(l) (buffers, so
    # checkpoints keep them bit for bit).  While level l is smoothed, a snapshot
    # of theta^(l) is taken and the forward pass uses
    #     Theta_j = total_j + Pro (theta^(l) - snapshot),
    # with the second term applied to the batch in factored form
    # ((x C_in) delta^T) C_out^T: a step costs O(batch x widths), not the dense
    # O(width^3) of forming Pro theta.  Leaving the level folds the change into
    # the total (one dense Pro per visit); :meth:`synchronise` recomputes the
    # total exactly (at every evaluation).

    def focus(self, level: int | None) -> None:
        """Differentiate ``theta^(level)`` only in forward passes (None: every level, the exact sum)."""
        if level == self._focus:
            return
        self._close()
        if level is None:
            self.synchronise()
        elif self.depth > 0:
            self._snapshot = [p.detach().clone() for p in self.level_parameters(level)]
        self._focus = level

    def _close(self) -> None:
        """Fold the open visit's change into the running total."""
        if self._focus is None or self._snapshot is None:
            self._snapshot = None
            return
        level = self._focus
        with torch.no_grad():
            for j, (delta_w, delta_b) in enumerate(self._deltas(level)):
                self.get_buffer(f"total_w{j}").add_(self.prolong_weight(j, level, delta_w))
                if delta_b is not None:
                    self.get_buffer(f"total_b{j}").add_(self.prolong_bias(j, level, delta_b))
        self._snapshot = None

    def _deltas(self, level: int):
        """Per layer ``(theta_W - snapshot, theta_b - snapshot)`` of the open visit (differentiable)."""
        changes = [p - s for p, s in zip(self.level_parameters(level), self._snapshot)]
        if self.bias:
            return [(changes[2 * j], changes[2 * j + 1]) for j in range(self.n_layers)]
        return [(change, None) for change in changes]

    def synchronise(self) -> None:
        """Recompute the running total exactly as ``sum_l Pro theta^(l)``."""
        self._close()
        with torch.no_grad():
            for j, (weight, bias) in enumerate(self.effective_parameters()):
                self.get_buffer(f"total_w{j}").copy_(weight)
                if bias is not None:
                    self.get_buffer(f"total_b{j}").copy_(bias)

    def _layer(self, j: int, x, delta_w, delta_b):
        """Layer ``j``'s affine map of ``x`` in the open visit of the focused level."""
        level = self._focus
        total_w = self.get_buffer(f"total_w{j}")
        total_b = self.get_buffer(f"total_b{j}") if self.bias else None
        if level == 0:
            return torch.nn.functional.linear(x, total_w + delta_w, None if total_b is None else total_b + delta_b)
        y = torch.nn.functional.linear(x, total_w, total_b)
        y = y + ((x @ self.composite(j, level)) @ delta_w.T) @ self.composite(j + 1, level).T
        return y if delta_b is None else y + self.composite(j + 1, level) @ delta_b

    def forward(self, x):
        if self.depth == 0:
            parameters = [(self.thetas[f"w{j}_0"], self.thetas[f"b{j}_0"] if self.bias else None) for j in range(self.n_layers)]
        elif self._focus is None:
            parameters = self.effective_parameters()
        else:
            parameters, deltas = None, self._deltas(self._focus)
        for j in range(self.n_layers):
            x = self._layer(j, x, *deltas[j]) if parameters is None else torch.nn.functional.linear(x, *parameters[j])
            x = self._output_activation(x) if j == self.n_layers - 1 else self._activation(x)
        return x

    def get_extra_state(self) -> dict:
        return {"focus": self._focus, "snapshot": self._snapshot}

    def set_extra_state(self, state: dict) -> None:
        device = self.thetas["w0_0"].device
        snapshot = state["snapshot"]
        self._focus = state["focus"]
        self._snapshot = None if snapshot is None else [tensor.to(device) for tensor in snapshot]


def build_msann(widths: Sequence[int], maps: Sequence[Sequence[np.ndarray]], **options) -> MsANNAutoencoder:
    """Construct an :class:`MsANNAutoencoder` (kept for symmetry with other methods' builders)."""
    return MsANNAutoencoder(widths, maps, **options)


class MsANN:
    """The MsANN method: smoothing steps on one level's parameters; ``down``/``up`` do nothing.

    Parameters
    ----------
    model : module from :func:`build_msann`
    smoother : str
        A key of :data:`msann.multilevel.SMOOTHERS`; one optimiser per level.
    lr : float or sequence of float
        Per level when a sequence.
    momentum : float
    schedule : {"cycle", "simultaneous"}
        ``simultaneous``: one level holding every parameter, one optimiser, cost
        per example ``sum_l |M_l| / |M_0|`` (it updates every level's parameters).
    """

    def __init__(self, model, *, smoother: str = "adam", lr=5e-4, momentum: float = 0.0, schedule: str = "cycle") -> None:
        check_choice("schedule", schedule, SCHEDULES)
        self.model, self.schedule = model, schedule
        sizes = [model.level_size(level) for level in range(model.depth + 1)]
        if schedule == "simultaneous":
            parameters = [p for level in range(model.depth + 1) for p in model.level_parameters(level)]
            rate = lr[0] if isinstance(lr, Sequence) else lr
            levels = [Level(0, parameters, make_smoother(smoother, parameters, lr=rate, momentum=momentum),
                            sum(sizes) / sizes[0], sum(sizes))]
        else:
            rates = lr if isinstance(lr, Sequence) else [lr] * len(sizes)
            if len(rates) != len(sizes):
                raise ValueError(f"lr needs one value per level ({len(sizes)}); got {list(rates)}")
            levels = [
                Level(l, model.level_parameters(l), make_smoother(smoother, model.level_parameters(l), lr=rates[l], momentum=momentum),
                      sizes[l] / sizes[0], sizes[l])
                for l in range(len(sizes))
            ]
        self.hierarchy = Hierarchy(levels)

    def smooth_step(self, level: int, inputs, targets):
        """One minibatch step of level ``level``'s parameters; returns the loss (a detached tensor)."""
        self.model.focus(None if self.schedule == "simultaneous" else level)
        smoother = self.hierarchy[level].smoother
        smoother.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(self.model(inputs), targets)
        loss.backward()
        smoother.step()
        return loss.detach()

    def down(self, level: int) -> None:
        """Nothing to transfer: the coarse parameters live inside the fine network."""

    def up(self, level: int) -> None:
        """Nothing to correct (see :meth:`down`)."""

    def evaluate(self, inputs, targets, *, batch_size: int = 4096) -> dict:
        """``{"val_mse": mean squared error}`` of the finest model (the exact sum over levels) over the whole set."""
        self.model.focus(None)
        total = 0.0
        with torch.no_grad():
            for start in range(0, inputs.shape[0], batch_size):
                outputs = self.model(inputs[start : start + batch_size])
                total += float(torch.sum((outputs - targets[start : start + batch_size]) ** 2))
        return {"val_mse": total / targets.numel()}

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "hierarchy": self.hierarchy.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.hierarchy.load_state_dict(state["hierarchy"])
