"""Plain multilayer perceptrons: the autoencoders of seed 002 and their seeded initialisation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from graphprolong.checks import check_choice, check_positive_int

__all__ = ["ACTIVATIONS", "activation", "check_widths", "initial_linears", "plain_autoencoder"]

#: Activation name -> torch.nn module class (None: the identity).
ACTIVATIONS: dict[str, type[torch.nn.Module] | None] = {
    "sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "identity": None,
}

_FUNCTIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The elementwise function of an activation name (a key of :data:`ACTIVATIONS`)."""
    check_choice("activation", name, ACTIVATIONS)
    return _FUNCTIONS.get(name, lambda x: x)


def check_widths(widths: Sequence[int]) -> list[int]:
    """Layer widths of an MLP: at least two positive integers (input and output)."""
    widths = [check_positive_int("width", width) for width in widths]
    if len(widths) < 2:
        raise ValueError(f"an MLP needs at least two layer widths (input and output); got {widths}")
    return widths


def initial_linears(widths: Sequence[int], *, bias: bool, seed: int, dtype=None) -> list[torch.nn.Linear]:
    """``nn.Linear`` layers drawn with torch's default initialisation from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [torch.nn.Linear(a, b, bias=bias, dtype=dtype) for a, b in zip(widths, widths[1:])]


def plain_autoencoder(widths: Sequence[int], *, activation: str = "sigmoid", output_activation: str = "sigmoid",
                      bias: bool = True, seed: int = 0, dtype=None) -> torch.nn.Sequential:
    """The plain ``torch.nn.Sequential`` MLP with the same initialisation as the MsANN network of ``seed``."""
    widths = check_widths(widths)
    modules: list[torch.nn.Module] = []
    layers = initial_linears(widths, bias=bias, seed=seed, dtype=dtype)
    for index, layer in enumerate(layers):
        name = output_activation if index == len(layers) - 1 else activation
        module = ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]
        modules += [layer, torch.nn.Identity() if module is None else module()]
    return torch.nn.Sequential(*modules)
