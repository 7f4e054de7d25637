"""A content-addressed on-disk cache of prolongation maps.

:func:`get_prolongation` returns ``P`` for two graphs and every parameter that
shapes it, computing it once.  The key is the SHA-256 of the graphs' canonical
adjacency matrices, the parameters and the solver version, so a change of any
of them gives a new entry; a map made by a recipe
(:mod:`graphprolong.recipes`) is keyed by the recipe's name, version, size rule
and scale factors too.  Entries are ``.npz`` files written atomically by
:func:`graphprolong.io.save_prolongation` with a checksum of ``P``; an entry
that fails to load (truncated, corrupt, tampered, a non-finite ``P``) is reported with a warning
and recomputed.  Two processes computing the same key both rename a complete
file into place, so readers never see a partial one.

The folder is, in order: the ``cache_dir`` argument, the environment variable
``GRAPHPROLONG_CACHE``, the platform's user cache folder.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from .checks import check_choice
from .io import load_prolongation, prolongation_record, save_prolongation
from .kronecker import FACTORED_MAPS, KroneckerMap
from .matrices import GraphMatrices, graph_matrices
from .operators import StructuredMatrices
from .problem import ProlongationProblem
from .recipes import Recipe
from .recipes.registry import recipe_shapes
from .recipes.selection import matching_recipes, resolve_recipe
from .solver import SOLVER_VERSION, solve
from .spectral import spectral_prolongation

__all__ = [
    "CACHE_ENVIRONMENT_VARIABLE",
    "PROLONGATION_METHODS",
    "cache_directory",
    "check_spectral_s",
    "cache_key",
    "get_prolongation",
]

logger = logging.getLogger(__name__)

CACHE_ENVIRONMENT_VARIABLE = "GRAPHPROLONG_CACHE"

#: How :func:`get_prolongation` computes a map it does not have.
PROLONGATION_METHODS = ("auto", "recipe", "spectral", "optimize")


def cache_directory(
    cache_dir: str | os.PathLike | None = None,
    *,
    variable: str = CACHE_ENVIRONMENT_VARIABLE,
    application: str = "graphprolong",
) -> Path:
    """Return the cache folder: ``cache_dir``, else ``$GRAPHPROLONG_CACHE`` (``variable``), else the platform cache.

    ``variable`` and ``application`` let other packages (msann) keep their own folder the same way.
    """
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(variable):
        return Path(os.environ[variable])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(application))


def _graph_digest(matrices: GraphMatrices, digest) -> None:
    """Hash the canonical adjacency: a networkx grid and the same grid as ``StructuredMatrices`` share a key."""
    adjacency = matrices.adjacency
    if not adjacency.has_sorted_indices:
        adjacency = adjacency.sorted_indices()
    for part in (adjacency.shape, adjacency.indptr, adjacency.indices, adjacency.data.astype(float)):
        digest.update(np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode())


def cache_key(G_small: nx.Graph | GraphMatrices, G_large: nx.Graph | GraphMatrices, parameters: dict) -> str:
    """Return the hex key of a map: both canonical adjacency matrices, ``parameters`` and the solver version."""
    digest = hashlib.sha256()
    for graph in (G_small, G_large):
        _graph_digest(graph_matrices(graph), digest)
    digest.update(json.dumps({"parameters": parameters, "solver": SOLVER_VERSION}, sort_keys=True).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# The cache


def _factored_plan(problem: ProlongationProblem, method: str, recipe_name: str | None, alpha, beta) -> tuple[str, Recipe, tuple]:
    """The plan of a factored request: a recipe with a Kronecker form (``ValueError`` otherwise)."""
    if method not in ("recipe", "auto"):
        raise ValueError(f"factored=True needs a Kronecker recipe (method='recipe' or 'auto'); got method={method!r}")
    if recipe_name is not None:
        recipe, shapes = resolve_recipe(problem, recipe_name, alpha=alpha, beta=beta)
        return "recipe", recipe, shapes
    found = [recipe for recipe in matching_recipes(problem.small, problem.large, s=problem.s, alpha=alpha, beta=beta)
             if recipe.factored_form or recipe.one_dimensional]
    if not found:
        raise ValueError(
            f"factored=True: no registered recipe with a Kronecker form gives the optimum at s = {problem.s:g} for these graphs "
            "(grid-fold and grid-periodic-cover at s = 0, grid-interpolation and grid-periodic-interpolation at s = 1; "
            "every path and cycle recipe)"
        )
    return "recipe", found[0], recipe_shapes(found[0], problem.small, problem.large)


def _plan(problem: ProlongationProblem, method: str, recipe_name: str | None, alpha, beta, *, factored: bool = False) -> tuple[str, Recipe | None, tuple | None]:
    """Resolve ``method`` to ``(method, recipe, shapes)``; ``"auto"`` becomes spectral, recipe or optimize."""
    if recipe_name is not None and method not in ("recipe", "auto"):
        raise ValueError(f"a recipe ({recipe_name!r}) needs method='recipe' (or 'auto'); got method={method!r}")
    if factored:
        return _factored_plan(problem, method, recipe_name, alpha, beta)
    if method == "recipe" or (method == "auto" and recipe_name is not None):
        return ("recipe", *resolve_recipe(problem, recipe_name, alpha=alpha, beta=beta))
    if method == "auto":
        if problem.s == 0.0:
            return "spectral", None, None
        found = matching_recipes(problem.small, problem.large, s=problem.s, alpha=alpha, beta=beta)
        if found:
            return "recipe", found[0], recipe_shapes(found[0], problem.small, problem.large)
        return "optimize", None, None
    if method == "spectral":
        check_spectral_s(problem.s)
    return method, None, None


def check_spectral_s(s: float, *, name: str = "s") -> None:
    """``ValueError`` unless ``s = 0``: the spectral map ``U2 M U1^T`` is the optimum of the diffusion term alone."""
    if s != 0.0:
        raise ValueError(
            f"method 'spectral' gives the s = 0 optimum (U2 M U1^T, the diffusion term alone) and needs {name} = 0; "
            f"got {name} = {s:g} (method 'optimize' solves for any s)"
        )


def _compute(problem: ProlongationProblem, method: str, recipe: Recipe | None, shapes, solve_options: dict, *, factored: bool) -> tuple:
    if method == "recipe":
        return recipe.make(*shapes, factored=factored), {}
    if method == "spectral":
        return spectral_prolongation(problem), {}
    result = solve(problem, **solve_options)
    return result.P, {"iterations": result.iterations, "stopping_reason": result.stopping_reason}


def _solve_parameters(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` completed with :func:`solve`'s defaults, so that a default spelled out or left out keys alike.

    ``TypeError`` naming an option :func:`solve` does not take (before anything is computed).
    """
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(solve).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"get_prolongation got solve options that graphprolong.solve does not take: {', '.join(unknown)}; "
                        f"valid options are: {', '.join(sorted(defaults))}")
    return {**defaults, **options}


