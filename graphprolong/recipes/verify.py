"""Verification of recipes: orthonormality, the spectral lower bound, first- and second-order optimality."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import scipy.sparse.linalg

from ..checks import orthonormality_error
from ..geometry import qr_orthonormal, stiefel_project
from ..problem import ProlongationProblem
from ..solver import solve
from .registry import Recipe, get_recipe
from .grid_spectrum import _grid_distance_spectrum
from .spectra import DegenerateScaleError, _cycle_symbol, _distances_1d, _matching, _self_consistent_scale

__all__ = [
    "SECOND_ORDER_TOLERANCES",
    "VERIFY_COLUMNS",
    "objective_lower_bound",
    "verification_passed",
    "verification_table",
    "verify_recipe",
]

logger = logging.getLogger(__name__)


def _sorted_laplacian_spectrum(lineage: str, shape: Sequence[int]) -> np.ndarray:
    """Eigenvalues of ``L = A - D`` in closed form (a box product's are the sums of its factors')."""
    periodic = lineage in ("cycle", "grid:periodic")
    total = np.zeros(1)
    for n in shape:
        k = np.arange(n)
        factor = -(2.0 - 2.0 * np.cos((2.0 if periodic else 1.0) * np.pi * k / n)) if n > 1 else np.zeros(1)
        if periodic and n == 2:  # cycle_graph(2) is one edge
            factor = np.array([0.0, -2.0])
        total = np.add.outer(total, factor).ravel()
    return np.sort(total)


def _sorted_distance_spectrum(lineage: str, shape: Sequence[int]) -> np.ndarray:
    if lineage == "path":
        return np.linalg.eigvalsh(_distances_1d(shape[0], False))
    if lineage == "cycle":
        return np.sort(_cycle_symbol(shape[0]))
    return _grid_distance_spectrum(tuple(shape), lineage == "grid:periodic").full()[0]


def _term_bound(theta_small: np.ndarray, theta_large: np.ndarray, scale: float | None) -> float:
    """``min_P || P X1 / sqrt c - sqrt c X2 P ||^2`` over the Stiefel manifold (and over ``c`` when None).

    Over ``c`` the minimum of finitely many convex functions (one per
    matching) is searched: a log-spaced scan around ``sqrt(u / v)`` and
    ``c = 1``, then the self-consistent iteration from the five best points.
    Where that iteration meets a matching of every small eigenvalue to a zero
    of ``X2`` (so ``X2`` has ``n_small`` zeros), that matching costs
    ``sum theta^2 / c`` at every ``c``, and the infimum is 0.
    """
    if scale is not None:
        return _matching(theta_small, theta_large, scale)[1]
    if not np.any(theta_small) or not np.any(theta_large):
        return 0.0
    guess = math.sqrt(np.sum(theta_small**2) / np.sum(np.sort(theta_large**2)[-theta_small.size :]))
    scales = np.append(guess * np.exp(np.linspace(-4.0, 4.0, 81)), 1.0)
    values = np.array([_matching(theta_small, theta_large, c)[1] for c in scales])
    best = float(values.min())
    for start in scales[np.argsort(values)[:5]]:
        try:
            settled = _self_consistent_scale(theta_small, theta_large, float(start), iterations=10)
        except DegenerateScaleError:
            return 0.0
        except RuntimeError:
            continue
        best = min(best, _matching(theta_small, theta_large, settled)[1])
    return best


def objective_lower_bound(
    problem: ProlongationProblem,
    *,
    spectra: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> float:
    """A lower bound of ``E`` over the Stiefel manifold, exact (attained) at ``s = 0`` and ``s = 1``.

    Each term is bounded by its minimum alone: the minimal matching cost of the
    eigenvalues (see the module notes), minimised over the scale factor when
    the problem optimises it (numerically: a scan and a bounded search, so the
    bound then holds up to that search).  ``spectra`` may give
    ``{"diffusion": (θ_small, θ_large), "locality": (...)}`` (ascending); by
    default they are computed from the problem's matrices.
    """
    spectra = dict(spectra or {})
    bound = 0.0
    for name, weight, scale in (("diffusion", problem.weights[0], problem.alpha), ("locality", problem.weights[1], problem.beta)):
        if weight == 0.0:
            continue
        if name not in spectra:
            if name == "diffusion":
                spectra[name] = (problem.small.eigenvalues, problem.large.eigenvalues)
            else:
                spectra[name] = (np.linalg.eigvalsh(problem.small.distances), np.linalg.eigvalsh(problem.large.distances))
        bound += weight * _term_bound(*spectra[name], scale)
    return bound


def _lowest_curvature(hessian: Callable, start: np.ndarray, steps: int, project: Callable) -> tuple[float, np.ndarray]:
    """Lowest eigenpair of the Riemannian Hessian on the tangent space (``scipy.sparse.linalg.eigsh``).

    The operator is ``project -> hessian -> project``, symmetric on the whole
    space and zero on the normal space; the Krylov space from the tangent
    ``start`` lies in the tangent space.  ARPACK's Lanczos runs with
    ``ncv = steps`` basis vectors and a few restarts; a Ritz value is an upper
    bound of the lowest eigenvalue, so a negative one proves a descent
    direction of second order.  Small problems (``size <= steps + 1``) take the
    dense eigenproblem on an orthonormal basis of the tangent space instead.
    """
    shape, size = start.shape, start.size

    def matvec(vector: np.ndarray) -> np.ndarray:
        return project(hessian(project(np.reshape(vector, shape)))).ravel()

    if size <= steps + 1:
        projector = np.column_stack([project(column.reshape(shape)).ravel() for column in np.eye(size)])
        weights, vectors = np.linalg.eigh(0.5 * (projector + projector.T))
        basis = vectors[:, weights > 0.5]  # the tangent space
        reduced = basis.T @ np.column_stack([matvec(column) for column in basis.T])
        values, coefficients = np.linalg.eigh(0.5 * (reduced + reduced.T))
        return float(values[0]), (basis @ coefficients[:, 0]).reshape(shape)
    linear = scipy.sparse.linalg.LinearOperator((size, size), matvec=matvec, dtype=float)
    try:
        values, vectors = scipy.sparse.linalg.eigsh(linear, k=1, which="SA", v0=start.ravel(), ncv=steps, maxiter=5, tol=1e-6)
    except scipy.sparse.linalg.ArpackNoConvergence as error:  # keep the Ritz pair reached so far
        if error.eigenvalues.size == 0:
            return math.inf, start
        values, vectors = error.eigenvalues, error.eigenvectors
    return float(values[0]), vectors[:, 0].reshape(shape)


def _second_order(problem: ProlongationProblem, P: np.ndarray, *, rng: np.random.Generator, probes: int, lanczos_steps: int) -> dict:
    """Curvature of ``E`` on the Stiefel manifold at ``P``: random probes, Lanczos, and ``E`` along retracted steps.

    The Riemannian Hessian (embedded metric) is
    ``Proj_P(ehess[xi] - xi sym(P^T egrad))``.
    """
    multiplier = P.T @ problem.euclidean_gradient(P)
    multiplier = 0.5 * (multiplier + multiplier.T)

    def hessian(xi: np.ndarray) -> np.ndarray:
        return stiefel_project(P, problem.euclidean_hessian(P, xi) - xi @ multiplier)

    def random_tangent() -> np.ndarray:
        xi = stiefel_project(P, rng.standard_normal(P.shape))
        return xi / np.linalg.norm(xi)

    directions = [random_tangent() for _ in range(probes)]
    curvatures = [float(np.vdot(xi, hessian(xi))) for xi in directions]
    if lanczos_steps > 0:
        ritz_value, ritz_vector = _lowest_curvature(hessian, random_tangent(), lanczos_steps, lambda V: stiefel_project(P, V))
        ritz_vector = stiefel_project(P, ritz_vector)
        curvatures.append(ritz_value)
        directions.append(ritz_vector / max(float(np.linalg.norm(ritz_vector)), 1e-300))
    base = problem.objective(P)
    decrease = 0.0
    for xi in directions:
        for step in (1e-3, 1e-2, 1e-1):
            for sign in (1.0, -1.0):
                decrease = max(decrease, base - problem.objective(qr_orthonormal(P + sign * step * xi)))
    return {"min_curvature": min(curvatures), "max_decrease": decrease}


#: Relative tolerances of :func:`verify_recipe`'s second-order verdict (see there).
SECOND_ORDER_TOLERANCES = {"curvature": 1e-9, "decrease": 1e-9}


def _problem_spectra(recipe: Recipe, problem: ProlongationProblem, shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> dict:
    """Closed-form (or structured) spectra of the problem's active terms, for :func:`objective_lower_bound`."""
    spectra = {}
    if problem.weights[0] > 0:
        spectra["diffusion"] = tuple(_sorted_laplacian_spectrum(recipe.lineage, shape) for shape in shapes)
    if problem.weights[1] > 0:
        spectra["locality"] = tuple(_sorted_distance_spectrum(recipe.lineage, shape) for shape in shapes)
    return spectra


