"""Tests of MG/Opt (msann.methods.mgopt; seed 004 ch. 2-3, SPEC §5).

The mathematics asserted: the coarse model is first-order coherent,
grad h(xb_k) = R_g grad f(x_k), with and without the proximal term, and on the
same sample exactly (stochastic MG/Opt); coherence "none" is f_H plus the
proximal term; one coarse gradient step gives e = -lr_c P_p R_g grad f; the
Galerkin coarse matrix c P^T A P of a quadratic is s.p.d. and an exact coarse
solve gives R_p A e = -R_g grad f; the gate never opens twice in a row; a
rejected line search changes nothing; kill and resume end bit for bit.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from msann.coarsening.network import CoarseningOptions
from msann.config import ConfigError, parse_config
from msann.core.coarse import mean_gradient
from msann.core.transfer import parameters_of
from msann.methods.mgopt import MGOpt
from msann.models.poisson_nets import poisson_fc

from .resuming import assert_resumed_in_pieces_ends_as_whole

F64 = torch.float64
pytestmark = pytest.mark.filterwarnings("ignore::msann.coarsening.network.CoarseningWarning")


def _method(*, levels=1, dtype=F64, seed=0, **options) -> MGOpt:
    options = {"coarsening": CoarseningOptions(threshold=-1.0), "momentum": 0.0, **options}
    return MGOpt(poisson_fc(16, 6, hidden=8, seed=seed, dtype=dtype), levels=levels, tau_batches=1, lr=0.05, **options)


def _batch(seed=0, rows=12, dtype=F64):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, 16, generator=generator, dtype=dtype), torch.randn(rows, 6, generator=generator, dtype=dtype)


def _enter(method: MGOpt, batch) -> None:
    method._batch_size = batch[0].shape[0]
    descent = method.down(0, itertools.repeat(batch))
    assert not descent.skip


def _coarse_gradient(method: MGOpt, batch) -> dict:
    return mean_gradient(method.hierarchy[1].model, lambda x, y: method._objective(1, x, y)[0], [batch])


@pytest.mark.parametrize("lam", [0.0, 0.7])
def test_the_coarse_model_is_first_order_coherent_on_the_same_sample(lam):
    method, batch = _method(lam=lam, kappa=1e-9), _batch()
    fine_gradient = mean_gradient(method.hierarchy[0].model, lambda x, y: method._objective(0, x, y)[0], [batch])
    _enter(method, batch)
    expected = method.hierarchy[0].transfer.restrict_gradient(fine_gradient)
    for name, gradient in _coarse_gradient(method, batch).items():  # at xb = xb_k, on the sample
        torch.testing.assert_close(gradient, expected[name], rtol=1e-13, atol=1e-15)


def test_coherence_none_is_the_plain_coarse_problem_plus_the_proximal_term():
    method, batch = _method(coherence="none", lam=0.3, kappa=1e-9), _batch()
    _enter(method, batch)
    coarse = method.hierarchy[1].model
    anchor = {name: value.clone() for name, value in parameters_of(coarse).items()}
    with torch.no_grad():
        for parameter in coarse.parameters():
            parameter.add_(0.1)
    data = torch.nn.functional.mse_loss(coarse(batch[0]), batch[1])
    proximal = 0.15 * sum(((p - anchor[n]) ** 2).sum() for n, p in coarse.named_parameters())
    objective, logged = method._objective(1, *batch)
    torch.testing.assert_close(objective, data + proximal, rtol=1e-14, atol=0)
    assert torch.equal(logged, data)


def test_one_coarse_gradient_step_prolongs_to_minus_the_step_of_the_restricted_gradient():
    method, batch = _method(kappa=1e-9, alpha=1.0, eta=2.0), _batch()
    fine_gradient = mean_gradient(method.hierarchy[0].model, lambda x, y: method._objective(0, x, y)[0], [batch])
    before = {n: v.clone() for n, v in parameters_of(method.hierarchy[0].model).items()}
    _enter(method, batch)
    method.smooth_step(1, *method.batch(1, None))  # the sample's minibatch
    method.up(0, None)
    step = method.hierarchy[0].transfer.prolong(method.hierarchy[0].transfer.restrict_gradient(fine_gradient))
    for name, value in parameters_of(method.hierarchy[0].model).items():
        torch.testing.assert_close(value - before[name], -(0.05 / 2.0) * step[name], rtol=1e-12, atol=1e-14)


def test_galerkin_coarse_matrix_is_spd_and_an_exact_coarse_solve_satisfies_the_coarse_equation():
    generator = torch.Generator().manual_seed(3)
    Q = torch.linalg.qr(torch.randn(12, 12, generator=generator, dtype=F64))[0]
    A = Q @ torch.diag(torch.linspace(0.1, 5.0, 12, dtype=F64)) @ Q.T
    P = torch.linalg.qr(torch.randn(12, 5, generator=generator, dtype=F64))[0]
    for c in (0.5, 1.0, 2.0):
        coarse = c * P.T @ A @ P
        torch.testing.assert_close(coarse, coarse.T, rtol=0, atol=1e-13)
        assert float(torch.linalg.eigvalsh(coarse).min()) > 0
    x, b = torch.randn(12, generator=generator, dtype=F64), torch.randn(12, generator=generator, dtype=F64)
    gradient = A @ x - b  # f = x^T A x / 2 - b^T x
    # h(xb) = f(P xb) + <R_g g - grad f_H(xb_k), xb> is minimised where P^T A P (xb - xb_k) = -P^T g
    e = P @ torch.linalg.solve(P.T @ A @ P, -(P.T @ gradient))
    R_p = torch.linalg.solve(P.T @ P, P.T)
    torch.testing.assert_close(R_p @ A @ e, -(P.T @ gradient), rtol=0, atol=1e-12)


def test_the_gate_never_opens_twice_in_a_row_and_counts_its_decisions():
    method, batch = _method(kappa=1e-9), _batch()
    method._batch_size = 12
    decisions = []
    for _ in range(6):
        descent = method.down(0, itertools.repeat(batch))
        decisions.append(not descent.skip)
        if not descent.skip:
            method.up(0, None)
    assert decisions == [True, False, True, False, True, False]
    assert (method.counts["gate_open"], method.counts["gate_closed"]) == (3, 3)


def test_a_closed_gate_costs_only_the_fine_gradient():
    method, batch = _method(kappa=0.999999), _batch()  # ||R_g g||^2 <= kappa ||g||^2 for a halving map
    method._batch_size = 12
    descent = method.down(0, itertools.repeat(batch))
    assert descent.skip and descent.cost == 12 * method.hierarchy[0].relative_cost


def test_a_rejected_line_search_changes_nothing():
    method, batch = _method(kappa=1e-9, line_search=True, alpha=1e6, backtracks=0, momentum=0.5), _batch()
    method.smooth_step(0, *batch)  # momentum buffers exist
    before = {n: v.clone() for n, v in parameters_of(method.hierarchy[0].model).items()}
    smoother = {k: v.clone() for k, v in method.hierarchy[0].smoother.state_dict()["state"][0].items()}
    _enter(method, batch)
    method.smooth_step(1, *method.batch(1, None))
    cost = method.up(0, None)
    assert method.counts["rejected"] == 1 and method.counts["accepted"] == 0 and cost > 0
    for name, value in parameters_of(method.hierarchy[0].model).items():
        assert torch.equal(value, before[name])
    assert all(torch.equal(v, smoother[k]) for k, v in method.hierarchy[0].smoother.state_dict()["state"][0].items())


def test_an_accepted_line_search_decreases_the_sample_objective():
    method, batch = _method(kappa=1e-9, line_search=True), _batch()
    _enter(method, batch)
    before = method._sample_objective(0)
    for _ in range(3):
        method.smooth_step(1, *method.batch(1, None))
    method.up(0, None)
    assert method.counts["accepted"] + method.counts["rejected"] == 1
    if method.counts["accepted"]:
        with torch.no_grad():
            after = float(torch.nn.functional.mse_loss(method.hierarchy[0].model(batch[0]), batch[1]))
        assert after < before


def _fresh(seed=0):
    return _method(levels=2, dtype=torch.float32, seed=seed, line_search=True, kappa=0.05, lam=0.1, coarsening=CoarseningOptions(order="random"))


def test_kill_and_resume_ends_exactly_as_the_uninterrupted_run(tmp_path):
    generator = torch.Generator().manual_seed(0)
    inputs, targets = torch.randn(48, 16, generator=generator), torch.randn(48, 6, generator=generator)
    options = dict(gamma=1, k=2, cost_budget=8 * 40.0, batch_size=8, eval_points=4, progress=False)
    whole, method = assert_resumed_in_pieces_ends_as_whole(lambda seed: _fresh(seed=seed), inputs, targets,
                                                           tmp_path / "checkpoint.pt", options=options)
    assert method.counts == whole.counts and whole.counts["gate_open"] > 0


@pytest.mark.parametrize("option, value, message", [
    ("kappa", 1.0, r"kappa must be a number in \(0, 1\); got kappa = 1.0"),
    ("kappa", 0.0, r"kappa must be a number in \(0, 1\)"),
    ("lam", -0.1, r"lambda must be a finite number >= 0; got lambda = -0.1"),
    ("alpha", 0.0, r"alpha must be > 0"),
    ("coherence", "second-order", r"unknown coherence 'second-order'; valid coherences are: first-order, none"),
])
def test_bad_options_are_refused_naming_the_rule_and_the_value(option, value, message):
    with pytest.raises(ValueError, match=message):
        _method(**{option: value})


@pytest.mark.parametrize("table, value, message", [
    ("mgopt", {"kappa": 1.5}, r"\[mgopt\] kappa must be a number in \(0, 1\); got 1.5"),
    ("mgopt", {"lam": -1}, r"\[mgopt\] lam must be a finite number >= 0; got -1"),
    ("mgopt", {"alpha": 0}, r"\[mgopt\] alpha must be a positive finite number; got 0"),
    ("fas", {"gamma_tau": 0.5}, r"\[fas\] gamma_tau is FAS's; method 'mgopt' takes \[mgopt\] coherence instead"),
])
def test_recipe_errors_name_the_key_the_rule_and_the_value(table, value, message):
    recipe = {"method": "mgopt", "data": {"name": "poisson", "n_samples": 40, "grid_size": 8},
              "train": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9}, table: value}
    with pytest.raises(ConfigError, match=message):
        parse_config(recipe)


def test_eigenvector_transfers_give_a_symmetric_idempotent_P_R_and_R_P_the_identity():
    from msann.coarsening.network import coarsen

    generator = torch.Generator().manual_seed(5)
    Q = torch.linalg.qr(torch.randn(10, 10, generator=generator, dtype=F64))[0]
    A = Q @ torch.diag(torch.linspace(0.1, 5.0, 10, dtype=F64)) @ Q.T
    P = torch.linalg.eigh(A).eigenvectors[:, 6:]  # the 4 largest
    model = torch.nn.Sequential(torch.nn.Linear(1, 10, bias=False, dtype=F64), torch.nn.Linear(10, 10, bias=False, dtype=F64))
    unit = coarsen("explicit", model, options=CoarseningOptions(explicit=(P,)), rng=None).units[0]
    projector = unit.P @ unit.pi
    torch.testing.assert_close(projector, projector.T, rtol=0, atol=1e-13)
    torch.testing.assert_close(projector @ projector, projector, rtol=0, atol=1e-13)
    torch.testing.assert_close(unit.pi @ unit.P, torch.eye(4, dtype=F64), rtol=0, atol=1e-13)


def test_mgopt_takes_any_smoother_in_a_recipe_while_fas_keeps_sgd():
    base = {"data": {"name": "poisson", "n_samples": 40, "grid_size": 8}, "train": {"optimizer": "adam", "lr": 1e-3}}
    assert parse_config({"method": "mgopt", **base}).runs[0].train.optimizer == "adam"
    with pytest.raises(ConfigError, match=r"\[train\] optimizer must be 'sgd' for method 'fas'"):
        parse_config({"method": "fas", **base})


def test_an_adam_smoothed_mgopt_corrects_without_touching_adam_state_by_transfer():
    method, batch = _method(kappa=1e-9, smoother="adam"), _batch()
    method.smooth_step(0, *batch)
    moments = {k: v.clone() for k, v in method.hierarchy[0].smoother.state_dict()["state"][0].items() if torch.is_tensor(v)}
    _enter(method, batch)
    method.smooth_step(1, *method.batch(1, None))
    method.up(0, None)
    assert method.counts["accepted"] == 1
    state = method.hierarchy[0].smoother.state_dict()["state"][0]
    assert all(torch.equal(state[k], v) for k, v in moments.items())  # Adam's moments are not moved by the correction