#: A factored map with more entries than this is not materialised to record its objective (None instead).
DENSE_OBJECTIVE_LIMIT = 2**22


def _objective(problem: ProlongationProblem, P) -> float | None:
    if isinstance(P, FACTORED_MAPS):
        if P.shape[0] * P.shape[1] > DENSE_OBJECTIVE_LIMIT:
            return None
        P = P.dense()
    return problem.terms(P).objective


def _label(method: str, recipe: Recipe | None) -> str:
    return f"recipe {recipe.name} v{recipe.version}" if recipe is not None else method


def _key_parameters(problem: ProlongationProblem, resolved: str, chosen: Recipe | None, solve_options: dict) -> dict[str, Any]:
    """Everything besides the graphs that shapes the map: the key's parameters."""
    parameters: dict[str, Any] = {"s": problem.s, "alpha": problem.alpha, "beta": problem.beta, "method": resolved}
    if resolved == "optimize":
        parameters["solve"] = solve_options
    if resolved == "spectral" and any(isinstance(side, StructuredMatrices) and len(side.sizes) > 1 for side in (problem.small, problem.large)):
        # U2 M U1^T depends on the eigenbasis chosen in repeated eigenvalues: Kronecker products of the
        # factors' eigenvectors for a structured grid, numpy.linalg.eigh of L for a networkx graph (and for
        # a structured path or cycle, whose one factor is L).  Both are exact optima.
        parameters["eigenbasis"] = "kronecker-factors"
    if chosen is not None:
        parameters["recipe"] = chosen.to_dict()
    return parameters


def _load_entry(path: Path, shape: tuple[int, int], label: str) -> tuple[np.ndarray, dict] | None:
    """The entry at ``path`` as ``(P, metadata)``; None (with a warning when it exists) when it is missing or unusable."""
    if not path.exists():
        return None
    try:
        P, metadata = load_prolongation(path)
    except ValueError as error:
        warnings.warn(f"cache entry {path} is unusable ({error}); recomputing it", stacklevel=3)
        return None
    if P.shape != shape:
        warnings.warn(f"cache entry {path} has shape {P.shape}, expected {shape}; recomputing it", stacklevel=3)
        return None
    logger.debug("cache hit %s (%s)", path, label)
    return P, metadata


