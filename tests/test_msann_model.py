"""Tests of the MsANN autoencoder, the MsANN method and the training driver (SPEC §3, seed 002 §3.4).

The mathematics asserted: Res∘Pro = I and <Pro x, y> = <x, Res y> for every
parameter; the gradient of theta^(l) is Res_{0->l} of the gradient with respect
to Theta (eq. 3.13, explicit formula against autograd); L = 0 is plain
training bit for bit; the running-total forward equals the exact sum; the
cost C(t) of a hand-worked schedule; a killed and resumed run ends exactly
where an uninterrupted one does; a diverging run stops and keeps a good
checkpoint.
"""

from __future__ import annotations

import logging
from functools import reduce

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from msann.data import MinibatchStream, one_object
from msann.msann import MsANN, MsANNAutoencoder, build_msann, plain_autoencoder
from msann.multilevel import visit_order
from msann.prolongations import STRATEGIES, layer_maps
from msann.training import CheckpointError, DivergenceError, load_checkpoint, save_checkpoint, train

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


# ---------------------------------------------------------------------------
# Pro and Res


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_restriction_after_prolongation_is_the_identity_for_every_parameter(strategy):
    model, _ = _model(strategy)
    generator = torch.Generator().manual_seed(0)
    for level in range(model.depth + 1):
        for j in range(model.n_layers):
            weight = torch.randn(model.thetas[f"w{j}_{level}"].shape, generator=generator, dtype=F64)
            bias = torch.randn(model.thetas[f"b{j}_{level}"].shape, generator=generator, dtype=F64)
            prolonged = model.prolong_weight(j, level, weight)
            assert prolonged.shape == (model.widths[j + 1], model.widths[j])
            assert model.prolong_bias(j, level, bias).shape == (model.widths[j + 1],)
            torch.testing.assert_close(model.restrict_weight(j, level, prolonged), weight, rtol=0, atol=1e-12)
            torch.testing.assert_close(model.restrict_bias(j, level, model.prolong_bias(j, level, bias)), bias, rtol=0, atol=1e-12)


_MODELS = {strategy: _model(strategy)[0] for strategy in sorted(STRATEGIES)}


@settings(max_examples=25, deadline=None)
@given(strategy=st.sampled_from(sorted(STRATEGIES)), level=st.integers(0, 2), layer=st.integers(0, 3), seed=st.integers(0, 2**31 - 1))
def test_restriction_is_the_adjoint_of_prolongation(strategy, level, layer, seed):
    """<Pro x, y>_F = <x, Res y>_F for weights and biases (Res = Pro^T)."""
    model = _MODELS[strategy]
    generator = torch.Generator().manual_seed(seed)
    coarse = model.thetas[f"w{layer}_{level}"].shape
    fine = (model.widths[layer + 1], model.widths[layer])
    x, y = torch.randn(coarse, generator=generator, dtype=F64), torch.randn(fine, generator=generator, dtype=F64)
    left = torch.sum(model.prolong_weight(layer, level, x) * y)
    right = torch.sum(x * model.restrict_weight(layer, level, y))
    assert abs(float(left - right)) <= 1e-12 * max(1.0, abs(float(left)))
    b, c = torch.randn(coarse[0], generator=generator, dtype=F64), torch.randn(fine[0], generator=generator, dtype=F64)
    left = torch.dot(model.prolong_bias(layer, level, b), c)
    right = torch.dot(b, model.restrict_bias(layer, level, c))
    assert abs(float(left - right)) <= 1e-12 * max(1.0, abs(float(left)))



@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_prolongation_uses_the_composite_maps_in_out_by_in_orientation(strategy):
    """Pro_{l->0} W = C_out W C_in^T with C the product of the layer maps (torch's out x in weights)."""
    model, composites = _model(strategy)
    generator = torch.Generator().manual_seed(1)
    for level in range(1, model.depth + 1):
        for j in range(model.n_layers):
            weight = torch.randn(model.thetas[f"w{j}_{level}"].shape, generator=generator, dtype=F64)
            expected = torch.as_tensor(composites[j + 1][level] @ weight.numpy() @ composites[j][level].T)
            torch.testing.assert_close(model.prolong_weight(j, level, weight), expected, rtol=0, atol=1e-13)


