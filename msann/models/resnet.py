"""A residual network read as an ODE discretisation (seed 004 Ex. 3.34-3.36): the depth hierarchy's model.

``x_0 = act(opening(input))``, ``x_{j+1} = x_j + h act(W_j x_j + b_j)`` for
``j = 0 .. blocks - 1`` (explicit Euler with step ``h``), ``output =
closing(x_blocks)``.  A coarser level has half the blocks and step ``2h``
(:mod:`msann.coarsening.depth`).
"""

from __future__ import annotations

import torch
from torch import nn

from graphprolong.checks import check_positive, check_positive_int

from .mlp import activation as activation_function

__all__ = ["ResNet"]


class ResNet(nn.Module):
    """``opening``, ``blocks`` residual steps of size ``step``, ``closing`` (module docstring).

    Parameters
    ----------
    in_features, out_features : int
    width : int
        Units of every residual state.
    blocks : int
        Residual blocks (``>= 1``).
    step : float
        ``h > 0``.
    activation : str
        A key of :data:`msann.models.mlp.ACTIVATIONS`.
    seed : int
        torch's default initialisation drawn from ``seed`` (global RNG untouched).
    """

    def __init__(self, in_features: int, out_features: int, *, width: int, blocks: int, step: float = 1.0,
                 activation: str = "tanh", seed: int = 0, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        sizes = [check_positive_int(name, value) for name, value in
                 (("in_features", in_features), ("out_features", out_features), ("width", width), ("blocks", blocks))]
        self.step, self.activation = check_positive("step", step), activation
        self._act = activation_function(activation)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(check_positive_int("seed", seed, minimum=0))
            self.opening = nn.Linear(sizes[0], sizes[2], dtype=dtype)
            self.blocks = nn.ModuleList(nn.Linear(sizes[2], sizes[2], dtype=dtype) for _ in range(sizes[3]))
            self.closing = nn.Linear(sizes[2], sizes[1], dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._act(self.opening(x))
        for block in self.blocks:
            x = x + self.step * self._act(block(x))
        return self.closing(x)

    def with_blocks(self, blocks: int, step: float) -> ResNet:
        """A ResNet of the same widths with ``blocks`` blocks of step ``step`` (parameters freshly drawn; load them)."""
        weight = self.opening.weight
        return ResNet(self.opening.in_features, self.closing.out_features, width=self.opening.out_features, blocks=blocks,
                      step=step, activation=self.activation, dtype=weight.dtype).to(weight.device)