def get_prolongation(
    G_small: nx.Graph | GraphMatrices,
    G_large: nx.Graph | GraphMatrices,
    *,
    s: float,
    method: str = "auto",
    recipe: str | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    return_metadata: bool = False,
    factored: bool = False,
    **solve_options,
) -> np.ndarray | KroneckerMap | tuple[np.ndarray | KroneckerMap, dict[str, Any]]:
    """Return the prolongation ``P`` for two graphs, from the cache when it has it.

    Parameters
    ----------
    G_small, G_large : networkx.Graph or GraphMatrices
        Grids may be :class:`~graphprolong.operators.StructuredMatrices` (the
        input of the torch backend for large grids: ``backend="torch",
        init="box-matching"``); a structured grid and the networkx grid of the
        same shape share their entries, as the key hashes the adjacency.
    s, alpha, beta : see :class:`ProlongationProblem`.
        With a recipe, a scale left as None is the recipe's own (optimised for
        paths and cycles, ``beta = n_small / (2 n_large)`` for grids); a fixed
        one must equal it.
    method : {"auto", "recipe", "spectral", "optimize"}
        ``"recipe"``: the closed form ``recipe`` of :data:`graphprolong.recipes.RECIPES`,
        or, when ``recipe`` is None, the preferred one of :func:`matching_recipes`
        (``*-interpolation``, then ``*-spectral``); ``ValueError`` listing the
        candidates when none fits.  ``"spectral"``: ``U2 M U1^T``, the
        optimum at ``s = 0`` (``ValueError`` for any other ``s``).
        ``"optimize"``: :func:`solve`.  ``"auto"``: the spectral form at
        ``s = 0`` (on any graphs; on a lineage it equals the ``*-spectral``
        recipe), else the preferred matching recipe at ``s`` (the
        ``*-interpolation`` ones at ``s = 1``), else optimisation.
    recipe : str, optional
        Recipe name for ``method="recipe"`` (or ``"auto"``, which it then forces).
    seed : int
        Seed of the solver's random restarts (part of the key of optimised maps).
    cache_dir : path, optional
        Cache folder (see :func:`cache_directory`).
    factored : bool
        Return (and cache) ``P`` factored: a :class:`~graphprolong.kronecker.KroneckerMap`
        for the recipes that are Kronecker products (``grid-fold``,
        ``grid-periodic-cover``, ``grid-periodic-interpolation``, every path and
        cycle recipe), a :class:`~graphprolong.kronecker.KroneckerStructuredLowRankMap`
        for ``grid-interpolation``; ``ValueError`` otherwise.  Give the
        graphs as :func:`~graphprolong.operators.structured_matrices` for
        large grids: neither graph nor map is then ever built at full size.
    return_metadata : bool
        Also return the entry's metadata: the resolved ``method``, the
        ``recipe`` (as :meth:`Recipe.to_dict`) when one made ``P``, ``key``,
        ``objective``, ``alpha``, ``beta``, ...
    **solve_options
        Further JSON-serialisable keyword arguments of :func:`solve`; used, and
        part of the key, only when ``P`` is optimised.

    Returns
    -------
    P : ndarray, shape (n_large, n_small)
    metadata : dict
        Only with ``return_metadata=True``.

    Notes
    -----
    The key holds the resolved method, so ``method="auto"`` and the method it
    resolves to share an entry; a recipe's name and version are in it, so
    bumping :data:`~graphprolong.recipes.RECIPE_VERSION` invalidates old maps.
    Hits and misses are logged at debug level (logger ``graphprolong.cache``).

    Examples
    --------
    >>> import tempfile
    >>> from graphprolong import path_graph
    >>> from graphprolong.recipes import recipe_prolongation
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     P = get_prolongation(path_graph(8), path_graph(16), s=1.0, method="recipe", cache_dir=folder)
    >>> bool(np.array_equal(P, recipe_prolongation("path-interpolation", path_graph(8), path_graph(16))))
    True
    """
    check_choice("method", method, PROLONGATION_METHODS)
    problem = ProlongationProblem(G_small, G_large, s=s, alpha=alpha, beta=beta)
    resolved, chosen, shapes = _plan(problem, method, recipe, alpha, beta, factored=factored)
    if chosen is not None:
        own_alpha, own_beta = chosen.scales(*shapes)
        problem = ProlongationProblem(
            problem.small, problem.large, s=problem.s,
            alpha=problem.alpha if problem.alpha is not None else own_alpha,
            beta=problem.beta if problem.beta is not None else own_beta,
        )
    solve_options = _solve_parameters(dict(solve_options, rng=seed))
    parameters = _key_parameters(problem, resolved, chosen, solve_options)
    if factored:
        parameters["form"] = "kronecker"  # only factored entries carry it: the keys of dense ones are unchanged
    try:
        key = cache_key(problem.small, problem.large, parameters)
    except TypeError as error:
        raise TypeError(f"solve options must be JSON-serialisable to key the cache: {error}") from None
    path = cache_directory(cache_dir) / f"{key}.npz"
    label = _label(resolved, chosen)
    entry = _load_entry(path, problem.shape, label)
    if entry is not None:
        return entry if return_metadata else entry[0]
    logger.debug("cache miss %s (%s%s)", path, label, ", chosen by method='auto'" if method == "auto" else "")
    P, details = _compute(problem, resolved, chosen, shapes, solve_options, factored=factored)
    metadata = {
        **parameters, **details, "requested_method": method, "key": key, "objective": _objective(problem, P),
        "n_small": problem.shape[1], "n_large": problem.shape[0],
    }
    save_prolongation(path, P, metadata=metadata)
    if return_metadata:
        return P, prolongation_record(P, metadata)
    return P