def verify_recipe(
    name: str | Recipe,
    n_small: int | Sequence[int],
    *,
    s: float | None = None,
    compare_optimisation: bool = True,
    rng: np.random.Generator | int | None = 0,
    probes: int = 3,
    lanczos_steps: int = 40,
    max_optimisation_size: int = 64,
    max_iterations: int = 500,
    max_optimisation_seconds: float = 600.0,
) -> dict:
    """Check that a recipe's ``P`` is an orthonormal local (global, at ``s`` in {0, 1}) minimiser.

    Parameters
    ----------
    name : str or Recipe
        A key of :data:`RECIPES`, or a :class:`Recipe` (to check a new one).
    n_small : int or tuple of int
        Size of the small graph: vertices of a path or cycle; side length of a
        square grid, or a full grid shape.
    s : float, optional
        Objective weight; the recipe's own ``s`` by default.  The scale
        factors are always the recipe's (:meth:`Recipe.scales`).
    compare_optimisation : bool
        Also run :func:`~graphprolong.solver.solve` from the eigenvalue-matching
        start, when ``n_large <= max_optimisation_size`` (beyond that a
        trust-region run takes minutes to hours: every iteration costs
        ``O(n_large^2 n_small)`` and runs take hundreds of iterations).
    rng : numpy.random.Generator, int or None
        Source of the random probe directions.
    probes, lanczos_steps : int
        Random tangent directions, and Lanczos steps on the Riemannian Hessian.
    max_optimisation_size, max_iterations : int
        Size limit and iteration limit of the fresh optimisation.

    Returns
    -------
    dict
        ``orthonormality_error`` ``||P^T P - I||_F``; ``objective`` and its
        terms; ``lower_bound`` (:func:`objective_lower_bound`, attained at
        ``s`` in {0, 1}) and ``gap = objective - lower_bound``;
        ``gradient_norm`` ``||grad E(P)||_F`` (Riemannian) and
        ``relative_gradient = gradient_norm / problem.gradient_scale`` -- the
        yardstick of the solver's ``tolerance``, so ``solve`` would stop at
        ``P`` when it is below 1e-10; ``min_curvature`` (lowest of the probe
        curvatures ``<xi, Hess xi>`` and the lowest Lanczos Ritz value, unit
        ``xi``) and ``relative_min_curvature`` (over ``gradient_scale``);
        ``max_decrease``: the largest drop of ``E`` along the retracted steps
        ``P ± t xi``, ``t`` in {1e-3, 1e-2, 1e-1}, over the probe and Ritz
        directions; ``second_order_ok``: ``relative_min_curvature >= -1e-9``
        and ``max_decrease <= 1e-9 max(E, 1e-12 gradient_scale)``
        (:data:`SECOND_ORDER_TOLERANCES`); ``fresh_objective``,
        ``fresh_iterations``, ``fresh_seconds``, ``fresh_stopping_reason`` or
        ``fresh_skipped`` (the reason); ``generate_seconds``, ``check_seconds``.

    Examples
    --------
    >>> report = verify_recipe("cycle-interpolation", 8, compare_optimisation=False)
    >>> bool(report["relative_gradient"] < 1e-12 and report["gap"] < 1e-9 and report["second_order_ok"])
    True
    """
    recipe = name if isinstance(name, Recipe) else get_recipe(name)
    rng = np.random.default_rng(rng)
    shape_small = recipe.shape(n_small)
    shape_large = recipe.large_shape(shape_small)
    problem = recipe.problem(shape_small, s=s)

    started = time.perf_counter()
    P = recipe.make(shape_small, shape_large)
    generate_seconds = time.perf_counter() - started

    started = time.perf_counter()
    terms = problem.terms(P)
    gradient_norm = float(np.linalg.norm(problem.riemannian_gradient(P)))
    lower_bound = objective_lower_bound(problem, spectra=_problem_spectra(recipe, problem, (shape_small, shape_large)))
    curvature = _second_order(problem, P, rng=rng, probes=probes, lanczos_steps=lanczos_steps)
    scale = problem.gradient_scale
    relative_curvature = curvature["min_curvature"] / scale
    report = {
        "recipe": recipe.name, "lineage": recipe.lineage, "shape_small": shape_small, "shape_large": shape_large,
        "n_small": problem.shape[1], "n_large": problem.shape[0], "s": problem.s, "alpha": terms.alpha, "beta": terms.beta,
        "orthonormality_error": orthonormality_error(P), "objective": terms.objective, "diffusion": terms.diffusion,
        "locality": terms.locality, "lower_bound": lower_bound, "gap": terms.objective - lower_bound,
        "gradient_norm": gradient_norm, "relative_gradient": gradient_norm / scale, "gradient_scale": scale,
        "min_curvature": curvature["min_curvature"], "relative_min_curvature": relative_curvature,
        "max_decrease": curvature["max_decrease"],
        "second_order_ok": bool(
            relative_curvature >= -SECOND_ORDER_TOLERANCES["curvature"]
            and curvature["max_decrease"] <= SECOND_ORDER_TOLERANCES["decrease"] * max(terms.objective, 1e-12 * scale)
        ),
        "generate_seconds": generate_seconds,
    }
    report["check_seconds"] = time.perf_counter() - started
    logger.debug("verify_recipe %s %s: %s", recipe.name, shape_small, report)

    report.update(_fresh_optimisation(problem, rng, compare=compare_optimisation, max_size=max_optimisation_size,
                                      max_iterations=max_iterations, max_seconds=max_optimisation_seconds))
    return report


