"""The ``exact-locality`` start (graphprolong.starts): the minimiser of the locality term in closed form.

At ``s = 1`` it is a global minimiser: a critical point (Riemannian gradient
at rounding level) whose objective no trust-region run from the matching
start beats; structured grids and networkx grids reach the same objective;
an optimised beta settles to a critical point of the reduced objective; a
degenerate optimised beta is a clear error.
"""

from __future__ import annotations

import numpy as np
import pytest

from graphprolong import ProlongationProblem, grid_graph, path_graph, solve, structured_matrices
from graphprolong.starts import initial_point


def _start(problem):
    return initial_point(problem, "exact-locality", rng=np.random.default_rng(0))


def _relative_gradient(problem, P) -> float:
    return float(np.linalg.norm(problem.riemannian_gradient(P))) / problem.gradient_scale


@pytest.mark.parametrize("graphs", [
    (path_graph(8), path_graph(16)),
    (grid_graph((3, 4)), grid_graph((6, 8))),
    (structured_matrices("grid", (4, 4)), structured_matrices("grid", (8, 8))),
])
def test_at_s_one_it_is_a_critical_point_no_trust_region_run_improves_on(graphs):
    problem = ProlongationProblem(*graphs, s=1.0, beta=0.25)
    P = _start(problem)
    np.testing.assert_allclose(P.T @ P, np.eye(P.shape[1]), atol=1e-13)
    assert _relative_gradient(problem, P) < 1e-10
    solved = solve(problem, init="matching" if not hasattr(graphs[0], "sizes") else "box-matching",
                   optimizer="trust-regions", max_iterations=200)
    assert problem.objective(P) <= solved.objective * (1 + 1e-12)


def test_structured_and_networkx_grids_reach_the_same_objective():
    structured = ProlongationProblem(structured_matrices("grid", (4, 4)), structured_matrices("grid", (8, 8)), s=1.0, beta=0.25)
    dense = ProlongationProblem(grid_graph((4, 4)), grid_graph((8, 8)), s=1.0, beta=0.25)
    # Different references (box matching, full matching) pick different members of the minimiser set: same objective.
    assert structured.objective(_start(structured)) == pytest.approx(dense.objective(_start(dense)), rel=1e-12)


def test_an_optimised_beta_settles_at_a_critical_point_of_the_reduced_objective():
    problem = ProlongationProblem(path_graph(8), path_graph(16), s=1.0)
    P = _start(problem)
    assert _relative_gradient(problem, P) < 1e-10
    assert problem.objective(P) <= solve(problem, init="matching", optimizer="trust-regions").objective * (1 + 1e-12)


def test_a_degenerate_optimised_beta_names_the_rule_and_a_fixed_beta():
    problem = ProlongationProblem(grid_graph((3, 4)), grid_graph((6, 8)), s=1.0)
    with pytest.raises(ValueError, match=r"init='exact-locality' with an optimised beta .* give a fixed beta, e\.g\. beta = n_small / n_large = 0\.25"):
        _start(problem)