def test_level_sizes_are_the_standalone_models_parameter_counts():
    model, _ = _model("path")  # widths 32-16-8-16-32, halved at each level
    for level in range(3):
        widths = [w >> level for w in (32, 16, 8, 16, 32)]
        expected = sum(a * b + b for a, b in zip(widths, widths[1:]))
        assert model.level_size(level) == expected
        assert [tuple(p.shape) for p in model.level_parameters(level)] == [
            shape for a, b in zip(widths, widths[1:]) for shape in ((b, a), (b,))
        ]


def test_effective_parameters_are_the_sum_of_the_prolonged_levels():
    model, composites = _model("grid")
    for (weight, bias), (reference_weight, reference_bias) in zip(model.effective_parameters(), _reference_theta(model, composites)):
        torch.testing.assert_close(weight, reference_weight, rtol=0, atol=1e-12)
        torch.testing.assert_close(bias, reference_bias, rtol=0, atol=1e-12)


def test_coarse_levels_start_at_zero_so_the_network_starts_as_the_plain_one():
    widths, depth = SMALL["path"]
    model = build_msann(widths, _maps(widths, depth), seed=4, dtype=F64)
    plain = plain_autoencoder(widths, seed=4, dtype=F64)
    for level in range(1, depth + 1):
        assert all(not p.detach().any() for p in model.level_parameters(level))
    x, _ = _inputs(32)
    assert torch.equal(model(x), plain(x))


# ---------------------------------------------------------------------------
# Eq. 3.13: the gradient of theta^(l) is Res_{0->l} of the gradient with respect to Theta


@pytest.mark.parametrize("strategy", ["path", "grid"])
def test_level_gradient_is_the_restricted_fine_gradient(strategy):
    model, composites = _model(strategy)
    x, target = _inputs(model.widths[0])
    # dE/dTheta: the plain network at the effective parameters, with autograd.
    theta = [(w.clone().requires_grad_(True), b.clone().requires_grad_(True)) for w, b in _reference_theta(model, composites)]
    torch.nn.functional.mse_loss(_plain_forward(theta, x), target).backward()
    expected = {}
    for level in range(model.depth + 1):
        for j, (weight, bias) in enumerate(theta):
            out_map = torch.as_tensor(composites[j + 1][level], dtype=F64)
            in_map = torch.as_tensor(composites[j][level], dtype=F64)
            expected[f"w{j}_{level}"] = out_map.T @ weight.grad @ in_map  # C_out^T G C_in
            expected[f"b{j}_{level}"] = out_map.T @ bias.grad
            torch.testing.assert_close(model.restrict_weight(j, level, weight.grad), expected[f"w{j}_{level}"], rtol=0, atol=1e-13)
            torch.testing.assert_close(model.restrict_bias(j, level, bias.grad), expected[f"b{j}_{level}"], rtol=0, atol=1e-13)

    def gradients(focus):
        model.focus(focus)
        model.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), target).backward()
        return {name: parameter.grad for name, parameter in model.thetas.items()}

    everything = gradients(None)
    for name, gradient in everything.items():
        torch.testing.assert_close(gradient, expected[name], rtol=0, atol=1e-10, msg=f"focus None, {name}")
    for level in range(model.depth + 1):
        focused = gradients(level)
        for name, gradient in focused.items():
            if name.endswith(f"_{level}"):
                torch.testing.assert_close(gradient, expected[name], rtol=0, atol=1e-10, msg=f"focus {level}, {name}")
            else:
                assert gradient is None, f"focus {level} differentiates {name}"
    assert max(float(g.abs().max()) for g in expected.values()) > 1e-4  # the check is not vacuous


# ---------------------------------------------------------------------------
# L = 0 is plain training, step for step


WIDTHS_16 = [16, 8, 4, 8, 16]


def _one_object_data(length=16, n_train=64, n_val=16):
    return one_object(length=length, n_train=n_train, n_val=n_val, seed=0)


