"""The networks of seed 000 §8.1 for the Poisson benchmark, and their multiply-add counts.

``poisson_fc``: fully connected, ``layers`` hidden ReLU layers of ``hidden``
units; ``poisson_cnn``: convolutions (200 channels, kernel 7, stride 2) and
then the fully connected part.  Both are ``torch.nn.Sequential`` stacks that
:mod:`msann.coarsening` can coarsen, initialised by torch's defaults drawn
from ``seed`` (the global random state is untouched).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from graphprolong.checks import check_positive_int

__all__ = ["conv_side", "poisson_cnn", "poisson_fc"]


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

    return _seeded(seed, lambda: nn.Sequential(*_fully_connected(sizes, dtype)))


def _fully_connected(sizes: list[int], dtype: torch.dtype | None) -> list[nn.Module]:
    """``Linear(sizes[0], sizes[1]), ReLU, ..., Linear(sizes[-2], sizes[-1])`` (no activation after the last)."""
    modules: list[nn.Module] = []
    for position, (a, b) in enumerate(zip(sizes, sizes[1:])):
        modules.append(nn.Linear(a, b, dtype=dtype))
        if position < len(sizes) - 2:
            modules.append(nn.ReLU())
    return modules


def conv_side(side: int, *, kernel: int, stride: int, layers: int) -> int:
    """The side of a feature map after ``layers`` unpadded convolutions (below 1: the map is empty)."""
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
    sides = [conv_side(side, kernel=kernel, stride=stride, layers=conv_layers) for side in (height, width)]
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
        return nn.Sequential(*modules, nn.Flatten(), *_fully_connected(sizes, dtype))

    return _seeded(seed, build)
