"""Tests of FAS multilevel-in-width training (msann.methods.fas; seed 000, SPEC §4).

What is asserted: FAS consistency (the tau-corrected coarse gradient at
``x_c = Pi x`` is ``R grad g(x)``, on every level of a deeper hierarchy), tau
vanishes when ``x = P x_c``, a coarse visit without coarse steps changes
nothing, FAS without coarse levels is SGD with momentum step for step, the
work-unit accounting of seed 000's worked example, exact resumption, the
networks' shapes, and clear errors of the method's options (its recipes:
``test_fas_recipe.py``).  The identities are checked for every coarsening
option: seed 000's average and scaled projections, LLNL/MTNN's norm-weighted
one and its mutual-best matching.
"""

from __future__ import annotations

import io
import itertools
import math

import pytest
import torch
from torch import nn

from msann.coarsening.graph import one_dimensional_map
from msann.coarsening.network import CoarseningOptions
from msann.core.cost import forward_macs
from msann.core.driver import train
from msann.core.metrics import field_errors
from msann.data import MinibatchStream
from msann.methods.fas import FAS as _FAS
from msann.models.poisson_nets import poisson_cnn, poisson_fc

pytestmark = pytest.mark.filterwarnings("ignore::msann.coarsening.network.CoarseningWarning")

_COARSENING = ("threshold", "scaled", "order", "graph_method", "projection", "matching")
#: The coarsening options under test: seed 000's greedy matching with its two projections, and LLNL/MTNN's.
_OPTIONS = [{"projection": "average"}, {"projection": "scaled"}, {"projection": "norm-weighted"},
            {"projection": "norm-weighted", "matching": "mutual-best"}, {"projection": "average", "matching": "mutual-best"}]


def FAS(model, **options):  # noqa: N802  (the method under test, with its coarsening options given flat)
    coarsening = CoarseningOptions(**{key: options.pop(key) for key in _COARSENING if key in options})
    return _FAS(model, coarsening=coarsening, **options)


def _down(method, level, batches=None):
    """``method.down(level, stream)`` on a stream that repeats ``batches`` (default: one batch of zeros of the right shapes)."""
    if batches is None:
        first = next(m for m in method.hierarchy[0].model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
        last = [m for m in method.hierarchy[0].model.modules() if isinstance(m, nn.Linear)][-1]
        width = math.prod(method.input_shape) if isinstance(first, nn.Conv2d) else first.in_features
        dtype = first.weight.dtype
        batches = [(torch.zeros(4, width, dtype=dtype), torch.zeros(4, last.out_features, dtype=dtype))]
    return method.down(level, itertools.cycle(batches))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks: one intra-op thread is faster (and steadier on a shared machine) than several."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _data(n=32, features=16, outputs=6, *, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, features, generator=generator, dtype=dtype),
            torch.randn(n, outputs, generator=generator, dtype=dtype))


def _fc(seed=0, dtype=torch.float64, hidden=12):
    return poisson_fc(16, 6, hidden=hidden, layers=2, seed=seed, dtype=dtype)


def _cnn(seed=0, dtype=torch.float64):
    return poisson_cnn(2, 6, out_features=5, channels=6, kernel=3, stride=1, hidden=8, seed=seed, dtype=dtype)


def _gradients(model, loss):
    names, parameters = zip(*model.named_parameters())
    return dict(zip(names, torch.autograd.grad(loss, parameters)))


def _warm_up(method, inputs, targets, steps=3):
    """A few level-0 steps so that the momentum buffers are not zero."""
    for step in range(steps):
        method.smooth_step(0, inputs[8 * step : 8 * step + 8], targets[8 * step : 8 * step + 8])


# --------------------------------------------------------------------------- FAS consistency


@pytest.mark.parametrize("options", _OPTIONS)
def test_coarse_gradient_at_restriction_equals_restricted_fine_gradient(options):
    inputs, targets = _data()
    method = FAS(_fc(), levels=1, threshold=-1.0, gamma_tau=1.0, **options)
    _warm_up(method, inputs, targets)
    _down(method, 0)
    batch = (inputs[:8], targets[:8])
    method.set_tau_batch(1, [batch])
    coarse, fine, tau = method.hierarchy[1].model, method.hierarchy[0].model, method.tau(1)
    corrected = nn.functional.mse_loss(coarse(batch[0]), batch[1]) - sum(
        (p * tau[name]).sum() for name, p in coarse.named_parameters())
    expected = method.hierarchy[0].transfer.restrict_gradient(_gradients(fine, nn.functional.mse_loss(fine(batch[0]), batch[1])))
    for name, gradient in _gradients(coarse, corrected).items():
        torch.testing.assert_close(gradient, expected[name], rtol=0, atol=1e-13)