def _fresh_optimisation(problem: ProlongationProblem, rng, *, compare: bool, max_size: int, max_iterations: int, max_seconds: float) -> dict:
    """The ``fresh_*`` entries of a :func:`verify_recipe` report: a solve from the matching start, or why it was skipped."""
    fresh = dict(fresh_objective=None, fresh_iterations=None, fresh_seconds=None, fresh_stopping_reason=None, fresh_skipped=None)
    if not compare:
        fresh["fresh_skipped"] = "not requested"
    elif problem.shape[0] > max_size:
        fresh["fresh_skipped"] = f"n_large = {problem.shape[0]} > max_optimisation_size = {max_size}"
    else:
        result = solve(problem, init="matching", rng=rng, max_iterations=max_iterations, max_time=max_seconds)
        fresh.update(
            fresh_objective=result.objective,
            fresh_iterations=result.iterations,
            fresh_seconds=result.time,
            fresh_stopping_reason=result.stopping_reason,
        )
    return fresh


def verification_passed(report: dict, *, gradient_tolerance: float = 1e-6) -> bool:
    """Whether a :func:`verify_recipe` report passes every check.

    ``||P^T P - I||_F <= 1e-10``, ``relative_gradient <= gradient_tolerance``,
    ``second_order_ok``, ``objective <= fresh_objective`` (when run) and, at
    ``s`` in {0, 1}, ``objective <= lower_bound``, all up to
    ``1e-9 max(1, |E|) + 1e-12 gradient_scale`` (the scale of the objective,
    :attr:`ProlongationProblem.gradient_scale`).  The second part is the
    floor of the ``*-spectral`` recipes: their eigenvalue matching accepts
    ties within ``1e-9 max θ^2`` (:func:`~graphprolong.matching.eigenvalue_matching`),
    which at n = 512 leaves E about 1e-8 against a bound of 0 -- 1e-12 of
    the objective's scale, the accuracy the s = 0 acceptance asks for.
    """
    tolerance = 1e-9 * max(1.0, abs(report["objective"])) + 1e-12 * report.get("gradient_scale", 0.0)
    checks = [
        report["orthonormality_error"] <= 1e-10,
        report["relative_gradient"] <= gradient_tolerance,
        report["second_order_ok"],
        report["fresh_objective"] is None or report["objective"] <= report["fresh_objective"] + tolerance,
        report["s"] not in (0.0, 1.0) or report["gap"] <= tolerance,
    ]
    return bool(all(checks))


