"""Structured (Kronecker) grids give the same maps as networkx grids through compose, the cache and
every backend of solve (issue 16, point 3)."""

import numpy as np
import pytest

from graphprolong import ProlongationProblem, get_prolongation, grid_graph, solve, structured_matrices
from graphprolong.compose import compose_box, diffusion_distance
from graphprolong.recipes import get_recipe

from .strategies import random_stiefel
from .torch_available import HAS_TORCH

BACKENDS = ["analytic", "autograd"] + (["torch"] if HAS_TORCH else [])
GRIDS = [("grid", (3, 3), (6, 6)), ("grid:periodic", (3, 4), (6, 8))]


def _pair(kind, small, large, structured):
    if structured:
        return structured_matrices(kind, small), structured_matrices(kind, large)
    periodic = kind == "grid:periodic"
    return grid_graph(small, periodic=periodic), grid_graph(large, periodic=periodic)


@pytest.mark.parametrize("kind, small, large", GRIDS)
def test_diffusion_distance_and_compose_box(kind, small, large):
    rng = np.random.default_rng(0)
    P = compose_box(random_stiefel(large[0], small[0], rng), random_stiefel(large[1], small[1], rng))
    graphs, structured = _pair(kind, small, large, False), _pair(kind, small, large, True)
    expected = diffusion_distance(P, *graphs, alpha=0.7)
    assert diffusion_distance(P, *structured, alpha=0.7) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind, small, large", GRIDS)
def test_every_backend_gives_the_same_map(backend, kind, small, large):
    """Ten iterations from one start: the iterates agree to rounding (the minimisers of these
    problems form continua -- null spaces of the grid distance matrices -- so converged runs
    may end at different, equally good points; the objective is compared after convergence too)."""
    options = {"device": "cpu"} if backend == "torch" else {}
    results = []
    for structured in (False, True):
        problem = ProlongationProblem(*_pair(kind, small, large, structured), s=0.5, beta=0.125)
        start = random_stiefel(*problem.shape, np.random.default_rng(1))
        results.append((solve(problem, init=start, backend=backend, max_iterations=10, **options),
                        solve(problem, init=start, backend=backend, max_iterations=300, **options)))
    (graphs, graphs_converged), (structured, structured_converged) = results
    assert structured.objective == pytest.approx(graphs.objective, rel=1e-10)
    np.testing.assert_allclose(structured.P, graphs.P, atol=1e-8)
    assert structured_converged.objective == pytest.approx(graphs_converged.objective, rel=1e-9)


@pytest.mark.parametrize("method", ["recipe", "optimize"])
def test_the_cache_keys_and_computes_them_alike(tmp_path, method):
    kind, small, large = "grid:periodic", (3, 3), (6, 6)
    options = {"max_iterations": 100} if method == "optimize" else {}
    entries = []
    for structured, folder in ((False, "graphs"), (True, "structured")):
        P, entry = get_prolongation(*_pair(kind, small, large, structured), s=1.0, method=method, beta=1 / 8,
                                    cache_dir=tmp_path / folder, return_metadata=True, **options)
        entries.append((P, entry))
    (P_graphs, graphs), (P_structured, structured) = entries
    assert graphs["key"] == structured["key"]
    np.testing.assert_allclose(P_structured, P_graphs, atol=1e-8 if method == "optimize" else 0.0)
    if method == "recipe":
        np.testing.assert_array_equal(P_structured, get_recipe("grid-periodic-interpolation").prolongation(small))