@pytest.mark.parametrize("options", _OPTIONS[::2])
def test_consistency_holds_on_the_second_coarse_level_with_the_finer_tau_term(options):
    inputs, targets = _data()
    method = FAS(_fc(hidden=16), levels=2, threshold=-1.0, gamma_tau=1.0, **options)
    _warm_up(method, inputs, targets)
    _down(method, 0)
    method.set_tau_batch(1, [(inputs[:8], targets[:8]), (inputs[8:16], targets[8:16])])
    method.smooth_step(1, inputs[:8], targets[:8])  # x_1 moves away from Pi x_0: tau_1 is not zero
    _down(method, 1)
    batch = (inputs[16:24], targets[16:24])
    method.set_tau_batch(2, [batch])
    level1, level2 = method.hierarchy[1].model, method.hierarchy[2].model
    tau1, tau2 = method.tau(1), method.tau(2)
    assert max(float(t.abs().max()) for t in tau1.values()) > 1e-6
    fine_objective = nn.functional.mse_loss(level1(batch[0]), batch[1]) - sum(
        (p * tau1[n]).sum() for n, p in level1.named_parameters())
    coarse_objective = nn.functional.mse_loss(level2(batch[0]), batch[1]) - sum(
        (p * tau2[n]).sum() for n, p in level2.named_parameters())
    expected = method.hierarchy[1].transfer.restrict_gradient(_gradients(level1, fine_objective))
    for name, gradient in _gradients(level2, coarse_objective).items():
        torch.testing.assert_close(gradient, expected[name], rtol=0, atol=1e-13)


@pytest.mark.parametrize("build", [_fc, _cnn])
@pytest.mark.parametrize("options", _OPTIONS)
def test_tau_vanishes_when_the_fine_parameters_are_a_prolongation(build, options):
    inputs, targets = _data(features=2 * 36, outputs=5) if build is _cnn else _data()
    shape = (2, 6, 6) if build is _cnn else None
    method = FAS(build(), levels=1, threshold=-1.0, input_shape=shape, **options)
    prolonged = method.hierarchy[0].transfer.prolong(dict(method.hierarchy[1].model.named_parameters()))
    with torch.no_grad():
        for name, parameter in method.hierarchy[0].model.named_parameters():
            parameter.copy_(prolonged[name])
    method.smooth_step(0, inputs[:8], targets[:8])  # records the batch size; then undo its update
    with torch.no_grad():
        for name, parameter in method.hierarchy[0].model.named_parameters():
            parameter.copy_(prolonged[name])
    _down(method, 0)
    method.set_tau_batch(1, [(inputs[:8], targets[:8]), (inputs[8:16], targets[8:16])])
    largest = max(float(t.abs().max()) for t in method.tau(1).values())
    assert largest < 1e-12


# --------------------------------------------------------------------------- the cycle


@pytest.mark.parametrize("levels", [1, 3])
def test_coarse_visits_without_coarse_steps_change_nothing(levels):
    inputs, targets = _data()
    method = FAS(_fc(hidden=16), levels=levels, threshold=0.0, alpha_p=0.7, alpha_m=0.3, momentum=0.9)
    _warm_up(method, inputs, targets)
    smoother = method.hierarchy[0].smoother
    parameters = [p.detach().clone() for p in method.hierarchy[0].model.parameters()]
    buffers = [smoother.state[p]["momentum_buffer"].clone() for p in method.hierarchy[0].model.parameters()]
    for level in range(levels):
        _down(method, level)
    for level in reversed(range(levels)):
        method.up(level, None)
    for before, after in zip(parameters, method.hierarchy[0].model.parameters()):
        assert torch.equal(before, after)
    for before, p in zip(buffers, method.hierarchy[0].model.parameters()):
        assert torch.equal(before, smoother.state[p]["momentum_buffer"])


def test_one_coarse_step_moves_the_fine_parameters_by_the_prolonged_step():
    inputs, targets = _data()
    method = FAS(_fc(), levels=1, threshold=-1.0, alpha_p=0.5, momentum=0.0, gamma_tau=0.0)
    _warm_up(method, inputs, targets)
    fine_before = {n: p.detach().clone() for n, p in method.hierarchy[0].model.named_parameters()}
    _down(method, 0)
    coarse_before = {n: p.detach().clone() for n, p in method.hierarchy[1].model.named_parameters()}
    method.set_tau_batch(1, [(inputs[:8], targets[:8])])
    method.smooth_step(1, inputs[:8], targets[:8])
    step = {n: p.detach() - coarse_before[n] for n, p in method.hierarchy[1].model.named_parameters()}
    method.up(0, None)
    prolonged = method.hierarchy[0].transfer.prolong(step)
    for name, parameter in method.hierarchy[0].model.named_parameters():
        torch.testing.assert_close(parameter.detach(), fine_before[name] + 0.5 * prolonged[name], rtol=0, atol=1e-14)


