"""The ``"analytic"`` and ``"autograd"`` backends of :func:`graphprolong.solve`: pymanopt's optimisers.

``"analytic"`` hands pymanopt the closed-form cost, gradient and Hessian of
:class:`~graphprolong.problem.ProlongationProblem` (sparse or structured
matrices); ``"autograd"`` differentiates the cost with autograd on dense
matrices -- the seed's pipeline, kept as the reference.  pymanopt is imported
on first use only, because importing it imports torch when torch is installed
(its backends module loads every autodiff framework it finds).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import numpy as np

from .geometry import qr_orthonormal
from .problem import ProlongationProblem
from .run_options import RunOptions

__all__ = ["PYMANOPT_OPTIMIZERS", "run_pymanopt"]

#: Optimiser name -> pymanopt class name.
PYMANOPT_OPTIMIZERS: dict[str, str] = {
    "trust-regions": "TrustRegions",
    "conjugate-gradient": "ConjugateGradient",
    "steepest-descent": "SteepestDescent",
}


@functools.cache
def _optimizer_class(name: str) -> type:
    """The pymanopt optimiser ``name``, subclassed so that its log keeps costs but not every iterate."""
    import pymanopt.optimizers

    base = getattr(pymanopt.optimizers, PYMANOPT_OPTIMIZERS[name])

    def _add_log_entry(self, *, iteration, point, cost, **kwargs):
        base._add_log_entry(self, iteration=iteration, point=None, cost=cost, **kwargs)

    return type(f"Lean{base.__name__}", (base,), {"_add_log_entry": _add_log_entry})


class _Trace:
    """Wraps a cost function; records (time, best objective so far) at every plain evaluation.

    pymanopt's TrustRegions keeps no per-iteration log, so the trace is taken
    here, the same way for every optimiser and backend.
    """

    def __init__(self, cost: Callable, log: dict) -> None:
        self.cost, self.started, self.log = cost, time.perf_counter(), log

    def __call__(self, P):
        value = self.cost(P)
        if isinstance(value, (float, np.floating)):  # not an autograd tracer
            objectives = self.log["objective"]
            objectives.append(min(float(value), objectives[-1]) if objectives else float(value))
            self.log["time"].append(time.perf_counter() - self.started)
        return value


def _autograd_cost(problem: ProlongationProblem) -> Callable:
    """``E`` written with ``autograd.numpy`` on the dense matrices (the seed's pipeline)."""
    import autograd.numpy as anp

    def term(P, X1, X2, scale):
        A, B = anp.dot(P, X1), anp.dot(X2, P)
        if scale is None:
            return 2.0 * (anp.sqrt(anp.sum(A * A) * anp.sum(B * B)) - anp.sum(A * B))
        return anp.sum(A * A) / scale - 2.0 * anp.sum(A * B) + scale * anp.sum(B * B)

    dense = {
        "diffusion": (problem.small.laplacian_dense, problem.large.laplacian_dense, problem.alpha),
        "locality": (problem.small.distances_dense, problem.large.distances_dense, problem.beta),
    }
    parts = [(weight, *dense[name]) for name, weight, _ in problem.active_terms()]

    def cost(P):
        return sum(weight * term(P, X1, X2, scale) for weight, X1, X2, scale in parts)

    return cost


def _pymanopt_problem(problem: ProlongationProblem, manifold, backend: str, trace: Callable):
    import pymanopt

    if backend == "analytic":
        cost = pymanopt.function.numpy(manifold)(trace(problem.objective))
        gradient = pymanopt.function.numpy(manifold)(problem.euclidean_gradient)
        hessian = pymanopt.function.numpy(manifold)(problem.euclidean_hessian)
        return pymanopt.Problem(manifold, cost, euclidean_gradient=gradient, euclidean_hessian=hessian)
    return pymanopt.Problem(manifold, pymanopt.function.autograd(manifold)(trace(_autograd_cost(problem))))


def run_pymanopt(problem: ProlongationProblem, start: np.ndarray, options: RunOptions) -> tuple[np.ndarray, int, str, dict]:
    """One pymanopt run from ``start``: ``(P, iterations, stopping reason, log)`` (the shape of every backend's run).

    ``options.device`` and ``options.dtype`` are the torch backend's and ignored here.
    """
    log = {"time": [], "objective": [], "gradient_norm": []}
    gradient_norm = float(np.linalg.norm(problem.riemannian_gradient(start)))
    if gradient_norm <= options.min_gradient_norm:
        log.update(time=[0.0], objective=[problem.objective(start)], gradient_norm=[gradient_norm])
        return start, 0, "Terminated - the starting point is critical (gradient below tolerance)", log
    from pymanopt.manifolds import Stiefel

    manifold = Stiefel(*problem.shape)
    instance = _optimizer_class(options.optimizer)(
        verbosity=0, log_verbosity=1, max_iterations=options.max_iterations, min_gradient_norm=options.min_gradient_norm,
        max_time=options.max_time, **options.optimizer_options,
    )
    trace = lambda cost: _Trace(cost, log)  # noqa: E731
    result = instance.run(_pymanopt_problem(problem, manifold, options.backend, trace), initial_point=start)
    iterations_log = result.log["iterations"] if result.log and "iterations" in result.log else {}
    log["gradient_norm"] += [float(g) for g in iterations_log.get("gradient_norm", [])]
    # QR retractions keep ||P^T P - I|| near 1e-15; re-orthonormalise anyway so
    # the guarantee does not depend on the optimiser's path length.
    return qr_orthonormal(result.point), int(result.iterations), str(result.stopping_criterion), log
