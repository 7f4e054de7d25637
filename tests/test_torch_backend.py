"""The torch backend: objective and derivatives against ProlongationProblem, and its optimisers.

What the solver comparison checks, exactly: from the same start (the
eigenvalue matching), ``solve(backend="torch")`` (Riemannian trust regions in torch,
float64, CPU) must end at an objective no worse than
``f_ref * (1 + 1e-6) + 1e-12 * gradient_scale``, where ``f_ref`` is the final
objective of ``graphprolong.solve`` with pymanopt's trust regions, the analytic
backend and ``scale_start="direct"`` (the same single run on the same reduced
objective), both with the library's default tolerance.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphprolong import ProlongationProblem, SolveResult, grid_graph, path_graph, solve
from graphprolong.operators import structured_matrices
from graphprolong.problem import stiefel_project

from .strategies import random_stiefel

torch = pytest.importorskip("torch")
backend = pytest.importorskip("graphprolong.torch_backend")
from graphprolong import torch_optimizers  # noqa: E402

PAIRS = {
    "path 8->16": (path_graph(8), path_graph(16)),
    "grid 4x4->8x8": (grid_graph((4, 4)), grid_graph((8, 8))),
}
STRUCTURED = {
    "path 8->16": (structured_matrices("path", 8), structured_matrices("path", 16)),
    "grid 4x4->8x8": (structured_matrices("grid", (4, 4)), structured_matrices("grid", (8, 8))),
}


def _problem(name, s, fixed, *, structured=False):
    small, large = (STRUCTURED if structured else PAIRS)[name]
    alpha, beta = (1.3, 0.4) if fixed else (None, None)
    return ProlongationProblem(small, large, s=s, alpha=alpha, beta=beta)


def _relative(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(PAIRS)),
    s=st.floats(0.0, 1.0),
    fixed=st.booleans(),
    structured=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_objective_and_derivatives_match_problem(name, s, fixed, structured, seed):
    problem = _problem(name, s, fixed, structured=structured)
    reference = _problem(name, s, fixed)
    rng = np.random.default_rng(seed)
    P, V = random_stiefel(*problem.shape, rng), rng.standard_normal(problem.shape)
    objective = backend.TorchObjective(problem, device="cpu", dtype="float64")
    evaluation = objective.evaluate(objective.tensor(P))
    assert evaluation.value == pytest.approx(reference.objective(P), rel=1e-10)
    gradient = objective.gradient(evaluation).numpy()
    assert _relative(gradient, reference.euclidean_gradient(P)) < 1e-10
    hessian = objective.hessian(evaluation)(objective.tensor(V)).numpy()
    assert _relative(hessian, reference.euclidean_hessian(P, V)) < 1e-10
    assert problem.gradient_scale == pytest.approx(reference.gradient_scale, rel=1e-12)


def test_riemannian_gradient_and_hessian_on_the_manifold():
    problem = _problem("grid 4x4->8x8", 0.5, False)
    rng = np.random.default_rng(0)
    P = random_stiefel(*problem.shape, rng)
    V = stiefel_project(P, rng.standard_normal(problem.shape))
    V /= np.linalg.norm(V)
    objective = backend.TorchObjective(problem, device="cpu")
    state = torch_optimizers._state(objective, objective.evaluate(objective.tensor(P)))
    np.testing.assert_allclose(state.gradient.numpy(), problem.riemannian_gradient(P), atol=1e-9)
    # Taylor check along the polar retraction (second order, so the Riemannian Hessian
    # gives its t^2 term): the model error is O(t^3).
    hessian = torch_optimizers._riemannian_hessian(objective, state)(objective.tensor(V))
    f0, slope = problem.objective(P), float(np.vdot(problem.riemannian_gradient(P), V))
    curvature = float((hessian * objective.tensor(V)).sum())
    errors = []
    for t in (1e-2, 1e-3):
        U, _, Wt = np.linalg.svd(P + t * V, full_matrices=False)
        errors.append(abs(problem.objective(U @ Wt) - (f0 + t * slope + 0.5 * t * t * curvature)))
    assert errors[1] < errors[0] / 300  # cubic: a tenth of t, a thousandth of the error


def test_structured_products_on_torch_match_numpy():
    rng = np.random.default_rng(1)
    matrices = structured_matrices("grid:periodic", (3, 4, 2))
    for operator in (matrices.laplacian, matrices.distances):
        device_operator = backend._device_matrix(operator, torch.device("cpu"), torch.float64)
        X, Y = rng.standard_normal((24, 5)), rng.standard_normal((5, 24))
        np.testing.assert_allclose((device_operator @ torch.from_numpy(X)).numpy(), operator.dense() @ X, atol=1e-12)
        np.testing.assert_allclose((torch.from_numpy(Y) @ device_operator).numpy(), Y @ operator.dense(), atol=1e-12)


def test_sparse_route_matches_dense(monkeypatch):
    monkeypatch.setattr(backend, "DENSE_LIMIT", 4)
    problem = _problem("path 8->16", 0.3, False)
    P = random_stiefel(*problem.shape, np.random.default_rng(2))
    objective = backend.TorchObjective(problem, device="cpu")
    evaluation = objective.evaluate(objective.tensor(P))
    assert evaluation.value == pytest.approx(problem.objective(P), rel=1e-12)
    assert _relative(objective.gradient(evaluation).numpy(), problem.euclidean_gradient(P)) < 1e-12


@pytest.mark.parametrize(
    "name, s, beta",
    [("path 8->16", 0.0, None), ("path 8->16", 1.0, None), ("grid 4x4->8x8", 0.0, None), ("grid 4x4->8x8", 1.0, 0.25)],
)
def test_reaches_the_pymanopt_objective_from_the_same_start(name, s, beta):
    small, large = PAIRS[name]
    problem = ProlongationProblem(small, large, s=s, beta=beta)
    reference = solve(problem, init="matching", optimizer="trust-regions", backend="analytic", scale_start="direct")
    result = solve(problem, backend="torch", init="matching", device="cpu", dtype="float64", scale_start="direct")
    assert isinstance(result, SolveResult)
    assert result.objective <= reference.objective * (1 + 1e-6) + 1e-12 * problem.gradient_scale
    assert result.objective == pytest.approx(problem.objective(result.P), rel=1e-12, abs=1e-15)
    assert result.initial_objective == pytest.approx(reference.initial_objective, rel=1e-12)
    assert "min grad norm" in result.stopping_reason
    np.testing.assert_allclose(result.P.T @ result.P, np.eye(problem.shape[1]), atol=1e-10)
    assert np.all(np.diff(result.log["objective"]) <= 0)
    assert len(result.log["time"]) == result.iterations + 1


def test_structured_problem_solves_like_the_graph_problem():
    graphs = ProlongationProblem(*PAIRS["grid 4x4->8x8"], s=1.0, beta=0.25)
    structured = ProlongationProblem(*STRUCTURED["grid 4x4->8x8"], s=1.0, beta=0.25)
    start = random_stiefel(*graphs.shape, np.random.default_rng(6))
    a = solve(graphs, backend="torch", init=start, device="cpu")
    b = solve(structured, backend="torch", init=start, device="cpu")
    assert b.objective == pytest.approx(a.objective, rel=1e-8)


def test_float32_agrees_with_float64():
    problem = ProlongationProblem(*PAIRS["path 8->16"], s=1.0)
    P = random_stiefel(*problem.shape, np.random.default_rng(4))
    values = {}
    for dtype in ("float32", "float64"):
        objective = backend.TorchObjective(problem, device="cpu", dtype=dtype)
        evaluation = objective.evaluate(objective.tensor(P))
        values[dtype] = (evaluation.value, objective.gradient(evaluation).double().numpy())
    assert values["float32"][0] == pytest.approx(values["float64"][0], rel=1e-5)
    assert _relative(values["float32"][1], values["float64"][1]) < 1e-5
    single = solve(problem, backend="torch", device="cpu", dtype="float32")
    double = solve(problem, backend="torch", device="cpu", dtype="float64")
    assert single.objective == pytest.approx(double.objective, rel=1e-4)
    # The float32 result is re-orthonormalised in float64.
    np.testing.assert_allclose(single.P.T @ single.P, np.eye(problem.shape[1]), atol=1e-10)


@pytest.mark.parametrize(
    "method, options",
    [("conjugate-gradient", {"beta_rule": rule}) for rule in sorted(torch_optimizers.BETA_RULES)] + [("steepest-descent", {})],
)
def test_line_search_methods_decrease_and_stay_orthonormal(method, options):
    problem = ProlongationProblem(*PAIRS["grid 4x4->8x8"], s=0.5, beta=0.25)
    result = solve(problem, backend="torch", init="identity", device="cpu", optimizer=method, optimizer_options=options, max_iterations=40)
    objectives = result.log["objective"]
    assert len(objectives) == 41 and np.all(np.diff(objectives) < 0)  # Armijo: every accepted step decreases E
    assert result.objective < 0.6 * result.initial_objective
    np.testing.assert_allclose(result.P.T @ result.P, np.eye(problem.shape[1]), atol=1e-10)


def test_retraction_is_orthonormal_and_first_order():
    rng = np.random.default_rng(5)
    P = torch.from_numpy(random_stiefel(30, 10, rng))
    D = torch.from_numpy(stiefel_project(P.numpy(), rng.standard_normal((30, 10))))
    for t in (0.0, 1e-3, 1.0, 100.0):
        Q = torch_optimizers._retract(P, D, t)
        np.testing.assert_allclose((Q.T @ Q).numpy(), np.eye(10), atol=1e-12)
    assert float(torch.linalg.norm(torch_optimizers._retract(P, D, 1e-4) - P - 1e-4 * D)) < 1e-6


def test_stopping_rules_and_log():
    problem = ProlongationProblem(*PAIRS["path 8->16"], s=1.0)
    result = solve(problem, backend="torch", device="cpu", max_iterations=3)
    assert result.iterations == 3 and "max iterations" in result.stopping_reason
    assert set(result.log) >= {"time", "objective", "gradient_norm", "inner_iterations", "restart_objectives"}
    assert result.time > 0


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    problem = ProlongationProblem(*PAIRS["path 8->16"], s=0.5)
    with pytest.raises(ValueError, match=r"device 'cuda' was requested, but torch .* sees no CUDA device \(torch.cuda.is_available\(\) is False\); use 'cpu' or 'auto'"):
        solve(problem, backend="torch", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_agrees_with_cpu():
    problem = ProlongationProblem(*PAIRS["grid 4x4->8x8"], s=1.0, beta=0.25)
    on_cpu = solve(problem, backend="torch", device="cpu")
    on_cuda = solve(problem, backend="torch", device="cuda")
    assert on_cuda.objective == pytest.approx(on_cpu.objective, rel=1e-8)


def test_bad_options_list_the_valid_ones():
    problem = ProlongationProblem(*PAIRS["path 8->16"], s=0.5)
    with pytest.raises(ValueError, match="unknown dtype 'float16'; valid dtypes are: float32, float64"):
        solve(problem, backend="torch", dtype="float16")
    with pytest.raises(ValueError, match="valid devices are: auto, cpu, cuda"):
        solve(problem, backend="torch", device="tpu")
    with pytest.raises(ValueError, match="valid optimizers are: conjugate-gradient, steepest-descent, trust-regions"):
        solve(problem, backend="torch", optimizer="newton")
    with pytest.raises(ValueError, match="valid beta rules are"):
        solve(problem, backend="torch", optimizer="conjugate-gradient", optimizer_options={"beta_rule": "magic"})
    with pytest.raises(TypeError, match="problem must be a ProlongationProblem"):
        backend.TorchObjective("path:8", device="cpu")


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0])
def test_solve_with_the_torch_backend_matches_the_analytic_backend(s):
    problem = ProlongationProblem(*PAIRS["path 8->16"], s=s)
    analytic = solve(problem, backend="analytic", max_iterations=300)
    on_torch = solve(problem, backend="torch", device="cpu", max_iterations=300)
    assert on_torch.objective <= analytic.objective * (1 + 1e-6) + 1e-12 * problem.gradient_scale
    np.testing.assert_allclose(on_torch.P.T @ on_torch.P, np.eye(8), atol=1e-10)


def test_solve_accepts_structured_grids():
    problem = ProlongationProblem(*STRUCTURED["grid 4x4->8x8"], s=1.0, beta=0.25)
    reference = ProlongationProblem(*PAIRS["grid 4x4->8x8"], s=1.0, beta=0.25)
    start = random_stiefel(64, 16, np.random.default_rng(7))
    assert problem.gradient_scale == pytest.approx(reference.gradient_scale, rel=1e-12)
    result = solve(problem, init=start, backend="torch", device="cpu")
    assert result.objective == pytest.approx(solve(reference, init=start).objective, rel=1e-8)
