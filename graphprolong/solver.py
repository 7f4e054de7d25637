"""Riemannian optimisation of a :class:`ProlongationProblem` on the Stiefel manifold.

``solve`` runs a pymanopt optimiser from one or more starting points and
returns a :class:`SolveResult`.  Three backends compute derivatives: ``"analytic"``
(the closed-form gradient and Hessian of :mod:`graphprolong.problem`, sparse
Laplacians), ``"autograd"`` (pymanopt's autograd backend on dense matrices,
the seed's pipeline, kept as the reference) and ``"torch"`` (the same
optimisers written in torch, :mod:`graphprolong.torch_backend`, on the CPU or
a GPU, with Kronecker operators for structured grids; torch imported lazily).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import functools

import numpy as np

from .checks import check_choice, check_orthonormal, check_positive, check_positive_int, orthonormality_error
from .matching import MATCHERS, box_matching, eigenvalue_matching
from .operators import StructuredMatrices
from .problem import ProlongationProblem

__all__ = ["BACKENDS", "INITIALISATIONS", "OPTIMIZERS", "SCALE_STARTS", "SOLVER_VERSION", "SolveResult", "initial_point", "solve"]

logger = logging.getLogger(__name__)


#: Version of everything that shapes a solver result; part of every cache key.
#: Bump it when a change can alter the P that solve() returns.
SOLVER_VERSION = "2"

#: Optimisers on the Stiefel manifold: name -> pymanopt class name.  pymanopt
#: is imported on first use only, because importing it imports torch (its
#: backends module loads every installed autodiff framework).
OPTIMIZERS: dict[str, str] = {
    "trust-regions": "TrustRegions",
    "conjugate-gradient": "ConjugateGradient",
    "steepest-descent": "SteepestDescent",
}


@functools.cache
def _optimizer_class(name: str) -> type:
    """The pymanopt optimiser ``name``, subclassed so that its log keeps costs but not every iterate."""
    import pymanopt.optimizers

    base = getattr(pymanopt.optimizers, OPTIMIZERS[name])

    def _add_log_entry(self, *, iteration, point, cost, **kwargs):
        base._add_log_entry(self, iteration=iteration, point=None, cost=cost, **kwargs)

    return type(f"Lean{base.__name__}", (base,), {"_add_log_entry": _add_log_entry})


#: Derivative backends, by name.
BACKENDS = ("analytic", "autograd", "torch")

#: Named initialisations; an array is accepted as well.  ``"box-matching"``
#: needs both graphs as :class:`~graphprolong.operators.StructuredMatrices`.
INITIALISATIONS = ("matching", "box-matching", "random", "identity")

#: How a run treats an optimised (``None``) alpha.  ``"direct"``: minimise the
#: reduced objective from the start.  ``"alpha-one"``: first minimise with alpha
#: frozen at 1, then release it from that point.  ``"auto"``: ``"alpha-one"``
#: when only the diffusion term is active (s = 0), else ``"direct"``.  Measured
#: (path 16->32, matching start): at s = 0 the reduced objective has spurious
#: minima with alpha != 1 (direct ends at E = 7e-2, alpha-one at 3e-18), while
#: at s > 0 direct ends lower (s = 0.5: 1.25 vs 3.8).
SCALE_STARTS = ("auto", "direct", "alpha-one")

#: An optimised scale factor this far from the reference value is reported as degenerate.
DEGENERATE_SCALE_RATIO = 1e6


@dataclass(frozen=True)
class SolveResult:
    """Outcome of :func:`solve`.

    Attributes
    ----------
    P : ndarray
        The best orthonormal ``n_large x n_small`` map found.
    objective, diffusion, locality, alpha, beta : float
        ``E(P)``, its unweighted terms and scale factors (see :class:`ObjectiveTerms`).
    initial_objective : float
        ``E`` at the starting point of the best restart.
    iterations : int
        Iterations of the best restart.
    stopping_reason : str
        The optimiser's stopping message for the best restart.
    time : float
        Wall-clock seconds of all restarts together.
    log : dict
        ``"time"`` and ``"objective"``: seconds since the best restart began and
        the best objective so far, at every cost evaluation of that restart;
        ``"gradient_norm"``: per iteration where the optimiser logs it (not
        trust-regions); ``"restart_objectives"``: the final objective of every
        restart.
    """

    P: np.ndarray
    objective: float
    diffusion: float
    locality: float
    alpha: float
    beta: float
    initial_objective: float
    iterations: int
    stopping_reason: str
    time: float
    log: dict = field(repr=False)


def initial_point(
    problem: ProlongationProblem,
    init: str | np.ndarray,
    *,
    rng: np.random.Generator,
    matcher: str = "scipy",
) -> np.ndarray:
    """Return a starting point on ``St(n_large, n_small)``.

    ``"matching"``: the 0/1 minimal eigenvalue matching ``M`` used directly as a
    vertex map (seed 002); ``"box-matching"``: for two grids given as
    :class:`~graphprolong.operators.StructuredMatrices` with the same number
    of axes, the Kronecker product of the factors' matchings
    (:func:`~graphprolong.matching.box_matching`; the start for grids too large
    for the full assignment problem); ``"random"``: Q factor of a Gaussian
    matrix; ``"identity"``: ``[I; 0]``; an array: validated (shape,
    orthonormality).
    """
    n_large, n_small = problem.shape
    if not isinstance(init, str):
        return check_orthonormal("initial P", init, problem.shape).copy()
    check_choice("initialisation", init, INITIALISATIONS)
    if init == "matching":
        return eigenvalue_matching(problem.small.eigenvalues, problem.large.eigenvalues, method=matcher).matrix
    if init == "box-matching":
        return _box_matching_start(problem, matcher)
    if init == "identity":
        return np.eye(n_large, n_small)
    Q, R = np.linalg.qr(rng.standard_normal((n_large, n_small)))
    return Q * np.sign(np.diag(R))


def _box_matching_start(problem: ProlongationProblem, matcher: str) -> np.ndarray:
    sides = {"G_small": problem.small, "G_large": problem.large}
    for role, matrices in sides.items():
        if not isinstance(matrices, StructuredMatrices):
            raise ValueError(
                "init='box-matching' composes the matchings of the grid factors, so both graphs must be "
                f"StructuredMatrices (graphprolong.structured_matrices); {role} = {matrices.name} is a {type(matrices).__name__}"
            )
    if len(problem.small.sizes) != len(problem.large.sizes):
        raise ValueError(
            "init='box-matching' needs grids with the same number of axes; "
            f"got G_small of shape {problem.small.sizes} and G_large of shape {problem.large.sizes}"
        )
    return box_matching(problem.small.factor_eigenvalues, problem.large.factor_eigenvalues, method=matcher)


class _Trace:
    """Wraps a cost function; records (time, best objective so far) at every plain evaluation.

    pymanopt's TrustRegions keeps no per-iteration log, so the trace is taken
    here, the same way for every optimiser and backend.
    """

    def __init__(self, cost: Callable, offset: float, times: list, objectives: list) -> None:
        self.cost, self.started, self.offset = cost, time.perf_counter(), offset
        self.times, self.objectives = times, objectives

    def __call__(self, P):
        value = self.cost(P)
        if isinstance(value, (float, np.floating)):  # not an autograd tracer
            best = min(float(value), self.objectives[-1]) if self.objectives else float(value)
            self.times.append(self.offset + time.perf_counter() - self.started)
            self.objectives.append(best)
        return value


def _pymanopt_problem(problem: ProlongationProblem, manifold, backend: str, trace=None):
    import pymanopt

    if backend == "analytic":
        cost = pymanopt.function.numpy(manifold)(trace(problem.objective) if trace else problem.objective)
        gradient = pymanopt.function.numpy(manifold)(problem.euclidean_gradient)
        hessian = pymanopt.function.numpy(manifold)(problem.euclidean_hessian)
        return pymanopt.Problem(manifold, cost, euclidean_gradient=gradient, euclidean_hessian=hessian)
    cost = _autograd_cost(problem)
    return pymanopt.Problem(manifold, pymanopt.function.autograd(manifold)(trace(cost) if trace else cost))


def _autograd_cost(problem: ProlongationProblem) -> Callable:
    import autograd.numpy as anp

    def term(P, X1, X2, scale):
        A, B = anp.dot(P, X1), anp.dot(X2, P)
        if scale is None:
            return 2.0 * (anp.sqrt(anp.sum(A * A) * anp.sum(B * B)) - anp.sum(A * B))
        return anp.sum(A * A) / scale - 2.0 * anp.sum(A * B) + scale * anp.sum(B * B)

    diffusion_weight, locality_weight = problem.weights
    parts = []
    if diffusion_weight > 0:
        parts.append((diffusion_weight, problem.small.laplacian_dense, problem.large.laplacian_dense, problem.alpha))
    if locality_weight > 0:
        parts.append((locality_weight, problem.small.distances_dense, problem.large.distances_dense, problem.beta))

    def cost(P):
        return sum(weight * term(P, X1, X2, scale) for weight, X1, X2, scale in parts)

    return cost


def _run_torch(problem, start, optimizer, options, device_options, history, offset):
    """One run of the torch backend (same optimiser names and stopping rules)."""
    from . import torch_backend

    objective = torch_backend.TorchObjective(problem, **device_options)
    P, iterations, reason, log = torch_backend.minimize(objective, objective.tensor(start), method=optimizer, **options)
    history["time"] += [offset + t for t in log["time"]]
    history["objective"] += log["objective"]
    history["gradient_norm"] += log["gradient_norm"]
    return torch_backend.to_numpy(P), iterations, reason, history


def _run_from(problem, backend, start, optimizer, options, previous=None, device_options=None):
    """One optimiser run; its log is appended to ``previous`` (times continue from it)."""
    history = previous or {"time": [], "objective": [], "gradient_norm": []}
    offset = history["time"][-1] if history["time"] else 0.0
    if backend == "torch":
        return _run_torch(problem, start, optimizer, options, device_options or {}, history, offset)
    gradient_norm = float(np.linalg.norm(problem.riemannian_gradient(start)))
    if gradient_norm <= options["min_gradient_norm"]:
        history["time"].append(offset)
        history["objective"].append(problem.objective(start))
        history["gradient_norm"].append(gradient_norm)
        return start, 0, "Terminated - the starting point is critical (gradient below tolerance)", history
    from pymanopt.manifolds import Stiefel

    manifold = Stiefel(*problem.shape)
    optimizer_instance = _optimizer_class(optimizer)(verbosity=0, log_verbosity=1, **options)

    def trace(cost):
        return _Trace(cost, offset, history["time"], history["objective"])

    result = optimizer_instance.run(_pymanopt_problem(problem, manifold, backend, trace), initial_point=start)
    log = result.log["iterations"] if result.log and "iterations" in result.log else {}
    history["gradient_norm"] += [float(g) for g in log.get("gradient_norm", [])]
    P = result.point
    # QR retractions keep ||P^T P - I|| near 1e-15; re-orthonormalise anyway so
    # the guarantee does not depend on the optimiser's path length.
    Q, R = np.linalg.qr(P)
    P = Q * np.sign(np.diag(R))
    return P, int(result.iterations), str(result.stopping_criterion), history


def _warn_degenerate_scales(problem: ProlongationProblem, terms) -> None:
    for name, fixed, value, reference in (
        ("alpha", problem.alpha, terms.alpha, problem.reference_scales[0]),
        ("beta", problem.beta, terms.beta, problem.reference_scales[1]),
    ):
        if fixed is None and np.isfinite(value) and not (
            reference / DEGENERATE_SCALE_RATIO <= value <= reference * DEGENERATE_SCALE_RATIO
        ):
            warnings.warn(
                f"the optimised {name} = {value:.3g} is degenerate (reference {reference:.3g}): the term is being "
                f"driven to 0 by P in a near-null space of the large graph's matrix (grid distance matrices are "
                f"low-rank); fix {name} (the seed found alpha = 1, beta = n_small/n_large best) for a meaningful P",
                stacklevel=3,
            )


def solve(
    problem: ProlongationProblem,
    *,
    init: str | np.ndarray = "matching",
    optimizer: str = "trust-regions",
    backend: str = "analytic",
    restarts: int = 1,
    rng: np.random.Generator | int | None = None,
    max_iterations: int = 500,
    tolerance: float = 1e-10,
    max_time: float = 3600.0,
    matcher: str = "scipy",
    scale_start: str = "auto",
    device: str = "auto",
    dtype: str = "float64",
) -> SolveResult:
    """Minimise ``problem`` over the Stiefel manifold.

    Parameters
    ----------
    problem : ProlongationProblem
    init : {"matching", "box-matching", "random", "identity"} or ndarray
        Starting point of the first run (see :func:`initial_point`).  Further
        restarts start from random points drawn from ``rng``.
    optimizer : {"trust-regions", "conjugate-gradient", "steepest-descent"}
        A pymanopt optimiser.
    backend : {"analytic", "autograd", "torch"}
        How derivatives are computed.  ``"torch"`` runs the optimiser of
        :mod:`graphprolong.torch_backend` (the same algorithms) on ``device``.
    restarts : int
        Number of runs; the best final objective wins.
    rng : numpy.random.Generator, int or None
        Source of the random starting points.
    max_iterations : int
        Iteration limit of each run.
    tolerance : float
        A run stops when the Riemannian gradient norm falls below
        ``tolerance * problem.gradient_scale``.
    max_time : float
        Wall-clock limit of each run, in seconds.
    matcher : {"scipy", "munkres"}
        Assignment solver for ``init="matching"``.
    scale_start : {"auto", "direct", "alpha-one"}
        How an optimised alpha is handled at the start of each run (see
        :data:`SCALE_STARTS`).
    device : {"auto", "cpu", "cuda"}
        Torch backend only: where to run (``"auto"``: CUDA when available).
    dtype : {"float64", "float32"}
        Torch backend only: working precision (the result is float64).

    Returns
    -------
    SolveResult
        The best ``P`` is never worse than its starting point: a run that ends
        above its initial objective returns the initial point.

    Examples
    --------
    >>> from graphprolong import ProlongationProblem, path_graph, solve
    >>> result = solve(ProlongationProblem(path_graph(4), path_graph(8), s=0.0))
    >>> bool(result.diffusion < 1e-12)
    True
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("backend", backend, BACKENDS)
    check_choice("matcher", matcher, MATCHERS)
    restarts = check_positive_int("restarts", restarts)
    max_iterations = check_positive_int("max_iterations", max_iterations)
    tolerance = check_positive("tolerance", tolerance)
    max_time = check_positive("max_time", max_time)
    rng = np.random.default_rng(rng)

    check_choice("scale_start", scale_start, SCALE_STARTS)
    if not isinstance(problem, ProlongationProblem):
        raise TypeError(f"problem must be a ProlongationProblem; got {type(problem).__name__}")
    use_alpha_one = problem.alpha is None and (
        scale_start == "alpha-one" or (scale_start == "auto" and problem.s == 0.0)
    )
    starts = [initial_point(problem, init, rng=rng, matcher=matcher)]
    starts += [initial_point(problem, "random", rng=rng) for _ in range(restarts - 1)]

    min_gradient_norm = tolerance * problem.gradient_scale
    begin = time.perf_counter()
    best = None
    restart_objectives = []
    options = {"max_iterations": max_iterations, "max_time": max_time, "min_gradient_norm": min_gradient_norm}
    device_options = {"device": device, "dtype": dtype} if backend == "torch" else None
    for index, start in enumerate(starts):
        initial_objective = problem.objective(start)
        P, iterations, history = start, 0, None
        if use_alpha_one:
            frozen = ProlongationProblem(problem.small, problem.large, s=problem.s, alpha=1.0, beta=problem.beta)
            P, iterations, frozen_reason, history = _run_from(frozen, backend, P, optimizer, options, None, device_options)
        P, more, reason, history = _run_from(problem, backend, P, optimizer, options, history, device_options)
        if use_alpha_one:
            reason = f"alpha = 1 phase: {frozen_reason}; alpha released: {reason}"
        iterations += more
        objective = problem.objective(P)
        if not objective <= initial_objective:
            logger.info("restart %d ended above its start (%.6g > %.6g); keeping the start", index, objective, initial_objective)
            P, objective = start, initial_objective
        restart_objectives.append(objective)
        logger.debug("restart %d: E %.6g -> %.6g in %d iterations (%s)", index, initial_objective, objective, iterations, reason)
        if best is None or objective < best[1]:
            best = (P, objective, initial_objective, iterations, reason, history)

    P, objective, initial_objective, iterations, reason, history = best
    history["restart_objectives"] = restart_objectives
    terms = problem.terms(P)
    _warn_degenerate_scales(problem, terms)
    logger.debug("solve: ||P^T P - I|| = %.3g", orthonormality_error(P))
    return SolveResult(
        P=P,
        objective=terms.objective,
        diffusion=terms.diffusion,
        locality=terms.locality,
        alpha=terms.alpha,
        beta=terms.beta,
        initial_objective=initial_objective,
        iterations=iterations,
        stopping_reason=reason,
        time=time.perf_counter() - begin,
        log=history,
    )