def _plain_run(widths, batches, *, seed, lr):
    plain = plain_autoencoder(widths, seed=seed)
    optimiser = torch.optim.Adam(plain.parameters(), lr=lr)
    losses = []
    for inputs, targets in batches:
        optimiser.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(plain(inputs), targets)
        loss.backward()
        optimiser.step()
        losses.append(loss.detach())
    return plain, losses


def test_depth_zero_msann_equals_plain_training_step_for_step():
    data = _one_object_data()
    stream = MinibatchStream(data.train_inputs, data.train_targets, batch_size=8, seed=2)
    batches = [next(stream) for _ in range(20)]
    plain, plain_losses = _plain_run(WIDTHS_16, batches, seed=7, lr=1e-2)
    method = MsANN(build_msann(WIDTHS_16, [[]] * len(WIDTHS_16), seed=7), smoother="adam", lr=1e-2)
    assert method.hierarchy.depth == 0 and method.hierarchy[0].relative_cost == 1.0
    for step, (inputs, targets) in enumerate(batches):
        loss = method.smooth_step(0, inputs, targets)
        assert torch.equal(loss, plain_losses[step]), step
    for mine, theirs in zip(method.model.level_parameters(0), plain.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    assert not torch.equal(method.model.thetas["w0_0"], plain_autoencoder(WIDTHS_16, seed=7)[0].weight)  # it trained


def test_depth_zero_msann_driven_by_train_equals_plain_training():
    data = _one_object_data()
    stream = MinibatchStream(data.train_inputs, data.train_targets, batch_size=8, seed=2)
    method = MsANN(build_msann(WIDTHS_16, [[]] * len(WIDTHS_16), seed=7), smoother="adam", lr=1e-2)
    validation = (torch.from_numpy(data.val_inputs), torch.from_numpy(data.val_targets))
    result = train(method, stream, validation, gamma=2, k=3, cost_budget=20 * 8, batch_size=8, eval_points=4)
    assert result.steps == 20 and result.total_cost == 160.0
    reference = MinibatchStream(data.train_inputs, data.train_targets, batch_size=8, seed=2)
    plain, _ = _plain_run(WIDTHS_16, [next(reference) for _ in range(20)], seed=7, lr=1e-2)
    for mine, theirs in zip(method.model.level_parameters(0), plain.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    with torch.no_grad():
        final = float(torch.nn.functional.mse_loss(plain(validation[0]), validation[1]))
    assert result.history[-1][1] == pytest.approx(final, rel=1e-6)


def test_a_training_subset_is_evaluated_beside_the_validation_set_at_every_point():
    data = _one_object_data()
    stream = MinibatchStream(data.train_inputs, data.train_targets, batch_size=8, seed=2)
    method = MsANN(build_msann(WIDTHS_16, [[]] * len(WIDTHS_16), seed=7), smoother="adam", lr=1e-2)
    validation = (torch.from_numpy(data.val_inputs), torch.from_numpy(data.val_targets))
    training = (torch.from_numpy(data.train_inputs[:20]), torch.from_numpy(data.train_targets[:20]))
    result = train(method, stream, validation, training=training, gamma=1, k=1, cost_budget=10 * 8, batch_size=8,
                   eval_points=3)
    assert [set(e) for e in result.evaluations] == [{"cost", "val_mse", "train_mse"}] * len(result.evaluations)
    assert [e["val_mse"] for e in result.evaluations] == [value for _, value, _ in result.history]
    assert result.evaluations[-1]["train_mse"] == method.evaluate(*training)["val_mse"]


# ---------------------------------------------------------------------------
# The running total and the factored delta


def test_focused_forward_equals_the_exact_forward_after_steps_at_every_level():
    model, composites = _model("path", randomise=False)
    method = MsANN(model, smoother="adam", lr=2e-2)
    x, target = _inputs(32, rows=8)
    probe, _ = _inputs(32, rows=5, seed=9)
    previous = {name: p.detach().clone() for name, p in model.thetas.items()}
    for level in [0, 1, 2, 2, 1, 0, 2, 1, 1, 0]:
        method.smooth_step(level, x, target)
        changed = {name for name, p in model.thetas.items() if not torch.equal(p, previous[name])}
        assert changed and all(name.endswith(f"_{level}") for name in changed), (level, changed)
        previous = {name: p.detach().clone() for name, p in model.thetas.items()}
        exact = _plain_forward(_reference_theta(model, composites), probe)
        with torch.no_grad():
            torch.testing.assert_close(model(probe), exact, rtol=0, atol=1e-12)
    # Leaving the level folds its change into the running totals.
    model.focus(0 if level != 0 else 1)
    for j, (weight, bias) in enumerate(_reference_theta(model, composites)):
        torch.testing.assert_close(model.get_buffer(f"total_w{j}"), weight, rtol=0, atol=1e-12)
        torch.testing.assert_close(model.get_buffer(f"total_b{j}"), bias, rtol=0, atol=1e-12)
    model.synchronise()
    for j, (weight, bias) in enumerate(model.effective_parameters()):
        assert torch.equal(model.get_buffer(f"total_w{j}"), weight)
        assert torch.equal(model.get_buffer(f"total_b{j}"), bias)
    assert float(torch.sum(model.thetas["w1_2"].detach() ** 2)) > 0  # the coarsest level did move


def test_simultaneous_schedule_updates_every_level_with_one_optimiser():
    model, _ = _model("path", randomise=False)
    method = MsANN(model, smoother="sgd", lr=0.5, schedule="simultaneous")
    assert len(method.hierarchy) == 1
    sizes = [model.level_size(level) for level in range(3)]
    assert method.hierarchy[0].relative_cost == sum(sizes) / sizes[0]
    assert method.hierarchy[0].size == sum(sizes)
    x, target = _inputs(32)
    before = {name: p.detach().clone() for name, p in model.thetas.items()}
    method.smooth_step(0, x, target)
    assert all(not torch.equal(p, before[name]) for name, p in model.thetas.items())


def test_evaluate_is_the_mean_squared_error_of_the_exact_network():
    model, composites = _model("grid")
    method = MsANN(model)
    method.smooth_step(1, *_inputs(64))  # leaves level 1 open
    x, target = _inputs(64, rows=11, seed=5)
    exact = float(torch.mean((_plain_forward(_reference_theta(model, composites), x) - target) ** 2))
    assert method.evaluate(x, target, batch_size=4)["val_mse"] == pytest.approx(exact, rel=1e-12)


# ---------------------------------------------------------------------------
# Cost accounting on a hand-worked schedule

# Widths 8-4-8 with L = 1: level 1 is 4-2-4.
# |M_0| = 8*4 + 4 + 4*8 + 8 = 76 and |M_1| = 4*2 + 2 + 2*4 + 4 = 22.
# gamma = 1, k = 2, batch 4: one cycle smooths levels 0 0 1 1 0 0 at costs
# 4, 4, 4*22/76, 4*22/76, 4, 4 (cycle cost 16 + 176/76).
LEVEL_ONE = 4 * 22 / 76


def _tiny_method(schedule="cycle", *, widths=(8, 4, 8), depth=1, seed=0):
    widths = list(widths)
    return MsANN(build_msann(widths, _maps(widths, depth), seed=seed), smoother="adam", lr=1e-2, schedule=schedule)


def _stream_and_validation(length=8, batch_size=4, seed=1):
    data = _one_object_data(length=length, n_train=32, n_val=8)
    stream = MinibatchStream(data.train_inputs, data.train_targets, batch_size=batch_size, seed=seed)
    return stream, (torch.from_numpy(data.val_inputs), torch.from_numpy(data.val_targets))


def test_tiny_hierarchy_has_the_hand_computed_sizes_and_relative_costs():
    method = _tiny_method()
    assert [method.model.level_size(level) for level in (0, 1)] == [76, 22]
    assert [level.relative_cost for level in method.hierarchy.levels] == [1.0, 22 / 76]
    assert [level.size for level in method.hierarchy.levels] == [76, 22]


@pytest.mark.parametrize(
    ("budget", "steps", "levels", "total"),
    [
        (8.0, 2, [0, 0], 8.0),  # C reaches the budget exactly: stop
        (9.0, 3, [0, 0, 1], 8 + LEVEL_ONE),
        (18.3, 6, [0, 0, 1, 1, 0, 0], 16 + 2 * LEVEL_ONE),
        (20.0, 7, [0, 0, 1, 1, 0, 0, 0], 20 + 2 * LEVEL_ONE),
    ],
)
def test_cost_of_a_hand_worked_schedule(budget, steps, levels, total):
    method = _tiny_method()
    stream, validation = _stream_and_validation()
    visited = []
    smooth = method.smooth_step
    method.smooth_step = lambda level, inputs, targets: (visited.append(level), smooth(level, inputs, targets))[1]
    result = train(method, stream, validation, gamma=1, k=2, cost_budget=budget, batch_size=4, eval_points=3)
    assert result.steps == steps
    assert visited == levels
    assert result.total_cost == pytest.approx(total, rel=1e-15)
    assert stream.examples_seen == 4 * steps
    assert result.history[0][0] == 0.0 and result.history[-1][0] == result.total_cost
    costs = [point[0] for point in result.history]
    assert costs == sorted(set(costs))
    cumulative = np.cumsum([4.0 if level == 0 else LEVEL_ONE for level in levels])
    assert all(np.isclose(cumulative, cost, rtol=1e-14).any() for cost in costs[1:])


def test_simultaneous_schedule_costs_the_sum_of_the_level_sizes_per_example():
    method = _tiny_method("simultaneous")
    stream, validation = _stream_and_validation()
    result = train(method, stream, validation, cost_budget=20.0, batch_size=4, eval_points=3)
    per_step = 4 * (76 + 22) / 76
    assert result.steps == 4  # 3 steps cost 15.47 < 20, 4 cost 20.6
    assert result.total_cost == pytest.approx(4 * per_step, rel=1e-15)


def test_train_walks_the_w_cycle_in_the_order_of_figure_4_with_per_level_k():
    method = _tiny_method(widths=(16, 8, 16), depth=2)
    stream, validation = _stream_and_validation(length=16)
    visited, transfers = [], []
    smooth = method.smooth_step
    method.smooth_step = lambda level, inputs, targets: (visited.append(level), smooth(level, inputs, targets))[1]
    method.down = lambda level: transfers.append(("down", level))
    method.up = lambda level: transfers.append(("up", level))
    costs = [level.relative_cost * 4 for level in method.hierarchy.levels]
    order = visit_order(2, 2)
    k = [1, 2, 3]
    cycle_cost = sum(costs[level] * k[level] for level in order)
    result = train(method, stream, validation, gamma=2, k=k, cost_budget=cycle_cost + 1.0, batch_size=4, eval_points=2)
    expected = [level for level in order for _ in range(k[level])]
    assert visited[: len(expected)] == expected and visited[len(expected)] == 0
    assert transfers[:4] == [("down", 0), ("down", 1), ("up", 1), ("down", 1)]
    assert transfers.count(("down", 1)) == 4 and transfers.count(("up", 0)) == 2
    events = 13 + 2 * 6  # smooth visits, then one down and one up per coarse visit
    assert result.cycles == pytest.approx(1 + 1 / events, rel=1e-15)  # stopped after the first visit of cycle 2


def test_train_rejects_k_of_the_wrong_length():
    method = _tiny_method()
    stream, validation = _stream_and_validation()
    with pytest.raises(ValueError, match=r"k needs one value per level \(L \+ 1 = 2\); got 3"):
        train(method, stream, validation, k=[1, 2, 3], cost_budget=10.0, batch_size=4)


# ---------------------------------------------------------------------------
# Kill and resume

PARAMS = {"model": "16-8-4-8-16", "levels": 1, "gamma": 2, "k": 2, "lr": 1e-2}
RUN = {"gamma": 2, "k": 2, "cost_budget": 240.0, "batch_size": 8, "eval_points": 6}


def _fresh_run(seed=0):
    """A method and a stream built from scratch, the same way each time."""
    widths = WIDTHS_16
    method = MsANN(build_msann(widths, _maps(widths, 1), seed=seed), smoother="adam", lr=1e-2)
    data = _one_object_data()
    stream = MinibatchStream(data.train_inputs, data.train_targets, batch_size=8, seed=seed + 1)
    return method, stream, (torch.from_numpy(data.val_inputs), torch.from_numpy(data.val_targets))


@pytest.fixture(scope="module")
def uninterrupted():
    method, stream, validation = _fresh_run()
    return train(method, stream, validation, **RUN, params=PARAMS), method, stream


def _assert_same_run(result, method, stream, reference):
    expected, expected_method, expected_stream = reference
    assert result.steps == expected.steps and result.total_cost == expected.total_cost
    assert [point[:2] for point in result.history] == [point[:2] for point in expected.history]
    assert result.evaluations == expected.evaluations
    assert result.cycles == expected.cycles
    mine, theirs = method.model.state_dict(), expected_method.model.state_dict()
    tensors = [name for name, value in theirs.items() if isinstance(value, torch.Tensor)]
    assert tensors and sorted(tensors) == sorted(name for name, value in mine.items() if isinstance(value, torch.Tensor))
    for name in tensors:
        assert torch.equal(mine[name], theirs[name]), name
    for level, other in zip(method.hierarchy.levels, expected_method.hierarchy.levels):
        for key, state in level.smoother.state_dict()["state"].items():
            for name, value in state.items():
                assert torch.equal(value, other.smoother.state_dict()["state"][key][name])
    assert stream.state_dict() == expected_stream.state_dict()


@pytest.mark.parametrize("stop_after", [1, 6, 13])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path, uninterrupted, stop_after):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    partial = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, max_steps=stop_after)
    assert stop_after <= partial.steps < uninterrupted[0].steps
    assert path.exists()
    del method, stream
    method, stream, validation = _fresh_run()
    result = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, resume=True)
    _assert_same_run(result, method, stream, uninterrupted)
    assert load_checkpoint(path)["loop"]["steps"] == result.steps


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path, uninterrupted):
    method, stream, validation = _fresh_run()
    result = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=tmp_path / "checkpoint.pt", resume=True)
    _assert_same_run(result, method, stream, uninterrupted)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path, uninterrupted, caplog):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, checkpoint_every=0.0, max_steps=9)
    previous = path.with_name("checkpoint.pt.prev")
    assert previous.exists()
    assert load_checkpoint(previous)["loop"]["steps"] <= load_checkpoint(path)["loop"]["steps"]
    _truncate(path)
    method, stream, validation = _fresh_run()
    with caplog.at_level(logging.WARNING, logger="msann.training"):
        result = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, resume=True)
    assert any("checksum" in record.getMessage() and "previous" in record.getMessage() for record in caplog.records)
    _assert_same_run(result, method, stream, uninterrupted)


