"""Small networks and dictionary helpers shared by the coarsening and FAS tests."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis import settings
from torch import nn

from msann.coarsening.network import CoarseningWarning, coarsen_network

SETTINGS = settings(max_examples=25, deadline=None)
F64 = torch.float64

# --------------------------------------------------------------------------- helpers


def fc_net(widths: list[int], activation: type[nn.Module] = nn.ReLU, *, seed: int = 0, dtype=F64, bias: bool = True) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for position, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(n_in, n_out, bias=bias, dtype=dtype))
        if position < len(widths) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def conv_net(activation: type[nn.Module] = nn.ReLU, *, seed: int = 0, dtype=F64, pool: bool = True) -> nn.Sequential:
    """2 x (7x7) image -> conv 6 ch -> [maxpool] -> conv 5 ch -> flatten -> linear 7 -> linear 3."""
    torch.manual_seed(seed)
    spatial = 2 if pool else 3
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1, dtype=dtype),
        activation(),
        nn.MaxPool2d(2) if pool else nn.Identity(),
        nn.Conv2d(6, 5, 3, stride=1 if pool else 2, padding=0 if pool else 0, dtype=dtype),
        activation(),
        nn.Flatten(),
        nn.Linear(5 * spatial * spatial, 7, dtype=dtype),
        activation(),
        nn.Linear(7, 3, dtype=dtype),
    )


def conv_input(batch: int = 4, *, dtype=F64, pool: bool = True) -> torch.Tensor:
    size = 8 if pool else 7
    return torch.randn(batch, 2, size, size, dtype=dtype, generator=torch.Generator().manual_seed(1))


def plan_quietly(model: nn.Sequential, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseningWarning)
        return coarsen_network(model, **options)


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.named_parameters()}


def random_like(tensors: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(value.shape, dtype=value.dtype, generator=generator) for key, value in tensors.items()}


def inner(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> float:
    return float(sum((left[key] * right[key]).sum() for key in left))


def assert_close(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor], *, atol: float = 1e-12, rtol: float = 0.0) -> None:
    assert left.keys() == right.keys()
    for key in left:
        torch.testing.assert_close(left[key], right[key], atol=atol, rtol=rtol)


@st.composite
def involutions(draw, max_n: int = 12) -> np.ndarray:
    n = draw(st.integers(min_value=1, max_value=max_n))
    order = draw(st.permutations(range(n)))
    pairs = draw(st.integers(min_value=0, max_value=n // 2))
    mate = np.arange(n)
    for a, b in zip(order[: 2 * pairs : 2], order[1 : 2 * pairs : 2]):
        mate[a], mate[b] = b, a
    return mate


fc_widths = st.lists(st.integers(min_value=2, max_value=6), min_size=1, max_size=3).flatmap(
    lambda hidden: st.tuples(st.integers(1, 4), st.just(hidden), st.integers(1, 3)).map(lambda t: [t[0], *t[1], t[2]])
)

