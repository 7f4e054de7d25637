"""Relative costs of the levels of a hierarchy (seed 000 §8; SPEC §3-4).

A level's cost per example, relative to the finest model, sets what a
smoothing step there adds to ``C(t)``.  :data:`COST_MODELS` maps a name to
``f(models, input_shape or None) -> [cost_l]``, finest first:

``"quarter"``
    Seed 000's rule of thumb: a level costs 1/4 of the next finer one.
``"macs"``
    The ratio of multiply-adds per example of the actual networks
    (:func:`forward_macs`); for the 2 x 400 FC Poisson net a coarse level
    costs ~0.48, not 0.25, because the input and output layers keep their widths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["COST_MODELS", "forward_macs", "macs_costs", "quarter_costs"]


def quarter_costs(models: Sequence[nn.Module], input_shape: tuple[int, ...] | None) -> list[float]:
    """``4^-l`` for level ``l``."""
    return [0.25**level for level in range(len(models))]


def macs_costs(models: Sequence[nn.Module], input_shape: tuple[int, ...] | None) -> list[float]:
    """Multiply-adds per example of each model over the finest's.

    ``input_shape`` None: each model takes flat examples of its first
    ``nn.Linear``'s width (a coarse-data level's are narrower than the finest's).
    """
    macs = [forward_macs(model, input_shape if input_shape is not None else _flat_input(model)) for model in models]
    return [value / macs[0] for value in macs]


def _flat_input(model: nn.Module) -> tuple[int]:
    first = next(module for module in model.modules() if isinstance(module, (nn.Linear, nn.Conv2d)))
    if isinstance(first, nn.Conv2d):
        raise ValueError("cost_model 'macs' of a network that starts with a Conv2d needs input_shape = (channels, height, width)")
    return (first.in_features,)


#: Relative cost of a level: name -> ``f(models, input_shape or None) -> [cost_l]``, finest first.
COST_MODELS = {"quarter": quarter_costs, "macs": macs_costs}


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