def test_a_truncated_checkpoint_without_a_previous_one_starts_over(tmp_path, uninterrupted, caplog):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, max_steps=5)
    assert not path.with_name("checkpoint.pt.prev").exists()
    _truncate(path)
    method, stream, validation = _fresh_run()
    with caplog.at_level(logging.WARNING, logger="msann.training"):
        result = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, resume=True)
    assert any(record.levelno == logging.WARNING and str(path) in record.getMessage() for record in caplog.records)
    _assert_same_run(result, method, stream, uninterrupted)


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, max_steps=3)
    method, stream, validation = _fresh_run()
    with pytest.raises(CheckpointError, match="belongs to a different run configuration"):
        train(method, stream, validation, **RUN, params=dict(PARAMS, lr=2e-2), checkpoint=path, resume=True)


def test_load_checkpoint_rejects_damaged_files(tmp_path):
    path = save_checkpoint(tmp_path / "state.pt", {"x": torch.arange(4)})
    assert torch.equal(load_checkpoint(path)["x"], torch.arange(4))
    save_checkpoint(path, {"x": torch.arange(5)})
    assert torch.equal(load_checkpoint(path.with_name("state.pt.prev"))["x"], torch.arange(4))
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(CheckpointError, match="fails its SHA-256 checksum"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not an msann checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")


# ---------------------------------------------------------------------------
# Divergence


def _finite_checkpoint(path) -> None:
    state = load_checkpoint(path)

    def walk(value):
        if isinstance(value, torch.Tensor):
            assert torch.isfinite(value).all() if value.is_floating_point() else True
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(state["method"])
    assert all(np.isfinite(point[1]) for point in state["loop"]["history"])


def test_a_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, max_steps=4)
    good = load_checkpoint(path)
    method, stream, validation = _fresh_run()
    method.smooth_step = lambda level, inputs, targets: torch.tensor(float("nan"))
    with pytest.raises(DivergenceError, match=r"training loss became nan near cost .*\(step \d+\); stopped") as raised:
        train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, checkpoint_every=0.0, resume=True)
    assert str(path) in str(raised.value)
    # A checkpoint may have been rewritten at an event boundary before the first NaN step, but with the same state.
    kept = load_checkpoint(path)
    assert kept["loop"]["steps"] == good["loop"]["steps"]
    for name, value in good["method"]["model"].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(kept["method"]["model"][name], value), name
    _finite_checkpoint(path)


