"""Riemannian optimisation of a :class:`ProlongationProblem` on the Stiefel manifold.

:func:`solve` runs an optimiser from one or more starting points and returns a
:class:`SolveResult`.  The *how* is a registry of backends (:data:`BACKENDS`),
one signature each, ``run(problem, start, options: RunOptions) ->
(P, iterations, stopping reason, log)``:

* ``"analytic"``: pymanopt with the closed-form gradient and Hessian of
  :mod:`graphprolong.problem` (sparse or structured matrices);
* ``"autograd"``: pymanopt with autograd on dense matrices (the seed's
  pipeline, kept as the reference);
* ``"torch"``: the same optimisers written in torch
  (:mod:`graphprolong.torch_optimizers`), on the CPU or a GPU, evaluating the
  same :class:`~graphprolong.problem.ObjectiveTerm` on tensors; torch is
  imported only when it runs.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .checks import check_choice, check_positive, check_positive_int, orthonormality_error
from .matching import MATCHERS
from .problem import ProlongationProblem
from .pymanopt_backend import run_pymanopt
from .run_options import RunOptions
from .starts import INITIALISATIONS, initial_point
from .torch_backend import run_torch

__all__ = ["BACKENDS", "INITIALISATIONS", "OPTIMIZERS", "SCALE_STARTS", "SOLVER_VERSION", "SolveResult", "initial_point", "solve"]

logger = logging.getLogger(__name__)


#: Version of everything that shapes a solver result; part of every cache key.
#: Bump it when a change can alter the P that solve() returns.
SOLVER_VERSION = "2"

#: Optimisers on the Stiefel manifold (every backend has each): name -> what it is.
OPTIMIZERS: dict[str, str] = {
    "trust-regions": "Riemannian trust regions with truncated CG (Absil, Baker & Gallivan 2007)",
    "conjugate-gradient": "Riemannian conjugate gradient with Armijo line search",
    "steepest-descent": "Riemannian steepest descent with Armijo line search",
}

#: Derivative backends: name -> one run of an optimiser (see the module docstring).
BACKENDS: dict[str, Callable] = {
    "analytic": run_pymanopt,
    "autograd": run_pymanopt,
    "torch": run_torch,
}

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


def _append_run(history: dict, run_log: dict) -> None:
    """Append one run's log to ``history``, its times continuing from the last one recorded."""
    offset = history["time"][-1] if history["time"] else 0.0
    for key, values in run_log.items():
        history.setdefault(key, [])
        history[key] += [offset + t for t in values] if key == "time" else values


def _run_restart(problem: ProlongationProblem, start: np.ndarray, *, alpha_one: bool, options: RunOptions) -> tuple:
    """One restart: ``(P, iterations, reason, history)``; with ``alpha_one``, first a run at alpha = 1."""
    run = BACKENDS[options.backend]
    history = {"time": [], "objective": [], "gradient_norm": []}
    P, iterations, prefix = start, 0, ""
    if alpha_one:
        frozen = ProlongationProblem(problem.small, problem.large, s=problem.s, alpha=1.0, beta=problem.beta)
        P, iterations, frozen_reason, run_log = run(frozen, P, options)
        _append_run(history, run_log)
        prefix = f"alpha = 1 phase: {frozen_reason}; alpha released: "
    P, more, reason, run_log = run(problem, P, options)
    _append_run(history, run_log)
    return P, iterations + more, prefix + reason, history


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
    optimizer_options: dict | None = None,
) -> SolveResult:
    """Minimise ``problem`` over the Stiefel manifold.

    Parameters
    ----------
    problem : ProlongationProblem
    init : {"matching", "box-matching", "random", "identity"} or ndarray
        Starting point of the first run (see :func:`initial_point`).  Further
        restarts start from random points drawn from ``rng``.
    optimizer : {"trust-regions", "conjugate-gradient", "steepest-descent"}
        The Riemannian optimiser (:data:`OPTIMIZERS`).
    backend : {"analytic", "autograd", "torch"}
        How derivatives are computed and who runs the optimiser (:data:`BACKENDS`):
        pymanopt for ``"analytic"`` and ``"autograd"``;
        :mod:`graphprolong.torch_optimizers` (the same algorithms) on ``device``
        for ``"torch"``, which needs torch (the ``torch`` extra).
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
    optimizer_options : dict, optional
        Further options of the optimiser, e.g. ``{"beta_rule": "polak-ribiere"}``
        for conjugate gradient (pymanopt's names; the torch backend's are
        :data:`graphprolong.torch_optimizers.BETA_RULES`).

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
    if not isinstance(problem, ProlongationProblem):
        raise TypeError(f"problem must be a ProlongationProblem; got {type(problem).__name__}")
    check_choice("matcher", matcher, MATCHERS)
    check_choice("scale_start", scale_start, SCALE_STARTS)
    restarts = check_positive_int("restarts", restarts)
    options = RunOptions(
        backend=check_choice("backend", backend, BACKENDS),
        optimizer=check_choice("optimizer", optimizer, OPTIMIZERS),
        max_iterations=check_positive_int("max_iterations", max_iterations),
        min_gradient_norm=check_positive("tolerance", tolerance) * problem.gradient_scale,
        max_time=check_positive("max_time", max_time),
        optimizer_options=dict(optimizer_options or {}),
        device=device,
        dtype=dtype,
    )
    rng = np.random.default_rng(rng)
    alpha_one = problem.alpha is None and (scale_start == "alpha-one" or (scale_start == "auto" and problem.s == 0.0))
    begin = time.perf_counter()
    starts = [initial_point(problem, init, rng=rng, matcher=matcher)]
    starts += [initial_point(problem, "random", rng=rng) for _ in range(restarts - 1)]
    best, restart_objectives = None, []
    for index, start in enumerate(starts):
        initial_objective = problem.objective(start)
        P, iterations, reason, history = _run_restart(problem, start, alpha_one=alpha_one, options=options)
        objective = problem.objective(P)
        if not objective <= initial_objective:
            logger.info("restart %d ended above its start (%.6g > %.6g); keeping the start", index, objective, initial_objective)
            P, objective = start, initial_objective
        restart_objectives.append(objective)
        logger.debug("restart %d: E %.6g -> %.6g in %d iterations (%s)", index, initial_objective, objective, iterations, reason)
        if best is None or objective < best[1]:
            best = (P, objective, initial_objective, iterations, reason, history)
    return _result(problem, best, restart_objectives, time.perf_counter() - begin)


def _result(problem: ProlongationProblem, best: tuple, restart_objectives: list, seconds: float) -> SolveResult:
    P, _, initial_objective, iterations, reason, history = best
    history["restart_objectives"] = restart_objectives
    terms = problem.terms(P)
    _warn_degenerate_scales(problem, terms)
    logger.debug("solve: ||P^T P - I|| = %.3g", orthonormality_error(P))
    return SolveResult(
        P=P, objective=terms.objective, diffusion=terms.diffusion, locality=terms.locality, alpha=terms.alpha,
        beta=terms.beta, initial_objective=initial_objective, iterations=iterations, stopping_reason=reason,
        time=seconds, log=history,
    )
