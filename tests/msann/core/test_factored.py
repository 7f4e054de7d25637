"""Unit operators in factored (Kronecker) form (msann.core.factored) and the transfers built on them.

The mathematics asserted: ``shape_map(..., factored=True)`` multiplies out to
the dense map bit for bit; a :class:`KroneckerOperator` applies the product
(and its transpose, and with an identity block) as the dense matrix does;
factored value operators satisfy ``pi_a Q_a = I`` per factor, hence
``pi Q = I``, and equal the dense ``Q = P diag(s)``, ``pi = diag(1/s) P^T``;
transfers with factored operators restrict, prolong and restrict gradients as
the dense ones (float64, to 1e-12), also for tensors that require gradients,
in MsANN's coarse-data levels and after a checkpoint;
small maps stay dense (bit for bit as before); a layer of 256x256 units
builds its transfer and restricts its weights without an ``N x n`` map.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from graphprolong.kronecker import KroneckerMap
from msann.coarsening.data import graph_data_from_state, mlp_value_transfer, value_unit
from msann.coarsening.graph import layer_maps, one_dimensional_map, shape_map, unit_shapes
from msann.coarsening.network import CoarseningOptions, coarsen, transfer_state
from msann.core import factored
from msann.core.factored import KroneckerOperator, use_factored
from msann.core.layers import along
from msann.core.transfer import parameters_of, transfer_from_prolongation
from msann.methods.msann import CoarseDataMsANN
from msann.models.mlp import plain_autoencoder
from tests.child_process import child_result

F64 = torch.float64

#: (fine, coarse) unit shapes: one axis halved, both, a 2-channel image (the Poisson inputs'), a path.
SHAPES = [((8, 8), (8, 4)), ((8, 8), (4, 4)), ((2, 8, 8), (2, 8, 4)), ((16,), (8,))]


def _random(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize("method", ["recipe", "spectral", "piecewise-constant"])
@pytest.mark.parametrize("fine, coarse", SHAPES)
def test_a_factored_shape_map_multiplies_out_to_the_dense_map_bit_for_bit(fine, coarse, method):
    P = shape_map(fine, coarse, method=method, factored=True)
    assert isinstance(P, KroneckerMap) and P.rows == tuple(fine) and P.columns == tuple(coarse)
    assert np.array_equal(P.dense(), shape_map(fine, coarse, method=method))


@pytest.mark.parametrize("fine, coarse", SHAPES)
def test_the_operator_applies_the_product_its_transpose_and_an_identity_block_as_the_dense_matrix(fine, coarse):
    P = KroneckerOperator.from_map(shape_map(fine, coarse, factored=True), dtype=F64)
    dense = P.dense()
    assert P.shape == tuple(dense.shape) and P.identity[0] == (fine[0] == coarse[0] and len(fine) > 1)
    X, Y = _random((P.shape[1], 5), 0), _random((P.shape[0], 3), 1)
    torch.testing.assert_close(P @ X, dense @ X, rtol=0, atol=1e-12)
    torch.testing.assert_close(P.T @ Y, dense.T @ Y, rtol=0, atol=1e-12)
    tensor = _random((4, 3 * P.shape[1]), 2)  # a weight whose input units are blocks of 3 features
    torch.testing.assert_close(along(P, tensor, 1, block=3), along(dense, tensor, 1, block=3), rtol=0, atol=1e-12)
    torch.testing.assert_close(P.with_identity(3).dense(), torch.kron(dense, torch.eye(3, dtype=F64)), rtol=0, atol=0)


@pytest.mark.parametrize("method", ["recipe", "spectral", "piecewise-constant"])
@pytest.mark.parametrize("fine, coarse", SHAPES[:3])
def test_factored_value_operators_are_left_inverse_factor_by_factor_and_equal_the_dense_ones(fine, coarse, method):
    K = shape_map(fine, coarse, method=method, factored=True)
    unit, dense = value_unit(K, dtype=F64, factored=True), value_unit(K, dtype=F64, factored=False)
    assert unit.factored and not dense.factored and repr(unit).endswith("kronecker)")
    for Q, pi in zip(unit.P.factors, unit.pi.factors):
        torch.testing.assert_close(pi @ Q, torch.eye(Q.shape[1], dtype=F64), rtol=0, atol=1e-12)
    X = _random((unit.n_coarse, 4), 3)
    torch.testing.assert_close(unit.pi @ (unit.P @ X), X, rtol=0, atol=1e-12)  # pi P = I, in factored form
    torch.testing.assert_close(unit.P.dense(), dense.P, rtol=0, atol=1e-12)
    torch.testing.assert_close(unit.pi.dense(), dense.pi, rtol=0, atol=1e-12)


def _transfers(monkeypatch, data_shape, hidden=6, device="cpu"):
    """The coarse-data transfer of an autoencoder on ``data_shape``, with dense and with factored data maps."""
    width = int(np.prod(data_shape))
    model = plain_autoencoder([width, hidden, width], seed=0, dtype=F64).to(device)
    coarse_shape = tuple(data_shape[:-1]) + (data_shape[-1] // 2,)
    maps = [shape_map(data_shape, coarse_shape, factored=True), np.array(one_dimensional_map(hidden // 2))]
    maps.append(maps[0])
    built = {}
    for name, threshold in (("dense", 2**62), ("factored", 1)):
        monkeypatch.setattr(factored, "FACTORED_MIN_ENTRIES", threshold)
        built[name] = mlp_value_transfer(model, maps)
    return model, built["dense"], built["factored"]


def _assert_close(left: dict, right: dict) -> None:
    assert list(left) == list(right)
    for key in left:
        torch.testing.assert_close(left[key], right[key], rtol=0, atol=1e-12)


@pytest.mark.parametrize("data_shape", [(8, 8), (2, 8, 8)])
def test_factored_transfers_restrict_prolong_and_restrict_gradients_as_the_dense_ones(monkeypatch, data_shape):
    model, dense, kron = _transfers(monkeypatch, data_shape)
    assert [unit.factored for unit in kron.units] == [True, False, True] and not any(u.factored for u in dense.units)
    fine = parameters_of(model)
    _assert_close(kron.restrict(fine), dense.restrict(fine))
    _assert_close(kron.restrict_gradient(fine), dense.restrict_gradient(fine))
    coarse = dense.restrict(fine)
    _assert_close(kron.prolong(coarse), dense.prolong(coarse))
    _assert_close(kron.restrict(kron.prolong(coarse)), coarse)  # R_p P_p = I


def test_gradients_flow_through_factored_operators_as_through_dense_ones(monkeypatch):
    model, dense, kron = _transfers(monkeypatch, (2, 8, 8))
    gradients = []
    for transfer in (dense, kron):
        fine = {key: value.clone().requires_grad_() for key, value in parameters_of(model).items()}
        loss = sum((value**2).sum() for value in transfer.restrict(fine).values())
        gradients.append(dict(zip(fine, torch.autograd.grad(loss, list(fine.values())))))
    _assert_close(gradients[1], gradients[0])


def test_coarse_data_msann_on_factored_maps_restricts_as_on_dense_ones(monkeypatch):
    widths, shapes = [64, 16, 64], unit_shapes(64, levels=2, layout="grid", input_shape=(8, 8))

    def method(factored_maps: bool) -> CoarseDataMsANN:
        maps = [layer_maps(width, levels=2, strategy="grid", input_shape=(8, 8) if index != 1 else None,
                           factored=factored_maps) for index, width in enumerate(widths)]
        return CoarseDataMsANN(plain_autoencoder(widths, seed=0, dtype=F64), maps, shapes, lr=1e-2)

    dense = method(False)
    monkeypatch.setattr(factored, "FACTORED_MIN_ENTRIES", 1)
    kron = method(True)
    assert all(unit.factored for level in range(2) for unit in kron.hierarchy[level].transfer.units)
    for level in range(2):
        dense.descend(level)
        kron.descend(level)
        _assert_close(parameters_of(kron.hierarchy[level + 1].model), parameters_of(dense.hierarchy[level + 1].model))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_factored_transfers_on_cuda_match_the_dense_ones_on_the_cpu(monkeypatch):
    model, dense, _ = _transfers(monkeypatch, (2, 8, 8))
    _, _, kron = _transfers(monkeypatch, (2, 8, 8), device="cuda")
    assert kron.units[0].P.device.type == "cuda" and kron.units[0].factored
    fine = parameters_of(model)
    restricted = kron.restrict({key: value.cuda() for key, value in fine.items()})
    _assert_close({key: value.cpu() for key, value in restricted.items()}, dense.restrict(fine))
    prolonged = kron.prolong(restricted)
    _assert_close({key: value.cpu() for key, value in prolonged.items()}, dense.prolong(dense.restrict(fine)))


def test_a_checkpoint_keeps_factored_operators_factored(monkeypatch):
    model, _, kron = _transfers(monkeypatch, (2, 8, 8))
    buffer = io.BytesIO()
    torch.save(transfer_state(kron), buffer)
    units = torch.load(io.BytesIO(buffer.getvalue()), map_location="cpu", weights_only=False)  # as load_checkpoint does
    loaded = graph_data_from_state(model, units, device=torch.device("cpu"))
    assert [unit.factored for unit in loaded.units] == [True, False, True]
    fine = parameters_of(model)
    _assert_close(loaded.restrict(fine), kron.restrict(fine))


def test_small_data_maps_stay_dense_bit_for_bit_and_large_ones_are_factored():
    small, large = plain_autoencoder([64, 8, 64], dtype=F64), plain_autoencoder([64 * 64, 8, 64 * 64], dtype=torch.float32)
    transfer = coarsen("graph-data", small, options=CoarseningOptions(data_shape=(8, 8)), rng=None)
    expected = value_unit(shape_map((8, 8), (8, 4)), dtype=F64)
    assert not transfer.units[0].factored
    assert torch.equal(transfer.units[0].P, expected.P) and torch.equal(transfer.units[0].pi, expected.pi)
    transfer = coarsen("graph-data", large, options=CoarseningOptions(data_shape=(64, 64)), rng=None)
    assert [unit.factored for unit in transfer.units] == [True, False, True]
    assert transfer.units[0].P.dtype == torch.float32 and transfer.units[0].P.identity == (True, False)
    assert use_factored(shape_map((64, 64), (64, 32), factored=True)) and not use_factored(shape_map((32, 32), (32, 16), factored=True))
    assert not use_factored(np.ones((4096, 2048)))  # a dense matrix, however large, stays dense


def test_layer_maps_come_factored_for_the_kronecker_strategies_and_are_refused_for_the_others():
    maps = layer_maps(64, levels=2, strategy="grid", input_shape=(8, 8), factored=True)
    assert [P.columns for P in maps] == [(8, 4), (4, 4)]
    dense = layer_maps(64, levels=2, strategy="grid", input_shape=(8, 8))
    assert all(np.array_equal(P.dense(), D) for P, D in zip(maps, dense))
    with pytest.raises(ValueError, match=r"Kronecker products.*path, grid.*got strategy = 'grid-shuffled'"):
        layer_maps(64, levels=1, strategy="grid-shuffled", factored=True)


def test_bad_factors_and_pairs_are_refused_naming_the_rule_and_the_value():
    with pytest.raises(TypeError, match=r"non-empty sequence of matrices.*got Tensor"):
        KroneckerOperator(torch.eye(2))
    with pytest.raises(ValueError, match=r"factor 1 must be a non-empty 2D floating-point torch.Tensor; got Tensor of shape \(3,\)"):
        KroneckerOperator((torch.eye(2), torch.ones(3)))
    with pytest.raises(ValueError, match=r"factor 1 has \(torch.float32, cpu\)"):
        KroneckerOperator((torch.eye(2, dtype=F64), torch.eye(2, dtype=torch.float32)))
    with pytest.raises(TypeError, match=r"factored = True needs a Kronecker map.*got ndarray"):
        value_unit(np.eye(4, 2), factored=True)
    P = shape_map((4, 4), (4, 2), factored=True)
    with pytest.raises(ValueError, match=r"pi P must equal I \(factor 1\).*got max \|pi P - I\| = 1"):
        transfer_from_prolongation(P, pi=KroneckerMap([np.eye(4), np.zeros((2, 4))]), factored=True)
    with pytest.raises(ValueError, match=r"a factored pi must have P's 2 factors; got 1"):
        transfer_from_prolongation(P, pi=KroneckerMap([np.ones((8, 16))]), factored=True)
    with pytest.raises(ValueError, match=r"column 0 of factor 1 of the \(4, 2\) map sums to 0"):
        value_unit(KroneckerMap([np.eye(4), np.array([[1.0, 1.0], [-1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]) / np.sqrt(2)]), factored=True)
    with pytest.raises(ValueError, match=r"as many axes; got \(4, 4\) and \(4,\)"):
        shape_map((4, 4), (4,))


def _large_layer() -> dict:
    """In a fresh process: an MLP 65536 -> 64 -> 65536 (256x256 units) gets its coarse-data transfer to 128x128 and
    restricts and prolongs its weights; returns the operators' kinds and the peak memory growth."""
    import resource

    torch.manual_seed(0)
    model = plain_autoencoder([256 * 256, 64, 256 * 256], dtype=torch.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data_map = shape_map((256, 256), (128, 128), factored=True)
    transfer = mlp_value_transfer(model, [data_map, np.array(one_dimensional_map(32)), data_map])
    coarse = transfer.restrict(parameters_of(model))
    fine = transfer.prolong(coarse)
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20  # KB -> GB
    return {"kinds": [type(unit.P).__name__ for unit in transfer.units], "growth_gb": growth,
            "coarse": list(coarse["0.weight"].shape), "fine": list(fine["0.weight"].shape)}


def test_a_layer_of_256x256_units_builds_and_restricts_without_an_n_by_n_map():
    # a 65536 x 16384 map is 4.3 GB in float32 (8.6 GB as graphprolong's float64); the factors are 128 KB
    result = child_result("tests.msann.core.test_factored", "_large_layer", timeout=120)
    assert result["kinds"] == ["KroneckerOperator", "Tensor", "KroneckerOperator"]
    assert result["coarse"] == [32, 128 * 128] and result["fine"] == [64, 256 * 256]
    assert result["growth_gb"] < 1.5, result
