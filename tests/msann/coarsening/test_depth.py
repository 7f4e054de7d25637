"""The depth hierarchy (msann.coarsening.depth; seed 004 Ex. 3.34-3.36).

Constant interpolation restricts with P^T / 2; a fine ResNet whose blocks are
pairwise copies at step h computes the coarse ResNet at step 2h up to O(h^2);
the coarse network holds R_p of the fine parameters; FAS and MG/Opt train on
it; a network without pairs of blocks is refused.
"""

from __future__ import annotations

import pytest
import torch

from msann.coarsening.depth import interpolation_matrix
from msann.coarsening.network import COARSENERS, CoarseningOptions, coarsen
from msann.core.transfer import parameters_of
from msann.methods.mgopt import MGOpt
from msann.models.resnet import ResNet

F64 = torch.float64
DEPTH = COARSENERS["depth"]


def _transfer(model, interpolation="constant"):
    return coarsen("depth", model, options=CoarseningOptions(interpolation=interpolation), rng=None)


def test_constant_interpolation_restricts_by_the_pair_average():
    transfer = _transfer(ResNet(3, 2, width=4, blocks=4, dtype=F64))
    P, pi = transfer.units[0].P, transfer.units[0].pi
    torch.testing.assert_close(pi, P.T / 2, rtol=0, atol=0)
    assert torch.equal(interpolation_matrix(2, "linear"), torch.tensor([[1, 0], [0.5, 0.5], [0, 1], [0, 1]], dtype=F64))


def test_pairwise_copied_blocks_at_step_h_compute_the_coarse_resnet_at_step_2h_to_second_order():
    inputs = torch.randn(7, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    errors = []
    for h in (0.2, 0.1, 0.05, 0.025):
        coarse = ResNet(3, 2, width=5, blocks=3, step=2 * h, seed=1, dtype=F64)
        fine = ResNet(3, 2, width=5, blocks=6, step=h, seed=2, dtype=F64)
        transfer = _transfer(fine)
        with torch.no_grad():
            for name, value in transfer.prolong(parameters_of(coarse)).items():
                fine.get_parameter(name).copy_(value)
            errors.append(float((fine(inputs) - coarse(inputs)).abs().max()))
    ratios = [a / b for a, b in zip(errors, errors[1:])]
    assert errors[-1] < 1e-3 and all(3.0 < ratio < 5.0 for ratio in ratios), (errors, ratios)  # O(h^2): x4 per halving


def test_the_coarse_resnet_has_half_the_blocks_twice_the_step_and_the_restricted_parameters():
    fine = ResNet(3, 2, width=4, blocks=4, step=0.3, dtype=F64)
    transfer = _transfer(fine, "linear")
    coarse = DEPTH.coarse_model(fine, transfer)
    assert (len(coarse.blocks), coarse.step) == (2, 0.6)
    restricted = transfer.restrict(parameters_of(fine))
    for name, value in parameters_of(coarse).items():
        assert torch.equal(value, restricted[name])


@pytest.mark.parametrize("blocks", [1, 3])
def test_a_network_without_pairs_of_blocks_is_refused(blocks):
    with pytest.raises(ValueError, match=rf"even number >= 2 of them; got {blocks}"):
        _transfer(ResNet(3, 2, width=4, blocks=blocks))
    with pytest.raises(TypeError, match=r"needs a msann.models.resnet.ResNet; got Sequential"):
        _transfer(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_mgopt_trains_a_depth_hierarchy_and_its_state_round_trips():
    model = ResNet(4, 2, width=6, blocks=8, step=0.25, dtype=F64)
    method = MGOpt(model, levels=2, transfer="depth", tau_batches=1, kappa=1e-9, lr=0.05, momentum=0.0)
    assert [len(level.model.blocks) for level in method.hierarchy] == [8, 4, 2]
    generator = torch.Generator().manual_seed(3)
    batch = (torch.randn(10, 4, dtype=F64, generator=generator), torch.randn(10, 2, dtype=F64, generator=generator))
    with torch.no_grad():
        before = float(torch.nn.functional.mse_loss(model(batch[0]), batch[1]))
    stream = iter([batch] * 100)
    method.smooth_step(0, *batch)
    method.down(0, stream)
    method.smooth_step(1, *method.batch(1, stream))
    method.up(0, stream)
    state = method.state_dict()
    other = MGOpt(ResNet(4, 2, width=6, blocks=8, step=0.25, seed=9, dtype=F64), levels=2, transfer="depth",
                  tau_batches=1, kappa=1e-9, lr=0.05, momentum=0.0)
    other.load_state_dict(state)
    for mine, theirs in zip(method.hierarchy[0].model.parameters(), other.hierarchy[0].model.parameters()):
        assert torch.equal(mine, theirs)
    with torch.no_grad():
        assert float(torch.nn.functional.mse_loss(model(batch[0]), batch[1])) < before
