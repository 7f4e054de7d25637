"""Layer rules: how each kind of ``torch.nn`` layer takes part in a transfer.

A network is coarsened unit by unit: the hidden units of an ``nn.Linear``
(output features) or the channels of an ``nn.Conv2d`` (output channels).
:data:`LAYER_RULES` maps a layer class to its :class:`LayerRule`; a rule
says which data layout the layer accepts and leaves (``input``, ``channels``,
``flattened``, ``features``), and, for a layer with weights, how a weight or
bias tensor is transferred along its unit axes and how the coarse layer is
built.  :func:`scan` walks an ``nn.Sequential`` with the rules and returns
its parametric layers; a layer without a rule is refused with the list of
supported layers.  A new kind of layer (e.g. a Galerkin transfer of
convolution kernels across image resolutions, seed 003) is one more rule.

Unit axes.  A weight ``out x in (x kh x kw)`` has its output units on axis 0
and its input units on axis 1; an ``nn.Linear`` after ``nn.Flatten`` of
``C`` channels of ``H x W`` pixels sees each channel as a block of
``S = H W`` consecutive input features, so its input operators act as
``P ⊗ I_S`` (applied matrix-free, :func:`along`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["LAYER_RULES", "SUPPORTED_LAYERS", "LayerRule", "Slot", "along", "rule_of", "scan"]


def along(matrix, tensor: torch.Tensor, axis: int, block: int = 1) -> torch.Tensor:
    """Apply ``matrix`` (``m x c``) to ``axis`` of ``tensor``, read as ``c`` blocks of ``block`` entries.

    ``result[.., a', ..] = sum_a matrix[a', a] tensor[.., a, ..]``, i.e. the
    product with ``matrix ⊗ I_block`` along that axis.  ``matrix`` is a
    tensor (dense or sparse CSR) or a :class:`msann.core.factored.KroneckerOperator`
    (anything with ``shape``, ``to(dtype=, device=)`` and ``@`` on ``c x k`` tensors).
    """
    matrix = matrix.to(dtype=tensor.dtype, device=tensor.device)
    moved = tensor.movedim(axis, 0)
    rest = moved.shape[1:]
    grouped = moved.reshape(matrix.shape[1], -1)
    return (matrix @ grouped).reshape(matrix.shape[0] * block, *rest).movedim(0, axis)


def _unit_axes_transfer(output: torch.Tensor | None, input: torch.Tensor | None, role: str, tensor: torch.Tensor,
                        block: int) -> torch.Tensor:
    """Operators on the output-unit axis (0) and, for a weight, the input-unit axis (1)."""
    result = tensor
    if output is not None:
        result = along(output, result, 0)
    if role == "weight" and input is not None:
        result = along(input, result, 1, block)
    return result


def _coarse_linear(module: nn.Linear, in_units: int, out_units: int) -> nn.Linear:
    weight = module.weight
    return nn.Linear(in_units, out_units, bias=module.bias is not None, dtype=weight.dtype, device=weight.device)


def _coarse_conv(module: nn.Conv2d, in_units: int, out_units: int) -> nn.Conv2d:
    weight = module.weight
    return nn.Conv2d(in_units, out_units, module.kernel_size, stride=module.stride, padding=module.padding,
                     dilation=module.dilation, padding_mode=module.padding_mode, bias=module.bias is not None,
                     dtype=weight.dtype, device=weight.device)


@dataclass(frozen=True)
class Slot:
    """A parametric layer found by :func:`scan`: its position, name, module, rule and input block size."""

    index: int
    name: str
    module: nn.Module
    rule: LayerRule
    block: int


@dataclass
class _ScanState:
    layout: str = "input"  # input | channels | flattened | features
    channels: int = 0
    width: int = 0
    slots: list[Slot] = field(default_factory=list)


def _unsupported(index: int, name: str, module: nn.Module, why: str = "") -> TypeError:
    detail = f" ({why})" if why else ""
    return TypeError(
        f"layer {index} ('{name}', {type(module).__name__}) is not supported by the coarsener{detail}; "
        f"supported layers are: {', '.join(SUPPORTED_LAYERS)}"
    )


def _enter_conv(state: _ScanState, index: int, name: str, module: nn.Conv2d, rule: LayerRule) -> None:
    if state.layout not in ("input", "channels"):
        raise ValueError(f"layer {index} ('{name}', Conv2d) follows a Flatten or Linear layer; convolutions must come first")
    if module.groups != 1:
        raise ValueError(f"layer {index} ('{name}', Conv2d) has groups = {module.groups}; channel coarsening needs groups = 1")
    if state.layout == "channels" and module.in_channels != state.channels:
        raise ValueError(f"layer {index} ('{name}', Conv2d) must have in_channels = {state.channels} (the previous convolution's out_channels); got {module.in_channels}")
    state.slots.append(Slot(index, name, module, rule, 1))
    state.layout, state.channels = "channels", module.out_channels


def _enter_linear(state: _ScanState, index: int, name: str, module: nn.Linear, rule: LayerRule) -> None:
    if state.layout == "channels":
        raise ValueError(f"layer {index} ('{name}', Linear) follows a Conv2d without an nn.Flatten between them")
    block = 1
    if state.layout == "flattened":
        if module.in_features % state.channels:
            raise ValueError(
                f"layer {index} ('{name}', Linear) after Flatten of {state.channels} channels must have in_features "
                f"divisible by {state.channels}; got in_features = {module.in_features}"
            )
        block = module.in_features // state.channels
    elif state.slots and module.in_features != state.width:
        raise ValueError(f"layer {index} ('{name}', Linear) must have in_features = {state.width} (the previous layer's out_features); got {module.in_features}")
    state.slots.append(Slot(index, name, module, rule, block))
    state.layout, state.width = "features", module.out_features


def _enter_flatten(state: _ScanState, index: int, name: str, module: nn.Flatten, rule: LayerRule) -> None:
    if (module.start_dim, module.end_dim) != (1, -1):
        raise _unsupported(index, name, module, f"Flatten must use start_dim=1, end_dim=-1; got {module.start_dim}, {module.end_dim}")
    state.layout = {"channels": "flattened", "input": "features"}.get(state.layout, state.layout)


def _enter_pooling(state: _ScanState, index: int, name: str, module: nn.Module, rule: LayerRule) -> None:
    if state.layout not in ("input", "channels"):
        raise _unsupported(index, name, module, "pooling is supported only between convolutions")


def _enter_elementwise(state: _ScanState, index: int, name: str, module: nn.Module, rule: LayerRule) -> None:
    if any(True for _ in module.parameters()):
        raise _unsupported(index, name, module, "it has parameters")


@dataclass(frozen=True)
class LayerRule:
    """How one kind of layer takes part in a coarsening.

    Attributes
    ----------
    kind : str
        A short name (``"Linear"``, ``"Conv2d"``, ``"activation"``, ...).
    enter : callable
        ``enter(state, index, name, module, rule)``: check the layer against
        the data layout reaching it, record it if it has weights, and update
        the layout; raises ``ValueError``/``TypeError`` naming the layer.
    transfer : callable, optional
        Layers with weights: ``transfer(output_matrix, input_matrix, role,
        tensor, block)`` applies the operators to a ``weight`` or ``bias``.
    coarse : callable, optional
        Layers with weights: ``coarse(module, in_units, out_units)`` builds
        the coarse layer.
    """

    kind: str
    enter: Callable
    transfer: Callable | None = None
    coarse: Callable | None = None


#: Layer classes and their rules, looked up with ``isinstance`` in this order.
LAYER_RULES: dict[type[nn.Module], LayerRule] = {}
for _classes, _rule in (
    ((nn.Linear,), LayerRule("Linear", _enter_linear, _unit_axes_transfer, _coarse_linear)),
    ((nn.Conv2d,), LayerRule("Conv2d", _enter_conv, _unit_axes_transfer, _coarse_conv)),
    ((nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity), LayerRule("activation", _enter_elementwise)),
    ((nn.MaxPool2d, nn.AvgPool2d), LayerRule("pooling", _enter_pooling)),
    ((nn.Flatten,), LayerRule("flatten", _enter_flatten)),
):
    LAYER_RULES.update(dict.fromkeys(_classes, _rule))

#: Names of every supported layer class, for error messages.
SUPPORTED_LAYERS: tuple[str, ...] = tuple(cls.__name__ for cls in LAYER_RULES)


def rule_of(module: nn.Module) -> LayerRule | None:
    """The rule of ``module``'s class (or of a base class), or None."""
    for cls, rule in LAYER_RULES.items():
        if isinstance(module, cls):
            return rule
    return None


def scan(model: nn.Module) -> list[Slot]:
    """Validate ``model`` (an ``nn.Sequential`` of supported layers) and return its layers with weights."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential of supported layers ({', '.join(SUPPORTED_LAYERS)}); got {type(model).__name__}")
    state = _ScanState()
    for index, (name, module) in enumerate(model.named_children()):
        rule = rule_of(module)
        if rule is None:
            raise _unsupported(index, name, module)
        rule.enter(state, index, name, module, rule)
    if len(state.slots) < 2:
        raise ValueError(f"model must have at least 2 Linear/Conv2d layers (a hidden layer to coarsen); got {len(state.slots)}")
    return state.slots