def test_without_coarse_levels_fas_is_sgd_with_momentum_step_for_step():
    inputs, targets = _data(n=40, dtype=torch.float32)
    method = FAS(_fc(dtype=torch.float32), levels=0, lr=0.05, momentum=0.9)
    reference = _fc(dtype=torch.float32)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    result = train(method, MinibatchStream(inputs, targets, batch_size=8, seed=3), (inputs, targets),
                   k=1, cost_budget=8 * 12, batch_size=8, eval_points=2, progress=False)
    stream = MinibatchStream(inputs, targets, batch_size=8, seed=3)
    for _ in range(12):
        x, y = next(stream)
        optimizer.zero_grad()
        nn.functional.mse_loss(reference(x), y).backward()
        optimizer.step()
    assert result.steps == 12
    for mine, theirs in zip(method.hierarchy[0].model.parameters(), reference.parameters()):
        assert torch.equal(mine.detach(), theirs.detach())


def test_work_units_of_the_seed_example_and_of_three_levels():
    # seed 000 §8: 2 levels, 2 pre-, 2 coarse, 2 post-smoothing minibatches and
    # a tau batch of m = 2: 4.5 WU of smoothing + 2.5 WU of tau = 7 WU.
    inputs, targets = _data(n=64, dtype=torch.float32)
    for levels, per_cycle in ((1, 7.0), (2, 4 + 2 * 0.25 * 2 + 2 / 16 + 2 * (1 + 0.25) + 2 * (0.25 + 1 / 16))):
        method = FAS(_fc(dtype=torch.float32, hidden=16), levels=levels, tau_batches=2, threshold=-1.0)
        result = train(method, MinibatchStream(inputs, targets, batch_size=8, seed=0), (inputs, targets),
                       k=2, cost_budget=8 * per_cycle, batch_size=8, eval_points=2, progress=False)
        assert result.total_cost == pytest.approx(8 * per_cycle, rel=1e-12)
        assert result.cycles == 1
        assert method.summary_fields(result)["work_units"] == pytest.approx(per_cycle, rel=1e-12)
        assert result.steps == 4 * levels + 2


def test_relative_costs_quarter_and_multiply_adds():
    method = FAS(_fc(hidden=12), levels=2, threshold=-1.0, cost_model="quarter")
    assert [level.relative_cost for level in method.hierarchy.levels] == [1.0, 0.25, 0.0625]
    method = FAS(_fc(hidden=12), levels=1, threshold=-1.0, cost_model="macs")
    assert method.hierarchy[1].relative_cost == pytest.approx((16 * 6 + 6 * 6 + 6 * 6) / (16 * 12 + 12 * 12 + 12 * 6))


def test_forward_multiply_adds_of_the_paper_networks():
    assert forward_macs(poisson_fc(4096, 1024), (4096,)) == 4096 * 400 + 400 * 400 + 400 * 1024
    conv = 4 * 200 * 49 * 13 * 13 + 200 * 200 * 49 * 4 * 4
    assert forward_macs(poisson_cnn(4, 32), (4, 32, 32)) == conv + 3200 * 400 + 400 * 400 + 400 * 1024


