"""The paper's MsANN network on factored (Kronecker) composite maps (msann.models.multiscale).

The mathematics asserted: a network whose image layers keep their composite
maps ``C = ⊗_a P_a^(0) ... P_a^(l-1)`` as factors computes the same function,
the same gradients of every level's parameters and the same smoothing steps as
the one built on the dense maps (float64, to 1e-12), with the composites
multiplying out to the dense ones; below the size rule the maps are
multiplied out bit for bit as before; a checkpoint restores a factored
network; and a network on 256x256 images builds and takes a step without
any 65536 x 16384 map.
"""

from __future__ import annotations


import pytest
import torch

from msann.coarsening.graph import layer_maps
from msann.core.factored import KroneckerOperator
from msann.methods.msann import MsANN, build_msann
from tests.child_process import child_result

F64 = torch.float64
WIDTHS, SHAPE, LEVELS = [64, 16, 64], (8, 8), 2


def _network(*, factored_maps: bool, factored: bool | None, seed: int = 3, widths=WIDTHS, shape=SHAPE, dtype=F64):
    maps = [layer_maps(width, levels=LEVELS, strategy="grid", input_shape=shape if index in (0, len(widths) - 1) else None,
                       factored=factored_maps) for index, width in enumerate(widths)]
    model = build_msann(widths, maps, seed=seed, dtype=dtype, factored=factored)
    with torch.no_grad():  # coarse levels start at zero: give them values, so that every level counts
        generator = torch.Generator().manual_seed(seed)
        for name, parameter in model.thetas.items():
            if not name.endswith("_0"):
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator, dtype=dtype))
    model.synchronise()
    return model


def _inputs(seed: int = 0, rows: int = 5, width: int = WIDTHS[0]):
    return torch.rand(rows, width, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_factored_composites_multiply_out_to_the_dense_composites():
    dense, kron = _network(factored_maps=False, factored=None), _network(factored_maps=True, factored=True)
    for unit_layer in range(len(WIDTHS)):
        for level in range(1, LEVELS + 1):
            C = kron.composite(unit_layer, level)
            assert isinstance(C, KroneckerOperator)
            torch.testing.assert_close(C.dense(), dense.composite(unit_layer, level), rtol=0, atol=1e-14)
            torch.testing.assert_close(C.T @ C.dense(), torch.eye(C.shape[1], dtype=F64), rtol=0, atol=1e-12)  # C^T C = I


def test_the_network_its_level_gradients_and_its_steps_equal_the_dense_ones():
    dense, kron = _network(factored_maps=False, factored=None), _network(factored_maps=True, factored=True)
    x = _inputs()
    torch.testing.assert_close(kron(x), dense(x), rtol=0, atol=1e-12)
    for level in range(LEVELS + 1):
        gradients = []
        for model in (dense, kron):
            model.focus(level)
            loss = torch.nn.functional.mse_loss(model(x), x)
            gradients.append(torch.autograd.grad(loss, model.level_parameters(level)))
        for ours, theirs in zip(gradients[1], gradients[0]):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    methods = [MsANN(model, smoother="sgd", lr=0.5) for model in (dense, kron)]
    for level in (2, 1, 0, 1):
        for method in methods:
            method.smooth_step(level, x, x)
    torch.testing.assert_close(methods[1].predict(x), methods[0].predict(x), rtol=0, atol=1e-12)
    for (name, ours), theirs in zip(kron.thetas.items(), dense.thetas.values()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12, msg=name)


def test_maps_below_the_size_rule_are_multiplied_out_bit_for_bit_as_before():
    dense, kron_maps = _network(factored_maps=False, factored=None), _network(factored_maps=True, factored=None)
    assert not any(isinstance(kron_maps.composite(i, 1), KroneckerOperator) for i in range(len(WIDTHS)))
    assert list(kron_maps.state_dict()) == list(dense.state_dict())
    ours = kron_maps.state_dict()
    for key, value in dense.state_dict().items():
        assert torch.equal(ours[key], value) if isinstance(value, torch.Tensor) else ours[key] == value, key


def test_a_checkpoint_restores_a_factored_network():
    kron = _network(factored_maps=True, factored=True)
    kron.focus(1)
    fresh = _network(factored_maps=True, factored=True, seed=9)
    assert any(key.endswith("_f0") for key in kron.state_dict())
    fresh.load_state_dict(kron.state_dict())
    x = _inputs(1)
    torch.testing.assert_close(fresh(x), kron(x), rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_factored_network_on_cuda_computes_what_the_dense_one_computes_on_the_cpu():
    dense, kron = _network(factored_maps=False, factored=None), _network(factored_maps=True, factored=True).to("cuda")
    assert kron.composite(0, 1).device.type == "cuda"
    x = _inputs()
    torch.testing.assert_close(kron(x.cuda()).cpu(), dense(x), rtol=0, atol=1e-12)


def _large_network() -> dict:
    """A paper MsANN step on 256x256 images (run in a child process, whose peak memory is its own)."""
    import resource

    torch.set_num_threads(1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    widths = [256 * 256, 32, 256 * 256]
    model = _network(factored_maps=True, factored=None, widths=widths, shape=(256, 256), dtype=torch.float32)
    method = MsANN(model, smoother="sgd", lr=0.1)
    x = torch.rand(4, widths[0])
    losses = [float(method.smooth_step(level, x, x)) for level in (2, 1, 0)]
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20  # KB -> GB
    return {"kinds": [type(model.composite(i, 2)).__name__ for i in range(3)], "growth_gb": growth, "losses": losses,
            "factors": [list(model.composite(0, level).shape) for level in (1, 2)]}


def test_a_network_on_256x256_images_takes_steps_without_an_n_by_n_map():
    # the dense composite of level 1 is 65536 x 32768 (8.6 GB in float32); its factors are 256 KB
    result = child_result("tests.msann.models.test_multiscale_factored", "_large_network", timeout=180)
    assert result["kinds"] == ["KroneckerOperator", "Tensor", "KroneckerOperator"]
    assert result["factors"] == [[65536, 32768], [65536, 16384]]
    assert all(loss == loss and loss < 1.0 for loss in result["losses"]), result  # finite MSE of values in [0, 1]
    assert result["growth_gb"] < 1.5, result