def test_a_learning_rate_that_blows_up_raises_divergence_error(tmp_path):
    path = tmp_path / "checkpoint.pt"
    widths = WIDTHS_16
    model = build_msann(widths, _maps(widths, 1), seed=0, activation="identity", output_activation="identity")
    method = MsANN(model, smoother="sgd", lr=1e4)
    stream, validation = _stream_and_validation(length=16, batch_size=8)
    with pytest.raises(DivergenceError, match="became (nan|inf)"):
        train(method, stream, validation, cost_budget=1e6, batch_size=8, checkpoint=path, checkpoint_every=0.0, params=PARAMS)
    assert path.exists()
    _finite_checkpoint(path)


def test_parameters_made_non_finite_by_a_step_are_never_checkpointed(tmp_path):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    smooth, calls = method.smooth_step, []

    def poisoned(level, inputs, targets):
        loss = smooth(level, inputs, targets)
        calls.append(level)
        if len(calls) == 4:  # the last step of a visit; its own loss was finite, its update is not
            with torch.no_grad():
                method.model.thetas["w0_0"].fill_(float("inf"))
        return loss

    method.smooth_step = poisoned
    with pytest.raises(DivergenceError):
        train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, checkpoint_every=0.0)
    _finite_checkpoint(path)


# ---------------------------------------------------------------------------
# Construction errors


