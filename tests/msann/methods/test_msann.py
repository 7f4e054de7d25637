"""Tests of the MsANN network and method (SPEC §3, seed 002 §3.4).

The mathematics asserted: Res∘Pro = I and <Pro x, y> = <x, Res y> for every
parameter; the gradient of theta^(l) is Res_{0->l} of the gradient with respect
to Theta (eq. 3.13, explicit formula against autograd); L = 0 is plain
training bit for bit; the running-total forward equals the exact sum.
"""

from __future__ import annotations


import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from msann.coarsening.graph import STRATEGIES
from msann.core.driver import train
from msann.core.metrics import mse_errors
from msann.data import MinibatchStream
from msann.methods.msann import MsANN, build_msann
from msann.models.mlp import plain_autoencoder
from msann.models.multiscale import MsANNAutoencoder

from ..autoencoders import F64, SMALL, WIDTHS_16, _inputs, _maps, _model, _one_object_data, _plain_forward, _plain_run, _pro, _reference_theta, _res



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
            prolonged = _pro(model, j, level, "weight", weight)
            assert prolonged.shape == (model.widths[j + 1], model.widths[j])
            assert _pro(model, j, level, "bias", bias).shape == (model.widths[j + 1],)
            torch.testing.assert_close(_res(model, j, level, "weight", prolonged), weight, rtol=0, atol=1e-12)
            torch.testing.assert_close(_res(model, j, level, "bias", _pro(model, j, level, "bias", bias)), bias, rtol=0, atol=1e-12)


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
    left = torch.sum(_pro(model, layer, level, "weight", x) * y)
    right = torch.sum(x * _res(model, layer, level, "weight", y))
    assert abs(float(left - right)) <= 1e-12 * max(1.0, abs(float(left)))
    b, c = torch.randn(coarse[0], generator=generator, dtype=F64), torch.randn(fine[0], generator=generator, dtype=F64)
    left = torch.dot(_pro(model, layer, level, "bias", b), c)
    right = torch.dot(b, _res(model, layer, level, "bias", c))
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
            torch.testing.assert_close(_pro(model, j, level, "weight", weight), expected, rtol=0, atol=1e-13)


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
            torch.testing.assert_close(_res(model, j, level, "weight", weight.grad), expected[f"w{j}_{level}"], rtol=0, atol=1e-13)
            torch.testing.assert_close(_res(model, j, level, "bias", bias.grad), expected[f"b{j}_{level}"], rtol=0, atol=1e-13)

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
    assert result.evaluations[-1]["train_mse"] == mse_errors(method.predict, *training)["val_mse"]


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
    assert mse_errors(method.predict, x, target, batch_size=4)["val_mse"] == pytest.approx(exact, rel=1e-12)


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