def test_paper_networks_have_the_described_layers():
    fc = poisson_fc(4096, 1024)
    assert [m.out_features for m in fc if isinstance(m, nn.Linear)] == [400, 400, 1024]
    cnn = poisson_cnn(4, 32)
    shapes = [tuple(m.weight.shape) for m in cnn if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert shapes == [(200, 4, 7, 7), (200, 200, 7, 7), (400, 3200), (400, 400), (1024, 400)]
    assert cnn(torch.zeros(2, 4, 32, 32)).shape == (2, 1024)
    with pytest.raises(ValueError, match="too small"):
        poisson_cnn(1, 12)


def test_graph_transfer_uses_the_path_map_on_linear_layers_and_matching_on_channels():
    method = FAS(_cnn(), levels=1, transfer="graph", input_shape=(2, 6, 6), threshold=-1.0)
    conv, _, linear, _ = method.hierarchy[0].transfer.units
    torch.testing.assert_close(linear.P, torch.tensor(one_dimensional_map(4), dtype=torch.float64))
    assert linear.matching is None and conv.matching is not None
    assert method.hierarchy[0].transfer.coarse_widths == (3, 3, 4, 4)


def test_evaluate_reports_mse_max_error_and_relative_error():
    inputs, targets = _data()
    method = FAS(_fc(), levels=0)
    errors = field_errors(method.predict, inputs, targets, batch_size=5)
    with torch.no_grad():
        error = method.hierarchy[0].model(inputs) - targets
    assert list(errors) == ["val_l2", "val_linf", "val_rel_l2"]
    assert errors["val_l2"] == pytest.approx(float((error**2).mean()), rel=1e-12)
    assert errors["val_linf"] == pytest.approx(float(error.abs().max()), rel=1e-12)
    assert errors["val_rel_l2"] == pytest.approx(float((error.norm(dim=1) / targets.norm(dim=1)).mean()), rel=1e-12)


# --------------------------------------------------------------------------- resuming


def _fresh(levels=2, seed=0):
    return FAS(_fc(seed=seed, dtype=torch.float32, hidden=16), levels=levels, threshold=0.0, order="random",
               rematch_every=2, tau_batches=2, gamma_tau=0.5, alpha_m=0.5, eta=1.5, lr=0.05, seed=7)


def test_kill_and_resume_ends_exactly_as_the_uninterrupted_run(tmp_path):
    inputs, targets = _data(n=48, dtype=torch.float32)
    options = dict(k=2, cost_budget=8 * 60.0, batch_size=8, eval_points=6, progress=False)
    whole = _fresh()
    expected = train(whole, MinibatchStream(inputs, targets, batch_size=8, seed=1), (inputs, targets), **options)
    path, calls = tmp_path / "checkpoint.pt", 0
    while True:
        calls += 1
        method = _fresh(seed=0 if calls == 1 else calls)  # a resumed process starts from other weights: the checkpoint's win
        result = train(method, MinibatchStream(inputs, targets, batch_size=8, seed=1), (inputs, targets),
                       checkpoint=path, resume=True, max_steps=5, **options)
        if result.total_cost >= options["cost_budget"]:
            break
    assert calls > 5 and method._cycle > 2  # interrupted often, and past a re-matching
    assert [point[:2] for point in result.history] == [point[:2] for point in expected.history]
    for level in range(3):
        for mine, theirs in zip(method.hierarchy[level].model.parameters(), whole.hierarchy[level].model.parameters()):
            assert torch.equal(mine, theirs)


def test_state_round_trip_in_the_middle_of_a_coarse_visit():
    inputs, targets = _data(n=48, dtype=torch.float32)
    first, stream = _fresh(), MinibatchStream(inputs, targets, batch_size=8, seed=2)
    first.smooth_step(0, *first.batch(0, stream))
    _down(first, 0)
    buffer = io.BytesIO()
    torch.save({"method": first.state_dict(), "stream": stream.state_dict()}, buffer)
    saved = torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    second, other = _fresh(seed=5), MinibatchStream(inputs, targets, batch_size=8, seed=2)
    second.load_state_dict(saved["method"])
    other.load_state_dict(saved["stream"])
    for method, source in ((first, stream), (second, other)):
        for _ in range(3):
            method.smooth_step(1, *method.batch(1, source))
        method.up(0, None)
        method.smooth_step(0, *method.batch(0, source))
    for mine, theirs in zip(first.hierarchy[0].model.parameters(), second.hierarchy[0].model.parameters()):
        assert torch.equal(mine, theirs)


# --------------------------------------------------------------------------- errors


def test_an_unsupported_layer_is_named_with_the_supported_list():
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    with pytest.raises(TypeError, match=r"coarsening level 0 -> 1: .*BatchNorm1d.*supported layers are: Linear, Conv2d"):
        FAS(model, levels=1)


def test_a_layer_too_narrow_for_the_depth_is_an_error_naming_the_level():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    with pytest.raises(ValueError, match=r"coarsening level 1 -> 2: layer 0 .* has 1 unit\(s\); coarsening needs at least 2"):
        FAS(model, levels=2, threshold=-1.0)


@pytest.mark.parametrize("option, value, message", [
    ("threshold", 1.5, "threshold must lie in"), ("tau_batches", 0, "tau_batches must be"),
    ("eta", 0.0, "eta must be > 0"), ("transfer", "spectral", "valid transfers are: depth, explicit, graph, graph-data, matching"),
])
def test_method_options_are_validated(option, value, message):
    with pytest.raises(ValueError, match=message):
        FAS(_fc(), levels=1, **{option: value})