#: Columns of :func:`verification_table`: (header, report key, format).
VERIFY_COLUMNS = (
    ("recipe", "recipe", "{}"),
    ("shape", "shape_small", "{}"),
    ("n_small", "n_small", "{}"),
    ("n_large", "n_large", "{}"),
    ("s", "s", "{:g}"),
    ("alpha", "alpha", "{:.4g}"),
    ("beta", "beta", "{:.4g}"),
    ("|P^T P - I|", "orthonormality_error", "{:.1e}"),
    ("rel. grad", "relative_gradient", "{:.1e}"),
    ("2nd order", "second_order_ok", "{}"),
    ("E_recipe", "objective", "{:.6g}"),
    ("E_bound", "lower_bound", "{:.6g}"),
    ("E_fresh", "fresh_objective", "{:.6g}"),
    ("t_gen [s]", "generate_seconds", "{:.2f}"),
    ("t_check [s]", "check_seconds", "{:.2f}"),
    ("ok", "passed", "{}"),
)


def verification_table(reports: Iterable[dict]) -> str:
    """Format :func:`verify_recipe` reports as a fixed-width text table.

    One row per report, the columns of :data:`VERIFY_COLUMNS` (``ok`` is
    :func:`verification_passed`); ``-`` for a missing value.
    """
    rows = [[header for header, _, _ in VERIFY_COLUMNS]]
    for report in reports:
        report = dict(report, passed=verification_passed(report))
        row = []
        for _, key, form in VERIFY_COLUMNS:
            value = report.get(key)
            if isinstance(value, tuple):
                value = "x".join(map(str, value))
            row.append("-" if value is None or (isinstance(value, float) and math.isnan(value)) else form.format(value))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(VERIFY_COLUMNS))]
    lines = ["  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
