"""MsANN models and data shared by the MsANN method and driver tests."""

from __future__ import annotations

from functools import reduce

import numpy as np
import torch

from msann.coarsening.graph import layer_maps
from msann.core.smoothing import make_smoother
from msann.data import one_object
from msann.methods.msann import build_msann
from msann.models.mlp import plain_autoencoder
from msann.models.multiscale import MsANNAutoencoder

F64 = torch.float64

#: Small models: (widths, depth L, strategy) whose every width can be halved L times.
SMALL = {
    "path": ([32, 16, 8, 16, 32], 2),
    "grid": ([64, 32, 16, 32, 64], 2),
    "grid-shuffled": ([64, 32, 16, 32, 64], 2),
    "random-orthogonal": ([32, 16, 8, 16, 32], 2),
}


def _maps(widths, depth, strategy="path", method="recipe"):
    return [layer_maps(width, levels=depth, strategy=strategy, method=method, rng=10 + i) for i, width in enumerate(widths)]


def _composites(maps) -> list[list[np.ndarray]]:
    """Independent reference: ``C[i][l] = P^(0) ... P^(l-1)`` of unit layer ``i`` (``C[i][0] = I``)."""
    return [[reduce(np.matmul, chain[:l], np.eye(chain[0].shape[0])) for l in range(len(chain) + 1)] for chain in maps]


def _model(strategy="path", *, dtype=F64, seed=0, randomise=True, **options) -> tuple[MsANNAutoencoder, list]:
    widths, depth = SMALL[strategy]
    maps = _maps(widths, depth, strategy)
    model = build_msann(widths, maps, seed=seed, dtype=dtype, **options)
    if randomise:  # every level non-zero, so that no identity holds by accident
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for parameter in model.thetas.values():
                parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator, dtype=dtype))
        model.synchronise()
    return model, _composites(maps)


def _reference_theta(model: MsANNAutoencoder, composites) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``Theta_j = sum_l C_out^l theta_j^(l) (C_in^l)^T`` from the numpy composites (not the model's Pro)."""
    parameters = []
    for j in range(model.n_layers):
        weight = bias = 0
        for l in range(model.depth + 1):
            out_map = torch.as_tensor(composites[j + 1][l], dtype=F64)
            in_map = torch.as_tensor(composites[j][l], dtype=F64)
            weight = weight + out_map @ model.thetas[f"w{j}_{l}"].detach().to(F64) @ in_map.T
            bias = bias + out_map @ model.thetas[f"b{j}_{l}"].detach().to(F64)
        parameters.append((weight, bias))
    return parameters


def _plain_forward(parameters, x, activation=torch.sigmoid, output_activation=torch.sigmoid):
    """The plain MLP at the given (out x in) weights and biases."""
    for j, (weight, bias) in enumerate(parameters):
        x = torch.nn.functional.linear(x, weight, bias)
        x = output_activation(x) if j == len(parameters) - 1 else activation(x)
    return x


def _inputs(width, rows=6, seed=3, dtype=F64):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(rows, width, generator=generator, dtype=dtype), torch.rand(rows, width, generator=generator, dtype=dtype)




WIDTHS_16 = [16, 8, 4, 8, 16]


def _one_object_data(length=16, n_train=64, n_val=16):
    return one_object(length=length, n_train=n_train, n_val=n_val, seed=0)


def _plain_run(widths, batches, *, seed, lr):
    plain = plain_autoencoder(widths, seed=seed)
    optimiser = make_smoother("adam", plain.parameters(), lr=lr)  # the project's Adam (fused)
    losses = []
    for inputs, targets in batches:
        optimiser.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(plain(inputs), targets)
        loss.backward()
        optimiser.step()
        losses.append(loss.detach())
    return plain, losses



def _pro(model: MsANNAutoencoder, layer: int, level: int, role: str, tensor: torch.Tensor) -> torch.Tensor:
    """``Pro_{level->0}`` of one layer's weight or bias through the model's transfer (identity at level 0)."""
    transfer = model.transfer(level)
    return tensor if transfer is None else transfer.layers[layer].apply("prolong", role, tensor)


def _res(model: MsANNAutoencoder, layer: int, level: int, role: str, tensor: torch.Tensor) -> torch.Tensor:
    """``Res_{0->level}``: the gradient restriction of the same transfer."""
    transfer = model.transfer(level)
    return tensor if transfer is None else transfer.layers[layer].apply("restrict_gradient", role, tensor)