def test_msann_rejects_bad_options():
    model, _ = _model("path")
    with pytest.raises(ValueError, match=r"lr needs one value per level \(3\); got \[0.001, 0.002\]"):
        MsANN(model, lr=[1e-3, 2e-3])
    with pytest.raises(ValueError, match="unknown schedule 'fmg'; valid schedules are: cycle, simultaneous"):
        MsANN(model, schedule="fmg")
    with pytest.raises(ValueError, match="unknown smoother 'lbfgs'"):
        MsANN(model, smoother="lbfgs")
    rates = MsANN(model, smoother="sgd", lr=[1e-1, 1e-2, 1e-3])
    assert [level.smoother.param_groups[0]["lr"] for level in rates.hierarchy.levels] == [1e-1, 1e-2, 1e-3]


def test_autoencoder_rejects_inconsistent_maps():
    widths, depth = SMALL["path"]
    maps = _maps(widths, depth)
    with pytest.raises(ValueError, match=r"one map chain per unit layer \(5\); got 4"):
        MsANNAutoencoder(widths, maps[:4])
    with pytest.raises(ValueError, match=r"same number of levels; got chains of lengths \[1, 2\]"):
        MsANNAutoencoder(widths, maps[:4] + [maps[4][:1]])
    with pytest.raises(ValueError, match=r"unit layer 1: map 1 has shape \(4, 2\); it must start from 8 units"):
        MsANNAutoencoder(widths, [maps[0], [maps[1][0], maps[2][1]], *maps[2:]])
    with pytest.raises(ValueError, match="at least two layer widths"):
        MsANNAutoencoder([16], [[]])
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        MsANNAutoencoder(widths, maps, activation="gelu")
