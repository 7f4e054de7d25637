"""Tests of the width-and-data hierarchy of FAS and MG/Opt (the ``"graph-data"`` coarsener, ``[hierarchy] coarse_data``).

The mathematics asserted: on data constant on the coarse aggregates, the
fine network at ``Theta = P_p theta`` computes the prolonged output of the
coarse network (piecewise-constant maps, any activation), for 1D and for
channel-by-grid data; a coarse level's tau batch is the block mean of the
fine one, so data in [0, 1] stays in [0, 1]; MG/Opt's coarse model on that
restricted sample is first-order coherent, ``grad h(xb_k) = R_g grad f(x_k)``;
a coarse-data step changes the fine parameters by ``P_p`` of the coarse
change; fixed coarseners are not rebuilt at re-matching (a coarse Adam keeps
its moments); kill and resume end bit for bit.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from msann.coarsening.data import BlockMean, data_restrictions, data_shapes
from msann.coarsening.network import COARSENERS, CoarseningOptions, coarsen
from msann.core.coarse import mean_gradient
from msann.core.transfer import load_parameters, parameters_of
from msann.data import MinibatchStream
from msann.methods.fas import FAS
from msann.methods.mgopt import MGOpt

from ..nets import fc_net
from .resuming import assert_resumed_in_pieces_ends_as_whole

F64 = torch.float64


def _options(data_shape=(4, 4), target_shape=None, method="recipe") -> CoarseningOptions:
    return CoarseningOptions(data_shape=data_shape, target_shape=target_shape, graph_method=method)


def _mgopt(*, levels=1, seed=0, dtype=F64, **options) -> MGOpt:
    options = {"coarsening": _options(), "momentum": 0.0, "kappa": 1e-9, "lr": 0.05, **options}
    return MGOpt(fc_net([16, 8, 8, 16], seed=seed, dtype=dtype), levels=levels, transfer="graph-data", tau_batches=2, **options)


def _batches(count=2, rows=6, seed=0, dtype=F64):
    generator = torch.Generator().manual_seed(seed)
    return [(x, x) for x in (torch.rand(rows, 16, generator=generator, dtype=dtype) for _ in range(count))]


@pytest.mark.parametrize("widths, data_shape, target_shape", [
    ([16, 8, 6, 16], (16,), None),  # a 1D signal autoencoder
    ([32, 12, 8], (2, 4, 4), (2, 4)),  # 2 channels on a 4 x 4 grid -> a 2 x 4 grid of targets (as the Poisson data)
])
def test_on_data_constant_on_the_aggregates_the_fine_network_computes_the_prolonged_coarse_output(widths, data_shape, target_shape):
    fine = fc_net(widths, torch.nn.Tanh, seed=1)
    transfer = coarsen("graph-data", fine, options=_options(data_shape, target_shape, "piecewise-constant"), rng=None)
    coarse = COARSENERS["graph-data"].coarse_model(fine, transfer)
    generator = torch.Generator().manual_seed(2)
    theta = {name: torch.randn(p.shape, generator=generator, dtype=F64) for name, p in coarse.named_parameters()}
    load_parameters(coarse, theta)
    load_parameters(fine, transfer.prolong(theta))  # Theta = P_p theta
    first, last = transfer.units[0], transfer.units[-1]
    coarse_data = torch.rand(5, first.n_coarse, generator=generator, dtype=F64)
    data = coarse_data @ first.P.T  # a 0/1 copy: constant on every aggregate
    torch.testing.assert_close(first.P, first.P.round(), rtol=0, atol=1e-15)
    torch.testing.assert_close(fine(data), coarse(coarse_data) @ last.P.T, rtol=0, atol=1e-12)
    restriction = data_restrictions(data_shape, target_shape, levels=1)[1]
    torch.testing.assert_close(restriction.inputs(data), coarse_data, rtol=0, atol=1e-15)  # the block mean undoes the copy


def test_data_shapes_halve_a_path_a_grid_and_keep_the_channels():
    assert data_shapes((16,), levels=2) == [(16,), (8,), (4,)]
    assert data_shapes((28, 28), levels=2) == [(28, 28), (28, 14), (14, 14)]
    assert data_shapes((4, 8, 8), levels=1) == [(4, 8, 8), (4, 8, 4)]
    with pytest.raises(ValueError, match=r"\(6, 6\) cannot be coarsened 3 times.*longest side 3 must be even"):
        data_shapes((6, 6), levels=3)
    with pytest.raises(ValueError, match=r"would keep 1 unit of their graph \(shape \(1,\)\); every level must keep at least 2"):
        data_shapes((4,), levels=2)


def test_a_coarse_levels_tau_batch_is_the_block_mean_of_the_fine_one_and_stays_in_the_unit_interval():
    method, batches = _mgopt(levels=2), _batches()
    method._batch_size = 6
    method.down(0, iter(batches))
    coarse_batches = method.hierarchy[1].state["tau_batch"]
    restrict = BlockMean((4, 4), (4, 2))
    for (x, y), (xc, yc) in zip(batches, coarse_batches):
        torch.testing.assert_close(xc, restrict(x), rtol=0, atol=0)
        torch.testing.assert_close(yc, restrict(y), rtol=0, atol=0)
        assert xc.shape == (6, 8) and 0.0 <= float(xc.min()) and float(xc.max()) <= 1.0
    fresh = _batches(seed=1)
    method.down(1, iter(fresh))  # level 1's sample: fresh minibatches at its data; level 2's: their block means
    for (x, _), (x1, _), (x2, _) in zip(fresh, method.hierarchy[1].state["sample"], method.hierarchy[2].state["tau_batch"]):
        torch.testing.assert_close(x1, restrict(x), rtol=0, atol=0)
        torch.testing.assert_close(x2, BlockMean((4, 4), (2, 2))(x), rtol=0, atol=1e-15)


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_mgopt_on_coarse_data_is_first_order_coherent_on_the_restricted_sample(lam):
    method, batches = _mgopt(lam=lam), _batches()
    fine_gradient = mean_gradient(method.hierarchy[0].model, lambda x, y: method._objective(0, x, y)[0], batches)
    method._batch_size = 6
    assert not method.down(0, iter(batches)).skip
    coarse = method.hierarchy[1]
    gradient = mean_gradient(coarse.model, lambda x, y: method._objective(1, x, y)[0], coarse.state["tau_batch"])
    expected = method.hierarchy[0].transfer.restrict_gradient(fine_gradient)
    for name, value in gradient.items():
        torch.testing.assert_close(value, expected[name], rtol=1e-12, atol=1e-14)
    assert all(value.shape == p.shape for value, p in zip(gradient.values(), coarse.model.parameters()))


def test_a_coarse_data_visit_changes_the_fine_parameters_by_the_prolonged_coarse_change():
    method, batches = _mgopt(), _batches()
    method._batch_size = 6
    before = {n: v.clone() for n, v in parameters_of(method.hierarchy[0].model).items()}
    method.down(0, iter(batches))
    start = {n: v.clone() for n, v in parameters_of(method.hierarchy[1].model).items()}
    for _ in range(3):
        method.smooth_step(1, *method.batch(1, None))
    change = method.hierarchy[0].transfer.prolong({n: v - start[n] for n, v in parameters_of(method.hierarchy[1].model).items()})
    assert max(float(v.abs().max()) for v in change.values()) > 1e-4
    method.up(0, None)  # a fixed step alpha = 1
    for name, value in parameters_of(method.hierarchy[0].model).items():
        torch.testing.assert_close(value - before[name], change[name], rtol=0, atol=1e-13)


def test_a_fixed_coarsener_is_not_rebuilt_at_rematching_so_a_coarse_adam_keeps_its_moments():
    method = FAS(fc_net([16, 8, 8, 16]), levels=1, transfer="graph-data", coarsening=_options(), rematch_every=1,
                 tau_batches=1, smoother="adam", momentum=0.0, lr=1e-3)
    stream = itertools.cycle(_batches())
    method.smooth_step(0, *next(stream))
    for _ in range(3):  # cycles 0, 1, 2: re-matching is due at cycles 1 and 2
        method.down(0, stream)
        method.smooth_step(1, *method.batch(1, stream))
        model, smoother = method.hierarchy[1].model, method.hierarchy[1].smoother
        method.up(0, stream)
    assert method.hierarchy[1].model is model and method.hierarchy[1].smoother is smoother
    assert int(smoother.state_dict()["state"][0]["step"]) == 3  # the moments of all three visits
    matched = FAS(fc_net([16, 8, 8, 16]), levels=1, coarsening=CoarseningOptions(threshold=-1.0), rematch_every=1, tau_batches=1)
    matched.smooth_step(0, *next(stream))
    matched.down(0, stream)
    first = matched.hierarchy[1].model
    matched.up(0, stream)
    matched.down(0, stream)
    assert matched.hierarchy[1].model is not first  # an adaptive coarsener re-matches


def test_a_nested_stage_on_coarse_data_trains_its_top_level_on_the_block_means_of_fresh_minibatches():
    method, batches = _mgopt(), _batches(count=3)
    method.descend(0)
    x, y = method.batch(1, MinibatchStream(torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]),
                                           batch_size=6, seed=0))
    reference = next(MinibatchStream(torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]), batch_size=6, seed=0))
    torch.testing.assert_close(x, BlockMean((4, 4), (4, 2))(reference[0]), rtol=0, atol=0)
    assert x.dtype == torch.float32 and y.shape == (6, 8)


def test_kill_and_resume_on_coarse_data_ends_exactly_as_the_uninterrupted_run(tmp_path):
    data = torch.rand(48, 16, generator=torch.Generator().manual_seed(0))
    options = dict(gamma=1, k=2, cost_budget=8 * 40.0, batch_size=8, eval_points=4, progress=False)

    def fresh(seed):
        return _mgopt(levels=2, seed=seed, dtype=torch.float32, line_search=True, kappa=0.05, lam=0.1, smoother="adam", lr=1e-2)

    whole, method = assert_resumed_in_pieces_ends_as_whole(fresh, data, data, tmp_path / "checkpoint.pt", options=options)
    assert method.counts == whole.counts and whole.counts["gate_open"] > 0


def test_the_graph_data_coarsener_refuses_a_network_it_cannot_coarsen():
    with pytest.raises(ValueError, match=r"needs their shape \(CoarseningOptions.data_shape\); got none"):
        coarsen("graph-data", fc_net([16, 8, 16]), options=CoarseningOptions(), rng=None)
    with pytest.raises(ValueError, match=r"layer 0 \('0'\) has 7 \(odd\)"):
        coarsen("graph-data", fc_net([16, 7, 16]), options=_options(), rng=None)
    with pytest.raises(ValueError, match=r"input layer has 12 units; the halvings of the data's units \(4, 4\) have \[16\]"):
        coarsen("graph-data", fc_net([12, 8, 16]), options=_options(), rng=None)
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(64, 16))
    with pytest.raises(TypeError, match=r"needs a fully connected network \(nn.Linear layers\); got layers \['Conv2d', 'Linear'\]"):
        coarsen("graph-data", conv, options=_options(), rng=np.random.default_rng(0))
