"""A content-addressed on-disk cache of prolongation maps.

:func:`get_prolongation` returns ``P`` for two graphs and every parameter that
shapes it, computing it once.  The key is the SHA-256 of the graphs' canonical
adjacency matrices, the parameters and the solver version, so a change of any
of them gives a new entry.  Entries are ``.npz`` files written atomically by
:func:`graphprolong.io.save_prolongation` with a checksum of ``P``; an entry
that fails to load (truncated, corrupt, tampered) is reported with a warning
and recomputed.  Two processes computing the same key both rename a complete
file into place, so readers never see a partial one.

The folder is, in order: the ``cache_dir`` argument, the environment variable
``GRAPHPROLONG_CACHE``, the platform's user cache folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import networkx as nx
import numpy as np

from ._checks import check_choice
from .io import load_prolongation, save_prolongation
from .matrices import GraphMatrices, adjacency_matrix, graph_matrices
from .problem import ProlongationProblem
from .solver import SOLVER_VERSION, solve
from .spectral import spectral_prolongation

__all__ = ["CACHE_ENVIRONMENT_VARIABLE", "METHODS", "cache_directory", "cache_key", "get_prolongation"]

logger = logging.getLogger(__name__)

CACHE_ENVIRONMENT_VARIABLE = "GRAPHPROLONG_CACHE"

#: How ``get_prolongation`` computes a map it does not have.
METHODS = ("auto", "spectral", "optimize")


def cache_directory(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the cache folder: ``cache_dir``, else ``$GRAPHPROLONG_CACHE``, else the platform cache."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_ENVIRONMENT_VARIABLE):
        return Path(os.environ[CACHE_ENVIRONMENT_VARIABLE])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("graphprolong"))


def _graph_digest(matrices: GraphMatrices, digest) -> None:
    adjacency = adjacency_matrix(matrices.graph)
    adjacency.sort_indices()
    for part in (adjacency.shape, adjacency.indptr, adjacency.indices, adjacency.data.astype(float)):
        digest.update(np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode())


def cache_key(G_small: nx.Graph | GraphMatrices, G_large: nx.Graph | GraphMatrices, parameters: dict) -> str:
    """Return the hex key of a map: both canonical adjacency matrices, ``parameters`` and the solver version."""
    digest = hashlib.sha256()
    for graph in (G_small, G_large):
        _graph_digest(graph_matrices(graph), digest)
    digest.update(json.dumps({"parameters": parameters, "solver": SOLVER_VERSION}, sort_keys=True).encode())
    return digest.hexdigest()


def _compute(problem: ProlongationProblem, method: str, solve_options: dict) -> tuple[np.ndarray, dict]:
    if method == "auto":
        method = "spectral" if problem.s == 0.0 else "optimize"
    if method == "spectral":
        return spectral_prolongation(problem), {"method": "spectral"}
    result = solve(problem, **solve_options)
    return result.P, {"method": "optimize", "iterations": result.iterations, "stopping_reason": result.stopping_reason}


def get_prolongation(
    G_small: nx.Graph | GraphMatrices,
    G_large: nx.Graph | GraphMatrices,
    *,
    s: float,
    method: str = "auto",
    alpha: float | None = None,
    beta: float | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    **solve_options,
) -> np.ndarray:
    """Return the prolongation ``P`` for two graphs, from the cache when it has it.

    Parameters
    ----------
    G_small, G_large : networkx.Graph or GraphMatrices
    s, alpha, beta : see :class:`ProlongationProblem`.
    method : {"auto", "spectral", "optimize"}
        ``"auto"``: the exact spectral form at ``s = 0``, else optimisation.
    seed : int
        Seed of the solver's random restarts (part of the key).
    cache_dir : path, optional
        Cache folder (see :func:`cache_directory`).
    **solve_options
        Further JSON-serialisable keyword arguments of :func:`solve` (part of the key).
    """
    check_choice("method", method, METHODS)
    problem = ProlongationProblem(G_small, G_large, s=s, alpha=alpha, beta=beta)
    solve_options = dict(solve_options, rng=seed)
    parameters = {"s": problem.s, "alpha": problem.alpha, "beta": problem.beta, "method": method, "solve": solve_options}
    try:
        key = cache_key(problem.small, problem.large, parameters)
    except TypeError as error:
        raise TypeError(f"solve options must be JSON-serialisable to key the cache: {error}") from None
    path = cache_directory(cache_dir) / f"{key}.npz"
    if path.exists():
        try:
            P, _ = load_prolongation(path)
        except ValueError as error:
            warnings.warn(f"cache entry {path} is unusable ({error}); recomputing it", stacklevel=2)
        else:
            if P.shape == problem.shape:
                logger.debug("cache hit %s", path)
                return P
            warnings.warn(f"cache entry {path} has shape {P.shape}, expected {problem.shape}; recomputing it", stacklevel=2)
    logger.debug("cache miss %s", path)
    P, details = _compute(problem, method, solve_options)
    terms = problem.terms(P)
    metadata = {**parameters, **details, "key": key, "objective": terms.objective, "n_small": problem.shape[1], "n_large": problem.shape[0]}
    save_prolongation(path, P, metadata=metadata)
    return P
